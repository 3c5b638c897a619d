// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * host.c - the host backend: this process becomes a peer of an ivshmem
 * server, like a guest's ivshmem-doorbell device
 *
 * The server's messages (see PROTOCOL.md) are received with the shared
 * wire module; here they are given their meaning: the greeting (version,
 * own ID, shared memory, the peers' eventfds, then our own), then peers
 * that come (their eventfds) and go (their ID alone).  Ringing a peer is
 * writing to its eventfd for that vector; our own eventfds are what we
 * wait on.
 *
 * Layer: backend (see backends.h); it calls handle.c and wire.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "backends.h"
#include "handle.h"
#include "wire.h"

/*
 * Whole greeting (connect included), and how long the server may pause
 * before we decide it is over.
 */
#define HOST_GREETING_MS	10000
#define HOST_SETTLE_MS		100
/*
 * The most vectors we take from a server, for us and for each peer: the
 * most MSI-X vectors a PCI function (a QEMU device) can have.  Peers are
 * bounded by the ID range; each must have the vectors we have.
 */
#define HOST_MAX_VECTORS	2048

struct host_peer {
	unsigned int id;
	unsigned int nfds;
	int *fds;
};

/*
 * struct host_dev - a connection to the server
 * @sock:   the connection (non-blocking)
 * @shm:    the shared memory
 * @own:    own eventfds, one per vector (dev.vectors of them)
 * @peers:  the other peers, sorted by ID
 * @rx:     a message being received
 * @dead:   0, or the error that ended the connection
 */
struct host_dev {
	struct ivshmem dev;
	int sock;
	int shm;
	int *own;
	unsigned int own_cap;
	struct host_peer *peers;
	unsigned int npeers, peers_cap;
	struct ivshmem_wire_rx rx;
	int dead;
};

static struct host_dev *to_host(struct ivshmem *dev)
{
	return container_of(dev, struct host_dev, dev);
}

static void close_fds(int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		close(fds[i]);
}

/*
 * What a server hands us is checked before we keep it: a vector must be an
 * eventfd (a pipe or socket in its place could raise SIGPIPE in the
 * caller, or block a ring forever), and is made non-blocking so that a
 * ring never waits while holding the handle's lock.
 */
static int check_eventfd(int fd)
{
	char path[64], target[64];
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return -errno;
	/* Anonymous inodes (eventfd, timerfd, ...) have no file type. */
	if ((st.st_mode & S_IFMT) != 0)
		return -EPROTO;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n >= 0) {
		target[n] = '\0';
		if (strcmp(target, "anon_inode:[eventfd]") != 0)
			return -EPROTO;
	}
	/* Without /proc, the file type is all we can check. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* Index of @id in the sorted table, or where it would go. */
static unsigned int peer_slot(struct host_dev *h, unsigned int id, bool *found)
{
	unsigned int lo = 0, hi = h->npeers;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (h->peers[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < h->npeers && h->peers[lo].id == id;
	return lo;
}

static int append_fd(int **fds, unsigned int *n, unsigned int *cap, int fd)
{
	if (*n == *cap) {
		unsigned int ncap = *cap ? *cap * 2 : 4;
		int *p = realloc(*fds, ncap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		*fds = p;
		*cap = ncap;
	}
	(*fds)[(*n)++] = fd;
	return 0;
}

/* A peer's next eventfd; 1 when the peer is new. */
static int peer_add_fd(struct host_dev *h, unsigned int id, int fd)
{
	struct host_peer *p;
	unsigned int i, cap;
	bool found;
	int ret;

	i = peer_slot(h, id, &found);
	if (!found) {
		if (h->npeers == h->peers_cap) {
			unsigned int ncap = h->peers_cap ? h->peers_cap * 2 : 8;

			p = realloc(h->peers, ncap * sizeof(*p));
			if (!p)
				return -ENOMEM;
			h->peers = p;
			h->peers_cap = ncap;
		}
		memmove(&h->peers[i + 1], &h->peers[i], (h->npeers - i) * sizeof(*p));
		h->peers[i] = (struct host_peer){ .id = id };
		h->npeers++;
	}
	p = &h->peers[i];
	/* Every peer has the vectors we have, or (before we know) the first's. */
	if (p->nfds >= HOST_MAX_VECTORS || (h->dev.vectors && p->nfds >= h->dev.vectors))
		return -EPROTO;
	if (!h->dev.vectors && h->npeers > 1) {
		const struct host_peer *other = &h->peers[i ? 0 : 1];

		if (other->nfds && p->nfds >= other->nfds)
			return -EPROTO;
	}
	/* a peer's fds array is sized exactly; grow it one at a time */
	cap = p->nfds;
	ret = append_fd(&p->fds, &p->nfds, &cap, fd);
	if (ret < 0)
		return ret;
	return found ? 0 : 1;
}

static int peer_remove(struct host_dev *h, unsigned int id)
{
	struct host_peer *p;
	unsigned int i;
	bool found;

	i = peer_slot(h, id, &found);
	if (!found)
		return 0;
	p = &h->peers[i];
	close_fds(p->fds, p->nfds);
	free(p->fds);
	memmove(p, p + 1, (h->npeers - i - 1) * sizeof(*p));
	h->npeers--;
	return 1;
}

/*
 * Give one message of the running protocol its meaning.  Takes @fd.
 * Returns the number of peers added or removed, or a negative errno.
 */
static int host_apply(struct host_dev *h, int64_t value, int fd)
{
	unsigned int n;
	int ret;

	if (value < 0 || value > IVSHMEM_MAX_PEER) {
		if (fd >= 0)
			close(fd);
		return -EPROTO;
	}
	if (fd >= 0) {
		ret = check_eventfd(fd);
		if (ret < 0) {
			close(fd);
			return ret;
		}
	}
	if (value == h->dev.id) {
		if (fd < 0)
			return 0;	/* nobody tells us we left */
		if (h->dev.vectors >= HOST_MAX_VECTORS) {
			close(fd);
			return -EPROTO;
		}
		n = h->dev.vectors;
		ret = append_fd(&h->own, &n, &h->own_cap, fd);
		if (ret < 0) {
			close(fd);
			return ret;
		}
		__atomic_store_n(&h->dev.vectors, n, __ATOMIC_RELEASE);
		return 0;
	}
	if (fd < 0)
		return peer_remove(h, (unsigned int)value);
	ret = peer_add_fd(h, (unsigned int)value, fd);
	if (ret < 0)
		close(fd);
	return ret;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Receive one message, waiting at most @timeout_ms for it. */
static int host_recv(struct host_dev *h, int timeout_ms, int64_t *value, int *fd)
{
	int64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		struct pollfd pfd = { .fd = h->sock, .events = POLLIN };
		int64_t left;
		int ret;

		ret = ivshmem_wire_recv(h->sock, &h->rx, value, fd);
		if (ret != 0)
			return ret < 0 ? ret : 0;
		left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		ret = poll(&pfd, 1, (int)left);
		if (ret < 0 && errno != EINTR)
			return -errno;
	}
}

/* Expect a message without a descriptor. */
static int host_recv_plain(struct host_dev *h, int64_t deadline, int64_t *value)
{
	int fd, ret;

	ret = host_recv(h, (int)(deadline - now_ms()), value, &fd);
	if (ret < 0)
		return ret == -ECONNRESET ? -EPROTO : ret;
	if (fd >= 0) {
		close(fd);
		return -EPROTO;
	}
	return 0;
}

/*
 * Everything the server sends a new peer at once.  The protocol does not
 * say how many vectors there are: when other peers are there, they have
 * as many as we will get; when we are alone, the greeting is over once
 * the server pauses.
 */
static int host_greeting(struct host_dev *h, int64_t deadline)
{
	int64_t value;
	struct stat st;
	int fd, ret;

	ret = host_recv_plain(h, deadline, &value);
	if (ret < 0)
		return ret;
	if (value != IVSHMEM_WIRE_VERSION)
		return -EPROTO;		/* a protocol version we do not know */
	ret = host_recv_plain(h, deadline, &value);
	if (ret < 0)
		return ret;
	if (value < 0 || value > IVSHMEM_MAX_PEER)
		return -EPROTO;
	h->dev.id = (int)value;
	ret = host_recv(h, (int)(deadline - now_ms()), &value, &fd);
	if (ret < 0)
		return ret == -ECONNRESET ? -EPROTO : ret;
	if (value != IVSHMEM_WIRE_SHM || fd < 0) {
		if (fd >= 0)
			close(fd);
		return -EPROTO;
	}
	h->shm = fd;
	if (fstat(h->shm, &st) < 0)
		return -errno;
	/* Memory objects (shm, tmpfs, hugetlbfs, memfd) are regular files. */
	if (!S_ISREG(st.st_mode) || st.st_size <= 0)
		return -EPROTO;
	h->dev.size = (uint64_t)st.st_size;

	for (;;) {
		unsigned int expect = 0;
		bool settle;
		int left;

		for (unsigned int i = 0; i < h->npeers; i++)
			if (h->peers[i].nfds > expect)
				expect = h->peers[i].nfds;
		if (h->dev.vectors && expect && h->dev.vectors >= expect)
			break;
		settle = !h->npeers;
		left = (int)(deadline - now_ms());
		if (left <= 0)
			return -ETIMEDOUT;
		ret = host_recv(h, settle && left > HOST_SETTLE_MS ? HOST_SETTLE_MS : left,
				&value, &fd);
		if (ret == -ETIMEDOUT && settle)
			break;
		if (ret < 0)
			return ret == -ECONNRESET ? -EPROTO : ret;
		ret = host_apply(h, value, fd);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void host_close(struct ivshmem *dev)
{
	struct host_dev *h = to_host(dev);

	for (unsigned int i = 0; i < h->npeers; i++) {
		close_fds(h->peers[i].fds, h->peers[i].nfds);
		free(h->peers[i].fds);
	}
	free(h->peers);
	close_fds(h->own, h->dev.vectors);
	free(h->own);
	ivshmem_wire_rx_reset(&h->rx);
	if (h->shm >= 0)
		close(h->shm);
	if (h->sock >= 0)
		close(h->sock);
	ivshmem_dev_fini(dev);
	free(h);
}

static int host_map(struct ivshmem *dev, uint64_t off, size_t len, enum ivshmem_map_mode cache,
		    void **addr)
{
	if (cache != IVSHMEM_MAP_DEFAULT && cache != IVSHMEM_MAP_WB)
		return -EOPNOTSUPP;
	return ivshmem_mmap_fd(to_host(dev)->shm, off, len, true, addr);
}

static int eventfd_signal(int fd)
{
	uint64_t one = 1;
	ssize_t n;

	do {
		n = write(fd, &one, sizeof(one));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == sizeof(one) ? 0 : -EIO;
}

static int host_ring(struct ivshmem *dev, unsigned int peer, unsigned int vector)
{
	struct host_dev *h = to_host(dev);
	int ret = -ENXIO;

	pthread_mutex_lock(&dev->lock);
	if ((int)peer == dev->id) {
		if (vector < dev->vectors)
			ret = eventfd_signal(h->own[vector]);
	} else {
		bool found;
		unsigned int i = peer_slot(h, peer, &found);

		if (found && vector < h->peers[i].nfds)
			ret = eventfd_signal(h->peers[i].fds[vector]);
	}
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

static int host_vector_fd(struct ivshmem *dev, unsigned int vector)
{
	return to_host(dev)->own[vector];
}

static int host_ack(struct ivshmem *dev, unsigned int vector, int fd, uint64_t *count)
{
	ssize_t n;

	(void)dev;
	(void)vector;
	do {
		n = read(fd, count, sizeof(*count));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n == sizeof(*count) ? 0 : -EIO;
}

static int host_dispatch(struct ivshmem *dev)
{
	struct host_dev *h = to_host(dev);
	int changes = 0, ret = 0;

	pthread_mutex_lock(&dev->lock);
	while (!h->dead) {
		int64_t value;
		int fd;

		ret = ivshmem_wire_recv(h->sock, &h->rx, &value, &fd);
		if (ret == 0)
			break;
		if (ret > 0)
			ret = host_apply(h, value, fd);
		if (ret < 0) {
			if (ret != -ENOMEM) {
				h->dead = ret;
				ivshmem_wire_rx_reset(&h->rx);
			}
			break;
		}
		changes += ret;
	}
	if (h->dead)
		ret = h->dead;
	pthread_mutex_unlock(&dev->lock);
	return ret < 0 ? ret : changes;
}

static int host_peers(struct ivshmem *dev, unsigned int *ids, unsigned int max)
{
	struct host_dev *h = to_host(dev);
	int n;

	pthread_mutex_lock(&dev->lock);
	for (unsigned int i = 0; i < h->npeers && i < max; i++)
		ids[i] = h->peers[i].id;
	n = (int)h->npeers;
	pthread_mutex_unlock(&dev->lock);
	return n;
}

static const struct ivshmem_ops host_ops = {
	.backend = IVSHMEM_BACKEND_HOST,
	.close = host_close,
	.map = host_map,
	.ring = host_ring,
	.vector_fd = host_vector_fd,
	.ack = host_ack,
	.dispatch = host_dispatch,
	.peers = host_peers,
};

/*
 * Connect before @deadline.  A server whose backlog is full keeps a
 * blocking connect() waiting for as long as the send timeout allows, so
 * that timeout is what is left of the deadline (EINTR retries with less).
 */
static int host_connect(int sock, const struct sockaddr_un *addr, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		struct timeval tv;
		int ret;

		if (left <= 0)
			return -ETIMEDOUT;
		tv.tv_sec = (time_t)(left / 1000);
		tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
		if (setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
			return -errno;
		ret = connect(sock, (const struct sockaddr *)addr, sizeof(*addr));
		if (ret == 0)
			break;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
	/* Later sends (there are none) would keep the timeout: clear it. */
	{
		struct timeval none = { 0, 0 };

		setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
	}
	return 0;
}

int ivshmem_host_open(const char *sockpath, const char *spec, struct ivshmem **out)
{
	int64_t deadline = now_ms() + HOST_GREETING_MS;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct host_dev *h;
	int ret;

	if (strlen(sockpath) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, sockpath, strlen(sockpath) + 1);
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->sock = -1;
	h->shm = -1;
	ivshmem_wire_rx_init(&h->rx);
	ret = ivshmem_dev_init(&h->dev, &host_ops, spec);
	if (ret < 0) {
		free(h);
		return ret;
	}
	h->dev.doorbell = true;
	h->dev.memtype = IVSHMEM_MEM_WB;	/* the server's memory is RAM */
	h->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (h->sock < 0) {
		ret = -errno;
		goto err;
	}
	ret = host_connect(h->sock, &addr, deadline);
	if (ret < 0)
		goto err;
	if (fcntl(h->sock, F_SETFL, fcntl(h->sock, F_GETFL) | O_NONBLOCK) < 0) {
		ret = -errno;
		goto err;
	}
	ret = host_greeting(h, deadline);
	if (ret < 0)
		goto err;
	h->dev.watch_fd = h->sock;
	h->dev.watch_events = POLLIN;
	*out = &h->dev;
	return 0;
err:
	host_close(&h->dev);
	return ret;
}
