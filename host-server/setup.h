/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * setup.h - what ivshmem-server prepares before serving: the shared
 * memory and the listening socket
 *
 * Each function reports its own failure as one log line and returns a
 * negative value.
 */
#ifndef IVSHMEM_SERVER_SETUP_H
#define IVSHMEM_SERVER_SETUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "region.h"

enum shm_kind {
	SHM_POSIX,		/* -M NAME: shm_open() */
	SHM_DIR,		/* -m DIR: unlinked file in DIR (hugetlbfs) */
	SHM_MEMFD,		/* --memfd */
};

struct shm {
	enum shm_kind kind;
	const char *name;	/* object name or directory */
	uint64_t size;		/* asked for (rounded up to a power of two);
				 * set to what it is */
	int fd;
	bool created;		/* a POSIX object that did not exist before */
	uint64_t page;		/* its page size: a huge page on hugetlbfs */
	void *map;		/* the region header's pages, or NULL */
	size_t map_len;
};

int shm_setup(struct shm *shm);
/*
 * Write a fresh region header at the end of the memory, whatever was
 * there; @info->size is set to the memory's.  @page and @table are where
 * the header page and the table (NULL without one) are mapped.
 */
int shm_header_setup(struct shm *shm, struct region_info *info, void **page, void **table);
/* Warn when memory reused as it was holds a presence table nobody keeps. */
void shm_header_warn_stale(const struct shm *shm);
void shm_teardown(struct shm *shm, bool remove);

struct listener {
	const char *path;
	mode_t mode;		/* socket file mode, or (mode_t)-1 */
	gid_t gid;		/* socket file group, or (gid_t)-1 */
	int fd;
	bool activated;		/* passed in by systemd: not ours to unlink */
	dev_t dev;		/* the socket file we bound, to unlink only it */
	ino_t ino;
};

int listener_setup(struct listener *l);
void listener_teardown(struct listener *l);

#endif /* IVSHMEM_SERVER_SETUP_H */
