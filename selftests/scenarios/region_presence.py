# SPDX-License-Identifier: GPL-2.0
"""Names and presence from the region header, seen from guests.

Two doorbell regions, each served by an ivshmem-server that writes a
header: "alpha" (--label alpha --presence-vector 3) and "beta" (--label
beta --presence), and a plain region "gamma" whose memory file the host
labels with ivshmem-label before the guests boot.  Guest a has all three
on ivshmem.ko, and udev; guest b has alpha on uio_ivshmem and beta through the PCI
sysfs files (no driver), so the presence table is read on every guest
backend.

Checked: both guests open each region by name (name:NAME, through both
drivers' label attributes), ivshmem-info shows the labels, udev makes
/dev/ivshmem/by-name/ links; each guest sees
the other present on alpha with an epoch, and its own ID left out; a host
peer comes, goes and comes back on alpha while guest a waits on the
presence vector (rung at every change) and watches the table: present
with an epoch, absent with the epoch kept, then present under a new ID
with a new epoch; ivshmem-ring refuses the departed peer (exit 3) and
rings it with --force; guest b's alpha device, before that, is unplugged
(a sees it absent) and plugged back (a sees b under a new epoch); and while the host
scribbles garbage over beta's header, both guests keep reading it
(ivshmem-info exits 0 or 1, never on a signal), and the server restores
it.  The kernel logs must stay clean."""
import os
import random
import signal
import subprocess
import threading
import time

TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), '..', '..'))
TOOLS = os.path.join(TOP, 'userspace', 'tools')
PAGE = 4096

LIB = r'''
# fld SPEC NAME: a line "NAME: value" of ivshmem-info -d SPEC
fld() { ivshmem-info -d "$1" 2> /dev/null | sed -n "s/^$2: *//p"; }
# epoch_of SPEC ID: the epoch ivshmem-info gives a present peer ID, or ""
epoch_of() { fld "$1" peers | grep -o "\(^\| \)$2 (epoch [0-9]*)" | sed 's/.*epoch \([0-9]*\))/\1/'; }
# has_peer SPEC ID / lacks_peer SPEC ID
has_peer() { [ -n "$(epoch_of "$1" "$2")" ]; }
lacks_peer() { [ -z "$(epoch_of "$1" "$2")" ]; }
beta_has_peers() { fld name:beta peers | grep -q "[0-9] (epoch [0-9]*)"; }
beta_label_back() { [ "$(fld name:beta label)" = beta ]; }
b_has_id() { [ -n "$(fld name:alpha id)" ]; }
# until_true SECONDS CMD...: CMD succeeds within SECONDS
until_true() {
	_t=$(( $1 * 10 )); shift
	while [ $_t -gt 0 ]; do "$@" && return 0; sleep 0.1; _t=$((_t - 1)); done
	return 1
}
'''


def scenario(s):
    s.timeout = 900
    alpha = s.server(vectors=4, size='1M', name='alpha',
                     args=['--label', 'alpha', '--presence-vector', '3', '--max-peers', '64'])
    beta = s.server(vectors=2, size='1M', name='beta', args=['--label', 'beta', '--presence'])
    gamma = s.memory('gamma', '1M')
    r = subprocess.run([os.path.join(TOOLS, 'ivshmem-label'), gamma.path, 'gamma'],
                       capture_output=True, text=True)
    s.check('host: ivshmem-label labels the plain region file', r.returncode == 0, r.stderr)
    spec = 'unix:' + alpha.sock
    host = {}

    a = s.guest('a', udev=True)
    b = s.guest('b', modules=['uio_ivshmem'])
    a.doorbell(alpha, vectors=4, id='alpha')
    a.doorbell(beta, vectors=2, id='beta')
    a.plain(mem=gamma, id='gamma')
    b.doorbell(alpha, vectors=4, id='alpha')
    b.doorbell(beta, vectors=2, id='beta')
    for g in (a, b):
        g.run_file('tools_lib.sh')
        g.run(LIB)

    # --- names, in both guests
    a.run(r'''
for n in alpha beta gamma; do
	p=$(jstr "$(ivshmem-info --json -d name:$n | grep '"path"')" path)
	check "name_${n}_opens_a_char_device" test -c "$p"
	check_eq "name_${n}_is_the_label_attribute" "$(cat /sys/class/ivshmem/${p#/dev/}/label)" $n
	check_eq "info_label_$n" "$(fld name:$n label)" $n
done
check_eq gamma_is_the_plain_device "$(fld name:gamma kind)" plain
check udev_started udev_start
check udev_add_ivshmem udev_add ivshmem
for n in alpha beta gamma; do
	p=$(jstr "$(ivshmem-info --json -d name:$n | grep '"path"')" path)
	check_eq "by_name_link_$n" "$(readlink -f /dev/ivshmem/by-name/$n)" "$p"
done
udev_stop
ivshmem-info -d name:nosuch 2> /tmp/e1
check_eq name_nosuch_exits_1 $? 1
diag /tmp/e1
check name_nosuch_says_no_device grep -q "name:nosuch" /tmp/e1
ivshmem-info > /tmp/list
diag /tmp/list
check info_list_has_label_column grep -q " LABEL$" /tmp/list
id=$(fld name:alpha id)
''')
    b.run(r'''
# beta through sysfs: let uio_ivshmem go of it
for d in /sys/bus/pci/drivers/uio_ivshmem/0000:*; do
	if [ "$(cat $d/region_label 2> /dev/null)" = beta ]; then
		echo "${d##*/}" > /sys/bus/pci/drivers/uio_ivshmem/unbind
	fi
done
check_eq alpha_on_uio "$(fld name:alpha backend)" uio
check_eq beta_on_sysfs "$(fld name:beta backend)" sysfs
check_eq info_label_alpha "$(fld name:alpha label)" alpha
check_eq info_label_beta "$(fld name:beta label)" beta
id=$(fld name:alpha id)
''')
    for g in (a, b):
        g.run(r'''
check got_own_id test -n "$id"
set -- $(hsync ids $id)
ida=${1#a=}
idb=${2#b=}
if [ $HARNESS_GUEST = a ]; then other=$idb; else other=$ida; fi
check other_present_on_alpha until_true 30 has_peer name:alpha $other
check own_id_not_listed lacks_peer name:alpha $id
check other_present_on_beta until_true 30 beta_has_peers
e0=$(epoch_of name:alpha $other)
check other_has_an_epoch test -n "$e0"
''')

    # --- guest b's alpha device goes and comes back.  First: QEMU 7.2
    # crashes when it unplugs a doorbell device that saw a peer leave.
    a.run('hsync unplug')
    b.run('hsync unplug')
    s.at('unplug', lambda: b.unplug('alpha'))
    a.run(r'''
check guest_b_absent_after_unplug until_true 60 lacks_peer name:alpha $idb
''')
    for g in (a, b):
        g.run('hsync replug')
    s.at('replug', lambda: b.replug('alpha'))
    b.run(r'''
check alpha_back_in_b until_true 60 b_has_id
nb=$(fld name:alpha id)
hsync newid $nb > /dev/null
''')
    a.run(r'''
set -- $(hsync newid -)
nb=${2#b=}
check guest_b_back_present until_true 60 has_peer name:alpha $nb
check guest_b_back_new_epoch test "$(epoch_of name:alpha $nb)" != "$e0"
idb=$nb
''')

    # --- a host peer comes, goes and comes back; a waits on the presence vector
    # where the host writes each host peer's ID for guest a to read
    at = {'h1': 0x100, 'h2': 0x110}

    def host_come(key):
        p = subprocess.Popen([os.path.join(TOOLS, 'ivshmem-wait'), '-V', '-d', spec,
                              '--vector', '0', '--timeout', '600000'],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True)
        s.procs.append(p)
        line = p.stderr.readline().decode(errors='replace')
        ok = 'waiting as peer' in line
        s.check('host peer %s joined alpha' % key, ok, line)
        if ok:
            hid = line.split('waiting as peer', 1)[1].split()[0]
            alpha.write(at[key], hid.encode() + b'\n\0')
        host[key] = p

    def host_go(key):
        p = host.pop(key)
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def arm(tag):
        a.run('check presence_wait_%s start_bg pw%s waiting ivshmem-wait -V -d name:alpha '
              '--vector 3 --count 1 --timeout 120000' % (tag, tag))
        for g in (a, b):
            g.run('hsync armed%s' % tag)

    def rung(tag):
        a.run('check presence_vector_rung_%s end_bg pw%s' % (tag, tag))

    arm('1')
    s.at('armed1', lambda: host_come('h1'))
    rung('1')
    a.run(r'''
h1=$(ivshmem-dump -d name:alpha --raw --offset 0x100 --length 16 | tr -d '\000' | head -n 1)
check_eq host_peer_1_is_present_now "$(epoch_of name:alpha $h1 | wc -w)" 1
eh1=$(epoch_of name:alpha $h1)
echo "# host peer $h1 epoch $eh1"
''')
    arm('2')
    s.at('armed2', lambda: host_go('h1'))
    rung('2')
    a.run(r'''
check host_peer_1_gone until_true 30 lacks_peer name:alpha $h1
ivshmem-ring -d name:alpha --peer $h1 --vector 0 2> /tmp/ering
check_eq ring_departed_peer_exits_3 $? 3
diag /tmp/ering
check ring_departed_peer_says_not_connected grep -q "ring peer $h1: not connected: the peer left" /tmp/ering
check ring_departed_peer_force ivshmem-ring -d name:alpha --peer $h1 --vector 0 --force
ivshmem-ring -d name:alpha --peer 63 --vector 0 2> /tmp/ering2
check_eq ring_never_seen_peer_exits_3 $? 3
diag /tmp/ering2
''')
    arm('3')
    s.at('armed3', lambda: host_come('h2'))
    rung('3')
    a.run(r'''
h2=$(ivshmem-dump -d name:alpha --raw --offset 0x110 --length 16 | tr -d '\000' | head -n 1)
eh2=$(epoch_of name:alpha $h2)
echo "# host peer back as $h2 epoch $eh2"
check host_peer_back_is_present test -n "$eh2"
check host_peer_back_has_a_new_epoch test "$eh2" != "$eh1"
check ring_present_host_peer ivshmem-ring -d name:alpha --peer $h2 --vector 0
''')

    # --- garbage in beta's header while both guests read it
    def scribble():
        rng = random.Random(7)
        end = time.time() + 3
        while time.time() < end:
            off = beta.size - PAGE + rng.randrange(0, 128)
            beta.write(off, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 32))))
            time.sleep(0.01)

    for g in (a, b):
        g.run('hsync scribble')
    s.at('scribble', lambda: threading.Thread(target=scribble, daemon=True).start())
    for g in (a, b):
        g.run(r'''
n=0; bad=0; corrupt=0
while [ $n -lt 40 ]; do
	ivshmem-info -d name:beta > /tmp/scr 2>&1
	rc=$?
	[ $rc -le 1 ] || { bad=$rc; break; }
	# through sysfs, a corrupt header also hides the label: rc 1, no such name
	if [ $rc -eq 1 ] || grep -q "^header: *\(corrupt\|none\)" /tmp/scr; then
		corrupt=$((corrupt + 1))
	fi
	n=$((n + 1))
done
echo "# $corrupt of $n looks found the header corrupt or gone"
check_eq reading_a_scribbled_header_never_crashes $bad 0
check server_restores_the_header until_true 30 beta_label_back
hsync done
''')
    s.at('done', lambda: [host_go(k) for k in list(host)])
