# SPDX-License-Identifier: GPL-2.0
"""Host tools run one after another against a guest, as a shell user does:
every run joins the server as a new peer and leaves again, so the server
hands the same peer IDs out again.  Each ivshmem-ring from the host must
still wake the guest's ivshmem-wait, ivshmem-info on the host must list the
guest each time, and the guest's QEMU must survive all of it."""
import os
import re
import subprocess
import time

TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), '..', '..'))
TOOLS = os.path.join(TOP, 'userspace', 'tools')
ROUNDS = 3


def scenario(s):
    s.timeout = 600
    srv = s.server(vectors=2, size='1M')
    spec = 'unix:' + srv.sock
    a = s.guest('a')
    a.doorbell(srv, vectors=2, id='db0')
    a.run_file('tools_lib.sh')
    a.run(r'''
db=$(devpath doorbell)
id=$(cat /sys/class/ivshmem/${db#/dev/}/vm_id)
printf '%%s\n' $id | ivshmem-dump --device $db --write --offset 0
check guest_waits start_bg w waiting ivshmem-wait -V --device $db --vector 1 --count %d --timeout 120000
# Rings that come faster than the guest takes them merge into one
# interrupt: the host rings again only once this count has grown.
( while :; do sum_counts /tmp/w.out | ivshmem-dump --device $db --write --offset 64; sleep 0.2; done ) &
echo $! > /tmp/acks.pid
''' % ROUNDS)

    def host_side():
        gid = srv.read(0, 16).split(b'\n')[0].decode()
        for i in range(ROUNDS):
            r = subprocess.run([os.path.join(TOOLS, 'ivshmem-info'), '-d', spec],
                               capture_output=True, text=True)
            peers = re.search(r'^peers:\s+(.*)$', r.stdout, re.M)
            s.check('host ivshmem-info, run %d, lists the guest' % (i + 1),
                    r.returncode == 0 and peers and gid in peers.group(1).split(),
                    r.stdout + r.stderr)
            r = subprocess.run([os.path.join(TOOLS, 'ivshmem-ring'), '-d', spec, '--peer', gid,
                                '--vector', '1'], capture_output=True, text=True)
            s.check('host ivshmem-ring, run %d' % (i + 1), r.returncode == 0, r.stderr)
            deadline = time.monotonic() + 60
            while guest_count() <= i and time.monotonic() < deadline:
                time.sleep(0.1)
            s.check('the guest took ring %d before the next' % (i + 1), guest_count() > i,
                    'guest count %d' % guest_count())

    def guest_count():
        digits = srv.read(64, 16).split(b'\n')[0]
        return int(digits) if digits.isdigit() else 0

    s.at('armed', host_side)
    a.run('hsync armed')
    a.run(r'''
check every_host_ring_arrives end_bg w
kill $(cat /tmp/acks.pid)
diag /tmp/w.out
check_eq the_guest_counts_every_ring "$(sum_counts /tmp/w.out)" %d
''' % ROUNDS)
