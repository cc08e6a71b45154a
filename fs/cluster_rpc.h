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
	_Atomic bool view_wanted; /* the node thread wants the view exclusive: a waiting call lets go */
};

/*
 * How a waiting call lets its view go while the node thread wants it
 * exclusive (a new view, a promotion: this node may answer the call itself,
 * from the mailbox, once it leads): @let_go releases the view,
 * @take_back holds the new one again and returns the box in it (NULL: none).
 */
struct kv_rpc_yield {
	void (*let_go)(void *arg);
	struct kv_rpc_box *(*take_back)(void *arg);
	void *arg;
};

/**
 * kv_rpc_call() - send one call through @box (the node's mailbox, in a mapping
 * that stays while the call runs) and wait for its answer (at most cl->timeout_ns).
 * With @y (may be NULL), lets the view go while cl->view_wanted is set.
 * Return: the leader's status (0 or -errno), -ETIMEDOUT, -EPROTO (a bad answer).
 */
int kv_rpc_call(struct kv_rpc_client *cl, const struct kv_rpc_yield *y, struct kv_rpc_box *box,
		uint32_t op, const void *req,
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
/* A change through a follower's mount. */
enum kv_path_op {
	KV_PATH_CREATE = 1, /* ino: parent; name; mode, uid, gid; open: hold it open */
	KV_PATH_OPEN, /* ino, gen; trunc */
	KV_PATH_WRITE, /* ino, off; the bytes follow */
	KV_PATH_RELEASE, /* ino */
	KV_PATH_UNLINK, /* ino: parent; name */
	KV_PATH_RMDIR, /* ino: parent; name */
	KV_PATH_RENAME, /* ino: parent, name; ino2: new parent, name2; flags */
	KV_PATH_SETATTR, /* ino, mask, attr */
	KV_PATH_SETXATTR, /* ino; name; flags; the value follows the name */
	KV_PATH_REMOVEXATTR, /* ino; name */
	KV_PATH_SYMLINK, /* ino: parent; name; uid, gid; the target follows the name */
	KV_PATH_FALLOCATE, /* ino, off; flags: mode; attr.size: length */
};

struct kv_rpc_path {
	uint32_t what; /* enum kv_path_op */
	uint32_t mode, uid, gid, flags, mask;
	uint32_t len, len2; /* of name and name2, which start the data after this */
	uint32_t dlen; /* bytes after this: names, or a write's bytes */
	uint8_t open, trunc, pad[2];
	uint64_t ino, gen, ino2, off;
	struct kv_attr attr;
};

struct kv_rpc_path_out {
	uint64_t seq; /* the pool's change sequence after the call */
	uint64_t written;
	struct kv_attr attr;
};

/**
 * kv_rpc_path() - run @pc (with @len bytes of @data: names or a write's
 * bytes) on the leader. Return: the leader's status (0 or -errno), -E2BIG,
 * or as kv_rpc_call().
 */
int kv_rpc_path(struct kv_rpc_client *cl, const struct kv_rpc_yield *y, struct kv_rpc_box *box,
		struct kv_rpc_path *pc, const void *data, size_t len, struct kv_rpc_path_out *out);

struct kv_daemon;
/**
 * kv_rpc_serve() - a leader answers every waiting call in the mailboxes of
 * its pool, stamping @epoch. One thread only. Return: how many it answered.
 */
int kv_rpc_serve(struct kv_daemon *d, uint64_t epoch);

#endif /* KVFS_FS_CLUSTER_RPC_H */
