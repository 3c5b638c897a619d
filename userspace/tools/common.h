/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * common.h - what the ivshmem tools share: option values, errors, opening
 * the device
 *
 * Exit status of every tool: 0 success, 1 failure, 2 bad usage.  Errors
 * are one line on stderr: "tool: what failed: why".
 */
#ifndef IVSHMEM_TOOLS_COMMON_H
#define IVSHMEM_TOOLS_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "libivshmem.h"

#define EXIT_USAGE 2

/* argv[0]'s last component, set by tool_init() */
extern const char *tool_name;

void tool_init(int argc, char **argv);

/*
 * "tool: message", then exit 1 (tool_fail), or 2 with a pointer to --help
 * on the same line (tool_usage).
 */
__attribute__((noreturn, format(printf, 1, 2))) void tool_fail(const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2))) void tool_usage(const char *fmt, ...);
/*
 * Usage error for what getopt_long() returned as @c ('?' or ':', with
 * opterr = 0 and an optstring starting with ':'); @idx is optind.
 */
__attribute__((noreturn)) void tool_bad_option(int c, char **argv, int idx);
/*
 * The options every tool shares, for the default: of its getopt_long()
 * switch: -d/--device sets *@device and -V/--verbose sets *@verbose (where
 * the tool has them: non-NULL), -h/--help prints @help and exits 0, and
 * anything else is the usage error tool_bad_option() gives.
 */
void tool_option(int c, char **argv, void (*help)(void), const char **device, bool *verbose);

/* "tool: message" without exiting */
__attribute__((format(printf, 1, 2))) void tool_warn(const char *fmt, ...);

/*
 * Parse an option's value as an unsigned number no larger than @max:
 * decimal, or hexadecimal with 0x; with @suffixes, K/M/G/T (powers of
 * 1024) may follow.  Anything else is a usage error naming @opt.
 */
uint64_t tool_number(const char *opt, const char *arg, uint64_t max, bool suffixes);

/* Parse --cache=wb|wc|uc|default (usage error otherwise). */
enum ivshmem_map_mode tool_map_mode(const char *arg);

/*
 * Open @device, else $IVSHMEM_DEVICE, else the first device found.  On
 * failure prints why and exits 1.
 */
struct ivshmem *tool_open(const char *device);

/* The device argument: --device, or one positional argument. */
const char *tool_device_arg(const char *opt_device, int argc, char **argv, int optind);

/*
 * Touching a mapping of a removed device raises SIGBUS: make that one
 * line naming @path and exit status 1 instead of a core dump.
 */
void tool_catch_sigbus(const char *path);

/*
 * A label (or any string from shared memory) made safe to print: bytes
 * outside printable ASCII, and the backslash, as \xNN.  A @buf of
 * TOOL_LABEL_TEXT bytes holds any label; longer input is cut.
 */
#define TOOL_LABEL_TEXT	(4 * 64 + 1)
const char *tool_escape(const char *s, char *buf, unsigned int len);

/* "4 MiB", "1.5 GiB", "300 bytes" */
const char *tool_human_size(uint64_t size, char *buf, unsigned int len);

/* Milliseconds of CLOCK_MONOTONIC, and nanoseconds. */
int64_t tool_now_ms(void);
uint64_t tool_now_ns(void);

/* Sort @n samples in place, ascending. */
void tool_sort_u64(uint64_t *v, uint64_t n);

/* Nearest-rank percentile @p (0-100) of the sorted samples @v. */
uint64_t tool_percentile(const uint64_t *v, uint64_t n, unsigned int p);

/* Pin the calling process to @cpu; a negative @cpu leaves it alone. */
void tool_pin_cpu(int cpu);

#endif /* IVSHMEM_TOOLS_COMMON_H */
