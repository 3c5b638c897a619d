// SPDX-License-Identifier: GPL-2.0
/*
 * The uapi header on its own, as strict C99 (the Makefile builds this file
 * with -std=c99 -pedantic): structure layouts and ioctl numbers are part of
 * the ABI and must never change.  Plain C and kselftest.h-style output, no
 * harness, so that nothing else is included before the header.
 */
#include <linux/ivshmem.h>

#include <stddef.h>
#include <stdio.h>

static int n, fails;

static void result(int ok, const char *name)
{
	printf("%sok %d %s\n", ok ? "" : "not ", ++n, name);
	if (!ok)
		fails++;
}

#define CHECK(cond)	result((cond), #cond)

int main(void)
{
	printf("TAP version 13\n1..27\n");
	CHECK(IVSHMEM_ABI_VERSION == 2);
	CHECK(sizeof(struct ivshmem_info) == 48);
	CHECK(offsetof(struct ivshmem_info, size) == 0);
	CHECK(offsetof(struct ivshmem_info, flags) == 4);
	CHECK(offsetof(struct ivshmem_info, shm_size) == 8);
	CHECK(offsetof(struct ivshmem_info, vm_id) == 16);
	CHECK(offsetof(struct ivshmem_info, nr_vectors) == 20);
	CHECK(offsetof(struct ivshmem_info, revision) == 24);
	CHECK(offsetof(struct ivshmem_info, irq_mode) == 28);
	CHECK(offsetof(struct ivshmem_info, dev_flags) == 32);
	CHECK(offsetof(struct ivshmem_info, abi_version) == 36);
	CHECK(offsetof(struct ivshmem_info, memtype) == 40);
	CHECK(offsetof(struct ivshmem_info, reserved) == 44);
	CHECK(sizeof(struct ivshmem_ring) == 16);
	CHECK(sizeof(struct ivshmem_eventfd) == 16);
	CHECK(offsetof(struct ivshmem_eventfd, fd) == 4);
	CHECK(sizeof(struct ivshmem_cache) == 8);
	CHECK(sizeof(struct ivshmem_event) == 8);
	CHECK(IVSHMEM_IOCTL_INFO == 0xc0304a00u);
	CHECK(IVSHMEM_IOCTL_RING == 0x40104a01u);
	CHECK(IVSHMEM_IOCTL_BIND_EVENTFD == 0x40104a02u);
	CHECK(IVSHMEM_IOCTL_UNBIND_EVENTFD == 0x40104a03u);
	CHECK(IVSHMEM_IOCTL_SET_CACHE == 0x40084a04u);
	CHECK(IVSHMEM_PEER_MAX == 65535 && IVSHMEM_VECTOR_MAX == 255);
	CHECK(IVSHMEM_IRQ_MODE_NONE == 0 && IVSHMEM_IRQ_MODE_MSIX == 1);
	CHECK(IVSHMEM_CACHE_WB == 0 && IVSHMEM_CACHE_WC == 1 && IVSHMEM_CACHE_UC == 2);
	CHECK(IVSHMEM_DEV_DOORBELL == 1 && IVSHMEM_VM_ID_UNKNOWN == 0xffffffffu);
	printf("# Totals: pass:%d fail:%d\n", n - fails, fails);
	return fails ? 1 : 0;
}
