/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * header.h - the region header as a handle sees it (header.c): mapped
 * through the handle's backend on first use, read again at every call
 *
 * The header lies in memory that every peer can write, at any moment.
 * Everything here reads it through region.c, which copies each field
 * once and checks the copy; nothing read from it is used unchecked.
 *
 * Layer: the region header, above handle.c and region.c, below pci.c,
 * the backends, enum.c and libivshmem.c.  It reaches the backend only
 * through the handle's ops (map).
 */
#ifndef IVSHMEM_HEADER_H
#define IVSHMEM_HEADER_H

#include <stdint.h>

#include "handle.h"
#include "region.h"

/*
 * The header as it is now: 0 with @info filled; -ENOMSG without header;
 * -EBADMSG when it is corrupt; an error of the backend's map.
 */
int ivshmem_header_info(struct ivshmem *dev, struct region_info *info);

/*
 * The IDs the presence table has present, @self (-1: none) left out,
 * ascending, up to @max of them in @ids: their number (which may exceed
 * @max); -ENOMSG without header or table; -EBADMSG; -EAGAIN when no
 * consistent copy could be had; -ENOMEM; an error of the backend's map.
 */
int ivshmem_header_peers(struct ivshmem *dev, int self, unsigned int *ids, unsigned int max);

/*
 * The entry of @peer: 1 present, 0 absent, with its epoch in @epoch (may
 * be NULL); -EINVAL beyond the table; the other errors as above.
 */
int ivshmem_header_peer_epoch(struct ivshmem *dev, unsigned int peer, uint32_t *epoch);

/*
 * A look at the table: the number of IDs whose state or epoch differ from
 * the previous look (none before the first: every entry counts as absent
 * with epoch 0), and the table as now becomes the previous look.  Errors
 * as above; a failed look leaves the previous one in place.
 */
int ivshmem_header_look(struct ivshmem *dev);

/* Unmap and free what the handle keeps (at ivshmem_close()). */
void ivshmem_header_free(struct ivshmem *dev);

#endif /* IVSHMEM_HEADER_H */
