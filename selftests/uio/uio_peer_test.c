// SPDX-License-Identifier: GPL-2.0
/*
 * Two guests on one ivshmem-server, both with their doorbell device on
 * uio_ivshmem, each running this test at the same time: a ring on each
 * vector raises one UIO event and moves only that vector's counter in
 * map 2, a long ping-pong through the UIO descriptor loses no interrupt
 * and gets no spurious one, and data written by one guest through map 1
 * is read by the other.  The guests follow each other through words in
 * the shared memory itself; rings go through the Doorbell register.
 *
 *   UIO_ROLE    a or b (a rings first)
 *   UIO_PEER    the other guest's ID
 *   UIO_PINGS   round trips of the ping-pong (default 200)
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"
#include "uio_common.h"
#include "peer_chan.h"

#define MAX_VEC		64

FIXTURE(peer) {
	struct uio_dev d;
	int fd;
	int me;			/* 0 for a, 1 for b */
	unsigned int peer;
	unsigned int id;
	unsigned int nvec;
	volatile void *regs;
	volatile uint64_t *counts;
	char *shm;
};

FIXTURE_SETUP(peer)
{
	const char *role = getenv("UIO_ROLE"), *peer = getenv("UIO_PEER");

	self->fd = -1;
	if (!role || !peer)
		return;
	self->me = !strcmp(role, "b");
	self->peer = strtoul(peer, NULL, 0);
	ASSERT_EQ(0, uio_find(&self->d, 1, 0x100000)) TH_LOG("no doorbell device on uio_ivshmem");
	self->nvec = self->d.map_size[MAP_COUNTS] / sizeof(uint64_t);
	ASSERT_LT(0, self->nvec) TH_LOG("the device has no MSI-X vectors");
	ASSERT_GE(MAX_VEC, self->nvec);
	self->fd = uio_open(&self->d, O_RDWR | O_NONBLOCK);
	ASSERT_LE(0, self->fd);
	self->regs = uio_map(self->fd, &self->d, MAP_REGS, 0, PROT_READ | PROT_WRITE);
	self->counts = uio_map(self->fd, &self->d, MAP_COUNTS, 0, PROT_READ);
	self->shm = uio_map(self->fd, &self->d, MAP_SHM, 0x100000, PROT_READ | PROT_WRITE);
	ASSERT_TRUE(self->regs && self->counts && self->shm);
	self->id = reg_read(self->regs, REG_IV_POSITION);
}

FIXTURE_TEARDOWN(peer)
{
	if (self->fd >= 0)
		close(self->fd);
}

#define NEED_PEER() do { \
	if (self->fd < 0) \
		SKIP(return, "UIO_ROLE and UIO_PEER not set (two-guest scenario only)"); \
} while (0)

static void snapshot(FIXTURE_DATA(peer) *self, uint64_t *seen)
{
	unsigned int v;

	for (v = 0; v < self->nvec; v++)
		seen[v] = count_of(self->counts, v);
}

/* Events pending on the descriptor, consumed. */
static long take_events(int fd, long *last)
{
	uint32_t total;
	long n = 0;

	while (read(fd, &total, sizeof(total)) == sizeof(total)) {
		n += *last >= 0 ? (long)(total - (uint32_t)*last) : 1;
		*last = total;
	}
	return n;
}

TEST_F(peer, ids_differ)
{
	NEED_PEER();
	EXPECT_NE(self->peer, self->id);
	EXPECT_GE(65535, self->id);
}

/*
 * The ringer rings each vector in turn; the receiver sees one UIO event
 * and only that vector's counter move, by one, then acknowledges.  Then
 * the other way round.
 */
TEST_F_TIMEOUT(peer, each_vector_moves_only_its_counter, 120)
{
	uint64_t seen[MAX_VEC], now;
	struct peer_chan *c = peer_chan(self->shm, 0);
	unsigned int n = self->nvec, v, w, dir;
	long last = -1;

	NEED_PEER();
	take_events(self->fd, &last);
	snapshot(self, seen);
	ASSERT_EQ(0, peer_meet(c, self->me)) TH_LOG("the peer never came");
	for (dir = 0; dir < 2; dir++) {
		int ringer = dir == (unsigned int)self->me;

		for (v = 0; v < n; v++) {
			uint32_t step = dir * n + v + 1;

			if (ringer) {
				peer_put(&c->step[self->me], step);
				ring(self->regs, self->peer, v);
				ASSERT_EQ(0, peer_wait_word(&c->ack[!self->me], step, PEER_TIMEOUT_MS))
					TH_LOG("no answer to the ring on vector %u", v);
				continue;
			}
			ASSERT_EQ(0, peer_wait_word(&c->step[!self->me], step, PEER_TIMEOUT_MS));
			EXPECT_LT(0, uio_wait(self->fd, PEER_TIMEOUT_MS))
				TH_LOG("no event for vector %u", v);
			ASSERT_EQ(0, wait_count(self->counts, v, seen[v] + 1, PEER_TIMEOUT_MS));
			usleep(50000);
			for (w = 0; w < n; w++) {
				now = count_of(self->counts, w);
				EXPECT_EQ(seen[w] + (w == v), now)
					TH_LOG("ring on %u, counter of vector %u", v, w);
				seen[w] = now;
			}
			last = -1;
			EXPECT_EQ(0, take_events(self->fd, &last)) TH_LOG("more than one event");
			peer_put(&c->ack[self->me], step);
		}
	}
}

/* a pings b on vector 1, b pongs back on vector 1, many times. */
TEST_F_TIMEOUT(peer, ping_pong_loses_no_interrupt, 300)
{
	unsigned int pings = strtoul(getenv("UIO_PINGS") ?: "200", NULL, 0);
	unsigned int vec = self->nvec > 1 ? 1 : 0, i, v;
	uint64_t before[MAX_VEC], after[MAX_VEC];
	struct peer_chan *c = peer_chan(self->shm, 1);
	uint32_t *seq = (uint32_t *)(self->shm + PEER_CHAN_OFF + 0x1000);
	unsigned int lost = 0, bad = 0, extra = 0;
	uint32_t total, prev = 0;
	int first = 1;
	long start;

	long last = -1;

	NEED_PEER();
	take_events(self->fd, &last);
	snapshot(self, before);
	ASSERT_EQ(0, peer_meet(c, self->me));
	start = now_ms();
	for (i = 1; i <= pings; i++) {
		struct pollfd p = { .fd = self->fd, .events = POLLIN };

		if (self->me == 0) {
			peer_put(&seq[0], i);
			ring(self->regs, self->peer, vec);
		}
		if (poll(&p, 1, PEER_TIMEOUT_MS) != 1 ||
		    read(self->fd, &total, sizeof(total)) != sizeof(total)) {
			lost++;
			break;
		}
		/* each ping is one event: the total grows by one */
		extra += !first && total != prev + 1;
		first = 0;
		prev = total;
		/* the ring came after the data: the peer's last value shows */
		if (__atomic_load_n(&seq[!self->me], __ATOMIC_ACQUIRE) != i)
			bad++;
		if (self->me == 1) {
			peer_put(&seq[1], i);
			ring(self->regs, self->peer, vec);
		}
	}
	if (!lost && self->me == 0)
		TH_LOG("%u round trips in %ld ms", pings, now_ms() - start);
	EXPECT_EQ(0, lost) TH_LOG("interrupt %u never came", i);
	EXPECT_EQ(0, extra);
	EXPECT_EQ(0, bad);
	/* nothing spurious afterwards, and map 2 counted exactly these */
	usleep(300000);
	EXPECT_EQ(-ETIMEDOUT, uio_wait(self->fd, 0));
	snapshot(self, after);
	for (v = 0; v < self->nvec; v++)
		EXPECT_EQ(before[v] + (v == vec ? pings : 0), after[v])
			TH_LOG("counter of vector %u", v);
	peer_put(&c->step[self->me], 1);
	ASSERT_EQ(0, peer_wait_word(&c->step[!self->me], 1, PEER_TIMEOUT_MS));
}

/* a writes 256 KiB, b checks it and writes its own, a checks that. */
TEST_F_TIMEOUT(peer, bulk_data_crosses, 120)
{
	struct peer_chan *c = peer_chan(self->shm, 2);
	unsigned int round;
	long last = -1;

	NEED_PEER();
	take_events(self->fd, &last);
	ASSERT_EQ(0, peer_meet(c, self->me));
	for (round = 0; round < 2; round++) {
		int writer = (int)round == self->me;

		if (writer) {
			peer_fill(self->shm, round);
			peer_put(&c->step[self->me], round + 1);
			ring(self->regs, self->peer, 0);
			ASSERT_EQ(0, peer_wait_word(&c->step[!self->me], round + 1, PEER_TIMEOUT_MS));
			continue;
		}
		ASSERT_LT(0, uio_wait(self->fd, PEER_TIMEOUT_MS));
		ASSERT_EQ(0, peer_wait_word(&c->step[!self->me], round + 1, PEER_TIMEOUT_MS));
		EXPECT_EQ(0, peer_wrong(self->shm, round));
		peer_put(&c->step[self->me], round + 1);
	}
}

TEST_HARNESS_MAIN
