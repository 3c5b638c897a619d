// SPDX-License-Identifier: GPL-2.0
/*
 * pci_shm N write OFFSET STRING | read OFFSET | hold OFFSET
 *
 * Writes a string into, or prints the string at an offset of, the N-th
 * ivshmem function's BAR2 through sysfs: the driver-less way two guests can
 * exchange data, used by the harness's cross-guest tests.  hold keeps
 * BAR2 mapped through sysfs (the offset is not used), prints "holding" and
 * sleeps until killed.
 */
#include <unistd.h>

#include "pci_common.h"

int main(int argc, char **argv)
{
	struct pci_func fn[MAX_FUNCS];
	unsigned long long off;
	int n, idx;
	char *p;

	if (argc < 4 || (!strcmp(argv[2], "write") && argc < 5)) {
		fprintf(stderr, "usage: pci_shm N read OFFSET | pci_shm N write OFFSET STRING | pci_shm N hold OFFSET\n");
		return 2;
	}
	idx = atoi(argv[1]);
	off = strtoull(argv[3], NULL, 0);
	n = pci_find_ivshmem(fn, MAX_FUNCS);
	if (idx < 0 || idx >= n) {
		fprintf(stderr, "pci_shm: no ivshmem function #%d (%d found)\n", idx, n);
		return 1;
	}
	if (off >= fn[idx].bar_size[2]) {
		fprintf(stderr, "pci_shm: offset beyond BAR2\n");
		return 1;
	}
	p = pci_map_bar(&fn[idx], 2);
	if (!p) {
		perror("pci_shm: mmap resource2");
		return 1;
	}
	if (!strcmp(argv[2], "hold")) {
		printf("holding\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	if (!strcmp(argv[2], "write"))
		snprintf(p + off, fn[idx].bar_size[2] - off, "%s", argv[4]);
	else
		printf("%.*s\n", (int)(fn[idx].bar_size[2] - off), p + off);
	munmap(p, fn[idx].bar_size[2]);
	return 0;
}
