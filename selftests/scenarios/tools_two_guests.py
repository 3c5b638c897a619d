# SPDX-License-Identifier: GPL-2.0
"""The ivshmem tools between two guests of one ivshmem-server, with the
ivshmem driver: ivshmem-info (table and --json against sysfs), rings both
ways with ivshmem-ring waking ivshmem-wait (and not the wrong vector),
ivshmem-dump reading in one guest what the other wrote (and the host seeing
it), ivshmem-bench round trips, and the errors for bad input and for a
plain device."""
import os


def hexline(offset, data):
    """One line of ivshmem-dump's hex output."""
    out = '%08x ' % offset
    for i in range(16):
        if i == 8:
            out += ' '
        out += ' %02x' % data[i] if i < len(data) else '   '
    text = ''.join(chr(c) if 0x20 <= c < 0x7f else '.' for c in data)
    return out + '  |' + text + '|'


def scenario(s):
    s.timeout = 900
    srv = s.server(vectors=4, size='1M')
    shared = s.memory('plain', '2M')
    word = os.urandom(6).hex()
    msg_a = 'hello-from-a-' + word          # 25 bytes
    msg_b = 'reply-from-b-' + word
    a = s.guest('a')
    b = s.guest('b')
    for g in (a, b):
        g.doorbell(srv, vectors=4, id='db0')
    a.plain(mem=shared, id='pl0')
    for g in (a, b):
        g.run_file('tools_lib.sh')
        g.run(r'''
db=$(devpath doorbell)
check found_the_doorbell_device test -n "$db"
sys=/sys/class/ivshmem/${db#/dev/}
id=$(cat $sys/vm_id)
ids=$(hsync ids $id)
set -- $ids
ida=${1#a=}
idb=${2#b=}
''')

    # --- ivshmem-info, in guest a: what sysfs says, in every form
    a.run(r'''
pci=$(basename $(readlink -f $sys/device))
line=$(devline doorbell)
echo "# $line"
check_eq info_json_path "$(jstr "$line" path)" "$db"
check_eq info_json_backend "$(jstr "$line" backend)" char
check_eq info_json_pci "$(jstr "$line" pci)" "$pci"
check_eq info_json_driver "$(jstr "$line" driver)" ivshmem
check_eq info_json_kind "$(jstr "$line" kind)" doorbell
check_eq info_json_size "$(jnum "$line" size)" 1048576
check_eq info_json_id "$(jnum "$line" id)" "$id"
check_eq info_json_vectors "$(jnum "$line" vectors)" 4
check_eq info_json_interrupts "$(jstr "$line" interrupts)" msix
check_eq info_json_revision "$(jnum "$line" revision)" "$(cat $sys/revision)"
check_eq info_json_memtype "$(jstr "$line" memtype)" write-back
check_eq info_json_memtype_is_sysfs "$(jstr "$line" memtype)" "$(cat $sys/memtype)"
pline=$(devline plain)
echo "# $pline"
pl=$(jstr "$pline" path)
check info_json_lists_the_plain_device test -n "$pl"
check_eq info_json_plain_size "$(jnum "$pline" size)" 2097152
check_eq info_json_plain_id "$(jnum "$pline" id)" null
check_eq info_json_plain_vectors "$(jnum "$pline" vectors)" 0
check_eq info_json_plain_interrupts "$(jstr "$pline" interrupts)" none
check_eq info_json_plain_memtype "$(jstr "$pline" memtype)" write-back
ivshmem-info > /tmp/info.txt
check info_table_exits_0 test $? -eq 0
diag /tmp/info.txt
check info_table_has_header grep -q '^DEVICE .*PCI .*DRIVER .*KIND .*SIZE .*ID .*VECTORS .*INTERRUPTS .*MEMTYPE$' /tmp/info.txt
check info_table_has_the_doorbell grep -Eq "^$db +$pci +ivshmem +doorbell +1 MiB +$id +4 +msix +write-back\$" /tmp/info.txt
check info_table_has_the_plain_device grep -Eq "^$pl +[0-9a-f:.]+ +ivshmem +plain +2 MiB +- +0 +none +write-back\$" /tmp/info.txt
n=0
for spec in "$db" "$pci" "${db#/dev/ivshmem}"; do
	n=$((n + 1))
	l=$(ivshmem-info --json --device "$spec" | grep '"path"')
	echo "# --device $spec: $l"
	check_eq "info_device_form_$n" "$(jstr "$l" path):$(jnum "$l" id):$(jnum "$l" vectors):$(jstr "$l" pci)" "$db:$id:4:$pci"
done
ivshmem-info --device "$db" > /tmp/one.txt
check_eq info_device_text_id "$(sed -n 's/^id: *//p' /tmp/one.txt)" "$id"
check_eq info_device_text_driver "$(sed -n 's/^driver: *//p' /tmp/one.txt)" ivshmem
check_eq info_device_text_memtype "$(sed -n 's/^memtype: *//p' /tmp/one.txt)" write-back
check_eq info_lists_both_devices "$(ivshmem-info --json | grep -c '"path"')" 2
check_eq info_env_device_is_the_only_one "$(IVSHMEM_DEVICE=$pl ivshmem-info --json | grep '"path"' | sed 's/.*"kind": "\([a-z]*\)".*/\1/')" plain
''')
    # --- bad input, in guest b
    b.run(r'''
ivshmem-ring --device $db --peer 70000 --vector 1 2> /tmp/e1
check_eq ring_peer_70000_exits_2 $? 2
check ring_peer_70000_one_line one_line /tmp/e1
check ring_peer_70000_names_it grep -q -- "--peer: '70000' is out of range" /tmp/e1
ivshmem-ring --device $db --peer -3 --vector 1 2> /tmp/e2
check_eq ring_peer_negative_exits_2 $? 2
ivshmem-ring --device $db --peer x1 2> /tmp/e3
check_eq ring_peer_not_a_number_exits_2 $? 2
ivshmem-ring --device $db --peer $ida --vector 256 2> /tmp/e4
check_eq ring_vector_256_exits_1 $? 1
check ring_vector_256_says_0_255 grep -q "vectors 0..255 only" /tmp/e4
check ring_vector_256_one_line one_line /tmp/e4
ivshmem-ring --device /dev/ivshmem9 --peer 0 2> /tmp/e5
check_eq ring_missing_device_exits_1 $? 1
check ring_missing_device_one_line grep -q "^ivshmem-ring: /dev/ivshmem9: cannot open: No such file or directory\$" /tmp/e5
ivshmem-wait --device $db --vector 4 2> /tmp/e6
check_eq wait_vector_4_of_4_exits_1 $? 1
check wait_vector_4_of_4_says_why grep -q "vectors 0..3 only" /tmp/e6
ivshmem-dump --device $db --offset 1M 2> /tmp/e7
check_eq dump_past_the_end_exits_1 $? 1
check dump_past_the_end_one_line one_line /tmp/e7
''')
    a.run(r'''
ivshmem-ring --device $pl --peer $idb 2> /tmp/e8
check_eq ring_on_plain_exits_1 $? 1
check ring_on_plain_says_no_doorbell grep -q "no doorbell" /tmp/e8
ivshmem-wait --device $pl --timeout 100 2> /tmp/e9
check_eq wait_on_plain_exits_1 $? 1
check wait_on_plain_says_no_vectors grep -q "no interrupt vectors" /tmp/e9
''')

    # --- a rings b's vector 1
    b.run('check wait1_armed start_bg w1 waiting ivshmem-wait -V --device $db --vector 1 '
          '--count 1 --timeout 120000')
    for g in (a, b):
        g.run('hsync armed1')
    a.run('check ring_b_vector_1 ivshmem-ring --device $db --peer $idb --vector 1')
    b.run('''
check wait1_exits_0 end_bg w1
check_eq wait1_prints_vector_1 "$(cat /tmp/w1.out)" "vector 1 count 1"
check wait1_said_its_id grep -q "waiting as peer $idb" /tmp/w1.err
''')

    # --- b rings a's vector 2, three times; a's default device is the doorbell
    a.run('check wait2_armed start_bg w2 waiting ivshmem-wait -V --vector 2 --count 3 '
          '--timeout 120000')
    for g in (a, b):
        g.run('hsync armed2')
    b.run('check ring_a_vector_2_three_times ivshmem-ring --device $db --peer $ida '
          '--vector 2 --count 3 --interval 200')
    a.run('''
check wait2_exits_0 end_bg w2
diag /tmp/w2.out
check_eq wait2_counts_three_rings "$(sum_counts /tmp/w2.out)" 3
check wait2_only_vector_2 test -z "$(grep -v '^vector 2 count ' /tmp/w2.out)"
''')

    # --- a ring on vector 2 does not wake a wait on vector 3
    b.run('check wait3_armed start_bg w3 waiting ivshmem-wait -V --device $db --vector 3 '
          '--count 1 --timeout 8000')
    for g in (a, b):
        g.run('hsync armed3')
    a.run('check ring_b_vector_2 ivshmem-ring --device $db --peer $idb --vector 2')
    b.run('''
end_bg w3
check_eq wait_on_vector_3_not_woken_by_vector_2 $? 1
check wait3_timed_out grep -q "timed out after 8000 ms (0 of 1 rings arrived)" /tmp/w3.err
check_eq wait3_printed_nothing "$(cat /tmp/w3.out)" ""
''')

    # --- memory: a writes, b reads, b replies, a reads; the host sees both
    a.run('''
printf %%s %s | ivshmem-dump --device $db --write --offset 0x1000
check dump_write_exits_0 test $? -eq 0
printf %%s host-%s | ivshmem-dump --device $pl --write --offset 0x100
''' % (msg_a, word))
    for g in (a, b):
        g.run('hsync written')
    b.run('''
check_eq dump_raw_reads_what_a_wrote "$(ivshmem-dump --device $db --raw --offset 0x1000 --length 25)" %s
check_eq dump_hex_line "$(ivshmem-dump --device $db --offset 0x1000 --length 16 | head -n 1)" "%s"
printf %%s %s | ivshmem-dump --device $db --write --offset 0x2000
''' % (msg_a, hexline(0x1000, msg_a.encode()[:16]), msg_b))
    for g in (a, b):
        g.run('hsync replied')
    a.run('check_eq dump_raw_reads_the_reply "$(ivshmem-dump --device $db --raw -o 0x2000 '
          '-l 25)" %s' % msg_b)
    s.at('replied', lambda: s.check(
        'the host sees what the guests wrote with ivshmem-dump',
        srv.read(0x1000, 25) == msg_a.encode() and srv.read(0x2000, 25) == msg_b.encode() and
        shared.read(0x100, 17) == ('host-' + word).encode(),
        repr((srv.read(0x1000, 25), srv.read(0x2000, 25), shared.read(0x100, 17)))))

    # --- ivshmem-bench between the guests (b responds on vector 3)
    b.run('check bench_responder_ready start_bg bench responding ivshmem-bench --device $db '
          '--respond --vector 3 --offset 0x10000 --timeout 300000 --json')
    for g in (a, b):
        g.run('hsync bench')
    a.run('''
ivshmem-bench --device $db --peer $idb --vector 3 --count 200 --offset 0x10000 --size 256K > /tmp/bench.txt 2>&1
check bench_exits_0 test $? -eq 0
diag /tmp/bench.txt
check bench_interrupt_percentiles percentiles interrupt /tmp/bench.txt
check bench_poll_percentiles percentiles busy-poll /tmp/bench.txt
check bench_memcpy grep -q '^  plain buffer ' /tmp/bench.txt
''')
    b.run('''
check bench_responder_exits_0 end_bg bench
check_eq bench_responder_served_all "$(jnum "$(cat /tmp/bench.out)" served)" 440
''')
