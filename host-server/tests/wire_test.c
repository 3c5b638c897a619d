// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * wire_test - the wire format module against real UNIX sockets, TAP output
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wire.h"

static int test_no;
static int failures;

static void result(int ok, const char *name)
{
	printf("%sok %d - %s\n", ok ? "" : "not ", ++test_no, name);
	if (!ok)
		failures++;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the directory's own descriptor */
}

static void pair(int sv[2], int nonblock)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0, sv) < 0) {
		perror("socketpair");
		exit(1);
	}
}

static int send_one(int sock, int64_t value, int fd)
{
	struct ivshmem_wire_tx tx;

	ivshmem_wire_tx_init(&tx, value, fd);
	return ivshmem_wire_send(sock, &tx);
}

/* Raw bytes with any number of descriptors, bypassing the module. */
static void send_raw(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	char control[CMSG_SPACE(4 * sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cmsg;

	if (nfds) {
		msg.msg_control = control;
		msg.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(cmsg), fds, (size_t)nfds * sizeof(int));
	}
	if (sendmsg(sock, &msg, 0) != (ssize_t)len) {
		perror("sendmsg");
		exit(1);
	}
}

static void test_encoding(void)
{
	static const int64_t values[] = { 0, 1, -1, 65535, INT64_MIN, INT64_MAX };
	static const unsigned char minus2[8] = { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const unsigned char v258[8] = { 2, 1, 0, 0, 0, 0, 0, 0 };
	unsigned char buf[8];
	int ok = 1;
	size_t i;

	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		ivshmem_wire_encode(buf, values[i]);
		ok &= ivshmem_wire_decode(buf) == values[i];
	}
	ivshmem_wire_encode(buf, -2);
	ok &= !memcmp(buf, minus2, 8);
	ivshmem_wire_encode(buf, 258);
	ok &= !memcmp(buf, v258, 8);
	result(ok, "values are 8 bytes, little-endian, two's complement");
}

static void test_fd_travels(void)
{
	struct ivshmem_wire_rx rx;
	int sv[2], p[2], fd = -1, ret1, ret2;
	int64_t v = 0;
	char c = 0;

	pair(sv, 0);
	if (pipe(p) < 0)
		exit(1);
	ret1 = send_one(sv[0], -1, p[1]);
	ivshmem_wire_rx_init(&rx);
	ret2 = ivshmem_wire_recv(sv[1], &rx, &v, &fd);
	result(ret1 == 1 && ret2 == 1 && v == -1 && fd >= 0 && fd != p[1] &&
	       (fcntl(fd, F_GETFD) & FD_CLOEXEC) && write(fd, "x", 1) == 1 &&
	       read(p[0], &c, 1) == 1 && c == 'x',
	       "a descriptor arrives with its message, close-on-exec, same file");
	close(fd);
	close(p[0]);
	close(p[1]);

	ret1 = send_one(sv[0], 7, -1);
	ret2 = ivshmem_wire_recv(sv[1], &rx, &v, &fd);
	result(ret1 == 1 && ret2 == 1 && v == 7 && fd == -1, "a message without descriptor");
	close(sv[0]);
	close(sv[1]);
}

static void test_fds_stay_with_messages(void)
{
	struct ivshmem_wire_rx rx;
	int sv[2], p[2], fd[3], ok = 1, i;
	int64_t v;

	pair(sv, 1);
	if (pipe(p) < 0)
		exit(1);
	ok &= send_one(sv[0], 10, p[0]) == 1;
	ok &= send_one(sv[0], 11, -1) == 1;
	ok &= send_one(sv[0], 12, p[1]) == 1;
	ivshmem_wire_rx_init(&rx);
	for (i = 0; i < 3; i++)
		ok &= ivshmem_wire_recv(sv[1], &rx, &v, &fd[i]) == 1 && v == 10 + i;
	ok &= fd[0] >= 0 && fd[1] == -1 && fd[2] >= 0;
	ok &= ivshmem_wire_recv(sv[1], &rx, &v, &fd[1]) == 0;
	result(ok, "back-to-back messages keep their own descriptors; empty socket gives 0");
	close(fd[0]);
	close(fd[2]);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_partial(void)
{
	unsigned char buf[8];
	struct ivshmem_wire_rx rx;
	int sv[2], p[2], fd = -1, r1, r2;
	int64_t v = 0;

	pair(sv, 1);
	if (pipe(p) < 0)
		exit(1);
	ivshmem_wire_encode(buf, 0x0102030405060708LL);
	send_raw(sv[0], buf, 3, &p[0], 1);
	ivshmem_wire_rx_init(&rx);
	r1 = ivshmem_wire_recv(sv[1], &rx, &v, &fd);
	send_raw(sv[0], buf + 3, 5, NULL, 0);
	r2 = ivshmem_wire_recv(sv[1], &rx, &v, &fd);
	result(r1 == 0 && rx.got == 0 && r2 == 1 && v == 0x0102030405060708LL && fd >= 0,
	       "a message split in two sends is completed by the next call");
	close(fd);

	send_raw(sv[0], buf, 3, NULL, 0);
	r1 = ivshmem_wire_recv(sv[1], &rx, &v, &fd);
	send_raw(sv[0], buf + 3, 5, &p[0], 1);
	r2 = ivshmem_wire_recv(sv[1], &rx, &v, &fd);
	result(r1 == 0 && r2 == -EPROTO,
	       "a descriptor arriving after a message has begun is a protocol error");
	ivshmem_wire_rx_reset(&rx);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_bad_input(void)
{
	unsigned char buf[8] = { 0 };
	struct ivshmem_wire_rx rx;
	int sv[2], p[2], fd, before, ret;
	int64_t v;

	before = count_fds();
	pair(sv, 1);
	if (pipe(p) < 0)
		exit(1);
	send_raw(sv[0], buf, 8, p, 2);
	ivshmem_wire_rx_init(&rx);
	ret = ivshmem_wire_recv(sv[1], &rx, &v, &fd);
	ivshmem_wire_rx_reset(&rx);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	result(ret == -EPROTO && count_fds() == before,
	       "two descriptors in one message: -EPROTO, none leaked");

	pair(sv, 1);
	close(sv[0]);
	ret = ivshmem_wire_recv(sv[1], &rx, &v, &fd);
	result(ret == -ECONNRESET, "end of stream between messages: -ECONNRESET");
	close(sv[1]);

	pair(sv, 1);
	send_raw(sv[0], buf, 5, NULL, 0);
	close(sv[0]);
	ret = ivshmem_wire_recv(sv[1], &rx, &v, &fd);
	result(ret == -EPROTO, "end of stream within a message: -EPROTO");
	ivshmem_wire_rx_reset(&rx);
	close(sv[1]);
}

static void test_full_socket(void)
{
	struct ivshmem_wire_rx rx;
	struct ivshmem_wire_tx tx;
	int sv[2], p[2], fd, n = 0, ret, got = 0, ok = 1, size = 4096;
	int64_t v;

	pair(sv, 1);
	if (pipe(p) < 0)
		exit(1);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	for (;;) {
		ivshmem_wire_tx_init(&tx, n, p[0]);
		ret = ivshmem_wire_send(sv[0], &tx);
		if (ret != 1)
			break;
		n++;
	}
	ok &= ret == 0 && n > 0;
	ivshmem_wire_rx_init(&rx);
	while (ivshmem_wire_recv(sv[1], &rx, &v, &fd) == 1) {
		ok &= v == got++ && fd >= 0;
		close(fd);
	}
	ok &= got == n;
	ok &= ivshmem_wire_send(sv[0], &tx) == 1;
	ok &= ivshmem_wire_recv(sv[1], &rx, &v, &fd) == 1 && v == n && fd >= 0;
	close(fd);
	result(ok, "a full socket gives 0, and the same message goes out once drained");
	printf("# %d messages with descriptors fit a 4 KiB send buffer\n", n);

	close(sv[1]);
	ivshmem_wire_tx_init(&tx, 1, -1);
	result(ivshmem_wire_send(sv[0], &tx) == -EPIPE, "sending to a closed peer: -EPIPE, no SIGPIPE");
	close(sv[0]);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_encoding();
	test_fd_travels();
	test_fds_stay_with_messages();
	test_partial();
	test_bad_input();
	test_full_socket();
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
