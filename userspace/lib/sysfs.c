// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sysfs.c - the sysfs backend: a device reached through its resource0
 * (registers) and resource2 (memory) files, as users of uio_pci_generic,
 * or of no driver at all, reach it
 *
 * The sysfs backend can map the memory, read the own ID and ring
 * doorbells; it has no interrupts.  The kernel maps resource files
 * uncached (resource2_wc, where it exists, write-combining): write-back is
 * not available this way.
 *
 * Layer: backend (see backends.h); it calls pci.c and handle.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backends.h"
#include "handle.h"
#include "pci.h"

struct sysfs_dev {
	struct ivshmem dev;
	volatile uint32_t *regs;
	char *pcidir;
};

static void sysfs_close(struct ivshmem *dev)
{
	struct sysfs_dev *s = container_of(dev, struct sysfs_dev, dev);

	ivshmem_pci_regs_unmap(s->regs);
	free(s->pcidir);
	ivshmem_dev_fini(dev);
	free(s);
}

static int sysfs_map(struct ivshmem *dev, uint64_t off, size_t len, enum ivshmem_map_mode cache,
		     void **addr)
{
	struct sysfs_dev *s = container_of(dev, struct sysfs_dev, dev);
	const char *file;
	char path[PATH_MAX];
	bool rw = true;
	int fd, ret;

	switch (cache) {
	case IVSHMEM_MAP_DEFAULT:
	case IVSHMEM_MAP_UC:
		file = "resource2";
		break;
	case IVSHMEM_MAP_WC:
		file = "resource2_wc";
		break;
	default:
		return -EOPNOTSUPP;
	}
	snprintf(path, sizeof(path), "%s/%s", s->pcidir, file);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && (errno == EACCES || errno == EPERM)) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		rw = false;
	}
	if (fd < 0)
		return errno == ENOENT && cache == IVSHMEM_MAP_WC ? -EOPNOTSUPP : -errno;
	ret = ivshmem_mmap_fd(fd, off, len, rw, addr);
	close(fd);
	return ret;
}

/* QEMU ignores the doorbell of a device without a server: no harm done. */
static int sysfs_ring(struct ivshmem *dev, unsigned int peer, unsigned int vector)
{
	struct sysfs_dev *s = container_of(dev, struct sysfs_dev, dev);

	if (!s->regs)
		return -EOPNOTSUPP;
	if (vector > 255)
		return -EINVAL;		/* QEMU would ring vector & 0xff */
	s->regs[IVSHMEM_REG_DOORBELL / 4] = (uint32_t)(peer << 16 | vector);
	return 0;
}

/*
 * A driver holding the BARs (ivshmem, uio_ivshmem, vfio-pci) keeps the
 * kernel from mapping the resource files (CONFIG_IO_STRICT_DEVMEM, as in
 * Debian): find out at open rather than at the first map.
 */
static int sysfs_check_mappable(const char *pcidir)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char path[PATH_MAX];
	int fd, err = 0;
	void *p;

	snprintf(path, sizeof(path), "%s/resource2", pcidir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	p = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		err = errno;
	else
		munmap(p, page);
	close(fd);
	return err == EINVAL ? -EBUSY : -err;
}

static const struct ivshmem_ops sysfs_ops = {
	.backend = IVSHMEM_BACKEND_SYSFS,
	.close = sysfs_close,
	.map = sysfs_map,
	.ring = sysfs_ring,
};

int ivshmem_sysfs_open(const char *pcidir, struct ivshmem **out)
{
	struct sysfs_dev *s;
	char path[PATH_MAX];
	uint64_t bar1 = 0;
	int ret;

	if (!ivshmem_pci_is_ivshmem(pcidir))
		return -ENODEV;
	snprintf(path, sizeof(path), "%s/resource2", pcidir);
	if (access(path, R_OK) < 0)
		return -errno;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = ivshmem_dev_init(&s->dev, &sysfs_ops, pcidir);
	if (ret < 0) {
		free(s);
		return ret;
	}
	s->pcidir = strdup(pcidir);
	if (!s->pcidir) {
		ret = -ENOMEM;
		goto err;
	}
	ret = ivshmem_pci_bar_size(pcidir, 2, &s->dev.size);
	if (ret < 0)
		goto err;
	if (s->dev.size == 0) {
		ret = -ENODEV;
		goto err;
	}
	ret = sysfs_check_mappable(pcidir);
	if (ret < 0)
		goto err;
	s->dev.memtype = IVSHMEM_RESOURCE_MEMTYPE;
	/* The registers need root (CAP_SYS_ADMIN); memory alone is fine. */
	if (ivshmem_pci_regs_map(pcidir, &s->regs) < 0)
		s->regs = NULL;
	/* ivshmem-plain has neither BAR1 (MSI-X) nor a doorbell. */
	ivshmem_pci_bar_size(pcidir, 1, &bar1);
	if (bar1 && s->regs) {
		int32_t pos = (int32_t)s->regs[IVSHMEM_REG_IV_POSITION / 4];

		s->dev.doorbell = true;
		s->dev.id = pos >= 0 && pos <= IVSHMEM_MAX_PEER ? pos : -1;
	}
	*out = &s->dev;
	return 0;
err:
	sysfs_close(&s->dev);
	return ret;
}
