# SPDX-License-Identifier: GPL-2.0
"""The guest benchmarks of make bench: two guests on one ivshmem-server.

Each guest has two doorbell devices: db0 (on server "char", with a large
BAR2) stays with ivshmem.ko, db1 (on server "uio") is switched to
uio_ivshmem.  Guest a initiates every round trip, guest b answers:

  gg_eventfd        ivshmem.ko, both sides wait through the library
                    (ivshmem_wait() on the bound eventfds)
  gg_eventfd_raw    ivshmem.ko, poll() and read() on the eventfd itself
  gg_read           ivshmem.ko, poll() and read() on the device file
  gg_uio            uio_ivshmem, both sides wait on the UIO file
  gg_busy_poll_char busy-polling on the ivshmem.ko (write-back) mapping
  host_guest        a host process (the library's host backend) rings b
  gg_busy_poll_sysfs busy-polling on sysfs resource2, db0 unbound from
                    every driver: what people do without a driver

Guest a also copies through the BAR2 mapping (write-back, write-combining,
uncached through ivshmem.ko; resource2 and resource2_wc without a driver)
against two anonymous buffers of the same size; each result names the
memory type the mapping really had (memcpy.memtype), which scripts/bench
shows in the copy rows.

Channel against TCP between the same two guests: the guests share a QEMU
network (a socket netdev on the host's loopback, virtio-net-pci in each,
10.0.2.1 and 10.0.2.2), and ivshmem-bench-chan --side runs one side in
each guest, a sending (or starting the round trips), b receiving (or
answering); b prints the result:

  gch_chan_SIZE     messages of SIZE (64, 4k, 1m) one way through a
                    channel at the start of db0's memory (vector 1)
  gch_tcp_SIZE      the same messages over one TCP connection
  gch_rtt_tcp       round trips of 64 bytes over TCP (TCP_NODELAY)
  gch_rtt_sleep     the same through a channel whose sides sleep
  gch_rtt_spin      the same, both sides spinning first

The interrupt round trips run p['rounds'] times, interleaved, so that a
drift of the machine hits every path alike.  Every measurement is printed
by ivshmem-bench --json on a line "# BENCH NAME[__ROUND] {...}" of guest
a's output; scripts/bench collects them.
The host round trip is run by a host hook and lands in s.bench_host.
"""
import json
import os
import socket
import struct
import subprocess
import time

TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), '..', '..'))
BENCH = os.path.join(TOP, 'userspace', 'tools', 'ivshmem-bench')
BENCH_MAGIC = 0x49564253484d4231

GUEST_LIB = r'''
# result NAME FILE: a JSON line of ivshmem-bench as a BENCH line
result() {
	if grep -q '^{' "$2"; then
		echo "# BENCH $1 $(grep '^{' "$2" | head -n 1)"
	else
		sed 's/^/# /' "$2" "${2%.json}.err"
		return 1
	fi
}
# The devices: the ivshmem one has a BAR2 of $BAR bytes, the other 1 MiB.
for d in /sys/bus/pci/devices/*; do
	[ "$(cat $d/device)" = 0x1110 ] || continue
	set -- $(sed -n 3p $d/resource)
	if [ $(($2 - $1 + 1)) -eq $BAR ]; then cpci=${d##*/}; else upci=${d##*/}; fi
done
check found_both_devices test -n "$cpci" -a -n "$upci"
cdev=/dev/$(ls /sys/bus/pci/devices/$cpci/ivshmem)
cid=$(cat /sys/class/ivshmem/${cdev#/dev/}/vm_id)
# uio_ivshmem takes db1: the driver_override way of Documentation/uio.rst
udir=/sys/bus/pci/devices/$upci
echo uio_ivshmem > $udir/driver_override &&
	echo $upci > $udir/driver/unbind &&
	echo $upci > /sys/bus/pci/drivers_probe
check_eq db1_on_uio_ivshmem "$(basename $(readlink $udir/driver))" uio_ivshmem
udev=/dev/$(ls $udir/uio)
uid=$(ivshmem-info --json --device $udev | sed -n 's/.*"id": \([0-9]*\).*/\1/p')
check have_both_ids test -n "$cid" -a -n "$uid"
set -- $(hsync ids $cid:$uid)
a=${1#a=}; b=${2#b=}
bcid=${b%:*}; buid=${b#*:}
'''


# The channel rows: message sizes (bytes, the rows' suffix, the channel's
# bytes at the start of db0's memory).  A batch is about twice the
# channel's ring or more, so that the median batch is not the receiver draining
# what the sender had queued: the library's default 64 KiB for 64 B
# messages; 1 MiB for 4 KiB ones (in 64 KiB, seven of them fill a ring,
# and the sender sleeps and is rung every few messages: a doorbell costs
# hundreds of microseconds under TCG); rings of 4 MiB + 2 KiB, the least
# that carries 1 MiB messages, for those.  Then b's address and port on
# the guests' network.
CHAN_SIZES = [(64, '64', 64 << 10), (4096, '4k', 1 << 20), (1 << 20, '1m', 8200 << 10)]
NET = {'a': '10.0.2.1', 'b': '10.0.2.2'}
TCP_PORT = 5001


def free_tcp_port():
    """A TCP port of the host's loopback that nobody has bound just now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sk:
        sk.bind(('127.0.0.1', 0))
        return sk.getsockname()[1]


def network(port):
    """QEMU arguments of the two guests: one virtio-net each, their frames
    carried by one TCP connection between the two QEMUs on the host's
    loopback, which a's QEMU listens for and b's makes.  The harness
    starts b once a's monitor is up, which QEMU creates after its
    netdevs.  (A dgram netdev, UDP, loses frames when a QEMU falls behind,
    and TCP in the guests then stalls for its retransmission timeouts.)"""
    return {'a': ('-netdev', 'socket,id=net0,listen=127.0.0.1:%d' % port,
                  '-device', 'virtio-net-pci,netdev=net0,mac=52:54:00:00:02:01'),
            'b': ('-netdev', 'socket,id=net0,connect=127.0.0.1:%d' % port,
                  '-device', 'virtio-net-pci,netdev=net0,mac=52:54:00:00:02:02')}


def scenario(s, p):
    """p: count (round trips), size and reps (copies), bar (BAR2 bytes),
    memory (guest MiB), timeout (s), cpus (host CPUs for the guests),
    chan (the channel rows: batch bytes per size, batches, rtt count)."""
    s.timeout = p['timeout']
    s.bench_host = {}
    srv = s.server(vectors=2, size=p['bar'], name='char')
    usrv = s.server(vectors=1, size='1M', name='uio')
    net = network(free_tcp_port())
    a = s.guest('a', memory=p['memory'], qemu=net['a'])
    b = s.guest('b', memory=p['memory'], qemu=net['b'])
    for g in (a, b):
        g.doorbell(srv, vectors=2, id='db0')
        g.doorbell(usrv, vectors=1, id='db1')
        g.run('BAR=%d\n' % p['bar'] + GUEST_LIB)
        g.run('modprobe virtio_net; check net_up sh -c "ip link set lo up && '
              'ip addr add %s/24 dev eth0 && ip link set eth0 up"' % NET[g.name])

    def pin_guests():
        # Each guest's QEMU (every thread) on a CPU of its own.
        for g, cpu in zip((a, b), p['cpus']):
            if cpu is None:
                continue
            for tid in os.listdir('/proc/%d/task' % g.proc.pid):
                try:
                    os.sched_setaffinity(int(tid), {cpu})
                except OSError:
                    pass
    s.at('ids', pin_guests)

    n = p['count']
    resp = 'ivshmem-bench --respond --timeout 600000 --json'
    init = 'ivshmem-bench --count %d --timeout 60000 --json --no-memcpy' % n
    # (name, responder device and options, initiator device and options)
    paths = [
        ('gg_eventfd', '--device $cdev --vector 1',
         '--device $cdev --vector 1 --peer $bcid --wait library'),
        ('gg_eventfd_raw', '--device $cdev --vector 1',
         '--device $cdev --vector 1 --peer $bcid --wait eventfd --no-poll'),
        ('gg_read', '--device $cdev --vector 1',
         '--device $cdev --vector 1 --peer $bcid --wait read --no-poll'),
        ('gg_uio', '--device $udev --vector 0',
         '--device $udev --vector 0 --peer $buid --no-poll'),
    ]
    rounds = [('%s__%d' % (name, k), ropt, iopt) for k in range(p['rounds'])
              for name, ropt, iopt in paths]
    for name, ropt, iopt in rounds:
        b.run('check %s_responder start_bg %s responding %s %s'
              % (name, name, resp, ropt))
        for g in (a, b):
            g.run('hsync %s' % name)
        a.run('%s %s > /tmp/%s.json 2> /tmp/%s.err; check %s_ran result %s /tmp/%s.json'
              % (init, iopt, name, name, name, name, name))
        b.run('check %s_responder_exits_0 end_bg %s' % (name, name))
    # a host process of the char server rings b
    b.run('check host_guest_responder start_bg hg responding %s --device $cdev --vector 1'
          % resp)
    for g in (a, b):
        g.run('hsync host_guest')
    b.run('check host_guest_responder_exits_0 end_bg hg')
    s.at('host_guest', lambda: host_round_trip(s, srv, n, p['host_cpu']))
    chan_rows(a, b, p)
    # copies in a, through ivshmem.ko
    for mode in ('wb', 'wc', 'uc'):
        a.run('ivshmem-bench --device $cdev --cache %s --size %d --reps %d --json '
              '> /tmp/copy_%s.json 2>&1; check copy_%s_ran result copy_%s /tmp/copy_%s.json'
              % (mode, p['size'], p['reps'], mode, mode, mode, mode))
    # no driver: busy-poll and copies on sysfs resource2.  The responder
    # writes its control block where a has just copied: wait for a.
    for g in (a, b):
        g.run('hsync copied')
        g.run(r'''
echo $cpci > /sys/bus/pci/drivers/ivshmem/unbind
check db0_unbound test ! -e /sys/bus/pci/devices/$cpci/driver
''')
    b.run('check sysfs_responder start_bg sy responding %s --device $cpci' % resp)
    for g in (a, b):
        g.run('hsync sysfs')
    a.run('%s --device $cpci --peer $bcid --no-irq > /tmp/sy.json 2> /tmp/sy.err; '
          'check gg_busy_poll_sysfs_ran result gg_busy_poll_sysfs /tmp/sy.json' % init)
    b.run('check sysfs_responder_exits_0 end_bg sy')
    for name, mode in (('copy_resource2', 'default'), ('copy_resource2_wc', 'wc')):
        a.run('ivshmem-bench --device $cpci --cache %s --size %d --reps %d --json '
              '> /tmp/%s.json 2>&1; check %s_ran result %s /tmp/%s.json'
              % (mode, p['size'], p['reps'], name, name, name, name))


def host_round_trip(s, srv, count, cpu):
    """Hook: b's responder is up on the char server; a host peer rings it."""
    deadline = time.time() + 30
    while True:
        magic = struct.unpack('<Q', srv.read(0, 8))[0]
        rid = struct.unpack('<Q', srv.read(64, 8))[0]      # SLOT_RESPONDER: ID + 1
        if magic == BENCH_MAGIC and rid:
            break
        if time.time() > deadline:
            raise RuntimeError('no responder in the shared memory')
        time.sleep(0.1)
    cmd = [BENCH, '--device', 'unix:' + srv.sock, '--peer', str(rid - 1), '--vector', '1',
           '--count', str(count), '--no-memcpy', '--timeout', '60000', '--json']
    if cpu is not None:
        cmd += ['--cpu', str(cpu)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    s.check('host_guest round trips ran', r.returncode == 0, r.stderr.strip())
    if r.returncode == 0:
        s.bench_host['host_guest'] = json.loads(r.stdout)


def chan_rows(a, b, p):
    """Channel against TCP between a and b, the same program for both."""
    c = p['chan']
    a.run('acid=${a%:*}')
    b.run('acid=${a%:*}')
    for g in (a, b):
        g.run('hsync net')
    a.run('check net_ping sh -c "ping -c 1 -W 30 %s > /dev/null"' % NET['b'])
    tool = 'ivshmem-bench-chan'
    tcp = ('--connect %s:%d' % (NET['b'], TCP_PORT), '--listen %d' % TCP_PORT)

    def chan(size):
        dev = '--device $cdev --vector 1 --chan-size %d' % size
        return (dev + ' --peer $bcid', dev + ' --peer $acid --clear')
    runs = []
    for size, suffix, chan_size in CHAN_SIZES:
        for kind in ('tcp', 'chan'):
            args = 'throughput --kind %s --msg %d --batch-bytes %d --batches %d --seconds 0' % (
                kind, size, c['batch'][size], c['batches'])
            runs.append(('gch_%s_%s' % (kind, suffix), 'send', 'recv', args,
                         tcp if kind == 'tcp' else chan(chan_size)))
    for kind, name in (('tcp', 'gch_rtt_tcp'), ('chan-sleep', 'gch_rtt_sleep'),
                       ('chan-spin', 'gch_rtt_spin')):
        args = 'rtt --kind %s --count %d' % (kind, c['count'])
        if kind == 'tcp':
            args += ' --nodelay'
        runs.append((name, 'start', 'answer', args, tcp if kind == 'tcp' else chan(64 << 10)))
    # The rounds interleave the paths, so that drift hits them alike.
    for k in range(p['rounds']):
        for name, aside, bside, args, (aopt, bopt) in runs:
            name = '%s__%d' % (name, k)
            b.run('check %s_b start_bg %s ready %s %s --side %s %s'
                  % (name, name, tool, args, bside, bopt))
            for g in (a, b):
                g.run('hsync %s' % name)
            a.run('%s %s --side %s %s > /tmp/%s.json 2> /tmp/%s.err; check %s_a result %s '
                  '/tmp/%s.json' % (tool, args, aside, aopt, name, name, name, name, name)
                  if aside == 'start' else
                  'check %s_a sh -c "%s %s --side %s %s 2> /tmp/%s.err" || diag /tmp/%s.err'
                  % (name, tool, args, aside, aopt, name, name))
            if bside == 'recv':
                b.run('check %s_b_exits_0 end_bg %s && cp /tmp/%s.out /tmp/%s.json && '
                      'check %s_ran result %s /tmp/%s.json'
                      % (name, name, name, name, name, name, name))
            else:
                b.run('check %s_b_exits_0 end_bg %s' % (name, name))
