# SPDX-License-Identifier: GPL-2.0
"""A device reached without uio_ivshmem or ivshmem.ko: guest a first has
no driver on it (libivshmem's sysfs backend: resource0 and resource2),
then uio_pci_generic (the UIO backend, which takes the registers and the
memory from the same resource files).  Each time the library's
kselftest checks the backend, the memory against the resource files, the
ID against IVPosition and -EOPNOTSUPP for interrupts and write-back; the
tools ring guest b (ivshmem.ko) and both share memory."""
import os


def scenario(s):
    s.timeout = 240
    srv = s.server(vectors=2, size='1M')
    word = os.urandom(6).hex()
    a = s.guest('a', modules=[])
    b = s.guest('b', modules=['ivshmem'])
    for g in (a, b):
        g.doorbell(srv, vectors=2, id='db0')
        g.run_file('tools_lib.sh')
    a.run(r'''
for d in /sys/bus/pci/devices/*; do [ "$(cat $d/device)" = 0x1110 ] && pci=${d##*/}; done
sysdev=/sys/bus/pci/devices/$pci
drv() { l=$(readlink $sysdev/driver) && echo "${l##*/}"; }
id=$(ivshmem-info --json --device $sysdev | sed -n 's/.*"id": \([0-9]*\).*/\1/p')
''')
    b.run('dev=/dev/ivshmem0; id=$(cat /sys/class/ivshmem/ivshmem0/vm_id)')
    for g in (a, b):
        g.run('set -- $(hsync ids $id); ida=${1#a=}; idb=${2#b=}')

    for mode in ('none', 'uio_pci_generic'):
        if mode == 'uio_pci_generic':
            a.run(r'''
modprobe uio_pci_generic
echo uio_pci_generic > $sysdev/driver_override
echo $pci > /sys/bus/pci/drivers_probe
check_eq generic_bound "$(drv)" uio_pci_generic
''')
        else:
            a.run('check_eq no_driver "$(drv)" ""')
        a.run(r'''
m=%(mode)s
ksft /ksft/uio/uio_lib_test
line=$(ivshmem-info --json --device $pci | grep '"path"')
echo "# $line"
ivshmem-wait --device $pci --timeout 100 2> /tmp/e
check_eq ${m}_wait_fails $? 1
diag /tmp/e
check ${m}_wait_says_no_interrupts grep -q "no interrupt vectors" /tmp/e
''' % {'mode': mode})
        b.run('check char_armed_%s start_bg w waiting ivshmem-wait -V --device $dev '
              '--vector 1 --count 2 --timeout 120000' % mode)
        for g in (a, b):
            g.run('hsync armed-%s' % mode)
        a.run('check %s_rings_char ivshmem-ring --device $pci --peer $idb --vector 1 '
              '--count 2 --interval 300' % mode)
        b.run(r'''
check char_woken_by_%(mode)s end_bg w
check_eq char_counts_both_rings_of_%(mode)s "$(sum_counts /tmp/w.out)" 2
''' % {'mode': mode})
        a.run('printf %%s %s-%s | ivshmem-dump --device $pci --write --offset 0x800'
              % (mode, word))
        b.run('printf %%s char-%s-%s | ivshmem-dump --device $dev --write --offset 0x900'
              % (mode, word))
        for g in (a, b):
            g.run('hsync written-%s' % mode)
        a.run('check_eq %s_reads_the_char_write "$(ivshmem-dump --device $pci --raw '
              '-o 0x900 -l %d)" char-%s-%s' % (mode, 18 + len(mode), mode, word))
        b.run('check_eq char_reads_the_%s_write "$(ivshmem-dump --device $dev --raw '
              '-o 0x800 -l %d)" %s-%s' % (mode, 13 + len(mode), mode, word))
