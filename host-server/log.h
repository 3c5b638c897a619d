/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * log.h - messages of ivshmem-server
 *
 * One line each, "ivshmem-server: what: why", on stderr in the foreground
 * or to syslog once the server runs as a daemon.
 */
#ifndef IVSHMEM_SERVER_LOG_H
#define IVSHMEM_SERVER_LOG_H

#include <stdbool.h>

#define PROGNAME "ivshmem-server"

void log_init(bool verbose);
void log_to_syslog(void);
bool log_verbose(void);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Worth knowing, not a problem of the server's: always logged. */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Only with -v. */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* IVSHMEM_SERVER_LOG_H */
