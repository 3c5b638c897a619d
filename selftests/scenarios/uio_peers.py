# SPDX-License-Identifier: GPL-2.0
"""Two guests on one server, both with their device on uio_ivshmem, run
selftests/uio/uio_peer_test against each other: distinct IDs, a ring on
each vector raises one UIO event and moves only that vector's counter,
a 200-round ping-pong through the UIO descriptors loses no interrupt and
gets no spurious one, 256 KiB of data cross both ways."""


def scenario(s):
    s.timeout = 300
    srv = s.server(vectors=4, size='1M')
    a = s.guest('a', modules=['uio_ivshmem'])
    b = s.guest('b', modules=['uio_ivshmem'])
    for g in (a, b):
        g.doorbell(srv, vectors=4, id='db0')
        g.run('set -- $(hsync ids $(/ksft/uio/uio_peer id)); ida=${1#a=}; idb=${2#b=}')
    a.run('ksft env UIO_ROLE=a UIO_PEER=$idb /ksft/uio/uio_peer_test')
    b.run('ksft env UIO_ROLE=b UIO_PEER=$ida /ksft/uio/uio_peer_test')
