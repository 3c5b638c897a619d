/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * private.h - what the parts of libivshmem share and nobody else sees
 *
 * Each backend embeds a struct ivshmem as its first member and fills in
 * an ops table; libivshmem.c does everything that is the same for all of
 * them (argument checks, page alignment, waiting) and calls the ops for
 * the rest.
 */
#ifndef IVSHMEM_PRIVATE_H
#define IVSHMEM_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libivshmem.h"

#define IVSHMEM_EXPORT __attribute__((visibility("default")))

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Doorbell device registers (BAR0), 32 bits each. */
#define IVSHMEM_REG_INTR_MASK	0x00
#define IVSHMEM_REG_INTR_STATUS	0x04
#define IVSHMEM_REG_IV_POSITION	0x08
#define IVSHMEM_REG_DOORBELL	0x0c
#define IVSHMEM_REGS_SIZE	256

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
};

/* Initialise the common part; path is copied.  Returns 0 or -ENOMEM. */
int ivshmem_dev_init(struct ivshmem *dev, const struct ivshmem_ops *ops, const char *path);
/* Free the common part (not the handle). */
void ivshmem_dev_fini(struct ivshmem *dev);

/* Backends' open functions: each takes what ivshmem_open() resolved. */
int ivshmem_char_open(const char *node, struct ivshmem **out);
int ivshmem_uio_open(const char *node, struct ivshmem **out);
/* Vectors of the UIO device at @classdir that the UIO backend offers. */
unsigned int ivshmem_uio_vectors(const char *classdir);
int ivshmem_sysfs_open(const char *pcidir, struct ivshmem **out);
int ivshmem_host_open(const char *sockpath, const char *spec, struct ivshmem **out);

/* sysfs helpers (sysfs.c) */
int ivshmem_read_sysfs(const char *dir, const char *name, char *buf, size_t len);
int ivshmem_read_sysfs_u64(const char *dir, const char *name, uint64_t *val);
bool ivshmem_pci_is_ivshmem(const char *pcidir);
int ivshmem_pci_bar_size(const char *pcidir, int bar, uint64_t *size);
int ivshmem_pci_msix_vectors(const char *pcidir);
int ivshmem_pci_regs_map(const char *pcidir, volatile uint32_t **regs);
void ivshmem_pci_regs_unmap(volatile uint32_t *regs);
int ivshmem_pci_driver(const char *pcidir, char *buf, size_t len);
/*
 * A driver's memtype attribute in @dir ("write-back", "uncached-minus"):
 * IVSHMEM_MEM_UNKNOWN when it is missing or says anything else.
 */
enum ivshmem_memtype ivshmem_read_memtype(const char *dir);

/*
 * What the kernel gives a mapping of a sysfs resource file (not _wc):
 * pgprot_device(), which x86 makes uncached-minus.
 */
#if defined(__x86_64__) || defined(__i386__)
#define IVSHMEM_RESOURCE_MEMTYPE	IVSHMEM_MEM_UC_MINUS
#else
#define IVSHMEM_RESOURCE_MEMTYPE	IVSHMEM_MEM_UNKNOWN
#endif

/* Map @fd at page-aligned @off for @len bytes, shared, RW or RO. */
int ivshmem_mmap_fd(int fd, uint64_t off, size_t len, bool writable, void **addr);

/*
 * A mapping handed out from inside: @user (page-aligned) lies @base's
 * @len bytes in, because the driver maps only from a map's start and
 * refuses to split a mapping.  ivshmem_unmap() of @user unmaps it whole.
 */
int ivshmem_note_inner_map(void *user, void *base, size_t len);

#endif /* IVSHMEM_PRIVATE_H */
