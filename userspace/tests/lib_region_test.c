// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lib_region_test - libivshmem and the region header, against a real
 * ivshmem-server
 *
 *   lib_region_test api SOCK          ivshmem_region_info() and
 *                                     ivshmem_peer_epoch() on host peers,
 *                                     the header written here with region.c
 *   lib_region_test guest SOCK        the guest side (ivshmem_peers(),
 *                                     ivshmem_fd(), ivshmem_dispatch(),
 *                                     ivshmem_wait()) on a guest-like handle:
 *                                     a backend of this file that reaches the
 *                                     memory and vectors through a host peer
 *   lib_region_test server SOCK       the same against a server that keeps
 *                                     the header itself (--label X
 *                                     --presence --presence-vector 1)
 *   lib_region_test fuzz SOCK SECS    a writer thread corrupts the header
 *                                     and table while readers call every
 *                                     function on a host and a guest-like
 *                                     handle: documented results only, each
 *                                     call in bounded time
 *   lib_region_test parse-fuzz N      region_parse() and
 *                                     region_read_presence() on N random
 *                                     pages
 *   lib_region_test header SPEC LABEL MAXPEERS VECTOR [ID:EPOCH:STATE...]
 *                                     write a header into a server's memory
 *                                     (LABEL, VECTOR "-" for none), for the
 *                                     tools' tests
 *   lib_region_test corrupt SPEC      make that header corrupt (its version)
 *
 * The test modes print "ok - name" / "not ok - name: detail" lines
 * (tests/run.py numbers them) and exit 1 if any failed.  Built with the
 * library's objects (ASan/UBSan), so that the guest-like handle can be made
 * from the inside.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "handle.h"
#include "header.h"
#include "libivshmem.h"
#include "region.h"

#define PAGE		IVSHMEM_REGION_PAGE
#define HDR_OFF(f)	offsetof(struct ivshmem_region_header, f)


static struct ivshmem *open_or_die(const char *spec)
{
	struct ivshmem *dev;
	int ret = ivshmem_open(spec, &dev);

	if (ret < 0) {
		printf("not ok - open %s: %s\n", spec, ivshmem_strerror(ret));
		exit(1);
	}
	return dev;
}

/* ------------------------------------------------ the memory, as a writer */

/*
 * struct region - the whole shared memory, mapped by this test, and what
 * a writer of the header keeps: its own copy of the generation.
 */
struct region {
	struct ivshmem *dev;
	char *mem;
	uint64_t size;
	uint32_t header_size;
	uint32_t gen;
};

static void region_open(struct region *r, const char *spec)
{
	int ret;

	memset(r, 0, sizeof(*r));
	r->dev = open_or_die(spec);
	r->size = ivshmem_size(r->dev);
	ret = ivshmem_map(r->dev, 0, 0, IVSHMEM_MAP_DEFAULT, (void **)&r->mem);
	if (ret < 0) {
		printf("not ok - map %s: %s\n", spec, ivshmem_strerror(ret));
		exit(1);
	}
}

static void region_close(struct region *r)
{
	ivshmem_unmap(r->mem, r->size);
	ivshmem_close(r->dev);
}

static char *page_of(struct region *r)
{
	return r->mem + r->size - PAGE;
}

static char *table_of(struct region *r)
{
	return r->mem + r->size - r->header_size;
}

/* A fresh header: @label NULL for none, @max_peers 0 for no table. */
static void write_header(struct region *r, const char *label, uint32_t max_peers,
			 uint32_t vector, uint64_t instance)
{
	struct region_info ri = { 0 };

	ri.size = r->size;
	ri.max_peers = max_peers;
	ri.header_size = region_header_size(max_peers);
	ri.flags = (label ? IVSHMEM_REGION_F_LABEL : 0) |
		   (max_peers ? IVSHMEM_REGION_F_PRESENCE : 0);
	ri.presence_vector = vector;
	ri.instance = instance;
	if (label)
		snprintf(ri.label, sizeof(ri.label), "%s", label);
	r->header_size = ri.header_size;
	r->gen = 0;
	region_write(page_of(r), max_peers ? table_of(r) : NULL, &ri);
}

static void set_peer(struct region *r, uint32_t id, uint32_t epoch, uint32_t state)
{
	region_update_begin(page_of(r), &r->gen);
	region_set_peer(table_of(r), id, epoch, state);
	region_update_end(page_of(r), &r->gen);
}

/* Scribble as a hostile peer would: one field, any value. */
static void poke32(struct region *r, size_t off, uint32_t v)
{
	__atomic_store_n((uint32_t *)(page_of(r) + off), v, __ATOMIC_RELAXED);
}

static void poke64(struct region *r, size_t off, uint64_t v)
{
	__atomic_store_n((uint64_t *)(page_of(r) + off), v, __ATOMIC_RELAXED);
}

/* ---------------------------------------- a guest-like handle, for tests */

/*
 * A backend of this test: a handle that the library takes for a guest's
 * (no ops->dispatch, no ops->peers: ivshmem_peers(), ivshmem_fd() and
 * ivshmem_dispatch() go through the region header), reaching the memory
 * and the vectors through a host peer.  Its own vectors are rung by
 * ringing that host peer.
 */
struct fake_dev {
	struct ivshmem dev;
	struct ivshmem *host;
};

static struct ivshmem *host_of(struct ivshmem *dev)
{
	return container_of(dev, struct fake_dev, dev)->host;
}

static void fake_close(struct ivshmem *dev)
{
	struct fake_dev *f = container_of(dev, struct fake_dev, dev);

	ivshmem_close(f->host);
	ivshmem_dev_fini(dev);
	free(f);
}

static int fake_map(struct ivshmem *dev, uint64_t off, size_t len, enum ivshmem_map_mode mode,
		    void **addr)
{
	return ivshmem_map(host_of(dev), off, len, mode, addr);
}

static int fake_ring(struct ivshmem *dev, unsigned int peer, unsigned int vector)
{
	return ivshmem_ring(host_of(dev), peer, vector);
}

static int fake_vector_fd(struct ivshmem *dev, unsigned int vector)
{
	return ivshmem_vector_fd(host_of(dev), vector);
}

static int fake_ack(struct ivshmem *dev, unsigned int vector, int fd, uint64_t *count)
{
	(void)fd;
	return ivshmem_vector_ack(host_of(dev), vector, count);
}

static const struct ivshmem_ops fake_ops = {
	.backend = IVSHMEM_BACKEND_CHAR,
	.close = fake_close,
	.map = fake_map,
	.ring = fake_ring,
	.vector_fd = fake_vector_fd,
	.ack = fake_ack,
};

/* Open as ivshmem_open() opens a guest's device, look included. */
static struct ivshmem *fake_open(const char *spec, bool with_id)
{
	struct fake_dev *f = calloc(1, sizeof(*f));

	if (!f || ivshmem_dev_init(&f->dev, &fake_ops, "guest-like") < 0) {
		printf("not ok - guest-like handle: out of memory\n");
		exit(1);
	}
	f->host = open_or_die(spec);
	f->dev.size = ivshmem_size(f->host);
	f->dev.id = with_id ? ivshmem_id(f->host) : -1;
	f->dev.vectors = ivshmem_vectors(f->host);
	f->dev.doorbell = true;
	f->dev.memtype = IVSHMEM_MEM_WB;
	ivshmem_header_look(&f->dev);
	return &f->dev;
}

/* Ring a guest-like handle's own vector, as the server would. */
static void ring_self(struct ivshmem *g, unsigned int vector)
{
	ivshmem_ring(host_of(g), (unsigned int)ivshmem_id(host_of(g)), vector);
}

static bool readable(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, timeout_ms) > 0 && (pfd.revents & POLLIN);
}

/* ivshmem_peers() as a string: "1 4 7", or "error N". */
static const char *peers_str(struct ivshmem *dev, char *buf, size_t len)
{
	unsigned int ids[64];
	int n = ivshmem_peers(dev, ids, 64);
	size_t used = 0;

	if (n < 0) {
		snprintf(buf, len, "error %d", n);
		return buf;
	}
	buf[0] = '\0';
	for (int i = 0; i < n && i < 64 && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%u", i ? " " : "", ids[i]);
	return buf;
}

/* --------------------------------------------------------------- api */

static int test_api(const char *spec)
{
	struct ivshmem *a = open_or_die(spec), *b;
	struct ivshmem_region info;
	struct region r;
	uint32_t epoch;
	uint64_t size;
	int64_t t0;
	int ret;

	region_open(&r, spec);
	size = r.size;
	ret = ivshmem_region_info(a, &info);
	check_ret(ret, -ENOMSG, "a region without header: ivshmem_region_info() gives -ENOMSG");
	check(strcmp(ivshmem_strerror(-ENOMSG), "The region has no ivshmem header") == 0,
	      "ivshmem_strerror(-ENOMSG) says the region has no header", "%s",
	      ivshmem_strerror(-ENOMSG));
	check(strcmp(ivshmem_strerror(-EBADMSG), "The region's header is corrupt") == 0,
	      "ivshmem_strerror(-EBADMSG) says the header is corrupt", "%s",
	      ivshmem_strerror(-EBADMSG));
	check_ret(ivshmem_peer_epoch(a, 0, &epoch), -ENOMSG,
		  "without header: ivshmem_peer_epoch() gives -ENOMSG");
	check_ret(ivshmem_peer_epoch(a, 65536, &epoch), -EINVAL,
		  "ivshmem_peer_epoch() of peer 65536: -EINVAL");
	check_ret(ivshmem_region_info(a, NULL), -EINVAL, "ivshmem_region_info(NULL): -EINVAL");
	check(ivshmem_fd(a) >= 0 && ivshmem_dispatch(a) >= 0 && ivshmem_peers(a, NULL, 0) >= 0,
	      "the host backend's ivshmem_fd(), _dispatch() and _peers() are the server's",
	      "fd %d", ivshmem_fd(a));

	/* A label, no table (what ivshmem-label writes). */
	write_header(&r, "db-cache", 0, IVSHMEM_REGION_NO_VECTOR, 0x1234567890abcdefULL);
	memset(&info, 0xff, sizeof(info));
	ret = ivshmem_region_info(a, &info);
	check_ret(ret, 0, "a label header: ivshmem_region_info() reads it");
	check(strcmp(info.label, "db-cache") == 0 && info.header_size == PAGE &&
	      info.header_offset == size - PAGE && info.max_peers == 0 &&
	      info.presence_vector == -1 && info.instance == 0x1234567890abcdefULL &&
	      !info.reserved[0] && !info.reserved[1] && !info.reserved[2] && !info.reserved[3],
	      "label, offset, size, no table, no vector, instance, reserved zero",
	      "label '%s' size %" PRIu64 " off %" PRIu64 " peers %u vector %d instance %" PRIx64,
	      info.label, info.header_size, info.header_offset, info.max_peers,
	      info.presence_vector, info.instance);
	check_ret(ivshmem_peer_epoch(a, 0, &epoch), -ENOMSG,
		  "a header without table: ivshmem_peer_epoch() gives -ENOMSG");
	b = open_or_die(spec);
	ret = ivshmem_region_info(b, &info);
	check(ret == 0 && strcmp(info.label, "db-cache") == 0,
	      "another peer reads the same label", "ret %d label '%s'", ret, info.label);

	/* Read again at every call. */
	write_header(&r, "renamed", 0, IVSHMEM_REGION_NO_VECTOR, 7);
	ret = ivshmem_region_info(a, &info);
	check(ret == 0 && strcmp(info.label, "renamed") == 0 && info.instance == 7,
	      "a rewritten header is seen at the next call", "ret %d label '%s'", ret,
	      info.label);
	write_header(&r, NULL, 0, IVSHMEM_REGION_NO_VECTOR, 8);
	ret = ivshmem_region_info(a, &info);
	check(ret == 0 && info.label[0] == '\0', "a header without label: label \"\"",
	      "ret %d label '%s'", ret, info.label);

	/* A table of 16, vector 2. */
	write_header(&r, "t", 16, 2, 9);
	ret = ivshmem_region_info(a, &info);
	check(ret == 0 && info.max_peers == 16 && info.presence_vector == 2 &&
	      info.header_size == 2 * PAGE && info.header_offset == size - 2 * PAGE,
	      "a table of 16: max_peers, presence vector, header_size two pages",
	      "ret %d peers %u vector %d size %" PRIu64, ret, info.max_peers,
	      info.presence_vector, info.header_size);
	epoch = 99;
	ret = ivshmem_peer_epoch(a, 3, &epoch);
	check(ret == 0 && epoch == 0, "a peer never seen: absent, epoch 0", "ret %d epoch %u",
	      ret, epoch);
	set_peer(&r, 3, 7, IVSHMEM_REGION_PEER_PRESENT);
	ret = ivshmem_peer_epoch(a, 3, &epoch);
	check(ret == 1 && epoch == 7, "a peer present: 1, its epoch", "ret %d epoch %u", ret,
	      epoch);
	check_ret(ivshmem_peer_epoch(b, 3, NULL), 1, "ivshmem_peer_epoch() with a NULL epoch");
	set_peer(&r, 3, 7, IVSHMEM_REGION_PEER_ABSENT);
	ret = ivshmem_peer_epoch(a, 3, &epoch);
	check(ret == 0 && epoch == 7, "a peer that left: 0, its last epoch", "ret %d epoch %u",
	      ret, epoch);
	set_peer(&r, 15, 1, IVSHMEM_REGION_PEER_PRESENT);
	check_ret(ivshmem_peer_epoch(a, 15, &epoch), 1, "the last entry of the table");
	check_ret(ivshmem_peer_epoch(a, 16, &epoch), -EINVAL,
		  "a peer beyond the table: -EINVAL");
	check(ivshmem_peers(a, NULL, 0) >= 0, "the host's ivshmem_peers() is still the server's",
	      "n=%d", ivshmem_peers(a, NULL, 0));

	/* A larger table lies elsewhere: the handle maps it again. */
	write_header(&r, "big", 1000, IVSHMEM_REGION_NO_VECTOR, 10);
	set_peer(&r, 999, 42, IVSHMEM_REGION_PEER_PRESENT);
	ret = ivshmem_peer_epoch(a, 999, &epoch);
	check(ret == 1 && epoch == 42, "a table that grew to 1000 entries is mapped again",
	      "ret %d epoch %u", ret, epoch);
	write_header(&r, "small", 4, 0, 11);
	set_peer(&r, 1, 5, IVSHMEM_REGION_PEER_PRESENT);
	ret = ivshmem_peer_epoch(a, 1, &epoch);
	check(ret == 1 && epoch == 5, "and one that shrank back", "ret %d epoch %u", ret, epoch);
	check_ret(ivshmem_peer_epoch(a, 4, &epoch), -EINVAL, "entry 4 of 4 is beyond it");

	/* Corruption, field by field. */
	poke32(&r, HDR_OFF(version), 2);
	check_ret(ivshmem_region_info(a, &info), -EBADMSG, "another version: -EBADMSG");
	check_ret(ivshmem_peer_epoch(a, 1, &epoch), -EBADMSG,
		  "another version: ivshmem_peer_epoch() -EBADMSG too");
	poke32(&r, HDR_OFF(version), IVSHMEM_REGION_VERSION);
	poke64(&r, HDR_OFF(region_size), size * 2);
	check_ret(ivshmem_region_info(a, &info), -EBADMSG, "a header for another size: -EBADMSG");
	poke64(&r, HDR_OFF(region_size), size);
	poke32(&r, HDR_OFF(header_size), (uint32_t)size);
	check_ret(ivshmem_region_info(a, &info), -EBADMSG, "header_size == size: -EBADMSG");
	poke32(&r, HDR_OFF(header_size), PAGE + 1);
	check_ret(ivshmem_region_info(a, &info), -EBADMSG, "header_size not in pages: -EBADMSG");
	poke32(&r, HDR_OFF(header_size), 2 * PAGE);
	poke32(&r, HDR_OFF(max_peers), 0xffffffffu);
	check_ret(ivshmem_peer_epoch(a, 1, &epoch), -EBADMSG, "max_peers 2^32-1: -EBADMSG");
	poke32(&r, HDR_OFF(max_peers), 513);
	check_ret(ivshmem_peer_epoch(a, 1, &epoch), -EBADMSG,
		  "a table larger than the header: -EBADMSG");
	poke32(&r, HDR_OFF(max_peers), 4);
	poke32(&r, HDR_OFF(presence_vector), 65536);
	check_ret(ivshmem_region_info(a, &info), -EBADMSG, "presence vector 65536: -EBADMSG");
	poke32(&r, HDR_OFF(presence_vector), 0);
	memset(page_of(&r) + HDR_OFF(label), 'x', IVSHMEM_REGION_LABEL_MAX);
	check_ret(ivshmem_region_info(a, &info), -EBADMSG, "a label without NUL: -EBADMSG");
	memset(page_of(&r) + HDR_OFF(label), 0, IVSHMEM_REGION_LABEL_MAX);
	check_ret(ivshmem_region_info(a, &info), -EBADMSG, "an empty label with F_LABEL: -EBADMSG");
	memcpy(page_of(&r) + HDR_OFF(label), "small", 5);
	check_ret(ivshmem_region_info(a, &info), 0, "repaired, the header reads again");
	poke32(&r, HDR_OFF(flags), 0xfffffffcu | IVSHMEM_REGION_F_PRESENCE | IVSHMEM_REGION_F_LABEL);
	check_ret(ivshmem_region_info(a, &info), 0, "unknown flags are ignored");
	region_set_peer(table_of(&r), 2, 3, 7);
	check_ret(ivshmem_peer_epoch(a, 2, &epoch), -EBADMSG, "a state out of range: -EBADMSG");
	check_ret(ivshmem_peer_epoch(a, 1, &epoch), 1, "the entries beside it still read");
	region_set_peer(table_of(&r), 2, 0, 0);
	poke32(&r, HDR_OFF(generation), 1);	/* a writer stuck halfway */
	t0 = now_ms();
	check_ret(ivshmem_peer_epoch(a, 1, &epoch), -EAGAIN,
		  "a generation stuck odd: -EAGAIN");
	check(now_ms() - t0 < 2000, "and it gives up in bounded time", "%" PRId64 " ms",
	      now_ms() - t0);
	check_ret(ivshmem_region_info(a, &info), 0, "the header itself still reads");
	poke32(&r, HDR_OFF(generation), 2);
	check_ret(ivshmem_peer_epoch(a, 1, &epoch), 1, "an even generation reads again");
	poke64(&r, HDR_OFF(magic), 0);
	check_ret(ivshmem_region_info(a, &info), -ENOMSG, "no magic: no header");
	check_ret(ivshmem_peer_epoch(a, 1, &epoch), -ENOMSG, "no magic: no table");

	ivshmem_close(b);
	ivshmem_close(a);
	region_close(&r);
	return failures ? 1 : 0;
}

/* -------------------------------------------------------------- guest */

static int test_guest(const char *spec)
{
	struct ivshmem *g = fake_open(spec, true), *anon;
	struct ivshmem_region info;
	struct ivshmem_irq irq;
	unsigned int own, pv = 1, vec;
	struct region r;
	char buf[256], want[64];
	int ret, fd;

	region_open(&r, spec);
	own = (unsigned int)ivshmem_id(g);
	check(ivshmem_backend(g) != IVSHMEM_BACKEND_HOST && ivshmem_vectors(g) >= 3,
	      "a guest-like handle with the server's vectors", "vectors %u",
	      ivshmem_vectors(g));
	check_ret(ivshmem_peers(g, NULL, 0), -ENOMSG, "no header: ivshmem_peers() -ENOMSG");
	check_ret(ivshmem_fd(g), -ENOMSG, "no header: ivshmem_fd() -ENOMSG");
	check_ret(ivshmem_dispatch(g), -ENOMSG, "no header: ivshmem_dispatch() -ENOMSG");

	write_header(&r, "guests", 8, pv, 1);
	set_peer(&r, own, 1, IVSHMEM_REGION_PEER_PRESENT);
	set_peer(&r, 5, 3, IVSHMEM_REGION_PEER_PRESENT);
	check(strcmp(peers_str(g, buf, sizeof(buf)), "5") == 0,
	      "ivshmem_peers() lists the present IDs but its own", "got '%s' (own %u)", buf, own);
	check_ret(ivshmem_peers(g, NULL, 0), 1, "ivshmem_peers(NULL, 0) counts them");
	check_ret(ivshmem_peers(g, NULL, 1), -EINVAL, "ivshmem_peers(NULL, 1): -EINVAL");
	fd = ivshmem_fd(g);
	check(fd >= 0 && fd == ivshmem_vector_fd(g, pv),
	      "ivshmem_fd() is the presence vector's descriptor", "fd %d, vector fd %d", fd,
	      ivshmem_vector_fd(g, pv));
	check_ret(ivshmem_dispatch(g), 2, "the first dispatch counts what changed since the open");
	check_ret(ivshmem_dispatch(g), 0, "a second one, nothing");

	/* A peer leaves, another comes; the presence vector rings. */
	set_peer(&r, 5, 3, IVSHMEM_REGION_PEER_ABSENT);
	set_peer(&r, 6, 4, IVSHMEM_REGION_PEER_PRESENT);
	ring_self(g, pv);
	check(readable(fd, 5000), "the presence vector's ring makes ivshmem_fd() readable", "-");
	check_ret(ivshmem_dispatch(g), 2, "ivshmem_dispatch() counts the two changes");
	check(!readable(fd, 0), "and consumed the ring", "-");
	check(strcmp(peers_str(g, buf, sizeof(buf)), "6") == 0, "ivshmem_peers() follows",
	      "got '%s'", buf);
	/* The same ID with a new epoch is a change, too. */
	set_peer(&r, 6, 9, IVSHMEM_REGION_PEER_PRESENT);
	check_ret(ivshmem_dispatch(g), 1, "a new epoch for a present ID counts");

	/* ivshmem_wait() hands out the presence vector like any other. */
	set_peer(&r, 7, 1, IVSHMEM_REGION_PEER_PRESENT);
	ring_self(g, pv);
	ret = ivshmem_wait(g, NULL, 0, 5000, &irq);
	check(ret == 0 && irq.vector == pv, "ivshmem_wait() returns the presence vector",
	      "ret %d vector %u", ret, irq.vector);
	check_ret(ivshmem_dispatch(g), 1, "after it, ivshmem_dispatch() sees the change");
	vec = 0;
	ring_self(g, 0);
	ret = ivshmem_wait(g, &vec, 1, 5000, &irq);
	check(ret == 0 && irq.vector == 0, "other vectors are unaffected", "ret %d", ret);

	/* Corrupt: errors, and the previous look stays. */
	region_set_peer(table_of(&r), 2, 1, 5);
	check_ret(ivshmem_peers(g, NULL, 0), -EBADMSG, "a corrupt entry: ivshmem_peers() -EBADMSG");
	check_ret(ivshmem_dispatch(g), -EBADMSG, "and ivshmem_dispatch() -EBADMSG");
	region_set_peer(table_of(&r), 2, 0, IVSHMEM_REGION_PEER_ABSENT);
	set_peer(&r, 7, 1, IVSHMEM_REGION_PEER_ABSENT);
	check_ret(ivshmem_dispatch(g), 1, "repaired: counted from the look before the corruption");
	poke32(&r, HDR_OFF(generation), 3);
	check_ret(ivshmem_peers(g, NULL, 0), -EAGAIN, "a stuck writer: ivshmem_peers() -EAGAIN");
	check_ret(ivshmem_dispatch(g), -EAGAIN, "and ivshmem_dispatch() -EAGAIN");
	poke32(&r, HDR_OFF(generation), 4);
	r.gen = 4;
	poke32(&r, HDR_OFF(version), 99);
	check_ret(ivshmem_fd(g), -EBADMSG, "a corrupt header: ivshmem_fd() -EBADMSG");
	poke32(&r, HDR_OFF(version), IVSHMEM_REGION_VERSION);

	/* No usable presence vector: no descriptor, but dispatch reads. */
	poke32(&r, HDR_OFF(presence_vector), IVSHMEM_REGION_NO_VECTOR);
	check_ret(ivshmem_fd(g), -EOPNOTSUPP, "no presence vector: ivshmem_fd() -EOPNOTSUPP");
	set_peer(&r, 1, 2, IVSHMEM_REGION_PEER_PRESENT);
	check_ret(ivshmem_dispatch(g), 1, "ivshmem_dispatch() still reads the table");
	poke32(&r, HDR_OFF(presence_vector), ivshmem_vectors(g));
	check_ret(ivshmem_fd(g), -EOPNOTSUPP, "a presence vector beyond own vectors: -EOPNOTSUPP");
	check_ret(ivshmem_dispatch(g), 0, "ivshmem_dispatch() then reads without ringing");

	/* A smaller table: the entries past it are gone. */
	snprintf(want, sizeof(want), "%u", own);
	write_header(&r, "guests", own + 1, pv, 2);
	set_peer(&r, own, 1, IVSHMEM_REGION_PEER_PRESENT);
	ret = ivshmem_dispatch(g);
	check(ret >= 1, "a new, smaller table: every entry that differs counts", "ret %d", ret);
	check(strcmp(peers_str(g, buf, sizeof(buf)), "") == 0, "only own ID is left: no peers",
	      "got '%s'", buf);
	ret = ivshmem_region_info(g, &info);
	check(ret == 0 && info.max_peers == own + 1 && info.presence_vector == (int)pv,
	      "ivshmem_region_info() on the guest-like handle", "ret %d", ret);

	/* A handle without own ID lists every present ID. */
	anon = fake_open(spec, false);
	check(strcmp(peers_str(anon, buf, sizeof(buf)), want) == 0,
	      "without own ID, ivshmem_peers() lists all present IDs", "got '%s'", buf);
	check_ret(ivshmem_dispatch(anon), 0, "the open was a look: nothing changed since");
	ivshmem_close(anon);

	/* The header goes away. */
	poke64(&r, HDR_OFF(magic), 0);
	check_ret(ivshmem_peers(g, NULL, 0), -ENOMSG, "the header cleared: -ENOMSG again");
	ivshmem_close(g);
	region_close(&r);
	return failures ? 1 : 0;
}

/* ------------------------------------------------- the server's header */

/* Dispatch until @dev sees (or no longer sees) peer @id, or 5 s pass. */
static bool await_peer(struct ivshmem *dev, unsigned int id, bool present)
{
	int64_t deadline = now_ms() + 5000;

	for (;;) {
		unsigned int ids[64];
		int n = ivshmem_peers(dev, ids, 64);
		bool seen = false;

		for (int i = 0; i < n && i < 64; i++)
			seen |= ids[i] == id;
		if (seen == present)
			return true;
		if (now_ms() > deadline)
			return false;
		if (readable(ivshmem_fd(dev), 100))
			ivshmem_dispatch(dev);
	}
}

static int test_server(const char *spec, const char *label, unsigned int pv)
{
	struct ivshmem *a = open_or_die(spec), *b, *g;
	struct ivshmem_region info;
	uint32_t e1 = 0, e2 = 0, ea = 0;
	struct ivshmem_irq irq;
	char hb[256], gb[256];
	int ret, idb;

	ret = ivshmem_region_info(a, &info);
	check(ret == 0 && strcmp(info.label, label) == 0 && info.max_peers > 0 &&
	      info.presence_vector == (int)pv,
	      "the server's header: its label, a table, the presence vector",
	      "ret %d label '%s' peers %u vector %d", ret, info.label, info.max_peers,
	      info.presence_vector);
	ret = ivshmem_peer_epoch(a, (unsigned int)ivshmem_id(a), &ea);
	check(ret == 1 && ea != 0, "a connected peer finds itself present, epoch not 0",
	      "ret %d epoch %u", ret, ea);
	b = open_or_die(spec);
	idb = ivshmem_id(b);
	check(await_peer(a, (unsigned int)idb, true), "the first peer learns of the second", "-");
	ret = ivshmem_peer_epoch(a, (unsigned int)idb, &e1);
	check(ret == 1 && e1 != 0 && e1 != ea,
	      "the table had it before the server said so: present, an epoch of its own",
	      "ret %d epoch %u", ret, e1);
	ret = ivshmem_wait(a, &pv, 1, 5000, &irq);
	check(ret == 0 && irq.vector == pv, "the server rang the presence vector", "ret %d", ret);
	g = fake_open(spec, true);
	check(strcmp(peers_str(g, gb, sizeof(gb)), peers_str(host_of(g), hb, sizeof(hb))) == 0,
	      "a guest reads from the table the peers the server announces", "table '%s', "
	      "server '%s'", gb, hb);
	ivshmem_close(b);
	check(await_peer(a, (unsigned int)idb, false), "the first peer learns it left", "-");
	ret = ivshmem_peer_epoch(a, (unsigned int)idb, &e2);
	check(ret == 0 && e2 == e1, "a peer that left: absent, the same epoch", "ret %d epoch %u",
	      ret, e2);
	ret = ivshmem_dispatch(g);
	check(ret >= 1, "the guest's dispatch counts the change", "ret %d", ret);
	b = open_or_die(spec);
	if (ivshmem_id(b) == idb) {
		await_peer(a, (unsigned int)idb, true);
		ret = ivshmem_peer_epoch(a, (unsigned int)idb, &e2);
		check(ret == 1 && e2 != e1, "an ID used again gets a new epoch", "ret %d epoch %u",
		      ret, e2);
	}
	ivshmem_close(b);
	ivshmem_close(g);
	ivshmem_close(a);
	return failures ? 1 : 0;
}

/* --------------------------------------------------------------- fuzz */

static uint64_t rng_state;

/* xorshift64*, per thread through the pointer */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static uint32_t rnd_below(uint64_t *s, uint32_t n)
{
	return n ? (uint32_t)(rnd(s) % n) : 0;
}

struct fuzz {
	struct region w;		/* the writer's memory */
	struct ivshmem *host;		/* readers: a host peer */
	struct ivshmem *guest;		/* and a guest-like handle */
	unsigned int guest_id;
	volatile bool stop;
	pthread_mutex_t lock;
	char first_bad[512];
	unsigned long bad, calls;
	/* how often the deep paths were reached */
	unsigned long info_ok, peers_ok, epoch_present, dispatch_ok, fd_ok, again;
	int64_t slowest_ms;
	char slowest[64];
};

static void sleep_us(unsigned int us)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)us * 1000 };

	nanosleep(&ts, NULL);
}

/* A valid header, of a random shape. */
static void fuzz_fresh(struct fuzz *f, uint64_t *s)
{
	static const uint32_t peers[] = { 1, 2, 16, 64, 511, 512, 513, 4096, 65535, 65536 };
	uint32_t m = peers[rnd_below(s, sizeof(peers) / sizeof(peers[0]))];
	uint32_t v = rnd_below(s, 4) == 0 ? IVSHMEM_REGION_NO_VECTOR : rnd_below(s, 3);
	char label[IVSHMEM_REGION_LABEL_MAX];

	snprintf(label, sizeof(label), "fuzz-%u", (unsigned int)rnd_below(s, 1000));
	write_header(&f->w, rnd_below(s, 2) ? label : NULL, rnd_below(s, 8) ? m : 0, v, rnd(s));
}

/* Entries changed as a server changes them, and the ring that follows. */
static void fuzz_update(struct fuzz *f, uint64_t *s)
{
	struct region *r = &f->w;
	uint32_t max = (r->header_size - PAGE) / 8;

	if (r->header_size <= PAGE)
		return;
	for (int i = 0; i < 4; i++)
		set_peer(r, rnd_below(s, max < 64 ? max : 64), (uint32_t)rnd(s), rnd_below(s, 2));
	ivshmem_ring(r->dev, f->guest_id, rnd_below(s, 2));
}

/* Damage, as a hostile or broken peer does it. */
static void fuzz_damage(struct fuzz *f, uint64_t *s)
{
	struct region *r = &f->w;

	switch (rnd_below(s, 13)) {
	case 0:				/* random bytes over the header page */
		for (int i = 0; i < 16; i++)
			page_of(r)[rnd_below(s, 160)] = (char)rnd(s);
		break;
	case 1:
		poke64(r, HDR_OFF(magic), rnd_below(s, 2) ? rnd(s) : IVSHMEM_REGION_MAGIC);
		break;
	case 2:
		poke32(r, HDR_OFF(version), rnd_below(s, 3));
		break;
	case 3: {			/* sizes: zero, odd, too large, huge */
		static const uint32_t sizes[] = { 0, 1, PAGE - 1, PAGE, PAGE + 8, 2 * PAGE,
						  1u << 19, 1u << 20, (1u << 20) - PAGE,
						  0xfffff000u, 0xffffffffu };

		poke32(r, HDR_OFF(header_size), sizes[rnd_below(s, sizeof(sizes) / 4)]);
		break;
	}
	case 4:
		poke64(r, HDR_OFF(region_size), rnd_below(s, 2) ? r->size : rnd(s));
		break;
	case 5: {
		static const uint32_t maxes[] = { 0, 1, 511, 512, 513, 65536, 65537, 0x80000000u,
						  0xffffffffu };

		poke32(r, HDR_OFF(max_peers), maxes[rnd_below(s, sizeof(maxes) / 4)]);
		break;
	}
	case 6:				/* a label without NUL, or emptied */
		memset(page_of(r) + HDR_OFF(label), rnd_below(s, 2) ? 'A' + (int)rnd_below(s, 26) : 0,
		       IVSHMEM_REGION_LABEL_MAX);
		break;
	case 7:				/* a writer stuck halfway, for a while */
		poke32(r, HDR_OFF(generation), (uint32_t)rnd(s) | 1);
		sleep_us(rnd_below(s, 20000));
		if (rnd_below(s, 2))
			poke32(r, HDR_OFF(generation), r->gen);
		break;
	case 8:				/* the counter flipping under the readers */
		for (uint32_t i = 0; i < 1000; i++)
			poke32(r, HDR_OFF(generation), r->gen + i);
		r->gen += 1000;
		break;
	case 9:				/* states out of range, epochs at random */
		if (r->header_size > PAGE)
			for (int i = 0; i < 4; i++)
				region_set_peer(table_of(r), rnd_below(s, (r->header_size - PAGE) / 8),
						(uint32_t)rnd(s), (uint32_t)rnd(s) % 4);
		break;
	case 10:
		poke32(r, HDR_OFF(presence_vector), rnd_below(s, 2) ? (uint32_t)rnd(s) :
			rnd_below(s, 70000));
		break;
	case 11:
		poke32(r, HDR_OFF(flags), (uint32_t)rnd(s));
		break;
	default:			/* no header at all */
		poke64(r, HDR_OFF(magic), 0);
		break;
	}
}

/*
 * The writer: a fresh header now and then, updates in between, damage
 * among them; paced, so that readers see whole tables as well as torn
 * and broken ones.
 */
static void *fuzz_writer(void *arg)
{
	struct fuzz *f = arg;
	uint64_t s = rng_state ^ 0x9e3779b97f4a7c15ULL;

	while (!f->stop) {
		fuzz_fresh(f, &s);
		for (int k = 0; k < 20 && !f->stop; k++) {
			uint32_t move = rnd_below(&s, 16);

			if (move < 10)
				fuzz_update(f, &s);
			else if (move < 12)
				fuzz_damage(f, &s);
			sleep_us(rnd_below(&s, 500));
		}
	}
	return NULL;
}

static bool one_of(int ret, const int *ok, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ret == ok[i])
			return true;
	return false;
}

#define ONE_OF(ret, ...) one_of((ret), (const int[]){ __VA_ARGS__ }, \
				sizeof((const int[]){ __VA_ARGS__ }) / sizeof(int))

__attribute__((format(printf, 3, 4)))
static void fuzz_note(struct fuzz *f, bool good, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&f->lock);
	f->calls++;
	if (!good) {
		if (!f->bad++) {
			va_start(ap, fmt);
			vsnprintf(f->first_bad, sizeof(f->first_bad), fmt, ap);
			va_end(ap);
		}
	}
	pthread_mutex_unlock(&f->lock);
}

static void fuzz_time(struct fuzz *f, const char *what, int64_t t0)
{
	int64_t took = now_ms() - t0;

	pthread_mutex_lock(&f->lock);
	if (took > f->slowest_ms) {
		f->slowest_ms = took;
		snprintf(f->slowest, sizeof(f->slowest), "%s", what);
	}
	pthread_mutex_unlock(&f->lock);
}

/* What a successful ivshmem_region_info() gave must be possible. */
static bool info_sane(struct ivshmem *dev, const struct ivshmem_region *i)
{
	size_t len = strnlen(i->label, sizeof(i->label));

	return len < sizeof(i->label) && i->header_size >= PAGE && i->header_size % PAGE == 0 &&
	       i->header_size < ivshmem_size(dev) &&
	       i->header_offset + i->header_size == ivshmem_size(dev) &&
	       i->max_peers <= IVSHMEM_REGION_PEERS_MAX &&
	       PAGE + 8ULL * i->max_peers <= i->header_size &&
	       i->presence_vector >= -1 && i->presence_vector <= 65535 &&
	       (i->max_peers || i->presence_vector == -1) &&
	       !i->reserved[0] && !i->reserved[1] && !i->reserved[2] && !i->reserved[3];
}

static void fuzz_read(struct fuzz *f, struct ivshmem *dev, bool guest, uint64_t *s)
{
	struct ivshmem_region info;
	struct ivshmem_irq irq;
	unsigned int peer;
	uint32_t epoch;
	int64_t t0 = now_ms();
	int ret, n;

	switch (rnd_below(s, 6)) {
	case 0:
		ret = ivshmem_region_info(dev, &info);
		fuzz_time(f, "ivshmem_region_info", t0);
		__atomic_add_fetch(&f->info_ok, ret == 0, __ATOMIC_RELAXED);
		fuzz_note(f, ONE_OF(ret, 0, -ENOMSG, -EBADMSG) && (ret || info_sane(dev, &info)),
			  "ivshmem_region_info: %d (label '%.64s' size %" PRIu64 " peers %u "
			  "vector %d)", ret, ret ? "" : info.label, ret ? 0 : info.header_size,
			  ret ? 0 : info.max_peers, ret ? 0 : info.presence_vector);
		break;
	case 1: {
		unsigned int local[64];

		ret = ivshmem_peers(dev, local, 64);
		fuzz_time(f, "ivshmem_peers", t0);
		n = ret < 64 ? ret : 64;
		for (int i = 1; i < n; i++)
			if (local[i] <= local[i - 1])
				ret = -1000;	/* not ascending */
		for (int i = 0; guest && i < n; i++)
			if (local[i] == f->guest_id || local[i] >= IVSHMEM_REGION_PEERS_MAX)
				ret = -1001;	/* own ID, or beyond any table */
		__atomic_add_fetch(&f->peers_ok, guest && ret >= 0, __ATOMIC_RELAXED);
		__atomic_add_fetch(&f->again, ret == -EAGAIN, __ATOMIC_RELAXED);
		fuzz_note(f, ret >= 0 || (guest && ONE_OF(ret, -ENOMSG, -EBADMSG, -EAGAIN)),
			  "ivshmem_peers (%s): %d", guest ? "guest" : "host", ret);
		break;
	}
	case 2:
		peer = rnd_below(s, 4) ? rnd_below(s, 70) : rnd_below(s, 70000);
		epoch = 0xdeadbeef;
		ret = ivshmem_peer_epoch(dev, peer, &epoch);
		fuzz_time(f, "ivshmem_peer_epoch", t0);
		__atomic_add_fetch(&f->epoch_present, ret == 1, __ATOMIC_RELAXED);
		fuzz_note(f, (ONE_OF(ret, 0, 1) && epoch != 0xdeadbeef) ||
			  ONE_OF(ret, -ENOMSG, -EBADMSG, -EAGAIN, -EINVAL),
			  "ivshmem_peer_epoch(%u): %d", peer, ret);
		if (peer > IVSHMEM_MAX_PEER)
			fuzz_note(f, ret == -EINVAL, "ivshmem_peer_epoch(%u): %d, not -EINVAL", peer,
				  ret);
		break;
	case 3:
		ret = ivshmem_dispatch(dev);
		fuzz_time(f, "ivshmem_dispatch", t0);
		__atomic_add_fetch(&f->dispatch_ok, guest && ret >= 0, __ATOMIC_RELAXED);
		fuzz_note(f, ret >= 0 || (guest && ONE_OF(ret, -ENOMSG, -EBADMSG, -EAGAIN)),
			  "ivshmem_dispatch (%s): %d", guest ? "guest" : "host", ret);
		if (ret > IVSHMEM_REGION_PEERS_MAX && guest)
			fuzz_note(f, false, "ivshmem_dispatch counted %d changes", ret);
		break;
	case 4:
		ret = ivshmem_fd(dev);
		fuzz_time(f, "ivshmem_fd", t0);
		__atomic_add_fetch(&f->fd_ok, guest && ret >= 0, __ATOMIC_RELAXED);
		fuzz_note(f, ret >= 0 || (guest && ONE_OF(ret, -ENOMSG, -EBADMSG, -EOPNOTSUPP)),
			  "ivshmem_fd (%s): %d", guest ? "guest" : "host", ret);
		break;
	default:
		ret = ivshmem_wait(dev, NULL, 0, 0, &irq);
		fuzz_time(f, "ivshmem_wait", t0);
		fuzz_note(f, ONE_OF(ret, 0, -ETIMEDOUT), "ivshmem_wait: %d", ret);
		break;
	}
}

struct reader {
	struct fuzz *f;
	struct ivshmem *dev;
	bool guest;
	uint64_t seed;
};

static void *fuzz_reader(void *arg)
{
	struct reader *rd = arg;
	uint64_t s = rd->seed;

	while (!rd->f->stop)
		fuzz_read(rd->f, rd->dev, rd->guest, &s);
	return NULL;
}

static int test_fuzz(const char *spec, int seconds)
{
	struct reader readers[4];
	pthread_t w, t[4];
	struct fuzz f;
	int64_t end;
	bool hung = false;

	memset(&f, 0, sizeof(f));
	pthread_mutex_init(&f.lock, NULL);
	f.guest = fake_open(spec, true);
	f.guest_id = (unsigned int)ivshmem_id(f.guest);
	f.host = open_or_die(spec);
	region_open(&f.w, spec);	/* opened last: it knows the others */
	printf("# fuzz seed %" PRIu64 ", %d s, memory %" PRIu64 " bytes\n", rng_state, seconds,
	       f.w.size);
	pthread_create(&w, NULL, fuzz_writer, &f);
	for (int i = 0; i < 4; i++) {
		readers[i] = (struct reader){ &f, i < 2 ? f.guest : f.host, i < 2,
					      rng_state + 1 + (uint64_t)i };
		pthread_create(&t[i], NULL, fuzz_reader, &readers[i]);
	}
	sleep_ms(seconds * 1000);
	f.stop = true;
	/* A call that does not come back is a hang: bounded wait, then fail. */
	end = now_ms() + 20000;
	for (int i = 0; i < 4; i++) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (end - now_ms()) / 1000 + 1;
		if (pthread_timedjoin_np(t[i], NULL, &ts) != 0)
			hung = true;
	}
	pthread_join(w, NULL);
	check(!hung, "fuzz: every reader came back after the writer stopped", "-");
	if (hung) {
		fflush(stdout);
		_exit(1);
	}
	printf("# fuzz: %lu calls; slowest %s, %" PRId64 " ms\n", f.calls, f.slowest,
	       f.slowest_ms);
	printf("# fuzz: headers read %lu, guest peer lists %lu, present entries %lu, "
	       "guest dispatches %lu, presence descriptors %lu, -EAGAIN %lu\n", f.info_ok,
	       f.peers_ok, f.epoch_present, f.dispatch_ok, f.fd_ok, f.again);
	check(f.calls > 1000 && f.info_ok && f.peers_ok && f.epoch_present && f.dispatch_ok &&
	      f.fd_ok, "fuzz: the readers got past the checks, too", "%lu calls", f.calls);
	check(!f.bad, "fuzz: only documented results, each plausible",
	      "%lu bad of %lu, first: %s", f.bad, f.calls, f.first_bad);
	check(f.slowest_ms < 5000, "fuzz: every call returned in bounded time (< 5 s)",
	      "%s took %" PRId64 " ms", f.slowest, f.slowest_ms);
	ivshmem_close(f.guest);
	ivshmem_close(f.host);
	region_close(&f.w);
	pthread_mutex_destroy(&f.lock);
	return failures ? 1 : 0;
}

/* ------------------------------------------------------- parse fuzz */

static int test_parse_fuzz(long iterations)
{
	uint64_t s = rng_state, parsed = 0, tables = 0, waited = 0, bad = 0;
	char first[256] = "";

	printf("# parse fuzz seed %" PRIu64 ", %ld pages\n", rng_state, iterations);
	for (long it = 0; it < iterations; it++) {
		uint64_t size = (uint64_t)2 * PAGE << rnd_below(&s, 8);	/* 8 KiB .. 1 MiB */
		char *mem, *page;
		struct region_info ri;
		int ret;

		if (rnd_below(&s, 16) == 0)
			size = PAGE * (1 + rnd_below(&s, 3));	/* too small, or barely */
		mem = malloc(size);
		if (!mem)
			return 1;
		page = mem + size - PAGE;
		for (size_t i = 0; i < PAGE; i += 8) {
			uint64_t v = rnd(&s);

			memcpy(page + i, &v, 8);
		}
		/*
		 * Mostly a plausible header, each field right more often than
		 * not, so that every check is reached and some pages pass.
		 */
		if (rnd_below(&s, 8)) {
			struct ivshmem_region_header *h = (void *)page;

			h->magic = htole64(IVSHMEM_REGION_MAGIC);
			if (rnd_below(&s, 8))
				h->version = htole32(IVSHMEM_REGION_VERSION);
			if (rnd_below(&s, 8))
				h->region_size = htole64(size);
			if (rnd_below(&s, 6))
				h->header_size = htole32(PAGE * rnd_below(&s, (uint32_t)(size / PAGE) + 2));
			if (rnd_below(&s, 6))
				h->flags = htole32(rnd_below(&s, 4) | (rnd_below(&s, 4) ? 0 :
								       (uint32_t)rnd(&s)));
			if (rnd_below(&s, 4))
				h->max_peers = htole32(rnd_below(&s, 8) ? rnd_below(&s, 2000) :
						       (uint32_t)rnd(&s));
			if (rnd_below(&s, 4))
				h->presence_vector = htole32(rnd_below(&s, 2) ? rnd_below(&s, 70000) :
							     IVSHMEM_REGION_NO_VECTOR);
			if (rnd_below(&s, 4))
				h->label[rnd_below(&s, IVSHMEM_REGION_LABEL_MAX)] = 0;
			/*
			 * An odd generation makes a table read wait out its
			 * tries (0.1 s): a few of those, or the run takes
			 * minutes on a loaded machine.
			 */
			if (rnd_below(&s, 64))
				h->generation = htole32((uint32_t)rnd(&s) & ~1u);
		}
		ret = region_parse(page, size, &ri);
		if (ret == 0) {
			size_t len = strnlen(ri.label, sizeof(ri.label));
			bool sane = ri.header_size >= PAGE && ri.header_size % PAGE == 0 &&
				    ri.header_size < size && ri.max_peers <= IVSHMEM_REGION_PEERS_MAX &&
				    PAGE + 8ULL * ri.max_peers <= ri.header_size &&
				    len < sizeof(ri.label) &&
				    ((ri.flags & IVSHMEM_REGION_F_LABEL) ? len > 0 : len == 0) &&
				    (ri.presence_vector <= 65535 ||
				     ri.presence_vector == IVSHMEM_REGION_NO_VECTOR);

			parsed++;
			if (!sane && !bad++)
				snprintf(first, sizeof(first), "size %" PRIu64 " header %u peers %u",
					 size, ri.header_size, ri.max_peers);
			if (ri.max_peers) {
				/* Within the malloc'd region: ASan watches the edges. */
				struct ivshmem_region_peer *out = calloc(ri.max_peers, sizeof(*out));

				ret = out ? region_read_presence(page, mem + size - ri.header_size, &ri,
								 out, NULL) : 0;
				waited += ret == -EAGAIN;
				if (!ONE_OF(ret, 0, -EBADMSG, -EAGAIN) && !bad++)
					snprintf(first, sizeof(first), "read_presence %d", ret);
				for (uint32_t i = 0; out && ret == -EBADMSG && i < ri.max_peers; i++)
					if (out[i].state > IVSHMEM_REGION_PEER_PRESENT && !bad++)
						snprintf(first, sizeof(first), "state %u kept", out[i].state);
				free(out);
				tables++;
			}
		} else if (!ONE_OF(ret, -ENOMSG, -EBADMSG) && !bad++) {
			snprintf(first, sizeof(first), "region_parse %d", ret);
		}
		free(mem);
	}
	printf("# parse fuzz: %" PRIu64 " parsed, %" PRIu64 " tables read, %" PRIu64
	       " of them in the middle of a change\n", parsed, tables, waited);
	check(!bad, "parse fuzz: region_parse() accepts only what fits, reads stay inside",
	      "%" PRIu64 " bad, first: %s", bad, first);
	check(parsed > 0 && tables > 0 && waited > 0,
	      "parse fuzz: some pages parsed, some tables read, some in the middle of a change",
	      "%" PRIu64 " parsed, %" PRIu64 " tables, %" PRIu64 " changing", parsed, tables,
	      waited);
	return failures ? 1 : 0;
}

/* ----------------------------------------------------- for the tools */

static int cmd_header(int argc, char **argv)
{
	const char *label = argv[0];
	uint32_t max = (uint32_t)strtoul(argv[1], NULL, 0);
	uint32_t vector = strcmp(argv[2], "-") ? (uint32_t)strtoul(argv[2], NULL, 0) :
			  IVSHMEM_REGION_NO_VECTOR;
	struct region *r = &(struct region){ 0 };

	region_open(r, argv[-1]);
	write_header(r, strcmp(label, "-") ? label : NULL, max, vector, 0x5eed);
	for (int i = 3; i < argc; i++) {
		unsigned int id, epoch, state;

		if (sscanf(argv[i], "%u:%u:%u", &id, &epoch, &state) != 3 || id >= max) {
			fprintf(stderr, "lib_region_test: bad entry '%s'\n", argv[i]);
			return 2;
		}
		set_peer(r, id, epoch, state);
	}
	region_close(r);
	return 0;
}

static int cmd_corrupt(const char *spec)
{
	struct region r;

	region_open(&r, spec);
	poke32(&r, HDR_OFF(version), 99);
	region_close(&r);
	return 0;
}

int main(int argc, char **argv)
{
	const char *seed = getenv("REGION_FUZZ_SEED");

	rng_state = seed ? strtoull(seed, NULL, 0) : (uint64_t)time(NULL) * 2654435761u;
	if (!rng_state)
		rng_state = 1;
	if (argc == 3 && strcmp(argv[1], "api") == 0)
		return test_api(argv[2]);
	if (argc == 3 && strcmp(argv[1], "guest") == 0)
		return test_guest(argv[2]);
	if (argc == 5 && strcmp(argv[1], "server") == 0)
		return test_server(argv[2], argv[3], (unsigned int)atoi(argv[4]));
	if (argc == 4 && strcmp(argv[1], "fuzz") == 0)
		return test_fuzz(argv[2], atoi(argv[3]));
	if (argc == 3 && strcmp(argv[1], "parse-fuzz") == 0)
		return test_parse_fuzz(atol(argv[2]));
	if (argc >= 6 && strcmp(argv[1], "header") == 0)
		return cmd_header(argc - 3, argv + 3);
	if (argc == 3 && strcmp(argv[1], "corrupt") == 0)
		return cmd_corrupt(argv[2]);
	fprintf(stderr, "usage: lib_region_test api|guest SOCK | server SOCK LABEL VECTOR | "
		"fuzz SOCK SECS | parse-fuzz N | header SPEC LABEL MAXPEERS VECTOR [ID:EPOCH:STATE...] "
		"| corrupt SPEC\n");
	return 2;
}
