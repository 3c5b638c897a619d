// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pci.c - what sysfs tells of an ivshmem PCI function: its files and
 * attributes, its BARs and capabilities, and a mapping of its registers
 *
 * Layer: PCI helpers, for the backends, enum.c and libivshmem.c (see
 * pci.h); it calls only handle.c and region.c.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "handle.h"
#include "pci.h"
#include "region.h"

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

/*
 * A driver's label attribute @attr: the label and one newline.  Anything
 * that cannot be a label (too long, a NUL inside) counts as none, so that
 * a lookup by name never matches a label cut short.
 */
static void read_label_attr(const char *dir, const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX], tmp[IVSHMEM_REGION_LABEL_MAX + 2];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, attr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, tmp, sizeof(tmp));
	close(fd);
	if (n <= 0)
		return;
	if (tmp[n - 1] == '\n')
		n--;
	if ((size_t)n >= len || (size_t)n >= IVSHMEM_REGION_LABEL_MAX || memchr(tmp, '\0', (size_t)n))
		return;
	memcpy(buf, tmp, (size_t)n);
	buf[n] = '\0';
}

int ivshmem_pci_child(const char *pcidir, const char *class, char *buf, size_t len)
{
	char dir[PATH_MAX];
	struct dirent *de;
	int ret = -ENOENT;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s", pcidir, class);
	d = opendir(dir);
	if (!d)
		return -ENOENT;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(buf, len, "%s/%s", dir, de->d_name) < len)
			ret = 0;
		break;
	}
	closedir(d);
	return ret;
}

/* The label of the header itself, through resource2 (what root can map). */
static void read_label_header(const char *pcidir, char *buf, size_t len)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), size, off;
	struct region_info ri;
	char path[PATH_MAX];
	void *p;
	int fd;

	if (ivshmem_pci_bar_size(pcidir, 2, &size) < 0 || size < 2 * IVSHMEM_REGION_PAGE)
		return;
	snprintf(path, sizeof(path), "%s/resource2", pcidir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off = (size - IVSHMEM_REGION_PAGE) & ~(page - 1);
	if (ivshmem_mmap_fd(fd, off, (size_t)(size - off), false, &p) == 0) {
		if (region_parse((char *)p + (size - IVSHMEM_REGION_PAGE - off), size, &ri) == 0)
			snprintf(buf, len, "%s", ri.label);
		munmap(p, (size_t)(size - off));
	}
	close(fd);
}

void ivshmem_pci_label(const char *pcidir, char *buf, size_t len)
{
	char driver[64], dir[PATH_MAX];

	buf[0] = '\0';
	if (ivshmem_pci_driver(pcidir, driver, sizeof(driver)) < 0)
		return;
	if (strcmp(driver, "ivshmem") == 0) {
		if (ivshmem_pci_child(pcidir, "ivshmem", dir, sizeof(dir)) == 0)
			read_label_attr(dir, "label", buf, len);
	} else if (strcmp(driver, "uio_ivshmem") == 0) {
		/*
		 * On the PCI device itself, where UIO has no place for it, as
		 * region_label: the PCI core's label is the firmware's name.
		 */
		read_label_attr(pcidir, "region_label", buf, len);
	} else {
		/* vfio-pci and the like hold the BAR: the mapping fails. */
		read_label_header(pcidir, buf, len);
	}
}
