/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pci.h - what sysfs tells of an ivshmem PCI function (pci.c), and the
 * layout of its registers
 *
 * Layer: PCI helpers, above handle.c, region.c and header.c, below the
 * backends.
 */
#ifndef IVSHMEM_PCI_H
#define IVSHMEM_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libivshmem.h"

/* Doorbell device registers (BAR0), 32 bits each. */
#define IVSHMEM_REG_INTR_MASK	0x00
#define IVSHMEM_REG_INTR_STATUS	0x04
#define IVSHMEM_REG_IV_POSITION	0x08
#define IVSHMEM_REG_DOORBELL	0x0c
#define IVSHMEM_REGS_SIZE	256

int ivshmem_read_sysfs(const char *dir, const char *name, char *buf, size_t len);
int ivshmem_read_sysfs_u64(const char *dir, const char *name, uint64_t *val);
bool ivshmem_pci_is_ivshmem(const char *pcidir);
int ivshmem_pci_bar_size(const char *pcidir, int bar, uint64_t *size);
int ivshmem_pci_msix_vectors(const char *pcidir);
int ivshmem_pci_regs_map(const char *pcidir, volatile uint32_t **regs);
void ivshmem_pci_regs_unmap(volatile uint32_t *regs);
int ivshmem_pci_driver(const char *pcidir, char *buf, size_t len);
/*
 * The directory of the function's class device in @class ("ivshmem",
 * "uio"), e.g. @pcidir/ivshmem/ivshmem0: 0, or -ENOENT.
 */
int ivshmem_pci_child(const char *pcidir, const char *class, char *buf, size_t len);
/*
 * A driver's memtype attribute in @dir ("write-back", "uncached-minus"):
 * IVSHMEM_MEM_UNKNOWN when it is missing or says anything else.
 */
enum ivshmem_memtype ivshmem_read_memtype(const char *dir);
/*
 * The region label of the function at @pcidir into @buf (@len bytes,
 * IVSHMEM_REGION_LABEL_MAX will do): the ivshmem driver's label attribute
 * of its class device, uio_ivshmem's of the PCI device, or, for a device
 * of no driver or another one, the region header read through resource2
 * (root).  "" when there is none or it cannot be read.
 */
void ivshmem_pci_label(const char *pcidir, char *buf, size_t len);

/*
 * What the kernel gives a mapping of a sysfs resource file (not _wc):
 * pgprot_device(), which x86 makes uncached-minus.
 */
#if defined(__x86_64__) || defined(__i386__)
#define IVSHMEM_RESOURCE_MEMTYPE	IVSHMEM_MEM_UC_MINUS
#else
#define IVSHMEM_RESOURCE_MEMTYPE	IVSHMEM_MEM_UNKNOWN
#endif

#endif /* IVSHMEM_PCI_H */
