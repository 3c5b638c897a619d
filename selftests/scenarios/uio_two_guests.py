# SPDX-License-Identifier: GPL-2.0
"""Two guests on one server, a with its device on uio_ivshmem, b on
ivshmem.ko: they ring each other both ways and share memory, a first
straight through the UIO maps (uio_peer: the doorbell register of map 0,
the per-vector counters of map 2, the memory of map 1), then with the
tools over libivshmem's UIO backend; the host sees what both wrote."""
import os


def scenario(s):
    s.timeout = 240
    srv = s.server(vectors=4, size='1M')
    word = os.urandom(6).hex()
    a = s.guest('a', modules=['uio_ivshmem'])
    b = s.guest('b', modules=['ivshmem'])
    for g in (a, b):
        g.doorbell(srv, vectors=4, id='db0')
        g.run_file('tools_lib.sh')
    a.run('uio=/dev/$(ls /sys/class/uio | head -n 1); id=$(/ksft/uio/uio_peer id)')
    b.run('dev=/dev/ivshmem0; id=$(cat /sys/class/ivshmem/ivshmem0/vm_id)')
    for g in (a, b):
        g.run('set -- $(hsync ids $id); ida=${1#a=}; idb=${2#b=}')
    a.run('check_fail the_guests_have_distinct_ids test "$ida" = "$idb"')

    # b (ivshmem.ko) rings a (UIO) twice on vector 2: a counts 2 on vector 2
    a.run('check uio_armed start_bg w waiting /ksft/uio/uio_peer wait 2 2 120000')
    for g in (a, b):
        g.run('hsync armed1')
    b.run('check char_rings_uio ivshmem-ring --device $dev --peer $ida --vector 2 '
          '--count 2 --interval 300')
    a.run('''
check uio_woken end_bg w
check_eq uio_counts_vector_2_only "$(cat /tmp/w.out)" "vector 2 count 2 others 0"
''')

    # a rings b on vector 3 by writing the doorbell register itself
    b.run('check char_armed start_bg w waiting ivshmem-wait -V --device $dev --vector 3 '
          '--count 1 --timeout 120000')
    for g in (a, b):
        g.run('hsync armed2')
    a.run('check uio_register_rings_char /ksft/uio/uio_peer ring $idb 3')
    b.run('''
check char_woken_by_uio end_bg w
check_eq char_sees_vector_3 "$(cat /tmp/w.out)" "vector 3 count 1"
''')

    # the same with the tools on both sides
    a.run('check uio_tool_armed start_bg t waiting ivshmem-wait -V --device $uio --count 1 '
          '--timeout 120000')
    b.run('check char_tool_armed start_bg t waiting ivshmem-wait -V --device $dev --vector 1 '
          '--count 1 --timeout 120000')
    for g in (a, b):
        g.run('hsync armed3')
    a.run('check uio_tool_rings_char ivshmem-ring --device $uio --peer $idb --vector 1')
    b.run('check char_tool_rings_uio ivshmem-ring --device $dev --peer $ida --vector 1')
    a.run('''
check uio_tool_woken end_bg t
check_eq uio_tool_sees_vector_1 "$(cat /tmp/t.out)" "vector 1 count 1"
''')
    b.run('''
check char_tool_woken end_bg t
check_eq char_tool_sees_vector_1 "$(cat /tmp/t.out)" "vector 1 count 1"
''')

    # memory both ways
    a.run('check uio_writes /ksft/uio/uio_peer write 0x800 uio-%s' % word)
    b.run('printf %%s char-%s | ivshmem-dump --device $dev --write --offset 0x900' % word)
    for g in (a, b):
        g.run('hsync written')
    s.at('written', lambda: s.check('the server memory has both writes',
                                    srv.read(0x800, 16) == ('uio-' + word).encode() and
                                    srv.read(0x900, 17) == ('char-' + word).encode()))
    a.run('check_eq uio_reads_the_char_write "$(/ksft/uio/uio_peer read 0x900 17)" '
          'char-%s' % word)
    a.run('check_eq uio_tool_reads_the_char_write "$(ivshmem-dump --device $uio --raw '
          '-o 0x900 -l 17)" char-%s' % word)
    b.run('check_eq char_reads_the_uio_write "$(ivshmem-dump --device $dev --raw -o 0x800 '
          '-l 16)" uio-%s' % word)
