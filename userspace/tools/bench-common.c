// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench-common.c - helpers of the benchmark programs (bench-common.h)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-common.h"
#include "common.h"

uint64_t bench_warm_up(uint64_t count)
{
	uint64_t w = count / 10;

	return w < 10 ? 10 : w > 1000 ? 1000 : w;
}

pid_t bench_fork_second(void)
{
	pid_t parent = getpid(), pid = fork();

	if (pid < 0)
		tool_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* The first ended before the line above took effect. */
		if (getppid() != parent)
			_exit(1);
	}
	return pid;
}

void bench_reap(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		tool_fail("the second process failed");
}

void bench_parse_cpus(char *arg, int cpu[2])
{
	char *comma = strchr(arg, ',');

	if (!comma)
		tool_usage("--cpus: expected A,B");
	*comma = '\0';
	cpu[0] = (int)tool_number("--cpus", arg, CPU_SETSIZE - 1, false);
	cpu[1] = (int)tool_number("--cpus", comma + 1, CPU_SETSIZE - 1, false);
}
