# SPDX-License-Identifier: GPL-2.0
"""The tools on a guest whose device is bound to uio_ivshmem (libivshmem's
UIO backend) facing a guest with ivshmem.ko: ivshmem-info describes the
UIO device, rings go both ways (the UIO side tells the vectors apart by
uio_ivshmem's counters although UIO has one interrupt source), memory is
shared through ivshmem-dump, and ivshmem-bench runs across the two
drivers."""
import os


def scenario(s):
    s.timeout = 900
    srv = s.server(vectors=2, size='1M')
    word = os.urandom(6).hex()
    a = s.guest('a', modules=['uio_ivshmem'])
    b = s.guest('b', modules=['ivshmem'])
    for g in (a, b):
        g.doorbell(srv, vectors=2, id='db0')
        g.run_file('tools_lib.sh')
    a.run(r'''
line=$(devline doorbell)
echo "# $line"
dev=$(jstr "$line" path)
pci=$(jstr "$line" pci)
id=$(jnum "$line" id)
check uio_info_path expr "$dev" : '/dev/uio[0-9][0-9]*$'
check_eq uio_info_backend "$(jstr "$line" backend)" uio
check_eq uio_info_driver "$(jstr "$line" driver)" uio_ivshmem
check_eq uio_info_vectors "$(jnum "$line" vectors)" 2
check_eq uio_info_interrupts "$(jstr "$line" interrupts)" msix
check_eq uio_info_size "$(jnum "$line" size)" 1048576
check_eq uio_info_memtype "$(jstr "$line" memtype)" write-back
check_eq uio_info_memtype_is_the_drivers "$(jstr "$line" memtype)" "$(cat /sys/bus/pci/devices/$pci/memtype)"
check uio_info_id expr "$id" : '[0-9][0-9]*$'
l2=$(ivshmem-info --json --device "$pci" | grep '"path"')
check_eq uio_pci_address_opens_uio "$(jstr "$l2" path):$(jstr "$l2" backend):$(jnum "$l2" id)" "$dev:uio:$id"
ivshmem-wait --device $dev --vector 2 --timeout 100 2> /tmp/e1
check_eq uio_wait_vector_2_exits_1 $? 1
check uio_wait_vector_2_says_why grep -q "vectors 0..1 only" /tmp/e1
ivshmem-dump --device $dev --cache uc --length 16 2> /tmp/e2
check_eq uio_dump_uc_exits_1 $? 1
''')
    b.run('dev=$(devpath doorbell); id=$(cat /sys/class/ivshmem/${dev#/dev/}/vm_id)')
    for g in (a, b):
        g.run('set -- $(hsync ids $id); ida=${1#a=}; idb=${2#b=}')

    # b (ivshmem.ko) rings a (UIO) on vector 1, then 0: a waits for all
    # its vectors, and a second waiter for vector 0 alone sleeps through
    # the ring of vector 1.
    a.run('check uio_waits start_bg w waiting ivshmem-wait -V --device $dev --count 1 '
          '--timeout 120000')
    a.run('check uio_waits_0 start_bg z waiting ivshmem-wait -V --device $dev --vector 0 '
          '--count 1 --timeout 120000')
    for g in (a, b):
        g.run('hsync armed')
    b.run('check ring_uio_guest ivshmem-ring --device $dev --peer $ida --vector 1')
    a.run('''
check uio_woken end_bg w
check_eq uio_sees_vector_1 "$(cat /tmp/w.out)" "vector 1 count 1"
sleep 1
check uio_vector_0_still_waits kill -0 "$(cat /tmp/z.pid)"
check_eq uio_vector_0_printed_nothing "$(cat /tmp/z.out)" ""
''')
    for g in (a, b):
        g.run('hsync seen1')
    b.run('check ring_uio_guest_0 ivshmem-ring --device $dev --peer $ida --vector 0')
    a.run('''
check uio_woken_0 end_bg z
check_eq uio_sees_vector_0 "$(cat /tmp/z.out)" "vector 0 count 1"
''')
    # a (UIO) rings b (ivshmem.ko) on vector 1 through the UIO register map.
    b.run('check char_waits start_bg w waiting ivshmem-wait -V --device $dev --vector 1 '
          '--count 1 --timeout 120000')
    for g in (a, b):
        g.run('hsync armed2')
    a.run('check uio_rings_b ivshmem-ring --device $dev --peer $idb --vector 1')
    b.run('''
check char_woken_by_uio end_bg w
check_eq char_sees_vector_1 "$(cat /tmp/w.out)" "vector 1 count 1"
''')
    # memory both ways
    a.run('printf %%s uio-%s | ivshmem-dump --device $dev --write --offset 0x800' % word)
    b.run('printf %%s char-%s | ivshmem-dump --device $dev --write --offset 0x900' % word)
    for g in (a, b):
        g.run('hsync written')
    a.run('check_eq uio_reads_the_char_write "$(ivshmem-dump --device $dev --raw -o 0x900 '
          '-l 17)" char-%s' % word)
    b.run('check_eq char_reads_the_uio_write "$(ivshmem-dump --device $dev --raw -o 0x800 '
          '-l 16)" uio-%s' % word)
    # bench: the UIO guest responds on vector 0
    a.run('check uio_responder_ready start_bg r responding ivshmem-bench --device $dev '
          '--respond --offset 0x10000 --timeout 300000 --json')
    for g in (a, b):
        g.run('hsync bench')
    b.run(r'''
ivshmem-bench --device $dev --peer $ida --offset 0x10000 --count 100 --no-memcpy > /tmp/bench.txt 2>&1
check bench_across_drivers_exits_0 test $? -eq 0
diag /tmp/bench.txt
check bench_interrupt_percentiles percentiles interrupt /tmp/bench.txt
check bench_busy_poll_percentiles percentiles busy-poll /tmp/bench.txt
''')
    a.run(r'''
check uio_responder_exits_0 end_bg r
check_eq uio_responder_served "$(jnum "$(cat /tmp/r.out)" served)" 220
ivshmem-bench --device $dev --size 64K --reps 2 > /tmp/copy.txt 2>&1
check bench_copy_exits_0 test $? -eq 0
diag /tmp/copy.txt
check bench_copy_rows_say_write_back grep -Eq '^  to the mapping +[0-9.]+ MiB/s +[0-9.]+ MiB/s +write-back$' /tmp/copy.txt
''')
