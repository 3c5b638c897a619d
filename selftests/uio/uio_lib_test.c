// SPDX-License-Identifier: GPL-2.0
/*
 * libivshmem on the first ivshmem function, whatever driver it is on:
 * opened by its PCI address the library picks the backend the driver
 * allows (none: the sysfs resource files; uio_pci_generic or uio_ivshmem:
 * UIO; ivshmem: the character device), maps the memory in the cache
 * modes the backend can give and refuses the others with -EOPNOTSUPP, and
 * without an interrupt path says -EOPNOTSUPP for every interrupt call.
 * Where the resource files can be mapped (no driver holds the BARs), the
 * memory and the ID are checked against them; where they cannot, opening
 * them fails with -EBUSY.
 */
#define _GNU_SOURCE
#include <libivshmem.h>

#include "kselftest_harness.h"
#include "uio_common.h"

FIXTURE(lib) {
	struct ivshmem *dev;
	char pci[256];
	char driver[64];
	uint64_t bar_size[6];
	/* the resource files can be mapped: no driver claims the BARs */
	int raw;
};

static void driver_of(const char *pci, char *buf, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(buf, len, "%s", "");
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver", pci);
	n = readlink(path, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		snprintf(buf, len, "%s", strrchr(target, '/') + 1);
	}
}

FIXTURE_SETUP(lib)
{
	unsigned long long start, end, flags;
	struct dirent **names;
	char path[PATH_MAX];
	int i, n;
	FILE *f;

	n = scandir(PCI_DEVICES, &names, NULL, alphasort);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/device", names[i]->d_name);
		if (!self->pci[0] && read_u64(path) == 0x1110)
			snprintf(self->pci, sizeof(self->pci), "%s", names[i]->d_name);
		free(names[i]);
	}
	free(names);
	if (!self->pci[0])
		return;
	driver_of(self->pci, self->driver, sizeof(self->driver));
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/resource", self->pci);
	f = fopen(path, "r");
	ASSERT_NE(NULL, f);
	for (i = 0; i < 6 && fscanf(f, "%llx %llx %llx", &start, &end, &flags) == 3; i++)
		self->bar_size[i] = end ? end - start + 1 : 0;
	fclose(f);
	self->raw = !strcmp(self->driver, "") || !strcmp(self->driver, "uio_pci_generic");
	ASSERT_EQ(0, ivshmem_open(self->pci, &self->dev));
	TH_LOG("%s on \"%s\": %s backend", self->pci, self->driver,
	       ivshmem_backend_name(ivshmem_backend(self->dev)));
}

FIXTURE_TEARDOWN(lib)
{
	ivshmem_close(self->dev);
}

#define NEED_DEVICE() do { \
	if (!self->dev) \
		SKIP(return, "no ivshmem device"); \
} while (0)

TEST_F(lib, the_backend_follows_the_driver)
{
	enum ivshmem_backend want;

	NEED_DEVICE();
	if (!strcmp(self->driver, ""))
		want = IVSHMEM_BACKEND_SYSFS;
	else if (!strcmp(self->driver, "ivshmem"))
		want = IVSHMEM_BACKEND_CHAR;
	else
		want = IVSHMEM_BACKEND_UIO;
	EXPECT_EQ(want, ivshmem_backend(self->dev));
	EXPECT_EQ(self->bar_size[2], ivshmem_size(self->dev));
}

TEST_F(lib, memory_is_bar2)
{
	uint64_t word = (uint64_t)now_ms() * 2654435761u;
	volatile uint64_t *p, *raw;

	NEED_DEVICE();
	/* an offset that is not page-aligned */
	ASSERT_EQ(0, ivshmem_map(self->dev, 0x1008, 64, IVSHMEM_MAP_DEFAULT, (void **)&p));
	p[1] = word;
	EXPECT_EQ(word, p[1]);
	if (self->raw) {
		raw = map_resource(self->pci, 2, 2 * getpagesize());
		ASSERT_NE(NULL, raw);
		EXPECT_EQ(word, raw[0x1010 / 8]);
		raw[0x1018 / 8] = ~word;
		EXPECT_EQ(~word, p[2]);
		munmap((void *)raw, 2 * getpagesize());
	}
	EXPECT_EQ(0, ivshmem_unmap((void *)p, 64));
}

TEST_F(lib, cache_modes_the_backend_cannot_give_are_eopnotsupp)
{
	int wb, uc;
	void *p;

	NEED_DEVICE();
	wb = ivshmem_map(self->dev, 0, 4096, IVSHMEM_MAP_WB, &p);
	if (!wb)
		ivshmem_unmap(p, 4096);
	uc = ivshmem_map(self->dev, 0, 4096, IVSHMEM_MAP_UC, &p);
	if (!uc)
		ivshmem_unmap(p, 4096);
	if (self->raw) {
		/* sysfs resource files map uncached, never write-back */
		EXPECT_EQ(-EOPNOTSUPP, wb);
		EXPECT_EQ(0, uc);
	} else if (!strcmp(self->driver, "uio_ivshmem")) {
		EXPECT_EQ(0, wb);
		EXPECT_EQ(-EOPNOTSUPP, uc);
	} else {
		EXPECT_EQ(0, wb);
		EXPECT_EQ(0, uc);
	}
}

TEST_F(lib, no_interrupt_path_is_eopnotsupp)
{
	struct ivshmem_irq ev;
	uint64_t count;

	NEED_DEVICE();
	if (!self->raw)
		SKIP(return, "%s has interrupts", self->driver);
	EXPECT_EQ(0, ivshmem_vectors(self->dev));
	EXPECT_EQ(-EOPNOTSUPP, ivshmem_vector_fd(self->dev, 0));
	EXPECT_EQ(-EOPNOTSUPP, ivshmem_vector_ack(self->dev, 0, &count));
	EXPECT_EQ(-EOPNOTSUPP, ivshmem_wait(self->dev, NULL, 0, 0, &ev));
	EXPECT_EQ(-EOPNOTSUPP, ivshmem_wait(self->dev, NULL, 0, 100, &ev));
}

TEST_F(lib, id_is_ivposition)
{
	volatile uint32_t *regs;

	NEED_DEVICE();
	if (!self->bar_size[1])
		SKIP(return, "a plain device has no ID");
	ASSERT_LE(0, ivshmem_id(self->dev));
	EXPECT_EQ(1, ivshmem_can_ring(self->dev));
	if (!self->raw)
		return;
	regs = map_resource(self->pci, 0, getpagesize());
	ASSERT_NE(NULL, regs);
	EXPECT_EQ(regs[REG_IV_POSITION / 4], (uint32_t)ivshmem_id(self->dev));
	munmap((void *)regs, getpagesize());
}

TEST_F(lib, ring_checks_its_arguments)
{
	NEED_DEVICE();
	if (!self->bar_size[1])
		SKIP(return, "a plain device has no doorbell");
	EXPECT_EQ(-EINVAL, ivshmem_ring(self->dev, 65536, 0));
	/* QEMU's doorbell register carries 8 bits of vector */
	if (!strcmp(self->driver, "ivshmem"))
		return;
	EXPECT_EQ(-EINVAL, ivshmem_ring(self->dev, 0, 256));
}

#define NEED_INTERRUPTS() do { \
	NEED_DEVICE(); \
	if (self->raw || !ivshmem_vectors(self->dev)) \
		SKIP(return, "no interrupts on \"%s\"", self->driver); \
} while (0)

/* What the driver says the device's vectors are. */
static unsigned int driver_vectors(const char *pci, const char *driver)
{
	char path[PATH_MAX], name[256] = "";
	struct dirent **names;
	unsigned int v = 0;
	int i, n;

	if (!strcmp(driver, "ivshmem")) {
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/ivshmem", pci);
		n = scandir(path, &names, NULL, alphasort);
		for (i = 0; i < n; i++) {
			if (!v && !strncmp(names[i]->d_name, "ivshmem", 7)) {
				snprintf(path, sizeof(path), PCI_DEVICES "/%s/ivshmem/%s/vectors",
					 pci, names[i]->d_name);
				v = (unsigned int)read_u64(path);
			}
			free(names[i]);
		}
		free(names);
		return v;
	}
	/* uio_ivshmem: map 2 holds a 64-bit counter per vector */
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/uio", pci);
	n = scandir(path, &names, NULL, alphasort);
	for (i = 0; i < n; i++) {
		if (!name[0] && !strncmp(names[i]->d_name, "uio", 3))
			snprintf(name, sizeof(name), "%s", names[i]->d_name);
		free(names[i]);
	}
	free(names);
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/uio/%s/maps/map2/size", pci, name);
	return (unsigned int)(read_u64(path) / sizeof(uint64_t));
}

TEST_F(lib, every_vector_of_the_driver)
{
	NEED_INTERRUPTS();
	EXPECT_LE(2, ivshmem_vectors(self->dev)) TH_LOG("the scenario gives two vectors");
	EXPECT_EQ(driver_vectors(self->pci, self->driver), ivshmem_vectors(self->dev));
}

/* The vector rung is the vector reported, on UIO as on the char device. */
TEST_F(lib, wait_tells_the_vectors_apart)
{
	unsigned int last, only_last[1];
	struct ivshmem_irq ev;
	uint64_t count;
	int id;

	NEED_INTERRUPTS();
	last = ivshmem_vectors(self->dev) - 1;
	only_last[0] = last;
	id = ivshmem_id(self->dev);
	ASSERT_LE(0, id);
	EXPECT_EQ(-ETIMEDOUT, ivshmem_wait(self->dev, NULL, 0, 0, &ev));
	ASSERT_EQ(0, ivshmem_ring(self->dev, (unsigned int)id, last));
	ASSERT_EQ(0, ivshmem_wait(self->dev, NULL, 0, 10000, &ev));
	EXPECT_EQ(last, ev.vector);
	EXPECT_EQ(1, ev.count);
	/* nothing left on either vector */
	EXPECT_EQ(-EAGAIN, ivshmem_vector_ack(self->dev, 0, &count));
	EXPECT_EQ(-EAGAIN, ivshmem_vector_ack(self->dev, last, &count));

	/* A ring of vector 0 does not wake a wait for the last vector only. */
	ASSERT_EQ(0, ivshmem_ring(self->dev, (unsigned int)id, 0));
	EXPECT_EQ(-ETIMEDOUT, ivshmem_wait(self->dev, only_last, 1, 500, &ev));
	ASSERT_EQ(0, ivshmem_wait(self->dev, NULL, 0, 10000, &ev));
	EXPECT_EQ(0, ev.vector);
	EXPECT_EQ(1, ev.count);
}

/*
 * Two vectors rung before anyone waits: taking one must not lose the
 * other, although on UIO both share a descriptor that the first ack
 * drained.
 */
TEST_F(lib, two_pending_vectors_are_both_reported)
{
	unsigned int last, seen = 0;
	struct ivshmem_irq ev;
	int id;

	NEED_INTERRUPTS();
	last = ivshmem_vectors(self->dev) - 1;
	id = ivshmem_id(self->dev);
	ASSERT_LE(0, id);
	ASSERT_EQ(0, ivshmem_ring(self->dev, (unsigned int)id, 0));
	ASSERT_EQ(0, ivshmem_ring(self->dev, (unsigned int)id, last));
	usleep(300 * 1000);	/* both interrupts in */
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, ivshmem_wait(self->dev, NULL, 0, 5000, &ev)) TH_LOG("wait %d", i);
		EXPECT_EQ(1, ev.count);
		seen |= 1u << (ev.vector == last);
	}
	EXPECT_EQ(3, seen);
	EXPECT_EQ(-ETIMEDOUT, ivshmem_wait(self->dev, NULL, 0, 0, &ev));
}

/* Each handle has its own view of the rings: both see the same ring. */
TEST_F(lib, every_handle_sees_every_ring)
{
	struct ivshmem *other;
	struct ivshmem_irq ev;
	unsigned int last;
	uint64_t count;
	int id;

	NEED_INTERRUPTS();
	last = ivshmem_vectors(self->dev) - 1;
	id = ivshmem_id(self->dev);
	ASSERT_LE(0, id);
	ASSERT_EQ(0, ivshmem_open(self->pci, &other));
	ASSERT_EQ(0, ivshmem_ring(self->dev, (unsigned int)id, last));
	ASSERT_EQ(0, ivshmem_wait(other, NULL, 0, 10000, &ev));
	EXPECT_EQ(last, ev.vector);
	ASSERT_EQ(0, ivshmem_wait(self->dev, NULL, 0, 10000, &ev));
	EXPECT_EQ(last, ev.vector);
	EXPECT_EQ(-EAGAIN, ivshmem_vector_ack(other, last, &count));
	ivshmem_close(other);
}

/* The resource files map only while no driver holds the BARs. */
TEST_F(lib, sysfs_path_needs_the_bars_free)
{
	struct ivshmem *sys = NULL;
	char path[PATH_MAX];
	int ret;

	NEED_DEVICE();
	snprintf(path, sizeof(path), PCI_DEVICES "/%s", self->pci);
	ret = ivshmem_open(path, &sys);
	if (self->raw) {
		ASSERT_EQ(0, ret);
		EXPECT_EQ(IVSHMEM_BACKEND_SYSFS, ivshmem_backend(sys));
		ivshmem_close(sys);
	} else {
		EXPECT_EQ(-EBUSY, ret) TH_LOG("%s holds the BARs", self->driver);
	}
}

/*
 * uio_ivshmem unbound under a handle: the library reports the removal as
 * -ENODEV, again and again, and never touches a mapping that is gone
 * (the counters of map 2 stay readable; a BAR would raise SIGBUS).  The
 * device is bound again afterwards for the tests that follow.
 */
TEST_F(lib, uio_removal_is_enodev)
{
	struct ivshmem_irq ev;
	uint64_t count;

	NEED_INTERRUPTS();
	if (strcmp(self->driver, "uio_ivshmem"))
		SKIP(return, "the device is on \"%s\"", self->driver);
	ASSERT_EQ(0, write_text(UIO_DRIVER "/unbind", self->pci));
	EXPECT_EQ(-ENODEV, ivshmem_wait(self->dev, NULL, 0, 1000, &ev));
	EXPECT_EQ(-ENODEV, ivshmem_wait(self->dev, NULL, 0, 0, &ev));
	EXPECT_EQ(-ENODEV, ivshmem_vector_ack(self->dev, 0, &count));
	EXPECT_EQ(-ENODEV, ivshmem_wait(self->dev, NULL, 0, 1000, &ev));
	ASSERT_EQ(0, write_text(UIO_DRIVER "/bind", self->pci));
}

TEST_HARNESS_MAIN
