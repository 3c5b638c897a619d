# SPDX-License-Identifier: GPL-2.0
"""The documentation's guest commands, run in real guests.

Documentation/quickstart.rst is followed as a newcomer would: its
ivshmem-server command line starts the server, its two QEMU command lines
boot the guests (only the kernel, the initramfs and the harness's own
channels differ), and every block marked ".. check: guest NAME..." in
Documentation/*.rst runs in the guests it names, in the order of the pages
(quickstart.rst first, migration.rst last).  Each command's output is compared with the
output printed under it; a block marked "background" runs while the
following blocks run (a wait for a ring), and "dmesg" blocks are lines the
guest's kernel log must contain.  scripts/check-docs parses the pages.
"""

import importlib.machinery
import os
import re
import shlex
import signal
import subprocess
import sys
import time

TOP = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
sys.path.insert(0, os.path.join(TOP, 'selftests', 'harness'))
import harness  # noqa: E402

docs = importlib.machinery.SourceFileLoader(
    'check_docs', os.path.join(TOP, 'scripts', 'check-docs')).load_module()

WALKTHROUGH = os.path.join(TOP, 'Documentation', 'quickstart.rst')
# Unplugs and plugs the first guest's device: last, so that the other
# pages find the devices as the walkthrough left them.
LAST = os.path.join(TOP, 'Documentation', 'migration.rst')

# Shell helpers of the guest script: run a documented command, compare its
# output line by line with extended regular expressions.
HELPERS = r'''
mkdir -p /tmp/docs
docs_compare() {	# OUT PATTERNS: same number of lines, each matching
	_want=$(grep -c '' "$2")
	_got=$(grep -c '' "$1")
	[ "$_want" -eq "$_got" ] || return 1
	_i=1
	while [ $_i -le $_want ]; do
		sed -n "${_i}p" "$2" > /tmp/docs/pat
		sed -n "${_i}p" "$1" | grep -Eq -f /tmp/docs/pat || return 1
		_i=$((_i + 1))
	done
}
docs_judge() {		# NAME RC OUT PATTERNS
	if [ -s "$4" ]; then
		if docs_compare "$3" "$4"; then
			sed 's/^/# /' "$3"
			_ktap ok "$1"
		else
			echo "# $1: exit $2, output:"
			sed 's/^/#   /' "$3"
			echo "# expected (patterns):"
			sed 's/^/#   /' "$4"
			_ktap fail "$1"
		fi
	elif [ "$2" -eq 0 ]; then
		sed 's/^/# /' "$3"
		_ktap ok "$1"
	else
		echo "# $1: exit $2"
		sed 's/^/#   /' "$3"
		_ktap fail "$1"
	fi
}
docs_run() {		# NAME CMDFILE PATTERNS: in this shell, so variables stay
	. "$2" > "$2.out" 2>&1 < /dev/null
	docs_judge "$1" $? "$2.out" "$3"
}
docs_armed() {		# a process waits on an eventfd: the wait is armed
	_t=0
	while [ $_t -lt 300 ]; do
		for _p in /proc/[0-9]*; do
			ls -l $_p/fd 2> /dev/null | grep -q 'anon_inode:\[eventfd\]' && {
				sleep 1
				return 0
			}
		done
		sleep 0.1
		_t=$((_t + 1))
	done
	return 1
}
'''


def ere(line):
    """An extended regular expression for one expected output line: blanks
    match any blanks, '...' anything, PCI addresses any address."""
    out = ''
    for part in re.split(r'(\.\.\.|\s+|[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])', line.strip()):
        if not part:
            continue
        if part == '...':
            out += '.*'
        elif part.isspace():
            out += '[[:space:]]+'
        elif re.fullmatch(r'[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]', part):
            out += '[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}[.][0-7]'
        else:
            for ch in part:
                if ch == '\\':
                    out += '[\\]'
                elif ch == '^':
                    out += '\\^'
                elif ch in '.[]()*+?{}|$':
                    out += '[%s]' % ch if ch != ']' else '[]]'
                else:
                    out += ch
    return '^[[:space:]]*' + out + '[[:space:]]*$'


def heredoc(path, text):
    assert 'DOCS_EOF' not in text
    return "cat > %s <<'DOCS_EOF'\n%sDOCS_EOF\n" % (path, text if text.endswith('\n') or
                                                  not text else text + '\n')


def ktap_name(block, what):
    name = '%s:%d %s' % (os.path.basename(block.path), block.line, what)
    return re.sub(r'[^A-Za-z0-9_.:=/-]+', '_', name)[:90]


class DocServer:
    """The walkthrough's ivshmem-server, run as documented, in the
    scenario's directory."""

    def __init__(self, s, cmd):
        argv = shlex.split(cmd)
        binary = os.path.join(TOP, 'host-server', 'ivshmem-server')
        if not os.access(binary, os.X_OK):
            raise harness.Skip('host-server/ivshmem-server is not built')
        opts = docs.server_options(argv[1:])
        if not opts.get('foreground'):
            raise harness.HarnessError('the walkthrough server must run with -F')
        given = opts.get('socket', '/tmp/ivshmem_socket')
        self.sock = os.path.join(s.workdir, given)
        self.log = open(os.path.join(s.logdir, 'server-docs.log'), 'w')
        self.proc = subprocess.Popen([binary] + argv[1:], cwd=s.workdir, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        s.procs.append(self.proc)
        deadline = time.time() + 10
        while not docs.listening(self.sock, given):
            if self.proc.poll() is not None or time.time() > deadline:
                raise harness.HarnessError('"%s" did not start (see %s)'
                                           % (cmd, self.log.name))
            time.sleep(0.05)


class DocGuest(harness.Guest):
    """A guest booted with a documented QEMU command line."""

    def __init__(self, s, name, line):
        super().__init__(s, name, '', [], 512)
        self.doc_argv = shlex.split(line)

    def machine_args(self, kernel, initrd):
        """The documented command line, with the harness's kernel and
        initramfs in place of the documented ones."""
        self.qemu_cwd = self.s.workdir      # documented paths are relative
        cmd = []
        argv = self.doc_argv
        i = 0
        while i < len(argv):
            a = argv[i]
            if a in ('-kernel', '-initrd', '-append') and i + 1 < len(argv):
                val = {'-kernel': kernel, '-initrd': initrd,
                       '-append': argv[i + 1] + ' ' + self.KERNEL_OPTS}[a]
                cmd += [a, val]
                i += 2
                continue
            if a != '-nographic':
                cmd.append(a)
            i += 1
        return cmd


def guest_blocks():
    files = ([WALKTHROUGH] + [f for f in docs.doc_files() if f not in (WALKTHROUGH, LAST)] +
             [LAST])
    out = []
    for f in files:
        out += [b for b in docs.parse_file(f) if b.kind == 'guest' or
                (b.kind == 'monitor' and b.words() and b.words() != ['run']) or
                (b.kind == 'compile' and b.flag('guest'))]
    return out


def example_name(block):
    return 'docs-%s-%d' % (os.path.basename(block.path)[:-4], block.line)


def build_examples(s, blocks):
    """Compile the C examples that run in guests, into a cpio archive that
    is appended to each guest's initramfs (/usr/bin/docs-PAGE-LINE)."""
    root = os.path.join(s.workdir, 'docs-examples')
    os.makedirs(os.path.join(root, 'usr', 'bin'))
    for b in blocks:
        src = os.path.join(s.workdir, example_name(b) + '.c')
        with open(src, 'w') as f:
            f.write(b.text)
        std = b.flag('std') or 'c11'
        cmd = (['cc'] + docs.c_flags(std) + ['-o', os.path.join(root, 'usr', 'bin',
                                                                 example_name(b)), src,
                                            os.path.join(TOP, 'userspace', 'lib',
                                                         'libivshmem.so.1')])
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise harness.HarnessError('%s does not compile: %s' % (b.where(), p.stderr))
    out = os.path.join(s.workdir, 'docs-examples.cpio')
    harness._cpio(root, out)
    orig = s._guest_cpio

    def guest_cpio(g, modules):
        path = orig(g, modules)
        with open(path, 'ab') as f, open(out, 'rb') as extra:
            f.write(extra.read())
        return path
    s._guest_cpio = guest_cpio


def monitor_hook(s, g, block):
    """Type the block's monitor commands into the guest's QEMU (HMP through
    QMP), waiting for the guest to let go of a device after device_del."""
    def hook():
        for cmd in docs.monitor_commands(block.text):
            out = g.qmp('human-monitor-command', **{'command-line': cmd}) or ''
            # Commands that change something print nothing when they work.
            ok = cmd.startswith('info ') or not out.strip()
            if ok and cmd.split()[0] == 'device_del':
                dev = cmd.split()[1]
                try:
                    g.qmp_conn.wait_event('DEVICE_DELETED', 60,
                                          match=lambda d: d.get('device') == dev)
                except harness.HarnessError as e:
                    ok, out = False, str(e)
            s.check('%s:%d monitor of %s: %s' % (os.path.basename(block.path), block.line,
                                                 g.name, cmd), ok, out.strip())
    return hook


def scenario(s):
    s.timeout = 240
    walk = docs.parse_file(WALKTHROUGH)
    servers = [b for b in walk if b.kind == 'run' and b.flag('walkthrough')]
    if len(servers) != 1:
        raise harness.HarnessError('quickstart.rst needs one ".. check: run walkthrough"')
    server_cmd = [c for c in docs.commands(servers[0].text) if c.startswith('ivshmem-server')]
    srv = DocServer(s, server_cmd[0])
    guests = {}
    for b in walk:
        name = b.flag('walkthrough')
        if b.kind == 'qemu' and name:
            line = [c for c in docs.commands(b.text) if c.startswith('qemu-system-')][0]
            g = DocGuest(s, name, line)
            s.guests.append(g)
            guests[name] = g
    if len(guests) != 2:
        raise harness.HarnessError('quickstart.rst needs two "qemu walkthrough=NAME" blocks')
    scripts = {name: [HELPERS] for name in guests}
    pending = {name: None for name in guests}       # a background command's files
    n = 0

    def finish(name):
        bg = pending[name]
        if bg:
            scripts[name].append('wait $docs_bg; docs_judge %s $? %s.out %s\n' % bg)
            pending[name] = None

    blocks = guest_blocks()
    build_examples(s, [b for b in blocks if b.kind == 'compile'])
    for step, b in enumerate(blocks):
        if b.kind == 'compile':
            # Run in one guest; once it waits, the others ring it.
            name = b.flag('guest')
            ring = b.flag('ring')
            args = b.args.split('--', 1)[1].strip() if '--' in b.args else ''
            label = ktap_name(b, 'example runs')
            for other in guests:
                if other == name:
                    n += 1
                    cf = '/tmp/docs/c%d' % n
                    text = heredoc(cf, '%s %s\n' % (example_name(b), args))
                    if ring:
                        text += 'timeout 60 sh %s > %s.out 2>&1 &\ndocs_bg=$!\n' % (cf, cf)
                        text += 'check %s docs_armed\n' % ktap_name(b, 'example waits')
                        text += ('docs_id=$(cat /sys/class/ivshmem/ivshmem0/vm_id)\n'
                                 'echo "# own ID: $docs_id"\n'
                                 'hsync docs%d-id $docs_id > /dev/null\n' % step)
                        text += 'hsync docs%d-rung > /dev/null\n' % step
                        text += 'wait $docs_bg; docs_judge %s $? %s.out /dev/null\n' % (label, cf)
                    else:
                        text += 'docs_run %s %s /dev/null\n' % (label, cf)
                    scripts[other].append(text)
                elif ring:
                    scripts[other].append(
                        'ids=$(hsync docs%d-id)\n'
                        'echo "# barrier values: $ids"\n'
                        'id=$(echo " $ids" | sed "s/.* %s=\\([0-9]*\\).*/\\1/")\n'
                        'check %s ivshmem-ring --peer $id --vector %s\n'
                        'hsync docs%d-rung > /dev/null\n'
                        % (step, name, ktap_name(b, 'ring the example'), ring, step))
            for other in guests:
                scripts[other].append('hsync docs%d > /dev/null\n' % step)
            continue
        if b.kind == 'monitor':
            g = guests.get(b.words()[0])
            if g is None:
                raise harness.HarnessError('%s names guest %s, not in quickstart.rst'
                                           % (b.where(), b.words()[0]))
            s.at('docs%d' % step, monitor_hook(s, g, b))
            for name in guests:
                scripts[name].append('hsync docs%d > /dev/null\n' % step)
            continue
        names = [w for w in b.words() if '=' not in w and w not in ('background', 'dmesg')]
        for name in names:
            if name not in guests:
                raise harness.HarnessError('%s names guest %s, not in quickstart.rst'
                                           % (b.where(), name))
            text = ''
            if b.flag('dmesg'):
                for k, line in enumerate(x for x in b.text.splitlines() if x.strip()):
                    n += 1
                    pat = '/tmp/docs/p%d' % n
                    text += heredoc(pat, ere('...' + line + '...') + '\n')
                    text += ('if dmesg | grep -Eq -f %s; then _ktap ok %s; else '
                             'dmesg | grep ivshmem | sed "s/^/#   /"; _ktap fail %s; fi\n'
                             % (pat, ktap_name(b, 'kernel log line %d' % (k + 1)),
                                ktap_name(b, 'kernel log line %d' % (k + 1))))
                scripts[name].append(text)
                continue
            for cmd, expected in docs.sessions(b.text):
                n += 1
                cf, pf = '/tmp/docs/c%d' % n, '/tmp/docs/p%d' % n
                text += heredoc(cf, cmd)
                text += heredoc(pf, ''.join(ere(x) + '\n' for x in expected if x.strip()))
                label = ktap_name(b, cmd)
                if b.flag('background'):
                    finish(name)
                    text += 'timeout 60 sh %s > %s.out 2>&1 &\ndocs_bg=$!\n' % (cf, cf)
                    text += 'check %s docs_armed\n' % ktap_name(b, 'armed: ' + cmd)
                    pending[name] = (label, cf, pf)
                else:
                    finish(name)
                    text += 'docs_run %s %s %s\n' % (label, cf, pf)
            scripts[name].append(text)
        # Every guest meets after each block: the page's order is kept.
        for name in guests:
            scripts[name].append('hsync docs%d > /dev/null\n' % step)
    for name, g in guests.items():
        finish(name)
        g.run(''.join(scripts[name]))
        g.run('hsync docs-end > /dev/null')

    def server_alive():
        s.check('the documented ivshmem-server still serves at the end',
                srv.proc.poll() is None and os.path.exists(srv.sock))
        if srv.proc.poll() is None:
            srv.proc.send_signal(signal.SIGTERM)
            try:
                rc = srv.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                rc = None
            s.check('the documented ivshmem-server stops on SIGTERM with status 0', rc == 0,
                    'status %r' % rc)
            s.check('the documented ivshmem-server removes its socket',
                    not os.path.exists(srv.sock))
    s.at('docs-end', server_alive)
