// SPDX-License-Identifier: GPL-2.0
/*
 * chan_seq - numbered messages through a channel of libivshmem, checked
 *
 *   chan_seq send DEVICE PEER GEN COUNT [OFFSET SIZE] [--then N] [--zero-copy]
 *   chan_seq recv DEVICE PEER [OFFSET SIZE] [--stall N FILE] [--first-error]
 *                 [--zero-copy]
 *
 * send: messages 0..COUNT-1 of generation GEN (COUNT 0: until killed or
 * refused), then an orderly close.  With --then N, an ECONNRESET (the
 * receiver restarted) is not the end: it says "reset after M messages"
 * and sends messages 0..N-1 of generation GEN + 1 instead, then closes.  Each message carries its generation
 * and number and a body whose length and bytes follow from both, so that
 * a receiver can tell a message from another one, or from a torn one.
 *
 * recv: takes messages until the peer closes the channel, and prints what
 * it saw, one line per event, for the scenario to compare:
 *   gen G: N messages in order     a run of one generation, 0..N-1
 *   reset                          ECONNRESET: the peer restarted or left
 *   end: closed                    EPIPE after everything was received
 *   error: ENAME                   any other error (exit 1)
 *   bad: ...                       a message that must not come (exit 2):
 *                                  out of order, of an old generation,
 *                                  a new generation without a reset before
 *                                  it, torn or changed
 * With --stall N FILE it stops taking messages after the N-th until FILE
 * exists (the sender fills the ring and blocks meanwhile), and says so on
 * stderr ("stalled after N messages"); with
 * --first-error it stops at the first error, ECONNRESET included.
 *
 * With --zero-copy, either side goes without copies (the same checks, the
 * same output).  The sender reserves room in the ring, writes the message
 * there and commits it: about half of the reservations are larger than
 * the message (the rest of the room gets filler bytes, and the commit is
 * shorter than the reservation), and about one message in eight is first
 * reserved, filled with a decoy (a header of a number the receiver does
 * not expect, which it would report) and dropped with IVSHMEM_CHAN_DROP;
 * a dropped reservation is not a message sent.  It says on stderr, at
 * the end, how many it dropped and how many it committed shorter.  The
 * receiver peeks at each message and checks it where it lies, its header
 * copied out first, then releases it; a message whose release says
 * ECONNRESET was not taken (it ends the run: "reset"; stderr says
 * "release after N messages: ECONNRESET").  With --stall it stops with
 * the next message peeked and not released, so that the pairing can end
 * under the held message.
 *
 * Both say on stderr "sending as peer ID" or "receiving as peer ID" once
 * the channel is open (start_bg waits for it), and ", zero copy" after it
 * with --zero-copy.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libivshmem.h>

#define HDR		16	/* le64 generation, le64 number */
#define TIMEOUT_MS	120000	/* TCG guests are slow: generous */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

/* The body's length of message @seq of @gen: 0 to max - HDR, all sizes. */
static size_t body_len(uint64_t gen, uint64_t seq, size_t max)
{
	uint64_t r = mix(gen * 0x9e3779b97f4a7c15ULL + seq);

	return (size_t)(r % (max - HDR + 1));
}

static unsigned char body_byte(uint64_t gen, uint64_t seq, size_t i)
{
	return (unsigned char)(mix((gen << 48) ^ (seq << 20) ^ i) >> 17);
}

static void put_hdr(unsigned char *buf, uint64_t gen, uint64_t seq)
{
	uint64_t v;

	v = htole64(gen);
	memcpy(buf, &v, 8);
	v = htole64(seq);
	memcpy(buf + 8, &v, 8);
}

static size_t make_msg(unsigned char *buf, uint64_t gen, uint64_t seq, size_t max)
{
	size_t len = body_len(gen, seq, max);

	put_hdr(buf, gen, seq);
	for (size_t i = 0; i < len; i++)
		buf[HDR + i] = body_byte(gen, seq, i);
	return HDR + len;
}

static const char *ename(long err)
{
	const char *n = strerrorname_np((int)-err);

	return n ? n : "unknown";
}

static void usage(void)
{
	fprintf(stderr, "usage: chan_seq send DEVICE PEER GEN COUNT [OFFSET SIZE] [--then N] "
			"[--zero-copy]\n"
			"       chan_seq recv DEVICE PEER [OFFSET SIZE] [--stall N FILE] "
			"[--first-error] [--zero-copy]\n");
	exit(2);
}

static uint64_t number(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		usage();
	return v;
}

static struct ivshmem_chan *open_chan(const char *spec, const char *peer, const char *off,
				      const char *size, struct ivshmem **dev)
{
	struct ivshmem_chan_config cfg = { 0 };
	struct ivshmem_chan *ch;
	int ret;

	ret = ivshmem_open(spec, dev);
	if (ret < 0) {
		fprintf(stderr, "chan_seq: %s: %s\n", spec, ivshmem_strerror(ret));
		exit(1);
	}
	cfg.peer = (unsigned int)number(peer);
	if (off) {
		cfg.offset = number(off);
		cfg.size = number(size);
	}
	ret = ivshmem_chan_open(*dev, &cfg, &ch);
	if (ret < 0) {
		fprintf(stderr, "chan_seq: %s: channel to peer %u: %s\n", spec, cfg.peer,
			ivshmem_strerror(ret));
		exit(1);
	}
	return ch;
}

/* What the zero-copy sender did besides sending. */
struct zc_stats {
	uint64_t dropped;	/* reservations dropped */
	uint64_t shorter;	/* commits shorter than their reservation */
};

/*
 * Message @seq of @gen, written in place: reserve, write, commit.  How
 * much it reserves and whether it drops a decoy first follow from @gen
 * and @seq, so that a run is the same each time.  0, or the error of the
 * call that failed (the message was not sent).
 */
static int send_in_place(struct ivshmem_chan *ch, uint64_t gen, uint64_t seq, size_t max,
			 struct zc_stats *st)
{
	uint64_t r = mix(gen * 0xbf58476d1ce4e5b9ULL + seq + 0x2545f4914f6cdd1dULL);
	size_t len = HDR + body_len(gen, seq, max), room = len, n;
	unsigned char *p;
	void *v;
	int ret;

	if (r & 1)
		room = len + (size_t)((r >> 1) % (max - len + 1));
	if ((r >> 40) % 8 == 0) {
		/*
		 * A decoy: were it sent, the receiver would get a number it
		 * does not expect, and say so.
		 */
		ret = ivshmem_chan_reserve(ch, room, &v, TIMEOUT_MS);
		if (ret < 0)
			return ret;
		p = v;
		put_hdr(p, gen, seq ^ 0x8000000000000000ULL);
		memset(p + HDR, 0xdd, room - HDR);
		ret = ivshmem_chan_commit(ch, IVSHMEM_CHAN_DROP);
		if (ret < 0)
			return ret;
		st->dropped++;
	}
	ret = ivshmem_chan_reserve(ch, room, &v, TIMEOUT_MS);
	if (ret < 0)
		return ret;
	p = v;
	n = make_msg(p, gen, seq, max);
	/* All the room is this side's: the commit must send only @n of it. */
	memset(p + n, 0xa5, room - n);
	ret = ivshmem_chan_commit(ch, n);
	if (ret == 0 && n < room)
		st->shorter++;
	return ret;
}

static void zc_report(int zero_copy, const struct zc_stats *st)
{
	if (zero_copy)
		fprintf(stderr, "dropped %llu reservations, committed %llu shorter than reserved\n",
			(unsigned long long)st->dropped, (unsigned long long)st->shorter);
}

static int do_send(int argc, char **argv)
{
	const char *off = NULL, *size = NULL;
	struct zc_stats st = { 0 };
	struct ivshmem *dev;
	struct ivshmem_chan *ch;
	unsigned char *buf;
	uint64_t gen, count, seq, then = 0;
	int through_reset = 0, zero_copy = 0;
	size_t max;

	if (argc < 6)
		usage();
	gen = number(argv[4]);
	count = number(argv[5]);
	for (int i = 6; i < argc; i++) {
		if (!strcmp(argv[i], "--then") && i + 1 < argc) {
			then = number(argv[++i]);
			through_reset = 1;
		} else if (!strcmp(argv[i], "--zero-copy")) {
			zero_copy = 1;
		} else if (!off && i + 1 < argc && argv[i][0] != '-') {
			off = argv[i++];
			size = argv[i];
		} else {
			usage();
		}
	}
	ch = open_chan(argv[2], argv[3], off, size, &dev);
	max = ivshmem_chan_max_msg(ch);
	buf = malloc(max);
	if (!buf || max < HDR)
		return 1;
	fprintf(stderr, "sending as peer %d, gen %llu%s\n", ivshmem_id(dev),
		(unsigned long long)gen, zero_copy ? ", zero copy" : "");
	for (seq = 0; !count || seq < count; seq++) {
		int ret;

		if (zero_copy) {
			ret = send_in_place(ch, gen, seq, max, &st);
		} else {
			size_t len = make_msg(buf, gen, seq, max);

			ret = ivshmem_chan_send(ch, buf, len, TIMEOUT_MS);
		}
		if (ret == -ECONNRESET && through_reset) {
			printf("reset after %llu messages\n", (unsigned long long)seq);
			through_reset = 0;
			gen++;
			count = then;
			seq = (uint64_t)-1;	/* 0 at the next turn */
			continue;
		}
		if (ret < 0) {
			printf("error: %s after %llu messages\n", ename(ret),
			       (unsigned long long)seq);
			zc_report(zero_copy, &st);
			return 1;
		}
	}
	printf("sent %llu messages\n", (unsigned long long)seq);
	zc_report(zero_copy, &st);
	ivshmem_chan_close(ch);
	ivshmem_close(dev);
	free(buf);
	return 0;
}

/* Where a receiver is: the run of generation @gen, @next its next number. */
struct rx_state {
	uint64_t gen;
	uint64_t next;
	int fresh;	/* no run yet, or the last one ended (a reset) */
};

/*
 * What message @msg of @n bytes is: NULL the expected one (@st moves on),
 * else says why not.  @msg may lie in the ring, where the peer can still
 * change it: the header is copied out before anything looks at it, and
 * each byte of the body is read once.
 */
static const char *judge(const unsigned char *msg, size_t n, size_t max, struct rx_state *st)
{
	const volatile unsigned char *in = msg;
	unsigned char hdr[HDR];
	uint64_t g, s;
	size_t len;

	if (n < HDR)
		return "torn: shorter than its header";
	for (size_t i = 0; i < HDR; i++)
		hdr[i] = in[i];
	memcpy(&g, hdr, 8);
	memcpy(&s, hdr + 8, 8);
	g = le64toh(g);
	s = le64toh(s);
	if (st->fresh) {
		if (g <= st->gen)
			return "stale: an old generation after the reset";
		if (s != 0)
			return "a new generation that does not start at 0";
		st->gen = g;
		st->next = 0;
		st->fresh = 0;
	} else if (g != st->gen) {
		return "another generation without a reset before it";
	} else if (s != st->next) {
		return "out of order, repeated or lost";
	}
	len = body_len(g, s, max);
	if (n != HDR + len)
		return "torn: wrong length";
	for (size_t i = 0; i < len; i++)
		if (in[HDR + i] != body_byte(g, s, i))
			return "torn: changed bytes";
	st->next++;
	return NULL;
}

static void end_run(struct rx_state *st)
{
	if (!st->fresh)
		printf("gen %llu: %llu messages in order\n", (unsigned long long)st->gen,
		       (unsigned long long)st->next);
	st->fresh = 1;
}

static void stall(const char *file, uint64_t total)
{
	fprintf(stderr, "stalled after %llu messages\n", (unsigned long long)total);
	while (access(file, F_OK))
		usleep(50000);
}

static int do_recv(int argc, char **argv)
{
	const char *off = NULL, *size = NULL, *stall_file = NULL;
	uint64_t stall_after = 0, total = 0;
	int first_error = 0, zero_copy = 0, i;
	struct rx_state st = { .fresh = 1 };
	struct ivshmem_chan *ch;
	struct ivshmem *dev;
	unsigned char *buf;
	size_t max;

	if (argc < 4)
		usage();
	for (i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--stall") && i + 2 < argc) {
			stall_after = number(argv[++i]);
			stall_file = argv[++i];
		} else if (!strcmp(argv[i], "--first-error")) {
			first_error = 1;
		} else if (!strcmp(argv[i], "--zero-copy")) {
			zero_copy = 1;
		} else if (!off && i + 1 < argc && argv[i][0] != '-') {
			off = argv[i++];
			size = argv[i];
		} else {
			usage();
		}
	}
	ch = open_chan(argv[2], argv[3], off, size, &dev);
	max = ivshmem_chan_max_msg(ch);
	buf = malloc(max);
	if (!buf || max < HDR)
		return 1;
	fprintf(stderr, "receiving as peer %d%s\n", ivshmem_id(dev),
		zero_copy ? ", zero copy" : "");
	for (;;) {
		struct rx_state next;
		const unsigned char *msg = buf;
		const char *why;
		long n;

		if (!zero_copy && stall_file && total == stall_after) {
			stall(stall_file, total);
			stall_file = NULL;
		}
		if (zero_copy) {
			const void *in;

			n = ivshmem_chan_peek(ch, &in, TIMEOUT_MS);
			msg = in;
			if (n >= 0 && stall_file && total == stall_after) {
				/* The message stays peeked, not released. */
				stall(stall_file, total);
				stall_file = NULL;
			}
		} else {
			n = ivshmem_chan_recv(ch, buf, max, TIMEOUT_MS);
		}
		if (n >= 0) {
			next = st;
			why = judge(msg, (size_t)n, max, &next);
			if (why) {
				end_run(&st);
				printf("bad: %s (message %llu)\n", why, (unsigned long long)total);
				return 2;
			}
			/* A peeked message is taken only once released. */
			if (zero_copy) {
				n = ivshmem_chan_release(ch);
				if (n < 0)
					fprintf(stderr, "release after %llu messages: %s\n",
						(unsigned long long)total, ename(n));
			}
		}
		if (n >= 0) {
			st = next;
			total++;
			continue;
		}
		/* The run of one generation ends here. */
		end_run(&st);
		if (n == -EPIPE) {
			printf("end: closed\n");
			break;
		}
		if (n == -ECONNRESET && !first_error) {
			printf("reset\n");
			continue;
		}
		printf("error: %s\n", ename(n));
		return 1;
	}
	ivshmem_chan_close(ch);
	ivshmem_close(dev);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && !strcmp(argv[1], "send"))
		return do_send(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "recv"))
		return do_recv(argc, argv);
	usage();
	return 2;
}
