// SPDX-License-Identifier: GPL-2.0
/*
 * uio_ivshmem: QEMU's ivshmem device (PCI 1af4:1110) through UIO, for
 * applications built on /dev/uioN.
 *
 * Map 0 is the registers (BAR0, uncached), map 1 the shared memory (BAR2,
 * write-back: it is host RAM; probe moves BAR2 out of a range the MTRRs
 * leave uncached, as ivshmem.ko does, and the PCI device's memtype
 * attribute says what the mapping really gets).  Doorbell devices have every MSI-X vector
 * wired to the one UIO interrupt source, and a map 2: a read-only page of
 * 64-bit counters, one per vector, each counting that vector's interrupts
 * since probe, written before the UIO event is raised.  Userspace tells
 * the vectors apart by comparing the counters after each event.  Writing
 * 0 or 1 to /dev/uioN holds back or lets through the UIO events (what
 * arrived meanwhile is reported once on 1), as other UIO drivers mask and
 * unmask their interrupt; the counters count on.  Plain devices, and
 * doorbell devices whose MSI-X cannot be enabled, have no interrupt and
 * no map 2.
 *
 * On removal every mapping of a BAR is torn down, so a process that
 * touches one afterwards gets SIGBUS rather than a BAR that may belong to
 * some other device by then; map 2 stays readable with the counts as they
 * were (it is memory of ours, and libraries look at it to tell vectors
 * apart); read(), poll() and write() fail as UIO makes them.
 */
#include <linux/interrupt.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uio_driver.h>

#include <linux/ivshmem.h>

#include "bar.h"
#include "compat.h"

#define UIO_IVSHMEM_NAME	"uio_ivshmem"
#define UIO_IVSHMEM_MAP_REGS	0
#define UIO_IVSHMEM_MAP_SHM	1
#define UIO_IVSHMEM_MAP_COUNTS	2
/* The counters fill one page at most; QEMU can ring only vectors 0-255. */
#define UIO_IVSHMEM_MAX_VECTORS	(PAGE_SIZE / sizeof(u64))

struct uio_ivshmem;

/**
 * struct uio_ivshmem_vector - one MSI-X vector with a handler.
 * @u:     the device.
 * @index: vector number, and index of its counter in map 2.
 * @name:  interrupt name shown in /proc/interrupts.
 */
struct uio_ivshmem_vector {
	struct uio_ivshmem *u;
	unsigned int index;
	char name[32];
};

/**
 * struct uio_ivshmem_inode - a device node through which the device is
 * mapped, held until removal so that its mappings can be torn down.
 * @node:    entry in &struct uio_ivshmem.inodes.
 * @mapping: the address space the node's mappings are in; its host inode
 *           is referenced with ihold().
 */
struct uio_ivshmem_inode {
	struct list_head node;
	struct address_space *mapping;
};

/**
 * struct uio_ivshmem - one ivshmem PCI function bound to this driver.
 * @info:        the UIO device.
 * @pdev:        the PCI function.
 * @memtype:     IVSHMEM_MEMTYPE_* that mappings of map 1 get.
 * @nr_irqs:     vectors with a handler, 0 without interrupts.
 * @vectors:     @nr_irqs entries.
 * @counts_page: map 2, one u64 per vector; every mapping of it holds a
 *               reference as well, so it outlives removal until they
 *               are gone.
 * @counts:      @counts_page in the kernel's address space.
 * @lock:        protects @muted and @missed; taken in hard IRQ.
 * @muted:       userspace wrote 0: interrupts are counted, not reported.
 * @missed:      an interrupt came while @muted.
 * @maps_lock:   protects @inodes and @removed; held through mmap() so that
 *               removal waits for a mapping being made.
 * @inodes:      &struct uio_ivshmem_inode list.
 * @removed:     the mappings are gone and no more may be made.
 */
struct uio_ivshmem {
	struct uio_info info;
	struct pci_dev *pdev;
	u32 memtype;
	unsigned int nr_irqs;
	struct uio_ivshmem_vector *vectors;
	struct page *counts_page;
	u64 *counts;
	spinlock_t lock;		/* muted, missed */
	bool muted;
	bool missed;
	struct mutex maps_lock;		/* inodes, removed, mmap() */
	struct list_head inodes;
	bool removed;
};

static irqreturn_t uio_ivshmem_irq(int irq, void *data)
{
	struct uio_ivshmem_vector *vec = data;
	struct uio_ivshmem *u = vec->u;
	bool report;

	/* A vector's handler never runs on two CPUs at once. */
	WRITE_ONCE(u->counts[vec->index], u->counts[vec->index] + 1);
	spin_lock(&u->lock);
	report = !u->muted;
	if (!report)
		u->missed = true;
	spin_unlock(&u->lock);
	if (report) {
		/* Whoever sees the event sees the count that caused it. */
		smp_wmb();
		uio_event_notify(&u->info);
	}
	return IRQ_HANDLED;
}

/* UIO calls this for a 4-byte write(), while the device is registered. */
static int uio_ivshmem_irqcontrol(struct uio_info *info, s32 on)
{
	struct uio_ivshmem *u = container_of(info, struct uio_ivshmem, info);
	bool replay;

	if (on != 0 && on != 1)
		return -EINVAL;
	spin_lock_irq(&u->lock);
	u->muted = !on;
	replay = on && u->missed;
	if (on)
		u->missed = false;
	spin_unlock_irq(&u->lock);
	if (replay)
		uio_event_notify(info);
	return 0;
}

/* Map 2 stays read-only: the counters are shared by every process. */
static int uio_ivshmem_counts_mprotect(struct vm_area_struct *vma,
				       unsigned long start, unsigned long end,
				       unsigned long newflags)
{
	return newflags & VM_WRITE ? -EACCES : 0;
}

/*
 * Without vm_ops a mapping would count as anonymous, and a fault after
 * removal would give it anonymous pages; with them it gets SIGBUS.
 */
static const struct vm_operations_struct uio_ivshmem_bar_vm_ops = {
#ifdef CONFIG_HAVE_IOREMAP_PROT
	.access = generic_access_phys,
#endif
};

/*
 * A mapping of map 2 holds a reference to the counters' page in
 * vm_private_data and faults it in: after removal has zapped the page
 * tables along with the BARs', the next read finds the page again.
 */
static vm_fault_t uio_ivshmem_counts_fault(struct vm_fault *vmf)
{
	struct page *page = vmf->vma->vm_private_data;

	if (vmf->pgoff != UIO_IVSHMEM_MAP_COUNTS)
		return VM_FAULT_SIGBUS;
	get_page(page);
	vmf->page = page;
	return 0;
}

static void uio_ivshmem_counts_open(struct vm_area_struct *vma)
{
	get_page(vma->vm_private_data);
}

static void uio_ivshmem_counts_close(struct vm_area_struct *vma)
{
	put_page(vma->vm_private_data);
}

static const struct vm_operations_struct uio_ivshmem_counts_vm_ops = {
	.open = uio_ivshmem_counts_open,
	.close = uio_ivshmem_counts_close,
	.fault = uio_ivshmem_counts_fault,
	.mprotect = uio_ivshmem_counts_mprotect,
};

/*
 * Remember the node a mapping comes through, to tear it down on removal.
 * Called with @maps_lock held.
 */
static int uio_ivshmem_track(struct uio_ivshmem *u,
			     struct address_space *mapping)
{
	struct uio_ivshmem_inode *t;

	list_for_each_entry(t, &u->inodes, node)
		if (t->mapping == mapping)
			return 0;
	t = kmalloc(sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	ihold(mapping->host);
	t->mapping = mapping;
	list_add(&t->node, &u->inodes);
	return 0;
}

/*
 * Before UIO wakes its readers with an error: whoever learns of the
 * removal finds the mappings gone.  Children forked meanwhile are covered,
 * their mappings follow their parent's in the node's tree.
 */
static void uio_ivshmem_zap(struct uio_ivshmem *u)
{
	struct uio_ivshmem_inode *t, *next;

	mutex_lock(&u->maps_lock);
	u->removed = true;
	list_for_each_entry_safe(t, next, &u->inodes, node) {
		unmap_mapping_range(t->mapping, 0, 0, 1);
		iput(t->mapping->host);
		list_del(&t->node);
		kfree(t);
	}
	mutex_unlock(&u->maps_lock);
}

/*
 * UIO has checked the map index (vm_pgoff) and the length.  UIO would map
 * everything uncached; the shared memory wants write-back.
 */
static int uio_ivshmem_mmap(struct uio_info *info, struct vm_area_struct *vma)
{
	struct uio_ivshmem *u = container_of(info, struct uio_ivshmem, info);
	struct uio_mem *mem = &info->mem[vma->vm_pgoff];
	int ret;

	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff == UIO_IVSHMEM_MAP_COUNTS && vma->vm_flags & VM_WRITE)
		return -EACCES;

	mutex_lock(&u->maps_lock);
	ret = u->removed ? -ENODEV : uio_ivshmem_track(u, vma->vm_file->f_mapping);
	if (ret)
		goto out;
	if (vma->vm_pgoff == UIO_IVSHMEM_MAP_COUNTS) {
		/*
		 * Never merged with a neighbouring mapping of the same file
		 * (6.12 would otherwise extend it over maps 0 and 1 without
		 * asking us) nor grown by mremap().
		 */
		ivshmem_vma_set_flags(vma, VM_DONTEXPAND | VM_DONTDUMP);
		get_page(u->counts_page);
		vma->vm_private_data = u->counts_page;
		vma->vm_ops = &uio_ivshmem_counts_vm_ops;
		goto out;
	}
	vma->vm_ops = &uio_ivshmem_bar_vm_ops;
	if (vma->vm_pgoff == UIO_IVSHMEM_MAP_REGS)
		vma->vm_page_prot = pgprot_noncached(vma->vm_page_prot);
	ret = io_remap_pfn_range(vma, vma->vm_start, mem->addr >> PAGE_SHIFT,
				 vma->vm_end - vma->vm_start, vma->vm_page_prot);
	if (!ret && vma->vm_pgoff == UIO_IVSHMEM_MAP_SHM)
		ret = ivshmem_check_memtype(vma, u->memtype);
out:
	mutex_unlock(&u->maps_lock);
	return ret;
}

static void uio_ivshmem_free_irqs(struct uio_ivshmem *u)
{
	while (u->nr_irqs--)
		free_irq(pci_irq_vector(u->pdev, u->nr_irqs),
			 &u->vectors[u->nr_irqs]);
	u->nr_irqs = 0;
	pci_free_irq_vectors(u->pdev);
}

/* Every vector, or none: the device still maps without interrupts. */
static int uio_ivshmem_setup_irqs(struct uio_ivshmem *u)
{
	struct uio_ivshmem_vector *vec;
	int nvec, ret;

	nvec = pci_msix_vec_count(u->pdev);
	if (nvec <= 0)
		return 0;
	nvec = min_t(int, nvec, UIO_IVSHMEM_MAX_VECTORS);
	u->vectors = devm_kcalloc(&u->pdev->dev, nvec, sizeof(*u->vectors),
				  GFP_KERNEL);
	if (!u->vectors)
		return -ENOMEM;
	nvec = pci_alloc_irq_vectors(u->pdev, 1, nvec, PCI_IRQ_MSIX);
	if (nvec < 0) {
		dev_notice(&u->pdev->dev, "MSI-X unavailable (%d): no interrupts\n",
			   nvec);
		return 0;
	}
	for (u->nr_irqs = 0; u->nr_irqs < nvec; u->nr_irqs++) {
		vec = &u->vectors[u->nr_irqs];
		vec->u = u;
		vec->index = u->nr_irqs;
		snprintf(vec->name, sizeof(vec->name), "%s[%s]-%u",
			 UIO_IVSHMEM_NAME, pci_name(u->pdev), vec->index);
		ret = request_irq(pci_irq_vector(u->pdev, vec->index),
				  uio_ivshmem_irq, 0, vec->name, vec);
		if (ret) {
			uio_ivshmem_free_irqs(u);
			return ret;
		}
	}
	u->info.irq = UIO_IRQ_CUSTOM;
	u->info.irqcontrol = uio_ivshmem_irqcontrol;
	u->info.mem[UIO_IVSHMEM_MAP_COUNTS].name = "vectors";
	/* No address to show: it is kernel memory. */
	u->info.mem[UIO_IVSHMEM_MAP_COUNTS].memtype = UIO_MEM_LOGICAL;
	u->info.mem[UIO_IVSHMEM_MAP_COUNTS].size = nvec * sizeof(u64);
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
	spin_lock_init(&u->lock);
	mutex_init(&u->maps_lock);
	INIT_LIST_HEAD(&u->inodes);

	/* Before anything enables, requests or maps a BAR. */
	ret = ivshmem_place_shm(pdev, &u->memtype);
	if (ret)
		return ret;

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

	u->counts_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!u->counts_page)
		return -ENOMEM;
	u->counts = page_address(u->counts_page);

	u->info.name = UIO_IVSHMEM_NAME;
	u->info.version = "2";
	u->info.mmap = uio_ivshmem_mmap;
	uio_ivshmem_set_map(u, UIO_IVSHMEM_MAP_REGS, IVSHMEM_BAR_REGS,
			    "registers");
	uio_ivshmem_set_map(u, UIO_IVSHMEM_MAP_SHM, IVSHMEM_BAR_SHM, "shmem");

	ret = uio_ivshmem_setup_irqs(u);
	if (ret)
		goto err_free_page;

	ret = uio_register_device(&pdev->dev, &u->info);
	if (ret)
		goto err_free_irqs;
	pci_set_drvdata(pdev, u);
	return 0;

err_free_irqs:
	uio_ivshmem_free_irqs(u);
err_free_page:
	__free_page(u->counts_page);
	return ret;
}

/*
 * Interrupts stop before UIO forgets the device, so none reaches it late;
 * the mappings go before UIO fails the open files, and before the BARs
 * are released.
 */
static void uio_ivshmem_remove(struct pci_dev *pdev)
{
	struct uio_ivshmem *u = pci_get_drvdata(pdev);

	uio_ivshmem_free_irqs(u);
	uio_ivshmem_zap(u);
	uio_unregister_device(&u->info);
	__free_page(u->counts_page);
}

/* /sys/bus/pci/devices/BDF/memtype: what mappings of map 1 really get. */
static ssize_t memtype_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	struct uio_ivshmem *u = pci_get_drvdata(to_pci_dev(dev));

	return sysfs_emit(buf, "%s\n", ivshmem_memtype_name(u->memtype));
}
static DEVICE_ATTR_RO(memtype);

static struct attribute *uio_ivshmem_attrs[] = {
	&dev_attr_memtype.attr,
	NULL
};
ATTRIBUTE_GROUPS(uio_ivshmem);

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
	.dev_groups = uio_ivshmem_groups,
};
module_pci_driver(uio_ivshmem_driver);

MODULE_DESCRIPTION("QEMU ivshmem device through UIO");
MODULE_LICENSE("GPL");
