// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lib_chan_test - libivshmem's channels, between host peers of a real
 * ivshmem-server
 *
 *   lib_chan_test api SOCK            every function, argument and error:
 *                                     sizes, empty and oversized messages,
 *                                     blocking, non-blocking, timeouts,
 *                                     poll(), close, the default layout with
 *                                     and without a region header
 *   lib_chan_test stream SOCK N       N messages of random sizes each way at
 *                                     once, checked byte for byte, copied or
 *                                     in place at random; a small channel;
 *                                     concurrent senders
 *   lib_chan_test notify SOCK         the rings counted: none for a spinning
 *                                     receiver, one for a burst, one per
 *                                     message for a sleeper
 *   lib_chan_test restart SOCK        a peer's program restarts (a child
 *                                     process on its handle) or closes and
 *                                     reopens mid-stream: -ECONNRESET once,
 *                                     nothing stale
 *   lib_chan_test presence SOCK       (server with --presence) a peer that
 *                                     dies without closing is noticed
 *   lib_chan_test zc SOCK N           the zero-copy calls: every argument and
 *                                     error, where rooms and peeked messages
 *                                     lie, full rings, N messages each way
 *                                     wrapping a small ring, holds a restart,
 *                                     close or broken peer ends, threads
 *                                     that meet each other's holds
 *   lib_chan_test fuzz SOCK SECS      a thread corrupts the channel's memory
 *                                     at random and in targeted ways while
 *                                     both sides send and receive, copying
 *                                     or in place: bounded calls, documented
 *                                     errors only, rooms and peeked messages
 *                                     inside the ring, and the channel works
 *                                     again afterwards
 *   lib_chan_test bench SOCK MS       throughput and round trips beside a
 *                                     socketpair (diagnostics only)
 *
 * Prints "ok - name" / "not ok - name: detail" lines (tests/run.py numbers
 * them) and exits 1 if any failed.  Built with the library's objects under
 * ASan/UBSan and -Wl,--wrap=ivshmem_ring, so that it counts the rings the
 * channels make; region.c writes region headers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "libivshmem.h"
#include "region.h"


static struct ivshmem *open_or_die(const char *spec)
{
	struct ivshmem *dev;
	int ret = ivshmem_open(spec, &dev);

	if (ret < 0) {
		printf("not ok - open %s: %s\n", spec, ivshmem_strerror(ret));
		exit(1);
	}
	return dev;
}

/* --------------------------------------------------- counting the rings */

int __real_ivshmem_ring(struct ivshmem *dev, unsigned int peer, unsigned int vector);
int __wrap_ivshmem_ring(struct ivshmem *dev, unsigned int peer, unsigned int vector);

static struct ivshmem *counted[2];
static _Atomic unsigned long rings[2];

int __wrap_ivshmem_ring(struct ivshmem *dev, unsigned int peer, unsigned int vector)
{
	for (int i = 0; i < 2; i++)
		if (dev == counted[i])
			atomic_fetch_add(&rings[i], 1);
	return __real_ivshmem_ring(dev, peer, vector);
}

static void count_rings(struct ivshmem *a, struct ivshmem *b)
{
	counted[0] = a;
	counted[1] = b;
}

static unsigned long rings_of(int i)
{
	return atomic_load(&rings[i]);
}

/* ------------------------------------------------------------ channels */

/*
 * Two host peers of one server and a channel between them: @a the lower
 * ID.  Channels are opened with cfg_for() and both sides' own tweaks.
 */
struct pair {
	struct ivshmem *a, *b;
	int ida, idb;
	struct ivshmem_chan *ca, *cb;
};

static struct ivshmem_chan_config cfg_for(unsigned int peer, uint64_t offset, uint64_t size)
{
	struct ivshmem_chan_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.peer = peer;
	cfg.offset = offset;
	cfg.size = size;
	cfg.vector = 1;
	cfg.peer_vector = 1;
	return cfg;
}

static struct ivshmem_chan *chan_or_die(struct ivshmem *dev, const struct ivshmem_chan_config *cfg)
{
	struct ivshmem_chan *ch;
	int ret = ivshmem_chan_open(dev, cfg, &ch);

	if (ret < 0) {
		printf("not ok - ivshmem_chan_open: %s\n", ivshmem_strerror(ret));
		exit(1);
	}
	return ch;
}

static void pair_open(struct pair *p, const char *spec)
{
	struct ivshmem *x = open_or_die(spec), *y = open_or_die(spec);

	if (ivshmem_id(x) > ivshmem_id(y)) {
		struct ivshmem *t = x;

		x = y;
		y = t;
	}
	memset(p, 0, sizeof(*p));
	p->a = x;
	p->b = y;
	p->ida = ivshmem_id(x);
	p->idb = ivshmem_id(y);
	count_rings(p->a, p->b);
}

static void pair_chans(struct pair *p, uint64_t offset, uint64_t size, unsigned int flags,
		       unsigned int spin_us)
{
	struct ivshmem_chan_config ca = cfg_for((unsigned int)p->idb, offset, size);
	struct ivshmem_chan_config cb = cfg_for((unsigned int)p->ida, offset, size);

	ca.flags = cb.flags = flags;
	ca.spin_us = cb.spin_us = spin_us;
	p->ca = chan_or_die(p->a, &ca);
	p->cb = chan_or_die(p->b, &cb);
}

static void pair_close_chans(struct pair *p)
{
	ivshmem_chan_close(p->ca);
	ivshmem_chan_close(p->cb);
	p->ca = p->cb = NULL;
}

static void pair_close(struct pair *p)
{
	pair_close_chans(p);
	ivshmem_close(p->a);
	ivshmem_close(p->b);
}

/* Messages of a known length and content: number @i of stream @seed. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static size_t msg_len(uint64_t seed, uint64_t i, size_t max)
{
	uint64_t r = mix(seed * 31 + i);

	switch (r % 8) {
	case 0:
		return (size_t)(r >> 8) % 17;		/* tiny, empty included */
	case 1:
		return max;
	case 2:
		return max - (size_t)((r >> 8) % 9);	/* around the padding */
	default:
		return (size_t)(r >> 8) % (max + 1);
	}
}

static void msg_fill(unsigned char *buf, size_t len, uint64_t seed, uint64_t i)
{
	uint64_t x = mix(seed ^ (i << 20));

	for (size_t j = 0; j < len; j++) {
		if (j % 8 == 0)
			x = mix(x);
		buf[j] = (unsigned char)(x >> (8 * (j % 8)));
	}
}

/* Receive exactly this text within @ms. */
static bool recv_text(struct ivshmem_chan *ch, const char *want, int ms, char *got, size_t len)
{
	ssize_t n = ivshmem_chan_recv(ch, got, len - 1, ms);

	if (n < 0) {
		snprintf(got, len, "error %zd (%s)", n, ivshmem_strerror((int)n));
		return false;
	}
	got[n] = '\0';
	return strcmp(got, want) == 0;
}

static int send_text(struct ivshmem_chan *ch, const char *text, int ms)
{
	return ivshmem_chan_send(ch, text, strlen(text), ms);
}

static bool readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) > 0 && (pfd.revents & POLLIN);
}

/* ------------------------------------------------------------------ api */

struct later {
	struct ivshmem_chan *ch;
	int delay_ms;
	const char *text;	/* send it; NULL: receive one message */
	int timeout_ms;
	long ret;
	char got[2048];
};

static void *later_thread(void *arg)
{
	struct later *l = arg;

	sleep_ms(l->delay_ms);
	if (l->text) {
		l->ret = send_text(l->ch, l->text, l->timeout_ms);
	} else {
		l->ret = ivshmem_chan_recv(l->ch, l->got, sizeof(l->got) - 1, l->timeout_ms);
		if (l->ret >= 0)
			l->got[l->ret] = '\0';
	}
	return NULL;
}

static void test_config_errors(struct pair *p)
{
	uint64_t size = ivshmem_size(p->a);
	struct ivshmem_chan_config cfg;
	struct ivshmem_chan *ch = NULL;

	cfg = cfg_for((unsigned int)p->idb, 0, 65536);
	check_ret(ivshmem_chan_open(NULL, &cfg, &ch), -EINVAL, "ivshmem_chan_open(NULL dev): -EINVAL");
	check_ret(ivshmem_chan_open(p->a, NULL, &ch), -EINVAL, "ivshmem_chan_open(NULL cfg): -EINVAL");
	check_ret(ivshmem_chan_open(p->a, &cfg, NULL), -EINVAL, "ivshmem_chan_open(NULL out): -EINVAL");
	cfg.flags = 0x80;
	check_ret(ivshmem_chan_open(p->a, &cfg, &ch), -EINVAL, "unknown flags: -EINVAL");
	cfg = cfg_for((unsigned int)p->idb, 0, 65536);
	cfg.reserved[6] = 1;
	check_ret(ivshmem_chan_open(p->a, &cfg, &ch), -EINVAL, "non-zero reserved: -EINVAL");
	cfg = cfg_for((unsigned int)p->idb, 0, 65536);
	cfg.spin_us = IVSHMEM_CHAN_SPIN_MAX + 1;
	check_ret(ivshmem_chan_open(p->a, &cfg, &ch), -EINVAL, "spin_us above the most: -EINVAL");
	cfg = cfg_for((unsigned int)p->ida, 0, 65536);
	check_ret(ivshmem_chan_open(p->a, &cfg, &ch), -EINVAL, "a channel to oneself: -EINVAL");
	cfg = cfg_for(65536, 0, 65536);
	check_ret(ivshmem_chan_open(p->a, &cfg, &ch), -EINVAL, "peer 65536: -EINVAL");
	cfg = cfg_for((unsigned int)p->idb, 100, 65536);
	check_ret(ivshmem_chan_open(p->a, &cfg, &ch), -EINVAL, "an offset not page aligned: -EINVAL");
	cfg = cfg_for((unsigned int)p->idb, 0, 4096);
	check_ret(ivshmem_chan_open(p->a, &cfg, &ch), -EINVAL, "4 KiB, below the smallest: -EINVAL");
	cfg = cfg_for((unsigned int)p->idb, 0, 8192 + 64);
	check_ret(ivshmem_chan_open(p->a, &cfg, &ch), -EINVAL, "a size not a multiple of 4096: -EINVAL");
	cfg = cfg_for((unsigned int)p->idb, size - 8192, 16384);
	check_ret(ivshmem_chan_open(p->a, &cfg, &ch), -EINVAL, "memory past the end: -EINVAL");
	cfg = cfg_for((unsigned int)p->idb, size, 8192);
	check_ret(ivshmem_chan_open(p->a, &cfg, &ch), -EINVAL, "an offset at the end: -EINVAL");
	cfg = cfg_for((unsigned int)p->idb, 0, 65536);
	cfg.vector = ivshmem_vectors(p->a);
	check_ret(ivshmem_chan_open(p->a, &cfg, &ch), -EINVAL, "a vector the handle lacks: -EINVAL");
	cfg = cfg_for((unsigned int)p->idb, 0, 65536);
	cfg.peer_vector = 65536;
	check_ret(ivshmem_chan_open(p->a, &cfg, &ch), -EINVAL, "peer vector 65536: -EINVAL");
	cfg = cfg_for(60000, 0, 0);
	check_ret(ivshmem_chan_open(p->a, &cfg, &ch), -ENOSPC,
		  "the default slot of peers 0 and 60000 does not fit 1 MiB: -ENOSPC");
	check(ch == NULL, "a failed open leaves *out alone", "%p", (void *)ch);
	check(strstr(ivshmem_strerror(-ECONNRESET), "peer restarted") &&
	      strstr(ivshmem_strerror(-EPROTO), "broke the ivshmem protocol"),
	      "ivshmem_strerror() names a channel's peer for -ECONNRESET and -EPROTO", "%s / %s",
	      ivshmem_strerror(-ECONNRESET), ivshmem_strerror(-EPROTO));
}

static void test_basics(struct pair *p)
{
	static unsigned char big[65536], back[65536];
	struct later l;
	pthread_t t;
	size_t max;
	char got[64];
	int64_t t0;
	long ret;

	pair_chans(p, 0, 65536, 0, 0);
	max = ivshmem_chan_max_msg(p->ca);
	check(max == 7672 && ivshmem_chan_max_msg(p->cb) == max,
	      "a 64 KiB channel carries messages of up to 7672 bytes", "max %zu", max);
	check(ivshmem_chan_fd(p->ca) >= 0 && ivshmem_chan_fd(p->ca) == ivshmem_vector_fd(p->a, 1),
	      "ivshmem_chan_fd() is the own vector's descriptor", "fd %d", ivshmem_chan_fd(p->ca));
	check_ret(ivshmem_chan_fd(NULL), -EINVAL, "ivshmem_chan_fd(NULL): -EINVAL");
	check_ret(ivshmem_chan_recv(p->cb, got, sizeof(got), 0), -EAGAIN,
		  "nothing sent: a non-blocking receive gives -EAGAIN");
	check_ret(send_text(p->ca, "hello", 1000), 0, "send hello");
	check(recv_text(p->cb, "hello", 1000, got, sizeof(got)), "the other side receives hello",
	      "%s", got);
	check_ret(send_text(p->cb, "and back", 1000), 0, "send the other way");
	check(recv_text(p->ca, "and back", 1000, got, sizeof(got)), "and it arrives", "%s", got);
	check_ret(ivshmem_chan_send(p->ca, NULL, 0, 0), 0, "an empty message (NULL, 0) is sent");
	check_ret(ivshmem_chan_recv(p->cb, NULL, 0, 1000), 0, "and received as length 0");
	check_ret(ivshmem_chan_send(p->ca, NULL, 5, 0), -EINVAL, "send(NULL, 5): -EINVAL");
	check_ret(ivshmem_chan_recv(p->cb, NULL, 5, 0), -EINVAL, "recv(NULL, 5): -EINVAL");
	check_ret(ivshmem_chan_send(NULL, "x", 1, 0), -EINVAL, "send on NULL: -EINVAL");
	check_ret(ivshmem_chan_recv(NULL, got, 1, 0), -EINVAL, "recv on NULL: -EINVAL");
	check_ret(ivshmem_chan_send(p->ca, big, max + 1, 0), -EMSGSIZE,
		  "a message one byte too long: -EMSGSIZE");
	msg_fill(big, max, 7, 7);
	check_ret(ivshmem_chan_send(p->ca, big, max, 0), 0, "a message of the most bytes");
	check_ret(ivshmem_chan_recv(p->cb, back, max - 1, 1000), -EMSGSIZE,
		  "received into a buffer one byte short: -EMSGSIZE");
	ret = ivshmem_chan_recv(p->cb, back, sizeof(back), 1000);
	check(ret == (long)max && memcmp(big, back, max) == 0,
	      "the message was kept: a larger buffer gets it whole", "got %ld", ret);

	/* Timeouts and blocking. */
	t0 = now_ms();
	ret = ivshmem_chan_recv(p->cb, got, sizeof(got), 200);
	check(ret == -ETIMEDOUT && now_ms() - t0 >= 195 && now_ms() - t0 < 3000,
	      "a receive with 200 ms: -ETIMEDOUT after 200 ms", "%ld after %" PRId64 " ms", ret,
	      now_ms() - t0);
	l = (struct later){ .ch = p->ca, .delay_ms = 150, .text = "late", .timeout_ms = 1000 };
	pthread_create(&t, NULL, later_thread, &l);
	t0 = now_ms();
	check(recv_text(p->cb, "late", -1, got, sizeof(got)) && now_ms() - t0 >= 100,
	      "a receive without limit waits for a later message", "%s", got);
	pthread_join(t, NULL);
	check_ret(l.ret, 0, "the later send");

	/* A full ring: sends wait for room, then go. */
	{
		unsigned int n = 0;
		size_t len = 1000;

		msg_fill(big, len, 1, 1);
		while (n < 1000 && ivshmem_chan_send(p->ca, big, len, 0) == 0)
			n++;
		check(n > 10 && n < 40, "non-blocking sends fill the ring, then -EAGAIN",
		      "%u sends of 1000 bytes went", n);
		t0 = now_ms();
		check_ret(ivshmem_chan_send(p->ca, big, len, 150), -ETIMEDOUT,
			  "a send into a full ring with 150 ms: -ETIMEDOUT");
		l = (struct later){ .ch = p->cb, .delay_ms = 150, .timeout_ms = 1000 };
		pthread_create(&t, NULL, later_thread, &l);
		t0 = now_ms();
		check_ret(ivshmem_chan_send(p->ca, big, len, -1), 0,
			  "a send without limit waits for room");
		check(now_ms() - t0 >= 100, "it waited for the receiver", "%" PRId64 " ms",
		      now_ms() - t0);
		pthread_join(t, NULL);
		check_ret(l.ret, (long)len, "which received one");
		for (unsigned int i = 0; i < n; i++) {
			ret = ivshmem_chan_recv(p->cb, back, sizeof(back), 1000);
			if (ret != (long)len || memcmp(back, big, len) != 0)
				break;
			if (i == n - 1)
				check(true, "the rest arrives in order", " ");
		}
		check_ret(ivshmem_chan_recv(p->cb, back, sizeof(back), 0), -EAGAIN,
			  "and nothing more");
	}

	/* poll(): -EAGAIN consumes the rings, a message makes it readable. */
	{
		int fd = ivshmem_chan_fd(p->cb);

		check_ret(ivshmem_chan_recv(p->cb, got, sizeof(got), 0), -EAGAIN,
			  "poll protocol: recv(0) gives -EAGAIN");
		check(!readable(fd, 0), "then the descriptor does not poll readable", " ");
		check_ret(send_text(p->ca, "poll me", 0), 0, "the peer sends");
		check(readable(fd, 2000), "the descriptor polls readable", " ");
		check(recv_text(p->cb, "poll me", 0, got, sizeof(got)), "recv(0) takes the message",
		      "%s", got);
		check_ret(ivshmem_chan_recv(p->cb, got, sizeof(got), 0), -EAGAIN,
			  "recv(0) again: -EAGAIN");
		check(!readable(fd, 0), "and the descriptor is quiet again", " ");
	}

	/* Close: the rest, then -EPIPE; reopening is a new, quiet, pairing. */
	check_ret(send_text(p->ca, "last words", 0), 0, "send before closing");
	ivshmem_chan_close(p->ca);
	p->ca = NULL;
	check(recv_text(p->cb, "last words", 1000, got, sizeof(got)),
	      "after the peer closed, what it sent arrives", "%s", got);
	check_ret(ivshmem_chan_recv(p->cb, got, sizeof(got), 1000), -EPIPE,
		  "then a receive gives -EPIPE at once");
	check_ret(ivshmem_chan_recv(p->cb, got, sizeof(got), 0), -EPIPE, "and again");
	check_ret(send_text(p->cb, "anyone?", 1000), -EPIPE, "a send to a closed peer: -EPIPE");
	{
		struct ivshmem_chan_config cfg = cfg_for((unsigned int)p->idb, 0, 65536);

		p->ca = chan_or_die(p->a, &cfg);
	}
	/* The first to open pairs when the other makes a call: a receiver. */
	l = (struct later){ .ch = p->cb, .timeout_ms = 3000 };
	pthread_create(&t, NULL, later_thread, &l);
	check_ret(send_text(p->ca, "back again", 3000), 0, "the peer opens it again and sends");
	pthread_join(t, NULL);
	check(l.ret == 10 && strcmp(l.got, "back again") == 0,
	      "it arrives, without -ECONNRESET after a close", "%ld %s", l.ret, l.got);
	check_ret(send_text(p->cb, "welcome", 2000), 0, "the other way, without -ECONNRESET");
	check(recv_text(p->ca, "welcome", 2000, got, sizeof(got)), "arrives too", "%s", got);
	pair_close_chans(p);
}

/* A channel's control block magic, where the default layout put it. */
static bool magic_at(struct ivshmem *dev, uint64_t off)
{
	uint32_t *m;
	bool ok;

	if (ivshmem_map(dev, off, 4096, IVSHMEM_MAP_DEFAULT, (void **)&m) < 0)
		return false;
	ok = __atomic_load_n(m, __ATOMIC_RELAXED) == 0x48435649;
	ivshmem_unmap(m, 4096);
	return ok;
}

static void clear_range(struct ivshmem *dev, uint64_t off, size_t len)
{
	void *m;

	if (ivshmem_map(dev, off, len, IVSHMEM_MAP_DEFAULT, &m) == 0) {
		memset(m, 0, len);
		ivshmem_unmap(m, len);
	}
}

static void test_default_layout(struct pair *p)
{
	uint64_t size = ivshmem_size(p->a), slot = IVSHMEM_CHAN_DEFAULT_SIZE;
	struct ivshmem_chan_config cfg;
	struct ivshmem_chan *ch;
	struct region_info ri;
	char *page;
	char got[64];

	clear_range(p->a, 0, (size_t)size);
	pair_chans(p, 0, 0, 0, 0);
	check_ret(send_text(p->ca, "default", 1000), 0, "default layout: send");
	check(recv_text(p->cb, "default", 1000, got, sizeof(got)), "default layout: receive",
	      "%s", got);
	check(ivshmem_chan_max_msg(p->ca) == 7672, "a default slot is 64 KiB", "max %zu",
	      ivshmem_chan_max_msg(p->ca));
	check(p->ida != 0 || p->idb != 1 || magic_at(p->a, size - slot),
	      "without a header, peers 0 and 1 use the last 64 KiB", " ");
	pair_close_chans(p);

	/* A header with a presence table: the slot moves below it. */
	clear_range(p->a, 0, (size_t)size);
	memset(&ri, 0, sizeof(ri));
	ri.size = size;
	ri.max_peers = 16;
	ri.header_size = region_header_size(16);
	ri.flags = IVSHMEM_REGION_F_PRESENCE;
	ri.presence_vector = IVSHMEM_REGION_NO_VECTOR;
	ri.instance = 42;
	if (ivshmem_map(p->a, 0, 0, IVSHMEM_MAP_DEFAULT, (void **)&page) < 0) {
		check(false, "map the memory", " ");
		return;
	}
	region_write(page + size - 4096, page + size - ri.header_size, &ri);
	pair_chans(p, 0, 0, 0, 0);
	check_ret(send_text(p->ca, "below the header", 1000), 0, "with a header: send");
	check(recv_text(p->cb, "below the header", 1000, got, sizeof(got)),
	      "with a header: receive", "%s", got);
	check(p->ida != 0 || p->idb != 1 || magic_at(p->a, size - ri.header_size - slot),
	      "peers 0 and 1 use the 64 KiB right below the header", " ");
	check(page[size - 4096] == 'I', "the header was left alone", " ");
	pair_close_chans(p);
	cfg = cfg_for((unsigned int)p->idb, size - 65536, 65536);
	check_ret(ivshmem_chan_open(p->a, &cfg, &ch), -EINVAL,
		  "an explicit channel reaching into the header: -EINVAL");
	cfg = cfg_for((unsigned int)p->idb, size - ri.header_size - 65536, 65536);
	check_ret(ivshmem_chan_open(p->a, &cfg, &ch), 0, "one ending right below it is fine");
	if (ch)
		ivshmem_chan_close(ch);
	page[size - 4096 + 8] = 9;	/* the header's version: corrupt */
	cfg = cfg_for((unsigned int)p->idb, 0, 0);
	check_ret(ivshmem_chan_open(p->a, &cfg, &ch), -EBADMSG,
		  "the default layout with a corrupt header: -EBADMSG");
	memset(page, 0, (size_t)size);
	ivshmem_unmap(page, (size_t)size);
}

static int test_api(const char *spec)
{
	struct pair p;

	pair_open(&p, spec);
	test_config_errors(&p);
	test_basics(&p);
	{
		struct ivshmem_chan_config c1 = cfg_for((unsigned int)p.idb, 0, 8192);
		struct ivshmem_chan *ch = chan_or_die(p.a, &c1);

		check(ivshmem_chan_max_msg(ch) == 504, "the smallest channel carries 504 bytes",
		      "%zu", ivshmem_chan_max_msg(ch));
		ivshmem_chan_close(ch);
		ivshmem_chan_close(NULL);
		check(true, "ivshmem_chan_close(NULL) does nothing", " ");
	}
	test_default_layout(&p);
	pair_close(&p);
	return failures ? 1 : 0;
}

/* --------------------------------------------------------------- stream */

/*
 * struct flow - one direction of a stream: @n messages of stream @seed
 * from @tx to @rx; @tag > 0 prefixes each with the sender's tag and a
 * counter (concurrent senders), checked per tag by the receiver.  With
 * @zc (untagged flows only), each side picks at random, message by
 * message, between the copying calls and the zero-copy ones.
 */
struct flow {
	struct ivshmem_chan *ch;
	uint64_t seed;
	uint64_t n;
	bool zc;
	unsigned int tag;
	unsigned int tags;	/* receiver: how many tagged senders */
	_Atomic uint64_t *total;	/* receivers that share: stop at @n in all */
	size_t max;
	char error[200];
	uint64_t done;
	uint64_t bytes;
	int64_t cpu_ns;		/* the thread's CPU time */
};

static int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * Message @i of a zero-copy flow, written in place: reserved with its
 * length (how 1), with up to 64 bytes more and committed shorter (2), or
 * first reserved, scribbled on and dropped (3).  0 or an error.
 */
static int send_in_place(struct flow *f, uint64_t i, size_t len, unsigned int how)
{
	size_t room = how == 2 ? len + (size_t)(mix(f->seed + i) % 65) : len;
	void *w;
	int ret;

	if (room > f->max)
		room = f->max;
	if (how == 3) {
		ret = ivshmem_chan_reserve(f->ch, room, &w, 20000);
		if (ret < 0)
			return ret;
		memset(w, 0xee, room);
		ret = ivshmem_chan_commit(f->ch, IVSHMEM_CHAN_DROP);
		if (ret < 0)
			return ret;
	}
	ret = ivshmem_chan_reserve(f->ch, room, &w, 20000);
	if (ret < 0)
		return ret;
	msg_fill(w, len, f->seed, i);
	return ivshmem_chan_commit(f->ch, len);
}

static void *send_flow(void *arg)
{
	struct flow *f = arg;
	unsigned char *buf = malloc(f->max + 16);

	for (uint64_t i = 0; buf && i < f->n; i++) {
		size_t len = msg_len(f->seed, i, f->max);
		unsigned int how = f->zc ? (unsigned int)(mix(f->seed * 977 + i) % 4) : 0;
		int ret;

		if (how) {
			ret = send_in_place(f, i, len, how);
		} else {
			msg_fill(buf, len, f->seed, i);
			if (f->tag) {
				if (len < 9)
					len = 9;
				buf[0] = (unsigned char)f->tag;
				memcpy(buf + 1, &i, 8);
			}
			ret = ivshmem_chan_send(f->ch, buf, len, 20000);
		}
		if (ret < 0) {
			snprintf(f->error, sizeof(f->error), "%s %" PRIu64 ": %s",
				 how ? "in place" : "send", i, ivshmem_strerror(ret));
			break;
		}
		f->done++;
		f->bytes += len;
	}
	free(buf);
	return NULL;
}

static void *recv_flow(void *arg)
{
	struct flow *f = arg;
	unsigned char *buf = malloc(f->max + 16), *want = malloc(f->max + 16);
	uint64_t next[8] = { 0 };
	int64_t cpu0 = cpu_ns();

	for (uint64_t i = 0; buf && want && i < f->n; i++) {
		bool peek = f->zc && mix(f->seed * 1009 + i) % 2;
		const unsigned char *msg = buf;
		int timeout = f->total ? 100 : 20000;
		ssize_t n;

		if (f->total && atomic_load(f->total) >= f->n)
			break;
		if (peek) {
			const void *r = NULL;

			n = ivshmem_chan_peek(f->ch, &r, timeout);
			msg = r;
		} else {
			n = ivshmem_chan_recv(f->ch, buf, f->max, timeout);
		}
		if (n == -ETIMEDOUT && f->total) {
			i--;
			continue;
		}
		if (n < 0) {
			snprintf(f->error, sizeof(f->error), "%s %" PRIu64 ": %s",
				 peek ? "peek" : "recv", i, ivshmem_strerror((int)n));
			break;
		}
		if (f->tags) {
			uint64_t k;

			if (n < 9 || msg[0] == 0 || msg[0] > f->tags) {
				snprintf(f->error, sizeof(f->error), "message %" PRIu64 ": %zd bytes, "
					 "tag %u", i, n, n ? msg[0] : 0);
				break;
			}
			memcpy(&k, msg + 1, 8);
			/* Shared out: increasing; taken alone: each one. */
			if (f->total ? k < next[msg[0]] : k != next[msg[0]]) {
				snprintf(f->error, sizeof(f->error), "sender %u: message %" PRIu64
					 " where %" PRIu64 " was due", msg[0], k, next[msg[0]]);
				break;
			}
			next[msg[0]] = k + 1;
			if (f->total)
				atomic_fetch_add(f->total, 1);
		} else {
			size_t len = msg_len(f->seed, i, f->max);

			msg_fill(want, len, f->seed, i);
			if ((size_t)n != len || memcmp(msg, want, len) != 0) {
				snprintf(f->error, sizeof(f->error), "message %" PRIu64 "%s: %zd bytes, "
					 "want %zu%s", i, peek ? " (peeked)" : "", n, len,
					 (size_t)n == len ? ", other bytes" : "");
				break;
			}
		}
		if (peek) {
			int ret = ivshmem_chan_release(f->ch);

			if (ret < 0) {
				snprintf(f->error, sizeof(f->error), "release %" PRIu64 ": %s", i,
					 ivshmem_strerror(ret));
				break;
			}
		}
		f->done++;
		f->bytes += (uint64_t)n;
	}
	/* A message a failed check left peeked: its room back, for the sender to end. */
	if (f->zc && f->error[0])
		(void)ivshmem_chan_release(f->ch);
	f->cpu_ns = cpu_ns() - cpu0;
	free(buf);
	free(want);
	return NULL;
}

/* Both directions at once; each flow checked; with @zc, in place at random. */
static void stream_both(struct pair *p, uint64_t n, bool zc, const char *what)
{
	size_t max = ivshmem_chan_max_msg(p->ca);
	struct flow f[4] = {
		{ .ch = p->ca, .seed = 1, .n = n, .zc = zc, .max = max },
		{ .ch = p->cb, .seed = 1, .n = n, .zc = zc, .max = max },
		{ .ch = p->cb, .seed = 2, .n = n, .zc = zc, .max = max },
		{ .ch = p->ca, .seed = 2, .n = n, .zc = zc, .max = max },
	};
	pthread_t t[4];
	int64_t t0 = now_ns();
	char name[160];

	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, i % 2 ? recv_flow : send_flow, &f[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	snprintf(name, sizeof(name), "%s: %" PRIu64 " messages of random sizes each way, "
		 "at once, all in order and intact%s", what, n,
		 zc ? " (send or reserve/commit, recv or peek/release, at random)" : "");
	check(!f[0].error[0] && !f[1].error[0] && !f[2].error[0] && !f[3].error[0] &&
	      f[1].done == n && f[3].done == n, name, "%s|%s|%s|%s", f[0].error, f[1].error,
	      f[2].error, f[3].error);
	diag("%s: %.1f MB each way in %.2f s", what, f[1].bytes / 1e6,
	     (double)(now_ns() - t0) / 1e9);
}

static int test_stream(const char *spec, uint64_t n)
{
	struct pair p;

	pair_open(&p, spec);
	pair_chans(&p, 0, 262144, 0, 0);
	stream_both(&p, n, false, "256 KiB channel");
	stream_both(&p, n, true, "256 KiB channel, zero copy");
	pair_close_chans(&p);

	/* The smallest: full rings, skips at every turn. */
	pair_chans(&p, 65536, 8192, 0, 0);
	stream_both(&p, n, false, "8 KiB channel");
	stream_both(&p, n, true, "8 KiB channel, zero copy");
	pair_close_chans(&p);

	/* No spinning: every wait sleeps on the vector. */
	pair_chans(&p, 131072, 16384, IVSHMEM_CHAN_NO_SPIN, 0);
	stream_both(&p, n / 2, false, "16 KiB channel, no spinning");
	pair_close_chans(&p);

	/* Polling only, on both sides. */
	pair_chans(&p, 131072, 16384, IVSHMEM_CHAN_POLL, 0);
	check_ret(ivshmem_chan_fd(p.ca), -EOPNOTSUPP,
		  "a polling channel has no descriptor: -EOPNOTSUPP");
	stream_both(&p, n / 4, false, "16 KiB channel, polling");
	stream_both(&p, n / 4, true, "16 KiB channel, polling, zero copy");
	pair_close_chans(&p);

	/* Three senders and two receivers on one direction. */
	{
		struct flow s[3], r[2];
		pthread_t ts[3], tr[2];
		uint64_t each = n / 3, got = 0;
		_Atomic uint64_t shared = 0;
		bool ok = true;
		char errors[700] = "";

		pair_chans(&p, 0, 65536, 0, 0);
		for (unsigned int i = 0; i < 3; i++) {
			s[i] = (struct flow){ .ch = p.ca, .seed = 10 + i, .n = each, .tag = i + 1,
					      .max = 200 };
			pthread_create(&ts[i], NULL, send_flow, &s[i]);
		}
		/* One receiver takes all, checking each sender's order. */
		r[0] = (struct flow){ .ch = p.cb, .n = 3 * each, .tags = 3, .max = 200 };
		pthread_create(&tr[0], NULL, recv_flow, &r[0]);
		for (int i = 0; i < 3; i++)
			pthread_join(ts[i], NULL);
		pthread_join(tr[0], NULL);
		for (int i = 0; i < 3; i++) {
			ok &= !s[i].error[0];
			strncat(errors, s[i].error, 150);
		}
		strncat(errors, r[0].error, 150);
		check(ok && !r[0].error[0] && r[0].done == 3 * each,
		      "three threads send at once: every message once, each sender's in order",
		      "%s", errors);

		/* Two receivers: between them, every message exactly once. */
		s[0] = (struct flow){ .ch = p.ca, .seed = 20, .n = 2 * each, .tag = 1, .max = 100 };
		pthread_create(&ts[0], NULL, send_flow, &s[0]);
		for (int i = 0; i < 2; i++) {
			r[i] = (struct flow){ .ch = p.cb, .n = 2 * each, .tags = 1, .max = 100,
					      .total = &shared };
			pthread_create(&tr[i], NULL, recv_flow, &r[i]);
		}
		pthread_join(ts[0], NULL);
		for (int i = 0; i < 2; i++) {
			pthread_join(tr[i], NULL);
			got += r[i].done;
		}
		/* Each receiver sees its share in order (they take turns). */
		check(!s[0].error[0] && !r[0].error[0] && !r[1].error[0] && got == 2 * each,
		      "two threads receive at once: the messages are shared out, in order",
		      "%s|%s|%s", s[0].error, r[0].error, r[1].error);
		pair_close_chans(&p);
	}
	pair_close(&p);
	return failures ? 1 : 0;
}

/* --------------------------------------------------------------- notify */

/*
 * @r->n messages through a new channel of @p that spins 2 ms, to a
 * thread receiving them with @r: the first @slow of them @slow_ns apart
 * (sleeping), the rest @fast_ns apart (spinning: sleeps are too coarse).
 * *@mark: the count of rings of the first side when the first fast
 * message goes (the end's, when none does).  The channel is closed on
 * return.  Return: whether every send succeeded.
 */
static bool paced_stream(struct pair *p, struct flow *r, uint64_t slow, int64_t slow_ns,
			 int64_t fast_ns, unsigned long *mark)
{
	char got[64];
	pthread_t t;
	bool ok = true;

	pair_chans(p, 0, 65536, 0, 2000);
	r->ch = p->cb;
	check(send_text(p->ca, "up", 0) == 0 && recv_text(p->cb, "up", 1000, got, sizeof(got)),
	      "a channel that spins 2 ms is up", "%s", got);
	pthread_create(&t, NULL, recv_flow, r);
	for (uint64_t i = 0; i < r->n; i++) {
		unsigned char buf[100];
		size_t len = msg_len(r->seed, i, sizeof(buf));

		if (i == slow)
			*mark = rings_of(0);
		if (i < slow) {
			sleep_ms((int)(slow_ns / 1000000));
		} else {
			int64_t next = now_ns() + fast_ns;

			while (now_ns() < next)
				;
		}
		msg_fill(buf, len, r->seed, i);
		ok &= ivshmem_chan_send(p->ca, buf, len, 1000) == 0;
	}
	pthread_join(t, NULL);
	if (slow >= r->n)
		*mark = rings_of(0);
	pair_close_chans(p);
	return ok;
}

static int test_notify(const char *spec)
{
	unsigned long ra, rb;
	char got[64];
	struct pair p;
	bool ok = true;

	pair_open(&p, spec);

	/* An armed receiver gets one ring for a burst, however long. */
	pair_chans(&p, 0, 65536, IVSHMEM_CHAN_NO_SPIN, 0);
	check(send_text(p.ca, "up", 0) == 0 && recv_text(p.cb, "up", 1000, got, sizeof(got)),
	      "the channel is up", "%s", got);
	check_ret(ivshmem_chan_recv(p.cb, got, sizeof(got), 0), -EAGAIN,
		  "the receiver looks (recv(0)) and finds nothing");
	ra = rings_of(0);
	rb = rings_of(1);
	for (int i = 0; i < 50; i++)
		ok &= send_text(p.ca, "burst", 0) == 0;
	check(ok, "50 messages sent at once", " ");
	check(rings_of(0) - ra == 1, "they rang the receiver once, not 50 times",
	      "%lu rings", rings_of(0) - ra);
	check(readable(ivshmem_chan_fd(p.cb), 0), "its descriptor is readable", " ");
	for (int i = 0; i < 50; i++)
		ok &= recv_text(p.cb, "burst", 0, got, sizeof(got));
	check(ok, "it takes all 50 without waiting", "%s", got);
	check(rings_of(1) - rb == 0, "and rings nobody: the sender never waited for room",
	      "%lu rings", rings_of(1) - rb);

	/* The receiver took messages without finding none: it is not asleep. */
	ra = rings_of(0);
	ok &= send_text(p.ca, "one", 0) == 0;
	ok &= recv_text(p.cb, "one", 1000, got, sizeof(got));
	ok &= send_text(p.ca, "two", 0) == 0;
	ok &= recv_text(p.cb, "two", 1000, got, sizeof(got));
	check(ok && rings_of(0) - ra == 0,
	      "a receiver that has not found the ring empty since is not rung",
	      "%lu rings", rings_of(0) - ra);
	pair_close_chans(&p);

	/* A sleeping receiver: one ring per message that finds it asleep. */
	{
		struct flow r = { .seed = 5, .n = 40, .max = 100 };
		pthread_t t;
		unsigned long n;

		pair_chans(&p, 0, 65536, IVSHMEM_CHAN_NO_SPIN, 0);
		r.ch = p.cb;
		pthread_create(&t, NULL, recv_flow, &r);
		sleep_ms(50);
		ra = rings_of(0);
		for (uint64_t i = 0; i < r.n; i++) {
			unsigned char buf[100];
			size_t len = msg_len(5, i, 100);

			msg_fill(buf, len, 5, i);
			ok &= ivshmem_chan_send(p.ca, buf, len, 1000) == 0;
			sleep_ms(10);
		}
		pthread_join(t, NULL);
		n = rings_of(0) - ra;
		check(ok && !r.error[0] && r.done == r.n, "a receiver that sleeps gets every message",
		      "%s", r.error);
		/* At most one more: the sender's first call took the receiver's session. */
		check(n >= r.n / 4 && n <= r.n + 1, "and a ring for (nearly) each, 10 ms apart",
		      "%lu rings for %" PRIu64 " messages", n, r.n);
		pair_close_chans(&p);
	}

	/* Spins that never catch anything shrink: 2 ms each would be 80 ms. */
	{
		struct flow r = { .seed = 7, .n = 40, .max = 100 };

		ok &= paced_stream(&p, &r, r.n, 5000000, 0, &ra);
		check(ok && !r.error[0] && r.done == r.n, "a receiver of messages 5 ms apart gets all",
		      "%s", r.error);
		check(r.cpu_ns < 30000000, "its spins shrank: far less CPU than 40 spins of 2 ms",
		      "%.1f ms of CPU", r.cpu_ns / 1e6);
		diag("40 messages 5 ms apart, spin_us 2000: the receiver used %.1f ms of CPU",
		     r.cpu_ns / 1e6);
	}

	/*
	 * Spinning pays again: after spins that ran out (messages 5 ms
	 * apart), a stream of messages 100 us apart is caught by spins
	 * again, not slept for (and rung) message by message.  With probes
	 * shorter than the gap, the receiver stayed asleep for good.
	 */
	{
		struct flow r = { .seed = 8, .n = 406, .max = 100 };
		unsigned long n;

		ok &= paced_stream(&p, &r, 6, 5000000, 100000, &ra);
		n = rings_of(0) - ra;
		check(ok && !r.error[0] && r.done == r.n, "a receiver of messages 100 us apart gets all",
		      "%s", r.error);
		/* Asleep for good: a ring for each; a loaded machine costs some. */
		check(n < (r.n - 6) * 3 / 4, "after spins that ran out, spinning catches such a "
		      "stream again: fewer rings", "%lu rings for %" PRIu64 " messages", n, r.n - 6);
		diag("400 messages 100 us apart after 6 at 5 ms, spin_us 2000: %lu rings", n);
	}

	/* Spinning sides: a stream with (nearly) no ring either way. */
	{
		struct flow s = { .seed = 6, .n = 20000, .max = 256 };
		struct flow r = { .seed = 6, .n = 20000, .max = 256 };
		pthread_t ts, tr;
		unsigned long n;

		pair_chans(&p, 0, 65536, 0, 300000);
		s.ch = p.ca;
		r.ch = p.cb;
		ra = rings_of(0);
		rb = rings_of(1);
		pthread_create(&ts, NULL, send_flow, &s);
		pthread_create(&tr, NULL, recv_flow, &r);
		pthread_join(ts, NULL);
		pthread_join(tr, NULL);
		n = rings_of(0) - ra + rings_of(1) - rb;
		check(!s.error[0] && !r.error[0] && r.done == r.n,
		      "a stream between spinning sides arrives whole", "%s|%s", s.error, r.error);
		check(n <= r.n / 100 + 4, "with (nearly) no rings: the sides spin instead",
		      "%lu rings for %" PRIu64 " messages", n, r.n);
		diag("20000 messages between spinning sides: %lu rings", n);
		pair_close_chans(&p);
	}
	pair_close(&p);
	return failures ? 1 : 0;
}

/* -------------------------------------------------------------- restart */

/* A child that acts as the peer's program on its handle; exits 0 or 1. */
static pid_t peer_program(struct ivshmem *dev, unsigned int peer, const char *prefix, int count,
			  bool close_it, int ready_fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct ivshmem_chan_config cfg = cfg_for(peer, 0, 65536);
		struct ivshmem_chan *ch;
		char text[32];
		int ret = ivshmem_chan_open(dev, &cfg, &ch);

		if (write(ready_fd, "o", 1) != 1 || ret < 0)
			_exit(1);
		for (int i = 0; i < count; i++) {
			snprintf(text, sizeof(text), "%s-%d", prefix, i);
			if (send_text(ch, text, 5000) < 0)
				_exit(1);
		}
		if (close_it)
			ivshmem_chan_close(ch);
		_exit(0);	/* without closing, unless asked: as a crash */
	}
	return pid;
}

static bool child_ok(pid_t pid)
{
	int status;

	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void wait_ready(int fd)
{
	char c;

	if (read(fd, &c, 1) != 1)
		check(false, "the peer's program started", "no byte on the pipe");
}

static int test_restart(const char *spec)
{
	struct ivshmem_chan_config cfg;
	struct ivshmem_chan *ch;
	char got[64];
	struct pair p;
	int pipefd[2];
	pid_t pid;

	pair_open(&p, spec);
	if (pipe(pipefd) < 0)
		return 1;
	cfg = cfg_for((unsigned int)p.idb, 0, 65536);
	ch = chan_or_die(p.a, &cfg);

	/* The peer's program sends three messages and dies after one was read. */
	pid = peer_program(p.b, (unsigned int)p.ida, "first", 3, false, pipefd[1]);
	wait_ready(pipefd[0]);
	check(recv_text(ch, "first-0", 5000, got, sizeof(got)), "the peer's program: a message",
	      "%s", got);
	check(child_ok(pid), "it sent three and died without closing", " ");

	/* It restarts (a new session on the same ID) and sends again. */
	pid = peer_program(p.b, (unsigned int)p.ida, "second", 2, false, pipefd[1]);
	wait_ready(pipefd[0]);
	check_ret(ivshmem_chan_recv(ch, got, sizeof(got), 5000), -ECONNRESET,
		  "after its restart: -ECONNRESET, not the two it left unread");
	check(recv_text(ch, "second-0", 5000, got, sizeof(got)),
	      "then the new program's first message", "%s", got);
	check(recv_text(ch, "second-1", 5000, got, sizeof(got)), "and its second", "%s", got);
	check(child_ok(pid), "the new program sent both", " ");
	check_ret(ivshmem_chan_recv(ch, got, sizeof(got), 0), -EAGAIN,
		  "nothing stale, nothing twice: -EAGAIN");
	check_ret(send_text(ch, "hi", 0), -ECONNRESET, "the sending side hears of it once too");
	check_ret(send_text(ch, "hi", 0), 0, "then sends to the new program's session");

	/* A program that closes with a message unread, then a new one. */
	pid = peer_program(p.b, (unsigned int)p.ida, "third", 2, true, pipefd[1]);
	wait_ready(pipefd[0]);
	check_ret(ivshmem_chan_recv(ch, got, sizeof(got), 5000), -ECONNRESET,
		  "the second program died too: -ECONNRESET");
	check(recv_text(ch, "third-0", 5000, got, sizeof(got)), "the third program's first",
	      "%s", got);
	check(child_ok(pid), "it sent two and closed", " ");
	pid = peer_program(p.b, (unsigned int)p.ida, "fourth", 1, true, pipefd[1]);
	wait_ready(pipefd[0]);
	check_ret(ivshmem_chan_recv(ch, got, sizeof(got), 5000), -ECONNRESET,
		  "a closed peer's unread message lost to a reopen: -ECONNRESET");
	check(recv_text(ch, "fourth-0", 5000, got, sizeof(got)), "then the fourth's message",
	      "%s", got);
	check(child_ok(pid), "the fourth program closed", " ");
	check_ret(ivshmem_chan_recv(ch, got, sizeof(got), 1000), -EPIPE,
		  "it closed after all it sent was read: -EPIPE");

	ivshmem_chan_close(ch);
	close(pipefd[0]);
	close(pipefd[1]);
	pair_close(&p);
	return failures ? 1 : 0;
}

/* A table writer stuck halfway: a thread that keeps the generation odd. */
struct stuck_writer {
	_Atomic uint32_t *generation;
	atomic_bool stop;
};

static void *hold_generation_odd(void *arg)
{
	struct stuck_writer *w = arg;

	while (!atomic_load(&w->stop)) {
		uint32_t g = atomic_load(w->generation);

		if (!(g & 1))
			atomic_store(w->generation, g | 1);
	}
	return NULL;
}

/*
 * With a presence table (a server run with --presence): a death is seen.
 * With @stuck, the table cannot be read while the channel pairs (its
 * generation held odd, as by a writer preempted halfway); the server
 * writes it again within a second, and the death must be seen all the same.
 */
static void presence_round(const char *spec, struct ivshmem *a, bool stuck)
{
	const char *what = stuck ? " (table unreadable at the pairing)" : "";
	struct stuck_writer w = { .stop = false };
	struct ivshmem_chan_config cfg;
	struct ivshmem_chan *ch;
	int pipefd[2], child_id = -1;
	pthread_t writer;
	char *region = NULL;
	char got[64], name[128];
	int64_t t0;
	pid_t pid;

	if (pipe(pipefd) < 0) {
		check(false, "pipe", "%s", strerror(errno));
		return;
	}
	clear_range(a, 0, 65536);
	if (stuck) {
		if (ivshmem_map(a, 0, 0, IVSHMEM_MAP_DEFAULT, (void **)&region) < 0) {
			check(false, "map the region", " ");
			return;
		}
		w.generation = (_Atomic uint32_t *)(region + ivshmem_size(a) - 4096 +
						    offsetof(struct ivshmem_region_header,
							     generation));
		if (pthread_create(&writer, NULL, hold_generation_odd, &w)) {
			check(false, "start the stuck writer", " ");
			return;
		}
	}
	pid = fork();
	if (pid == 0) {
		struct ivshmem *c;
		struct ivshmem_chan *cc;
		int id;

		if (ivshmem_open(spec, &c) < 0)
			_exit(1);
		id = ivshmem_id(c);
		cfg = cfg_for((unsigned int)ivshmem_id(a), 0, 65536);
		if (write(pipefd[1], &id, sizeof(id)) != sizeof(id) ||
		    ivshmem_chan_open(c, &cfg, &cc) < 0 || send_text(cc, "alive", 5000) < 0 ||
		    send_text(cc, "still", 5000) < 0)
			_exit(1);
		/* Dies once the other side has seen "still". */
		if (read(pipefd[0], &id, 1) < 0)
			_exit(1);
		_exit(0);	/* no close: the server sees the connection drop */
	}
	if (read(pipefd[0], &child_id, sizeof(child_id)) != sizeof(child_id) || child_id < 0) {
		check(false, "the peer process started", "no ID");
		return;
	}
	cfg = cfg_for((unsigned int)child_id, 0, 65536);
	ch = chan_or_die(a, &cfg);
	snprintf(name, sizeof(name), "a peer process's message%s", what);
	check(recv_text(ch, "alive", 5000, got, sizeof(got)), name, "%s", got);
	if (stuck) {
		uint32_t epoch;
		int tries, unread = 0;

		/*
		 * The server puts it right each second, the thread undoes it
		 * at once, unless the machine is too busy to run it: say how
		 * well it held (without the fix, the checks below failed in
		 * every run that held it at the pairing).
		 */
		for (tries = 0; tries < 5; tries++)
			unread += ivshmem_peer_epoch(a, (unsigned int)child_id, &epoch) == -EAGAIN;
		diag("the table held unreadable: %d reads of %d failed", unread, tries);
		atomic_store(&w.stop, true);
		pthread_join(writer, NULL);
		/* The server's once-a-second look at the header puts it right. */
		t0 = now_ms();
		while (ivshmem_peer_epoch(a, (unsigned int)child_id, &epoch) != 1 &&
		       now_ms() - t0 < 10000)
			sleep_ms(50);
		check(ivshmem_peer_epoch(a, (unsigned int)child_id, &epoch) == 1,
		      "the server writes the table again", " ");
	}
	snprintf(name, sizeof(name), "what it sent before it died arrives%s", what);
	check(recv_text(ch, "still", 5000, got, sizeof(got)), name, "%s", got);
	if (write(pipefd[1], "x", 1) != 1)
		check(false, "tell the peer process to die", "%s", strerror(errno));
	check(child_ok(pid), "the peer process exits without closing the channel", " ");
	t0 = now_ms();
	snprintf(name, sizeof(name), "then the presence table says it left: -ECONNRESET%s", what);
	check_ret(ivshmem_chan_recv(ch, got, sizeof(got), 10000), -ECONNRESET, name);
	check(now_ms() - t0 < 5000, "within a few seconds", "%" PRId64 " ms", now_ms() - t0);
	check_ret(ivshmem_chan_recv(ch, got, sizeof(got), 0), -EAGAIN,
		  "once: then nothing (no peer)");
	check_ret(send_text(ch, "gone?", 0), -ECONNRESET, "the sending side hears of it once");
	check_ret(send_text(ch, "gone?", 0), -EAGAIN, "then waits for a new peer");
	ivshmem_chan_close(ch);
	if (region)
		ivshmem_unmap(region, ivshmem_size(a));
	close(pipefd[0]);
	close(pipefd[1]);
}

static int test_presence(const char *spec)
{
	struct ivshmem *a = open_or_die(spec);

	presence_round(spec, a, false);
	presence_round(spec, a, true);
	ivshmem_close(a);
	return failures ? 1 : 0;
}

/* ----------------------------------------------------------------- fuzz */

/* Where things are in a channel's memory (libivshmem.h, "Channels"). */
#define CB_LOW		0
#define CB_HIGH		2048
#define CB_MAGIC	0
#define CB_SESSION	16
#define CB_PEER_SESSION	24
#define CB_FLAGS	32
#define CB_TX_TAIL	128
#define CB_RX_HEAD	256
#define CB_RX_EVENT	384
#define CB_TX_EVENT	512
#define RING0		4096

/* The channel's memory as a hostile peer sees it: a mapping of its own. */
struct chanmem {
	unsigned char *m;
	uint64_t size;
	uint64_t cap;
};

static void chanmem_map(struct chanmem *cm, struct ivshmem *dev, uint64_t off, uint64_t size)
{
	cm->size = size;
	cm->cap = ((size - 4096) / 2) & ~(uint64_t)63;
	if (ivshmem_map(dev, off, (size_t)size, IVSHMEM_MAP_DEFAULT, (void **)&cm->m) < 0) {
		printf("not ok - map the channel's memory\n");
		exit(1);
	}
}

static void put64(struct chanmem *cm, uint64_t off, uint64_t v)
{
	__atomic_store_n((uint64_t *)(void *)(cm->m + off), v, __ATOMIC_RELAXED);
}

static uint64_t get64(struct chanmem *cm, uint64_t off)
{
	return __atomic_load_n((uint64_t *)(void *)(cm->m + off), __ATOMIC_RELAXED);
}

static void put32(struct chanmem *cm, uint64_t off, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)(cm->m + off), v, __ATOMIC_RELAXED);
}

/* Messages both ways again, retrying through resets, within 8 s. */
static bool recovers(struct pair *p, char *why, size_t len)
{
	size_t max = ivshmem_chan_max_msg(p->ca);
	unsigned char *buf = malloc(max);
	int64_t end = now_ms() + 8000;
	bool ab = false, ba = false;
	ssize_t n = 0, m = 0;

	while (buf && (!ab || !ba) && now_ms() < end) {
		if (!ab)
			(void)send_text(p->ca, "ab", 0);
		if (!ba)
			(void)send_text(p->cb, "ba", 0);
		for (int i = 0; i < 64 && (n = ivshmem_chan_recv(p->cb, buf, max, 0)) >= 0; i++)
			ab |= n == 2 && memcmp(buf, "ab", 2) == 0;
		for (int i = 0; i < 64 && (m = ivshmem_chan_recv(p->ca, buf, max, 0)) >= 0; i++)
			ba |= m == 2 && memcmp(buf, "ba", 2) == 0;
		sleep_ms(5);
	}
	free(buf);
	snprintf(why, len, "a to b %s (last %zd), b to a %s (last %zd)", ab ? "works" : "fails", n,
		 ba ? "works" : "fails", m);
	return ab && ba;
}

/*
 * A new pair of channels on @off; with @up, paired by a first message,
 * else the receiver pairs at its first call.
 */
static void fresh(struct pair *p, struct chanmem *cm, uint64_t off, bool up)
{
	char got[64] = "";

	pair_close_chans(p);
	memset(cm->m, 0, (size_t)cm->size);
	pair_chans(p, off, cm->size, 0, 0);
	if (up && (send_text(p->ca, "up", 0) < 0 ||
		   !recv_text(p->cb, "up", 1000, got, sizeof(got))))
		check(false, "a fresh pair of channels works", "%s", got);
}

static void test_targeted(struct pair *p, struct chanmem *cm, uint64_t off)
{
	uint64_t tx_a = CB_LOW + CB_TX_TAIL, rx_b = CB_HIGH + CB_RX_HEAD, cap = cm->cap;
	char got[64], why[160];
	unsigned int n = 0;

	/* Indices read by the receiver. */
	static const struct {
		const char *what;
		int kind;
	} tails[] = {
		{ "a tail past the ring's end", 0 }, { "a tail not 8-aligned", 1 },
		{ "a tail behind the head", 2 }, { "a record longer than the most", 3 },
		{ "a record of unknown flags", 4 }, { "a skip record at the ring's start", 5 },
		{ "a record longer than what was published", 6 }, { "a tail of 2^63", 7 },
	};
	/* Each taken by recv, then by peek: the same checks guard both. */
	for (size_t j = 0; j < 2 * sizeof(tails) / sizeof(tails[0]); j++) {
		size_t i = j % (sizeof(tails) / sizeof(tails[0]));
		bool peek = j >= sizeof(tails) / sizeof(tails[0]);
		const void *r = NULL;
		char name[160];

		/* The record at the ring's start: the receiver's first. */
		fresh(p, cm, off, false);
		send_text(p->ca, "x", 0);
		switch (tails[i].kind) {
		case 0:
			put64(cm, tx_a, get64(cm, tx_a) + cap + 8);
			break;
		case 1:
			put64(cm, tx_a, get64(cm, tx_a) + 3);
			break;
		case 2:
			recv_text(p->cb, "x", 1000, got, sizeof(got));
			put64(cm, tx_a, 8);
			break;
		case 3:
			put64(cm, RING0, 0xffffffffULL);
			break;
		case 4:
			put64(cm, RING0, 1 | (0x80ULL << 32));
			break;
		case 5:
			put64(cm, RING0, 1ULL << 32);
			break;
		case 6:
			put64(cm, RING0, 100);
			break;
		case 7:
			put64(cm, tx_a, 1ULL << 63);
			break;
		}
		snprintf(name, sizeof(name), "%s: %s gets -EPROTO", tails[i].what,
			 peek ? "peek" : "the receiver");
		if (peek)
			check_ret(ivshmem_chan_peek(p->cb, &r, 0), -EPROTO, name);
		else
			check_ret(ivshmem_chan_recv(p->cb, got, sizeof(got), 0), -EPROTO, name);
		snprintf(name, sizeof(name), "%s (%s): then the channel works again", tails[i].what,
			 peek ? "peek" : "recv");
		check(recovers(p, why, sizeof(why)), name, "%s", why);
	}

	/* The head the sender reads, once the ring looks full. */
	fresh(p, cm, off, true);
	while (n < 1000 && send_text(p->ca, "fill the ring up", 0) == 0)
		n++;
	put64(cm, rx_b, get64(cm, CB_LOW + CB_TX_TAIL) + 8);
	check_ret(send_text(p->ca, "fill the ring up", 0), -EPROTO,
		  "a head beyond what was sent: the sender gets -EPROTO");
	check(recovers(p, why, sizeof(why)), "then the channel works again", "%s", why);
	fresh(p, cm, off, true);
	n = 0;
	while (n < 1000 && send_text(p->ca, "fill the ring up", 0) == 0)
		n++;
	put64(cm, rx_b, get64(cm, CB_LOW + CB_TX_TAIL) + 8);
	{
		void *w = NULL;

		check_ret(ivshmem_chan_reserve(p->ca, 16, &w, 0), -EPROTO,
			  "a head beyond what was sent: reserve gets -EPROTO");
	}
	check(recovers(p, why, sizeof(why)), "then the channel works again", "%s", why);
	fresh(p, cm, off, true);
	while (send_text(p->ca, "fill the ring up", 0) == 0)
		;
	for (int i = 0; i < 3; i++)
		recv_text(p->cb, "fill the ring up", 1000, got, sizeof(got));
	while (send_text(p->ca, "fill the ring up", 0) == 0)
		;
	put64(cm, rx_b, 0);
	recv_text(p->cb, "fill the ring up", 1000, got, sizeof(got));
	put64(cm, rx_b, 0);
	check_ret(send_text(p->ca, "fill the ring up", 0), -EPROTO,
		  "a head that went back: the sender gets -EPROTO");
	check(recovers(p, why, sizeof(why)), "then the channel works again", "%s", why);

	/* The session: a flip is a restart. */
	fresh(p, cm, off, true);
	put64(cm, CB_LOW + CB_SESSION, 0x1234567887654321ULL);
	check_ret(ivshmem_chan_recv(p->cb, got, sizeof(got), 0), -ECONNRESET,
		  "a session that changes under the receiver: -ECONNRESET");
	check(recovers(p, why, sizeof(why)), "then the channel works again", "%s", why);
	fresh(p, cm, off, true);
	put64(cm, CB_HIGH + CB_PEER_SESSION, 77);
	check_ret(send_text(p->ca, "y", 0), -ECONNRESET,
		  "a peer that takes another session: -ECONNRESET to the sender");
	check(recovers(p, why, sizeof(why)), "then the channel works again", "%s", why);

	/* Closed, as the block says. */
	fresh(p, cm, off, true);
	put32(cm, CB_LOW + CB_FLAGS, 1);
	check_ret(ivshmem_chan_recv(p->cb, got, sizeof(got), 0), -EPIPE,
		  "a block that says closed: the receiver gets -EPIPE");
	check_ret(send_text(p->cb, "z", 0), -EPIPE, "and the sender -EPIPE");
}

/*
 * struct fuzzer - a thread of test_fuzz(): it sends or receives at random
 * (@send), a third of the calls in place (reserve/commit, peek/release),
 * or scribbles on the channel's memory (corrupter()).
 * @ring:  the ring its calls use, as an offset in the channel's memory
 * @maps:  where the channels map the memory (their rooms must lie there)
 * @holds: reservations and peeks made; @ends: how their commit or release
 *         went: 0, -ECONNRESET, -EPIPE
 */
struct fuzzer {
	struct ivshmem_chan *ch;
	struct chanmem *cm;
	_Atomic bool *stop;
	bool send;
	uint64_t seed;
	size_t max;
	uint64_t ring;
	const uintptr_t *maps;
	int nmaps;
	unsigned long calls;
	unsigned long results[8];	/* ok, EAGAIN, ETIMEDOUT, ECONNRESET, EPROTO, EPIPE, EMSGSIZE */
	unsigned long holds, ends[3];
	int64_t slowest;
	char error[200];
};

/*
 * Where [@off, @off + @size) of the memory is mapped in this process,
 * but at @not (the test's own mapping): the channels' mappings, as
 * /proc/self/maps lists them.  How many were found, at most @max.
 */
static int chan_maps(uint64_t off, uint64_t size, const void *not, uintptr_t *maps, int max)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		unsigned long start, end;
		unsigned long long pgoff;

		if (sscanf(line, "%lx-%lx %*s %llx", &start, &end, &pgoff) == 3 &&
		    end - start == size && pgoff == off && start != (uintptr_t)not)
			maps[n++] = start;
	}
	fclose(f);
	return n;
}

/* Whether [@p, @p + @len) is a message's place in @f's ring of a channel mapping. */
static bool in_ring(const struct fuzzer *f, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;

	for (int i = 0; i < f->nmaps; i++) {
		uintptr_t lo = f->maps[i] + f->ring + 8, hi = f->maps[i] + f->ring + f->cm->cap;

		if (a % 8 == 0 && a >= lo && a <= hi && len <= hi - a)
			return true;
	}
	return false;
}

/* A hold's end: 0, -ECONNRESET or (a commit's) -EPIPE, nothing else. */
static void hold_end(struct fuzzer *f, const char *what, int ret)
{
	if (ret == 0 || ret == -ECONNRESET || (ret == -EPIPE && f->send))
		f->ends[ret == 0 ? 0 : ret == -ECONNRESET ? 1 : 2]++;
	else
		snprintf(f->error, sizeof(f->error), "%s: %d (%s)", what, ret,
			 ivshmem_strerror(ret));
}

/*
 * In place: reserve @len bytes, fill them and commit them, fewer of them
 * or none; or peek at a message, read it and release it.  Now and then
 * the hold lasts a millisecond, for the scribbling to end pairings under
 * it.  What reserve or peek returned.
 */
static long fuzz_in_place(struct fuzzer *f, size_t len, int timeout, uint64_t r)
{
	bool linger = (r >> 50) % 16 == 0;
	const void *msg = NULL;
	void *w = NULL;
	long ret;

	if (f->send) {
		size_t commit = (r >> 44) % 4 == 3 ? IVSHMEM_CHAN_DROP :
				(r >> 44) % 4 == 2 ? len / 2 : len;

		ret = ivshmem_chan_reserve(f->ch, len, &w, timeout);
		if (ret < 0)
			return ret;
		f->holds++;
		if (!in_ring(f, w, len)) {
			snprintf(f->error, sizeof(f->error), "reserve(%zu): room %p outside the ring",
				 len, w);
			return ret;
		}
		memset(w, (int)(r & 0xff), len);
		if (linger)
			sleep_ms(1);
		hold_end(f, "commit", ivshmem_chan_commit(f->ch, commit));
		return ret;
	}
	ret = ivshmem_chan_peek(f->ch, &msg, timeout);
	if (ret < 0)
		return ret;
	f->holds++;
	if ((size_t)ret > f->max || !in_ring(f, msg, (size_t)ret)) {
		snprintf(f->error, sizeof(f->error), "peek: %ld bytes at %p, outside the ring", ret,
			 msg);
		return ret;
	}
	{
		const volatile unsigned char *b = msg;
		unsigned char sum = 0;

		/* Every byte read, as an application would. */
		for (long j = 0; j < ret; j++)
			sum = (unsigned char)(sum + b[j]);
		(void)sum;
	}
	if (linger)
		sleep_ms(1);
	hold_end(f, "release", ivshmem_chan_release(f->ch));
	return ret;
}

static void *fuzz_worker(void *arg)
{
	static const int timeouts[] = { 0, 1, 5, 20 };
	struct fuzzer *f = arg;
	unsigned char *buf = calloc(1, f->max + 8);

	for (uint64_t i = 0; buf && !atomic_load(f->stop) && !f->error[0]; i++) {
		uint64_t r = mix(f->seed + i);
		int timeout = timeouts[r % 4];
		bool in_place = (r >> 40) % 3 == 0;
		const char *what = f->send ? (in_place ? "reserve" : "send") :
				   (in_place ? "peek" : "recv");
		int64_t t0 = now_ms(), took;
		size_t len;
		long ret;
		int k;

		if (f->send) {
			len = (size_t)(r >> 8) % (f->max + 2);
			if (in_place)
				ret = fuzz_in_place(f, len, timeout, r);
			else
				ret = ivshmem_chan_send(f->ch, buf, len, timeout);
		} else if (in_place) {
			len = f->max;
			ret = fuzz_in_place(f, len, timeout, r);
		} else {
			len = (r >> 16) % 2 ? f->max : (size_t)(r >> 20) % 64;
			ret = ivshmem_chan_recv(f->ch, buf, len, timeout);
		}
		if (f->error[0])
			break;
		took = now_ms() - t0;
		if (took > f->slowest)
			f->slowest = took;
		f->calls++;
		switch (ret) {
		case -EAGAIN:
			k = timeout == 0 ? 1 : -1;
			break;
		case -ETIMEDOUT:
			k = timeout > 0 ? 2 : -1;
			break;
		case -ECONNRESET:
			k = 3;
			break;
		case -EPROTO:
			k = 4;
			break;
		case -EPIPE:
			k = 5;
			break;
		case -EMSGSIZE:
			/* Not for a message that fits, and never for peek. */
			k = (f->send && len <= f->max) || (!f->send && in_place) ? -1 : 6;
			break;
		default:
			k = ret == 0 || (!f->send && ret > 0 && (size_t)ret <= len) ? 0 : -1;
		}
		if (k < 0)
			snprintf(f->error, sizeof(f->error), "%s(%zu, %d ms): %ld (%s)", what, len,
				 timeout, ret, ivshmem_strerror((int)ret));
		else
			f->results[k]++;
		if (took > timeout + 3000)
			snprintf(f->error, sizeof(f->error), "%s with %d ms took %" PRId64 " ms",
				 what, timeout, took);
	}
	free(buf);
	return NULL;
}

static void *corrupter(void *arg)
{
	struct fuzzer *f = arg;
	struct chanmem *cm = f->cm;

	for (uint64_t i = 0; !atomic_load(f->stop); i++) {
		uint64_t r = mix(f->seed ^ (i * 0x9e3779b9ULL));
		uint64_t side = r & 1 ? CB_LOW : CB_HIGH, v = r >> 20;
		uint64_t ring = RING0 + (r & 2 ? cm->cap : 0);

		switch ((r >> 2) % 24) {
		case 0:
		case 1:
		case 2:
			cm->m[v % cm->size] = (unsigned char)(r >> 8);
			break;
		case 3:
			put64(cm, side + CB_TX_TAIL, v | 1ULL << 63);
			break;
		case 4:
			put64(cm, side + CB_TX_TAIL, get64(cm, side + CB_TX_TAIL) + cm->cap + 8);
			break;
		case 5:
			put64(cm, side + CB_TX_TAIL, get64(cm, side + CB_TX_TAIL) + 1 + v % 7);
			break;
		case 6:
			put64(cm, side + CB_TX_TAIL, get64(cm, side + CB_TX_TAIL) - 8 * (1 + v % 4));
			break;
		case 7:
			put64(cm, side + CB_RX_HEAD, get64(cm, side + CB_RX_HEAD) + cm->cap);
			break;
		case 8:
			put64(cm, side + CB_RX_HEAD, get64(cm, side + CB_RX_HEAD) - 8 * (1 + v % 4));
			break;
		case 9:
		case 10:
			put64(cm, ring + (v % cm->cap & ~(uint64_t)7), r);
			break;
		case 11:
			put64(cm, ring + (v % cm->cap & ~(uint64_t)7), 0xffffffffULL | (r & 1ULL << 32));
			break;
		case 12:
			put64(cm, ring, 1ULL << 32);
			break;
		case 13:
			put64(cm, ring + (v % cm->cap & ~(uint64_t)7), (uint64_t)(cm->cap / 4));
			break;
		case 14:
			put64(cm, side + CB_SESSION, r);
			break;
		case 15:
			put64(cm, side + CB_SESSION, 0);
			break;
		case 16:
			put64(cm, side + CB_PEER_SESSION, r);
			break;
		case 17:
		case 18:
			/* Not "closed": a closed peer stays so (test_targeted). */
			put32(cm, side + CB_FLAGS, (uint32_t)v & ~1U);
			break;
		case 19:
			put64(cm, side + CB_RX_EVENT, r);
			break;
		case 20:
			put64(cm, side + CB_TX_EVENT, r);
			break;
		case 21:
			put32(cm, side + CB_MAGIC + 4 * (v % 4), (uint32_t)r);
			break;
		default:
			break;		/* a pause */
		}
		if (i % 4 == 0)
			sleep_ms(1);
	}
	return NULL;
}

static int test_fuzz(const char *spec, int secs)
{
	uint64_t size = 16384, off;
	uintptr_t maps[4];
	struct fuzzer w[4], c;
	_Atomic bool stop = false, stop_c = false;
	struct chanmem cm;
	pthread_t t[4], tc;
	struct pair p;
	char why[160];
	bool ok = true, holds = true;
	int nmaps;

	pair_open(&p, spec);
	/* At the very end of the memory: a stray access past it faults. */
	off = ivshmem_size(p.a) - size;
	chanmem_map(&cm, p.a, off, size);
	test_targeted(&p, &cm, off);

	fresh(&p, &cm, off, true);
	nmaps = chan_maps(off, size, cm.m, maps, 4);
	check(nmaps == 2, "fuzz: the two channels' mappings, from /proc/self/maps", "%d found",
	      nmaps);
	for (int i = 0; i < 4; i++) {
		/* a (low ID) sends on ring 0 and receives on ring 1; b the other way round. */
		bool ring1 = (i < 2) != (i % 2 == 0);

		w[i] = (struct fuzzer){ .ch = i < 2 ? p.ca : p.cb, .cm = &cm, .stop = &stop,
					.send = i % 2 == 0, .seed = 100 + (uint64_t)i,
					.max = ivshmem_chan_max_msg(p.ca),
					.ring = RING0 + (ring1 ? cm.cap : 0), .maps = maps,
					.nmaps = nmaps };
		pthread_create(&t[i], NULL, fuzz_worker, &w[i]);
	}
	c = (struct fuzzer){ .cm = &cm, .stop = &stop_c, .seed = 999 };
	pthread_create(&tc, NULL, corrupter, &c);
	sleep_ms(secs * 1000);
	atomic_store(&stop_c, true);
	pthread_join(tc, NULL);
	sleep_ms(300);
	atomic_store(&stop, true);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		if (w[i].error[0])
			check(false, "fuzz: a call gave what it may not", "%s", w[i].error);
		ok &= !w[i].error[0];
		diag("fuzz %s %s: %lu calls: %lu ok, %lu EAGAIN, %lu ETIMEDOUT, %lu ECONNRESET, "
		     "%lu EPROTO, %lu EPIPE, %lu EMSGSIZE; slowest %" PRId64 " ms; %lu %s, "
		     "ended by %lu 0, %lu ECONNRESET, %lu EPIPE", i < 2 ? "a" : "b",
		     w[i].send ? "send" : "recv", w[i].calls, w[i].results[0], w[i].results[1],
		     w[i].results[2], w[i].results[3], w[i].results[4], w[i].results[5],
		     w[i].results[6], w[i].slowest, w[i].holds,
		     w[i].send ? "reservations" : "peeks", w[i].ends[0], w[i].ends[1],
		     w[i].ends[2]);
		holds &= w[i].holds > 0;
	}
	check(ok, "fuzz: every call returned in time with a documented result", " ");
	check(holds, "fuzz: each side reserved and peeked too, in the ring, and commit and "
	      "release gave 0, -ECONNRESET or -EPIPE only", " ");
	check(w[0].ends[1] + w[1].ends[1] + w[2].ends[1] + w[3].ends[1] > 0,
	      "fuzz: some holds outlived their pairing (-ECONNRESET from commit or release)", " ");
	check(w[1].results[4] + w[3].results[4] + w[1].results[3] + w[3].results[3] > 0,
	      "fuzz: the corruption was noticed (-EPROTO, -ECONNRESET)", " ");
	check(recovers(&p, why, sizeof(why)),
	      "fuzz: once the scribbling stops, the channel works again by itself", "%s", why);
	fresh(&p, &cm, off, true);
	check(recovers(&p, why, sizeof(why)), "fuzz: reopened, the channel works", "%s", why);
	ivshmem_unmap(cm.m, (size_t)cm.size);
	pair_close(&p);
	return failures ? 1 : 0;
}

/* ------------------------------------------------------------ zero copy */

/*
 * The zero-copy calls, watched through a mapping of the channel's memory
 * of the test's own (struct chanmem): where the rooms and the peeked
 * messages lie, what the control blocks say.  @ca has the lower ID: it
 * sends on ring 0 and its control block comes first.
 */

/* A record's bytes in the ring: its header and the message, padded. */
static uint64_t rec_bytes(size_t len)
{
	return 8 + ((len + 7) & ~(uint64_t)7);
}

/*
 * Whether @p is byte @off of the channel's memory: 8-byte aligned, and a
 * byte changed through the own mapping changes under @p (then put back).
 */
static bool lies_at(struct chanmem *cm, uint64_t off, const void *p)
{
	volatile unsigned char *mine = cm->m + off;
	const volatile unsigned char *theirs = p;
	unsigned char old = *mine;
	bool same;

	if (!p || (uintptr_t)p % 8 || *theirs != old)
		return false;
	*mine = (unsigned char)~old;
	same = *theirs == (unsigned char)~old;
	*mine = old;
	return same;
}

/* Close a channel and open it again: a new session, as a restart has. */
static void reopen(struct ivshmem *dev, struct ivshmem_chan **ch, int peer, uint64_t off,
		   uint64_t size)
{
	struct ivshmem_chan_config cfg = cfg_for((unsigned int)peer, off, size);

	ivshmem_chan_close(*ch);
	*ch = chan_or_die(dev, &cfg);
}

enum later_call { LATER_COMMIT, LATER_RELEASE, LATER_RESERVE_COMMIT };

/* A zero-copy call made by another thread after a delay. */
struct zc_later {
	struct ivshmem_chan *ch;
	int delay_ms;
	enum later_call what;
	size_t len;
	long ret;
};

static void *zc_later_thread(void *arg)
{
	struct zc_later *l = arg;
	void *w;

	sleep_ms(l->delay_ms);
	switch (l->what) {
	case LATER_COMMIT:
		l->ret = ivshmem_chan_commit(l->ch, l->len);
		break;
	case LATER_RELEASE:
		l->ret = ivshmem_chan_release(l->ch);
		break;
	case LATER_RESERVE_COMMIT:
		l->ret = ivshmem_chan_reserve(l->ch, l->len, &w, 1000);
		if (l->ret == 0) {
			msg_fill(w, l->len, 9, 9);
			l->ret = ivshmem_chan_commit(l->ch, l->len);
		}
		break;
	}
	return NULL;
}

/* Every argument and error, the sizes, and where the bytes lie. */
static void test_zc_api(struct pair *p, struct chanmem *cm)
{
	static unsigned char want[8192], got[8192];
	uint64_t tail = 16;	/* fresh(): "up" is the first record of ring 0 */
	uint64_t tx_a = CB_LOW + CB_TX_TAIL, rx_b = CB_HIGH + CB_RX_HEAD;
	const void *r = NULL, *r2;
	void *w = NULL, *w2;
	struct zc_later l, l2;
	pthread_t t, t2;
	size_t max;
	int64_t t0;
	ssize_t n;

	/* A reservation waits for the peer to take this side's session. */
	{
		struct later lt = { .delay_ms = 150, .timeout_ms = 3000 };

		fresh(p, cm, 0, false);
		check_ret(ivshmem_chan_reserve(p->cb, 5, &w, 0), -EAGAIN,
			  "before the peer's first call: reserve(0) gives -EAGAIN");
		lt.ch = p->ca;
		pthread_create(&t, NULL, later_thread, &lt);
		t0 = now_ms();
		check_ret(ivshmem_chan_reserve(p->cb, 5, &w, 3000), 0,
			  "reserve with a timeout waits for the peer's first call");
		check(now_ms() - t0 >= 100, "it waited for it", "%" PRId64 " ms", now_ms() - t0);
		if (w)
			memcpy(w, "early", 5);
		check_ret(ivshmem_chan_commit(p->cb, 5), 0, "commit");
		pthread_join(t, NULL);
		check(lt.ret == 5 && strcmp(lt.got, "early") == 0, "the peer receives it", "%ld %s",
		      lt.ret, lt.got);
		w = NULL;
	}

	fresh(p, cm, 0, true);
	max = ivshmem_chan_max_msg(p->ca);

	/* Arguments, and calls without a hold. */
	check_ret(ivshmem_chan_reserve(NULL, 8, &w, 0), -EINVAL,
		  "ivshmem_chan_reserve(NULL channel): -EINVAL");
	check_ret(ivshmem_chan_reserve(p->ca, 8, NULL, 0), -EINVAL,
		  "ivshmem_chan_reserve() with a NULL buf: -EINVAL");
	check_ret(ivshmem_chan_reserve(p->ca, max + 1, &w, 0), -EMSGSIZE,
		  "a reservation one byte longer than the most: -EMSGSIZE");
	check_ret(ivshmem_chan_commit(NULL, 0), -EINVAL, "ivshmem_chan_commit(NULL): -EINVAL");
	check_ret(ivshmem_chan_commit(p->ca, 0), -EINVAL, "commit without a reservation: -EINVAL");
	check_ret(ivshmem_chan_commit(p->ca, IVSHMEM_CHAN_DROP), -EINVAL,
		  "IVSHMEM_CHAN_DROP without a reservation: -EINVAL");
	check_ret(ivshmem_chan_peek(NULL, &r, 0), -EINVAL, "ivshmem_chan_peek(NULL channel): -EINVAL");
	check_ret(ivshmem_chan_peek(p->cb, NULL, 0), -EINVAL,
		  "ivshmem_chan_peek() with a NULL buf: -EINVAL");
	check_ret(ivshmem_chan_release(NULL), -EINVAL, "ivshmem_chan_release(NULL): -EINVAL");
	check_ret(ivshmem_chan_release(p->cb), -EINVAL, "release without a peeked message: -EINVAL");
	check(w == NULL, "the failed reservations left *buf alone", "%p", w);
	check_ret(send_text(p->ca, "probe", 0), 0, "none of them left a hold open: a send goes");
	check(recv_text(p->cb, "probe", 1000, (char *)got, sizeof(got)), "and a recv takes it",
	      "%s", got);
	tail += rec_bytes(5);

	/* Nothing to peek at. */
	check_ret(ivshmem_chan_peek(p->cb, &r, 0), -EAGAIN,
		  "peek with timeout 0 on an empty channel: -EAGAIN");
	t0 = now_ms();
	n = ivshmem_chan_peek(p->cb, &r, 150);
	check(n == -ETIMEDOUT && now_ms() - t0 >= 145 && now_ms() - t0 < 3000,
	      "peek with 150 ms on an empty channel: -ETIMEDOUT after 150 ms",
	      "%zd after %" PRId64 " ms", n, now_ms() - t0);
	check(r == NULL, "the failed peeks left *buf alone", "%p", r);

	/* An empty message. */
	check_ret(ivshmem_chan_reserve(p->ca, 0, &w, 0), 0, "reserve 0 bytes");
	check(lies_at(cm, RING0 + tail + 8, w),
	      "the room is past the next record's header in ring 0, 8-byte aligned", "%p", w);
	check_ret(ivshmem_chan_commit(p->ca, 0), 0, "commit 0 bytes");
	n = ivshmem_chan_peek(p->cb, &r, 1000);
	check(n == 0 && lies_at(cm, RING0 + tail + 8, r), "peek: an empty message, in place",
	      "%zd at %p", n, r);
	tail += 8;
	check_ret(ivshmem_chan_release(p->cb), 0, "release it");
	check_ret(ivshmem_chan_recv(p->cb, got, sizeof(got), 0), -EAGAIN, "nothing more came");

	/* 100 bytes, watched all the way. */
	msg_fill(want, 100, 3, 1);
	check_ret(ivshmem_chan_reserve(p->ca, 100, &w, 0), 0, "reserve 100 bytes");
	check(lies_at(cm, RING0 + tail + 8, w),
	      "the room is where the next record goes in ring 0, 8-byte aligned", "%p", w);
	if (w)
		memcpy(w, want, 100);
	check(memcmp(cm->m + RING0 + tail + 8, want, 100) == 0,
	      "what is written there is in the shared memory", " ");
	check_ret(ivshmem_chan_recv(p->cb, got, sizeof(got), 0), -EAGAIN,
		  "the peer sees nothing of it before the commit");
	check(get64(cm, tx_a) == tail, "the sender's tail did not move", "%" PRIu64 ", want %"
	      PRIu64, get64(cm, tx_a), tail);
	check_ret(ivshmem_chan_send(p->ca, "x", 1, 0), -EBUSY,
		  "send while a reservation is open: -EBUSY");
	check_ret(ivshmem_chan_reserve(p->ca, 8, &w2, 0), -EBUSY,
		  "a second reservation: -EBUSY");
	check_ret(ivshmem_chan_reserve(p->ca, 8, &w2, 200), -EBUSY,
		  "with a timeout too, at once: -EBUSY");
	check_ret(send_text(p->cb, "other way", 1000), 0,
		  "the other direction sends while the reservation is open");
	check(recv_text(p->ca, "other way", 1000, (char *)got, sizeof(got)),
	      "and the reserving side receives", "%s", got);
	check_ret(ivshmem_chan_commit(p->ca, 101), -EINVAL,
		  "commit of one byte more than reserved: -EINVAL");
	check_ret(ivshmem_chan_send(p->ca, "x", 1, 0), -EBUSY,
		  "the reservation is still open after that: send gets -EBUSY");
	check_ret(ivshmem_chan_commit(p->ca, 100), 0, "commit the 100 bytes");
	check(get64(cm, tx_a) == tail + rec_bytes(100) && get64(cm, RING0 + tail) == 100,
	      "the tail moved past one record: length 100, flags 0",
	      "tail %" PRIu64 ", header %#" PRIx64, get64(cm, tx_a), get64(cm, RING0 + tail));
	check_ret(ivshmem_chan_commit(p->ca, 100), -EINVAL, "a second commit: -EINVAL");

	n = ivshmem_chan_peek(p->cb, &r, 1000);
	check(n == 100 && memcmp(r, want, 100) == 0, "peek: the 100 bytes the sender wrote",
	      "%zd", n);
	check(lies_at(cm, RING0 + tail + 8, r),
	      "where they lie in ring 0, past the record's header, 8-byte aligned", "%p", r);
	tail += rec_bytes(100);
	check_ret(ivshmem_chan_recv(p->cb, got, sizeof(got), 0), -EBUSY,
		  "recv while a message is peeked: -EBUSY");
	check_ret(ivshmem_chan_peek(p->cb, &r2, 0), -EBUSY, "a second peek: -EBUSY");
	check_ret(ivshmem_chan_peek(p->cb, &r2, 200), -EBUSY, "with a timeout too, at once: -EBUSY");
	check_ret(send_text(p->cb, "meanwhile", 0), 0, "the peeking side sends meanwhile");
	check(recv_text(p->ca, "meanwhile", 1000, (char *)got, sizeof(got)), "and it arrives",
	      "%s", got);
	check_ret(send_text(p->ca, "next", 0), 0, "the sender sends the next message");
	check(get64(cm, rx_b) == tail - rec_bytes(100),
	      "the receiver's head stays before the peeked message",
	      "%" PRIu64 ", want %" PRIu64, get64(cm, rx_b), tail - rec_bytes(100));
	check_ret(ivshmem_chan_release(p->cb), 0, "release it");
	check(get64(cm, rx_b) == tail, "now the head is past it", "%" PRIu64 ", want %" PRIu64,
	      get64(cm, rx_b), tail);
	check_ret(ivshmem_chan_release(p->cb), -EINVAL, "a second release: -EINVAL");
	check(recv_text(p->cb, "next", 1000, (char *)got, sizeof(got)),
	      "then recv takes the next message", "%s", got);
	tail += rec_bytes(4);

	/* The most bytes. */
	msg_fill(want, max, 4, 1);
	check_ret(ivshmem_chan_reserve(p->ca, max, &w, 1000), 0, "reserve the most bytes");
	if (w)
		memcpy(w, want, max);
	check_ret(ivshmem_chan_commit(p->ca, max), 0, "commit them");
	check_ret(ivshmem_chan_recv(p->cb, got, max - 1, 1000), -EMSGSIZE,
		  "recv into a buffer one byte short: -EMSGSIZE");
	n = ivshmem_chan_peek(p->cb, &r, 1000);
	check(n == (ssize_t)max && memcmp(r, want, max) == 0 && lies_at(cm, RING0 + tail + 8, r),
	      "peek: all of them, in place", "%zd", n);
	check_ret(ivshmem_chan_release(p->cb), 0, "release them");
	tail += rec_bytes(max);

	/* Committed shorter than reserved. */
	msg_fill(want, 1000, 5, 1);
	check_ret(ivshmem_chan_reserve(p->ca, 1000, &w, 1000), 0, "reserve 1000 bytes");
	if (w)
		memcpy(w, want, 1000);
	check_ret(ivshmem_chan_commit(p->ca, 10), 0, "commit 10 of them");
	check(get64(cm, tx_a) == tail + rec_bytes(10), "the record takes the room of 10 bytes only",
	      "tail %" PRIu64 ", want %" PRIu64, get64(cm, tx_a), tail + rec_bytes(10));
	n = ivshmem_chan_recv(p->cb, got, sizeof(got), 1000);
	check(n == 10 && memcmp(got, want, 10) == 0,
	      "the receiver gets a message of the 10 bytes, whole", "%zd", n);
	tail += rec_bytes(10);
	check_ret(send_text(p->ca, "after it", 0), 0, "the next message");
	check(recv_text(p->cb, "after it", 1000, (char *)got, sizeof(got)), "arrives whole",
	      "%s", got);
	tail += rec_bytes(8);

	/* Dropped. */
	check_ret(ivshmem_chan_reserve(p->ca, 500, &w, 1000), 0, "reserve 500 bytes");
	if (w)
		memset(w, 0xab, 500);
	check_ret(ivshmem_chan_commit(p->ca, IVSHMEM_CHAN_DROP), 0, "drop them");
	check(get64(cm, tx_a) == tail, "the tail did not move", "%" PRIu64 ", want %" PRIu64,
	      get64(cm, tx_a), tail);
	check_ret(ivshmem_chan_recv(p->cb, got, sizeof(got), 200), -ETIMEDOUT,
		  "the receiver sees nothing");
	check_ret(ivshmem_chan_commit(p->ca, IVSHMEM_CHAN_DROP), -EINVAL,
		  "the reservation is over: a second drop gives -EINVAL");
	check_ret(send_text(p->ca, "after the drop", 0), 0, "the next message");
	check(recv_text(p->cb, "after the drop", 1000, (char *)got, sizeof(got)), "arrives",
	      "%s", got);

	/* Holds are the channel's: other threads end them, and calls wait for them. */
	check_ret(ivshmem_chan_reserve(p->ca, 5, &w, 1000), 0, "reserve 5 bytes");
	if (w)
		memcpy(w, "hello", 5);
	l = (struct zc_later){ .ch = p->ca, .delay_ms = 10, .what = LATER_COMMIT, .len = 5 };
	pthread_create(&t, NULL, zc_later_thread, &l);
	pthread_join(t, NULL);
	check_ret(l.ret, 0, "another thread commits the reservation");
	check(recv_text(p->cb, "hello", 1000, (char *)got, sizeof(got)), "and it arrives", "%s",
	      got);
	l = (struct zc_later){ .ch = p->ca, .delay_ms = 150, .what = LATER_RESERVE_COMMIT,
			       .len = 64 };
	pthread_create(&t, NULL, zc_later_thread, &l);
	t0 = now_ms();
	n = ivshmem_chan_peek(p->cb, &r, 3000);
	msg_fill(want, 64, 9, 9);
	check(n == 64 && memcmp(r, want, 64) == 0 && now_ms() - t0 >= 100,
	      "a peek waits for a message reserved and committed later", "%zd after %" PRId64
	      " ms", n, now_ms() - t0);
	pthread_join(t, NULL);
	check_ret(l.ret, 0, "the later reservation and commit");
	l2 = (struct zc_later){ .ch = p->cb, .delay_ms = 10, .what = LATER_RELEASE };
	pthread_create(&t2, NULL, zc_later_thread, &l2);
	pthread_join(t2, NULL);
	check_ret(l2.ret, 0, "another thread releases the peeked message");
	check_ret(ivshmem_chan_recv(p->cb, got, sizeof(got), 0), -EAGAIN, "it was taken");
	check_ret(ivshmem_chan_recv(p->ca, got, sizeof(got), 0), -EAGAIN,
		  "and nothing went the other way unasked");
}

/* A full ring: a reservation waits for room, which a peeked message keeps. */
static void test_zc_full(struct pair *p, struct chanmem *cm)
{
	static unsigned char want[1000], got[1000];
	struct zc_later l;
	unsigned int n;
	const void *r = NULL;
	void *w = NULL;
	bool ok = true;
	pthread_t t;
	int64_t t0;
	ssize_t ret;

	fresh(p, cm, 0, true);
	for (n = 0; n < 1000; n++) {
		msg_fill(want, sizeof(want), 8, n);
		if (ivshmem_chan_send(p->ca, want, sizeof(want), 0) != 0)
			break;
	}
	check(n > 10 && n < 40, "sends of 1000 bytes fill the ring", "%u went", n);
	check_ret(ivshmem_chan_reserve(p->ca, 1000, &w, 0), -EAGAIN,
		  "a full ring: reserve with timeout 0 gives -EAGAIN");
	t0 = now_ms();
	ret = ivshmem_chan_reserve(p->ca, 1000, &w, 150);
	check(ret == -ETIMEDOUT && now_ms() - t0 >= 145,
	      "reserve with 150 ms: -ETIMEDOUT after 150 ms", "%zd after %" PRId64 " ms", ret,
	      now_ms() - t0);
	ret = ivshmem_chan_peek(p->cb, &r, 1000);
	msg_fill(want, sizeof(want), 8, 0);
	check(ret == 1000 && memcmp(r, want, 1000) == 0, "the receiver peeks at the first",
	      "%zd", ret);
	check_ret(ivshmem_chan_reserve(p->ca, 1000, &w, 0), -EAGAIN,
		  "the peeked message keeps its room: reserve still gives -EAGAIN");
	l = (struct zc_later){ .ch = p->cb, .delay_ms = 150, .what = LATER_RELEASE };
	pthread_create(&t, NULL, zc_later_thread, &l);
	t0 = now_ms();
	ret = ivshmem_chan_reserve(p->ca, 1000, &w, 5000);
	check(ret == 0 && now_ms() - t0 >= 100,
	      "reserve waits for room and returns once the receiver releases",
	      "%zd after %" PRId64 " ms", ret, now_ms() - t0);
	pthread_join(t, NULL);
	check_ret(l.ret, 0, "the release");
	if (ret == 0) {
		msg_fill(w, 1000, 8, n);
		check_ret(ivshmem_chan_commit(p->ca, 1000), 0, "commit in the freed room");
	}
	for (unsigned int i = 1; i <= n && ok; i++) {
		msg_fill(want, sizeof(want), 8, i);
		if (i % 2) {
			ret = ivshmem_chan_recv(p->cb, got, sizeof(got), 1000);
			ok = ret == 1000 && memcmp(got, want, 1000) == 0;
		} else {
			ret = ivshmem_chan_peek(p->cb, &r, 1000);
			ok = ret == 1000 && memcmp(r, want, 1000) == 0 &&
			     ivshmem_chan_release(p->cb) == 0;
		}
		if (!ok)
			check(false, "the rest arrives in order", "message %u: %zd", i, ret);
	}
	if (ok)
		check(true, "the rest arrives in order, the reserved one last", " ");
	check_ret(ivshmem_chan_recv(p->cb, got, sizeof(got), 0), -EAGAIN, "and nothing more");
}

/*
 * The poll() protocol of ivshmem_chan_fd(): a commit rings a receiver
 * that found nothing, a release rings a sender that found no room; a
 * reservation and a peek ring nobody.
 */
static void test_zc_poll(struct pair *p, struct chanmem *cm)
{
	static unsigned char buf[1000];
	const void *r = NULL;
	void *w = NULL;
	unsigned int n = 0;
	int fa, fb;

	fresh(p, cm, 0, true);
	fa = ivshmem_chan_fd(p->ca);
	fb = ivshmem_chan_fd(p->cb);
	check_ret(ivshmem_chan_peek(p->cb, &r, 0), -EAGAIN,
		  "poll protocol: peek(0) on an empty channel gives -EAGAIN");
	check(!readable(fb, 0), "then the receiver's descriptor does not poll readable", " ");
	check_ret(ivshmem_chan_reserve(p->ca, 64, &w, 0), 0, "the sender reserves");
	check(!readable(fb, 100), "a reservation does not ring the receiver", " ");
	check_ret(ivshmem_chan_commit(p->ca, 64), 0, "the sender commits");
	check(readable(fb, 2000), "the commit rings it: its descriptor polls readable", " ");
	check(ivshmem_chan_peek(p->cb, &r, 0) == 64 && ivshmem_chan_release(p->cb) == 0,
	      "peek(0) and release take the message", " ");
	check_ret(ivshmem_chan_peek(p->cb, &r, 0), -EAGAIN, "peek(0) again: -EAGAIN");
	check(!readable(fb, 0), "and the descriptor is quiet again", " ");

	while (n < 1000 && ivshmem_chan_send(p->ca, buf, sizeof(buf), 0) == 0)
		n++;
	check_ret(ivshmem_chan_reserve(p->ca, 1000, &w, 0), -EAGAIN,
		  "poll protocol: reserve(0) into a full ring gives -EAGAIN");
	check(!readable(fa, 0), "then the sender's descriptor does not poll readable", " ");
	check(ivshmem_chan_peek(p->cb, &r, 0) == 1000, "the receiver peeks at a message", " ");
	check(!readable(fa, 100), "which frees no room: the sender is not rung", " ");
	check_ret(ivshmem_chan_release(p->cb), 0, "the receiver releases it");
	check(readable(fa, 2000), "the release rings the sender: its descriptor polls readable",
	      " ");
	check_ret(ivshmem_chan_reserve(p->ca, 1000, &w, 0), 0, "reserve(0) gets the room");
	check_ret(ivshmem_chan_commit(p->ca, IVSHMEM_CHAN_DROP), 0, "drop it");
}

/*
 * struct zdir - one direction of test_zc_wrap(), with a model of its ring
 * (libivshmem.h, "Channels"): where each record goes, skip records
 * included, checked against the sender's published tail, the rooms
 * handed out and the messages peeked at.
 * @ring: the ring's offset in the channel's memory
 * @ctl:  the sender's control block
 * @at:   message i's record, at i % ZC_WINDOW
 * @ways: messages by path: [reserved * 2 + peeked]; @after_skip the same
 *        for those right after a skip record
 */
#define ZC_WINDOW	512

struct zdir {
	struct ivshmem_chan *tx, *rx;
	struct chanmem *cm;
	uint64_t ring;
	uint64_t ctl;
	uint64_t seed, n;
	size_t max;
	uint64_t sent, got;
	uint64_t tail;
	uint64_t at[ZC_WINDOW];
	bool skipped[ZC_WINDOW];
	unsigned long skips, ways[4], after_skip[4];
	char error[200];
};

static bool zc_pull(struct zdir *d, struct zdir *other);

/* Whether message i of @d goes in place, at both ends. */
static bool zc_reserved(const struct zdir *d, uint64_t i)
{
	return mix(d->seed * 7 + i) & 1;
}

static bool zc_peeked(const struct zdir *d, uint64_t i)
{
	return mix(d->seed * 11 + i) & 1;
}

/*
 * Send @d's next message without waiting, by send or reserve/commit;
 * with @other, take one of the other direction's messages while the
 * reservation is open.  False when the ring is full, or on an error.
 */
static bool zc_push(struct zdir *d, struct zdir *other)
{
	uint64_t i = d->sent, r = mix(d->seed * 5 + i), cap = d->cm->cap, off, skip, at;
	size_t len = msg_len(d->seed, i, d->max), room = len;
	unsigned char buf[8192];
	void *w = NULL;
	int ret;

	if (d->error[0] || i >= d->n)
		return false;
	/* A third of the reservations are larger than what is committed. */
	if (zc_reserved(d, i) && r % 3 == 0)
		room += (size_t)((r >> 8) % 64);
	if (room > d->max)
		room = d->max;
	off = d->tail % cap;
	skip = cap - off < rec_bytes(room) ? cap - off : 0;
	at = (off + skip) % cap;
	if (zc_reserved(d, i)) {
		ret = ivshmem_chan_reserve(d->tx, room, &w, 0);
		if (ret == -EAGAIN)
			return false;
		if (ret == 0 && room && !lies_at(d->cm, d->ring + at + 8, w)) {
			snprintf(d->error, sizeof(d->error), "message %" PRIu64 ": the room is not "
				 "at ring offset %" PRIu64 " + 8", i, at);
			return false;
		}
		if (ret == 0) {
			if (other)
				zc_pull(other, NULL);
			msg_fill(w, len, d->seed, i);
			ret = ivshmem_chan_commit(d->tx, len);
		}
	} else {
		msg_fill(buf, len, d->seed, i);
		ret = ivshmem_chan_send(d->tx, buf, len, 0);
		if (ret == -EAGAIN)
			return false;
	}
	if (ret < 0) {
		snprintf(d->error, sizeof(d->error), "message %" PRIu64 " (%s): %s", i,
			 zc_reserved(d, i) ? "reserve/commit" : "send", ivshmem_strerror(ret));
		return false;
	}
	d->tail += skip + rec_bytes(len);
	if (get64(d->cm, d->ctl + CB_TX_TAIL) != d->tail) {
		snprintf(d->error, sizeof(d->error), "message %" PRIu64 ": tail %" PRIu64 " where "
			 "%" PRIu64 " was due", i, get64(d->cm, d->ctl + CB_TX_TAIL), d->tail);
		return false;
	}
	if (skip && get64(d->cm, d->ring + off) != 1ULL << 32) {
		snprintf(d->error, sizeof(d->error), "message %" PRIu64 ": no skip record at ring "
			 "offset %" PRIu64 " but %#" PRIx64, i, off, get64(d->cm, d->ring + off));
		return false;
	}
	d->at[i % ZC_WINDOW] = at;
	d->skipped[i % ZC_WINDOW] = skip != 0;
	d->skips += skip != 0;
	d->sent++;
	return true;
}

/*
 * Take @d's next message (sent already), by recv or peek/release; with
 * @other, send one of the other direction's while the message is peeked.
 */
static bool zc_pull(struct zdir *d, struct zdir *other)
{
	uint64_t i = d->got;
	size_t len = msg_len(d->seed, i, d->max);
	bool peek = zc_peeked(d, i);
	unsigned char want[8192], buf[8192];
	const unsigned char *msg = buf;
	const void *r = NULL;
	ssize_t n;
	int ret = 0;

	if (d->error[0] || i >= d->sent)
		return false;
	msg_fill(want, len, d->seed, i);
	if (peek) {
		n = ivshmem_chan_peek(d->rx, &r, 0);
		msg = r;
	} else {
		n = ivshmem_chan_recv(d->rx, buf, sizeof(buf), 0);
	}
	if (n < 0) {
		snprintf(d->error, sizeof(d->error), "message %" PRIu64 " (%s): %s", i,
			 peek ? "peek" : "recv", ivshmem_strerror((int)n));
		return false;
	}
	if ((size_t)n != len || memcmp(msg, want, len) != 0) {
		snprintf(d->error, sizeof(d->error), "message %" PRIu64 " (%s): %zd bytes, want %zu%s",
			 i, peek ? "peek" : "recv", n, len, (size_t)n == len ? ", other bytes" : "");
	} else if (peek && n && !lies_at(d->cm, d->ring + d->at[i % ZC_WINDOW] + 8, r)) {
		snprintf(d->error, sizeof(d->error), "message %" PRIu64 ": peeked at %p, not at ring "
			 "offset %" PRIu64 " + 8", i, r, d->at[i % ZC_WINDOW]);
	} else if (peek && other) {
		zc_push(other, NULL);
	}
	if (peek && (ret = ivshmem_chan_release(d->rx)) < 0 && !d->error[0])
		snprintf(d->error, sizeof(d->error), "message %" PRIu64 ": release: %s", i,
			 ivshmem_strerror(ret));
	if (d->error[0])
		return false;
	d->ways[zc_reserved(d, i) * 2 + peek]++;
	if (d->skipped[i % ZC_WINDOW])
		d->after_skip[zc_reserved(d, i) * 2 + peek]++;
	d->got++;
	return true;
}

/*
 * Both directions of a small channel, in one thread: each side fills its
 * ring and the other takes a few at a time, so that records wrap with
 * skip records all the time; each message by send or reserve/commit and
 * by recv or peek/release, interleaved with the other direction's calls.
 */
static void test_zc_wrap(struct pair *p, struct chanmem *cm, uint64_t off, uint64_t n)
{
	static struct zdir ab, ba;
	char name[200];
	bool all = true;

	fresh(p, cm, off, true);
	ab = (struct zdir){ .tx = p->ca, .rx = p->cb, .cm = cm, .ring = RING0, .ctl = CB_LOW,
			    .seed = 40, .n = n, .max = ivshmem_chan_max_msg(p->ca), .tail = 16 };
	ba = (struct zdir){ .tx = p->cb, .rx = p->ca, .cm = cm, .ring = RING0 + cm->cap,
			    .ctl = CB_HIGH, .seed = 41, .n = n, .max = ab.max };
	for (uint64_t round = 0; (ab.got < n || ba.got < n) && round < 100 * n; round++) {
		uint64_t r = mix(round + 77);
		uint64_t k1 = r % 8 == 0 ? n : (r >> 8) % 6 + 1, k2 = (r >> 16) % 5 + 1;

		while (zc_push(&ab, &ba))
			;
		while (zc_push(&ba, &ab))
			;
		while (k1-- && zc_pull(&ab, &ba))
			;
		while (k2-- && zc_pull(&ba, &ab))
			;
		if (ab.error[0] || ba.error[0])
			break;
	}
	snprintf(name, sizeof(name), "%" PRIu64 " KiB channel: %" PRIu64 " messages each way, "
		 "full rings, send or reserve/commit, recv or peek/release: each intact, in "
		 "order, its record where the layout puts it", cm->size / 1024, n);
	check(!ab.error[0] && !ba.error[0] && ab.got == n && ba.got == n, name,
	      "a to b: %s (%" PRIu64 " taken), b to a: %s (%" PRIu64 " taken)", ab.error, ab.got,
	      ba.error, ba.got);
	check(ab.skips >= n / 20 && ba.skips >= n / 20, "the records wrapped with skip records",
	      "%lu and %lu skips", ab.skips, ba.skips);
	for (int i = 0; i < 4; i++)
		all &= ab.ways[i] && ba.ways[i] && ab.after_skip[i] && ba.after_skip[i];
	check(all, "every pair of paths carried messages, after a skip record too",
	      "send/recv %lu (%lu), send/peek %lu (%lu), reserve/recv %lu (%lu), "
	      "reserve/peek %lu (%lu)", ab.ways[0] + ba.ways[0], ab.after_skip[0] +
	      ba.after_skip[0], ab.ways[1] + ba.ways[1], ab.after_skip[1] + ba.after_skip[1],
	      ab.ways[2] + ba.ways[2], ab.after_skip[2] + ba.after_skip[2], ab.ways[3] +
	      ba.ways[3], ab.after_skip[3] + ba.after_skip[3]);
	diag("%" PRIu64 " messages each way: %lu and %lu skip records", n, ab.skips, ba.skips);
	check_ret(ivshmem_chan_recv(p->cb, name, sizeof(name), 0), -EAGAIN,
		  "nothing more from a to b");
	check_ret(ivshmem_chan_recv(p->ca, name, sizeof(name), 0), -EAGAIN, "nor from b to a");
}

/* The pairing ends while a reservation or a peeked message is open. */
static void test_zc_holds(struct pair *p, struct chanmem *cm)
{
	const void *r = NULL;
	void *w = NULL;
	char got[64], why[160];
	ssize_t n;

	/* The receiver closes and reopens under a reservation. */
	fresh(p, cm, 0, true);
	check_ret(ivshmem_chan_reserve(p->ca, 64, &w, 1000), 0, "reserve 64 bytes");
	if (w)
		memset(w, 's', 64);
	reopen(p->b, &p->cb, p->ida, 0, cm->size);
	check_ret(ivshmem_chan_send(p->ca, "x", 1, 0), -EBUSY,
		  "the peer reopened the channel: a send still gets -EBUSY, not the reset");
	check_ret(ivshmem_chan_commit(p->ca, 64), -ECONNRESET,
		  "commit of a reservation made before the peer reopened: -ECONNRESET");
	check_ret(ivshmem_chan_commit(p->ca, 64), -EINVAL, "the reservation is over");
	check_ret(send_text(p->ca, "fresh", 1000), 0,
		  "the next send goes, without -ECONNRESET again");
	check(recv_text(p->cb, "fresh", 1000, got, sizeof(got)),
	      "the reopened peer gets it, and nothing of the reservation", "%s", got);
	check_ret(ivshmem_chan_recv(p->ca, got, sizeof(got), 0), -ECONNRESET,
		  "the receiving direction reports its own reset");
	check_ret(ivshmem_chan_recv(p->ca, got, sizeof(got), 0), -EAGAIN, "once");

	/* A reservation dropped after the peer reopened: the reset is told once. */
	{
		int resets, ret;

		fresh(p, cm, 0, true);
		check_ret(ivshmem_chan_reserve(p->ca, 16, &w, 1000), 0, "reserve 16 bytes");
		if (w)
			memset(w, 's', 16);
		reopen(p->b, &p->cb, p->ida, 0, cm->size);
		ret = ivshmem_chan_commit(p->ca, IVSHMEM_CHAN_DROP);
		check(ret == 0 || ret == -ECONNRESET,
		      "the peer reopened: dropping the reservation gives 0 or -ECONNRESET", "%d (%s)",
		      ret, ivshmem_strerror(ret));
		resets = ret == -ECONNRESET;
		for (int i = 0; i < 3 && (ret = send_text(p->ca, "after", 1000)) == -ECONNRESET; i++)
			resets++;
		check(ret == 0 && resets == 1,
		      "the drop or the next send reports the reset, once; then a send goes",
		      "%d resets, then %d (%s)", resets, ret, ivshmem_strerror(ret));
		check(recv_text(p->cb, "after", 1000, got, sizeof(got)),
		      "the reopened peer gets that message, and nothing of the dropped one", "%s",
		      got);
	}

	/* The sender closes and reopens under a peeked message. */
	fresh(p, cm, 0, true);
	check(send_text(p->ca, "old-0", 0) == 0 && send_text(p->ca, "old-1", 0) == 0 &&
	      send_text(p->ca, "old-2", 0) == 0, "send three messages", " ");
	n = ivshmem_chan_peek(p->cb, &r, 1000);
	check(n == 5 && memcmp(r, "old-0", 5) == 0, "peek at the first", "%zd", n);
	reopen(p->a, &p->ca, p->idb, 0, cm->size);
	check_ret(ivshmem_chan_recv(p->cb, got, sizeof(got), 0), -EBUSY,
		  "the sender reopened the channel: a recv still gets -EBUSY, not the reset");
	check_ret(ivshmem_chan_release(p->cb), -ECONNRESET,
		  "release of a message peeked before the sender reopened: -ECONNRESET");
	check_ret(ivshmem_chan_release(p->cb), -EINVAL, "the message is gone");
	check_ret(ivshmem_chan_recv(p->cb, got, sizeof(got), 0), -EAGAIN,
		  "then recv gives neither the reset again nor the two stale messages");
	check_ret(ivshmem_chan_peek(p->cb, &r, 0), -EAGAIN, "nor does a peek");
	check_ret(send_text(p->ca, "new-0", 1000), 0, "the reopened sender sends");
	check(recv_text(p->cb, "new-0", 1000, got, sizeof(got)), "its message arrives", "%s", got);
	check_ret(send_text(p->cb, "back", 0), -ECONNRESET,
		  "the sending direction reports its own reset");
	check_ret(send_text(p->cb, "back", 1000), 0, "once");

	/* The receiver closes under a reservation. */
	fresh(p, cm, 0, true);
	check_ret(ivshmem_chan_reserve(p->ca, 32, &w, 1000), 0, "reserve 32 bytes");
	ivshmem_chan_close(p->cb);
	p->cb = NULL;
	check_ret(ivshmem_chan_commit(p->ca, 32), -EPIPE,
		  "the peer closed under a reservation: commit gives -EPIPE");
	check_ret(ivshmem_chan_commit(p->ca, 32), -EINVAL, "the reservation is over");
	check_ret(send_text(p->ca, "anyone?", 0), -EPIPE, "sends get -EPIPE too");
	check_ret(ivshmem_chan_reserve(p->ca, 32, &w, 0), -EPIPE, "and so do reservations");

	/* The sender closes under a peeked message: no reset, the rest, then -EPIPE. */
	fresh(p, cm, 0, true);
	check(send_text(p->ca, "first", 0) == 0 && send_text(p->ca, "second", 0) == 0,
	      "send two messages", " ");
	n = ivshmem_chan_peek(p->cb, &r, 1000);
	check(n == 5 && memcmp(r, "first", 5) == 0, "peek at the first", "%zd", n);
	ivshmem_chan_close(p->ca);
	p->ca = NULL;
	check_ret(ivshmem_chan_release(p->cb), 0,
		  "the sender closed under a peeked message: release gives 0");
	check(recv_text(p->cb, "second", 1000, got, sizeof(got)),
	      "what it sent before closing arrives", "%s", got);
	check_ret(ivshmem_chan_recv(p->cb, got, sizeof(got), 0), -EPIPE, "then -EPIPE");
	check_ret(ivshmem_chan_peek(p->cb, &r, 0), -EPIPE, "to a peek too");

	/* A reset that no hold saw is the next reservation's and peek's to report. */
	fresh(p, cm, 0, true);
	reopen(p->b, &p->cb, p->ida, 0, cm->size);
	check_ret(ivshmem_chan_reserve(p->ca, 8, &w, 1000), -ECONNRESET,
		  "the peer reopened: the next reservation gives -ECONNRESET");
	check_ret(ivshmem_chan_reserve(p->ca, 8, &w, 1000), 0, "once: then it goes");
	check_ret(ivshmem_chan_commit(p->ca, IVSHMEM_CHAN_DROP), 0, "(dropped)");
	check_ret(ivshmem_chan_peek(p->ca, &r, 0), -ECONNRESET, "and the next peek -ECONNRESET");
	check_ret(ivshmem_chan_peek(p->ca, &r, 0), -EAGAIN, "once");

	/* A peer that breaks the protocol under a reservation. */
	fresh(p, cm, 0, true);
	check_ret(send_text(p->cb, "x", 1000), 0, "the peer sends");
	check_ret(ivshmem_chan_reserve(p->ca, 16, &w, 1000), 0, "reserve 16 bytes");
	put64(cm, RING0 + cm->cap, 0xffffffffULL);	/* the peer's record: too long */
	check_ret(ivshmem_chan_recv(p->ca, got, sizeof(got), 0), -EPROTO,
		  "a broken record on the reserving side: recv gives -EPROTO");
	check_ret(ivshmem_chan_commit(p->ca, 16), -ECONNRESET,
		  "that ended the pairing: commit gives -ECONNRESET");
	n = send_text(p->ca, "y", 0);
	check(n == 0 || n == -EAGAIN, "the next send does not report it again", "%zd (%s)", n,
	      ivshmem_strerror((int)n));
	check(recovers(p, why, sizeof(why)), "then the channel works again", "%s", why);

	/* A session that changes under a peeked message is a restart. */
	fresh(p, cm, 0, true);
	check_ret(send_text(p->ca, "x", 0), 0, "send");
	n = ivshmem_chan_peek(p->cb, &r, 1000);
	check(n == 1, "peek at it", "%zd", n);
	put64(cm, CB_LOW + CB_SESSION, 0x1234567887654321ULL);
	check_ret(ivshmem_chan_release(p->cb), -ECONNRESET,
		  "the sender's session changed under a peeked message: release gives -ECONNRESET");
	check(recovers(p, why, sizeof(why)), "then the channel works again", "%s", why);

	/* A peer that took another session under a reservation. */
	fresh(p, cm, 0, true);
	check_ret(ivshmem_chan_reserve(p->ca, 16, &w, 1000), 0, "reserve 16 bytes");
	put64(cm, CB_HIGH + CB_PEER_SESSION, 77);
	check_ret(ivshmem_chan_commit(p->ca, 16), -ECONNRESET,
		  "the peer took another session under a reservation: commit gives -ECONNRESET");
	n = send_text(p->ca, "y", 0);
	check(n == 0 || n == -EAGAIN, "the next send does not report it again", "%zd (%s)", n,
	      ivshmem_strerror((int)n));
	check(recovers(p, why, sizeof(why)), "then the channel works again", "%s", why);
	pair_close_chans(p);
}

/* The peer's program restarts (a child process on its handle) under a hold. */
static void test_zc_restart(struct pair *p, struct chanmem *cm)
{
	struct ivshmem_chan_config cfg;
	struct ivshmem_chan *ch;
	const void *r = NULL;
	void *w = NULL;
	int pipefd[2];
	char got[64];
	ssize_t n;
	pid_t pid;

	pair_close_chans(p);
	memset(cm->m, 0, (size_t)cm->size);
	if (pipe(pipefd) < 0) {
		check(false, "pipe", "%s", strerror(errno));
		return;
	}
	cfg = cfg_for((unsigned int)p->idb, 0, 65536);
	ch = chan_or_die(p->a, &cfg);

	/* It sends three and dies; a peek holds the first when it comes back. */
	pid = peer_program(p->b, (unsigned int)p->ida, "old", 3, false, pipefd[1]);
	wait_ready(pipefd[0]);
	n = ivshmem_chan_peek(ch, &r, 5000);
	check(n == 5 && memcmp(r, "old-0", 5) == 0, "peek at the peer's program's first message",
	      "%zd", n);
	check(child_ok(pid), "it sent three and died without closing", " ");
	pid = peer_program(p->b, (unsigned int)p->ida, "new", 1, false, pipefd[1]);
	wait_ready(pipefd[0]);
	check_ret(ivshmem_chan_release(ch), -ECONNRESET,
		  "it restarted under the peeked message: release gives -ECONNRESET");
	check(recv_text(ch, "new-0", 5000, got, sizeof(got)),
	      "then recv gets the new program's message: no reset again, nothing stale", "%s",
	      got);
	check_ret(ivshmem_chan_recv(ch, got, sizeof(got), 0), -EAGAIN, "and nothing more");
	check(child_ok(pid), "the new program sent it", " ");
	check_ret(send_text(ch, "hi", 0), -ECONNRESET, "the sending direction reports its reset");
	check_ret(send_text(ch, "hi", 0), 0, "once");

	/* It restarts again under a reservation. */
	check_ret(ivshmem_chan_reserve(ch, 64, &w, 1000), 0, "reserve 64 bytes");
	pid = peer_program(p->b, (unsigned int)p->ida, "again", 1, false, pipefd[1]);
	wait_ready(pipefd[0]);
	check_ret(ivshmem_chan_commit(ch, 64), -ECONNRESET,
		  "it restarted under the reservation: commit gives -ECONNRESET");
	check_ret(send_text(ch, "hi", 0), 0, "the next send goes, without -ECONNRESET again");
	check_ret(ivshmem_chan_recv(ch, got, sizeof(got), 0), -ECONNRESET,
		  "the receiving direction reports its own reset");
	check(recv_text(ch, "again-0", 5000, got, sizeof(got)),
	      "once: then the third program's message", "%s", got);
	check(child_ok(pid), "the third program sent it", " ");

	ivshmem_chan_close(ch);
	close(pipefd[0]);
	close(pipefd[1]);
}

/*
 * struct zc_racer - a thread of test_zc_threads(): it sends @n messages
 * tagged @tag by send or by reserve/commit (@in_place), or takes them by
 * recv or by peek/release, retrying what the other thread's hold makes
 * -EBUSY (counted in @busy).  Every eighth message it pauses for a
 * millisecond, holding the message when in place, so that the threads
 * run side by side for a while and meet each other's holds.
 * @start: where the threads of a round wait for each other
 * @taken: what the takers took in all, to stop at @n
 * @once:  each message's taker count, when the messages of one sender are
 *         shared out (else each tag's must come in order, all of them)
 */
struct zc_racer {
	pthread_barrier_t *start;
	struct ivshmem_chan *ch;
	unsigned int tag;
	uint64_t n;
	bool in_place;
	_Atomic uint64_t *taken;
	_Atomic unsigned char *once;
	unsigned long busy;
	uint64_t done;
	char error[200];
};

static void pause_us(long us)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = us * 1000 };

	nanosleep(&ts, NULL);
}

/* Message @i of sender @tag: the tag and number, then stream bytes. */
static size_t racer_msg(unsigned char *buf, unsigned int tag, uint64_t i)
{
	size_t len = msg_len(60 + tag, i, 300);

	if (len < 9)
		len = 9;
	msg_fill(buf, len, 60 + tag, i);
	buf[0] = (unsigned char)tag;
	memcpy(buf + 1, &i, 8);
	return len;
}

static void *racer_send(void *arg)
{
	struct zc_racer *z = arg;
	unsigned char buf[320];

	pthread_barrier_wait(z->start);
	for (uint64_t i = 0; i < z->n && !z->error[0]; i++) {
		size_t len = racer_msg(buf, z->tag, i);
		void *w;
		int ret;

		for (;;) {
			if (z->in_place)
				ret = ivshmem_chan_reserve(z->ch, len, &w, 5000);
			else
				ret = ivshmem_chan_send(z->ch, buf, len, 5000);
			if (ret != -EBUSY)
				break;
			z->busy++;
			pause_us(20);
		}
		if (ret == 0 && z->in_place) {
			memcpy(w, buf, len);
			if (i % 8 == 0)
				sleep_ms(1);
			else
				sched_yield();
			if (memcmp(w, buf, len) != 0)
				snprintf(z->error, sizeof(z->error), "message %" PRIu64 ": its room "
					 "changed while reserved", i);
			ret = ivshmem_chan_commit(z->ch, len);
		} else if (i % 8 == 0) {
			sleep_ms(1);
		}
		if (ret < 0 && !z->error[0])
			snprintf(z->error, sizeof(z->error), "%s %" PRIu64 ": %s",
				 z->in_place ? "reserve/commit" : "send", i, ivshmem_strerror(ret));
		z->done++;
	}
	return NULL;
}

/* Check a message @z took: its tag, number, order and bytes. */
static bool racer_check(struct zc_racer *z, const unsigned char *msg, ssize_t n, uint64_t *next)
{
	unsigned char want[320];
	unsigned int tag;
	size_t len;
	uint64_t k;

	if (n < 9 || msg[0] < 1 || msg[0] > 2) {
		snprintf(z->error, sizeof(z->error), "%zd bytes, tag %u", n, n ? msg[0] : 0);
		return false;
	}
	tag = msg[0];
	memcpy(&k, msg + 1, 8);
	len = racer_msg(want, tag, k);
	if ((size_t)n != len || memcmp(msg, want, len) != 0) {
		snprintf(z->error, sizeof(z->error), "message %u/%" PRIu64 ": %zd bytes, want %zu%s",
			 tag, k, n, len, (size_t)n == len ? ", other bytes" : "");
		return false;
	}
	if (z->once ? k >= z->n || k < next[tag] || atomic_fetch_add(&z->once[k], 1) :
	    k != next[tag]) {
		snprintf(z->error, sizeof(z->error), "message %u/%" PRIu64 " where %" PRIu64
			 " was due, or twice", tag, k, next[tag]);
		return false;
	}
	next[tag] = k + 1;
	if (z->in_place && k % 8 == 0) {
		sleep_ms(1);
		if (memcmp(msg, want, len) != 0) {
			snprintf(z->error, sizeof(z->error), "message %u/%" PRIu64 ": changed while "
				 "peeked", tag, k);
			return false;
		}
	}
	return true;
}

/* Take messages until the takers took @n in all; 10 s without one is an error. */
static void *racer_take(void *arg)
{
	struct zc_racer *z = arg;
	unsigned char buf[320];
	uint64_t next[3] = { 0 };
	int64_t last;

	pthread_barrier_wait(z->start);
	last = now_ms();
	while (atomic_load(z->taken) < z->n && !z->error[0]) {
		const void *r = NULL;
		bool ok;
		ssize_t n;

		if (z->in_place)
			n = ivshmem_chan_peek(z->ch, &r, 100);
		else
			n = ivshmem_chan_recv(z->ch, buf, sizeof(buf), 100);
		if ((n == -EBUSY || n == -ETIMEDOUT) && now_ms() - last < 10000) {
			z->busy += n == -EBUSY;
			pause_us(20);
			continue;
		}
		if (n < 0) {
			snprintf(z->error, sizeof(z->error), "%s: %s", z->in_place ? "peek" : "recv",
				 ivshmem_strerror((int)n));
			break;
		}
		ok = racer_check(z, z->in_place ? r : buf, n, next);
		if (z->in_place) {
			/* Released whatever was found: the other taker goes on. */
			int ret = ivshmem_chan_release(z->ch);

			if (ret < 0 && ok)
				snprintf(z->error, sizeof(z->error), "release: %s",
					 ivshmem_strerror(ret));
		}
		if (z->error[0])
			break;
		atomic_fetch_add(z->taken, 1);
		z->done++;
		last = now_ms();
	}
	return NULL;
}

/* Two threads on one direction of a channel, one of them in place. */
/*
 * Two sending threads on @p's first channel, @n tagged messages each: the
 * first reserves and commits, the second does too with @both_in_place,
 * else it sends; one thread @t takes the 2 @n messages on the second
 * channel.  All three start together at @start (a barrier of three).
 */
static void send_race(struct pair *p, pthread_barrier_t *start, struct zc_racer s[2],
		      struct zc_racer *t, uint64_t n, bool both_in_place, _Atomic uint64_t *taken)
{
	pthread_t ts[2], tt;

	for (unsigned int i = 0; i < 2; i++) {
		s[i] = (struct zc_racer){ .start = start, .ch = p->ca, .tag = i + 1, .n = n,
					  .in_place = i == 0 || both_in_place };
		pthread_create(&ts[i], NULL, racer_send, &s[i]);
	}
	*t = (struct zc_racer){ .start = start, .ch = p->cb, .n = 2 * n, .taken = taken };
	pthread_create(&tt, NULL, racer_take, t);
	for (int i = 0; i < 2; i++)
		pthread_join(ts[i], NULL);
	pthread_join(tt, NULL);
}

static void test_zc_threads(struct pair *p, struct chanmem *cm, uint64_t off, uint64_t n)
{
	static _Atomic unsigned char once[100000];
	struct zc_racer s[2], t[2];
	_Atomic uint64_t taken = 0;
	pthread_barrier_t start;
	pthread_t ts[2], tt[2];
	uint64_t all = 0;

	fresh(p, cm, off, true);
	pthread_barrier_init(&start, NULL, 3);

	/* One thread reserves and commits while another sends. */
	send_race(p, &start, s, &t[0], n, false, &taken);
	check(!s[0].error[0] && !s[1].error[0] && !t[0].error[0] && t[0].done == 2 * n,
	      "one thread reserves and commits while another sends: every message once, each "
	      "thread's in order, intact", "%s|%s|%s (%" PRIu64 " taken)", s[0].error,
	      s[1].error, t[0].error, t[0].done);
	check(s[1].busy > 0 && s[0].busy == 0,
	      "the sending thread met the open reservation (-EBUSY) and sent after it",
	      "%lu -EBUSY to the sender, %lu to the reserver", s[1].busy, s[0].busy);
	diag("the sending thread retried %lu times after -EBUSY", s[1].busy);

	/* Two threads reserve and commit: one reservation at a time. */
	atomic_store(&taken, 0);
	send_race(p, &start, s, &t[0], n, true, &taken);
	check(!s[0].error[0] && !s[1].error[0] && !t[0].error[0] && t[0].done == 2 * n &&
	      s[0].busy + s[1].busy > 0,
	      "two threads reserve and commit: they take turns (-EBUSY), every message once, "
	      "in order, intact", "%s|%s|%s (%" PRIu64 " taken, %lu -EBUSY)", s[0].error,
	      s[1].error, t[0].error, t[0].done, s[0].busy + s[1].busy);

	/* One thread peeks and releases while another receives. */
	if (2 * n > sizeof(once)) {
		check(false, "at most 50000 messages for the takers", " ");
		pthread_barrier_destroy(&start);
		return;
	}
	atomic_store(&taken, 0);
	memset((void *)once, 0, sizeof(once));
	s[0] = (struct zc_racer){ .start = &start, .ch = p->ca, .tag = 1, .n = 2 * n };
	pthread_create(&ts[0], NULL, racer_send, &s[0]);
	for (int i = 0; i < 2; i++) {
		t[i] = (struct zc_racer){ .start = &start, .ch = p->cb, .n = 2 * n,
					  .in_place = i == 0, .taken = &taken, .once = once };
		pthread_create(&tt[i], NULL, racer_take, &t[i]);
	}
	pthread_join(ts[0], NULL);
	for (int i = 0; i < 2; i++) {
		pthread_join(tt[i], NULL);
		all += t[i].done;
	}
	check(!s[0].error[0] && !t[0].error[0] && !t[1].error[0] && all == 2 * n &&
	      t[0].done && t[1].done,
	      "one thread peeks and releases while another receives: each message to one of "
	      "them, in order, intact", "%s|%s|%s (%" PRIu64 " + %" PRIu64 " taken)", s[0].error,
	      t[0].error, t[1].error, t[0].done, t[1].done);
	check(t[1].busy > 0, "the receiving thread met the peeked message (-EBUSY) and received "
	      "after its release", "%lu -EBUSY", t[1].busy);
	diag("the receiving thread retried %lu times after -EBUSY", t[1].busy);
	pthread_barrier_destroy(&start);
	pair_close_chans(p);
}

static int test_zc(const char *spec, uint64_t n)
{
	struct chanmem cm, small;
	struct pair p;

	pair_open(&p, spec);
	chanmem_map(&cm, p.a, 0, 65536);
	chanmem_map(&small, p.a, 65536, 8192);
	test_zc_api(&p, &cm);
	test_zc_full(&p, &cm);
	test_zc_poll(&p, &cm);
	test_zc_wrap(&p, &small, 65536, n);
	test_zc_holds(&p, &cm);
	test_zc_restart(&p, &cm);
	test_zc_threads(&p, &small, 65536, n / 2);
	ivshmem_unmap(cm.m, (size_t)cm.size);
	ivshmem_unmap(small.m, (size_t)small.size);
	pair_close(&p);
	return failures ? 1 : 0;
}

/* ---------------------------------------------------------------- bench */

struct bench {
	struct ivshmem_chan *ch;
	int fd;			/* or a socket */
	size_t len;
	uint64_t bytes;
};

static ssize_t b_send(struct bench *b, const void *buf, size_t len)
{
	if (b->ch)
		return ivshmem_chan_send(b->ch, buf, len, -1);
	return send(b->fd, buf, len, 0);
}

static ssize_t b_recv(struct bench *b, void *buf, size_t len)
{
	if (b->ch)
		return ivshmem_chan_recv(b->ch, buf, len, -1);
	return recv(b->fd, buf, len, 0);
}

/* Take messages until the empty one (channel) or end of file (socket). */
static void *bench_sink(void *arg)
{
	struct bench *b = arg;
	char *buf = malloc(65536);
	ssize_t n;

	while (buf && (n = b_recv(b, buf, 65536)) > 0)
		b->bytes += (uint64_t)n;
	free(buf);
	return NULL;
}

/* Send back what comes, until the empty message or end of file. */
static void *bench_echo(void *arg)
{
	struct bench *b = arg;
	char buf[64];
	ssize_t n;

	while ((n = b_recv(b, buf, sizeof(buf))) > 0)
		if (b_send(b, buf, (size_t)n) < 0)
			break;
	return NULL;
}

static double bench_throughput(struct bench *tx, struct bench *rx, int ms)
{
	char *buf = calloc(1, tx->len);
	int64_t t0 = now_ns(), end = t0 + (int64_t)ms * 1000000;
	pthread_t t;

	pthread_create(&t, NULL, bench_sink, rx);
	while (buf && now_ns() < end)
		for (int i = 0; i < 64; i++)
			b_send(tx, buf, tx->len);
	if (tx->ch)
		b_send(tx, buf, 0);
	else
		shutdown(tx->fd, SHUT_WR);
	pthread_join(t, NULL);
	free(buf);
	return (double)rx->bytes / ((double)(now_ns() - t0) / 1e9) / 1e6;
}

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

	return a < b ? -1 : a > b;
}

/* Median round trip of 8-byte messages, in microseconds. */
static double bench_rtt(struct bench *a, struct bench *b, int n)
{
	int64_t *v = calloc((size_t)n, sizeof(*v));
	char buf[8] = "ping";
	pthread_t t;
	double med;

	pthread_create(&t, NULL, bench_echo, b);
	for (int i = 0; v && i < n; i++) {
		int64_t t0 = now_ns();

		b_send(a, buf, 8);
		b_recv(a, buf, 8);
		v[i] = now_ns() - t0;
	}
	if (a->ch)
		b_send(a, buf, 0);
	else
		shutdown(a->fd, SHUT_WR);
	pthread_join(t, NULL);
	if (!v)
		return 0;
	qsort(v, (size_t)n, sizeof(*v), cmp_i64);
	med = (double)v[n / 2] / 1000;
	free(v);
	return med;
}

static int test_bench(const char *spec, int ms)
{
	static const size_t sizes[] = { 64, 1024, 16384 };
	struct pair p;
	double rc, rs;
	int sv[2];

	pair_open(&p, spec);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct bench ca = { .len = sizes[i] }, cb = { 0 };
		struct bench sa = { .len = sizes[i] }, sb = { 0 };
		double tc, ts;
		char got[8];

		pair_chans(&p, 0, 262144, 0, 0);
		send_text(p.ca, "up", 0);
		recv_text(p.cb, "up", 1000, got, sizeof(got));
		ca.ch = p.ca;
		cb.ch = p.cb;
		tc = bench_throughput(&ca, &cb, ms);
		pair_close_chans(&p);
		if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
			return 1;
		sa.fd = sv[0];
		sb.fd = sv[1];
		ts = bench_throughput(&sa, &sb, ms);
		close(sv[0]);
		close(sv[1]);
		diag("messages of %zu bytes: channel %.0f MB/s, socketpair %.0f MB/s: %.2fx",
		     sizes[i], tc, ts, ts > 0 ? tc / ts : 0);
	}
	{
		struct bench ca = { 0 }, cb = { 0 }, sa = { 0 }, sb = { 0 };
		char got[8];

		pair_chans(&p, 0, 262144, 0, 0);
		send_text(p.ca, "up", 0);
		recv_text(p.cb, "up", 1000, got, sizeof(got));
		ca.ch = p.ca;
		cb.ch = p.cb;
		rc = bench_rtt(&ca, &cb, 2000);
		pair_close_chans(&p);
		if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
			return 1;
		sa.fd = sv[0];
		sb.fd = sv[1];
		rs = bench_rtt(&sa, &sb, 2000);
		close(sv[0]);
		close(sv[1]);
		diag("round trip, median of 2000: channel %.1f us, socketpair %.1f us: %.2fx faster",
		     rc, rs, rc > 0 ? rs / rc : 0);
	}
	check(rc > 0 && rs > 0, "bench: throughput and round trips measured", " ");
	pair_close(&p);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "api") == 0)
		return test_api(argv[2]);
	if (argc == 4 && strcmp(argv[1], "stream") == 0)
		return test_stream(argv[2], strtoull(argv[3], NULL, 10));
	if (argc == 3 && strcmp(argv[1], "notify") == 0)
		return test_notify(argv[2]);
	if (argc == 3 && strcmp(argv[1], "restart") == 0)
		return test_restart(argv[2]);
	if (argc == 3 && strcmp(argv[1], "presence") == 0)
		return test_presence(argv[2]);
	if (argc == 4 && strcmp(argv[1], "zc") == 0)
		return test_zc(argv[2], strtoull(argv[3], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "fuzz") == 0)
		return test_fuzz(argv[2], atoi(argv[3]));
	if (argc == 4 && strcmp(argv[1], "bench") == 0)
		return test_bench(argv[2], atoi(argv[3]));
	fprintf(stderr, "usage: lib_chan_test api|stream N|notify|restart|presence|zc N|fuzz SECS|"
		"bench MS SOCK...\n");
	return 2;
}
