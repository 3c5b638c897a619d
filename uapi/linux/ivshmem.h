/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ivshmem: userspace interface of the driver for QEMU's Inter-VM Shared
 * Memory device (PCI 1af4:1110).
 *
 * Each device is a character device, /dev/ivshmemN.  The file offers:
 *
 * - mmap(): the shared memory (BAR2), whole or a page-aligned part of it,
 *   MAP_SHARED only.  The offset is a byte offset into the shared memory.
 *   Mappings are write-back cached unless IVSHMEM_IOCTL_SET_CACHE chose
 *   another mode for the file before the mmap() call.
 * - ioctl(): the commands below.
 * - read() and poll(): interrupts received on the device's vectors, for
 *   callers that do not bind eventfds (see &struct ivshmem_event).
 *
 * Every command returns 0 on success or -1 with errno set.  Errors common
 * to all commands:
 *
 * - ``ENOTTY``: unknown command.
 * - ``EFAULT``: the argument pointer is not valid.
 * - ``ENODEV``: the device has been removed (hot-unplug, driver unbind);
 *   the file stays open but every later call fails this way.
 *
 * Fields marked (in) are read by the kernel, (out) are written by it.
 * Reserved and padding fields marked (in) must be zero, unknown flag bits
 * must be clear: the kernel rejects anything else with ``EINVAL`` so that
 * they can be given a meaning later without breaking old programs.
 */
#ifndef _UAPI_LINUX_IVSHMEM_H
#define _UAPI_LINUX_IVSHMEM_H

#include <linux/ioctl.h>
#include <linux/types.h>

/**
 * IVSHMEM_ABI_VERSION - version of this interface.
 *
 * Reported in &struct ivshmem_info.abi_version.  It only grows, and only
 * when a command or a field is added; nothing defined here ever changes
 * meaning.  Version 2 added &struct ivshmem_info.memtype.
 */
#define IVSHMEM_ABI_VERSION		2

/**
 * IVSHMEM_MAGIC - ioctl type of every ivshmem command.
 *
 * 'J' is unused in Documentation/userspace-api/ioctl/ioctl-number.rst;
 * this interface takes numbers 0x00-0x0F.
 */
#define IVSHMEM_MAGIC			'J'

/* &struct ivshmem_info.irq_mode */
/** IVSHMEM_IRQ_MODE_NONE - no interrupts: plain device, or MSI-X unavailable. */
#define IVSHMEM_IRQ_MODE_NONE		0
/** IVSHMEM_IRQ_MODE_MSIX - one MSI-X interrupt per vector. */
#define IVSHMEM_IRQ_MODE_MSIX		1

/* &struct ivshmem_info.dev_flags */
/**
 * IVSHMEM_DEV_DOORBELL - the device is connected to a doorbell server.
 *
 * Set for ivshmem-doorbell devices (they have MSI-X vectors, even when the
 * guest cannot enable them), clear for ivshmem-plain devices.  Only
 * doorbell devices can ring peers and have a peer ID.
 */
#define IVSHMEM_DEV_DOORBELL		0x00000001U

/* &struct ivshmem_info.memtype */
/**
 * IVSHMEM_MEMTYPE_UNKNOWN - the driver cannot tell (not x86, PAT off, or
 * a driver older than ABI version 2, which wrote 0 here).
 */
#define IVSHMEM_MEMTYPE_UNKNOWN		0
/** IVSHMEM_MEMTYPE_WB - write-back mappings really are write-back. */
#define IVSHMEM_MEMTYPE_WB		1
/**
 * IVSHMEM_MEMTYPE_UC_MINUS - write-back mappings become uncached-minus:
 * the MTRRs do not mark the shared memory's physical range write-back
 * (see the end of this header).
 */
#define IVSHMEM_MEMTYPE_UC_MINUS	2

/**
 * IVSHMEM_VM_ID_UNKNOWN - &struct ivshmem_info.vm_id before the server
 * has assigned one (only seen on revision 0 devices).
 */
#define IVSHMEM_VM_ID_UNKNOWN		0xffffffffU

/**
 * IVSHMEM_PEER_MAX - the highest peer ID a doorbell can address.
 */
#define IVSHMEM_PEER_MAX		65535

/**
 * IVSHMEM_VECTOR_MAX - the highest vector IVSHMEM_IOCTL_RING accepts.
 *
 * The device's doorbell register has a 16-bit vector field, but QEMU uses
 * only its low 8 bits: ringing vector 256 would silently ring vector 0.
 * The driver therefore refuses vectors above 255 with ``EINVAL`` rather
 * than interrupt the wrong vector.
 */
#define IVSHMEM_VECTOR_MAX		255

/**
 * struct ivshmem_info - what IVSHMEM_IOCTL_INFO reports about the device.
 * @size:        (in) sizeof(struct ivshmem_info); any other value gives
 *               ``EINVAL``.  (out) the number of bytes the kernel filled.
 *               A larger structure will come with a new command number;
 *               this one keeps working.
 * @flags:       (in) must be 0.
 * @shm_size:    (out) size of the shared memory (BAR2) in bytes, a power
 *               of two; the largest length mmap() accepts.
 * @vm_id:       (out) own peer ID (0..65535) as given by the doorbell
 *               server: the number other peers ring.  0 on plain devices;
 *               IVSHMEM_VM_ID_UNKNOWN while a revision 0 device waits for
 *               its server.  Read from the device at each call.
 * @nr_vectors:  (out) number of interrupt vectors this guest receives:
 *               the device's MSI-X vectors in mode IVSHMEM_IRQ_MODE_MSIX,
 *               0 in mode IVSHMEM_IRQ_MODE_NONE.  Valid vectors for
 *               IVSHMEM_IOCTL_BIND_EVENTFD and read() are 0..nr_vectors-1.
 * @revision:    (out) PCI revision of the device: 1 for QEMU 2.6 and
 *               later, 0 before.
 * @irq_mode:    (out) IVSHMEM_IRQ_MODE_NONE or IVSHMEM_IRQ_MODE_MSIX.
 * @dev_flags:   (out) IVSHMEM_DEV_* bits.
 * @abi_version: (out) IVSHMEM_ABI_VERSION of the running driver.
 * @memtype:     (out) the memory type a write-back mapping (the default)
 *               of the shared memory really gets: IVSHMEM_MEMTYPE_WB,
 *               IVSHMEM_MEMTYPE_UC_MINUS or IVSHMEM_MEMTYPE_UNKNOWN.
 *               Fixed at probe; mappings in other modes get the mode
 *               they ask for.  Since ABI version 2.
 * @reserved:    (out) written as 0.
 */
struct ivshmem_info {
	__u32 size;
	__u32 flags;
	__u64 shm_size;
	__u32 vm_id;
	__u32 nr_vectors;
	__u32 revision;
	__u32 irq_mode;
	__u32 dev_flags;
	__u32 abi_version;
	__u32 memtype;
	__u32 reserved[1];
};

/**
 * struct ivshmem_ring - a doorbell for IVSHMEM_IOCTL_RING.
 * @peer:   (in) peer ID to interrupt, 0..IVSHMEM_PEER_MAX.  A guest may
 *          ring itself (its own vm_id).
 * @vector: (in) the peer's vector, 0..IVSHMEM_VECTOR_MAX.  It is not
 *          checked against this device's vector count: the peer may have
 *          more.
 * @flags:  (in) must be 0.
 * @pad:    (in) must be 0.
 *
 * The device gives no feedback: a ring to a peer that is not connected,
 * or to a vector the peer does not have, is silently lost.
 */
struct ivshmem_ring {
	__u32 peer;
	__u32 vector;
	__u32 flags;
	__u32 pad;
};

/**
 * struct ivshmem_eventfd - argument of IVSHMEM_IOCTL_BIND_EVENTFD and
 * IVSHMEM_IOCTL_UNBIND_EVENTFD.
 * @vector: (in) own vector, 0..nr_vectors-1 (&struct ivshmem_info).
 * @fd:     (in) BIND: an eventfd (eventfd(2)), signalled (incremented by
 *          one) on every interrupt of @vector.  UNBIND: ignored; set it
 *          to -1.
 * @flags:  (in) must be 0.
 * @pad:    (in) must be 0.
 */
struct ivshmem_eventfd {
	__u32 vector;
	__s32 fd;
	__u32 flags;
	__u32 pad;
};

/* &struct ivshmem_cache.mode */
/** IVSHMEM_CACHE_WB - write-back: the default, right for host RAM. */
#define IVSHMEM_CACHE_WB		0
/** IVSHMEM_CACHE_WC - write-combining. */
#define IVSHMEM_CACHE_WC		1
/** IVSHMEM_CACHE_UC - uncached. */
#define IVSHMEM_CACHE_UC		2

/**
 * struct ivshmem_cache - argument of IVSHMEM_IOCTL_SET_CACHE.
 * @mode:  (in) IVSHMEM_CACHE_WB, IVSHMEM_CACHE_WC or IVSHMEM_CACHE_UC.
 * @flags: (in) must be 0.
 */
struct ivshmem_cache {
	__u32 mode;
	__u32 flags;
};

/**
 * struct ivshmem_event - one record of read() on the device file.
 * @vector: the vector that was interrupted.
 * @count:  interrupts on @vector since this file last reported it (or
 *          since open()), at least 1; it saturates at 0xffffffff.
 *
 * read() fills the buffer with as many whole records as fit, one per
 * vector with pending interrupts, in ascending vector order, and returns
 * the number of bytes written.  Vectors left out for lack of room stay
 * pending for the next read().  Every open file counts on its own, so
 * several readers all see every interrupt.  Without O_NONBLOCK, read()
 * sleeps until an interrupt arrives.  poll() reports EPOLLIN when a
 * read() would return records, EPOLLERR alone on a device without
 * interrupts (where read() fails with ``EOPNOTSUPP``), and EPOLLHUP |
 * EPOLLERR once the device is gone.  read() errors:
 *
 * - ``EINVAL``: the buffer is smaller than one record.
 * - ``EAGAIN``: O_NONBLOCK and nothing pending.
 * - ``EINTR``: a signal arrived while sleeping.
 * - ``EOPNOTSUPP``: the device has no interrupts (IVSHMEM_IRQ_MODE_NONE).
 * - ``ENODEV``: the device has been removed (also wakes sleepers).
 * - ``EFAULT``: the buffer is not valid.
 */
struct ivshmem_event {
	__u32 vector;
	__u32 count;
};

/**
 * IVSHMEM_IOCTL_INFO - describe the device.
 *
 * Fills &struct ivshmem_info.  Errors: ``EINVAL`` (@size is not
 * sizeof(struct ivshmem_info), or @flags is not 0), ``EFAULT``,
 * ``ENODEV``.
 */
#define IVSHMEM_IOCTL_INFO \
	_IOWR(IVSHMEM_MAGIC, 0x00, struct ivshmem_info)

/**
 * IVSHMEM_IOCTL_RING - interrupt a peer's vector through the doorbell.
 *
 * Takes &struct ivshmem_ring.  Works whatever this guest's own interrupt
 * mode is.  Ringing acts on other VMs, so it needs a file opened for
 * writing; a read-only file may map the memory read-only and wait for
 * interrupts.  Errors:
 *
 * - ``EINVAL``: peer above IVSHMEM_PEER_MAX, vector above
 *   IVSHMEM_VECTOR_MAX (see there why), flags or pad not 0.
 * - ``EBADF``: the file is not open for writing.
 * - ``EOPNOTSUPP``: not a doorbell device (IVSHMEM_DEV_DOORBELL clear).
 * - ``EFAULT``, ``ENODEV``.
 */
#define IVSHMEM_IOCTL_RING \
	_IOW(IVSHMEM_MAGIC, 0x01, struct ivshmem_ring)

/**
 * IVSHMEM_IOCTL_BIND_EVENTFD - signal an eventfd on each interrupt of a
 * vector.
 *
 * Takes &struct ivshmem_eventfd.  The binding belongs to this open file:
 * it lasts until IVSHMEM_IOCTL_UNBIND_EVENTFD, the last close of the file,
 * or the removal of the device, which all drop the driver's reference to
 * the eventfd.  On removal each bound eventfd is signalled once more, so
 * that a thread waiting on nothing else wakes up; the device file then
 * reports the removal (EPOLLHUP, ``ENODEV``).  A file binds at most one
 * eventfd per vector; several files may bind the same vector (each
 * eventfd is signalled), and one eventfd may be bound to several vectors.
 * Interrupts are counted for read() as well, whether an eventfd is bound
 * or not.  Errors:
 *
 * - ``EINVAL``: vector >= nr_vectors, flags or pad not 0, or @fd is not
 *   an eventfd.
 * - ``EBADF``: @fd is not an open file descriptor.
 * - ``EBUSY``: this file already has an eventfd bound to the vector.
 * - ``EOPNOTSUPP``: the device has no interrupts (IVSHMEM_IRQ_MODE_NONE).
 * - ``ENOMEM``, ``EFAULT``, ``ENODEV``.
 */
#define IVSHMEM_IOCTL_BIND_EVENTFD \
	_IOW(IVSHMEM_MAGIC, 0x02, struct ivshmem_eventfd)

/**
 * IVSHMEM_IOCTL_UNBIND_EVENTFD - undo IVSHMEM_IOCTL_BIND_EVENTFD.
 *
 * Takes &struct ivshmem_eventfd; only @vector is used (@fd is ignored).
 * When it returns, the eventfd will not be signalled by this binding any
 * more.  Errors:
 *
 * - ``EINVAL``: vector >= nr_vectors, flags or pad not 0.
 * - ``ENOENT``: this file has no eventfd bound to the vector.
 * - ``EOPNOTSUPP``: the device has no interrupts (IVSHMEM_IRQ_MODE_NONE).
 * - ``EFAULT``, ``ENODEV``.
 */
#define IVSHMEM_IOCTL_UNBIND_EVENTFD \
	_IOW(IVSHMEM_MAGIC, 0x03, struct ivshmem_eventfd)

/**
 * IVSHMEM_IOCTL_SET_CACHE - choose the cache mode of later mmap() calls.
 *
 * Takes &struct ivshmem_cache.  Applies to this open file only, and only
 * to mappings made after the call; existing mappings keep their mode.
 * The default is IVSHMEM_CACHE_WB.  On x86 a mapping gets the mode it
 * asks for or none: mmap() fails with ``EINVAL`` while another mapping
 * of the same memory exists with a different mode (PAT refuses
 * conflicting aliases, and the driver refuses the silent downgrade PAT
 * would otherwise give).  Errors: ``EINVAL`` (unknown mode, flags not
 * 0), ``EFAULT``, ``ENODEV``.
 */
#define IVSHMEM_IOCTL_SET_CACHE \
	_IOW(IVSHMEM_MAGIC, 0x04, struct ivshmem_cache)

/*
 * mmap() errors, beyond those of mmap(2) itself:
 *
 * - EINVAL: MAP_PRIVATE (the memory is shared by definition), an offset at
 *   or past the end of the shared memory, or offset + length past it;
 *   a conflicting cache mode on x86 (see IVSHMEM_IOCTL_SET_CACHE).
 * - EBUSY: on x86, the range overlaps mappings of two different modes.
 *
 * A mapping is used whole: munmap(), mprotect() or mremap() of a part of
 * it fail with EINVAL, because x86 reserves the memory type for the
 * mapping's whole range and a split mapping would leave the reservation
 * behind.  Growing a mapping with mremap() fails with EFAULT.
 * - ENODEV: the device has been removed.  Existing mappings are torn
 *   down at removal; touching them afterwards raises SIGBUS.
 *
 * On x86 the memory type a write-back mapping gets is also bounded by the
 * MTRRs: for a range they do not mark write-back it becomes
 * uncached-minus.  SeaBIOS marks QEMU's 32-bit PCI hole uncached, so the
 * driver moves a shared memory BAR found there into the host bridge's
 * 64-bit window when it binds (module parameter move_bar).
 * &struct ivshmem_info.memtype (and the memtype attribute in sysfs) says
 * what write-back mappings really get; such a mapping is then still
 * allowed, and gets that type.
 */

#endif /* _UAPI_LINUX_IVSHMEM_H */
