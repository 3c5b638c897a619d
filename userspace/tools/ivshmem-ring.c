// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ivshmem-ring - ring a peer's doorbell
 *
 * Where the region header has a presence table, a peer it says is absent
 * is not rung (exit status 3): the ring would be lost.  The same check
 * for every backend, through ivshmem_peer_epoch(); the host backend also
 * knows the server's peers and fails such a ring by itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common.h"

/* The peer is not connected, by the region's presence table. */
#define EXIT_ABSENT 3

static void help(void)
{
	printf("Usage: %s --peer ID [--vector V] [--count N] [--interval MS] [--force]\n"
	       "       [DEVICE]\n"
	       "Ring vector V of the peer whose ID is ID, through an ivshmem doorbell.\n"
	       "\n"
	       "  -p, --peer=ID         peer to interrupt, 0..65535 (required)\n"
	       "  -v, --vector=V        its vector, 0..65535 (default 0; a guest's\n"
	       "                        doorbell reaches 0..255)\n"
	       "  -c, --count=N         ring N times (default 1)\n"
	       "  -i, --interval=MS     wait MS milliseconds between rings (default 0)\n"
	       "  -f, --force           ring even if the region's presence table says\n"
	       "                        the peer is not connected\n"
	       "  -d, --device=DEVICE   /dev/ivshmemN, an index N, a PCI address, name:LABEL,\n"
	       "                        /dev/uioN or unix:/path/to/server.sock\n"
	       "                        (default: $IVSHMEM_DEVICE, else the first device)\n"
	       "  -V, --verbose         say what is rung\n"
	       "  -h, --help            show this help\n"
	       "\n"
	       "Exit status: 0 rung, 1 failure, 2 bad usage, 3 the peer is not connected\n"
	       "(by the region header's presence table).\n", tool_name);
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Refuse a peer the presence table says is absent.  Without a table (or
 * a header), ring as always; with one that cannot be read, say so and
 * ring: a peer's scribbling must not silence the doorbell.
 */
static void check_present(struct ivshmem *dev, unsigned int peer)
{
	struct ivshmem_region info;
	uint32_t epoch = 0;
	int ret;

	ret = ivshmem_peer_epoch(dev, peer, &epoch);
	if (ret == 0) {
		fprintf(stderr, "%s: %s: ring peer %u: not connected: %s (the region's presence "
			"table says so; --force rings anyway)\n", tool_name, ivshmem_path(dev), peer,
			epoch ? "the peer left" : "no peer has had this ID");
		exit(EXIT_ABSENT);
	}
	if (ret == -EINVAL && ivshmem_region_info(dev, &info) == 0 && info.max_peers) {
		fprintf(stderr, "%s: %s: ring peer %u: not connected: the region's presence table "
			"has IDs 0..%u only (--force rings anyway)\n", tool_name, ivshmem_path(dev),
			peer, info.max_peers - 1);
		exit(EXIT_ABSENT);
	}
	if (ret == -EBADMSG || ret == -EAGAIN)
		tool_warn("%s: cannot tell whether peer %u is connected: %s; ringing",
			  ivshmem_path(dev), peer, ivshmem_strerror(ret));
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "peer", required_argument, NULL, 'p' },
		{ "vector", required_argument, NULL, 'v' },
		{ "count", required_argument, NULL, 'c' },
		{ "interval", required_argument, NULL, 'i' },
		{ "force", no_argument, NULL, 'f' },
		{ "device", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t peer = UINT64_MAX, vector = 0, count = 1, interval = 0;
	const char *device = NULL;
	bool verbose = false, force = false;
	struct ivshmem *dev;
	int c;

	tool_init(argc, argv);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:v:c:i:fd:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			peer = tool_number("--peer", optarg, IVSHMEM_MAX_PEER, false);
			break;
		case 'v':
			vector = tool_number("--vector", optarg, IVSHMEM_MAX_VECTOR, false);
			break;
		case 'c':
			count = tool_number("--count", optarg, UINT32_MAX, false);
			if (!count)
				tool_usage("--count: must be at least 1");
			break;
		case 'i':
			interval = tool_number("--interval", optarg, 86400000, false);
			break;
		case 'f':
			force = true;
			break;
		default:
			tool_option(c, argv, help, &device, &verbose);
		}
	}
	device = tool_device_arg(device, argc, argv, optind);
	if (peer == UINT64_MAX)
		tool_usage("--peer is required");

	dev = tool_open(device);
	if (!ivshmem_can_ring(dev))
		tool_fail("%s: cannot ring: the device has no doorbell (ivshmem-plain?)",
			  ivshmem_path(dev));
	if (!force)
		check_present(dev, (unsigned int)peer);
	for (uint64_t i = 0; i < count; i++) {
		int ret;

		if (i && interval)
			sleep_ms(interval);
		ret = ivshmem_ring(dev, (unsigned int)peer, (unsigned int)vector);
		if (ret == -EINVAL && vector > 255 && ivshmem_backend(dev) != IVSHMEM_BACKEND_HOST)
			tool_fail("%s: ring peer %" PRIu64 " vector %" PRIu64 ": a guest's doorbell "
				  "reaches vectors 0..255 only", ivshmem_path(dev), peer, vector);
		if (ret < 0)
			tool_fail("%s: ring peer %" PRIu64 " vector %" PRIu64 ": %s",
				  ivshmem_path(dev), peer, vector, ivshmem_strerror(ret));
		if (verbose)
			fprintf(stderr, "%s: rang peer %" PRIu64 " vector %" PRIu64 "\n", tool_name,
				peer, vector);
	}
	ivshmem_close(dev);
	return 0;
}
