# SPDX-License-Identifier: GPL-2.0
"""The ivshmem driver losing its devices while they are in use, and getting
them back.  selftests/ivshmem/ivshmem_remove_test holds a file, a mapping
(also in a forked child), a blocked read(), a poll() and a bound eventfd
while the device goes away through QMP device_del (doorbell and plain),
sysfs remove and driver unbind: every waiter wakes with the documented
result, the mappings give SIGBUS, later calls ENODEV.  The devices come
back (replug, rescan, bind) and pass ivshmem_test again.  rmmod is
refused while a file or a mapping is open and works after; modprobe and
rmmod in a loop leave a working driver.  Every removal also races a
process mapping the device in a loop and one forking children that
touch the mapping.  A device plugged in after boot works too.  The guest
has two CPUs, so the racers and the removal run on either."""

HELPERS = r'''
export PATH=$PATH:/ksft/ivshmem
# devof 1|0: the first doorbell (1) or plain (0) device; pciof DEV: its PCI function
devof() {
	for d in /sys/class/ivshmem/*; do
		[ "$(cat $d/doorbell 2>/dev/null)" = "$1" ] && { basename $d; return; }
	done
}
pciof() { basename $(readlink -f /sys/class/ivshmem/$1/device); }
# waitdevs N: until N devices are bound (10 s)
waitdevs() {
	for i in $(seq 200); do
		[ "$(ls /sys/class/ivshmem 2>/dev/null | wc -l)" = "$1" ] && return 0
		sleep 0.05
	done
	return 1
}
# selfring DEV VECTOR: ring the guest itself, wait for the interrupt
selfring() {
	ivshmem_util wait $1 $2 120000 > /tmp/sr.out &
	_p=$!
	for i in $(seq 600); do grep -q waiting /tmp/sr.out && break; sleep 0.05; done
	ivshmem_util ring $1 $(cat /sys/class/ivshmem/$1/vm_id) $2
	wait $_p && grep -q "vector $2 count 1" /tmp/sr.out
}
'''


def scenario(s):
    s.timeout = 400
    srv = s.server(vectors=2, size='1M')
    mem = s.memory('pl0', '1M')
    a = s.guest('a', modules=['ivshmem'], cpus=2)
    a.doorbell(srv, vectors=2, id='db0')
    a.plain(mem=mem, id='pl0')
    a.run(HELPERS)

    # A device plugged in after boot is found and works, ivshmem_test
    # included (its PAT checks follow wherever the BAR landed).
    hp = s.memory('hp0', '1M')
    a.run(r'''
hsync hotplug
check hotplugged_device_found waitdevs 3
hp=$(ls /sys/class/ivshmem | sort | tail -n 1)
check_eq hotplugged_device_is_plain "$(cat /sys/class/ivshmem/$hp/doorbell)" 0
check hotplugged_device_writes ivshmem_util write $hp 0x100 hot-%s
ivshmem_test > /tmp/hp.out 2>&1
echo "# hot-plugged $hp: BAR2 at $(sed -n 3p /sys/class/ivshmem/$hp/device/resource | cut -d' ' -f1)"
check_eq hotplugged_devices_pass_ivshmem_test "$(grep -c '^not ok' /tmp/hp.out)" 0
hsync hot_unplug
check_eq hot_unplugged_device_gone "$(ls /sys/class/ivshmem | wc -l)" 2
''' % s.name)
    s.at('hotplug', lambda: a.hotplug('plain', 'hp0', mem=hp))

    def hot_unplug():
        s.check('the host reads what the guest wrote to the hot-plugged device',
                hp.read(0x100, 5 + len(s.name)) == ('hot-' + s.name).encode() + b'\0',
                repr(hp.read(0x100, 16)))
        a.unplug('hp0')
    s.at('hot_unplug', hot_unplug)

    # device_del of each device while in use, then both plugged back
    # (plain first: QEMU 7.2 cannot re-add a plain device after a doorbell).
    a.run(r'''
ksft ivshmem_remove_test unplug_doorbell doorbell "hsync unplug_db"
ksft ivshmem_remove_test unplug_plain plain "hsync unplug_pl"
check_eq no_device_left "$(ls /sys/class/ivshmem | wc -l)" 0
check_eq module_still_loaded "$(grep -c '^ivshmem ' /proc/modules)" 1
hsync replug
check both_devices_back waitdevs 2
check_eq minors_freed_on_last_close "$(ls /sys/class/ivshmem | sort | tr '\n' ' ')" "ivshmem0 ivshmem1 "
check replugged_doorbell_rings selfring $(devof 1) 1
check_eq replugged_plain_kept_the_data "$(ivshmem_util read plain 0x40000 16)" kept-by-the-host
ksft env IVSHMEM_EXPECT_DEVICES=plain:1M:0:none,doorbell:1M:2:msix ivshmem_test
''')
    s.at('unplug_db', lambda: a.unplug('db0'))

    def unplug_plain():
        a.unplug('pl0')
        mem.write(0x40000, b'kept-by-the-host\0')
    s.at('unplug_pl', unplug_plain)

    def replug():
        a.replug('pl0')
        a.replug('db0')
    s.at('replug', replug)

    # sysfs remove, then rescan; driver unbind, then bind.
    a.run(r'''
db=$(devof 1); dbpci=$(pciof $db)
ksft ivshmem_remove_test sysfs_remove doorbell "echo 1 > /sys/bus/pci/devices/$dbpci/remove"
check_eq sysfs_removed_function_gone "$(ls /sys/bus/pci/devices | grep -c $dbpci)" 0
echo 1 > /sys/bus/pci/rescan
check rescan_brings_the_doorbell_back waitdevs 2
check rescanned_doorbell_rings selfring $(devof 1) 0
pl=$(devof 0); plpci=$(pciof $pl)
ksft ivshmem_remove_test unbind plain "echo $plpci > /sys/bus/pci/drivers/ivshmem/unbind"
check_eq unbound_function_has_no_driver "$(ls /sys/bus/pci/devices/$plpci/driver 2>/dev/null)" ""
echo $plpci > /sys/bus/pci/drivers/ivshmem/bind
check bind_brings_the_plain_device_back waitdevs 2
check_eq rebound_plain_reads "$(ivshmem_util read plain 0x40000 16)" kept-by-the-host
''')

    # More rounds of sysfs remove and rescan with the racers, both kinds.
    a.run(r'''
for i in 1 2 3; do
	for k in 1 0; do
		dev=$(devof $k); pci=$(pciof $dev)
		ksft ivshmem_remove_test round${i}_$k $dev "echo 1 > /sys/bus/pci/devices/$pci/remove"
		echo 1 > /sys/bus/pci/rescan
		waitdevs 2
	done
done
check devices_back_after_the_rounds waitdevs 2
''')

    # Fuzzers on both devices while the doorbell is unplugged and the
    # plain device removed through sysfs; then both come back.
    a.run(r'''
for k in doorbell plain; do
	IVSHMEM_FUZZ_KIND=$k IVSHMEM_FUZZ_UNTIL_GONE=1 IVSHMEM_FUZZ_SECONDS=60 \
		IVSHMEM_FUZZ_SEED=7 ivshmem_fuzz > /tmp/fuzz-$k.out 2>&1 &
	eval fuzz_$k=\$!
done
sleep 3
hsync fuzz_unplug
pl=$(devof 0); plpci=$(pciof $pl)
echo 1 > /sys/bus/pci/devices/$plpci/remove
wait $fuzz_doorbell
check_eq fuzzer_survives_device_del $? 0
sed 's/^/# /' /tmp/fuzz-doorbell.out | grep -v '^# ok\|RUN\|OK' | tail -n 5
wait $fuzz_plain
check_eq fuzzer_survives_sysfs_remove $? 0
sed 's/^/# /' /tmp/fuzz-plain.out | grep -v '^# ok\|RUN\|OK' | tail -n 5
check_eq no_device_after_fuzzed_removal "$(ls /sys/class/ivshmem | wc -l)" 0
check pat_list_clean_after_fuzzed_removal ivshmem_util pat-clean
hsync fuzz_replug
echo 1 > /sys/bus/pci/rescan
check devices_back_after_fuzzed_removal waitdevs 2
check doorbell_rings_after_fuzzed_removal selfring $(devof 1) 0
''')
    s.at('fuzz_unplug', lambda: a.unplug('db0'))
    s.at('fuzz_replug', lambda: a.replug('db0'))

    # rmmod while in use, and modprobe/rmmod loops.
    a.run(r'''
exec 3< /dev/$(devof 0)
rmmod ivshmem 2> /tmp/rmmod.err
check_eq rmmod_refused_with_a_file_open $? 1
sed 's/^/# /' /tmp/rmmod.err
check rmmod_says_busy grep -Eq "in use|Resource temporarily unavailable" /tmp/rmmod.err
ivshmem_util hold plain > /tmp/hold.out &
holder=$!
for i in $(seq 600); do grep -q holding /tmp/hold.out && break; sleep 0.05; done
exec 3<&-
rmmod ivshmem 2> /dev/null
check_eq rmmod_refused_with_a_mapping $? 1
kill $holder; wait $holder
check rmmod_works_after_the_last_close rmmod ivshmem
check_eq class_gone_after_rmmod "$(ls /sys/class/ivshmem 2>/dev/null | wc -l)" 0
ok=0
for i in $(seq 20); do
	modprobe ivshmem && waitdevs 2 && ivshmem_util read plain 0x40000 16 > /dev/null &&
		rmmod ivshmem && ok=$((ok + 1))
done
check_eq modprobe_rmmod_20_times "$ok" 20
modprobe ivshmem
check devices_after_the_loop waitdevs 2
check doorbell_rings_after_the_loop selfring $(devof 1) 1
check_eq probe_failures_logged "$(dmesg | grep -c 'ivshmem.*probe.*failed\|ivshmem.*error')" 0
''')
