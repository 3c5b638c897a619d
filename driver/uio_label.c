// SPDX-License-Identifier: GPL-2.0
/*
 * uio_ivshmem's copy of label.c: Kbuild does not link one object into
 * two modules.
 */
#include "label.c"
