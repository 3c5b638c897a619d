// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem: attributes of /sys/class/ivshmem/ivshmemN.
 *
 * They exist only while the device is bound: removal deletes them (and
 * waits for readers) before the registers are unmapped.
 */
#include <linux/device.h>
#include <linux/sysfs.h>

#include "ivshmem_dev.h"

static ssize_t size_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  (unsigned long long)ivshmem_from_dev(dev)->shm_size);
}
static DEVICE_ATTR_RO(size);

static ssize_t vm_id_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%u\n", ivshmem_vm_id(ivshmem_from_dev(dev)));
}
static DEVICE_ATTR_RO(vm_id);

static ssize_t vectors_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%u\n", ivshmem_from_dev(dev)->nr_vectors);
}
static DEVICE_ATTR_RO(vectors);

static ssize_t revision_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "%u\n", ivshmem_from_dev(dev)->pdev->revision);
}
static DEVICE_ATTR_RO(revision);

static ssize_t irq_mode_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "%s\n",
			  ivshmem_from_dev(dev)->nr_vectors ? "msix" : "none");
}
static DEVICE_ATTR_RO(irq_mode);

static ssize_t doorbell_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "%d\n", ivshmem_from_dev(dev)->doorbell);
}
static DEVICE_ATTR_RO(doorbell);

/* What write-back mappings of the shared memory really get. */
static ssize_t memtype_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%s\n",
			  ivshmem_memtype_name(ivshmem_from_dev(dev)->memtype));
}
static DEVICE_ATTR_RO(memtype);

/*
 * The region header's label, as probe read it: the label's bytes and a
 * newline, or nothing at all when the region has no valid header with a
 * label.  Always there, so that "no label" is simply an empty read.
 */
static ssize_t label_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	const char *label = ivshmem_from_dev(dev)->label;

	return label[0] ? sysfs_emit(buf, "%s\n", label) : 0;
}
static DEVICE_ATTR_RO(label);

/* One count per vector, in vector order, on one line. */
static ssize_t interrupts_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	struct ivshmem_device *idev = ivshmem_from_dev(dev);
	unsigned int i;
	int len = 0;

	for (i = 0; i < idev->nr_vectors; i++)
		len += sysfs_emit_at(buf, len, "%s%lld", i ? " " : "",
				     atomic64_read(&idev->vectors[i].count));
	len += sysfs_emit_at(buf, len, "\n");
	return len;
}
static DEVICE_ATTR_RO(interrupts);

static struct attribute *ivshmem_attrs[] = {
	&dev_attr_size.attr,
	&dev_attr_vm_id.attr,
	&dev_attr_vectors.attr,
	&dev_attr_revision.attr,
	&dev_attr_irq_mode.attr,
	&dev_attr_doorbell.attr,
	&dev_attr_interrupts.attr,
	&dev_attr_memtype.attr,
	&dev_attr_label.attr,
	NULL
};

static const struct attribute_group ivshmem_group = {
	.attrs = ivshmem_attrs,
};

const struct attribute_group *ivshmem_groups[] = {
	&ivshmem_group,
	NULL
};
