# SPDX-License-Identifier: GPL-2.0-or-later
"""What the host tests of ivshmem-server share: the server under test (the
ASan/UBSan build by default) and its logs, sanitizer reports, waiting,
checking, and the list of tests that tests/run.py runs."""
import os
import shutil
import socket
import resource
import signal
import subprocess
import sys
import glob
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from proto_client import Peer  # noqa: E402

# Another build (an older one, to compare) can be tested through the environment.
ASAN = os.environ.get('IVSHMEM_SERVER_ASAN', os.path.join(TOP, 'ivshmem-server-asan'))
PLAIN = os.environ.get('IVSHMEM_SERVER', os.path.join(TOP, 'ivshmem-server'))
WIRE_TEST = os.path.join(TOP, 'tests', 'wire_test')
QEMU = shutil.which('qemu-system-x86_64')
SHM_PREFIX = 'ivshmem-server-test-%d-' % os.getpid()


class Skip(Exception):
    pass


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def wait_until(cond, timeout=10.0, what='condition', step=0.01):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failure('timed out waiting for %s' % what)
        time.sleep(step)


# -- the server under test ----------------------------------------------------

_serial = 0


def unique(stem):
    global _serial
    _serial += 1
    return '%s%s%d' % (SHM_PREFIX, stem, _serial)


class Server:
    """One ivshmem-server process in the foreground."""

    def __init__(self, tmp, args=(), binary=ASAN, vectors=1, size='1M', sock=None,
                 shm=True, wait=True, env=None, preexec=None, argv=None, keep_fd3=False):
        self.tmp = tmp
        self.binary = binary
        self.sock = sock or os.path.join(tmp, 'srv%d.sock' % (_serial + 1))
        self.shm = unique('shm') if shm else None
        self.vectors = vectors
        self.asan_dir = os.path.join(tmp, 'asan')
        os.makedirs(self.asan_dir, exist_ok=True)
        if argv is None:
            argv = [binary, '-F', '-S', self.sock, '-l', str(size), '-n', str(vectors)]
            if shm:
                argv += ['-M', self.shm]
            argv += list(args)
        self.argv = argv
        self.logpath = os.path.join(tmp, 'server-%d.log' % _serial)
        self.log = open(self.logpath, 'w')
        e = dict(os.environ)
        e.update(sanitizer_env(self.asan_dir))
        if env:
            e.update(env)
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, env=e, preexec_fn=preexec,
                                     pass_fds=(3,) if keep_fd3 else ())
        self.pid = self.proc.pid
        if wait:
            wait_until(lambda: os.path.exists(self.sock) or self.proc.poll() is not None,
                       what='the server socket')
            if self.proc.poll() is not None:
                raise Failure('server exited with %d: %s' % (self.proc.returncode, self.text()))
            # The socket exists from bind(); wait until it accepts.
            wait_until(self.listening, what='the server to listen')

    def listening(self):
        with open('/proc/net/unix') as f:
            return any(line.split()[-1] == self.sock for line in f.read().splitlines()[1:]
                       if len(line.split()) >= 8 and int(line.split()[3], 16) & 0x10000)

    def peer(self, vectors=None, **kw):
        return Peer(self.sock, self.vectors if vectors is None else vectors, **kw)

    def text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.logpath) as f:
            return f.read()

    def fds(self):
        return len(os.listdir('/proc/%d/fd' % self.pid))

    def fd_list(self):
        d = '/proc/%d/fd' % self.pid
        return sorted('%s:%s' % (f, os.readlink(os.path.join(d, f))) for f in os.listdir(d))

    def status(self, field):
        with open('/proc/%d/status' % self.pid) as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
        return None

    def cpu(self):
        with open('/proc/%d/stat' % self.pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=20, expect=0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Failure('server did not stop on %s' % signal.Signals(sig).name)
        self.log.close()
        check_sanitizers(self.asan_dir)
        if expect is not None:
            check(rc == expect, 'server exit status %d, expected %d; log:\n%s' %
                  (rc, expect, self.text()))
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()


def sanitizer_env(logdir):
    base = os.path.join(logdir, 'report')
    return {
        'ASAN_OPTIONS': 'log_path=%s:detect_leaks=1:abort_on_error=0:exitcode=99' % base,
        'UBSAN_OPTIONS': 'log_path=%s:print_stacktrace=1:halt_on_error=1' % base,
    }


def check_sanitizers(logdir):
    reports = sorted(glob.glob(os.path.join(logdir, 'report*')))
    if reports:
        text = ''
        for r in reports:
            with open(r) as f:
                text += f.read()
            os.rename(r, r + '.seen')
        raise Failure('sanitizer report:\n' + text[:4000])


def run_server(tmp, argv, env=None, timeout=20, preexec=None):
    """Run the server to completion (for start-up errors)."""
    asan_dir = os.path.join(tmp, 'asan')
    os.makedirs(asan_dir, exist_ok=True)
    e = dict(os.environ)
    e.update(sanitizer_env(asan_dir))
    if env:
        e.update(env)
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       env=e, timeout=timeout, preexec_fn=preexec)
    check_sanitizers(asan_dir)
    return p


def one_line_error(p, status, words):
    """The process failed with status and said so in one line."""
    lines = p.stderr.splitlines()
    check(p.returncode == status, 'exit status %d, expected %d (stderr %r)' %
          (p.returncode, status, p.stderr))
    check(len(lines) == 1, 'expected one line on stderr, got %r' % p.stderr)
    check(lines[0].startswith('ivshmem-server: '), 'message not prefixed: %r' % lines[0])
    for w in words:
        check(w in lines[0], '%r not in %r' % (w, lines[0]))


def wait_eof(sock, timeout=10):
    """Read and discard until the server closes the connection."""
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        return False
    return True


def pump_all(*peers):
    """Handle every message waiting for these peers, without blocking."""
    for p in peers:
        p.sock.setblocking(False)
        p.pump()
        p.sock.setblocking(True)


def shm_exists(name):
    return os.path.exists('/dev/shm/' + name)


def fd_count():
    return len(os.listdir('/proc/self/fd'))


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(n, hard) if hard != resource.RLIM_INFINITY else n
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn
