// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * handle.c - the common part of every handle, and the helpers the
 * backends share: set-up and tear-down, mmap() of a descriptor, and the
 * list of mappings handed out from inside
 *
 * Layer: the lowest (see handle.h); it calls nothing else of the library.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "handle.h"

int ivshmem_dev_init(struct ivshmem *dev, const struct ivshmem_ops *ops, const char *path)
{
	dev->ops = ops;
	dev->id = -1;
	dev->watch_fd = -1;
	dev->path = strdup(path);
	if (!dev->path)
		return -ENOMEM;
	if (pthread_mutex_init(&dev->lock, NULL)) {
		free(dev->path);
		dev->path = NULL;
		return -ENOMEM;
	}
	return 0;
}

void ivshmem_dev_fini(struct ivshmem *dev)
{
	pthread_mutex_destroy(&dev->lock);
	free(dev->path);
	dev->path = NULL;
}

int ivshmem_mmap_fd(int fd, uint64_t off, size_t len, bool writable, void **addr)
{
	void *p;

	if (off > (uint64_t)INT64_MAX)
		return -EINVAL;
	p = mmap(NULL, len, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd,
		 (off_t)off);
	if (p == MAP_FAILED)
		return -errno;
	*addr = p;
	return 0;
}

/*
 * Mappings whose caller's address lies inside (ivshmem_note_inner_map()),
 * so that ivshmem_unmap() can unmap them whole.  Few at a time: a list.
 */
struct ivshmem_inner_map {
	struct ivshmem_inner_map *next;
	void *user;
	void *base;
	size_t len;
};

static pthread_mutex_t inner_maps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ivshmem_inner_map *inner_maps;	/* under inner_maps_lock */

int ivshmem_note_inner_map(void *user, void *base, size_t len)
{
	struct ivshmem_inner_map *m = malloc(sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->user = user;
	m->base = base;
	m->len = len;
	pthread_mutex_lock(&inner_maps_lock);
	m->next = inner_maps;
	inner_maps = m;
	pthread_mutex_unlock(&inner_maps_lock);
	return 0;
}

bool ivshmem_take_inner_map(void *user, void **base, size_t *len)
{
	struct ivshmem_inner_map **pm, *m = NULL;

	pthread_mutex_lock(&inner_maps_lock);
	for (pm = &inner_maps; *pm; pm = &(*pm)->next) {
		if ((*pm)->user == user) {
			m = *pm;
			*pm = m->next;
			break;
		}
	}
	pthread_mutex_unlock(&inner_maps_lock);
	if (!m)
		return false;
	*base = m->base;
	*len = m->len;
	free(m);
	return true;
}

int ivshmem_unmap_addr(void *addr, size_t len)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)addr, start = a & ~(page - 1);
	void *base;
	size_t whole;

	if (!addr || len == 0)
		return -EINVAL;
	if (ivshmem_take_inner_map((void *)start, &base, &whole)) {
		munmap(base, whole);
		return 0;
	}
	if (munmap((void *)start, len + (a - start)) < 0)
		return -errno;
	return 0;
}
