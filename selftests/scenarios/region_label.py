# SPDX-License-Identifier: GPL-2.0
"""The label of the region header (uapi/linux/ivshmem_region.h) through
both drivers and the real udev.

Guest a has one plain device per case, each on a memory file of its own
whose header page the host writes before the guest boots: a good label
(with a presence table below the header page), no header, hostile labels
(slashes with and without "..", a lone "." and "..", 63 bytes, bytes
that are not UTF-8, a space and a newline, a literal "\\x2f"), UTF-8, and
headers that must give no label (no NUL in the 64 bytes, an empty label,
no label flag, a bad magic, version, region size or header size, a 4 KiB
region, too small for a header); an 8 KiB region is the smallest with
one.  One device has a name from the firmware (acpi-index=), which the
PCI core shows as its label attribute.

ivshmem.ko: each label attribute holds the label and a newline or nothing
(the kselftest checks the same, with what the scenario wrote), and the
shipped rules under systemd-udevd make /dev/ivshmem/by-name/ links with
the hostile names escaped, none for ".", ".." and the devices without a
label, and nothing anywhere else.  The host then renames the good region
in its header: the attribute keeps what probe read, until the devices go
to uio_ivshmem, whose region_label attributes and by-name links (to the
UIO nodes now) show the new name.  The debug kernel has no networking,
so no udev: its runs check the attributes only."""
import struct

MAGIC = 0x4e47524d48535649
PAGE = 4096
F_LABEL = 1
F_PRESENCE = 2
LABEL_OFF = 48          # offset of the label in the header


def header(size, label=b'', magic=MAGIC, version=1, header_size=PAGE, region_size=None,
           flags=F_LABEL, max_peers=0):
    """The first 128 bytes of a header page, as the uapi lays them out."""
    return struct.pack('<QIIQIIIIQ64s2Q', magic, version, header_size,
                       size if region_size is None else region_size, flags, 0,
                       max_peers, 0xffffffff, 0x5eed, label, 0, 0)


M = 1 << 20
# id, region size, header (None: none), label the drivers show (None:
# none), name of the by-name link udev makes (None: no link)
REGIONS = [
    ('good', M, dict(label=b'good-label', flags=F_LABEL | F_PRESENCE,
                     header_size=2 * PAGE, max_peers=16), b'good-label', b'good-label'),
    ('nohdr', M, None, None, None),
    ('slashes', M, dict(label=b'a/../../b'), b'a/../../b', b'a_.._.._b'),
    ('subdir', M, dict(label=b'sub/dir'), b'sub/dir', b'sub_dir'),
    ('dotdot', M, dict(label=b'..'), b'..', None),
    ('dot', M, dict(label=b'.'), b'.', None),
    ('long', M, dict(label=b'long-' + b'x' * 58), b'long-' + b'x' * 58,
     b'long-' + b'x' * 58),
    ('nonutf8', M, dict(label=b'bad\xff\xfename'), b'bad\xff\xfename', b'bad__name'),
    ('spacenl', M, dict(label=b'a b\nc'), b'a b\nc', b'a_b_c'),
    ('hexpair', M, dict(label=b'..\\x2f..'), b'..\\x2f..', b'..\\x2f..'),
    ('utf8', M, dict(label='gr\u00fc\u00dfe'.encode()), 'gr\u00fc\u00dfe'.encode(),
     'gr\u00fc\u00dfe'.encode()),
    ('nonul', M, dict(label=b'N' * 64), None, None),
    ('empty', M, dict(label=b''), None, None),
    ('noflag', M, dict(label=b'noflag', flags=F_PRESENCE, header_size=2 * PAGE,
                       max_peers=16), None, None),
    ('badmagic', M, dict(label=b'badmagic', magic=MAGIC ^ 1), None, None),
    ('badversion', M, dict(label=b'badversion', version=2), None, None),
    ('badregion', M, dict(label=b'badregion', region_size=2 * M), None, None),
    ('hdrzero', M, dict(label=b'hdrzero', header_size=0), None, None),
    ('hdrodd', M, dict(label=b'hdrodd', header_size=PAGE + 512), None, None),
    ('hdrwhole', M, dict(label=b'hdrwhole', header_size=M), None, None),
    ('tiny', PAGE, dict(label=b'tiny'), None, None),
    ('small', 2 * PAGE, dict(label=b'small'), b'small', b'small'),
    # The firmware names this slot (ACPI _DSM): the PCI core's own label
    # attribute is there, and uio_ivshmem's region_label beside it.
    ('acpi', M, dict(label=b'acpi-slot'), b'acpi-slot', b'acpi-slot'),
]
PROPS = {'acpi': ',acpi-index=7'}
RENAMED = b'renamed'
FIRST_SLOT = 3


def octal(data):
    """data as a printf format that prints exactly it."""
    return ''.join('\\%03o' % b for b in data)


def expect_labels(labels):
    """$IVSHMEM_EXPECT_LABELS: hex per device in PCI order, - for none."""
    return ','.join(lab.hex() if lab else '-' for lab in labels)


def scenario(s):
    s.timeout = 300
    a = s.guest('a', modules=['ivshmem'], udev=True)
    mems = {}
    for i, (rid, size, hdr, _, _) in enumerate(REGIONS):
        mem = s.memory(rid, size)
        mems[rid] = mem
        if hdr is not None:
            mem.write(size - PAGE, header(size, **hdr))
        a.plain(mem=mem, id=rid, props=',addr=0x%x%s' % (FIRST_SLOT + i, PROPS.get(rid, '')))

    # Helpers: the PCI function and the node of a case, a file in hex.
    a.run(r'''
bdf() { printf '0000:00:%02x.0' $(( FIRST_SLOT + $1 )); }
hexof() { od -An -tx1 -v "$1" | tr -d ' \n'; }
namehex() { printf %s "$1" | od -An -tx1 -v | tr -d ' \n'; }
links() {
	for f in /dev/ivshmem/by-name/* /dev/ivshmem/by-name/.[!.]* /dev/ivshmem/by-name/..?*; do
		[ -L "$f" ] && namehex "${f##*/}" && echo
	done | sort | tr '\n' ' '
}
has_udev=0; [ -d /proc/net ] && has_udev=1
'''.replace('FIRST_SLOT', str(FIRST_SLOT)))

    def phase(drv, labels):
        """Checks of the attributes and the links, with drv bound."""
        a.run('export IVSHMEM_EXPECT_LABELS=%s' % expect_labels(labels))
        if drv == 'ivshmem':
            a.run('ksft /ksft/ivshmem/ivshmem_test')
            node = 'n=$(ls /sys/bus/pci/devices/$(bdf %d)/ivshmem)'
            attr = '/sys/class/ivshmem/$n/label'
        else:
            a.run('ksft /ksft/uio/uio_ivshmem_test')
            node = 'n=$(ls /sys/bus/pci/devices/$(bdf %d)/uio)'
            attr = '/sys/bus/pci/devices/$(bdf %d)/region_label'
        for i, (rid, _, _, _, _) in enumerate(REGIONS):
            a.run(node % i)
            a.run('check_eq %s_%s_label "$(hexof %s)" "%s"'
                  % (drv, rid, attr.replace('%d', str(i)),
                     (labels[i] + b'\n').hex() if labels[i] else ''))
        a.run('if [ $has_udev = 1 ]; then')
        a.run('check %s_udev_add udev_add %s' % (drv, 'ivshmem' if drv == 'ivshmem' else 'uio'))
        names = []
        for i, (rid, _, _, _, link) in enumerate(REGIONS):
            if labels[i] == RENAMED:
                link = RENAMED
            if link is None:
                continue
            names.append(link.hex())
            a.run(node % i)
            a.run('check_eq %s_%s_by_name '
                  '"$(readlink -f "/dev/ivshmem/by-name/$(printf \'%s\')")" /dev/$n'
                  % (drv, rid, octal(link)))
        # The other links of the rule are still made.
        a.run(node % 0)
        a.run('check_eq %s_by_path_link "$(readlink -f /dev/ivshmem/by-path/pci-$(bdf 0)%s)" '
              '/dev/$n' % (drv, '' if drv == 'ivshmem' else '-uio'))
        a.run('check_eq %s_by_name_links_are_these "$(links)" "%s"'
              % (drv, ' '.join(sorted(names)) + ' '))
        a.run('check_eq %s_by_name_has_links_only '
              '"$(find /dev/ivshmem/by-name -mindepth 1 ! -type l)" ""' % drv)
        a.run("tail -n +$((udev_mark + 1)) /tmp/udevd.log | grep -ai 'by-name' | "
              "grep -ai 'fail' > /tmp/udev.fail; diag /tmp/udev.fail")
        a.run('check_eq %s_udev_made_every_link "$(cat /tmp/udev.fail)" ""' % drv)
        a.run('echo "# %s: by-name links:"; ls -lA /dev/ivshmem/by-name | sed "s/^/#   /"'
              % drv)
        a.run('else')
        a.run('skip %s_by_name_links "no networking in this kernel, so no udev"' % drv)
        a.run('fi')

    # ivshmem.ko
    a.run(r'''
find /dev ! -type c | sort > /tmp/dev.before
touch /tmp/stamp
udev_mark=0
if [ $has_udev = 1 ]; then
	check udevd_starts udev_start
fi
''')
    phase('ivshmem', [r[3] for r in REGIONS])
    a.run(r'''
if [ $has_udev = 1 ]; then
	n=$(ls /sys/bus/pci/devices/$(bdf 0)/ivshmem)
	check_eq char_group_and_mode "$(stat -c '%G %a' /dev/$n)" "ivshmem 660"
fi
''')

    # The host renames the good region: probe read the label, the
    # attribute keeps it while the memory says otherwise.
    good = REGIONS[0]
    s.at('rename', lambda: mems['good'].write(
        good[1] - PAGE, header(good[1], **dict(good[2], label=RENAMED))))
    a.run(r'''
hsync rename
n=$(ls /sys/bus/pci/devices/$(bdf 0)/ivshmem)
check_eq memory_has_the_new_label "$(/ksft/ivshmem/ivshmem_util read $n %d 16)" %s
check_eq ivshmem_label_read_at_probe "$(cat /sys/class/ivshmem/$n/label)" %s
''' % (good[1] - PAGE + LABEL_OFF, RENAMED.decode(), good[3].decode()))

    # uio_ivshmem: the links of the char devices go with them.
    a.run(r'''
[ $has_udev = 1 ] && udev_mark=$(wc -l < /tmp/udevd.log)
check unload_ivshmem rmmod ivshmem
if [ $has_udev = 1 ]; then
	udevadm settle --timeout=120
	check_eq by_name_empty_without_devices "$(ls /dev/ivshmem/by-name 2>/dev/null)" ""
fi
check load_uio_ivshmem modprobe uio_ivshmem
''')
    phase('uio', [RENAMED] + [r[3] for r in REGIONS[1:]])
    a.run('check firmware_label_beside_region_label test -e /sys/bus/pci/devices/$(bdf %d)/label'
          % [r[0] for r in REGIONS].index('acpi'))

    # Nothing but links and their directories under /dev/ivshmem and
    # /dev/char (the nodes are the kernel's), nothing on the root file
    # system but udev's own state (mount points show the mtime of what is
    # mounted there).
    a.run(r'''
if [ $has_udev = 1 ]; then
	check udevd_stops udev_stop
	find /dev ! -type c | sort > /tmp/dev.after
	grep -vxFf /tmp/dev.before /tmp/dev.after > /tmp/dev.new
	grep -vE '^/dev/(ivshmem(/by-(name|path))?|char)(/[^/]+)?$' /tmp/dev.new > /tmp/dev.odd
	diag /tmp/dev.odd
	check_eq nothing_new_in_dev_but_links "$(cat /tmp/dev.odd)" ""
	find / -xdev -newer /tmp/stamp | grep -vxE '/(dev|proc|sys|tmp)|/run(/udev(/.*)?)?' \
		> /tmp/root.odd
	diag /tmp/root.odd
	check_eq nothing_new_on_the_root_fs "$(cat /tmp/root.odd)" ""
fi
''')
