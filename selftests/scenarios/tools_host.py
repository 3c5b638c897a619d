# SPDX-License-Identifier: GPL-2.0
"""A guest and host processes, peers of one ivshmem-server, through
libivshmem's host backend: the host's ivshmem-ring wakes the guest's
ivshmem-wait; the guest rings back the example program of
Documentation/library.rst waiting on the host, which reads the guest's
greeting; ivshmem-bench measures guest<->host round trips (interrupts both
ways, and busy polling) with the host responding.  IDs are exchanged
through the shared memory.

The host peers all connect before any of them leaves, and the one-shot
ivshmem-ring connects last: a peer ID freed and given again to a new peer
is what tools_host_repeat.py covers."""
import os
import re
import subprocess
import threading

TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), '..', '..'))
TOOLS = os.path.join(TOP, 'userspace', 'tools')
EXAMPLE = os.path.join(TOP, 'userspace', 'build-asan', 'tests', 'example')

# The shared memory: the guest's greeting for the example at 0 (64 bytes),
# IDs for the other side at 0x40.., the bench's control block at 0x10000.
GUEST_ID_AT = 0x40
EXAMPLE_ID_AT = 0x80
BENCH_ID_AT = 0xc0


def readline(stream, timeout=30):
    got = []
    t = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    t.start()
    t.join(timeout)
    return got[0].decode(errors='replace') if got else ''


def scenario(s):
    s.timeout = 600
    srv = s.server(vectors=2, size='1M')
    spec = 'unix:' + srv.sock
    host = {}
    a = s.guest('a')
    a.doorbell(srv, vectors=2, id='db0')
    a.run_file('tools_lib.sh')
    a.run(r'''
db=$(devpath doorbell)
id=$(cat /sys/class/ivshmem/${db#/dev/}/vm_id)
printf '%s\n' $id | ivshmem-dump --device $db --write --offset 0x40
check guest_waits_for_the_host start_bg hw waiting ivshmem-wait -V --device $db --vector 1 --count 1 --timeout 120000
''')

    def start_host_peer(name, cmd, stream, pattern, at):
        """Start a host program; write the peer ID it reports into the memory."""
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        s.procs.append(p)
        host[name] = p
        line = readline(p.stdout if stream == 'stdout' else p.stderr)
        m = re.search(pattern, line)
        s.check('host %s is a peer of the server' % name, m, line)
        if m:
            srv.write(at, b'%s\n\0' % m.group(1).encode())

    def finish(name, want, timeout=120):
        p = host.pop(name)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        out = out.decode(errors='replace')
        s.check('host %s: exit 0 and %s' % (name, want.pattern), p.returncode == 0 and
                want.search(out), 'exit %s: %s %s' % (p.returncode, out, err.decode()))

    def host_side():
        gid = srv.read(GUEST_ID_AT, 16).split(b'\n')[0].decode()
        s.check('the guest wrote its ID into the memory', gid.isdigit(), repr(gid))
        host['gid'] = gid
        if not os.access(EXAMPLE, os.X_OK):
            subprocess.run(['make', '-s', '-C', os.path.join(TOP, 'userspace'),
                            'build-asan/tests/example'], capture_output=True)
        # The example program waits for the guest's ring ...
        start_host_peer('example', [EXAMPLE, spec], 'stdout',
                        r'^peer (\d+): waiting for a ring on vector 0', EXAMPLE_ID_AT)
        # ... ivshmem-bench answers the guest's round trips ...
        start_host_peer('ivshmem-bench', [os.path.join(TOOLS, 'ivshmem-bench'), '-d', spec,
                                          '--respond', '--offset', '0x10000', '--timeout',
                                          '300000', '--json'], 'stderr',
                        r'responding as peer (\d+) ', BENCH_ID_AT)
        # ... and ivshmem-ring rings the guest's vector 1.
        r = subprocess.run([os.path.join(TOOLS, 'ivshmem-ring'), '-d', spec, '--peer', gid,
                            '--vector', '1'], capture_output=True, text=True)
        s.check('host ivshmem-ring --peer <guest> --vector 1', r.returncode == 0, r.stderr)

    s.at('armed', host_side)
    a.run('hsync armed')
    a.run(r'''
check host_ivshmem_ring_wakes_the_guest end_bg hw
check_eq guest_wait_prints_vector_1 "$(cat /tmp/hw.out)" "vector 1 count 1"
peer_at() { ivshmem-dump --device $db --raw --offset $1 --length 16 | tr -d '\000' | head -n 1; }
ex=$(peer_at 0x80)
echo "# the example waits on the host as peer $ex"
printf 'hello from peer %s\000' $id | ivshmem-dump --device $db --write --offset 0
check guest_rings_the_host_example ivshmem-ring --device $db --peer $ex --vector 0
''')
    s.at('rangback', lambda: finish('example', re.compile(
        r'^peer \d+: vector 0 rang 1 time\(s\): hello from peer %s$' % host.get('gid', '?'),
        re.M)))
    a.run('hsync rangback')
    a.run(r'''
bp=$(peer_at 0xc0)
ivshmem-bench --device $db --peer $bp --offset 0x10000 --count 200 --size 256K > /tmp/bench.txt 2>&1
check guest_host_bench_exits_0 test $? -eq 0
diag /tmp/bench.txt
check guest_host_interrupt_percentiles percentiles interrupt /tmp/bench.txt
check guest_host_poll_percentiles percentiles busy-poll /tmp/bench.txt
''')
    s.at('benchdone', lambda: finish('ivshmem-bench', re.compile(r'"served": 440\}')))
    a.run('hsync benchdone')
