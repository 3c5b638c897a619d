// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ivshmem-bench - doorbell and shared memory round trips between two
 * peers, and memcpy throughput on the mapping
 *
 * One peer runs "ivshmem-bench --respond", the other "ivshmem-bench
 * --peer ID" with the responder's ID.  They meet in a small control block
 * in the shared memory (at --offset):
 *
 *   - interrupt round trip: the initiator rings the responder's vector,
 *     the responder, woken by it, rings the initiator's same vector back;
 *     both wait through the library (eventfds on the char device, the UIO
 *     file, the server's eventfds on the host), with poll() and read() on
 *     the vector's eventfd itself (--wait=eventfd), or with poll() and
 *     read() on the ivshmem device file (--wait=read);
 *   - busy-poll round trip: the initiator writes a sequence number into
 *     one cache line, the responder spins on it and copies it into
 *     another, on which the initiator spins.
 *
 * Each field of the block has its own cache line so that the two sides
 * do not write the same line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/ivshmem.h>

#include "common.h"

#define BENCH_MAGIC	0x49564253484d4231ull	/* "1BMHSBVI" */
#define CTL_LINE	64
#define CTL_SIZE	4096	/* the memcpy test starts after this */

enum {
	SLOT_MAGIC,		/* BENCH_MAGIC while a responder is there */
	SLOT_RESPONDER,		/* responder's ID + 1 */
	SLOT_INITIATOR,		/* initiator's ID + 1 */
	SLOT_CMD,		/* what the responder should do */
	SLOT_CAN_IRQ,		/* the responder can wait on the vector */
	SLOT_VECTOR,		/* the vector both use */
	SLOT_PING,		/* initiator's sequence number */
	SLOT_PONG,		/* responder's echo of it */
	SLOT_SERVED,		/* round trips the responder answered */
	SLOT_WAIT,		/* how both sides wait for an interrupt */
	NR_SLOTS
};

enum { CMD_IDLE, CMD_IRQ, CMD_POLL, CMD_DONE };
enum { WAIT_LIB, WAIT_EVENTFD, WAIT_READ, NR_WAITS };

static volatile unsigned char *ctl;

static uint64_t get(unsigned int slot)
{
	return __atomic_load_n((volatile uint64_t *)(ctl + slot * CTL_LINE), __ATOMIC_ACQUIRE);
}

static void set(unsigned int slot, uint64_t v)
{
	__atomic_store_n((volatile uint64_t *)(ctl + slot * CTL_LINE), v, __ATOMIC_RELEASE);
}

static void help(void)
{
	printf("Usage: %s --respond [options] [DEVICE]\n"
	       "       %s --peer ID [options] [DEVICE]\n"
	       "       %s [--size S] [DEVICE]\n"
	       "Round trips between two peers (doorbell, and busy-polling on the shared\n"
	       "memory) and memcpy throughput on the mapping against a plain buffer.\n"
	       "Run --respond on one peer, then --peer ID on the other.\n"
	       "\n"
	       "  -R, --respond         answer round trips until the other side is done\n"
	       "  -p, --peer=ID         measure round trips with the responder ID\n"
	       "  -v, --vector=V        vector both sides use (default 0)\n"
	       "  -n, --count=N         round trips per test (default 1000)\n"
	       "  -w, --wait=HOW        how both sides wait: library (default), eventfd\n"
	       "                        (its own) or read (the device file)\n"
	       "      --no-irq          skip the interrupt round trips\n"
	       "      --no-poll         skip the busy-poll round trips\n"
	       "  -o, --offset=O        control block in the shared memory; the memory\n"
	       "                        from O on is overwritten (default 0)\n"
	       "  -s, --size=S          memcpy size (default 16M, at most what fits)\n"
	       "  -r, --reps=N          timed copies per memcpy test (default 10)\n"
	       "      --no-memcpy       skip the memcpy test\n"
	       "      --cache=MODE      map default, wb, wc or uc\n"
	       "  -c, --cpu=N           run on CPU N only\n"
	       "  -t, --timeout=MS      wait at most MS for the other side (default 30000)\n"
	       "  -j, --json            print the results as JSON\n"
	       "  -d, --device=DEVICE   /dev/ivshmemN, an index N, a PCI address, name:LABEL,\n"
	       "                        /dev/uioN or unix:/path/to/server.sock\n"
	       "                        (default: $IVSHMEM_DEVICE, else the first device)\n"
	       "  -h, --help            show this help\n"
	       "\n"
	       "Exit status: 0 success, 1 failure, 2 bad usage.\n",
	       tool_name, tool_name, tool_name);
}

struct opts {
	bool respond, json, memcpy, irq, poll;
	unsigned int wait;	/* WAIT_* */
	uint64_t peer;		/* UINT64_MAX: none */
	unsigned int vector;
	uint64_t count, offset, size, timeout, reps;
	enum ivshmem_map_mode mode;
};

struct stats {
	bool done;
	const char *skipped;	/* why not measured */
	double min, p50, p99, max;	/* microseconds */
};

static const char *const wait_names[] = { "library", "eventfd", "read" };
static const char *const mode_names[] = { "default", "wb", "wc", "uc" };

static void sleep_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static void summarize(struct stats *s, uint64_t *lat, uint64_t n)
{
	tool_sort_u64(lat, n);
	s->done = true;
	s->min = (double)lat[0] / 1000.0;
	s->p50 = (double)tool_percentile(lat, n, 50) / 1000.0;
	s->p99 = (double)tool_percentile(lat, n, 99) / 1000.0;
	s->max = (double)lat[n - 1] / 1000.0;
}

static void drain(struct ivshmem *dev, unsigned int vector)
{
	while (ivshmem_vector_ack(dev, vector, NULL) == 0)
		;
}

/*
 * --wait=read: a file of its own on the ivshmem device, which counts the
 * interrupts of every vector for read() from the moment it is opened.
 */
static int open_dev_file(struct ivshmem *dev)
{
	int fd;

	if (ivshmem_backend(dev) != IVSHMEM_BACKEND_CHAR)
		return -EOPNOTSUPP;
	fd = open(ivshmem_path(dev), O_RDWR | O_NONBLOCK | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* poll() @fd for input until @deadline (ms); 0 when readable. */
static int poll_in(int fd, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	for (;;) {
		int64_t left = deadline - tool_now_ms();
		int ret = poll(&pfd, 1, left > 0 ? (int)left : 0);

		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0)
			return -errno;
		if (ret == 0)
			return -ETIMEDOUT;
		if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))
			return -ENODEV;
		return 0;
	}
}

/* How one side waits for its vector (WAIT_*), and the fd it waits on. */
struct waiter {
	unsigned int how;
	int fd;
};

static int waiter_open(struct ivshmem *dev, unsigned int how, unsigned int vector,
		       struct waiter *w)
{
	enum ivshmem_backend b = ivshmem_backend(dev);
	struct ivshmem_event ev[16];
	int ret;

	w->how = how;
	w->fd = -1;
	if (how == WAIT_READ) {
		w->fd = open_dev_file(dev);
		if (w->fd < 0)
			return w->fd;
		while (read(w->fd, ev, sizeof(ev)) > 0)
			;
		return 0;
	}
	/* The UIO file's read() is not an eventfd's. */
	if (how == WAIT_EVENTFD && b != IVSHMEM_BACKEND_CHAR && b != IVSHMEM_BACKEND_HOST)
		return -EOPNOTSUPP;
	ret = ivshmem_vector_fd(dev, vector);
	if (ret < 0)
		return ret;
	if (how == WAIT_EVENTFD)
		w->fd = ret;	/* owned by the handle */
	drain(dev, vector);
	return 0;
}

static void waiter_close(struct waiter *w)
{
	if (w->how == WAIT_READ && w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

static int waiter_wait(struct ivshmem *dev, const struct waiter *w, unsigned int vector,
		       int timeout_ms)
{
	int64_t deadline = tool_now_ms() + timeout_ms;
	struct ivshmem_event ev[16];
	struct ivshmem_irq irq;
	uint64_t count;
	ssize_t n;
	int ret;

	switch (w->how) {
	case WAIT_EVENTFD:
		for (;;) {
			ret = poll_in(w->fd, deadline);
			if (ret < 0)
				return ret;
			n = read(w->fd, &count, sizeof(count));
			if (n == sizeof(count))
				return 0;
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return -errno;
		}
	case WAIT_READ:
		for (;;) {
			ret = poll_in(w->fd, deadline);
			if (ret < 0)
				return ret;
			n = read(w->fd, ev, sizeof(ev));
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n < 0)
				return -errno;
			for (size_t i = 0; i < (size_t)n / sizeof(ev[0]); i++)
				if (ev[i].vector == vector)
					return 0;
		}
	default:
		return ivshmem_wait(dev, &vector, 1, timeout_ms, &irq);
	}
}

/* ------------------------------------------------------------ responder */

static int respond(struct ivshmem *dev, const struct opts *o)
{
	bool can_irq = o->vector < ivshmem_vectors(dev);
	int64_t quiet_since = tool_now_ms();
	uint64_t served = 0, last = 0, peer, known = 0;
	struct waiter w[NR_WAITS];
	unsigned int can = 0;
	int id = ivshmem_id(dev), ret;

	if (id < 0)
		tool_fail("%s: cannot respond: %s", ivshmem_path(dev), ivshmem_strerror(id));
	/* Ready every way now: a ring that comes before an open would be lost. */
	for (unsigned int how = 0; how < NR_WAITS; how++) {
		w[how].how = how;
		w[how].fd = -1;
		if (!can_irq)
			continue;
		ret = waiter_open(dev, how, o->vector, &w[how]);
		if (ret == 0)
			can |= 1u << how;
		else if (how == WAIT_LIB)
			tool_fail("%s: vector %u: %s", ivshmem_path(dev), o->vector,
				  ivshmem_strerror(ret));
	}
	set(SLOT_MAGIC, 0);
	set(SLOT_INITIATOR, 0);
	set(SLOT_CMD, CMD_IDLE);
	set(SLOT_PING, 0);
	set(SLOT_PONG, 0);
	set(SLOT_SERVED, 0);
	set(SLOT_WAIT, WAIT_LIB);
	set(SLOT_CAN_IRQ, can);
	set(SLOT_VECTOR, o->vector);
	set(SLOT_RESPONDER, (uint64_t)id + 1);
	set(SLOT_MAGIC, BENCH_MAGIC);
	fprintf(stderr, "%s: %s: responding as peer %d on vector %u%s\n", tool_name,
		ivshmem_path(dev), id, o->vector, can_irq ? "" : " (busy-poll only)");

	for (;;) {
		uint64_t cmd = get(SLOT_CMD);
		uint64_t how;

		if (tool_now_ms() - quiet_since > (int64_t)o->timeout) {
			set(SLOT_MAGIC, 0);
			tool_fail("%s: no initiator %s within %" PRIu64 " ms", ivshmem_path(dev),
				  served ? "went on" : "came", o->timeout);
		}
		switch (cmd) {
		case CMD_IDLE:
			sleep_us(1000);
			break;
		case CMD_IRQ:
			if (!can_irq) {
				sleep_us(1000);
				break;
			}
			how = get(SLOT_WAIT);
			if (how >= NR_WAITS || !(can & (1u << how)))
				how = WAIT_LIB;
			ret = waiter_wait(dev, &w[how], o->vector, 100);
			if (ret == -ETIMEDOUT)
				break;
			if (ret < 0)
				tool_fail("%s: wait: %s", ivshmem_path(dev), ivshmem_strerror(ret));
			peer = get(SLOT_INITIATOR);
			if (!peer)
				break;
			/*
			 * On the host, the initiator's eventfds come from the
			 * server: take them in, as only the library's wait does.
			 */
			if (peer != known && ivshmem_backend(dev) == IVSHMEM_BACKEND_HOST)
				ivshmem_dispatch(dev);
			known = peer;
			ret = ivshmem_ring(dev, (unsigned int)(peer - 1), o->vector);
			if (ret < 0)
				tool_fail("%s: ring peer %" PRIu64 ": %s", ivshmem_path(dev),
					  peer - 1, ivshmem_strerror(ret));
			set(SLOT_SERVED, ++served);
			quiet_since = tool_now_ms();
			break;
		case CMD_POLL:
			for (unsigned int spins = 0; spins < (1u << 20); spins++) {
				uint64_t p = get(SLOT_PING);

				if (p != last) {
					set(SLOT_PONG, p);
					last = p;
					set(SLOT_SERVED, ++served);
					spins = 0;
					quiet_since = tool_now_ms();
				}
				if ((spins & 1023) == 0 && get(SLOT_CMD) != CMD_POLL)
					break;
			}
			break;
		case CMD_DONE:
			set(SLOT_MAGIC, 0);
			for (unsigned int i = 0; i < NR_WAITS; i++)
				waiter_close(&w[i]);
			if (o->json)
				printf("{\"device\": \"%s\", \"id\": %d, \"served\": %" PRIu64 "}\n",
				       ivshmem_path(dev), id, served);
			else
				printf("served %" PRIu64 " round trips\n", served);
			return 0;
		default:
			set(SLOT_MAGIC, 0);
			tool_fail("%s: the control block at 0x%" PRIx64 " was overwritten",
				  ivshmem_path(dev), o->offset);
		}
	}
}

/* ------------------------------------------------------------ initiator */

static void irq_rounds(struct ivshmem *dev, const struct opts *o, uint64_t warm, uint64_t *lat)
{
	unsigned int peer = (unsigned int)o->peer;
	struct waiter w;
	int ret;

	ret = waiter_open(dev, o->wait, o->vector, &w);
	if (ret < 0)
		tool_fail("%s: vector %u, --wait=%s: %s", ivshmem_path(dev), o->vector,
			  wait_names[o->wait], ivshmem_strerror(ret));
	set(SLOT_WAIT, o->wait);
	set(SLOT_CMD, CMD_IRQ);
	for (uint64_t i = 0; i < warm + o->count; i++) {
		uint64_t t0 = tool_now_ns();

		ret = ivshmem_ring(dev, peer, o->vector);
		if (ret < 0)
			tool_fail("%s: ring peer %u vector %u: %s", ivshmem_path(dev), peer,
				  o->vector, ivshmem_strerror(ret));
		ret = waiter_wait(dev, &w, o->vector, (int)o->timeout);
		if (ret == -ETIMEDOUT)
			tool_fail("%s: peer %u did not ring back on vector %u within %" PRIu64
				  " ms", ivshmem_path(dev), peer, o->vector, o->timeout);
		if (ret < 0)
			tool_fail("%s: wait: %s", ivshmem_path(dev), ivshmem_strerror(ret));
		if (i >= warm)
			lat[i - warm] = tool_now_ns() - t0;
	}
	waiter_close(&w);
}

static void poll_rounds(struct ivshmem *dev, const struct opts *o, uint64_t warm, uint64_t *lat)
{
	uint64_t seq = get(SLOT_PING);

	set(SLOT_CMD, CMD_POLL);
	for (uint64_t i = 0; i < warm + o->count; i++) {
		uint64_t t0 = tool_now_ns();
		unsigned int spins = 0;

		set(SLOT_PING, ++seq);
		while (get(SLOT_PONG) != seq) {
			if (++spins % 4096 == 0 &&
			    tool_now_ns() - t0 > o->timeout * 1000000ull)
				tool_fail("%s: peer %" PRIu64 " did not answer in shared memory "
					  "within %" PRIu64 " ms", ivshmem_path(dev), o->peer,
					  o->timeout);
		}
		if (i >= warm)
			lat[i - warm] = tool_now_ns() - t0;
	}
}

static void initiate(struct ivshmem *dev, const struct opts *o, struct stats *irq,
		     struct stats *poll)
{
	int64_t deadline = tool_now_ms() + (int64_t)o->timeout;
	uint64_t warm = o->count / 10, *lat;
	int id = ivshmem_id(dev);

	if (id < 0)
		tool_fail("%s: %s", ivshmem_path(dev), ivshmem_strerror(id));
	warm = warm < 10 ? 10 : warm > 1000 ? 1000 : warm;
	while (get(SLOT_MAGIC) != BENCH_MAGIC || get(SLOT_RESPONDER) != o->peer + 1) {
		if (tool_now_ms() > deadline)
			tool_fail("%s: peer %" PRIu64 " is not running '%s --respond' (nothing at "
				  "offset 0x%" PRIx64 " within %" PRIu64 " ms)", ivshmem_path(dev),
				  o->peer, tool_name, o->offset, o->timeout);
		sleep_us(1000);
	}
	if (get(SLOT_VECTOR) != o->vector)
		tool_fail("%s: the responder uses vector %" PRIu64 ", not %u", ivshmem_path(dev),
			  get(SLOT_VECTOR), o->vector);
	set(SLOT_INITIATOR, (uint64_t)id + 1);
	lat = calloc(o->count, sizeof(*lat));
	if (!lat)
		tool_fail("out of memory");

	if (!o->irq)
		irq->skipped = "not asked for";
	else if (o->vector >= ivshmem_vectors(dev))
		irq->skipped = "this peer has no such vector";
	else if (o->wait == WAIT_READ && ivshmem_backend(dev) != IVSHMEM_BACKEND_CHAR)
		irq->skipped = "--wait=read needs the ivshmem driver on this peer";
	else if (!(get(SLOT_CAN_IRQ) & (1u << o->wait)))
		irq->skipped = o->wait == WAIT_LIB ? "the responder cannot wait on the vector" :
			"the responder cannot wait that way";
	else {
		irq_rounds(dev, o, warm, lat);
		summarize(irq, lat, o->count);
	}
	if (o->poll) {
		poll_rounds(dev, o, warm, lat);
		summarize(poll, lat, o->count);
	} else {
		poll->skipped = "not asked for";
	}
	set(SLOT_CMD, CMD_DONE);
	/* The responder leaves the block before the memcpy test may overwrite it. */
	deadline = tool_now_ms() + 2000;
	while (get(SLOT_MAGIC) == BENCH_MAGIC && tool_now_ms() < deadline)
		sleep_us(1000);
	free(lat);
}

/* -------------------------------------------------------------- memcpy */

struct rate {
	double p50, p99;	/* MiB/s of the median and of the 99th-percentile slowest copy */
};

struct copy_result {
	uint64_t bytes;
	struct rate to_map, from_map, plain;
	const char *memtype;	/* what the mapping really got */
	const char *skipped;
};

/*
 * The memory type a mapping in @mode gets: a default (or write-back)
 * request gets what the device can give, the others what they ask for or
 * nothing (the driver refuses a silent change, sysfs has its files).
 */
static enum ivshmem_memtype mapped_type(struct ivshmem *dev, enum ivshmem_map_mode mode)
{
	switch (mode) {
	case IVSHMEM_MAP_WC:
		return IVSHMEM_MEM_WC;
	case IVSHMEM_MAP_UC:
		return IVSHMEM_MEM_UC_MINUS;
	default:
		return ivshmem_memtype(dev);
	}
}

static void throughput(void *dst, const void *src, size_t len, uint64_t reps, uint64_t *t,
		       struct rate *r)
{
	double mib = (double)len / (1024.0 * 1024.0);

	memcpy(dst, src, len);	/* warm-up, and fault the pages in */
	for (uint64_t i = 0; i < reps; i++) {
		uint64_t t0 = tool_now_ns();

		memcpy(dst, src, len);
		__asm__ __volatile__("" : : "r"(dst) : "memory");
		t[i] = tool_now_ns() - t0;
		if (!t[i])
			t[i] = 1;
	}
	tool_sort_u64(t, reps);
	r->p50 = mib / ((double)tool_percentile(t, reps, 50) / 1e9);
	r->p99 = mib / ((double)tool_percentile(t, reps, 99) / 1e9);
}

static void copy_test(struct ivshmem *dev, const struct opts *o, uint64_t start,
		      struct copy_result *r)
{
	uint64_t size = ivshmem_size(dev), *t;
	struct ivshmem_region region;
	size_t len;
	char *a, *b;
	void *map;
	int ret;

	/* A region header and its presence table are not ours to overwrite. */
	if (ivshmem_region_info(dev, &region) == 0)
		size = region.header_offset;
	if (start >= size) {
		r->skipped = "no room in the shared memory after the control block";
		return;
	}
	len = (size_t)(o->size < size - start ? o->size : size - start);
	r->bytes = len;
	r->memtype = ivshmem_memtype_name(mapped_type(dev, o->mode));
	ret = ivshmem_map(dev, start, len, o->mode, &map);
	if (ret < 0)
		tool_fail("%s: map %zu bytes at 0x%" PRIx64 ": %s", ivshmem_path(dev), len, start,
			  ivshmem_strerror(ret));
	a = malloc(len);
	b = malloc(len);
	t = calloc(o->reps, sizeof(*t));
	if (!a || !b || !t)
		tool_fail("out of memory");
	for (size_t i = 0; i < len; i++)
		a[i] = (char)(i * 7);
	memset(b, 0, len);
	throughput(map, a, len, o->reps, t, &r->to_map);
	throughput(b, map, len, o->reps, t, &r->from_map);
	throughput(b, a, len, o->reps, t, &r->plain);
	free(t);
	free(a);
	free(b);
	ivshmem_unmap(map, len);
}

/* -------------------------------------------------------------- output */

static void print_stats_json(const char *name, const struct stats *s)
{
	if (s->done)
		printf(", \"%s\": {\"min_us\": %.3f, \"p50_us\": %.3f, \"p99_us\": %.3f, "
		       "\"max_us\": %.3f}", name, s->min, s->p50, s->p99, s->max);
	else if (s->skipped)
		printf(", \"%s\": null, \"%s_skipped\": \"%s\"", name, name, s->skipped);
}

static void print_stats(const char *name, const struct stats *s)
{
	if (s->done)
		printf("  %-10s min %9.1f us   p50 %9.1f us   p99 %9.1f us   max %9.1f us\n", name,
		       s->min, s->p50, s->p99, s->max);
	else if (s->skipped)
		printf("  %-10s skipped: %s\n", name, s->skipped);
}

static void print_rate_json(const char *name, const struct rate *r)
{
	printf(", \"%s_mib_s\": %.1f, \"%s_p99_mib_s\": %.1f", name, r->p50, name, r->p99);
}

static void report(struct ivshmem *dev, const struct opts *o, const struct stats *irq,
		   const struct stats *poll, const struct copy_result *cp)
{
	char size[32];

	if (o->json) {
		printf("{\"device\": \"%s\", \"backend\": \"%s\"", ivshmem_path(dev),
		       ivshmem_backend_name(ivshmem_backend(dev)));
		if (ivshmem_id(dev) >= 0)
			printf(", \"id\": %d", ivshmem_id(dev));
		if (o->peer != UINT64_MAX) {
			printf(", \"peer\": %" PRIu64 ", \"vector\": %u, \"wait\": \"%s\", "
			       "\"round_trips\": %" PRIu64, o->peer, o->vector, wait_names[o->wait],
			       o->count);
			print_stats_json("interrupt", irq);
			print_stats_json("busy_poll", poll);
		}
		if (o->memcpy && !cp->skipped) {
			printf(", \"memcpy\": {\"bytes\": %" PRIu64 ", \"reps\": %" PRIu64
			       ", \"cache\": \"%s\", \"memtype\": \"%s\"", cp->bytes, o->reps,
			       mode_names[o->mode], cp->memtype);
			print_rate_json("to_mapping", &cp->to_map);
			print_rate_json("from_mapping", &cp->from_map);
			print_rate_json("plain", &cp->plain);
			printf("}");
		} else if (o->memcpy) {
			printf(", \"memcpy\": null, \"memcpy_skipped\": \"%s\"", cp->skipped);
		}
		printf("}\n");
		return;
	}
	if (o->peer != UINT64_MAX) {
		printf("round trips with peer %" PRIu64 " (%" PRIu64 " each, vector %u, wait %s):\n",
		       o->peer, o->count, o->vector, wait_names[o->wait]);
		print_stats("interrupt", irq);
		print_stats("busy-poll", poll);
	}
	if (o->memcpy && cp->skipped) {
		printf("memcpy: skipped: %s\n", cp->skipped);
	} else if (o->memcpy) {
		/* The plain buffer is anonymous memory: write-back. */
		printf("memcpy, %s, %" PRIu64 " copies each (median, 99th percentile, "
		       "memory type):\n", tool_human_size(cp->bytes, size, sizeof(size)), o->reps);
		printf("  to the mapping    %10.1f MiB/s  %10.1f MiB/s  %s\n", cp->to_map.p50,
		       cp->to_map.p99, cp->memtype);
		printf("  from the mapping  %10.1f MiB/s  %10.1f MiB/s  %s\n", cp->from_map.p50,
		       cp->from_map.p99, cp->memtype);
		printf("  plain buffer      %10.1f MiB/s  %10.1f MiB/s  %s\n", cp->plain.p50,
		       cp->plain.p99, ivshmem_memtype_name(IVSHMEM_MEM_WB));
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "respond", no_argument, NULL, 'R' },
		{ "peer", required_argument, NULL, 'p' },
		{ "vector", required_argument, NULL, 'v' },
		{ "count", required_argument, NULL, 'n' },
		{ "wait", required_argument, NULL, 'w' },
		{ "no-irq", no_argument, NULL, 'I' },
		{ "no-poll", no_argument, NULL, 'P' },
		{ "offset", required_argument, NULL, 'o' },
		{ "size", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "no-memcpy", no_argument, NULL, 'M' },
		{ "cache", required_argument, NULL, 'C' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "device", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = {
		.memcpy = true, .irq = true, .poll = true, .peer = UINT64_MAX, .count = 1000,
		.size = 16 << 20, .reps = 10, .timeout = 30000, .mode = IVSHMEM_MAP_DEFAULT,
	};
	struct stats irq = { 0 }, poll = { 0 };
	struct copy_result cp = { 0 };
	const char *device = NULL;
	struct ivshmem *dev;
	uint64_t start;
	void *map = NULL;
	int c, ret;

	tool_init(argc, argv);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":Rp:v:n:w:o:s:r:t:c:jd:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'R':
			o.respond = true;
			break;
		case 'p':
			o.peer = tool_number("--peer", optarg, IVSHMEM_MAX_PEER, false);
			break;
		case 'v':
			o.vector = (unsigned int)tool_number("--vector", optarg, IVSHMEM_MAX_VECTOR,
							     false);
			break;
		case 'n':
			o.count = tool_number("--count", optarg, 10000000, false);
			if (!o.count)
				tool_usage("--count: must be at least 1");
			break;
		case 'w':
			for (o.wait = 0; o.wait < NR_WAITS; o.wait++)
				if (!strcmp(optarg, wait_names[o.wait]))
					break;
			if (o.wait == NR_WAITS)
				tool_usage("--wait: '%s' is not library, eventfd or read", optarg);
			break;
		case 'I':
			o.irq = false;
			break;
		case 'P':
			o.poll = false;
			break;
		case 'o':
			o.offset = tool_number("--offset", optarg, INT64_MAX, true);
			if (o.offset % CTL_LINE)
				tool_usage("--offset: must be a multiple of %d", CTL_LINE);
			break;
		case 's':
			o.size = tool_number("--size", optarg, 1ull << 40, true);
			if (!o.size)
				tool_usage("--size: must be at least 1");
			break;
		case 'r':
			o.reps = tool_number("--reps", optarg, 1000000, false);
			if (!o.reps)
				tool_usage("--reps: must be at least 1");
			break;
		case 't':
			o.timeout = tool_number("--timeout", optarg, INT32_MAX, false);
			break;
		case 'M':
			o.memcpy = false;
			break;
		case 'C':
			o.mode = tool_map_mode(optarg);
			break;
		case 'c':
			tool_pin_cpu((int)tool_number("--cpu", optarg, CPU_SETSIZE - 1, false));
			break;
		case 'j':
			o.json = true;
			break;
		default:
			tool_option(c, argv, help, &device, NULL);
		}
	}
	device = tool_device_arg(device, argc, argv, optind);
	if (o.respond && o.peer != UINT64_MAX)
		tool_usage("--respond and --peer do not go together");

	dev = tool_open(device);
	tool_catch_sigbus(ivshmem_path(dev));
	start = o.offset;
	if (o.respond || o.peer != UINT64_MAX) {
		if (o.offset > ivshmem_size(dev) - NR_SLOTS * CTL_LINE)
			tool_fail("%s: --offset 0x%" PRIx64 " leaves no room for the control block",
				  ivshmem_path(dev), o.offset);
		ret = ivshmem_map(dev, o.offset, NR_SLOTS * CTL_LINE, o.mode, &map);
		if (ret < 0)
			tool_fail("%s: map: %s", ivshmem_path(dev), ivshmem_strerror(ret));
		ctl = map;
		start = o.offset + CTL_SIZE;
	}
	if (o.respond) {
		ret = respond(dev, &o);
	} else {
		if (o.peer != UINT64_MAX)
			initiate(dev, &o, &irq, &poll);
		if (o.memcpy)
			copy_test(dev, &o, start, &cp);
		report(dev, &o, &irq, &poll, &cp);
		ret = 0;
	}
	if (map)
		ivshmem_unmap(map, NR_SLOTS * CTL_LINE);
	ivshmem_close(dev);
	return ret;
}
