# SPDX-License-Identifier: GPL-2.0-or-later
"""Host tests of the region header that ivshmem-server writes and keeps
(--label, --presence, --presence-vector).

The header is read here from its layout in uapi/linux/ivshmem_region.h,
with Python's struct module, not through region.c, so that a mistake
shared by the server and the library's reader does not go unseen.
tests/presence_stress (C) adds what needs threads and the library's own
reader: snapshots taken while 64 clients come and go.
"""
import hashlib
import json
import mmap
import os
import random
import socket
import struct
import subprocess
import time

from harness import (ASAN, QEMU, TOP, Failure, Server, Skip, check, check_sanitizers,
                     one_line_error, run_server, sanitizer_env, shm_exists, test, unique,
                     wait_until)
from proto_client import Peer

PAGE = 4096
MAGIC = 0x4e47524d48535649
F_LABEL, F_PRESENCE = 1, 2
NO_VECTOR = 0xffffffff
# magic, version, header_size, region_size, flags, generation, max_peers,
# presence_vector, instance, label, reserved[2]
HEADER = struct.Struct('<QIIQIIIIQ64s2Q')
GEN_OFFSET = 28
STRESS = os.path.join(TOP, 'tests', 'presence_stress')
RESTORED = 'region header restored: it was overwritten (migration, or a peer wrote to it)'


class Header:
    """The header as the bytes say, and the table it describes."""

    def __init__(self, mem):
        size = len(mem)
        page = bytes(mem[size - PAGE:])
        (self.magic, self.version, self.header_size, self.region_size, self.flags,
         self.generation, self.max_peers, self.presence_vector, self.instance, label,
         r0, r1) = HEADER.unpack_from(page)
        self.label_field = label
        self.label = label.split(b'\0', 1)[0].decode('ascii', 'replace')
        self.reserved = (r0, r1)
        self.rest = page[HEADER.size:]
        self.table = []
        if self.magic == MAGIC and self.flags & F_PRESENCE and \
                PAGE <= self.header_size < size:
            start = size - self.header_size
            raw = bytes(mem[start:start + 8 * self.max_peers])
            self.table = [struct.unpack_from('<II', raw, 8 * i) for i in range(self.max_peers)]

    def present(self):
        return {i: e for i, (e, s) in enumerate(self.table) if s == 1}


def area(mem, header_size):
    """The header's bytes (table and page), the generation left out."""
    b = bytearray(mem[len(mem) - header_size:])
    at = header_size - PAGE + GEN_OFFSET
    b[at:at + 4] = b'\0\0\0\0'
    return bytes(b)


def map_peer(p, write=False):
    return mmap.mmap(p.memory, p.memory_size, mmap.MAP_SHARED,
                     mmap.PROT_READ | (mmap.PROT_WRITE if write else 0))


def map_object(name):
    fd = os.open('/dev/shm/' + name, os.O_RDONLY)
    try:
        return mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ)
    finally:
        os.close(fd)


def rung(p, vector, timeout):
    """How often vector of peer p was rung (waiting up to timeout for one)."""
    return p.take(vector, timeout)


def check_header(h, size, label=None, max_peers=0, vector=NO_VECTOR):
    """The header fields the server must write, and nothing else."""
    check(h.magic == MAGIC, 'no magic at the end of the region: %#x' % h.magic)
    check(h.version == 1, 'version %d' % h.version)
    want_size = PAGE + (8 * max_peers + PAGE - 1) // PAGE * PAGE
    check(h.header_size == want_size, 'header_size %d, want %d' % (h.header_size, want_size))
    check(h.region_size == size, 'region_size %d, want %d' % (h.region_size, size))
    flags = (F_LABEL if label else 0) | (F_PRESENCE if max_peers else 0)
    check(h.flags == flags, 'flags %#x, want %#x' % (h.flags, flags))
    check(h.generation % 2 == 0, 'generation %d is odd' % h.generation)
    check(h.max_peers == max_peers, 'max_peers %d, want %d' % (h.max_peers, max_peers))
    check(h.presence_vector == vector, 'presence_vector %#x, want %#x' %
          (h.presence_vector, vector))
    want_label = (label or '').encode().ljust(64, b'\0')
    check(h.label_field == want_label, 'label field %r' % h.label_field)
    check(h.reserved == (0, 0) and h.rest == bytes(len(h.rest)),
          'reserved bytes or the rest of the header page are not zero')


@test
def region_header_written(tmp):
    """--label, --presence(-vector): the header is written before peers come, as uapi says"""
    srv = Server(tmp, vectors=2, size='1M', args=['--label=test-region', '--presence-vector=1'])
    try:
        # Before any peer: written by the time the socket listens.
        m = map_object(srv.shm)
        h = Header(m)
        check_header(h, 1 << 20, 'test-region', 256, 1)
        check(h.generation == 0 and h.table == [(0, 0)] * 256,
              'fresh table: generation %d, entries %r...' % (h.generation, h.table[:4]))
        first_instance = h.instance
        a = srv.peer().handshake()
        h = Header(m)
        check(h.generation == 2, 'one connect: generation %d, want 2' % h.generation)
        ea = h.table[a.id][0]
        check(h.present() == {a.id: ea} and ea != 0, 'one peer: table %r' % h.present())
        b = srv.peer().handshake()
        h = Header(m)
        eb = h.table[b.id][0]
        check(eb == (ea + 1) & 0xffffffff or (ea == 0xffffffff and eb == 1),
              'epochs %d then %d: not one counter' % (ea, eb))
        check(h.present() == {a.id: ea, b.id: eb} and h.generation == 4,
              'two peers: %r, generation %d' % (h.present(), h.generation))
        a.wait_for(lambda q: q.knows(b.id))
        b.close()
        a.wait_for(lambda q: ('gone', b.id) in q.events)
        h = Header(m)
        check(h.table[b.id] == (eb, 0) and h.present() == {a.id: ea} and h.generation == 6,
              'after a departure: entry %r, generation %d (the epoch stays, absent)' %
              (h.table[b.id], h.generation))
        c = srv.peer().handshake()
        h = Header(m)
        check(h.table[c.id] == (eb + 1, 1), 'the next connect: %r, epoch %d wanted' %
              (h.table[c.id], eb + 1))
        body = m[:len(m) - h.header_size]
        check(body == bytes(len(body)), 'the server wrote below the header')
        # Shutdown marks everyone absent, in one change.
        gen = h.generation
        srv.stop()
        h = Header(m)
        check(h.present() == {} and h.generation == gen + 2,
              'after shutdown: present %r, generation %d (was %d)' %
              (h.present(), h.generation, gen))
        for p in (a, c):
            p.close()
        m.close()
    finally:
        srv.stop()

    # A label alone, on a memfd, with the longest label: no table.
    label = 'L' * 63
    srv = Server(tmp, vectors=1, size='64K', shm=False, args=['--memfd', '--label=' + label,
                                                              '--max-peers', '1000'])
    try:
        a = srv.peer().handshake()
        m = map_peer(a)
        h = Header(m)
        check_header(h, 65536, label)
        check(h.instance != first_instance, 'two servers, one instance %#x' % h.instance)
        check(h.generation == 0, 'label only: generation %d' % h.generation)
        m.close()
        a.close()
    finally:
        srv.stop()

    # --presence with its own --max-peers, no vector, in a directory.
    d = os.path.join(tmp, 'dir')
    os.mkdir(d)
    srv = Server(tmp, vectors=0, size='1M', shm=False, args=['-m', d, '--presence',
                                                             '--max-peers', '4096'])
    try:
        a = srv.peer().handshake()
        m = map_peer(a)
        h = Header(m)
        check_header(h, 1 << 20, None, 4096)
        check(list(h.present()) == [a.id], 'with -n 0: present %r' % h.present())
        m.close()
        a.close()
    finally:
        srv.stop()


@test
def region_untouched_without_options(tmp):
    """without the header's options the memory stays as it was, byte for byte"""
    srv = Server(tmp, vectors=2, size='256K', shm=False, args=['--memfd'])
    try:
        peers = [srv.peer().handshake() for _ in range(3)]
        peers[0].wait_for(lambda q: q.knows(peers[1].id))
        peers[1].close()
        peers[0].wait_for(lambda q: ('gone', peers[1].id) in q.events)
        m = map_peer(peers[0])
        check(m[:] == bytes(len(m)), 'memfd: the server wrote to the memory')
        m.close()
        for p in (peers[0], peers[2]):
            p.close()
    finally:
        srv.stop()

    # An existing object, with a presence table that a killed server left:
    # a server without --presence leaves it as it is, and says so.
    name = unique('old')
    path = '/dev/shm/' + name
    sock = os.path.join(tmp, 'u.sock')
    srv = Server(tmp, sock=sock, argv=[ASAN, '-F', '-S', sock, '-M', name, '-l', '1M',
                                       '--presence', '--keep-shm'])
    try:
        a = Peer(sock, 1).handshake()
        m = map_peer(a, write=True)
        m[1000:1008] = b'precious'
        m.close()
    finally:
        srv.kill()
        a.close()
    with open(path, 'rb') as f:
        before = hashlib.sha256(f.read()).hexdigest()
    srv = Server(tmp, sock=sock, argv=[ASAN, '-F', '-S', sock, '-M', name, '-l', '1M',
                                       '--keep-shm'])
    try:
        peers = [Peer(sock, 1).handshake() for _ in range(3)]
        for p in peers:
            p.close()
        check('presence table left by an earlier server' in srv.text(),
              'no warning about the stale presence table:\n' + srv.text())
    finally:
        srv.stop()
    with open(path, 'rb') as f:
        after = hashlib.sha256(f.read()).hexdigest()
    os.unlink(path)
    check(before == after, 'a server without header options changed an existing object')


@test
def region_reused_object(tmp):
    """an existing object gets a fresh header; the peers' bytes below it stay"""
    name = unique('reuse')
    path = '/dev/shm/' + name
    size = 1 << 20
    rng = random.Random(7)
    data = bytes(rng.randrange(256) for _ in range(size))
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, data)
    os.close(fd)
    before = hashlib.sha256(data).hexdigest()
    sock = os.path.join(tmp, 'r.sock')
    srv = Server(tmp, sock=sock, argv=[ASAN, '-F', '-S', sock, '-M', name, '-l', '1M', '-n',
                                       '2', '--label=reused', '--presence-vector=0',
                                       '--keep-shm'])
    try:
        m = map_object(name)
        h = Header(m)
        check_header(h, size, 'reused', 256, 0)
        check(h.table == [(0, 0)] * 256, 'the table is not fresh')
        check(m[:size - h.header_size] == data[:size - h.header_size],
              'bytes below the header changed')
        m.close()
    finally:
        srv.stop()
    # Without the options, the same object is left alone from now on.
    with open(path, 'rb') as f:
        before = hashlib.sha256(f.read()).hexdigest()
    srv = Server(tmp, sock=sock, argv=[ASAN, '-F', '-S', sock, '-M', name, '-l', '1M',
                                       '--keep-shm'])
    try:
        peers = [Peer(sock, 1).handshake() for _ in range(4)]
        for p in peers:
            p.close()
    finally:
        srv.stop()
    with open(path, 'rb') as f:
        after = hashlib.sha256(f.read()).hexdigest()
    os.unlink(path)
    check(before == after, 'a server without header options changed the memory')


@test
def presence_vector_rings(tmp):
    """the presence vector of peers connected before a change is rung after it"""
    srv = Server(tmp, vectors=3, size='1M', args=['--presence-vector=2'])
    try:
        m = map_object(srv.shm)
        a = srv.peer().handshake()
        check(rung(a, 2, 0.3) == 0, 'the first peer was rung for its own connect')
        b = srv.peer().handshake()
        check(rung(a, 2, 2) >= 1, 'a was not rung when b connected')
        check(Header(m).present().keys() == {a.id, b.id}, 'b not in the table when a was rung')
        check(rung(b, 2, 0.3) == 0, 'b was rung for its own connect')
        check(rung(a, 0, 0) == 0 and rung(a, 1, 0) == 0, 'other vectors of a were rung')
        b.close()
        check(rung(a, 2, 2) >= 1, 'a was not rung when b left')
        check(Header(m).present().keys() == {a.id}, 'b still present when a was rung')
        c = srv.peer().handshake()
        check(rung(a, 2, 2) >= 1 and rung(c, 2, 0.3) == 0,
              'a not rung for c, or c rung for itself')
        a.close()
        check(rung(c, 2, 2) >= 1, 'c was not rung when a left')
        check(Header(m).present().keys() == {c.id}, 'table after a left: %r' %
              Header(m).present())
        c.close()
        m.close()
    finally:
        srv.stop()


@test
def presence_under_churn(tmp, report):
    """64 clients churn; snapshots taken meanwhile are consistent"""
    if not os.access(STRESS, os.X_OK):
        raise Failure('%s is not built' % STRESS)
    srv = Server(tmp, vectors=2, size='1M',
                 args=['--presence-vector=1', '--max-peers', '4096', '--churn-limit', '0'])
    try:
        t0 = time.monotonic()
        p = subprocess.run([STRESS, srv.sock, '2', '4', '64', '8'], capture_output=True,
                           text=True, timeout=120,
                           env=dict(os.environ, **sanitizer_env(os.path.join(tmp, 'asan'))))
        check_sanitizers(os.path.join(tmp, 'asan'))
        n = 0
        for line in p.stdout.splitlines():
            if line.startswith('ok ') or line.startswith('not ok '):
                n += 1
                report('presence under churn: ' + line.split(' - ', 1)[1],
                       line.startswith('ok '))
            elif line.startswith('#'):
                print(line)
        print('# presence_stress: %.1f s' % (time.monotonic() - t0))
        check(p.returncode == 0 and n == 8, 'presence_stress exited %d after %d results: %s' %
              (p.returncode, n, (p.stdout + p.stderr)[-2000:]))
        check(srv.alive(), 'server died')
    finally:
        srv.stop()


def wait_restored(srv, m, want, what, timeout=2.5):
    """The header's bytes back to want (the generation aside), in time."""
    t0 = time.monotonic()
    wait_until(lambda: area(m, len(want)) == want, timeout=timeout,
               what='the server to restore the header after %s' % what, step=0.02)
    return time.monotonic() - t0


@test
def region_restored(tmp):
    """a header overwritten (by a peer, by a migration) is restored within 2 s, and rung"""
    srv = Server(tmp, vectors=1, size='1M', args=['--label=mine', '--presence-vector=0'])
    other = Server(tmp, vectors=1, size='1M', args=['--label=source', '--presence-vector=0'])
    try:
        a = srv.peer().handshake()
        b = srv.peer().handshake()
        a.take(0, 0.5)
        m = map_peer(a, write=True)
        size = len(m)
        h = Header(m)
        hs = h.header_size
        want = area(m, hs)
        times = []

        # A peer scribbles on the table: an entry of an ID nobody has.
        gen = Header(m).generation
        m[size - hs + 8 * 100:size - hs + 8 * 101] = struct.pack('<II', 1234, 7)
        times.append(wait_restored(srv, m, want, 'a scribbled entry'))
        h = Header(m)
        check(h.generation % 2 == 0 and h.generation > gen,
              'generation %d after restoring, was %d' % (h.generation, gen))
        check(rung(a, 0, 2) >= 1 and rung(b, 0, 2) >= 1, 'peers not rung after the repair')
        wait_until(lambda: srv.text().count(RESTORED) == 1, timeout=2,
                   what='one log line about the repair')

        # A stuck, odd generation: moved past, even again.
        m[size - PAGE + GEN_OFFSET:size - PAGE + GEN_OFFSET + 4] = struct.pack('<I', 0x7fff0001)
        t0 = time.monotonic()
        wait_until(lambda: Header(m).generation != 0x7fff0001, timeout=2.5, step=0.02,
                   what='the server to move the generation past a stuck one')
        times.append(time.monotonic() - t0)
        check(area(m, hs) == want, 'the rest changed when the generation was restored')
        h = Header(m)
        check(h.generation % 2 == 0 and h.generation > 0x7fff0001,
              'generation %#x after a stuck %#x' % (h.generation, 0x7fff0001))

        # A migration: the source server's header, valid, lands on ours.
        s = other.peer().handshake()
        sm = map_peer(s)
        src = bytes(sm[size - hs:])
        check(Header(sm).instance != h.instance and Header(sm).label == 'source',
              'the two servers are not different')
        m[size - hs:] = src
        check(Header(m).label == 'source', 'the copy did not land')
        a.take(0, 0)
        times.append(wait_restored(srv, m, want, 'a copy of another server\'s header'))
        h = Header(m)
        check(h.label == 'mine' and h.present().keys() == {a.id, b.id},
              'after the migration: label %r, present %r' % (h.label, h.present()))
        check(rung(a, 0, 2) >= 1, 'not rung after the migration\'s repair')

        # Garbage over the whole header; the server still serves meanwhile.
        m[size - hs:] = os.urandom(hs)
        c = srv.peer().handshake()
        times.append(wait_restored_present(m, hs, {a.id, b.id, c.id}))
        h = Header(m)
        check_header(h, size, 'mine', 256, 0)
        check(h.present().keys() == {a.id, b.id, c.id}, 'present %r' % h.present())

        # Logged once: the repairs within a minute are counted, not logged.
        check(srv.text().count(RESTORED) == 1, 'log:\n' + srv.text())
        print('# restored after %s s' % ', '.join('%.2f' % t for t in times))
        sm.close()
        m.close()
        for p in (a, b, c, s):
            p.close()
    finally:
        srv.stop()
        other.stop()


def wait_restored_present(m, hs, ids, timeout=2.5):
    """After garbage: a valid header again, the table holding exactly ids."""
    t0 = time.monotonic()

    def ok():
        h = Header(m)
        return h.magic == MAGIC and h.generation % 2 == 0 and h.present().keys() == ids and \
            all(s in (0, 1) for _, s in h.table) and h.rest == bytes(len(h.rest))
    wait_until(ok, timeout=timeout, what='the header restored after garbage', step=0.02)
    return time.monotonic() - t0


@test
def region_bad_options(tmp):
    """bad header options: one-line error, exit 2, nothing created"""
    sock = os.path.join(tmp, 'bad.sock')
    name = unique('bad')
    base = [ASAN, '-F', '-S', sock, '-M', name]
    cases = [
        (['--label=a/b'], ['label', "'a/b'"]),
        (['--label=' + 'x' * 64], ['label', '63']),
        (['--label='], ['label']),
        (['--label=.'], ['label']),
        (['--label=..'], ['label']),
        (['--label=tab\there'], ['label']),
        (['--label=caf\u00e9'], ['label']),
        (['--presence-vector=1'], ['presence vector', "'1'", '-n 1']),
        (['-n', '4', '--presence-vector=4'], ['presence vector', '-n 4']),
        (['-n', '0', '--presence-vector=0'], ['presence vector', '-n 0']),
        (['--presence-vector=x'], ['presence vector', "'x'"]),
        (['--presence-vector=-1'], ['presence vector']),
        (['--presence', '-l', '8K'], ['too small', '8192', '--size=16K']),
        (['--label=x', '-l', '4K'], ['too small', '4096', '--size=8K']),
        (['--presence', '--max-peers', '65536', '-l', '512K'], ['too small', '528384',
                                                               '--size=2048K']),
    ]
    for args, words in cases:
        p = run_server(tmp, base + args)
        one_line_error(p, 2, words)
    check(not os.path.exists(sock) and not shm_exists(name), 'a bad command line left files')


@test
def region_on_hugetlbfs(tmp):
    """-m on hugetlbfs: the header's huge page is mapped, or a clear error"""
    huge = os.path.join(tmp, 'huge')
    os.mkdir(huge)
    if subprocess.run(['mount', '-t', 'hugetlbfs', 'none', huge],
                      capture_output=True).returncode != 0:
        raise Skip('cannot mount hugetlbfs')
    try:
        with open('/proc/meminfo') as f:
            free = [int(x.split()[1]) for x in f if x.startswith('HugePages_Free:')][0]
        argv = [ASAN, '-F', '-S', os.path.join(tmp, 'h.sock'), '-m', huge, '-l', '4K',
                '--label=huge']
        if not free:
            p = run_server(tmp, argv)
            one_line_error(p, 1, ['region header', 'huge page'])
            check(os.listdir(huge) == [], 'files left on hugetlbfs')
            print('# no free huge page: the error checked, not the header')
            return
        srv = Server(tmp, shm=False, argv=argv, sock=argv[3])
        try:
            a = Peer(srv.sock, 1).handshake()
            m = map_peer(a)
            check_header(Header(m), a.memory_size, 'huge')
            m.close()
            a.close()
        finally:
            srv.stop()
    finally:
        subprocess.run(['umount', huge])


class Qmp:
    """A QEMU's QMP socket: one command at a time, events skipped."""

    def __init__(self, path, timeout=60):
        self.sock = socket.socket(socket.AF_UNIX)
        wait_until(lambda: self.sock.connect_ex(path) == 0, timeout=timeout,
                   what='QMP at %s' % path, step=0.05)
        self.f = self.sock.makefile('rw')
        self.read()
        self('qmp_capabilities')

    def read(self):
        line = self.f.readline()
        if not line:
            raise Failure('QMP closed')
        return json.loads(line)

    def __call__(self, cmd, **args):
        self.f.write(json.dumps({'execute': cmd, 'arguments': args}) + '\n')
        self.f.flush()
        while True:
            r = self.read()
            if 'return' in r:
                return r['return']
            if 'error' in r:
                raise Failure('QMP %s: %s' % (cmd, r['error']))

    def close(self):
        self.f.close()
        self.sock.close()


@test
def region_after_migration(tmp):
    """master=on migration: the source's header lands on the destination's, which is restored"""
    if not QEMU:
        raise Skip('qemu-system-x86_64 not installed')
    src = Server(tmp, vectors=1, size='1M', args=['--label=source', '--presence-vector=0'])
    dst = Server(tmp, vectors=1, size='1M', args=['--label=destination', '--presence-vector=0'])
    log = open(os.path.join(tmp, 'qemu.log'), 'w')
    procs = []

    def qemu(srv, name, extra=()):
        argv = [QEMU, '-S', '-nodefaults', '-display', 'none', '-monitor', 'none',
                '-serial', 'none', '-machine', 'pc', '-accel', 'tcg', '-m', '32',
                '-chardev', 'socket,path=%s,id=iv' % srv.sock,
                '-device', 'ivshmem-doorbell,chardev=iv,vectors=1,master=on',
                '-qmp', 'unix:%s,server=on,wait=off' % os.path.join(tmp, name + '.qmp')]
        procs.append(subprocess.Popen(argv + list(extra), stdin=subprocess.DEVNULL,
                                      stdout=log, stderr=log))
        return Qmp(os.path.join(tmp, name + '.qmp'))
    try:
        qs = qemu(src, 'src')
        qd = qemu(dst, 'dst', ['-incoming', 'unix:' + os.path.join(tmp, 'mig.sock')])
        # A host peer on each side: the QEMU masters have ID 0.
        hs = src.peer().handshake(timeout=60)
        hd = dst.peer().handshake(timeout=60)
        check(hs.id == 1 and hd.id == 1, 'the masters are not peer 0 (%d, %d)' % (hs.id, hd.id))
        ms, md = map_peer(hs, write=True), map_peer(hd)
        want = area(md, Header(md).header_size)
        mine = Header(md)
        check(mine.label == 'destination' and mine.present().keys() == {0, 1},
              'destination header before: %r, %r' % (mine.label, mine.present()))
        ms[0x1000:0x1010] = b'from the source!'
        hd.take(0, 0.5)
        qs('migrate', uri='unix:' + os.path.join(tmp, 'mig.sock'))
        wait_until(lambda: qs('query-migrate').get('status') in ('completed', 'failed'),
                   timeout=60, what='the migration', step=0.1)
        check(qs('query-migrate')['status'] == 'completed', 'migration: %r' %
              qs('query-migrate'))
        check(md[0x1000:0x1010] == b'from the source!', 'the memory did not migrate')
        t0 = time.monotonic()
        wait_until(lambda: area(md, mine.header_size) == want, timeout=2.5, step=0.02,
                   what='the destination\'s header to be restored after the migration')
        print('# destination header restored %.2f s after the migration completed' %
              (time.monotonic() - t0))
        h = Header(md)
        check(h.label == 'destination' and h.instance == mine.instance and
              h.generation > mine.generation, 'after: %r %#x gen %d' %
              (h.label, h.instance, h.generation))
        wait_until(lambda: RESTORED in dst.text(), timeout=2, what='the log line')
        check(rung(hd, 0, 2) >= 1, 'the destination\'s peer was not rung')
        check(RESTORED not in src.text(), 'the source restored its header:\n' + src.text())
        for x in (ms, md):
            x.close()
        for q in (qs, qd):
            q.close()
        hs.close()
        hd.close()
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(20)
        log.close()
        src.stop()
        dst.stop()
