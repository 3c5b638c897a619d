/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backends.h - the backends' open functions, each taking what
 * ivshmem_open() resolved: chardev.c, uio.c, sysfs.c and host.c
 *
 * Layer: backends, above pci.c and handle.c, below enum.c and
 * libivshmem.c.  A backend calls no other backend.
 */
#ifndef IVSHMEM_BACKENDS_H
#define IVSHMEM_BACKENDS_H

#include "libivshmem.h"

int ivshmem_char_open(const char *node, struct ivshmem **out);
int ivshmem_uio_open(const char *node, struct ivshmem **out);
/* Vectors of the UIO device at @classdir that the UIO backend offers. */
unsigned int ivshmem_uio_vectors(const char *classdir);
int ivshmem_sysfs_open(const char *pcidir, struct ivshmem **out);
int ivshmem_host_open(const char *sockpath, const char *spec, struct ivshmem **out);

#endif /* IVSHMEM_BACKENDS_H */
