// SPDX-License-Identifier: GPL-2.0
/*
 * uio_ivshmem: QEMU's ivshmem device (PCI 1af4:1110) through UIO, for
 * applications built on /dev/uioN.
 *
 * Map 0 is the registers (BAR0, uncached), map 1 the shared memory (BAR2,
 * write-back: it is host RAM).  UIO has a single interrupt source, so an
 * interrupt on any MSI-X vector counts as one UIO event; applications that
 * need to tell vectors apart use ivshmem.ko instead.  Plain devices, and
 * doorbell devices whose MSI-X cannot be enabled, have no interrupt.
 */
#include <linux/interrupt.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/uio_driver.h>

#include "compat.h"
#include "ivshmem_dev.h"

#define UIO_IVSHMEM_NAME	"uio_ivshmem"
#define UIO_IVSHMEM_MAP_REGS	0
#define UIO_IVSHMEM_MAP_SHM	1

struct uio_ivshmem {
	struct uio_info info;
	struct pci_dev *pdev;
	int nr_irqs;
};

static irqreturn_t uio_ivshmem_irq(int irq, void *data)
{
	uio_event_notify(data);
	return IRQ_HANDLED;
}

/* UIO maps everything uncached; the shared memory wants write-back. */
static int uio_ivshmem_mmap(struct uio_info *info, struct vm_area_struct *vma)
{
	struct uio_mem *mem = &info->mem[vma->vm_pgoff];

	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	/* UIO has checked the map index (vm_pgoff) and the length. */
	if (vma->vm_pgoff != UIO_IVSHMEM_MAP_SHM)
		vma->vm_page_prot = pgprot_noncached(vma->vm_page_prot);
	return io_remap_pfn_range(vma, vma->vm_start, mem->addr >> PAGE_SHIFT,
				  vma->vm_end - vma->vm_start,
				  vma->vm_page_prot);
}

static void uio_ivshmem_free_irqs(struct uio_ivshmem *u)
{
	while (u->nr_irqs--)
		free_irq(pci_irq_vector(u->pdev, u->nr_irqs), &u->info);
	pci_free_irq_vectors(u->pdev);
}

/* Every vector, or none: the device still maps without interrupts. */
static int uio_ivshmem_setup_irqs(struct uio_ivshmem *u)
{
	int nvec, ret;

	u->info.irq = UIO_IRQ_NONE;
	nvec = pci_msix_vec_count(u->pdev);
	if (nvec <= 0)
		return 0;
	nvec = pci_alloc_irq_vectors(u->pdev, 1, nvec, PCI_IRQ_MSIX);
	if (nvec < 0) {
		dev_notice(&u->pdev->dev, "MSI-X unavailable (%d): no interrupts\n",
			   nvec);
		return 0;
	}
	for (u->nr_irqs = 0; u->nr_irqs < nvec; u->nr_irqs++) {
		ret = request_irq(pci_irq_vector(u->pdev, u->nr_irqs),
				  uio_ivshmem_irq, 0, UIO_IVSHMEM_NAME, &u->info);
		if (ret) {
			uio_ivshmem_free_irqs(u);
			return ret;
		}
	}
	u->info.irq = UIO_IRQ_CUSTOM;
	return 0;
}

static void uio_ivshmem_set_map(struct uio_ivshmem *u, int map, int bar,
				const char *name)
{
	u->info.mem[map].name = name;
	u->info.mem[map].memtype = UIO_MEM_PHYS;
	u->info.mem[map].addr = pci_resource_start(u->pdev, bar);
	u->info.mem[map].size = pci_resource_len(u->pdev, bar);
}

static int uio_ivshmem_probe(struct pci_dev *pdev,
			     const struct pci_device_id *id)
{
	struct uio_ivshmem *u;
	int ret;

	u = devm_kzalloc(&pdev->dev, sizeof(*u), GFP_KERNEL);
	if (!u)
		return -ENOMEM;
	u->pdev = pdev;

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	ret = ivshmem_request_bar(pdev, IVSHMEM_BAR_REGS, UIO_IVSHMEM_NAME);
	if (ret)
		return ret;
	ret = ivshmem_request_bar(pdev, IVSHMEM_BAR_SHM, UIO_IVSHMEM_NAME);
	if (ret)
		return ret;
	pci_set_master(pdev);

	u->info.name = UIO_IVSHMEM_NAME;
	u->info.version = "1";
	u->info.mmap = uio_ivshmem_mmap;
	uio_ivshmem_set_map(u, UIO_IVSHMEM_MAP_REGS, IVSHMEM_BAR_REGS,
			    "registers");
	uio_ivshmem_set_map(u, UIO_IVSHMEM_MAP_SHM, IVSHMEM_BAR_SHM, "shmem");

	ret = uio_ivshmem_setup_irqs(u);
	if (ret)
		return ret;

	ret = uio_register_device(&pdev->dev, &u->info);
	if (ret) {
		uio_ivshmem_free_irqs(u);
		return ret;
	}
	pci_set_drvdata(pdev, u);
	return 0;
}

/* Interrupts stop before UIO forgets the device, so none reaches it late. */
static void uio_ivshmem_remove(struct pci_dev *pdev)
{
	struct uio_ivshmem *u = pci_get_drvdata(pdev);

	uio_ivshmem_free_irqs(u);
	uio_unregister_device(&u->info);
}

static const struct pci_device_id uio_ivshmem_ids[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_REDHAT_QUMRANET, 0x1110) },
	{ }
};
MODULE_DEVICE_TABLE(pci, uio_ivshmem_ids);

static struct pci_driver uio_ivshmem_driver = {
	.name = UIO_IVSHMEM_NAME,
	.id_table = uio_ivshmem_ids,
	.probe = uio_ivshmem_probe,
	.remove = uio_ivshmem_remove,
};
module_pci_driver(uio_ivshmem_driver);

MODULE_DESCRIPTION("QEMU ivshmem device through UIO");
MODULE_LICENSE("GPL");
