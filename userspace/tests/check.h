/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * check.h - what the library's test programs share: "ok - NAME" and
 * "not ok - NAME: why" lines, counted in @failures, and the clock.
 * Each test is one file: the functions are static to it.
 */
#ifndef IVSHMEM_TESTS_CHECK_H
#define IVSHMEM_TESTS_CHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "libivshmem.h"

static int failures;

__attribute__((format(printf, 3, 4)))
static inline bool check(bool cond, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (cond) {
		printf("ok - %s\n", name);
	} else {
		printf("not ok - %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
		failures++;
	}
	fflush(stdout);
	return cond;
}

/* A return value or -errno against the one wanted, with its meaning. */
static inline bool check_ret(long ret, long want, const char *name)
{
	return check(ret == want, name, "got %ld (%s), want %ld", ret,
		     ivshmem_strerror((int)ret), want);
}

__attribute__((format(printf, 1, 2)))
static inline void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int64_t now_ms(void)
{
	return now_ns() / 1000000;
}

static inline void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

#endif
