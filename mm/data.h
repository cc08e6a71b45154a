/* SPDX-License-Identifier: MIT */
/*
 * data.h - what the data layer (data.c) gives the fast path above it.
 */
#ifndef KVFS_MM_DATA_H
#define KVFS_MM_DATA_H

#include "pool_int.h"

/* Move a file's data into one extent (nobody may be reading or writing it). Caller holds
 * p->lock. Return: 0, -ENOSPC, -EIO. */
int kv_data_migrate_locked(struct kv_pool *p, uint64_t ino);
/*
 * A cluster leader's last release of a file in pieces: move it into one
 * extent if a free one takes it whole, nobody here or on another node holds
 * it, without evicting anything (a follower's view cannot move it, and its
 * pins want one extent). Set as p->up.join_pieces by pool.c. Caller holds
 * p->lock. Return: 0, or as move_tail (the file keeps its pieces).
 */
int kv_data_join_pieces_locked(struct kv_pool *p, uint64_t ino);
/* A writer is closing: store the checksum of the file's bytes if it was the last (p->lock not
 * held). Set as p->ops.seal by pool.c: holds.c calls it at kv_release(). */
void kv_data_seal(struct kv_pool *p, uint64_t ino);
/* p->hot[ino].dirty: 0 the checksum (or none) is current; WRITTEN: changed through the
 * file API, sealed at the last close; QUEUED: committed, summed in the background. */
#define KV_DIRTY_WRITTEN 1
#define KV_DIRTY_QUEUED	 2
/* A block was just committed: queue it for its checksum (p->lock held). */
void kv_data_queue_sum_locked(struct kv_pool *p, uint64_t ino);
/* kv_data_alloc() - the change counts of @p->ninodes files. Return: 0, -ENOMEM. */
int kv_data_alloc(struct kv_pool *p);
void kv_data_free(struct kv_pool *p);

#endif /* KVFS_MM_DATA_H */
