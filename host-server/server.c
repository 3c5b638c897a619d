// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * server.c - the protocol engine of ivshmem-server
 *
 * A new peer gets, in this order: the protocol version, its ID, the
 * shared memory (-1 with the descriptor), every connected peer's
 * eventfds (that peer's ID once per vector), and its own eventfds.  Every
 * other peer gets the newcomer's eventfds, and later its ID alone when it
 * leaves.  Peers never send anything: any byte, or a hangup, drops them.
 *
 * Nothing here blocks.  Each peer has an output queue: announcements are
 * appended to it and sent as far as the socket takes them; the rest goes
 * out when epoll says the socket is writable again.  A queued
 * announcement refers to the announced peer's eventfd set, which is
 * reference counted, so the descriptors stay valid even when that peer
 * leaves before the announcement is out.
 *
 * Peer IDs.  Because every queue is sent in order, an ID could be given
 * out again as soon as its disconnect notice is queued to every other
 * peer.  QEMU's ivshmem-doorbell device does not cope with that: on a
 * disconnect notice it frees its array of the peer's eventfds but keeps
 * the pointer, so a later connect message for the same ID writes into
 * freed memory, and the next disconnect frees it a second time.  A freed
 * ID is therefore "held" while any peer that was connected when its
 * departure was announced (a witness) is still connected.  A global
 * clock ticks at every connect and every departure; each peer keeps the
 * tick of its connect, each held ID the tick of its departure.  Peers
 * are listed in connect order, so the oldest is at the head, and an ID
 * has no witness left once the oldest peer connected after it left.
 * Held IDs are listed in departure order and released from the front
 * whenever a peer leaves; no scan is needed.
 *
 * New peers get the lowest ID that is neither in use nor held, so a peer
 * that needs ID 0 (a QEMU device with master=on) gets it back once every
 * peer that saw it leave has left too.  A held ID is never given out:
 * when every free ID is held, newcomers are refused, and the rate at which
 * IDs may become held is limited (churn_rate), so that neither tools nor
 * a misbehaving client can make a watching QEMU crash.  Without vectors
 * nothing is announced, and no ID is ever held.
 *
 * A departed peer's announcement that has not started to go out is taken
 * back rather than followed by its departure, so queues keep at most one
 * departed peer's eventfds open each.
 *
 * Peers that fail (a send error, a full queue, lagging too long behind
 * what they were sent) are only marked dead while events are handled, and dropped
 * once the batch of events is done; dropping one queues notices to the
 * others, which may mark more of them dead, and so on until none is left.
 *
 * The region header, when the memory has one (server_config.region), is
 * the engine's from the start.  Its presence table changes at every
 * connect and departure, each change under the generation counter and
 * before any peer is told over its socket; the presence vector of every
 * peer connected before a change is rung once the events that made it
 * are handled.  Peers can write the header, and a migration with
 * master=on copies the source server's over it: the engine keeps a
 * private image of what the header must hold, compares once a second,
 * and rewrites the whole header when it differs.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <linux/sockios.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "log.h"
#include "server.h"
#include "wire.h"

#define EVENT_BATCH		256
#define ACCEPT_BATCH		64
/* How often stalled peers and a paused listening socket are looked at. */
#define TICK_MS			100
/* How long accepting pauses when the open-file limit is reached. */
#define ACCEPT_PAUSE_MS		1000
/* Limit warnings about refused peers to one per this interval. */
#define WARN_INTERVAL_MS	10000
/* Queues larger than this are freed once empty, so memory goes back. */
#define QUEUE_KEEP		64
/* End of the list of held IDs */
#define ID_NONE			UINT32_MAX
/* How often the region header is compared with what it must hold. */
#define REGION_CHECK_MS		1000
/* Say that the header was restored at most once per this interval. */
#define RESTORE_LOG_MS		60000
#define GEN_OFFSET		offsetof(struct ivshmem_region_header, generation)

/*
 * One peer's eventfds.  @refs counts the owning peer and every queued
 * message that passes them; the descriptors are closed with the last.
 */
struct fdset {
	unsigned int refs;
	unsigned int count;
	int fd[];
};

/*
 * One queued message: @value alone when @fds is NULL, else @value once
 * for each of @fds->fd[@next ...], each with that descriptor.
 */
struct outmsg {
	int64_t value;
	struct fdset *fds;
	unsigned int next;
};

struct peer {
	int sock;
	unsigned int id;
	bool dead;			/* dropped when the event batch is done */
	bool want_out;			/* EPOLLOUT is armed */
	bool tx_busy;			/* @tx holds a partly sent message */
	struct fdset *vectors;
	struct outmsg *q;		/* ring of @qcap entries */
	size_t qcap, qhead, qlen;
	struct ivshmem_wire_tx tx;
	size_t qfds;			/* descriptors its queue still has to pass */
	uint64_t sent;			/* messages sent (complete) */
	uint64_t mark_ms, mark_sent;	/* @sent at @mark_ms: read them in time */
	bool stalled;			/* on the server's watch list */
	struct peer *stall_prev, *stall_next;
	struct peer *next_dead;
	uint64_t stamp;			/* clock at its connect */
	struct peer *older, *newer;	/* the list of peers in connect order */
	uint32_t epoch;			/* its presence table epoch */
	uint64_t joined;		/* header changes once its connect was made */
};

struct server {
	struct server_config cfg;
	int epfd;
	struct fdset *shm;
	struct peer **peers;		/* indexed by ID */
	uint64_t *used;			/* bitmap of the IDs in use */
	unsigned int npeers;
	uint64_t clock;			/* ticks at every connect and departure */
	struct peer *oldest, *newest;	/* connected peers in connect order */
	uint64_t *held;			/* bitmap of the free IDs still witnessed */
	uint64_t *gone;			/* by ID: clock at its last departure */
	uint32_t *held_next, *held_prev; /* held IDs in departure order */
	uint32_t held_head, held_tail;
	bool warned_refs;		/* said that descriptors in flight hit the limit */
	unsigned int msg_truesize;	/* socket memory one message takes, in flight */
	size_t queue_max;		/* entries a queue may hold (memory) */
	size_t queue_max_fds;		/* descriptors a queue may pass */
	int64_t churn_tokens;		/* IDs that may still become held now, x1000 */
	uint64_t churn_ms;		/* when they were last refilled */
	bool warned_full;		/* refused a peer: every free ID held */
	struct peer *dead;		/* marked dead, not yet dropped */
	struct peer *stalled;		/* peers sent to and not known to have read it all */
	bool accept_paused;
	uint64_t accept_resume_ms;
	uint64_t last_tick_ms;
	uint64_t warned_ms;
	unsigned long refused;		/* peers refused since the last warning */
	bool stop;
	/* The region header (see region_check()); @rpage NULL: none. */
	unsigned char *rpage;		/* its page in the shared memory */
	void *rtable;			/* its presence table, or NULL */
	unsigned char *image;		/* what its @rsize bytes must hold */
	uint32_t rsize;			/* header_size: the table and the page */
	uint32_t gen;			/* the generation: ours, not what peers wrote */
	uint32_t epoch;			/* the last epoch given */
	uint64_t changes;		/* changes made to the header */
	uint64_t rung;			/* changes the presence vector was rung for */
	uint64_t check_ms;		/* when to compare it next */
	uint64_t restored_ms;		/* when a restoration was last logged */
	bool restored_logged;		/* ... if one was */
	unsigned long restored;		/* restorations since, not logged */
};

/* epoll tags of the two descriptors that are not peers */
static char tag_listen, tag_stop;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct fdset *fdset_new(unsigned int count)
{
	struct fdset *set;
	unsigned int i;
	int err;

	set = malloc(sizeof(*set) + count * sizeof(int));
	if (!set)
		return NULL;
	set->refs = 1;
	set->count = count;
	for (i = 0; i < count; i++) {
		set->fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (set->fd[i] < 0)
			goto err_close;
	}
	return set;

err_close:
	err = errno;
	while (i--)
		close(set->fd[i]);
	free(set);
	errno = err;
	return NULL;
}

static void fdset_put(struct fdset *set)
{
	unsigned int i;

	if (--set->refs)
		return;
	for (i = 0; i < set->count; i++)
		close(set->fd[i]);
	free(set);
}

/* Lowest ID at or above @from that is in use, or -1. */
static int next_id(const struct server *srv, unsigned int from)
{
	unsigned int w = from / 64;
	uint64_t bits;

	if (from >= srv->cfg.max_peers)
		return -1;
	bits = srv->used[w] & (~0ULL << (from % 64));
	for (;;) {
		if (bits) {
			unsigned int id = w * 64 + (unsigned int)__builtin_ctzll(bits);

			return id < srv->cfg.max_peers ? (int)id : -1;
		}
		if (++w * 64 >= srv->cfg.max_peers)
			return -1;
		bits = srv->used[w];
	}
}

/* Lowest ID neither in use nor (with @skip_held) held, or -1. */
static int lowest_free(const struct server *srv, bool skip_held)
{
	unsigned int w;

	for (w = 0; w * 64 < srv->cfg.max_peers; w++) {
		uint64_t taken = srv->used[w] | (skip_held ? srv->held[w] : 0);

		if (~taken) {
			unsigned int id = w * 64 + (unsigned int)__builtin_ctzll(~taken);

			return id < srv->cfg.max_peers ? (int)id : -1;
		}
	}
	return -1;
}

/* Hold a free ID: connected peers saw it leave at @stamp. */
static void held_add(struct server *srv, unsigned int id, uint64_t stamp)
{
	srv->gone[id] = stamp;
	srv->held_next[id] = ID_NONE;
	srv->held_prev[id] = srv->held_tail;
	if (srv->held_tail != ID_NONE)
		srv->held_next[srv->held_tail] = id;
	else
		srv->held_head = id;
	srv->held_tail = id;
	srv->held[id / 64] |= 1ULL << (id % 64);
}

static void held_del(struct server *srv, unsigned int id)
{
	uint32_t prev = srv->held_prev[id], next = srv->held_next[id];

	if (prev != ID_NONE)
		srv->held_next[prev] = next;
	else
		srv->held_head = next;
	if (next != ID_NONE)
		srv->held_prev[next] = prev;
	else
		srv->held_tail = prev;
	srv->held[id / 64] &= ~(1ULL << (id % 64));
}

/*
 * Release the held IDs that no connected peer saw leave: those that left
 * before the oldest connected peer came.  They are at the front.
 */
static void held_release(struct server *srv)
{
	while (srv->held_head != ID_NONE &&
	       (!srv->oldest || srv->gone[srv->held_head] < srv->oldest->stamp))
		held_del(srv, srv->held_head);
}

/*
 * The ID for a new peer, or -1 when every free ID is held (or in use).
 * A held ID is never given out: a QEMU device among its witnesses would
 * crash on it, so the newcomer is refused instead.
 */
static int pick_id(struct server *srv)
{
	return lowest_free(srv, true);
}

/* Refill the tokens of ID churn; see server_config.churn_rate. */
static void churn_refill(struct server *srv, uint64_t now)
{
	int64_t burst = (int64_t)srv->cfg.churn_burst * 1000;

	if (!srv->cfg.churn_rate)
		return;
	srv->churn_tokens += (int64_t)((now - srv->churn_ms) * srv->cfg.churn_rate);
	if (srv->churn_tokens > burst)
		srv->churn_tokens = burst;
	srv->churn_ms = now;
}

/*
 * Milliseconds until a newcomer may come, when it would take an ID while
 * earlier departures are still witnessed and the churn allowance is used
 * up; 0 when it may come now.
 */
static uint64_t churn_wait(struct server *srv)
{
	uint64_t now;

	if (!srv->cfg.churn_rate || !srv->cfg.vectors || srv->held_head == ID_NONE)
		return 0;
	now = now_ms();
	churn_refill(srv, now);
	if (srv->churn_tokens >= 1000)
		return 0;
	return (uint64_t)((1000 - srv->churn_tokens) / srv->cfg.churn_rate) + 1;
}

/*
 * The region header.  @image holds what the header's bytes must be: the
 * table (at its start, as in the region) and the header page.  Every
 * change is made to both; the region's generation is only ever written
 * from srv->gen, never from what the region holds.
 */
static unsigned char *image_page(const struct server *srv)
{
	return srv->image + srv->rsize - IVSHMEM_REGION_PAGE;
}

static void image_set_gen(struct server *srv)
{
	uint32_t le = htole32(srv->gen);

	memcpy(image_page(srv) + GEN_OFFSET, &le, sizeof(le));
}

/* One change of the presence table: entry @id. */
static void presence_set(struct server *srv, unsigned int id, uint32_t epoch, uint32_t state)
{
	region_set_peer(srv->image, id, epoch, state);
	region_update_begin(srv->rpage, &srv->gen);
	region_set_peer(srv->rtable, id, epoch, state);
	region_update_end(srv->rpage, &srv->gen);
	image_set_gen(srv);
	srv->changes++;
}

/* A peer connects: a new epoch for its ID, which is now present. */
static void presence_connect(struct server *srv, struct peer *p)
{
	if (!srv->rtable)
		return;
	if (++srv->epoch == 0)
		srv->epoch = 1;
	p->epoch = srv->epoch;
	presence_set(srv, p->id, p->epoch, IVSHMEM_REGION_PEER_PRESENT);
	/* It reads the table after this; only later changes are rung to it. */
	p->joined = srv->changes;
}

/*
 * Ring the presence vector of every peer connected before the last
 * change of the header, once for all changes since the last call.
 */
static void presence_ring(struct server *srv)
{
	const uint64_t one = 1;
	uint32_t v = srv->cfg.region.info.presence_vector;

	if (srv->rung == srv->changes)
		return;
	srv->rung = srv->changes;
	if (!srv->rtable || v == IVSHMEM_REGION_NO_VECTOR)
		return;
	for (struct peer *p = srv->oldest; p; p = p->newer) {
		if (p->joined == srv->changes)
			continue;
		/* Full (2^64 - 2 rings unread) is as good as rung. */
		if (write(p->vectors->fd[v], &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn("peer %u: cannot ring its presence vector %u: %s", p->id, v,
				 strerror(errno));
	}
}

/*
 * Compare the header with the image; if it differs, rewrite it whole, as
 * one change under a generation past both ours and the one found (readers
 * that saw either see that it changed), and ring the presence vector.
 * Nothing read from the region is used but that generation.
 */
static void region_check(struct server *srv, uint64_t now)
{
	unsigned char *area = srv->rpage + IVSHMEM_REGION_PAGE - srv->rsize;
	unsigned char *page = srv->rpage, *img = image_page(srv);
	uint64_t magic;
	uint32_t found;

	srv->check_ms = now + REGION_CHECK_MS;
	if (!memcmp(area, srv->image, srv->rsize))
		return;
	found = region_generation(page);
	if ((int32_t)(found - srv->gen) > 0)
		srv->gen = found;
	region_update_begin(page, &srv->gen);
	/* No magic while the rest is rewritten: a reader sees no header, not a mix. */
	__atomic_store_n((uint64_t *)page, 0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(area, srv->image, srv->rsize - IVSHMEM_REGION_PAGE);
	memcpy(page + sizeof(magic), img + sizeof(magic), GEN_OFFSET - sizeof(magic));
	memcpy(page + GEN_OFFSET + sizeof(found), img + GEN_OFFSET + sizeof(found),
	       IVSHMEM_REGION_PAGE - GEN_OFFSET - sizeof(found));
	memcpy(&magic, img, sizeof(magic));
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n((uint64_t *)page, magic, __ATOMIC_RELAXED);
	region_update_end(page, &srv->gen);
	image_set_gen(srv);
	srv->changes++;

	/* A peer that keeps scribbling must not flood the log. */
	if (srv->restored_logged && now - srv->restored_ms < RESTORE_LOG_MS) {
		srv->restored++;
		return;
	}
	if (srv->restored)
		log_info("region header restored: it was overwritten (migration, or a peer wrote "
			 "to it); %lu more times since the last message", srv->restored);
	else
		log_info("region header restored: it was overwritten (migration, or a peer wrote "
			 "to it)");
	srv->restored_logged = true;
	srv->restored_ms = now;
	srv->restored = 0;
}

/* On shutdown: one change that marks every peer absent, and a last ring. */
static void presence_shutdown(struct server *srv)
{
	if (!srv->rtable || !srv->npeers)
		return;
	region_update_begin(srv->rpage, &srv->gen);
	for (struct peer *p = srv->oldest; p; p = p->newer) {
		region_set_peer(srv->image, p->id, p->epoch, IVSHMEM_REGION_PEER_ABSENT);
		region_set_peer(srv->rtable, p->id, p->epoch, IVSHMEM_REGION_PEER_ABSENT);
	}
	region_update_end(srv->rpage, &srv->gen);
	image_set_gen(srv);
	srv->changes++;
	presence_ring(srv);
}

/* Note a peer's connect: it is the newest. */
static void peer_link(struct server *srv, struct peer *p)
{
	p->stamp = ++srv->clock;
	p->newer = NULL;
	p->older = srv->newest;
	if (srv->newest)
		srv->newest->newer = p;
	else
		srv->oldest = p;
	srv->newest = p;
}

static void peer_unlink(struct server *srv, struct peer *p)
{
	if (p->older)
		p->older->newer = p->newer;
	else
		srv->oldest = p->newer;
	if (p->newer)
		p->newer->older = p->older;
	else
		srv->newest = p->older;
}

#define for_each_peer(srv, id) \
	for (int id = next_id(srv, 0); id >= 0; id = next_id(srv, (unsigned int)id + 1))

static void peer_doom(struct server *srv, struct peer *p)
{
	if (p->dead)
		return;
	p->dead = true;
	p->next_dead = srv->dead;
	srv->dead = p;
}

static void peer_set_out(struct server *srv, struct peer *p, bool on)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0),
		.data.ptr = p,
	};

	if (p->want_out == on)
		return;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, p->sock, &ev) < 0) {
		log_warn("peer %u: cannot watch its socket: %s", p->id, strerror(errno));
		peer_doom(srv, p);
		return;
	}
	p->want_out = on;
}

/* Watch a peer until it has read everything it was sent. */
static void stall_add(struct server *srv, struct peer *p)
{
	if (p->stalled)
		return;
	p->stalled = true;
	p->stall_prev = NULL;
	p->stall_next = srv->stalled;
	if (srv->stalled)
		srv->stalled->stall_prev = p;
	srv->stalled = p;
}

static void stall_del(struct server *srv, struct peer *p)
{
	if (!p->stalled)
		return;
	if (p->stall_prev)
		p->stall_prev->stall_next = p->stall_next;
	else
		srv->stalled = p->stall_next;
	if (p->stall_next)
		p->stall_next->stall_prev = p->stall_prev;
	p->stalled = false;
}

static void queue_pop(struct peer *p)
{
	struct outmsg *m = &p->q[p->qhead];

	if (m->fds) {
		p->qfds -= m->fds->count - m->next;
		fdset_put(m->fds);
	}
	p->qhead = (p->qhead + 1) & (p->qcap - 1);
	p->qlen--;
}

static void queue_free(struct peer *p)
{
	while (p->qlen)
		queue_pop(p);
	free(p->q);
	p->q = NULL;
	p->qcap = 0;
	p->qhead = 0;
	p->tx_busy = false;
}

static bool queue_grow(struct peer *p)
{
	size_t cap = p->qcap ? p->qcap * 2 : 16;
	struct outmsg *q;
	size_t i;

	q = malloc(cap * sizeof(*q));
	if (!q)
		return false;
	for (i = 0; i < p->qlen; i++)
		q[i] = p->q[(p->qhead + i) & (p->qcap - 1)];
	free(p->q);
	p->q = q;
	p->qcap = cap;
	p->qhead = 0;
	return true;
}

/* Append a message; a peer whose queue cannot take it is dropped. */
static void queue_push(struct server *srv, struct peer *p, int64_t value, struct fdset *fds)
{
	struct outmsg *m;

	if (p->dead || (fds && fds->count == 0))
		return;
	if (p->qlen >= srv->queue_max ||
	    (fds && p->qfds + fds->count > srv->queue_max_fds)) {
		log_warn("peer %u: dropped: %zu messages with %zu descriptors queued, it does not "
			 "read them", p->id, p->qlen, p->qfds);
		peer_doom(srv, p);
		return;
	}
	if (p->qlen == p->qcap && !queue_grow(p)) {
		log_warn("peer %u: dropped: cannot queue a message: %s", p->id, strerror(errno));
		peer_doom(srv, p);
		return;
	}
	m = &p->q[(p->qhead + p->qlen) & (p->qcap - 1)];
	m->value = value;
	m->fds = fds;
	m->next = 0;
	if (fds) {
		fds->refs++;
		p->qfds += fds->count;
	}
	p->qlen++;
}

/*
 * A peer @p whose announcement to @o has not started to go out leaves:
 * take the announcement back instead of sending it and then the
 * departure.  This keeps queues from holding departed peers' eventfds
 * open: a slow reader holds at most the one announcement it is in the
 * middle of receiving.  Return: true when @o never heard of @p.
 */
static bool queue_cancel(struct peer *o, struct fdset *fds)
{
	size_t i, k;

	for (i = 0; i < o->qlen; i++) {
		struct outmsg *m = &o->q[(o->qhead + i) & (o->qcap - 1)];

		if (m->fds != fds)
			continue;
		if (m->next || (i == 0 && o->tx_busy))
			return false;	/* partly out: it goes out whole */
		o->qfds -= fds->count;
		fdset_put(fds);
		for (k = i; k + 1 < o->qlen; k++)
			o->q[(o->qhead + k) & (o->qcap - 1)] =
				o->q[(o->qhead + k + 1) & (o->qcap - 1)];
		o->qlen--;
		return true;
	}
	return false;
}

/* Send what the socket takes; remember the peer as stalled if not all. */
static void peer_flush(struct server *srv, struct peer *p)
{
	bool sent = false;
	bool wait_out = false;

	while (p->qlen && !p->dead) {
		struct outmsg *m = &p->q[p->qhead];
		int ret;

		if (!p->tx_busy) {
			ivshmem_wire_tx_init(&p->tx, m->value, m->fds ? m->fds->fd[m->next] : -1);
			p->tx_busy = true;
		}
		ret = ivshmem_wire_send(p->sock, &p->tx);
		if (ret == 0) {
			wait_out = true;
			break;
		}
		/*
		 * Too many descriptors in flight for this user (ours, not
		 * this peer's): it is not this peer's fault, and nothing
		 * wakes us when that changes, so the tick retries.
		 */
		if (ret == -ETOOMANYREFS) {
			if (!srv->warned_refs)
				log_warn("cannot pass descriptors: too many in flight for the "
					 "server's user (see RLIMIT_NOFILE and CAP_SYS_RESOURCE in "
					 "ivshmem-server(8)); retrying");
			srv->warned_refs = true;
			break;
		}
		if (ret < 0) {
			if (ret == -EPIPE || ret == -ECONNRESET)
				log_debug("peer %u: disconnected", p->id);
			else
				log_warn("peer %u: dropped: cannot send: %s", p->id, strerror(-ret));
			peer_doom(srv, p);
			return;
		}
		p->tx_busy = false;
		p->sent++;
		sent = true;
		if (m->fds) {
			p->qfds--;
			if (++m->next < m->fds->count)
				continue;
		}
		queue_pop(p);
	}
	if (p->dead)
		return;
	peer_set_out(srv, p, wait_out);
	/* Until it has read it all (or its queue is out), the tick watches it. */
	if (p->qlen || sent)
		stall_add(srv, p);
	if (!p->qlen && p->qcap > QUEUE_KEEP)
		queue_free(p);
}

static void warn_refused(struct server *srv, const char *why, int err)
{
	uint64_t now = now_ms();

	srv->refused++;
	if (srv->warned_ms && now - srv->warned_ms < WARN_INTERVAL_MS)
		return;
	if (err == EMFILE || err == ENFILE) {
		struct rlimit rl = { 0 };

		getrlimit(RLIMIT_NOFILE, &rl);
		log_warn("refusing new peers: %s: %s (open-file limit %llu, %u peers connected)",
			 why, strerror(err), (unsigned long long)rl.rlim_cur, srv->npeers);
	} else if (err) {
		log_warn("refusing new peers: %s: %s", why, strerror(err));
	} else {
		log_warn("refusing new peers: %s", why);
	}
	if (srv->refused > 1)
		log_warn("%lu peers refused since the last warning", srv->refused);
	srv->warned_ms = now;
	srv->refused = 0;
}

static void accept_pause(struct server *srv, uint64_t ms)
{
	struct epoll_event ev = { .events = 0, .data.ptr = &tag_listen };

	if (srv->accept_paused)
		return;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, srv->cfg.listen_fd, &ev) == 0)
		srv->accept_paused = true;
	srv->accept_resume_ms = now_ms() + ms;
}

static void accept_resume(struct server *srv)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &tag_listen };

	if (!srv->accept_paused)
		return;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, srv->cfg.listen_fd, &ev) == 0)
		srv->accept_paused = false;
}

static void peer_add(struct server *srv, int sock)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	struct peer *p;
	int id;

	id = pick_id(srv);
	if (id < 0) {
		if (srv->npeers < srv->cfg.max_peers) {
			if (!srv->warned_full)
				log_warn("every free peer ID is held by peers that saw it leave, and "
					 "giving it out would crash QEMU devices among them: refusing "
					 "new peers until those peers leave");
			srv->warned_full = true;
			warn_refused(srv, "every free peer ID is held", 0);
		} else {
			warn_refused(srv, "every peer ID is in use", 0);
		}
		close(sock);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		warn_refused(srv, "out of memory", ENOMEM);
		close(sock);
		return;
	}
	p->sock = sock;
	p->id = (unsigned int)id;
	p->vectors = fdset_new(srv->cfg.vectors);
	if (!p->vectors) {
		int err = errno;

		warn_refused(srv, "cannot create eventfds", err);
		if (err == EMFILE || err == ENFILE)
			accept_pause(srv, ACCEPT_PAUSE_MS);
		goto err_free;
	}
	ev.data.ptr = p;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, sock, &ev) < 0) {
		warn_refused(srv, "cannot watch its socket", errno);
		goto err_put;
	}

	srv->peers[id] = p;
	srv->used[id / 64] |= 1ULL << (id % 64);
	srv->npeers++;
	peer_link(srv, p);
	/* In the table before anyone hears of it, itself included. */
	presence_connect(srv, p);
	log_debug("peer %d: connected (%u peers)", id, srv->npeers);

	queue_push(srv, p, IVSHMEM_WIRE_VERSION, NULL);
	queue_push(srv, p, id, NULL);
	queue_push(srv, p, IVSHMEM_WIRE_SHM, srv->shm);
	for_each_peer(srv, other) {
		struct peer *o = srv->peers[other];

		if (o == p)
			continue;
		/* Tell even a dying peer about: its disconnect notice follows. */
		queue_push(srv, p, other, o->vectors);
		queue_push(srv, o, id, p->vectors);
		peer_flush(srv, o);
	}
	queue_push(srv, p, id, p->vectors);
	peer_flush(srv, p);
	return;

err_put:
	fdset_put(p->vectors);
err_free:
	free(p);
	close(sock);
}

static void server_accept(struct server *srv)
{
	int i;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		uint64_t wait = churn_wait(srv);
		int sock;

		/* Peers churning IDs faster than allowed wait in the backlog. */
		if (wait) {
			accept_pause(srv, wait);
			return;
		}
		sock = accept4(srv->cfg.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (sock < 0) {
			switch (errno) {
			case EAGAIN:
#if EAGAIN != EWOULDBLOCK
			case EWOULDBLOCK:
#endif
				return;
			case EINTR:
			case ECONNABORTED:
				continue;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				warn_refused(srv, "cannot accept", errno);
				accept_pause(srv, ACCEPT_PAUSE_MS);
				return;
			default:
				log_warn("cannot accept a peer: %s", strerror(errno));
				return;
			}
		}
		if (srv->npeers >= srv->cfg.max_peers) {
			warn_refused(srv, "peer limit reached", 0);
			close(sock);
			continue;
		}
		peer_add(srv, sock);
	}
}

/* Drop a dead peer and tell the others. */
static void peer_drop(struct server *srv, struct peer *p)
{
	unsigned int id = p->id;

	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, p->sock, NULL);
	close(p->sock);
	stall_del(srv, p);
	queue_free(p);
	srv->peers[id] = NULL;
	srv->npeers--;
	peer_unlink(srv, p);
	/* Absent from the table before anyone is told. */
	if (srv->rtable)
		presence_set(srv, id, p->epoch, IVSHMEM_REGION_PEER_ABSENT);
	/*
	 * Peers without vectors never heard of it: nothing to withdraw.  Those
	 * whose queue still holds its announcement, unsent, lose that instead.
	 */
	if (srv->cfg.vectors) {
		for_each_peer(srv, other) {
			struct peer *o = srv->peers[other];

			if (other == (int)id)
				continue;
			if (p->vectors->refs > 1 && queue_cancel(o, p->vectors))
				continue;
			queue_push(srv, o, id, NULL);
			peer_flush(srv, o);
		}
	}
	/*
	 * Only now, with the notice queued everywhere, may the ID be reused,
	 * and only once every peer that got the notice has left as well.
	 */
	srv->clock++;
	if (srv->cfg.vectors && srv->oldest) {
		held_add(srv, id, srv->clock);
		churn_refill(srv, now_ms());
		srv->churn_tokens -= 1000;
	}
	srv->used[id / 64] &= ~(1ULL << (id % 64));
	held_release(srv);
	fdset_put(p->vectors);
	free(p);
	log_debug("peer %u: gone (%u peers)", id, srv->npeers);
	accept_resume(srv);
#ifdef __GLIBC__
	if (!srv->npeers)
		malloc_trim(0);
#endif
}

static void server_reap(struct server *srv)
{
	while (srv->dead) {
		struct peer *p = srv->dead;

		srv->dead = p->next_dead;
		peer_drop(srv, p);
	}
}

static void peer_event(struct server *srv, struct peer *p, uint32_t events)
{
	if (p->dead)
		return;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		char c;
		ssize_t n = recv(p->sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);

		if (n > 0)
			log_warn("peer %u: dropped: it sent data, which the protocol does not allow",
				 p->id);
		else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			log_debug("peer %u: socket error: %s", p->id, strerror(errno));
		else
			log_debug("peer %u: disconnected", p->id);
		peer_doom(srv, p);
		return;
	}
	if (events & EPOLLOUT)
		peer_flush(srv, p);
}

/*
 * Messages this peer has been sent and not read yet.  The kernel counts
 * what a peer has not read in socket memory (SIOCOUTQ), and every message
 * takes the same (measured at start), so the count follows.
 */
static uint64_t unread(const struct server *srv, const struct peer *p)
{
	int n;

	if (ioctl(p->sock, SIOCOUTQ, &n) < 0 || n <= 0)
		return 0;
	return ((uint64_t)n + srv->msg_truesize - 1) / srv->msg_truesize;
}

/*
 * Retry the peers whose queue waits (for room in their socket, or for
 * descriptors in flight to be received), and judge each watched peer by
 * how far it lags, not by whether it reads at all: a mark notes how many
 * messages it had been sent; once it has read them all a new mark is
 * set, and if it has not read them all --stall-timeout after the mark it
 * is dropped.  A queue held up only by the server's own limit on
 * descriptors in flight (ETOOMANYREFS) leaves nothing unread, so it is
 * not the peer's fault and does not count.  Resume accepting when the
 * pause is over.
 */
static void server_tick(struct server *srv)
{
	uint64_t now = now_ms();
	struct peer *p, *next;

	for (p = srv->stalled; p; p = next) {
		uint64_t behind;

		next = p->stall_next;
		peer_flush(srv, p);
		if (p->dead)
			continue;
		behind = unread(srv, p);
		if (!behind && !p->qlen) {
			stall_del(srv, p);
			p->mark_ms = 0;
			continue;
		}
		/* A message partly out counts as unread: read can lag sent by one. */
		if (!p->mark_ms || (p->sent >= behind && p->sent - behind >= p->mark_sent)) {
			p->mark_ms = now;
			p->mark_sent = p->sent;
			continue;
		}
		if (srv->cfg.stall_timeout_ms && now >= p->mark_ms + srv->cfg.stall_timeout_ms) {
			log_warn("peer %u: dropped: it has not caught up with what it was sent "
				 "%u ms ago (%llu messages unread)", p->id, srv->cfg.stall_timeout_ms,
				 (unsigned long long)behind);
			peer_doom(srv, p);
		}
	}
	if (srv->accept_paused && now >= srv->accept_resume_ms)
		accept_resume(srv);
	srv->last_tick_ms = now;
}

/* Socket memory one message (8 bytes, with a descriptor or not) takes in flight. */
static unsigned int measure_truesize(void)
{
	unsigned int most = 0;
	int sv[2], fd;

	fd = eventfd(0, EFD_CLOEXEC);
	if (fd < 0)
		return 0;
	for (int with_fd = 0; with_fd < 2; with_fd++) {
		struct ivshmem_wire_tx tx;
		int n = 0;

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			break;
		ivshmem_wire_tx_init(&tx, 0, with_fd ? fd : -1);
		if (ivshmem_wire_send(sv[0], &tx) == 1 && ioctl(sv[0], SIOCOUTQ, &n) == 0 &&
		    n > 0 && (unsigned int)n > most)
			most = (unsigned int)n;
		close(sv[0]);
		close(sv[1]);
	}
	close(fd);
	return most;
}

/*
 * The image of the header, made as the caller made the header, so that
 * the two are equal byte for byte.  The epochs start from the instance:
 * another server, other epochs.
 */
static int region_init(struct server *srv)
{
	const struct server_region *r = &srv->cfg.region;
	const struct region_info *info = &r->info;
	uint32_t v = info->presence_vector;

	if (info->header_size != region_header_size(r->table ? info->max_peers : 0) ||
	    (r->table && (info->max_peers != srv->cfg.max_peers ||
			  !(info->flags & IVSHMEM_REGION_F_PRESENCE))) ||
	    (v != IVSHMEM_REGION_NO_VECTOR && (!r->table || v >= srv->cfg.vectors))) {
		errno = EINVAL;
		return -1;
	}
	srv->rsize = info->header_size;
	srv->image = calloc(1, srv->rsize);
	if (!srv->image)
		return -1;
	region_write(image_page(srv), r->table ? srv->image : NULL, info);
	srv->rpage = r->page;
	srv->rtable = r->table;
	srv->gen = 0;
	srv->epoch = (uint32_t)info->instance ^ (uint32_t)(info->instance >> 32);
	srv->check_ms = now_ms() + REGION_CHECK_MS;
	return 0;
}

struct server *server_new(const struct server_config *cfg)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct server *srv;
	int err;

	if (!cfg->max_peers || cfg->max_peers > SERVER_MAX_PEERS ||
	    cfg->vectors > SERVER_MAX_VECTORS) {
		errno = EINVAL;
		return NULL;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->cfg = *cfg;
	srv->epfd = -1;
	/*
	 * A new peer's queue holds every other peer; leave room for churn.
	 * Departed peers' announcements are taken back unless under way, so
	 * a queue never passes more descriptors than every peer's vectors
	 * (one departed peer's included) and the memory.
	 */
	srv->queue_max = 4 * (size_t)cfg->max_peers + 1024;
	srv->queue_max_fds = ((size_t)cfg->max_peers + 1) * cfg->vectors + 1;
	srv->churn_tokens = (int64_t)cfg->churn_burst * 1000;
	srv->msg_truesize = measure_truesize();
	if (!srv->msg_truesize)
		goto err;
	srv->churn_ms = now_ms();
	srv->peers = calloc(cfg->max_peers, sizeof(*srv->peers));
	srv->used = calloc((cfg->max_peers + 63) / 64, sizeof(*srv->used));
	srv->held = calloc((cfg->max_peers + 63) / 64, sizeof(*srv->held));
	/* Only entries of held IDs are read: no need to clear (or touch) them. */
	srv->gone = malloc(cfg->max_peers * sizeof(*srv->gone));
	srv->held_next = malloc(cfg->max_peers * sizeof(*srv->held_next));
	srv->held_prev = malloc(cfg->max_peers * sizeof(*srv->held_prev));
	srv->held_head = ID_NONE;
	srv->held_tail = ID_NONE;
	srv->shm = malloc(sizeof(*srv->shm) + sizeof(int));
	if (!srv->peers || !srv->used || !srv->held || !srv->gone || !srv->held_next ||
	    !srv->held_prev || !srv->shm)
		goto err;
	/* The server's reference keeps the caller's descriptor from being closed. */
	srv->shm->refs = 1;
	srv->shm->count = 1;
	srv->shm->fd[0] = cfg->shm_fd;

	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd < 0)
		goto err;
	ev.data.ptr = &tag_listen;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, cfg->listen_fd, &ev) < 0)
		goto err;
	ev.data.ptr = &tag_stop;
	if (cfg->stop_fd >= 0 && epoll_ctl(srv->epfd, EPOLL_CTL_ADD, cfg->stop_fd, &ev) < 0)
		goto err;
	if (cfg->region.page && region_init(srv) < 0)
		goto err;
	return srv;

err:
	err = errno;
	server_free(srv);
	errno = err;
	return NULL;
}

int server_run(struct server *srv)
{
	struct epoll_event ev[EVENT_BATCH];

	srv->stop = false;
	while (!srv->stop) {
		bool ticking = srv->stalled || srv->accept_paused;
		int timeout = ticking ? TICK_MS : -1;
		int i, n;

		if (srv->rpage) {
			uint64_t now = now_ms();
			int left = srv->check_ms > now ? (int)(srv->check_ms - now) : 0;

			if (timeout < 0 || left < timeout)
				timeout = left;
		}
		n = epoll_wait(srv->epfd, ev, EVENT_BATCH, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (i = 0; i < n; i++) {
			void *tag = ev[i].data.ptr;

			if (tag == &tag_stop)
				srv->stop = true;
			else if (tag == &tag_listen)
				server_accept(srv);
			else
				peer_event(srv, tag, ev[i].events);
		}
		server_reap(srv);
		if ((srv->stalled || srv->accept_paused) &&
		    now_ms() - srv->last_tick_ms >= TICK_MS) {
			server_tick(srv);
			server_reap(srv);
		}
		if (srv->rpage) {
			uint64_t now = now_ms();

			if (now >= srv->check_ms)
				region_check(srv, now);
			presence_ring(srv);
		}
	}
	return 0;
}

void server_free(struct server *srv)
{
	if (!srv)
		return;
	if (srv->rpage)
		presence_shutdown(srv);
	if (srv->peers) {
		for (unsigned int id = 0; id < srv->cfg.max_peers; id++) {
			struct peer *p = srv->peers[id];

			if (!p)
				continue;
			close(p->sock);
			queue_free(p);
			fdset_put(p->vectors);
			free(p);
		}
	}
	if (srv->epfd >= 0)
		close(srv->epfd);
	free(srv->image);
	free(srv->shm);
	free(srv->held_prev);
	free(srv->held_next);
	free(srv->gone);
	free(srv->held);
	free(srv->used);
	free(srv->peers);
	free(srv);
}
