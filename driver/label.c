// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem: the label of the region header.
 *
 * The header (uapi/linux/ivshmem_region.h) is opt-in and lies in the last
 * page of the shared memory, where every peer can write.  Whoever creates
 * the memory writes the label before any guest starts (the server, or a
 * host tool for a plain region's file), so probe reads it once: it copies
 * the start of the header page out, checks the copy, and keeps the label
 * for as long as the driver is bound, whatever peers write later.
 */
#include <linux/build_bug.h>
#include <linux/io.h>
#include <linux/string.h>

#include "bar.h"
#include "label.h"

/**
 * ivshmem_region_label() - the label of a region header, if it is valid.
 * @hdr:      a copy of the start of the header page, out of the reach of
 *            peers.
 * @shm_size: size of the shared memory (BAR2) in bytes.
 * @label:    IVSHMEM_REGION_LABEL_MAX bytes: set to the label and its NUL,
 *            or to "" when @hdr has none.
 *
 * The header counts only when every field the label depends on is right:
 * the magic, the version, a @header_size of whole pages that leaves some
 * memory below it, a @region_size that is the size of this region, the
 * IVSHMEM_REGION_F_LABEL flag, and a label of 1 to 63 bytes followed by a
 * NUL within its 64 bytes.  The presence table's fields play no part.
 * The label's bytes are taken as they are: any byte but NUL.  A shared
 * memory smaller than two pages has no header.
 *
 * Return: true when @label was set to a label.
 */
bool ivshmem_region_label(const struct ivshmem_region_header *hdr,
			  u64 shm_size, char *label)
{
	u32 header_size = le32_to_cpu(hdr->header_size);

	label[0] = '\0';
	if (shm_size < 2 * IVSHMEM_REGION_PAGE)
		return false;
	if (le64_to_cpu(hdr->magic) != IVSHMEM_REGION_MAGIC ||
	    le32_to_cpu(hdr->version) != IVSHMEM_REGION_VERSION)
		return false;
	if (header_size < IVSHMEM_REGION_PAGE || header_size >= shm_size ||
	    header_size % IVSHMEM_REGION_PAGE ||
	    le64_to_cpu(hdr->region_size) != shm_size)
		return false;
	if (!(le32_to_cpu(hdr->flags) & IVSHMEM_REGION_F_LABEL))
		return false;
	if (!hdr->label[0] || !memchr(hdr->label, '\0', sizeof(hdr->label)))
		return false;
	strscpy(label, (const char *)hdr->label, IVSHMEM_REGION_LABEL_MAX);
	return true;
}

/**
 * ivshmem_read_label() - read the region header's label, once, at probe.
 * @pdev:  the device, enabled, with BAR2 in its final place and requested.
 * @label: IVSHMEM_REGION_LABEL_MAX bytes: set to the label, or to "" when
 *         the region has no valid header with a label.
 *
 * The start of the header page is mapped the way bar.c measures the
 * memory type of BAR2: ioremap_cache(), a write-back request, which PAT
 * turns into whatever type the range allows (uncached-minus where the
 * MTRRs make it uncached, or the type of a mapping already there, such as
 * a sysfs resource2 mapping), so it never conflicts with one.  It is
 * copied out and unmapped at once: no kernel mapping of BAR2 outlives
 * this call to fix the memory type of the user mappings to come.
 */
void ivshmem_read_label(struct pci_dev *pdev, char *label)
{
	resource_size_t start = pci_resource_start(pdev, IVSHMEM_BAR_SHM);
	resource_size_t size = pci_resource_len(pdev, IVSHMEM_BAR_SHM);
	struct ivshmem_region_header hdr;
	void __iomem *va;

	BUILD_BUG_ON(sizeof(hdr) != 128);
	label[0] = '\0';
	if (size < 2 * IVSHMEM_REGION_PAGE)
		return;
	va = ioremap_cache(start + size - IVSHMEM_REGION_PAGE, sizeof(hdr));
	if (!va) {
		pci_notice(pdev, "cannot map the region header: no label\n");
		return;
	}
	memcpy_fromio(&hdr, va, sizeof(hdr));
	iounmap(va);
	ivshmem_region_label(&hdr, size, label);
}
