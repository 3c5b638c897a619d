// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * shm.c - the shared memory ivshmem-server hands to every peer
 *
 * The size is a power of two (QEMU refuses anything else).  Existing
 * memory is reused with its contents: it is only ever grown, never
 * truncated, and kept as it is when it is already large enough.  The one
 * exception is the region header, when asked for: the server owns the
 * memory's last bytes and writes a fresh header there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/ivshmem_region.h>

#include "log.h"
#include "setup.h"

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static uint64_t pow2_ceil(uint64_t v)
{
	uint64_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/*
 * An object that already exists is reused with its contents only when it
 * is ours alone: whoever owns it, or can write it, could otherwise hand
 * every guest memory that they control (and resize under them).
 */
static int check_existing(struct shm *shm)
{
	struct stat st;

	if (fstat(shm->fd, &st) < 0) {
		log_err("cannot stat shared memory '%s': %s", shm->name, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		log_err("shared memory '%s' exists and is not a memory object: refusing to use it",
			shm->name);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		log_err("shared memory '%s' exists and belongs to user %u, not to user %u that "
			"the server runs as: refusing to use it", shm->name, (unsigned int)st.st_uid,
			(unsigned int)geteuid());
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		log_err("shared memory '%s' exists and others can write it (mode %04o): refusing "
			"to use it", shm->name, (unsigned int)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

static int open_posix(struct shm *shm)
{
	shm->fd = shm_open(shm->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (shm->fd >= 0) {
		shm->created = true;
		return 0;
	}
	if (errno == EEXIST)
		shm->fd = shm_open(shm->name, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
	if (shm->fd < 0) {
		log_err("cannot open shared memory '%s': %s", shm->name, strerror(errno));
		return -1;
	}
	if (check_existing(shm) < 0) {
		close(shm->fd);
		shm->fd = -1;
		return -1;
	}
	return 0;
}

/* An unlinked file in the directory; on hugetlbfs, its huge page size. */
static int open_in_dir(struct shm *shm, uint64_t *page)
{
	struct statfs fs;
	char *path;

	if (statfs(shm->name, &fs) < 0) {
		log_err("cannot use directory %s: %s", shm->name, strerror(errno));
		return -1;
	}
	if ((unsigned long)fs.f_type == HUGETLBFS_MAGIC)
		*page = (uint64_t)fs.f_bsize;

	shm->fd = open(shm->name, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (shm->fd >= 0)
		return 0;
	/* File systems without O_TMPFILE: create and unlink at once. */
	if (asprintf(&path, "%s/ivshmem.XXXXXX", shm->name) < 0) {
		log_err("cannot create shared memory in %s: %s", shm->name, strerror(ENOMEM));
		return -1;
	}
	shm->fd = mkostemp(path, O_CLOEXEC);
	if (shm->fd >= 0)
		unlink(path);
	else
		log_err("cannot create shared memory in %s: %s", shm->name, strerror(errno));
	free(path);
	return shm->fd < 0 ? -1 : 0;
}

static int open_memfd(struct shm *shm)
{
	shm->fd = memfd_create("ivshmem", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (shm->fd < 0) {
		log_err("cannot create memfd: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int shm_setup(struct shm *shm)
{
	uint64_t page = 1, want, have;
	struct stat st;
	int ret;

	shm->fd = -1;
	shm->created = false;
	shm->map = NULL;
	switch (shm->kind) {
	case SHM_POSIX:
		ret = open_posix(shm);
		break;
	case SHM_DIR:
		ret = open_in_dir(shm, &page);
		break;
	default:
		ret = open_memfd(shm);
		break;
	}
	if (ret < 0)
		return -1;

	if (fstat(shm->fd, &st) < 0) {
		log_err("cannot stat shared memory: %s", strerror(errno));
		goto err;
	}
	/* Both are powers of two: the larger is a multiple of the other. */
	want = pow2_ceil(shm->size);
	if (want < page)
		want = page;
	have = (uint64_t)st.st_size;
	if (have >= want && is_pow2(have)) {
		if (have != shm->size)
			log_debug("reusing shared memory of %llu bytes (asked for %llu)",
				  (unsigned long long)have, (unsigned long long)shm->size);
		shm->size = have;
	} else {
		if (have > want)
			want = pow2_ceil(have);
		if (want > (uint64_t)LLONG_MAX || ftruncate(shm->fd, (off_t)want) < 0) {
			log_err("cannot size shared memory to %llu bytes: %s",
				(unsigned long long)want, strerror(want > (uint64_t)LLONG_MAX ?
								  EFBIG : errno));
			goto err;
		}
		shm->size = want;
	}
	shm->page = (uint64_t)sysconf(_SC_PAGESIZE);
	if (page > shm->page)
		shm->page = page;
	/* Nobody may shrink it under the others' mappings. */
	if (shm->kind == SHM_MEMFD &&
	    fcntl(shm->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		log_debug("cannot seal the memfd: %s", strerror(errno));
	return 0;

err:
	shm_teardown(shm, shm->created);
	return -1;
}

/*
 * Only the header's pages are mapped, from a boundary of the memory's
 * own pages (huge pages must be mapped whole); the rest of the memory is
 * the peers' and stays untouched.
 */
int shm_header_setup(struct shm *shm, struct region_info *info, void **page, void **table)
{
	uint64_t len = (info->header_size + shm->page - 1) / shm->page * shm->page;
	char *map;

	if (len > shm->size)
		len = shm->size;
	info->size = shm->size;
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, shm->fd,
		   (off_t)(shm->size - len));
	if (map == MAP_FAILED) {
		int err = errno;

		log_err("cannot map the last %llu bytes of the shared memory for the region "
			"header: %s%s", (unsigned long long)len, strerror(err),
			err == ENOMEM && shm->page > (uint64_t)sysconf(_SC_PAGESIZE) ?
			" (no free huge page? see /proc/sys/vm/nr_hugepages)" : "");
		return -1;
	}
	shm->map = map;
	shm->map_len = len;
	*page = map + len - IVSHMEM_REGION_PAGE;
	*table = info->max_peers ? map + len - info->header_size : NULL;
	region_write(*page, *table, info);
	return 0;
}

/*
 * A presence table left by an earlier server says peers are there that
 * are not; without --presence this server does not touch it, but says so.
 */
void shm_header_warn_stale(const struct shm *shm)
{
	static unsigned char buf[IVSHMEM_REGION_PAGE];
	struct region_info info;

	if (shm->kind != SHM_POSIX || shm->created || shm->size < 2 * IVSHMEM_REGION_PAGE)
		return;
	if (pread(shm->fd, buf, sizeof(buf), (off_t)(shm->size - sizeof(buf))) != sizeof(buf))
		return;
	if (region_parse(buf, shm->size, &info) == 0 && (info.flags & IVSHMEM_REGION_F_PRESENCE))
		log_warn("shared memory '%s' holds a presence table left by an earlier server; "
			 "without --presence it is left as it is, and no longer kept up to date",
			 shm->name);
}

void shm_teardown(struct shm *shm, bool remove)
{
	if (shm->map)
		munmap(shm->map, shm->map_len);
	shm->map = NULL;
	if (shm->fd >= 0)
		close(shm->fd);
	shm->fd = -1;
	if (remove && shm->kind == SHM_POSIX && shm_unlink(shm->name) < 0 && errno != ENOENT)
		log_warn("cannot remove shared memory '%s': %s", shm->name, strerror(errno));
}
