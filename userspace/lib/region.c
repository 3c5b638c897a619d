// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * region.c - reading and writing the region header (see region.h)
 *
 * Every access to the region is a single aligned 32-bit or 64-bit atomic
 * load or store, so that a peer writing at the same time can make a value
 * wrong but never torn in a way the compiler could turn into a second
 * read: each field is loaded once, into a local, and only the local is
 * checked and used.
 */
#define _DEFAULT_SOURCE
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "region.h"

#define HDR_FIELD(page, field) \
	((char *)(page) + offsetof(struct ivshmem_region_header, field))

static uint32_t load32(const void *p)
{
	return le32toh(__atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED));
}

static uint64_t load64(const void *p)
{
	return le64toh(__atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED));
}

static void store32(void *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)p, htole32(v), __ATOMIC_RELAXED);
}

static void store64(void *p, uint64_t v)
{
	__atomic_store_n((uint64_t *)p, htole64(v), __ATOMIC_RELAXED);
}

uint32_t region_header_size(uint32_t max_peers)
{
	uint64_t table = (uint64_t)max_peers * sizeof(struct ivshmem_region_peer);

	table = (table + IVSHMEM_REGION_PAGE - 1) / IVSHMEM_REGION_PAGE * IVSHMEM_REGION_PAGE;
	return (uint32_t)(IVSHMEM_REGION_PAGE + table);
}

int region_label_check(const char *label)
{
	size_t len = strlen(label);

	if (!len || len >= IVSHMEM_REGION_LABEL_MAX || !strcmp(label, ".") ||
	    !strcmp(label, ".."))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)label[i];

		if (c < 0x20 || c > 0x7e || c == '/')
			return -EINVAL;
	}
	return 0;
}

int region_parse(const void *page, uint64_t size, struct region_info *info)
{
	const char *label = HDR_FIELD(page, label);
	uint32_t version, hsize, flags, peers, vector;
	uint64_t rsize, instance;
	size_t len;

	if (size < 2 * IVSHMEM_REGION_PAGE || load64(HDR_FIELD(page, magic)) != IVSHMEM_REGION_MAGIC)
		return -ENOMSG;
	version = load32(HDR_FIELD(page, version));
	hsize = load32(HDR_FIELD(page, header_size));
	rsize = load64(HDR_FIELD(page, region_size));
	flags = load32(HDR_FIELD(page, flags));
	peers = load32(HDR_FIELD(page, max_peers));
	vector = load32(HDR_FIELD(page, presence_vector));
	instance = load64(HDR_FIELD(page, instance));
	if (version != IVSHMEM_REGION_VERSION || rsize != size ||
	    hsize < IVSHMEM_REGION_PAGE || hsize % IVSHMEM_REGION_PAGE || hsize >= size)
		return -EBADMSG;
	if (flags & IVSHMEM_REGION_F_PRESENCE) {
		if (!peers || peers > IVSHMEM_REGION_PEERS_MAX ||
		    IVSHMEM_REGION_PAGE + (uint64_t)peers * sizeof(struct ivshmem_region_peer) > hsize)
			return -EBADMSG;
	} else {
		peers = 0;
	}
	if (vector != IVSHMEM_REGION_NO_VECTOR && vector > 65535)
		return -EBADMSG;

	memset(info->label, 0, sizeof(info->label));
	if (flags & IVSHMEM_REGION_F_LABEL) {
		/* One load per word: the copy is what gets checked. */
		uint32_t words[IVSHMEM_REGION_LABEL_MAX / 4];

		for (size_t i = 0; i < IVSHMEM_REGION_LABEL_MAX / 4; i++)
			words[i] = __atomic_load_n((const uint32_t *)(label + 4 * i),
						   __ATOMIC_RELAXED);
		memcpy(info->label, words, sizeof(words));
		len = strnlen(info->label, sizeof(info->label));
		if (!len || len == sizeof(info->label))
			return -EBADMSG;
	}
	info->size = size;
	info->header_size = hsize;
	info->flags = flags;
	info->max_peers = peers;
	info->presence_vector = vector;
	info->instance = instance;
	return 0;
}

uint32_t region_generation(const void *page)
{
	return le32toh(__atomic_load_n((const uint32_t *)HDR_FIELD(page, generation),
				       __ATOMIC_ACQUIRE));
}

int region_read_presence(const void *page, const void *table,
			 const struct region_info *info,
			 struct ivshmem_region_peer *out, uint32_t *gen)
{
	const struct timespec pause = { .tv_nsec = REGION_READ_PAUSE_US * 1000L };
	const char *t = table;

	for (int tries = 0; tries < REGION_READ_TRIES; tries++) {
		uint32_t g1, g2;
		bool bad = false;

		/* A change takes microseconds, unless its writer was preempted. */
		if (tries >= REGION_READ_SPINS)
			nanosleep(&pause, NULL);
		g1 = region_generation(page);
		if (g1 & 1)
			continue;
		for (uint32_t i = 0; i < info->max_peers; i++) {
			const char *e = t + (size_t)i * sizeof(*out);

			out[i].epoch = load32(e + offsetof(struct ivshmem_region_peer, epoch));
			out[i].state = load32(e + offsetof(struct ivshmem_region_peer, state));
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		g2 = le32toh(__atomic_load_n((const uint32_t *)HDR_FIELD(page, generation),
					     __ATOMIC_RELAXED));
		if (g1 != g2)
			continue;
		for (uint32_t i = 0; i < info->max_peers; i++) {
			if (out[i].state != IVSHMEM_REGION_PEER_ABSENT &&
			    out[i].state != IVSHMEM_REGION_PEER_PRESENT) {
				out[i].state = IVSHMEM_REGION_PEER_ABSENT;
				out[i].epoch = 0;
				bad = true;
			}
		}
		if (gen)
			*gen = g1;
		return bad ? -EBADMSG : 0;
	}
	return -EAGAIN;
}

void region_write(void *page, void *table, const struct region_info *info)
{
	const char *label = info->label;
	size_t len = strnlen(label, sizeof(info->label) - 1);

	store64(HDR_FIELD(page, magic), 0);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memset((char *)page + sizeof(uint64_t), 0, IVSHMEM_REGION_PAGE - sizeof(uint64_t));
	if (table && info->max_peers)
		memset(table, 0, info->header_size - IVSHMEM_REGION_PAGE);
	store32(HDR_FIELD(page, version), IVSHMEM_REGION_VERSION);
	store32(HDR_FIELD(page, header_size), info->header_size);
	store64(HDR_FIELD(page, region_size), info->size);
	store32(HDR_FIELD(page, flags), info->flags);
	store32(HDR_FIELD(page, max_peers), info->max_peers);
	store32(HDR_FIELD(page, presence_vector), info->presence_vector);
	store64(HDR_FIELD(page, instance), info->instance);
	if (info->flags & IVSHMEM_REGION_F_LABEL)
		memcpy(HDR_FIELD(page, label), label, len);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	store64(HDR_FIELD(page, magic), IVSHMEM_REGION_MAGIC);
}

void region_update_begin(void *page, uint32_t *gen)
{
	*gen += (*gen & 1) ? 2 : 1;
	store32(HDR_FIELD(page, generation), *gen);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

void region_set_peer(void *table, uint32_t id, uint32_t epoch, uint32_t state)
{
	char *e = (char *)table + (size_t)id * sizeof(struct ivshmem_region_peer);

	store32(e + offsetof(struct ivshmem_region_peer, epoch), epoch);
	store32(e + offsetof(struct ivshmem_region_peer, state), state);
}

void region_update_end(void *page, uint32_t *gen)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
	*gen += 1;
	__atomic_store_n((uint32_t *)HDR_FIELD(page, generation), htole32(*gen),
			 __ATOMIC_RELEASE);
}
