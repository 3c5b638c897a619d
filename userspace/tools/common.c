// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * common.c - helpers of the ivshmem tools
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <sched.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

const char *tool_name = "ivshmem";

void tool_init(int argc, char **argv)
{
	const char *slash;

	if (argc > 0 && argv[0] && *argv[0]) {
		slash = strrchr(argv[0], '/');
		tool_name = slash ? slash + 1 : argv[0];
	}
}

static void vsay(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", tool_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void tool_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

void tool_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	exit(EXIT_FAILURE);
}

void tool_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", tool_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see %s --help)\n", tool_name);
	exit(EXIT_USAGE);
}

uint64_t tool_number(const char *opt, const char *arg, uint64_t max, bool suffixes)
{
	const char *p = arg;
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	while (isspace((unsigned char)*p))
		p++;
	if (!isdigit((unsigned char)*p))
		goto bad;
	errno = 0;
	/*
	 * Decimal, or hexadecimal after 0x: a leading zero does not make it
	 * octal, as strtoull()'s base 0 would (010 is ten, not eight).
	 */
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		p += 2;
		if (!isxdigit((unsigned char)*p))
			goto bad;
		v = strtoull(p, &end, 16);
	} else {
		v = strtoull(p, &end, 10);
	}
	if (errno == ERANGE)
		goto range;
	if (errno || end == p)
		goto bad;
	if (suffixes && *end) {
		const char *units = "KMGT";
		const char *u = strchr(units, toupper((unsigned char)*end));

		if (!u)
			goto bad;
		shift = 10 * (unsigned int)(u - units + 1);
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
	}
	if (*end)
		goto bad;
	if (shift && v > (UINT64_MAX >> shift))
		goto range;
	v <<= shift;
	if (v > max)
		goto range;
	return v;
bad:
	tool_usage("%s: '%s' is not a number in 0..%" PRIu64 "%s", opt, arg, max,
		   suffixes ? " (K, M, G, T suffixes allowed)" : "");
range:
	tool_usage("%s: '%s' is out of range (0..%" PRIu64 ")", opt, arg, max);
}

void tool_bad_option(int c, char **argv, int idx)
{
	const char *arg = idx > 0 ? argv[idx - 1] : "?";

	if (c == ':')
		tool_usage("option '%s' needs a value", arg);
	if (optopt && optopt < 256 && !(arg[0] == '-' && arg[1] == '-'))
		tool_usage("unknown option '-%c'", optopt);
	tool_usage("unknown option '%s'", arg);
}

void tool_option(int c, char **argv, void (*help)(void), const char **device, bool *verbose)
{
	if (c == 'd' && device) {
		*device = optarg;
	} else if (c == 'V' && verbose) {
		*verbose = true;
	} else if (c == 'h') {
		help();
		exit(0);
	} else {
		tool_bad_option(c, argv, optind);
	}
}

enum ivshmem_map_mode tool_map_mode(const char *arg)
{
	static const char *const names[] = { "default", "wb", "wc", "uc" };

	for (unsigned int i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(arg, names[i]) == 0)
			return (enum ivshmem_map_mode)i;
	tool_usage("--cache: '%s' is not one of default, wb, wc, uc", arg);
}

const char *tool_device_arg(const char *opt_device, int argc, char **argv, int optind)
{
	if (optind < argc - 1)
		tool_usage("too many arguments: '%s'", argv[optind + 1]);
	if (optind == argc - 1) {
		if (opt_device)
			tool_usage("the device is given twice: '%s' and '%s'", opt_device,
				   argv[optind]);
		return argv[optind];
	}
	return opt_device;
}

struct ivshmem *tool_open(const char *device)
{
	struct ivshmem *dev;
	int ret;

	if (!device || !*device)
		device = getenv("IVSHMEM_DEVICE");
	if (device && !*device)
		device = NULL;
	ret = ivshmem_open(device, &dev);
	if (ret == 0)
		return dev;
	if (!device && ret == -ENODEV)
		tool_fail("no ivshmem device found (give one with --device)");
	if (!device)
		tool_fail("cannot find a device: %s", ivshmem_strerror(ret));
	if (ret == -EINVAL)
		tool_fail("%s: not a device: expected /dev/ivshmemN, an index, a PCI address, "
			  "name:LABEL, /dev/uioN or unix:PATH", device);
	if (ret == -ENOENT && strncmp(device, "name:", 5) == 0) {
		char label[TOOL_LABEL_TEXT];

		tool_fail("%s: cannot open: no device has the label '%s'", device,
			  tool_escape(device + 5, label, sizeof(label)));
	}
	tool_fail("%s: cannot open: %s", device, ivshmem_strerror(ret));
}

const char *tool_escape(const char *s, char *buf, unsigned int len)
{
	unsigned int n = 0;

	for (; *s && n + 5 <= len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c > 0x7e || c == '\\')
			n += (unsigned int)snprintf(buf + n, len - n, "\\x%02x", c);
		else
			buf[n++] = (char)c;
	}
	buf[n < len ? n : len - 1] = '\0';
	return buf;
}

const char *tool_human_size(uint64_t size, char *buf, unsigned int len)
{
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	unsigned int u = 0;
	uint64_t whole = size;

	while (u < 4 && whole >= 1024 && whole % 1024 == 0) {
		whole /= 1024;
		u++;
	}
	if (u || size < 1024) {
		snprintf(buf, len, "%" PRIu64 " %s", whole, units[u]);
	} else {
		double v = (double)size;

		while (u < 4 && v >= 1024) {
			v /= 1024;
			u++;
		}
		snprintf(buf, len, "%.1f %s", v, units[u]);
	}
	return buf;
}

static char sigbus_msg[512];
static size_t sigbus_len;

static void on_sigbus(int sig)
{
	(void)sig;
	if (write(STDERR_FILENO, sigbus_msg, sigbus_len) < 0)
		_exit(EXIT_FAILURE);
	_exit(EXIT_FAILURE);
}

void tool_catch_sigbus(const char *path)
{
	struct sigaction sa = { .sa_handler = on_sigbus };
	int n;

	n = snprintf(sigbus_msg, sizeof(sigbus_msg),
		     "%s: %s: the shared memory went away (device removed)\n", tool_name, path);
	sigbus_len = n < 0 ? 0 : (size_t)n < sizeof(sigbus_msg) ? (size_t)n : sizeof(sigbus_msg) - 1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

int64_t tool_now_ms(void)
{
	return (int64_t)(tool_now_ns() / 1000000);
}

uint64_t tool_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void tool_sort_u64(uint64_t *v, uint64_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
}

uint64_t tool_percentile(const uint64_t *v, uint64_t n, unsigned int p)
{
	uint64_t rank = (n * p + 99) / 100;

	return v[rank ? rank - 1 : 0];
}

void tool_pin_cpu(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		tool_fail("pin to CPU %d: %s", cpu, strerror(errno));
}
