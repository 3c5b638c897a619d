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

#define TIMEOUT_MS	20000
#define CHAN_OFF	0x80000		/* control words, one set per test */
#define DATA_OFF	0x40000		/* bulk data, 256 KiB */
#define DATA_LEN	0x40000
#define MAX_VEC		64

/* Control words of one test; [i] is written by role i only. */
struct chan {
	uint32_t ready[2];
	uint32_t step[2];
	uint32_t ack[2];
};

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

static struct chan *chan(FIXTURE_DATA(peer) *self, int test)
{
	return (struct chan *)(self->shm + CHAN_OFF + test * 64);
}

static void put(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Wait until the peer's word reaches @want; 0 when it did. */
static int wait_word(const uint32_t *p, uint32_t want, int ms)
{
	long end = now_ms() + ms;

	while (__atomic_load_n(p, __ATOMIC_ACQUIRE) < want) {
		if (now_ms() > end)
			return -1;
		usleep(1000);
	}
	return 0;
}

static int meet(FIXTURE_DATA(peer) *self, struct chan *c)
{
	put(&c->ready[self->me], 1);
	return wait_word(&c->ready[!self->me], 1, TIMEOUT_MS);
}

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
	struct chan *c = chan(self, 0);
	unsigned int n = self->nvec, v, w, dir;
	long last = -1;

	NEED_PEER();
	take_events(self->fd, &last);
	snapshot(self, seen);
	ASSERT_EQ(0, meet(self, c)) TH_LOG("the peer never came");
	for (dir = 0; dir < 2; dir++) {
		int ringer = dir == (unsigned int)self->me;

		for (v = 0; v < n; v++) {
			uint32_t step = dir * n + v + 1;

			if (ringer) {
				put(&c->step[self->me], step);
				ring(self->regs, self->peer, v);
				ASSERT_EQ(0, wait_word(&c->ack[!self->me], step, TIMEOUT_MS))
					TH_LOG("no answer to the ring on vector %u", v);
				continue;
			}
			ASSERT_EQ(0, wait_word(&c->step[!self->me], step, TIMEOUT_MS));
			EXPECT_LT(0, uio_wait(self->fd, TIMEOUT_MS))
				TH_LOG("no event for vector %u", v);
			ASSERT_EQ(0, wait_count(self->counts, v, seen[v] + 1, TIMEOUT_MS));
			usleep(50000);
			for (w = 0; w < n; w++) {
				now = count_of(self->counts, w);
				EXPECT_EQ(seen[w] + (w == v), now)
					TH_LOG("ring on %u, counter of vector %u", v, w);
				seen[w] = now;
			}
			last = -1;
			EXPECT_EQ(0, take_events(self->fd, &last)) TH_LOG("more than one event");
			put(&c->ack[self->me], step);
		}
	}
}

/* a pings b on vector 1, b pongs back on vector 1, many times. */
TEST_F_TIMEOUT(peer, ping_pong_loses_no_interrupt, 300)
{
	unsigned int pings = strtoul(getenv("UIO_PINGS") ?: "200", NULL, 0);
	unsigned int vec = self->nvec > 1 ? 1 : 0, i, v;
	uint64_t before[MAX_VEC], after[MAX_VEC];
	struct chan *c = chan(self, 1);
	uint32_t *seq = (uint32_t *)(self->shm + CHAN_OFF + 0x1000);
	unsigned int lost = 0, bad = 0, extra = 0;
	uint32_t total, prev = 0;
	int first = 1;
	long start;

	long last = -1;

	NEED_PEER();
	take_events(self->fd, &last);
	snapshot(self, before);
	ASSERT_EQ(0, meet(self, c));
	start = now_ms();
	for (i = 1; i <= pings; i++) {
		struct pollfd p = { .fd = self->fd, .events = POLLIN };

		if (self->me == 0) {
			put(&seq[0], i);
			ring(self->regs, self->peer, vec);
		}
		if (poll(&p, 1, TIMEOUT_MS) != 1 ||
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
			put(&seq[1], i);
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
	put(&c->step[self->me], 1);
	ASSERT_EQ(0, wait_word(&c->step[!self->me], 1, TIMEOUT_MS));
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
	long last = -1;

	NEED_PEER();
	take_events(self->fd, &last);
	ASSERT_EQ(0, meet(self, c));
	for (round = 0; round < 2; round++) {
		int writer = (int)round == self->me;

		if (writer) {
			for (i = 0; i < DATA_LEN; i++)
				data[i] = pattern(i, round);
			put(&c->step[self->me], round + 1);
			ring(self->regs, self->peer, 0);
			ASSERT_EQ(0, wait_word(&c->step[!self->me], round + 1, TIMEOUT_MS));
			continue;
		}
		ASSERT_LT(0, uio_wait(self->fd, TIMEOUT_MS));
		ASSERT_EQ(0, wait_word(&c->step[!self->me], round + 1, TIMEOUT_MS));
		for (i = 0, wrong = 0; i < DATA_LEN; i++)
			wrong += data[i] != pattern(i, round);
		EXPECT_EQ(0, wrong);
		put(&c->step[self->me], round + 1);
	}
}

TEST_HARNESS_MAIN
