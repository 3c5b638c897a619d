// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem: driver for QEMU's Inter-VM Shared Memory device (PCI 1af4:1110).
 *
 * Every device becomes /dev/ivshmemN: mmap() gives the shared memory,
 * ioctls ring peers and bind eventfds to the device's MSI-X vectors.
 * Documentation/driver.rst describes the structure, locking and lifetime.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/kdev_t.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>

#include "compat.h"
#include "ivshmem_dev.h"

#define IVSHMEM_NAME		"ivshmem"
#define IVSHMEM_MAX_MINORS	(MINORMASK + 1)

static dev_t ivshmem_devt;
static DEFINE_IDA(ivshmem_ida);

static struct class ivshmem_class = {
	.name = IVSHMEM_NAME,
};

static void ivshmem_device_release(struct device *dev)
{
	struct ivshmem_device *idev = ivshmem_from_dev(dev);

	cleanup_srcu_struct(&idev->srcu);
	ida_free(&ivshmem_ida, idev->minor);
	kfree(idev->vectors);
	kfree(idev);
}

/* Everything but the interrupts and the device node; devres undoes it. */
static int ivshmem_setup_pci(struct ivshmem_device *idev)
{
	struct pci_dev *pdev = idev->pdev;
	int ret;

	/* Before anything enables, requests or maps a BAR. */
	ret = ivshmem_place_shm(pdev, &idev->memtype);
	if (ret)
		return ret;

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;

	idev->regs = ivshmem_iomap_bar(pdev, IVSHMEM_BAR_REGS, IVSHMEM_NAME);
	if (IS_ERR(idev->regs))
		return PTR_ERR(idev->regs);

	if (!(pci_resource_flags(pdev, IVSHMEM_BAR_SHM) & IORESOURCE_MEM) ||
	    !pci_resource_len(pdev, IVSHMEM_BAR_SHM)) {
		dev_err(&pdev->dev, "no shared memory BAR\n");
		return -ENODEV;
	}
	/*
	 * BAR2 is reserved but never mapped by the kernel: a kernel mapping
	 * would fix the range's PAT memory type and turn the write-back user
	 * mappings into uncached ones.
	 */
	ret = ivshmem_request_bar(pdev, IVSHMEM_BAR_SHM, IVSHMEM_NAME);
	if (ret)
		return ret;
	idev->shm_start = pci_resource_start(pdev, IVSHMEM_BAR_SHM);
	idev->shm_size = pci_resource_len(pdev, IVSHMEM_BAR_SHM);
	ivshmem_read_label(pdev, idev->label);

	/* Only doorbell devices have MSI-X (BAR1); plain ones have neither. */
	idev->doorbell = pci_find_capability(pdev, PCI_CAP_ID_MSIX) != 0;
	return 0;
}

static int ivshmem_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct ivshmem_device *idev;
	int minor, ret;

	minor = ida_alloc_max(&ivshmem_ida, IVSHMEM_MAX_MINORS - 1, GFP_KERNEL);
	if (minor < 0)
		return minor;

	idev = kzalloc(sizeof(*idev), GFP_KERNEL);
	if (!idev) {
		ida_free(&ivshmem_ida, minor);
		return -ENOMEM;
	}
	ret = init_srcu_struct(&idev->srcu);
	if (ret) {
		ida_free(&ivshmem_ida, minor);
		kfree(idev);
		return ret;
	}
	idev->pdev = pdev;
	idev->minor = minor;
	init_waitqueue_head(&idev->wait);
	spin_lock_init(&idev->irq_lock);
	mutex_init(&idev->files_lock);
	INIT_LIST_HEAD(&idev->files);

	/* From here on, put_device() frees idev and the minor. */
	device_initialize(&idev->dev);
	idev->dev.class = &ivshmem_class;
	idev->dev.parent = &pdev->dev;
	idev->dev.devt = MKDEV(MAJOR(ivshmem_devt), minor);
	idev->dev.groups = ivshmem_groups;
	idev->dev.release = ivshmem_device_release;
	dev_set_drvdata(&idev->dev, idev);
	ret = dev_set_name(&idev->dev, IVSHMEM_NAME "%d", minor);
	if (ret)
		goto err_put_device;

	ret = ivshmem_setup_pci(idev);
	if (ret)
		goto err_put_device;

	ret = ivshmem_irq_setup(idev);
	if (ret)
		goto err_put_device;

	cdev_init(&idev->cdev, &ivshmem_fops);
	idev->cdev.owner = THIS_MODULE;
	ret = cdev_device_add(&idev->cdev, &idev->dev);
	if (ret)
		goto err_irq_teardown;

	pci_set_drvdata(pdev, idev);
	dev_info(&pdev->dev, "%s: %pa bytes of shared memory (%s), %s, %u vectors\n",
		 dev_name(&idev->dev), &idev->shm_size,
		 ivshmem_memtype_name(idev->memtype),
		 idev->doorbell ? "doorbell" : "plain", idev->nr_vectors);
	return 0;

err_irq_teardown:
	ivshmem_irq_teardown(idev);
err_put_device:
	put_device(&idev->dev);
	return ret;
}

/*
 * The order matters: no new opens, then no file operation touches the
 * device any more, then the mappings go, and only then do sleepers wake
 * (so that what they touch next faults), interrupts stop and eventfds get
 * a last signal and are released.  What open files still hold is freed
 * on last close.
 */
static void ivshmem_remove(struct pci_dev *pdev)
{
	struct ivshmem_device *idev = pci_get_drvdata(pdev);

	cdev_device_del(&idev->cdev, &idev->dev);

	WRITE_ONCE(idev->removed, true);
	synchronize_srcu(&idev->srcu);

	ivshmem_zap_mappings(idev);
	wake_up_all(&idev->wait);
	ivshmem_irq_teardown(idev);

	put_device(&idev->dev);
}

static const struct pci_device_id ivshmem_ids[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_REDHAT_QUMRANET, 0x1110) },
	{ }
};
MODULE_DEVICE_TABLE(pci, ivshmem_ids);

static struct pci_driver ivshmem_driver = {
	.name = IVSHMEM_NAME,
	.id_table = ivshmem_ids,
	.probe = ivshmem_probe,
	.remove = ivshmem_remove,
};

static int __init ivshmem_init(void)
{
	int ret;

	ret = alloc_chrdev_region(&ivshmem_devt, 0, IVSHMEM_MAX_MINORS,
				  IVSHMEM_NAME);
	if (ret)
		return ret;

	ret = class_register(&ivshmem_class);
	if (ret)
		goto err_unregister_chrdev;

	ret = pci_register_driver(&ivshmem_driver);
	if (ret)
		goto err_unregister_class;
	return 0;

err_unregister_class:
	class_unregister(&ivshmem_class);
err_unregister_chrdev:
	unregister_chrdev_region(ivshmem_devt, IVSHMEM_MAX_MINORS);
	return ret;
}
module_init(ivshmem_init);

static void __exit ivshmem_exit(void)
{
	pci_unregister_driver(&ivshmem_driver);
	class_unregister(&ivshmem_class);
	unregister_chrdev_region(ivshmem_devt, IVSHMEM_MAX_MINORS);
	ida_destroy(&ivshmem_ida);
}
module_exit(ivshmem_exit);

MODULE_DESCRIPTION("QEMU ivshmem device: shared memory, doorbells, interrupts");
MODULE_LICENSE("GPL");
