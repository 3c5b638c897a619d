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
 *   - busy-poll round trip: the initiator writes a sequence number into
 *     one cache line, the responder spins on it and copies it into
 *     another, on which the initiator spins.
 *
 * Each field of the block has its own cache line so that the two sides
 * do not write the same line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
	NR_SLOTS
};

enum { CMD_IDLE, CMD_IRQ, CMD_POLL, CMD_DONE };

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
	       "Round-trip latency between two peers (doorbell interrupts, and busy\n"
	       "polling on shared memory), and memcpy throughput on the mapping against\n"
	       "a plain buffer.  Run --respond on one peer first, then --peer with its\n"
	       "ID on the other; without either, only memcpy is measured.\n"
	       "\n"
	       "  -R, --respond         answer round trips until the other side is done\n"
	       "  -p, --peer=ID         measure round trips with the responder ID\n"
	       "  -v, --vector=V        vector both sides use (default 0)\n"
	       "  -n, --count=N         round trips per test (default 1000)\n"
	       "  -o, --offset=O        control block in the shared memory; the memory\n"
	       "                        from O on is overwritten (default 0)\n"
	       "  -s, --size=S          memcpy size (default 16M, at most what fits)\n"
	       "  -t, --timeout=MS      wait at most MS for the other side (default 30000)\n"
	       "      --no-memcpy       skip the memcpy test\n"
	       "      --cache=MODE      map default, wb, wc or uc\n"
	       "  -j, --json            print the results as JSON\n"
	       "  -d, --device=DEVICE   /dev/ivshmemN, an index N, a PCI address,\n"
	       "                        /dev/uioN or unix:/path/to/server.sock\n"
	       "                        (default: $IVSHMEM_DEVICE, else the first device)\n"
	       "  -h, --help            show this help\n"
	       "\n"
	       "Exit status: 0 success, 1 failure, 2 bad usage.\n",
	       tool_name, tool_name, tool_name);
}

struct opts {
	bool respond, json, memcpy;
	uint64_t peer;		/* UINT64_MAX: none */
	unsigned int vector;
	uint64_t count, offset, size, timeout;
	enum ivshmem_map_mode mode;
};

struct stats {
	bool done;
	const char *skipped;	/* why not measured */
	double min, p50, p99, max;	/* microseconds */
};

static void sleep_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted @v. */
static double pct(const uint64_t *v, uint64_t n, unsigned int p)
{
	uint64_t rank = (n * p + 99) / 100;

	return (double)v[rank ? rank - 1 : 0] / 1000.0;
}

static void summarize(struct stats *s, uint64_t *lat, uint64_t n)
{
	qsort(lat, n, sizeof(*lat), cmp_u64);
	s->done = true;
	s->min = (double)lat[0] / 1000.0;
	s->p50 = pct(lat, n, 50);
	s->p99 = pct(lat, n, 99);
	s->max = (double)lat[n - 1] / 1000.0;
}

static void drain(struct ivshmem *dev, unsigned int vector)
{
	while (ivshmem_vector_ack(dev, vector, NULL) == 0)
		;
}

/* ------------------------------------------------------------ responder */

static int respond(struct ivshmem *dev, const struct opts *o)
{
	bool can_irq = o->vector < ivshmem_vectors(dev);
	int64_t quiet_since = tool_now_ms();
	uint64_t served = 0, last = 0, peer;
	int id = ivshmem_id(dev), ret;

	if (id < 0)
		tool_fail("%s: cannot respond: %s", ivshmem_path(dev), ivshmem_strerror(id));
	if (can_irq) {
		ret = ivshmem_vector_fd(dev, o->vector);
		if (ret < 0)
			tool_fail("%s: vector %u: %s", ivshmem_path(dev), o->vector,
				  ivshmem_strerror(ret));
		drain(dev, o->vector);
	}
	set(SLOT_MAGIC, 0);
	set(SLOT_INITIATOR, 0);
	set(SLOT_CMD, CMD_IDLE);
	set(SLOT_PING, 0);
	set(SLOT_PONG, 0);
	set(SLOT_SERVED, 0);
	set(SLOT_CAN_IRQ, can_irq);
	set(SLOT_VECTOR, o->vector);
	set(SLOT_RESPONDER, (uint64_t)id + 1);
	set(SLOT_MAGIC, BENCH_MAGIC);
	fprintf(stderr, "%s: %s: responding as peer %d on vector %u%s\n", tool_name,
		ivshmem_path(dev), id, o->vector, can_irq ? "" : " (busy-poll only)");

	for (;;) {
		uint64_t cmd = get(SLOT_CMD);
		struct ivshmem_irq ev;

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
			ret = ivshmem_wait(dev, &o->vector, 1, 100, &ev);
			if (ret == -ETIMEDOUT)
				break;
			if (ret < 0)
				tool_fail("%s: wait: %s", ivshmem_path(dev), ivshmem_strerror(ret));
			peer = get(SLOT_INITIATOR);
			if (!peer)
				break;
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
	int ret;

	ret = ivshmem_vector_fd(dev, o->vector);
	if (ret < 0)
		tool_fail("%s: vector %u: %s", ivshmem_path(dev), o->vector, ivshmem_strerror(ret));
	drain(dev, o->vector);
	set(SLOT_CMD, CMD_IRQ);
	for (uint64_t i = 0; i < warm + o->count; i++) {
		struct ivshmem_irq ev;
		uint64_t t0 = tool_now_ns();

		ret = ivshmem_ring(dev, peer, o->vector);
		if (ret < 0)
			tool_fail("%s: ring peer %u vector %u: %s", ivshmem_path(dev), peer,
				  o->vector, ivshmem_strerror(ret));
		ret = ivshmem_wait(dev, &o->vector, 1, (int)o->timeout, &ev);
		if (ret == -ETIMEDOUT)
			tool_fail("%s: peer %u did not ring back on vector %u within %" PRIu64
				  " ms", ivshmem_path(dev), peer, o->vector, o->timeout);
		if (ret < 0)
			tool_fail("%s: wait: %s", ivshmem_path(dev), ivshmem_strerror(ret));
		if (i >= warm)
			lat[i - warm] = tool_now_ns() - t0;
	}
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

	if (o->vector >= ivshmem_vectors(dev))
		irq->skipped = "this peer has no such vector";
	else if (!get(SLOT_CAN_IRQ))
		irq->skipped = "the responder cannot wait on the vector";
	else {
		irq_rounds(dev, o, warm, lat);
		summarize(irq, lat, o->count);
	}
	poll_rounds(dev, o, warm, lat);
	summarize(poll, lat, o->count);
	set(SLOT_CMD, CMD_DONE);
	/* The responder leaves the block before the memcpy test may overwrite it. */
	deadline = tool_now_ms() + 2000;
	while (get(SLOT_MAGIC) == BENCH_MAGIC && tool_now_ms() < deadline)
		sleep_us(1000);
	free(lat);
}

/* -------------------------------------------------------------- memcpy */

struct copy_result {
	uint64_t bytes;
	double to_map, from_map, plain;	/* MiB/s */
	const char *skipped;
};

static double throughput(void *dst, const void *src, size_t len)
{
	uint64_t t0, elapsed, reps = 0;

	memcpy(dst, src, len);	/* fault the pages in first */
	t0 = tool_now_ns();
	do {
		memcpy(dst, src, len);
		__asm__ __volatile__("" : : "r"(dst) : "memory");
		reps++;
		elapsed = tool_now_ns() - t0;
	} while (reps < 3 || elapsed < 200000000ull);
	return (double)len * (double)reps / (1024.0 * 1024.0) / ((double)elapsed / 1e9);
}

static void copy_test(struct ivshmem *dev, const struct opts *o, uint64_t start,
		      struct copy_result *r)
{
	uint64_t size = ivshmem_size(dev);
	size_t len;
	char *a, *b;
	void *map;
	int ret;

	if (start >= size) {
		r->skipped = "no room in the shared memory after the control block";
		return;
	}
	len = (size_t)(o->size < size - start ? o->size : size - start);
	r->bytes = len;
	ret = ivshmem_map(dev, start, len, o->mode, &map);
	if (ret < 0)
		tool_fail("%s: map %zu bytes at 0x%" PRIx64 ": %s", ivshmem_path(dev), len, start,
			  ivshmem_strerror(ret));
	a = malloc(len);
	b = malloc(len);
	if (!a || !b)
		tool_fail("out of memory");
	for (size_t i = 0; i < len; i++)
		a[i] = (char)(i * 7);
	memset(b, 0, len);
	r->to_map = throughput(map, a, len);
	r->from_map = throughput(b, map, len);
	r->plain = throughput(b, a, len);
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

static void report(struct ivshmem *dev, const struct opts *o, const struct stats *irq,
		   const struct stats *poll, const struct copy_result *cp)
{
	char size[32];

	if (o->json) {
		printf("{\"device\": \"%s\"", ivshmem_path(dev));
		if (ivshmem_id(dev) >= 0)
			printf(", \"id\": %d", ivshmem_id(dev));
		if (o->peer != UINT64_MAX) {
			printf(", \"peer\": %" PRIu64 ", \"vector\": %u, \"round_trips\": %" PRIu64,
			       o->peer, o->vector, o->count);
			print_stats_json("interrupt", irq);
			print_stats_json("busy_poll", poll);
		}
		if (o->memcpy && !cp->skipped)
			printf(", \"memcpy\": {\"bytes\": %" PRIu64 ", \"to_mapping_mib_s\": %.1f, "
			       "\"from_mapping_mib_s\": %.1f, \"plain_mib_s\": %.1f}", cp->bytes,
			       cp->to_map, cp->from_map, cp->plain);
		else if (o->memcpy)
			printf(", \"memcpy\": null, \"memcpy_skipped\": \"%s\"", cp->skipped);
		printf("}\n");
		return;
	}
	if (o->peer != UINT64_MAX) {
		printf("round trips with peer %" PRIu64 " (%" PRIu64 " each, vector %u):\n",
		       o->peer, o->count, o->vector);
		print_stats("interrupt", irq);
		print_stats("busy-poll", poll);
	}
	if (o->memcpy && cp->skipped) {
		printf("memcpy: skipped: %s\n", cp->skipped);
	} else if (o->memcpy) {
		printf("memcpy, %s:\n", tool_human_size(cp->bytes, size, sizeof(size)));
		printf("  to the mapping    %10.1f MiB/s\n", cp->to_map);
		printf("  from the mapping  %10.1f MiB/s\n", cp->from_map);
		printf("  plain buffer      %10.1f MiB/s\n", cp->plain);
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "respond", no_argument, NULL, 'R' },
		{ "peer", required_argument, NULL, 'p' },
		{ "vector", required_argument, NULL, 'v' },
		{ "count", required_argument, NULL, 'n' },
		{ "offset", required_argument, NULL, 'o' },
		{ "size", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "no-memcpy", no_argument, NULL, 'M' },
		{ "cache", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ "device", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = {
		.memcpy = true, .peer = UINT64_MAX, .count = 1000, .size = 16 << 20,
		.timeout = 30000, .mode = IVSHMEM_MAP_DEFAULT,
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
	while ((c = getopt_long(argc, argv, ":Rp:v:n:o:s:t:jd:h", longopts, NULL)) != -1) {
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
		case 't':
			o.timeout = tool_number("--timeout", optarg, INT32_MAX, false);
			break;
		case 'M':
			o.memcpy = false;
			break;
		case 'C':
			o.mode = tool_map_mode(optarg);
			break;
		case 'j':
			o.json = true;
			break;
		case 'd':
			device = optarg;
			break;
		case 'h':
			help();
			return 0;
		default:
			tool_bad_option(c, argv, optind);
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
