# SPDX-License-Identifier: GPL-2.0
"""The tools when the device goes away under them and comes back: a
waiting ivshmem-wait and a responding ivshmem-bench end with one line
saying the device was removed (exit 1, no bogus ring printed), the tools
then find no device, and after the device is plugged back in they use it
again."""


def scenario(s):
    s.timeout = 600
    srv = s.server(vectors=2, size='1M')
    a = s.guest('a')
    a.doorbell(srv, vectors=2, id='db0')
    a.run_file('tools_lib.sh')
    a.run(r'''
db=$(devpath doorbell)
check waiter_armed start_bg w waiting ivshmem-wait -V --device $db --vector 0,1 --timeout 300000
check responder_ready start_bg r responding ivshmem-bench --device $db --respond --vector 1 --timeout 300000
''')
    def unplug():
        a.unplug('db0')
        # The device's server connection outlives device_del; QEMU 7.2 dies
        # when a device is added again while it is still open.
        try:
            a.qmp('chardev-remove', id='db0_chr0')
        except Exception:
            pass                        # already removed with the device

    s.at('armed', unplug)
    a.run('hsync armed')
    a.run(r'''
end_bg w
check_eq wait_exits_1_on_removal $? 1
diag /tmp/w.err
check wait_says_removed grep -q "^ivshmem-wait: $db: wait: Not an ivshmem device, or it was removed\$" /tmp/w.err
check_eq wait_printed_no_ring "$(cat /tmp/w.out)" ""
end_bg r
check_eq bench_responder_exits_1_on_removal $? 1
diag /tmp/r.err
check bench_responder_says_removed grep -Eq "^ivshmem-bench: $db: (wait: Not an ivshmem device, or it was removed|the shared memory went away \\(device removed\\))\$" /tmp/r.err
check_eq device_node_gone "$(ls /dev/ivshmem* 2>/dev/null)" ""
ivshmem-info 2> /tmp/e1
check_eq info_without_device_exits_1 $? 1
check info_without_device_one_line grep -q "^ivshmem-info: no ivshmem device found\$" /tmp/e1
ivshmem-ring --peer 0 2> /tmp/e2
check_eq ring_without_device_exits_1 $? 1
''')
    s.at('gone', lambda: a.replug('db0'))
    a.run('hsync gone')
    a.run(r'''
for i in $(seq 1 100); do [ -n "$(ls /dev/ivshmem* 2>/dev/null)" ] && break; sleep 0.1; done
db=$(devpath doorbell)
check device_back test -n "$db"
id=$(cat /sys/class/ivshmem/${db#/dev/}/vm_id)
check waiter_armed_again start_bg w2 waiting ivshmem-wait -V --device $db --vector 1 --count 1 --timeout 60000
check ring_self_after_replug ivshmem-ring --device $db --peer $id --vector 1
check wait_after_replug end_bg w2
check_eq wait_after_replug_prints_vector_1 "$(cat /tmp/w2.out)" "vector 1 count 1"
''')
