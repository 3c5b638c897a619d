# SPDX-License-Identifier: GPL-2.0
"""uio_ivshmem bound, and unbound, while a host peer keeps ringing the
guest's vectors: an interrupt can arrive the moment the driver installs
its handlers, which must find the UIO device already registered (it
raises a UIO event).  After the storm the device still counts each
vector's interrupts and raises events."""
import os
import subprocess

TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), '..', '..'))
RING = os.path.join(TOP, 'userspace', 'tools', 'ivshmem-ring')
ROUNDS = 40


def scenario(s):
    s.timeout = 300
    srv = s.server(vectors=4, size='1M')
    a = s.guest('a', modules=['uio_ivshmem'])
    a.doorbell(srv, vectors=4, id='db0')
    ringers = []

    def start():
        gid = srv.read(0, 16).split(b'\n')[0].decode()
        s.check('the guest wrote its ID into the memory', gid.isdigit(), repr(gid))
        for v in (0, 3):
            p = subprocess.Popen([RING, '-d', 'unix:' + srv.sock, '--peer', gid,
                                  '--vector', str(v), '--count', '100000000',
                                  '--interval', '1'],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, start_new_session=True)
            s.procs.append(p)
            ringers.append(p)

    def stop():
        for p in ringers:
            s.check('the host peer was still ringing', p.poll() is None,
                    p.stderr.read().decode() if p.poll() is not None else '')
            p.terminate()
            p.wait()

    s.at('ringing', start)
    s.at('done', stop)
    a.run(r'''
pci=$(basename $(readlink -f /sys/class/uio/uio0/device))
id=$(/ksft/uio/uio_peer id)
/ksft/uio/uio_peer write 0 "$id
"
echo $pci > /sys/bus/pci/drivers/uio_ivshmem/unbind
hsync ringing
sleep 1
bound=0
i=0
while [ $i -lt %d ]; do
	echo $pci > /sys/bus/pci/drivers/uio_ivshmem/bind && bound=$((bound + 1))
	echo $pci > /sys/bus/pci/drivers/uio_ivshmem/unbind
	i=$((i + 1))
done
check_eq binds_while_rung $bound %d
check rebind echo $pci > /sys/bus/pci/drivers/uio_ivshmem/bind
hsync done
check_eq still_bound "$(basename $(readlink /sys/bus/pci/devices/$pci/driver))" uio_ivshmem
''' % (ROUNDS, ROUNDS))
    a.run('ksft /ksft/uio/uio_ivshmem_test')
