/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * handle.h - the handle every backend embeds, and the helpers they share
 *
 * Each backend embeds a struct ivshmem as its first member and fills in
 * an ops table; libivshmem.c does everything that is the same for all of
 * them (argument checks, page alignment, waiting) and calls the ops for
 * the rest.
 *
 * Layer: the lowest, beside wire.c; handle.c calls nothing else of the
 * library.  The layers are listed in userspace/Makefile and in
 * Documentation/contributing.rst; tests/layers.py checks them.
 */
#ifndef IVSHMEM_HANDLE_H
#define IVSHMEM_HANDLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libivshmem.h"

#define IVSHMEM_EXPORT __attribute__((visibility("default")))

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/*
 * struct ivshmem_ops - what differs between backends
 * @close:     free everything but the struct ivshmem itself's path
 * @map:       mmap @len bytes at page-aligned @off (range already checked)
 * @ring:      ring a doorbell (peer, vector already range checked)
 * @vector_fd: descriptor to poll for @vector (< vectors), or NULL when the
 *             backend has no interrupts; called with dev->lock held
 * @ack:       consume the pending rings of @vector, whose descriptor
 *             @vector_fd gave as @fd, without blocking (-EAGAIN when none)
 * @pending:   whether rings of @vector wait to be acknowledged although
 *             its descriptor may not poll readable (vectors that share a
 *             descriptor), or NULL when a descriptor tells it all
 * @fd:        descriptor for ivshmem_fd(), or NULL
 * @dispatch:  ivshmem_dispatch(), NULL with @fd
 * @peers:     ivshmem_peers(), or NULL
 */
struct ivshmem_ops {
	enum ivshmem_backend backend;
	void (*close)(struct ivshmem *dev);
	int (*map)(struct ivshmem *dev, uint64_t off, size_t len, enum ivshmem_map_mode cache,
		   void **addr);
	int (*ring)(struct ivshmem *dev, unsigned int peer, unsigned int vector);
	int (*vector_fd)(struct ivshmem *dev, unsigned int vector);
	int (*ack)(struct ivshmem *dev, unsigned int vector, int fd, uint64_t *count);
	bool (*pending)(struct ivshmem *dev, unsigned int vector);
	int (*fd)(struct ivshmem *dev);
	int (*dispatch)(struct ivshmem *dev);
	int (*peers)(struct ivshmem *dev, unsigned int *ids, unsigned int max);
};

struct ivshmem_header;

/*
 * struct ivshmem - the part of a handle every backend has
 * @ops:      the backend
 * @path:     ivshmem_path() (allocated)
 * @size:     shared memory size
 * @id:       own ID, or -1 when there is none
 * @vectors:  own vectors (only grows; read without the lock is fine)
 * @doorbell: the device can ring peers
 * @memtype:  what a default mapping gets (ivshmem_memtype()), set at open
 * @lock:     protects the backend's mutable state (lazily made vector
 *            descriptors, the host backend's peer table and socket state)
 * @wait_turn: where the next ivshmem_wait() starts looking, for fairness
 * @watch_fd: polled by ivshmem_wait() besides the vectors, or -1: the host
 *            backend's server socket (news, handled by ops->dispatch), or
 *            a device whose hangup means removal (no ops->dispatch)
 * @watch_events: poll events wanted on @watch_fd
 * @header:   what the handle keeps of the region header (header.c), made
 *            on first use under @lock; NULL until then
 */
struct ivshmem {
	const struct ivshmem_ops *ops;
	char *path;
	uint64_t size;
	int id;
	unsigned int vectors;
	bool doorbell;
	enum ivshmem_memtype memtype;
	pthread_mutex_t lock;
	unsigned int wait_turn;
	int watch_fd;
	short watch_events;
	struct ivshmem_header *header;
};

/* Initialise the common part; path is copied.  Returns 0 or -ENOMEM. */
int ivshmem_dev_init(struct ivshmem *dev, const struct ivshmem_ops *ops, const char *path);
/* Free the common part (not the handle). */
void ivshmem_dev_fini(struct ivshmem *dev);

/* Map @fd at page-aligned @off for @len bytes, shared, RW or RO. */
int ivshmem_mmap_fd(int fd, uint64_t off, size_t len, bool writable, void **addr);

/*
 * A mapping handed out from inside: @user (page-aligned) lies @base's
 * @len bytes in, because the driver maps only from a map's start and
 * refuses to split a mapping.  ivshmem_unmap() of @user unmaps it whole.
 */
int ivshmem_note_inner_map(void *user, void *base, size_t len);
/* Take the entry of @user off the list: true, with its base and length. */
bool ivshmem_take_inner_map(void *user, void **base, size_t *len);
/*
 * Unmap what a backend's map gave (@addr, @len as asked), inner maps
 * whole: 0, or -EINVAL for an address that cannot have come from one.
 */
int ivshmem_unmap_addr(void *addr, size_t len);

#endif /* IVSHMEM_HANDLE_H */
