// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ivshmem-wait - wait for interrupts on own vectors and print them
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static void help(void)
{
	printf("Usage: %s [--vector V[,V...]] [--timeout MS] [--count N] [DEVICE]\n"
	       "Wait for this peer's vectors to be rung; print one line per wakeup:\n"
	       "  vector V count C    (C rings that arrived together)\n"
	       "\n"
	       "  -v, --vector=V,...    vectors to wait for; repeatable (default: all)\n"
	       "  -t, --timeout=MS      stop after MS milliseconds in all: a failure when\n"
	       "                        fewer than N rings (or none) arrived\n"
	       "  -c, --count=N         exit after N rings (default: run until killed\n"
	       "                        or the timeout)\n"
	       "  -d, --device=DEVICE   /dev/ivshmemN, an index N, a PCI address, name:LABEL,\n"
	       "                        /dev/uioN or unix:/path/to/server.sock\n"
	       "                        (default: $IVSHMEM_DEVICE, else the first device)\n"
	       "  -V, --verbose         say on stderr when the wait is armed\n"
	       "  -h, --help            show this help\n"
	       "\n"
	       "Exit status: 0 the rings arrived, 1 failure or timeout, 2 bad usage.\n",
	       tool_name);
}

static void add_vectors(unsigned int **v, unsigned int *n, const char *arg)
{
	char *copy = strdup(arg), *save = NULL, *tok;

	if (!copy)
		tool_fail("out of memory");
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned int *nv = realloc(*v, (*n + 1) * sizeof(**v));

		if (!nv)
			tool_fail("out of memory");
		*v = nv;
		(*v)[(*n)++] = (unsigned int)tool_number("--vector", tok, IVSHMEM_MAX_VECTOR,
							 false);
	}
	if (!*n)
		tool_usage("--vector: '%s' names no vector", arg);
	free(copy);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vector", required_argument, NULL, 'v' },
		{ "timeout", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'c' },
		{ "device", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t timeout = 0, count = 0, got = 0;
	bool has_timeout = false, verbose = false;
	unsigned int *vectors = NULL, nvectors = 0, own;
	const char *device = NULL;
	struct ivshmem *dev;
	int64_t deadline = 0;
	int c, ret;

	tool_init(argc, argv);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":v:t:c:d:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			add_vectors(&vectors, &nvectors, optarg);
			break;
		case 't':
			timeout = tool_number("--timeout", optarg, INT32_MAX, false);
			has_timeout = true;
			break;
		case 'c':
			count = tool_number("--count", optarg, UINT32_MAX, false);
			if (!count)
				tool_usage("--count: must be at least 1");
			break;
		default:
			tool_option(c, argv, help, &device, &verbose);
		}
	}
	device = tool_device_arg(device, argc, argv, optind);

	dev = tool_open(device);
	own = ivshmem_vectors(dev);
	if (!own)
		tool_fail("%s: cannot wait: the device has no interrupt vectors%s",
			  ivshmem_path(dev),
			  ivshmem_backend(dev) == IVSHMEM_BACKEND_SYSFS ?
			  " (sysfs gives none)" : "");
	for (unsigned int i = 0; i < nvectors; i++)
		if (vectors[i] >= own)
			tool_fail("%s: vector %u: the device has vectors 0..%u only",
				  ivshmem_path(dev), vectors[i], own - 1);
	/* Arm every vector now, so that no ring from here on is missed. */
	for (unsigned int i = 0; i < (nvectors ? nvectors : own); i++) {
		ret = ivshmem_vector_fd(dev, nvectors ? vectors[i] : i);
		if (ret < 0)
			tool_fail("%s: vector %u: %s", ivshmem_path(dev),
				  nvectors ? vectors[i] : i, ivshmem_strerror(ret));
	}
	if (verbose) {
		fprintf(stderr, "%s: %s: waiting", tool_name, ivshmem_path(dev));
		if (ivshmem_id(dev) >= 0)
			fprintf(stderr, " as peer %d", ivshmem_id(dev));
		fprintf(stderr, "\n");
	}
	if (has_timeout)
		deadline = tool_now_ms() + (int64_t)timeout;
	while (!count || got < count) {
		struct ivshmem_irq ev;
		int left = -1;

		if (has_timeout) {
			int64_t l = deadline - tool_now_ms();

			left = l > 0 ? (int)l : 0;
		}
		ret = ivshmem_wait(dev, vectors, nvectors, left, &ev);
		if (ret == -ETIMEDOUT) {
			if (!count && got)
				break;	/* watched for the time given */
			if (count)
				tool_fail("%s: timed out after %" PRIu64 " ms (%" PRIu64 " of %"
					  PRIu64 " rings arrived)", ivshmem_path(dev), timeout,
					  got, count);
			tool_fail("%s: timed out after %" PRIu64 " ms (%" PRIu64
				  " rings arrived)", ivshmem_path(dev), timeout, got);
		}
		if (ret < 0)
			tool_fail("%s: wait: %s", ivshmem_path(dev), ivshmem_strerror(ret));
		printf("vector %u count %" PRIu64 "\n", ev.vector, ev.count);
		fflush(stdout);
		got += ev.count;
	}
	free(vectors);
	ivshmem_close(dev);
	return 0;
}
