// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ivshmem-label - write, show or remove the region header of a plain
 * region's memory file (a memory-backend-file, a hugetlbfs file), before
 * QEMU maps it
 *
 * The header is <linux/ivshmem_region.h>'s, written and read with
 * region.c, as the server and the library do.  The file is mapped, never
 * written with write() (hugetlbfs has none), and keeps its size.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include "common.h"
#include "region.h"

#define PAGE	IVSHMEM_REGION_PAGE

static void help(void)
{
	printf("Usage: %s FILE NAME        write a header with the label NAME\n"
	       "       %s FILE             show the header\n"
	       "       %s --clear FILE     remove the header\n"
	       "Label the memory file of an ivshmem region (a QEMU memory-backend-file,\n"
	       "a file on hugetlbfs or in /dev/shm) before QEMU starts: the last 4096\n"
	       "bytes of FILE become the region header, and guests find the device by\n"
	       "its label (name:NAME).  FILE keeps its size, which must be a multiple of\n"
	       "4096 and at least 8192 bytes.\n"
	       "\n"
	       "  -c, --clear           remove the header: zero the bytes it takes\n"
	       "  -f, --force           write over a last page that holds data, or over\n"
	       "                        a header with a presence table (a server's)\n"
	       "  -h, --help            show this help\n"
	       "\n"
	       "NAME: 1 to 63 printable ASCII characters, no '/', not '.' or '..'.\n"
	       "Exit status: 0 success, 1 failure (showing: no header), 2 bad usage.\n",
	       tool_name, tool_name, tool_name);
}

/*
 * struct memfile - the file and a mapping of its tail
 * @fd:    the file
 * @size:  its size
 * @align: what a mapping's offset must be a multiple of: the page size,
 *         the huge page size on hugetlbfs
 * @map:   the mapping, @len bytes, ending at the file's end
 */
struct memfile {
	const char *path;
	int fd;
	uint64_t size;
	uint64_t align;
	void *map;
	size_t len;
	bool writable;
};

static void memfile_open(struct memfile *m, const char *path, bool writable)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	struct statfs fs;
	struct stat st;

	*m = (struct memfile){ .path = path, .writable = writable };
	/* Neither O_CREAT nor O_TRUNC: the file is QEMU's, as it is. */
	m->fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (m->fd < 0 && errno == EISDIR)
		tool_fail("%s: not a regular file (a memory file: tmpfs, hugetlbfs, /dev/shm)",
			  path);
	if (m->fd < 0)
		tool_fail("%s: cannot open: %s", path, strerror(errno));
	if (fstat(m->fd, &st) < 0)
		tool_fail("%s: cannot stat: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		tool_fail("%s: not a regular file (a memory file: tmpfs, hugetlbfs, /dev/shm)",
			  path);
	m->size = (uint64_t)st.st_size;
	if (m->size % PAGE)
		tool_fail("%s: its size, %" PRIu64 " bytes, is not a multiple of 4096: not the "
			  "memory of an ivshmem region", path, m->size);
	if (m->size < 2 * PAGE)
		tool_fail("%s: too small for a header: %" PRIu64 " bytes, at least 8192 needed",
			  path, m->size);
	m->align = page;
	if (fstatfs(m->fd, &fs) == 0 && (unsigned long)fs.f_type == HUGETLBFS_MAGIC &&
	    (uint64_t)fs.f_bsize > page)
		m->align = (uint64_t)fs.f_bsize;
}

/* Map the file's last @span bytes (or more, for alignment): their start. */
static char *memfile_tail(struct memfile *m, uint64_t span)
{
	uint64_t off = (m->size - span) & ~(m->align - 1);
	void *p;

	if (m->map)
		munmap(m->map, m->len);
	m->len = (size_t)(m->size - off);
	p = mmap(NULL, m->len, PROT_READ | (m->writable ? PROT_WRITE : 0), MAP_SHARED, m->fd,
		 (off_t)off);
	if (p == MAP_FAILED)
		tool_fail("%s: cannot map its last %" PRIu64 " bytes: %s", m->path, span,
			  strerror(errno));
	m->map = p;
	return (char *)p + (m->size - span - off);
}

static char *memfile_page(struct memfile *m)
{
	return memfile_tail(m, PAGE);
}

static void memfile_close(struct memfile *m)
{
	if (m->map && m->writable && msync(m->map, m->len, MS_SYNC) < 0)
		tool_fail("%s: cannot write back: %s", m->path, strerror(errno));
	if (m->map)
		munmap(m->map, m->len);
	close(m->fd);
}

/* Zero @span bytes at the end, the magic first, so no reader sees half. */
static void zero_tail(struct memfile *m, uint64_t span)
{
	char *start = memfile_tail(m, span);
	char *page = start + span - PAGE;

	__atomic_store_n((uint64_t *)page, 0, __ATOMIC_RELEASE);
	memset(start, 0, (size_t)span);
}

static bool all_zero(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static int show(const char *path)
{
	char label[TOOL_LABEL_TEXT];
	struct region_info ri;
	struct memfile m;
	int ret;

	memfile_open(&m, path, false);
	ret = region_parse(memfile_page(&m), m.size, &ri);
	memfile_close(&m);
	if (ret == -ENOMSG)
		tool_fail("%s: the region has no ivshmem header", path);
	if (ret < 0)
		tool_fail("%s: the region's header is corrupt", path);
	printf("label:      %s\n", ri.label[0] ? tool_escape(ri.label, label, sizeof(label)) :
	       "(none)");
	printf("header:     %" PRIu32 " bytes at 0x%" PRIx64, ri.header_size,
	       m.size - ri.header_size);
	if (!ri.max_peers)
		printf(", no presence table\n");
	else if (ri.presence_vector == IVSHMEM_REGION_NO_VECTOR)
		printf(", presence table of %" PRIu32 " peers, no presence vector\n", ri.max_peers);
	else
		printf(", presence table of %" PRIu32 " peers, presence vector %" PRIu32 "\n",
		       ri.max_peers, ri.presence_vector);
	printf("instance:   0x%016" PRIx64 "\n", ri.instance);
	return 0;
}

static int clear(const char *path)
{
	struct region_info ri;
	struct memfile m;
	int ret;

	memfile_open(&m, path, true);
	ret = region_parse(memfile_page(&m), m.size, &ri);
	if (ret == 0)
		zero_tail(&m, ri.header_size);		/* the table too */
	else if (ret == -EBADMSG)
		zero_tail(&m, PAGE);			/* its sizes mean nothing */
	/* No header: nothing to remove, and the last page is left alone. */
	memfile_close(&m);
	return 0;
}

static int write_label(const char *path, const char *name, bool force)
{
	struct region_info old, ri = { 0 };
	struct memfile m;
	char *page;
	int ret;

	memfile_open(&m, path, true);
	page = memfile_page(&m);
	ret = region_parse(page, m.size, &old);
	if (ret == -ENOMSG && !force && !all_zero(page, PAGE))
		tool_fail("%s: its last 4096 bytes hold data, which the header would overwrite "
			  "(--force to write it anyway)", path);
	if (ret == 0 && old.max_peers && !force)
		tool_fail("%s: the header has a presence table, which a server keeps: is this "
			  "the memory of a running ivshmem-server? (--force to write over it)", path);
	/* A table of before is the application's memory from now on: cleared. */
	if (ret == 0 && old.header_size > PAGE) {
		zero_tail(&m, old.header_size);
		page = memfile_page(&m);
	}
	ri.size = m.size;
	ri.header_size = region_header_size(0);
	ri.flags = IVSHMEM_REGION_F_LABEL;
	ri.presence_vector = IVSHMEM_REGION_NO_VECTOR;
	if (getrandom(&ri.instance, sizeof(ri.instance), 0) != sizeof(ri.instance))
		tool_fail("cannot get a random instance value: %s", strerror(errno));
	snprintf(ri.label, sizeof(ri.label), "%s", name);
	region_write(page, NULL, &ri);
	memfile_close(&m);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "clear", no_argument, NULL, 'c' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool do_clear = false, force = false;
	char text[TOOL_LABEL_TEXT];
	int c;

	tool_init(argc, argv);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":cfh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			do_clear = true;
			break;
		case 'f':
			force = true;
			break;
		default:
			tool_option(c, argv, help, NULL, NULL);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		tool_usage("no FILE given");
	if (argc > 2 || (do_clear && argc > 1))
		tool_usage("too many arguments: '%s'", argv[do_clear ? 1 : 2]);
	if (do_clear)
		return clear(argv[0]);
	if (argc == 1)
		return show(argv[0]);
	if (region_label_check(argv[1]) < 0)
		tool_usage("'%s' is not a valid label: 1 to 63 printable ASCII characters, "
			   "no '/', not '.' or '..'", tool_escape(argv[1], text, sizeof(text)));
	return write_label(argv[0], argv[1], force);
}
