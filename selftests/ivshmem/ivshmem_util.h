/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the ivshmem kselftests: finding devices through
 * /sys/class/ivshmem, the driver's ioctls, eventfds, and the x86 PAT list.
 */
#ifndef IVSHMEM_UTIL_H
#define IVSHMEM_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/ivshmem.h>

#define IVS_MAX_DEVS	32
#define IVS_CLASS	"/sys/class/ivshmem"
#define IVS_PAT_LIST	"/sys/kernel/debug/x86/pat_memtype_list"

/* One /dev/ivshmemN as sysfs describes it. */
struct ivs_dev {
	char name[32];			/* ivshmem0 */
	char node[64];			/* /dev/ivshmem0 */
	char pci[32];			/* 0000:00:03.0 */
	int doorbell;
	unsigned long long size;
	unsigned int vectors;
	char irq_mode[16];
	unsigned long long bar2;	/* bus address of the shared memory */
	char memtype[32];		/* what write-back mappings get */
};

static inline int ivs_read_file(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return 0;
}

static inline int ivs_attr(const char *name, const char *attr, char *buf,
			   size_t len)
{
	char path[256];

	snprintf(path, sizeof(path), IVS_CLASS "/%.63s/%.63s", name, attr);
	return ivs_read_file(path, buf, len);
}

static inline long long ivs_attr_num(const char *name, const char *attr)
{
	char buf[64];

	if (ivs_attr(name, attr, buf, sizeof(buf)))
		return -1;
	return strtoll(buf, NULL, 0);
}

static inline int ivs_load(const char *name, struct ivs_dev *d)
{
	char path[256], link[256], buf[256];
	ssize_t n;
	FILE *f;
	int i;

	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%.31s", name);
	snprintf(d->node, sizeof(d->node), "/dev/%.31s", name);
	snprintf(path, sizeof(path), IVS_CLASS "/%.31s/device", name);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = '\0';
	snprintf(d->pci, sizeof(d->pci), "%.31s",
		 strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
	d->doorbell = ivs_attr_num(name, "doorbell");
	d->size = ivs_attr_num(name, "size");
	d->vectors = ivs_attr_num(name, "vectors");
	if (ivs_attr(name, "irq_mode", d->irq_mode, sizeof(d->irq_mode)))
		return -ENOENT;
	if (ivs_attr(name, "memtype", d->memtype, sizeof(d->memtype)))
		return -ENOENT;
	snprintf(path, sizeof(path), IVS_CLASS "/%.31s/device/resource", name);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	for (i = 0; i <= 2 && fgets(buf, sizeof(buf), f); i++)
		if (i == 2)
			d->bar2 = strtoull(buf, NULL, 16);
	fclose(f);
	return 0;
}

static inline int ivs_cmp_pci(const void *a, const void *b)
{
	return strcmp(((const struct ivs_dev *)a)->pci,
		      ((const struct ivs_dev *)b)->pci);
}

/* Every ivshmem class device, in PCI address order; the count or -errno. */
static inline int ivs_enumerate(struct ivs_dev *devs, int max)
{
	struct dirent *de;
	DIR *dir;
	int n = 0;

	dir = opendir(IVS_CLASS);
	if (!dir)
		return -errno;
	while ((de = readdir(dir)) && n < max) {
		if (strncmp(de->d_name, "ivshmem", 7))
			continue;
		if (ivs_load(de->d_name, &devs[n]) == 0)
			n++;
	}
	closedir(dir);
	qsort(devs, n, sizeof(*devs), ivs_cmp_pci);
	return n;
}

/*
 * The first device of a kind: "plain", "doorbell" (any doorbell device),
 * "msix" (a doorbell device with interrupts), "high" (shared memory above
 * 4 GiB), "doorbell2" (a second doorbell device), or a name.  0 when
 * found.
 */
static inline int ivs_find(const char *kind, struct ivs_dev *out)
{
	struct ivs_dev devs[IVS_MAX_DEVS];
	int i, n = ivs_enumerate(devs, IVS_MAX_DEVS), doorbells = 0;

	for (i = 0; i < n; i++) {
		if (!strcmp(kind, "doorbell2")) {
			if (devs[i].doorbell && ++doorbells == 2) {
				*out = devs[i];
				return 0;
			}
			continue;
		}
		const struct ivs_dev *d = &devs[i];
		int match;

		if (!strcmp(kind, "plain"))
			match = !d->doorbell;
		else if (!strcmp(kind, "doorbell"))
			match = d->doorbell;
		else if (!strcmp(kind, "msix"))
			match = d->doorbell && !strcmp(d->irq_mode, "msix");
		else if (!strcmp(kind, "high"))
			match = d->bar2 >= (1ULL << 32);
		else
			match = !strcmp(kind, d->name) || !strcmp(kind, d->node);
		if (match) {
			*out = *d;
			return 0;
		}
	}
	return -ENOENT;
}

static inline int ivs_info(int fd, struct ivshmem_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return ioctl(fd, IVSHMEM_IOCTL_INFO, info);
}

static inline int ivs_ring(int fd, unsigned int peer, unsigned int vector)
{
	struct ivshmem_ring r = { .peer = peer, .vector = vector };

	return ioctl(fd, IVSHMEM_IOCTL_RING, &r);
}

static inline int ivs_bind(int fd, unsigned int vector, int efd)
{
	struct ivshmem_eventfd e = { .vector = vector, .fd = efd };

	return ioctl(fd, IVSHMEM_IOCTL_BIND_EVENTFD, &e);
}

static inline int ivs_unbind(int fd, unsigned int vector)
{
	struct ivshmem_eventfd e = { .vector = vector, .fd = -1 };

	return ioctl(fd, IVSHMEM_IOCTL_UNBIND_EVENTFD, &e);
}

static inline int ivs_set_cache(int fd, unsigned int mode)
{
	struct ivshmem_cache c = { .mode = mode };

	return ioctl(fd, IVSHMEM_IOCTL_SET_CACHE, &c);
}

/* poll() one fd for POLLIN; the revents, 0 on timeout, -1 on error. */
static inline int ivs_wait(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = poll(&p, 1, timeout_ms);

	return r > 0 ? p.revents : r;
}

/* The count an eventfd holds (and reset it), 0 if none; it must be O_NONBLOCK. */
static inline uint64_t ivs_efd_take(int efd)
{
	uint64_t v = 0;

	if (read(efd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* Per-vector interrupt counts from sysfs; the number of vectors or -1. */
static inline int ivs_interrupts(const char *name, unsigned long long *c,
				 int max)
{
	char buf[1024], *p, *end;
	int n = 0;

	if (ivs_attr(name, "interrupts", buf, sizeof(buf)))
		return -1;
	for (p = buf; n < max; p = end) {
		unsigned long long v = strtoull(p, &end, 10);

		if (end == p)
			break;
		c[n++] = v;
	}
	return n;
}

/*
 * The memory type of the PAT entries covering exactly [start, end) into
 * type (the last one listed); the number of such entries, or -errno.
 */
static inline int ivs_pat_type(unsigned long long start,
			       unsigned long long end, char *type, size_t len)
{
	char line[256], name[64];
	unsigned long long s, e;
	int n = 0;
	FILE *f;

	f = fopen(IVS_PAT_LIST, "r");
	if (!f)
		return -errno;
	type[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "PAT: [mem 0x%llx-0x%llx] %63s", &s, &e,
			   name) != 3)
			continue;
		if (s == start && e == end) {
			snprintf(type, len, "%s", name);
			n++;
		}
	}
	fclose(f);
	return n;
}

static inline long long ivs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Wait until a word of shared memory holds want; 0, or -1 on timeout. */
static inline int ivs_wait_word(volatile uint32_t *p, uint32_t want,
				int timeout_ms)
{
	long long end = ivs_now_ms() + timeout_ms;

	while (__atomic_load_n(p, __ATOMIC_ACQUIRE) != want) {
		if (ivs_now_ms() > end)
			return -1;
		usleep(200);
	}
	return 0;
}

#endif /* IVSHMEM_UTIL_H */
