# SPDX-License-Identifier: GPL-2.0
"""Fault injection, on the debug kernel only: every ioctl of ivshmem.ko,
open(), mmap(), read(), binding an eventfd, and probe through a sysfs
bind of each module, are run with the n-th allocation of the calling task
failing (/proc/thread-self/fail-nth), n = 1, 2, ... until a run
allocates no more; each run must fail with a clean errno or succeed, and
the device must work fully afterwards (selftests/ivshmem/
ivshmem_failnth_test).  The harness fails the scenario on any report or
on a leak from the modules."""
import harness


def scenario(s):
    if not harness.is_debug(s.kernel):
        raise harness.Skip('needs the debug kernel\'s fault injection (6.12-debug)')
    s.timeout = 300
    srv = s.server(vectors=2, size='1M')
    a = s.guest('a', modules=['ivshmem', 'uio_ivshmem'])
    a.doorbell(srv, vectors=2, id='db0')
    a.run('ksft /ksft/ivshmem/ivshmem_failnth_test msix ivshmem uio_ivshmem')
