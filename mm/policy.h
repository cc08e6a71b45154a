/* SPDX-License-Identifier: MIT */
/*
 * policy.h - per-directory cache policy (policy.c): anchors (directories
 * with user.kvfs.evict or user.kvfs.quota), the files below each, their
 * bytes, hits and evictions. Caller holds p->lock.
 */
#ifndef KVFS_MM_POLICY_H
#define KVFS_MM_POLICY_H

#include "pool_int.h"

/* kv_policy_alloc() - a directory's anchor and a file's, for @p->ninodes records. Return: 0, -ENOMEM. */
int kv_policy_alloc(struct kv_pool *p);
/* At open, after the child lists: the anchors of the directories with a policy. Return: 0, -ENOMEM. */
int kv_policy_build(struct kv_pool *p);
void kv_policy_free(struct kv_pool *p);
bool kv_policy_is_name(const char *name);
/* Is @value acceptable for policy xattr @name (others: always)? Return: 0 or -EINVAL. */
int kv_policy_check_value(const char *name, const void *value, size_t size);
uint32_t kv_policy_anchor_of_dir(struct kv_pool *p, uint64_t dir);
void kv_policy_attach(struct kv_pool *p, uint64_t ino); /* a live file: count it */
void kv_policy_detach(struct kv_pool *p, uint64_t ino); /* leaving: uncount it */
void kv_policy_charge(struct kv_pool *p, uint64_t ino, int64_t delta);
/* kv_extents_trim() of @ino, uncharged from its anchor. Return: bytes trimmed. */
uint64_t kv_policy_trim(struct kv_pool *p, uint64_t ino);
void kv_policy_hit(struct kv_pool *p, uint64_t ino);
void kv_policy_reattach_tree(struct kv_pool *p, uint64_t ino); /* after a move */
void kv_policy_refresh_dir(struct kv_pool *p, uint64_t dir); /* after its xattrs changed */
void kv_policy_dir_gone(struct kv_pool *p, uint64_t dir);
void kv_policy_unlist(struct kv_pool *p, uint32_t anchor);
void kv_policy_relist(struct kv_pool *p, uint32_t anchor, uint64_t dir);
/* Bytes @ino's anchor may still grow by (UINT64_MAX: no quota). */
uint64_t kv_policy_room(struct kv_pool *p, uint64_t ino);

#endif /* KVFS_MM_POLICY_H */
