// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem: the shared memory BAR and its memory type.
 *
 * BAR2 is host RAM and wants write-back mappings.  On x86 the memory type
 * of a mapping is bounded by the MTRRs: PAT turns a write-back request for
 * a range they do not mark write-back into uncached-minus.  SeaBIOS marks
 * QEMU's 32-bit PCI hole uncached and puts every BAR that fits there, so
 * a shared memory of a common size would be mapped uncached-minus.  The
 * MTRRs leave the host bridge's 64-bit window alone, and BAR2 is a 64-bit
 * BAR: at probe, before anything maps it, the driver releases it and lets
 * the PCI core assign it afresh, which puts a 64-bit BAR above 4 GiB when
 * there is room.  The next probe finds it there and leaves it.
 *
 * What a write-back mapping gets is asked of PAT itself, with a short
 * kernel mapping made while nothing else maps the BAR.
 */
#include <linux/io.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/sizes.h>

#include <linux/ivshmem.h>

#include "bar.h"
#include "compat.h"

static bool move_bar = true;
module_param(move_bar, bool, 0444);
MODULE_PARM_DESC(move_bar,
		 "Move a shared memory BAR the MTRRs leave uncached above 4 GiB (default: on)");

#ifdef CONFIG_X86_PAT

/*
 * The cache mode bits, as a 4 KiB entry has them, that PAT gives a kernel
 * mapping of [start, start + size) in the mode asked for: map it, look at
 * the page table entry, unmap.  A huge entry keeps its PAT bit elsewhere
 * (and pte_flags() drops it), hence the raw bits.  -ENOMEM when PAT
 * refuses the mapping.
 */
static int ivshmem_probe_bits(resource_size_t start, resource_size_t size,
			      bool wc, pgprotval_t *bits)
{
	void __iomem *va = wc ? ioremap_wc(start, size) : ioremap_cache(start, size);
	unsigned int level;
	pgprotval_t raw;
	pte_t *pte;

	if (!va)
		return -ENOMEM;
	pte = lookup_address((__force unsigned long)va, &level);
	if (pte && level == PG_LEVEL_4K) {
		*bits = pte_val(*pte) & _PAGE_CACHE_MASK;
	} else if (pte) {
		raw = pte_val(*pte) & (_PAGE_PWT | _PAGE_PCD | _PAGE_PAT_LARGE);
		*bits = pgprot_val(pgprot_large_2_4k(__pgprot(raw)));
	}
	iounmap(va);
	return pte ? 0 : -ENOMEM;
}

/*
 * Whether someone else maps the range (a sysfs resource2 mapping, say):
 * PAT adjusts only write-back requests to the MTRRs, so a write-combining
 * request gets write-combining unless another mapping's type covers the
 * range.  The measure below would then read that mapping's type, and a
 * move would pull the BAR from under it.
 */
static bool ivshmem_mapped_elsewhere(resource_size_t start, resource_size_t size)
{
	pgprotval_t bits;

	if (!pat_enabled())
		return false;
	return ivshmem_probe_bits(start, size, true, &bits) ||
	       bits != cachemode2protval(_PAGE_CACHE_MODE_WC);
}

/* What a write-back mapping of the range gets, while nothing else maps it. */
static u32 ivshmem_wb_memtype(struct pci_dev *pdev, struct resource *res)
{
	pgprotval_t bits;

	if (!pat_enabled())
		return IVSHMEM_MEMTYPE_UNKNOWN;
	if (ivshmem_probe_bits(res->start, resource_size(res), false, &bits)) {
		pci_warn(pdev, "shared memory at %pR: cannot tell its memory type\n", res);
		return IVSHMEM_MEMTYPE_UNKNOWN;
	}
	if (bits == cachemode2protval(_PAGE_CACHE_MODE_WB))
		return IVSHMEM_MEMTYPE_WB;
	if (bits == cachemode2protval(_PAGE_CACHE_MODE_UC_MINUS))
		return IVSHMEM_MEMTYPE_UC_MINUS;
	return IVSHMEM_MEMTYPE_UNKNOWN;
}

/**
 * ivshmem_check_memtype() - refuse a mapping that did not get its mode.
 * @vma:        a mapping of BAR2 just made by io_remap_pfn_range(), with
 *              the cache mode asked for in @vma->vm_page_prot.
 * @wb_memtype: what a write-back request gets (ivshmem_place_shm()).
 *
 * PAT gives a new mapping the memory type of any mapping already covering
 * the range, whenever it counts that as safe: write-back over
 * write-combining, uncached over write-combining and the reverse.  The
 * caller would silently get a mode it did not ask for.  The page table
 * tells what was given: the mode asked for is always right; a write-back
 * request may also get uncached-minus, as the MTRRs make it, unless the
 * device is known to be write-back.
 *
 * Return: 0, or -EINVAL when the mapping has another memory type (the
 * caller fails mmap(), which undoes the mapping and its reservation).
 */
int ivshmem_check_memtype(struct vm_area_struct *vma, u32 wb_memtype)
{
	pgprotval_t want = pgprot_val(vma->vm_page_prot) & _PAGE_CACHE_MASK;
	pgprotval_t got;
	pgprot_t prot;

	if (!pat_enabled())
		return 0;
	if (ivshmem_pfnmap_prot(vma, vma->vm_start, &prot))
		return -EINVAL;
	got = pgprot_val(prot) & _PAGE_CACHE_MASK;
	if (got == want)
		return 0;
	if (want == cachemode2protval(_PAGE_CACHE_MODE_WB) &&
	    got == cachemode2protval(_PAGE_CACHE_MODE_UC_MINUS) &&
	    wb_memtype != IVSHMEM_MEMTYPE_WB)
		return 0;
	return -EINVAL;
}

#else /* !CONFIG_X86_PAT */

static bool ivshmem_mapped_elsewhere(resource_size_t start, resource_size_t size)
{
	return false;
}

static u32 ivshmem_wb_memtype(struct pci_dev *pdev, struct resource *res)
{
	return IVSHMEM_MEMTYPE_UNKNOWN;
}

int ivshmem_check_memtype(struct vm_area_struct *vma, u32 wb_memtype)
{
	return 0;
}

#endif /* CONFIG_X86_PAT */

/**
 * ivshmem_memtype_name() - a memory type as the kernel's PAT list names it.
 * @memtype: IVSHMEM_MEMTYPE_*.
 */
const char *ivshmem_memtype_name(u32 memtype)
{
	switch (memtype) {
	case IVSHMEM_MEMTYPE_WB:
		return "write-back";
	case IVSHMEM_MEMTYPE_UC_MINUS:
		return "uncached-minus";
	default:
		return "unknown";
	}
}

static bool ivshmem_bus_has_high_window(struct pci_bus *bus)
{
	struct resource *r;
	int i;

	pci_bus_for_each_resource(bus, r, i)
		if (r && (r->flags & IORESOURCE_MEM) &&
		    !(r->flags & IORESOURCE_UNSET) && (u64)r->end >= SZ_4G)
			return true;
	return false;
}

/**
 * struct ivshmem_why - why write-back could not be had, and the remedy.
 * @why: the reason, for "... uncached-minus because @why".
 * @fix: what to change, on the QEMU side where it lies there.
 */
struct ivshmem_why {
	const char *why;
	const char *fix;
};

static const struct ivshmem_why ivshmem_param_off = {
	"module parameter move_bar is off",
	"load the driver without move_bar=0",
};

static const struct ivshmem_why ivshmem_window_uncached = {
	"the MTRRs make the 64-bit window uncached too",
	"QEMU: boot the guest with SeaBIOS, whose MTRRs leave it write-back (OVMF's do not)",
};

static const struct ivshmem_why ivshmem_bar_32bit = {
	"it is a 32-bit BAR",
	"QEMU: use ivshmem-plain or ivshmem-doorbell, whose BAR2 is 64-bit",
};

static const struct ivshmem_why ivshmem_no_host_window = {
	"the host bridge has no memory window above 4 GiB",
	"QEMU: drop pci-hole64-size=0 or x-pci-hole64-fix=off from -global i440FX-pcihost (q35-pcihost on q35)",
};

static const struct ivshmem_why ivshmem_no_bridge_window = {
	"its PCI bridge has no memory window above 4 GiB",
	"QEMU: plug the device into the root bus, or give its bridge pref64-reserve=2G",
};

static const struct ivshmem_why ivshmem_bar_busy = {
	"its place is fixed or a part of it is claimed",
	"see /proc/iomem for what claims it",
};

static const struct ivshmem_why ivshmem_no_room = {
	"the memory window above 4 GiB has no room for it",
	"QEMU: a larger -global i440FX-pcihost.pci-hole64-size= (q35-pcihost on q35; pref64-reserve= of a bridge)",
};

/*
 * Release BAR2 and have the PCI core assign it again, which tries above
 * 4 GiB first for a 64-bit BAR.  Memory decoding is off meanwhile, so the
 * device never answers at an address that is no longer its own; BAR0 and
 * the MSI-X table keep their addresses.  Without room anywhere, BAR2 goes
 * back where it was (the registers still hold that address); with room
 * only below 4 GiB, the PCI core may give it another place there, which
 * the MTRRs may or may not leave write-back.
 */
static int ivshmem_move_shm(struct pci_dev *pdev)
{
	struct resource *res = &pdev->resource[IVSHMEM_BAR_SHM];
	resource_size_t old = res->start, size = resource_size(res);
	u16 cmd;
	int ret;

	pci_read_config_word(pdev, PCI_COMMAND, &cmd);
	pci_write_config_word(pdev, PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY);
	pci_release_resource(pdev, IVSHMEM_BAR_SHM);
	ret = pci_assign_resource(pdev, IVSHMEM_BAR_SHM);
	if (ret) {
		res->start = old;
		res->end = old + size - 1;
		res->flags &= ~IORESOURCE_UNSET;
		ret = pci_claim_resource(pdev, IVSHMEM_BAR_SHM);
	}
	/* Without a place, decoding stays off: the old one is someone's. */
	if (!ret)
		pci_write_config_word(pdev, PCI_COMMAND, cmd);
	return ret;
}

/**
 * ivshmem_place_shm() - give BAR2 a place where write-back is write-back.
 * @pdev:    the device, before this driver enables it or requests a BAR.
 * @memtype: set to what a write-back mapping of BAR2 gets
 *           (IVSHMEM_MEMTYPE_*).
 *
 * Moves BAR2 above 4 GiB when the MTRRs leave its range uncached, it sits
 * below 4 GiB, and the move_bar parameter allows it.  Without write-back
 * in the end, one warning says why and what to change.
 *
 * Return: 0, or a negative errno when BAR2 lost its place (it was
 * released, found no new one, and its old one was taken meanwhile).
 */
int ivshmem_place_shm(struct pci_dev *pdev, u32 *memtype)
{
	struct resource *res = &pdev->resource[IVSHMEM_BAR_SHM];
	const struct ivshmem_why *w;
	resource_size_t old;
	int ret;

	*memtype = IVSHMEM_MEMTYPE_UNKNOWN;
	if (!(res->flags & IORESOURCE_MEM) || !resource_size(res) || !res->parent)
		return 0;
	if (ivshmem_mapped_elsewhere(res->start, resource_size(res))) {
		pci_warn(pdev, "shared memory at %pR is mapped by someone else (a sysfs resource file?): left where it is, memory type unknown\n",
			 res);
		return 0;
	}
	*memtype = ivshmem_wb_memtype(pdev, res);
	if (*memtype != IVSHMEM_MEMTYPE_UC_MINUS)
		return 0;

	if (!move_bar) {
		w = &ivshmem_param_off;
	} else if ((u64)res->start >= SZ_4G) {
		w = &ivshmem_window_uncached;
	} else if (!(res->flags & IORESOURCE_MEM_64)) {
		w = &ivshmem_bar_32bit;
	} else if (res->child || (res->flags & IORESOURCE_PCI_FIXED)) {
		w = &ivshmem_bar_busy;
	} else if (!ivshmem_bus_has_high_window(pdev->bus)) {
		w = pci_is_root_bus(pdev->bus) ? &ivshmem_no_host_window :
						 &ivshmem_no_bridge_window;
	} else {
		old = res->start;
		ret = ivshmem_move_shm(pdev);
		if (ret) {
			pci_err(pdev, "shared memory lost its place: %d\n", ret);
			return ret;
		}
		*memtype = ivshmem_wb_memtype(pdev, res);
		if (res->start != old) {
			/* A later restore must not bring the old address back. */
			pci_save_state(pdev);
			pci_info(pdev, "shared memory moved from %pa to %pa%s\n",
				 &old, &res->start,
				 *memtype == IVSHMEM_MEMTYPE_WB ?
				 ", out of the range the MTRRs make uncached" : "");
		}
		w = (u64)res->start < SZ_4G ? &ivshmem_no_room :
					      &ivshmem_window_uncached;
	}
	if (*memtype == IVSHMEM_MEMTYPE_UC_MINUS)
		pci_warn(pdev, "shared memory at %pR: write-back mappings will be uncached-minus because %s; %s\n",
			 res, w->why, w->fix);
	return 0;
}
