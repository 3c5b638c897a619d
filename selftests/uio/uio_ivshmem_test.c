// SPDX-License-Identifier: GPL-2.0
/*
 * uio_ivshmem in one guest: the maps (registers, write-back shared memory,
 * per-vector counters), the interrupts of every MSI-X vector through the
 * UIO descriptor when the guest rings itself, holding events back and
 * letting them through with write(), and a plain device without
 * interrupts.  Doorbell tests need a doorbell device on uio_ivshmem; they
 * skip without.  $IVSHMEM_EXPECT_MEMTYPE: what map 1 must get (write-back
 * when unset); $IVSHMEM_EXPECT_LABELS: the region label of each device in
 * PCI order (common/region_label.h).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "region_label.h"
#include "uio_common.h"

#define EVENT_MS	10000

/* The PAT list's cache type of [start, end), or "" when it has no entry. */
static void pat_type(uint64_t start, uint64_t end, char *type, size_t len)
{
	unsigned long long s, e;
	char line[256], t[64];
	FILE *f;

	snprintf(type, len, "%s", "");
	f = fopen("/sys/kernel/debug/x86/pat_memtype_list", "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "PAT: [mem 0x%llx-0x%llx] %63s", &s, &e, t) == 3 &&
		    s == start && e == end)
			snprintf(type, len, "%s", t);
	fclose(f);
}

static int msi_irqs(const char *pci)
{
	char path[PATH_MAX];
	struct dirent *de;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/msi_irqs", pci);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((de = readdir(dir)))
		n += de->d_name[0] != '.';
	closedir(dir);
	return n;
}

/* /proc/iomem has [start, end] claimed by @owner, nested in the BAR. */
static int iomem_owner_is(uint64_t start, uint64_t end, const char *owner)
{
	unsigned long long s, e;
	char line[256], name[128];
	int found = 0;
	FILE *f;

	f = fopen("/proc/iomem", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " %llx-%llx : %127[^\n]", &s, &e, name) == 3 &&
		    s == start && e == end && !strcmp(name, owner))
			found = 1;
	fclose(f);
	return found;
}

FIXTURE(doorbell) {
	struct uio_dev d;
	int fd;
	unsigned int nvec;
	unsigned int id;
	volatile void *regs;
	volatile uint64_t *counts;
};

FIXTURE_SETUP(doorbell)
{
	self->fd = -1;
	if (uio_find(&self->d, 1, 0))
		return;
	self->fd = uio_open(&self->d, O_RDWR | O_NONBLOCK);
	ASSERT_LE(0, self->fd);
	self->nvec = self->d.map_size[MAP_COUNTS] / sizeof(uint64_t);
	self->regs = uio_map(self->fd, &self->d, MAP_REGS, 0, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, self->regs);
	if (self->nvec) {
		self->counts = uio_map(self->fd, &self->d, MAP_COUNTS, 0, PROT_READ);
		ASSERT_NE(NULL, self->counts);
	}
	self->id = reg_read(self->regs, REG_IV_POSITION);
}

FIXTURE_TEARDOWN(doorbell)
{
	int32_t on = 1;

	if (self->fd >= 0) {
		/* leave the events flowing for the next test */
		write(self->fd, &on, sizeof(on));
		close(self->fd);
	}
}

#define NEED_DOORBELL() do { \
	if (self->fd < 0) \
		SKIP(return, "no doorbell device on uio_ivshmem"); \
	if (!self->nvec) \
		SKIP(return, "the doorbell device has no MSI-X vectors"); \
} while (0)

/* Consume pending events so that the next one is ours. */
static void drain(int fd)
{
	uint32_t total;

	while (read(fd, &total, sizeof(total)) == sizeof(total))
		;
}

TEST_F(doorbell, maps_are_the_bars_and_the_counters)
{
	NEED_DOORBELL();
	ASSERT_TRUE(map_is_bar(&self->d, MAP_REGS, 0));
	ASSERT_TRUE(map_is_bar(&self->d, MAP_SHM, 2));
	/* one counter per vector the kernel enabled, no address shown */
	ASSERT_EQ(msi_irqs(self->d.pci), self->nvec);
	ASSERT_EQ(0, self->d.map_addr[MAP_COUNTS]);
}

/* The driver holds both BARs: nobody else maps them, not even sysfs. */
TEST_F(doorbell, bars_are_claimed_by_the_driver)
{
	int bars[] = { 0, 2 };
	unsigned int i;

	NEED_DOORBELL();
	for (i = 0; i < 2; i++) {
		uint64_t start = self->d.bar_start[bars[i]];
		uint64_t end = start + self->d.bar_size[bars[i]] - 1;

		EXPECT_TRUE(iomem_owner_is(start, end, "uio_ivshmem"))
			TH_LOG("BAR%d %llx-%llx not claimed", bars[i],
			       (unsigned long long)start, (unsigned long long)end);
		EXPECT_EQ(NULL, map_resource(self->d.pci, bars[i], getpagesize()));
	}
}

TEST_F(doorbell, shm_is_the_same_through_every_descriptor)
{
	volatile uint64_t *shm, *shm2;
	uint64_t word = (uint64_t)now_ms() * 2654435761u;
	size_t len = 2 * getpagesize();
	int fd2;

	NEED_DOORBELL();
	fd2 = uio_open(&self->d, O_RDWR);
	ASSERT_LE(0, fd2);
	shm = uio_map(self->fd, &self->d, MAP_SHM, len, PROT_READ | PROT_WRITE);
	shm2 = uio_map(fd2, &self->d, MAP_SHM, 0, PROT_READ | PROT_WRITE);
	ASSERT_TRUE(shm && shm2);
	shm[600] = word;
	EXPECT_EQ(word, shm2[600]);
	shm2[601] = ~word;
	EXPECT_EQ(~word, shm[601]);
	munmap((void *)shm, len);
	munmap((void *)shm2, self->d.map_size[MAP_SHM]);
	close(fd2);
}

TEST_F(doorbell, mmap_refuses_what_it_cannot_give)
{
	size_t page = getpagesize();
	void *p;

	NEED_DOORBELL();
	/* private mappings of device memory */
	p = mmap(NULL, page, PROT_READ, MAP_PRIVATE, self->fd, MAP_SHM * page);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	/* more than the map */
	p = mmap(NULL, self->d.map_size[MAP_REGS] + page, PROT_READ, MAP_SHARED,
		 self->fd, MAP_REGS * page);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	/* a map that does not exist */
	p = mmap(NULL, page, PROT_READ, MAP_SHARED, self->fd, 3 * page);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	/* the counters are read-only, now and later */
	p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd,
		 MAP_COUNTS * page);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(-1, mprotect((void *)self->counts, page, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
}

/*
 * A BAR mapping is used whole: splitting it would leave part of its PAT
 * reservation behind when the pieces go.
 */
TEST_F(doorbell, bar_mappings_cannot_be_split)
{
	size_t page = getpagesize();
	char *shm;

	NEED_DOORBELL();
	if (self->d.map_size[MAP_SHM] < 2 * page)
		SKIP(return, "the shared memory is one page");
	shm = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd,
		   MAP_SHM * page);
	ASSERT_NE(MAP_FAILED, shm);
	EXPECT_EQ(-1, munmap(shm + page, page));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, mprotect(shm, page, PROT_READ));
	EXPECT_EQ(EINVAL, errno);
	shm[page] = 1;		/* still mapped, whole */
	EXPECT_EQ(0, munmap(shm, 2 * page));
}

/*
 * Every device's maps start on a page, with the offset of the BAR in it:
 * a 256-byte BAR0 need not start on a page (the kernel aligns a
 * hot-plugged one to 256 bytes), and the page may hold another device's
 * registers.  Doorbell devices of one server have distinct IDs, so each
 * reading its own IVPosition shows that map 0 plus its offset is its own
 * BAR0.
 */
TEST(maps_start_on_a_page_at_their_offset)
{
	unsigned int ids[16], n = 0, unaligned = 0, i, j;
	struct dirent **names;
	char env[300];
	struct uio_dev d;
	void *regs;
	int k, count, fd;

	count = scandir(UIO_CLASS, &names, NULL, versionsort);
	ASSERT_LE(0, count);
	for (k = 0; k < count; k++) {
		snprintf(env, sizeof(env), "%s", names[k]->d_name);
		free(names[k]);
		if (env[0] == '.' || setenv("UIO_DEVICE", env, 1))
			continue;
		if (uio_find(&d, 1, 0) && uio_find(&d, 0, 0))
			continue;
		EXPECT_TRUE(map_is_bar(&d, MAP_REGS, 0))
			TH_LOG("%s: map 0 at %llx + %llx, %llx bytes; BAR0 %llx, %llx bytes",
			       d.uio, (unsigned long long)d.map_addr[0],
			       (unsigned long long)d.map_offs[0],
			       (unsigned long long)d.map_size[0],
			       (unsigned long long)d.bar_start[0],
			       (unsigned long long)d.bar_size[0]);
		EXPECT_TRUE(map_is_bar(&d, MAP_SHM, 2));
		unaligned += d.bar_start[0] % getpagesize() != 0;
		if (!d.bar_size[1] || n == 16)
			continue;
		fd = uio_open(&d, O_RDWR);
		ASSERT_LE(0, fd);
		regs = uio_map(fd, &d, MAP_REGS, 0, PROT_READ);
		ASSERT_NE(NULL, regs);
		ids[n++] = reg_read(regs, REG_IV_POSITION);
		uio_unmap(&d, MAP_REGS, regs, 0);
		close(fd);
	}
	free(names);
	unsetenv("UIO_DEVICE");
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			EXPECT_NE(ids[i], ids[j]) TH_LOG("two devices read ID %u", ids[i]);
	if (!unaligned)
		TH_LOG("every BAR0 starts on a page here");
}

TEST_F(doorbell, registers_are_uncached_in_pat)
{
	char type[64];

	NEED_DOORBELL();
	pat_type(self->d.map_addr[MAP_REGS],
		 self->d.map_addr[MAP_REGS] + getpagesize(), type, sizeof(type));
	EXPECT_STREQ("uncached-minus", type);
}

/* Every vector rung on itself: one event, and only its counter moves. */
TEST_F(doorbell, each_vector_is_one_event_and_its_own_count)
{
	uint64_t before[64], after;
	unsigned int v, w, n;
	long total, last;

	NEED_DOORBELL();
	n = self->nvec < 64 ? self->nvec : 64;
	drain(self->fd);
	last = -1;
	for (v = 0; v < n; v++) {
		for (w = 0; w < n; w++)
			before[w] = count_of(self->counts, w);
		ring(self->regs, self->id, v);
		total = uio_wait(self->fd, EVENT_MS);
		ASSERT_LT(0, total) TH_LOG("vector %u: no event (%ld)", v, total);
		if (last >= 0)
			EXPECT_EQ(last + 1, total);
		last = total;
		for (w = 0; w < n; w++) {
			after = count_of(self->counts, w);
			EXPECT_EQ(before[w] + (w == v), after)
				TH_LOG("rang %u, counter %u went %llu -> %llu", v, w,
				       (unsigned long long)before[w],
				       (unsigned long long)after);
		}
	}
}

TEST_F(doorbell, write_0_holds_events_back_and_1_delivers_them)
{
	int32_t off = 0, on = 1;
	uint64_t before;
	unsigned int v;

	NEED_DOORBELL();
	v = self->nvec - 1;
	drain(self->fd);
	ASSERT_EQ(sizeof(off), write(self->fd, &off, sizeof(off)));
	before = count_of(self->counts, v);
	/* rings close together may merge into one interrupt: one at a time */
	ring(self->regs, self->id, v);
	ASSERT_EQ(0, wait_count(self->counts, v, before + 1, EVENT_MS));
	ring(self->regs, self->id, v);
	/* both interrupts arrive and are counted ... */
	ASSERT_EQ(0, wait_count(self->counts, v, before + 2, EVENT_MS));
	/* ... but raise no event */
	EXPECT_EQ(-ETIMEDOUT, uio_wait(self->fd, 300));
	/* letting events through reports what came meanwhile, once */
	ASSERT_EQ(sizeof(on), write(self->fd, &on, sizeof(on)));
	EXPECT_LT(0, uio_wait(self->fd, 1000));
	EXPECT_EQ(-ETIMEDOUT, uio_wait(self->fd, 300));
	/* writing 1 again, as generic UIO code does after each event, is fine */
	ASSERT_EQ(sizeof(on), write(self->fd, &on, sizeof(on)));
	EXPECT_EQ(-ETIMEDOUT, uio_wait(self->fd, 100));
	ring(self->regs, self->id, v);
	EXPECT_LT(0, uio_wait(self->fd, EVENT_MS));
	EXPECT_EQ(before + 3, count_of(self->counts, v));
}

TEST_F(doorbell, write_rejects_other_values)
{
	int32_t two = 2, minus = -1;
	uint64_t wide = 1;

	NEED_DOORBELL();
	EXPECT_EQ(-1, write(self->fd, &two, sizeof(two)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, write(self->fd, &minus, sizeof(minus)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, write(self->fd, &wide, sizeof(wide)));
	EXPECT_EQ(EINVAL, errno);
}

/* Two descriptors of the same device both see an event. */
TEST_F(doorbell, every_open_file_sees_the_event)
{
	int fd2;

	NEED_DOORBELL();
	fd2 = uio_open(&self->d, O_RDWR | O_NONBLOCK);
	ASSERT_LE(0, fd2);
	drain(self->fd);
	drain(fd2);
	ring(self->regs, self->id, 0);
	EXPECT_LT(0, uio_wait(self->fd, EVENT_MS));
	EXPECT_LT(0, uio_wait(fd2, EVENT_MS));
	close(fd2);
}

/* Holding events back is the device's state: other files see none either. */
TEST_F(doorbell, holding_back_covers_every_open_file)
{
	int32_t off = 0, on = 1;
	uint64_t before;
	int fd2;

	NEED_DOORBELL();
	fd2 = uio_open(&self->d, O_RDWR | O_NONBLOCK);
	ASSERT_LE(0, fd2);
	drain(self->fd);
	drain(fd2);
	ASSERT_EQ(sizeof(off), write(self->fd, &off, sizeof(off)));
	before = count_of(self->counts, 0);
	ring(self->regs, self->id, 0);
	ASSERT_EQ(0, wait_count(self->counts, 0, before + 1, EVENT_MS));
	EXPECT_EQ(-ETIMEDOUT, uio_wait(fd2, 300));
	ASSERT_EQ(sizeof(on), write(self->fd, &on, sizeof(on)));
	EXPECT_LT(0, uio_wait(fd2, 1000));
	EXPECT_LT(0, uio_wait(self->fd, 1000));
	close(fd2);
}

/*
 * Map 1 of each kind of device gets the memory type the driver reports in
 * the PCI device's memtype attribute, and what the scenario expects
 * ($IVSHMEM_EXPECT_MEMTYPE; write-back by default, since the driver moves
 * BAR2 out of the 32-bit hole that SeaBIOS makes uncached).
 */
TEST(shm_has_the_reported_memtype_in_pat)
{
	const char *want = getenv("IVSHMEM_EXPECT_MEMTYPE");
	char type[64], attr[64], path[PATH_MAX];
	size_t len = 1 << 20;
	struct uio_dev d;
	volatile char *shm;
	int kind, fd, seen = 0;

	if (access("/sys/kernel/debug/x86/pat_memtype_list", R_OK))
		SKIP(return, "no PAT list");
	for (kind = 0; kind < 2; kind++) {
		if (uio_find(&d, kind, 0))
			continue;
		seen++;
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/memtype", d.pci);
		ASSERT_EQ(0, read_text(path, attr, sizeof(attr))) TH_LOG("%s", path);
		EXPECT_STREQ(want ? want : "write-back", attr) TH_LOG("%s at %#llx", d.pci,
			(unsigned long long)d.map_addr[MAP_SHM]);
		fd = uio_open(&d, O_RDWR);
		ASSERT_LE(0, fd);
		shm = uio_map(fd, &d, MAP_SHM, len, PROT_READ | PROT_WRITE);
		ASSERT_NE(NULL, shm);
		shm[0] = shm[0];
		pat_type(d.map_addr[MAP_SHM], d.map_addr[MAP_SHM] + len, type, sizeof(type));
		EXPECT_STREQ(attr, type) TH_LOG("%s", d.pci);
		munmap((void *)shm, len);
		/* and the entry goes with the mapping */
		pat_type(d.map_addr[MAP_SHM], d.map_addr[MAP_SHM] + len, type, sizeof(type));
		EXPECT_STREQ("", type);
		close(fd);
	}
	ASSERT_LT(0, seen) TH_LOG("no uio_ivshmem device");
}

static int is_pci_address(const struct dirent *de)
{
	return !strncmp(de->d_name, "0000:", 5);
}

/*
 * Every PCI function bound to uio_ivshmem has a read-only region_label
 * attribute, empty or a label and one newline, the same at every read.
 * With $IVSHMEM_EXPECT_LABELS, each holds the label the scenario wrote
 * into its region's header, or nothing.
 */
TEST(region_label_is_empty_or_the_region_label)
{
	const char *want = getenv("IVSHMEM_EXPECT_LABELS");
	char buf[256], again[256], exp[LABEL_ATTR_MAX], path[PATH_MAX];
	struct dirent **names;
	int n, i, len, elen;
	const char *bad;

	n = scandir(UIO_DRIVER, &names, is_pci_address, alphasort);
	ASSERT_LT(0, n) TH_LOG("no device bound to uio_ivshmem");
	if (want)
		EXPECT_EQ(label_expected_count(want), n)
			TH_LOG("IVSHMEM_EXPECT_LABELS=%s", want);
	for (i = 0; i < n; i++) {
		const char *pci = names[i]->d_name;

		snprintf(path, sizeof(path), PCI_DEVICES "/%s/region_label", pci);
		len = label_attr_read(path, buf, sizeof(buf));
		ASSERT_LE(0, len) TH_LOG("%s: %s", path, strerror(-len));
		bad = label_attr_bad(buf, len);
		EXPECT_EQ(NULL, bad) TH_LOG("%s: %s", path, bad);
		EXPECT_EQ(len, label_attr_read(path, again, sizeof(again)));
		EXPECT_EQ(0, memcmp(buf, again, len)) TH_LOG("%s changed", path);
		errno = 0;
		EXPECT_EQ(-1, open(path, O_WRONLY));
		EXPECT_EQ(EACCES, errno) TH_LOG("%s", path);
		if (!want || i >= label_expected_count(want))
			continue;
		elen = label_expected(want, i, exp, sizeof(exp));
		ASSERT_LE(0, elen) TH_LOG("entry %d of IVSHMEM_EXPECT_LABELS", i);
		EXPECT_EQ(elen ? elen + 1 : 0, len)
			TH_LOG("%s: %d bytes, want %d", pci, len, elen ? elen + 1 : 0);
		if (elen && len == elen + 1)
			EXPECT_EQ(0, memcmp(exp, buf, elen))
				TH_LOG("%s: %.*s", pci, len - 1, buf);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/*
 * A plain device, or a doorbell device without MSI-X (pci=nomsi): maps,
 * but no interrupt and no counters.
 */
TEST(device_without_msix_has_no_interrupt)
{
	volatile uint32_t *shm, *regs;
	struct pollfd pfd;
	struct uio_dev d;
	uint32_t total;
	int32_t on = 1;
	int fd;

	if (uio_find(&d, 0, 0) && (uio_find(&d, 1, 0) || d.map_size[MAP_COUNTS]))
		SKIP(return, "no device without MSI-X on uio_ivshmem");
	TH_LOG("%s: %s device", d.uio, d.bar_size[1] ? "doorbell" : "plain");
	ASSERT_EQ(0, d.map_size[MAP_COUNTS]);
	ASSERT_EQ(d.bar_size[2], d.map_size[MAP_SHM]);
	fd = uio_open(&d, O_RDWR);
	ASSERT_LE(0, fd);
	shm = uio_map(fd, &d, MAP_SHM, getpagesize(), PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, shm);
	shm[3] = 0x5eed;
	EXPECT_EQ(0x5eed, shm[3]);
	if (d.bar_size[1]) {
		/* the doorbell still rings (itself: nothing arrives) */
		regs = uio_map(fd, &d, MAP_REGS, 0, PROT_READ | PROT_WRITE);
		ASSERT_NE(NULL, regs);
		EXPECT_LE(reg_read(regs, REG_IV_POSITION), 65535);
		ring(regs, reg_read(regs, REG_IV_POSITION), 0);
		uio_unmap(&d, MAP_REGS, regs, 0);
	}
	EXPECT_EQ(-1, read(fd, &total, sizeof(total)));
	EXPECT_EQ(EIO, errno);
	EXPECT_EQ(-1, write(fd, &on, sizeof(on)));
	EXPECT_EQ(EIO, errno);
	pfd.fd = fd;
	pfd.events = POLLIN;
	EXPECT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_TRUE(pfd.revents & POLLERR);
	munmap((void *)shm, getpagesize());
	close(fd);
}

TEST_HARNESS_MAIN
