/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * region.h - reading and writing the region header
 *
 * The layout is <linux/ivshmem_region.h>'s.  This module works on memory
 * already mapped by its caller and knows nothing of devices, servers or
 * files; it is shared by the library (readers), ivshmem-server (the
 * writer of the presence table) and ivshmem-label (the writer of a plain
 * region's header).
 *
 * The memory may be written at any moment by any peer.  Readers copy
 * each field once with a single load and check the copy; nothing read
 * from the region is used before it passed the checks, and no access
 * goes outside the range the caller mapped.
 *
 * Layer: the lowest, beside handle.c and wire.c; calls nothing else of
 * the library.
 */
#ifndef IVSHMEM_REGION_H
#define IVSHMEM_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/ivshmem_region.h>

/*
 * How often a reader tries for a consistent presence snapshot: the first
 * REGION_READ_SPINS at once, the others REGION_READ_PAUSE_US apart, so
 * that a writer preempted in the middle of a change (for up to about a
 * tenth of a second) does not make readers fail.
 */
#define REGION_READ_TRIES	1000
#define REGION_READ_SPINS	100
#define REGION_READ_PAUSE_US	100

/**
 * struct region_info - a header as checked
 * @size:            the region's size (the caller's, equal to the header's)
 * @header_size:     bytes the header takes at the end of the region
 * @flags:           IVSHMEM_REGION_F_* as read
 * @max_peers:       entries of the presence table, 0 without F_PRESENCE
 * @presence_vector: IVSHMEM_REGION_NO_VECTOR or a vector below 65536
 * @instance:        the writer's instance value
 * @label:           the label, NUL-terminated; "" without F_LABEL
 */
struct region_info {
	uint64_t size;
	uint32_t header_size;
	uint32_t flags;
	uint32_t max_peers;
	uint32_t presence_vector;
	uint64_t instance;
	char label[IVSHMEM_REGION_LABEL_MAX];
};

/**
 * region_header_size() - bytes a header with a presence table of
 * @max_peers entries takes (0: no table): the header page and the table
 * rounded up to whole pages
 */
uint32_t region_header_size(uint32_t max_peers);

/**
 * region_label_check() - whether a writer may write @label
 *
 * Return: 0; -EINVAL when it is empty, longer than 63 bytes, "." or "..",
 * or holds a byte that is not printable ASCII or is '/'.
 */
int region_label_check(const char *label);

/**
 * region_parse() - read and check the header of a region
 * @page: the region's last IVSHMEM_REGION_PAGE bytes, mapped
 * @size: the region's size
 * @info: filled on success
 *
 * Return: 0; -ENOMSG when there is no header (no magic, or a region too
 * small for one); -EBADMSG when the header is corrupt: another version,
 * sizes that do not fit the region, a table that does not fit the
 * header, a label without its NUL, an out of range vector.
 */
int region_parse(const void *page, uint64_t size, struct region_info *info);

/**
 * region_read_presence() - a consistent copy of the presence table
 * @page:  the header page, mapped
 * @table: the table (the region's last @info->header_size bytes), mapped
 * @info:  what region_parse() gave for this header
 * @out:   @info->max_peers entries, in host byte order
 * @gen:   set to the generation the copy is of (may be NULL)
 *
 * An entry whose state is neither absent nor present is reported as
 * absent with epoch 0, and the call returns -EBADMSG after the copy.
 *
 * Return: 0; -EAGAIN when no consistent copy could be had in
 * REGION_READ_TRIES tries, about 0.1 s (the writer is stuck or a peer
 * scribbles on the counter); -EBADMSG as above.
 */
int region_read_presence(const void *page, const void *table,
			 const struct region_info *info,
			 struct ivshmem_region_peer *out, uint32_t *gen);

/**
 * region_generation() - the presence generation, as is (may be odd)
 */
uint32_t region_generation(const void *page);

/**
 * region_write() - write a fresh header
 * @page:  the header page, mapped writable
 * @table: the table's place (@page - table bytes), or NULL without one
 * @info:  what to write; @info->header_size must be
 *         region_header_size(@info->max_peers), the label checked
 *
 * Clears the whole header page and the table (every peer absent, epoch
 * 0), then writes the fields, the magic last, with a release fence
 * before it.
 */
void region_write(void *page, void *table, const struct region_info *info);

/**
 * region_update_begin() - start a change of the presence table
 * @page: the header page
 * @gen:  the writer's own copy of the generation (never what the region
 *        holds, which peers can write): made odd and stored
 *
 * Write the entries with region_set_peer(), then call
 * region_update_end().
 */
void region_update_begin(void *page, uint32_t *gen);

/**
 * region_set_peer() - write one entry of the table
 * (between region_update_begin() and region_update_end())
 */
void region_set_peer(void *table, uint32_t id, uint32_t epoch, uint32_t state);

/**
 * region_update_end() - end a change: @gen made even and stored, with a
 * release fence before it
 */
void region_update_end(void *page, uint32_t *gen);

#endif /* IVSHMEM_REGION_H */
