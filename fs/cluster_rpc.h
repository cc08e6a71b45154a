/* SPDX-License-Identifier: MIT */
/*
 * cluster_rpc.h - a follower's fast-path stores (reserve, commit, abort)
 * forwarded to the cluster leader through mailboxes in the pool. See
 * cluster_rpc.c; the caller (fs/cluster.c) decides who serves and who calls.
 */
#ifndef KVFS_FS_CLUSTER_RPC_H
#define KVFS_FS_CLUSTER_RPC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "mm.h"

/* A follower's end: its slot's mailbox, one call at a time. */
struct kv_rpc_client {
	pthread_mutex_t lock;
	int64_t timeout_ns;
};

/**
 * kv_rpc_call() - send one call through @box (the node's mailbox, in a mapping
 * that stays while the call runs) and wait for its answer (at most cl->timeout_ns).
 * Return: the leader's status (0 or -errno), -ETIMEDOUT, -EPROTO (a bad answer).
 */
int kv_rpc_call(struct kv_rpc_client *cl, struct kv_rpc_box *box, uint32_t op, const void *req,
		uint32_t len, void *resp, uint32_t resp_max, uint32_t *resp_len);
/** kv_rpc_reserve() - kv_reserve() on the leader. Return: as kv_reserve(), or as kv_rpc_call(). */
int kv_rpc_reserve(struct kv_rpc_client *cl, struct kv_rpc_box *box, uint64_t dir, const char *name,
		   size_t len, uint64_t size, uint32_t uid, uint32_t gid, bool zero, uint64_t *ino,
		   struct kv_extent *ext);
/**
 * kv_rpc_commit() - kv_commit() on the leader; @seq gets the pool's change
 * sequence right after it. Return: as kv_commit(), or as kv_rpc_call(); -E2BIG.
 */
int kv_rpc_commit(struct kv_rpc_client *cl, struct kv_rpc_box *box, const uint64_t *inos, size_t n,
		  uint8_t *published, uint64_t *seq);
/** kv_rpc_abort() - kv_abort() on the leader. Return: nothing. */
void kv_rpc_abort(struct kv_rpc_client *cl, struct kv_rpc_box *box, const uint64_t *inos, size_t n);
/**
 * kv_rpc_serve() - a leader answers every waiting call in the mailboxes of
 * @p, stamping @epoch. One thread only. Return: how many it answered.
 */
int kv_rpc_serve(struct kv_pool *p, uint64_t epoch);

#endif /* KVFS_FS_CLUSTER_RPC_H */
