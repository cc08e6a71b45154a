/* SPDX-License-Identifier: MIT */
/*
 * snap.h - checked copies of a live record's extents, and quarantine
 * (snap.c). The first layer above struct kv_pool: everything that uses a
 * record's extents takes a snapshot through here first.
 */
#ifndef KVFS_MM_SNAP_H
#define KVFS_MM_SNAP_H

#include "pool_int.h"

struct kv_snap {
	uint64_t size, alloc, xattr_off;
	uint32_t xattr_len;
	uint16_t n;
	struct kv_extent ext[KV_INLINE_EXTENTS];
};
/*
 * Copy a record's extents, size and xattr extent once and check the copy
 * (bounds, size within the extents, the daemon's signature). A bad record is
 * quarantined. Hold what keeps the daemon itself from changing them (the
 * file's stripe, or p->lock). Return: 0 or -EIO.
 */
int kv_snap_take(struct kv_pool *p, uint64_t ino, struct kv_snap *s);
/* Record the extents the daemon just gave @ino (after every change of them). */
void kv_snap_commit(struct kv_pool *p, uint64_t ino);
/* ... or that it now has none (the change is staged in the open transaction). */
void kv_snap_commit_empty(struct kv_pool *p, uint64_t ino);
/*
 * kv_snap_damaged() - a check of @ino's record (its name, its xattr blob)
 * failed: is that damage? Not in a cluster follower's view while the
 * change log names the record past the view's place (waited for a moment:
 * the leader logs just after it changes a record): the copy caught the
 * leader changing it, and the view checks it again when it follows.
 * Return: true (quarantine it), false (a transient -EIO).
 */
bool kv_snap_damaged(struct kv_pool *p, uint64_t ino);
/* Mark a record bad: EIO from now on; logged and counted once. */
void kv_quarantine(struct kv_pool *p, uint64_t ino, const char *why);
bool kv_quarantined(const struct kv_pool *p, uint64_t ino);
/* kv_snap_alloc() - draw the signatures' key (they and the marks are in p->hot). Return: 0. */
int kv_snap_alloc(struct kv_pool *p);

#endif /* KVFS_MM_SNAP_H */
