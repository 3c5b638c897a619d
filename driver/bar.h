/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ivshmem: where the shared memory BAR sits, and the memory type that
 * mappings of it really get.  bar.c is built into ivshmem.ko and
 * uio_ivshmem.ko alike.
 */
#ifndef IVSHMEM_BAR_H
#define IVSHMEM_BAR_H

#include <linux/mm_types.h>
#include <linux/pci.h>
#include <linux/types.h>

#define IVSHMEM_BAR_REGS	0
#define IVSHMEM_BAR_SHM		2

int ivshmem_place_shm(struct pci_dev *pdev, u32 *memtype);
const char *ivshmem_memtype_name(u32 memtype);
int ivshmem_check_memtype(struct vm_area_struct *vma, u32 wb_memtype);

#endif /* IVSHMEM_BAR_H */
