// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * wire.c - send and receive one message of the ivshmem server protocol
 *
 * See wire.h.  The kernel keeps descriptors passed with SCM_RIGHTS
 * attached to the bytes they were sent with, and a stream recvmsg()
 * never returns descriptors of two sends at once; reading no further
 * than the end of the current message therefore keeps each descriptor
 * with its own message.
 *
 * Layer: the lowest of libivshmem, beside handle.c; it calls nothing
 * else of the library, and ivshmem-server builds it too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "wire.h"

/* Room for a few descriptors, so that a sender passing too many is seen. */
#define WIRE_MAX_RX_FDS 4

void ivshmem_wire_encode(unsigned char *buf, int64_t value)
{
	uint64_t v = (uint64_t)value;
	int i;

	for (i = 0; i < IVSHMEM_WIRE_MSG_SIZE; i++)
		buf[i] = (unsigned char)(v >> (8 * i));
}

int64_t ivshmem_wire_decode(const unsigned char *buf)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < IVSHMEM_WIRE_MSG_SIZE; i++)
		v |= (uint64_t)buf[i] << (8 * i);
	return (int64_t)v;
}

void ivshmem_wire_tx_init(struct ivshmem_wire_tx *tx, int64_t value, int fd)
{
	ivshmem_wire_encode(tx->buf, value);
	tx->fd = fd;
	tx->sent = 0;
}

int ivshmem_wire_send(int sock, struct ivshmem_wire_tx *tx)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;

	while (tx->sent < IVSHMEM_WIRE_MSG_SIZE) {
		struct iovec iov = {
			.iov_base = tx->buf + tx->sent,
			.iov_len = IVSHMEM_WIRE_MSG_SIZE - tx->sent,
		};
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (tx->sent == 0 && tx->fd >= 0) {
			struct cmsghdr *cmsg;

			memset(&control, 0, sizeof(control));
			msg.msg_control = control.buf;
			msg.msg_controllen = sizeof(control.buf);
			cmsg = CMSG_FIRSTHDR(&msg);
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			cmsg->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cmsg), &tx->fd, sizeof(int));
		}
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		tx->sent += (unsigned int)n;
	}
	return 1;
}

void ivshmem_wire_rx_init(struct ivshmem_wire_rx *rx)
{
	rx->fd = -1;
	rx->got = 0;
}

void ivshmem_wire_rx_reset(struct ivshmem_wire_rx *rx)
{
	if (rx->fd >= 0)
		close(rx->fd);
	ivshmem_wire_rx_init(rx);
}

/*
 * Take the descriptors out of a received control buffer.  Any beyond the
 * first one of a message, or arriving after its first byte, are a
 * protocol error; all of those are closed.
 */
static int wire_take_fds(struct ivshmem_wire_rx *rx, struct msghdr *msg,
			 unsigned int before)
{
	struct cmsghdr *cmsg;
	int ret = 0;

	if (msg->msg_flags & MSG_CTRUNC)
		ret = -EPROTO;
	for (cmsg = CMSG_FIRSTHDR(msg); cmsg; cmsg = CMSG_NXTHDR(msg, cmsg)) {
		size_t i, nfds;

		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		nfds = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfds; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
			if (ret == 0 && before == 0 && rx->fd < 0) {
				rx->fd = fd;
			} else {
				close(fd);
				ret = -EPROTO;
			}
		}
	}
	return ret;
}

int ivshmem_wire_recv(int sock, struct ivshmem_wire_rx *rx, int64_t *value, int *fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(WIRE_MAX_RX_FDS * sizeof(int))];
	} control;

	while (rx->got < IVSHMEM_WIRE_MSG_SIZE) {
		struct iovec iov = {
			.iov_base = rx->buf + rx->got,
			.iov_len = IVSHMEM_WIRE_MSG_SIZE - rx->got,
		};
		struct msghdr msg = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = control.buf,
			.msg_controllen = sizeof(control.buf),
		};
		unsigned int before = rx->got;
		ssize_t n;
		int ret;

		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		ret = wire_take_fds(rx, &msg, before);
		if (ret < 0)
			return ret;
		if (n == 0)
			return rx->got == 0 && rx->fd < 0 ? -ECONNRESET : -EPROTO;
		rx->got += (unsigned int)n;
	}
	*value = ivshmem_wire_decode(rx->buf);
	*fd = rx->fd;
	ivshmem_wire_rx_init(rx);
	return 1;
}
