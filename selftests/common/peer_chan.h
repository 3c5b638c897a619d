/* SPDX-License-Identifier: GPL-2.0 */
/*
 * How two guests that run the same peer test at the same time follow each
 * other: control words in the shared memory, each written by one side
 * only, and a pattern for the data test.  Shared by the peer tests of
 * ivshmem.ko and of uio_ivshmem, which differ only in how they ring and
 * wait for an interrupt.
 *
 * Layout of the shared memory (1 MiB at least): 256 KiB of data at
 * PEER_DATA_OFF, then one struct peer_chan per test, 64 bytes apart, at
 * PEER_CHAN_OFF.
 */
#ifndef PEER_CHAN_H
#define PEER_CHAN_H

#include <stdint.h>
#include <time.h>
#include <unistd.h>

#define PEER_TIMEOUT_MS	20000
#define PEER_CHAN_OFF	0x80000
#define PEER_DATA_OFF	0x40000
#define PEER_DATA_LEN	0x40000

/* Control words of one test; [i] is written by role i (0 = a, 1 = b) only. */
struct peer_chan {
	uint32_t ready[2];	/* the side is set up for the test */
	uint32_t step[2];	/* the ringer's step number */
	uint32_t ack[2];	/* the receiver's answer to that step */
};

static inline struct peer_chan *peer_chan(void *shm, unsigned int test)
{
	return (struct peer_chan *)((char *)shm + PEER_CHAN_OFF + test * 64);
}

static inline void peer_put(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline long peer_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* Wait until the other side's word reaches @want; 0, or -1 on timeout. */
static inline int peer_wait_word(const uint32_t *p, uint32_t want, int ms)
{
	long end = peer_now_ms() + ms;

	while (__atomic_load_n(p, __ATOMIC_ACQUIRE) < want) {
		if (peer_now_ms() > end)
			return -1;
		usleep(200);
	}
	return 0;
}

/* Both sides have reached this test (and armed what it needs). */
static inline int peer_meet(struct peer_chan *c, int me)
{
	peer_put(&c->ready[me], 1);
	return peer_wait_word(&c->ready[!me], 1, PEER_TIMEOUT_MS);
}

static inline uint8_t peer_pattern(unsigned int i, unsigned int salt)
{
	return (i * 2654435761u + salt) >> 13;
}

/* Fill the data area with the pattern of @salt. */
static inline void peer_fill(void *shm, unsigned int salt)
{
	uint8_t *data = (uint8_t *)shm + PEER_DATA_OFF;
	unsigned int i;

	for (i = 0; i < PEER_DATA_LEN; i++)
		data[i] = peer_pattern(i, salt);
}

/* Bytes of the data area that differ from the pattern of @salt. */
static inline unsigned int peer_wrong(const void *shm, unsigned int salt)
{
	const uint8_t *data = (const uint8_t *)shm + PEER_DATA_OFF;
	unsigned int i, wrong = 0;

	for (i = 0; i < PEER_DATA_LEN; i++)
		wrong += data[i] != peer_pattern(i, salt);
	return wrong;
}

#endif /* PEER_CHAN_H */
