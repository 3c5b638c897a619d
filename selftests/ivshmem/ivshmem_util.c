// SPDX-License-Identifier: GPL-2.0
/*
 * Small steps for guest scenario scripts, straight on the driver's uapi:
 *
 *   ivshmem_util ring DEV PEER VECTOR       ring a peer's vector
 *   ivshmem_util wait DEV VECTOR MS         bind an eventfd to a vector and
 *                                           wait for one interrupt: prints
 *                                           "vector V count C", exit 1 on
 *                                           timeout
 *   ivshmem_util write DEV OFFSET TEXT      write TEXT through a mapping
 *   ivshmem_util read DEV OFFSET LEN        print LEN bytes (up to a NUL)
 *   ivshmem_util hold DEV                   open, map, print "holding" and
 *                                           sleep until killed
 *   ivshmem_util churn DEV N                N times: open, bind an eventfd
 *                                           to every vector, map, ring
 *                                           itself, read, unmap, close
 *   ivshmem_util pat-clean                  exit 1 (listing them) if the PAT
 *                                           list has entries inside any
 *                                           device's shared memory
 *
 * DEV is /dev/ivshmemN, ivshmemN, or a kind: plain, doorbell, msix, high.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/mman.h>

#include "ivshmem_util.h"

static int open_dev(const char *spec, struct ivshmem_info *info)
{
	struct ivs_dev d;
	int fd;

	if (ivs_find(spec, &d)) {
		fprintf(stderr, "ivshmem_util: no device %s\n", spec);
		exit(1);
	}
	fd = open(d.node, O_RDWR);
	if (fd < 0 || ivs_info(fd, info)) {
		fprintf(stderr, "ivshmem_util: %s: %s\n", d.node, strerror(errno));
		exit(1);
	}
	return fd;
}

static char *map_dev(int fd, const struct ivshmem_info *info)
{
	char *p = mmap(NULL, info->shm_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED) {
		fprintf(stderr, "ivshmem_util: mmap: %s\n", strerror(errno));
		exit(1);
	}
	return p;
}

static int pat_clean(void)
{
	struct ivs_dev devs[IVS_MAX_DEVS];
	unsigned long long s, e;
	char line[256];
	int n, i, bad = 0;
	FILE *f;

	n = ivs_enumerate(devs, IVS_MAX_DEVS);
	f = fopen(IVS_PAT_LIST, "r");
	if (!f) {
		perror(IVS_PAT_LIST);
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "PAT: [mem 0x%llx-0x%llx]", &s, &e) != 2)
			continue;
		for (i = 0; i < n; i++)
			if (s < devs[i].bar2 + devs[i].size && e > devs[i].bar2) {
				printf("# %s: %s", devs[i].name, line);
				bad++;
			}
	}
	fclose(f);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct ivshmem_info info;
	const char *cmd = argc > 1 ? argv[1] : "";
	int fd, efd;
	char *p;

	if (!strcmp(cmd, "pat-clean"))
		return pat_clean();
	if (argc < 3)
		goto usage;
	fd = open_dev(argv[2], &info);
	if (!strcmp(cmd, "ring") && argc == 5) {
		if (ivs_ring(fd, strtoul(argv[3], NULL, 0), strtoul(argv[4], NULL, 0))) {
			perror("ivshmem_util: ring");
			return 1;
		}
		return 0;
	}
	if (!strcmp(cmd, "wait") && argc == 5) {
		unsigned int v = strtoul(argv[3], NULL, 0);

		efd = eventfd(0, EFD_NONBLOCK);
		if (efd < 0 || ivs_bind(fd, v, efd)) {
			perror("ivshmem_util: bind");
			return 1;
		}
		printf("waiting\n");
		fflush(stdout);
		if (ivs_wait(efd, atoi(argv[4])) != POLLIN) {
			printf("timeout\n");
			return 1;
		}
		printf("vector %u count %llu\n", v, (unsigned long long)ivs_efd_take(efd));
		return 0;
	}
	if (!strcmp(cmd, "write") && argc == 5) {
		p = map_dev(fd, &info);
		memcpy(p + strtoull(argv[3], NULL, 0), argv[4], strlen(argv[4]) + 1);
		return 0;
	}
	if (!strcmp(cmd, "read") && argc == 5) {
		p = map_dev(fd, &info);
		printf("%.*s\n", atoi(argv[4]), p + strtoull(argv[3], NULL, 0));
		return 0;
	}
	if (!strcmp(cmd, "churn") && argc == 4) {
		unsigned long i, n = strtoul(argv[3], NULL, 0);
		struct ivshmem_event ev[64];
		int efds[64], f;
		unsigned int v;

		struct ivs_dev d;

		close(fd);
		ivs_find(argv[2], &d);
		for (i = 0; i < n; i++) {
			f = open(d.node, O_RDWR);
			if (f < 0) {
				perror("ivshmem_util: churn: open");
				return 1;
			}
			for (v = 0; v < info.nr_vectors && v < 64; v++) {
				efds[v] = eventfd(0, EFD_NONBLOCK);
				if (efds[v] < 0 || ivs_bind(f, v, efds[v])) {
					perror("ivshmem_util: churn: bind");
					return 1;
				}
			}
			p = map_dev(f, &info);
			p[i % info.shm_size] = 1;
			if (info.nr_vectors) {
				ivs_ring(f, info.vm_id, i % info.nr_vectors);
				fcntl(f, F_SETFL, O_NONBLOCK);
				read(f, ev, sizeof(ev));
			}
			munmap(p, info.shm_size);
			for (v = 0; v < info.nr_vectors && v < 64; v++)
				close(efds[v]);
			close(f);
		}
		return 0;
	}
	if (!strcmp(cmd, "hold") && argc == 3) {
		p = map_dev(fd, &info);
		p[0] = 1;
		printf("holding\n");
		fflush(stdout);
		for (;;)
			pause();
	}
usage:
	fprintf(stderr, "usage: ivshmem_util ring|wait|write|read|hold|churn DEV ... | pat-clean\n");
	return 2;
}
