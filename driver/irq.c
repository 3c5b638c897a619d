// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem: MSI-X vectors, their handlers and the eventfds bound to them.
 */
#include <linux/eventfd.h>
#include <linux/interrupt.h>
#include <linux/pci.h>
#include <linux/slab.h>

#include "compat.h"
#include "ivshmem_dev.h"

/*
 * A doorbell leaves nothing to acknowledge in the device: count it, signal
 * the bound eventfds and wake read() and poll().
 */
static irqreturn_t ivshmem_irq(int irq, void *data)
{
	struct ivshmem_vector *vec = data;
	struct ivshmem_device *idev = vec->idev;
	struct ivshmem_binding *b;

	atomic64_inc(&vec->count);

	spin_lock(&idev->irq_lock);
	list_for_each_entry(b, &vec->binds, node)
		ivshmem_eventfd_signal(b->ctx);
	spin_unlock(&idev->irq_lock);

	wake_up_all(&idev->wait);
	return IRQ_HANDLED;
}

static void ivshmem_free_irqs(struct ivshmem_device *idev, unsigned int n)
{
	while (n--) {
		free_irq(idev->vectors[n].irq, &idev->vectors[n]);
		idev->vectors[n].irq = 0;
	}
}

/*
 * Without MSI-X the device still works for memory and ringing, so failing
 * to get vectors is not fatal: the device runs in interrupt mode "none".
 */
static void ivshmem_irq_none(struct ivshmem_device *idev, const char *why,
			     int err)
{
	dev_notice(&idev->pdev->dev,
		   "MSI-X unavailable (%s, %d): interrupt mode none, no doorbell can reach this guest\n",
		   why, err);
	idev->nr_vectors = 0;
}

/**
 * ivshmem_irq_setup() - enable the MSI-X vectors of a doorbell device
 * that can be rung (0-255).
 * @idev: the device, BARs set up.
 *
 * Return: 0, also in interrupt mode "none"; a negative errno only when
 * memory runs out or an interrupt handler cannot be installed.
 */
int ivshmem_irq_setup(struct ivshmem_device *idev)
{
	struct pci_dev *pdev = idev->pdev;
	unsigned int i;
	int nvec, ret;

	if (!idev->doorbell)
		return 0;

	nvec = pci_msix_vec_count(pdev);
	if (nvec <= 0) {
		ivshmem_irq_none(idev, "no MSI-X table", nvec);
		return 0;
	}
	nvec = min(nvec, IVSHMEM_MAX_VECTORS);
	ret = pci_alloc_irq_vectors(pdev, 1, nvec, PCI_IRQ_MSIX);
	if (ret < 0) {
		ivshmem_irq_none(idev, "cannot enable", ret);
		return 0;
	}
	if (ret < nvec)
		dev_notice(&pdev->dev, "only %d of %d MSI-X vectors enabled\n",
			   ret, nvec);
	nvec = ret;
	/* MSI-X messages are memory writes of the device. */
	pci_set_master(pdev);

	idev->vectors = kcalloc(nvec, sizeof(*idev->vectors), GFP_KERNEL);
	if (!idev->vectors) {
		ret = -ENOMEM;
		goto err_free_vectors;
	}

	for (i = 0; i < nvec; i++) {
		struct ivshmem_vector *vec = &idev->vectors[i];

		vec->idev = idev;
		atomic64_set(&vec->count, 0);
		INIT_LIST_HEAD(&vec->binds);
		snprintf(vec->name, sizeof(vec->name), "%s-%u",
			 dev_name(&idev->dev), i);
		ret = request_irq(pci_irq_vector(pdev, i), ivshmem_irq, 0,
				  vec->name, vec);
		if (ret)
			goto err_free_irqs;
		vec->irq = pci_irq_vector(pdev, i);
	}
	idev->nr_vectors = nvec;
	return 0;

err_free_irqs:
	ivshmem_free_irqs(idev, i);
err_free_vectors:
	pci_free_irq_vectors(pdev);
	return ret;
}

static void ivshmem_put_bindings(struct list_head *list)
{
	struct ivshmem_binding *b, *tmp;

	list_for_each_entry_safe(b, tmp, list, node) {
		list_del(&b->node);
		eventfd_ctx_put(b->ctx);
		kfree(b);
	}
}

/**
 * ivshmem_irq_teardown() - stop interrupts and drop every eventfd binding.
 * @idev: the device, being removed.
 *
 * Each bound eventfd is signalled one last time so that a thread waiting
 * on nothing else wakes up and finds the device gone.
 */
void ivshmem_irq_teardown(struct ivshmem_device *idev)
{
	unsigned int n = idev->nr_vectors, i;
	LIST_HEAD(dead);

	if (!n)
		return;
	ivshmem_free_irqs(idev, n);
	pci_free_irq_vectors(idev->pdev);

	spin_lock_irq(&idev->irq_lock);
	for (i = 0; i < n; i++) {
		struct ivshmem_binding *b;

		list_for_each_entry(b, &idev->vectors[i].binds, node)
			ivshmem_eventfd_signal(b->ctx);
		list_splice_init(&idev->vectors[i].binds, &dead);
	}
	spin_unlock_irq(&idev->irq_lock);

	ivshmem_put_bindings(&dead);
}

static struct ivshmem_binding *ivshmem_find_binding(struct ivshmem_vector *vec,
						    struct ivshmem_file *f)
{
	struct ivshmem_binding *b;

	list_for_each_entry(b, &vec->binds, node)
		if (b->owner == f)
			return b;
	return NULL;
}

/**
 * ivshmem_bind_eventfd() - signal an eventfd on each interrupt of a vector.
 * @f:      the file that owns the binding.
 * @vector: a vector below &struct ivshmem_device.nr_vectors.
 * @fd:     the eventfd's descriptor.
 *
 * Called inside the device's SRCU read section, so removal has not torn
 * the vectors down yet and will drop this binding when it does.
 *
 * Return: 0, -EBADF, -EINVAL (not an eventfd), -EBUSY or -ENOMEM.
 */
int ivshmem_bind_eventfd(struct ivshmem_file *f, unsigned int vector, int fd)
{
	struct ivshmem_vector *vec = &f->idev->vectors[vector];
	struct ivshmem_binding *b;
	struct eventfd_ctx *ctx;
	int ret = 0;

	ctx = eventfd_ctx_fdget(fd);
	if (IS_ERR(ctx))
		return PTR_ERR(ctx);

	b = kzalloc(sizeof(*b), GFP_KERNEL);
	if (!b) {
		eventfd_ctx_put(ctx);
		return -ENOMEM;
	}
	b->owner = f;
	b->ctx = ctx;

	spin_lock_irq(&f->idev->irq_lock);
	if (ivshmem_find_binding(vec, f))
		ret = -EBUSY;
	else
		list_add_tail(&b->node, &vec->binds);
	spin_unlock_irq(&f->idev->irq_lock);

	if (ret) {
		eventfd_ctx_put(ctx);
		kfree(b);
	}
	return ret;
}

/**
 * ivshmem_unbind_eventfd() - drop a file's eventfd binding on a vector.
 * @f:      the file.
 * @vector: a vector below &struct ivshmem_device.nr_vectors.
 *
 * Return: 0, or -ENOENT when the file has no eventfd on @vector.
 */
int ivshmem_unbind_eventfd(struct ivshmem_file *f, unsigned int vector)
{
	struct ivshmem_vector *vec = &f->idev->vectors[vector];
	struct ivshmem_binding *b;

	spin_lock_irq(&f->idev->irq_lock);
	b = ivshmem_find_binding(vec, f);
	if (b)
		list_del(&b->node);
	spin_unlock_irq(&f->idev->irq_lock);

	if (!b)
		return -ENOENT;
	eventfd_ctx_put(b->ctx);
	kfree(b);
	return 0;
}

/**
 * ivshmem_unbind_file() - drop every binding of a file being released.
 * @f: the file.
 */
void ivshmem_unbind_file(struct ivshmem_file *f)
{
	struct ivshmem_device *idev = f->idev;
	struct ivshmem_binding *b, *tmp;
	LIST_HEAD(dead);
	unsigned int i;

	spin_lock_irq(&idev->irq_lock);
	for (i = 0; i < idev->nr_vectors; i++)
		list_for_each_entry_safe(b, tmp, &idev->vectors[i].binds, node)
			if (b->owner == f)
				list_move(&b->node, &dead);
	spin_unlock_irq(&idev->irq_lock);

	ivshmem_put_bindings(&dead);
}
