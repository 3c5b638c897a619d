// SPDX-License-Identifier: GPL-2.0
/*
 * Two guests on one ivshmem-server, each running this test at the same
 * time on its doorbell device: rings on every vector wake exactly the
 * peer's eventfd for that vector, a long ping-pong loses no interrupt and
 * gets no spurious one, and data written by one guest is read by the other.
 * The guests follow each other through flags in the shared memory itself.
 *
 *   IVSHMEM_ROLE   a or b (a rings first)
 *   IVSHMEM_PEER   the other guest's VM ID
 *   IVSHMEM_PINGS  round trips of the ping-pong (default 200)
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "ivshmem_util.h"
#include "kselftest_harness.h"

/*
 * SKIP with the test's full name in the reason: the harness of 6.1
 * prints no name on a skipped test's KTAP line.
 */
#define SKIP_F(fmt, ...) SKIP(return, "%s.%s.%s: " fmt, _metadata->fixture->name, \
			      variant->kind, _metadata->name, ##__VA_ARGS__)
#define SKIP_T(fmt, ...) SKIP(return, "%s.%s: " fmt, _metadata->fixture->name, \
			      _metadata->name, ##__VA_ARGS__)

#define TIMEOUT_MS	20000
#define CHAN_OFF	0x80000		/* control words, one set per test */
#define DATA_OFF	0x40000		/* bulk data, 256 KiB */
#define DATA_LEN	0x40000
#define MAX_VEC		64

/* Control words of one test; [i] is written by role i only. */
struct chan {
	uint32_t ready[2];
	uint32_t step[2];	/* the ringer's step number */
	uint32_t ack[2];	/* the receiver's answer to that step */
};

FIXTURE(peer) {
	struct ivs_dev d;
	struct ivshmem_info info;
	int fd;
	int me;			/* 0 for a, 1 for b */
	unsigned int peer;
	char *shm;
	int efd[MAX_VEC];
};

FIXTURE_SETUP(peer)
{
	const char *role = getenv("IVSHMEM_ROLE"), *peer = getenv("IVSHMEM_PEER");
	unsigned int v;

	self->fd = -1;
	if (!role || !peer)
		SKIP_T("IVSHMEM_ROLE and IVSHMEM_PEER not set (two-guest scenario only)");
	self->me = !strcmp(role, "b");
	self->peer = strtoul(peer, NULL, 0);
	ASSERT_EQ(0, ivs_find("msix", &self->d)) TH_LOG("no doorbell device with MSI-X");
	self->fd = open(self->d.node, O_RDWR);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, ivs_info(self->fd, &self->info));
	ASSERT_GE(MAX_VEC, self->info.nr_vectors);
	ASSERT_LE(0x100000, self->info.shm_size);
	self->shm = mmap(NULL, self->info.shm_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->shm);
	for (v = 0; v < self->info.nr_vectors; v++) {
		self->efd[v] = eventfd(0, EFD_NONBLOCK);
		ASSERT_EQ(0, ivs_bind(self->fd, v, self->efd[v]));
	}
}

FIXTURE_TEARDOWN(peer)
{
	if (self->fd >= 0)
		close(self->fd);
}

#define NEED_PEER()	do { if (self->fd < 0) return; } while (0)

static struct chan *chan(FIXTURE_DATA(peer) *self, int test)
{
	return (struct chan *)(self->shm + CHAN_OFF + test * 64);
}

static void put(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Both guests have bound their eventfds for this test. */
static int meet(FIXTURE_DATA(peer) *self, struct chan *c)
{
	put(&c->ready[self->me], 1);
	return ivs_wait_word(&c->ready[!self->me], 1, TIMEOUT_MS);
}

/* Wait for an interrupt on any vector; which one, or -1 on timeout. */
static int wait_any(FIXTURE_DATA(peer) *self)
{
	struct pollfd p[MAX_VEC];
	unsigned int v, n = self->info.nr_vectors;

	for (v = 0; v < n; v++)
		p[v] = (struct pollfd){ .fd = self->efd[v], .events = POLLIN };
	if (poll(p, n, TIMEOUT_MS) <= 0)
		return -1;
	for (v = 0; v < n; v++)
		if (p[v].revents & POLLIN)
			return v;
	return -1;
}

TEST_F(peer, vm_ids_differ)
{
	NEED_PEER();
	EXPECT_NE(self->peer, self->info.vm_id);
	EXPECT_GE(IVSHMEM_PEER_MAX, self->info.vm_id);
	EXPECT_EQ(ivs_attr_num(self->d.name, "vm_id"), self->info.vm_id);
}

/*
 * The ringer rings each vector in turn; the receiver checks that exactly
 * that vector's eventfd fired, once, then acknowledges.  Then the other
 * way round.
 */
TEST_F_TIMEOUT(peer, each_vector_wakes_only_that_eventfd, 120)
{
	struct chan *c = chan(self, 0);
	unsigned int n = self->info.nr_vectors, v, w, dir;

	NEED_PEER();
	ASSERT_EQ(0, meet(self, c)) TH_LOG("peer never came");
	for (dir = 0; dir < 2; dir++) {
		int ringer = dir == (unsigned int)self->me;

		for (v = 0; v < n; v++) {
			uint32_t step = dir * n + v + 1;

			if (ringer) {
				put(&c->step[self->me], step);
				ASSERT_EQ(0, ivs_ring(self->fd, self->peer, v));
				ASSERT_EQ(0, ivs_wait_word(&c->ack[!self->me], step,
							   TIMEOUT_MS))
					TH_LOG("no answer to the ring on vector %u", v);
				continue;
			}
			ASSERT_EQ(0, ivs_wait_word(&c->step[!self->me], step, TIMEOUT_MS));
			EXPECT_EQ((int)v, wait_any(self)) TH_LOG("rung on vector %u", v);
			usleep(50000);
			for (w = 0; w < n; w++)
				EXPECT_EQ(w == v ? 1 : 0, ivs_efd_take(self->efd[w]))
					TH_LOG("ring on %u, eventfd of vector %u", v, w);
			put(&c->ack[self->me], step);
		}
	}
}

/* a pings b on vector 1, b pongs back on vector 1, many times. */
TEST_F_TIMEOUT(peer, ping_pong_loses_no_interrupt, 300)
{
	unsigned long long before[MAX_VEC], after[MAX_VEC];
	unsigned int pings = strtoul(getenv("IVSHMEM_PINGS") ?: "200", NULL, 0);
	unsigned int vec = self->info.nr_vectors > 1 ? 1 : 0, i, v;
	struct chan *c = chan(self, 1);
	uint32_t *seq = (uint32_t *)(self->shm + CHAN_OFF + 0x1000);
	unsigned int lost = 0, bad = 0, extra = 0;

	NEED_PEER();
	ASSERT_LE(0, ivs_interrupts(self->d.name, before, MAX_VEC));
	ASSERT_EQ(0, meet(self, c));
	for (i = 1; i <= pings; i++) {
		if (self->me == 0) {
			put(&seq[0], i);
			ASSERT_EQ(0, ivs_ring(self->fd, self->peer, vec));
		}
		if (ivs_wait(self->efd[vec], TIMEOUT_MS) != POLLIN) {
			lost++;
			break;
		}
		extra += ivs_efd_take(self->efd[vec]) != 1;
		/* The ring came after the data: the peer's last value shows. */
		if (__atomic_load_n(&seq[!self->me], __ATOMIC_ACQUIRE) != i)
			bad++;
		if (self->me == 1) {
			put(&seq[1], i);
			ASSERT_EQ(0, ivs_ring(self->fd, self->peer, vec));
		}
	}
	EXPECT_EQ(0, lost) TH_LOG("interrupt %u never came", i);
	EXPECT_EQ(0, extra);
	EXPECT_EQ(0, bad);
	/* Nothing spurious afterwards, and sysfs counted exactly these. */
	usleep(300000);
	for (v = 0; v < self->info.nr_vectors; v++)
		EXPECT_EQ(0, ivs_efd_take(self->efd[v])) TH_LOG("vector %u", v);
	ASSERT_LE(0, ivs_interrupts(self->d.name, after, MAX_VEC));
	for (v = 0; v < self->info.nr_vectors; v++)
		EXPECT_EQ(before[v] + (v == vec ? pings : 0), after[v])
			TH_LOG("sysfs count of vector %u", v);
	/* Let the peer finish its own checks before a new test rings. */
	put(&c->step[self->me], 1);
	ASSERT_EQ(0, ivs_wait_word(&c->step[!self->me], 1, TIMEOUT_MS));
}

static uint8_t pattern(unsigned int i, unsigned int salt)
{
	return (i * 2654435761u + salt) >> 13;
}

/* a writes 256 KiB, b checks it and writes its own, a checks that. */
TEST_F_TIMEOUT(peer, bulk_data_crosses, 120)
{
	struct chan *c = chan(self, 2);
	uint8_t *data = (uint8_t *)self->shm + DATA_OFF;
	unsigned int i, wrong, round;

	NEED_PEER();
	ASSERT_EQ(0, meet(self, c));
	for (round = 0; round < 2; round++) {
		int writer = (int)round == self->me;

		if (writer) {
			for (i = 0; i < DATA_LEN; i++)
				data[i] = pattern(i, round);
			put(&c->step[self->me], round + 1);
			ASSERT_EQ(0, ivs_ring(self->fd, self->peer, 0));
			ASSERT_EQ(0, ivs_wait_word(&c->ack[!self->me], round + 1,
						   TIMEOUT_MS));
			continue;
		}
		ASSERT_EQ(POLLIN, ivs_wait(self->efd[0], TIMEOUT_MS));
		ivs_efd_take(self->efd[0]);
		ASSERT_EQ(0, ivs_wait_word(&c->step[!self->me], round + 1, TIMEOUT_MS));
		for (i = 0, wrong = 0; i < DATA_LEN; i++)
			wrong += data[i] != pattern(i, round);
		EXPECT_EQ(0, wrong);
		put(&c->ack[self->me], round + 1);
	}
}

TEST_HARNESS_MAIN
