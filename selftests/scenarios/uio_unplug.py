# SPDX-License-Identifier: GPL-2.0
"""A doorbell device on uio_ivshmem unplugged by the host while a process
waits on it with its maps held: the process wakes with EIO, the UIO
device goes, the kernel log stays clean; plugged back, the device is on
uio_ivshmem again and rings itself."""


def scenario(s):
    s.timeout = 240
    srv = s.server(vectors=2, size='1M')
    a = s.guest('a', modules=['uio_ivshmem'])
    a.doorbell(srv, vectors=2, id='db0')
    a.run_file('tools_lib.sh')
    a.run('check waiter_armed start_bg w waiting /ksft/uio/uio_peer wait 1 1 120000')
    s.at('unplug', lambda: a.unplug('db0'))
    a.run('hsync unplug')
    a.run(r'''
check_fail waiter_fails end_bg w
check waiter_saw_eio grep -q "Input/output error" /tmp/w.err
diag /tmp/w.err
check_eq uio_device_gone "$(ls /sys/class/uio)" ""
''')
    s.at('replug', lambda: a.replug('db0'))
    a.run('hsync replug')
    a.run(r'''
for i in $(seq 1 100); do [ -e /sys/class/uio/uio0 ] && break; sleep 0.1; done
check_eq replugged_on_uio "$(cat /sys/class/uio/uio0/name)" uio_ivshmem
id=$(/ksft/uio/uio_peer id)
check replugged_armed start_bg w2 waiting /ksft/uio/uio_peer wait 1 1 120000
check replugged_rings_itself /ksft/uio/uio_peer ring $id 1
check replugged_woken end_bg w2
check_eq replugged_counts_vector_1 "$(cat /tmp/w2.out)" "vector 1 count 1 others 0"
''')
