# SPDX-License-Identifier: GPL-2.0
"""Where the shared memory BAR sits, and the memory type mappings get.

SeaBIOS puts 1 MiB BARs in the 32-bit PCI hole, which its MTRRs make
uncached.  q boots QEMU's q35 machine with a doorbell and a plain device:
ivshmem.ko moves each BAR2 above 4 GiB, logged once per device; write-back
mappings are write-back in the PAT list, the info ioctl and sysfs; what
the host wrote before the move is read after it and what the guest writes
reaches the host; the kselftests pass; a guest rings o and o rings it,
through eventfds.  Switching the devices to uio_ivshmem, and reloading
ivshmem, finds them already high and moves nothing.

o boots pc with the same devices and loads ivshmem with move_bar=0: one
warning per device, uncached-minus in the PAT list, the ioctl and sysfs,
and ivshmem-info (table, one device, --json), and the kselftests still
pass.  Then uio_ivshmem with move_bar=0 says the
same; uio_ivshmem with the default moves them, except one that a
process maps through sysfs meanwhile (left where it is, type unknown,
moved by a rebind once unmapped); a device hot-plugged after that is
placed above 4 GiB by the kernel: write-back, no move."""
import os

WARN_OFF = 'write-back mappings will be uncached-minus because module parameter move_bar is off'


def scenario(s):
    s.timeout = 400
    host = 'host-' + os.urandom(6).hex()
    guest = 'guest-' + os.urandom(6).hex()
    srv = s.server(vectors=4, size='1M')
    pq = s.memory('pq', '1M')
    po = s.memory('po', '1M')
    for mem in (srv, pq, po):
        mem.write(0, host.encode() + b'\0')

    q = s.guest('q', modules=['ivshmem'], machine='q35')
    q.doorbell(srv, vectors=4, id='db0')
    q.plain(mem=pq, id='pl0')
    o = s.guest('o', modules=[])
    o.doorbell(srv, vectors=4, id='db0')
    o.plain(mem=po, id='pl0')
    o.run('modprobe ivshmem move_bar=0')

    for g in (q, o):
        g.run(r'''
export PATH=$PATH:/ksft/ivshmem:/ksft/uio
ids=$(hsync ids $(cat /sys/class/ivshmem/ivshmem0/vm_id))
for kv in $ids; do eval "id_${kv%%=*}=${kv#*=}"; done
moves() { dmesg | grep -c 'shared memory moved from'; }
high() { set -- $(sed -n 3p /sys/bus/pci/devices/$1/resource); [ $(($1)) -ge $((1 << 32)) ]; }
''')

    q.run(r'''
check_eq q35_moved_once_per_device "$(dmesg | grep -c 'shared memory moved from 0x00000000f')" 2
check_eq q35_no_warning "$(dmesg | grep -c 'will be uncached-minus')" 0
for n in 0 1; do
	check_eq q35_sysfs_memtype_$n "$(cat /sys/class/ivshmem/ivshmem$n/memtype)" write-back
	check q35_bar2_above_4g_$n high "$(basename $(readlink /sys/class/ivshmem/ivshmem$n/device))"
done
ksft env IVSHMEM_EXPECT_DEVICES=doorbell:1M:4:msix,plain:1M:0:none \
	IVSHMEM_EXPECT_MEMTYPE=write-back IVSHMEM_EXPECT_HIGH=1 \
	IVSHMEM_HOST_TOKEN=%s IVSHMEM_GUEST_TOKEN=%s /ksft/ivshmem/ivshmem_test
''' % (host, guest))
    # o's kselftests write to the doorbell memory too: only after the host
    # has read what q wrote there.
    o.run('hsync written > /dev/null')
    o.run(r'''
check_eq off_warns_once_per_device "$(dmesg | grep -c '%s')" 2
check_eq off_moves_nothing "$(moves)" 0
for n in 0 1; do
	check_eq off_sysfs_memtype_$n "$(cat /sys/class/ivshmem/ivshmem$n/memtype)" uncached-minus
	check_eq off_info_tool_$n "$(ivshmem-info --device /dev/ivshmem$n | sed -n 's/^memtype: *//p')" uncached-minus
done
check_eq off_info_table_says_it_twice "$(ivshmem-info | grep -c ' uncached-minus$')" 2
check_eq off_info_json_says_it_twice "$(ivshmem-info --json | grep -o '"memtype": "uncached-minus"' | wc -l)" 2
ksft env IVSHMEM_EXPECT_DEVICES=doorbell:1M:4:msix,plain:1M:0:none \
	IVSHMEM_EXPECT_MEMTYPE=uncached-minus /ksft/ivshmem/ivshmem_test
''' % WARN_OFF)
    q.run('hsync written > /dev/null')

    s.check_guest_token('written', guest, {'doorbell': srv, 'plain': pq},
                        who='q, after the move,')

    # Doorbells and eventfds across the two, one way and then the other.
    for waiter, ringer in ((q, o), (o, q)):
        waiter.run(r'''
ivshmem_util wait msix 1 120000 > /tmp/w.out 2>&1 &
w=$!
for i in $(seq 600); do grep -q waiting /tmp/w.out && break; sleep 0.1; done
hsync armed_%s > /dev/null
wait $w
check %s_woken_by_%s grep -q 'vector 1 count' /tmp/w.out
''' % (waiter.name, waiter.name, ringer.name))
        ringer.run('hsync armed_%s > /dev/null\ncheck %s_rings_%s ivshmem_util ring msix $id_%s 1'
                   % (waiter.name, ringer.name, waiter.name, waiter.name))

    # q: to uio_ivshmem and back, and a reload: nothing moves again.
    q.run(r'''
modprobe uio_ivshmem
for d in /sys/bus/pci/drivers/ivshmem/0000:*; do
	pci=$(basename $d)
	echo $pci > /sys/bus/pci/drivers/ivshmem/unbind
	echo $pci > /sys/bus/pci/drivers/uio_ivshmem/bind
	check_eq q35_uio_memtype_$pci "$(cat /sys/bus/pci/devices/$pci/memtype)" write-back
done
check_eq q35_uio_moves_nothing "$(moves)" 2
ksft env IVSHMEM_EXPECT_MEMTYPE=write-back /ksft/uio/uio_ivshmem_test -t shm_has_the_reported_memtype_in_pat
rmmod uio_ivshmem && rmmod ivshmem && modprobe ivshmem
check_eq q35_reload_binds_both "$(ls -d /sys/class/ivshmem/ivshmem* | wc -l)" 2
check_eq q35_reload_moves_nothing "$(moves)" 2
ksft env IVSHMEM_EXPECT_MEMTYPE=write-back /ksft/ivshmem/ivshmem_test -t every_device_maps_with_the_expected_memtype
hsync hotplug > /dev/null
''')

    # o: uio_ivshmem without the move, then with it, then a hot-plug.
    o.run(r'''
rmmod ivshmem
modprobe uio_ivshmem move_bar=0
check_eq off_uio_warns_once_per_device "$(dmesg | grep -c '%s')" 4
for d in /sys/bus/pci/drivers/uio_ivshmem/0000:*; do
	check_eq off_uio_memtype_$(basename $d) "$(cat $d/memtype)" uncached-minus
done
ksft env IVSHMEM_EXPECT_MEMTYPE=uncached-minus /ksft/uio/uio_ivshmem_test -t shm_has_the_reported_memtype_in_pat
rmmod uio_ivshmem
# One device mapped through sysfs while the driver binds: left where it
# is, type unknown; the other moves.  Once unmapped, a rebind moves it.
held=$(dirname $(grep -l 0x1110 /sys/bus/pci/devices/*/device | head -n 1))
held=$(basename $held)
/ksft/pci/pci_shm 0 hold 0 > /tmp/hold 2>&1 &
holder=$!
for i in $(seq 50); do grep -q holding /tmp/hold && break; sleep 0.1; done
modprobe uio_ivshmem
check_eq held_device_warned_once "$(dmesg | grep -c "$held: shared memory at .* is mapped by someone else")" 1
check_eq held_device_memtype_unknown "$(cat /sys/bus/pci/devices/$held/memtype)" unknown
check_eq only_the_other_moved "$(moves)" 1
kill $holder; wait $holder 2> /dev/null
echo $held > /sys/bus/pci/drivers/uio_ivshmem/unbind
echo $held > /sys/bus/pci/drivers/uio_ivshmem/bind
check_eq uio_moves_once_per_device "$(moves)" 2
ksft env IVSHMEM_EXPECT_MEMTYPE=write-back /ksft/uio/uio_ivshmem_test -t shm_has_the_reported_memtype_in_pat
before=$(ls /sys/bus/pci/drivers/uio_ivshmem | grep -c 0000:)
hsync hotplug > /dev/null
for i in $(seq 600); do
	[ $(ls /sys/bus/pci/drivers/uio_ivshmem | grep -c 0000:) -gt $before ] && break
	sleep 0.1
done
for d in /sys/bus/pci/drivers/uio_ivshmem/0000:*; do hp=$(basename $d); done
check_eq hotplug_bound "$(ls /sys/bus/pci/drivers/uio_ivshmem | grep -c 0000:)" $((before + 1))
check hotplug_placed_above_4g high $hp
check_eq hotplug_memtype "$(cat /sys/bus/pci/devices/$hp/memtype)" write-back
check_eq hotplug_moves_nothing "$(moves)" 2
''' % WARN_OFF)
    s.at('hotplug', lambda: o.hotplug('plain', 'hp', size='1M'))
