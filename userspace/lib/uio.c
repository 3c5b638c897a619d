// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * uio.c - the UIO backend: /dev/uioN of an ivshmem PCI function
 *
 * With uio_ivshmem the UIO device has map 0 = the registers (BAR0) and
 * map 1 = the shared memory (BAR2, write-back), and its descriptor reports
 * the device's interrupts.  UIO has a single interrupt source, so the
 * driver adds map 2, a read-only page with one 64-bit counter per MSI-X
 * vector, raised before each event: this backend offers every vector,
 * all polling on the one UIO descriptor, and tells them apart by keeping
 * per handle the counts it has already reported.  Acknowledging any
 * vector drains the descriptor; ivshmem_wait() therefore looks at the
 * counters before it sleeps.  With any other UIO driver (uio_pci_generic, whose maps are
 * only the non-prefetchable BARs: map 1 is then the MSI-X table) the
 * registers and memory come from the PCI device's sysfs resource files,
 * as in the sysfs backend, and there are no interrupts (the device has no
 * INTx pin).
 *
 * Layer: backend (see backends.h); it calls pci.c and handle.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backends.h"
#include "handle.h"
#include "pci.h"

/*
 * struct uio_dev - an open /dev/uioN
 * @fd:       the UIO device
 * @regs:     the registers (map 0, or sysfs resource0), or NULL
 * @maps:     the driver offers map 1 = shared memory through @fd
 * @pcidir:   the PCI function's sysfs directory
 * @irq_on:   interrupts need re-enabling by a write after each one
 * @counts:   uio_ivshmem's map 2, one interrupt counter per vector, or NULL
 * @seen:     per vector, the count reported so far (under dev.lock)
 */
struct uio_dev {
	struct ivshmem dev;
	int fd;
	volatile uint32_t *regs;
	bool maps;
	char *pcidir;
	bool irq_on;
	const volatile uint64_t *counts;
	uint64_t *seen;
};

static struct uio_dev *to_uio(struct ivshmem *dev)
{
	return container_of(dev, struct uio_dev, dev);
}

static void uio_close(struct ivshmem *dev)
{
	struct uio_dev *u = to_uio(dev);

	ivshmem_pci_regs_unmap(u->regs);
	if (u->counts)
		munmap((void *)u->counts, u->dev.vectors * sizeof(*u->counts));
	free(u->seen);
	if (u->fd >= 0)
		close(u->fd);
	free(u->pcidir);
	ivshmem_dev_fini(dev);
	free(u);
}

static int uio_map(struct ivshmem *dev, uint64_t off, size_t len, enum ivshmem_map_mode mode,
		   void **addr)
{
	struct uio_dev *u = to_uio(dev);
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	char path[PATH_MAX];
	int fd, ret;
	void *p;

	if (!u->maps) {
		/* resource2 is mapped uncached (or write-combining) by sysfs */
		const char *file = mode == IVSHMEM_MAP_WC ? "resource2_wc" : "resource2";

		if (mode == IVSHMEM_MAP_WB)
			return -EOPNOTSUPP;
		snprintf(path, sizeof(path), "%s/%s", u->pcidir, file);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return errno == ENOENT ? -EOPNOTSUPP : -errno;
		ret = ivshmem_mmap_fd(fd, off, len, true, addr);
		close(fd);
		return ret;
	}
	if (mode != IVSHMEM_MAP_DEFAULT && mode != IVSHMEM_MAP_WB)
		return -EOPNOTSUPP;
	/*
	 * UIO selects the map by the page offset and always maps a map from
	 * its start: map the whole prefix and give back the part asked for.
	 * uio_ivshmem refuses to split a mapping (its memory type is reserved
	 * whole), so the prefix stays until ivshmem_unmap() takes it all.
	 */
	if (off > SIZE_MAX - len)
		return -EINVAL;
	ret = ivshmem_mmap_fd(u->fd, 1 * page, (size_t)off + len, true, &p);
	if (ret < 0)
		return ret;
	if (off) {
		ret = ivshmem_note_inner_map((char *)p + off, p, (size_t)off + len);
		if (ret < 0) {
			munmap(p, (size_t)off + len);
			return ret;
		}
		p = (char *)p + off;
	}
	*addr = p;
	return 0;
}

static int uio_ring(struct ivshmem *dev, unsigned int peer, unsigned int vector)
{
	struct uio_dev *u = to_uio(dev);

	if (!u->regs)
		return -EOPNOTSUPP;
	if (vector > 255)
		return -EINVAL;		/* QEMU would ring vector & 0xff */
	u->regs[IVSHMEM_REG_DOORBELL / 4] = (uint32_t)(peer << 16 | vector);
	return 0;
}

static int uio_vector_fd(struct ivshmem *dev, unsigned int vector)
{
	(void)vector;
	return to_uio(dev)->fd;
}

/* Read the UIO event count: 0, -EAGAIN when there was no event, or -errno. */
static int uio_take_event(int fd)
{
	uint32_t total;
	ssize_t n;

	do {
		n = read(fd, &total, sizeof(total));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : errno == EIO ? -ENODEV : -errno;
	return n == sizeof(total) ? 0 : -EIO;
}

static bool uio_pending(struct ivshmem *dev, unsigned int vector)
{
	struct uio_dev *u = to_uio(dev);

	return u->counts && u->counts[vector] != __atomic_load_n(&u->seen[vector], __ATOMIC_RELAXED);
}

static int uio_ack(struct ivshmem *dev, unsigned int vector, int fd, uint64_t *count)
{
	struct uio_dev *u = to_uio(dev);
	uint64_t now;
	int ret;

	ret = uio_take_event(fd);
	if (u->counts) {
		/* The event may be any vector's: the counters tell. */
		if (ret < 0 && ret != -EAGAIN)
			return ret;
		pthread_mutex_lock(&dev->lock);
		now = u->counts[vector];
		*count = now - u->seen[vector];
		__atomic_store_n(&u->seen[vector], now, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&dev->lock);
		return *count ? 0 : -EAGAIN;
	}
	if (ret < 0)
		return ret;
	if (u->irq_on) {
		uint32_t on = 1;

		if (write(fd, &on, sizeof(on)) < 0 && errno != ENOSYS)
			return -errno;
	}
	/* UIO gives a running total from before our open: count one. */
	*count = 1;
	return 0;
}

static const struct ivshmem_ops uio_ops = {
	.backend = IVSHMEM_BACKEND_UIO,
	.close = uio_close,
	.map = uio_map,
	.ring = uio_ring,
	.vector_fd = uio_vector_fd,
	.ack = uio_ack,
	.pending = uio_pending,
};

unsigned int ivshmem_uio_vectors(const char *classdir)
{
	uint64_t len;
	char name[64];

	if (ivshmem_read_sysfs(classdir, "name", name, sizeof(name)) < 0 ||
	    strcmp(name, "uio_ivshmem") != 0 ||
	    ivshmem_read_sysfs_u64(classdir, "maps/map2/size", &len) < 0 ||
	    len > (uint64_t)sysconf(_SC_PAGESIZE))	/* one page at most */
		return 0;
	return (unsigned int)(len / sizeof(uint64_t));
}

/* Map uio_ivshmem's counters (map 2): @n vectors, one counter each. */
static int uio_map_counts(struct uio_dev *u, unsigned int n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *p;
	int ret;

	u->seen = calloc(n, sizeof(*u->seen));
	if (!u->seen)
		return -ENOMEM;
	ret = ivshmem_mmap_fd(u->fd, 2 * (uint64_t)page, n * sizeof(*u->counts), false, &p);
	if (ret < 0)
		return ret;
	u->counts = p;
	u->dev.vectors = n;
	/* Report only what comes after the open, as the other backends do. */
	for (unsigned int i = 0; i < n; i++)
		u->seen[i] = u->counts[i];
	return 0;
}

int ivshmem_uio_open(const char *node, struct ivshmem **out)
{
	char classdir[PATH_MAX], link[PATH_MAX + 16], pcidir[PATH_MAX], name[64];
	uint64_t bar1 = 0;
	unsigned int vectors;
	struct uio_dev *u;
	struct stat st;
	int ret;

	if (stat(node, &st) < 0)
		return -errno;
	if (!S_ISCHR(st.st_mode))
		return -ENODEV;
	snprintf(classdir, sizeof(classdir), "/sys/dev/char/%u:%u", major(st.st_rdev),
		 minor(st.st_rdev));
	snprintf(link, sizeof(link), "%s/device", classdir);
	if (!realpath(link, pcidir) || !ivshmem_pci_is_ivshmem(pcidir))
		return -ENODEV;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->fd = -1;
	ret = ivshmem_dev_init(&u->dev, &uio_ops, node);
	if (ret < 0) {
		free(u);
		return ret;
	}
	u->pcidir = strdup(pcidir);
	if (!u->pcidir) {
		ret = -ENOMEM;
		goto err;
	}
	u->fd = open(node, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (u->fd < 0) {
		ret = -errno;
		goto err;
	}
	if (ivshmem_read_sysfs(classdir, "name", name, sizeof(name)) < 0)
		name[0] = '\0';
	ivshmem_pci_bar_size(pcidir, 1, &bar1);
	if (strcmp(name, "uio_ivshmem") == 0 &&
	    ivshmem_read_sysfs_u64(classdir, "maps/map1/size", &u->dev.size) == 0) {
		uint64_t offs = 0;
		void *p;

		u->maps = true;
		u->dev.memtype = ivshmem_read_memtype(pcidir);
		/* BAR0 (256 bytes) begins at map 0's offset into its page */
		ivshmem_read_sysfs_u64(classdir, "maps/map0/offset", &offs);
		if (offs + 256 <= (uint64_t)sysconf(_SC_PAGESIZE) &&
		    ivshmem_mmap_fd(u->fd, 0, (size_t)sysconf(_SC_PAGESIZE), true, &p) == 0)
			u->regs = (volatile uint32_t *)((char *)p + offs);
		/* map 2 exists when the device interrupts */
		vectors = ivshmem_uio_vectors(classdir);
		if (vectors) {
			ret = uio_map_counts(u, vectors);
			if (ret < 0)
				goto err;
		}
	} else {
		ret = ivshmem_pci_bar_size(pcidir, 2, &u->dev.size);
		if (ret < 0)
			goto err;
		if (ivshmem_pci_regs_map(pcidir, &u->regs) < 0)
			u->regs = NULL;
		u->dev.memtype = IVSHMEM_RESOURCE_MEMTYPE;	/* uio_map() takes resource2 */
	}
	u->irq_on = strcmp(name, "uio_pci_generic") == 0;
	if (bar1 && u->regs) {
		int32_t pos = (int32_t)u->regs[IVSHMEM_REG_IV_POSITION / 4];

		u->dev.doorbell = true;
		u->dev.id = pos >= 0 && pos <= IVSHMEM_MAX_PEER ? pos : -1;
	}
	if (!u->dev.size) {
		ret = -ENODEV;
		goto err;
	}
	u->dev.watch_fd = u->fd;
	u->dev.watch_events = 0;
	*out = &u->dev;
	return 0;
err:
	uio_close(&u->dev);
	return ret;
}
