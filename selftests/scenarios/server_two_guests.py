# SPDX-License-Identifier: GPL-2.0
"""Two guests with an ivshmem-doorbell device on the project's ivshmem-server
get distinct VM IDs, read without any driver from BAR0 (IVPosition, offset 8);
a host process then joins the same server as a third peer, and guest a rings
it through its doorbell register (offset 12)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', '..', 'host-server', 'tests'))
from proto_client import Peer  # noqa: E402  (a protocol client shared by no server code)

# BAR0 of the first ivshmem function, through sysfs and busybox devmem.
BAR0 = r'''
bar0() {
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat $d/vendor):$(cat $d/device)" = 0x1af4:0x1110 ] || continue
		set -- $(head -n 1 $d/resource)
		echo $(($1))
		return 0
	done
	return 1
}
base=$(bar0)
check found_the_doorbell_device test -n "$base"
id=$(($(devmem $((base + 8)) 32)))
echo "# VM ID $id"
'''

VECTORS = 2
HOST_ID = 2          # lowest free ID once the two guests hold 0 and 1


def scenario(s):
    srv = s.server(vectors=VECTORS, size='1M')
    host = {}
    guests = [s.guest(name, modules=[]) for name in ('a', 'b')]
    for g in guests:
        g.doorbell(srv, vectors=VECTORS)
        g.run(BAR0)
        g.run('ids=$(hsync ids $id)')
        g.run('set -- $ids; ida=${1#a=}; idb=${2#b=}')
        g.run('check vm_ids_differ test "$ida" != "$idb"')
        g.run('check vm_ids_are_0_and_1 test "$ida" -le 1 -a "$idb" -le 1')

    def join():
        p = Peer(srv.sock, VECTORS).handshake()
        host['peer'] = p
        s.check('host peer gets ID %d and sees both guests' % HOST_ID,
                p.id == HOST_ID and p.others() == [0, 1],
                'ID %d, peers %r' % (p.id, p.others()))

    def rung():
        p = host.pop('peer')
        got = p.take(1, timeout=5)
        stray = p.take(0, timeout=0)
        p.close()
        s.check('guest a rings the host peer on vector 1', got >= 1, 'count %d' % got)
        s.check('no ring on vector 0', stray == 0, 'count %d' % stray)

    s.at('ids', join)
    s.at('rung', rung)
    a, b = guests
    a.run('hsync joined > /dev/null')
    b.run('hsync joined > /dev/null')
    # The doorbell value is (peer << 16) | vector.
    a.run('for i in 1 2 3; do devmem $((base + 12)) 32 $(((%d << 16) | 1)); sleep 0.2; done'
          % HOST_ID)
    a.run('hsync rung > /dev/null')
    b.run('hsync rung > /dev/null')
