// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sysfs.c - PCI facts from sysfs, and the sysfs backend: a device reached
 * through its resource0 (registers) and resource2 (memory) files, as
 * users of uio_pci_generic, or of no driver at all, reach it
 *
 * The sysfs backend can map the memory, read the own ID and ring
 * doorbells; it has no interrupts.  The kernel maps resource files
 * uncached (resource2_wc, where it exists, write-combining): write-back is
 * not available this way.
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

#include "private.h"

#define PCI_VENDOR_REDHAT_QUMRANET	0x1af4
#define PCI_DEVICE_IVSHMEM		0x1110
#define PCI_CAP_LIST			0x34
#define PCI_CAP_ID_MSIX			0x11
#define PCI_STATUS			0x06
#define PCI_STATUS_CAP_LIST		0x10

int ivshmem_read_sysfs(const char *dir, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return (int)n;
	}
	close(fd);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return (int)n;
}

int ivshmem_read_sysfs_u64(const char *dir, const char *name, uint64_t *val)
{
	char buf[64], *end;
	int ret;

	ret = ivshmem_read_sysfs(dir, name, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	errno = 0;
	*val = strtoull(buf, &end, 0);
	if (errno || end == buf || *end)
		return -EINVAL;
	return 0;
}

bool ivshmem_pci_is_ivshmem(const char *pcidir)
{
	uint64_t vendor, device;

	return ivshmem_read_sysfs_u64(pcidir, "vendor", &vendor) == 0 &&
	       ivshmem_read_sysfs_u64(pcidir, "device", &device) == 0 &&
	       vendor == PCI_VENDOR_REDHAT_QUMRANET && device == PCI_DEVICE_IVSHMEM;
}

int ivshmem_pci_bar_size(const char *pcidir, int bar, uint64_t *size)
{
	char buf[4096], *line = buf;
	unsigned long long start, end, flags;
	int ret;

	ret = ivshmem_read_sysfs(pcidir, "resource", buf, sizeof(buf));
	if (ret < 0)
		return ret;
	for (int i = 0; i < bar; i++) {
		line = strchr(line, '\n');
		if (!line)
			return -EINVAL;
		line++;
	}
	if (sscanf(line, "%llx %llx %llx", &start, &end, &flags) != 3)
		return -EINVAL;
	*size = (start || end) && end >= start ? end - start + 1 : 0;
	return 0;
}

/* MSI-X table size from the capability list; needs the full config space. */
int ivshmem_pci_msix_vectors(const char *pcidir)
{
	unsigned char cfg[256];
	char path[PATH_MAX];
	unsigned int pos, hops = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/config", pcidir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, cfg, sizeof(cfg), 0);
	close(fd);
	if (n < (ssize_t)sizeof(cfg))
		return n < 0 ? -errno : -EACCES;	/* only root reads past 64 bytes */
	if (!(cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST))
		return 0;
	for (pos = cfg[PCI_CAP_LIST] & ~3u; pos >= 0x40 && pos < 0xff && hops < 48; hops++) {
		if (cfg[pos] == PCI_CAP_ID_MSIX)
			return ((cfg[pos + 2] | cfg[pos + 3] << 8) & 0x7ff) + 1;
		pos = cfg[pos + 1] & ~3u;
	}
	return 0;
}

int ivshmem_pci_regs_map(const char *pcidir, volatile uint32_t **regs)
{
	char path[PATH_MAX];
	void *p;
	int fd, ret;

	snprintf(path, sizeof(path), "%s/resource0", pcidir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = ivshmem_mmap_fd(fd, 0, (size_t)sysconf(_SC_PAGESIZE), true, &p);
	close(fd);
	if (ret < 0)
		return ret;
	*regs = p;
	return 0;
}

void ivshmem_pci_regs_unmap(volatile uint32_t *regs)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	/* uio_ivshmem's map 0 may put the registers past the page start */
	if (regs)
		munmap((void *)((uintptr_t)regs & ~(uintptr_t)(page - 1)), page);
}

int ivshmem_pci_driver(const char *pcidir, char *buf, size_t len)
{
	char link[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(link, sizeof(link), "%s/driver", pcidir);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0) {
		snprintf(buf, len, "%s", "");
		return errno == ENOENT ? 0 : -errno;
	}
	target[n] = '\0';
	base = strrchr(target, '/');
	snprintf(buf, len, "%s", base ? base + 1 : target);
	return 0;
}

enum ivshmem_memtype ivshmem_read_memtype(const char *dir)
{
	char buf[32];

	if (ivshmem_read_sysfs(dir, "memtype", buf, sizeof(buf)) < 0)
		return IVSHMEM_MEM_UNKNOWN;
	if (strcmp(buf, "write-back") == 0)
		return IVSHMEM_MEM_WB;
	if (strcmp(buf, "uncached-minus") == 0)
		return IVSHMEM_MEM_UC_MINUS;
	return IVSHMEM_MEM_UNKNOWN;
}

/* ---------------------------------------------------------------- backend */

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
