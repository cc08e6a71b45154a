/* SPDX-License-Identifier: MIT */
/*
 * cluster.h - cluster mode of the daemon (kvfs(7) CLUSTER): several kvfs
 * daemons, one per host, mount one pool; etcd elects the one that writes
 * metadata (the leader) and gives it a fencing epoch; the others follow.
 * cluster.c runs the node (registration, election, keepalive, promotion,
 * the follower's view); cluster_holds.c its global holds and forwarding;
 * cluster_ops.c wraps the FUSE ops so that only a leader that still holds
 * its lease changes anything, and a follower's changes go to the leader. Without -o cluster=
 * none of this runs and the daemon is what it is on one host.
 */
#ifndef KVFS_FS_CLUSTER_H
#define KVFS_FS_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "mm.h"

struct kv_daemon;

enum kv_cluster_role {
	KV_ROLE_DETACHED = 0, /* no lease (etcd unreachable, or lost): no metadata changes */
	KV_ROLE_FOLLOWER, /* reads the pool; another node writes metadata */
	KV_ROLE_LEADER, /* writes metadata under its lease and epoch */
	KV_ROLE_FENCED, /* lost the lead to a newer epoch: refuses writes until remounted */
};

/* The mount options of cluster mode, parsed by kv_cluster_opt(). */
struct kv_cluster_opts {
	char endpoints[512]; /* "HOST:PORT[,HOST:PORT...]", empty: not a cluster */
	char node[32];
	unsigned ttl; /* etcd lease seconds */
	int coherent; /* -1: not given: 0 on a device (hosts may share it), 1 on a file */
	bool in_endpoints; /* parsing: the last option was cluster= */
};

/**
 * kv_cluster_opt() - one mount option, if it is cluster mode's (cluster=etcd://...,
 * node=, cluster_ttl=, coherent=; a bare HOST:PORT right after cluster= is one
 * more endpoint). Prints why a value is bad. Return: 1 taken, 0 not ours, -EINVAL.
 */
int kv_cluster_opt(struct kv_cluster_opts *co, const char *opt, const char *val);
/**
 * kv_cluster_start() - join the cluster of @pool: open it (read-only until elected),
 * register @co->node under an etcd lease, try to lead. Sets d->pool and d->cluster.
 * Prints why it fails. Return: 0 or -errno.
 */
int kv_cluster_start(struct kv_daemon *d, const struct kv_cluster_opts *co, const char *pool,
		     const struct kv_open_opts *oo);
/** kv_cluster_run() - start the node's thread (after daemonizing). Return: 0 or -errno. */
int kv_cluster_run(struct kv_daemon *d);
/**
 * kv_cluster_stop() - after the FUSE loop: stop the thread, close the pool (the last
 * node hands it back to single-host use), then end the lease. Return: nothing.
 */
void kv_cluster_stop(struct kv_daemon *d);
/** kv_cluster_may_write() - is this node the leader with a live lease? Lock-free. */
bool kv_cluster_may_write(struct kv_daemon *d);
/** kv_cluster_forwards() - does this follower forward its changes to the leader? */
bool kv_cluster_forwards(struct kv_daemon *d);
struct kv_rpc_path;
struct kv_rpc_path_out;
/**
 * kv_cluster_path() - a follower runs a change through its mount on the
 * leader (cluster_rpc.h); its next read waits until its view shows it.
 * Call with the view lock held. Return: the leader's 0 or -errno, -ETIMEDOUT.
 */
int kv_cluster_path(struct kv_daemon *d, struct kv_rpc_path *pc, const void *data, size_t len,
		    struct kv_rpc_path_out *out);
/**
 * kv_cluster_hold_batch() - on a follower, make the first @found pins of a
 * lookup (@attr) global: count them for the node and mark them in its slot
 * of the pool, checking each is still the live file. The pins of those
 * that are not are let go (with the rest after them). Return: how many
 * leading pins stand.
 */
uint32_t kv_cluster_hold_batch(struct kv_daemon *d, const struct kv_attr *attr, uint32_t found);
/**
 * kv_cluster_hold_file() - on a follower, make a read-open of @ino global
 * before its view opens it: count it for the node and mark it in its slot,
 * checking the record is still the file the kernel named (@node_gen, the
 * generation bits of its node id). Return: 0 (held: kv_cluster_unhold_file()
 * lets go), 1 (nothing to hold: not a follower), -ENOENT (being evicted, or
 * gone on the leader).
 */
int kv_cluster_hold_file(struct kv_daemon *d, uint64_t ino, uint64_t node_gen);
/** kv_cluster_unhold_file() - let go of what kv_cluster_hold_file() held. */
void kv_cluster_unhold_file(struct kv_daemon *d, uint64_t ino);
/** kv_cluster_stats() - the cluster_* lines of .kvfs/stats (or metrics) into @f. */
void kv_cluster_stats(struct kv_daemon *d, FILE *f, bool prometheus);
struct fuse_lowlevel_ops;
/* cluster_ops.c: the FUSE ops of a cluster node (each wraps kv_fuse_ops') */
extern const struct fuse_lowlevel_ops kv_cluster_fuse_ops;
/* held shared by every wrapped op; taken exclusive to swap d->pool */
void kv_cluster_enter(struct kv_daemon *d);
void kv_cluster_leave(struct kv_daemon *d);
/* kv_cluster_enter() without waiting for this node's own commits to show: forwarded stores */
void kv_cluster_enter_store(struct kv_daemon *d);

#endif /* KVFS_FS_CLUSTER_H */
