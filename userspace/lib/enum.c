// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * enum.c - ivshmem_list(): every ivshmem PCI function, through libudev
 *
 * libudev reads sysfs itself, so this works without a udev daemon (as in
 * a small initramfs).  What the ivshmem driver knows comes from its class
 * device's attributes; for functions bound elsewhere, from the PCI
 * device's own files.
 *
 * Layer: discovery, above the backends (it opens a UIO device to read its
 * peer ID) and below libivshmem.c (whose ivshmem_open() takes the first
 * device listed); it calls uio.c, pci.c and handle.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libudev.h>

#include "backends.h"
#include "handle.h"
#include "pci.h"
#include "region.h"

struct devinfo_block {
	struct ivshmem_devinfo info;
	char strings[];
};

/* The device node of @parent's child in @subsystem, if any. */
static int child_node(struct udev *udev, struct udev_device *parent, const char *subsystem,
		      char *node, size_t len, char *syspath, size_t splen)
{
	struct udev_enumerate *e = udev_enumerate_new(udev);
	struct udev_list_entry *entry;
	int ret = -ENOENT;

	if (!e)
		return -ENOMEM;
	udev_enumerate_add_match_parent(e, parent);
	udev_enumerate_add_match_subsystem(e, subsystem);
	if (udev_enumerate_scan_devices(e) < 0)
		goto out;
	udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e)) {
		struct udev_device *d = udev_device_new_from_syspath(
			udev, udev_list_entry_get_name(entry));
		const char *dn = d ? udev_device_get_devnode(d) : NULL;

		if (dn) {
			snprintf(node, len, "%s", dn);
			snprintf(syspath, splen, "%s", udev_device_get_syspath(d));
			ret = 0;
		}
		udev_device_unref(d);
		if (ret == 0)
			break;
	}
out:
	udev_enumerate_unref(e);
	return ret;
}

static unsigned int attr_uint(struct udev_device *d, const char *name, unsigned int dflt)
{
	const char *v = udev_device_get_sysattr_value(d, name);
	char *end;
	unsigned long n;

	if (!v)
		return dflt;
	errno = 0;
	n = strtoul(v, &end, 0);
	if (errno || end == v || n > UINT_MAX)
		return dflt;
	return (unsigned int)n;
}

/* The MSI-X interrupts the bound driver has enabled. */
static bool msix_enabled(const char *pcidir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/msi_irqs", pcidir);
	return access(path, F_OK) == 0;
}

/* IVPosition, for whoever may map the registers (root). */
static int read_position(const char *pcidir)
{
	volatile uint32_t *regs;
	int32_t pos;

	if (ivshmem_pci_regs_map(pcidir, &regs) < 0)
		return -1;
	pos = (int32_t)regs[IVSHMEM_REG_IV_POSITION / 4];
	ivshmem_pci_regs_unmap(regs);
	return pos >= 0 && pos <= IVSHMEM_MAX_PEER ? pos : -1;
}

static struct ivshmem_devinfo *new_info(const char *path, const char *pci, const char *driver,
					const char *kind, const char *irq, const char *label)
{
	size_t lp = strlen(path) + 1, lc = strlen(pci) + 1, ld = strlen(driver) + 1;
	size_t lk = strlen(kind) + 1, li = strlen(irq) + 1, ll = strlen(label) + 1;
	struct devinfo_block *b = calloc(1, sizeof(*b) + lp + lc + ld + lk + li + ll);
	char *s;

	if (!b)
		return NULL;
	s = b->strings;
	b->info.path = memcpy(s, path, lp);
	s += lp;
	b->info.pci = memcpy(s, pci, lc);
	s += lc;
	b->info.driver = memcpy(s, driver, ld);
	s += ld;
	b->info.kind = memcpy(s, kind, lk);
	s += lk;
	b->info.irq = memcpy(s, irq, li);
	s += li;
	b->info.label = memcpy(s, label, ll);
	return &b->info;
}

static struct ivshmem_devinfo *describe(struct udev *udev, struct udev_device *pdev)
{
	const char *pcidir = udev_device_get_syspath(pdev);
	const char *pci = udev_device_get_sysname(pdev);
	const char *drv = udev_device_get_driver(pdev);
	char node[PATH_MAX], classdir[PATH_MAX], uio_name[64], label[IVSHMEM_REGION_LABEL_MAX];
	struct ivshmem_devinfo *info;
	uint64_t size = 0, bar1 = 0;
	unsigned int vectors = 0;
	const char *irq = "none";
	enum ivshmem_memtype memtype = IVSHMEM_RESOURCE_MEMTYPE;
	int id = -1;

	ivshmem_pci_bar_size(pcidir, 2, &size);
	ivshmem_pci_bar_size(pcidir, 1, &bar1);
	if (child_node(udev, pdev, "ivshmem", node, sizeof(node), classdir,
		       sizeof(classdir)) == 0) {
		struct udev_device *c = udev_device_new_from_syspath(udev, classdir);

		if (c) {
			const char *mode = udev_device_get_sysattr_value(c, "irq_mode");

			vectors = attr_uint(c, "vectors", 0);
			if (mode && strcmp(mode, "msix") == 0)
				irq = "msix";
			if (attr_uint(c, "doorbell", bar1 != 0)) {
				unsigned int v = attr_uint(c, "vm_id", UINT_MAX);

				id = v <= IVSHMEM_MAX_PEER ? (int)v : -1;
			}
			udev_device_unref(c);
		}
		memtype = ivshmem_read_memtype(classdir);
	} else if (child_node(udev, pdev, "uio", node, sizeof(node), classdir,
			      sizeof(classdir)) == 0) {
		if (msix_enabled(pcidir))
			irq = "msix";
		vectors = ivshmem_uio_vectors(classdir);
		/* as the UIO backend maps: uio_ivshmem's map 1, else resource2 */
		if (ivshmem_read_sysfs(classdir, "name", uio_name, sizeof(uio_name)) >= 0 &&
		    strcmp(uio_name, "uio_ivshmem") == 0)
			memtype = ivshmem_read_memtype(pcidir);
		/* The registers through the UIO map (sysfs may refuse a claimed BAR). */
		if (bar1) {
			struct ivshmem *dev;

			if (ivshmem_uio_open(node, &dev) == 0) {
				id = dev->id;
				dev->ops->close(dev);
			} else {
				id = read_position(pcidir);
			}
		}
	} else {
		snprintf(node, sizeof(node), "/sys/bus/pci/devices/%s", pci);
		if (bar1)
			id = read_position(pcidir);
	}
	ivshmem_pci_label(pcidir, label, sizeof(label));
	info = new_info(node, pci, drv ? drv : "", bar1 ? "doorbell" : "plain", irq, label);
	if (!info)
		return NULL;
	info->size = size;
	info->id = id;
	info->vectors = vectors;
	info->revision = attr_uint(pdev, "revision", 0);
	info->memtype = memtype;
	return info;
}

static int cmp_pci(const void *a, const void *b)
{
	const struct ivshmem_devinfo *x = *(struct ivshmem_devinfo *const *)a;
	const struct ivshmem_devinfo *y = *(struct ivshmem_devinfo *const *)b;

	return strcmp(x->pci, y->pci);
}

IVSHMEM_EXPORT int ivshmem_list(struct ivshmem_devinfo ***list)
{
	struct ivshmem_devinfo **v = NULL;
	struct udev_list_entry *entry;
	struct udev_enumerate *e;
	struct udev *udev;
	size_t n = 0, cap = 0;
	int ret = 0;

	if (!list)
		return -EINVAL;
	udev = udev_new();
	if (!udev)
		return -ENOMEM;
	e = udev_enumerate_new(udev);
	if (!e) {
		udev_unref(udev);
		return -ENOMEM;
	}
	udev_enumerate_add_match_subsystem(e, "pci");
	udev_enumerate_add_match_sysattr(e, "vendor", "0x1af4");
	udev_enumerate_add_match_sysattr(e, "device", "0x1110");
	ret = udev_enumerate_scan_devices(e);
	if (ret < 0)
		goto out;
	udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e)) {
		struct udev_device *d = udev_device_new_from_syspath(
			udev, udev_list_entry_get_name(entry));
		struct ivshmem_devinfo *info;

		if (!d)
			continue;	/* gone meanwhile */
		info = describe(udev, d);
		udev_device_unref(d);
		if (!info) {
			ret = -ENOMEM;
			goto out;
		}
		if (n + 2 > cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct ivshmem_devinfo **nv = realloc(v, ncap * sizeof(*nv));

			if (!nv) {
				free(info);
				ret = -ENOMEM;
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		v[n++] = info;
	}
	if (!v) {
		v = calloc(1, sizeof(*v));
		if (!v) {
			ret = -ENOMEM;
			goto out;
		}
	}
	v[n] = NULL;
	qsort(v, n, sizeof(*v), cmp_pci);
	*list = v;
	ret = n > INT_MAX ? INT_MAX : (int)n;
	v = NULL;
out:
	if (v) {
		v[n] = NULL;
		ivshmem_list_free(v);
	}
	udev_enumerate_unref(e);
	udev_unref(udev);
	return ret;
}

IVSHMEM_EXPORT void ivshmem_list_free(struct ivshmem_devinfo **list)
{
	if (!list)
		return;
	for (size_t i = 0; list[i]; i++)
		free(container_of(list[i], struct devinfo_block, info));
	free(list);
}
