/* SPDX-License-Identifier: MIT */
/*
 * cluster_int.h - the inside of a cluster node, shared by cluster.c (the
 * node: etcd, roles, views of the pool) and cluster_holds.c (global holds and
 * forwarding). Nothing else includes it.
 */
#ifndef KVFS_FS_CLUSTER_INT_H
#define KVFS_FS_CLUSTER_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "cluster.h"
#include "cluster_etcd.h"
#include "cluster_rpc.h"

#define KV_RETIRED_MAX	  32 /* with the grace: at most 160 new views a second */
#define KV_VIEW_GRACE_NS  (200 * 1000000LL)
#define KV_FOLLOW_POLL_NS (1 * 1000000LL) /* a follower looks at the change count this often */
/* ... and, while the leader writes, opens a new view this often: what the log does not carry
 * (extents two records share, the allocator's and anchors' byte counts) is checked and counted */
#define KV_VIEW_RECHECK_NS (30 * 1000000000LL)

#define KV_REASON_NO_ETCD "etcd unreachable past the lease: metadata is read-only"

struct kv_cluster {
	struct kv_daemon *d;
	struct kv_etcd *etcd;
	char node[32], prefix[96], pool[PATH_MAX];
	struct kv_open_opts oo;
	long ttl;
	int64_t lease;
	_Atomic int role;
	_Atomic uint64_t epoch; /* ours when leading; else the pool's */
	_Atomic int64_t members;
	_Atomic int64_t deadline_ns; /* monotonic: the lease surely lives until then */
	_Atomic uint64_t refreshes, promotions;
	_Atomic uint64_t follows; /* times the follower's view followed the change log in place */
	pthread_mutex_t info_lock; /* leader name, reason */
	char leader[32], reason[160];
	pthread_rwlock_t swap;
	pthread_t thread;
	bool running;
	_Atomic bool stop;
	uint64_t seen_seq; /* journal sequence of the follower's view */
	struct kv_pool *retired[KV_RETIRED_MAX]; /* views requests may still use */
	int64_t retired_at[KV_RETIRED_MAX];
	int nretired;
	/* global holds: this node's pins, whatever view took them, and its slot in the pool */
	pthread_mutex_t hold_lock;
	uint32_t *holds;
	uint64_t nholds;
	int slot; /* -1: none (pins stay local) */
	bool slot_clear[KV_CLUSTER_SLOTS]; /* leader: a free slot it already emptied */
	/* forwarding: a follower's calls, the leader's server, read-your-writes */
	struct kv_rpc_client rpc;
	pthread_t rpc_thread;
	bool rpc_running;
	pthread_mutex_t refresh_lock; /* one new view at a time */
	_Atomic uint64_t view_seq; /* the view holds every change up to this */
	_Atomic uint64_t min_seq; /* what this node committed: its next request must see it */
	_Atomic uint64_t forwarded, served;
	int64_t view_ns; /* when the follower's view was last opened anew (monotonic) */
	_Atomic uint64_t page_invals;
};

static inline int64_t kv_mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* cluster.c: still leader, lease not past its deadline (the fence). Lock-free. */
bool kv_cluster_leader_ok(void *arg);
/* cluster_holds.c */
void kv_cluster_on_unpin(void *arg, uint64_t ino);
void kv_cluster_claim_slot(struct kv_cluster *c);
void kv_cluster_reap_slots(struct kv_cluster *c);
uint64_t kv_cluster_other_holds(struct kv_cluster *c);
void *kv_cluster_rpc_main(void *arg);
extern const struct kv_forward_ops kv_cluster_fwd_ops;

#endif /* KVFS_FS_CLUSTER_INT_H */
