// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * header.c - the region header as a handle sees it (see header.h)
 *
 * Two mappings, made through the backend's map op and kept in the handle:
 * the system page that holds the header page (the region's last 4096
 * bytes), made once, and the presence table, made when the header first
 * names one and again when a header read later places it elsewhere (a
 * new server, or a peer scribbling).  The table mapping covers only the
 * entries, not the whole @header_size a header may claim, so that a
 * corrupt size costs no large mapping on backends that fill page tables
 * at mmap() time.  Every call parses the header page again: it is shared
 * memory, and its last reader's view means nothing now.
 *
 * All of it runs under the header's own lock, which is taken before the
 * handle's (the backends' map ops take that one) and never after it.
 *
 * Layer: the region header (see header.h); it calls handle.c and region.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "header.h"

#define ENTRY_SIZE	sizeof(struct ivshmem_region_peer)

/*
 * struct ivshmem_header - what a handle keeps of the header
 * @lock:      serialises everything below and every read of the header
 * @page_map:  the mapping that holds the header page, or NULL
 * @page_len:  its length
 * @page:      the header page inside it
 * @tab_map:   the mapping of the table's entries, or NULL
 * @tab_off:   the region offset @tab_map starts at (page aligned)
 * @tab_len:   its length
 * @copy:      scratch room for a copy of the table, @copy_n entries
 * @seen:      the table at the previous look, @seen_n entries
 */
struct ivshmem_header {
	pthread_mutex_t lock;
	void *page_map;
	size_t page_len;
	const void *page;
	void *tab_map;
	uint64_t tab_off;
	size_t tab_len;
	struct ivshmem_region_peer *copy;
	uint32_t copy_n;
	struct ivshmem_region_peer *seen;
	uint32_t seen_n;
};

static uint64_t page_size(void)
{
	return (uint64_t)sysconf(_SC_PAGESIZE);
}

/* The handle's header state, made on first use; NULL without memory. */
static struct ivshmem_header *header_get(struct ivshmem *dev)
{
	struct ivshmem_header *h;

	pthread_mutex_lock(&dev->lock);
	h = dev->header;
	if (!h) {
		h = calloc(1, sizeof(*h));
		if (h && pthread_mutex_init(&h->lock, NULL)) {
			free(h);
			h = NULL;
		}
		dev->header = h;
	}
	pthread_mutex_unlock(&dev->lock);
	return h;
}

/* Map the page that holds the header page, once. */
static int map_page(struct ivshmem *dev, struct ivshmem_header *h)
{
	uint64_t off;
	void *p;
	int ret;

	if (h->page)
		return 0;
	if (dev->size < 2 * IVSHMEM_REGION_PAGE)
		return -ENOMSG;		/* no room for a header and data */
	off = (dev->size - IVSHMEM_REGION_PAGE) & ~(page_size() - 1);
	ret = dev->ops->map(dev, off, (size_t)(dev->size - off), IVSHMEM_MAP_DEFAULT, &p);
	if (ret < 0)
		return ret;
	h->page_map = p;
	h->page_len = (size_t)(dev->size - off);
	h->page = (const char *)p + (dev->size - IVSHMEM_REGION_PAGE - off);
	return 0;
}

/* Parse the header as it is now. */
static int parse(struct ivshmem *dev, struct ivshmem_header *h, struct region_info *ri)
{
	int ret = map_page(dev, h);

	if (ret < 0)
		return ret;
	return region_parse(h->page, dev->size, ri);
}

/*
 * The table of the header @ri describes, mapped: its first entry in
 * *@table.  region_parse() has checked that the entries lie below the
 * header page, inside the region.
 */
static int map_table(struct ivshmem *dev, struct ivshmem_header *h,
		     const struct region_info *ri, const char **table)
{
	uint64_t start = dev->size - ri->header_size;
	uint64_t end = start + (uint64_t)ri->max_peers * ENTRY_SIZE;
	uint64_t off;
	void *p;
	int ret;

	if (!h->tab_map || start < h->tab_off || end > h->tab_off + h->tab_len) {
		off = start & ~(page_size() - 1);
		ret = dev->ops->map(dev, off, (size_t)(end - off), IVSHMEM_MAP_DEFAULT, &p);
		if (ret < 0)
			return ret;
		if (h->tab_map)
			ivshmem_unmap_addr(h->tab_map, h->tab_len);
		h->tab_map = p;
		h->tab_off = off;
		h->tab_len = (size_t)(end - off);
	}
	*table = (const char *)h->tab_map + (start - h->tab_off);
	return 0;
}

/* A consistent copy of the table into h->copy, ri->max_peers entries. */
static int read_table(struct ivshmem *dev, struct ivshmem_header *h, struct region_info *ri)
{
	const char *table;
	int ret;

	ret = parse(dev, h, ri);
	if (ret < 0)
		return ret;
	if (!ri->max_peers)
		return -ENOMSG;
	ret = map_table(dev, h, ri, &table);
	if (ret < 0)
		return ret;
	if (h->copy_n < ri->max_peers) {
		struct ivshmem_region_peer *c = realloc(h->copy, ri->max_peers * ENTRY_SIZE);

		if (!c)
			return -ENOMEM;
		h->copy = c;
		h->copy_n = ri->max_peers;
	}
	return region_read_presence(h->page, table, ri, h->copy, NULL);
}

int ivshmem_header_info(struct ivshmem *dev, struct region_info *info)
{
	struct ivshmem_header *h = header_get(dev);
	int ret;

	if (!h)
		return -ENOMEM;
	pthread_mutex_lock(&h->lock);
	ret = parse(dev, h, info);
	pthread_mutex_unlock(&h->lock);
	return ret;
}

int ivshmem_header_peers(struct ivshmem *dev, int self, unsigned int *ids, unsigned int max)
{
	struct ivshmem_header *h = header_get(dev);
	struct region_info ri;
	unsigned int n = 0;
	int ret;

	if (!h)
		return -ENOMEM;
	pthread_mutex_lock(&h->lock);
	ret = read_table(dev, h, &ri);
	for (uint32_t i = 0; ret == 0 && i < ri.max_peers; i++) {
		if (h->copy[i].state != IVSHMEM_REGION_PEER_PRESENT || (int64_t)i == self)
			continue;
		if (n < max)
			ids[n] = i;
		n++;
	}
	pthread_mutex_unlock(&h->lock);
	return ret < 0 ? ret : (int)n;
}

int ivshmem_header_peer_epoch(struct ivshmem *dev, unsigned int peer, uint32_t *epoch)
{
	struct ivshmem_header *h = header_get(dev);
	struct ivshmem_region_peer e;
	struct region_info ri;
	const char *table;
	int ret;

	if (!h)
		return -ENOMEM;
	pthread_mutex_lock(&h->lock);
	ret = parse(dev, h, &ri);
	if (ret == 0 && !ri.max_peers)
		ret = -ENOMSG;
	if (ret == 0 && peer >= ri.max_peers)
		ret = -EINVAL;
	if (ret == 0)
		ret = map_table(dev, h, &ri, &table);
	if (ret == 0) {
		/* The same careful read as for the whole table, of one entry. */
		ri.max_peers = 1;
		ret = region_read_presence(h->page, table + (size_t)peer * ENTRY_SIZE, &ri, &e,
					   NULL);
	}
	pthread_mutex_unlock(&h->lock);
	if (ret < 0)
		return ret;
	if (epoch)
		*epoch = e.epoch;
	return e.state == IVSHMEM_REGION_PEER_PRESENT;
}

int ivshmem_header_look(struct ivshmem *dev)
{
	struct ivshmem_header *h = header_get(dev);
	struct region_info ri;
	int changed = 0, ret;

	if (!h)
		return -ENOMEM;
	pthread_mutex_lock(&h->lock);
	ret = read_table(dev, h, &ri);
	if (ret == 0 && h->seen_n < ri.max_peers) {
		struct ivshmem_region_peer *s = realloc(h->seen, ri.max_peers * ENTRY_SIZE);

		if (s) {
			memset(s + h->seen_n, 0, (ri.max_peers - h->seen_n) * ENTRY_SIZE);
			h->seen = s;
			h->seen_n = ri.max_peers;
		} else {
			ret = -ENOMEM;
		}
	}
	if (ret == 0) {
		/* Entries past the table are absent with epoch 0 from now on. */
		for (uint32_t i = 0; i < h->seen_n; i++) {
			struct ivshmem_region_peer now = { 0, IVSHMEM_REGION_PEER_ABSENT };

			if (i < ri.max_peers)
				now = h->copy[i];
			if (now.state != h->seen[i].state || now.epoch != h->seen[i].epoch)
				changed++;
			h->seen[i] = now;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return ret < 0 ? ret : changed;
}

void ivshmem_header_free(struct ivshmem *dev)
{
	struct ivshmem_header *h = dev->header;

	if (!h)
		return;
	if (h->page_map)
		ivshmem_unmap_addr(h->page_map, h->page_len);
	if (h->tab_map)
		ivshmem_unmap_addr(h->tab_map, h->tab_len);
	free(h->copy);
	free(h->seen);
	pthread_mutex_destroy(&h->lock);
	free(h);
	dev->header = NULL;
}
