// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ivshmem-dump - show the shared memory as hex, or write bytes into it
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define LINE 16

static void help(void)
{
	printf("Usage: %s [--offset O] [--length L] [--raw | --write] [DEVICE]\n"
	       "Hex dump of the shared memory, or with --write, copy stdin into it.\n"
	       "\n"
	       "  -o, --offset=O        start at byte O (default 0)\n"
	       "  -l, --length=L        L bytes (default: to the end; with --write, all\n"
	       "                        of stdin, which must then fit)\n"
	       "  -w, --write           write stdin at the offset instead of dumping\n"
	       "  -r, --raw             dump the bytes as they are, not as hex\n"
	       "                        (not to a terminal)\n"
	       "  -a, --all             show repeated lines (default: one '*' for them)\n"
	       "      --cache=MODE      map default, wb, wc or uc\n"
	       "  -d, --device=DEVICE   /dev/ivshmemN, an index N, a PCI address, name:LABEL,\n"
	       "                        /dev/uioN, unix:/path/to/server.sock or a PCI\n"
	       "                        device's sysfs directory\n"
	       "                        (default: $IVSHMEM_DEVICE, else the first device)\n"
	       "  -h, --help            show this help\n"
	       "O and L take K, M, G suffixes and 0x hex.\n"
	       "\n"
	       "Exit status: 0 success, 1 failure, 2 bad usage.\n", tool_name);
}

static void put_line(uint64_t addr, const unsigned char *b, size_t n)
{
	char out[128];
	int len;

	len = snprintf(out, sizeof(out), "%08" PRIx64 " ", addr);
	for (size_t i = 0; i < LINE; i++) {
		if (i == 8)
			out[len++] = ' ';
		if (i < n)
			len += snprintf(out + len, sizeof(out) - (size_t)len, " %02x", b[i]);
		else
			len += snprintf(out + len, sizeof(out) - (size_t)len, "   ");
	}
	len += snprintf(out + len, sizeof(out) - (size_t)len, "  |");
	for (size_t i = 0; i < n; i++)
		out[len++] = b[i] >= 0x20 && b[i] < 0x7f ? (char)b[i] : '.';
	out[len++] = '|';
	out[len++] = '\n';
	fwrite(out, 1, (size_t)len, stdout);
}

static void dump_hex(const volatile unsigned char *mem, uint64_t offset, uint64_t length,
		     bool all)
{
	unsigned char cur[LINE], prev[LINE];
	bool have_prev = false, starred = false;

	for (uint64_t pos = 0; pos < length; pos += LINE) {
		size_t n = length - pos < LINE ? (size_t)(length - pos) : LINE;

		for (size_t i = 0; i < n; i++)
			cur[i] = mem[pos + i];
		if (!all && have_prev && n == LINE && memcmp(cur, prev, LINE) == 0) {
			if (!starred)
				fputs("*\n", stdout);
			starred = true;
			continue;
		}
		put_line(offset + pos, cur, n);
		memcpy(prev, cur, n);
		have_prev = n == LINE;
		starred = false;
	}
	printf("%08" PRIx64 "\n", offset + length);
}

static void dump_raw(const volatile unsigned char *mem, uint64_t length)
{
	unsigned char buf[65536];

	for (uint64_t pos = 0; pos < length;) {
		size_t n = length - pos < sizeof(buf) ? (size_t)(length - pos) : sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = mem[pos + i];
		if (fwrite(buf, 1, n, stdout) != n)
			tool_fail("write to stdout: %s", strerror(errno));
		pos += n;
	}
}

/* Read all of stdin (at most @max bytes, else fail). */
static unsigned char *slurp_stdin(uint64_t max, size_t *len)
{
	size_t cap = 65536, n = 0;
	unsigned char *buf = malloc(cap);

	if (!buf)
		tool_fail("out of memory");
	for (;;) {
		ssize_t r;

		if (n == cap) {
			unsigned char *nb;

			cap *= 2;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				tool_fail("out of memory");
			}
			buf = nb;
		}
		r = read(STDIN_FILENO, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = errno;

			free(buf);
			tool_fail("read from stdin: %s", strerror(err));
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max)
			break;
	}
	*len = n;
	return buf;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "offset", required_argument, NULL, 'o' },
		{ "length", required_argument, NULL, 'l' },
		{ "write", no_argument, NULL, 'w' },
		{ "raw", no_argument, NULL, 'r' },
		{ "all", no_argument, NULL, 'a' },
		{ "cache", required_argument, NULL, 'C' },
		{ "device", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum ivshmem_map_mode mode = IVSHMEM_MAP_DEFAULT;
	bool write_mode = false, raw = false, all = false, has_length = false;
	uint64_t offset = 0, length = 0, size;
	const char *device = NULL;
	unsigned char *input = NULL;
	struct ivshmem *dev;
	size_t inlen = 0;
	void *mem;
	int c, ret;

	tool_init(argc, argv);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:l:wrad:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			offset = tool_number("--offset", optarg, INT64_MAX, true);
			break;
		case 'l':
			length = tool_number("--length", optarg, INT64_MAX, true);
			has_length = true;
			break;
		case 'w':
			write_mode = true;
			break;
		case 'r':
			raw = true;
			break;
		case 'a':
			all = true;
			break;
		case 'C':
			mode = tool_map_mode(optarg);
			break;
		default:
			tool_option(c, argv, help, &device, NULL);
		}
	}
	device = tool_device_arg(device, argc, argv, optind);
	if (write_mode && raw)
		tool_usage("--write and --raw do not go together");
	/*
	 * The bytes come from other machines: written to a terminal, escape
	 * sequences among them would drive it.  Raw output is for pipes and
	 * files.
	 */
	if (raw && isatty(STDOUT_FILENO))
		tool_usage("--raw: standard output is a terminal; redirect it to a file or pipe");
	if (has_length && length == 0)
		tool_usage("--length: must be at least 1");

	dev = tool_open(device);
	tool_catch_sigbus(ivshmem_path(dev));
	size = ivshmem_size(dev);
	if (offset >= size)
		tool_fail("%s: offset 0x%" PRIx64 " is past the end of the memory (size 0x%"
			  PRIx64 ")", ivshmem_path(dev), offset, size);
	if (has_length && length > size - offset)
		tool_fail("%s: offset 0x%" PRIx64 " + length 0x%" PRIx64
			  " is past the end of the memory (size 0x%" PRIx64 ")",
			  ivshmem_path(dev), offset, length, size);
	if (write_mode) {
		uint64_t room = has_length ? length : size - offset;

		input = slurp_stdin(room, &inlen);
		if (inlen > room) {
			free(input);
			tool_fail("%s: the input does not fit: more than %" PRIu64
				  " bytes from offset 0x%" PRIx64, ivshmem_path(dev), room, offset);
		}
		if (!inlen) {
			free(input);
			ivshmem_close(dev);
			return 0;
		}
		length = inlen;
	} else if (!has_length) {
		length = size - offset;
	}
	ret = ivshmem_map(dev, offset, (size_t)length, mode, &mem);
	if (ret < 0) {
		free(input);
		tool_fail("%s: map 0x%" PRIx64 " bytes at 0x%" PRIx64 ": %s", ivshmem_path(dev),
			  length, offset, ivshmem_strerror(ret));
	}
	if (write_mode) {
		volatile unsigned char *dst = mem;

		for (size_t i = 0; i < inlen; i++)
			dst[i] = input[i];
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	} else if (raw) {
		dump_raw(mem, length);
	} else {
		dump_hex(mem, offset, length, all);
	}
	if (fflush(stdout) != 0)
		tool_fail("write to stdout: %s", strerror(errno));
	ivshmem_unmap(mem, (size_t)length);
	free(input);
	ivshmem_close(dev);
	return 0;
}
