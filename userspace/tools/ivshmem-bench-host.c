// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ivshmem-bench-host - the host-side baselines of make bench
 *
 *   pingpong --kind eventfd|socketpair   round trips between two processes
 *                                        over two eventfds, or one UNIX
 *                                        socketpair: what a doorbell
 *                                        through the server and the library
 *                                        is compared with
 *   fdsend                               CPU cost of one bare sendmsg()
 *                                        carrying one fd: the floor of the
 *                                        server's announcement messages
 *   announce --socket S --server-pid P   N peers connect to a running
 *                                        ivshmem-server and take in every
 *                                        announcement; the server's CPU time
 *                                        and memory are read from /proc
 *
 * Each prints one JSON object.  The two processes of pingpong and fdsend
 * run on the CPUs of --cpus.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-common.h"
#include "common.h"

struct opts {
	const char *kind, *socket;
	uint64_t count, peers, vectors, timeout;
	long server_pid;
	int cpu[2];
};

static void help(void)
{
	printf("Usage: %s pingpong --kind eventfd|socketpair [options]\n"
	       "       %s fdsend [options]\n"
	       "       %s announce --socket PATH --server-pid PID --peers N --vectors V\n"
	       "Host baselines of make bench; each prints one JSON object.\n"
	       "\n"
	       "  -k, --kind=KIND       pingpong over two eventfds or a socketpair\n"
	       "  -n, --count=N         round trips, or messages (default 10000)\n"
	       "  -c, --cpus=A,B        CPUs of the two processes (default: not pinned)\n"
	       "  -S, --socket=PATH     the server's socket (announce)\n"
	       "  -P, --server-pid=PID  the server, for its CPU time and memory (announce)\n"
	       "  -N, --peers=N         peers that connect (announce, default 10)\n"
	       "  -V, --vectors=V       vectors of the server (announce, default 1)\n"
	       "  -t, --timeout=MS      give up after MS (default 300000)\n"
	       "  -h, --help            show this help\n"
	       "\n"
	       "Exit status: 0 success, 1 failure, 2 bad usage.\n",
	       tool_name, tool_name, tool_name);
}


static void xwrite(int fd, const void *buf, size_t len, const char *what)
{
	ssize_t n;

	do {
		n = write(fd, buf, len);
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)len)
		tool_fail("%s: write: %s", what, n < 0 ? strerror(errno) : "short");
}

static void xread(int fd, void *buf, size_t len, const char *what)
{
	ssize_t n;

	do {
		n = read(fd, buf, len);
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)len)
		tool_fail("%s: read: %s", what, n < 0 ? strerror(errno) : "short or end of file");
}



/* ------------------------------------------------------------- pingpong */

/*
 * One side sends, the other answers: @out[0]/@in[0] are the first
 * process's ends, @out[1]/@in[1] the second's.  An eventfd carries the
 * 8-byte counter, a socket one byte.
 */
static int pingpong(const struct opts *o)
{
	bool efd = !strcmp(o->kind, "eventfd");
	uint64_t warm = bench_warm_up(o->count), total = warm + o->count, *lat;
	size_t len = efd ? sizeof(uint64_t) : 1;
	int out[2], in[2];
	pid_t pid;

	if (efd) {
		int a = eventfd(0, EFD_CLOEXEC), b = eventfd(0, EFD_CLOEXEC);

		if (a < 0 || b < 0)
			tool_fail("eventfd: %s", strerror(errno));
		out[0] = a;	/* first rings a, second waits on a */
		in[1] = a;
		out[1] = b;
		in[0] = b;
	} else {
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			tool_fail("socketpair: %s", strerror(errno));
		out[0] = in[0] = sv[0];
		out[1] = in[1] = sv[1];
	}
	lat = calloc(o->count, sizeof(*lat));
	if (!lat)
		tool_fail("out of memory");
	pid = bench_fork_second();
	if (pid == 0) {
		uint64_t v = 1;

		tool_pin_cpu(o->cpu[1]);
		for (uint64_t i = 0; i < total; i++) {
			xread(in[1], &v, len, o->kind);
			v = 1;
			xwrite(out[1], &v, len, o->kind);
		}
		_exit(0);
	}
	tool_pin_cpu(o->cpu[0]);
	for (uint64_t i = 0; i < total; i++) {
		uint64_t v = 1, t0 = tool_now_ns();

		xwrite(out[0], &v, len, o->kind);
		xread(in[0], &v, len, o->kind);
		if (i >= warm)
			lat[i - warm] = tool_now_ns() - t0;
	}
	bench_reap(pid);
	tool_sort_u64(lat, o->count);
	printf("{\"test\": \"pingpong\", \"kind\": \"%s\", \"round_trips\": %" PRIu64
	       ", \"warm_up\": %" PRIu64 ", \"min_us\": %.3f, \"p50_us\": %.3f, "
	       "\"p99_us\": %.3f, \"max_us\": %.3f}\n", o->kind, o->count, warm,
	       (double)lat[0] / 1e3, (double)tool_percentile(lat, o->count, 50) / 1e3,
	       (double)tool_percentile(lat, o->count, 99) / 1e3, (double)lat[o->count - 1] / 1e3);
	free(lat);
	return 0;
}

/* --------------------------------------------------------------- fdsend */

static ssize_t send_fd(int sock, int64_t value, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = &value, .iov_len = sizeof(value) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	ssize_t n;

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	do {
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	return n;
}

/*
 * Receive one 8-byte message, closing whatever fds came with it.
 * Returns the bytes read, 0 at end of file, -errno.
 */
static ssize_t recv_msg(int sock, void *buf, size_t len)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	ssize_t n;

	do {
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	}
	return n;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The sender's CPU time per message, over batches of messages: the
 * receiver takes each message and closes its fd, as a peer does.
 */
static int fdsend(const struct opts *o)
{
	uint64_t batch = 1000, batches = (o->count + batch - 1) / batch, *per, total = 0;
	uint64_t t0;
	int sv[2], efd;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		tool_fail("socketpair: %s", strerror(errno));
	efd = eventfd(0, EFD_CLOEXEC);
	if (efd < 0)
		tool_fail("eventfd: %s", strerror(errno));
	per = calloc(batches, sizeof(*per));
	if (!per)
		tool_fail("out of memory");
	pid = bench_fork_second();
	if (pid == 0) {
		int64_t v;
		ssize_t n;

		tool_pin_cpu(o->cpu[1]);
		close(sv[0]);
		while ((n = recv_msg(sv[1], &v, sizeof(v))) > 0)
			;
		_exit(n < 0);
	}
	close(sv[1]);
	tool_pin_cpu(o->cpu[0]);
	for (uint64_t i = 0; i < bench_warm_up(o->count); i++)
		if (send_fd(sv[0], (int64_t)i, efd) < 0)
			tool_fail("sendmsg: %s", strerror(errno));
	t0 = tool_now_ns();
	for (uint64_t b = 0; b < batches; b++) {
		uint64_t c0 = cpu_ns();

		for (uint64_t i = 0; i < batch; i++)
			if (send_fd(sv[0], (int64_t)i, efd) < 0)
				tool_fail("sendmsg: %s", strerror(errno));
		per[b] = cpu_ns() - c0;
		total += per[b];
	}
	t0 = tool_now_ns() - t0;
	close(sv[0]);
	bench_reap(pid);
	tool_sort_u64(per, batches);
	printf("{\"test\": \"fdsend\", \"messages\": %" PRIu64 ", \"batch\": %" PRIu64
	       ", \"cpu_us_per_msg\": %.4f, \"p50_us\": %.4f, \"p99_us\": %.4f, "
	       "\"wall_s\": %.3f}\n", batches * batch, batch,
	       (double)total / 1e3 / (double)(batches * batch),
	       (double)tool_percentile(per, batches, 50) / 1e3 / (double)batch,
	       (double)tool_percentile(per, batches, 99) / 1e3 / (double)batch, (double)t0 / 1e9);
	free(per);
	return 0;
}

/* ------------------------------------------------------------- announce */

struct proc_stat {
	double cpu_s;		/* user + system */
	long rss_kb, hwm_kb;
};

static void read_proc(long pid, struct proc_stat *st)
{
	char path[64], line[1024], *p;
	unsigned long long ut = 0, stime = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f || !fgets(line, sizeof(line), f))
		tool_fail("%s: %s", path, strerror(errno));
	fclose(f);
	/* Fields after the command name (which may hold spaces): 14 and 15 of stat(5). */
	p = strrchr(line, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &stime) != 2)
		tool_fail("%s: cannot parse", path);
	st->cpu_s = (double)(ut + stime) / (double)sysconf(_SC_CLK_TCK);
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (!f)
		tool_fail("%s: %s", path, strerror(errno));
	st->rss_kb = st->hwm_kb = -1;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "VmRSS: %ld", &st->rss_kb);
		sscanf(line, "VmHWM: %ld", &st->hwm_kb);
	}
	fclose(f);
}

struct client {
	int fd;
	uint64_t bytes;
};

/* Take in what is there for @c; returns -1 when the server hung up. */
static int client_pump(struct client *c)
{
	for (;;) {
		int64_t v;
		ssize_t n = recv_msg(c->fd, &v, sizeof(v));

		if (n == -EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		c->bytes += (uint64_t)n;
	}
}

static int fcntl_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void raise_nofile(uint64_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int announce(const struct opts *o)
{
	uint64_t expect = o->peers * (3 + o->peers * o->vectors), got = 0, t0, elapsed;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct epoll_event evs[256];
	struct proc_stat before, after;
	struct client *cl;
	int ep;

	if (!o->socket || o->server_pid <= 0)
		tool_usage("announce needs --socket and --server-pid");
	if (strlen(o->socket) >= sizeof(addr.sun_path))
		tool_usage("--socket: path too long");
	strcpy(addr.sun_path, o->socket);
	raise_nofile(o->peers + 64);
	tool_pin_cpu(o->cpu[1]);
	cl = calloc(o->peers, sizeof(*cl));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!cl || ep < 0)
		tool_fail("setup: %s", cl ? strerror(errno) : "out of memory");
	read_proc(o->server_pid, &before);
	t0 = tool_now_ns();
	for (uint64_t i = 0; i < o->peers; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = i };
		int n;

		cl[i].fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (cl[i].fd < 0)
			tool_fail("socket (peer %" PRIu64 "): %s", i, strerror(errno));
		if (connect(cl[i].fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			tool_fail("%s: connect (peer %" PRIu64 "): %s", o->socket, i,
				  strerror(errno));
		if (fcntl_nonblock(cl[i].fd) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &ev) < 0)
			tool_fail("peer %" PRIu64 ": %s", i, strerror(errno));
		/* Take in what has come so far, as peers do while others join. */
		while ((n = epoll_wait(ep, evs, 256, 0)) > 0)
			for (int k = 0; k < n; k++)
				if (client_pump(&cl[evs[k].data.u64]) < 0)
					tool_fail("the server hung up on peer %" PRIu64,
						  (uint64_t)evs[k].data.u64);
	}
	for (;;) {
		int n;

		got = 0;
		for (uint64_t i = 0; i < o->peers; i++)
			got += cl[i].bytes / 8;
		if (got >= expect)
			break;
		if (tool_now_ns() - t0 > o->timeout * 1000000ull)
			tool_fail("timed out: %" PRIu64 " of %" PRIu64 " messages", got, expect);
		n = epoll_wait(ep, evs, 256, 100);
		for (int k = 0; k < n; k++)
			if (client_pump(&cl[evs[k].data.u64]) < 0)
				tool_fail("the server hung up on peer %" PRIu64,
					  (uint64_t)evs[k].data.u64);
	}
	elapsed = tool_now_ns() - t0;
	read_proc(o->server_pid, &after);
	for (uint64_t i = 0; i < o->peers; i++) {
		if (cl[i].bytes != 8 * (3 + o->peers * o->vectors))
			tool_fail("peer %" PRIu64 " got %" PRIu64 " messages, not %" PRIu64, i,
				  cl[i].bytes / 8, 3 + o->peers * o->vectors);
		close(cl[i].fd);
	}
	close(ep);
	free(cl);
	printf("{\"test\": \"announce\", \"peers\": %" PRIu64 ", \"vectors\": %" PRIu64
	       ", \"messages\": %" PRIu64 ", \"elapsed_s\": %.3f, \"server_cpu_s\": %.3f, "
	       "\"server_us_per_msg\": %.4f, \"rss_start_kb\": %ld, \"rss_end_kb\": %ld, "
	       "\"rss_peak_kb\": %ld}\n", o->peers, o->vectors, got, (double)elapsed / 1e9,
	       after.cpu_s - before.cpu_s, (after.cpu_s - before.cpu_s) * 1e6 / (double)got,
	       before.rss_kb, after.rss_kb, after.hwm_kb);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "count", required_argument, NULL, 'n' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 'S' },
		{ "server-pid", required_argument, NULL, 'P' },
		{ "peers", required_argument, NULL, 'N' },
		{ "vectors", required_argument, NULL, 'V' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = {
		.kind = "eventfd", .count = 10000, .peers = 10, .vectors = 1, .timeout = 300000,
		.cpu = { -1, -1 },
	};
	const char *cmd;
	int c;

	tool_init(argc, argv);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":k:n:c:S:P:N:V:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			if (strcmp(optarg, "eventfd") && strcmp(optarg, "socketpair"))
				tool_usage("--kind: '%s' is not eventfd or socketpair", optarg);
			o.kind = optarg;
			break;
		case 'n':
			o.count = tool_number("--count", optarg, 100000000, false);
			if (!o.count)
				tool_usage("--count: must be at least 1");
			break;
		case 'c':
			bench_parse_cpus(optarg, o.cpu);
			break;
		case 'S':
			o.socket = optarg;
			break;
		case 'P':
			o.server_pid = (long)tool_number("--server-pid", optarg, INT32_MAX, false);
			break;
		case 'N':
			o.peers = tool_number("--peers", optarg, 65536, false);
			if (!o.peers)
				tool_usage("--peers: must be at least 1");
			break;
		case 'V':
			o.vectors = tool_number("--vectors", optarg, 65536, false);
			break;
		case 't':
			o.timeout = tool_number("--timeout", optarg, INT32_MAX, false);
			break;
		default:
			tool_option(c, argv, help, NULL, NULL);
		}
	}
	if (optind != argc - 1)
		tool_usage("expected one of pingpong, fdsend, announce");
	cmd = argv[optind];
	if (!strcmp(cmd, "pingpong"))
		return pingpong(&o);
	if (!strcmp(cmd, "fdsend"))
		return fdsend(&o);
	if (!strcmp(cmd, "announce"))
		return announce(&o);
	tool_usage("'%s' is not pingpong, fdsend or announce", cmd);
}
