/* SPDX-License-Identifier: MIT */
/*
 * holds.h - who holds a record (holds.c): the only writer of the kernel's
 * lookup counts, open and pin counts, the held state, and the free and
 * reclaimable records. Caller holds p->lock.
 */
#ifndef KVFS_MM_HOLDS_H
#define KVFS_MM_HOLDS_H

#include "pool_int.h"

/* kv_holds_alloc() - the arrays of holds for @p->ninodes records. Return: 0, -ENOMEM. */
int kv_holds_alloc(struct kv_pool *p);
void kv_holds_free(struct kv_pool *p);
/* At open: list every free record nobody found bad, lowest number last taken. */
void kv_holds_build(struct kv_pool *p);

/* A free record, or 0 when none is. */
uint64_t kv_holds_take_free(struct kv_pool *p);
/* A record back on the free list (it was taken and never published). */
void kv_holds_put_free(struct kv_pool *p, uint64_t ino);
/* One kernel lookup of @ino, counted under p->lock with the lookup that found it. */
void kv_holds_ref_locked(struct kv_pool *p, uint64_t ino);
/* The reserver's hold on a reservation (kv_reserve), and its end (commit or abort). */
void kv_holds_reserve(struct kv_pool *p, uint64_t ino);
void kv_holds_unreserve(struct kv_pool *p, uint64_t ino);
/* A reusable orphan only the kernel's cache still names (made FREE), or 0. */
uint64_t kv_holds_take_orphan(struct kv_pool *p);
/* An orphan whose last holder went: drop its data, and its record if unreferenced. */
void kv_holds_reap_orphan(struct kv_pool *p, uint64_t ino);
/* A pin on a live file (fast path). Return: 0, -ESTALE (not live). */
int kv_holds_pin_locked(struct kv_pool *p, uint64_t ino, int64_t now_ns);
/*
 * What a file's last release on this node does (caller holds p->lock): give
 * back what its moves kept from under its readers, then reap an orphan, or
 * trim a live file's room ahead and put it back in its eviction set. With
 * @elsewhere (another node still holds it) only the set and its last use;
 * @join: a cluster leader's join of its pieces too. Return: a live file
 * went back in its set.
 */
bool kv_holds_released_locked(struct kv_pool *p, uint64_t ino, bool elsewhere, bool join,
			      int64_t now_ns);

/* An unlink being made: what it keeps, and the extents it gives back after the commit. */
struct kv_unlink_plan {
	uint64_t ino;
	bool keep_data, keep_record;
	struct kv_extent freed[KV_INLINE_EXTENTS + 1];
	int nfreed;
};
/*
 * An unlink in three steps, so that rename can put it in its own
 * transaction and nothing changes unless all of it can be staged:
 * kv_holds_unlink_stage() stages, in the open transaction, the record's
 * change to an orphan (still referenced) or free, its data going now unless
 * someone holds it. Return: 0; -E2BIG (the transaction cannot hold it:
 * nothing changed, the caller aborts the transaction).
 */
int kv_holds_unlink_stage(struct kv_pool *p, uint64_t ino, struct kv_unlink_plan *u);
/* Then, before the commit: take it off every DRAM index (unless @off_indexes_already) and its anchor. */
void kv_holds_unlink_detach(struct kv_pool *p, struct kv_unlink_plan *u, bool off_indexes_already);
/* After the commit: give the space back, and the record or make it reclaimable. */
void kv_holds_unlink_finish(struct kv_pool *p, struct kv_unlink_plan *u);
/* All three in one transaction: the record becomes an orphan or free. Return: 0, -E2BIG (nothing changed). */
int kv_holds_unlink(struct kv_pool *p, uint64_t ino, bool dram_only_unlinked);

#endif /* KVFS_MM_HOLDS_H */
