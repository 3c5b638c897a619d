// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * presence_stress - the server's presence table under churn, TAP output
 *
 *	presence_stress SOCKET VECTORS SECONDS CLIENTS THREADS
 *
 * Runs against a real ivshmem-server started with --presence-vector (and
 * --churn-limit 0, so that peers are not paced).  CLIENTS raw protocol
 * clients, spread over THREADS threads, connect and disconnect at random
 * for SECONDS, while a reader thread takes presence snapshots with the
 * library's region_read_presence() as fast as it can and checks each:
 *
 * - every snapshot is consistent: region_read_presence() succeeds, the
 *   generation never goes back, two snapshots of one generation are
 *   equal, two of generations g1 < g2 differ in at most (g2 - g1) / 2
 *   entries (each change of the table sets one entry: a torn change would
 *   show more), and no two entries share an epoch (one counter);
 * - a peer that knows its ID and has not closed its socket yet is present
 *   in every snapshot, with the epoch it saw at its connect.
 *
 * Every client, once it has its ID, finds itself present with a non-zero
 * epoch, and an ID that comes back has another epoch than before.
 *
 * Every few hundred milliseconds the clients stop at a quiescent point:
 * every connect is complete and every close made.  A connected client
 * (the witness) then reads its socket until it knows of exactly the
 * connected peers, so the server has seen every close; at that moment
 * the table must hold exactly the connected IDs, present, each with the
 * epoch its client saw, and every client that was connected at the
 * previous quiescent point must have had its presence vector rung (the
 * table changed since).  At the end every client leaves and the table
 * must become empty.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "region.h"
#include "wire.h"

#define ROUND_MS	300
/* A client stays up to this long; one in four up to LONG_LIFE_MS more. */
#define LIFE_MS		50
#define LONG_LIFE_MS	1200

struct client {
	int sock;			/* -1: not connected */
	int id;
	uint32_t epoch;
	uint64_t until;			/* when it leaves */
	unsigned int round;		/* quiescent points passed when it connected */
	int *own;			/* its eventfds */
	unsigned char *known;		/* by ID: announced to it and not gone */
	int group, group_n;		/* the announcement being received */
	struct ivshmem_wire_rx rx;
	unsigned int seed;
};

static const char *sock_path;
static unsigned int vectors, nclients, nthreads;
static struct client *clients;

static unsigned char *page;		/* the header page */
static void *table;
static struct region_info info;
static uint32_t pvec;

static _Atomic uint32_t *mine;		/* by ID: the epoch of the connected client, or 0 */
static _Atomic uint32_t *last_epoch;	/* by ID: the epoch its last client saw */
static atomic_bool stop_all, quiesce;
static pthread_barrier_t parked, resume;

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint failures[8];
static char fail_msg[8][256];
enum { F_SNAPSHOT, F_CONNECTED, F_OWN, F_EPOCH, F_QUIESCENT, F_RUNG, F_END, F_CLIENT };

static atomic_ulong n_connects, n_closes, n_snapshots, n_reused, n_rounds, n_rings;

static void fail(int kind, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&fail_lock);
	if (!failures[kind]++) {
		va_start(ap, fmt);
		vsnprintf(fail_msg[kind], sizeof(fail_msg[kind]), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&fail_lock);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void die(const char *what)
{
	printf("Bail out! %s: %s\n", what, strerror(errno));
	exit(1);
}

static int snapshot(struct ivshmem_region_peer *out, uint32_t *gen)
{
	return region_read_presence(page, table, &info, out, gen);
}

/* Handle one message after the handshake; the descriptor is closed. */
static void client_msg(struct client *c, int64_t v, int fd)
{
	if (fd >= 0) {
		close(fd);
		if (v < 0 || v >= (int64_t)info.max_peers || v == c->id) {
			fail(F_CLIENT, "peer %d: unexpected vector of %lld", c->id, (long long)v);
			return;
		}
		if (c->group != v) {
			c->group = (int)v;
			c->group_n = 0;
		}
		if (++c->group_n == (int)vectors) {
			c->known[v] = 1;
			c->group = -1;
		}
	} else {
		if (v < 0 || v >= (int64_t)info.max_peers || !c->known[v])
			fail(F_CLIENT, "peer %d: departure of unknown peer %lld", c->id,
			     (long long)v);
		else
			c->known[v] = 0;
	}
}

/* Read what is there without waiting.  Return: -1 on an error or the end. */
static int client_drain(struct client *c)
{
	int64_t v;
	int fd, ret;

	while ((ret = ivshmem_wire_recv(c->sock, &c->rx, &v, &fd)) == 1)
		client_msg(c, v, fd);
	return ret < 0 ? -1 : 0;
}

static int recv_blocking(struct client *c, int64_t *v, int *fd)
{
	struct pollfd p = { .fd = c->sock, .events = POLLIN };
	int ret;

	for (;;) {
		ret = ivshmem_wire_recv(c->sock, &c->rx, v, fd);
		if (ret)
			return ret;
		if (poll(&p, 1, 10000) != 1)
			return -ETIMEDOUT;
	}
}

static void client_close(struct client *c)
{
	if (c->sock < 0)
		return;
	if (c->epoch)
		atomic_store(&mine[c->id], 0);
	close(c->sock);
	for (unsigned int k = 0; k < vectors; k++)
		if (c->own[k] >= 0)
			close(c->own[k]);
	ivshmem_wire_rx_reset(&c->rx);
	c->sock = -1;
	atomic_fetch_add(&n_closes, 1);
}

/*
 * Connect and take the handshake: version, ID, memory, the others'
 * vectors, our own.  Return: the memory descriptor when @keep_mem, else
 * 0; -1 when refused.
 */
static int client_connect(struct client *c, unsigned int round, bool keep_mem)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int64_t v;
	int fd, ret, mem = -1, n_own = 0;

	c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->sock < 0)
		die("socket");
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock_path);
	if (connect(c->sock, (struct sockaddr *)&addr, sizeof(addr)) < 0 && errno != EAGAIN)
		die("connect");
	ivshmem_wire_rx_init(&c->rx);
	c->epoch = 0;
	c->group = -1;
	for (unsigned int k = 0; k < vectors; k++)
		c->own[k] = -1;
	if (c->known)
		memset(c->known, 0, info.max_peers);
	for (int step = 0; n_own < (int)vectors || step < 3; step++) {
		ret = recv_blocking(c, &v, &fd);
		if (ret < 0) {
			fail(F_CLIENT, "handshake: %s", strerror(-ret));
			goto refused;
		}
		if (step == 0 || step == 1) {
			if (fd >= 0 || (step == 0 && v != 0) || (step == 1 && (v < 0 || v > 65535))) {
				fail(F_CLIENT, "handshake: message %d is %lld", step, (long long)v);
				goto refused;
			}
			c->id = (int)v;
		} else if (step == 2) {
			if (fd < 0 || v != -1) {
				fail(F_CLIENT, "handshake: no memory");
				goto refused;
			}
			if (keep_mem)
				mem = fd;
			else
				close(fd);
		} else if (v == c->id && fd >= 0) {
			c->own[n_own++] = fd;
		} else {
			client_msg(c, v, fd);
		}
	}
	c->round = round;
	c->until = now_ms() + rand_r(&c->seed) % LIFE_MS;
	if (rand_r(&c->seed) % 4 == 0)
		c->until += rand_r(&c->seed) % LONG_LIFE_MS;
	atomic_fetch_add(&n_connects, 1);
	return keep_mem ? mem : 0;

refused:
	if (mem >= 0)
		close(mem);
	client_close(c);
	return -1;
}

/* After its handshake: a client is present in the table, under a new epoch. */
static void client_check_own(struct client *c)
{
	struct ivshmem_region_peer *t = calloc(info.max_peers, sizeof(*t));
	uint32_t prev;

	if (!t)
		die("calloc");
	if (snapshot(t, NULL) < 0) {
		fail(F_OWN, "peer %d: no snapshot", c->id);
	} else if (t[c->id].state != IVSHMEM_REGION_PEER_PRESENT || !t[c->id].epoch) {
		fail(F_OWN, "peer %d: its entry is (%u, %u) once it knows its ID", c->id,
		     t[c->id].epoch, t[c->id].state);
	} else {
		c->epoch = t[c->id].epoch;
		prev = atomic_exchange(&last_epoch[c->id], c->epoch);
		if (prev) {
			atomic_fetch_add(&n_reused, 1);
			if (prev == c->epoch)
				fail(F_EPOCH, "ID %d came back with the same epoch %u", c->id, prev);
		}
		atomic_store(&mine[c->id], c->epoch);
	}
	free(t);
}

static void *worker(void *arg)
{
	unsigned int first = (unsigned int)(uintptr_t)arg * nclients / nthreads;
	unsigned int last = ((unsigned int)(uintptr_t)arg + 1) * nclients / nthreads;
	unsigned int seed = 17 + (unsigned int)(uintptr_t)arg;

	while (!atomic_load(&stop_all)) {
		struct client *c;

		if (atomic_load(&quiesce)) {
			pthread_barrier_wait(&parked);
			pthread_barrier_wait(&resume);
			continue;
		}
		c = &clients[first + (unsigned int)rand_r(&seed) % (last - first)];
		if (c->sock < 0) {
			if (client_connect(c, (unsigned int)atomic_load(&n_rounds), false) == 0)
				client_check_own(c);
		} else if (now_ms() >= c->until) {
			client_close(c);
		}
		for (unsigned int i = first; i < last; i++)
			if (clients[i].sock >= 0 && client_drain(&clients[i]) < 0) {
				fail(F_CLIENT, "peer %d: dropped by the server", clients[i].id);
				client_close(&clients[i]);
			}
		if (rand_r(&seed) % 4 == 0)
			usleep(rand_r(&seed) % 500);
	}
	for (unsigned int i = first; i < last; i++)
		client_close(&clients[i]);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void *reader(void *arg)
{
	struct ivshmem_region_peer *cur, *prev;
	uint32_t *m1, *m2, *epochs, gen, prev_gen = 0;
	bool have_prev = false;

	(void)arg;
	cur = calloc(info.max_peers, sizeof(*cur));
	prev = calloc(info.max_peers, sizeof(*prev));
	m1 = calloc(info.max_peers, sizeof(*m1));
	m2 = calloc(info.max_peers, sizeof(*m2));
	epochs = calloc(info.max_peers, sizeof(*epochs));
	if (!cur || !prev || !m1 || !m2 || !epochs)
		die("calloc");
	while (!atomic_load(&stop_all)) {
		uint32_t diff = 0, n = 0;
		int ret;

		for (uint32_t i = 0; i < info.max_peers; i++)
			m1[i] = atomic_load(&mine[i]);
		ret = snapshot(cur, &gen);
		for (uint32_t i = 0; i < info.max_peers; i++)
			m2[i] = atomic_load(&mine[i]);
		if (ret < 0) {
			fail(F_SNAPSHOT, "region_read_presence: %s", strerror(-ret));
			continue;
		}
		atomic_fetch_add(&n_snapshots, 1);
		if (have_prev) {
			for (uint32_t i = 0; i < info.max_peers; i++)
				diff += cur[i].epoch != prev[i].epoch || cur[i].state != prev[i].state;
			if ((int32_t)(gen - prev_gen) < 0)
				fail(F_SNAPSHOT, "generation went back from %u to %u", prev_gen, gen);
			else if (diff > (gen - prev_gen) / 2)
				fail(F_SNAPSHOT, "%u entries changed from generation %u to %u", diff,
				     prev_gen, gen);
		}
		for (uint32_t i = 0; i < info.max_peers; i++) {
			if (cur[i].epoch)
				epochs[n++] = cur[i].epoch;
			if (m1[i] && m1[i] == m2[i] &&
			    (cur[i].epoch != m1[i] || cur[i].state != IVSHMEM_REGION_PEER_PRESENT))
				fail(F_CONNECTED, "connected peer %u with epoch %u is (%u, %u) in "
				     "generation %u", i, m1[i], cur[i].epoch, cur[i].state, gen);
		}
		/* Distinct epochs: sort and compare neighbours. */
		qsort(epochs, n, sizeof(*epochs), cmp_u32);
		for (uint32_t i = 1; i < n; i++)
			if (epochs[i] == epochs[i - 1])
				fail(F_SNAPSHOT, "epoch %u twice in generation %u", epochs[i], gen);
		memcpy(prev, cur, info.max_peers * sizeof(*cur));
		prev_gen = gen;
		have_prev = true;
	}
	free(cur);
	free(prev);
	free(m1);
	free(m2);
	free(epochs);
	return NULL;
}

/* All workers are parked: the connected set is fixed, every close made. */
static void quiescent_check(unsigned int round, uint32_t *last_gen)
{
	struct ivshmem_region_peer *t = calloc(info.max_peers, sizeof(*t));
	unsigned char *want = calloc(info.max_peers, 1);
	struct client *w = NULL;
	uint64_t deadline = now_ms() + 10000;
	uint32_t gen;

	if (!t || !want)
		die("calloc");
	for (unsigned int i = 0; i < nclients; i++) {
		if (clients[i].sock < 0 || !clients[i].epoch)
			continue;
		want[clients[i].id] = 1;
		if (!w)
			w = &clients[i];
	}
	/* The server has seen every close once the witness was told of it. */
	for (;;) {
		bool done = true;

		if (w) {
			if (client_drain(w) < 0) {
				fail(F_QUIESCENT, "the witness %d was dropped", w->id);
				goto out;
			}
			for (uint32_t i = 0; i < info.max_peers && done; i++)
				done = (i == (uint32_t)w->id) || w->known[i] == want[i];
		} else if (snapshot(t, NULL) == 0) {
			/* Nobody to tell: wait for the table to empty. */
			for (uint32_t i = 0; i < info.max_peers && done; i++)
				done = t[i].state == IVSHMEM_REGION_PEER_ABSENT;
		}
		if (done)
			break;
		if (now_ms() > deadline) {
			fail(F_QUIESCENT, "round %u: the server did not catch up in 10 s", round);
			goto out;
		}
		usleep(1000);
	}
	/* The rings of the last changes follow the notices within microseconds. */
	usleep(20000);
	if (snapshot(t, &gen) < 0) {
		fail(F_QUIESCENT, "no snapshot");
		goto out;
	}
	for (uint32_t i = 0; i < info.max_peers; i++) {
		bool present = t[i].state == IVSHMEM_REGION_PEER_PRESENT;

		if (present != (bool)want[i] || (present && t[i].epoch != atomic_load(&mine[i])))
			fail(F_QUIESCENT, "round %u, generation %u: ID %u is (%u, %u), its client "
			     "%s (epoch %u)", round, gen, i, t[i].epoch, t[i].state,
			     want[i] ? "is connected" : "is not", atomic_load(&mine[i]));
	}
	/* The table changed since the last round: everyone there then was rung. */
	deadline = now_ms() + 2000;
	for (unsigned int i = 0; i < nclients; i++) {
		struct client *c = &clients[i];
		struct pollfd p;
		uint64_t count;

		if (c->sock < 0 || !c->epoch)
			continue;
		p = (struct pollfd){ .fd = c->own[pvec], .events = POLLIN };
		if (c->round + 1 < round && gen != *last_gen) {
			uint64_t now = now_ms();

			if (poll(&p, 1, now < deadline ? (int)(deadline - now) : 0) != 1) {
				fail(F_RUNG, "round %u: peer %d, connected since round %u, was not "
				     "rung (generation %u to %u)", round, c->id, c->round, *last_gen,
				     gen);
				continue;
			}
			atomic_fetch_add(&n_rings, 1);
		}
		/* Clear it for the next round (a newcomer may have been rung too). */
		if (read(c->own[pvec], &count, sizeof(count)) < 0 && errno != EAGAIN)
			die("read eventfd");
	}
	*last_gen = gen;
out:
	free(t);
	free(want);
}

static void end_check(void)
{
	struct ivshmem_region_peer *t = calloc(info.max_peers, sizeof(*t));
	uint64_t deadline = now_ms() + 10000;

	if (!t)
		die("calloc");
	for (;;) {
		bool empty = snapshot(t, NULL) == 0;

		for (uint32_t i = 0; i < info.max_peers && empty; i++)
			empty = t[i].state == IVSHMEM_REGION_PEER_ABSENT;
		if (empty)
			break;
		if (now_ms() > deadline) {
			fail(F_END, "the table is not empty 10 s after every peer left");
			break;
		}
		usleep(10000);
	}
	free(t);
}

static int test_no;

static void report(int kind, const char *name)
{
	unsigned int n = atomic_load(&failures[kind]);

	printf("%sok %d - %s\n", n ? "not " : "", ++test_no, name);
	if (n)
		printf("#   %u failures, the first: %s\n", n, fail_msg[kind]);
}

int main(int argc, char **argv)
{
	struct client probe = { .seed = 1 };
	pthread_t *threads, rd;
	unsigned char *mem;
	unsigned int seconds, round = 0;
	uint32_t last_gen;
	uint64_t end;
	struct stat st;
	int memfd;

	if (argc != 6) {
		fprintf(stderr, "usage: %s SOCKET VECTORS SECONDS CLIENTS THREADS\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	sock_path = argv[1];
	vectors = (unsigned int)atoi(argv[2]);
	seconds = (unsigned int)atoi(argv[3]);
	nclients = (unsigned int)atoi(argv[4]);
	nthreads = (unsigned int)atoi(argv[5]);
	if (!vectors || !nclients || !nthreads || nthreads > nclients) {
		fprintf(stderr, "%s: bad arguments\n", argv[0]);
		return 2;
	}

	/* A first peer gets the memory, and leaves. */
	probe.own = calloc(vectors, sizeof(int));
	probe.known = calloc(IVSHMEM_REGION_PEERS_MAX, 1);
	if (!probe.own || !probe.known)
		die("calloc");
	info.max_peers = IVSHMEM_REGION_PEERS_MAX;
	memfd = client_connect(&probe, 0, true);
	if (memfd < 0) {
		printf("Bail out! cannot connect: %s\n", fail_msg[F_CLIENT]);
		return 1;
	}
	if (fstat(memfd, &st) < 0)
		die("fstat");
	mem = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	close(memfd);
	page = mem + st.st_size - IVSHMEM_REGION_PAGE;
	if (region_parse(page, (uint64_t)st.st_size, &info) < 0 ||
	    !(info.flags & IVSHMEM_REGION_F_PRESENCE) || info.presence_vector >= vectors) {
		printf("Bail out! no region header with a presence table and vector\n");
		return 1;
	}
	table = mem + st.st_size - info.header_size;
	pvec = info.presence_vector;
	client_close(&probe);
	free(probe.own);
	free(probe.known);
	n_connects = n_closes = 0;

	mine = calloc(info.max_peers, sizeof(*mine));
	last_epoch = calloc(info.max_peers, sizeof(*last_epoch));
	clients = calloc(nclients, sizeof(*clients));
	threads = calloc(nthreads, sizeof(*threads));
	if (!mine || !last_epoch || !clients || !threads)
		die("calloc");
	for (unsigned int i = 0; i < nclients; i++) {
		clients[i].sock = -1;
		clients[i].seed = i + 1;
		clients[i].own = calloc(vectors, sizeof(int));
		clients[i].known = calloc(info.max_peers, 1);
		if (!clients[i].own || !clients[i].known)
			die("calloc");
	}
	pthread_barrier_init(&parked, NULL, nthreads + 1);
	pthread_barrier_init(&resume, NULL, nthreads + 1);
	last_gen = region_generation(page);
	if (pthread_create(&rd, NULL, reader, NULL))
		die("pthread_create");
	for (unsigned int i = 0; i < nthreads; i++)
		if (pthread_create(&threads[i], NULL, worker, (void *)(uintptr_t)i))
			die("pthread_create");

	end = now_ms() + seconds * 1000ULL;
	while (now_ms() < end) {
		usleep(ROUND_MS * 1000);
		atomic_store(&quiesce, true);
		pthread_barrier_wait(&parked);
		atomic_store(&quiesce, false);
		quiescent_check(++round, &last_gen);
		atomic_store(&n_rounds, round);
		pthread_barrier_wait(&resume);
	}
	atomic_store(&stop_all, true);
	for (unsigned int i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	end_check();
	pthread_join(rd, NULL);

	printf("# %lu connects, %lu closes, %lu IDs came back, %lu snapshots, %u quiescent "
	       "points, %lu rings checked\n", atomic_load(&n_connects), atomic_load(&n_closes),
	       atomic_load(&n_reused), atomic_load(&n_snapshots), round,
	       atomic_load(&n_rings));
	if (atomic_load(&n_snapshots) < 100 || round < 3 || !atomic_load(&n_reused) ||
	    !atomic_load(&n_rings))
		fail(F_CLIENT, "too little happened to judge");
	report(F_CLIENT, "every client connected and was served");
	report(F_SNAPSHOT, "every snapshot consistent: no torn change, generation never back, "
	       "epochs distinct");
	report(F_CONNECTED, "a connected peer is present, with its epoch, in every snapshot");
	report(F_OWN, "a peer that knows its ID finds itself present");
	report(F_EPOCH, "an ID that comes back has a new epoch");
	report(F_QUIESCENT, "at quiescent points the table holds exactly the connected peers");
	report(F_RUNG, "peers connected before a change have their presence vector rung");
	report(F_END, "the table is empty once every peer left");
	for (unsigned int i = 0; i < nclients; i++) {
		free(clients[i].own);
		free(clients[i].known);
	}
	free(clients);
	free(threads);
	free((void *)mine);
	free((void *)last_epoch);
	munmap(mem, (size_t)st.st_size);
	return 0;
}
