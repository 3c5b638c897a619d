# SPDX-License-Identifier: GPL-2.0
"""Guests where write-back cannot be had for every device, and the
warning that says why, once per device left uncached.

n boots q35 without a 64-bit window (pci-hole64-size=0), with one device
on the root bus and one behind a PCIe root port; r boots pc with 2 GiB of RAM
(so that the 32-bit PCI window starts at 2 GiB, all of it uncached), a
64-bit window of 1 GiB (QEMU rounds a smaller one up) and a 1 MiB and a
1 GiB device, both of which SeaBIOS puts below 4 GiB: the first one
probed moves above 4 GiB, the other finds no room there and stays.  Each device left below 4 GiB gets the warning
naming its reason, and uncached-minus in sysfs and in the PAT list; the
data the host wrote before probe is read on every device, moved or not."""
import os


def scenario(s):
    s.timeout = 240
    host = 'host-' + os.urandom(6).hex()
    # Where write-back cannot be had: the warning says why.
    pn1 = s.memory('pn1', '1M')
    pn2 = s.memory('pn2', '1M')
    pr1 = s.memory('pr1', '1M')
    pr2 = s.memory('pr2', '1G')                 # sparse: nothing is allocated
    for mem in (pn1, pn2, pr1, pr2):
        mem.write(0, host.encode() + b'\0')
    n = s.guest('n', modules=['ivshmem'], machine='q35',
                qemu=['-global', 'q35-pcihost.pci-hole64-size=0',
                      '-device', 'pcie-root-port,id=rp1,chassis=1'])
    n.plain(mem=pn1, id='root')
    n.plain(mem=pn2, id='bridged', props=',bus=rp1')
    r = s.guest('r', modules=['ivshmem'], memory=2048,
                qemu=['-global', 'i440FX-pcihost.pci-hole64-size=1G'])
    r.plain(mem=pr1, id='pl1')
    r.plain(mem=pr2, id='pl2')
    for g in (n, r):
        g.run(r'''
export PATH=$PATH:/ksft/ivshmem
moves() { dmesg | grep -c 'shared memory moved from'; }
for d in /sys/class/ivshmem/ivshmem*; do
	check_eq host_data_$(basename $d) "$(ivshmem_util read $(basename $d) 0 32)" %s
done
''' % host)
    n.run(r'''
check_eq no_window_warns_once "$(dmesg | grep -c 'uncached-minus because the host bridge has no memory window above 4 GiB; QEMU: drop pci-hole64-size=0')" 1
check_eq bridge_warns_once "$(dmesg | grep -c 'uncached-minus because its PCI bridge has no memory window above 4 GiB; QEMU: plug the device into the root bus')" 1
check_eq nothing_moved "$(moves)" 0
for d in /sys/class/ivshmem/ivshmem*; do
	check_eq no_window_memtype_$(basename $d) "$(cat $d/memtype)" uncached-minus
done
ksft env IVSHMEM_EXPECT_MEMTYPE=uncached-minus /ksft/ivshmem/ivshmem_test -t every_device_maps_with_the_expected_memtype
''')
    r.run(r'''
check_eq one_moved "$(dmesg | grep -c 'shared memory moved from 0x00000000.* to 0x0000000100000000, out of the range the MTRRs make uncached')" 1
check_eq no_room_warns_once "$(dmesg | grep -c 'uncached-minus because the memory window above 4 GiB has no room for it')" 1
check_eq one_write_back_one_not "$(cat /sys/class/ivshmem/ivshmem*/memtype | sort | tr '\n' ' ')" "uncached-minus write-back "
''')

