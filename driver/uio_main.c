// SPDX-License-Identifier: GPL-2.0
/*
 * uio_ivshmem: QEMU's ivshmem device (PCI 1af4:1110) through UIO, for
 * applications built on /dev/uioN.
 *
 * Map 0 is the registers (BAR0, uncached), map 1 the shared memory (BAR2,
 * write-back: it is host RAM; probe moves BAR2 out of a range the MTRRs
 * leave uncached, as ivshmem.ko does, and the PCI device's memtype
 * attribute says what the mapping really gets; its region_label attribute
 * the label of the region header, read at probe).  A map starts at the page
 * boundary below its BAR, and its offset attribute says where the BAR
 * begins in that page, as with uio_pci_generic.  Doorbell devices have
 * every MSI-X vector that can be rung (0-255) wired to the one UIO
 * interrupt source, and a map 2: a read-only page of 64-bit counters, one
 * per vector, each counting that vector's interrupts since probe, written
 * before the UIO event is raised.  Userspace tells the vectors apart by
 * comparing the counters after each event.  Writing 0 or 1 to /dev/uioN
 * holds back or lets through the UIO events (what arrived meanwhile is
 * reported once on 1), as other UIO drivers mask and unmask their
 * interrupt; the counters count on.  Plain devices, and doorbell devices
 * whose MSI-X cannot be enabled, have no interrupt and no map 2.
 *
 * On removal every mapping of a BAR is torn down, so a process that
 * touches one afterwards gets SIGBUS rather than a BAR that may belong to
 * some other device by then; map 2 stays readable with the counts as they
 * were (it is memory of ours, and libraries look at it to tell vectors
 * apart); read(), poll() and write() fail as UIO makes them.
 */
#include <linux/interrupt.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uio_driver.h>

#include <linux/ivshmem.h>

#include "bar.h"
#include "compat.h"
#include "label.h"

#define UIO_IVSHMEM_NAME	"uio_ivshmem"
#define UIO_IVSHMEM_MAP_REGS	0
#define UIO_IVSHMEM_MAP_SHM	1
#define UIO_IVSHMEM_MAP_COUNTS	2
/* QEMU rings vector & 0xff: vectors above 255 never interrupt. */
#define UIO_IVSHMEM_MAX_VECTORS	256

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
 * struct uio_ivshmem_mapping - mappings of a BAR made by one mmap() call,
 * and every copy of them, so that removal can find and tear them down.
 * @node:    entry in &struct uio_ivshmem.mappings.
 * @u:       the device.
 * @mapping: the address space of the device node they come through; the
 *           mappings hold their file, so it lives as long as this entry.
 * @mm:      the address space mmap() was called in, held with mmgrab().
 * @vmas:    the mappings (the original and its copies) still there.
 * @waited:  removal has waited for @mm to leave mmap().
 */
struct uio_ivshmem_mapping {
	struct list_head node;
	struct uio_ivshmem *u;
	struct address_space *mapping;
	struct mm_struct *mm;
	unsigned int vmas;
	bool waited;
};

/**
 * struct uio_ivshmem - one ivshmem PCI function bound to this driver.
 * @ref:         held by the binding and by every mapping entry, which
 *               outlive removal until their process unmaps them.
 * @info:        the UIO device.
 * @pdev:        the PCI function.
 * @memtype:     IVSHMEM_MEMTYPE_* that mappings of map 1 get.
 * @label:       the region header's label, read at probe; "" when none.
 * @nr_irqs:     vectors enabled, 0 without interrupts.
 * @nr_handlers: vectors with a handler installed, up to @nr_irqs.
 * @vectors:     @nr_irqs entries.
 * @counts_page: map 2, one u64 per vector; every mapping of it holds a
 *               reference as well, so it outlives removal until they
 *               are gone.
 * @counts:      @counts_page in the kernel's address space.
 * @lock:        protects @muted and @missed; taken in hard IRQ.
 * @muted:       userspace wrote 0: interrupts are counted, not reported.
 * @missed:      an interrupt came while @muted.
 * @maps_lock:   protects @mappings and @removed.
 * @mappings:    &struct uio_ivshmem_mapping list, one per mmap() of a BAR
 *               whose mappings are not all gone.
 * @removed:     the mappings are being torn down and no more may be made.
 */
struct uio_ivshmem {
	struct kref ref;
	struct uio_info info;
	struct pci_dev *pdev;
	u32 memtype;
	char label[IVSHMEM_REGION_LABEL_MAX];
	unsigned int nr_irqs;
	unsigned int nr_handlers;
	struct uio_ivshmem_vector *vectors;
	struct page *counts_page;
	u64 *counts;
	spinlock_t lock;		/* muted, missed */
	bool muted;
	bool missed;
	struct mutex maps_lock;		/* mappings, removed */
	struct list_head mappings;
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
 * A copy of a BAR mapping (fork(), or mremap() moving it) joins the entry
 * of the original.  It needs no waiting at removal: the kernel links a
 * copy to the file before it copies or moves any page table entry, so
 * unmap_mapping_range() finds whatever the copy gets.  Nothing is
 * allocated here, so nothing can fail.
 */
static void uio_ivshmem_bar_open(struct vm_area_struct *vma)
{
	struct uio_ivshmem_mapping *m = vma->vm_private_data;

	mutex_lock(&m->u->maps_lock);
	m->vmas++;
	mutex_unlock(&m->u->maps_lock);
}

static void uio_ivshmem_release(struct kref *ref)
{
	kfree(container_of(ref, struct uio_ivshmem, ref));
}

/* The binding's reference, dropped by devres after remove. */
static void uio_ivshmem_put(void *data)
{
	struct uio_ivshmem *u = data;

	kref_put(&u->ref, uio_ivshmem_release);
}

static void uio_ivshmem_put_mapping(struct uio_ivshmem_mapping *m)
{
	struct uio_ivshmem *u = m->u;
	bool last;

	mutex_lock(&u->maps_lock);
	last = --m->vmas == 0;
	if (last)
		list_del(&m->node);
	mutex_unlock(&u->maps_lock);
	if (last) {
		mmdrop(m->mm);
		kfree(m);
		uio_ivshmem_put(u);
	}
}

static void uio_ivshmem_bar_close(struct vm_area_struct *vma)
{
	uio_ivshmem_put_mapping(vma->vm_private_data);
}

/*
 * On x86, mmap() reserves the memory type for the whole mapping, and
 * unmapping releases it by the range of each piece: a mapping split by a
 * partial munmap(), mprotect() or mremap() would leave the reservation
 * behind for good ("freeing invalid memtype").  BAR mappings are used
 * whole, as with ivshmem.ko: splitting one fails with -EINVAL.
 */
static int uio_ivshmem_bar_may_split(struct vm_area_struct *vma,
				     unsigned long addr)
{
	return -EINVAL;
}

/*
 * The page table entries are all made by mmap(); a fault means removal
 * zapped them.  Without a fault handler the mapping would count as
 * anonymous and get fresh pages; with one it gets SIGBUS.
 */
static vm_fault_t uio_ivshmem_bar_fault(struct vm_fault *vmf)
{
	return VM_FAULT_SIGBUS;
}

static const struct vm_operations_struct uio_ivshmem_bar_vm_ops = {
	.open = uio_ivshmem_bar_open,
	.close = uio_ivshmem_bar_close,
	.may_split = uio_ivshmem_bar_may_split,
	.fault = uio_ivshmem_bar_fault,
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
 * Wait until no address space that mmap() was called in for a BAR is
 * still inside that mmap(): the kernel links a new mapping to the file
 * only after the driver's mmap() has filled its page table entries, and
 * holds the mmap lock for writing until then.  Called with @removed set,
 * so no entry is added meanwhile; the lock is dropped around each wait,
 * since mmap() takes it under the mmap lock.
 */
static void uio_ivshmem_wait_mms(struct uio_ivshmem *u)
{
	struct uio_ivshmem_mapping *m;
	struct mm_struct *mm;

	for (;;) {
		mm = NULL;
		mutex_lock(&u->maps_lock);
		list_for_each_entry(m, &u->mappings, node) {
			if (m->waited)
				continue;
			m->waited = true;
			mm = m->mm;
			mmgrab(mm);
			break;
		}
		mutex_unlock(&u->maps_lock);
		if (!mm)
			return;
		mmap_read_lock(mm);
		mmap_read_unlock(mm);
		mmdrop(mm);
	}
}

/*
 * Tear down every BAR mapping, before UIO wakes its readers with an
 * error: whoever learns of the removal finds the mappings gone.  Map 2
 * goes too, and faults its page in again.
 */
static void uio_ivshmem_zap(struct uio_ivshmem *u)
{
	struct uio_ivshmem_mapping *m;

	mutex_lock(&u->maps_lock);
	u->removed = true;
	mutex_unlock(&u->maps_lock);

	uio_ivshmem_wait_mms(u);

	mutex_lock(&u->maps_lock);
	list_for_each_entry(m, &u->mappings, node)
		unmap_mapping_range(m->mapping, 0, 0, 1);
	mutex_unlock(&u->maps_lock);
}

static int uio_ivshmem_mmap_counts(struct uio_ivshmem *u,
				   struct vm_area_struct *vma)
{
	if (vma->vm_flags & VM_WRITE)
		return -EACCES;
	/*
	 * Never merged with a neighbouring mapping of the same file (6.12
	 * would otherwise extend it over maps 0 and 1 without asking us)
	 * nor grown by mremap().
	 */
	ivshmem_vma_set_flags(vma, VM_DONTEXPAND | VM_DONTDUMP);
	get_page(u->counts_page);
	vma->vm_private_data = u->counts_page;
	vma->vm_ops = &uio_ivshmem_counts_vm_ops;
	return 0;
}

/*
 * UIO has checked the map index (vm_pgoff) and the length against the
 * map's pages.  UIO would map everything uncached; the shared memory wants
 * write-back, and removal must find every BAR mapping.
 */
static int uio_ivshmem_mmap(struct uio_info *info, struct vm_area_struct *vma)
{
	struct uio_ivshmem *u = container_of(info, struct uio_ivshmem, info);
	struct uio_mem *mem = &info->mem[vma->vm_pgoff];
	struct uio_ivshmem_mapping *m;
	int ret;

	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff == UIO_IVSHMEM_MAP_COUNTS)
		return uio_ivshmem_mmap_counts(u, vma);

	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	m->u = u;
	m->mapping = vma->vm_file->f_mapping;
	m->mm = vma->vm_mm;
	m->vmas = 1;

	mutex_lock(&u->maps_lock);
	if (u->removed) {
		mutex_unlock(&u->maps_lock);
		kfree(m);
		return -ENODEV;
	}
	mmgrab(m->mm);
	kref_get(&u->ref);
	list_add_tail(&m->node, &u->mappings);
	mutex_unlock(&u->maps_lock);

	if (vma->vm_pgoff == UIO_IVSHMEM_MAP_REGS)
		vma->vm_page_prot = pgprot_noncached(vma->vm_page_prot);
	ret = io_remap_pfn_range(vma, vma->vm_start, mem->addr >> PAGE_SHIFT,
				 vma->vm_end - vma->vm_start, vma->vm_page_prot);
	if (!ret && vma->vm_pgoff == UIO_IVSHMEM_MAP_SHM)
		ret = ivshmem_check_memtype(vma, u->memtype);
	if (ret) {
		/*
		 * A failed mmap() is never closed: drop the entry here.  The
		 * kernel undoes the page tables and the memory type.
		 */
		uio_ivshmem_put_mapping(m);
		return ret;
	}
	vma->vm_private_data = m;
	vma->vm_ops = &uio_ivshmem_bar_vm_ops;
	return 0;
}

static void uio_ivshmem_free_irqs(struct uio_ivshmem *u)
{
	while (u->nr_handlers--)
		free_irq(pci_irq_vector(u->pdev, u->nr_handlers),
			 &u->vectors[u->nr_handlers]);
	u->nr_handlers = 0;
}

/*
 * Enable the vectors and describe them (map 2, the UIO interrupt), without
 * a handler yet: the handler raises UIO events, which needs the UIO device
 * registered.  Every vector that can be rung, or none: the device still
 * maps without interrupts.
 */
static int uio_ivshmem_alloc_irqs(struct uio_ivshmem *u)
{
	int nvec;

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
	/* MSI-X messages are memory writes of the device. */
	pci_set_master(u->pdev);
	u->nr_irqs = nvec;
	u->info.irq = UIO_IRQ_CUSTOM;
	u->info.irqcontrol = uio_ivshmem_irqcontrol;
	u->info.mem[UIO_IVSHMEM_MAP_COUNTS].name = "vectors";
	/* No address to show: it is kernel memory. */
	u->info.mem[UIO_IVSHMEM_MAP_COUNTS].memtype = UIO_MEM_LOGICAL;
	u->info.mem[UIO_IVSHMEM_MAP_COUNTS].size = nvec * sizeof(u64);
	return 0;
}

/*
 * Install a handler on every enabled vector, once the UIO device exists:
 * an interrupt may come at once (a peer rang while the driver bound).
 * All of them or none, so that map 2 has a counter for each vector that
 * interrupts.
 */
static int uio_ivshmem_request_irqs(struct uio_ivshmem *u)
{
	struct uio_ivshmem_vector *vec;
	int ret;

	for (; u->nr_handlers < u->nr_irqs; u->nr_handlers++) {
		vec = &u->vectors[u->nr_handlers];
		vec->u = u;
		vec->index = u->nr_handlers;
		snprintf(vec->name, sizeof(vec->name), "%s[%s]-%u",
			 UIO_IVSHMEM_NAME, pci_name(u->pdev), vec->index);
		ret = request_irq(pci_irq_vector(u->pdev, vec->index),
				  uio_ivshmem_irq, 0, vec->name, vec);
		if (ret) {
			uio_ivshmem_free_irqs(u);
			return ret;
		}
	}
	return 0;
}

/*
 * As uio_pci_generic does: a map starts at a page boundary, and its
 * offset attribute says where in the first page the BAR begins.  The
 * UIO core maps whole pages only.
 */
static void uio_ivshmem_set_map(struct uio_ivshmem *u, int map, int bar,
				const char *name)
{
	resource_size_t start = pci_resource_start(u->pdev, bar);
	struct uio_mem *mem = &u->info.mem[map];

	mem->name = name;
	mem->memtype = UIO_MEM_PHYS;
	mem->addr = start & PAGE_MASK;
	mem->offs = start & ~PAGE_MASK;
	mem->size = PAGE_ALIGN(mem->offs + pci_resource_len(u->pdev, bar));
}

static int uio_ivshmem_probe(struct pci_dev *pdev,
			     const struct pci_device_id *id)
{
	struct uio_ivshmem *u;
	int ret;

	/* Not devres memory: mappings may outlive the binding. */
	u = kzalloc(sizeof(*u), GFP_KERNEL);
	if (!u)
		return -ENOMEM;
	kref_init(&u->ref);
	ret = devm_add_action_or_reset(&pdev->dev, uio_ivshmem_put, u);
	if (ret)
		return ret;
	u->pdev = pdev;
	spin_lock_init(&u->lock);
	mutex_init(&u->maps_lock);
	INIT_LIST_HEAD(&u->mappings);

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
	ivshmem_read_label(pdev, u->label);

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

	ret = uio_ivshmem_alloc_irqs(u);
	if (ret)
		goto err_free_page;

	/* UIO_IRQ_CUSTOM: the UIO core leaves the interrupts to us. */
	ret = uio_register_device(&pdev->dev, &u->info);
	if (ret)
		goto err_free_vectors;

	ret = uio_ivshmem_request_irqs(u);
	if (ret)
		goto err_unregister;
	pci_set_drvdata(pdev, u);
	return 0;

err_unregister:
	uio_unregister_device(&u->info);
err_free_vectors:
	pci_free_irq_vectors(pdev);
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
	pci_free_irq_vectors(pdev);
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

/*
 * /sys/bus/pci/devices/BDF/region_label: the region header's label as
 * probe read it and a newline, or nothing when there is none (as the
 * label attribute of ivshmem.ko's class device).  Not "label": the PCI
 * core shows the firmware's name of the slot under that name (ACPI _DSM,
 * SMBIOS; QEMU's acpi-index= gives one), and a second one would fail
 * the binding.
 */
static ssize_t region_label_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	struct uio_ivshmem *u = pci_get_drvdata(to_pci_dev(dev));

	return u->label[0] ? sysfs_emit(buf, "%s\n", u->label) : 0;
}
static DEVICE_ATTR_RO(region_label);

static struct attribute *uio_ivshmem_attrs[] = {
	&dev_attr_memtype.attr,
	&dev_attr_region_label.attr,
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
