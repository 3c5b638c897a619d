/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ivshmem: the differences between the kernels the driver builds for.
 * Each helper is named after what it does and says which version changed.
 * The IVSHMEM_* switches come from Kbuild, which looks for the interface
 * in the kernel's headers.
 */
#ifndef IVSHMEM_COMPAT_H
#define IVSHMEM_COMPAT_H

#include <linux/err.h>
#include <linux/eventfd.h>
#include <linux/mm.h>
#include <linux/pci.h>

/* 6.8 dropped the count argument of eventfd_signal(): it always adds 1. */
static inline void ivshmem_eventfd_signal(struct eventfd_ctx *ctx)
{
#ifdef IVSHMEM_EVENTFD_SIGNAL_NO_COUNT
	eventfd_signal(ctx);
#else
	eventfd_signal(ctx, 1);
#endif
}

/*
 * Request and map one BAR for the lifetime of the binding; an ERR_PTR on
 * failure.  6.11 added pcim_iomap_region() and deprecated the
 * pcim_iomap_regions()/pcim_iomap_table() pair that 6.1 has.
 */
static inline void __iomem *ivshmem_iomap_bar(struct pci_dev *pdev, int bar,
					      const char *name)
{
#ifdef IVSHMEM_HAVE_PCIM_IOMAP_REGION
	return pcim_iomap_region(pdev, bar, name);
#else
	int ret = pcim_iomap_regions(pdev, BIT(bar), name);

	if (ret)
		return IOMEM_ERR_PTR(ret);
	return pcim_iomap_table(pdev)[bar];
#endif
}

/*
 * Reserve one BAR without mapping it, for the lifetime of the binding.
 * 6.11 added pcim_request_region(); before it, pci_request_region() on a
 * device enabled with pcim_enable_device() is released by devres too.
 */
static inline int ivshmem_request_bar(struct pci_dev *pdev, int bar,
				      const char *name)
{
#ifdef IVSHMEM_HAVE_PCIM_REQUEST_REGION
	return pcim_request_region(pdev, bar, name);
#else
	return pci_request_region(pdev, bar, name);
#endif
}

/*
 * Add flags to a mapping being made.  6.3 made vm_flags read-only and
 * added vm_flags_set().
 */
static inline void ivshmem_vma_set_flags(struct vm_area_struct *vma,
					 vm_flags_t flags)
{
#ifdef IVSHMEM_HAVE_VM_FLAGS_SET
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

/*
 * The page protection of the page table entry that maps @addr in a
 * VM_PFNMAP mapping; the caller holds the mmap lock.  6.10 made
 * follow_pte() take the mapping instead of the mm, and 6.12 replaced it
 * with follow_pfnmap_start() and follow_pfnmap_end().
 */
static inline int ivshmem_pfnmap_prot(struct vm_area_struct *vma,
				      unsigned long addr, pgprot_t *prot)
{
#ifdef IVSHMEM_HAVE_FOLLOW_PFNMAP
	struct follow_pfnmap_args args = { .vma = vma, .address = addr };
	int ret = follow_pfnmap_start(&args);

	if (ret)
		return ret;
	*prot = args.pgprot;
	follow_pfnmap_end(&args);
	return 0;
#else
	spinlock_t *ptl;	/* the page table's, taken by follow_pte() */
	pte_t *ptep;
	int ret;

#ifdef IVSHMEM_FOLLOW_PTE_TAKES_VMA
	ret = follow_pte(vma, addr, &ptep, &ptl);
#else
	ret = follow_pte(vma->vm_mm, addr, &ptep, &ptl);
#endif
	if (ret)
		return ret;
	__acquire(ptl);		/* for sparse: follow_pte() took it */
	*prot = pte_pgprot(ptep_get(ptep));
	pte_unmap_unlock(ptep, ptl);
	return 0;
#endif
}

#endif /* IVSHMEM_COMPAT_H */
