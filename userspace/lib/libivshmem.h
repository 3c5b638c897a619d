/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libivshmem.h - shared memory and doorbells of QEMU's ivshmem device
 *
 * One handle type, struct ivshmem, reaches an ivshmem device whichever
 * way the process sees it:
 *
 *   - in a guest, through the ivshmem driver's character device
 *     (/dev/ivshmemN), a UIO device (/dev/uioN) or, without any driver,
 *     the PCI device's sysfs resource files;
 *   - on the host, through the ivshmem server's UNIX socket: the library
 *     speaks the server protocol itself and the process becomes a peer like
 *     any guest, with an ID, the shared memory and one eventfd per vector.
 *
 * Conventions:
 *   - Functions returning int give 0 (or a documented non-negative value)
 *     on success and a negative errno on failure; ivshmem_strerror() turns
 *     it into text.  Nothing prints, nothing exits, no signal is raised
 *     (sockets are written with MSG_NOSIGNAL).
 *   - Every descriptor the library creates is close-on-exec.
 *   - Thread safety is given per function below.  In short: a handle may
 *     be used from several threads at once, except that ivshmem_close()
 *     must not run concurrently with any other call on the same handle.
 *     Distinct handles are independent.
 *   - Peer IDs are 0..65535 (IVSHMEM_MAX_PEER), vectors 0..65535
 *     (IVSHMEM_MAX_VECTOR); the device and the server may have fewer.
 *   - The region header (<linux/ivshmem_region.h>, since LIBIVSHMEM_1.2)
 *     is an opt-in block at the end of the shared memory: a label and a
 *     presence table, written by the server or by ivshmem-label(1).
 *     Every peer can write it, so the library reads it again at every
 *     call and checks everything it reads; a header that fails a check is
 *     "corrupt" (-EBADMSG), never a reason to crash or hang.
 *   - Channels (struct ivshmem_chan, since LIBIVSHMEM_1.2) carry messages
 *     between two peers through a part of the shared memory, with the
 *     doorbells for wakeups; they are built on the functions above only.
 *
 * Link with `pkg-config --cflags --libs ivshmem`.
 */
#ifndef LIBIVSHMEM_H
#define LIBIVSHMEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Highest peer ID the protocol and the doorbell register can express. */
#define IVSHMEM_MAX_PEER	65535
/** Highest vector number a doorbell can name. */
#define IVSHMEM_MAX_VECTOR	65535

/** An open ivshmem device (opaque). */
struct ivshmem;

/**
 * enum ivshmem_backend - how a handle reaches its device
 * @IVSHMEM_BACKEND_CHAR:  the ivshmem driver's /dev/ivshmemN
 * @IVSHMEM_BACKEND_UIO:   a UIO device /dev/uioN (uio_ivshmem, or
 *                         uio_pci_generic with the registers and memory
 *                         taken from sysfs)
 * @IVSHMEM_BACKEND_SYSFS: the PCI device's sysfs resource0 (registers) and
 *                         resource2 (memory); no interrupts
 * @IVSHMEM_BACKEND_HOST:  a peer of an ivshmem server (unix:PATH)
 */
enum ivshmem_backend {
	IVSHMEM_BACKEND_CHAR = 1,
	IVSHMEM_BACKEND_UIO = 2,
	IVSHMEM_BACKEND_SYSFS = 3,
	IVSHMEM_BACKEND_HOST = 4,
};

/**
 * enum ivshmem_map_mode - memory type of a mapping
 * @IVSHMEM_MAP_DEFAULT: the backend's usual type: write-back for the
 *                       character device, uio_ivshmem and host backends,
 *                       uncached for the sysfs backend and other UIO
 *                       drivers (the kernel maps sysfs resources
 *                       uncached); ivshmem_memtype() says what it
 *                       really is
 * @IVSHMEM_MAP_WB:      write-back (cached): the memory is host RAM, so
 *                       this is what almost everyone wants
 * @IVSHMEM_MAP_WC:      write-combining
 * @IVSHMEM_MAP_UC:      uncached
 *
 * (Named apart from the IVSHMEM_CACHE_* of <linux/ivshmem.h>, the driver's
 * interface, so that a program can include both headers.)
 */
enum ivshmem_map_mode {
	IVSHMEM_MAP_DEFAULT = 0,
	IVSHMEM_MAP_WB = 1,
	IVSHMEM_MAP_WC = 2,
	IVSHMEM_MAP_UC = 3,
};

/**
 * enum ivshmem_memtype - memory type a mapping really gets
 * @IVSHMEM_MEM_UNKNOWN:  cannot be told (not x86, the kernel's PAT off, a
 *                        driver too old to say)
 * @IVSHMEM_MEM_WB:       write-back (cached)
 * @IVSHMEM_MEM_UC_MINUS: uncached-minus: uncached, as the kernel maps
 *                        device memory (sysfs resource files, the
 *                        character device's uncached mode) and as x86
 *                        turns a write-back mapping of a physical range the
 *                        MTRRs do not mark write-back
 * @IVSHMEM_MEM_WC:       write-combining
 *
 * What a mapping asks for (enum ivshmem_map_mode) and what it gets can
 * differ: on x86 the firmware's MTRRs bound what a write-back request
 * becomes (see ivshmem_memtype()).  The names are those of the kernel's
 * PAT list (/sys/kernel/debug/x86/pat_memtype_list), as given by
 * ivshmem_memtype_name().  (Named apart from the IVSHMEM_MEMTYPE_* of
 * <linux/ivshmem.h>, whose values the first three share.)
 */
enum ivshmem_memtype {
	IVSHMEM_MEM_UNKNOWN = 0,
	IVSHMEM_MEM_WB = 1,
	IVSHMEM_MEM_UC_MINUS = 2,
	IVSHMEM_MEM_WC = 3,
};

/**
 * struct ivshmem_irq - what ivshmem_wait() saw
 * @vector: the vector that was rung
 * @count:  how many rings arrived on it since it was last consumed (rings
 *          that come close together are counted, not queued; 1 where the
 *          backend cannot count)
 */
struct ivshmem_irq {
	unsigned int vector;
	uint64_t count;
};

/**
 * ivshmem_open() - open an ivshmem device
 * @spec: which device:
 *        - "/dev/ivshmemN" or any path to that character device (e.g. a
 *          /dev/ivshmem/by-path/ link), or the index "N" alone;
 *        - a PCI address, "0000:00:04.0" or "00:04.0": the character
 *          device when the ivshmem driver has it, the UIO device when a
 *          UIO driver has it, else the sysfs resource files;
 *        - "/dev/uioN": a UIO device of an ivshmem PCI function;
 *        - "/sys/bus/pci/devices/0000:00:04.0": the sysfs resource files,
 *          which the kernel does not map while a driver (ivshmem,
 *          uio_ivshmem) holds the BARs: -EBUSY then;
 *        - "unix:/path/to/server.sock": connect to an ivshmem server and
 *          become one of its peers (the host backend);
 *        - "name:NAME" (since LIBIVSHMEM_1.2): the device whose region
 *          label (&struct ivshmem_devinfo.label, as ivshmem_list() gives
 *          it) is NAME exactly, opened as its PCI address would be;
 *        - NULL or "": the first device ivshmem_list() finds.
 * @out: set to the new handle on success, untouched on failure
 *
 * The host backend connects and waits for the server's greeting, all
 * within 10 seconds (a server whose backlog is full does not make it wait
 * longer): protocol version, own ID, the shared memory and the eventfds
 * of the peers already there and of its own vectors.  It keeps only a
 * memory object (a regular file) for the memory and eventfds (made
 * non-blocking) for the vectors, at most 2048 per peer and for itself,
 * and the same number for every peer; anything else is -EPROTO, and
 * every descriptor received is closed.  When this process is the
 * server's only peer, the number of own vectors cannot be known from the
 * protocol until the server stops sending, so the library waits until no
 * more arrive for a tenth of a second; any arriving later are still taken
 * by ivshmem_dispatch() and raise ivshmem_vectors().
 *
 * Thread safety: safe to call concurrently (each call makes its own
 * handle).
 *
 * Return: 0; -EINVAL for a spec that is none of the above (or "name:"
 * with an empty name); -ENOENT when the path, index, PCI address or socket
 * does not exist, or no device has the label NAME; -ENOTUNIQ when more
 * than one device has it (open it by PCI address then); -ENODEV when it
 * exists but is not an ivshmem device (or no device exists, for NULL);
 * -EACCES/-EPERM without permission; -EBUSY when the sysfs resource files
 * cannot be mapped because a driver holds the device's BARs (with a
 * sysfs path as @spec); -ECONNREFUSED when nobody listens on
 * the socket (a dead server); -EPROTO when the server does not speak the
 * protocol or hands out descriptors it may not; -ETIMEDOUT when the
 * connection or the greeting does not come in time; -ENOMEM; or
 * another negative errno.
 */
int ivshmem_open(const char *spec, struct ivshmem **out);

/**
 * ivshmem_close() - close a handle
 * @dev: the handle, or NULL (nothing happens)
 *
 * Closes every descriptor of the handle (for the host backend, the
 * connection: the server tells the other peers that this one left).
 * Mappings made with ivshmem_map() stay valid until ivshmem_unmap().
 *
 * Thread safety: no other call on @dev may run at the same time or after.
 */
void ivshmem_close(struct ivshmem *dev);

/**
 * ivshmem_backend() - which backend a handle uses
 * @dev: the handle
 *
 * Thread safety: safe (constant for the handle's life).
 *
 * Return: an enum ivshmem_backend value.
 */
enum ivshmem_backend ivshmem_backend(const struct ivshmem *dev);

/**
 * ivshmem_backend_name() - short name of a backend
 * @backend: an enum ivshmem_backend value
 *
 * Thread safety: safe.
 *
 * Return: "char", "uio", "sysfs" or "host"; "unknown" for other values.
 */
const char *ivshmem_backend_name(enum ivshmem_backend backend);

/**
 * ivshmem_memtype() - memory type of a default mapping
 * @dev: the handle
 *
 * The memory type that ivshmem_map() with IVSHMEM_MAP_DEFAULT really gets
 * on this handle (other modes get what they ask for, or fail):
 *
 *   - character device: what the driver reports (&struct
 *     ivshmem_info.memtype): write-back, or uncached-minus when the
 *     firmware's MTRRs leave the shared memory uncached and the driver
 *     could not move it; unknown from a driver before ABI version 2;
 *   - UIO: on uio_ivshmem, what the driver reports in the PCI device's
 *     memtype attribute (unknown from a driver without it); on other UIO
 *     drivers the memory comes from sysfs resource2: uncached-minus;
 *   - sysfs: uncached-minus, as the kernel maps resource2;
 *   - host: write-back (the server's memory is RAM).
 *
 * On other architectures than x86, guest backends say unknown where the
 * kernel does not report it.
 *
 * Thread safety: safe (constant for the handle's life: learnt at open).
 *
 * Return: an enum ivshmem_memtype value.
 */
enum ivshmem_memtype ivshmem_memtype(const struct ivshmem *dev);

/**
 * ivshmem_memtype_name() - name of a memory type
 * @type: an enum ivshmem_memtype value
 *
 * Thread safety: safe.
 *
 * Return: "write-back", "uncached-minus", "write-combining" or
 * "unknown" (also for values outside the enum); a static string.
 */
const char *ivshmem_memtype_name(enum ivshmem_memtype type);

/**
 * ivshmem_path() - what the handle was opened on
 * @dev: the handle
 *
 * Thread safety: safe (constant for the handle's life).
 *
 * Return: the device node ("/dev/ivshmem0", "/dev/uio0"), the PCI
 * device's sysfs directory, or "unix:PATH"; valid until ivshmem_close().
 */
const char *ivshmem_path(const struct ivshmem *dev);

/**
 * ivshmem_size() - size of the shared memory
 * @dev: the handle
 *
 * Thread safety: safe (constant for the handle's life).
 *
 * Return: the size in bytes (BAR2's size in a guest, the server's memory
 * on the host); may exceed 4 GiB.
 */
uint64_t ivshmem_size(const struct ivshmem *dev);

/**
 * ivshmem_id() - own peer ID
 * @dev: the handle
 *
 * This is the ID other peers ring ("VM ID", IVPosition).
 *
 * Thread safety: safe.
 *
 * Return: the ID, 0..65535; -ENODATA when the device has none
 * (ivshmem-plain, or a doorbell device that has no server).
 */
int ivshmem_id(const struct ivshmem *dev);

/**
 * ivshmem_vectors() - number of own interrupt vectors
 * @dev: the handle
 *
 * Vectors 0 .. ivshmem_vectors() - 1 can be waited for.  0 for
 * ivshmem-plain and for backends without interrupts (sysfs), where
 * ivshmem_wait() and ivshmem_vector_fd() fail with -EOPNOTSUPP.  The UIO
 * backend on uio_ivshmem gives every MSI-X vector of the device, as the
 * character device does.  Peers of one server normally all have the same
 * number of vectors.
 *
 * Thread safety: safe.  On the host backend the value can grow when late
 * vectors arrive (see ivshmem_open()).
 *
 * Return: the number of vectors.
 */
unsigned int ivshmem_vectors(const struct ivshmem *dev);

/**
 * ivshmem_can_ring() - whether ivshmem_ring() can work on this handle
 * @dev: the handle
 *
 * Thread safety: safe.
 *
 * Return: 1 when the device has a doorbell (a doorbell device, or a host
 * peer), 0 when it has none (ivshmem-plain).
 */
int ivshmem_can_ring(const struct ivshmem *dev);

/**
 * ivshmem_map() - map (part of) the shared memory
 * @dev: the handle
 * @offset: first byte to map; need not be page aligned
 * @length: bytes to map; 0 means up to the end of the memory
 * @mode: memory type (see enum ivshmem_map_mode)
 * @addr: set to the address of byte @offset on success
 *
 * The mapping is shared and readable and writable (or read-only where the
 * device was opened read-only).  It stays valid after ivshmem_close() and
 * ends with ivshmem_unmap().  On the character device the memory type is
 * chosen per mapping; the device's driver may refuse a type.  If the
 * device goes away (hot-unplug), the driver takes the pages away and
 * touching them raises SIGBUS.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL when @offset/@length reach past the end or @mode is
 * unknown; -EOPNOTSUPP when the backend cannot map with @mode (only
 * write-back on the host and UIO backends; only uncached or
 * write-combining through sysfs); -ENODEV when the device was removed;
 * -ENOMEM; another negative errno from mmap().
 */
int ivshmem_map(struct ivshmem *dev, uint64_t offset, size_t length,
		enum ivshmem_map_mode mode, void **addr);

/**
 * ivshmem_unmap() - undo ivshmem_map()
 * @addr: the address ivshmem_map() gave
 * @length: the length given to ivshmem_map() (after replacing 0 by the
 *          length that meant)
 *
 * Thread safety: safe.
 *
 * Return: 0, or -EINVAL for an address that cannot have come from
 * ivshmem_map().
 */
int ivshmem_unmap(void *addr, size_t length);

/**
 * ivshmem_ring() - ring a peer's doorbell
 * @dev: the handle
 * @peer: the peer's ID (0..65535); ringing one's own ID is allowed
 * @vector: the peer's vector to interrupt
 *
 * A ring is a notification, not a message: rings that arrive before the
 * peer consumed the previous one are counted together.  In a guest, the
 * device cannot tell whether the peer exists: rings to an absent peer, or
 * to a vector the peer does not have, are silently dropped by QEMU.  The
 * host backend knows the peers and says so.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL when @peer > 65535 or @vector > 65535 (or, where the
 * device tells, beyond what it can ring: QEMU's doorbell register carries
 * only 8 bits of vector); -EOPNOTSUPP when the device has no doorbell;
 * -ENXIO (host backend) when @peer is not connected to the server or
 * has no vector @vector; -ENODEV when the device was removed; another
 * negative errno.
 */
int ivshmem_ring(struct ivshmem *dev, unsigned int peer, unsigned int vector);

/**
 * ivshmem_vector_fd() - descriptor that becomes readable when a vector
 * is rung
 * @dev: the handle
 * @vector: own vector, < ivshmem_vectors()
 *
 * For use with poll()/epoll: the descriptor polls readable (POLLIN) while
 * rings of @vector are pending.  Consume them with ivshmem_vector_ack()
 * (do not read() it yourself: the format depends on the backend).  The
 * descriptor belongs to the handle: do not close it.  Every ring that
 * arrives after ivshmem_open() returned is seen (on the character device,
 * the handle binds an eventfd to each vector when it opens).  On the UIO
 * backend all vectors share one descriptor, the UIO device's, and
 * acknowledging any vector drains it: when it polls readable, call
 * ivshmem_vector_ack() for every vector you wait for (ivshmem_wait() does
 * this by itself).
 *
 * Thread safety: safe.
 *
 * Return: the descriptor (>= 0); -EINVAL for a vector out of range;
 * -EOPNOTSUPP when the backend has no interrupts; -ENODEV when the
 * device was removed; another negative errno.
 */
int ivshmem_vector_fd(struct ivshmem *dev, unsigned int vector);

/**
 * ivshmem_vector_ack() - consume the pending rings of a vector
 * @dev: the handle
 * @vector: own vector
 * @count: set to the number of rings consumed (may be NULL)
 *
 * Does not block.
 *
 * Thread safety: safe; when several threads consume the same vector each
 * ring is seen by one of them.
 *
 * Return: 0 when rings were pending; -EAGAIN when none were; the errors
 * of ivshmem_vector_fd().
 */
int ivshmem_vector_ack(struct ivshmem *dev, unsigned int vector, uint64_t *count);

/**
 * ivshmem_wait() - wait until one of some vectors is rung
 * @dev: the handle
 * @vectors: the vectors to wait for; NULL for all vectors
 * @nvectors: number of entries of @vectors (ignored when it is NULL)
 * @timeout_ms: how long to wait at most, in milliseconds; negative waits
 *              without limit, 0 only looks
 * @ev: set to the vector rung and its count on success
 *
 * Consumes the rings of one vector and returns.  When several vectors are
 * pending, successive calls take turns among them.  On the host backend
 * this also processes the server's messages meanwhile (as
 * ivshmem_dispatch() does), so the peer table stays current.  In a guest,
 * the region header's presence vector (see ivshmem_fd()) is a vector like
 * any other here: when ivshmem_wait() returns it, the presence table has
 * changed; call ivshmem_dispatch() or ivshmem_peers() to see how.
 *
 * Thread safety: safe; several threads may wait on the same handle (each
 * ring wakes one of them, or more, of which one gets it and the others go
 * on waiting).
 *
 * Return: 0; -ETIMEDOUT when nothing arrived in time; -EINTR when a signal
 * interrupted the wait; -EINVAL for a vector out of range; -EOPNOTSUPP
 * when the backend has no interrupts; -ENODEV when the device was
 * removed; -ECONNRESET (host backend) when the server closed the
 * connection; another negative errno.
 */
int ivshmem_wait(struct ivshmem *dev, const unsigned int *vectors,
		 unsigned int nvectors, int timeout_ms, struct ivshmem_irq *ev);

/**
 * ivshmem_fd() - descriptor that signals news about the handle
 * @dev: the handle
 *
 * On the host backend this is the server connection: when it polls
 * readable, call ivshmem_dispatch() to take in peers that came and went.
 *
 * In a guest (since LIBIVSHMEM_1.2), when the region header has a
 * presence table and a presence vector that this handle can wait for,
 * it is that vector's descriptor, as ivshmem_vector_fd() gives it: the
 * server rings the vector after every change of the table, so when the
 * descriptor polls readable, call ivshmem_dispatch().  On the UIO backend
 * every vector shares this one descriptor (see ivshmem_vector_fd()): when
 * it polls readable, call ivshmem_dispatch() and also
 * ivshmem_vector_ack() for each other vector you wait for.  The header is
 * read at every call; a program keeps the descriptor as long as the
 * header names the same vector (it does while the same server runs).
 *
 * Thread safety: safe.
 *
 * Return: the descriptor (owned by the handle); -ENOMSG (guest) when the
 * region has no header or the header no presence table; -EBADMSG when
 * the header is corrupt; -EOPNOTSUPP when there is no news to wait for:
 * a header without presence vector, a vector the handle cannot wait for
 * (sysfs backend, UIO drivers other than uio_ivshmem, a vector beyond
 * ivshmem_vectors()).
 */
int ivshmem_fd(struct ivshmem *dev);

/**
 * ivshmem_dispatch() - take in what changed among the peers
 * @dev: the handle
 *
 * Does not block.
 *
 * On the host backend it processes the server's pending messages and
 * updates the peer table (ivshmem_peers()) with the peers that connected
 * and disconnected.
 *
 * In a guest (since LIBIVSHMEM_1.2) it consumes the pending rings of the
 * presence vector (see ivshmem_fd()), when there is one, then reads the
 * region header's presence table and compares it with the previous look
 * of this handle: the previous ivshmem_dispatch(), or ivshmem_open(),
 * which looks once.  Without a presence vector (the sysfs backend, a
 * header without one) it only reads and compares, which a program can do
 * now and then instead of waiting.
 *
 * Thread safety: safe; looks are taken one at a time, so each change is
 * counted by one call.
 *
 * Return: host backend: the number of peers added or removed (>= 0);
 * -ECONNRESET once the server has closed the connection (stop polling
 * ivshmem_fd() then: it stays readable; rings to the peers known so far
 * still work); -EPROTO when the server broke the protocol.  Guest: the
 * number of peer IDs whose entry (present or not, and epoch) changed
 * since the previous look (>= 0, own ID included); -ENOMSG when the
 * region has no header or the header no presence table; -EBADMSG when
 * it is corrupt; -EAGAIN when no consistent copy of the table could be
 * had (its writer stuck halfway, or a peer scribbling on it); the
 * previous look stays then; -ENODEV when the device was removed.
 */
int ivshmem_dispatch(struct ivshmem *dev);

/**
 * ivshmem_peers() - the other peers that are connected
 * @dev: the handle
 * @ids: filled with up to @max peer IDs, in ascending order (may be NULL
 *       when @max is 0)
 * @max: room in @ids
 *
 * Own ID (ivshmem_id(), where the handle has one) is not included.
 *
 * On the host backend the list is the server's: as of the last
 * ivshmem_dispatch() or ivshmem_wait().  In a guest (since
 * LIBIVSHMEM_1.2) it is the region header's presence table, read at this
 * call: a guest's device cannot tell who is there, the header can.
 *
 * Thread safety: safe.
 *
 * Return: the number of peers (which may exceed @max: call again with more
 * room); in a guest, -ENOMSG when the region has no header or the header
 * no presence table, -EBADMSG when it is corrupt, -EAGAIN when no
 * consistent copy of the table could be had.
 */
int ivshmem_peers(struct ivshmem *dev, unsigned int *ids, unsigned int max);

/**
 * struct ivshmem_region - the region header, as ivshmem_region_info()
 * read it (since LIBIVSHMEM_1.2)
 * @label:           the region's name, NUL-terminated; "" when the
 *                   header has none.  Any bytes but NUL may come before
 *                   the NUL (a peer may have written them): escape them
 *                   before printing, check them before making names
 * @header_offset:   where the header begins in the shared memory: the
 *                   application's data must stay below it (the memory
 *                   from 0 to @header_offset is the application's)
 * @header_size:     bytes the header takes at the end of the memory, its
 *                   presence table included (ivshmem_size() -
 *                   @header_offset)
 * @max_peers:       entries of the presence table: peer IDs 0 ..
 *                   @max_peers - 1; 0 when the header has no table
 * @presence_vector: the vector the server rings on every peer after each
 *                   change of the table, or -1 (no table, or no vector)
 * @instance:        a value the header's writer chose at random when it
 *                   wrote the header: another value means another server
 *                   (or a restarted one)
 * @reserved:        zero
 */
struct ivshmem_region {
	char label[64];
	uint64_t header_offset;
	uint64_t header_size;
	unsigned int max_peers;
	int presence_vector;
	uint64_t instance;
	uint64_t reserved[4];
};

/**
 * ivshmem_region_info() - read the region header
 * @dev: the handle (any backend)
 * @info: filled on success
 *
 * The header is read at every call (it is shared memory): through a
 * mapping of the memory's last page that the handle makes on first use
 * (or at ivshmem_open(), in a guest) and keeps until ivshmem_close().
 * On the sysfs backend that mapping is uncached, as every mapping there.
 * Like every access to the memory, it raises SIGBUS once the device has
 * been removed (hot-unplug).
 *
 * Thread safety: safe.
 *
 * Return: 0; -ENOMSG when the region has no header (no magic, or memory
 * too small for one); -EBADMSG when the header is corrupt (another
 * version, sizes that do not fit the memory, a label without its NUL);
 * -EINVAL when @info is NULL; -ENOMEM; an error of ivshmem_map() when the
 * last page cannot be mapped.
 */
int ivshmem_region_info(struct ivshmem *dev, struct ivshmem_region *info);

/**
 * ivshmem_peer_epoch() - one entry of the presence table
 * @dev: the handle (any backend: on the host, too, this reads the table,
 *       not the server's messages)
 * @peer: the peer ID
 * @epoch: set to the entry's epoch (may be NULL): it changes at every
 *         connect of this ID, stays when the peer leaves, and is 0 when no
 *         peer has had the ID since the header was written.  A peer that
 *         sees another epoch for an ID talks to another peer than before.
 *
 * The table is read at this call, with the table's sequence counter, so
 * that state and epoch are of one moment.
 *
 * Thread safety: safe.
 *
 * Return: 1 when the peer is present, 0 when it is absent; -ENOMSG when
 * the region has no header or the header no presence table; -EBADMSG
 * when the header or this entry is corrupt; -EAGAIN when no consistent
 * copy could be had (the table's writer stuck halfway, or a peer
 * scribbling on it); -EINVAL when @peer is beyond the table (>=
 * &struct ivshmem_region.max_peers); -ENOMEM; an error of ivshmem_map().
 */
int ivshmem_peer_epoch(struct ivshmem *dev, unsigned int peer, uint32_t *epoch);

/**
 * struct ivshmem_devinfo - one ivshmem device found by ivshmem_list()
 * @path:       what to give ivshmem_open(): "/dev/ivshmemN", "/dev/uioN",
 *              or the PCI device's sysfs directory when no driver offers
 *              a device node
 * @pci:        PCI address, "0000:00:04.0"
 * @driver:     driver bound to the PCI function ("ivshmem", "uio_ivshmem",
 *              "uio_pci_generic", ...), "" for none
 * @kind:       "doorbell" (has MSI-X, talks to a server) or "plain"
 * @irq:        interrupt mode: "msix" when the driver has MSI-X enabled,
 *              "none" otherwise
 * @size:       shared memory size in bytes
 * @id:         own VM ID, or -1 when unknown or not applicable
 * @vectors:    interrupt vectors of the device (MSI-X table size), 0 for
 *              plain devices
 * @revision:   PCI revision (1 for current QEMU)
 * @memtype:    memory type of a default mapping through @path, as
 *              ivshmem_memtype() would give after opening it (since
 *              LIBIVSHMEM_1.1)
 * @label:      the region's label (since LIBIVSHMEM_1.2; a program that
 *              reads it must use a function of LIBIVSHMEM_1.2, so that an
 *              older library is refused): the driver's attribute (label
 *              of the ivshmem class device, region_label of the PCI device
 *              on uio_ivshmem), or for a device of no driver or of
 *              another UIO driver the region header read through the sysfs
 *              resource2 file, which only root can; "" when there is no
 *              label or it cannot be read.  Any bytes but NUL: escape them
 *              before printing
 *
 * Fields may be added at the end in later versions; the library allocates
 * these, never the caller.
 */
struct ivshmem_devinfo {
	const char *path;
	const char *pci;
	const char *driver;
	const char *kind;
	const char *irq;
	uint64_t size;
	int id;
	unsigned int vectors;
	unsigned int revision;
	enum ivshmem_memtype memtype;
	const char *label;
};

/**
 * ivshmem_list() - find the ivshmem devices of this system
 * @list: set to a NULL-terminated array of devices, in PCI address order;
 *        free it with ivshmem_list_free()
 *
 * Uses libudev (which reads sysfs; no udev daemon is needed).  Every PCI
 * function 1af4:1110 is listed, whichever driver has it.  The VM ID comes
 * from the driver (the character device's sysfs attribute) or, for root,
 * from the device's IVPosition register.
 *
 * Thread safety: safe.
 *
 * Return: the number of devices (>= 0; with an empty list on a system
 * without any), or -ENOMEM or another negative errno.
 */
int ivshmem_list(struct ivshmem_devinfo ***list);

/**
 * ivshmem_list_free() - free what ivshmem_list() returned
 * @list: the array, or NULL
 *
 * Thread safety: safe.
 */
void ivshmem_list_free(struct ivshmem_devinfo **list);

/*
 * Channels (since LIBIVSHMEM_1.2)
 *
 * A channel carries messages both ways between two peers of one region,
 * through a part of the shared memory both sides agree on (struct
 * ivshmem_chan_config), with a doorbell only when the other side sleeps.
 * Messages keep their boundaries and arrive whole, once and in order, or
 * not at all.
 *
 * Layout of the channel's memory, [offset, offset + size), all fields
 * little-endian, positions in bytes that only grow (64 bits) and restart
 * at 0 with every pairing (below):
 *
 *   offset + 0        control block of the lower peer ID   (640 bytes)
 *   offset + 2048     control block of the higher peer ID  (640 bytes)
 *   offset + 4096     ring 0: what the lower ID sends      (ring bytes)
 *   + ring            ring 1: what the higher ID sends     (ring bytes)
 *
 * where ring = ((size - 4096) / 2) rounded down to a multiple of 64.  A
 * control block is written only by its owner, in 128-byte lines so that
 * the two sides do not share a cache line they both write:
 *
 *   line 0 (+0)    le32 magic "IVCH" (0x48435649), le32 version (1),
 *                  le32 own ID, le32 peer ID, le64 session (0 while
 *                  being written), le64 peer_session (the session of the
 *                  peer this side accepted, 0: none), le32 flags (1:
 *                  closed, 2: polls and cannot be woken, 4: cannot ring)
 *   line 1 (+128)  le64 tx_tail: end of what it has sent (its ring)
 *   line 2 (+256)  le64 rx_head: end of what it has received (the other)
 *   line 3 (+384)  le64 rx_event: ring me when your tx_tail moves from at
 *                  most this to beyond it (all ones: never)
 *   line 4 (+512)  le64 tx_event: the same for your rx_head
 *
 * A ring holds records at 8-byte aligned positions: a le32 length and a
 * le32 flags word, then the message, padded to 8 bytes.  A record never
 * wraps: where the rest of the ring is too short, the sender writes a
 * record with flags 1 (skip to the ring's start) and length 0 there.
 *
 * Ordering (C11 atomics; on x86 acquire loads and release stores are plain
 * moves, and only the seq_cst fence costs an MFENCE or locked
 * instruction): the sender writes a record, then stores tx_tail with
 * release; the receiver loads tx_tail with acquire, then reads the record.
 * The receiver stores rx_head with release after copying a message out;
 * the sender loads it with acquire before writing over that space.
 * Wakeups follow virtio's event index: a receiver about to sleep stores
 * rx_event = its head, issues a seq_cst fence and looks at tx_tail again
 * (it sleeps only if still nothing came); a sender stores tx_tail, issues
 * a seq_cst fence, loads the peer's rx_event and rings the peer's vector
 * only when the new records cross it.  The fences forbid the one
 * reordering x86 does, a later load passing an earlier store, so either
 * the receiver sees the record or the sender sees the receiver asleep.  A
 * sender waiting for room does the same with tx_event and rx_head.  Before
 * sleeping, a waiter spins for a while (up to &struct
 * ivshmem_chan_config.spin_us), so that a busy peer's messages need no
 * ring at all.  The spin adapts: one that caught what it waited for
 * doubles the next, one that ran out halves it (a peer on the same CPU
 * cannot answer while this side spins), down to none but, one wait in
 * 64, a whole spin to see whether spinning pays again.
 *
 * Pairing.  Each side writes a random session value into its control
 * block when it opens the channel.  A side takes the other's session by
 * writing it as its peer_session, with its positions reset to 0 first;
 * messages flow while each side's peer_session is the other's session.
 * A side changes its own session by first storing 0 there, then (after a
 * release fence) the rest of its block, then the new session with
 * release, so a reader that checks the session again after an acquire
 * fence knows whether what it read belongs to the pairing.  A peer that
 * restarts comes back with a new session: the pairing ends, what was in
 * flight is dropped, and each direction reports -ECONNRESET once.  Where
 * the region has a presence table (ivshmem_peer_epoch()), a peer that
 * left, or whose ID another peer took (another epoch), ends the pairing
 * the same way, before it comes back; then this side takes a new session
 * of its own, so that the control block the dead peer left behind can
 * never pair again.  Pairing needs both sides: the one that opened first
 * takes the other's session at its next call (the other rings it when it
 * opens), so a blocking call, or a program that polls ivshmem_chan_fd(),
 * pairs by itself.  A channel closed with ivshmem_chan_close() marks its
 * block closed: the other side receives what is left, then -EPIPE.
 *
 * The other peer is not trusted: every position, length and flag read
 * from the shared memory is copied once and checked against the
 * channel's own memory before use.  Anything a correct peer cannot have
 * written gives -EPROTO, and the channel starts a new pairing (as after a
 * restart): never an access outside the channel's memory, never a loop
 * without end.  A peer can still change a message while it is copied out,
 * or send wrong data: check what the application needs to trust.
 *
 * Backends: the character device, UIO on uio_ivshmem and the host backend
 * sleep on the own vector; the sysfs backend and other UIO drivers have no
 * interrupts, so the channel polls the memory (IVSHMEM_CHAN_POLL, below)
 * and tells the other side not to ring it.  A device without a peer ID
 * (ivshmem-plain) cannot have channels.
 */

/** An open channel (opaque). */
struct ivshmem_chan;

/** IVSHMEM_CHAN_MIN_SIZE - the smallest channel: the control page and two rings of 2 KiB. */
#define IVSHMEM_CHAN_MIN_SIZE		8192
/** IVSHMEM_CHAN_DEFAULT_SIZE - size of the slots of the default layout. */
#define IVSHMEM_CHAN_DEFAULT_SIZE	65536
/** IVSHMEM_CHAN_SPIN_DEFAULT - microseconds a waiter spins before it sleeps. */
#define IVSHMEM_CHAN_SPIN_DEFAULT	20
/** IVSHMEM_CHAN_SPIN_MAX - the longest spin &struct ivshmem_chan_config.spin_us can ask. */
#define IVSHMEM_CHAN_SPIN_MAX		1000000

/* &struct ivshmem_chan_config.flags */
/** IVSHMEM_CHAN_NO_SPIN - sleep at once, never spin (spin_us is ignored). */
#define IVSHMEM_CHAN_NO_SPIN		0x1U
/**
 * IVSHMEM_CHAN_POLL - never sleep on the vector: wait by looking at the
 * memory (spinning, then naps of up to a millisecond), and tell the other
 * side not to ring.  Implied where the handle has no interrupts.
 */
#define IVSHMEM_CHAN_POLL		0x2U

/**
 * struct ivshmem_chan_config - where a channel lives and who is at the
 * other end; both sides give the same @offset and @size.  All zero
 * but @peer is a valid configuration.
 * @offset:      first byte of the channel's memory: a multiple of 4096.
 *               With @offset and @size both 0, the default layout: the
 *               channel of peers lo < hi is slot k = hi * (hi - 1) / 2 +
 *               lo of IVSHMEM_CHAN_DEFAULT_SIZE bytes, counted down from
 *               the end of the application's memory (the region header's
 *               &struct ivshmem_region.header_offset, or the end of the
 *               memory when the region has no header): [end - (k + 1) *
 *               64 KiB, end - k * 64 KiB).  Peers 0 and 1 get the 64 KiB
 *               right below the header.
 * @size:        bytes of the channel's memory: a multiple of 4096, at least
 *               IVSHMEM_CHAN_MIN_SIZE; the channel must end before the
 *               region header
 * @peer:        the other peer's ID (not the own one)
 * @vector:      own vector the channel sleeps on and the other side rings
 * @peer_vector: the other side's vector that this side rings
 *               (usually the same number as @vector)
 * @spin_us:     how long a blocking call spins at most before it sleeps
 *               (less when spinning did not pay lately), in
 *               microseconds, at most IVSHMEM_CHAN_SPIN_MAX; 0 means
 *               IVSHMEM_CHAN_SPIN_DEFAULT (IVSHMEM_CHAN_NO_SPIN: none)
 * @flags:       IVSHMEM_CHAN_* flags
 * @reserved:    zero
 */
struct ivshmem_chan_config {
	uint64_t offset;
	uint64_t size;
	unsigned int peer;
	unsigned int vector;
	unsigned int peer_vector;
	unsigned int spin_us;
	unsigned int flags;
	uint32_t reserved[7];
};

/**
 * ivshmem_chan_open() - open a channel to a peer
 * @dev: the handle; it must outlive the channel
 * @cfg: where the channel is and who the peer is
 * @out: set to the new channel on success, untouched on failure
 *
 * Maps the channel's memory, writes this side's control block with a new
 * session and rings the peer, which need not be there yet: messages flow
 * once both sides have the channel open (see "Pairing" above).  Opening
 * again (after ivshmem_chan_close(), or in a new process) is a new
 * session: the other side drops what it had of the previous one.  A
 * device removed under an open channel raises SIGBUS, as every access to
 * its memory does.
 *
 * Thread safety: safe.  Two channels of one handle must not overlap.
 *
 * Return: 0; -EINVAL for a NULL argument, an @offset or @size not a
 * multiple of 4096, a @size below IVSHMEM_CHAN_MIN_SIZE, memory past the
 * end of the region or into its header, @peer above 65535 or equal to
 * the own ID, a @vector the handle does not have, a @peer_vector the
 * device cannot ring, unknown @flags, @spin_us above
 * IVSHMEM_CHAN_SPIN_MAX or non-zero @reserved; -ENODATA when the device
 * has no peer ID (ivshmem-plain); -ENOSPC when the default layout's slot
 * for the pair does not fit the memory; -EBADMSG when the region header is
 * corrupt (the two sides might not agree on it); -ENOMEM; an error of
 * ivshmem_map() or ivshmem_ring().
 */
int ivshmem_chan_open(struct ivshmem *dev, const struct ivshmem_chan_config *cfg,
		      struct ivshmem_chan **out);

/**
 * ivshmem_chan_close() - close a channel
 * @chan: the channel, or NULL (nothing happens)
 *
 * Marks this side's control block closed and rings the peer: the peer
 * receives what this side sent before, then -EPIPE.  Unmaps the channel's
 * memory; the handle stays open.
 *
 * Thread safety: no other call on @chan may run at the same time or after.
 */
void ivshmem_chan_close(struct ivshmem_chan *chan);

/**
 * ivshmem_chan_send() - send a message
 * @chan: the channel
 * @buf: the message (may be NULL when @len is 0)
 * @len: its length, 0 to ivshmem_chan_max_msg(); 0 is a message too
 * @timeout_ms: how long to wait for the peer and for room, in
 *              milliseconds: 0 does not wait, negative waits without limit
 *
 * Copies the message into the ring and rings the peer if it sleeps.  It
 * waits while the other side has not opened the channel yet (or has not
 * taken this side's session) and while the ring has no room.  When it
 * returns 0, the message is in the ring and the peer will receive it
 * unless the pairing ends first.
 *
 * Thread safety: safe; concurrent senders take turns, and may send while
 * other threads receive.
 *
 * Return: 0; -EMSGSIZE when @len exceeds ivshmem_chan_max_msg();
 * -EINVAL when @buf is NULL and @len not 0; -EAGAIN (@timeout_ms 0) or
 * -ETIMEDOUT when it would have to wait longer; -ECONNRESET once after
 * the pairing ended (the peer restarted, or left according to the
 * presence table): messages sent before may be lost, this one was not
 * sent; -EPIPE when the peer closed the channel (until it opens it again);
 * -EPROTO when the peer broke the channel's protocol (the channel starts
 * a new pairing); -EBUSY while a reservation is open
 * (ivshmem_chan_reserve()); -EINTR when a signal interrupted the wait;
 * -ENODEV when the device was removed; another error of ivshmem_wait().
 */
int ivshmem_chan_send(struct ivshmem_chan *chan, const void *buf, size_t len, int timeout_ms);

/**
 * ivshmem_chan_recv() - receive a message
 * @chan: the channel
 * @buf: where to copy the message
 * @len: room in @buf; ivshmem_chan_max_msg() bytes are always enough
 * @timeout_ms: how long to wait for a message, in milliseconds: 0 does
 *              not wait, negative waits without limit
 *
 * Takes the oldest message, copies it and makes its room free for the
 * peer (ringing the peer if it waits for room).  A message too large for
 * @buf stays where it is.
 *
 * Thread safety: safe; concurrent receivers take turns, each message goes
 * to one of them, and they may receive while other threads send.
 *
 * Return: the message's length (>= 0, 0 for an empty message);
 * -EMSGSIZE when it is longer than @len (nothing is taken: call again with
 * more room); -EINVAL when @buf is NULL and @len not 0; -EAGAIN
 * (@timeout_ms 0) or -ETIMEDOUT when no message came in time; -EPIPE when
 * the peer closed the channel and everything it sent has been received
 * (until it opens it again); -ECONNRESET once after the pairing ended
 * (messages may have been lost; what follows comes from the peer's new
 * session); -EBUSY while a peeked message is not released
 * (ivshmem_chan_peek()); -EPROTO, -EINTR, -ENODEV and others as for
 * ivshmem_chan_send().
 */
ssize_t ivshmem_chan_recv(struct ivshmem_chan *chan, void *buf, size_t len, int timeout_ms);

/*
 * Zero copy (since LIBIVSHMEM_1.2).  ivshmem_chan_send() and
 * ivshmem_chan_recv() copy each message twice: into the ring and out of
 * it.  A large message can skip both: the sender reserves room in the
 * ring, writes the message there and commits it; the receiver peeks at
 * the oldest message where it lies and releases it when done.  The bytes
 * stay in the shared memory all the while, so a peer can still change
 * them under the receiver (a correct peer never does; a hostile one can,
 * and only inside the channel's memory): copy out what must not change
 * before checking it.  One reservation and one peeked message at a time
 * per channel; while one is open, the other calls of the same direction
 * return -EBUSY.
 */

/** IVSHMEM_CHAN_DROP - &ivshmem_chan_commit's length that drops a reservation unsent. */
#define IVSHMEM_CHAN_DROP	((size_t)-1)

/**
 * ivshmem_chan_reserve() - room for a message, in the ring
 * @chan: the channel
 * @len: the most the message will hold, 0 to ivshmem_chan_max_msg()
 * @buf: set to where the message goes: @len writable bytes, 8-byte aligned
 * @timeout_ms: as for ivshmem_chan_send()
 *
 * Waits as ivshmem_chan_send() does, for the peer and for room, and
 * hands out the room without sending anything: the peer sees nothing of
 * it before ivshmem_chan_commit().  The room stays this side's until the
 * commit, or until the pairing ends (the commit then fails).
 *
 * Thread safety: safe; the reservation belongs to the channel, and any
 * thread may commit it.
 *
 * Return: 0; -EBUSY when a reservation is open already; -EINVAL for a
 * NULL @buf; otherwise the errors of ivshmem_chan_send().
 */
int ivshmem_chan_reserve(struct ivshmem_chan *chan, size_t len, void **buf, int timeout_ms);

/**
 * ivshmem_chan_commit() - send the reserved message
 * @chan: the channel
 * @len: the message's length, at most the reserved length; or
 *       IVSHMEM_CHAN_DROP to give the room back and send nothing
 *
 * Sends the first @len bytes of the reservation as one message and rings
 * the peer if it sleeps; it never waits.  The reservation is over
 * whatever it returns, except for -EINVAL.  A drop always returns 0: a
 * pairing that ended meanwhile is reported by the next send or
 * reservation, once.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL when no reservation is open or @len exceeds it;
 * -ECONNRESET when the pairing ended since the reservation (the message
 * was not sent, and no later call reports that reset again); -EPIPE when
 * the peer closed the channel meanwhile (not sent).
 */
int ivshmem_chan_commit(struct ivshmem_chan *chan, size_t len);

/**
 * ivshmem_chan_peek() - the oldest message, where it lies
 * @chan: the channel
 * @buf: set to the message's first byte, in the channel's memory
 *       (8-byte aligned; valid until ivshmem_chan_release() or
 *       ivshmem_chan_close())
 * @timeout_ms: as for ivshmem_chan_recv()
 *
 * Waits as ivshmem_chan_recv() does and hands out the oldest message
 * without taking it: its room stays the receiver's until
 * ivshmem_chan_release().  The message was checked as every received one
 * is (its length and place in the ring); its bytes are the peer's to
 * change (see "Zero copy" above).
 *
 * Thread safety: safe; the peeked message belongs to the channel, and any
 * thread may release it.
 *
 * Return: the message's length (>= 0); -EBUSY when a peeked message is
 * not released yet; -EINVAL for a NULL @buf; otherwise the errors of
 * ivshmem_chan_recv() (never -EMSGSIZE).
 */
ssize_t ivshmem_chan_peek(struct ivshmem_chan *chan, const void **buf, int timeout_ms);

/**
 * ivshmem_chan_release() - done with the peeked message
 * @chan: the channel
 *
 * Takes the peeked message and makes its room free for the peer (ringing
 * the peer if it waits for room); it never waits.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL when no message is peeked; -ECONNRESET when the
 * pairing ended since the peek (the peer restarted, left, or broke the
 * protocol): the message may have changed while it was read; it is gone
 * from the ring, and no later call reports that reset again.
 */
int ivshmem_chan_release(struct ivshmem_chan *chan);

/**
 * ivshmem_chan_fd() - descriptor to poll for a channel's news
 * @chan: the channel
 *
 * The own vector's descriptor (ivshmem_vector_fd() of
 * &struct ivshmem_chan_config.vector), for poll()/epoll: it polls
 * readable (POLLIN) after the peer rang, for a message, for room, or
 * because it opened or closed the channel.  The protocol: when it polls
 * readable, call ivshmem_chan_recv(), and ivshmem_chan_send() for a
 * message that was waiting for room, with @timeout_ms 0 until they return
 * -EAGAIN.  A call that returns -EAGAIN has consumed the vector's pending
 * rings (ivshmem_vector_ack(): do not acknowledge the vector yourself)
 * and asked the peer to ring once it has news, so the descriptor polls
 * readable again when there is something to do; it may also poll readable
 * with nothing to do.  A peer that dies without closing rings nobody: with
 * a presence table, a call notices it; poll with a timeout (a second, say)
 * to make that call.  The descriptor belongs to the handle; other users
 * of the same vector on the same handle would take the channel's rings.
 *
 * Thread safety: safe.
 *
 * Return: the descriptor (>= 0); -EOPNOTSUPP when the channel polls
 * (IVSHMEM_CHAN_POLL, or a handle without interrupts).
 */
int ivshmem_chan_fd(struct ivshmem_chan *chan);

/**
 * ivshmem_chan_max_msg() - the longest message a channel carries
 * @chan: the channel
 *
 * A quarter of a ring, less the record's 8 bytes: ((size - 4096) / 2,
 * rounded down to a multiple of 64) / 4 - 8; 504 bytes for the smallest
 * channel, 7672 for a default slot.
 *
 * Thread safety: safe (constant for the channel's life).
 *
 * Return: the length in bytes.
 */
size_t ivshmem_chan_max_msg(const struct ivshmem_chan *chan);

/**
 * ivshmem_strerror() - describe an error
 * @err: a negative errno returned by this library (a positive one is
 *       accepted too)
 *
 * Gives the system's description of the errno, or a more precise one for
 * the errors that mean something particular here (for example -ENXIO:
 * "peer not connected"; -ENOMSG: "the region has no ivshmem header";
 * -EBADMSG: "the region's header is corrupt").
 *
 * Thread safety: safe; the string is static.
 *
 * Return: a string that is never NULL.
 */
const char *ivshmem_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* LIBIVSHMEM_H */
