// SPDX-License-Identifier: GPL-2.0
/*
 * uio_ivshmem's copy of bar.c: Kbuild does not link one object into two
 * modules, and each module has its own move_bar parameter.
 */
#include "bar.c"
