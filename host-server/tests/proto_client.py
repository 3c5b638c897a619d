# SPDX-License-Identifier: GPL-2.0-or-later
"""A client of the ivshmem server protocol, written from the protocol
description alone (it shares no code with the server), that checks every
message it receives.

The server sends signed 64-bit little-endian integers over a UNIX stream
socket, some with one descriptor attached (SCM_RIGHTS):

    0                       protocol version
    ID                      our peer ID, 0..65535, no descriptor
    -1 + memory fd          the shared memory
    P + eventfd, N times    an existing peer P's vectors 0..N-1
    ID + eventfd, N times   our own vectors 0..N-1 (the handshake ends here)
    P + eventfd, N times    later: a new peer
    P alone                 later: peer P has gone

Any deviation raises ProtocolError.
"""
import array
import os
import select
import socket
import stat
import struct
import time

MSG = struct.Struct('<q')
MAX_ID = 65535
MSG_CTRUNC = int(socket.MSG_CTRUNC)


class ProtocolError(Exception):
    pass


def fdinfo(fd):
    """The fields of /proc/self/fdinfo/FD as a dict."""
    with open('/proc/self/fdinfo/%d' % fd) as f:
        return dict(line.split(':', 1) for line in f.read().splitlines() if ':' in line)


def eventfd_id(fd):
    """The kernel's ID of an eventfd (the same file gives the same ID in
    every process; None on kernels that do not show it), or raise
    ProtocolError when fd is not an eventfd."""
    f = os.open('/proc/self/fdinfo/%d' % fd, os.O_RDONLY | os.O_CLOEXEC)
    try:
        info = os.read(f, 4096)
    finally:
        os.close(f)
    if b'\neventfd-count:' not in info:
        raise ProtocolError('descriptor is not an eventfd: %s' % os.readlink('/proc/self/fd/%d' % fd))
    at = info.find(b'\neventfd-id:')
    return int(info[at + 13:info.index(b'\n', at + 1)]) if at >= 0 else None


def is_eventfd(fd):
    return os.readlink('/proc/self/fd/%d' % fd) == 'anon_inode:[eventfd]'


def check_memory(fd):
    """A shared memory descriptor: a regular file (shm, tmpfs, hugetlbfs or
    memfd) whose size is a power of two.  Returns the size."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise ProtocolError('memory descriptor is not a regular file: %s' %
                            os.readlink('/proc/self/fd/%d' % fd))
    if st.st_size <= 0 or st.st_size & (st.st_size - 1):
        raise ProtocolError('memory size %d is not a power of two' % st.st_size)
    return st.st_size


class Peer:
    """One connection to the server.

    vectors: the number the server is expected to send per peer.
    keep_fds: keep every eventfd open (to ring peers); else they are
        checked and closed at once, and only their eventfd IDs kept.
    ids: note the kernel's eventfd ID of every other peer's vector (to
        compare with that peer's own); own vectors' IDs are always noted.
    """

    def __init__(self, path, vectors, keep_fds=True, ids=True, blocking=True, sock=None):
        self.vectors = vectors
        self.keep_fds = keep_fds
        self.ids = ids
        self.sock = sock or socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if sock is None:
            self.sock.connect(path)
        self.sock.setblocking(blocking)
        self.buf = b''
        self.pending_fd = None
        self.state = 'version'
        self.id = None
        self.memory = None
        self.memory_size = None
        self.peers = {}         # peer ID -> [fd or eventfd ID per vector]
        self.own = []           # own vectors: fds (keep_fds) or eventfd IDs
        self.own_ids = []       # own vectors' eventfd IDs
        self.peer_ids = {}      # peer ID -> [eventfd ID per vector]
        self.group = None       # peer whose vectors are being announced
        self.events = []        # ('peer', P) when P's group completes, ('gone', P)
        self.received = 0
        self.eof = False

    # -- receiving ---------------------------------------------------------

    def _recv_raw(self):
        """One recvmsg() of at most the rest of the current message.
        Returns False when nothing is there (non-blocking)."""
        try:
            data, anc, flags, _ = self.sock.recvmsg(MSG.size - len(self.buf),
                                                    socket.CMSG_SPACE(4 * 4))
        except (BlockingIOError, InterruptedError):
            return False
        fds = array.array('i')
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
        if flags & MSG_CTRUNC:
            raise ProtocolError('control data truncated')
        if not data:
            for fd in fds:
                os.close(fd)
            if self.buf:
                raise ProtocolError('connection closed within a message')
            self.eof = True
            raise EOFError('server closed the connection')
        if len(fds) > 1 or (fds and (self.buf or self.pending_fd is not None)):
            for fd in fds:
                os.close(fd)
            raise ProtocolError('%d descriptors with one message' % (len(fds) + bool(self.buf)))
        if fds:
            self.pending_fd = fds[0]
        self.buf += data
        return True

    def recv_msg(self):
        """(value, fd or None), or None when no whole message is there yet."""
        while len(self.buf) < MSG.size:
            if not self._recv_raw():
                return None
        value = MSG.unpack(self.buf)[0]
        fd, self.pending_fd, self.buf = self.pending_fd, None, b''
        self.received += 1
        return value, fd

    # -- the protocol ------------------------------------------------------

    def _vector_fd(self, fd, what, own=False):
        if fd is None:
            raise ProtocolError('%s came without a descriptor' % what)
        ident = eventfd_id(fd) if self.ids or own else None
        if ident is None and not is_eventfd(fd):
            raise ProtocolError('%s is not an eventfd: %s' % (what, os.readlink('/proc/self/fd/%d' % fd)))
        if self.keep_fds:
            return fd, ident
        os.close(fd)
        return ident, ident

    def handle(self, value, fd):
        """Check one message against the protocol and apply it."""
        st = self.state
        if st == 'version':
            if fd is not None or value != 0:
                raise ProtocolError('expected version 0 without descriptor, got %d%s' %
                                    (value, ' + fd' if fd is not None else ''))
            self.state = 'id'
        elif st == 'id':
            if fd is not None or not 0 <= value <= MAX_ID:
                raise ProtocolError('expected own ID without descriptor, got %d%s' %
                                    (value, ' + fd' if fd is not None else ''))
            self.id = value
            self.state = 'memory'
        elif st == 'memory':
            if value != -1 or fd is None:
                raise ProtocolError('expected -1 with the memory descriptor, got %d%s' %
                                    (value, ' + fd' if fd is not None else ''))
            self.memory_size = check_memory(fd)
            self.memory = fd
            self.state = 'peers' if self.vectors else 'ready'
        elif fd is None:
            if st != 'ready':
                raise ProtocolError('disconnect notice for %d during the handshake' % value)
            if self.group is not None:
                raise ProtocolError('disconnect notice for %d within the announcement of %d' %
                                    (value, self.group))
            if value not in self.peers:
                raise ProtocolError('disconnect notice for unknown peer %d' % value)
            if self.keep_fds:
                for vfd in self.peers[value]:
                    os.close(vfd)
            del self.peers[value]
            del self.peer_ids[value]
            self.events.append(('gone', value))
        else:
            if not 0 <= value <= MAX_ID:
                self._close_fd(fd)
                raise ProtocolError('vector for invalid peer ID %d' % value)
            if value == self.id:
                if st != 'peers' or self.group is not None:
                    self._close_fd(fd)
                    raise ProtocolError('own vector out of place')
                kept, ident = self._vector_fd(fd, 'own vector %d' % len(self.own), own=True)
                self.own.append(kept)
                self.own_ids.append(ident)
                if len(self.own) == self.vectors:
                    self.state = 'ready'
                    self.events.append(('ready', self.id))
                return
            if self.group is None:
                if value in self.peers:
                    self._close_fd(fd)
                    raise ProtocolError('peer %d announced twice' % value)
                self.group = value
                self.peers[value] = []
                self.peer_ids[value] = []
            elif value != self.group:
                self._close_fd(fd)
                raise ProtocolError('vectors of peer %d within those of peer %d' % (value, self.group))
            kept, ident = self._vector_fd(fd, 'vector %d of peer %d' % (len(self.peers[value]), value))
            self.peers[value].append(kept)
            self.peer_ids[value].append(ident)
            if len(self.peers[value]) == self.vectors:
                self.group = None
                self.events.append(('peer', value))

    def others(self):
        """IDs of the other peers whose announcement is complete, sorted."""
        return sorted(p for p in self.peers if p != self.group)

    def knows(self, peer):
        """Whether peer's announcement is complete."""
        return peer in self.peers and peer != self.group

    @staticmethod
    def _close_fd(fd):
        if fd is not None:
            os.close(fd)

    def pump(self):
        """Handle every whole message that is there (non-blocking use)."""
        n = 0
        while True:
            m = self.recv_msg()
            if m is None:
                return n
            self.handle(*m)
            n += 1

    def wait_for(self, cond, timeout=10.0):
        """Handle messages until cond(self) holds (blocking use)."""
        deadline = time.monotonic() + timeout
        while not cond(self):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('timed out waiting for the server (state %s, %d messages)' %
                                   (self.state, self.received))
            self.sock.settimeout(left)
            try:
                m = self.recv_msg()
            except socket.timeout:
                continue
            if m is not None:
                self.handle(*m)
        return self

    def handshake(self, timeout=10.0):
        return self.wait_for(lambda p: p.state == 'ready', timeout)

    def expect_nothing(self, wait=0.1):
        """No message is pending (after waiting a little)."""
        r, _, _ = select.select([self.sock], [], [], wait)
        return not r

    # -- interrupts --------------------------------------------------------

    def ring(self, peer, vector):
        os.write(self.peers[peer][vector], (1).to_bytes(8, 'little'))

    def take(self, vector, timeout=2.0):
        """Wait for own vector and return its count, or 0 on timeout."""
        fd = self.own[vector]
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            return 0
        return int.from_bytes(os.read(fd, 8), 'little')

    def close(self):
        if self.keep_fds:
            for fds in self.peers.values():
                for fd in fds:
                    os.close(fd)
            for fd in self.own:
                os.close(fd)
        self.peers.clear()
        self.own = []
        if self.memory is not None:
            os.close(self.memory)
            self.memory = None
        if self.pending_fd is not None:
            os.close(self.pending_fd)
            self.pending_fd = None
        self.sock.close()
