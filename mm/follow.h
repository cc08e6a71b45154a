/* SPDX-License-Identifier: MIT */
/*
 * follow.h - what pool.c asks of follow.c when it opens a cluster
 * follower's view: its place in the change log, taken before the records
 * are read, and what it indexed of each record. kv_pool_follow() (mm.h)
 * then keeps the view up to date.
 */
#ifndef KVFS_MM_FOLLOW_H
#define KVFS_MM_FOLLOW_H

#include "pool_int.h"

/* Before the records are read: the log's head and the leader's marks. */
void kv_follow_begin(struct kv_pool *p);
/* kv_follow_build() - after the view is built: what it indexed. Return: 0, -ENOMEM. */
int kv_follow_build(struct kv_pool *p);
void kv_follow_free(struct kv_pool *p);

#endif /* KVFS_MM_FOLLOW_H */
