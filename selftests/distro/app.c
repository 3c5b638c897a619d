// SPDX-License-Identifier: GPL-2.0
/*
 * A guest application as users write them: built against the installed
 * library with "pkg-config --cflags --libs ivshmem", it opens a device,
 * maps the start of its shared memory and compares it with TEXT.
 *
 *   app DEVICE TEXT     exit status 0 when the memory starts with TEXT
 */
#include <libivshmem.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct ivshmem *dev;
	size_t len;
	void *mem;
	int ret;

	if (argc != 3) {
		fprintf(stderr, "usage: app DEVICE TEXT\n");
		return 2;
	}
	len = strlen(argv[2]);
	ret = ivshmem_open(argv[1], &dev);
	if (ret < 0) {
		fprintf(stderr, "app: open %s: %s\n", argv[1], strerror(-ret));
		return 1;
	}
	ret = ivshmem_map(dev, 0, len, IVSHMEM_MAP_DEFAULT, &mem);
	if (ret < 0) {
		fprintf(stderr, "app: map %s: %s\n", argv[1], strerror(-ret));
		ivshmem_close(dev);
		return 1;
	}
	ret = memcmp(mem, argv[2], len) != 0;
	printf("app: %s %s\n", argv[1], ret ? "holds something else" : "holds the text");
	ivshmem_unmap(mem, len);
	ivshmem_close(dev);
	return ret;
}
