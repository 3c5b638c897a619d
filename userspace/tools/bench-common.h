/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-common.h - what the benchmark programs (ivshmem-bench-host,
 * ivshmem-bench-chan) share: they run as two processes of one program
 */
#ifndef IVSHMEM_BENCH_COMMON_H
#define IVSHMEM_BENCH_COMMON_H

#include <stdint.h>
#include <sys/types.h>

/* Untimed rounds before COUNT timed ones: a tenth, 10 to 1000. */
uint64_t bench_warm_up(uint64_t count);

/*
 * fork() the second process, which is killed when the first ends, even
 * when the first is killed; returns as fork() does, failing the tool on
 * an error.
 */
pid_t bench_fork_second(void);

/* Wait for the second process; fail the tool unless it exited with 0. */
void bench_reap(pid_t pid);

/* --cpus A,B: the CPUs of the first and the second process. */
void bench_parse_cpus(char *arg, int cpu[2]);

#endif
