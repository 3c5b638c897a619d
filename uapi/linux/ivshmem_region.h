/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ivshmem_region.h - the region header: a name for an ivshmem region and
 * a table of which peers are connected, kept in the shared memory itself.
 *
 * The header is opt-in.  A region without it is used exactly as before;
 * nothing here is written unless whoever creates the memory asks for it
 * (ivshmem-server --label/--presence, or ivshmem-label for a plain
 * region's file).  Documentation/region-header.rst explains the choices.
 *
 * Where it lives: at the end of the region.  The last 4096 bytes of the
 * region are the header page (&struct ivshmem_region_header at its
 * start).  When the header has a presence table, the table lies directly
 * below the header page, so the header takes the last @header_size bytes:
 *
 *     0                      size - header_size      size - 4096      size
 *     | memory of the peers  | presence table ...    | header page    |
 *
 * Applications that use the header keep out of the last @header_size
 * bytes; applications that do not ask for it see the memory they always
 * did, since they lay their data out from offset 0.
 *
 * Every field is little-endian.  All of it lies in memory that every peer
 * can write, so a reader trusts nothing it reads: it copies the fields
 * out once, then checks them (IVSHMEM_REGION_* limits below) before any
 * use, and a header that fails a check is treated as corrupt.
 *
 * Presence.  Entry i of the table describes peer ID i.  The server that
 * owns the memory is its only writer.  Writer and readers follow a
 * sequence counter, @generation:
 *
 *   writer: generation += 1 (odd: a change is under way); release fence;
 *           write the entries; release fence; generation += 1 (even).
 *   reader: g1 = generation (acquire); if g1 is odd, try again; copy
 *           what it needs; acquire fence; g2 = generation; if g1 != g2,
 *           try again.  A reader gives up after a bounded number of tries
 *           (a peer can write the counter too) and reports an error.
 *
 * @generation therefore also tells a reader whether anything changed
 * since it last looked.  The server changes the table before it tells
 * peers of the change over its socket, and rings @presence_vector (when
 * the header has one) of every connected peer after the change.
 */
#ifndef _UAPI_LINUX_IVSHMEM_REGION_H
#define _UAPI_LINUX_IVSHMEM_REGION_H

#include <linux/types.h>

/** IVSHMEM_REGION_MAGIC - "IVSHMRGN" as a little-endian 64-bit value. */
#define IVSHMEM_REGION_MAGIC		0x4e47524d48535649ULL

/**
 * IVSHMEM_REGION_VERSION - layout version.  Readers refuse any other
 * value.  Later additions that old readers may ignore use reserved bytes
 * and a new bit in @flags, without changing the version.
 */
#define IVSHMEM_REGION_VERSION		1

/** IVSHMEM_REGION_PAGE - size of the header page, the region's last bytes. */
#define IVSHMEM_REGION_PAGE		4096

/** IVSHMEM_REGION_LABEL_MAX - size of @label, its terminating NUL included. */
#define IVSHMEM_REGION_LABEL_MAX	64

/** IVSHMEM_REGION_PEERS_MAX - most entries a presence table can have. */
#define IVSHMEM_REGION_PEERS_MAX	65536

/** IVSHMEM_REGION_NO_VECTOR - @presence_vector when nothing is rung. */
#define IVSHMEM_REGION_NO_VECTOR	0xffffffffU

/* &struct ivshmem_region_header.flags */
/** IVSHMEM_REGION_F_LABEL - @label holds the region's name. */
#define IVSHMEM_REGION_F_LABEL		0x00000001U
/** IVSHMEM_REGION_F_PRESENCE - the presence table exists and is kept. */
#define IVSHMEM_REGION_F_PRESENCE	0x00000002U

/**
 * struct ivshmem_region_header - the start of the header page.
 * @magic:           IVSHMEM_REGION_MAGIC.  Anything else: no header.
 * @version:         IVSHMEM_REGION_VERSION.
 * @header_size:     bytes the header takes at the end of the region, the
 *                   header page included: a multiple of
 *                   IVSHMEM_REGION_PAGE, at least one page and less than
 *                   the region.
 * @region_size:     size of the region the header was written for; a
 *                   reader whose region has another size ignores the
 *                   header as corrupt.
 * @flags:           IVSHMEM_REGION_F_* bits; readers ignore unknown ones.
 * @generation:      sequence counter of the presence table (above); even
 *                   when no change is under way.
 * @max_peers:       entries of the presence table, 1 to
 *                   IVSHMEM_REGION_PEERS_MAX, when F_PRESENCE is set (and
 *                   then 4096 + 8 * @max_peers <= @header_size); else 0.
 * @presence_vector: the vector the server rings on every connected peer
 *                   after each change of the table (below 65536), or
 *                   IVSHMEM_REGION_NO_VECTOR.
 * @instance:        a value the writer chose at random when it created the
 *                   header (a new server, a new value).  Readers may
 *                   compare it to tell a restarted or different server.
 * @label:           the region's name when F_LABEL is set: 1 to 63 bytes
 *                   and a NUL; the bytes after the NUL are zero.  Writers
 *                   give printable ASCII other than '/' and do not write
 *                   "." or ".."; readers accept any bytes before the NUL
 *                   (they come from memory any peer can write) and leave
 *                   escaping to whoever makes names of them.
 * @reserved:        zero; the rest of the header page is zero as well.
 */
struct ivshmem_region_header {
	__le64 magic;
	__le32 version;
	__le32 header_size;
	__le64 region_size;
	__le32 flags;
	__le32 generation;
	__le32 max_peers;
	__le32 presence_vector;
	__le64 instance;
	__u8 label[IVSHMEM_REGION_LABEL_MAX];
	__le64 reserved[2];
};

/* &struct ivshmem_region_peer.state */
/** IVSHMEM_REGION_PEER_ABSENT - no peer has this ID now. */
#define IVSHMEM_REGION_PEER_ABSENT	0
/** IVSHMEM_REGION_PEER_PRESENT - a peer with this ID is connected. */
#define IVSHMEM_REGION_PEER_PRESENT	1

/**
 * struct ivshmem_region_peer - one entry of the presence table.
 * @epoch: changes at every connect of this ID, and never to 0: the peer
 *         that holds the ID now is another one than the peer a reader
 *         saw with another epoch.  It stays when the peer leaves.  0:
 *         no peer has had this ID since the header was made.  Each
 *         server starts its epochs at a value of its own, so a region
 *         that moved to another server (migration) has other epochs.
 * @state: IVSHMEM_REGION_PEER_ABSENT or IVSHMEM_REGION_PEER_PRESENT;
 *         readers take any other value as corrupt.
 */
struct ivshmem_region_peer {
	__le32 epoch;
	__le32 state;
};

#endif /* _UAPI_LINUX_IVSHMEM_REGION_H */
