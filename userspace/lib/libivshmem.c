// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libivshmem.c - the public entry points: device specs, argument checks,
 * mapping arithmetic and waiting, common to every backend
 *
 * Layer: below chan.c only; it calls enum.c (ivshmem_list()), the
 * backends (backends.h), pci.c, header.c, handle.c and region.c, and
 * only chan.c, which uses nothing but these public functions, calls it.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "backends.h"
#include "handle.h"
#include "header.h"
#include "pci.h"

_Static_assert(sizeof(((struct ivshmem_region *)0)->label) == IVSHMEM_REGION_LABEL_MAX,
	       "a label and its NUL fit struct ivshmem_region");
_Static_assert(sizeof(struct ivshmem_region) == 128, "no padding in struct ivshmem_region");

/* "0000:00:04.0" or "00:04.0" (domain 0000 implied) */
static bool parse_pci_address(const char *s, char *out, size_t len)
{
	unsigned int dom = 0, bus, slot, fn;
	int n = 0;

	if (sscanf(s, "%4x:%2x:%2x.%1u%n", &dom, &bus, &slot, &fn, &n) == 4 &&
	    (size_t)n == strlen(s) && n == 12) {
		/* full form */
	} else if (dom = 0, n = 0,
		   sscanf(s, "%2x:%2x.%1u%n", &bus, &slot, &fn, &n) == 3 &&
		   (size_t)n == strlen(s) && n == 7) {
		/* short form */
	} else {
		return false;
	}
	for (const char *c = s; *c; c++)
		if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.')
			return false;
	if (slot > 0x1f || fn > 7)
		return false;
	snprintf(out, len, "%04x:%02x:%02x.%u", dom, bus, slot, fn);
	return true;
}

/*
 * The device node of a PCI function's child in @class ("ivshmem", "uio"),
 * e.g. /sys/bus/pci/devices/X/ivshmem/ivshmem0 -> /dev/ivshmem0.
 */
static int pci_child_node(const char *pcidir, const char *class, char *node, size_t len)
{
	char sub[PATH_MAX], uevent[4096], *p;

	if (ivshmem_pci_child(pcidir, class, sub, sizeof(sub)) < 0 ||
	    ivshmem_read_sysfs(sub, "uevent", uevent, sizeof(uevent)) < 0)
		return -ENOENT;
	p = strstr(uevent, "DEVNAME=");
	if (!p)
		return -ENOENT;
	p += strlen("DEVNAME=");
	snprintf(node, len, "/dev/%.*s", (int)strcspn(p, "\n"), p);
	return 0;
}

static int open_pci(const char *pcidir, struct ivshmem **out)
{
	char node[PATH_MAX];

	if (!ivshmem_pci_is_ivshmem(pcidir))
		return -ENODEV;
	if (pci_child_node(pcidir, "ivshmem", node, sizeof(node)) == 0)
		return ivshmem_char_open(node, out);
	if (pci_child_node(pcidir, "uio", node, sizeof(node)) == 0)
		return ivshmem_uio_open(node, out);
	return ivshmem_sysfs_open(pcidir, out);
}

/* Which subsystem a character device node belongs to. */
static int chardev_subsystem(const struct stat *st, char *buf, size_t len)
{
	char link[PATH_MAX], target[PATH_MAX];
	ssize_t n;
	const char *base;

	snprintf(link, sizeof(link), "/sys/dev/char/%u:%u/subsystem", major(st->st_rdev),
		 minor(st->st_rdev));
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return -ENODEV;
	target[n] = '\0';
	base = strrchr(target, '/');
	if ((size_t)snprintf(buf, len, "%s", base ? base + 1 : target) >= len)
		return -ENODEV;		/* no subsystem of ours has such a name */
	return 0;
}

static int open_path(const char *path, struct ivshmem **out)
{
	char subsys[64];
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (S_ISCHR(st.st_mode)) {
		if (chardev_subsystem(&st, subsys, sizeof(subsys)) < 0)
			return -ENODEV;
		if (strcmp(subsys, "ivshmem") == 0)
			return ivshmem_char_open(path, out);
		if (strcmp(subsys, "uio") == 0)
			return ivshmem_uio_open(path, out);
		return -ENODEV;
	}
	if (S_ISDIR(st.st_mode)) {
		char real[PATH_MAX];

		char canon[PATH_MAX], creal[PATH_MAX];
		const char *base;

		if (!realpath(path, real))
			return -errno;
		if (!ivshmem_pci_is_ivshmem(real))
			return -ENODEV;
		/* Name it as people do: /sys/bus/pci/devices/ADDRESS. */
		base = strrchr(real, '/');
		if (base && (size_t)snprintf(canon, sizeof(canon), "/sys/bus/pci/devices/%s",
					     base + 1) < sizeof(canon) &&
		    realpath(canon, creal) && strcmp(creal, real) == 0)
			return ivshmem_sysfs_open(canon, out);
		return ivshmem_sysfs_open(real, out);
	}
	return -ENODEV;
}

static int open_spec(const char *spec, struct ivshmem **out);

static int open_first(struct ivshmem **out)
{
	struct ivshmem_devinfo **list;
	int n, ret;

	n = ivshmem_list(&list);
	if (n < 0)
		return n;
	ret = n ? open_spec(list[0]->path, out) : -ENODEV;
	ivshmem_list_free(list);
	return ret;
}

/* The one device whose label is @name. */
static int open_name(const char *name, struct ivshmem **out)
{
	struct ivshmem_devinfo **list;
	const char *pci = NULL;
	char dir[PATH_MAX];
	int n, ret;

	if (!*name)
		return -EINVAL;
	n = ivshmem_list(&list);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		if (strcmp(list[i]->label, name) != 0)
			continue;
		if (pci) {
			ivshmem_list_free(list);
			return -ENOTUNIQ;
		}
		pci = list[i]->pci;
	}
	if (pci)
		snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s", pci);
	ivshmem_list_free(list);
	if (!pci)
		return -ENOENT;
	ret = open_pci(dir, out);
	return ret == -ENOENT ? -ENODEV : ret;	/* gone meanwhile */
}

static int open_spec(const char *spec, struct ivshmem **out)
{
	char pci[16], buf[PATH_MAX];
	size_t digits;

	if (!spec || !*spec)
		return open_first(out);
	if (strncmp(spec, "name:", 5) == 0)
		return open_name(spec + 5, out);
	if (strncmp(spec, "unix:", 5) == 0) {
		if (!spec[5])
			return -EINVAL;
		return ivshmem_host_open(spec + 5, spec, out);
	}
	digits = strspn(spec, "0123456789");
	if (digits && !spec[digits]) {
		if (digits > 9)
			return -ENOENT;
		snprintf(buf, sizeof(buf), "/dev/ivshmem%s", spec);
		return open_path(buf, out);
	}
	if (parse_pci_address(spec, pci, sizeof(pci))) {
		struct stat st;

		snprintf(buf, sizeof(buf), "/sys/bus/pci/devices/%s", pci);
		if (stat(buf, &st) < 0)
			return -ENOENT;
		return open_pci(buf, out);
	}
	if (spec[0] == '/' || spec[0] == '.')
		return open_path(spec, out);
	return -EINVAL;
}

IVSHMEM_EXPORT int ivshmem_open(const char *spec, struct ivshmem **out)
{
	int ret;

	if (!out)
		return -EINVAL;
	ret = open_spec(spec, out);
	/*
	 * A guest's ivshmem_dispatch() counts what changed since the previous
	 * look at the presence table: the open is the first.  No header, or
	 * one that cannot be read now, is an empty table to compare with.
	 */
	if (ret == 0 && !(*out)->ops->dispatch)
		ivshmem_header_look(*out);
	return ret;
}

IVSHMEM_EXPORT void ivshmem_close(struct ivshmem *dev)
{
	if (!dev)
		return;
	ivshmem_header_free(dev);
	dev->ops->close(dev);
}

IVSHMEM_EXPORT enum ivshmem_backend ivshmem_backend(const struct ivshmem *dev)
{
	return dev->ops->backend;
}

IVSHMEM_EXPORT const char *ivshmem_backend_name(enum ivshmem_backend backend)
{
	switch (backend) {
	case IVSHMEM_BACKEND_CHAR:
		return "char";
	case IVSHMEM_BACKEND_UIO:
		return "uio";
	case IVSHMEM_BACKEND_SYSFS:
		return "sysfs";
	case IVSHMEM_BACKEND_HOST:
		return "host";
	}
	return "unknown";
}

IVSHMEM_EXPORT enum ivshmem_memtype ivshmem_memtype(const struct ivshmem *dev)
{
	return dev->memtype;
}

IVSHMEM_EXPORT const char *ivshmem_memtype_name(enum ivshmem_memtype type)
{
	switch (type) {
	case IVSHMEM_MEM_WB:
		return "write-back";
	case IVSHMEM_MEM_UC_MINUS:
		return "uncached-minus";
	case IVSHMEM_MEM_WC:
		return "write-combining";
	case IVSHMEM_MEM_UNKNOWN:
		break;
	}
	return "unknown";
}

IVSHMEM_EXPORT const char *ivshmem_path(const struct ivshmem *dev)
{
	return dev->path;
}

IVSHMEM_EXPORT uint64_t ivshmem_size(const struct ivshmem *dev)
{
	return dev->size;
}

IVSHMEM_EXPORT int ivshmem_id(const struct ivshmem *dev)
{
	return dev->id < 0 ? -ENODATA : dev->id;
}

IVSHMEM_EXPORT unsigned int ivshmem_vectors(const struct ivshmem *dev)
{
	return __atomic_load_n(&dev->vectors, __ATOMIC_ACQUIRE);
}

IVSHMEM_EXPORT int ivshmem_can_ring(const struct ivshmem *dev)
{
	return dev->doorbell;
}

IVSHMEM_EXPORT int ivshmem_map(struct ivshmem *dev, uint64_t offset, size_t length,
			       enum ivshmem_map_mode cache, void **addr)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t start, delta;
	void *p;
	int ret;

	if (!addr || (unsigned int)cache > IVSHMEM_MAP_UC || offset >= dev->size)
		return -EINVAL;
	if (length == 0)
		length = dev->size - offset;
	if (length > dev->size - offset)
		return -EINVAL;
	start = offset & ~(page - 1);
	delta = offset - start;
	if (length > SIZE_MAX - delta)
		return -EINVAL;
	ret = dev->ops->map(dev, start, length + delta, cache, &p);
	if (ret < 0)
		return ret;
	*addr = (char *)p + delta;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_unmap(void *addr, size_t length)
{
	return ivshmem_unmap_addr(addr, length);
}

IVSHMEM_EXPORT int ivshmem_ring(struct ivshmem *dev, unsigned int peer, unsigned int vector)
{
	if (peer > IVSHMEM_MAX_PEER || vector > IVSHMEM_MAX_VECTOR)
		return -EINVAL;
	if (!dev->doorbell || !dev->ops->ring)
		return -EOPNOTSUPP;
	return dev->ops->ring(dev, peer, vector);
}

IVSHMEM_EXPORT int ivshmem_vector_fd(struct ivshmem *dev, unsigned int vector)
{
	int ret;

	if (!dev->ops->vector_fd)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&dev->lock);
	if (vector >= dev->vectors)
		ret = dev->vectors ? -EINVAL : -EOPNOTSUPP;
	else
		ret = dev->ops->vector_fd(dev, vector);
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

IVSHMEM_EXPORT int ivshmem_vector_ack(struct ivshmem *dev, unsigned int vector,
				      uint64_t *count)
{
	uint64_t n = 0;
	int fd, ret;

	fd = ivshmem_vector_fd(dev, vector);
	if (fd < 0)
		return fd;
	ret = dev->ops->ack(dev, vector, fd, &n);
	if (ret == 0 && count)
		*count = n;
	return ret;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One pass over the ready descriptors; 1 when @ev was filled. */
static int wait_collect(struct ivshmem *dev, struct pollfd *pfd, const unsigned int *vec,
			unsigned int n, struct ivshmem_irq *ev)
{
	unsigned int start = __atomic_load_n(&dev->wait_turn, __ATOMIC_RELAXED) % n;

	for (unsigned int k = 0; k < n; k++) {
		unsigned int i = (start + k) % n;
		uint64_t count = 0;
		int ret;

		if (pfd[i].revents & POLLNVAL)
			return -EBADF;
		if (!(pfd[i].revents & (POLLIN | POLLERR | POLLHUP)))
			continue;
		ret = dev->ops->ack(dev, vec[i], pfd[i].fd, &count);
		if (ret == -EAGAIN)
			continue;	/* another thread was faster */
		if (ret < 0)
			return ret;
		ev->vector = vec[i];
		ev->count = count;
		__atomic_store_n(&dev->wait_turn, i + 1, __ATOMIC_RELAXED);
		return 1;
	}
	return 0;
}

IVSHMEM_EXPORT int ivshmem_wait(struct ivshmem *dev, const unsigned int *vectors,
				unsigned int nvectors, int timeout_ms, struct ivshmem_irq *ev)
{
	int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	unsigned int n, nfds, *vec = NULL;
	struct pollfd *pfd = NULL;
	int ret;

	if (!ev)
		return -EINVAL;
	if (!dev->ops->vector_fd)
		return -EOPNOTSUPP;
	n = vectors ? nvectors : ivshmem_vectors(dev);
	if (n == 0)
		return vectors ? -EINVAL : -EOPNOTSUPP;
	pfd = calloc(n + 1, sizeof(*pfd));
	vec = calloc(n, sizeof(*vec));
	if (!pfd || !vec) {
		ret = -ENOMEM;
		goto out;
	}
	for (unsigned int i = 0; i < n; i++) {
		vec[i] = vectors ? vectors[i] : i;
		ret = ivshmem_vector_fd(dev, vec[i]);
		if (ret < 0)
			goto out;
		pfd[i].fd = ret;
		pfd[i].events = POLLIN;
	}
	nfds = n;
	if (dev->watch_fd >= 0) {
		pfd[n].fd = dev->watch_fd;
		pfd[n].events = dev->watch_events;
		nfds++;
	}
	for (;;) {
		bool ready = false;
		int left = -1;

		/*
		 * Vectors that share a descriptor: the ack of one drains it,
		 * so what the others have counted is not seen by poll().
		 */
		for (unsigned int i = 0; dev->ops->pending && i < n; i++)
			ready |= dev->ops->pending(dev, vec[i]);
		if (timeout_ms == 0 || ready) {
			left = 0;
		} else if (timeout_ms > 0) {
			int64_t l = deadline - now_ms();

			left = l > 0 ? (int)l : 0;
		}
		ret = poll(pfd, nfds, left);
		if (ret < 0) {
			ret = -errno;
			goto out;
		}
		for (unsigned int i = 0; ready && i < n; i++)
			if (dev->ops->pending(dev, vec[i]))
				pfd[i].revents |= POLLIN;
		if (nfds > n && pfd[n].revents) {
			if (dev->ops->dispatch) {
				ret = dev->ops->dispatch(dev);
				if (ret < 0)
					goto out;
			} else if (pfd[n].revents & (POLLHUP | POLLERR | POLLNVAL)) {
				ret = -ENODEV;
				goto out;
			}
		}
		ret = wait_collect(dev, pfd, vec, n, ev);
		if (ret != 0) {
			if (ret > 0)
				ret = 0;
			goto out;
		}
		if (left == 0 && !ready) {
			ret = -ETIMEDOUT;
			goto out;
		}
	}
out:
	free(pfd);
	free(vec);
	return ret;
}

/*
 * The vector a guest's handle waits on for presence news: the header's
 * presence vector, when there is a table and the handle can wait for it.
 */
static int presence_vector(struct ivshmem *dev)
{
	struct region_info ri;
	int ret;

	ret = ivshmem_header_info(dev, &ri);
	if (ret < 0)
		return ret;
	if (!ri.max_peers)
		return -ENOMSG;
	if (ri.presence_vector == IVSHMEM_REGION_NO_VECTOR || !dev->ops->vector_fd ||
	    ri.presence_vector >= ivshmem_vectors(dev))
		return -EOPNOTSUPP;
	return (int)ri.presence_vector;
}

IVSHMEM_EXPORT int ivshmem_fd(struct ivshmem *dev)
{
	int vector;

	if (dev->ops->dispatch)
		return dev->watch_fd;
	vector = presence_vector(dev);
	if (vector < 0)
		return vector;
	return ivshmem_vector_fd(dev, (unsigned int)vector);
}

IVSHMEM_EXPORT int ivshmem_dispatch(struct ivshmem *dev)
{
	int vector, ret;

	if (dev->ops->dispatch)
		return dev->ops->dispatch(dev);
	vector = presence_vector(dev);
	if (vector < 0 && vector != -EOPNOTSUPP)
		return vector;
	/* The rings first: a change after the look below rings again. */
	if (vector >= 0) {
		ret = ivshmem_vector_ack(dev, (unsigned int)vector, NULL);
		if (ret < 0 && ret != -EAGAIN)
			return ret;
	}
	return ivshmem_header_look(dev);
}

IVSHMEM_EXPORT int ivshmem_peers(struct ivshmem *dev, unsigned int *ids, unsigned int max)
{
	if (max && !ids)
		return -EINVAL;
	if (dev->ops->peers)
		return dev->ops->peers(dev, ids, max);
	return ivshmem_header_peers(dev, dev->id, ids, max);
}

IVSHMEM_EXPORT int ivshmem_region_info(struct ivshmem *dev, struct ivshmem_region *info)
{
	struct region_info ri;
	int ret;

	if (!info)
		return -EINVAL;
	ret = ivshmem_header_info(dev, &ri);
	if (ret < 0)
		return ret;
	memset(info, 0, sizeof(*info));
	memcpy(info->label, ri.label, sizeof(info->label));
	info->label[sizeof(info->label) - 1] = '\0';
	info->header_size = ri.header_size;
	info->header_offset = dev->size - ri.header_size;
	info->max_peers = ri.max_peers;
	info->presence_vector = ri.max_peers && ri.presence_vector != IVSHMEM_REGION_NO_VECTOR ?
				(int)ri.presence_vector : -1;
	info->instance = ri.instance;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_peer_epoch(struct ivshmem *dev, unsigned int peer, uint32_t *epoch)
{
	if (peer > IVSHMEM_MAX_PEER)
		return -EINVAL;
	return ivshmem_header_peer_epoch(dev, peer, epoch);
}

IVSHMEM_EXPORT const char *ivshmem_strerror(int err)
{
	const char *s;

	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "Success";
	case ENODEV:
		return "Not an ivshmem device, or it was removed";
	case ENODATA:
		return "Device has no peer ID (no doorbell or no server)";
	case ENXIO:
		return "Peer not connected (or it has no such vector)";
	case EOPNOTSUPP:
		return "Not supported by this device or backend";
	case ECONNREFUSED:
		return "No server is listening on the socket";
	case ECONNRESET:
		return "The server closed the connection (or a channel's peer restarted)";
	case EPROTO:
		return "The server (or a channel's peer) broke the ivshmem protocol";
	case ETIMEDOUT:
		return "Timed out";
	case ENOMSG:
		return "The region has no ivshmem header";
	case EBADMSG:
		return "The region's header is corrupt";
	case ENOTUNIQ:
		return "More than one device has this label";
	}
	s = strerrordesc_np(err);
	return s ? s : "Unknown error";
}
