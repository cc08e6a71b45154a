/* SPDX-License-Identifier: MIT */
/*
 * lru.h - the lists of unheld files, one per anchor (lru.c). Caller holds
 * p->lock.
 */
#ifndef KVFS_MM_LRU_H
#define KVFS_MM_LRU_H

#include "pool_int.h"

/* Take @ino off its anchor's list (if it is on it). */
void kv_lru_remove(struct kv_pool *p, uint64_t ino);
/* Put @ino in its anchor's set as the newest, unless it is in it or the anchor is evict=never. */
void kv_lru_append(struct kv_pool *p, uint64_t ino);
/* The same with the clock already read (batches). */
void kv_lru_append_at(struct kv_pool *p, uint64_t ino, int64_t now_ns);
/* A use of @ino now: its last_use_ns (a unique stamp; its set's entry moves lazily). */
void kv_lru_touch(struct kv_pool *p, uint64_t ino);
/* The same with the clock already read (batches). */
void kv_lru_touch_at(struct kv_pool *p, uint64_t ino, int64_t now_ns);
/*
 * kv_lru_head() - the least recently used file of anchor @anchor's set, its
 * stamp in *@stamp (may be NULL). Return: the inode, or KV_NONE (empty).
 */
uint64_t kv_lru_head(struct kv_pool *p, uint32_t anchor, int64_t *stamp);
/* Empty anchor @anchor's set (an anchor that became evict=never). */
void kv_lru_clear(struct kv_pool *p, uint32_t anchor);
/* kv_lru_alloc() - the lists' links for @p->ninodes records. Return: 0, -ENOMEM. */
int kv_lru_alloc(struct kv_pool *p);
void kv_lru_free(struct kv_pool *p);
/* At open, after the anchors: list @n unheld @files, least recently used first (sorts @files). */
void kv_lru_build(struct kv_pool *p, uint32_t *files, uint64_t n);

#endif /* KVFS_MM_LRU_H */
