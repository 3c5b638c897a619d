# SPDX-License-Identifier: GPL-2.0
"""Two guests share one ivshmem-plain region: what one writes through sysfs
resource2, the other reads, sequenced with barriers."""
import os


def scenario(s):
    shared = s.memory('shared', '1M')
    word = os.urandom(6).hex()
    a = s.guest('a', modules=[])
    b = s.guest('b', modules=[])
    a.plain(mem=shared)
    b.plain(mem=shared)
    a.run('hsync start a-ready')
    b.run('peers=$(hsync start b-ready)')
    b.run('check_eq barrier_reports_every_guest "$peers" "a=a-ready b=b-ready"')
    a.run('/ksft/pci/pci_shm 0 write 128 %s' % word)
    a.run('hsync written')
    b.run('hsync written')
    b.run('check_eq b_reads_what_a_wrote "$(/ksft/pci/pci_shm 0 read 128)" %s' % word)
    b.run('/ksft/pci/pci_shm 0 write 256 reply-%s' % word)
    b.run('hsync replied')
    a.run('hsync replied')
    a.run('check_eq a_reads_the_reply "$(/ksft/pci/pci_shm 0 read 256)" reply-%s' % word)
    s.at('replied', lambda: s.check('host sees both writes',
                                    shared.read(128, 12) == word.encode() and
                                    shared.read(256, 18) == ('reply-' + word).encode()))
