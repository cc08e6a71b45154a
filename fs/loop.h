/* SPDX-License-Identifier: MIT */
/*
 * loop.h - the daemon's FUSE request loop (loop.c): up to max_workers
 * threads, the idle ones taken last-in, first-out.
 */
#ifndef KVFS_FS_LOOP_H
#define KVFS_FS_LOOP_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>

/*
 * Serve @se until it exits (unmount, a signal's handler, an error reading
 * /dev/fuse) with at most @max_workers threads. Return: 0, or a negative
 * errno (the read that failed).
 */
int kv_loop_serve(struct fuse_session *se, unsigned max_workers);

#endif
