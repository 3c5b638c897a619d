// SPDX-License-Identifier: GPL-2.0
/*
 * Compile-time check of the ivshmem ABI: sizes and offsets that must never
 * change, identical for 32-bit and 64-bit userspace.  Built by
 * "make check" with -Wpadded, so an implicit hole is an error too.
 */
#include <stddef.h>
#include <linux/ivshmem.h>
#include <linux/ivshmem_region.h>

#define ABI_ASSERT(name, cond) typedef char abi_##name[(cond) ? 1 : -1]

ABI_ASSERT(info_size, sizeof(struct ivshmem_info) == 48);
ABI_ASSERT(info_shm_size, offsetof(struct ivshmem_info, shm_size) == 8);
ABI_ASSERT(info_vm_id, offsetof(struct ivshmem_info, vm_id) == 16);
ABI_ASSERT(info_abi, offsetof(struct ivshmem_info, abi_version) == 36);
ABI_ASSERT(ring_size, sizeof(struct ivshmem_ring) == 16);
ABI_ASSERT(eventfd_size, sizeof(struct ivshmem_eventfd) == 16);
ABI_ASSERT(eventfd_fd, offsetof(struct ivshmem_eventfd, fd) == 4);
ABI_ASSERT(cache_size, sizeof(struct ivshmem_cache) == 8);
ABI_ASSERT(event_size, sizeof(struct ivshmem_event) == 8);
ABI_ASSERT(info_nr, IVSHMEM_IOCTL_INFO == 0xc0304a00u);
ABI_ASSERT(ring_nr, IVSHMEM_IOCTL_RING == 0x40104a01u);
ABI_ASSERT(bind_nr, IVSHMEM_IOCTL_BIND_EVENTFD == 0x40104a02u);
ABI_ASSERT(unbind_nr, IVSHMEM_IOCTL_UNBIND_EVENTFD == 0x40104a03u);
ABI_ASSERT(cache_nr, IVSHMEM_IOCTL_SET_CACHE == 0x40084a04u);

/* The region header lives in shared memory: its layout is fixed too. */
ABI_ASSERT(region_header_size, sizeof(struct ivshmem_region_header) == 128);
ABI_ASSERT(region_generation, offsetof(struct ivshmem_region_header, generation) == 28);
ABI_ASSERT(region_instance, offsetof(struct ivshmem_region_header, instance) == 40);
ABI_ASSERT(region_label, offsetof(struct ivshmem_region_header, label) == 48);
ABI_ASSERT(region_peer_size, sizeof(struct ivshmem_region_peer) == 8);
