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
/* Put @ino at the tail of its anchor's list, unless it is on it or the anchor is evict=never. */
void kv_lru_append(struct kv_pool *p, uint64_t ino);
/* A use of @ino now: its last_use_ns, and the tail of its list if it is on one. */
void kv_lru_touch(struct kv_pool *p, uint64_t ino);
/* kv_lru_alloc() - the lists' links for @p->ninodes records. Return: 0, -ENOMEM. */
int kv_lru_alloc(struct kv_pool *p);
void kv_lru_free(struct kv_pool *p);
/* At open, after the anchors: list @n unheld @files, least recently used first (sorts @files). */
void kv_lru_build(struct kv_pool *p, uint32_t *files, uint64_t n);

#endif /* KVFS_MM_LRU_H */
