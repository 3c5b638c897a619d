/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Finding ivshmem devices bound to uio_ivshmem, and the few things every
 * test does with them: map a UIO map, read a register, ring a doorbell,
 * read the per-vector interrupt counters of map 2.
 */
#ifndef UIO_COMMON_H
#define UIO_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define UIO_CLASS	"/sys/class/uio"
#define PCI_DEVICES	"/sys/bus/pci/devices"
#define UIO_DRIVER	"/sys/bus/pci/drivers/uio_ivshmem"

#define MAP_REGS	0
#define MAP_SHM		1
#define MAP_COUNTS	2

#define REG_IV_POSITION	0x08
#define REG_DOORBELL	0x0c

/*
 * struct uio_dev - one ivshmem function bound to uio_ivshmem
 * @uio:       "uioN"
 * @pci:       PCI address, "0000:00:04.0"
 * @map_addr:  address of each map from sysfs, page-aligned (map 2 has
 *             none: 0)
 * @map_offs:  where in the map's first page its BAR begins, from sysfs
 * @map_size:  size of each map from sysfs, 0 when the map does not exist
 * @bar_start: start of each BAR from the PCI device's resource file
 * @bar_size:  size of each BAR
 */
struct uio_dev {
	char uio[256];
	char pci[64];
	uint64_t map_addr[3];
	uint64_t map_offs[3];
	uint64_t map_size[3];
	uint64_t bar_start[6];
	uint64_t bar_size[6];
};

static inline int read_text(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return 0;
}

static inline int write_text(const char *path, const char *text)
{
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n < 0 ? -errno : 0;
}

static inline uint64_t read_u64(const char *path)
{
	char buf[64];

	if (read_text(path, buf, sizeof(buf)))
		return 0;
	return strtoull(buf, NULL, 0);
}

static inline void uio_read_dev(struct uio_dev *d)
{
	unsigned long long start, end, flags;
	char path[PATH_MAX];
	FILE *f;
	int i;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), UIO_CLASS "/%s/maps/map%d/size", d->uio, i);
		d->map_size[i] = read_u64(path);
		snprintf(path, sizeof(path), UIO_CLASS "/%s/maps/map%d/addr", d->uio, i);
		d->map_addr[i] = read_u64(path);
		snprintf(path, sizeof(path), UIO_CLASS "/%s/maps/map%d/offset", d->uio, i);
		d->map_offs[i] = read_u64(path);
	}
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/resource", d->pci);
	f = fopen(path, "r");
	if (!f)
		return;
	for (i = 0; i < 6; i++) {
		if (fscanf(f, "%llx %llx %llx", &start, &end, &flags) != 3)
			break;
		d->bar_start[i] = start;
		d->bar_size[i] = end ? end - start + 1 : 0;
	}
	fclose(f);
}

/*
 * Map @map starts on the page where BAR @bar begins, its offset says
 * where in that page, and it covers the BAR in whole pages.
 */
static inline int map_is_bar(const struct uio_dev *d, int map, int bar)
{
	uint64_t page = getpagesize(), offs = d->map_offs[map];

	return d->map_addr[map] % page == 0 && offs < page &&
	       d->map_addr[map] + offs == d->bar_start[bar] &&
	       d->map_size[map] == (offs + d->bar_size[bar] + page - 1) / page * page;
}

/*
 * The first uio_ivshmem device (in uioN order) that is a doorbell device
 * (BAR1, the MSI-X table, present) or not, as asked; -1 when none, or
 * when $UIO_DEVICE names another one.  With need_shm, BAR2 must be at
 * least that large.
 */
static inline int uio_find(struct uio_dev *d, int doorbell, uint64_t need_shm)
{
	const char *want = getenv("UIO_DEVICE");
	struct dirent **names;
	char path[PATH_MAX], buf[PATH_MAX];
	int n, i, found = -1;

	n = scandir(UIO_CLASS, &names, NULL, versionsort);
	for (i = 0; i < n; i++) {
		const char *u = names[i]->d_name;
		char *base;

		if (found == 0 || u[0] == '.' || (want && strcmp(want, u)))
			goto next;
		snprintf(path, sizeof(path), UIO_CLASS "/%s/name", u);
		if (read_text(path, buf, sizeof(buf)) || strcmp(buf, "uio_ivshmem"))
			goto next;
		snprintf(path, sizeof(path), UIO_CLASS "/%s/device", u);
		if (!realpath(path, buf))
			goto next;
		base = strrchr(buf, '/');
		memset(d, 0, sizeof(*d));
		snprintf(d->uio, sizeof(d->uio), "%s", u);
		snprintf(d->pci, sizeof(d->pci), "%s", base + 1);
		uio_read_dev(d);
		if (!!d->bar_size[1] == !!doorbell && d->bar_size[2] >= need_shm)
			found = 0;
next:
		free(names[i]);
	}
	free(names);
	return found;
}

static inline int uio_open(const struct uio_dev *d, int flags)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/dev/%s", d->uio);
	return open(path, flags);
}

/*
 * Map @len bytes of UIO map @map (0: the whole map) and return where its
 * BAR begins, the map's offset into the first page; NULL on failure.
 * uio_unmap() undoes it.
 */
static inline void *uio_map(int fd, const struct uio_dev *d, int map, size_t len,
			    int prot)
{
	void *p;

	if (!len)
		len = d->map_size[map];
	else
		len += d->map_offs[map];
	len = (len + getpagesize() - 1) & ~((size_t)getpagesize() - 1);
	p = mmap(NULL, len, prot, MAP_SHARED, fd, (off_t)map * getpagesize());
	return p == MAP_FAILED ? NULL : (char *)p + d->map_offs[map];
}

static inline void uio_unmap(const struct uio_dev *d, int map, volatile void *p,
			     size_t len)
{
	if (!len)
		len = d->map_size[map];
	else
		len += d->map_offs[map];
	munmap((char *)p - d->map_offs[map], len);
}

static inline uint32_t reg_read(volatile void *regs, unsigned int off)
{
	return *(volatile uint32_t *)((volatile char *)regs + off);
}

static inline void ring(volatile void *regs, unsigned int peer, unsigned int vector)
{
	*(volatile uint32_t *)((volatile char *)regs + REG_DOORBELL) = peer << 16 | vector;
}

static inline uint64_t count_of(const volatile uint64_t *counts, unsigned int v)
{
	return __atomic_load_n(&counts[v], __ATOMIC_ACQUIRE);
}

/* Map @len bytes of BAR @bar through sysfs (uncached); NULL when refused. */
static inline void *map_resource(const char *pci, int bar, size_t len)
{
	char path[PATH_MAX];
	void *p;
	int fd;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/resource%d", pci, bar);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0)
		return NULL;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

static inline long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait up to @ms for counts[v] to reach @want; 0 when it did. */
static inline int wait_count(const volatile uint64_t *counts, unsigned int v,
			     uint64_t want, int ms)
{
	long end = now_ms() + ms;

	while (count_of(counts, v) < want) {
		if (now_ms() > end)
			return -1;
		usleep(1000);
	}
	return 0;
}

/* Wait for a UIO event; returns the running total, or -errno / -ETIMEDOUT. */
static inline long uio_wait(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint32_t total;
	int n;

	n = poll(&pfd, 1, ms);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
	if (read(fd, &total, sizeof(total)) != sizeof(total))
		return -errno;
	return total;
}

#endif
