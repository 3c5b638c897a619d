/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ivshmem: the label of the region header (uapi/linux/ivshmem_region.h),
 * read once at probe.  label.c is built into ivshmem.ko and
 * uio_ivshmem.ko alike.
 */
#ifndef IVSHMEM_LABEL_H
#define IVSHMEM_LABEL_H

#include <linux/pci.h>
#include <linux/types.h>

#include <linux/ivshmem_region.h>

bool ivshmem_region_label(const struct ivshmem_region_header *hdr,
			  u64 shm_size, char *label);
void ivshmem_read_label(struct pci_dev *pdev, char *label);

#endif /* IVSHMEM_LABEL_H */
