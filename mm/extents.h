/* SPDX-License-Identifier: MIT */
/*
 * extents.h - drop, trim and free a record's extents (extents.c); never
 * allocates. Caller holds p->lock.
 */
#ifndef KVFS_MM_EXTENTS_H
#define KVFS_MM_EXTENTS_H

#include "pool_int.h"

/* The bytes of a record's inline extents (its data allocation, xattrs aside). */
uint64_t kv_extents_bytes(const struct kv_inode *in);
/*
 * Stage, in the caller's open journal transaction, a record with no data
 * and no xattrs; *@freed (room for KV_INLINE_EXTENTS + 1) receives the
 * extents to give back with kv_extents_free() once it is committed, and
 * the caller records that it has none (kv_snap_commit_empty) once the
 * staging succeeded. A quarantined record gives back nothing (its extents
 * may be another's). Return: 0, -E2BIG (the transaction cannot hold it).
 */
int kv_extents_drop(struct kv_pool *p, uint64_t ino, struct kv_extent *freed, int *nfreed);
/* Give @n extents back to the allocator. */
void kv_extents_free(struct kv_pool *p, struct kv_extent *ext, int n);
/*
 * Give back @n extents a move took from @ino: now if nobody holds it, else
 * when the last hold ends (kv_extents_release_deferred): a pinned block or
 * a zero-copy mapping reads the old extents in place. Without memory to
 * remember them they stay taken until the next open (logged): never handed
 * to another file under a reader.
 */
void kv_extents_free_unheld(struct kv_pool *p, uint64_t ino, const struct kv_extent *ext, int n);
/* @ino is held no more: give back what kv_extents_free_unheld() kept for it. */
void kv_extents_release_deferred(struct kv_pool *p, uint64_t ino);
/* The deferred list, at close (its extents go with the allocator). */
void kv_extents_deferred_free(struct kv_pool *p);
/*
 * Trim allocation beyond the size (page-rounded), with single stores.
 * The directory quotas are not charged (kv_policy_trim does both).
 * Return: bytes trimmed.
 */
uint64_t kv_extents_trim(struct kv_pool *p, uint64_t ino);

#endif /* KVFS_MM_EXTENTS_H */
