// SPDX-License-Identifier: GPL-2.0
/*
 * A device removed while it is in use:
 *
 *   ivshmem_remove_test LABEL DEV COMMAND
 *
 * opens DEV, maps its memory, binds an eventfd, parks processes in a
 * blocking read() of the device, in poll() and in a read of the eventfd,
 * forks a process that shares the mapping, starts two racers (one maps
 * and unmaps the device in a loop, one forks children that touch the
 * mapping), then runs COMMAND (sysfs
 * remove, driver unbind, or a barrier at which the host unplugs the
 * device) and checks that every waiter woke with the documented result,
 * that the mappings raise SIGBUS, that every later call fails with ENODEV
 * and that the file closes cleanly.  KTAP names start with LABEL.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "ivshmem_util.h"
#include "kselftest.h"

static const char *label;
static sigjmp_buf jb;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

static void result(int ok, const char *what)
{
	ksft_test_result(ok, "%s_%s\n", label, what);
}

/* Does touching p raise SIGBUS? */
static int sigbus_on_touch(volatile char *p)
{
	int got;

	signal(SIGBUS, on_sigbus);
	if (sigsetjmp(jb, 1) == 0) {
		(void)p[0];
		got = 0;
	} else {
		got = 1;
	}
	signal(SIGBUS, SIG_DFL);
	return got;
}

/* Wait until the parent says the removal is complete. */
static void wait_go(int fd)
{
	char c;

	if (read(fd, &c, 1) != 1)
		_exit(9);
}

/*
 * Map and unmap the device in a loop, keeping the previous mapping alive
 * while making the next, until mmap() fails: it must fail with ENODEV,
 * and once the removal is complete the mapping still held must raise
 * SIGBUS (a mapping made while the device went away must not survive
 * it).  Exit status 0 if so.
 */
static int mapper(const char *node, size_t size, int go)
{
	volatile char *held = NULL, *q;
	int fd = open(node, O_RDWR);

	if (fd < 0)
		return 2;
	for (;;) {
		q = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (q == MAP_FAILED)
			break;
		if (held)
			munmap((void *)held, size);
		held = q;
	}
	if (errno != ENODEV)
		return 3;
	wait_go(go);
	return held && !sigbus_on_touch(held) ? 4 : 0;
}

/*
 * Fork children that touch the inherited mapping, until one of them dies
 * of SIGBUS; once the removal is complete, a last child must get SIGBUS
 * too.  Exit status 0 if so.
 */
static int forker(volatile char *p, int go)
{
	int st, i;
	pid_t c;

	for (i = 0; i < 100000; i++) {
		c = fork();
		if (c == 0) {
			(void)p[i % 4096];
			_exit(0);
		}
		if (c < 0 || waitpid(c, &st, 0) != c)
			return 2;
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS)
			break;
	}
	wait_go(go);
	c = fork();
	if (c == 0) {
		(void)p[0];
		_exit(0);
	}
	waitpid(c, &st, 0);
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS ? 0 : 1;
}

/* Wait until a process sleeps (state S), at most 10 s. */
static int sleeping(pid_t pid)
{
	char path[64], buf[256], *s;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (i = 0; i < 1000; i++) {
		if (ivs_read_file(path, buf, sizeof(buf)))
			return 0;
		s = strrchr(buf, ')');
		if (s && s[1] == ' ' && s[2] == 'S')
			return 1;
		usleep(10000);
	}
	return 0;
}

/* Exit status of a child, or -1 if it did not end within 30 s. */
static int reap(pid_t pid)
{
	int st, i;

	for (i = 0; i < 3000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

int main(int argc, char **argv)
{
	pid_t reader = -1, poller, efd_reader = -1, sharer, map_loop, fork_loop;
	struct ivshmem_event ev;
	struct ivshmem_info info;
	struct ivs_dev d;
	int fd, efd = -1, irq, pipefd[2], rc, poll_err;
	volatile char *p;
	struct stat st;
	size_t size;
	uint64_t v;

	if (argc != 4) {
		fprintf(stderr, "usage: %s LABEL DEV COMMAND\n", argv[0]);
		return 2;
	}
	label = argv[1];
	ksft_print_header();
	ksft_set_plan(19);
	if (ivs_find(argv[2], &d))
		ksft_exit_fail_msg("no device %s\n", argv[2]);
	fd = open(d.node, O_RDWR);
	if (fd < 0 || ivs_info(fd, &info))
		ksft_exit_fail_msg("%s: %s\n", d.node, strerror(errno));
	irq = info.nr_vectors > 0;
	size = info.shm_size;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	p[0] = 0x77;
	if (irq) {
		efd = eventfd(0, 0);
		if (ivs_bind(fd, 0, efd))
			ksft_exit_fail_msg("bind: %s\n", strerror(errno));
	}
	ksft_print_msg("%s: %s at %s, %llu bytes, %u vectors\n", label, d.node, d.pci,
		       (unsigned long long)info.shm_size, info.nr_vectors);

	/* Sleepers: read() of its own file, poll(), read() of the eventfd. */
	if (irq) {
		reader = fork();
		if (reader == 0) {
			int f = open(d.node, O_RDWR);

			_exit(f >= 0 && read(f, &ev, sizeof(ev)) < 0 && errno == ENODEV ? 0 : 1);
		}
	}
	/*
	 * poll() sleeps until the removal only where interrupts can wake it;
	 * without any it reports POLLERR at once, and POLLHUP only once the
	 * device is gone.
	 */
	poll_err = ivs_wait(fd, 0) == POLLERR;
	poller = -1;
	if (irq) {
		poller = fork();
		if (poller == 0) {
			struct pollfd pf = { .fd = fd, .events = POLLIN };

			_exit(poll(&pf, 1, 60000) == 1 &&
			      (pf.revents & (POLLHUP | POLLERR)) == (POLLHUP | POLLERR) ? 0 : 1);
		}
	}
	if (irq) {
		efd_reader = fork();
		if (efd_reader == 0)
			_exit(read(efd, &v, sizeof(v)) == sizeof(v) && v >= 1 ? 0 : 1);
	}
	/* A process sharing the mapping touches it once told to. */
	if (pipe(pipefd))
		ksft_exit_fail_msg("pipe\n");
	sharer = fork();
	if (sharer == 0) {
		char c;

		if (read(pipefd[0], &c, 1) != 1)
			_exit(2);
		_exit(sigbus_on_touch(p) ? 0 : 1);
	}
	/* Racers: mmap() and fork() in a loop while the device goes. */
	map_loop = fork();
	if (map_loop == 0)
		_exit(mapper(d.node, size, pipefd[0]));
	fork_loop = fork();
	if (fork_loop == 0)
		_exit(forker(p, pipefd[0]));
	result((reader < 0 || sleeping(reader)) && (poller < 0 || sleeping(poller)) &&
	       (efd_reader < 0 || sleeping(efd_reader)) && sleeping(sharer),
	       "waiters_asleep");
	usleep(200000);

	ksft_print_msg("%s: running %s\n", label, argv[3]);
	rc = system(argv[3]);
	result(rc == 0, "removal_command_succeeds");

	if (irq) {
		result(reap(reader) == 0, "blocked_read_gets_enodev");
		result(reap(efd_reader) == 0, "bound_eventfd_signalled");
	} else {
		ksft_test_result_skip("%s_blocked_read_gets_enodev: no interrupts\n", label);
		ksft_test_result_skip("%s_bound_eventfd_signalled: no interrupts\n", label);
	}
	if (irq)
		result(reap(poller) == 0, "poll_reports_hup_and_err");
	else
		result(poll_err && ivs_wait(fd, 0) == (POLLHUP | POLLERR),
		       "poll_reports_hup_and_err");
	/* The removal is complete: the sharer and the racers may look. */
	if (write(pipefd[1], "xxx", 3) != 3)
		ksft_exit_fail_msg("pipe write\n");
	result(reap(sharer) == 0, "forked_mapping_gets_sigbus");
	result(sigbus_on_touch(p), "mapping_gets_sigbus");
	rc = reap(map_loop);
	if (rc)
		ksft_print_msg("mmap loop: status %d\n", rc);
	result(rc == 0, "mmap_loop_ends_in_enodev_and_sigbus");
	rc = reap(fork_loop);
	if (rc)
		ksft_print_msg("fork loop: status %d\n", rc);
	result(rc == 0, "fork_loop_ends_in_sigbus");

	/* Every later call fails with ENODEV; poll says the device is gone. */
	errno = 0;
	result(ivs_info(fd, &info) < 0 && errno == ENODEV, "info_enodev");
	errno = 0;
	result(ivs_ring(fd, 0, 0) < 0 && errno == ENODEV, "ring_enodev");
	errno = 0;
	result(ivs_set_cache(fd, IVSHMEM_CACHE_WC) < 0 && errno == ENODEV, "set_cache_enodev");
	if (irq) {
		errno = 0;
		rc = ivs_bind(fd, 0, efd);
		result(rc < 0 && errno == ENODEV, "bind_enodev");
	} else {
		ksft_test_result_skip("%s_bind_enodev: no interrupts\n", label);
	}
	errno = 0;
	result(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED &&
	       errno == ENODEV, "mmap_enodev");
	errno = 0;
	result(read(fd, &ev, sizeof(ev)) < 0 && errno == ENODEV, "read_enodev");
	result(ivs_wait(fd, 0) == (POLLHUP | POLLERR), "poll_hup_at_once");
	result(stat(d.node, &st) < 0 && errno == ENOENT, "device_node_gone");
	result(munmap((void *)p, size) == 0, "unmap");
	result(close(fd) == 0 && (efd < 0 || close(efd) == 0), "close");
	ksft_finished();
}
