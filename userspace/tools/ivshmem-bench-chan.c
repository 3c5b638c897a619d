// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ivshmem-bench-chan - the channel rows of make bench: a channel between
 * two host processes, each a peer of a running ivshmem-server through the
 * library's host backend, against what a program would use otherwise
 *
 *   throughput --kind chan|chan-zc|socketpair|pipe|memcpy|ring --msg BYTES
 *       messages of BYTES one way, as fast as they go, for --seconds:
 *       through a channel, with ivshmem_chan_send() and ivshmem_chan_recv()
 *       (chan: the bytes copied into the ring and out again) or zero copy
 *       (chan-zc: the sender copies its message into room it reserved, the
 *       receiver checks it where it lies with ivshmem_chan_peek() and
 *       releases it: the bytes copied once); through a UNIX SOCK_STREAM
 *       socketpair or a pipe (one write() per message, reads until the
 *       message is whole); through a
 *       bare ring of four slots in shared memory, both sides spinning, no
 *       library (what moving the bytes between the two CPUs costs at
 *       best); or a memcpy() of BYTES between two buffers in one process.
 *       The receiver notes the time at the end of every batch of
 *       --batch-bytes; a batch's throughput is its bytes over the time
 *       since the previous batch ended, the first batch being a warm-up.
 *   rtt --kind chan-sleep|chan-spin|doorbell|doorbell-wait
 *       round trips of a 64-byte message through a channel whose two
 *       sides sleep at once (IVSHMEM_CHAN_NO_SPIN) or spin first (the
 *       default spin), or of a bare doorbell: ivshmem_ring() the peer's
 *       vector, which waits in poll() on its eventfd and rings back; or
 *       waits in ivshmem_wait() (doorbell-wait), as a channel does
 *
 * The first process sends (or starts the round trips) on the first CPU of
 * --cpus, the second receives (or answers) on the second.  The channel is
 * at the start of the server's memory, --chan-size bytes, cleared before
 * each run.  Prints one JSON object.
 *
 * With --side, this process is one side only, the other being another
 * process, typically in another guest (the guest rows of make bench):
 *
 *   throughput --side send|recv --kind chan|tcp
 *   rtt --side start|answer --kind chan-sleep|chan-spin|tcp
 *
 * through a channel at the start of --device's memory (a guest's
 * /dev/ivshmemN, or unix:SOCKET) to peer --peer, or through a TCP
 * connection (--listen on one side, --connect on the other).  Both carry
 * the same messages with the same checks.  The receiver of a throughput
 * and the side that starts the round trips print the JSON object; the
 * side started first says "ready" on stderr once the other may start.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-common.h"
#include "common.h"

#define RTT_MSG		64
#define OPT_CLEAR	0x100
#define TIMEOUT_MS	30000

struct opts {
	const char *cmd, *kind, *socket;
	uint64_t msg, batch_bytes, batches, count, chan_size, spin_us;
	double seconds;
	int cpu[2];
	/* one side only (--side) */
	const char *side, *device, *listen, *connect;
	unsigned int peer, vector;
	bool have_peer, nodelay, clear;
};

static void help(void)
{
	printf("Usage: %s throughput --kind chan|chan-zc|socketpair|pipe|memcpy|ring\n"
	       "           --msg BYTES [options]\n"
	       "       %s rtt --kind chan-sleep|chan-spin|doorbell|doorbell-wait [options]\n"
	       "Channel benchmarks of make bench between two host processes; prints one\n"
	       "JSON object.\n"
	       "\n"
	       "  -S, --socket=PATH      the ivshmem-server's socket (chan, doorbell)\n"
	       "  -k, --kind=KIND        what carries the messages\n"
	       "  -m, --msg=BYTES        message size (throughput; K/M suffixes)\n"
	       "  -B, --batch-bytes=N    bytes per timed batch (default 16M, at least one\n"
	       "                         message)\n"
	       "  -b, --batches=N        timed batches at least (default 5), after one\n"
	       "                         untimed\n"
	       "  -T, --seconds=S        send for S seconds at least (default 1)\n"
	       "  -n, --count=N          round trips (default 10000)\n"
	       "  -s, --chan-size=BYTES  the channel's memory (default 8200K: rings that\n"
	       "                         carry 1 MiB messages)\n"
	       "  -u, --spin-us=US       the channel's spin_us (default 0: the library's)\n"
	       "  -c, --cpus=A,B         CPUs of the two processes (default: not pinned)\n"
	       "\n"
	       "One side only, the other being another process or guest:\n"
	       "  -x, --side=SIDE        send or recv (throughput), start or answer (rtt);\n"
	       "                         --kind chan or tcp (rtt: chan-sleep, chan-spin,\n"
	       "                         tcp); the JSON comes from recv and start\n"
	       "  -d, --device=DEV       the channel's device: /dev/ivshmemN, unix:SOCKET\n"
	       "  -p, --peer=ID          the other side's peer ID (chan)\n"
	       "  -v, --vector=N         own and peer's vector of the channel (default 0)\n"
	       "      --clear            clear the channel's memory first (the side\n"
	       "                         started first)\n"
	       "  -l, --listen=[IP:]PORT accept one TCP connection (tcp)\n"
	       "  -C, --connect=IP:PORT  connect over TCP, retrying for 30 s (tcp)\n"
	       "  -N, --nodelay          set TCP_NODELAY (tcp)\n"
	       "  -h, --help             show this help\n"
	       "\n"
	       "Exit status: 0 success, 1 failure, 2 bad usage.\n",
	       tool_name, tool_name);
}


/* ------------------------------------------------------- the processes */



/* Whole buffers over a stream (the control socket, a socketpair, a pipe). */
static int put_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int get_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void ctl_put(int fd, const void *buf, size_t len)
{
	int ret = put_all(fd, buf, len);

	if (ret < 0)
		tool_fail("control socket: write: %s", strerror(-ret));
}

static void ctl_get(int fd, void *buf, size_t len)
{
	int ret = get_all(fd, buf, len);

	if (ret < 0)
		tool_fail("control socket: read: %s", strerror(-ret));
}

/* ------------------------------------------------------- the host peers */

struct peer {
	struct ivshmem *dev;
	unsigned int other;
	struct ivshmem_chan *ch;
};

/* Until the server has told this handle of @id. */
static void await_peer(struct ivshmem *dev, unsigned int id)
{
	int64_t end = tool_now_ms() + TIMEOUT_MS;

	for (;;) {
		unsigned int ids[64];
		int n, ret;
		struct pollfd pfd;

		ret = ivshmem_dispatch(dev);
		if (ret < 0)
			tool_fail("%s: taking in the server's messages: %s", ivshmem_path(dev),
				  ivshmem_strerror(ret));
		n = ivshmem_peers(dev, ids, 64);
		if (n < 0)
			tool_fail("%s: listing the peers: %s", ivshmem_path(dev),
				  ivshmem_strerror(n));
		for (int i = 0; i < n && i < 64; i++)
			if (ids[i] == id)
				return;
		if (tool_now_ms() > end)
			tool_fail("%s: peer %u never came", ivshmem_path(dev), id);
		pfd.fd = ivshmem_fd(dev);
		pfd.events = POLLIN;
		if (pfd.fd >= 0)
			poll(&pfd, 1, 10);
	}
}

/*
 * Connect to the server and learn the other process's peer ID over @ctl;
 * the first process clears the channel's memory before it says its own.
 */
static void peer_connect(struct peer *p, const struct opts *o, int ctl, bool first)
{
	char spec[4096];
	int id, ret, other;

	snprintf(spec, sizeof(spec), "unix:%s", o->socket);
	ret = ivshmem_open(spec, &p->dev);
	if (ret < 0)
		tool_fail("%s: %s", spec, ivshmem_strerror(ret));
	id = ivshmem_id(p->dev);
	if (id < 0)
		tool_fail("%s: own peer ID: %s", spec, ivshmem_strerror(id));
	if (first) {
		void *map;

		if (o->chan_size > ivshmem_size(p->dev))
			tool_fail("%s: a channel of %" PRIu64 " bytes does not fit %" PRIu64,
				  spec, o->chan_size, ivshmem_size(p->dev));
		/* What an earlier run left there would be a restart to sort out. */
		ret = ivshmem_map(p->dev, 0, o->chan_size, IVSHMEM_MAP_DEFAULT, &map);
		if (ret < 0)
			tool_fail("%s: mapping the channel: %s", spec, ivshmem_strerror(ret));
		memset(map, 0, o->chan_size);
		ivshmem_unmap(map, o->chan_size);
	}
	ctl_put(ctl, &id, sizeof(id));
	ctl_get(ctl, &other, sizeof(other));
	if (other < 0 || other > IVSHMEM_MAX_PEER || other == id)
		tool_fail("the other process says it is peer %d", other);
	p->other = (unsigned int)other;
	await_peer(p->dev, p->other);
}

static void peer_chan(struct peer *p, const struct opts *o, unsigned int flags)
{
	struct ivshmem_chan_config cfg = {
		.offset = 0, .size = o->chan_size, .peer = p->other, .flags = flags,
		.spin_us = (unsigned int)o->spin_us,
	};
	int ret = ivshmem_chan_open(p->dev, &cfg, &p->ch);

	if (ret < 0)
		tool_fail("%s: opening a channel of %" PRIu64 " bytes to peer %u: %s",
			  ivshmem_path(p->dev), o->chan_size, p->other, ivshmem_strerror(ret));
	if (o->cmd[0] == 't' && ivshmem_chan_max_msg(p->ch) < o->msg)
		tool_fail("messages of %" PRIu64 " bytes need a larger channel than %" PRIu64
			  " bytes (--chan-size)", o->msg, o->chan_size);
}

static void peer_close(struct peer *p)
{
	ivshmem_chan_close(p->ch);
	ivshmem_close(p->dev);
}

static void chan_put(struct peer *p, const void *buf, size_t len)
{
	int ret = ivshmem_chan_send(p->ch, buf, len, TIMEOUT_MS);

	if (ret < 0)
		tool_fail("channel: sending %zu bytes: %s", len, ivshmem_strerror(ret));
}

static void chan_get(struct peer *p, void *buf, size_t len)
{
	ssize_t n = ivshmem_chan_recv(p->ch, buf, len, TIMEOUT_MS);

	if (n < 0)
		tool_fail("channel: receiving: %s", ivshmem_strerror((int)n));
	if ((size_t)n != len)
		tool_fail("channel: received %zd bytes, not %zu", n, len);
}

/* ---------------------------------------------------------- throughput */

/*
 * One side of a stream of messages: a channel, or a descriptor
 * (socketpair, pipe).  Each message carries its number in its first
 * bytes, so that the receiver checks that none is lost or reordered; the
 * end is an empty message (channel) or the end of file.
 */
struct flow {
	struct peer *p;		/* a channel, or NULL */
	bool zero_copy;		/* the channel's in-place calls */
	int fd;
	size_t msg;
};

/* The message copied once, into room reserved in the ring. */
static void chan_put_in_place(struct peer *p, const void *buf, size_t len)
{
	void *room;
	int ret = ivshmem_chan_reserve(p->ch, len, &room, TIMEOUT_MS);

	if (ret == 0) {
		memcpy(room, buf, len);
		ret = ivshmem_chan_commit(p->ch, len);
	}
	if (ret < 0)
		tool_fail("channel: sending %zu bytes in place: %s", len, ivshmem_strerror(ret));
}

/*
 * The next message where it lies: its number copied out and checked, the
 * rest left in place (what a zero-copy receiver does without copying).
 */
static ssize_t chan_get_in_place(struct peer *p, unsigned char *buf, size_t len)
{
	const void *msg;
	ssize_t n = ivshmem_chan_peek(p->ch, &msg, TIMEOUT_MS);
	int ret;

	if (n < 0)
		tool_fail("channel: peeking: %s", ivshmem_strerror((int)n));
	if ((size_t)n <= len)
		memcpy(buf, msg, (size_t)n < sizeof(uint64_t) ? (size_t)n : sizeof(uint64_t));
	ret = ivshmem_chan_release(p->ch);
	if (ret < 0)
		tool_fail("channel: releasing a message: %s", ivshmem_strerror(ret));
	return n;
}

static void flow_send(struct flow *f, unsigned char *buf, uint64_t seq)
{
	int ret;

	memcpy(buf, &seq, f->msg < sizeof(seq) ? f->msg : sizeof(seq));
	if (f->p && f->zero_copy) {
		chan_put_in_place(f->p, buf, f->msg);
		return;
	}
	if (f->p) {
		chan_put(f->p, buf, f->msg);
		return;
	}
	ret = put_all(f->fd, buf, f->msg);
	if (ret < 0)
		tool_fail("sending %zu bytes: %s", f->msg, strerror(-ret));
}

static void flow_end(struct flow *f)
{
	if (f->p)
		chan_put(f->p, NULL, 0);
	else
		close(f->fd);
}

/* Message @seq, or false at the end. */
static bool flow_recv(struct flow *f, unsigned char *buf, uint64_t seq)
{
	uint64_t got = 0;
	ssize_t n;

	if (f->p) {
		n = f->zero_copy ? chan_get_in_place(f->p, buf, f->msg) :
		    ivshmem_chan_recv(f->p->ch, buf, f->msg, TIMEOUT_MS);
		if (n < 0)
			tool_fail("channel: receiving: %s", ivshmem_strerror((int)n));
		if (n == 0)
			return false;
		if ((size_t)n != f->msg)
			tool_fail("channel: received %zd bytes, not %zu", n, f->msg);
	} else {
		int ret;

		/* The first read says whether the end came: at a message's start only. */
		do {
			n = read(f->fd, buf, f->msg);
		} while (n < 0 && errno == EINTR);
		if (n < 0)
			tool_fail("receiving %zu bytes: %s", f->msg, strerror(errno));
		if (n == 0)
			return false;
		ret = get_all(f->fd, buf + n, f->msg - (size_t)n);
		if (ret < 0)
			tool_fail("receiving %zu bytes: %s", f->msg, strerror(-ret));
	}
	memcpy(&got, buf, f->msg < sizeof(got) ? f->msg : sizeof(got));
	if (f->msg >= sizeof(got) && got != seq)
		tool_fail("message %" PRIu64 " came as %" PRIu64, seq, got);
	return true;
}

/*
 * The times the batches ended, from the end of the warm-up on: @n + 1 of
 * them for @n timed batches.
 */
struct ends {
	uint64_t *t;
	uint64_t n, room;
	uint64_t sleeps[2];	/* voluntary context switches: sender, receiver */
};

static uint64_t voluntary_switches(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		tool_fail("getrusage: %s", strerror(errno));
	return (uint64_t)ru.ru_nvcsw;
}

/* The receiver's part: the batch ends and its sleeps, over @ctl. */
static void ends_put(int ctl, const struct ends *e, uint64_t sleeps)
{
	ctl_put(ctl, &e->n, sizeof(e->n));
	ctl_put(ctl, e->t, e->n * sizeof(*e->t));
	ctl_put(ctl, &sleeps, sizeof(sleeps));
}

static void ends_get(int ctl, struct ends *e)
{
	ctl_get(ctl, &e->n, sizeof(e->n));
	e->t = calloc(e->n ? e->n : 1, sizeof(*e->t));
	if (!e->t)
		tool_fail("out of memory");
	ctl_get(ctl, e->t, e->n * sizeof(*e->t));
	ctl_get(ctl, &e->sleeps[1], sizeof(e->sleeps[1]));
}

static void ends_add(struct ends *e, uint64_t t)
{
	if (e->n == e->room) {
		e->room = e->room ? e->room * 2 : 1024;
		e->t = realloc(e->t, e->room * sizeof(*e->t));
		if (!e->t)
			tool_fail("out of memory");
	}
	e->t[e->n++] = t;
}

/* Whether the sender may stop after @batches batches, started at @t0. */
static bool enough(const struct opts *o, uint64_t batches, uint64_t warm, uint64_t t0)
{
	return batches >= warm + o->batches &&
	       tool_now_ns() - t0 >= (uint64_t)(o->seconds * 1e9);
}

/* Batch throughputs in MiB/s from the ends of the batches. */
static void report_throughput(const struct opts *o, uint64_t per_batch, const struct ends *e,
			      uint64_t warm)
{
	uint64_t n = e->n - 1, *rate = calloc(n, sizeof(*rate));
	double bytes = (double)(per_batch * o->msg);

	if (e->n < 2 || !rate)
		tool_fail("no batch was timed");
	/* MiB/s in thousandths, so that the integer helpers sort them. */
	for (uint64_t i = 0; i < n; i++) {
		uint64_t ns = e->t[i + 1] - e->t[i];

		rate[i] = (uint64_t)(bytes / (double)(ns ? ns : 1) * 1e9 / 1048576.0 * 1000.0);
	}
	tool_sort_u64(rate, n);
	printf("{\"test\": \"throughput\", \"kind\": \"%s\", \"msg\": %" PRIu64
	       ", \"messages_per_batch\": %" PRIu64 ", \"batches\": %" PRIu64
	       ", \"warm_up_batches\": %" PRIu64 ", \"chan_size\": %" PRIu64
	       ", \"p50_mib_s\": %.1f, \"p99_mib_s\": %.1f, \"min_mib_s\": %.1f"
	       ", \"max_mib_s\": %.1f, \"mean_mib_s\": %.1f, \"timed_s\": %.3f"
	       ", \"receiver_sleeps_per_msg\": %.3f",
	       o->kind, o->msg, per_batch, n, warm, o->chan_size,
	       (double)tool_percentile(rate, n, 50) / 1000,
	       /* The p99 of a throughput is its slow end: the first percentile. */
	       (double)tool_percentile(rate, n, 1) / 1000,
	       (double)rate[0] / 1000, (double)rate[n - 1] / 1000,
	       bytes * (double)n / ((double)(e->t[n] - e->t[0]) / 1e9) / 1048576.0,
	       (double)(e->t[n] - e->t[0]) / 1e9,
	       (double)e->sleeps[1] / (double)((n + warm) * per_batch));
	/* A sender in another process of its own (--side) keeps its sleeps. */
	if (!o->side)
		printf(", \"sender_sleeps_per_msg\": %.3f",
		       (double)e->sleeps[0] / (double)((n + warm) * per_batch));
	printf("}\n");
	free(rate);
}

static void *xalloc(size_t len)
{
	void *p = malloc(len);

	if (!p)
		tool_fail("allocating %zu bytes: out of memory", len);
	memset(p, 0x5a, len);		/* the pages faulted in, before the clock runs */
	return p;
}

/* A plain memcpy() of the same bytes, one process: the copy's own speed. */
static int throughput_memcpy(const struct opts *o, uint64_t per_batch, uint64_t warm)
{
	unsigned char *src = xalloc(o->msg), *dst = xalloc(o->msg);
	struct ends e = { 0 };
	uint64_t t0;

	tool_pin_cpu(o->cpu[0]);
	t0 = tool_now_ns();
	for (uint64_t b = 0; !enough(o, b, warm, t0); b++) {
		for (uint64_t i = 0; i < per_batch; i++) {
			src[0] = (unsigned char)i;
			memcpy(dst, src, o->msg);
			/* The copy is the result: keep the compiler from dropping it. */
			__asm__ __volatile__("" : : "r"(dst) : "memory");
		}
		if (b + 1 >= warm)
			ends_add(&e, tool_now_ns());
	}
	report_throughput(o, per_batch, &e, warm);
	free(e.t);
	free(src);
	free(dst);
	return 0;
}

/*
 * The receiver: takes messages until the end and notes in @e when each
 * batch ended, and how often it slept (e->sleeps[1]).
 */
static void receive_stream(const struct opts *o, struct flow *f, uint64_t per_batch,
			   uint64_t warm, struct ends *e)
{
	unsigned char *buf = xalloc(o->msg);
	uint64_t i, sleeps = voluntary_switches();

	for (i = 0; flow_recv(f, buf, i); i++)
		if ((i + 1) % per_batch == 0 && (i + 1) / per_batch >= warm)
			ends_add(e, tool_now_ns());
	if (i % per_batch)
		tool_fail("the stream ended within a batch, after message %" PRIu64, i);
	e->sleeps[1] = voluntary_switches() - sleeps;
	free(buf);
}

/* The same, the times sent back over @ctl to the sender, which reports. */
static void receive_batches(const struct opts *o, struct flow *f, uint64_t per_batch,
			    uint64_t warm, int ctl)
{
	struct ends e = { 0 };

	receive_stream(o, f, per_batch, warm, &e);
	ends_put(ctl, &e, e.sleeps[1]);
	free(e.t);
}

/*
 * The same bytes through a bare ring of four message slots in memory the
 * two processes share, both sides spinning, no library: what moving them
 * from one CPU to the other costs at best.
 */
struct bare_ring {
	_Atomic uint64_t tail;		/* messages written */
	unsigned char pad0[56];
	_Atomic uint64_t head;		/* messages taken */
	unsigned char pad1[56];
	_Atomic uint64_t end;		/* messages in all, + 1; 0: not yet known */
	unsigned char pad2[56];
};

#define BARE_SLOTS	4

static void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static int throughput_ring(const struct opts *o, uint64_t per_batch, uint64_t warm)
{
	size_t len = sizeof(struct bare_ring) + BARE_SLOTS * o->msg;
	struct bare_ring *r;
	unsigned char *slots, *buf;
	struct ends e = { 0 };
	int ctl[2];
	uint64_t t0, b, seq;
	pid_t pid;

	r = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		tool_fail("mapping %zu bytes of shared memory: %s", len, strerror(errno));
	memset(r, 0, len);
	slots = (unsigned char *)(r + 1);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0)
		tool_fail("control socketpair: %s", strerror(errno));
	pid = bench_fork_second();
	if (pid == 0) {
		uint64_t i, sleeps;

		tool_pin_cpu(o->cpu[1]);
		close(ctl[0]);
		buf = xalloc(o->msg);
		sleeps = voluntary_switches();
		for (i = 0;; i++) {
			uint64_t end;

			while (atomic_load_explicit(&r->tail, memory_order_acquire) == i) {
				end = atomic_load_explicit(&r->end, memory_order_acquire);
				if (end && end - 1 == i)
					break;
				relax();
			}
			if (atomic_load_explicit(&r->tail, memory_order_acquire) == i)
				break;
			memcpy(buf, slots + (i % BARE_SLOTS) * o->msg, o->msg);
			atomic_store_explicit(&r->head, i + 1, memory_order_release);
			memcpy(&seq, buf, o->msg < sizeof(seq) ? o->msg : sizeof(seq));
			if (o->msg >= sizeof(seq) && seq != i)
				tool_fail("message %" PRIu64 " came as %" PRIu64, i, seq);
			if ((i + 1) % per_batch == 0 && (i + 1) / per_batch >= warm)
				ends_add(&e, tool_now_ns());
		}
		ends_put(ctl[1], &e, voluntary_switches() - sleeps);
		_exit(0);
	}
	tool_pin_cpu(o->cpu[0]);
	close(ctl[1]);
	buf = xalloc(o->msg);
	e.sleeps[0] = voluntary_switches();
	t0 = tool_now_ns();
	for (b = 0; !enough(o, b, warm, t0); b++) {
		for (uint64_t i = 0; i < per_batch; i++) {
			seq = b * per_batch + i;
			while (seq - atomic_load_explicit(&r->head, memory_order_acquire) >= BARE_SLOTS)
				relax();
			memcpy(buf, &seq, o->msg < sizeof(seq) ? o->msg : sizeof(seq));
			memcpy(slots + (seq % BARE_SLOTS) * o->msg, buf, o->msg);
			atomic_store_explicit(&r->tail, seq + 1, memory_order_release);
		}
	}
	atomic_store_explicit(&r->end, b * per_batch + 1, memory_order_release);
	e.sleeps[0] = voluntary_switches() - e.sleeps[0];
	ends_get(ctl[0], &e);
	bench_reap(pid);
	close(ctl[0]);
	munmap(r, len);
	report_throughput(o, per_batch, &e, warm);
	free(e.t);
	free(buf);
	return 0;
}

static int throughput(const struct opts *o)
{
	uint64_t per_batch = o->batch_bytes / o->msg, warm = 1, t0, b;
	bool zero_copy = !strcmp(o->kind, "chan-zc");
	bool chan = zero_copy || !strcmp(o->kind, "chan");
	int ctl[2], data[2] = { -1, -1 };
	struct flow f = { .msg = o->msg, .zero_copy = zero_copy };
	struct peer p = { 0 };
	struct ends e = { 0 };
	unsigned char *buf;
	pid_t pid;

	if (per_batch == 0)
		per_batch = 1;
	if (!strcmp(o->kind, "memcpy"))
		return throughput_memcpy(o, per_batch, warm);
	if (!strcmp(o->kind, "ring"))
		return throughput_ring(o, per_batch, warm);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0)
		tool_fail("control socketpair: %s", strerror(errno));
	if (!strcmp(o->kind, "socketpair")) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, data) < 0)
			tool_fail("socketpair: %s", strerror(errno));
	} else if (!strcmp(o->kind, "pipe")) {
		if (pipe2(data, O_CLOEXEC) < 0)
			tool_fail("pipe: %s", strerror(errno));
	}

	pid = bench_fork_second();
	if (pid == 0) {
		tool_pin_cpu(o->cpu[1]);
		close(ctl[0]);
		if (chan) {
			peer_connect(&p, o, ctl[1], false);
			peer_chan(&p, o, 0);
			f.p = &p;
		} else {
			f.fd = data[0];
			close(data[1]);
		}
		receive_batches(o, &f, per_batch, warm, ctl[1]);
		if (chan)
			peer_close(&p);
		_exit(0);
	}
	tool_pin_cpu(o->cpu[0]);
	close(ctl[1]);
	if (chan) {
		peer_connect(&p, o, ctl[0], true);
		peer_chan(&p, o, 0);
		f.p = &p;
	} else {
		f.fd = data[1];
		close(data[0]);
	}
	buf = xalloc(o->msg);
	e.sleeps[0] = voluntary_switches();
	t0 = tool_now_ns();
	for (b = 0; !enough(o, b, warm, t0); b++)
		for (uint64_t i = 0; i < per_batch; i++)
			flow_send(&f, buf, b * per_batch + i);
	flow_end(&f);
	e.sleeps[0] = voluntary_switches() - e.sleeps[0];
	ends_get(ctl[0], &e);
	if (e.n != b + 1 - warm)
		tool_fail("the receiver timed %" PRIu64 " batch ends of %" PRIu64, e.n,
			  b + 1 - warm);
	bench_reap(pid);
	if (chan)
		peer_close(&p);
	close(ctl[0]);
	report_throughput(o, per_batch, &e, warm);
	free(e.t);
	free(buf);
	return 0;
}

/* ----------------------------------------------------------- round trips */

static void report_rtt(const struct opts *o, uint64_t *lat, uint64_t warm, int msg)
{
	tool_sort_u64(lat, o->count);
	printf("{\"test\": \"rtt\", \"kind\": \"%s\", \"msg\": %d, \"round_trips\": %" PRIu64
	       ", \"warm_up\": %" PRIu64 ", \"min_us\": %.3f, \"p50_us\": %.3f, "
	       "\"p99_us\": %.3f, \"max_us\": %.3f}\n", o->kind, msg, o->count, warm,
	       (double)lat[0] / 1e3,
	       (double)tool_percentile(lat, o->count, 50) / 1e3,
	       (double)tool_percentile(lat, o->count, 99) / 1e3,
	       (double)lat[o->count - 1] / 1e3);
}

/*
 * Wait for a ring of the own vector 0: poll() on its eventfd, then read
 * it; or (@lib) ivshmem_wait(), which also takes in the server's messages.
 */
static void doorbell_wait(struct peer *p, int fd, bool lib)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int ret;

	while (lib) {
		unsigned int vector = 0;
		struct ivshmem_irq irq;

		ret = ivshmem_wait(p->dev, &vector, 1, TIMEOUT_MS, &irq);
		if (ret < 0)
			tool_fail("waiting for the peer's ring: %s", ivshmem_strerror(ret));
		if (irq.vector == 0)
			return;
	}
	for (;;) {
		ret = poll(&pfd, 1, TIMEOUT_MS);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0)
			tool_fail("waiting for the peer's ring: %s",
				  ret < 0 ? strerror(errno) : "timed out");
		ret = ivshmem_vector_ack(p->dev, 0, NULL);
		if (ret == 0)
			return;
		if (ret != -EAGAIN)
			tool_fail("reading the vector's eventfd: %s", ivshmem_strerror(ret));
	}
}

static void doorbell_ring(struct peer *p)
{
	int ret = ivshmem_ring(p->dev, p->other, 0);

	if (ret < 0)
		tool_fail("ringing peer %u: %s", p->other, ivshmem_strerror(ret));
}

static int rtt(const struct opts *o)
{
	bool doorbell = !strncmp(o->kind, "doorbell", 8), lib = !strcmp(o->kind, "doorbell-wait");
	unsigned int flags = !strcmp(o->kind, "chan-sleep") ? IVSHMEM_CHAN_NO_SPIN : 0;
	uint64_t warm = bench_warm_up(o->count), total = warm + o->count, *lat;
	unsigned char msg[RTT_MSG] = { 0 };
	struct peer p = { 0 };
	int ctl[2], fd = -1;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0)
		tool_fail("control socketpair: %s", strerror(errno));
	lat = calloc(o->count, sizeof(*lat));
	if (!lat)
		tool_fail("out of memory");
	pid = bench_fork_second();
	if (pid == 0) {
		char ready = 1;

		tool_pin_cpu(o->cpu[1]);
		close(ctl[0]);
		peer_connect(&p, o, ctl[1], false);
		if (doorbell) {
			fd = ivshmem_vector_fd(p.dev, 0);
			if (fd < 0)
				tool_fail("vector 0: %s", ivshmem_strerror(fd));
			while (ivshmem_vector_ack(p.dev, 0, NULL) == 0)
				;
		} else {
			peer_chan(&p, o, flags);
		}
		ctl_put(ctl[1], &ready, 1);
		for (uint64_t i = 0; i < total; i++) {
			if (doorbell) {
				doorbell_wait(&p, fd, lib);
				doorbell_ring(&p);
			} else {
				chan_get(&p, msg, sizeof(msg));
				chan_put(&p, msg, sizeof(msg));
			}
		}
		if (doorbell)
			ivshmem_close(p.dev);
		else
			peer_close(&p);
		_exit(0);
	}
	tool_pin_cpu(o->cpu[0]);
	close(ctl[1]);
	peer_connect(&p, o, ctl[0], true);
	if (doorbell) {
		fd = ivshmem_vector_fd(p.dev, 0);
		if (fd < 0)
			tool_fail("vector 0: %s", ivshmem_strerror(fd));
		while (ivshmem_vector_ack(p.dev, 0, NULL) == 0)
			;
	} else {
		peer_chan(&p, o, flags);
	}
	{
		char ready;

		ctl_get(ctl[0], &ready, 1);
	}
	for (uint64_t i = 0; i < total; i++) {
		uint64_t t0 = tool_now_ns();

		if (doorbell) {
			doorbell_ring(&p);
			doorbell_wait(&p, fd, lib);
		} else {
			memcpy(msg, &i, sizeof(i));
			chan_put(&p, msg, sizeof(msg));
			chan_get(&p, msg, sizeof(msg));
		}
		if (i >= warm)
			lat[i - warm] = tool_now_ns() - t0;
	}
	bench_reap(pid);
	if (doorbell)
		ivshmem_close(p.dev);
	else
		peer_close(&p);
	close(ctl[0]);
	report_rtt(o, lat, warm, doorbell ? 0 : RTT_MSG);
	free(lat);
	return 0;
}

/* ------------------------------------------------------------ one side */

/* "IP:PORT", or "PORT" alone (@any: the wildcard address) */
static struct sockaddr_in tcp_addr(const char *opt, const char *arg, bool any)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	const char *colon = strrchr(arg, ':');
	char host[64];

	if (!colon && any) {
		sa.sin_addr.s_addr = htonl(INADDR_ANY);
		colon = arg - 1;
	} else if (!colon || (size_t)(colon - arg) >= sizeof(host)) {
		tool_usage("%s: '%s' is not IP:PORT", opt, arg);
	} else {
		memcpy(host, arg, (size_t)(colon - arg));
		host[colon - arg] = '\0';
		if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
			tool_usage("%s: '%s' is not an IPv4 address", opt, host);
	}
	sa.sin_port = htons((uint16_t)tool_number(opt, colon + 1, 65535, false));
	return sa;
}

static void tcp_options(int fd, const struct opts *o)
{
	int one = 1;

	if (o->nodelay && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		tool_fail("setting TCP_NODELAY: %s", strerror(errno));
}

/* One connection accepted on --listen; "ready" once it listens. */
static int tcp_accept(const struct opts *o)
{
	struct sockaddr_in sa = tcp_addr("--listen", o->listen, true);
	int one = 1, lfd, fd;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		tool_fail("TCP socket: %s", strerror(errno));
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		tool_fail("setting SO_REUSEADDR: %s", strerror(errno));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		tool_fail("binding to %s: %s", o->listen, strerror(errno));
	if (listen(lfd, 1) < 0)
		tool_fail("listening on %s: %s", o->listen, strerror(errno));
	fprintf(stderr, "%s: ready: listening on %s\n", tool_name, o->listen);
	do {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		tool_fail("accepting a connection on %s: %s", o->listen, strerror(errno));
	close(lfd);
	tcp_options(fd, o);
	return fd;
}

/* A connection to --connect, retried while nobody listens there yet. */
static int tcp_connect(const struct opts *o)
{
	struct sockaddr_in sa = tcp_addr("--connect", o->connect, false);
	int64_t end = tool_now_ms() + TIMEOUT_MS;

	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			tool_fail("TCP socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			tcp_options(fd, o);
			return fd;
		}
		if ((errno != ECONNREFUSED && errno != ENETUNREACH && errno != EINTR) ||
		    tool_now_ms() > end)
			tool_fail("connecting to %s: %s", o->connect, strerror(errno));
		close(fd);
		usleep(100000);
	}
}

/*
 * This side's end of the stream: a channel at the start of --device's
 * memory to --peer, or a TCP connection.
 */
static void side_open(struct flow *f, struct peer *p, const struct opts *o, unsigned int flags)
{
	struct ivshmem_chan_config cfg = {
		.offset = 0, .size = o->chan_size, .peer = o->peer, .vector = o->vector,
		.peer_vector = o->vector, .flags = flags, .spin_us = (unsigned int)o->spin_us,
	};
	int ret;

	if (!strcmp(o->kind, "tcp")) {
		f->fd = o->listen ? tcp_accept(o) : tcp_connect(o);
		return;
	}
	ret = ivshmem_open(o->device, &p->dev);
	if (ret < 0)
		tool_fail("%s: %s", o->device, ivshmem_strerror(ret));
	if (o->chan_size > ivshmem_size(p->dev))
		tool_fail("%s: a channel of %" PRIu64 " bytes does not fit %" PRIu64,
			  o->device, o->chan_size, ivshmem_size(p->dev));
	if (o->clear) {
		void *map;

		ret = ivshmem_map(p->dev, 0, o->chan_size, IVSHMEM_MAP_DEFAULT, &map);
		if (ret < 0)
			tool_fail("%s: mapping the channel: %s", o->device,
				  ivshmem_strerror(ret));
		memset(map, 0, o->chan_size);
		ivshmem_unmap(map, o->chan_size);
	}
	p->other = o->peer;
	ret = ivshmem_chan_open(p->dev, &cfg, &p->ch);
	if (ret < 0)
		tool_fail("%s: opening a channel of %" PRIu64 " bytes to peer %u: %s",
			  o->device, o->chan_size, o->peer, ivshmem_strerror(ret));
	if (ivshmem_chan_max_msg(p->ch) < f->msg)
		tool_fail("messages of %zu bytes need a larger channel than %" PRIu64
			  " bytes (--chan-size)", f->msg, o->chan_size);
	f->p = p;
	/* The other side may start now: it finds the channel open. */
	fprintf(stderr, "%s: ready: channel to peer %u open\n", tool_name, o->peer);
}

static void side_close(struct flow *f)
{
	if (f->p)
		peer_close(f->p);
	else if (f->fd >= 0)
		close(f->fd);
}

/*
 * One side of a throughput or of round trips; the other side runs the
 * same with the other --side and the same sizes and counts.
 */
static int one_side(const struct opts *o)
{
	bool rtt = o->cmd[0] == 'r';
	struct flow f = { .msg = rtt ? RTT_MSG : o->msg, .fd = -1 };
	uint64_t per_batch = o->batch_bytes / o->msg, warm = 1, b;
	struct peer p = { 0 };
	struct ends e = { 0 };
	unsigned char *buf;

	if (per_batch == 0)
		per_batch = 1;
	side_open(&f, &p, o, !strcmp(o->kind, "chan-sleep") ? IVSHMEM_CHAN_NO_SPIN : 0);
	buf = xalloc(f.msg);
	if (!strcmp(o->side, "send")) {
		uint64_t t0 = tool_now_ns();

		for (b = 0; !enough(o, b, warm, t0); b++)
			for (uint64_t i = 0; i < per_batch; i++)
				flow_send(&f, buf, b * per_batch + i);
		flow_end(&f);
		f.fd = -1;
	} else if (!strcmp(o->side, "recv")) {
		receive_stream(o, &f, per_batch, warm, &e);
		report_throughput(o, per_batch, &e, warm);
		free(e.t);
	} else {
		uint64_t total, *lat = NULL;

		warm = bench_warm_up(o->count);
		total = warm + o->count;
		if (!strcmp(o->side, "start")) {
			lat = calloc(o->count, sizeof(*lat));
			if (!lat)
				tool_fail("out of memory");
		}
		/* Each message carries its number, both ways. */
		for (uint64_t i = 0; i < total; i++) {
			uint64_t t0 = tool_now_ns();

			if (lat)
				flow_send(&f, buf, i);
			if (!flow_recv(&f, buf, i))
				tool_fail("the other side ended after %" PRIu64 " round trips", i);
			if (!lat)
				flow_send(&f, buf, i);
			else if (i >= warm)
				lat[i - warm] = tool_now_ns() - t0;
		}
		if (lat) {
			report_rtt(o, lat, warm, RTT_MSG);
			free(lat);
		}
	}
	side_close(&f);
	free(buf);
	return 0;
}

static bool one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

/* The options of one side (--side), checked; then that side. */
static int side_usage(const struct opts *o)
{
	static const char *const tsides[] = { "send", "recv", NULL };
	static const char *const rsides[] = { "start", "answer", NULL };
	static const char *const tkinds[] = { "chan", "tcp", NULL };
	static const char *const rkinds[] = { "chan-sleep", "chan-spin", "tcp", NULL };
	bool t = o->cmd[0] == 't';

	if (!one_of(o->side, t ? tsides : rsides))
		tool_usage("--side: '%s' is not %s", o->side, t ? "send or recv" : "start or answer");
	if (!one_of(o->kind, t ? tkinds : rkinds))
		tool_usage("--kind: with --side, '%s' is not one of %s", o->kind,
			   t ? "chan, tcp" : "chan-sleep, chan-spin, tcp");
	if (!strcmp(o->kind, "tcp")) {
		if (!o->listen == !o->connect)
			tool_usage("--kind tcp needs --listen or --connect");
	} else if (!o->device || !o->have_peer) {
		tool_usage("--kind %s needs --device and --peer", o->kind);
	}
	signal(SIGPIPE, SIG_IGN);
	return one_side(o);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "kind", required_argument, NULL, 'k' },
		{ "msg", required_argument, NULL, 'm' },
		{ "batch-bytes", required_argument, NULL, 'B' },
		{ "batches", required_argument, NULL, 'b' },
		{ "seconds", required_argument, NULL, 'T' },
		{ "count", required_argument, NULL, 'n' },
		{ "chan-size", required_argument, NULL, 's' },
		{ "spin-us", required_argument, NULL, 'u' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "side", required_argument, NULL, 'x' },
		{ "device", required_argument, NULL, 'd' },
		{ "peer", required_argument, NULL, 'p' },
		{ "vector", required_argument, NULL, 'v' },
		{ "clear", no_argument, NULL, OPT_CLEAR },
		{ "listen", required_argument, NULL, 'l' },
		{ "connect", required_argument, NULL, 'C' },
		{ "nodelay", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const tkinds[] = {
		"chan", "chan-zc", "socketpair", "pipe", "memcpy", "ring", NULL,
	};
	static const char *const rkinds[] = {
		"chan-sleep", "chan-spin", "doorbell", "doorbell-wait", NULL,
	};
	struct opts o = {
		.msg = 4096, .batch_bytes = 16 << 20, .batches = 5, .seconds = 1, .count = 10000,
		.chan_size = 8200 << 10, .cpu = { -1, -1 },
	};
	char *end;
	int c;

	tool_init(argc, argv);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":S:k:m:B:b:T:n:s:u:c:x:d:p:v:l:C:Nh", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'S':
			o.socket = optarg;
			break;
		case 'k':
			o.kind = optarg;
			break;
		case 'm':
			o.msg = tool_number("--msg", optarg, 1 << 30, true);
			if (!o.msg)
				tool_usage("--msg: must be at least 1");
			break;
		case 'B':
			o.batch_bytes = tool_number("--batch-bytes", optarg, 1ULL << 40, true);
			break;
		case 'b':
			o.batches = tool_number("--batches", optarg, 1000000, false);
			if (!o.batches)
				tool_usage("--batches: must be at least 1");
			break;
		case 'T':
			o.seconds = strtod(optarg, &end);
			if (end == optarg || *end || !(o.seconds >= 0 && o.seconds <= 3600))
				tool_usage("--seconds: '%s' is not a number of seconds up to 3600",
					   optarg);
			break;
		case 'n':
			o.count = tool_number("--count", optarg, 100000000, false);
			if (!o.count)
				tool_usage("--count: must be at least 1");
			break;
		case 's':
			o.chan_size = tool_number("--chan-size", optarg, 1ULL << 40, true);
			break;
		case 'u':
			o.spin_us = tool_number("--spin-us", optarg, IVSHMEM_CHAN_SPIN_MAX, false);
			break;
		case 'c':
			bench_parse_cpus(optarg, o.cpu);
			break;
		case 'x':
			o.side = optarg;
			break;
		case 'd':
			o.device = optarg;
			break;
		case 'p':
			o.peer = (unsigned int)tool_number("--peer", optarg, IVSHMEM_MAX_PEER, false);
			o.have_peer = true;
			break;
		case 'v':
			o.vector = (unsigned int)tool_number("--vector", optarg, 2047, false);
			break;
		case OPT_CLEAR:
			o.clear = true;
			break;
		case 'l':
			o.listen = optarg;
			break;
		case 'C':
			o.connect = optarg;
			break;
		case 'N':
			o.nodelay = true;
			break;
		default:
			tool_option(c, argv, help, NULL, NULL);
		}
	}
	if (optind != argc - 1)
		tool_usage("expected throughput or rtt");
	o.cmd = argv[optind];
	if (strcmp(o.cmd, "throughput") && strcmp(o.cmd, "rtt"))
		tool_usage("'%s' is not throughput or rtt", o.cmd);
	if (!o.kind)
		tool_usage("%s needs --kind", o.cmd);
	if (o.side)
		return side_usage(&o);
	if (!one_of(o.kind, o.cmd[0] == 't' ? tkinds : rkinds))
		tool_usage("--kind: '%s' is not one of %s", o.kind, o.cmd[0] == 't' ?
			   "chan, chan-zc, socketpair, pipe, memcpy, ring" :
			   "chan-sleep, chan-spin, doorbell, doorbell-wait");
	if (!o.socket && (!strncmp(o.kind, "chan", 4) || o.cmd[0] == 'r'))
		tool_usage("--kind %s needs --socket", o.kind);
	signal(SIGPIPE, SIG_IGN);
	return o.cmd[0] == 't' ? throughput(&o) : rtt(&o);
}
