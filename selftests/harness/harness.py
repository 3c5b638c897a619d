# SPDX-License-Identifier: GPL-2.0
"""Guest test harness for ivshmem.

A scenario declares servers, shared memory, guests and their ivshmem devices,
the shell script each guest runs and host hooks tied to barriers.  The harness
builds an initramfs per kernel, boots every guest under QEMU (TCG by default),
relays barriers between guests, runs host hooks, collects each guest's kernel
console and script output, and turns all of it into TAP results.

Nothing is left behind: QEMU processes, servers, sockets and shared memory
files are removed on success, failure, timeout and SIGINT/SIGTERM alike.
"""

import glob
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), '..', '..'))
GUEST_FILES = os.path.join(os.path.dirname(os.path.realpath(__file__)), 'guest')

# Kernel log lines that fail a scenario whatever the tests said: the generic
# ones, and the first line of every report of the debug kernel's detectors
# (most of which also say BUG or WARNING, but not all, and not in every
# version).  DETECTORS names them in the result's detail.
DETECTORS = [
    ('KASAN', r'BUG: KASAN:|\bKASAN\b'),
    ('lockdep', r'possible circular locking dependency|possible recursive locking'
                r'|inconsistent lock state|bad unlock balance|held lock freed'
                r'|lock held when returning to user space|Invalid wait context'
                r'|possible irq lock inversion|lock held at task exit'),
    ('atomic sleep', r'sleeping function called from invalid context'
                     r'|scheduling while atomic'),
    ('RCU', r'suspicious RCU usage|RCU detected stall|rcu_sched self-detected stall'),
    ('UBSAN', r'UBSAN:'),
    ('ODEBUG', r'ODEBUG:'),
    ('list corruption', r'list_add corruption|list_del corruption|list_add double add'
                        r'|list_del double'),
    ('kmemleak', r'unreferenced object 0x'),
    ('hung task', r'INFO: task .* blocked'),
]
BAD_LOG = re.compile(r'\b(BUG|WARNING|Oops|KASAN|general protection|Call Trace)\b'
                     r'|\bkernel BUG\b|UBSAN:|Kernel panic|' +
                     '|'.join(pat for _, pat in DETECTORS))
KTAP_RESULT = re.compile(r'^(not ok|ok) (\d+)\s*(?:- )?(.*)$')
KTAP_PLAN = re.compile(r'^1\.\.(\d+)$')


class HarnessError(Exception):
    """A problem of the scenario or the machine, not of the code under test."""


class Skip(Exception):
    """The scenario cannot run here; the reason says why."""


def log(msg):
    print('# ' + msg, flush=True)


def parse_size(text):
    if isinstance(text, int):
        return text
    m = re.fullmatch(r'(\d+)([KMGT]?)', str(text))
    if not m:
        raise HarnessError('bad size %r' % text)
    return int(m.group(1)) << {'': 0, 'K': 10, 'M': 20, 'G': 30, 'T': 40}[m.group(2)]


# The debug kernel (scripts/debug-kernel) runs the same code several times
# slower under TCG (KASAN, lockdep, kmemleak): scenario timeouts are scaled
# by this and guests get at least DEBUG_MEMORY MiB (KASAN's shadow, the
# quarantine and kmemleak's metadata).
DEBUG_SLOWDOWN = 3
DEBUG_MEMORY = 512


def is_debug(version):
    return version.endswith('-debug')


def debug_tree():
    """The debug kernel's build tree, or None when it is not built."""
    r = subprocess.run([os.path.join(TOP, 'scripts/debug-kernel'), '--path'],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def kernel_moddir(release):
    """Where a kernel's modules.builtin and friends are: /lib/modules for
    Debian's kernels, the build tree for the debug kernel."""
    moddir = os.path.join('/lib/modules', release)
    if os.path.isdir(moddir) or not is_debug(release):
        return moddir
    return debug_tree() or moddir


# Debian's kernel flavours besides the plain one: '6.12-rt' asks for one,
# and a plain '6.12' never picks it.
FLAVOURS = ('rt', 'cloud')


def kernel_flavour(release):
    m = re.search(r'-(%s)-' % '|'.join(FLAVOURS), release)
    return m.group(1) if m else ''


def find_kernel(version):
    """Map '6.1', '6.12', a flavour such as '6.12-rt', or a full release to
    (release, vmlinuz); '6.12-debug' to the debug kernel's release and
    bzImage."""
    if is_debug(version):
        tree = debug_tree()
        if not tree:
            raise HarnessError('the debug kernel is not built (run make test-modules '
                               'TEST_KERNELS=6.12-debug, or scripts/debug-kernel)')
        with open(os.path.join(tree, 'include/config/kernel.release')) as f:
            release = f.read().strip()
        if version not in ('6.12-debug', release):
            raise HarnessError('no debug kernel %s (there is 6.12-debug, %s)'
                               % (version, release))
        return release, os.path.join(tree, 'arch/x86/boot/bzImage')
    if os.path.exists('/boot/vmlinuz-' + version):
        return version, '/boot/vmlinuz-' + version
    base, flavour = version, ''
    for f in FLAVOURS:
        if version.endswith('-' + f):
            base, flavour = version[:-len(f) - 1], f
    cands = []
    for path in glob.glob('/boot/vmlinuz-*'):
        rel = path[len('/boot/vmlinuz-'):]
        if ((rel.startswith(base + '.') or rel.startswith(base + '-')) and
                kernel_flavour(rel) == flavour):
            cands.append((rel, path))
    if not cands:
        raise HarnessError('no /boot/vmlinuz for kernel %s (run scripts/install-deps)' % version)
    cands.sort()
    return cands[-1]


# ---------------------------------------------------------------- initramfs

def _ldd(path):
    out = subprocess.run(['ldd', path], capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r'(/\S+) \(0x', line)
        if m:
            libs.append(m.group(1))
    return libs


def _copy(src, root, dest):
    full = os.path.join(root, dest.lstrip('/'))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    shutil.copy2(os.path.realpath(src), full)
    return full


def _is_elf(path):
    with open(path, 'rb') as f:
        return f.read(4) == b'\x7fELF'


def _add_elf(src, root, dest, seen):
    _copy(src, root, dest)
    for lib in _ldd(src):
        if lib not in seen:
            seen.add(lib)
            _copy(lib, root, lib)


# What a guest declared with udev=True gets: the host's systemd-udevd (a
# name of udevadm), the project's rules, and the accounts they name.
UDEV_RULES = os.path.join(TOP, 'packaging', 'udev', '60-ivshmem.rules')
UDEV_GID = 990


def _udevadm():
    return shutil.which('udevadm', path='/usr/bin:/bin')


def _add_udev(root):
    _add_elf(_udevadm(), root, '/bin/udevadm', set())
    os.makedirs(os.path.join(root, 'lib/systemd'), exist_ok=True)
    os.symlink('/bin/udevadm', os.path.join(root, 'lib/systemd/systemd-udevd'))
    _copy(UDEV_RULES, root, '/usr/lib/udev/rules.d/' + os.path.basename(UDEV_RULES))
    with open(os.path.join(root, 'etc/passwd'), 'w') as f:
        f.write('root:x:0:0:root:/:/bin/sh\n')
    with open(os.path.join(root, 'etc/group'), 'w') as f:
        f.write('root:x:0:\nivshmem:x:%d:\n' % UDEV_GID)


def _cpio(root, out):
    files = subprocess.run(['find', '.', '-mindepth', '1'], cwd=root, check=True,
                           capture_output=True, text=True).stdout
    with open(out, 'wb') as f:
        subprocess.run(['cpio', '--quiet', '-o', '-H', 'newc', '-R', '0:0'], cwd=root,
                       input=files.encode(), stdout=f, check=True)


def build_base_initramfs(release, build_dir, workdir):
    """One cpio per kernel: busybox, modules, tools, libraries, kselftests."""
    root = os.path.join(workdir, 'base-' + release)
    os.makedirs(root)
    for d in ('bin', 'sbin', 'usr/bin', 'usr/lib', 'lib', 'dev', 'proc', 'sys', 'tmp',
              'etc', 'ksft', 'scenario'):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    busybox = shutil.which('busybox') or '/bin/busybox'
    if not os.path.exists(busybox) or _ldd(busybox):
        raise HarnessError('a static busybox is needed (apt-get install busybox-static)')
    _copy(busybox, root, '/bin/busybox')
    for name in ('init',):
        _copy(os.path.join(GUEST_FILES, name), root, '/' + name)
    _copy(os.path.join(GUEST_FILES, 'hsync'), root, '/usr/bin/hsync')
    _copy(os.path.join(GUEST_FILES, 'ktap.sh'), root, '/lib/ktap.sh')
    for f in ('init', 'usr/bin/hsync'):
        os.chmod(os.path.join(root, f), 0o755)

    seen = set()
    # Modules: ours from build/kmod/<release>/driver, plus the Debian ones
    # they depend on, with a modules.dep from depmod so modprobe works.
    # The debug kernel has those built in; its self-tests' module that
    # provokes the detectors comes too, loaded only by the scenarios naming it.
    moddir = os.path.join(root, 'lib/modules', release)
    os.makedirs(os.path.join(moddir, 'extra'))
    ours = sorted(glob.glob(os.path.join(build_dir, 'kmod', release, 'driver', '*.ko')))
    for ko in ours + glob.glob(os.path.join(build_dir, 'kmod', release, 'provoke', '*.ko')):
        shutil.copy2(ko, os.path.join(moddir, 'extra'))
    kmoddir = kernel_moddir(release)
    # virtio_net (and what it needs) for the scenarios that network their
    # guests (-device virtio-net-pci); loaded only where a script asks.
    for rel in ('kernel/drivers/uio/uio.ko', 'kernel/drivers/uio/uio_pci_generic.ko',
                'kernel/net/core/failover.ko', 'kernel/drivers/net/net_failover.ko',
                'kernel/drivers/net/virtio_net.ko'):
        for ext in ('', '.xz', '.zst'):
            src = os.path.join(kmoddir, rel + ext)
            if not os.path.exists(src):
                continue
            dst = os.path.join(moddir, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if ext == '.xz':
                with open(dst, 'wb') as f:
                    subprocess.run(['xz', '-dc', src], stdout=f, check=True)
            elif ext == '.zst':
                with open(dst, 'wb') as f:
                    subprocess.run(['zstd', '-dc', src], stdout=f, check=True)
            else:
                shutil.copy2(src, dst)
            break
    for f in ('modules.order', 'modules.builtin', 'modules.builtin.modinfo'):
        src = os.path.join(kmoddir, f)
        if os.path.exists(src):
            shutil.copy2(src, moddir)
    subprocess.run(['depmod', '-b', root, release], check=True)

    # Userspace: tools, library, kselftest programs, extra guest programs.
    for path in sorted(glob.glob(os.path.join(TOP, 'userspace/tools/ivshmem-*'))):
        if os.access(path, os.X_OK) and os.path.isfile(path) and _is_elf(path):
            _add_elf(path, root, '/usr/bin/' + os.path.basename(path), seen)
    for path in sorted(glob.glob(os.path.join(TOP, 'userspace/lib/libivshmem.so*'))):
        if os.path.isfile(path):
            _copy(path, root, '/usr/lib/' + os.path.basename(path))
    for suite in sorted(glob.glob(os.path.join(build_dir, 'ksft', '*'))):
        for path in sorted(glob.glob(os.path.join(suite, '*'))):
            if os.path.isfile(path):
                dest = '/ksft/%s/%s' % (os.path.basename(suite), os.path.basename(path))
                if _is_elf(path):
                    _add_elf(path, root, dest, seen)
                else:
                    _copy(path, root, dest)
    for path in sorted(glob.glob(os.path.join(build_dir, 'guest-bin', '*'))):
        if os.path.isfile(path) and _is_elf(path):
            _add_elf(path, root, '/usr/bin/' + os.path.basename(path), seen)
    out = os.path.join(workdir, 'base-%s.cpio' % release)
    _cpio(root, out)
    shipped = [f[:-3].replace('-', '_') for f in os.listdir(os.path.join(moddir, 'extra'))]
    return out, [os.path.basename(k)[:-3] for k in ours], shipped


# --------------------------------------------------------------------- QMP

class QMP:
    """A QEMU monitor connection that keeps the events it sees."""

    def __init__(self, path, timeout=30):
        deadline = time.time() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.time() > deadline:
                    raise HarnessError('QMP socket %s did not come up' % path)
                time.sleep(0.1)
        self.buf = b''
        self.events = []
        self._read()                     # greeting
        self.cmd('qmp_capabilities')

    def _read(self, timeout=30):
        deadline = time.time() + timeout
        while b'\n' not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise HarnessError('QMP did not answer')
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                data = self.sock.recv(65536)
                if not data:
                    raise HarnessError('QMP connection closed')
                self.buf += data
        line, self.buf = self.buf.split(b'\n', 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {'execute': name}
        if args:
            msg['arguments'] = args
        self.sock.sendall(json.dumps(msg).encode() + b'\n')
        while True:
            reply = self._read()
            if 'event' in reply:
                self.events.append(reply)
                continue
            if 'error' in reply:
                raise HarnessError('QMP %s: %s' % (name, reply['error'].get('desc')))
            return reply.get('return')

    def wait_event(self, name, timeout=60, match=None):
        deadline = time.time() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev['event'] == name and (match is None or match(ev.get('data', {}))):
                    return self.events.pop(i)
            left = deadline - time.time()
            if left <= 0:
                raise HarnessError('no QMP event %s within %ds' % (name, timeout))
            try:
                ev = self._read(timeout=left)
            except HarnessError:
                continue
            if 'event' in ev:
                self.events.append(ev)

    def close(self):
        self.sock.close()


# ------------------------------------------------------------ host objects

class SharedMem:
    """A host file backing ivshmem-plain devices (one or several guests)."""

    def __init__(self, scenario, name, size):
        self.size = parse_size(size)
        if self.size & (self.size - 1):
            raise HarnessError('shared memory size must be a power of two')
        self.path = '/dev/shm/%s-%s' % (scenario.prefix, name)
        self.id = 'mem_' + name
        scenario.cleanup_paths.append(self.path)
        with open(self.path, 'wb') as f:
            f.truncate(self.size)

    def read(self, offset, length):
        with open(self.path, 'rb') as f:
            f.seek(offset)
            return f.read(length)

    def write(self, offset, data):
        with open(self.path, 'r+b') as f:
            f.seek(offset)
            f.write(data)


class Server:
    """The project's ivshmem-server, run in the foreground for a scenario."""

    def __init__(self, scenario, name, vectors, size, args):
        binary = os.path.join(TOP, 'host-server', 'ivshmem-server')
        if not os.access(binary, os.X_OK):
            raise Skip('host-server/ivshmem-server is not built')
        self.vectors = vectors
        self.size = parse_size(size)
        self.sock = os.path.join(scenario.workdir, 'server-%s.sock' % name)
        self.shm = '%s-srv-%s' % (scenario.prefix, name)
        self.path = '/dev/shm/' + self.shm
        scenario.cleanup_paths.append(self.path)
        self.logfile = os.path.join(scenario.logdir, 'server-%s.log' % name)
        cmd = [binary, '-F', '-v', '-S', self.sock, '-M', self.shm,
               '-l', str(self.size), '-n', str(vectors)] + list(args)
        self.log = open(self.logfile, 'w')
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        scenario.procs.append(self.proc)
        deadline = time.time() + 10
        while not self._listening():
            if self.proc.poll() is not None or time.time() > deadline:
                raise HarnessError('ivshmem-server did not start (see %s)' % self.logfile)
            time.sleep(0.05)

    def _listening(self):
        """True once the socket file exists and a listening socket is bound to it."""
        if not os.path.exists(self.sock):
            return False
        try:
            with open('/proc/net/unix') as f:
                for line in f:
                    fields = line.split()
                    # Flags 00010000 is __SO_ACCEPTCON: a listening socket.
                    if len(fields) >= 8 and fields[-1] == self.sock and fields[3] == '00010000':
                        return True
        except OSError:
            return True
        return False

    def read(self, offset, length):
        with open(self.path, 'rb') as f:
            f.seek(offset)
            return f.read(length)

    def write(self, offset, data):
        with open(self.path, 'r+b') as f:
            f.seek(offset)
            f.write(data)


class Device:
    def __init__(self, guest, kind, dev_id, mem=None, server=None, vectors=0, props=''):
        self.guest = guest
        self.kind = kind
        self.id = dev_id
        self.mem = mem
        self.server = server
        self.vectors = vectors
        self.props = props
        self.plugs = 0
        self.mem_obj = mem.id if mem is not None else None
        self.extra = {}             # device_add properties when (re)plugged

    def chardev_id(self):
        return '%s_chr%d' % (self.id, self.plugs)

    def qemu_args(self):
        if self.kind == 'plain':
            return ['-device', 'ivshmem-plain,memdev=%s,id=%s%s' % (self.mem.id, self.id,
                                                                    self.props)]
        return ['-chardev', 'socket,path=%s,id=%s' % (self.server.sock, self.chardev_id()),
                '-device', 'ivshmem-doorbell,chardev=%s,vectors=%d,id=%s%s'
                % (self.chardev_id(), self.vectors, self.id, self.props)]


class Guest:
    def __init__(self, scenario, name, append, modules, memory, cpus=1, machine='pc',
                 qemu=(), udev=False):
        self.s = scenario
        self.name = name
        self.udev = udev
        self.machine = machine
        self.qemu_extra = list(qemu)
        self.append = append
        self.modules = modules
        self.memory = memory
        self.cpus = cpus
        self.devices = []
        self.mems = []
        self.script = []
        self.proc = None
        self.qmp_conn = None
        self.sync_conn = None
        self.sync_buf = b''
        self.arrivals = {}
        self.finished = False

    # --- declaration
    def plain(self, size='1M', id=None, mem=None, props=''):
        """An ivshmem-plain device; mem= shares a SharedMem with other guests."""
        dev_id = id or 'plain%d' % len(self.devices)
        if mem is None:
            mem = self.s.memory('%s-%s' % (self.name, dev_id), size)
        if mem not in self.mems:
            self.mems.append(mem)
        dev = Device(self, 'plain', dev_id, mem=mem, props=props)
        self.devices.append(dev)
        return dev

    def doorbell(self, server, vectors=None, id=None, props=''):
        """An ivshmem-doorbell device connected to server."""
        dev_id = id or 'db%d' % len(self.devices)
        dev = Device(self, 'doorbell', dev_id, server=server,
                     vectors=server.vectors if vectors is None else vectors, props=props)
        self.devices.append(dev)
        return dev

    def run(self, text):
        """Shell lines run by the guest, in order, after the earlier ones."""
        self.script.append(text)

    def run_file(self, path):
        with open(os.path.join(self.s.dir, path)) as f:
            self.script.append(f.read())

    def mem(self, dev_id):
        dev = self._device(dev_id)
        return dev.mem or dev.server

    # --- run time (host hooks)
    def qmp(self, cmd, **args):
        return self.qmp_conn.cmd(cmd, **args)

    def unplug(self, dev_id, timeout=60):
        """device_del, wait until QEMU reports the device gone, drop its backend.

        A doorbell's server connection (its chardev) outlives device_del; it
        is removed here, because QEMU crashes when a device is added while the
        old connection is still open.  A plain device's memory backend object
        is deleted too; replug() creates a new one on the same file.
        """
        dev = self._device(dev_id)
        self.qmp('device_del', id=dev_id)
        self.qmp_conn.wait_event('DEVICE_DELETED', timeout,
                                 match=lambda d: d.get('device') == dev_id)
        try:
            if dev.kind == 'doorbell':
                self.qmp('chardev-remove', id=dev.chardev_id())
            elif dev.mem_obj:
                self.qmp('object-del', id=dev.mem_obj)
                dev.mem_obj = None
        except HarnessError:
            pass                        # already gone with the device

    def replug(self, dev_id):
        """device_add the device again: a new server connection for a
        doorbell, a new memory backend on the same file for a plain device."""
        dev = self._device(dev_id)
        dev.plugs += 1
        self._add(dev)

    def hotplug(self, kind, id, server=None, vectors=None, mem=None, size='1M', props=None):
        """Add a device that was not there at boot (kind 'plain' or 'doorbell')."""
        if kind == 'plain':
            if mem is None:
                mem = self.s.memory('%s-%s' % (self.name, id), size)
            dev = Device(self, 'plain', id, mem=mem)
        else:
            dev = Device(self, 'doorbell', id, server=server,
                         vectors=server.vectors if vectors is None else vectors)
        dev.plugs = 1
        dev.extra = dict(props or {})
        self.devices.append(dev)
        self._add(dev)
        return dev

    def _device(self, dev_id):
        for dev in self.devices:
            if dev.id == dev_id:
                return dev
        raise HarnessError('guest %s has no device %s' % (self.name, dev_id))

    def _add(self, dev):
        if dev.kind == 'doorbell':
            self.qmp('chardev-add', id=dev.chardev_id(),
                     backend={'type': 'socket', 'data': {
                         'addr': {'type': 'unix', 'data': {'path': dev.server.sock}},
                         'server': False}})
            self.qmp('device_add', driver='ivshmem-doorbell', chardev=dev.chardev_id(),
                     vectors=dev.vectors, id=dev.id, **dev.extra)
        else:
            dev.mem_obj = '%s_p%d' % (dev.mem.id, dev.plugs)
            self.qmp('object-add', **{'qom-type': 'memory-backend-file', 'id': dev.mem_obj,
                                      'share': True, 'mem-path': dev.mem.path,
                                      'size': dev.mem.size})
            self.qmp('device_add', driver='ivshmem-plain', memdev=dev.mem_obj, id=dev.id,
                     **dev.extra)

    # Kernel options the harness needs: its console, and a crash ends the guest.
    KERNEL_OPTS = 'panic=-1 oops=panic ignore_loglevel'
    # The working directory of QEMU (None: the harness's own).
    qemu_cwd = None

    def machine_args(self, kernel, initrd):
        """QEMU's arguments for the machine, the kernel and the devices; the
        harness adds the accelerator and its own channels (start())."""
        cmd = ['qemu-system-x86_64', '-M', self.machine,
               '-m', str(self.memory), '-smp', str(self.cpus),
               '-kernel', kernel, '-initrd', initrd,
               '-append', 'console=ttyS0 %s %s' % (self.KERNEL_OPTS, self.append)]
        for mem in self.mems:
            cmd += ['-object', 'memory-backend-file,id=%s,share=on,mem-path=%s,size=%d'
                    % (mem.id, mem.path, mem.size)]
        cmd += self.qemu_extra
        for dev in self.devices:
            cmd += dev.qemu_args()
        return cmd

    def start(self, kernel, initrd, accel):
        d = self.s.workdir
        self.console = os.path.join(self.s.logdir, '%s.console.log' % self.name)
        self.output = os.path.join(self.s.logdir, '%s.output.log' % self.name)
        self.qmp_path = os.path.join(d, '%s.qmp' % self.name)
        sync_path = os.path.join(d, '%s.sync' % self.name)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(sync_path)
        listener.listen(1)
        # The harness's channels: console, barrier and output serial ports.
        if accel == 'tcg' and self.cpus > 1:
            # QEMU 7.2's multi-threaded TCG lets one vCPU run code that the
            # kernel is patching through int3 on another ("Oops: int3" at
            # boot); one thread still runs both vCPUs, interleaved.
            accel = 'tcg,thread=single'
        cmd = self.machine_args(kernel, initrd) + [
            '-accel', accel, '-nodefaults', '-no-user-config', '-display', 'none',
            '-no-reboot',
            '-chardev', 'file,id=con,path=%s' % self.console, '-serial', 'chardev:con',
            '-chardev', 'socket,id=sync,path=%s' % sync_path, '-serial', 'chardev:sync',
            '-chardev', 'file,id=out,path=%s' % self.output, '-serial', 'chardev:out',
            '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_path]
        with open(os.path.join(self.s.logdir, '%s.cmdline' % self.name), 'w') as f:
            f.write(' '.join(cmd) + '\n')
        self.stderr = open(os.path.join(self.s.logdir, '%s.qemu.log' % self.name), 'w')
        self.proc = subprocess.Popen(cmd, cwd=self.qemu_cwd, stdout=self.stderr,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        self.s.procs.append(self.proc)
        listener.settimeout(30)
        try:
            self.sync_conn, _ = listener.accept()
        except socket.timeout:
            raise HarnessError('QEMU for guest %s did not start (see %s)'
                               % (self.name, self.stderr.name))
        finally:
            listener.close()
        self.sync_conn.setblocking(False)
        self.qmp_conn = QMP(self.qmp_path)

    def send(self, line):
        try:
            self.sync_conn.sendall(line.encode() + b'\n')
        except OSError:
            pass


class Scenario:
    def __init__(self, path, kernel, build_dir, logdir, accel='tcg', timeout=None):
        self.path = path
        self.dir = os.path.dirname(os.path.realpath(path))
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.kernel = kernel
        self.build_dir = build_dir
        self.accel = accel
        self.timeout = timeout or 300
        self.prefix = 'ivshmem-harness-%d-%s' % (os.getpid(), self.name)
        self.workdir = tempfile.mkdtemp(prefix='ivshmem-harness-')
        self.logdir = logdir
        os.makedirs(logdir, exist_ok=True)
        self.guests = []
        self.servers = []
        self.mems = {}
        self.hooks = {}
        self.procs = []
        self.cleanup_paths = []
        self.host_results = []
        self.expect_failure = False
        # Harness self-tests: the detector (a DETECTORS name) whose report
        # must fail the scenario under --expect-fail.
        self.expect_report = None

    # --- declaration API used by scenario files
    def server(self, vectors=1, size='1M', name=None, args=()):
        srv = Server(self, name or 'srv%d' % len(self.servers), vectors, size, args)
        self.servers.append(srv)
        return srv

    def memory(self, name, size='1M'):
        if name not in self.mems:
            self.mems[name] = SharedMem(self, name, size)
        return self.mems[name]

    def guest(self, name, append='', modules=None, memory=256, cpus=1, machine='pc',
              qemu=(), udev=False):
        """A guest; cpus > 1 boots it with that many CPUs, machine='q35'
        on QEMU's q35 machine instead of pc (i440FX); qemu= adds QEMU
        arguments before the ivshmem devices (a bridge, a -global); udev=True
        gives it systemd-udevd and the project's rules (udev_start)."""
        if not re.fullmatch(r'[a-z][a-z0-9]*', name):
            raise HarnessError('guest names are lower-case words')
        if udev and not _udevadm():
            raise Skip('udevadm is not installed (apt-get install udev)')
        g = Guest(self, name, append, modules, memory, cpus, machine, qemu, udev)
        self.guests.append(g)
        return g

    def at(self, barrier, fn):
        """Run fn() on the host when every guest has reached barrier."""
        self.hooks.setdefault(barrier, []).append(fn)

    def check(self, name, cond, detail=''):
        """A host-side result, reported with the guests' ones."""
        self.host_results.append((bool(cond), name, detail))
        return bool(cond)

    def check_guest_token(self, barrier, token, mems, who='the guest'):
        """At barrier, check that ivshmem_test wrote TOKEN-KIND at offset
        4096 of each memory (IVSHMEM_GUEST_TOKEN): mems maps a device kind
        ('doorbell', 'plain') to the server or SharedMem behind it."""
        def hook():
            for kind, mem in mems.items():
                want = ('%s-%s' % (token, kind)).encode()
                got = mem.read(4096, len(want))
                self.check('the host reads what %s wrote to the %s device' % (who, kind),
                           got == want, repr(got))
        self.at(barrier, hook)

    # --- running
    def _guest_cpio(self, g, modules):
        root = os.path.join(self.workdir, 'guest-' + g.name)
        os.makedirs(os.path.join(root, 'etc'))
        os.makedirs(os.path.join(root, 'scenario'))
        with open(os.path.join(root, 'etc/harness.conf'), 'w') as f:
            f.write('HARNESS_GUEST=%s\nHARNESS_SCENARIO=%s\nHARNESS_MODULES="%s"\n'
                    % (g.name, self.name, ' '.join(modules)))
            f.write('HARNESS_GUESTS="%s"\n' % ' '.join(x.name for x in self.guests))
            # A self-test of another detector gains nothing from kmemleak's
            # scans, which take some 15 s of each debug guest's life.
            scan = self.expect_report in (None, 'kmemleak')
            f.write('HARNESS_LEAK_SCAN=%d\n' % scan)
            f.write('export HARNESS_GUEST HARNESS_SCENARIO HARNESS_GUESTS\n')
        if g.udev:
            _add_udev(root)
        with open(os.path.join(root, 'scenario/run.sh'), 'w') as f:
            f.write('\n'.join(g.script) + '\n')
            f.write('[ "${ktap_fails:-0}" -eq 0 ]\n')
        out = os.path.join(self.workdir, 'guest-%s.cpio' % g.name)
        _cpio(root, out)
        return out

    def _barrier_step(self):
        """Release every barrier all live guests have reached."""
        live = [g for g in self.guests if not g.finished]
        gone = [g.name for g in self.guests if g.finished]
        if gone:
            # Every barrier needs every guest: none can complete any more.
            self._abort_waiters('guest %s exited' % ','.join(gone))
            return
        names = set()
        for g in live:
            names.update(g.arrivals)
        for name in names:
            # The k-th release of a name needs each live guest's k-th arrival.
            while all(len(g.arrivals.get(name, [])) > 0 for g in live):
                values = ' '.join('%s=%s' % (g.name, g.arrivals[name][0]) for g in live)
                failed = None
                for fn in self.hooks.get(name, []):
                    try:
                        fn()
                    except Exception as e:       # a hook failure fails the scenario
                        failed = '%s: %s' % (type(e).__name__, e)
                        self.check('host hook at %s' % name, False, failed)
                for g in live:
                    g.arrivals[name].pop(0)
                    g.send(('ABORT %s %s .' % (name, failed)) if failed else
                           ('GO %s %s .' % (name, values)))

    def _abort_waiters(self, why):
        for g in self.guests:
            if g.finished:
                continue
            for name, pending in g.arrivals.items():
                for _ in pending:
                    g.send('ABORT %s %s .' % (name, why))
                pending.clear()

    def _pump(self, deadline):
        """Run until every guest has exited or the deadline passed."""
        while True:
            for g in self.guests:
                if not g.finished and g.proc.poll() is not None:
                    g.finished = True
                    self._abort_waiters('guest %s exited' % g.name)
            live = [g for g in self.guests if not g.finished]
            if not live:
                return True
            left = deadline - time.time()
            if left <= 0:
                return False
            socks = [g.sync_conn for g in live]
            r, _, _ = select.select(socks, [], [], min(left, 0.2))
            for g in live:
                if g.sync_conn not in r:
                    continue
                try:
                    data = g.sync_conn.recv(4096)
                except OSError:
                    data = b''
                if not data:
                    continue
                g.sync_buf += data
                while b'\n' in g.sync_buf:
                    line, g.sync_buf = g.sync_buf.split(b'\n', 1)
                    parts = line.decode(errors='replace').strip().split(' ')
                    if len(parts) >= 2 and parts[0] == 'SYNC':
                        value = parts[2] if len(parts) > 2 else '-'
                        g.arrivals.setdefault(parts[1], []).append(value)
            self._barrier_step()

    def run(self):
        """Boot, run, judge.  Returns a list of (ok, name, detail, skip)."""
        release, vmlinuz = find_kernel(self.kernel)
        base, ours, self.our_modules = self.base_initramfs(release)
        results = []
        if not self.guests:
            raise HarnessError('scenario declares no guest')
        timeout = self.timeout
        if is_debug(self.kernel):
            timeout *= DEBUG_SLOWDOWN
            for g in self.guests:
                g.memory = max(g.memory, DEBUG_MEMORY)
        for g in self.guests:
            modules = ours if g.modules is None else g.modules
            initrd = os.path.join(self.workdir, 'initrd-%s.cpio' % g.name)
            with open(initrd, 'wb') as out:
                for part in (base, self._guest_cpio(g, modules)):
                    with open(part, 'rb') as f:
                        shutil.copyfileobj(f, out)
            g.start(vmlinuz, initrd, self.accel)
        finished = self._pump(time.time() + timeout)
        if not finished:
            for g in self.guests:
                if not g.finished:
                    results.append((False, '%s: finished within %ds' % (g.name, timeout),
                                    'timed out', False))
        self.stop()
        for g in self.guests:
            results += judge_guest(g, self.our_modules)
        for ok, name, detail in self.host_results:
            results.append((ok, 'host: ' + name, detail, False))
        return results

    def base_initramfs(self, release):
        cache = getattr(Scenario, '_base_cache', {})
        Scenario._base_cache = cache
        if release not in cache:
            cache[release] = build_base_initramfs(release, self.build_dir,
                                                  Scenario.cache_dir())
        return cache[release]

    @staticmethod
    def cache_dir():
        if not hasattr(Scenario, '_cache_dir'):
            Scenario._cache_dir = tempfile.mkdtemp(prefix='ivshmem-initramfs-')
        return Scenario._cache_dir

    def stop(self):
        for g in self.guests:
            if g.qmp_conn:
                g.qmp_conn.close()
                g.qmp_conn = None
            if g.sync_conn:
                g.sync_conn.close()
                g.sync_conn = None
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = []

    def cleanup(self):
        self.stop()
        for path in self.cleanup_paths:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)


def cleanup_cache():
    if hasattr(Scenario, '_cache_dir'):
        shutil.rmtree(Scenario._cache_dir, ignore_errors=True)


def bad_log_lines(console):
    """The kernel log lines that fail a scenario, each with the detector
    that reported it (or None for a generic BUG/WARNING/Oops...)."""
    bad = []
    for line in console.splitlines():
        if BAD_LOG.search(line):
            name = next((n for n, pat in DETECTORS if re.search(pat, line)), None)
            bad.append((name, line.strip()))
    return bad


def reported_by(detail, detector):
    """True when a result's detail names detector as a reporter."""
    m = re.match(r'reported by ([^:]*):', detail)
    return bool(m) and detector in m.group(1).split(', ')


# A frame of a kmemleak backtrace: "[<address>] " (older kernels), the
# symbol or a bare address, and the module in brackets.
KMEMLEAK_FRAME = re.compile(r'^\s+(?:\[<[0-9a-f]+>\]\s+)?(\S+)(?:\s+\[(\w+)\])?\s*$')


def kmemleak_ours(report, modules):
    """The kmemleak report's objects whose allocation backtrace runs through
    one of modules, or through module code no longer loaded (a bare
    address: the modules a guest loads are all ours)."""
    leaks = []
    for block in re.split(r'(?m)^(?=unreferenced object )', report):
        if not block.startswith('unreferenced object '):
            continue
        frames = block.split('backtrace', 1)[1].splitlines()[1:] if 'backtrace' in block else []
        for line in frames:
            m = KMEMLEAK_FRAME.match(line)
            if not m:
                continue
            sym, mod = m.group(1), m.group(2)
            if (mod and mod in modules) or re.fullmatch(r'0x[0-9a-f]+', sym):
                leaks.append('%s (%s)' % (block.splitlines()[0].strip(), sym))
                break
    return leaks


def judge_guest(g, modules=()):
    """Turn one guest's logs into results."""
    results = []
    try:
        with open(g.output, errors='replace') as f:
            output = f.read()
    except FileNotFoundError:
        output = ''
    try:
        with open(g.console, errors='replace') as f:
            console = f.read()
    except FileNotFoundError:
        console = ''
    exit_rc = None
    plan = None
    seen = 0
    kmemleak = None         # the guest's kmemleak report, if it has kmemleak
    for line in output.splitlines():
        line = line.rstrip('\r')
        if line == 'HARNESS-KMEMLEAK-BEGIN':
            kmemleak = []
            continue
        if line == 'HARNESS-KMEMLEAK-END':
            kmemleak = '\n'.join(kmemleak)
            continue
        if isinstance(kmemleak, list):
            kmemleak.append(line)
            continue
        if line.startswith('TAP version') or line.startswith('KTAP version'):
            if plan is not None and seen != plan:
                results.append((False, '%s: plan of %d tests, %d ran' % (g.name, plan, seen),
                                '', False))
            plan, seen = None, 0
            continue
        m = KTAP_PLAN.match(line)
        if m:
            plan = int(m.group(1))
            continue
        m = KTAP_RESULT.match(line)
        if m:
            seen += 1
            desc = m.group(3)
            skip = bool(re.search(r'#\s*SKIP', desc, re.I))
            name = re.sub(r'\s*#.*$', '', desc)
            results.append((m.group(1) == 'ok', '%s: %s' % (g.name, name),
                            desc if skip else '', skip))
            continue
        m = re.match(r'^HARNESS-EXIT (\d+)', line)
        if m:
            exit_rc = int(m.group(1))
    if plan is not None and seen != plan:
        results.append((False, '%s: plan of %d tests, %d ran' % (g.name, plan, seen), '', False))
    results.append((exit_rc == 0, '%s: script exit status' % g.name,
                    'no exit status (guest died?)' if exit_rc is None else 'exit %d' % exit_rc,
                    False))
    bad = bad_log_lines(console)
    detectors = sorted(set(n for n, _ in bad if n))
    detail = '; '.join(line for _, line in bad[:3])
    if detectors:
        detail = 'reported by %s: %s' % (', '.join(detectors), detail)
    results.append((not bad, '%s: kernel log clean' % g.name, detail, False))
    if isinstance(kmemleak, str):
        leaks = kmemleak_ours(kmemleak, modules)
        detail = ''
        if leaks:
            detail = 'reported by kmemleak: %d leak(s): %s' % (len(leaks), '; '.join(leaks[:3]))
        elif 'HARNESS-KMEMLEAK-OFF' in kmemleak:
            leaks = ['off']
            detail = 'kmemleak could not scan: it turned itself off (see the kernel log)'
        results.append((not leaks, '%s: no kmemleak leak from our modules' % g.name,
                        detail, False))
    return results
