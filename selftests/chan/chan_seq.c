// SPDX-License-Identifier: GPL-2.0
/*
 * chan_seq - numbered messages through a channel of libivshmem, checked
 *
 *   chan_seq send DEVICE PEER GEN COUNT [OFFSET SIZE] [--then N]
 *   chan_seq recv DEVICE PEER [OFFSET SIZE] [--stall N FILE] [--first-error]
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
 * Both say on stderr "sending as peer ID" or "receiving as peer ID" once
 * the channel is open (start_bg waits for it).
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

static size_t make_msg(unsigned char *buf, uint64_t gen, uint64_t seq, size_t max)
{
	size_t len = body_len(gen, seq, max);
	uint64_t v;

	v = htole64(gen);
	memcpy(buf, &v, 8);
	v = htole64(seq);
	memcpy(buf + 8, &v, 8);
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
	fprintf(stderr, "usage: chan_seq send DEVICE PEER GEN COUNT [OFFSET SIZE] [--then N]\n"
			"       chan_seq recv DEVICE PEER [OFFSET SIZE] [--stall N FILE] "
			"[--first-error]\n");
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

static int do_send(int argc, char **argv)
{
	const char *off = NULL, *size = NULL;
	struct ivshmem *dev;
	struct ivshmem_chan *ch;
	unsigned char *buf;
	uint64_t gen, count, seq, then = 0;
	int through_reset = 0;
	size_t max;

	if (argc < 6)
		usage();
	gen = number(argv[4]);
	count = number(argv[5]);
	for (int i = 6; i < argc; i++) {
		if (!strcmp(argv[i], "--then") && i + 1 < argc) {
			then = number(argv[++i]);
			through_reset = 1;
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
	fprintf(stderr, "sending as peer %d, gen %llu\n", ivshmem_id(dev),
		(unsigned long long)gen);
	for (seq = 0; !count || seq < count; seq++) {
		size_t len = make_msg(buf, gen, seq, max);
		int ret = ivshmem_chan_send(ch, buf, len, TIMEOUT_MS);

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
			return 1;
		}
	}
	printf("sent %llu messages\n", (unsigned long long)seq);
	ivshmem_chan_close(ch);
	ivshmem_close(dev);
	free(buf);
	return 0;
}

/* What a received message is: 0 the expected one, else says why not. */
static const char *judge(const unsigned char *buf, long n, size_t max, uint64_t *gen,
			 uint64_t *next, int *fresh)
{
	uint64_t g, s;
	size_t len;

	if (n < HDR)
		return "torn: shorter than its header";
	memcpy(&g, buf, 8);
	memcpy(&s, buf + 8, 8);
	g = le64toh(g);
	s = le64toh(s);
	if (*fresh) {
		if (g <= *gen)
			return "stale: an old generation after the reset";
		if (s != 0)
			return "a new generation that does not start at 0";
		*gen = g;
		*next = 0;
		*fresh = 0;
	} else if (g != *gen) {
		return "another generation without a reset before it";
	} else if (s != *next) {
		return "out of order, repeated or lost";
	}
	len = body_len(g, s, max);
	if ((size_t)n != HDR + len)
		return "torn: wrong length";
	for (size_t i = 0; i < len; i++)
		if (buf[HDR + i] != body_byte(g, s, i))
			return "torn: changed bytes";
	(*next)++;
	return NULL;
}

static int do_recv(int argc, char **argv)
{
	const char *off = NULL, *size = NULL, *stall_file = NULL;
	uint64_t stall_after = 0, gen = 0, next = 0, total = 0;
	int first_error = 0, fresh = 1, was_fresh, i;
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
	fprintf(stderr, "receiving as peer %d\n", ivshmem_id(dev));
	for (;;) {
		long n;
		const char *why;

		if (stall_file && total == stall_after) {
			fprintf(stderr, "stalled after %llu messages\n",
				(unsigned long long)total);
			while (access(stall_file, F_OK))
				usleep(50000);
			stall_file = NULL;
		}
		n = ivshmem_chan_recv(ch, buf, max, TIMEOUT_MS);
		if (n < 0) {
			/* The run of one generation ends here. */
			if (!fresh)
				printf("gen %llu: %llu messages in order\n", (unsigned long long)gen,
				       (unsigned long long)next);
			fresh = 1;
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
		was_fresh = fresh;
		why = judge(buf, n, max, &gen, &next, &fresh);
		if (why) {
			if (!was_fresh)
				printf("gen %llu: %llu messages in order\n",
				       (unsigned long long)gen, (unsigned long long)next);
			printf("bad: %s (message %llu)\n", why, (unsigned long long)total);
			return 2;
		}
		total++;
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
