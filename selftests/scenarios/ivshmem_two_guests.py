# SPDX-License-Identifier: GPL-2.0
"""Three guests on one ivshmem-server with the ivshmem driver.  a and b run
selftests/ivshmem/ivshmem_peer_test against each other: distinct VM IDs,
a ring on each vector wakes exactly the peer's eventfd for that vector,
a 200-round ping-pong loses no interrupt and gets no spurious one (sysfs
counters agree), 256 KiB of data cross both ways.  c boots with
pci=nomsi: its doorbell device reports interrupt mode none, logs why
once, passes ivshmem_test in that mode, and still shares memory with and
rings the others."""
import os


def scenario(s):
    s.timeout = 400
    word = os.urandom(6).hex()
    srv = s.server(vectors=4, size='1M')
    guests = {}
    for name, append in (('a', ''), ('b', ''), ('c', 'pci=nomsi')):
        g = guests[name] = s.guest(name, append=append, modules=['ivshmem'])
        g.doorbell(srv, vectors=4, id='db0')
        g.run(r'''
export PATH=$PATH:/ksft/ivshmem
id=$(cat /sys/class/ivshmem/ivshmem0/vm_id)
ids=$(hsync ids $id)
echo "# VM IDs: $ids"
for kv in $ids; do eval "id_${kv%%=*}=${kv#*=}"; done
''')
    a, b, c = guests['a'], guests['b'], guests['c']
    a.run('ksft env IVSHMEM_ROLE=a IVSHMEM_PEER=$id_b /ksft/ivshmem/ivshmem_peer_test')
    b.run('ksft env IVSHMEM_ROLE=b IVSHMEM_PEER=$id_a /ksft/ivshmem/ivshmem_peer_test')
    a.run('check_eq three_distinct_vm_ids "$(printf "%s\\n" $id_a $id_b $id_c | '
          'sort -u | wc -l)" 3')
    for g in (a, b, c):
        g.run('hsync peers_done > /dev/null')

    # c without MSI-X: the single-guest test in interrupt mode "none".
    c.run(r'''
check_eq nomsi_irq_mode_none "$(cat /sys/class/ivshmem/ivshmem0/irq_mode)" none
check_eq nomsi_vectors_0 "$(cat /sys/class/ivshmem/ivshmem0/vectors)" 0
check_eq nomsi_still_a_doorbell "$(cat /sys/class/ivshmem/ivshmem0/doorbell)" 1
check_eq nomsi_reason_logged_once "$(dmesg | grep -c 'MSI-X unavailable.*interrupt mode none')" 1
ksft env IVSHMEM_EXPECT_DEVICES=doorbell:1M:0:none /ksft/ivshmem/ivshmem_test
check nomsi_writes_shared_memory ivshmem_util write doorbell 0xf0000 from-c-%s
''' % word)
    # a waits on vector 2, c rings it.
    a.run('ivshmem_util wait msix 2 120000 > /tmp/w.out 2>&1 &\nwaiter=$!\n'
          'for i in $(seq 600); do grep -q waiting /tmp/w.out && break; sleep 0.1; done')
    for g in (a, b, c):
        g.run('hsync armed > /dev/null')
    c.run('check nomsi_rings_a ivshmem_util ring doorbell $id_a 2')
    for g in (a, b, c):
        g.run('hsync rung > /dev/null')
    a.run(r'''
wait $waiter
check_eq ring_from_nomsi_guest_arrives $? 0
check_eq ring_from_nomsi_guest_on_vector_2 "$(tail -n 1 /tmp/w.out)" "vector 2 count 1"
check_eq a_reads_what_c_wrote "$(ivshmem_util read doorbell 0xf0000 32)" from-c-%s
''' % word)
    s.at('rung', lambda: s.check('the host reads what the nomsi guest wrote',
                                 srv.read(0xf0000, 19) == ('from-c-' + word).encode(),
                                 repr(srv.read(0xf0000, 19))))
