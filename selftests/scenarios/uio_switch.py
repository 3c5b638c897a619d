# SPDX-License-Identifier: GPL-2.0
"""One doorbell device switched at run time from ivshmem.ko to
uio_ivshmem and back, twice, with driver_override and unbind/probe: after
each switch the device has the same ID and memory and rings itself
through the driver it is on.  Then which driver a device's modalias
loads: ivshmem with the shipped modprobe.d file (uio_ivshmem
blacklisted), uio_ivshmem with the documented "blacklist ivshmem".  The
library's kselftest runs on the device on either driver."""
import os

CONF = os.path.join(os.path.dirname(os.path.realpath(__file__)), '..', '..',
                    'packaging', 'modprobe.d', 'ivshmem.conf')


def scenario(s):
    s.timeout = 240
    srv = s.server(vectors=2, size='1M')
    word = os.urandom(6).hex()
    a = s.guest('a')                    # ivshmem and uio_ivshmem, in that order
    a.doorbell(srv, vectors=2, id='db0')
    a.run_file('tools_lib.sh')
    a.run(r'''
for d in /sys/bus/pci/devices/*; do [ "$(cat $d/device)" = 0x1110 ] && pci=${d##*/}; done
sysdev=/sys/bus/pci/devices/$pci
drv() { l=$(readlink $sysdev/driver) && echo "${l##*/}"; }
# switch DRIVER: bind the device to DRIVER through driver_override
switch() {
	echo "$1" > $sysdev/driver_override &&
	echo $pci > $sysdev/driver/unbind &&
	echo $pci > /sys/bus/pci/drivers_probe &&
	echo > $sysdev/driver_override
}
char_self_ring() {
	start_bg c waiting ivshmem-wait -V --device /dev/ivshmem0 --vector 1 --count 1 \
		--timeout 120000 &&
	ivshmem-ring --device /dev/ivshmem0 --peer $id --vector 1 && end_bg c &&
	[ "$(cat /tmp/c.out)" = "vector 1 count 1" ]
}
uio_self_ring() {
	start_bg u waiting /ksft/uio/uio_peer wait 1 1 120000 &&
	/ksft/uio/uio_peer ring $id 1 && end_bg u &&
	[ "$(cat /tmp/u.out)" = "vector 1 count 1 others 0" ]
}
check_eq starts_on_ivshmem "$(drv)" ivshmem
ksft /ksft/uio/uio_lib_test
id=$(cat /sys/class/ivshmem/ivshmem0/vm_id)
check char_self_ring_at_boot char_self_ring
''')
    for rnd in (1, 2):
        a.run(r'''
r=%(rnd)d
printf %%s char$r-%(word)s | ivshmem-dump --device /dev/ivshmem0 --write --offset 0x100
check switch${r}_to_uio switch uio_ivshmem
check_eq switch${r}_on_uio "$(drv)" uio_ivshmem
check_fail switch${r}_char_node_gone test -e /dev/ivshmem0
check_eq switch${r}_uio_same_id "$(/ksft/uio/uio_peer id)" "$id"
check_eq switch${r}_uio_same_memory "$(/ksft/uio/uio_peer read 0x100 19)" char$r-%(word)s
check switch${r}_uio_self_ring uio_self_ring
[ $r = 1 ] && ksft /ksft/uio/uio_lib_test
/ksft/uio/uio_peer write 0x200 uio$r-%(word)s
check switch${r}_back_to_ivshmem switch ivshmem
check_eq switch${r}_on_ivshmem "$(drv)" ivshmem
check_fail switch${r}_uio_node_gone test -e /sys/class/uio/uio0
check_eq switch${r}_char_same_id "$(cat /sys/class/ivshmem/ivshmem0/vm_id)" "$id"
check_eq switch${r}_char_same_memory \
	"$(ivshmem-dump --device /dev/ivshmem0 --raw -o 0x200 -l 18)" uio$r-%(word)s
check switch${r}_char_self_ring char_self_ring
''' % {'rnd': rnd, 'word': word})

    with open(CONF) as f:
        conf = f.read()
    a.run(r'''
# what udev would do for a new device: modprobe its modalias
echo $pci > $sysdev/driver/unbind
rmmod ivshmem uio_ivshmem
mkdir -p /etc/modprobe.d
cat > /etc/modprobe.d/ivshmem.conf << 'CONF_EOF'
%s
CONF_EOF
modprobe -q "$(cat $sysdev/modalias)"
echo $pci > /sys/bus/pci/drivers_probe
check_eq shipped_config_gives_ivshmem "$(drv)" ivshmem
check_fail shipped_config_leaves_uio_out grep -q '^uio_ivshmem ' /proc/modules
echo $pci > $sysdev/driver/unbind
rmmod ivshmem
echo 'blacklist ivshmem' > /etc/modprobe.d/ivshmem.conf
modprobe -q "$(cat $sysdev/modalias)"
echo $pci > /sys/bus/pci/drivers_probe
check_eq blacklist_ivshmem_gives_uio "$(drv)" uio_ivshmem
check_fail blacklist_ivshmem_leaves_it_out grep -q '^ivshmem ' /proc/modules
check uio_works_after_modprobe uio_self_ring
''' % conf.rstrip('\n'))
