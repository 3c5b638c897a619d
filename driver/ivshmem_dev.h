/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ivshmem: state shared by the parts of the driver.
 */
#ifndef IVSHMEM_DEV_H
#define IVSHMEM_DEV_H

#include <linux/atomic.h>
#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/spinlock.h>
#include <linux/srcu.h>
#include <linux/types.h>
#include <linux/wait.h>

#include "bar.h"
#include "label.h"

/* BAR0 registers the driver uses, 32 bits each. */
#define IVSHMEM_REG_IV_POSITION	0x08
#define IVSHMEM_REG_DOORBELL	0x0c

/* QEMU rings vector & 0xff, so only vectors 0-255 ever interrupt. */
#define IVSHMEM_MAX_VECTORS	256

struct ivshmem_device;
struct ivshmem_file;

/**
 * struct ivshmem_vector - one MSI-X vector of a device.
 * @idev:  the device.
 * @irq:   Linux interrupt number; 0 once freed.
 * @count: interrupts received since probe; read() and sysfs report it.
 * @binds: &struct ivshmem_binding list, protected by @idev->irq_lock.
 * @name:  interrupt name shown in /proc/interrupts.
 */
struct ivshmem_vector {
	struct ivshmem_device *idev;
	int irq;
	atomic64_t count;
	struct list_head binds;
	char name[32];
};

/**
 * struct ivshmem_binding - an eventfd bound to a vector by an open file.
 * @node:  entry in &struct ivshmem_vector.binds.
 * @owner: the file that bound it.
 * @ctx:   the eventfd, referenced until the binding is dropped.
 */
struct ivshmem_binding {
	struct list_head node;
	struct ivshmem_file *owner;
	struct eventfd_ctx *ctx;
};

/**
 * struct ivshmem_device - one ivshmem PCI function.
 * @dev:        class device (/dev/ivshmemN, sysfs); its refcount keeps
 *              this structure alive while files are open after removal.
 * @cdev:       character device, parent @dev.
 * @pdev:       the PCI function; not used once @removed is set.
 * @regs:       BAR0 registers; not used once @removed is set.
 * @shm_start:  bus address of BAR2.
 * @shm_size:   length of BAR2 in bytes.
 * @memtype:    IVSHMEM_MEMTYPE_* that write-back mappings of BAR2 get.
 * @label:      the region header's label, read at probe; "" when none.
 * @minor:      minor number, from the driver's IDA.
 * @doorbell:   the device has MSI-X (an ivshmem-doorbell), so it can ring.
 * @nr_vectors: vectors with an interrupt handler, 0 in mode "none".
 * @vectors:    @nr_vectors entries.
 * @srcu:       file operations run inside an SRCU read section that
 *              checks @removed first; removal waits for them with
 *              synchronize_srcu() after setting @removed.
 * @removed:    the PCI function is gone; set once, never cleared.
 * @wait:       read() and poll() sleepers: woken on every interrupt and
 *              on removal.
 * @irq_lock:   protects every vector's @binds list; taken in hard IRQ.
 * @files_lock: protects @files.
 * @files:      open files (&struct ivshmem_file), to zap their mappings.
 */
struct ivshmem_device {
	struct device dev;
	struct cdev cdev;
	struct pci_dev *pdev;
	void __iomem *regs;
	resource_size_t shm_start;
	resource_size_t shm_size;
	u32 memtype;
	char label[IVSHMEM_REGION_LABEL_MAX];
	int minor;
	bool doorbell;
	unsigned int nr_vectors;
	struct ivshmem_vector *vectors;
	struct srcu_struct srcu;
	bool removed;
	wait_queue_head_t wait;
	spinlock_t irq_lock;		/* vectors[].binds */
	struct mutex files_lock;	/* files */
	struct list_head files;
};

/**
 * struct ivshmem_file - an open /dev/ivshmemN.
 * @idev:       the device; referenced until release.
 * @filp:       the file, whose mapping is zapped on removal.
 * @node:       entry in &struct ivshmem_device.files.
 * @cache_mode: IVSHMEM_CACHE_* for later mmap() calls.
 * @lock:       serialises read() and protects @seen.
 * @seen:       per vector, the interrupt count last reported by read().
 * @mm_lock:    protects @mms; never held while taking an mmap lock.
 * @mms:        address spaces this file is mapped into (&struct
 *              ivshmem_mm), see ivshmem_zap_mappings().
 */
struct ivshmem_file {
	struct ivshmem_device *idev;
	struct file *filp;
	struct list_head node;
	u32 cache_mode;
	struct mutex lock;		/* seen, read() */
	u64 *seen;
	spinlock_t mm_lock;		/* mms */
	struct list_head mms;
};

/**
 * struct ivshmem_mm - an address space mmap() mapped a file into.
 * @node:   entry in &struct ivshmem_file.mms.
 * @mm:     the address space, held with mmgrab().
 * @vmas:   the mappings mmap() made of the file in @mm, and their copies
 *          (in @mm or, after fork, elsewhere); each points here in
 *          vm_private_data.
 * @waited: removal rounds that have waited for @mm to leave mmap().
 */
struct ivshmem_mm {
	struct list_head node;
	struct mm_struct *mm;
	unsigned int vmas;
	unsigned int waited;
};

static inline struct ivshmem_device *ivshmem_from_dev(struct device *dev)
{
	return container_of(dev, struct ivshmem_device, dev);
}

/* file.c */
extern const struct file_operations ivshmem_fops;
void ivshmem_zap_mappings(struct ivshmem_device *idev);
u32 ivshmem_vm_id(struct ivshmem_device *idev);

/* irq.c */
int ivshmem_irq_setup(struct ivshmem_device *idev);
void ivshmem_irq_teardown(struct ivshmem_device *idev);
int ivshmem_bind_eventfd(struct ivshmem_file *f, unsigned int vector, int fd);
int ivshmem_unbind_eventfd(struct ivshmem_file *f, unsigned int vector);
void ivshmem_unbind_file(struct ivshmem_file *f);

/* sysfs.c */
extern const struct attribute_group *ivshmem_groups[];

#endif /* IVSHMEM_DEV_H */
