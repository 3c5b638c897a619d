# SPDX-License-Identifier: GPL-2.0
"""uio_ivshmem: the kselftests of its maps (registers, write-back shared
memory on a 2G BAR above 4 GiB, per-vector counters), of every MSI-X
vector rung through the register map and seen on the UIO descriptor, of
holding events back with write(), of a plain device and of a doorbell
device without MSI-X (guest b, pci=nomsi) having no interrupt, and of
unbinding the driver under a process that holds the maps; the host and
the guest reading what the other wrote through map 1; rmmod refused
while /dev/uioN is open."""
import os


def scenario(s):
    s.timeout = 240
    srv = s.server(vectors=4, size='1M')
    a = s.guest('a', modules=['uio_ivshmem'])
    a.doorbell(srv, vectors=4, id='db0')
    # a BAR too large for the 32-bit hole lands above 4 GiB, write-back
    a.plain(size='2G', id='big')
    word = os.urandom(6).hex()
    s.at('hostwrote', lambda: srv.write(0x2000, ('host-' + word).encode()))
    a.run('hsync hostwrote')
    a.run('check_eq uio_reads_what_the_host_wrote "$(/ksft/uio/uio_peer read 0x2000 17)" '
          'host-%s' % word)
    a.run('check uio_writes /ksft/uio/uio_peer write 0x3000 guest-%s' % word)
    a.run('hsync guestwrote')
    s.at('guestwrote', lambda: s.check('reads what the guest wrote through map 1',
                                       srv.read(0x3000, 18) == ('guest-' + word).encode()))
    a.run('''
exec 3< $(ls /dev/uio* | head -n 1)
check_fail rmmod_refused_while_open rmmod uio_ivshmem
exec 3<&-
''')
    a.run('ksft /ksft/uio/uio_ivshmem_test')
    a.run('ksft /ksft/uio/uio_unbind_test')
    # without MSI-X a doorbell device maps and rings but has no interrupt
    b = s.guest('b', modules=['uio_ivshmem'], append='pci=nomsi')
    b.doorbell(srv, vectors=4, id='db0')
    b.run('hsync hostwrote; hsync guestwrote')
    b.run('ksft /ksft/uio/uio_ivshmem_test')
