// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem: file operations of /dev/ivshmemN.
 *
 * Every operation that uses the hardware, or adds state that removal must
 * undo, runs between ivshmem_enter() and ivshmem_exit(), an SRCU read
 * section, and fails with -ENODEV if it finds the device removed there.  Copies from
 * and to userspace happen outside it, so a page fault never delays
 * removal.
 */
#include <linux/fs.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/poll.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <linux/ivshmem.h>

#include "ivshmem_dev.h"

/* Enter the read section; the caller checks idev->removed inside it. */
static int ivshmem_enter(struct ivshmem_device *idev)
	__acquires(&idev->srcu)
{
	return srcu_read_lock(&idev->srcu);
}

static void ivshmem_exit(struct ivshmem_device *idev, int idx)
	__releases(&idev->srcu)
{
	srcu_read_unlock(&idev->srcu, idx);
}

/**
 * ivshmem_vm_id() - read the device's own peer ID.
 * @idev: the device, not removed (caller inside ivshmem_enter()).
 *
 * Return: the IVPosition register: 0..65535, 0 on plain devices, or
 * IVSHMEM_VM_ID_UNKNOWN while a revision 0 device waits for its server.
 */
u32 ivshmem_vm_id(struct ivshmem_device *idev)
{
	s32 pos = readl(idev->regs + IVSHMEM_REG_IV_POSITION);

	return pos < 0 ? IVSHMEM_VM_ID_UNKNOWN : pos;
}

static int ivshmem_open(struct inode *inode, struct file *filp)
{
	struct ivshmem_device *idev = container_of(inode->i_cdev,
						   struct ivshmem_device, cdev);
	struct ivshmem_file *f;
	unsigned int i;
	int idx;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	f->seen = kcalloc(idev->nr_vectors, sizeof(*f->seen), GFP_KERNEL);
	if (!f->seen) {
		kfree(f);
		return -ENOMEM;
	}
	f->idev = idev;
	f->filp = filp;
	f->cache_mode = IVSHMEM_CACHE_WB;
	mutex_init(&f->lock);
	spin_lock_init(&f->mm_lock);
	INIT_LIST_HEAD(&f->mms);

	idx = ivshmem_enter(idev);
	if (READ_ONCE(idev->removed)) {
		ivshmem_exit(idev, idx);
		kfree(f->seen);
		kfree(f);
		return -ENODEV;
	}
	get_device(&idev->dev);
	/* Interrupts that came before open() are not this file's news. */
	for (i = 0; i < idev->nr_vectors; i++)
		f->seen[i] = atomic64_read(&idev->vectors[i].count);
	mutex_lock(&idev->files_lock);
	list_add_tail(&f->node, &idev->files);
	mutex_unlock(&idev->files_lock);
	ivshmem_exit(idev, idx);

	filp->private_data = f;
	return nonseekable_open(inode, filp);
}

static int ivshmem_release(struct inode *inode, struct file *filp)
{
	struct ivshmem_file *f = filp->private_data;
	struct ivshmem_device *idev = f->idev;
	struct ivshmem_mm *m, *tmp;

	mutex_lock(&idev->files_lock);
	list_del(&f->node);
	mutex_unlock(&idev->files_lock);

	ivshmem_unbind_file(f);

	list_for_each_entry_safe(m, tmp, &f->mms, node) {
		mmdrop(m->mm);
		kfree(m);
	}
	kfree(f->seen);
	kfree(f);
	put_device(&idev->dev);
	return 0;
}

static long ivshmem_ioctl_info(struct ivshmem_file *f, void __user *argp)
{
	struct ivshmem_device *idev = f->idev;
	struct ivshmem_info info;
	int idx, ret;

	if (copy_from_user(&info, argp, sizeof(info)))
		return -EFAULT;
	if (info.size != sizeof(info) || info.flags)
		return -EINVAL;

	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	info.shm_size = idev->shm_size;
	info.nr_vectors = idev->nr_vectors;
	info.irq_mode = idev->nr_vectors ? IVSHMEM_IRQ_MODE_MSIX :
					   IVSHMEM_IRQ_MODE_NONE;
	info.dev_flags = idev->doorbell ? IVSHMEM_DEV_DOORBELL : 0;
	info.abi_version = IVSHMEM_ABI_VERSION;
	info.memtype = idev->memtype;

	idx = ivshmem_enter(idev);
	if (READ_ONCE(idev->removed)) {
		ret = -ENODEV;
	} else {
		info.revision = idev->pdev->revision;
		info.vm_id = ivshmem_vm_id(idev);
		ret = 0;
	}
	ivshmem_exit(idev, idx);
	if (ret)
		return ret;

	if (copy_to_user(argp, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

static long ivshmem_ioctl_ring(struct ivshmem_file *f, void __user *argp)
{
	struct ivshmem_device *idev = f->idev;
	struct ivshmem_ring ring;
	int idx, ret;

	if (copy_from_user(&ring, argp, sizeof(ring)))
		return -EFAULT;
	if (ring.flags || ring.pad || ring.peer > IVSHMEM_PEER_MAX ||
	    ring.vector > IVSHMEM_VECTOR_MAX)
		return -EINVAL;
	/* Ringing acts on other VMs: it takes a file open for writing. */
	if (!(f->filp->f_mode & FMODE_WRITE))
		return -EBADF;

	idx = ivshmem_enter(idev);
	if (READ_ONCE(idev->removed)) {
		ret = -ENODEV;
	} else if (!idev->doorbell) {
		ret = -EOPNOTSUPP;
	} else {
		/* writel() orders the caller's earlier stores to the memory. */
		writel(ring.peer << 16 | ring.vector,
		       idev->regs + IVSHMEM_REG_DOORBELL);
		ret = 0;
	}
	ivshmem_exit(idev, idx);
	return ret;
}

/* IVSHMEM_IOCTL_BIND_EVENTFD and IVSHMEM_IOCTL_UNBIND_EVENTFD */
static long ivshmem_ioctl_eventfd(struct ivshmem_file *f, void __user *argp, bool bind)
{
	struct ivshmem_device *idev = f->idev;
	struct ivshmem_eventfd arg;
	int idx, ret;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.flags || arg.pad)
		return -EINVAL;
	if (!idev->nr_vectors)
		return -EOPNOTSUPP;
	if (arg.vector >= idev->nr_vectors)
		return -EINVAL;
	arg.vector = array_index_nospec(arg.vector, idev->nr_vectors);

	idx = ivshmem_enter(idev);
	if (READ_ONCE(idev->removed))
		ret = -ENODEV;
	else if (bind)
		ret = ivshmem_bind_eventfd(f, arg.vector, arg.fd);
	else
		ret = ivshmem_unbind_eventfd(f, arg.vector);
	ivshmem_exit(idev, idx);
	return ret;
}

static long ivshmem_ioctl_set_cache(struct ivshmem_file *f, void __user *argp)
{
	struct ivshmem_cache arg;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.flags || arg.mode > IVSHMEM_CACHE_UC)
		return -EINVAL;
	if (READ_ONCE(f->idev->removed))
		return -ENODEV;
	WRITE_ONCE(f->cache_mode, arg.mode);
	return 0;
}

static long ivshmem_ioctl(struct file *filp, unsigned int cmd,
			  unsigned long arg)
{
	struct ivshmem_file *f = filp->private_data;
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case IVSHMEM_IOCTL_INFO:
		return ivshmem_ioctl_info(f, argp);
	case IVSHMEM_IOCTL_RING:
		return ivshmem_ioctl_ring(f, argp);
	case IVSHMEM_IOCTL_BIND_EVENTFD:
		return ivshmem_ioctl_eventfd(f, argp, true);
	case IVSHMEM_IOCTL_UNBIND_EVENTFD:
		return ivshmem_ioctl_eventfd(f, argp, false);
	case IVSHMEM_IOCTL_SET_CACHE:
		return ivshmem_ioctl_set_cache(f, argp);
	default:
		return -ENOTTY;
	}
}

static bool ivshmem_pending(struct ivshmem_file *f)
{
	struct ivshmem_device *idev = f->idev;
	unsigned int i;

	for (i = 0; i < idev->nr_vectors; i++)
		if (atomic64_read(&idev->vectors[i].count) !=
		    READ_ONCE(f->seen[i]))
			return true;
	return false;
}

/* Copy out one record per vector with news; the caller holds f->lock. */
static ssize_t ivshmem_read_events(struct ivshmem_file *f, char __user *buf,
				   size_t len)
{
	struct ivshmem_device *idev = f->idev;
	struct ivshmem_event ev;
	size_t done = 0;
	unsigned int i;

	for (i = 0; i < idev->nr_vectors; i++) {
		u64 now = atomic64_read(&idev->vectors[i].count);

		if (now == f->seen[i])
			continue;
		if (len - done < sizeof(ev))
			break;
		ev.vector = i;
		ev.count = min_t(u64, now - f->seen[i], U32_MAX);
		if (copy_to_user(buf + done, &ev, sizeof(ev)))
			return done ? done : -EFAULT;
		WRITE_ONCE(f->seen[i], now);
		done += sizeof(ev);
	}
	return done;
}

static ssize_t ivshmem_read(struct file *filp, char __user *buf, size_t len,
			    loff_t *ppos)
{
	struct ivshmem_file *f = filp->private_data;
	struct ivshmem_device *idev = f->idev;
	ssize_t ret;

	if (len < sizeof(struct ivshmem_event))
		return -EINVAL;

	for (;;) {
		if (READ_ONCE(idev->removed))
			return -ENODEV;
		if (!idev->nr_vectors)
			return -EOPNOTSUPP;

		if (mutex_lock_interruptible(&f->lock))
			return -ERESTARTSYS;
		ret = ivshmem_read_events(f, buf, len);
		mutex_unlock(&f->lock);
		if (ret)
			return ret;

		if (filp->f_flags & O_NONBLOCK)
			return -EAGAIN;
		if (wait_event_interruptible(idev->wait,
					     ivshmem_pending(f) ||
					     READ_ONCE(idev->removed)))
			return -ERESTARTSYS;
	}
}

static __poll_t ivshmem_poll(struct file *filp, poll_table *wait)
{
	struct ivshmem_file *f = filp->private_data;
	struct ivshmem_device *idev = f->idev;

	poll_wait(filp, &idev->wait, wait);
	if (READ_ONCE(idev->removed))
		return EPOLLHUP | EPOLLERR;
	/* Nothing will ever be readable: read() fails with -EOPNOTSUPP. */
	if (!idev->nr_vectors)
		return EPOLLERR;
	if (ivshmem_pending(f))
		return EPOLLIN | EPOLLRDNORM;
	return 0;
}

/*
 * Track the address spaces mmap() is called in, for
 * ivshmem_zap_mappings(): one entry per file and address space, counting
 * the mappings made there and every copy of them (fork, mremap), each of
 * which points to the entry in vm_private_data.  The entry goes with the
 * last of them.
 */
static struct ivshmem_mm *ivshmem_find_mm(struct ivshmem_file *f,
					  struct mm_struct *mm)
{
	struct ivshmem_mm *m;

	list_for_each_entry(m, &f->mms, node)
		if (m->mm == mm)
			return m;
	return NULL;
}

static struct ivshmem_mm *ivshmem_get_mm(struct ivshmem_file *f,
					 struct mm_struct *mm)
{
	struct ivshmem_mm *m, *new;

	new = kzalloc(sizeof(*new), GFP_KERNEL);
	if (!new)
		return NULL;

	spin_lock(&f->mm_lock);
	m = ivshmem_find_mm(f, mm);
	if (m) {
		m->vmas++;
	} else {
		mmgrab(mm);
		new->mm = mm;
		new->vmas = 1;
		list_add_tail(&new->node, &f->mms);
		m = new;
		new = NULL;
	}
	spin_unlock(&f->mm_lock);
	kfree(new);
	return m;
}

static void ivshmem_put_mm(struct ivshmem_file *f, struct ivshmem_mm *m)
{
	bool last;

	spin_lock(&f->mm_lock);
	last = --m->vmas == 0;
	if (last)
		list_del(&m->node);
	spin_unlock(&f->mm_lock);

	if (last) {
		mmdrop(m->mm);
		kfree(m);
	}
}

/*
 * A copy of a mapping: fork or mremap.  A copy in another address space
 * (fork) gets that address space's entry, so that removal zaps it under
 * that address space's mmap lock too (ivshmem_zap_mm()).  Without memory
 * it joins the original's entry instead: the kernel links a copy to the
 * file before it copies any page table entry, so removal still finds it
 * through the file, only not under its lock.
 */
static void ivshmem_vm_open(struct vm_area_struct *vma)
{
	struct ivshmem_file *f = vma->vm_file->private_data;
	struct ivshmem_mm *m = vma->vm_private_data, *own;

	if (vma->vm_mm != m->mm) {
		own = ivshmem_get_mm(f, vma->vm_mm);
		if (own) {
			vma->vm_private_data = own;
			return;
		}
	}
	spin_lock(&f->mm_lock);
	m->vmas++;
	spin_unlock(&f->mm_lock);
}

static void ivshmem_vm_close(struct vm_area_struct *vma)
{
	ivshmem_put_mm(vma->vm_file->private_data, vma->vm_private_data);
}

/*
 * The PTEs are all set up by mmap(); a fault means they were zapped
 * because the device went away.  Without a fault handler the mapping
 * would count as anonymous and hand out fresh zeroed pages instead.
 */
static vm_fault_t ivshmem_vm_fault(struct vm_fault *vmf)
{
	return VM_FAULT_SIGBUS;
}

/*
 * On x86, mmap() reserves the memory type for the mapping's whole range,
 * and unmapping releases it by the range of each piece: a mapping split
 * by a partial munmap(), mprotect() or mremap() would leave the
 * reservation behind for good ("freeing invalid memtype"), and later
 * mappings of that memory would fail or get a stale type.  Mappings are
 * therefore used whole: splitting one fails with -EINVAL.
 */
static int ivshmem_vm_may_split(struct vm_area_struct *vma, unsigned long addr)
{
	return -EINVAL;
}

static const struct vm_operations_struct ivshmem_vm_ops = {
	.open = ivshmem_vm_open,
	.close = ivshmem_vm_close,
	.may_split = ivshmem_vm_may_split,
	.fault = ivshmem_vm_fault,
#ifdef CONFIG_HAVE_IOREMAP_PROT
	/* ptrace() and /proc/PID/mem, so that a debugger can read it */
	.access = generic_access_phys,
#endif
};

static int ivshmem_mmap(struct file *filp, struct vm_area_struct *vma)
{
	struct ivshmem_file *f = filp->private_data;
	struct ivshmem_device *idev = f->idev;
	unsigned long pages = idev->shm_size >> PAGE_SHIFT;
	unsigned long len = vma->vm_end - vma->vm_start;
	struct ivshmem_mm *m;
	int idx, ret;

	/* A private copy-on-write view of shared memory makes no sense. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff >= pages || vma_pages(vma) > pages - vma->vm_pgoff)
		return -EINVAL;

	switch (READ_ONCE(f->cache_mode)) {
	case IVSHMEM_CACHE_WC:
		vma->vm_page_prot = pgprot_writecombine(vma->vm_page_prot);
		break;
	case IVSHMEM_CACHE_UC:
		vma->vm_page_prot = pgprot_noncached(vma->vm_page_prot);
		break;
	default:
		/* vm_get_page_prot() already asks for write-back. */
		break;
	}

	idx = ivshmem_enter(idev);
	if (READ_ONCE(idev->removed)) {
		ret = -ENODEV;
		goto out;
	}
	m = ivshmem_get_mm(f, vma->vm_mm);
	if (!m) {
		ret = -ENOMEM;
		goto out;
	}
	ret = io_remap_pfn_range(vma, vma->vm_start,
				 (idev->shm_start >> PAGE_SHIFT) + vma->vm_pgoff,
				 len, vma->vm_page_prot);
	if (!ret)
		ret = ivshmem_check_memtype(vma, idev->memtype);
	if (ret) {
		/*
		 * A failed mmap() is never closed: drop the count here.  The
		 * kernel undoes the page tables and the memory type.
		 */
		ivshmem_put_mm(f, m);
		goto out;
	}
	vma->vm_private_data = m;
	vma->vm_ops = &ivshmem_vm_ops;
out:
	ivshmem_exit(idev, idx);
	return ret;
}

/*
 * Grab an address space of the device's files that this round has not
 * waited for yet; NULL when there is none left.
 */
static struct mm_struct *ivshmem_next_mm(struct ivshmem_device *idev,
					 unsigned int round)
{
	struct mm_struct *mm = NULL;
	struct ivshmem_file *f;
	struct ivshmem_mm *m;

	mutex_lock(&idev->files_lock);
	list_for_each_entry(f, &idev->files, node) {
		spin_lock(&f->mm_lock);
		list_for_each_entry(m, &f->mms, node) {
			if (m->waited > round)
				continue;
			m->waited = round + 1;
			mm = m->mm;
			mmgrab(mm);
			break;
		}
		spin_unlock(&f->mm_lock);
		if (mm)
			break;
	}
	mutex_unlock(&idev->files_lock);
	return mm;
}

/*
 * Zap the device's mappings in @mm under its mmap lock, which also waits
 * for an mmap() there to finish (it holds the lock for writing until the
 * new mapping is linked to the file).  Under the lock no fork() of @mm
 * copies a mapping half torn down: on x86 unmap_mapping_range() racing
 * with such a fork() can leave the copy marked for memory type tracking
 * without page table entries, and its unmap then warns.  An address space
 * on its way out has no mmap() in flight and unmaps everything itself.
 */
static void ivshmem_zap_mm(struct ivshmem_device *idev, struct mm_struct *mm)
{
	VMA_ITERATOR(vmi, mm, 0);
	struct vm_area_struct *vma;
	struct ivshmem_file *f;

	if (!mmget_not_zero(mm))
		return;
	mmap_write_lock(mm);
	for_each_vma(vmi, vma) {
		if (vma->vm_ops != &ivshmem_vm_ops)
			continue;
		f = vma->vm_file->private_data;
		if (f->idev == idev)
			zap_vma_ptes(vma, vma->vm_start, vma->vm_end - vma->vm_start);
	}
	mmap_write_unlock(mm);
	mmput(mm);
}

/*
 * Every address space the device's files are mapped into, one at a time,
 * so that nothing is allocated and every one is done (a fork() made
 * meanwhile adds its own entry, taken in the same round).
 */
static void ivshmem_zap_mms(struct ivshmem_device *idev, unsigned int round)
{
	struct mm_struct *mm;

	while ((mm = ivshmem_next_mm(idev, round))) {
		ivshmem_zap_mm(idev, mm);
		mmdrop(mm);
	}
}

/**
 * ivshmem_zap_mappings() - tear down every user mapping of a removed device.
 * @idev: the device, marked removed, with no file operation in flight.
 *
 * Page tables of a new mapping are filled before the kernel links it to
 * the file: by mmap() before it returns, by fork() and mremap() by
 * copying.  unmap_mapping_range() would miss a mapping caught in between,
 * so first zap every address space the files are mapped into under its
 * mmap lock (ivshmem_zap_mm()), then whatever the files still map.  A
 * fork() that copied page tables while the first zap ran is caught by a
 * second round.  No lock of ours is held while taking an mmap lock, since
 * mmap() takes ours under it.
 */
void ivshmem_zap_mappings(struct ivshmem_device *idev)
{
	struct ivshmem_file *f;
	unsigned int round;

	for (round = 0; round < 2; round++) {
		ivshmem_zap_mms(idev, round);
		mutex_lock(&idev->files_lock);
		list_for_each_entry(f, &idev->files, node)
			unmap_mapping_range(f->filp->f_mapping, 0, 0, 1);
		mutex_unlock(&idev->files_lock);
	}
}

const struct file_operations ivshmem_fops = {
	.owner = THIS_MODULE,
	.open = ivshmem_open,
	.release = ivshmem_release,
	.read = ivshmem_read,
	.poll = ivshmem_poll,
	.mmap = ivshmem_mmap,
	.unlocked_ioctl = ivshmem_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};
