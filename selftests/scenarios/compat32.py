# SPDX-License-Identifier: GPL-2.0
"""32-bit programs on the 64-bit guest kernel: the kselftests of
selftests/compat32 (the driver's and uio_ivshmem's, built with gcc -m32)
reach both modules through the compat paths.  With ivshmem.ko: the uapi's
layout and ioctl numbers, every ioctl and its errors through
compat_ptr_ioctl, read() records and poll(), mmap() and the PAT types,
data to and from the host, interrupts rung to itself, and the fuzzer.
Then the devices move to uio_ivshmem: the maps, map 2's counters and
UIO events, from a 32-bit process."""
import os


def scenario(s):
    s.timeout = 300
    host = 'host-' + os.urandom(6).hex()
    guest = 'guest-' + os.urandom(6).hex()
    srv = s.server(vectors=4, size='1M')
    mem = s.memory('pl0', '1M')
    for m in (srv, mem):
        m.write(0, host.encode() + b'\0')
    a = s.guest('a', modules=['ivshmem'])
    a.doorbell(srv, vectors=4, id='db0')
    a.plain(mem=mem, id='pl0')
    a.run(r'''
export PATH=$PATH:/ksft/compat32
for p in ivshmem_abi_test ivshmem_test ivshmem_fuzz uio_ivshmem_test; do
	check_eq ${p}_is_32_bit "$(od -An -tx1 -j4 -N1 /ksft/compat32/$p | tr -d ' ')" 01
done
# A kernel built without IA32 emulation hands a 32-bit program to the shell.
check kernel_runs_32_bit_programs sh -c '/ksft/compat32/ivshmem_util 2>&1 | grep -q "^usage: ivshmem_util"'
ksft /ksft/compat32/ivshmem_abi_test
ksft env IVSHMEM_EXPECT_DEVICES=doorbell:1M:4:msix,plain:1M:0:none \
	IVSHMEM_HOST_TOKEN=%s IVSHMEM_GUEST_TOKEN=%s /ksft/compat32/ivshmem_test
hsync written
ksft env IVSHMEM_FUZZ_ITERS=3000 IVSHMEM_FUZZ_SECONDS=15 /ksft/compat32/ivshmem_fuzz
check pat_list_clean_after_the_fuzzer /ksft/compat32/ivshmem_util pat-clean
modprobe uio_ivshmem
for d in /sys/bus/pci/drivers/ivshmem/0000:*; do
	pci=$(basename $d)
	echo $pci > /sys/bus/pci/drivers/ivshmem/unbind
	echo $pci > /sys/bus/pci/drivers/uio_ivshmem/bind
done
check_eq both_on_uio "$(ls -d /sys/class/uio/uio* | wc -l)" 2
ksft /ksft/compat32/uio_ivshmem_test
''' % (host, guest))
    s.check_guest_token('written', guest, {'doorbell': srv, 'plain': mem},
                        who='the 32-bit test')
