# SPDX-License-Identifier: GPL-2.0
"""uio_ivshmem on devices whose 256-byte BAR0 does not start on a page:
the kernel aligns the BARs of a hot-plugged device to their size, so two
doorbell devices plugged one after the other may share a page of
registers.  Each map starts on a page and its offset attribute says where
the BAR begins; each device reads its own ID there (one server, distinct
IDs), and libivshmem and the tools find the registers too."""


def scenario(s):
    s.timeout = 240
    srv = s.server(vectors=2, size='1M')
    a = s.guest('a', modules=['uio_ivshmem'])

    def plug():
        a.hotplug('doorbell', 'hp0', server=srv)
        a.hotplug('doorbell', 'hp1', server=srv)

    s.at('plug', plug)
    a.run(r'''
hsync plug
i=0
while [ $i -lt 200 ] && [ "$(ls /sys/class/uio | wc -l)" != 2 ]; do sleep 0.05; i=$((i + 1)); done
check_eq two_devices_on_uio "$(ls /sys/class/uio | wc -l)" 2
unaligned=0
for u in /sys/class/uio/uio*; do
	pci=$(basename $(readlink -f $u/device))
	bar0=$(head -n 1 /sys/bus/pci/devices/$pci/resource | cut -d' ' -f1)
	echo "# $pci BAR0 $bar0 map0 $(cat $u/maps/map0/addr) + $(cat $u/maps/map0/offset)"
	[ $((bar0 & 0xfff)) -ne 0 ] && unaligned=$((unaligned + 1))
done
check_eq a_bar0_off_its_page "$([ $unaligned -gt 0 ] && echo yes || echo no)" yes
ksft /ksft/uio/uio_ivshmem_test
for u in $(ls /sys/class/uio); do
	id=$(UIO_DEVICE=$u /ksft/uio/uio_peer id)
	check_eq ${u}_library_reads_the_same_id "$(ivshmem-info --device /dev/$u | sed -n 's/^id: *//p')" "$id"
done
''')
