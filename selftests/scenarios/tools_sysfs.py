# SPDX-License-Identifier: GPL-2.0
"""The tools on a guest without any ivshmem driver (libivshmem's sysfs
backend: resource0 for the registers, resource2 for the memory) facing a
guest with the driver: ivshmem-info finds the device, the driver-less guest
rings the other through the doorbell register, both share memory through
ivshmem-dump, ivshmem-wait says clearly that sysfs has no interrupts, and
ivshmem-bench measures busy-poll round trips across the two backends."""
import os


def scenario(s):
    s.timeout = 900
    srv = s.server(vectors=2, size='1M')
    word = os.urandom(6).hex()
    a = s.guest('a', modules=[])
    b = s.guest('b')
    for g in (a, b):
        g.doorbell(srv, vectors=2, id='db0')
        g.run_file('tools_lib.sh')
    a.run(r'''
line=$(devline doorbell)
echo "# $line"
dev=$(jstr "$line" path)
pci=$(jstr "$line" pci)
id=$(jnum "$line" id)
check_eq sysfs_info_path "$dev" "/sys/bus/pci/devices/$pci"
check_eq sysfs_info_backend "$(jstr "$line" backend)" sysfs
check_eq sysfs_info_driver "$(jstr "$line" driver)" ""
check_eq sysfs_info_vectors "$(jnum "$line" vectors)" 0
check_eq sysfs_info_interrupts "$(jstr "$line" interrupts)" none
check_eq sysfs_info_size "$(jnum "$line" size)" 1048576
check_eq sysfs_info_memtype "$(jstr "$line" memtype)" uncached-minus
check sysfs_info_id_from_ivposition expr "$id" : '[0-9][0-9]*$'
l2=$(ivshmem-info --json --device "$pci" | grep '"path"')
check_eq sysfs_pci_address_opens_sysfs "$(jstr "$l2" backend):$(jnum "$l2" id)" "sysfs:$id"
ivshmem-info | diag /dev/stdin
''')
    b.run(r'''
dev=$(devpath doorbell)
id=$(cat /sys/class/ivshmem/${dev#/dev/}/vm_id)
check_eq char_info_memtype "$(jstr "$(devline doorbell)" memtype)" write-back
ivshmem-info --device $dev > /tmp/one.txt
check_eq char_info_text_memtype "$(sed -n 's/^memtype: *//p' /tmp/one.txt)" write-back
''')
    for g in (a, b):
        g.run('set -- $(hsync ids $id); ida=${1#a=}; idb=${2#b=}')

    a.run(r'''
ivshmem-wait --device $dev --vector 0 --timeout 100 2> /tmp/e1
check_eq sysfs_wait_exits_1 $? 1
check sysfs_wait_says_no_interrupts grep -q "no interrupt vectors (sysfs gives none)" /tmp/e1
ivshmem-dump --device $dev --cache wb --length 16 2> /tmp/e2
check_eq sysfs_dump_wb_exits_1 $? 1
check sysfs_dump_wb_not_supported grep -q "Not supported" /tmp/e2
''')
    # a (no driver) rings b (driver) through the doorbell register.
    b.run('check b_waits start_bg w waiting ivshmem-wait -V --device $dev --vector 1 '
          '--count 2 --timeout 120000')
    for g in (a, b):
        g.run('hsync armed')
    a.run('check sysfs_ring_b ivshmem-ring --device $dev --peer $idb --vector 1 --count 2 '
          '--interval 300')
    b.run('''
check b_woken_by_the_sysfs_ring end_bg w
check_eq b_counts_both_rings "$(sum_counts /tmp/w.out)" 2
''')
    # memory both ways
    a.run('printf %%s sysfs-%s | ivshmem-dump --device $dev --write --offset 0x800' % word)
    b.run('printf %%s char-%s | ivshmem-dump --device $dev --write --offset 0x900' % word)
    for g in (a, b):
        g.run('hsync written')
    a.run('check_eq sysfs_reads_the_char_write "$(ivshmem-dump --device $dev --raw -o 0x900 '
          '-l 17)" char-%s' % word)
    b.run('check_eq char_reads_the_sysfs_write "$(ivshmem-dump --device $dev --raw -o 0x800 '
          '-l 18)" sysfs-%s' % word)
    # bench: a responds without interrupts; b measures busy-poll, skips interrupts
    a.run('check sysfs_responder_ready start_bg r responding ivshmem-bench --device $dev '
          '--respond --offset 0x10000 --timeout 300000 --json')
    for g in (a, b):
        g.run('hsync bench')
    b.run(r'''
ivshmem-bench --device $dev --peer $ida --offset 0x10000 --count 100 --no-memcpy > /tmp/bench.txt 2>&1
check bench_across_backends_exits_0 test $? -eq 0
diag /tmp/bench.txt
check bench_skips_interrupts grep -q '^  interrupt  skipped: the responder cannot wait on the vector$' /tmp/bench.txt
check bench_busy_poll_percentiles percentiles busy-poll /tmp/bench.txt
''')
    a.run(r'''
check sysfs_responder_exits_0 end_bg r
check_eq sysfs_responder_served "$(jnum "$(cat /tmp/r.out)" served)" 110
''')
    # copies, once nothing else uses the memory: resource2 is uncached-minus
    for g in (a, b):
        g.run('hsync copies')
    a.run(r'''
ivshmem-bench --device $dev --size 64K --reps 2 > /tmp/copy.txt 2>&1
check bench_copy_exits_0 test $? -eq 0
diag /tmp/copy.txt
check bench_copy_rows_say_uncached_minus grep -Eq '^  to the mapping +[0-9.]+ MiB/s +[0-9.]+ MiB/s +uncached-minus$' /tmp/copy.txt
check_eq bench_copy_wc_says_write_combining "$(ivshmem-bench --device $dev --size 64K --reps 2 --cache wc --json | sed -n 's/.*"memtype": "\([a-z-]*\)".*/\1/p')" write-combining
''')
