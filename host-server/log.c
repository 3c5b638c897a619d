// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * log.c - messages of ivshmem-server, to stderr or syslog
 */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "log.h"

static bool verbose;
static bool use_syslog;

void log_init(bool v)
{
	verbose = v;
}

void log_to_syslog(void)
{
	openlog(PROGNAME, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	use_syslog = true;
}

bool log_verbose(void)
{
	return verbose;
}

static void log_line(int prio, const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (use_syslog)
		syslog(prio, "%s", line);
	else
		fprintf(stderr, PROGNAME ": %s\n", line);
}

void log_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(LOG_ERR, fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(LOG_INFO, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	log_line(LOG_DEBUG, fmt, ap);
	va_end(ap);
}
