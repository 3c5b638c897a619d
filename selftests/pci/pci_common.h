/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Finding ivshmem functions through sysfs and mapping their BARs, for the
 * driver-less PCI tests.
 */
#ifndef PCI_COMMON_H
#define PCI_COMMON_H

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PCI_DEVICES "/sys/bus/pci/devices"
#define MAX_FUNCS 16

struct pci_func {
	char addr[256];
	uint64_t bar_size[6];
};

static inline int pci_read_hex(const char *addr, const char *attr,
			       unsigned long *val)
{
	char path[512];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/%s", addr, attr);
	f = fopen(path, "r");
	if (!f)
		return -1;
	ok = fscanf(f, "%lx", val) == 1;
	fclose(f);
	return ok ? 0 : -1;
}

/* BAR sizes from the "resource" file: one "start end flags" line per BAR. */
static inline void pci_read_bars(struct pci_func *fn)
{
	unsigned long long start, end, flags;
	char path[512];
	FILE *f;
	int i;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/resource", fn->addr);
	f = fopen(path, "r");
	if (!f)
		return;
	for (i = 0; i < 6; i++) {
		if (fscanf(f, "%llx %llx %llx", &start, &end, &flags) != 3)
			break;
		fn->bar_size[i] = end ? end - start + 1 : 0;
	}
	fclose(f);
}

/* All 1af4:1110 functions, in bus order; returns how many were found. */
static inline int pci_find_ivshmem(struct pci_func *out, int max)
{
	struct dirent **names;
	unsigned long vendor, device;
	int n, i, found = 0;

	n = scandir(PCI_DEVICES, &names, NULL, alphasort);
	for (i = 0; i < n; i++) {
		const char *a = names[i]->d_name;

		if (a[0] != '.' && found < max &&
		    !pci_read_hex(a, "vendor", &vendor) &&
		    !pci_read_hex(a, "device", &device) &&
		    vendor == 0x1af4 && device == 0x1110) {
			memset(&out[found], 0, sizeof(out[found]));
			snprintf(out[found].addr, sizeof(out[found].addr), "%s", a);
			pci_read_bars(&out[found]);
			found++;
		}
		free(names[i]);
	}
	free(names);
	return found;
}

/* Map a BAR through sysfs resourceN; NULL on failure. */
static inline void *pci_map_bar(const struct pci_func *fn, int bar)
{
	char path[512];
	void *p;
	int fd;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/resource%d", fn->addr, bar);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0)
		return NULL;
	p = mmap(NULL, fn->bar_size[bar], PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

#endif
