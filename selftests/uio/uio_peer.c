// SPDX-License-Identifier: GPL-2.0
/*
 * uio_peer: one side of the two-guest tests, straight on uio_ivshmem's
 * maps (no library), so that what is tested is the driver.
 *
 *   uio_peer id                       own ID (IVPosition, map 0)
 *   uio_peer ring PEER VECTOR [N]     ring PEER's VECTOR N times (map 0)
 *   uio_peer wait VECTOR N MS         wait until VECTOR fired N times;
 *                                     prints "vector V count C others O"
 *                                     (O: interrupts on other vectors)
 *   uio_peer write OFFSET TEXT        write TEXT into the shared memory
 *   uio_peer read OFFSET LEN          print LEN bytes of it
 *
 * The device is the first doorbell device on uio_ivshmem, or
 * $UIO_DEVICE.  "wait" says "waiting" on stderr once it has taken its
 * starting counts, so a scenario can ring only then.  Exit status 0 on
 * success, 1 on failure, 2 on usage errors.
 */
#define _GNU_SOURCE
#include "uio_common.h"

static int usage(void)
{
	fprintf(stderr, "usage: uio_peer id | ring PEER VECTOR [N] | wait VECTOR N MS |\n"
		"       write OFFSET TEXT | read OFFSET LEN\n");
	return 2;
}

static int wait_vector(int fd, const volatile uint64_t *counts, unsigned int nvec,
		       unsigned int v, uint64_t n, int ms)
{
	uint64_t start[256], others = 0;
	long end = now_ms() + ms;
	unsigned int w;

	if (v >= nvec || nvec > 256) {
		fprintf(stderr, "uio_peer: vector %u out of range (%u vectors)\n", v, nvec);
		return 1;
	}
	for (w = 0; w < nvec; w++)
		start[w] = count_of(counts, w);
	fprintf(stderr, "waiting\n");
	while (count_of(counts, v) - start[v] < n) {
		long left = end - now_ms();
		long r;

		if (left <= 0) {
			fprintf(stderr, "uio_peer: timed out\n");
			return 1;
		}
		r = uio_wait(fd, (int)left);
		if (r < 0 && r != -ETIMEDOUT) {
			fprintf(stderr, "uio_peer: wait: %s\n", strerror((int)-r));
			return 1;
		}
	}
	for (w = 0; w < nvec; w++)
		if (w != v)
			others += count_of(counts, w) - start[w];
	printf("vector %u count %llu others %llu\n", v,
	       (unsigned long long)(count_of(counts, v) - start[v]),
	       (unsigned long long)others);
	return 0;
}

int main(int argc, char **argv)
{
	volatile uint64_t *counts = NULL;
	volatile char *shm;
	volatile void *regs;
	struct uio_dev d;
	unsigned int nvec;
	uint64_t off;
	int fd, i;

	if (argc < 2)
		return usage();
	if (uio_find(&d, 1, 0)) {
		fprintf(stderr, "uio_peer: no doorbell device on uio_ivshmem\n");
		return 1;
	}
	fd = uio_open(&d, O_RDWR | O_NONBLOCK);
	regs = fd < 0 ? NULL : uio_map(fd, &d, MAP_REGS, 0, PROT_READ | PROT_WRITE);
	if (!regs) {
		fprintf(stderr, "uio_peer: /dev/%s: %s\n", d.uio, strerror(errno));
		return 1;
	}
	nvec = d.map_size[MAP_COUNTS] / sizeof(uint64_t);
	if (nvec)
		counts = uio_map(fd, &d, MAP_COUNTS, 0, PROT_READ);

	if (!strcmp(argv[1], "id") && argc == 2) {
		printf("%u\n", reg_read(regs, REG_IV_POSITION));
		return 0;
	}
	if (!strcmp(argv[1], "ring") && (argc == 4 || argc == 5)) {
		int n = argc == 5 ? atoi(argv[4]) : 1;

		for (i = 0; i < n; i++) {
			if (i)
				usleep(100000);
			ring(regs, strtoul(argv[2], NULL, 0), strtoul(argv[3], NULL, 0));
		}
		return 0;
	}
	if (!strcmp(argv[1], "wait") && argc == 5) {
		if (!counts) {
			fprintf(stderr, "uio_peer: the device has no interrupts\n");
			return 1;
		}
		return wait_vector(fd, counts, nvec, strtoul(argv[2], NULL, 0),
				   strtoull(argv[3], NULL, 0), atoi(argv[4]));
	}
	if ((!strcmp(argv[1], "write") || !strcmp(argv[1], "read")) && argc == 4) {
		size_t len = argv[1][0] == 'w' ? strlen(argv[3]) : strtoul(argv[3], NULL, 0);

		off = strtoull(argv[2], NULL, 0);
		if (off + len > d.map_size[MAP_SHM] || off + len < off) {
			fprintf(stderr, "uio_peer: beyond the shared memory\n");
			return 1;
		}
		shm = uio_map(fd, &d, MAP_SHM, off + len, PROT_READ | PROT_WRITE);
		if (!shm) {
			fprintf(stderr, "uio_peer: map 1: %s\n", strerror(errno));
			return 1;
		}
		for (size_t k = 0; k < len; k++) {
			if (argv[1][0] == 'w')
				shm[off + k] = argv[3][k];
			else
				putchar(shm[off + k]);
		}
		if (argv[1][0] == 'r')
			putchar('\n');
		return 0;
	}
	return usage();
}
