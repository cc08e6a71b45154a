/* SPDX-License-Identifier: MIT */
/*
 * evict.h - the only code that evicts (evict.c): allocate-or-evict, take
 * an inode record, evict to a target or under a quota. Caller holds
 * p->lock.
 */
#ifndef KVFS_MM_EVICT_H
#define KVFS_MM_EVICT_H

#include "pool_int.h"

/* A free record (evicting if need be), or 0. @for_dir: it will be a directory. */
uint64_t kv_evict_take_inode(struct kv_pool *p, bool for_dir);
/* Evict the least recently used unheld file. Return: bytes freed, or -ENOSPC when none is left. */
long kv_evict_one(struct kv_pool *p);
/* Evict the least recently used unheld file of one anchor. Return: bytes freed, or -ENOSPC. */
long kv_evict_in(struct kv_pool *p, uint32_t anchor);
/* Remember that @ino holds room past its size, taken back before any eviction. */
void kv_evict_note_ahead(struct kv_pool *p, uint64_t ino);
/* Trim the room ahead of every open file nobody is reading or writing now. Return: bytes freed. */
uint64_t kv_evict_reclaim_ahead(struct kv_pool *p);
/* One extent of @bytes: room ahead first, then LRU files until a hole fits. Return: 0, -ENOSPC. */
int kv_evict_alloc(struct kv_pool *p, uint64_t bytes, struct kv_extent *e);
/*
 * @bytes in at most @max extents into @e (kv_alloc_pieces()): room ahead
 * first, then LRU files, only while the @max longest free runs together
 * are short. Return: the number of extents, -ENOSPC, -EINVAL (@max < 1).
 */
int kv_evict_alloc_pieces(struct kv_pool *p, uint64_t bytes, int max, struct kv_extent *e);
/* Keep anchor @i under its quota with @need more bytes. Return: 0, -EDQUOT. */
int kv_evict_make_room_in(struct kv_pool *p, uint32_t i, uint64_t need);
/*
 * kv_evict_new_inode() - the one constructor of records, as ramfs has one
 * ramfs_get_inode(): take a record (evicting if need be) and fill it, while
 * it is FREE and nobody sees it, as a new @mode named @name in @parent with
 * no data and no checksum. The caller adds data and publishes its state.
 * Return: the record, or 0 when every record is in use and held.
 */
uint64_t kv_evict_new_inode(struct kv_pool *p, uint64_t parent, const char *name, size_t len,
			    uint32_t mode, uint32_t uid, uint32_t gid, int64_t now);
/* Keep @ino's anchor under its quota with @need more bytes. Return: 0, -EDQUOT. */
int kv_evict_make_room(struct kv_pool *p, uint64_t ino, uint64_t need);
/* Free the list of room ahead (made when first needed). */
void kv_evict_free(struct kv_pool *p);

#endif /* KVFS_MM_EVICT_H */
