// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * chardev.c - the character device backend: /dev/ivshmemN of the ivshmem
 * driver, through the ioctls of <linux/ivshmem.h>
 *
 * Waiting uses one eventfd per vector, bound when the device is opened so
 * that no interrupt after ivshmem_open() is missed (one that cannot be
 * bound then is bound when first asked for); the device file itself is
 * watched for the hangup that tells the device was removed.
 *
 * Layer: backend (see backends.h); it calls handle.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/ivshmem.h>

#include "backends.h"
#include "handle.h"

/*
 * struct char_dev - an open /dev/ivshmemN
 * @fd:       the device file
 * @writable: opened read-write (else mappings are read-only)
 * @efd:      eventfd bound to each vector, or -1 (under dev.lock)
 * @mode:     the file's current IVSHMEM_CACHE_* (under dev.lock)
 */
struct char_dev {
	struct ivshmem dev;
	int fd;
	bool writable;
	int *efd;
	unsigned int mode;
};

static struct char_dev *to_char(struct ivshmem *dev)
{
	return container_of(dev, struct char_dev, dev);
}

static void char_close(struct ivshmem *dev)
{
	struct char_dev *c = to_char(dev);

	if (c->efd)
		for (unsigned int i = 0; i < dev->vectors; i++)
			if (c->efd[i] >= 0)
				close(c->efd[i]);
	free(c->efd);
	if (c->fd >= 0)
		close(c->fd);
	ivshmem_dev_fini(dev);
	free(c);
}

static int char_map(struct ivshmem *dev, uint64_t off, size_t len, enum ivshmem_map_mode mode,
		    void **addr)
{
	struct char_dev *c = to_char(dev);
	struct ivshmem_cache cache = { 0 };
	int ret = 0;

	switch (mode) {
	case IVSHMEM_MAP_DEFAULT:
	case IVSHMEM_MAP_WB:
		cache.mode = IVSHMEM_CACHE_WB;
		break;
	case IVSHMEM_MAP_WC:
		cache.mode = IVSHMEM_CACHE_WC;
		break;
	case IVSHMEM_MAP_UC:
		cache.mode = IVSHMEM_CACHE_UC;
		break;
	default:
		return -EINVAL;
	}
	/* The mode is the file's: choosing it and mapping go together. */
	pthread_mutex_lock(&dev->lock);
	if (cache.mode != c->mode) {
		if (ioctl(c->fd, IVSHMEM_IOCTL_SET_CACHE, &cache) < 0)
			ret = -errno;
		else
			c->mode = cache.mode;
	}
	if (ret == 0)
		ret = ivshmem_mmap_fd(c->fd, off, len, c->writable, addr);
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

static int char_ring(struct ivshmem *dev, unsigned int peer, unsigned int vector)
{
	struct ivshmem_ring ring = { .peer = peer, .vector = vector };

	if (ioctl(to_char(dev)->fd, IVSHMEM_IOCTL_RING, &ring) < 0)
		return -errno;
	return 0;
}

static int char_vector_fd(struct ivshmem *dev, unsigned int vector)
{
	struct char_dev *c = to_char(dev);
	struct ivshmem_eventfd bind = { .vector = vector };
	int efd;

	if (c->efd[vector] >= 0)
		return c->efd[vector];
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		return -errno;
	bind.fd = efd;
	if (ioctl(c->fd, IVSHMEM_IOCTL_BIND_EVENTFD, &bind) < 0) {
		int ret = -errno;

		close(efd);
		return ret;
	}
	c->efd[vector] = efd;
	return efd;
}

/*
 * The driver signals every bound eventfd once more when the device goes
 * away, after marking it removed: a wakeup is only a ring if the device
 * file does not report the hangup.
 */
static int char_ack(struct ivshmem *dev, unsigned int vector, int fd, uint64_t *count)
{
	struct pollfd pfd = { .fd = to_char(dev)->fd };
	ssize_t n;

	(void)vector;
	do {
		n = read(fd, count, sizeof(*count));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (n != sizeof(*count))
		return -EIO;
	if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR)))
		return -ENODEV;
	return 0;
}

static const struct ivshmem_ops char_ops = {
	.backend = IVSHMEM_BACKEND_CHAR,
	.close = char_close,
	.map = char_map,
	.ring = char_ring,
	.vector_fd = char_vector_fd,
	.ack = char_ack,
};

int ivshmem_char_open(const char *node, struct ivshmem **out)
{
	struct ivshmem_info info = { .size = sizeof(info) };
	struct char_dev *c;
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	ret = ivshmem_dev_init(&c->dev, &char_ops, node);
	if (ret < 0) {
		free(c);
		return ret;
	}
	c->writable = true;
	c->fd = open(node, O_RDWR | O_CLOEXEC);
	if (c->fd < 0 && (errno == EACCES || errno == EROFS)) {
		c->writable = false;
		c->fd = open(node, O_RDONLY | O_CLOEXEC);
	}
	if (c->fd < 0) {
		ret = errno == ENXIO ? -ENODEV : -errno;
		goto err;
	}
	if (ioctl(c->fd, IVSHMEM_IOCTL_INFO, &info) < 0) {
		ret = errno == ENOTTY ? -ENODEV : -errno;
		goto err;
	}
	c->mode = IVSHMEM_CACHE_WB;
	/* Drivers before ABI version 2 wrote 0 here: unknown. */
	switch (info.memtype) {
	case IVSHMEM_MEMTYPE_WB:
		c->dev.memtype = IVSHMEM_MEM_WB;
		break;
	case IVSHMEM_MEMTYPE_UC_MINUS:
		c->dev.memtype = IVSHMEM_MEM_UC_MINUS;
		break;
	default:
		c->dev.memtype = IVSHMEM_MEM_UNKNOWN;
	}
	c->dev.size = info.shm_size;
	c->dev.doorbell = info.dev_flags & IVSHMEM_DEV_DOORBELL;
	if (c->dev.doorbell && info.vm_id <= IVSHMEM_PEER_MAX)
		c->dev.id = (int)info.vm_id;
	c->dev.vectors = info.irq_mode == IVSHMEM_IRQ_MODE_NONE ? 0 : info.nr_vectors;
	c->efd = malloc((c->dev.vectors ? c->dev.vectors : 1) * sizeof(*c->efd));
	if (!c->efd) {
		ret = -ENOMEM;
		goto err;
	}
	for (unsigned int i = 0; i < c->dev.vectors; i++)
		c->efd[i] = -1;
	for (unsigned int i = 0; i < c->dev.vectors; i++)
		char_vector_fd(&c->dev, i);
	c->dev.watch_fd = c->fd;
	c->dev.watch_events = 0;	/* only the hangup of a removed device */
	*out = &c->dev;
	return 0;
err:
	char_close(&c->dev);
	return ret;
}
