// SPDX-License-Identifier: GPL-2.0
/*
 * The ivshmem driver in one guest: what /dev/ivshmemN reports against sysfs
 * and what QEMU was given, the errors of every ioctl and of mmap(), shared
 * memory through several files, cache modes in the x86 PAT list, and
 * interrupts rung to the guest itself (eventfds, read(), poll(), sysfs
 * counters).
 *
 * The scenario tells the test what to expect through the environment:
 *   IVSHMEM_EXPECT_DEVICES  kind:size:vectors:irq_mode for each device in
 *                           PCI order, comma separated (size with K/M/G)
 *   IVSHMEM_EXPECT_HIGH     1: a device's shared memory must lie above
 *                           4 GiB, so that write-back can be checked
 *   IVSHMEM_EXPECT_MEMTYPE  what write-back mappings of every device must
 *                           get in the PAT list; "write-back" when unset
 *                           (the driver moves BAR2 out of the uncached
 *                           32-bit hole)
 *   IVSHMEM_HOST_TOKEN      a string the host wrote at offset 0 of every
 *                           device's shared memory
 *   IVSHMEM_GUEST_TOKEN     a string to write at offset 4096 (the host
 *                           reads it back)
 *   IVSHMEM_EXPECT_LABELS   each device's region label in PCI order, in
 *                           hex, "-" for none (common/region_label.h)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "ivshmem_util.h"
#include "kselftest_harness.h"
#include "region_label.h"

/*
 * SKIP with the test's full name in the reason: the harness of 6.1
 * prints no name on a skipped test's KTAP line.
 */
#define SKIP_F(fmt, ...) SKIP(return, "%s.%s.%s: " fmt, _metadata->fixture->name, \
			      variant->kind, _metadata->name, ##__VA_ARGS__)
#define SKIP_T(fmt, ...) SKIP(return, "%s.%s: " fmt, _metadata->fixture->name, \
			      _metadata->name, ##__VA_ARGS__)

#define PAGE		4096UL
#define WAIT_MS		5000

static unsigned long long parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	switch (*end) {
	case 'K': return v << 10;
	case 'M': return v << 20;
	case 'G': return v << 30;
	default: return v;
	}
}

/* What a write-back request becomes, as the driver says in sysfs. */
static const char *wb_type(const struct ivs_dev *d)
{
	return d->memtype;
}

/* The PAT list's name of an IVSHMEM_MEMTYPE_* value. */
static const char *memtype_name(unsigned int memtype)
{
	switch (memtype) {
	case IVSHMEM_MEMTYPE_WB:
		return "write-back";
	case IVSHMEM_MEMTYPE_UC_MINUS:
		return "uncached-minus";
	default:
		return "unknown";
	}
}

/* A page nobody may touch, to hand to the kernel as a bad pointer. */
static void *bad_page(void)
{
	void *p = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* ---------------------------------------------------------------- all devices */

TEST(devices_match_what_qemu_was_given)
{
	const char *want = getenv("IVSHMEM_EXPECT_DEVICES");
	struct ivs_dev devs[IVS_MAX_DEVS];
	char *copy, *tok, *save;
	int n, i = 0;

	if (!want)
		SKIP_T("IVSHMEM_EXPECT_DEVICES not set");
	n = ivs_enumerate(devs, IVS_MAX_DEVS);
	ASSERT_LE(0, n);
	copy = strdup(want);
	ASSERT_NE(NULL, copy);
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save), i++) {
		char kind[16], size[16], mode[16];
		unsigned int vectors;

		ASSERT_EQ(4, sscanf(tok, "%15[^:]:%15[^:]:%u:%15s", kind, size,
				    &vectors, mode)) TH_LOG("bad entry %s", tok);
		ASSERT_LT(i, n) TH_LOG("device %d (%s) missing", i, tok);
		EXPECT_EQ(!strcmp(kind, "doorbell"), devs[i].doorbell)
			TH_LOG("%s", devs[i].name);
		EXPECT_EQ(parse_size(size), devs[i].size) TH_LOG("%s", devs[i].name);
		EXPECT_EQ(vectors, devs[i].vectors) TH_LOG("%s", devs[i].name);
		EXPECT_STREQ(mode, devs[i].irq_mode) TH_LOG("%s", devs[i].name);
	}
	free(copy);
	EXPECT_EQ(i, n);
}

TEST(info_matches_sysfs_on_every_device)
{
	struct ivs_dev devs[IVS_MAX_DEVS];
	struct ivshmem_info info;
	int n, i;

	n = ivs_enumerate(devs, IVS_MAX_DEVS);
	ASSERT_LT(0, n) TH_LOG("no ivshmem device");
	for (i = 0; i < n; i++) {
		const struct ivs_dev *d = &devs[i];
		int fd = open(d->node, O_RDWR);

		ASSERT_LE(0, fd) TH_LOG("open %s: %s", d->node, strerror(errno));
		ASSERT_EQ(0, ivs_info(fd, &info));
		EXPECT_EQ(sizeof(info), info.size);
		EXPECT_EQ(0, info.flags);
		EXPECT_EQ(d->size, info.shm_size);
		EXPECT_EQ(ivs_attr_num(d->name, "vm_id"), info.vm_id);
		EXPECT_EQ(d->vectors, info.nr_vectors);
		EXPECT_EQ(ivs_attr_num(d->name, "revision"), info.revision);
		EXPECT_EQ(1, info.revision);
		EXPECT_EQ(strcmp(d->irq_mode, "msix") ? IVSHMEM_IRQ_MODE_NONE :
			  IVSHMEM_IRQ_MODE_MSIX, info.irq_mode);
		EXPECT_EQ(d->doorbell ? IVSHMEM_DEV_DOORBELL : 0, info.dev_flags);
		EXPECT_EQ(IVSHMEM_ABI_VERSION, info.abi_version);
		EXPECT_STREQ(d->memtype, memtype_name(info.memtype));
		EXPECT_EQ(0, info.reserved[0]);
		/* Shared memory is a power of two; plain devices have ID 0. */
		EXPECT_EQ(0, info.shm_size & (info.shm_size - 1));
		if (!d->doorbell)
			EXPECT_EQ(0, info.vm_id);
		close(fd);
	}
}

TEST(class_devices_are_udev_friendly)
{
	struct ivs_dev devs[IVS_MAX_DEVS];
	char buf[512], want[64], path[256], link[256];
	unsigned int minors[IVS_MAX_DEVS];
	int n, i, j;

	n = ivs_enumerate(devs, IVS_MAX_DEVS);
	ASSERT_LT(0, n);
	for (i = 0; i < n; i++) {
		const struct ivs_dev *d = &devs[i];
		unsigned int maj, min;
		struct stat st;
		ssize_t len;

		ASSERT_EQ(0, ivs_attr(d->name, "dev", buf, sizeof(buf)));
		ASSERT_EQ(2, sscanf(buf, "%u:%u", &maj, &min));
		ASSERT_EQ(0, stat(d->node, &st)) TH_LOG("%s", d->node);
		EXPECT_TRUE(S_ISCHR(st.st_mode));
		EXPECT_EQ(maj, major(st.st_rdev));
		EXPECT_EQ(min, minor(st.st_rdev));
		minors[i] = min;
		for (j = 0; j < i; j++)
			EXPECT_NE(minors[j], min);

		ASSERT_EQ(0, ivs_attr(d->name, "uevent", buf, sizeof(buf)));
		snprintf(want, sizeof(want), "MAJOR=%u\n", maj);
		EXPECT_NE(NULL, strstr(buf, want)) TH_LOG("uevent: %s", buf);
		snprintf(want, sizeof(want), "MINOR=%u\n", min);
		EXPECT_NE(NULL, strstr(buf, want)) TH_LOG("uevent: %s", buf);
		snprintf(want, sizeof(want), "DEVNAME=%s", d->name);
		EXPECT_NE(NULL, strstr(buf, want)) TH_LOG("uevent: %s", buf);

		/* Parent is the PCI function (by-path links), driven by ivshmem. */
		snprintf(path, sizeof(path), IVS_CLASS "/%s/subsystem", d->name);
		len = readlink(path, link, sizeof(link) - 1);
		ASSERT_LT(0, len);
		link[len] = '\0';
		EXPECT_STREQ("ivshmem", strrchr(link, '/') + 1);
		snprintf(path, sizeof(path), IVS_CLASS "/%s/device/vendor", d->name);
		ASSERT_EQ(0, ivs_read_file(path, buf, sizeof(buf)));
		EXPECT_STREQ("0x1af4", buf);
		snprintf(path, sizeof(path), IVS_CLASS "/%s/device/device", d->name);
		ASSERT_EQ(0, ivs_read_file(path, buf, sizeof(buf)));
		EXPECT_STREQ("0x1110", buf);
		snprintf(path, sizeof(path), IVS_CLASS "/%s/device/driver", d->name);
		len = readlink(path, link, sizeof(link) - 1);
		ASSERT_LT(0, len);
		link[len] = '\0';
		EXPECT_STREQ("ivshmem", strrchr(link, '/') + 1);
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/ivshmem/%s",
			 d->pci, d->name);
		EXPECT_EQ(0, access(path, F_OK)) TH_LOG("%s", path);
	}
}

/*
 * Every device has a read-only label attribute, empty or a label and one
 * newline, the same at every read (probe read the region header once).
 * With $IVSHMEM_EXPECT_LABELS, each holds the label the scenario wrote
 * into its region's header, or nothing.
 */
TEST(label_is_empty_or_the_region_label)
{
	const char *want = getenv("IVSHMEM_EXPECT_LABELS");
	char buf[256], again[256], exp[LABEL_ATTR_MAX], path[256];
	struct ivs_dev devs[IVS_MAX_DEVS];
	int n, i, len, elen;
	const char *bad;

	n = ivs_enumerate(devs, IVS_MAX_DEVS);
	ASSERT_LT(0, n) TH_LOG("no ivshmem device");
	if (want)
		ASSERT_EQ(label_expected_count(want), n)
			TH_LOG("IVSHMEM_EXPECT_LABELS=%s", want);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), IVS_CLASS "/%s/label", devs[i].name);
		len = label_attr_read(path, buf, sizeof(buf));
		ASSERT_LE(0, len) TH_LOG("%s: %s", path, strerror(-len));
		bad = label_attr_bad(buf, len);
		EXPECT_EQ(NULL, bad) TH_LOG("%s: %s", path, bad);
		EXPECT_EQ(len, label_attr_read(path, again, sizeof(again)));
		EXPECT_EQ(0, memcmp(buf, again, len)) TH_LOG("%s changed", path);
		errno = 0;
		EXPECT_EQ(-1, open(path, O_WRONLY));
		EXPECT_EQ(EACCES, errno) TH_LOG("%s", path);
		if (!want)
			continue;
		elen = label_expected(want, i, exp, sizeof(exp));
		ASSERT_LE(0, elen) TH_LOG("entry %d of IVSHMEM_EXPECT_LABELS", i);
		EXPECT_EQ(elen ? elen + 1 : 0, len)
			TH_LOG("%s (%s): %d bytes, want %d", devs[i].name,
			       devs[i].pci, len, elen ? elen + 1 : 0);
		if (elen && len == elen + 1)
			EXPECT_EQ(0, memcmp(exp, buf, elen))
				TH_LOG("%s (%s): %.*s", devs[i].name, devs[i].pci,
				       len - 1, buf);
	}
}

/* ------------------------------------------------------------ one device */

FIXTURE(dev) {
	struct ivs_dev d;
	struct ivshmem_info info;
	int fd;
};

FIXTURE_VARIANT(dev) {
	const char *kind;
};

FIXTURE_VARIANT_ADD(dev, plain) {
	.kind = "plain",
};

FIXTURE_VARIANT_ADD(dev, doorbell) {
	.kind = "doorbell",
};

/* Another doorbell device, with another number of vectors. */
FIXTURE_VARIANT_ADD(dev, doorbell2) {
	.kind = "doorbell2",
};

FIXTURE_SETUP(dev)
{
	self->fd = -1;
	if (ivs_find(variant->kind, &self->d))
		SKIP_F("no %s device in this guest", variant->kind);
	self->fd = open(self->d.node, O_RDWR);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", self->d.node, strerror(errno));
	ASSERT_EQ(0, ivs_info(self->fd, &self->info));
}

FIXTURE_TEARDOWN(dev)
{
	if (self->fd >= 0)
		close(self->fd);
}

/* Setup skipped: nothing to test (6.1's harness still calls the test). */
#define NEED_DEV() do {						\
	if (self->fd < 0)					\
		return;						\
} while (0)
#define NEED_IRQ() do {						\
	NEED_DEV();						\
	if (!self->info.nr_vectors)				\
		SKIP_F("%s has no interrupts", self->d.name);	\
} while (0)
#define EXPECT_ERRNO(err, call) do {				\
	errno = 0;						\
	EXPECT_EQ(-1, (long)(call));				\
	EXPECT_EQ(err, errno) TH_LOG("%s", strerror(errno));	\
} while (0)

TEST_F(dev, info_rejects_bad_size_and_unknown_flags)
{
	struct ivshmem_info info;
	static const __u32 sizes[] = { 0, 4, sizeof(info) - 4, sizeof(info) + 8, ~0U };
	static const __u32 flags[] = { 1, 0x80000000U, ~0U };
	unsigned int i;

	NEED_DEV();
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(&info, 0, sizeof(info));
		info.size = sizes[i];
		EXPECT_ERRNO(EINVAL, ioctl(self->fd, IVSHMEM_IOCTL_INFO, &info));
	}
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		memset(&info, 0, sizeof(info));
		info.size = sizeof(info);
		info.flags = flags[i];
		EXPECT_ERRNO(EINVAL, ioctl(self->fd, IVSHMEM_IOCTL_INFO, &info));
	}
	/* The output fields need not be clear on input. */
	memset(&info, 0xa5, sizeof(info));
	info.size = sizeof(info);
	info.flags = 0;
	EXPECT_EQ(0, ioctl(self->fd, IVSHMEM_IOCTL_INFO, &info));
	EXPECT_EQ(0, info.reserved[0]);
	EXPECT_EQ(self->info.memtype, info.memtype);
	EXPECT_EQ(self->info.shm_size, info.shm_size);
}

TEST_F(dev, every_ioctl_gives_efault_for_bad_pointers)
{
	static const unsigned long cmds[] = {
		IVSHMEM_IOCTL_INFO, IVSHMEM_IOCTL_RING,
		IVSHMEM_IOCTL_BIND_EVENTFD, IVSHMEM_IOCTL_UNBIND_EVENTFD,
		IVSHMEM_IOCTL_SET_CACHE,
	};
	char *none = bad_page(), *ro;
	struct ivshmem_info *info;
	unsigned int i;

	NEED_DEV();
	ASSERT_NE(NULL, none);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		EXPECT_ERRNO(EFAULT, ioctl(self->fd, cmds[i], NULL));
		EXPECT_ERRNO(EFAULT, ioctl(self->fd, cmds[i], none));
		EXPECT_ERRNO(EFAULT, ioctl(self->fd, cmds[i], (void *)8));
	}
	/* INFO reads its argument, then writes it: a read-only page fails late. */
	ro = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	info = (struct ivshmem_info *)ro;
	info->size = sizeof(*info);
	ASSERT_EQ(0, mprotect(ro, PAGE, PROT_READ));
	EXPECT_ERRNO(EFAULT, ioctl(self->fd, IVSHMEM_IOCTL_INFO, ro));
	munmap(ro, PAGE);
	munmap(none, PAGE);
	/* A structure running off the end of the last readable page. */
	ro = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		  -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	ASSERT_EQ(0, munmap(ro + PAGE, PAGE));
	memset(ro, 0, PAGE);
	EXPECT_ERRNO(EFAULT, ioctl(self->fd, IVSHMEM_IOCTL_RING, ro + PAGE - 8));
	EXPECT_ERRNO(EFAULT, ioctl(self->fd, IVSHMEM_IOCTL_BIND_EVENTFD, ro + PAGE - 8));
	munmap(ro, PAGE);
}

TEST_F(dev, unknown_ioctls_give_enotty)
{
	char buf[256] = { 0 };
	static const unsigned long cmds[] = {
		_IO(IVSHMEM_MAGIC, 0x05),
		_IOWR(IVSHMEM_MAGIC, 0x0f, struct ivshmem_info),
		/* Known numbers with the wrong direction or size. */
		_IOR(IVSHMEM_MAGIC, 0x00, struct ivshmem_info),
		_IOWR(IVSHMEM_MAGIC, 0x00, __u64),
		_IOW(IVSHMEM_MAGIC, 0x01, __u64),
		_IOR(IVSHMEM_MAGIC, 0x02, struct ivshmem_eventfd),
		_IOW(IVSHMEM_MAGIC, 0x04, __u32),
		/* Another magic, and nothing at all. */
		_IOWR('K', 0x00, struct ivshmem_info),
		0,
	};
	unsigned int i;

	NEED_DEV();
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		errno = 0;
		EXPECT_EQ(-1, ioctl(self->fd, cmds[i], buf)) TH_LOG("cmd %#lx", cmds[i]);
		EXPECT_EQ(ENOTTY, errno) TH_LOG("cmd %#lx: %s", cmds[i], strerror(errno));
	}
}

TEST_F(dev, ring_rejects_bad_peer_vector_and_flags)
{
	struct ivshmem_ring r;

	NEED_DEV();
	r = (struct ivshmem_ring){ .peer = 65536 };
	EXPECT_ERRNO(EINVAL, ioctl(self->fd, IVSHMEM_IOCTL_RING, &r));
	r = (struct ivshmem_ring){ .peer = ~0U };
	EXPECT_ERRNO(EINVAL, ioctl(self->fd, IVSHMEM_IOCTL_RING, &r));
	r = (struct ivshmem_ring){ .vector = 256 };
	EXPECT_ERRNO(EINVAL, ioctl(self->fd, IVSHMEM_IOCTL_RING, &r));
	r = (struct ivshmem_ring){ .vector = 65535 };
	EXPECT_ERRNO(EINVAL, ioctl(self->fd, IVSHMEM_IOCTL_RING, &r));
	r = (struct ivshmem_ring){ .flags = 1 };
	EXPECT_ERRNO(EINVAL, ioctl(self->fd, IVSHMEM_IOCTL_RING, &r));
	r = (struct ivshmem_ring){ .pad = 1 };
	EXPECT_ERRNO(EINVAL, ioctl(self->fd, IVSHMEM_IOCTL_RING, &r));
}

TEST_F(dev, ring_works_only_on_doorbell_devices)
{
	struct ivshmem_ring r = { .peer = 65535, .vector = 255 };

	NEED_DEV();
	if (self->d.doorbell) {
		/* Nobody has ID 65535: the device drops the ring silently. */
		EXPECT_EQ(0, ioctl(self->fd, IVSHMEM_IOCTL_RING, &r));
	} else {
		EXPECT_EQ(0, self->info.dev_flags & IVSHMEM_DEV_DOORBELL);
		EXPECT_ERRNO(EOPNOTSUPP, ioctl(self->fd, IVSHMEM_IOCTL_RING, &r));
		r.peer = 0;
		r.vector = 0;
		EXPECT_ERRNO(EOPNOTSUPP, ioctl(self->fd, IVSHMEM_IOCTL_RING, &r));
	}
}

/* Ringing acts on other VMs: a file open read-only may map and wait only. */
TEST_F(dev, ring_needs_a_file_open_for_writing)
{
	struct ivshmem_ring r = { .peer = 65535, .vector = 0 };
	int fd;

	NEED_DEV();
	fd = open(self->d.node, O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_ERRNO(EBADF, ioctl(fd, IVSHMEM_IOCTL_RING, &r));
	/* bad arguments still come first */
	r.flags = 1;
	EXPECT_ERRNO(EINVAL, ioctl(fd, IVSHMEM_IOCTL_RING, &r));
	close(fd);
}

/* A debugger reads and writes the shared memory through ptrace(). */
TEST_F(dev, mapping_is_reachable_through_proc_mem)
{
	uint32_t word = 0x5eed0000 | (getpid() & 0xffff), got = 0;
	volatile uint32_t *p;
	int mem;

	NEED_DEV();
	p = mmap(NULL, getpagesize(), PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	mem = open("/proc/self/mem", O_RDWR);
	ASSERT_LE(0, mem);
	p[100] = word;
	EXPECT_EQ(sizeof(got), pread(mem, &got, sizeof(got), (off_t)(uintptr_t)&p[100]))
		TH_LOG("pread: %s", strerror(errno));
	EXPECT_EQ(word, got);
	word = ~word;
	EXPECT_EQ(sizeof(word), pwrite(mem, &word, sizeof(word), (off_t)(uintptr_t)&p[101]))
		TH_LOG("pwrite: %s", strerror(errno));
	EXPECT_EQ(word, p[101]);
	close(mem);
	munmap((void *)p, getpagesize());
}

TEST_F(dev, bind_and_unbind_reject_bad_arguments)
{
	struct ivshmem_eventfd e;
	int efd = eventfd(0, EFD_NONBLOCK), nullfd = open("/dev/null", O_RDWR);
	int expect_irq = self->info.nr_vectors ? EINVAL : EOPNOTSUPP;

	NEED_DEV();
	ASSERT_LE(0, efd);
	ASSERT_LE(0, nullfd);

	e = (struct ivshmem_eventfd){ .vector = 0, .fd = efd, .flags = 1 };
	EXPECT_ERRNO(EINVAL, ioctl(self->fd, IVSHMEM_IOCTL_BIND_EVENTFD, &e));
	e = (struct ivshmem_eventfd){ .vector = 0, .fd = efd, .pad = 1 };
	EXPECT_ERRNO(EINVAL, ioctl(self->fd, IVSHMEM_IOCTL_BIND_EVENTFD, &e));
	e = (struct ivshmem_eventfd){ .vector = 0, .fd = -1, .flags = 4 };
	EXPECT_ERRNO(EINVAL, ioctl(self->fd, IVSHMEM_IOCTL_UNBIND_EVENTFD, &e));

	/* Vectors the file does not have. */
	e = (struct ivshmem_eventfd){ .vector = self->info.nr_vectors, .fd = efd };
	EXPECT_ERRNO(expect_irq, ioctl(self->fd, IVSHMEM_IOCTL_BIND_EVENTFD, &e));
	EXPECT_ERRNO(expect_irq, ioctl(self->fd, IVSHMEM_IOCTL_UNBIND_EVENTFD, &e));
	e.vector = 256;
	EXPECT_ERRNO(expect_irq, ioctl(self->fd, IVSHMEM_IOCTL_BIND_EVENTFD, &e));
	e.vector = ~0U;
	EXPECT_ERRNO(expect_irq, ioctl(self->fd, IVSHMEM_IOCTL_BIND_EVENTFD, &e));

	if (!self->info.nr_vectors) {
		/* Plain device or no MSI-X: no vector exists at all. */
		EXPECT_ERRNO(EOPNOTSUPP, ivs_bind(self->fd, 0, efd));
		EXPECT_ERRNO(EOPNOTSUPP, ivs_unbind(self->fd, 0));
	} else {
		/* Bad eventfds. */
		EXPECT_ERRNO(EBADF, ivs_bind(self->fd, 0, -1));
		EXPECT_ERRNO(EBADF, ivs_bind(self->fd, 0, 999));
		EXPECT_ERRNO(EINVAL, ivs_bind(self->fd, 0, nullfd));
		EXPECT_ERRNO(EINVAL, ivs_bind(self->fd, 0, self->fd));
		/* Unbinding what is not bound. */
		EXPECT_ERRNO(ENOENT, ivs_unbind(self->fd, 0));
		/* One eventfd per vector and file. */
		EXPECT_EQ(0, ivs_bind(self->fd, 0, efd));
		EXPECT_ERRNO(EBUSY, ivs_bind(self->fd, 0, efd));
		EXPECT_EQ(0, ivs_unbind(self->fd, 0));
		EXPECT_ERRNO(ENOENT, ivs_unbind(self->fd, 0));
	}
	close(nullfd);
	close(efd);
}

TEST_F(dev, set_cache_rejects_unknown_modes_and_flags)
{
	struct ivshmem_cache c;

	NEED_DEV();
	c = (struct ivshmem_cache){ .mode = 3 };
	EXPECT_ERRNO(EINVAL, ioctl(self->fd, IVSHMEM_IOCTL_SET_CACHE, &c));
	c = (struct ivshmem_cache){ .mode = ~0U };
	EXPECT_ERRNO(EINVAL, ioctl(self->fd, IVSHMEM_IOCTL_SET_CACHE, &c));
	c = (struct ivshmem_cache){ .mode = IVSHMEM_CACHE_WB, .flags = 1 };
	EXPECT_ERRNO(EINVAL, ioctl(self->fd, IVSHMEM_IOCTL_SET_CACHE, &c));
	EXPECT_EQ(0, ivs_set_cache(self->fd, IVSHMEM_CACHE_WC));
	EXPECT_EQ(0, ivs_set_cache(self->fd, IVSHMEM_CACHE_UC));
	EXPECT_EQ(0, ivs_set_cache(self->fd, IVSHMEM_CACHE_WB));
}

TEST_F(dev, read_and_poll_without_interrupts)
{
	struct ivshmem_event ev[4];

	NEED_DEV();
	if (self->info.nr_vectors) {
		/* Nothing pending on a fresh file. */
		EXPECT_EQ(0, ivs_wait(self->fd, 0));
		ASSERT_EQ(0, fcntl(self->fd, F_SETFL, O_NONBLOCK));
		EXPECT_ERRNO(EAGAIN, read(self->fd, ev, sizeof(ev)));
		EXPECT_ERRNO(EINVAL, read(self->fd, ev, sizeof(ev[0]) - 1));
		EXPECT_ERRNO(EINVAL, read(self->fd, ev, 0));
	} else {
		/* Nothing will ever be readable: poll() says so at once. */
		struct pollfd pfd = { .fd = self->fd, .events = POLLIN };

		EXPECT_ERRNO(EOPNOTSUPP, read(self->fd, ev, sizeof(ev)));
		EXPECT_EQ(1, poll(&pfd, 1, 1000));
		EXPECT_EQ(POLLERR, pfd.revents);
	}
}

/* ---------------------------------------------------------------- mmap */

TEST_F(dev, mmap_whole_and_part_by_offset)
{
	size_t size = self->info.shm_size, half = size / 2;
	volatile char *whole, *part;
	int fd2;

	NEED_DEV();
	whole = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, whole) TH_LOG("%s", strerror(errno));
	part = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, half);
	ASSERT_NE(MAP_FAILED, part) TH_LOG("%s", strerror(errno));

	/* The same bytes through both mappings. */
	part[0] = 0x5a;
	part[2 * PAGE - 1] = 0xa5;
	EXPECT_EQ(0x5a, whole[half]);
	EXPECT_EQ((char)0xa5, whole[half + 2 * PAGE - 1]);
	whole[size - 1] = 0x3c;
	EXPECT_EQ(0x3c, whole[size - 1]);

	/* And through another open file. */
	fd2 = open(self->d.node, O_RDWR);
	ASSERT_LE(0, fd2);
	{
		volatile char *other = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd2,
					    half + PAGE);

		ASSERT_NE(MAP_FAILED, other);
		EXPECT_EQ((char)0xa5, other[PAGE - 1]);
		munmap((void *)other, PAGE);
	}
	close(fd2);
	munmap((void *)part, 2 * PAGE);
	munmap((void *)whole, size);
}

TEST_F(dev, mmap_rejects_bad_ranges_and_private_mappings)
{
	size_t size = self->info.shm_size;

	NEED_DEV();
	/* Offset at and past the end. */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, PAGE, PROT_READ, MAP_SHARED, self->fd, size));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, PAGE, PROT_READ, MAP_SHARED, self->fd, 2 * size));
	EXPECT_EQ(EINVAL, errno);
	/* Length past the end, from the start and from inside. */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, size + PAGE, PROT_READ, MAP_SHARED, self->fd, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, self->fd,
				   size - PAGE));
	EXPECT_EQ(EINVAL, errno);
	/* An offset that is not page aligned (mmap(2) itself refuses it). */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, PAGE, PROT_READ, MAP_SHARED, self->fd, 100));
	EXPECT_EQ(EINVAL, errno);
	/* MAP_PRIVATE, read-only or not. */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE,
				   self->fd, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, self->fd, 0));
	EXPECT_EQ(EINVAL, errno);
	/* The last page itself is fine. */
	{
		void *p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, self->fd, size - PAGE);

		EXPECT_NE(MAP_FAILED, p);
		if (p != MAP_FAILED)
			munmap(p, PAGE);
	}
}

/* No PAT entry left inside the first len bytes of the shared memory. */
static int pat_clean(const struct ivs_dev *d, size_t len)
{
	char line[256];
	unsigned long long st, en;
	int n = 0;
	FILE *f = fopen(IVS_PAT_LIST, "r");

	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "PAT: [mem 0x%llx-0x%llx]", &st, &en) == 2 &&
		    st < d->bar2 + len && en > d->bar2)
			n++;
	fclose(f);
	return n == 0;
}

TEST_F(dev, mappings_are_used_whole)
{
	char *p, *q;

	NEED_DEV();
	p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	/* Splitting would strand the PAT reservation: refused. */
	EXPECT_ERRNO(EINVAL, munmap(p + PAGE, PAGE));
	EXPECT_ERRNO(EINVAL, munmap(p + 3 * PAGE, PAGE));
	EXPECT_ERRNO(EINVAL, mprotect(p, PAGE, PROT_READ));
	EXPECT_EQ(MAP_FAILED, mremap(p, 4 * PAGE, 2 * PAGE, 0));
	EXPECT_EQ(EINVAL, errno);
	/* Growing has nothing to map: the kernel refuses it for PFN maps. */
	EXPECT_EQ(MAP_FAILED, mremap(p, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE));
	EXPECT_EQ(EFAULT, errno);
	/* The mapping is intact, and may move whole. */
	p[PAGE] = 0x11;
	q = mremap(p, 4 * PAGE, 4 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
		   p + 64 * PAGE);
	ASSERT_NE(MAP_FAILED, q) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(0x11, q[PAGE]);
	EXPECT_EQ(0, mprotect(q, 4 * PAGE, PROT_READ));
	EXPECT_EQ(0, munmap(q, 4 * PAGE));
	if (!access(IVS_PAT_LIST, R_OK))
		EXPECT_TRUE(pat_clean(&self->d, self->info.shm_size));
}

TEST_F(dev, forked_mappings_leave_no_pat_entry)
{
	volatile char *p;
	pid_t pid;
	int st;

	NEED_DEV();
	if (access(IVS_PAT_LIST, R_OK))
		SKIP_F("no %s", IVS_PAT_LIST);
	p = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, PAGE);
	ASSERT_NE(MAP_FAILED, p);
	p[0] = 1;
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		p[0] = 2;
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_EQ(2, p[0]);
	munmap((void *)p, 8 * PAGE);
	EXPECT_TRUE(pat_clean(&self->d, self->info.shm_size));
}

TEST_F(dev, host_data_crosses)
{
	const char *host = getenv("IVSHMEM_HOST_TOKEN");
	const char *guest = getenv("IVSHMEM_GUEST_TOKEN");
	char *p;
	int fd2;

	NEED_DEV();
	if (!host || !guest)
		SKIP_F("IVSHMEM_HOST_TOKEN/IVSHMEM_GUEST_TOKEN not set");
	p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, memcmp(p, host, strlen(host) + 1)) TH_LOG("read '%.32s'", p);
	/* Written through a second file's mapping, checked by the host. */
	fd2 = open(self->d.node, O_RDWR);
	ASSERT_LE(0, fd2);
	{
		char *q = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, PAGE);

		ASSERT_NE(MAP_FAILED, q);
		snprintf(q, PAGE, "%s-%s", guest, self->d.doorbell ? "doorbell" : "plain");
		munmap(q, PAGE);
	}
	close(fd2);
	EXPECT_EQ(0, strncmp(p + PAGE, guest, strlen(guest)));
	munmap(p, 2 * PAGE);
}

/* ---------------------------------------------------------------- PAT */

/* Map len bytes at off in the file's cache mode; the PAT type seen. */
static int map_and_pat(struct __test_metadata *_metadata, int fd,
		       const struct ivs_dev *d, size_t off, size_t len,
		       char *type, size_t tlen)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
	int n;

	EXPECT_NE(MAP_FAILED, p) TH_LOG("mmap: %s", strerror(errno));
	if (p == MAP_FAILED)
		return -1;
	((volatile char *)p)[len - 1] = 1;
	n = ivs_pat_type(d->bar2 + off, d->bar2 + off + len, type, tlen);
	munmap(p, len);
	return n;
}

TEST_F(dev, pat_list_shows_each_cache_mode)
{
	char type[64];
	int fd2;

	NEED_DEV();
	if (access(IVS_PAT_LIST, R_OK))
		SKIP_F("no %s (PAT disabled or debugfs missing)", IVS_PAT_LIST);

	/* Default: write-back, lowered by the MTRRs below 4 GiB. */
	EXPECT_EQ(1, map_and_pat(_metadata, self->fd, &self->d, 0, 4 * PAGE,
				 type, sizeof(type)));
	EXPECT_STREQ(wb_type(&self->d), type);

	/* The mode is per file: this one WC, a second one stays WB. */
	fd2 = open(self->d.node, O_RDWR);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, ivs_set_cache(self->fd, IVSHMEM_CACHE_WC));
	EXPECT_EQ(1, map_and_pat(_metadata, self->fd, &self->d, PAGE, 2 * PAGE,
				 type, sizeof(type)));
	EXPECT_STREQ("write-combining", type);
	EXPECT_EQ(1, map_and_pat(_metadata, fd2, &self->d, PAGE, 2 * PAGE,
				 type, sizeof(type)));
	EXPECT_STREQ(wb_type(&self->d), type);

	/* Uncached: x86 maps it uncached-minus. */
	ASSERT_EQ(0, ivs_set_cache(fd2, IVSHMEM_CACHE_UC));
	EXPECT_EQ(1, map_and_pat(_metadata, fd2, &self->d, 0, PAGE, type, sizeof(type)));
	EXPECT_STREQ("uncached-minus", type);

	/* Back to write-back. */
	ASSERT_EQ(0, ivs_set_cache(fd2, IVSHMEM_CACHE_WB));
	EXPECT_EQ(1, map_and_pat(_metadata, fd2, &self->d, 0, PAGE, type, sizeof(type)));
	EXPECT_STREQ(wb_type(&self->d), type);
	close(fd2);

	/* Nothing is left behind once the mappings are gone. */
	EXPECT_EQ(0, ivs_pat_type(self->d.bar2, self->d.bar2 + 4 * PAGE, type,
				  sizeof(type)));
}

TEST(pat_write_back_above_4g)
{
	struct ivs_dev d;
	char type[64];
	size_t len;
	void *p;
	int fd;

	if (ivs_find("high", &d)) {
		if (getenv("IVSHMEM_EXPECT_HIGH"))
			ASSERT_TRUE(0) TH_LOG("no device with shared memory above 4 GiB");
		SKIP_T("no device with shared memory above 4 GiB");
	}
	if (access(IVS_PAT_LIST, R_OK))
		SKIP_T("no %s", IVS_PAT_LIST);
	fd = open(d.node, O_RDWR);
	ASSERT_LE(0, fd);
	/* The whole BAR, then a part: one write-back entry each. */
	for (len = d.size; len >= PAGE; len = len == d.size ? 16 * PAGE : 0) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap %zu: %s", len, strerror(errno));
		((volatile char *)p)[len - 1] = 1;
		EXPECT_EQ(1, ivs_pat_type(d.bar2, d.bar2 + len, type, sizeof(type)))
			TH_LOG("no PAT entry for %#llx+%#zx", d.bar2, len);
		EXPECT_STREQ("write-back", type);
		munmap(p, len);
		if (len != d.size)
			break;
	}
	close(fd);
}

/*
 * What every device promises: a write-back mapping of the whole shared
 * memory shows in the PAT list as the type the scenario expects, and as
 * the driver reports it.
 */
TEST(every_device_maps_with_the_expected_memtype)
{
	const char *want = getenv("IVSHMEM_EXPECT_MEMTYPE");
	struct ivs_dev devs[IVS_MAX_DEVS];
	char type[64];
	int n, i, fd;
	void *p;

	if (!want)
		want = "write-back";
	if (access(IVS_PAT_LIST, R_OK))
		SKIP_T("no %s", IVS_PAT_LIST);
	n = ivs_enumerate(devs, IVS_MAX_DEVS);
	ASSERT_LT(0, n) TH_LOG("no ivshmem device");
	for (i = 0; i < n; i++) {
		const struct ivs_dev *d = &devs[i];

		EXPECT_STREQ(want, d->memtype) TH_LOG("%s at %#llx", d->name, d->bar2);
		fd = open(d->node, O_RDWR);
		ASSERT_LE(0, fd);
		p = mmap(NULL, d->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap %s: %s", d->name, strerror(errno));
		((volatile char *)p)[d->size - 1] = 0;
		EXPECT_EQ(1, ivs_pat_type(d->bar2, d->bar2 + d->size, type, sizeof(type)))
			TH_LOG("no PAT entry for %s", d->name);
		EXPECT_STREQ(want, type) TH_LOG("%s at %#llx", d->name, d->bar2);
		munmap(p, d->size);
		close(fd);
	}
}

/* The PAT type a mapping in a cache mode gets on its own. */
static const char *mode_type(const struct ivs_dev *d, unsigned int mode)
{
	switch (mode) {
	case IVSHMEM_CACHE_WC:
		return "write-combining";
	case IVSHMEM_CACHE_UC:
		return "uncached-minus";
	default:
		return d->memtype;
	}
}

/*
 * Every ordered pair of different modes over the same pages: the second
 * mapping gets the type its mode gets on its own, or fails with EINVAL;
 * never the first one's type silently.  Nothing is left behind.
 */
TEST_F(dev, second_mapping_gets_its_mode_or_einval)
{
	static const unsigned int modes[] = {
		IVSHMEM_CACHE_WB, IVSHMEM_CACHE_WC, IVSHMEM_CACHE_UC,
	};
	unsigned int i, j;
	char type[64];
	void *p, *q;
	int fd2;

	NEED_DEV();
	if (access(IVS_PAT_LIST, R_OK))
		SKIP_F("no %s", IVS_PAT_LIST);
	fd2 = open(self->d.node, O_RDWR);
	ASSERT_LE(0, fd2);
	for (i = 0; i < 3; i++) {
		for (j = 0; j < 3; j++) {
			const char *first = mode_type(&self->d, modes[i]);
			const char *second = mode_type(&self->d, modes[j]);

			if (i == j)
				continue;
			ASSERT_EQ(0, ivs_set_cache(self->fd, modes[i]));
			ASSERT_EQ(0, ivs_set_cache(fd2, modes[j]));
			p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
				 self->fd, 0);
			ASSERT_NE(MAP_FAILED, p);
			errno = 0;
			q = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
				 fd2, 0);
			if (!strcmp(first, second)) {
				/* Both modes give one type (UC- below 4 GiB). */
				EXPECT_NE(MAP_FAILED, q) TH_LOG("mode %u over %u: %s",
								modes[j], modes[i], strerror(errno));
			} else {
				EXPECT_EQ(MAP_FAILED, q) TH_LOG("mode %u over %u mapped", modes[j],
								modes[i]);
				EXPECT_EQ(EINVAL, errno) TH_LOG("mode %u over %u: %s",
								modes[j], modes[i], strerror(errno));
			}
			if (q != MAP_FAILED)
				munmap(q, 2 * PAGE);
			EXPECT_EQ(1, ivs_pat_type(self->d.bar2, self->d.bar2 + 2 * PAGE,
						  type, sizeof(type)));
			EXPECT_STREQ(first, type) TH_LOG("mode %u over %u", modes[j], modes[i]);
			munmap(p, 2 * PAGE);
			EXPECT_TRUE(pat_clean(&self->d, self->info.shm_size))
				TH_LOG("mode %u over %u left a reservation", modes[j], modes[i]);
			/* Alone, the second mode gets its own type. */
			q = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
			ASSERT_NE(MAP_FAILED, q) TH_LOG("%s", strerror(errno));
			EXPECT_EQ(1, ivs_pat_type(self->d.bar2, self->d.bar2 + 2 * PAGE,
						  type, sizeof(type)));
			EXPECT_STREQ(second, type);
			munmap(q, 2 * PAGE);
		}
	}
	close(fd2);
	EXPECT_TRUE(pat_clean(&self->d, self->info.shm_size));
}

TEST_F(dev, pat_refuses_conflicting_aliases)
{
	void *wb, *wc, *uc;
	char type[64];
	int fd2, fd3;

	NEED_DEV();
	if (access(IVS_PAT_LIST, R_OK))
		SKIP_F("no %s", IVS_PAT_LIST);
	if (strcmp(self->d.memtype, "write-back"))
		SKIP_F("write-back is %s here anyway", self->d.memtype);
	wb = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, wb);
	fd2 = open(self->d.node, O_RDWR);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, ivs_set_cache(fd2, IVSHMEM_CACHE_WC));
	wc = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd2, 0);
	EXPECT_EQ(MAP_FAILED, wc);
	EXPECT_EQ(EINVAL, errno);
	if (wc != MAP_FAILED)
		munmap(wc, PAGE);
	EXPECT_EQ(1, ivs_pat_type(self->d.bar2, self->d.bar2 + PAGE, type, sizeof(type)));
	EXPECT_STREQ("write-back", type);

	/* Next to it, uncached is fine; a range over both types is not. */
	ASSERT_EQ(0, ivs_set_cache(fd2, IVSHMEM_CACHE_UC));
	uc = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd2, 2 * PAGE);
	ASSERT_NE(MAP_FAILED, uc) TH_LOG("%s", strerror(errno));
	fd3 = open(self->d.node, O_RDWR);
	ASSERT_LE(0, fd3);
	errno = 0;
	wc = mmap(NULL, 3 * PAGE, PROT_READ, MAP_SHARED, fd3, 0);
	EXPECT_EQ(MAP_FAILED, wc);
	EXPECT_TRUE(errno == EINVAL || errno == EBUSY) TH_LOG("%s", strerror(errno));
	if (wc != MAP_FAILED)
		munmap(wc, 3 * PAGE);
	munmap(uc, PAGE);
	munmap(wb, PAGE);
	close(fd3);
	close(fd2);
	EXPECT_TRUE(pat_clean(&self->d, self->info.shm_size));
}

/* ---------------------------------------------------------- interrupts */

/* Bind one nonblocking eventfd per vector of fd; the eventfds. */
static void bind_all(struct __test_metadata *_metadata, int fd, int *efd,
		     unsigned int n)
{
	unsigned int v;

	for (v = 0; v < n; v++) {
		efd[v] = eventfd(0, EFD_NONBLOCK);
		ASSERT_LE(0, efd[v]);
		ASSERT_EQ(0, ivs_bind(fd, v, efd[v])) TH_LOG("vector %u", v);
	}
}

TEST_F(dev, ring_self_signals_exactly_that_vector)
{
	unsigned long long before[64], after[64];
	unsigned int v, w, n;
	int efd[64];

	NEED_IRQ();
	n = self->info.nr_vectors;
	ASSERT_GE(64, n);
	bind_all(_metadata, self->fd, efd, n);
	ASSERT_EQ((int)n, ivs_interrupts(self->d.name, before, 64));
	for (v = 0; v < n; v++) {
		ASSERT_EQ(0, ivs_ring(self->fd, self->info.vm_id, v));
		EXPECT_EQ(POLLIN, ivs_wait(efd[v], WAIT_MS)) TH_LOG("vector %u", v);
		usleep(50000);
		for (w = 0; w < n; w++)
			EXPECT_EQ(w == v ? 1 : 0, ivs_efd_take(efd[w]))
				TH_LOG("ring %u, eventfd %u", v, w);
	}
	ASSERT_EQ((int)n, ivs_interrupts(self->d.name, after, 64));
	for (v = 0; v < n; v++)
		EXPECT_EQ(before[v] + 1, after[v]) TH_LOG("sysfs count of vector %u", v);
	for (v = 0; v < n; v++)
		close(efd[v]);
}

TEST_F(dev, several_files_bind_the_same_vector)
{
	unsigned int v = self->info.nr_vectors - 1, i;
	int fds[3], efd[3], shared;

	NEED_IRQ();
	for (i = 0; i < 3; i++) {
		fds[i] = open(self->d.node, O_RDWR);
		ASSERT_LE(0, fds[i]);
		efd[i] = eventfd(0, EFD_NONBLOCK);
		ASSERT_EQ(0, ivs_bind(fds[i], v, efd[i]));
	}
	/* One eventfd bound to two vectors of one file. */
	shared = eventfd(0, EFD_NONBLOCK);
	ASSERT_EQ(0, ivs_bind(self->fd, v, shared));
	if (v != 0)
		ASSERT_EQ(0, ivs_bind(self->fd, 0, shared));

	ASSERT_EQ(0, ivs_ring(self->fd, self->info.vm_id, v));
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(POLLIN, ivs_wait(efd[i], WAIT_MS));
		EXPECT_EQ(1, ivs_efd_take(efd[i])) TH_LOG("file %u", i);
	}
	/* The handler signals the files one after the other: wait for it. */
	EXPECT_EQ(POLLIN, ivs_wait(shared, WAIT_MS));
	EXPECT_EQ(1, ivs_efd_take(shared));
	if (v != 0) {
		ASSERT_EQ(0, ivs_ring(self->fd, self->info.vm_id, 0));
		EXPECT_EQ(POLLIN, ivs_wait(shared, WAIT_MS));
		EXPECT_EQ(1, ivs_efd_take(shared));
	}
	/* Unbinding one file leaves the others bound. */
	ASSERT_EQ(0, ivs_unbind(fds[1], v));
	ASSERT_EQ(0, ivs_ring(self->fd, self->info.vm_id, v));
	EXPECT_EQ(POLLIN, ivs_wait(efd[0], WAIT_MS));
	EXPECT_EQ(POLLIN, ivs_wait(efd[2], WAIT_MS));
	usleep(100000);
	EXPECT_EQ(1, ivs_efd_take(efd[0]));
	EXPECT_EQ(0, ivs_efd_take(efd[1]));
	EXPECT_EQ(1, ivs_efd_take(efd[2]));
	/* Closing a file drops its bindings; the eventfd lives on. */
	close(fds[2]);
	ASSERT_EQ(0, ivs_ring(self->fd, self->info.vm_id, v));
	EXPECT_EQ(POLLIN, ivs_wait(efd[0], WAIT_MS));
	usleep(100000);
	EXPECT_EQ(0, ivs_efd_take(efd[2]));
	for (i = 0; i < 3; i++)
		close(efd[i]);
	close(fds[0]);
	close(fds[1]);
	close(shared);
}

/* Ring vector v of the guest itself and wait until the interrupt arrived. */
static void ring_and_wait(struct __test_metadata *_metadata, int fd,
			  unsigned int id, unsigned int v)
{
	int efd = eventfd(0, EFD_NONBLOCK);

	ASSERT_LE(0, efd);
	ASSERT_EQ(0, ivs_bind(fd, v, efd));
	ASSERT_EQ(0, ivs_ring(fd, id, v));
	EXPECT_EQ(POLLIN, ivs_wait(efd, WAIT_MS));
	ASSERT_EQ(0, ivs_unbind(fd, v));
	close(efd);
}

TEST_F(dev, read_and_poll_report_interrupt_records)
{
	struct ivshmem_event ev[8];
	void *volatile nowhere = NULL;
	unsigned int n = self->info.nr_vectors, last = n - 1;
	int ringer, late;
	ssize_t got;

	NEED_IRQ();
	if (n < 2)
		SKIP_F("%s has one vector", self->d.name);
	/* A second file rings, so that its bindings do not matter here. */
	ringer = open(self->d.node, O_RDWR);
	ASSERT_LE(0, ringer);
	ring_and_wait(_metadata, ringer, self->info.vm_id, last);
	ring_and_wait(_metadata, ringer, self->info.vm_id, 0);
	ring_and_wait(_metadata, ringer, self->info.vm_id, last);

	EXPECT_EQ(POLLIN, ivs_wait(self->fd, 0));
	/* A file opened now has no news. */
	late = open(self->d.node, O_RDWR | O_NONBLOCK);
	ASSERT_LE(0, late);
	EXPECT_EQ(0, ivs_wait(late, 0));

	/* Room for one record: vector 0 first, the other stays pending. */
	got = read(self->fd, ev, sizeof(ev[0]) + sizeof(ev[0]) / 2);
	ASSERT_EQ((ssize_t)sizeof(ev[0]), got);
	EXPECT_EQ(0, ev[0].vector);
	EXPECT_EQ(1, ev[0].count);
	/* A bad buffer loses nothing. */
	EXPECT_ERRNO(EFAULT, read(self->fd, nowhere, sizeof(ev)));
	got = read(self->fd, ev, sizeof(ev));
	ASSERT_EQ((ssize_t)sizeof(ev[0]), got);
	EXPECT_EQ(last, ev[0].vector);
	EXPECT_EQ(2, ev[0].count);
	EXPECT_EQ(0, ivs_wait(self->fd, 0));

	/* The ringer's file saw the same interrupts, in vector order. */
	got = read(ringer, ev, sizeof(ev));
	ASSERT_EQ((ssize_t)(2 * sizeof(ev[0])), got);
	EXPECT_EQ(0, ev[0].vector);
	EXPECT_EQ(1, ev[0].count);
	EXPECT_EQ(last, ev[1].vector);
	EXPECT_EQ(2, ev[1].count);

	EXPECT_ERRNO(EAGAIN, read(late, ev, sizeof(ev)));
	close(late);
	close(ringer);
}

struct reader {
	int fd;
	ssize_t got;
	int err;
	struct ivshmem_event ev[4];
};

static void *blocked_read(void *arg)
{
	struct reader *r = arg;

	r->got = read(r->fd, r->ev, sizeof(r->ev));
	r->err = errno;
	return NULL;
}

TEST_F(dev, blocked_read_wakes_on_interrupt)
{
	struct reader r = { .fd = self->fd };
	unsigned int v = self->info.nr_vectors > 1 ? 1 : 0;
	pthread_t t;
	int ringer;

	NEED_IRQ();
	ringer = open(self->d.node, O_RDWR);
	ASSERT_LE(0, ringer);
	ASSERT_EQ(0, pthread_create(&t, NULL, blocked_read, &r));
	usleep(300000);
	ASSERT_EQ(0, ivs_ring(ringer, self->info.vm_id, v));
	ASSERT_EQ(0, pthread_join(t, NULL));
	ASSERT_EQ((ssize_t)sizeof(r.ev[0]), r.got) TH_LOG("%s", strerror(r.err));
	EXPECT_EQ(v, r.ev[0].vector);
	EXPECT_EQ(1, r.ev[0].count);
	close(ringer);
}

static void on_alarm(int sig)
{
	(void)sig;
}

TEST_F(dev, blocked_read_is_interrupted_by_a_signal)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
	struct ivshmem_event ev;
	long long t0;

	NEED_IRQ();
	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	t0 = ivs_now_ms();
	ualarm(200000, 0);
	EXPECT_ERRNO(EINTR, read(self->fd, &ev, sizeof(ev)));
	EXPECT_LE(150, ivs_now_ms() - t0);
	/* The file still works. */
	ASSERT_EQ(0, ivs_ring(self->fd, self->info.vm_id, 0));
	EXPECT_EQ((ssize_t)sizeof(ev), read(self->fd, &ev, sizeof(ev)));
	EXPECT_EQ(0, ev.vector);
}

TEST_F(dev, set_cache_leaves_existing_mappings)
{
	char type[64];
	void *wb, *wc;

	NEED_DEV();
	if (access(IVS_PAT_LIST, R_OK))
		SKIP_F("no %s", IVS_PAT_LIST);
	wb = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, wb);
	ASSERT_EQ(0, ivs_set_cache(self->fd, IVSHMEM_CACHE_WC));
	wc = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, self->fd, 8 * PAGE);
	ASSERT_NE(MAP_FAILED, wc);
	EXPECT_EQ(1, ivs_pat_type(self->d.bar2, self->d.bar2 + PAGE, type, sizeof(type)));
	EXPECT_STREQ(wb_type(&self->d), type);
	EXPECT_EQ(1, ivs_pat_type(self->d.bar2 + 8 * PAGE, self->d.bar2 + 9 * PAGE, type,
				  sizeof(type)));
	EXPECT_STREQ("write-combining", type);
	munmap(wc, PAGE);
	munmap(wb, PAGE);
}

TEST_F(dev, unbound_eventfd_stays_quiet)
{
	unsigned int v = self->info.nr_vectors - 1;
	int efd = eventfd(0, EFD_NONBLOCK);
	struct ivshmem_event ev;

	NEED_IRQ();
	ASSERT_EQ(0, ivs_bind(self->fd, v, efd));
	ASSERT_EQ(0, ivs_unbind(self->fd, v));
	ASSERT_EQ(0, ivs_ring(self->fd, self->info.vm_id, v));
	/* read() still counts it; the eventfd was not signalled. */
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, 0));
	ASSERT_EQ((ssize_t)sizeof(ev), read(self->fd, &ev, sizeof(ev)));
	EXPECT_EQ(v, ev.vector);
	usleep(100000);
	EXPECT_EQ(0, ivs_efd_take(efd));
	/* Bound again, it works again. */
	ASSERT_EQ(0, ivs_bind(self->fd, v, efd));
	ASSERT_EQ(0, ivs_ring(self->fd, self->info.vm_id, v));
	EXPECT_EQ(POLLIN, ivs_wait(efd, WAIT_MS));
	close(efd);
}

TEST_F(dev, no_interrupt_mode_still_rings)
{
	struct ivshmem_ring r;

	NEED_DEV();
	if (!self->d.doorbell || self->info.nr_vectors)
		SKIP_F("%s is not a doorbell without MSI-X", self->d.name);
	EXPECT_EQ(IVSHMEM_IRQ_MODE_NONE, self->info.irq_mode);
	EXPECT_EQ(IVSHMEM_DEV_DOORBELL, self->info.dev_flags);
	r = (struct ivshmem_ring){ .peer = self->info.vm_id, .vector = 0 };
	EXPECT_EQ(0, ioctl(self->fd, IVSHMEM_IOCTL_RING, &r));
	{
		unsigned long long c[4];

		EXPECT_EQ(0, ivs_interrupts(self->d.name, c, 4));
	}
}

TEST_HARNESS_MAIN
