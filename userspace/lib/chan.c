// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * chan.c - channels: messages between two peers through a part of the
 * shared memory, with a doorbell only when the other side sleeps
 *
 * Layer: the top one, above the public entry points (libivshmem.c).  It
 * uses nothing but the functions of libivshmem.h, as a program would (no
 * internal header), and nothing in the library calls it.
 *
 * libivshmem.h ("Channels") describes the layout, the ordering rules and
 * the pairing; the comments here say how the code keeps them.  Everything
 * read from the other side's control block or ring is untrusted: it is
 * loaded once into a local, checked, and only the local is used.  Nothing
 * of this side's own control block is ever read back: the private copies
 * in struct ivshmem_chan are the truth, the shared ones only a report.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "libivshmem.h"

#define CHAN_EXPORT __attribute__((visibility("default")))

#define CHAN_MAGIC	0x48435649U	/* "IVCH", little-endian */
#define CHAN_VERSION	1U
#define CHAN_PAGE	4096U		/* the control page, before the rings */
#define CHAN_LINE	128U		/* a control block's lines */
#define CTRL_HIGH	2048U		/* the higher ID's control block */
#define RING_ALIGN	64U
#define REC_HDR		8U		/* le32 length, le32 flags */
#define REC_SKIP	1U		/* a record's flags: go on at the ring's start */
#define MSG_MAX		(1U << 30)	/* no message is longer, whatever the ring */

/* struct chan_ctrl.flags */
#define F_CLOSED	0x1U		/* closed: what is in the ring is all */
#define F_POLLS		0x2U		/* cannot be woken: do not ring it */
#define F_NORING	0x4U		/* cannot ring: do not sleep on it */

#define EVENT_OFF	UINT64_MAX	/* an event index no position reaches */

/* How often a blocked call looks at the presence table, at most. */
#define PRESENCE_NS	(50 * 1000000LL)
/* Longest sleep on the vector: paired (presence), and waiting for the peer. */
#define SLICE_NS	(1000 * 1000000LL)
#define SLICE_ALONE_NS	(100 * 1000000LL)
/* Naps of a channel that polls: from NAP_MIN_NS, doubling up to NAP_MAX_NS. */
#define NAP_MIN_NS	10000LL
#define NAP_MAX_NS	1000000LL
/*
 * Spinning adapts, per direction, between 0 and spin_us: a spin that
 * caught what it waited for doubles the next one (from SPIN_MIN_NS), a
 * spin that ran out halves it, down to none.  Without spinning, one call
 * in SPIN_PROBE still spins, the whole spin_us, to notice that it pays
 * again: a shorter probe could never catch a peer whose messages come
 * further apart than it, however well a longer spin would do (a stream
 * whose start was slow stayed asleep for good).  A peer that runs on the
 * same CPU cannot answer while this side spins: there, spinning only
 * adds to the wait, one call in SPIN_PROBE.
 */
#define SPIN_MIN_NS	1000LL
#define SPIN_PROBE	64

/* Tries of a consistent look at the peer's block, of a call at a pairing. */
#define VIEW_TRIES	100
#define STALE_TRIES	8

/*
 * struct chan_ctrl - one side's control block, in the shared memory.
 * Written only by its owner (a hostile peer may write it too: its owner
 * never reads it back).  One 128-byte line per thing the two sides
 * exchange at different times, so that a write of one does not take the
 * other's line away.
 */
struct chan_ctrl {
	_Atomic uint32_t magic;
	_Atomic uint32_t version;
	_Atomic uint32_t id;
	_Atomic uint32_t peer;
	_Atomic uint64_t session;
	_Atomic uint64_t peer_session;
	_Atomic uint32_t flags;
	uint8_t pad0[CHAN_LINE - 36];
	_Atomic uint64_t tx_tail;
	uint8_t pad1[CHAN_LINE - 8];
	_Atomic uint64_t rx_head;
	uint8_t pad2[CHAN_LINE - 8];
	_Atomic uint64_t rx_event;
	uint8_t pad3[CHAN_LINE - 8];
	_Atomic uint64_t tx_event;
	uint8_t pad4[CHAN_LINE - 8];
};

_Static_assert(offsetof(struct chan_ctrl, session) == 16, "layout of libivshmem.h");
_Static_assert(offsetof(struct chan_ctrl, flags) == 32, "layout of libivshmem.h");
_Static_assert(offsetof(struct chan_ctrl, tx_tail) == 128, "layout of libivshmem.h");
_Static_assert(offsetof(struct chan_ctrl, rx_head) == 256, "layout of libivshmem.h");
_Static_assert(offsetof(struct chan_ctrl, rx_event) == 384, "layout of libivshmem.h");
_Static_assert(offsetof(struct chan_ctrl, tx_event) == 512, "layout of libivshmem.h");
_Static_assert(sizeof(struct chan_ctrl) == 640 && sizeof(struct chan_ctrl) <= CTRL_HIGH,
	       "two control blocks fit the control page");
_Static_assert(sizeof(struct ivshmem_chan_config) == 64, "no padding in the config");

enum side { TX, RX };

/*
 * struct hold - a reservation, or a peeked message: room of the ring
 * handed to the application between two calls.  It stands while the
 * pairing it was made in (@session, @peer_session) does and the side's
 * position is still @pos.
 * @pos:    the side's position when it was made (tail, or head)
 * @at:     the record's offset in the ring (a reservation's)
 * @base:   the record's position, past a skip record before it
 * @len:    the reserved length (a reservation's)
 * @end:    the position past the record (a peeked message's)
 */
struct hold {
	bool open;
	uint64_t session;
	uint64_t peer_session;
	uint64_t pos;
	uint64_t at;
	uint64_t base;
	uint64_t len;
	uint64_t end;
};

/*
 * struct ivshmem_chan - one side of a channel
 *
 * Locks: @tx_lock guards the sending side (@tail, @peer_head, @tx_reset,
 * @tx_closed), @rx_lock the receiving side (@head, @rx_reset,
 * @rx_closed); the pairing (@session to @epoch) changes only with both
 * held, tx_lock first, so either one gives a steady view of it.
 * @wait_lock guards the waiting (@poller, @wake_gen's increments) and is
 * taken inside the others, never around them.
 */
struct ivshmem_chan {
	struct ivshmem *dev;
	void *map;
	size_t map_len;
	struct chan_ctrl *me;
	struct chan_ctrl *peer;
	unsigned char *tx;
	unsigned char *rx;
	uint64_t cap;
	size_t max_msg;
	unsigned int id;
	unsigned int peer_id;
	unsigned int vector;
	unsigned int peer_vector;
	int64_t spin_ns;
	uint32_t own_flags;	/* F_POLLS, F_NORING as this side writes them */
	bool polls;		/* never sleeps on the vector */
	bool can_ring;
	bool host;		/* the host backend: peers come through the server */

	pthread_mutex_t tx_lock;
	pthread_mutex_t rx_lock;

	/* the pairing */
	uint64_t session;	/* own */
	uint64_t peer_session;	/* the peer's that this side took, 0: none */
	bool paired;		/* and the peer took ours */
	bool peer_polls;
	bool epoch_known;
	bool epoch_retry;	/* the table could not be read at pairing: ask again */
	uint32_t epoch;		/* the peer's in the presence table, at pairing */
	_Atomic bool linked;	/* @paired, for the waiters, who hold no lock */
	_Atomic bool nap;	/* wait by napping: we poll, or the peer cannot ring */

	/* sending side */
	uint64_t tail;
	uint64_t peer_head;	/* the peer's rx_head as last seen */
	bool tx_reset;		/* -ECONNRESET due to the next send */
	bool tx_closed;		/* a send saw the peer closed */
	struct hold res;	/* the open reservation */
	/* receiving side */
	uint64_t head;
	bool rx_reset;
	bool rx_closed;		/* a receive returned -EPIPE */
	struct hold peeked;	/* the peeked message */

	/* waiting: one thread sleeps on the vector, the others on @wait_cond */
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cond;
	bool poller;
	bool server_gone;	/* ivshmem_wait() said -ECONNRESET: poll ourselves */
	_Atomic uint64_t wake_gen;	/* + 1 each time rings were consumed */
	_Atomic int64_t spin_budget[2];	/* by enum side: the next spin, in ns */
	_Atomic unsigned int spin_probe;
	_Atomic int64_t presence_due;	/* when to look at the table next */
};

/* ------------------------------------------------------------ helpers */

static uint64_t ld64(_Atomic uint64_t *p, memory_order o)
{
	return le64toh(atomic_load_explicit(p, o));
}

static void st64(_Atomic uint64_t *p, uint64_t v, memory_order o)
{
	atomic_store_explicit(p, htole64(v), o);
}

static uint32_t ld32(_Atomic uint32_t *p, memory_order o)
{
	return le32toh(atomic_load_explicit(p, o));
}

static void st32(_Atomic uint32_t *p, uint32_t v, memory_order o)
{
	atomic_store_explicit(p, htole32(v), o);
}

/* A record's header word: at an 8-byte aligned offset of a ring. */
static _Atomic uint64_t *rec_at(unsigned char *ring, uint64_t off)
{
	return (_Atomic uint64_t *)(void *)(ring + off);
}

static uint64_t rec_size(uint64_t len)
{
	return REC_HDR + ((len + 7) & ~(uint64_t)7);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* A session value: random, never 0, never the previous one. */
static uint64_t new_session_value(uint64_t old)
{
	static _Atomic uint64_t counter;
	uint64_t s = 0;

	for (int i = 0; i < 16; i++) {
		if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s))
			s = splitmix64((uint64_t)now_ns() ^ ((uint64_t)getpid() << 32) ^
				       atomic_fetch_add(&counter, 1) ^ (uintptr_t)&s);
		if (s != 0 && s != old)
			return s;
	}
	return old + 1 ? old + 1 : 1;
}

/* ---------------------------------------------------------- the pairing */

/*
 * struct peer_view - a consistent look at the peer's control block
 * @valid: it is this channel's other side (magic, version, IDs) and not
 *         being rewritten; the rest is meaningless otherwise
 */
struct peer_view {
	bool valid;
	uint64_t session;
	uint64_t peer_session;
	uint32_t flags;
};

/*
 * The peer changes its session by storing 0 first, and fields after a
 * release fence: reading the session before and after the fields, with an
 * acquire fence in between, tells whether they belong to one session.
 */
static void read_peer(struct ivshmem_chan *ch, struct peer_view *v)
{
	struct chan_ctrl *p = ch->peer;

	v->valid = false;
	for (int i = 0; i < VIEW_TRIES; i++) {
		uint64_t s1 = ld64(&p->session, memory_order_acquire), s2;
		uint32_t magic, version, id, peer;

		if (s1 == 0)
			return;		/* not open, or being rewritten: it rings when done */
		magic = ld32(&p->magic, memory_order_relaxed);
		version = ld32(&p->version, memory_order_relaxed);
		id = ld32(&p->id, memory_order_relaxed);
		peer = ld32(&p->peer, memory_order_relaxed);
		v->peer_session = ld64(&p->peer_session, memory_order_relaxed);
		v->flags = ld32(&p->flags, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		s2 = ld64(&p->session, memory_order_relaxed);
		if (s1 != s2)
			continue;
		v->session = s1;
		v->valid = magic == CHAN_MAGIC && version == CHAN_VERSION &&
			   id == ch->peer_id && peer == ch->id;
		return;
	}
}

/*
 * Whether the pairing still holds, as far as the peer's block says.  Called
 * after an acquire fence (or an acquire load) to check that what was read
 * before belongs to the pairing.
 */
static bool still_paired(struct ivshmem_chan *ch)
{
	return ld64(&ch->peer->session, memory_order_relaxed) == ch->peer_session &&
	       ld64(&ch->peer->peer_session, memory_order_relaxed) == ch->session;
}

/*
 * Ring the peer; a ring is a hint, so a failure changes nothing.  A host
 * peer learns of the peers that came after it from the server's messages,
 * which only ivshmem_dispatch() or ivshmem_wait() take in: a side that
 * never waits would not know the peer, so take them in and ring again.
 */
static void ring_peer(struct ivshmem_chan *ch)
{
	if (!ch->can_ring)
		return;
	if (ivshmem_ring(ch->dev, ch->peer_id, ch->peer_vector) == -ENXIO && ch->host &&
	    ivshmem_dispatch(ch->dev) > 0)
		(void)ivshmem_ring(ch->dev, ch->peer_id, ch->peer_vector);
}

/* Own positions and events back to the start (both locks held). */
static void reset_positions(struct ivshmem_chan *ch)
{
	st64(&ch->me->tx_tail, 0, memory_order_relaxed);
	st64(&ch->me->rx_head, 0, memory_order_relaxed);
	st64(&ch->me->rx_event, EVENT_OFF, memory_order_relaxed);
	st64(&ch->me->tx_event, EVENT_OFF, memory_order_relaxed);
	ch->tail = 0;
	ch->peer_head = 0;
	ch->head = 0;
	ch->tx_closed = false;
	ch->rx_closed = false;
}

static void set_paired(struct ivshmem_chan *ch, bool paired, bool peer_noring)
{
	ch->paired = paired;
	atomic_store(&ch->linked, paired);
	atomic_store(&ch->nap, ch->polls || (paired && peer_noring));
}

/* Who this side is, again: whatever a peer scribbled there is gone. */
static void write_identity(struct ivshmem_chan *ch)
{
	struct chan_ctrl *me = ch->me;

	st32(&me->magic, CHAN_MAGIC, memory_order_relaxed);
	st32(&me->version, CHAN_VERSION, memory_order_relaxed);
	st32(&me->id, ch->id, memory_order_relaxed);
	st32(&me->peer, ch->peer_id, memory_order_relaxed);
	st32(&me->flags, ch->own_flags, memory_order_relaxed);
}

/*
 * A new own session, with nothing taken of the peer's (both locks held):
 * session 0 first, so that the peer's readers see that the rest changes.
 */
static void new_session(struct ivshmem_chan *ch)
{
	struct chan_ctrl *me = ch->me;

	st64(&me->session, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	write_identity(ch);
	st64(&me->peer_session, 0, memory_order_relaxed);
	reset_positions(ch);
	ch->session = new_session_value(ch->session);
	ch->peer_session = 0;
	set_paired(ch, false, false);
	ch->epoch_known = false;
	ch->epoch_retry = false;
	st64(&me->session, ch->session, memory_order_release);
}

/*
 * The pairing ends (both locks held): because the peer went away (@why
 * 0) or broke the protocol (-EPROTO, reported by @side's call).  Each
 * direction that may have lost messages reports -ECONNRESET once, except
 * the one reporting -EPROTO; a peer that had closed the channel ends it
 * quietly, unless it left messages unread.  With @fresh, this side takes
 * a new session, so that a block the peer left behind (or scribbled on)
 * cannot pair again; without, the peer came back with a new session of
 * its own, which may already have taken this side's.
 */
static void end_pairing(struct ivshmem_chan *ch, const struct peer_view *v, int why,
			enum side side, bool fresh)
{
	if (why == -EPROTO) {
		ch->tx_reset = side != TX;
		ch->rx_reset = side != RX;
	} else if (ch->paired) {
		bool same = v->valid && v->session == ch->peer_session;
		bool closed = ch->tx_closed || ch->rx_closed || (same && (v->flags & F_CLOSED));
		bool unread = !ch->rx_closed;

		if (unread && same && (v->flags & F_CLOSED)) {
			uint64_t tail = ld64(&ch->peer->tx_tail, memory_order_acquire);

			atomic_thread_fence(memory_order_acquire);
			if (ld64(&ch->peer->session, memory_order_relaxed) == ch->peer_session)
				unread = tail != ch->head;
		}
		ch->tx_reset |= !closed;
		ch->rx_reset |= !closed || unread;
	}
	if (fresh) {
		new_session(ch);
		return;
	}
	reset_positions(ch);
	ch->peer_session = 0;
	ch->epoch_known = false;
	ch->epoch_retry = false;
	set_paired(ch, false, false);
}

/*
 * The paired peer's entry in the presence table, read at pairing.  A
 * table that cannot be read then (its writer preempted halfway, a peer
 * scribbling on it: the server writes it again) is asked again at the
 * next look; a region without one (-ENOMSG), or an ID beyond it, never.
 */
static void learn_epoch(struct ivshmem_chan *ch)
{
	uint32_t epoch = 0;
	int ret = ivshmem_peer_epoch(ch->dev, ch->peer_id, &epoch);

	ch->epoch_known = ret == 1;
	ch->epoch = epoch;
	ch->epoch_retry = ret != 1 && ret != -ENOMSG && ret != -EINVAL;
}

/* Whether the presence table says the paired peer left or was replaced. */
static bool peer_left(struct ivshmem_chan *ch)
{
	uint32_t epoch = 0;
	int ret;

	if (!ch->epoch_known && !ch->epoch_retry)
		return false;
	ret = ivshmem_peer_epoch(ch->dev, ch->peer_id, &epoch);
	if (!ch->epoch_known) {
		/*
		 * Late: the ID is in the table from before its peer learnt it
		 * (the server writes it first), so absent means it left.
		 */
		if (ret == 1) {
			ch->epoch_known = true;
			ch->epoch = epoch;
			ch->epoch_retry = false;
		} else if (ret == -ENOMSG || ret == -EINVAL) {
			ch->epoch_retry = false;
		}
		return ret == 0;
	}
	return ret == 0 || (ret == 1 && epoch != ch->epoch);
}

/*
 * Bring the pairing up to date with the peer's block (both locks held);
 * with @presence, ask the presence table too.  Rings the peer when this
 * side's block changed, so that it looks.
 */
static void chan_sync(struct ivshmem_chan *ch, bool presence)
{
	struct peer_view v;
	bool changed = false;

	read_peer(ch, &v);
	if (ch->paired) {
		bool left = false;

		if (v.valid && v.session == ch->peer_session && v.peer_session == ch->session) {
			left = presence && peer_left(ch);
			if (!left)
				return;
		}
		/* Keep the own session only for a peer back with a new one. */
		end_pairing(ch, &v, 0, TX,
			    left || !v.valid || v.session == ch->peer_session);
		changed = true;
	}
	if (v.valid && v.session != ch->peer_session) {
		/*
		 * Take the peer's session: positions first, then the news.  The
		 * whole first line is written again, own session included (the
		 * same value), so that a block a peer scribbled on heals here.
		 */
		write_identity(ch);
		reset_positions(ch);
		atomic_thread_fence(memory_order_release);
		st64(&ch->me->peer_session, v.session, memory_order_relaxed);
		st64(&ch->me->session, ch->session, memory_order_release);
		ch->peer_session = v.session;
		changed = true;
	}
	if (v.valid && v.peer_session == ch->session && !ch->paired) {
		set_paired(ch, true, v.flags & F_NORING);
		ch->peer_polls = v.flags & F_POLLS;
		learn_epoch(ch);
	} else if (!ch->paired && !changed) {
		/*
		 * Waiting for the peer: write the block again as it should be
		 * (nothing of it is in use yet), so that two sides whose blocks
		 * were both scribbled on do not wait for each other for ever.
		 */
		write_identity(ch);
		reset_positions(ch);
		atomic_thread_fence(memory_order_release);
		st64(&ch->me->peer_session, ch->peer_session, memory_order_relaxed);
		st64(&ch->me->session, ch->session, memory_order_release);
	}
	if (changed)
		ring_peer(ch);
}

/* Take the other side's lock too, tx_lock first, for the pairing. */
static void lock_both(struct ivshmem_chan *ch, enum side held)
{
	if (held == TX) {
		pthread_mutex_lock(&ch->rx_lock);
	} else {
		pthread_mutex_unlock(&ch->rx_lock);
		pthread_mutex_lock(&ch->tx_lock);
		pthread_mutex_lock(&ch->rx_lock);
	}
}

static void unlock_other(struct ivshmem_chan *ch, enum side held)
{
	pthread_mutex_unlock(held == TX ? &ch->rx_lock : &ch->tx_lock);
}

/* ----------------------------------------------------- one try, locked */

/*
 * struct io - one send or receive
 * @src, @dst, @len: the caller's (a reservation's length)
 * @seen:        the peer's position the last try saw (spinning waits for
 *               it to change)
 * @event:       what to store as own event index before sleeping
 */
struct io {
	enum side side;
	bool in_place;		/* reserve or peek: hand out the room */
	const void *src;
	void *dst;
	size_t len;
	uint64_t seen;
	uint64_t event;
	unsigned char *room;	/* in place: the message's first byte */
};

/* Internal: the pairing changed under a try; look again. */
#define E_STALE	ESTALE

/* A value that cannot be: the peer's fault, unless the pairing changed. */
static ssize_t bad_value(struct ivshmem_chan *ch)
{
	atomic_thread_fence(memory_order_acquire);
	return still_paired(ch) ? -EPROTO : -E_STALE;
}

/*
 * Own position @pos moved from @from to @to and is published: ring the
 * peer if its event index @event lies in between.  Read after a full
 * fence: the peer stores its index, fences, then looks at the position,
 * so either it sees the move or this load sees it asleep (the Dekker
 * pair of the header's "Ordering").
 */
static void ring_if_waiting(struct ivshmem_chan *ch, _Atomic uint64_t *event, uint64_t from,
			    uint64_t to)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (!ch->peer_polls) {
		uint64_t ev = ld64(event, memory_order_relaxed);

		if (ev >= from && ev < to)
			ring_peer(ch);
	}
}

/*
 * The receiver's head moves from @seen to @head: publish it, and ring a
 * sender that sleeps for the room.
 */
static void rx_consume(struct ivshmem_chan *ch, uint64_t seen, uint64_t head)
{
	ch->head = head;
	st64(&ch->me->rx_head, head, memory_order_release);
	ring_if_waiting(ch, &ch->peer->tx_event, seen, head);
}

/* A hold made now, in the current pairing. */
static void hold_open(struct ivshmem_chan *ch, struct hold *h, uint64_t pos)
{
	h->open = true;
	h->session = ch->session;
	h->peer_session = ch->peer_session;
	h->pos = pos;
}

/* Whether the pairing a hold was made in goes on (the side's lock held). */
static bool hold_stands(struct ivshmem_chan *ch, const struct hold *h, uint64_t pos)
{
	return ch->paired && ch->session == h->session && ch->peer_session == h->peer_session &&
	       pos == h->pos;
}

static ssize_t rx_try(struct ivshmem_chan *ch, struct io *io)
{
	uint64_t head = ch->head, tail, avail, off, word, need;
	uint32_t len, flags;

	if (ch->peeked.open)
		return -EBUSY;
	if (ch->rx_reset) {
		ch->rx_reset = false;
		return -ECONNRESET;
	}
	if (!ch->paired)
		return -EAGAIN;
	tail = ld64(&ch->peer->tx_tail, memory_order_acquire);
	io->seen = head;
	io->event = head;
	if (tail == head) {
		/* Closed after its last record: an acquire look at the flag sees it. */
		if (!(ld32(&ch->peer->flags, memory_order_acquire) & F_CLOSED))
			return -EAGAIN;
		tail = ld64(&ch->peer->tx_tail, memory_order_acquire);
		if (tail == head) {
			atomic_thread_fence(memory_order_acquire);
			if (!still_paired(ch))
				return -E_STALE;
			ch->rx_closed = true;
			return -EPIPE;
		}
	}
	avail = tail - head;
	if (avail > ch->cap || avail % 8)
		return bad_value(ch);
	off = head % ch->cap;
	word = le64toh(atomic_load_explicit(rec_at(ch->rx, off), memory_order_relaxed));
	len = (uint32_t)word;
	flags = (uint32_t)(word >> 32);
	if (flags == REC_SKIP) {
		uint64_t skip = ch->cap - off;

		if (len != 0 || off == 0 || skip >= avail)
			return bad_value(ch);
		head += skip;
		avail -= skip;
		off = 0;
		word = le64toh(atomic_load_explicit(rec_at(ch->rx, 0), memory_order_relaxed));
		len = (uint32_t)word;
		flags = (uint32_t)(word >> 32);
	}
	if (flags != 0 || len > ch->max_msg)
		return bad_value(ch);
	need = rec_size(len);
	if (need > avail || off + need > ch->cap)
		return bad_value(ch);
	if (io->in_place) {
		/* Checked in this pairing: the application reads it in place. */
		atomic_thread_fence(memory_order_acquire);
		if (!still_paired(ch))
			return -E_STALE;
		io->room = ch->rx + off + REC_HDR;
		hold_open(ch, &ch->peeked, ch->head);
		ch->peeked.end = head + need;
		return len;
	}
	if (len > io->len) {
		atomic_thread_fence(memory_order_acquire);
		return still_paired(ch) ? -EMSGSIZE : -E_STALE;
	}
	if (len)
		memcpy(io->dst, ch->rx + off + REC_HDR, len);
	/* Copied from this pairing, or not at all. */
	atomic_thread_fence(memory_order_acquire);
	if (!still_paired(ch))
		return -E_STALE;
	/* The room is free: ring a sender that sleeps for it. */
	rx_consume(ch, io->seen, head + need);
	return len;
}

/*
 * The sender's tail moves from @tail to @new_tail, over records written
 * before: publish it, and ring a receiver that sleeps for them.
 */
static void tx_publish(struct ivshmem_chan *ch, uint64_t tail, uint64_t new_tail)
{
	ch->tail = new_tail;
	st64(&ch->me->tx_tail, new_tail, memory_order_release);
	ring_if_waiting(ch, &ch->peer->rx_event, tail, new_tail);
}

static ssize_t tx_try(struct ivshmem_chan *ch, struct io *io)
{
	uint64_t tail = ch->tail, off, need, skip, total, at;

	if (ch->res.open)
		return -EBUSY;
	if (ch->tx_reset) {
		ch->tx_reset = false;
		return -ECONNRESET;
	}
	if (!ch->paired)
		return -EAGAIN;
	if (ld32(&ch->peer->flags, memory_order_relaxed) & F_CLOSED) {
		atomic_thread_fence(memory_order_acquire);
		if (!still_paired(ch))
			return -E_STALE;
		ch->tx_closed = true;
		return -EPIPE;
	}
	need = rec_size(io->len);
	off = tail % ch->cap;
	skip = ch->cap - off < need ? ch->cap - off : 0;
	total = skip + need;
	if (tail - ch->peer_head + total > ch->cap) {
		uint64_t head = ld64(&ch->peer->rx_head, memory_order_acquire);

		/* Between what it had and what was sent: never back, never ahead. */
		if (head - ch->peer_head > tail - ch->peer_head)
			return bad_value(ch);
		ch->peer_head = head;
		io->seen = head;
		if (tail - head + total > ch->cap) {
			io->event = tail + total - ch->cap - 1;
			return -EAGAIN;
		}
	}
	if (skip)
		st64(rec_at(ch->tx, off), (uint64_t)REC_SKIP << 32, memory_order_relaxed);
	at = skip ? 0 : off;
	if (io->in_place) {
		/* Unpublished until the commit: the peer reads none of it. */
		io->room = ch->tx + at + REC_HDR;
		hold_open(ch, &ch->res, tail);
		ch->res.at = at;
		ch->res.base = tail + skip;
		ch->res.len = io->len;
		return 0;
	}
	if (io->len)
		memcpy(ch->tx + at + REC_HDR, io->src, io->len);
	st64(rec_at(ch->tx, at), io->len, memory_order_relaxed);
	tx_publish(ch, tail, tail + total);
	return 0;
}

static ssize_t try_once(struct ivshmem_chan *ch, struct io *io)
{
	return io->side == TX ? tx_try(ch, io) : rx_try(ch, io);
}

/* The event index a try left to sleep on: rx_event or tx_event. */
static void arm(struct ivshmem_chan *ch, struct io *io)
{
	st64(io->side == TX ? &ch->me->tx_event : &ch->me->rx_event, io->event,
	     memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
}

/* Consume the vector's pending rings, unless a waiter sleeps on it. */
static void quiet_fd(struct ivshmem_chan *ch)
{
	if (ch->polls)
		return;
	pthread_mutex_lock(&ch->wait_lock);
	if (!ch->poller && ivshmem_vector_ack(ch->dev, ch->vector, NULL) == 0)
		atomic_fetch_add(&ch->wake_gen, 1);
	pthread_mutex_unlock(&ch->wait_lock);
}

#define HOW_ARM		0x1	/* after -EAGAIN: store the event index, try again */
#define HOW_QUIET	0x2	/* first consume the vector's rings (non-blocking) */
#define HOW_PRESENCE	0x4	/* look at the presence table */

/*
 * One attempt, under the side's lock: the pairing brought up to date
 * where it looks changed, then a try (and with HOW_ARM, the event index
 * stored and a second try).  -EAGAIN when it would have to wait;
 * @io->seen tells what for, and *@paired whether the pairing holds.
 */
static ssize_t attempt(struct ivshmem_chan *ch, struct io *io, unsigned int how, bool *paired)
{
	pthread_mutex_t *lock = io->side == TX ? &ch->tx_lock : &ch->rx_lock;
	bool armed = false;
	ssize_t ret = -EAGAIN;

	pthread_mutex_lock(lock);
	if (how & HOW_QUIET)
		quiet_fd(ch);
	for (int stale = 0; stale <= STALE_TRIES; stale++) {
		bool presence = (how & HOW_PRESENCE) && ch->paired &&
				(ch->epoch_known || ch->epoch_retry);

		if (presence) {
			int64_t now = now_ns();

			presence = now >= atomic_load(&ch->presence_due);
			if (presence)
				atomic_store(&ch->presence_due, now + PRESENCE_NS);
		}
		if (!ch->paired || presence || !still_paired(ch)) {
			lock_both(ch, io->side);
			chan_sync(ch, presence);
			unlock_other(ch, io->side);
		}
		how &= ~(unsigned int)HOW_PRESENCE;
		ret = try_once(ch, io);
		if (ret == -E_STALE)
			continue;
		if (ret == -EAGAIN && (how & HOW_ARM) && !armed && ch->paired && !ch->polls) {
			arm(ch, io);
			armed = true;
			stale--;
			continue;
		}
		break;
	}
	if (ret == -E_STALE)
		ret = -EPROTO;		/* a peer that never holds still */
	if (ret == -EPROTO) {
		struct peer_view v = { 0 };

		lock_both(ch, io->side);
		end_pairing(ch, &v, -EPROTO, io->side, true);
		unlock_other(ch, io->side);
		ring_peer(ch);
	}
	*paired = ch->paired;
	pthread_mutex_unlock(lock);
	return ret;
}

/* ---------------------------------------------------------- waiting */

/* Spin until the position a try saw changes, the pairing does, or @end. */
static void spin(struct ivshmem_chan *ch, const struct io *io, int64_t end)
{
	_Atomic uint64_t *pos = io->side == TX ? &ch->peer->rx_head : &ch->peer->tx_tail;
	uint64_t session = ld64(&ch->peer->session, memory_order_relaxed);

	for (unsigned int i = 1;; i++) {
		if (ld64(pos, memory_order_relaxed) != io->seen ||
		    ld64(&ch->peer->session, memory_order_relaxed) != session)
			return;
		cpu_relax();
		if (i % 64 == 0 && now_ns() >= end)
			return;
	}
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL };

	nanosleep(&ts, NULL);
}

static int ms_until(int64_t until)
{
	int64_t left = until - now_ns();

	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* The vector, by ivshmem_wait(), or by poll() once the server is gone. */
static int sleep_on_vector(struct ivshmem_chan *ch, int64_t until)
{
	struct ivshmem_irq ev;
	struct pollfd pfd;
	int ret;

	if (!ch->server_gone) {
		ret = ivshmem_wait(ch->dev, &ch->vector, 1, ms_until(until), &ev);
		if (ret == -ECONNRESET && ch->host) {
			/* The memory and the peers' doorbells still work without it. */
			ch->server_gone = true;
			return 0;
		}
		return ret == -ETIMEDOUT ? 0 : ret;
	}
	pfd.fd = ivshmem_vector_fd(ch->dev, ch->vector);
	pfd.events = POLLIN;
	if (pfd.fd < 0)
		return pfd.fd;
	ret = poll(&pfd, 1, ms_until(until));
	if (ret < 0)
		return -errno;
	if (ret > 0)
		(void)ivshmem_vector_ack(ch->dev, ch->vector, NULL);
	return 0;
}

/*
 * Wait for news after an attempt that armed (@gen: the wake count before
 * it), until @until (0: no limit) or a slice ends.  One thread sleeps on
 * the vector and consumes its rings; the others wait for it to say so, so
 * that a ring consumed by one is seen by all.  0 to try again, or an
 * error (-EINTR, -ENODEV, ...).
 */
static int chan_wait(struct ivshmem_chan *ch, uint64_t gen, int64_t until, int64_t *nap)
{
	int64_t now = now_ns(), end;
	struct timespec ts;
	int ret;

	if (atomic_load(&ch->nap)) {
		int64_t n = *nap;

		if (until && until - now < n)
			n = until - now;
		if (n > 0)
			sleep_ns(n);
		*nap = *nap * 2 > NAP_MAX_NS ? NAP_MAX_NS : *nap * 2;
		return 0;
	}
	end = now + (atomic_load(&ch->linked) ? SLICE_NS : SLICE_ALONE_NS);
	if (until && until < end)
		end = until;
	pthread_mutex_lock(&ch->wait_lock);
	if (atomic_load(&ch->wake_gen) != gen) {
		pthread_mutex_unlock(&ch->wait_lock);
		return 0;
	}
	if (ch->poller) {
		ts.tv_sec = end / 1000000000LL;
		ts.tv_nsec = end % 1000000000LL;
		while (atomic_load(&ch->wake_gen) == gen && ch->poller &&
		       pthread_cond_timedwait(&ch->wait_cond, &ch->wait_lock, &ts) == 0)
			;
		pthread_mutex_unlock(&ch->wait_lock);
		return 0;
	}
	ch->poller = true;
	pthread_mutex_unlock(&ch->wait_lock);

	ret = sleep_on_vector(ch, end);

	pthread_mutex_lock(&ch->wait_lock);
	ch->poller = false;
	atomic_fetch_add(&ch->wake_gen, 1);
	pthread_cond_broadcast(&ch->wait_cond);
	pthread_mutex_unlock(&ch->wait_lock);
	return ret;
}

/* How long this call may spin: the direction's budget, or a probe. */
static int64_t spin_budget(struct ivshmem_chan *ch, enum side side)
{
	int64_t b = atomic_load_explicit(&ch->spin_budget[side], memory_order_relaxed);

	if (b >= SPIN_MIN_NS)
		return b;
	return atomic_fetch_add_explicit(&ch->spin_probe, 1, memory_order_relaxed) % SPIN_PROBE ?
	       0 : ch->spin_ns;
}

static void spin_learn(struct ivshmem_chan *ch, enum side side, int64_t spun, bool caught)
{
	int64_t b = caught ? (spun * 2 > SPIN_MIN_NS ? spun * 2 : SPIN_MIN_NS) : spun / 2;

	if (b > ch->spin_ns)
		b = ch->spin_ns;
	if (b < SPIN_MIN_NS && !caught)
		b = 0;
	atomic_store_explicit(&ch->spin_budget[side], b, memory_order_relaxed);
}

/*
 * A send or receive: try; while it may wait, spin (the budget in all, each
 * time the peer moves but not enough); then store the event index and try
 * again; then sleep and start over, until the deadline.
 */
static ssize_t chan_io(struct ivshmem_chan *ch, struct io *io, int timeout_ms)
{
	int64_t until = timeout_ms > 0 ? now_ns() + (int64_t)timeout_ms * 1000000 : 0;
	int64_t nap = NAP_MIN_NS, spin_end = 0, budget = -1;
	bool paired;
	ssize_t ret;

	for (;;) {
		uint64_t gen = atomic_load(&ch->wake_gen);

		ret = attempt(ch, io, 0, &paired);
		if (ret != -EAGAIN) {
			if (budget > 0 && spin_end && ret >= 0)
				spin_learn(ch, io->side, budget, true);
			return ret;
		}
		if (timeout_ms != 0 && paired && ch->spin_ns && budget) {
			int64_t now = now_ns();

			if (budget < 0) {
				budget = spin_budget(ch, io->side);
				spin_end = now + budget;
				if (until && until < spin_end)
					spin_end = until;
			}
			if (now < spin_end) {
				spin(ch, io, spin_end);
				continue;
			}
			if (budget > 0)
				spin_learn(ch, io->side, budget, false);
			budget = 0;	/* ran out: no more spinning in this call */
		}
		ret = attempt(ch, io, HOW_ARM | HOW_PRESENCE | (timeout_ms == 0 ? HOW_QUIET : 0),
			      &paired);
		if (ret != -EAGAIN)
			return ret;
		if (timeout_ms == 0)
			return -EAGAIN;
		if (until && now_ns() >= until)
			return -ETIMEDOUT;
		ret = chan_wait(ch, gen, until, &nap);
		if (ret < 0)
			return ret;
	}
}

/* ------------------------------------------------------------ the API */

/* The channel's memory: the one given, or the pair's default slot. */
static int chan_region(struct ivshmem *dev, const struct ivshmem_chan_config *cfg,
		       unsigned int id, uint64_t *offset, uint64_t *size)
{
	uint64_t end = ivshmem_size(dev);
	struct ivshmem_region ri;
	bool dflt = cfg->offset == 0 && cfg->size == 0;
	int ret;

	ret = ivshmem_region_info(dev, &ri);
	if (ret == 0)
		end = ri.header_offset;
	else if (dflt && ret != -ENOMSG)
		return ret;	/* the two sides might not agree on where it ends */
	end &= ~(uint64_t)(CHAN_PAGE - 1);
	if (dflt) {
		uint64_t lo = id < cfg->peer ? id : cfg->peer;
		uint64_t hi = id < cfg->peer ? cfg->peer : id;
		uint64_t k = hi * (hi - 1) / 2 + lo;

		if (k + 1 > end / IVSHMEM_CHAN_DEFAULT_SIZE)
			return -ENOSPC;
		*size = IVSHMEM_CHAN_DEFAULT_SIZE;
		*offset = end - (k + 1) * IVSHMEM_CHAN_DEFAULT_SIZE;
		return 0;
	}
	if (cfg->offset % CHAN_PAGE || cfg->size % CHAN_PAGE || cfg->size < IVSHMEM_CHAN_MIN_SIZE ||
	    cfg->offset > end || cfg->size > end - cfg->offset || cfg->size > SIZE_MAX)
		return -EINVAL;
	*offset = cfg->offset;
	*size = cfg->size;
	return 0;
}

static int check_config(const struct ivshmem_chan_config *cfg)
{
	for (size_t i = 0; i < sizeof(cfg->reserved) / sizeof(cfg->reserved[0]); i++)
		if (cfg->reserved[i])
			return -EINVAL;
	if (cfg->flags & ~(IVSHMEM_CHAN_NO_SPIN | IVSHMEM_CHAN_POLL) ||
	    cfg->spin_us > IVSHMEM_CHAN_SPIN_MAX || cfg->peer > IVSHMEM_MAX_PEER ||
	    cfg->peer_vector > IVSHMEM_MAX_VECTOR)
		return -EINVAL;
	return 0;
}

static void chan_free(struct ivshmem_chan *ch)
{
	if (ch->map)
		ivshmem_unmap(ch->map, ch->map_len);
	pthread_mutex_destroy(&ch->tx_lock);
	pthread_mutex_destroy(&ch->rx_lock);
	pthread_mutex_destroy(&ch->wait_lock);
	pthread_cond_destroy(&ch->wait_cond);
	free(ch);
}

static int chan_alloc(struct ivshmem_chan **out)
{
	struct ivshmem_chan *ch = calloc(1, sizeof(*ch));
	pthread_condattr_t attr;

	if (!ch)
		return -ENOMEM;
	pthread_mutex_init(&ch->tx_lock, NULL);
	pthread_mutex_init(&ch->rx_lock, NULL);
	pthread_mutex_init(&ch->wait_lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&ch->wait_cond, &attr);
	pthread_condattr_destroy(&attr);
	*out = ch;
	return 0;
}

CHAN_EXPORT int ivshmem_chan_open(struct ivshmem *dev, const struct ivshmem_chan_config *cfg,
				  struct ivshmem_chan **out)
{
	struct ivshmem_chan *ch;
	uint64_t offset = 0, size = 0;
	bool polls, low;
	void *map;
	int id, ret;

	if (!dev || !cfg || !out)
		return -EINVAL;
	ret = check_config(cfg);
	if (ret < 0)
		return ret;
	id = ivshmem_id(dev);
	if (id < 0)
		return id;
	if (cfg->peer == (unsigned int)id)
		return -EINVAL;
	ret = chan_region(dev, cfg, (unsigned int)id, &offset, &size);
	if (ret < 0)
		return ret;
	polls = cfg->flags & IVSHMEM_CHAN_POLL;
	if (!polls) {
		ret = ivshmem_vector_fd(dev, cfg->vector);
		if (ret == -EOPNOTSUPP)
			polls = true;		/* no interrupts here */
		else if (ret < 0)
			return ret;
	}
	ret = chan_alloc(&ch);
	if (ret < 0)
		return ret;
	ret = ivshmem_map(dev, offset, (size_t)size, IVSHMEM_MAP_DEFAULT, &map);
	if (ret < 0) {
		chan_free(ch);
		return ret;
	}
	low = (unsigned int)id < cfg->peer;
	ch->dev = dev;
	ch->map = map;
	ch->map_len = (size_t)size;
	ch->cap = ((size - CHAN_PAGE) / 2) & ~(uint64_t)(RING_ALIGN - 1);
	ch->max_msg = ch->cap / 4 - REC_HDR;
	if (ch->max_msg > MSG_MAX)
		ch->max_msg = MSG_MAX;
	ch->me = (struct chan_ctrl *)(void *)((char *)map + (low ? 0 : CTRL_HIGH));
	ch->peer = (struct chan_ctrl *)(void *)((char *)map + (low ? CTRL_HIGH : 0));
	ch->tx = (unsigned char *)map + CHAN_PAGE + (low ? 0 : ch->cap);
	ch->rx = (unsigned char *)map + CHAN_PAGE + (low ? ch->cap : 0);
	ch->id = (unsigned int)id;
	ch->peer_id = cfg->peer;
	ch->vector = cfg->vector;
	ch->peer_vector = cfg->peer_vector;
	ch->spin_ns = cfg->flags & IVSHMEM_CHAN_NO_SPIN ? 0 :
		      (int64_t)(cfg->spin_us ? cfg->spin_us : IVSHMEM_CHAN_SPIN_DEFAULT) * 1000;
	ch->polls = polls;
	ch->can_ring = ivshmem_can_ring(dev) == 1;
	ch->host = ivshmem_backend(dev) == IVSHMEM_BACKEND_HOST;
	ch->own_flags = (polls ? F_POLLS : 0) | (ch->can_ring ? 0 : F_NORING);
	atomic_store(&ch->nap, polls);
	atomic_store(&ch->spin_budget[TX], ch->spin_ns);
	atomic_store(&ch->spin_budget[RX], ch->spin_ns);

	/* The block, then a session: the peer takes nothing of it before. */
	new_session(ch);

	if (ch->can_ring) {
		ret = ivshmem_ring(dev, ch->peer_id, ch->peer_vector);
		if (ret == -EINVAL) {
			/* A vector the device cannot ring: withdraw. */
			st64(&ch->me->session, 0, memory_order_release);
			chan_free(ch);
			return ret;
		}
	}
	pthread_mutex_lock(&ch->tx_lock);
	pthread_mutex_lock(&ch->rx_lock);
	chan_sync(ch, false);
	pthread_mutex_unlock(&ch->rx_lock);
	pthread_mutex_unlock(&ch->tx_lock);
	*out = ch;
	return 0;
}

CHAN_EXPORT void ivshmem_chan_close(struct ivshmem_chan *ch)
{
	if (!ch)
		return;
	/* After the last tx_tail: a receiver that sees the flag sees all. */
	st32(&ch->me->flags, ch->own_flags | F_CLOSED, memory_order_release);
	if (ch->paired)
		ring_peer(ch);
	chan_free(ch);
}

CHAN_EXPORT int ivshmem_chan_send(struct ivshmem_chan *ch, const void *buf, size_t len,
				  int timeout_ms)
{
	struct io io = { .side = TX, .src = buf, .len = len };

	if (!ch || (!buf && len))
		return -EINVAL;
	if (len > ch->max_msg)
		return -EMSGSIZE;
	return (int)chan_io(ch, &io, timeout_ms);
}

CHAN_EXPORT ssize_t ivshmem_chan_recv(struct ivshmem_chan *ch, void *buf, size_t len,
				      int timeout_ms)
{
	struct io io = { .side = RX, .dst = buf, .len = len };

	if (!ch || (!buf && len))
		return -EINVAL;
	return chan_io(ch, &io, timeout_ms);
}

CHAN_EXPORT int ivshmem_chan_fd(struct ivshmem_chan *ch)
{
	if (!ch)
		return -EINVAL;
	if (ch->polls)
		return -EOPNOTSUPP;
	return ivshmem_vector_fd(ch->dev, ch->vector);
}

CHAN_EXPORT size_t ivshmem_chan_max_msg(const struct ivshmem_chan *ch)
{
	return ch->max_msg;
}

/*
 * Before a hold is judged: a pairing the peer ended is noticed now, so
 * that the reset the hold's end reports is the one a later call would.
 */
static void hold_sync(struct ivshmem_chan *ch, enum side side)
{
	if (ch->paired && !still_paired(ch)) {
		lock_both(ch, side);
		chan_sync(ch, false);
		unlock_other(ch, side);
	}
}

CHAN_EXPORT int ivshmem_chan_reserve(struct ivshmem_chan *ch, size_t len, void **buf,
				     int timeout_ms)
{
	struct io io = { .side = TX, .in_place = true, .len = len };
	int ret;

	if (!ch || !buf)
		return -EINVAL;
	if (len > ch->max_msg)
		return -EMSGSIZE;
	ret = (int)chan_io(ch, &io, timeout_ms);
	if (ret == 0)
		*buf = io.room;
	return ret;
}

CHAN_EXPORT int ivshmem_chan_commit(struct ivshmem_chan *ch, size_t len)
{
	struct hold *h;
	int ret = 0;

	if (!ch)
		return -EINVAL;
	h = &ch->res;
	pthread_mutex_lock(&ch->tx_lock);
	/* Still open while it syncs: a thread that sends meanwhile gets -EBUSY. */
	if (h->open && len != IVSHMEM_CHAN_DROP)
		hold_sync(ch, TX);
	/* Looked at after the sync, which may let another commit in first. */
	if (!h->open || (len != IVSHMEM_CHAN_DROP && len > h->len)) {
		pthread_mutex_unlock(&ch->tx_lock);
		return -EINVAL;
	}
	if (len != IVSHMEM_CHAN_DROP) {
		if (!hold_stands(ch, h, ch->tail)) {
			ch->tx_reset = false;
			ret = -ECONNRESET;
		} else if (ld32(&ch->peer->flags, memory_order_acquire) & F_CLOSED) {
			ch->tx_closed = true;
			ret = -EPIPE;
		} else {
			st64(rec_at(ch->tx, h->at), len, memory_order_relaxed);
			tx_publish(ch, h->pos, h->base + rec_size(len));
		}
	}
	h->open = false;
	pthread_mutex_unlock(&ch->tx_lock);
	return ret;
}

CHAN_EXPORT ssize_t ivshmem_chan_peek(struct ivshmem_chan *ch, const void **buf, int timeout_ms)
{
	struct io io = { .side = RX, .in_place = true };
	ssize_t ret;

	if (!ch || !buf)
		return -EINVAL;
	ret = chan_io(ch, &io, timeout_ms);
	if (ret >= 0)
		*buf = io.room;
	return ret;
}

CHAN_EXPORT int ivshmem_chan_release(struct ivshmem_chan *ch)
{
	struct hold *h;
	int ret = 0;

	if (!ch)
		return -EINVAL;
	h = &ch->peeked;
	/* The application's reads of the message come before the look. */
	atomic_thread_fence(memory_order_acquire);
	pthread_mutex_lock(&ch->rx_lock);
	if (h->open)
		hold_sync(ch, RX);
	/* Looked at after the sync, which may let another release in first. */
	if (!h->open) {
		pthread_mutex_unlock(&ch->rx_lock);
		return -EINVAL;
	}
	if (hold_stands(ch, h, ch->head)) {
		rx_consume(ch, h->pos, h->end);
	} else {
		ch->rx_reset = false;
		ret = -ECONNRESET;
	}
	h->open = false;
	pthread_mutex_unlock(&ch->rx_lock);
	return ret;
}
