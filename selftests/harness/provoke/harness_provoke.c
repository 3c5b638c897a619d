// SPDX-License-Identifier: GPL-2.0
/*
 * harness_provoke: make each detector of the harness's debug kernel report,
 * on demand, so that the harness self-tests can prove that every report
 * fails a scenario.  Never load it anywhere else.
 *
 *   echo kasan > /sys/kernel/debug/harness_provoke/provoke
 *
 * Writing a name runs that bug once: kasan (a slab out-of-bounds read),
 * lockdep (an AB-BA mutex order), sleep (a sleeping call under a spinlock),
 * rcu (rcu_dereference() outside a read-side section), ubsan (a shift past
 * the width of int), odebug (kfree() of an armed timer), list_add and
 * list_del (corrupted lists), leak (a kmalloc() nobody refers to).  Each
 * stays survivable: the kernel reports and goes on.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/timer.h>
#include <linux/uaccess.h>

static struct dentry *provoke_dir;

static noinline void provoke_kasan(void)
{
	char *p = kmalloc(16, GFP_KERNEL);
	size_t i = 16;

	if (!p)
		return;
	OPTIMIZER_HIDE_VAR(i);
	pr_info("kasan: reading byte %zu of a 16-byte object\n", i);
	pr_info("read %d\n", READ_ONCE(p[i]));
	kfree(p);
}

static DEFINE_MUTEX(provoke_a);
static DEFINE_MUTEX(provoke_b);

static noinline void provoke_lockdep(void)
{
	mutex_lock(&provoke_a);
	mutex_lock(&provoke_b);
	mutex_unlock(&provoke_b);
	mutex_unlock(&provoke_a);

	mutex_lock(&provoke_b);
	mutex_lock(&provoke_a);
	mutex_unlock(&provoke_a);
	mutex_unlock(&provoke_b);
}

static DEFINE_SPINLOCK(provoke_spin);
static DEFINE_MUTEX(provoke_sleeper);

static noinline void provoke_sleep(void)
{
	spin_lock(&provoke_spin);
	/* Uncontended, so it does not sleep; might_sleep() reports anyway. */
	mutex_lock(&provoke_sleeper);
	mutex_unlock(&provoke_sleeper);
	spin_unlock(&provoke_spin);
}

struct provoke_obj {
	int value;
	struct timer_list timer;
	struct list_head node;
};

static struct provoke_obj __rcu *provoke_rcu_ptr;

static noinline void provoke_rcu(void)
{
	struct provoke_obj *p;

	p = rcu_dereference(provoke_rcu_ptr);
	pr_info("rcu: dereferenced %p outside rcu_read_lock()\n", p);
}

static noinline void provoke_ubsan(void)
{
	int shift = 40;
	int one = 1;

	OPTIMIZER_HIDE_VAR(shift);
	pr_info("ubsan: 1 << %d = %d\n", shift, one << shift);
}

static void provoke_timer_fn(struct timer_list *t)
{
}

static noinline void provoke_odebug(void)
{
	struct provoke_obj *obj = kzalloc(sizeof(*obj), GFP_KERNEL);

	if (!obj)
		return;
	timer_setup(&obj->timer, provoke_timer_fn, 0);
	mod_timer(&obj->timer, jiffies + 1000 * HZ);
	/* Freed while armed: debugobjects reports and deactivates it. */
	kfree(obj);
}

static noinline void provoke_list_add(void)
{
	LIST_HEAD(head);
	struct provoke_obj a, b;

	list_add(&a.node, &head);
	a.node.prev = &b.node;		/* head->next->prev no longer head */
	list_add(&b.node, &head);	/* refused after the report */
}

static noinline void provoke_list_del(void)
{
	LIST_HEAD(head);
	struct provoke_obj a;

	list_add(&a.node, &head);
	list_del(&a.node);
	list_del(&a.node);		/* pointers are poisoned: refused */
}

static noinline void provoke_leak(void)
{
	void *p = kmalloc(128, GFP_KERNEL);

	pr_info("leak: 128 bytes at %p, forgotten\n", p);
}

static const struct {
	const char *name;
	void (*fn)(void);
} provokers[] = {
	{ "kasan", provoke_kasan },
	{ "lockdep", provoke_lockdep },
	{ "sleep", provoke_sleep },
	{ "rcu", provoke_rcu },
	{ "ubsan", provoke_ubsan },
	{ "odebug", provoke_odebug },
	{ "list_add", provoke_list_add },
	{ "list_del", provoke_list_del },
	{ "leak", provoke_leak },
};

static ssize_t provoke_write(struct file *file, const char __user *ubuf,
			     size_t len, loff_t *ppos)
{
	char buf[16];
	size_t i;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	strim(buf);
	for (i = 0; i < ARRAY_SIZE(provokers); i++) {
		if (!strcmp(buf, provokers[i].name)) {
			pr_info("provoking %s\n", buf);
			provokers[i].fn();
			return len;
		}
	}
	return -EINVAL;
}

static const struct file_operations provoke_fops = {
	.owner = THIS_MODULE,
	.write = provoke_write,
};

static int __init provoke_init(void)
{
	provoke_dir = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file("provoke", 0200, provoke_dir, NULL, &provoke_fops);
	return 0;
}

static void __exit provoke_exit(void)
{
	debugfs_remove_recursive(provoke_dir);
}

module_init(provoke_init);
module_exit(provoke_exit);
MODULE_DESCRIPTION("Provoke the debug kernel's detectors for the harness self-tests");
MODULE_LICENSE("GPL");
