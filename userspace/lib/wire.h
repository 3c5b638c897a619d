/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wire.h - the wire format of the ivshmem server protocol
 *
 * Every message the server sends is one signed 64-bit little-endian
 * integer, optionally carrying one file descriptor (SCM_RIGHTS) over a
 * UNIX stream socket.  This module encodes, sends, receives and decodes
 * exactly one such message; what the messages mean (version, peer IDs,
 * shared memory, eventfds) is left to the caller.  It is shared by
 * ivshmem-server and the host backend of libivshmem.
 *
 * The functions work on blocking and non-blocking sockets alike.  A
 * message is sent or received through a small state object, so a
 * message interrupted by a full (or empty) socket is simply continued by
 * the next call once the socket is ready again.  Nothing here allocates,
 * prints or keeps global state; distinct state objects may be used from
 * distinct threads.
 */
#ifndef IVSHMEM_WIRE_H
#define IVSHMEM_WIRE_H

#include <stdint.h>

/** Size of one message on the wire, in bytes. */
#define IVSHMEM_WIRE_MSG_SIZE 8

/** The protocol version, the first message a client receives. */
#define IVSHMEM_WIRE_VERSION 0

/** The value that carries the shared memory descriptor (third message). */
#define IVSHMEM_WIRE_SHM (-1)

/**
 * struct ivshmem_wire_tx - one outgoing message and how much of it is out
 * @buf:  the encoded value
 * @fd:   descriptor to attach, or -1; sent with the first byte, never
 *        closed here (the caller still owns it)
 * @sent: bytes of @buf already sent
 */
struct ivshmem_wire_tx {
	unsigned char buf[IVSHMEM_WIRE_MSG_SIZE];
	int fd;
	unsigned int sent;
};

/**
 * struct ivshmem_wire_rx - one incoming message, possibly incomplete
 * @buf:  bytes received so far
 * @fd:   descriptor that arrived with them, or -1 (owned by this state
 *        until handed to the caller; ivshmem_wire_rx_reset() closes it)
 * @got:  bytes of @buf received
 */
struct ivshmem_wire_rx {
	unsigned char buf[IVSHMEM_WIRE_MSG_SIZE];
	int fd;
	unsigned int got;
};

/**
 * ivshmem_wire_encode() - store a value as 8 little-endian bytes
 * @buf: IVSHMEM_WIRE_MSG_SIZE bytes
 * @value: the value
 */
void ivshmem_wire_encode(unsigned char *buf, int64_t value);

/**
 * ivshmem_wire_decode() - read 8 little-endian bytes as a value
 * @buf: IVSHMEM_WIRE_MSG_SIZE bytes
 *
 * Return: the value.
 */
int64_t ivshmem_wire_decode(const unsigned char *buf);

/**
 * ivshmem_wire_tx_init() - prepare a message for sending
 * @tx: state to fill in
 * @value: the value
 * @fd: descriptor to pass along, or -1 for none
 */
void ivshmem_wire_tx_init(struct ivshmem_wire_tx *tx, int64_t value, int fd);

/**
 * ivshmem_wire_send() - send the rest of a message
 * @sock: connected AF_UNIX stream socket
 * @tx: the message, as prepared by ivshmem_wire_tx_init()
 *
 * Sends with MSG_NOSIGNAL, so a closed peer gives -EPIPE rather than
 * SIGPIPE.  EINTR is retried.
 *
 * Return: 1 when the whole message has been sent, 0 when the socket is
 * full (tx keeps what is left: call again once the socket is writable),
 * or a negative errno (-EPIPE, -ECONNRESET, -ETOOMANYREFS, ...).
 */
int ivshmem_wire_send(int sock, struct ivshmem_wire_tx *tx);

/**
 * ivshmem_wire_rx_init() - prepare to receive a message
 * @rx: state to initialise (it holds no descriptor afterwards)
 */
void ivshmem_wire_rx_init(struct ivshmem_wire_rx *rx);

/**
 * ivshmem_wire_rx_reset() - forget a partly received message
 * @rx: state; a descriptor it holds is closed
 */
void ivshmem_wire_rx_reset(struct ivshmem_wire_rx *rx);

/**
 * ivshmem_wire_recv() - receive (the rest of) one message
 * @sock: connected AF_UNIX stream socket
 * @rx: receive state, initialised with ivshmem_wire_rx_init()
 * @value: set to the decoded value when a message is complete
 * @fd: set to the attached descriptor (close-on-exec) or -1 when a
 *      message is complete; the caller then owns it
 *
 * Reads no further than the end of the current message, so the next
 * message and its descriptor stay in the socket.  EINTR is retried.
 * After a complete message @rx is ready for the next one.
 *
 * Return: 1 when a message is complete, 0 when the socket has no more
 * data yet (partial data stays in @rx), -ECONNRESET when the sender
 * closed the connection at a message boundary, -EPROTO when it closed
 * mid-message or sent more than one descriptor (or a descriptor within
 * a message, or one that did not fit), or another negative errno from
 * recvmsg().  After an error, call ivshmem_wire_rx_reset() before
 * reusing @rx.
 */
int ivshmem_wire_recv(int sock, struct ivshmem_wire_rx *rx, int64_t *value, int *fd);

#endif /* IVSHMEM_WIRE_H */
