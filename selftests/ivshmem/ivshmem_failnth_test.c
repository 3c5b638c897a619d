// SPDX-License-Identifier: GPL-2.0
/*
 * Every entry point of ivshmem.ko under injected allocation failures, the
 * way syzkaller does it: for n = 1, 2, ... the n-th allocation the calling
 * task makes fails (/proc/thread-self/fail-nth), until the call runs
 * without reaching an n-th allocation.  Each run must fail cleanly with an
 * errno (ENOMEM and the like) or succeed, and the device must work fully
 * afterwards.  Covered: open(), each ioctl, mmap(), binding an eventfd,
 * and probe (a sysfs bind of the device to each driver given).
 *
 *   ivshmem_failnth_test DEV [DRIVER...]
 *
 * DEV is a doorbell device with interrupts (/dev/ivshmemN); each DRIVER
 * (ivshmem, uio_ivshmem) is bound to its PCI function in turn, under
 * injection, and ivshmem is bound again at the end.  Needs a kernel with
 * CONFIG_FAULT_INJECTION, CONFIG_FAILSLAB and CONFIG_FAIL_PAGE_ALLOC
 * (the harness's debug kernel); the leaks and reports the runs may cause
 * are the harness's to find.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "ivshmem_util.h"
#include "kselftest.h"

#define MAX_NTH		2000

static struct ivs_dev dev;

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	n = n < 0 ? -errno : 0;
	close(fd);
	return n;
}

/*
 * Fail every kind of allocation on request (GFP_KERNEL included, pages of
 * any order), silently: the injection's own stack dump would read as a
 * kernel problem in the log.
 */
static int setup_injection(void)
{
	static const char *const settings[][2] = {
		{ "/sys/kernel/debug/failslab/ignore-gfp-wait", "N" },
		{ "/sys/kernel/debug/failslab/verbose", "0" },
		{ "/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N" },
		{ "/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", "N" },
		{ "/sys/kernel/debug/fail_page_alloc/min-order", "0" },
		{ "/sys/kernel/debug/fail_page_alloc/verbose", "0" },
	};
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(settings); i++) {
		ret = write_file(settings[i][0], settings[i][1]);
		if (ret) {
			ksft_print_msg("%s: %s\n", settings[i][0], strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int fail_nth_fd = -1;

/* Arm: the n-th allocation from now on, in this thread, fails. */
static void arm(int n)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%d", n);
	if (pwrite(fail_nth_fd, buf, strlen(buf), 0) < 0)
		ksft_exit_fail_msg("fail-nth: %s\n", strerror(errno));
}

/* Disarm; true when a failure was injected since arm(). */
static int injected(void)
{
	char buf[16] = "";
	int left;

	if (pread(fail_nth_fd, buf, sizeof(buf) - 1, 0) < 0)
		ksft_exit_fail_msg("fail-nth: %s\n", strerror(errno));
	left = atoi(buf);
	if (pwrite(fail_nth_fd, "0", 1, 0) < 0)
		ksft_exit_fail_msg("fail-nth: %s\n", strerror(errno));
	return left == 0;
}

/*
 * An errno an allocation failure may turn into.  The kernel's own helpers
 * turn some into EBUSY (a region whose struct resource was not allocated)
 * or EINVAL (interrupt vectors, page-table set-up of a remap).
 */
static int clean_errno(int e)
{
	return e == ENOMEM || e == ENOSPC || e == EAGAIN || e == ENOBUFS ||
	       e == EINTR || e == EBUSY || e == EINVAL;
}

/* A libc-style result (-1 and errno) as 0 or -errno. */
#define ERR(call)	((call) < 0 ? -errno : 0)

/* One entry point: 0 or -errno, leaving nothing open behind. */
typedef int (*op_fn)(int fd);

struct op {
	const char *name;
	op_fn fn;
	int needs_fd;
};

static int op_open(int unused)
{
	int fd = open(dev.node, O_RDWR);

	(void)unused;
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int op_info(int fd)
{
	struct ivshmem_info info;

	return ERR(ivs_info(fd, &info));
}

static int op_ring(int fd)
{
	struct ivshmem_info info;
	int ret = ERR(ivs_info(fd, &info));

	return ret ? ret : ERR(ivs_ring(fd, info.vm_id, 0));
}

static int op_bind(int fd)
{
	int efd = eventfd(0, EFD_CLOEXEC), ret;

	if (efd < 0)
		return -errno;
	ret = ERR(ivs_bind(fd, 0, efd));
	if (!ret)
		ret = ERR(ivs_unbind(fd, 0));
	close(efd);
	return ret;
}

static int op_set_cache(int fd)
{
	int ret = ERR(ivs_set_cache(fd, IVSHMEM_CACHE_WC));

	return ret ? ret : ERR(ivs_set_cache(fd, IVSHMEM_CACHE_WB));
}

static int op_mmap(int fd)
{
	volatile uint32_t *p;

	p = mmap(NULL, dev.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	p[0] = 0x5a5a5a5a;
	munmap((void *)p, dev.size);
	return 0;
}

static int op_read(int fd)
{
	struct ivshmem_event ev;
	int flags = fcntl(fd, F_GETFL);
	ssize_t n;

	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	n = read(fd, &ev, sizeof(ev));
	fcntl(fd, F_SETFL, flags);
	return n < 0 && errno != EAGAIN ? -errno : 0;
}

static const struct op ops[] = {
	{ "open", op_open, 0 },
	{ "info", op_info, 1 },
	{ "ring", op_ring, 1 },
	{ "bind_eventfd", op_bind, 1 },
	{ "set_cache", op_set_cache, 1 },
	{ "mmap", op_mmap, 1 },
	{ "read", op_read, 1 },
};

/*
 * Run fn with fail-nth = 1, 2, ... until a run injects nothing.  Every
 * run must end with 0 or a clean errno; the last must succeed.
 */
static void inject_each(const char *name, op_fn fn, int fd)
{
	int n, ret, fails = 0, bad = 0;

	for (n = 1; n <= MAX_NTH; n++) {
		arm(n);
		ret = fn(fd);
		if (!injected())
			break;
		if (ret) {
			fails++;
			if (!clean_errno(-ret) && !bad++)
				ksft_print_msg("%s: failure %d gave %s\n", name, n,
					       strerror(-ret));
		}
	}
	ksft_print_msg("%s: %d allocations, %d failed the call\n", name, n - 1,
		       fails);
	ksft_test_result(n <= MAX_NTH && !bad && ret == 0,
			 "%s_under_injected_failures\n", name);
}

/* The device works: open, info, map and write, ring itself, interrupt. */
static int usable(void)
{
	struct ivshmem_info info;
	int fd, efd, ret = -1;
	uint64_t v;

	fd = open(dev.node, O_RDWR);
	if (fd < 0)
		return -1;
	efd = eventfd(0, EFD_CLOEXEC);
	if (!ivs_info(fd, &info) && info.nr_vectors == dev.vectors &&
	    !op_mmap(fd) && efd >= 0 && !ivs_bind(fd, 0, efd) &&
	    !ivs_ring(fd, info.vm_id, 0)) {
		struct pollfd pfd = { .fd = efd, .events = POLLIN };

		if (poll(&pfd, 1, 5000) == 1 && read(efd, &v, sizeof(v)) == 8)
			ret = 0;
	}
	if (efd >= 0)
		close(efd);
	close(fd);
	return ret;
}

static char drv_path[128];

static int write_drv(const char *drv, const char *what, const char *pci)
{
	snprintf(drv_path, sizeof(drv_path), "/sys/bus/pci/drivers/%s/%s", drv,
		 what);
	return write_file(drv_path, pci);
}

static int bound_to(const char *drv)
{
	char path[256], link[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", dev.pci);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return !drv;
	link[n] = '\0';
	return drv && !strcmp(strrchr(link, '/') + 1, drv);
}

/* Unbind the device from its driver, if any: 0 or -errno. */
static int unbind_current(void)
{
	char path[256], link[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", dev.pci);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return 0;
	link[n] = '\0';
	return write_drv(strrchr(link, '/') + 1, "unbind", dev.pci);
}

/* Find the device again by its PCI address once ivshmem is bound. */
static int reload(void)
{
	struct ivs_dev devs[IVS_MAX_DEVS];
	int i, n = ivs_enumerate(devs, IVS_MAX_DEVS);

	for (i = 0; i < n; i++) {
		if (!strcmp(devs[i].pci, dev.pci)) {
			dev = devs[i];
			return 0;
		}
	}
	return -ENODEV;
}

static const char *probe_drv;

static int op_probe(int unused)
{
	(void)unused;
	return write_drv(probe_drv, "bind", dev.pci);
}

/*
 * Probe under injection: unbind, arm, bind, for n = 1, 2, ...  A probe
 * that fails must leave the device unbound; one that succeeds, bound.
 */
static void probe_each(const char *drv)
{
	int n, ret, fails = 0, bad = 0;

	probe_drv = drv;
	for (n = 1; n <= MAX_NTH; n++) {
		ret = bound_to(NULL) ? 0 : unbind_current();
		if (ret)
			ksft_exit_fail_msg("unbind: %s\n", strerror(-ret));
		arm(n);
		ret = op_probe(0);
		if (!injected())
			break;
		if (ret) {
			fails++;
			if ((!clean_errno(-ret) || !bound_to(NULL)) && !bad++)
				ksft_print_msg("probe %s: failure %d gave %s, %s\n",
					       drv, n, strerror(-ret),
					       bound_to(NULL) ? "unbound" : "bound");
		} else if (!bound_to(drv) && !bad++) {
			ksft_print_msg("probe %s: failure %d: bind succeeded, not bound\n",
				       drv, n);
		}
	}
	ksft_print_msg("probe %s: %d allocations, %d failed the bind\n", drv,
		       n - 1, fails);
	ksft_test_result(n <= MAX_NTH && !bad && ret == 0 && bound_to(drv),
			 "probe_%s_under_injected_failures\n", drv);
}

int main(int argc, char **argv)
{
	size_t i;
	int fd, a, ret;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DEV [DRIVER...]\n", argv[0]);
		return KSFT_FAIL;
	}
	ksft_print_header();
	fail_nth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	if (fail_nth_fd < 0)
		ksft_exit_skip("no /proc/thread-self/fail-nth (CONFIG_FAULT_INJECTION)\n");
	if (ivs_find(argv[1], &dev))
		ksft_exit_fail_msg("no device %s\n", argv[1]);
	if (setup_injection())
		ksft_exit_skip("no failslab/fail_page_alloc in debugfs\n");
	ksft_set_plan(ARRAY_SIZE(ops) + 1 + 2 * (argc - 2));

	fd = open(dev.node, O_RDWR);
	if (fd < 0)
		ksft_exit_fail_msg("%s: %s\n", dev.node, strerror(errno));
	for (i = 0; i < ARRAY_SIZE(ops); i++)
		inject_each(ops[i].name, ops[i].fn, fd);
	close(fd);
	ksft_test_result(usable() == 0, "device_usable_after_the_calls\n");

	for (a = 2; a < argc; a++) {
		probe_each(argv[a]);
		unbind_current();
		ret = write_drv("ivshmem", "bind", dev.pci);
		if (ret)
			ksft_print_msg("bind ivshmem: %s\n", strerror(-ret));
		ksft_test_result(reload() == 0 && usable() == 0,
				 "device_usable_after_probing_%s\n", argv[a]);
	}
	ksft_finished();
}
