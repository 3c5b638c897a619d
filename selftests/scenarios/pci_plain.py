# SPDX-License-Identifier: GPL-2.0
"""Driver-less view of two ivshmem-plain devices in one guest: IDs, BAR
sizes, host-written bytes seen through resource2, guest writes seen by the
host."""
import os


def scenario(s):
    token = 'host-' + os.urandom(6).hex()
    wtoken = 'guest-' + os.urandom(6).hex()
    shared = s.memory('pl0', '1M')
    shared.write(0, token.encode() + b'\0')
    a = s.guest('a', modules=[])
    a.plain(mem=shared, id='pl0')
    a.plain(size='2M', id='pl1')
    a.run('export PCI_EXPECT_SIZES=1048576,2097152 PCI_EXPECT_TOKEN=%s PCI_WRITE_TOKEN=%s'
          % (token, wtoken))
    a.run('ksft /ksft/pci/pci_device_test')
    a.run('hsync written')
    s.at('written', lambda: s.check('guest write reached the host file',
                                    shared.read(4096, len(wtoken)) == wtoken.encode(),
                                    repr(shared.read(4096, len(wtoken)))))
