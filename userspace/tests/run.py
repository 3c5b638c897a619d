#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Host tests of libivshmem and the ivshmem tools (make -C userspace check).

Everything runs against the project's own ivshmem-server (host-server/),
with the library, the tools and the test programs built under ASan and
UBSan (build-asan/); the library's layering is checked too (layers.py).
Prints TAP; exits 1 on any failure.  Tests that need the server are
skipped, with the reason, while it is not built.
"""

import glob
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import layers

HERE = os.path.dirname(os.path.realpath(__file__))
USERSPACE = os.path.dirname(HERE)
TOP = os.path.dirname(USERSPACE)
ASAN = os.path.join(USERSPACE, 'build-asan')
TOOLS = ['ivshmem-info', 'ivshmem-ring', 'ivshmem-wait', 'ivshmem-dump', 'ivshmem-bench',
         'ivshmem-label', 'ivshmem-pipe']
SANITIZER_RE = re.compile(r'AddressSanitizer|LeakSanitizer|runtime error:|UndefinedBehavior')
ENV = dict(os.environ,
           ASAN_OPTIONS='detect_leaks=1:abort_on_error=0:exitcode=99',
           UBSAN_OPTIONS='halt_on_error=1:print_stacktrace=1:exitcode=99',
           LC_ALL='C')
ENV.pop('IVSHMEM_DEVICE', None)


class Tap:
    def __init__(self):
        self.n = self.failed = 0
        self.sanitizer = []

    def ok(self, cond, name, detail=''):
        self.n += 1
        print('%s %d - %s' % ('ok' if cond else 'not ok', self.n, name), flush=True)
        if not cond:
            self.failed += 1
            for line in str(detail).splitlines()[-30:]:
                print('#   ' + line, flush=True)
        return cond

    def skip(self, name, why):
        self.n += 1
        print('ok %d - %s # SKIP %s' % (self.n, name, why), flush=True)

    def diag(self, text):
        for line in str(text).splitlines():
            print('# ' + line, flush=True)


tap = Tap()


def note_sanitizer(what, text):
    if text and SANITIZER_RE.search(text):
        tap.sanitizer.append('%s:\n%s' % (what, text[-3000:]))


def tool(name):
    return os.path.join(ASAN, 'tools', name)


def run(cmd, input=None, timeout=60, env=None):
    p = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout,
                       env=env or ENV)
    out = p.stdout.decode(errors='replace')
    err = p.stderr.decode(errors='replace')
    note_sanitizer(' '.join(cmd), err)
    return p.returncode, out, err


def start(cmd, env=None):
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env or ENV)


def finish(proc, timeout=30):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    err = err.decode(errors='replace')
    note_sanitizer(' '.join(proc.args), err)
    return proc.returncode, out.decode(errors='replace'), err


def read_line(stream, timeout=10):
    """One line from a pipe, or '' after the timeout."""
    result = []
    t = threading.Thread(target=lambda: result.append(stream.readline()))
    t.daemon = True
    t.start()
    t.join(timeout)
    return result[0].decode(errors='replace') if result else ''


def one_line(err):
    return len(err.strip().splitlines()) == 1


def listening(path):
    """Whether a UNIX socket listens on path (its file exists before listen())."""
    try:
        with open('/proc/net/unix') as f:
            for line in f:
                parts = line.split()
                # Flags 00010000: accepting connections
                if len(parts) >= 8 and parts[7] == path and int(parts[3], 16) & 0x10000:
                    return True
    except OSError:
        return os.path.exists(path)
    return False


class Server:
    """Our ivshmem-server in the foreground, on a socket in a temp dir;
    its memory a memfd, or the POSIX object shm when given."""

    def __init__(self, binary, workdir, name, vectors=4, size='1M', shm=None, extra=()):
        self.sock = os.path.join(workdir, name + '.sock')
        self.spec = 'unix:' + self.sock
        self.log = open(os.path.join(workdir, name + '.log'), 'w+')
        memory = ['-M', shm] if shm else ['--memfd']
        self.proc = subprocess.Popen([binary, '-F', '-S', self.sock] + memory +
                                     ['-l', size, '-n', str(vectors)] + list(extra),
                                     stdout=self.log, stderr=subprocess.STDOUT, env=ENV)
        deadline = time.time() + 10
        while not listening(self.sock):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError('server did not start: ' + self.output())
            time.sleep(0.02)

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self, sig=signal.SIGTERM):
        if self.log.closed:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        note_sanitizer('ivshmem-server', self.output())
        self.log.close()


def server_binary():
    for name in ('ivshmem-server-asan', 'ivshmem-server'):
        path = os.path.join(TOP, 'host-server', name)
        if os.access(path, os.X_OK):
            return path
    return None


# ------------------------------------------------------------------ static

def public_functions():
    with open(os.path.join(USERSPACE, 'lib', 'libivshmem.h')) as f:
        text = f.read()
    text = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
    return sorted(set(re.findall(r'\b(ivshmem_[a-z_]+)\s*\(', text)))


def map_nodes():
    """{function: version node} of libivshmem.map, in the file's order."""
    nodes, node = {}, None
    with open(os.path.join(USERSPACE, 'lib', 'libivshmem.map')) as f:
        for line in f:
            m = re.match(r'^(LIBIVSHMEM_[0-9.]+)\s*\{', line)
            if m:
                node = m.group(1)
            m = re.match(r'^\s+(ivshmem_[a-z_]+);', line)
            if m and node:
                nodes[m.group(1)] = node
    return nodes


def test_header_and_symbols():
    lib = os.path.join(USERSPACE, 'lib')
    for std, extra in (('c11', ['-Wall', '-Wextra', '-Werror', '-pedantic-errors']),
                       ('c99', ['-Wall', '-Wextra', '-Werror', '-pedantic-errors'])):
        rc, _, err = run(['cc', '-std=' + std, '-x', 'c', '-fsyntax-only', '-I', lib] + extra +
                         ['-'], input=b'#include <libivshmem.h>\n')
        tap.ok(rc == 0, 'libivshmem.h compiles alone (-std=%s -pedantic)' % std, err)
    rc, _, err = run(['cc', '-std=c11', '-Wall', '-Werror', '-x', 'c', '-fsyntax-only',
                      '-I', lib, '-I', os.path.join(TOP, 'uapi'), '-'],
                     input=b'#include <linux/ivshmem.h>\n#include <libivshmem.h>\n')
    tap.ok(rc == 0, 'libivshmem.h and linux/ivshmem.h go together in one program', err)
    if shutil.which('c++'):
        rc, _, err = run(['c++', '-Wall', '-Werror', '-x', 'c++', '-fsyntax-only', '-I', lib,
                          '-'], input=b'#include <libivshmem.h>\n')
        tap.ok(rc == 0, 'libivshmem.h compiles as C++', err)
    else:
        tap.skip('libivshmem.h compiles as C++', 'no C++ compiler')

    so = os.path.join(lib, 'libivshmem.so.1')
    rc, out, _ = run(['readelf', '-d', so])
    tap.ok('Library soname: [libivshmem.so.1]' in out, 'SONAME is libivshmem.so.1', out)
    rc, out, _ = run(['nm', '-D', '--defined-only', so])
    exported = sorted(set(re.sub(r'@.*', '', line.split()[-1]) for line in out.splitlines()
                          if not line.split()[-1].startswith('LIBIVSHMEM_')))
    want = public_functions()
    tap.ok(exported == want, 'the shared library exports exactly the header\'s functions',
           'exported only: %s\nnot exported: %s' % (sorted(set(exported) - set(want)),
                                                    sorted(set(want) - set(exported))))
    nodes = map_nodes()
    tap.ok(all('@@%s' % nodes.get(re.sub(r'@.*', '', line.split()[-1]), '?') in line
               for line in out.splitlines() if 'ivshmem_' in line),
           'every exported function has the version of its node in libivshmem.map', out)
    tap.ok(list(nodes.values())[:1] == ['LIBIVSHMEM_1'] and
           nodes.get('ivshmem_memtype') == 'LIBIVSHMEM_1.1',
           'the first functions are LIBIVSHMEM_1, ivshmem_memtype() LIBIVSHMEM_1.1',
           str(nodes))
    tap.ok(nodes.get('ivshmem_region_info') == 'LIBIVSHMEM_1.2' and
           nodes.get('ivshmem_peer_epoch') == 'LIBIVSHMEM_1.2' and
           nodes.get('ivshmem_peers') == 'LIBIVSHMEM_1',
           'the region header\'s functions are LIBIVSHMEM_1.2, the others keep their node',
           str(nodes))
    chan = [f for f in want if f.startswith('ivshmem_chan_')]
    tap.ok(len(chan) == 10 and all(nodes.get(f) == 'LIBIVSHMEM_1.2' for f in chan),
           'the channels\' ten functions (zero copy included) are LIBIVSHMEM_1.2', str(chan))
    rc, out, _ = run(['nm', '-g', '--defined-only', os.path.join(lib, 'libivshmem.a')])
    glob_syms = sorted(set(line.split()[-1] for line in out.splitlines()
                           if len(line.split()) == 3))
    tap.ok(glob_syms == want, 'the static library has only the public names global',
           'extra: %s' % sorted(set(glob_syms) - set(want)))


def test_layers():
    for ok, name, detail in layers.check(os.path.join(USERSPACE, 'lib')):
        tap.ok(ok, name, detail)


def test_install(work):
    """make install DESTDIR, then build the documented example with pkg-config."""
    dest = os.path.join(work, 'dest')
    p = subprocess.run(['make', '--no-print-directory', '-C', USERSPACE, 'install',
                        'DESTDIR=' + dest], capture_output=True, text=True)
    if not tap.ok(p.returncode == 0, 'make install DESTDIR=...', p.stdout + p.stderr):
        return None
    env = dict(ENV, PKG_CONFIG_SYSROOT_DIR=dest,
               PKG_CONFIG_LIBDIR=os.path.join(dest, 'usr/local/lib/pkgconfig'))
    p = subprocess.run(['pkg-config', '--cflags', '--libs', 'ivshmem'], env=env,
                       capture_output=True, text=True)
    if not tap.ok(p.returncode == 0, 'pkg-config --cflags --libs ivshmem', p.stderr):
        return None
    src = os.path.join(ASAN, 'tests', 'example.c')
    exe = os.path.join(work, 'hello')
    cc = subprocess.run(['cc', '-std=c11', '-Wall', '-Wextra', '-Werror', '-o', exe, src] +
                        p.stdout.split(), capture_output=True, text=True)
    tap.ok(cc.returncode == 0, 'the example builds with pkg-config against the installed library',
           cc.stdout + cc.stderr)
    p = subprocess.run(['pkg-config', '--static', '--libs', 'ivshmem'], env=env,
                       capture_output=True, text=True)
    libs = [a for a in p.stdout.split() if a != '-livshmem']
    static = os.path.join(work, 'hello-static')
    cc2 = subprocess.run(['cc', '-std=c11', '-Wall', '-Werror', '-o', static, src,
                          '-I', os.path.join(dest, 'usr/local/include'),
                          os.path.join(dest, 'usr/local/lib/libivshmem.a')] + libs,
                         capture_output=True, text=True)
    tap.ok(cc2.returncode == 0, 'the example links statically with libivshmem.a',
           cc2.stdout + cc2.stderr)
    rc, out, _ = run(['readelf', '-d', static])
    tap.ok('libivshmem' not in out, 'the static build needs no libivshmem.so', out)
    return (exe if cc.returncode == 0 else None,
            static if cc2.returncode == 0 else None,
            os.path.join(dest, 'usr/local/lib'))


def test_man_pages():
    if not shutil.which('man'):
        tap.skip('man pages render without warnings', 'no man(1)')
        return
    for t in TOOLS:
        page = os.path.join(USERSPACE, 'tools', 'man', t + '.1')
        p = subprocess.run(['man', '--warnings', '-l', page], capture_output=True, text=True,
                           env=dict(ENV, MANWIDTH='80', MANPAGER='cat', PAGER='cat'))
        tap.ok(p.returncode == 0 and not p.stderr.strip() and t in p.stdout,
               'man page of %s renders without warnings' % t, p.stderr)


def test_usage():
    for t in TOOLS:
        rc, out, err = run([tool(t), '--help'])
        lines = out.splitlines()
        tap.ok(rc == 0 and lines and 'Usage:' in lines[0] and len(lines) <= 30 and
               max(len(x) for x in lines) <= 80,
               '%s --help exits 0 and fits a screen' % t, out + err)
        rc, out, err = run([tool(t), '--no-such-option'])
        tap.ok(rc == 2 and one_line(err) and '--no-such-option' in err,
               '%s with an unknown option: one line, exit 2' % t, err)

    ring = tool('ivshmem-ring')
    for value, why in (('-1', 'not a number'), ('65536', 'out of range'),
                       ('abc', 'not a number'), ('', 'not a number'), ('1x', 'not a number'),
                       ('99999999999999999999999', 'out of range')):
        rc, out, err = run([ring, '--peer', value, '--vector', '1', '-d', 'unix:/nonexistent'])
        tap.ok(rc == 2 and one_line(err) and '--peer' in err and why in err,
               'ivshmem-ring --peer %r: one line naming it, exit 2' % value, err)
        rc, out, err = run([ring, '--peer', '1', '--vector', value, '-d', 'unix:/nonexistent'])
        tap.ok(rc == 2 and one_line(err) and '--vector' in err and why in err,
               'ivshmem-ring --vector %r: one line naming it, exit 2' % value, err)
    rc, out, err = run([ring, '--vector', '1'])
    tap.ok(rc == 2 and one_line(err) and '--peer is required' in err,
           'ivshmem-ring without --peer: exit 2', err)
    rc, out, err = run([ring, '--peer', '1', '--count', '0'])
    tap.ok(rc == 2 and one_line(err), 'ivshmem-ring --count 0: exit 2', err)
    rc, out, err = run([ring, '--peer'])
    tap.ok(rc == 2 and one_line(err) and 'needs a value' in err,
           'ivshmem-ring --peer without a value: exit 2', err)
    rc, out, err = run([tool('ivshmem-wait'), '--vector', '1,x'])
    tap.ok(rc == 2 and one_line(err) and '--vector' in err, 'ivshmem-wait --vector 1,x: exit 2',
           err)
    rc, out, err = run([tool('ivshmem-wait'), '--timeout', '-5'])
    tap.ok(rc == 2 and one_line(err) and '--timeout' in err, 'ivshmem-wait --timeout -5: exit 2',
           err)
    rc, out, err = run([tool('ivshmem-dump'), '--offset', '1Q'])
    tap.ok(rc == 2 and one_line(err) and '--offset' in err, 'ivshmem-dump --offset 1Q: exit 2',
           err)
    rc, out, err = run([tool('ivshmem-bench'), '--respond', '--peer', '1'])
    tap.ok(rc == 2 and one_line(err), 'ivshmem-bench --respond --peer: exit 2', err)
    rc, out, err = run([tool('ivshmem-info'), 'a', 'b'])
    tap.ok(rc == 2 and one_line(err) and 'too many' in err, 'ivshmem-info a b: exit 2', err)


def host_has_ivshmem():
    for d in glob.glob('/sys/bus/pci/devices/*'):
        try:
            with open(d + '/vendor') as f, open(d + '/device') as g:
                if f.read().strip() == '0x1af4' and g.read().strip() == '0x1110':
                    return True
        except OSError:
            pass
    return False


def dead_socket(work):
    """A socket file nobody listens on, as a crashed server leaves."""
    path = os.path.join(work, 'dead.sock')
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()
    return path


def test_bad_devices(work):
    dead = dead_socket(work)
    cases = [
        ('/dev/ivshmem99', 'cannot open: No such file or directory'),
        ('99', 'cannot open: No such file or directory'),
        ('bogus', 'not a device'),
        ('/dev/null', 'Not an ivshmem device'),
        ('unix:/nonexistent/server.sock', 'No such file or directory'),
        ('unix:' + dead, 'No server is listening on the socket'),
        ('unix:', 'not a device'),
        ('name:', 'not a device'),
    ]
    for t in ('ivshmem-ring', 'ivshmem-wait', 'ivshmem-info', 'ivshmem-dump', 'ivshmem-bench',
              'ivshmem-pipe'):
        args = ['--peer', '1'] if t in ('ivshmem-ring', 'ivshmem-pipe') else []
        for spec, want in cases:
            rc, out, err = run([tool(t)] + args + ['--device', spec], timeout=30)
            tap.ok(rc == 1 and one_line(err) and want in err and spec in err,
                   '%s --device %s: "%s", exit 1' % (t, spec, want), 'rc %d: %s' % (rc, err))
    env = dict(ENV, IVSHMEM_DEVICE='/dev/ivshmem77')
    rc, out, err = run([tool('ivshmem-wait')], env=env)
    tap.ok(rc == 1 and '/dev/ivshmem77' in err, 'IVSHMEM_DEVICE is the default device', err)
    if host_has_ivshmem():
        tap.skip('no device at all: one clear line', 'this host has ivshmem devices')
    else:
        for t in ('ivshmem-ring', 'ivshmem-wait', 'ivshmem-info'):
            args = ['--peer', '1'] if t == 'ivshmem-ring' else []
            rc, out, err = run([tool(t)] + args)
            tap.ok(rc == 1 and one_line(err) and 'no ivshmem device found' in err,
                   '%s without any device: one line, exit 1' % t, err)
        rc, out, err = run([tool('ivshmem-info'), '--json'])
        tap.ok(rc == 1 and json.loads(out) == {'devices': []},
               'ivshmem-info --json without devices: an empty list', out + err)
    lht = os.path.join(ASAN, 'tests', 'lib_host_test')
    for spec, errname in (('unix:/nonexistent/x.sock', 'ENOENT'), ('unix:' + dead,
                                                                     'ECONNREFUSED'),
                          ('nonsense', 'EINVAL'), ('/dev/null', 'ENODEV'),
                          ('/dev/ivshmem4242', 'ENOENT'), ('ff:1f.7', 'ENOENT'),
                          ('unix:/' + 'x' * 200, 'ENAMETOOLONG'), ('name:', 'EINVAL')):
        rc, out, err = run([lht, 'open', spec, errname])
        emit_sub(out, err, rc, 'library: open %s' % spec)
    if host_has_ivshmem():
        tap.skip('name:LABEL of no device', 'this host has ivshmem devices')
    else:
        rc, out, err = run([lht, 'open', 'name:nothing', 'ENOENT'])
        emit_sub(out, err, rc, 'library: open name:nothing')
        rc, out, err = run([tool('ivshmem-info'), '-d', 'name:no\x1bthing'])
        tap.ok(rc == 1 and one_line(err) and
               "name:no\x1bthing: cannot open: no device has the label 'no\\x1bthing'" in err,
               'ivshmem-info -d name:LABEL of no device: one line, the label escaped, exit 1',
               err)


def emit_sub(out, err, rc, what):
    """Re-number the "ok - name" lines of a test program."""
    count = bad = 0
    for line in out.splitlines():
        m = re.match(r'^(not ok|ok) - (.*)$', line)
        if m:
            count += 1
            bad += m.group(1) != 'ok'
            tap.ok(m.group(1) == 'ok', m.group(2))
        elif line.strip():
            tap.diag(line)
    if count == 0 or rc not in (0, 1) or (rc == 1) != (bad > 0):
        tap.ok(False, '%s: exit status %d' % (what, rc), err)


# ------------------------------------------------------- fake servers

def fake_server(work, name, behaviour):
    """A server that misbehaves: behaviour(conn) runs for the first client."""
    path = os.path.join(work, name + '.sock')
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        try:
            behaviour(conn)
        finally:
            conn.close()
            srv.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return path, t


def test_fake_servers(work):
    lht = os.path.join(ASAN, 'tests', 'lib_host_test')

    def wrong_version(conn):
        conn.sendall((1).to_bytes(8, 'little', signed=True))
        time.sleep(1)

    def hang_up(conn):
        pass

    def half_message(conn):
        conn.sendall(b'\0\0\0')

    def silent(conn):
        time.sleep(12)

    for name, beh, errname in (('version', wrong_version, 'EPROTO'),
                               ('hangup', hang_up, 'EPROTO'),
                               ('half', half_message, 'EPROTO'),
                               ('silent', silent, 'ETIMEDOUT')):
        path, t = fake_server(work, name, beh)
        rc, out, err = run([lht, 'open', 'unix:' + path, errname], timeout=30)
        emit_sub(out, err, rc, 'library: a server that %s' % name)
        t.join(15)
    path, t = fake_server(work, 'version2', wrong_version)
    rc, out, err = run([tool('ivshmem-info'), '-d', 'unix:' + path])
    tap.ok(rc == 1 and one_line(err) and 'broke the ivshmem protocol' in err,
           'ivshmem-info on a server of another protocol: one line, exit 1', err)
    t.join(15)


def send_msg(conn, value, fd=None):
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack('i', fd))] if fd is not None else []
    conn.sendmsg([struct.pack('<q', value)], anc)


def memory_fd(size=4096):
    fd = os.memfd_create('fake-ivshmem')
    os.ftruncate(fd, size)
    return fd


def greet(conn, own_id, memory, peers=(), own=()):
    """Version, ID, memory, then each (peer ID, [fds]) and our own fds;
    a client that gives up (closes) ends it."""
    try:
        greet_all(conn, own_id, memory, peers, own)
    except (BrokenPipeError, ConnectionResetError):
        pass


def greet_all(conn, own_id, memory, peers, own):
    send_msg(conn, 0)
    send_msg(conn, own_id)
    send_msg(conn, -1, memory)
    for pid, fds in peers:
        for fd in fds:
            send_msg(conn, pid, fd)
    for fd in own:
        send_msg(conn, own_id, fd)


def run_bounded(cmd, timeout, input=None):
    """run(), with a hang reported as status None instead of an exception."""
    try:
        return run(cmd, timeout=timeout, input=input)
    except subprocess.TimeoutExpired:
        return None, '', 'still running after %d s' % timeout


def test_hostile_servers(work):
    """A server that hands out what is not an eventfd or memory, or too
    many descriptors, or never accepts: the caller gets an error, neither
    a signal nor a hang, and keeps no descriptor."""
    lht = os.path.join(ASAN, 'tests', 'lib_host_test')
    efd = os.eventfd(0)
    mem = memory_fd()

    def closed_pipe(conn):
        r, w = os.pipe()
        os.close(r)
        greet(conn, 1, mem, peers=[(0, [w])], own=[efd])
        os.close(w)
        time.sleep(1.5)

    def full_pipe(conn):
        r, w = os.pipe()
        os.set_blocking(w, False)
        try:
            while True:
                os.write(w, b'x' * 4096)
        except BlockingIOError:
            pass
        os.set_blocking(w, True)
        greet(conn, 1, mem, peers=[(0, [w])], own=[efd])
        time.sleep(6)
        os.close(r)
        os.close(w)

    for name, beh in (('closed-pipe', closed_pipe), ('full-pipe', full_pipe)):
        path, t = fake_server(work, name, beh)
        rc, out, err = run_bounded([tool('ivshmem-ring'), '-d', 'unix:' + path, '--peer', '0'], 5)
        tap.ok(rc == 1 and one_line(err) and 'broke the ivshmem protocol' in err,
               'ivshmem-ring, given a %s for a peer\'s vector: refused, one line, exit 1' % name,
               'rc %s: %s' % (rc, err))
        t.join(15)

    def many_own(conn):
        greet(conn, 0, mem, own=[efd] * 3000)
        time.sleep(1.5)

    def many_per_peer(conn):
        greet(conn, 5, mem, peers=[(0, [efd] * 4), (1, [efd] * 5)], own=[efd] * 5)
        time.sleep(1.5)

    def directory_memory(conn):
        d = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
        greet(conn, 0, d, own=[efd])
        os.close(d)
        time.sleep(1.5)

    def socket_vector(conn):
        a, b = socket.socketpair()
        greet(conn, 0, mem, own=[a.fileno()])
        a.close()
        b.close()
        time.sleep(1.5)

    for name, beh in (('3000 own vectors', many_own), ('a peer with more vectors than another',
                                                          many_per_peer),
                      ('a directory for the memory', directory_memory),
                      ('a socket for a vector', socket_vector)):
        path, t = fake_server(work, name.replace(' ', '-'), beh)
        rc, out, err = run_bounded([lht, 'open', 'unix:' + path, 'EPROTO'], 20)
        emit_sub(out, err, rc if rc is not None else 99, 'library: a server that sends %s' % name)
        t.join(15)

    # A server whose backlog is full: connect() would wait for ever.
    path = os.path.join(work, 'backlog.sock')
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(0)
    filler = []
    for _ in range(4):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
        except BlockingIOError:
            s.close()
            break
        filler.append(s)
    t0 = time.monotonic()
    rc, out, err = run_bounded([lht, 'open', 'unix:' + path, 'ETIMEDOUT'], 25)
    took = time.monotonic() - t0
    emit_sub(out, err, rc if rc is not None else 99, 'library: a server that never accepts')
    tap.ok(rc is not None and took < 15, 'ivshmem_open() gives up on a full backlog within the '
           'greeting deadline (%.1f s)' % took, err)
    for s in filler:
        s.close()
    srv.close()
    os.close(efd)
    os.close(mem)


# ------------------------------------------------------ with the server

def wait_armed(proc):
    """The peer ID a tool run with --verbose (or --respond) reports."""
    line = read_line(proc.stderr, 20)
    m = re.search(r'as peer (\d+)', line)
    return int(m.group(1)) if m else None, line


def test_library(srvbin, work):
    lht = os.path.join(ASAN, 'tests', 'lib_host_test')
    srv = Server(srvbin, work, 'lib')
    try:
        rc, out, err = run([lht, 'peers', srv.spec], timeout=120)
        emit_sub(out, err, rc, 'library: two host peers')
    finally:
        srv.stop()
    srv = Server(srvbin, work, 'dead')
    proc = start([lht, 'dead', srv.spec])
    line = read_line(proc.stdout, 20)
    tap.ok(line.strip() == 'ready', 'library: peers connected before the server dies', line)
    srv.stop()
    try:
        proc.stdin.write(b'go\n')
        proc.stdin.flush()
    except BrokenPipeError:
        pass
    rc, out, err = finish(proc)
    emit_sub(out, err, rc, 'library: the server dies')


def test_chan(srvbin, work):
    """Channels between two host peers of the server (lib_chan_test), each
    part on a fresh server; with a presence table when the server has one."""
    lct = os.path.join(ASAN, 'tests', 'lib_chan_test')
    for args, limit in ((['api'], 120), (['stream', '3000'], 300), (['notify'], 120),
                        (['restart'], 120), (['zc', '2000'], 120), (['fuzz', '4'], 180),
                        (['bench', '200'], 120)):
        srv = Server(srvbin, work, 'chan-' + args[0], vectors=4)
        try:
            rc, out, err = run_bounded([lct, args[0], srv.spec] + args[1:], limit)
            emit_sub(out, err, rc if rc is not None else 99, 'library: channels, ' + args[0])
        finally:
            srv.stop()
    if not server_has(srvbin, '--presence'):
        tap.skip('library: channels with a presence table',
                 'ivshmem-server --help does not mention --presence')
        return
    srv = Server(srvbin, work, 'chan-presence', vectors=4, extra=['--presence'])
    try:
        rc, out, err = run_bounded([lct, 'presence', srv.spec], 120)
        emit_sub(out, err, rc if rc is not None else 99, 'library: channels, presence')
    finally:
        srv.stop()


def test_chan_example(srvbin, work):
    """chan.c of library.rst: one side answers, the other asks."""
    exe = os.path.join(ASAN, 'tests', 'chan')
    srv = Server(srvbin, work, 'chan-example', vectors=1)
    try:
        ans = start([exe, srv.spec, '1'])
        line = read_line(ans.stdout, 20)
        tap.ok(line == 'peer 0: answering peer 1\n',
               'chan.c of library.rst: the answering side is peer 0', line)
        rc, out, err = run([exe, srv.spec, '0', 'hello', 'world'], timeout=60)
        tap.ok(rc == 0 and out == 'HELLO\nWORLD\n',
               'chan.c: the asking side gets its messages back in capitals', out + err)
        rc, out, err = finish(ans)
        tap.ok(rc == 0 and out == '' and not err,
               'chan.c: the answering side stops at the other\'s empty message', out + err)
        rc, out, err = run([exe, srv.spec], timeout=30)
        tap.ok(rc == 2 and 'usage' in err, 'chan.c without a peer: its usage, exit 2', err)
    finally:
        srv.stop()


def pipe_start(spec, peer, stdin, stdout, opts=()):
    """ivshmem-pipe -V to @peer; the peer ID it got, from its first line."""
    p = subprocess.Popen([tool('ivshmem-pipe'), '-V', '-d', spec, '--peer', str(peer)] +
                         list(opts), stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                         env=ENV)
    return p, wait_armed(p)


def pipe_done(proc, timeout=120):
    """Its exit status and stderr, killed after @timeout seconds."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    err = proc.stderr.read().decode(errors='replace')
    proc.stderr.close()
    note_sanitizer(' '.join(proc.args), err)
    return proc.returncode, err


def pipe_files(srvbin, work, name, data_a, data_b, opts=(), timeout=120):
    """Two ivshmem-pipe on a fresh server, each fed a file: A first (ID 0,
    to peer 1), then B.  [(rc, stderr, output)] of A and B."""
    srv = Server(srvbin, work, 'pipe-' + name, vectors=2)
    paths = [os.path.join(work, '%s.%s' % (name, x)) for x in ('ina', 'inb', 'outa', 'outb')]
    for path, data in zip(paths, (data_a, data_b)):
        with open(path, 'wb') as f:
            f.write(data)
    try:
        with open(paths[0], 'rb') as ia, open(paths[1], 'rb') as ib, \
                open(paths[2], 'wb') as oa, open(paths[3], 'wb') as ob:
            a, (aid, line) = pipe_start(srv.spec, 1, ia, oa, opts)
            b, _ = pipe_start(srv.spec, aid, ib, ob, opts)
            ra, rb = pipe_done(a, timeout), pipe_done(b, timeout)
        result = []
        for (rc, err), path in zip((ra, rb), paths[2:]):
            with open(path, 'rb') as f:
                result.append((rc, line + err if path == paths[2] else err, f.read()))
        return aid, result
    finally:
        srv.stop()
        for path in paths:
            os.unlink(path)


def test_pipe(srvbin, work):
    """ivshmem-pipe between two host peers: both ways at once, the end of
    input, a large transfer checked by its digest, and its errors."""
    import hashlib
    pipe = tool('ivshmem-pipe')

    aid, ((rca, erra, outa), (rcb, errb, outb)) = pipe_files(srvbin, work, 'hello', b'hello',
                                                              b'')
    tap.ok(aid == 0 and rca == 0 and rcb == 0 and outb == b'hello' and outa == b'',
           'printf hello | ivshmem-pipe --peer 1, and ivshmem-pipe --peer 0 < /dev/null '
           'prints hello; both exit 0', erra + errb)
    tap.ok(re.search(r'channel to peer 1 as peer 0, messages of up to 7672 bytes', erra) and
           re.search(r'sent 5 bytes, received 0 bytes', erra) and
           re.search(r'sent 0 bytes, received 5 bytes', errb),
           'ivshmem-pipe -V: the channel, then what went each way', erra + errb)

    big_a, big_b = os.urandom(20 << 20), os.urandom(20 << 20)
    t0 = time.monotonic()
    aid, ((rca, erra, outa), (rcb, errb, outb)) = pipe_files(srvbin, work, 'big', big_a, big_b)
    took = time.monotonic() - t0
    digest = lambda d: hashlib.sha256(d).hexdigest()
    tap.ok(rca == 0 and rcb == 0 and len(outa) == len(big_b) and len(outb) == len(big_a) and
           digest(outa) == digest(big_b) and digest(outb) == digest(big_a),
           'ivshmem-pipe: 20 MiB each way at once, both arrive whole (SHA-256)',
           'rc %s %s, %d and %d bytes\n%s%s' % (rca, rcb, len(outa), len(outb), erra, errb))
    tap.diag('20 MiB each way through ivshmem-pipe (ASan build): %.1f s' % took)

    data = os.urandom(2 << 20)
    aid, ((rca, erra, outa), (rcb, errb, outb)) = pipe_files(
        srvbin, work, 'small', data, data[::-1], opts=['--offset', '64K', '--size', '8K'])
    tap.ok(rca == 0 and rcb == 0 and outb == data and outa == data[::-1],
           'ivshmem-pipe --offset 64K --size 8K: 2 MiB each way through the smallest channel',
           erra + errb)

    # The end of A's input ends B's output while B's own input goes on.
    srv = Server(srvbin, work, 'pipe-eof', vectors=2)
    try:
        a, (aid, line) = pipe_start(srv.spec, 1, subprocess.PIPE, subprocess.PIPE)
        b, _ = pipe_start(srv.spec, aid, subprocess.PIPE, subprocess.PIPE)
        a.stdin.write(b'from a\n')
        a.stdin.close()
        got = read_line(b.stdout, 20)
        rest = []
        t = threading.Thread(target=lambda: rest.append(b.stdout.read()), daemon=True)
        t.start()
        t.join(20)
        tap.ok(got == 'from a\n' and rest == [b''] and b.poll() is None,
               'the end of one side\'s input ends the other\'s output, which keeps running',
               '%r %r %r' % (got, rest, b.poll()))
        b.stdin.write(b'from b\n')
        b.stdin.close()
        out = a.stdout.read()
        rca, erra = pipe_done(a, 30)
        rcb, errb = pipe_done(b, 30)
        tap.ok(out == b'from b\n' and rca == 0 and rcb == 0,
               'then the other\'s end of input: both exit 0', '%r\n%s%s' % (out, erra, errb))
        a.stdout.close()
        b.stdout.close()
    finally:
        srv.stop()

    # Usage and errors: one line each.
    for args, why in ((['-d', 'unix:/x'], '--peer is required'),
                      (['--peer', '1', '--offset', '0'], '--offset and --size go together'),
                      (['--peer', '1', '--offset', '100', '--size', '8K'],
                       'not a multiple of 4096'),
                      (['--peer', '1', '--offset', '0', '--size', '4K'], 'at least 8K'),
                      (['--peer', '1', '--timeout', '0'], '--timeout'),
                      (['--peer', '65536'], 'out of range')):
        rc, out, err = run([pipe] + args)
        tap.ok(rc == 2 and one_line(err) and why in err,
               'ivshmem-pipe %s: "%s", exit 2' % (' '.join(args), why), err)
    srv = Server(srvbin, work, 'pipe-errors', vectors=2)
    try:
        for args, why in ((['--peer', '0'], '--peer 0 is this peer\'s own ID'),
                          (['--peer', '1', '--offset', '1M', '--size', '64K'],
                           'does not fit the memory'),
                          (['--peer', '1', '--vector', '5'], 'vectors 0..1 only')):
            rc, out, err = run([pipe, '-d', srv.spec] + args, input=b'')
            tap.ok(rc == 1 and one_line(err) and why in err,
                   'ivshmem-pipe %s: "%s", exit 1' % (' '.join(args), why), err)
        t0 = time.monotonic()
        rc, out, err = run_bounded([pipe, '-d', srv.spec, '--peer', '1', '--timeout', '300'], 30,
                                   input=b'')
        tap.ok(rc == 1 and one_line(err) and 'nothing moved' in err and 'is it running?' in err
               and time.monotonic() - t0 < 10,
               'ivshmem-pipe --timeout 300 without a peer: one line, exit 1', err)
    finally:
        srv.stop()
    if not server_has(srvbin, '--presence'):
        tap.skip('ivshmem-pipe: a peer that dies', 'the server has no --presence')
        return
    srv = Server(srvbin, work, 'pipe-death', vectors=2, extra=['--presence'])
    try:
        with open('/dev/zero', 'rb') as zero, open(os.devnull, 'wb') as null:
            a, (aid, line) = pipe_start(srv.spec, 1, zero, null)
            b, _ = pipe_start(srv.spec, 0, subprocess.PIPE, null)
            time.sleep(1)
            b.kill()
            pipe_done(b, 10)
            b.stdin.close()
            rca, erra = pipe_done(a, 30)
        tap.ok(rca == 1 and one_line(erra) and 'the peer restarted or left' in erra,
               'ivshmem-pipe whose peer is killed mid-stream: one line, exit 1 (presence)',
               'rc %s: %s' % (rca, erra))
    finally:
        srv.stop()


def server_has(srvbin, option):
    """Whether the server's --help offers an option."""
    p = subprocess.run([srvbin, '--help'], capture_output=True, text=True, env=ENV)
    return re.search(r'(^|[\s,])' + re.escape(option) + r'\b', p.stdout, re.M) is not None


def test_region(srvbin, work):
    """The region header's API: on host peers, on a guest-like handle, under
    a writer that corrupts it, and region_parse() on random pages."""
    lrt = os.path.join(ASAN, 'tests', 'lib_region_test')
    for mode in ('api', 'guest'):
        srv = Server(srvbin, work, 'region-' + mode)
        try:
            rc, out, err = run([lrt, mode, srv.spec], timeout=120)
            emit_sub(out, err, rc, 'library: region header, %s' % mode)
        finally:
            srv.stop()
    srv = Server(srvbin, work, 'region-fuzz', vectors=2)
    try:
        rc, out, err = run_bounded([lrt, 'fuzz', srv.spec, '5'], 120)
        emit_sub(out, err, rc if rc is not None else 99, 'library: region header fuzz')
    finally:
        srv.stop()
    rc, out, err = run([lrt, 'parse-fuzz', '30000'], timeout=120)
    emit_sub(out, err, rc, 'library: region_parse() fuzz')

    # With a server that keeps the header itself.
    name = 'the server\'s own header (--label, --presence)'
    if not server_has(srvbin, '--presence'):
        tap.skip(name, 'ivshmem-server --help does not mention --presence yet')
        return
    srv = Server(srvbin, work, 'region-server', vectors=2, extra=[
        '--max-peers', '64', '--label', 'region-test', '--presence', '--presence-vector', '1'])
    try:
        rc, out, err = run([lrt, 'server', srv.spec, 'region-test', '1'], timeout=120)
        emit_sub(out, err, rc, 'library: ' + name)
    finally:
        srv.stop()


MAGIC = struct.pack('<Q', 0x4e47524d48535649)      # "IVSHMRGN"


def header_fields(page):
    """The region header's fields from a page's bytes, by the uapi layout,
    read here independently of region.c."""
    magic, version, hsize, rsize, flags, gen, peers, vector, instance = \
        struct.unpack_from('<QIIQIIIIQ', page, 0)
    label = page[48:112]
    return dict(magic=magic, version=version, header_size=hsize, region_size=rsize,
                flags=flags, generation=gen, max_peers=peers, presence_vector=vector,
                instance=instance, label=label.split(b'\0', 1)[0], label_raw=label,
                rest=page[112:])


def hugetlbfs_dir():
    """A mounted hugetlbfs with a free huge page, or None."""
    try:
        with open('/proc/meminfo') as f:
            free = int(re.search(r'^HugePages_Free:\s+(\d+)', f.read(), re.M).group(1))
        with open('/proc/mounts') as f:
            mounts = [line.split()[1] for line in f if line.split()[2] == 'hugetlbfs']
    except (OSError, AttributeError, IndexError):
        return None
    return mounts[0] if free and mounts else None


def test_label(work):
    """ivshmem-label on files: write, show, clear, and everything it refuses;
    the file never changes size, and nothing but the last page changes."""
    lab = tool('ivshmem-label')
    path = os.path.join(work, 'mem')
    size = 1 << 20
    body = os.urandom(size - 4096)
    with open(path, 'wb') as f:
        f.write(body + bytes(4096))

    def tail():
        with open(path, 'rb') as f:
            data = f.read()
        return data[:-4096], data[-4096:], len(data)

    rc, out, err = run([lab, path, 'db-cache'])
    head, page, n = tail()
    h = header_fields(page)
    tap.ok(rc == 0 and not out and not err, 'ivshmem-label FILE NAME: quiet, exit 0', out + err)
    tap.ok(h['magic'] == 0x4e47524d48535649 and h['version'] == 1 and h['header_size'] == 4096
           and h['region_size'] == size and h['flags'] == 1 and h['max_peers'] == 0 and
           h['presence_vector'] == 0xffffffff and h['label'] == b'db-cache' and
           h['label_raw'][8:] == bytes(56) and h['generation'] == 0 and h['instance'] != 0 and
           h['rest'] == bytes(len(h['rest'])),
           'the last page holds the header of the uapi layout, the rest of it zero', str(h))
    tap.ok(head == body and n == size, 'nothing but the last page changed, nor the size')
    first = h['instance']
    rc, out, err = run([lab, path])
    tap.ok(rc == 0 and re.search(r'^label:\s+db-cache$', out, re.M) and
           re.search(r'^header:\s+4096 bytes at 0xff000, no presence table$', out, re.M) and
           re.search(r'^instance:\s+0x%016x$' % first, out, re.M),
           'ivshmem-label FILE shows label, header and instance', out + err)
    rc, out, err = run([lab, path, 'renamed'])
    head, page, n = tail()
    h = header_fields(page)
    tap.ok(rc == 0 and h['label'] == b'renamed' and h['label_raw'][7:] == bytes(57) and
           h['instance'] != first and head == body and n == size,
           'a new label replaces the old, with a new instance', err + str(h))
    rc, out, err = run([lab, '--clear', path])
    head, page, n = tail()
    tap.ok(rc == 0 and page == bytes(4096) and head == body and n == size,
           'ivshmem-label --clear zeroes the header page, and only it', err)
    rc, out, err = run([lab, path])
    tap.ok(rc == 1 and one_line(err) and 'the region has no ivshmem header' in err,
           'showing a file without header: one line, exit 1', err)
    rc, out, err = run([lab, '--clear', path])
    tap.ok(rc == 0 and not err and tail()[1] == bytes(4096),
           '--clear without a header: nothing to do, exit 0', err)

    # Data in the last page: refused, unless --force.
    with open(path, 'r+b') as f:
        f.seek(size - 100)
        f.write(b'application data')
    rc, out, err = run([lab, path, 'x'])
    head, page, n = tail()
    tap.ok(rc == 1 and one_line(err) and 'hold data' in err and '--force' in err and
           page[-100:-84] == b'application data',
           'data in the last page: refused, one line, the data kept', err)
    rc, out, err = run([lab, '--force', path, 'x'])
    tap.ok(rc == 0 and header_fields(tail()[1])['label'] == b'x', '--force writes over it', err)
    rc, out, err = run([lab, '--clear', path])
    # A corrupt header is written over and cleared like any.
    with open(path, 'r+b') as f:
        f.seek(size - 4096)
        f.write(MAGIC + struct.pack('<I', 7))
    rc, out, err = run([lab, path])
    tap.ok(rc == 1 and one_line(err) and "the region's header is corrupt" in err,
           'showing a corrupt header: one line, exit 1', err)
    rc, out, err = run([lab, path, 'fixed'])
    tap.ok(rc == 0 and header_fields(tail()[1])['label'] == b'fixed',
           'a corrupt header is written over', err)
    # A header with a presence table is a server's: refused unless --force.
    with open(path, 'r+b') as f:
        f.seek(size - 8192)
        f.write(struct.pack('<II', 5, 1) + bytes(4088))
        f.write(MAGIC + struct.pack('<IIQIIII', 1, 8192, size, 3, 0, 16, 1) +
                struct.pack('<Q', 9) + b'srv'.ljust(64, b'\0'))
    rc, out, err = run([lab, path])
    tap.ok(rc == 0 and re.search(r'^label:\s+srv$', out, re.M) and
           re.search(r'^header:\s+8192 bytes at 0xfe000, presence table of 16 peers, '
                     r'presence vector 1$', out, re.M),
           'ivshmem-label shows a server\'s header, its table too', out + err)
    rc, out, err = run([lab, path, 'mine'])
    tap.ok(rc == 1 and one_line(err) and 'presence table' in err and
           header_fields(tail()[1])['label'] == b'srv',
           'a header with a presence table: refused, one line, kept', err)
    rc, out, err = run([lab, '--force', path, 'mine'])
    with open(path, 'rb') as f:
        data = f.read()
    tap.ok(rc == 0 and header_fields(data[-4096:])['label'] == b'mine' and
           data[-8192:-4096] == bytes(4096) and len(data) == size,
           'with --force, the old table is cleared with it', err)
    with open(path, 'r+b') as f:
        f.seek(size - 8192)
        f.write(b'x' * 8)
        f.seek(size - 4096)
        f.write(MAGIC + struct.pack('<IIQIIII', 1, 8192, size, 3, 0, 16, 1) +
                struct.pack('<Q', 9) + b'srv'.ljust(64, b'\0'))
    rc, out, err = run([lab, '--clear', path])
    with open(path, 'rb') as f:
        data = f.read()
    tap.ok(rc == 0 and data[-8192:] == bytes(8192) and data[:-8192] == body[:-4096],
           '--clear of a header with a table zeroes the table too, and nothing below', err)

    # Bad labels: usage errors, the file untouched.
    before = tail()
    for label, what in (('a/b', "'/'"), ('', 'empty'), ('.', "'.'"), ('..', "'..'"),
                        ('x' * 64, '64 bytes'), ('caf\xe9', 'not ASCII'),
                        ('tab\there', 'a tab')):
        rc, out, err = run([lab, path, label])
        tap.ok(rc == 2 and one_line(err) and 'not a valid label' in err and '\t' not in err
               and tail() == before, 'ivshmem-label with a label of %s: exit 2, nothing '
               'written' % what, err)
    rc, out, err = run([lab, path, 'x' * 63])
    tap.ok(rc == 0 and header_fields(tail()[1])['label'] == b'x' * 63,
           'a label of 63 bytes, the most', err)
    run([lab, '--clear', path])

    # Files that are not a region's memory.
    for name, length, why in (('odd', 4096 * 3 + 1, 'not a multiple of 4096'),
                              ('small', 4096, 'too small'), ('empty', 0, 'too small')):
        p = os.path.join(work, name)
        with open(p, 'wb') as f:
            f.write(b'\xaa' * length)
        rc, out, err = run([lab, p, 'x'])
        with open(p, 'rb') as f:
            kept = f.read() == b'\xaa' * length
        tap.ok(rc == 1 and one_line(err) and why in err and kept,
               'ivshmem-label on a file of %d bytes: "%s", exit 1, untouched' % (length, why),
               err)
    rc, out, err = run([lab, os.path.join(work, 'none'), 'x'])
    tap.ok(rc == 1 and one_line(err) and 'No such file' in err and
           not os.path.exists(os.path.join(work, 'none')),
           'ivshmem-label on no file: one line, exit 1, no file made', err)
    rc, out, err = run([lab, work, 'x'])
    tap.ok(rc == 1 and one_line(err) and 'not a regular file' in err,
           'ivshmem-label on a directory: one line, exit 1', err)
    for args, why in (([], 'no FILE'), ([path, 'a', 'b'], 'too many'),
                      (['--clear', path, 'a'], 'too many')):
        rc, out, err = run([lab] + args)
        tap.ok(rc == 2 and one_line(err) and why in err,
               'ivshmem-label with %d arguments: "%s", exit 2' % (len(args), why), err)

    hdir = hugetlbfs_dir()
    if not hdir:
        tap.skip('ivshmem-label on a hugetlbfs file', 'no hugetlbfs with a free huge page')
        return
    hp = os.path.join(hdir, 'ivshmem-label-test-%d' % os.getpid())
    try:
        fd = os.open(hp, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        with open('/proc/meminfo') as f:
            hsize = int(re.search(r'^Hugepagesize:\s+(\d+) kB', f.read(), re.M).group(1)) << 10
        os.truncate(hp, hsize)
        rc1, _, err1 = run([lab, hp, 'huge'])
        rc2, out, err2 = run([lab, hp])
        tap.ok(rc1 == 0 and rc2 == 0 and re.search(r'^label:\s+huge$', out, re.M) and
               os.stat(hp).st_size == hsize,
               'ivshmem-label on a hugetlbfs file: written and shown, the size kept',
               err1 + err2)
    finally:
        if os.path.exists(hp):
            os.unlink(hp)


def test_region_tools(srvbin, work):
    """ivshmem-info and ivshmem-ring with the region header in the
    server's memory: written there by ivshmem-label before the server
    starts, or by lib_region_test meanwhile."""
    lrt = os.path.join(ASAN, 'tests', 'lib_region_test')
    info, ring, lab = tool('ivshmem-info'), tool('ivshmem-ring'), tool('ivshmem-label')

    # A POSIX shm object labelled before the server reuses it.
    shm = 'ivshmem-userspace-test-%d' % os.getpid()
    shm_path = '/dev/shm/' + shm
    with open(shm_path, 'wb') as f:
        f.truncate(1 << 20)
    rc, out, err = run([lab, shm_path, 'from-file'])
    tap.ok(rc == 0, 'ivshmem-label labels a POSIX shm object', err)
    srv = Server(srvbin, work, 'labelled', vectors=2, shm=shm)
    try:
        rc, out, err = run([info, '-d', srv.spec])
        tap.ok(rc == 0 and re.search(r'^label:\s+from-file$', out, re.M) and
               re.search(r'^header:\s+4096 bytes at 0xff000, no presence table$', out, re.M) and
               re.search(r'^peers:\s+\(none\)$', out, re.M),
               'ivshmem-info on the server: the label ivshmem-label wrote, no table', out + err)
        rc, out, err = run([info, '--json', srv.spec])
        try:
            d = json.loads(out)['devices'][0]
        except (ValueError, KeyError, IndexError):
            d = {}
        tap.ok(rc == 0 and d.get('label') == 'from-file' and d.get('header') == 'present' and
               d.get('header_offset') == (1 << 20) - 4096 and d.get('header_size') == 4096 and
               d.get('max_peers') == 0 and d.get('presence_vector') is None and
               re.match(r'^0x[0-9a-f]{16}$', d.get('instance', '')) and 'epochs' not in d,
               'ivshmem-info --json: label, header, its place and instance', out + err)
        rc, out, err = run([tool('ivshmem-bench'), '-d', srv.spec, '--reps', '2', '--json'],
                           timeout=60)
        try:
            copied = json.loads(out)['memcpy']['bytes']
        except (ValueError, KeyError, TypeError):
            copied = None
        rc2, out2, err2 = run([lab, shm_path])
        tap.ok(rc == 0 and copied and copied <= (1 << 20) - 4096 and rc2 == 0 and
               re.search(r'^label:\s+from-file$', out2, re.M),
               'ivshmem-bench\'s memcpy test keeps out of the header', out + err + err2)
        run([lab, shm_path, 'relabelled'])
        rc, out, err = run([info, '-d', srv.spec])
        tap.ok(rc == 0 and re.search(r'^label:\s+relabelled$', out, re.M),
               'a label changed meanwhile is what the next run shows', out + err)
    finally:
        srv.stop()
        if os.path.exists(shm_path):
            os.unlink(shm_path)

    srv = Server(srvbin, work, 'presence', vectors=2)
    spec = srv.spec
    waiter = None
    try:
        rc, out, err = run([info, '-d', spec])
        tap.ok(rc == 0 and re.search(r'^label:\s+\(none\)$', out, re.M) and
               re.search(r'^header:\s+none \(the region has no ivshmem header\)$', out, re.M),
               'ivshmem-info without header: says there is none', out + err)
        rc, out, err = run([info, '--json', '-d', spec])
        d = json.loads(out)['devices'][0] if rc == 0 else {}
        tap.ok(d.get('header') == 'none' and d.get('label') is None and
               'header_size' not in d, 'ivshmem-info --json without header: "none", label null',
               out + err)

        waiter = start([tool('ivshmem-wait'), '-V', '-d', spec, '--vector', '1', '--count', '1',
                        '--timeout', '30000'])
        wid, line = wait_armed(waiter)
        other = 7 if wid != 7 else 8
        rc, out, err = run([lrt, 'header', spec, 'presence', '16', '1', '%d:5:1' % other,
                            '%d:3:0' % wid])
        tap.ok(rc == 0 and wid is not None, 'a header with a table, the waiter absent in it',
               out + err + line)
        rc, out, err = run([info, '-d', spec])
        tap.ok(rc == 0 and re.search(r'^label:\s+presence$', out, re.M) and
               re.search(r'^header:\s+8192 bytes at 0xfe000, presence table of 16 peers, '
                         r'presence vector 1$', out, re.M) and
               re.search(r'^peers:\s+%d \(absent from the presence table\)$' % wid, out, re.M),
               'ivshmem-info: the header, and the server\'s peer absent from the table',
               out + err)
        rc, out, err = run([ring, '-d', spec, '--peer', str(wid), '--vector', '1'])
        tap.ok(rc == 3 and one_line(err) and 'ring peer %d: not connected: the peer left' % wid
               in err and 'presence table says so' in err and '--force' in err,
               'ivshmem-ring to a peer the table has absent: one line, exit 3', err)
        never = 12 if wid != 12 else 13
        rc, out, err = run([ring, '-d', spec, '--peer', str(never)])
        tap.ok(rc == 3 and one_line(err) and 'not connected: no peer has had this ID' in err,
               'ivshmem-ring to an ID the table never had: exit 3', err)
        rc, out, err = run([ring, '-d', spec, '--peer', '40'])
        tap.ok(rc == 3 and one_line(err) and 'IDs 0..15 only' in err,
               'ivshmem-ring to a peer beyond the table: exit 3', err)
        rc, out, err = run([ring, '-d', spec, '--peer', str(other)])
        tap.ok(rc == 1 and one_line(err) and 'Peer not connected' in err,
               'present in the table but unknown to the server: the library\'s -ENXIO, exit 1',
               err)
        rc, out, err = run([ring, '-d', spec, '--force', '--peer', str(wid), '--vector', '1'])
        tap.ok(rc == 0 and not err, 'ivshmem-ring --force rings it anyway', err)
        rc, out, err = finish(waiter)
        waiter = None
        tap.ok(rc == 0 and out == 'vector 1 count 1\n', 'and the ring arrived', out + err)

        waiter = start([tool('ivshmem-wait'), '-V', '-d', spec, '--vector', '0', '--count', '1',
                        '--timeout', '30000'])
        wid, line = wait_armed(waiter)
        run([lrt, 'header', spec, 'presence', '16', '1', '%d:9:1' % wid])
        rc, out, err = run([info, '-d', spec])
        tap.ok(rc == 0 and re.search(r'^peers:\s+%d \(epoch 9\)$' % wid, out, re.M),
               'ivshmem-info: a present peer with its epoch', out + err)
        rc, out, err = run([info, '--json', '-d', spec])
        d = json.loads(out)['devices'][0] if rc == 0 else {}
        tap.ok(d.get('peers') == [wid] and d.get('epochs') == {str(wid): 9} and
               d.get('max_peers') == 16 and d.get('presence_vector') == 1,
               'ivshmem-info --json: peers and their epochs', out + err)
        rc, out, err = run([ring, '-d', spec, '--peer', str(wid), '--vector', '0'])
        tap.ok(rc == 0 and not err, 'ivshmem-ring to a peer the table has present', err)
        rc, out, err = finish(waiter)
        waiter = None
        tap.ok(rc == 0 and out == 'vector 0 count 1\n', 'and it woke', out + err)

        waiter = start([tool('ivshmem-wait'), '-V', '-d', spec, '--vector', '0', '--count', '1',
                        '--timeout', '30000'])
        wid, line = wait_armed(waiter)
        run([lrt, 'corrupt', spec])
        rc, out, err = run([info, '-d', spec])
        tap.ok(rc == 0 and re.search(r"^header:\s+corrupt \(the region's header is corrupt\)$",
                                     out, re.M), 'ivshmem-info on a corrupt header', out + err)
        rc, out, err = run([ring, '-d', spec, '--peer', str(wid)])
        tap.ok(rc == 0 and one_line(err) and 'cannot tell whether peer %d is connected' % wid
               in err and "corrupt" in err,
               'ivshmem-ring with a corrupt header: says it cannot tell, and rings', err)
        rc, out, err = finish(waiter)
        waiter = None
        tap.ok(rc == 0 and out == 'vector 0 count 1\n', 'and the ring arrived', out + err)
    finally:
        if waiter:
            finish(waiter)
        srv.stop()

    name = 'the tools with the server\'s own header (--label, --presence)'
    if not server_has(srvbin, '--presence'):
        tap.skip(name, 'ivshmem-server --help does not mention --presence yet')
        return
    srv = Server(srvbin, work, 'presence-server', vectors=2, extra=[
        '--max-peers', '64', '--label', 'served', '--presence', '--presence-vector', '1'])
    try:
        waiter = start([tool('ivshmem-wait'), '-V', '-d', srv.spec, '--vector', '0',
                        '--count', '1', '--timeout', '30000'])
        wid, line = wait_armed(waiter)
        rc, out, err = run([info, '-d', srv.spec])
        tap.ok(rc == 0 and re.search(r'^label:\s+served$', out, re.M) and
               re.search(r'presence table of 64 peers, presence vector 1$', out, re.M) and
               re.search(r'^peers:\s+%d \(epoch \d+\)$' % wid, out, re.M),
               'ivshmem-info: the server\'s label, table, and the waiter with its epoch',
               out + err)
        absent = 63 if wid != 63 else 62
        rc, out, err = run([ring, '-d', srv.spec, '--peer', str(absent)])
        tap.ok(rc == 3 and one_line(err) and 'not connected' in err,
               'ivshmem-ring to a peer that is not connected: exit 3, by the table', err)
        rc, out, err = run([ring, '-d', srv.spec, '--peer', str(wid)])
        tap.ok(rc == 0, 'ivshmem-ring to the waiter', err)
        rc, out, err = finish(waiter)
        tap.ok(rc == 0 and out == 'vector 0 count 1\n', 'and it woke', out + err)
    finally:
        srv.stop()


def test_watch_example(srvbin, work):
    """The second example of library.rst, watch.c, on host peers."""
    watch = os.path.join(ASAN, 'tests', 'watch')
    lrt = os.path.join(ASAN, 'tests', 'lib_region_test')
    srv = Server(srvbin, work, 'watch', vectors=1)
    procs = []

    def waiter():
        p = start([tool('ivshmem-wait'), '-V', '-d', srv.spec, '--count', '1',
                   '--timeout', '20000'])
        procs.append(p)
        return p, wait_armed(p)[0]

    try:
        w = start([watch, srv.spec, '2'])
        procs.append(w)
        first = read_line(w.stdout, 20) + read_line(w.stdout, 5)
        tap.ok(first == 'region: The region has no ivshmem header\npeers: none\n',
               'watch.c: no header, no peers', first)
        p, wid = waiter()
        line = read_line(w.stdout, 20)
        tap.ok(line == 'peers: %s\n' % wid, 'watch.c: a peer comes', line)
        p.terminate()       # a ring would come from one more peer
        finish(p)
        line = read_line(w.stdout, 20)
        tap.ok(line == 'peers: none\n', 'watch.c: and goes', line)
        rc, out, err = finish(w)
        tap.ok(rc == 0, 'watch.c stops after the changes asked for', out + err)

        run([lrt, 'header', srv.spec, 'watched', '16', '0'])
        w = start([watch, srv.spec, '1'])
        procs.append(w)
        first = read_line(w.stdout, 20) + read_line(w.stdout, 5)
        tap.ok(first == "region 'watched': 16 peer IDs, data below byte 1040384\n"
               "peers: none\n", 'watch.c: the header\'s label and table', first)
        p, wid = waiter()
        line = read_line(w.stdout, 20)
        tap.ok(line == 'peers: %s\n' % wid,
               'watch.c: a peer the server announces, absent from the table: no epoch', line)
        p.terminate()
        finish(p)
        finish(w)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            finish(p)
        srv.stop()


def test_tools(srvbin, work, installed):
    srv = Server(srvbin, work, 'tools', vectors=4, size='1M')
    spec = srv.spec
    try:
        rc, out, err = run([tool('ivshmem-info'), '--device', spec])
        tap.ok(rc == 0 and re.search(r'^size:\s+1048576 ', out, re.M) and
               re.search(r'^vectors:\s+4$', out, re.M) and
               re.search(r'^backend:\s+host$', out, re.M) and
               re.search(r'^memtype:\s+write-back$', out, re.M) and
               re.search(r'^peers:\s+\(none\)$', out, re.M),
               'ivshmem-info --device unix:...: size, vectors, backend, write-back, no peers',
               out + err)

        # A waiter, visible to others, rung by ivshmem-ring.
        waiter = start([tool('ivshmem-wait'), '-V', '-d', spec, '--vector', '1', '--count', '1',
                        '--timeout', '20000'])
        wid, line = wait_armed(waiter)
        tap.ok(wid is not None, 'ivshmem-wait --verbose says its peer ID', line)
        rc, out, err = run([tool('ivshmem-info'), '--json', spec])
        try:
            d = json.loads(out)['devices'][0]
        except (ValueError, KeyError, IndexError):
            d = {}
        tap.ok(rc == 0 and d.get('size') == 1 << 20 and d.get('vectors') == 4 and
               d.get('backend') == 'host' and d.get('peers') == [wid] and
               d.get('memtype') == 'write-back' and
               isinstance(d.get('id'), int) and d.get('id') != wid,
               'ivshmem-info --json lists the waiting peer', out + err)
        rc, out, err = run([tool('ivshmem-ring'), '-d', spec, '--peer', str(wid), '--vector',
                            '1'])
        tap.ok(rc == 0 and not err, 'ivshmem-ring --peer <waiter> --vector 1', err)
        rc, out, err = finish(waiter)
        tap.ok(rc == 0 and out == 'vector 1 count 1\n',
               'ivshmem-wait --vector 1 --count 1 wakes and prints it', out + err)
        rc, out, err = run([tool('ivshmem-info'), '--json', '-d', spec])
        tap.ok(rc == 0 and json.loads(out)['devices'][0]['peers'] == [],
               'the waiter left: the peer list is empty again', out + err)

        # Several rings, several vectors.
        waiter = start([tool('ivshmem-wait'), '-V', '-d', spec, '--vector', '2,3',
                        '--count', '4', '--timeout', '20000'])
        wid, line = wait_armed(waiter)
        rc1, _, e1 = run([tool('ivshmem-ring'), '-d', spec, '--peer', str(wid), '--vector',
                          '2', '--count', '3', '--interval', '50'])
        rc2, _, e2 = run([tool('ivshmem-ring'), '-d', spec, '--peer', str(wid), '--vector',
                          '3'])
        rc, out, err = finish(waiter)
        got = {}
        for m in re.finditer(r'^vector (\d+) count (\d+)$', out, re.M):
            got[int(m.group(1))] = got.get(int(m.group(1)), 0) + int(m.group(2))
        tap.ok(rc1 == 0 and rc2 == 0 and rc == 0 and got == {2: 3, 3: 1},
               'ivshmem-ring --count 3 --interval 50 and a second vector: all counted',
               out + err + e1 + e2)

        # Waiting on a vector that is not rung.
        t0 = time.time()
        rc, out, err = run([tool('ivshmem-wait'), '-d', spec, '--vector', '0', '--count', '1',
                            '--timeout', '300'])
        tap.ok(rc == 1 and one_line(err) and 'timed out after 300 ms' in err and
               time.time() - t0 < 10, 'ivshmem-wait --timeout 300: one line, exit 1', err)
        rc, out, err = run([tool('ivshmem-wait'), '-d', spec, '--vector', '4'])
        tap.ok(rc == 1 and one_line(err) and 'vectors 0..3 only' in err,
               'ivshmem-wait --vector 4 of 4: one line, exit 1', err)

        # Peers and vectors that do not exist.
        rc, out, err = run([tool('ivshmem-ring'), '-d', spec, '--peer', '4321'])
        tap.ok(rc == 1 and one_line(err) and 'Peer not connected' in err and '4321' in err,
               'ivshmem-ring to a peer that is not connected: one line, exit 1', err)
        waiter = start([tool('ivshmem-wait'), '-V', '-d', spec, '--timeout', '20000',
                        '--count', '1'])
        wid, line = wait_armed(waiter)
        rc, out, err = run([tool('ivshmem-ring'), '-d', spec, '--peer', str(wid), '--vector',
                            '4'])
        tap.ok(rc == 1 and one_line(err) and 'no such vector' in err,
               'ivshmem-ring to a vector the peer lacks: one line, exit 1', err)
        run([tool('ivshmem-ring'), '-d', spec, '--peer', str(wid), '--vector', '0'])
        rc, out, err = finish(waiter)
        tap.ok(rc == 0 and out == 'vector 0 count 1\n',
               'ivshmem-wait without --vector waits on all vectors', out + err)

        # Shared memory through ivshmem-dump, between two processes.
        data = os.urandom(300)
        rc, out, err = run([tool('ivshmem-dump'), '-d', spec, '--write', '--offset', '0x1234'],
                           input=data)
        tap.ok(rc == 0 and not out and not err, 'ivshmem-dump --write at 0x1234', err)
        p = subprocess.run([tool('ivshmem-dump'), '-d', spec, '--raw', '--offset', '0x1234',
                            '--length', '300'], capture_output=True, env=ENV)
        note_sanitizer('ivshmem-dump --raw', p.stderr.decode())
        tap.ok(p.returncode == 0 and p.stdout == data,
               'another peer reads the same bytes with ivshmem-dump --raw', p.stderr)
        run([tool('ivshmem-dump'), '-d', spec, '--write', '--offset', '0x2000'],
            input=b'ivshmem says hello\n')
        rc, out, err = run([tool('ivshmem-dump'), '-d', spec, '--offset', '0x2000',
                            '--length', '32'])
        want = ('00002000  69 76 73 68 6d 65 6d 20  73 61 79 73 20 68 65 6c  |ivshmem says hel|\n'
                '00002010  6c 6f 0a 00 00 00 00 00  00 00 00 00 00 00 00 00  |lo..............|\n'
                '00002020\n')
        tap.ok(rc == 0 and out == want, 'ivshmem-dump prints a hex dump', out + err)
        rc, out, err = run([tool('ivshmem-dump'), '-d', spec, '--offset', '0x3000',
                            '--length', '64'])
        tap.ok(rc == 0 and out.splitlines()[1:] == ['*', '00003040'],
               'ivshmem-dump shows repeated lines as one *', out + err)
        rc, out, err = run([tool('ivshmem-dump'), '-d', spec, '--offset', '1M'])
        tap.ok(rc == 1 and one_line(err) and 'past the end' in err,
               'ivshmem-dump --offset at the end: one line, exit 1', err)
        rc, out, err = run([tool('ivshmem-dump'), '-d', spec, '--offset', '0xff000',
                            '--write'], input=b'x' * 4097)
        tap.ok(rc == 1 and one_line(err) and 'does not fit' in err,
               'ivshmem-dump --write of more than fits: one line, exit 1', err)
        rc, out, err = run([tool('ivshmem-dump'), '-d', spec, '--cache', 'uc', '-l', '16'])
        tap.ok(rc == 1 and one_line(err) and 'Not supported' in err,
               'ivshmem-dump --cache uc on the host: not supported, exit 1', err)

        # ivshmem-bench between two host peers.
        resp = start([tool('ivshmem-bench'), '-d', spec, '--respond', '--json'])
        rid, line = wait_armed(resp)
        tap.ok(rid is not None, 'ivshmem-bench --respond says its peer ID', line)
        rc, out, err = run([tool('ivshmem-bench'), '-d', spec, '--peer', str(rid), '--count',
                            '300', '--size', '256K', '--json'], timeout=120)
        try:
            b = json.loads(out)
        except ValueError:
            b = {}
        good = rc == 0
        for k in ('interrupt', 'busy_poll'):
            s = b.get(k) or {}
            good = good and all(isinstance(s.get(x), float) for x in
                                ('min_us', 'p50_us', 'p99_us', 'max_us')) and \
                s['min_us'] <= s['p50_us'] <= s['p99_us'] <= s['max_us']
        m = b.get('memcpy') or {}
        good = good and m.get('bytes') == 256 << 10 and all(
            m.get(x, 0) > 0 for x in ('to_mapping_mib_s', 'from_mapping_mib_s', 'plain_mib_s'))
        tap.ok(good, 'ivshmem-bench --peer: interrupt and busy-poll percentiles, memcpy',
               out + err)
        tap.ok(m.get('cache') == 'default' and m.get('memtype') == 'write-back',
               'ivshmem-bench: the host mapping was write-back', out + err)
        rc, out, err = run([tool('ivshmem-bench'), '-d', spec, '--size', '64K', '--reps', '2'],
                           timeout=60)
        rows = [line.split() for line in out.splitlines() if 'MiB/s' in line]
        tap.ok(rc == 0 and len(rows) == 3 and all(r[-1] == 'write-back' for r in rows),
               'ivshmem-bench: each copy row ends with its memory type', out + err)
        rc, out, err = finish(resp, 60)
        try:
            served = json.loads(out).get('served')
        except ValueError:
            served = None
        tap.ok(rc == 0 and served == 2 * (300 + 30),
               'the responder answered every round trip, warm-up included', out + err)
        rc, out, err = run([tool('ivshmem-bench'), '-d', spec, '--peer', '77', '--timeout',
                            '300', '--no-memcpy'])
        tap.ok(rc == 1 and one_line(err) and 'not running' in err,
               'ivshmem-bench --peer without a responder: one line, exit 1', err)
        rc, out, err = run([tool('ivshmem-bench'), '-d', spec, '--size', '64K'])
        tap.ok(rc == 0 and 'plain buffer' in out and 'round trips' not in out,
               'ivshmem-bench alone measures memcpy only', out + err)

        # The documented example, two host peers.
        example = os.path.join(ASAN, 'tests', 'example')
        run_example(example, spec, 'the example of library.rst (ASan build)')
        if installed and installed[0]:
            env = dict(ENV, LD_LIBRARY_PATH=installed[2])
            run_example(installed[0], spec, 'the example built with pkg-config', env)
        if installed and installed[1]:
            run_example(installed[1], spec, 'the example linked statically')

        # A server that is gone.
        srv.stop(signal.SIGKILL)
        rc, out, err = run([tool('ivshmem-ring'), '-d', spec, '--peer', '0'])
        tap.ok(rc == 1 and one_line(err) and 'No server is listening' in err,
               'ivshmem-ring on a killed server\'s socket: one line, exit 1', err)
    finally:
        srv.stop()


def test_tool_input(srvbin, work):
    """Numbers are decimal or 0x (never octal); --raw never goes to a terminal."""
    import pty
    srv = Server(srvbin, work, 'input', vectors=1, size='4K')
    spec = srv.spec
    try:
        rc, out, err = run([tool('ivshmem-dump'), '-d', spec, '--write'],
                           input=b'0123456789abcdef')
        tap.ok(rc == 0, 'ivshmem-dump --write a known pattern', err)
        rc, out, err = run([tool('ivshmem-dump'), '-d', spec, '-o', '010', '-l', '1'])
        tap.ok(rc == 0 and out.startswith('0000000a  61'),
               'ivshmem-dump -o 010 starts at byte 10, not 8', out + err)
        rc, out, err = run([tool('ivshmem-dump'), '-d', spec, '-o', '0x10', '-l', '0020'])
        tap.ok(rc == 0 and out.splitlines()[-1] == '00000024',
               'ivshmem-dump: 0x10 is hexadecimal, 0020 decimal', out + err)
        rc, out, err = run([tool('ivshmem-ring'), '-d', spec, '--peer', '010'])
        tap.ok(rc == 1 and one_line(err) and 'ring peer 10 ' in err,
               'ivshmem-ring --peer 010 rings peer 10, not 8', err)
        rc, out, err = run([tool('ivshmem-ring'), '-d', spec, '--peer', '0x'])
        tap.ok(rc == 2 and one_line(err), 'ivshmem-ring --peer 0x: exit 2', err)

        # --raw on a terminal: refused before anything is written to it.
        run([tool('ivshmem-dump'), '-d', spec, '--write'], input=b'\x1b]0;owned\x07\x1b[2J')
        master, slave = pty.openpty()
        try:
            p = subprocess.run([tool('ivshmem-dump'), '-d', spec, '--raw', '-l', '16'],
                               stdout=slave, stderr=subprocess.PIPE, env=ENV, timeout=30)
            os.set_blocking(master, False)
            try:
                shown = os.read(master, 4096)
            except (BlockingIOError, OSError):
                shown = b''
        finally:
            os.close(master)
            os.close(slave)
        err = p.stderr.decode(errors='replace')
        note_sanitizer('ivshmem-dump --raw on a terminal', err)
        tap.ok(p.returncode == 2 and one_line(err) and 'terminal' in err and b'\x1b' not in shown,
               'ivshmem-dump --raw to a terminal: refused, exit 2, nothing written',
               'rc %d, %r, terminal got %r' % (p.returncode, err, shown))
        rc, out, err = run([tool('ivshmem-dump'), '-d', spec, '--raw', '-l', '4'])
        tap.ok(rc == 0 and out == '\x1b]0;', 'ivshmem-dump --raw to a pipe: the bytes as they are',
               repr(out) + err)
    finally:
        srv.stop()


def run_example(exe, spec, name, env=None):
    recv = start([exe, spec], env=env)
    line = read_line(recv.stdout, 20)
    m = re.match(r'peer (\d+): waiting for a ring on vector 0', line)
    if not tap.ok(m, '%s: the receiver waits' % name, line):
        finish(recv)
        return
    rc, out, err = run([exe, spec, m.group(1)], env=env)
    sm = re.match(r'peer (\d+): rang peer %s\n' % m.group(1), out)
    tap.ok(rc == 0 and sm, '%s: the sender rings it' % name, out + err)
    rc, out, err = finish(recv)
    tap.ok(rc == 0 and sm and out.strip() == 'peer %s: vector 0 rang 1 time(s): hello from '
           'peer %s' % (m.group(1), sm.group(1)), '%s: the receiver reads the greeting' % name,
           out + err)


def main():
    print('TAP version 13', flush=True)
    missing = [t for t in TOOLS if not os.access(tool(t), os.X_OK)]
    if missing or not all(os.access(os.path.join(ASAN, 'tests', t), os.X_OK)
                          for t in ('lib_host_test', 'lib_region_test', 'lib_chan_test',
                                    'watch', 'chan')):
        tap.ok(False, 'the ASan builds exist (make -C userspace asan)', ' '.join(missing))
        print('1..%d' % tap.n)
        return 1
    work = tempfile.mkdtemp(prefix='ivshmem-userspace-test-')
    try:
        test_header_and_symbols()
        test_layers()
        installed = test_install(work)
        test_man_pages()
        test_usage()
        test_bad_devices(work)
        test_label(work)
        test_fake_servers(work)
        test_hostile_servers(work)
        srvbin = server_binary()
        if srvbin:
            test_library(srvbin, work)
            test_region(srvbin, work)
            test_chan(srvbin, work)
            test_pipe(srvbin, work)
            test_chan_example(srvbin, work)
            test_tools(srvbin, work, installed)
            test_region_tools(srvbin, work)
            test_watch_example(srvbin, work)
            test_tool_input(srvbin, work)
        else:
            for name in ('library: two host peers', 'library: the server dies',
                         'library: the region header', 'library: channels',
                         'tools against the server', 'the documented example'):
                tap.skip(name, 'host-server/ivshmem-server is not built')
    finally:
        shutil.rmtree(work, ignore_errors=True)
    tap.ok(not tap.sanitizer, 'no ASan/UBSan/LSan report in any run',
           '\n'.join(tap.sanitizer))
    print('1..%d' % tap.n)
    return 1 if tap.failed else 0


if __name__ == '__main__':
    sys.exit(main())
