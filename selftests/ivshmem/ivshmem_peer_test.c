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
#include "peer_chan.h"
#include "kselftest_harness.h"

/*
 * SKIP with the test's full name in the reason: the harness of 6.1
 * prints no name on a skipped test's KTAP line.
 */
#define SKIP_F(fmt, ...) SKIP(return, "%s.%s.%s: " fmt, _metadata->fixture->name, \
			      variant->kind, _metadata->name, ##__VA_ARGS__)
#define SKIP_T(fmt, ...) SKIP(return, "%s.%s: " fmt, _metadata->fixture->name, \
			      _metadata->name, ##__VA_ARGS__)

#define MAX_VEC		64

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

/* Wait for an interrupt on any vector; which one, or -1 on timeout. */
static int wait_any(FIXTURE_DATA(peer) *self)
{
	struct pollfd p[MAX_VEC];
	unsigned int v, n = self->info.nr_vectors;

	for (v = 0; v < n; v++)
		p[v] = (struct pollfd){ .fd = self->efd[v], .events = POLLIN };
	if (poll(p, n, PEER_TIMEOUT_MS) <= 0)
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
	struct peer_chan *c = peer_chan(self->shm, 0);
	unsigned int n = self->info.nr_vectors, v, w, dir;

	NEED_PEER();
	ASSERT_EQ(0, peer_meet(c, self->me)) TH_LOG("peer never came");
	for (dir = 0; dir < 2; dir++) {
		int ringer = dir == (unsigned int)self->me;

		for (v = 0; v < n; v++) {
			uint32_t step = dir * n + v + 1;

			if (ringer) {
				peer_put(&c->step[self->me], step);
				ASSERT_EQ(0, ivs_ring(self->fd, self->peer, v));
				ASSERT_EQ(0, peer_wait_word(&c->ack[!self->me], step,
							   PEER_TIMEOUT_MS))
					TH_LOG("no answer to the ring on vector %u", v);
				continue;
			}
			ASSERT_EQ(0, peer_wait_word(&c->step[!self->me], step, PEER_TIMEOUT_MS));
			EXPECT_EQ((int)v, wait_any(self)) TH_LOG("rung on vector %u", v);
			usleep(50000);
			for (w = 0; w < n; w++)
				EXPECT_EQ(w == v ? 1 : 0, ivs_efd_take(self->efd[w]))
					TH_LOG("ring on %u, eventfd of vector %u", v, w);
			peer_put(&c->ack[self->me], step);
		}
	}
}

/* a pings b on vector 1, b pongs back on vector 1, many times. */
TEST_F_TIMEOUT(peer, ping_pong_loses_no_interrupt, 300)
{
	unsigned long long before[MAX_VEC], after[MAX_VEC];
	unsigned int pings = strtoul(getenv("IVSHMEM_PINGS") ?: "200", NULL, 0);
	unsigned int vec = self->info.nr_vectors > 1 ? 1 : 0, i, v;
	struct peer_chan *c = peer_chan(self->shm, 1);
	uint32_t *seq = (uint32_t *)(self->shm + PEER_CHAN_OFF + 0x1000);
	unsigned int lost = 0, bad = 0, extra = 0;

	NEED_PEER();
	ASSERT_LE(0, ivs_interrupts(self->d.name, before, MAX_VEC));
	ASSERT_EQ(0, peer_meet(c, self->me));
	for (i = 1; i <= pings; i++) {
		if (self->me == 0) {
			peer_put(&seq[0], i);
			ASSERT_EQ(0, ivs_ring(self->fd, self->peer, vec));
		}
		if (ivs_wait(self->efd[vec], PEER_TIMEOUT_MS) != POLLIN) {
			lost++;
			break;
		}
		extra += ivs_efd_take(self->efd[vec]) != 1;
		/* The ring came after the data: the peer's last value shows. */
		if (__atomic_load_n(&seq[!self->me], __ATOMIC_ACQUIRE) != i)
			bad++;
		if (self->me == 1) {
			peer_put(&seq[1], i);
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
	peer_put(&c->step[self->me], 1);
	ASSERT_EQ(0, peer_wait_word(&c->step[!self->me], 1, PEER_TIMEOUT_MS));
}

/* a writes 256 KiB, b checks it and writes its own, a checks that. */
TEST_F_TIMEOUT(peer, bulk_data_crosses, 120)
{
	struct peer_chan *c = peer_chan(self->shm, 2);
	unsigned int round;

	NEED_PEER();
	ASSERT_EQ(0, peer_meet(c, self->me));
	for (round = 0; round < 2; round++) {
		int writer = (int)round == self->me;

		if (writer) {
			peer_fill(self->shm, round);
			peer_put(&c->step[self->me], round + 1);
			ASSERT_EQ(0, ivs_ring(self->fd, self->peer, 0));
			ASSERT_EQ(0, peer_wait_word(&c->ack[!self->me], round + 1,
						   PEER_TIMEOUT_MS));
			continue;
		}
		ASSERT_EQ(POLLIN, ivs_wait(self->efd[0], PEER_TIMEOUT_MS));
		ivs_efd_take(self->efd[0]);
		ASSERT_EQ(0, peer_wait_word(&c->step[!self->me], round + 1, PEER_TIMEOUT_MS));
		EXPECT_EQ(0, peer_wrong(self->shm, round));
		peer_put(&c->ack[self->me], round + 1);
	}
}

TEST_HARNESS_MAIN
