/* SPDX-License-Identifier: MIT */
/*
 * nodes.h - what the cluster layer (nodes.c) gives the layers above it:
 * the open-time check of the pool's mode and epoch, the fence a leader's
 * journal commit asks (through p->up.may_commit), and the mark-check-free
 * steps of an eviction when other nodes may hold files. Caller holds
 * p->lock where said.
 */
#ifndef KVFS_MM_NODES_H
#define KVFS_MM_NODES_H

#include "pool_int.h"

/* At open, before the journal is replayed: refuse a mismatched mode; a leader stores its
 * epoch. Return: 0, -EBUSY (the mode does not match), -ESTALE (an older epoch), -errno. */
int kv_nodes_open_check(struct kv_pool *p, const struct kv_open_opts *o);
/* Before a journal commit of a cluster leader (p->cluster_epoch != 0). Return: may it write. */
bool kv_nodes_may_commit(struct kv_pool *p);
/*
 * Eviction of @ino by a leader (p->lock held): mark it evicting, then look at
 * every node's holds; held: unmark, park it out of the LRU. Return: may it go.
 */
bool kv_nodes_evict_ok(struct kv_pool *p, uint64_t ino);
/*
 * kv_nodes_held_elsewhere() - does another node hold @ino? If so it is
 * parked: kv_pool_cluster_unpark() trims it and frees what its moves left
 * once no node does. Lock: p->lock. Return: true if held elsewhere.
 */
bool kv_nodes_held_elsewhere(struct kv_pool *p, uint64_t ino);
/* After the eviction of @ino (or its failure): drop the evicting mark. */
void kv_nodes_evicted(struct kv_pool *p, uint64_t ino);

#endif /* KVFS_MM_NODES_H */
