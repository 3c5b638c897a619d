// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ivshmem-pipe - stdin to a peer, the peer's messages to stdout, through a
 * channel of libivshmem (ivshmem_chan_*), both ways at once, as nc does
 *
 * Each read of stdin goes out as one message; the end of stdin as an empty
 * message, which the other side takes for the end of its output.  The
 * loop polls stdin and the channel's descriptor, and follows the
 * channel's protocol: after a wakeup, receive and retry a waiting send
 * without blocking until they give -EAGAIN.  Received messages go to
 * stdout from where they lie in the ring (ivshmem_chan_peek()), not
 * through a buffer of this process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

enum { OPT_PEER_VECTOR = 256 };

static void help(void)
{
	printf("Usage: %s --peer ID [--offset OFF --size SIZE] [--vector V]\n"
	       "       [--peer-vector V] [--timeout MS] [DEVICE]\n"
	       "Send stdin to peer ID and write its messages to stdout, both at once,\n"
	       "through a channel in the shared memory (as nc does over a network).\n"
	       "The end of stdin reaches the peer as the end of its output; the program\n"
	       "exits once it has sent all of stdin and the peer's output has ended.\n"
	       "\n"
	       "  -p, --peer=ID         the peer at the other end, 0..65535 (required)\n"
	       "  -o, --offset=OFF      the channel's memory starts at byte OFF, a multiple\n"
	       "                        of 4096 (K, M, G suffixes)\n"
	       "  -s, --size=SIZE       and has SIZE bytes, a multiple of 4096, at least\n"
	       "                        8K; both sides give the same --offset and --size\n"
	       "                        (default, neither: the pair's 64K slot at the end\n"
	       "                        of the memory, below the region header)\n"
	       "  -v, --vector=V        own vector the peer rings (default 0)\n"
	       "      --peer-vector=V   the peer's vector to ring (default: --vector)\n"
	       "  -t, --timeout=MS      fail when nothing moved either way for MS ms\n"
	       "                        (default: wait without limit)\n"
	       "  -d, --device=DEVICE   /dev/ivshmemN, an index N, a PCI address, name:LABEL,\n"
	       "                        /dev/uioN or unix:/path/to/server.sock\n"
	       "                        (default: $IVSHMEM_DEVICE, else the first device)\n"
	       "  -V, --verbose         say on stderr which channel, and what went each way\n"
	       "  -h, --help            show this help\n"
	       "\n"
	       "Exit status: 0 both directions done, 1 failure, 2 bad usage.\n", tool_name);
}

/* What ivshmem_chan_open() refuses, said with the channel's terms. */
static const char *open_error(int err)
{
	switch (err) {
	case -ENODATA:
		return "the device has no peer ID (ivshmem-plain): a channel needs a doorbell";
	case -ENOSPC:
		return "no room for the pair's default slot in the memory (give --offset "
		       "and --size)";
	case -EINVAL:
		return "the memory, the vectors or the peer do not fit this device";
	}
	return ivshmem_strerror(err);
}

/* Why the exchange stopped, in the channel's terms. */
static const char *io_error(long err)
{
	switch (err) {
	case -ECONNRESET:
		return "the peer restarted or left; data may have been lost";
	case -EPIPE:
		return "the peer closed the channel before the end";
	case -EPROTO:
		return "the peer broke the channel's protocol";
	}
	return ivshmem_strerror((int)err);
}

static void write_all(const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(STDOUT_FILENO, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			tool_fail("stdout: %s", strerror(errno));
		buf += n;
		len -= (size_t)n;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "peer", required_argument, NULL, 'p' },
		{ "offset", required_argument, NULL, 'o' },
		{ "size", required_argument, NULL, 's' },
		{ "vector", required_argument, NULL, 'v' },
		{ "peer-vector", required_argument, NULL, OPT_PEER_VECTOR },
		{ "timeout", required_argument, NULL, 't' },
		{ "device", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ivshmem_chan_config cfg = { 0 };
	bool has_peer = false, has_offset = false, has_size = false, has_pv = false;
	bool verbose = false, tx_done = false, rx_done = false, pending = false;
	uint64_t timeout = 0, sent = 0, received = 0;
	const char *device = NULL;
	struct ivshmem_chan *ch;
	struct ivshmem *dev;
	char *inbuf;
	size_t max, plen = 0;
	int64_t last_move;
	int c, ret, fd, id;
	bool stdin_ready = false;

	tool_init(argc, argv);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:o:s:v:t:d:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			cfg.peer = (unsigned int)tool_number("--peer", optarg, IVSHMEM_MAX_PEER, false);
			has_peer = true;
			break;
		case 'o':
			cfg.offset = tool_number("--offset", optarg, UINT64_MAX, true);
			has_offset = true;
			break;
		case 's':
			cfg.size = tool_number("--size", optarg, UINT64_MAX, true);
			has_size = true;
			break;
		case 'v':
			cfg.vector = (unsigned int)tool_number("--vector", optarg, IVSHMEM_MAX_VECTOR,
							       false);
			break;
		case OPT_PEER_VECTOR:
			cfg.peer_vector = (unsigned int)tool_number("--peer-vector", optarg,
								    IVSHMEM_MAX_VECTOR, false);
			has_pv = true;
			break;
		case 't':
			timeout = tool_number("--timeout", optarg, INT32_MAX, false);
			if (!timeout)
				tool_usage("--timeout: must be at least 1");
			break;
		default:
			tool_option(c, argv, help, &device, &verbose);
		}
	}
	device = tool_device_arg(device, argc, argv, optind);
	if (!has_peer)
		tool_usage("--peer is required");
	if (has_offset != has_size)
		tool_usage("--offset and --size go together (or neither, for the default slot)");
	if (has_offset && cfg.offset % 4096)
		tool_usage("--offset: %" PRIu64 " is not a multiple of 4096", cfg.offset);
	if (has_size && (cfg.size % 4096 || cfg.size < IVSHMEM_CHAN_MIN_SIZE))
		tool_usage("--size: %" PRIu64 " is not a multiple of 4096 of at least 8K",
			   cfg.size);
	if (!has_pv)
		cfg.peer_vector = cfg.vector;

	dev = tool_open(device);
	tool_catch_sigbus(ivshmem_path(dev));
	signal(SIGPIPE, SIG_IGN);
	id = ivshmem_id(dev);
	if (id >= 0 && cfg.peer == (unsigned int)id)
		tool_fail("%s: --peer %u is this peer's own ID", ivshmem_path(dev), cfg.peer);
	if (has_offset && (cfg.offset > ivshmem_size(dev) ||
			   cfg.size > ivshmem_size(dev) - cfg.offset))
		tool_fail("%s: a channel of %" PRIu64 " bytes at %" PRIu64 " does not fit the "
			  "memory of %" PRIu64 " bytes", ivshmem_path(dev), cfg.size, cfg.offset,
			  ivshmem_size(dev));
	if (ivshmem_vectors(dev) && cfg.vector >= ivshmem_vectors(dev))
		tool_fail("%s: vector %u: the device has vectors 0..%u only", ivshmem_path(dev),
			  cfg.vector, ivshmem_vectors(dev) - 1);
	ret = ivshmem_chan_open(dev, &cfg, &ch);
	if (ret < 0)
		tool_fail("%s: channel to peer %u: %s", ivshmem_path(dev), cfg.peer,
			  open_error(ret));
	max = ivshmem_chan_max_msg(ch);
	inbuf = malloc(max);
	if (!inbuf)
		tool_fail("out of memory");
	fd = ivshmem_chan_fd(ch);
	if (verbose)
		fprintf(stderr, "%s: %s: channel to peer %u as peer %d, messages of up to %zu "
			"bytes%s\n", tool_name, ivshmem_path(dev), cfg.peer, id, max,
			fd < 0 ? " (polling: the device has no interrupts)" : "");

	last_move = tool_now_ms();
	while (!tx_done || !rx_done) {
		struct pollfd pfd[2];
		bool moved = false;
		nfds_t n = 0;
		long r;

		/*
		 * The peer's messages, to stdout straight from where they lie;
		 * an empty one is its end.
		 */
		while (!rx_done) {
			const void *msg;

			r = ivshmem_chan_peek(ch, &msg, 0);
			if (r == -EAGAIN)
				break;
			if (r < 0)
				tool_fail("%s: receive from peer %u: %s", ivshmem_path(dev), cfg.peer,
					  io_error(r));
			moved = true;
			if (r > 0)
				write_all(msg, (size_t)r);
			ret = ivshmem_chan_release(ch);
			if (ret < 0)
				tool_fail("%s: receive from peer %u: %s", ivshmem_path(dev), cfg.peer,
					  io_error(ret));
			if (r == 0) {
				rx_done = true;
				close(STDOUT_FILENO);
				break;
			}
			received += (uint64_t)r;
		}
		/* Then stdin, one read per message, the end as an empty one. */
		if (!pending && !tx_done && stdin_ready) {
			ssize_t got = read(STDIN_FILENO, inbuf, max);

			if (got < 0 && errno != EINTR && errno != EAGAIN)
				tool_fail("stdin: %s", strerror(errno));
			if (got >= 0) {
				plen = (size_t)got;
				pending = true;
			}
			stdin_ready = false;
		}
		if (pending) {
			r = ivshmem_chan_send(ch, inbuf, plen, 0);
			if (r < 0 && r != -EAGAIN)
				tool_fail("%s: send to peer %u: %s", ivshmem_path(dev), cfg.peer,
					  io_error(r));
			if (r == 0) {
				pending = false;
				moved = true;
				sent += plen;
				tx_done = plen == 0;
			}
		}
		if (moved) {
			last_move = tool_now_ms();
			continue;
		}
		if (timeout && tool_now_ms() - last_move >= (int64_t)timeout)
			tool_fail("%s: nothing moved to or from peer %u for %" PRIu64 " ms (%s)",
				  ivshmem_path(dev), cfg.peer, timeout,
				  !sent && !received ? "is it running?" :
				  !tx_done ? "the peer takes nothing" : "the peer sends nothing");
		if (!pending && !tx_done) {
			pfd[n].fd = STDIN_FILENO;
			pfd[n++].events = POLLIN;
		}
		if (fd >= 0) {
			pfd[n].fd = fd;
			pfd[n++].events = POLLIN;
		}
		/*
		 * Without a descriptor the channel polls; with one, a peer that
		 * dies without closing rings nobody: look again each second.
		 */
		ret = poll(pfd, n, fd < 0 ? 1 : 1000);
		if (ret < 0 && errno != EINTR)
			tool_fail("poll: %s", strerror(errno));
		if (ret > 0 && !pending && !tx_done && pfd[0].revents)
			stdin_ready = true;
	}
	if (verbose)
		fprintf(stderr, "%s: %s: sent %" PRIu64 " bytes, received %" PRIu64 " bytes\n",
			tool_name, ivshmem_path(dev), sent, received);
	ivshmem_chan_close(ch);
	ivshmem_close(dev);
	free(inbuf);
	return 0;
}
