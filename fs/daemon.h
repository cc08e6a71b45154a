/* SPDX-License-Identifier: MIT */
/*
 * daemon.h - state shared by the FUSE daemon's files: the ops (daemon.c,
 * dirs.c, xattrs.c), the .kvfs control directory and fast-path ioctls
 * (special.c, ctl.c), the mount command (mount.c) and its janitor thread
 * (janitor.c). A function that sends a FUSE reply itself says so in its
 * name (*_reply), or is a handler of kv_fuse_ops (op_*, kv_op_*).
 */
#ifndef KVFS_FS_DAEMON_H
#define KVFS_FS_DAEMON_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "mm.h"

/* Kernel caches what we say for this long; every change behind its back is invalidated. */
#define KV_CACHE_TIMEOUT_DEFAULT 3600.0
/* cluster mode: 0 on a follower, whose kernel must ask again (fs/cluster.c) */
extern double kv_cache_timeout;
#define KV_CACHE_TIMEOUT kv_cache_timeout

/*
 * FUSE node ids: a record's index with 31 bits of its generation above it,
 * so that a node id the kernel keeps for a record's earlier life (a cached
 * entry of an evicted file) never names the file that reuses the record: a
 * request carries only a node id. The root is 1; the virtual files of
 * .kvfs have bit 63.
 */
#define KV_NODE_GEN_MASK 0x7fffffffull
#define KV_NODE_VIRTUAL	 (1ull << 63)

static inline uint64_t kv_node(uint64_t ino, uint64_t gen)
{
	return ino == FUSE_ROOT_ID ? ino : ((gen & KV_NODE_GEN_MASK) << 32) | ino;
}

static inline uint64_t kv_node_ino(uint64_t node)
{
	return node & KV_NODE_VIRTUAL ? node : node & 0xffffffffull;
}

static inline uint32_t kv_node_gen(uint64_t node)
{
	return (uint32_t)((node >> 32) & KV_NODE_GEN_MASK);
}

struct kv_inval {
	struct kv_inval *next;
	uint64_t parent, ino, gen; /* parent and ino are node ids */
	size_t len;
	char name[];
};

struct kv_ctl_state; /* per open ctl handle: pins and reservations (ctl.c) */

#define KV_CRED_MAX_GROUPS 256

/* Who sent a request: fuse_req_ctx() plus the supplementary groups, read lazily. */
struct kv_cred {
	fuse_req_t req;
	uint32_t uid, gid;
	int ngroups; /* -1: not read yet */
	gid_t groups[KV_CRED_MAX_GROUPS];
};

/* Bytes one uid holds pinned or reserved through ctl handles; kept until unmount. */
struct kv_user_hold {
	struct kv_user_hold *next;
	uint32_t uid;
	_Atomic uint64_t bytes;
};

struct kv_daemon {
	struct kv_pool *pool;
	struct fuse_session *se;
	char pool_path[4096];
	char mountpoint[4096];
	char uuid_text[40];
	unsigned high_watermark; /* percent; 100 = only on demand */
	bool prezero; /* the janitor zeroes free space while idle */
	uint64_t ino_base; /* first virtual inode number (.kvfs and its files) */
	struct timespec mount_time;
	uid_t owner_uid;
	gid_t owner_gid;

	/* what eviction removed, queued for the janitor to invalidate in the kernel */
	pthread_mutex_t inval_lock;
	pthread_cond_t inval_cond;
	struct kv_inval *inval_head, **inval_tail;
	bool stopping;
	pthread_t janitor;

	/* the trust model (access.c) */
	uid_t pool_owner; /* the daemon's euid: not bound by user_share */
	unsigned user_share; /* percent of the data area any other uid may hold */
	uint64_t user_limit_bytes;
	/*
	 * What one held file or reservation counts at least: the data area's
	 * bytes per record (page-rounded), so that a share of bytes is a share
	 * of the records too (empty files held open would take them all).
	 */
	uint64_t user_min_charge;
	struct kv_attr pool_attr; /* owner and mode of the pool file: NOZERO needs r+w on it */
	uint64_t pool_dev, pool_ino; /* clients check they opened this very file */
	pthread_mutex_t users_lock; /* guards the list, not the counts (atomic) */
	struct kv_user_hold *users;

	struct kv_cluster *cluster; /* cluster mode (cluster.c); NULL on one host */

	unsigned threads; /* FUSE worker threads at most */
	_Atomic unsigned vec_calls; /* LOOKUPV and UNPINV calls in a worker now (ctl_vec.c) */
	_Atomic unsigned notifying; /* workers sending commit notices (ctl.c) */
	/*
	 * Names the kernel asked for by path, hashed with their parent's node
	 * into KV_NEG_BITS bits (never cleared): only those can sit in its
	 * cache as absent, so only those need an invalidation when a
	 * fast-path commit makes them. NULL: every name does.
	 */
	_Atomic uint64_t *neg_bits;

	/* fast-path counters */
	_Atomic uint64_t ctl_lookups, ctl_blocks_pinned, ctl_commits, ctl_blocks_committed;
	_Atomic uint64_t ctl_lookup_ns; /* spent in fast-path lookup calls, up to the reply */
	_Atomic uint64_t ctl_index_ns; /* of which in the pool's index (kv_lookup_pin_batch) */
};

/* virtual inodes, relative to ino_base */
enum { KV_VINO_DIR = 0, KV_VINO_STATS, KV_VINO_METRICS, KV_VINO_CTL, KV_VINO_COUNT };
#define KV_CTL_DIRNAME ".kvfs"

extern const struct fuse_lowlevel_ops kv_fuse_ops;

/* the daemon of a request */
#define KV_DAEMON(req) ((struct kv_daemon *)fuse_req_userdata(req))

/* daemon.c: shared by the handler files */
void kv_fill_entry(const struct kv_attr *a, struct fuse_entry_param *e);
#define KV_NEG_BITS (1u << 20)
/* kv_neg_note() - the kernel is asking for @name in @parent_node: it may cache it as absent. */
void kv_neg_note(struct kv_daemon *d, uint64_t parent_node, const char *name, size_t len);
/* kv_neg_maybe() - Return: whether the kernel may hold @name in @parent_node as absent. */
bool kv_neg_maybe(struct kv_daemon *d, uint64_t parent_node, const char *name, size_t len);
/**
 * kv_open_file() - open a pool file for the kernel: the hold, O_TRUNC and the
 * cache mode in @fi, without replying. Return: 0 (held: kv_release() undoes
 * it) or -errno (nothing held).
 */
int kv_open_file(struct kv_daemon *d, fuse_req_t req, fuse_ino_t ino_node,
		 struct fuse_file_info *fi);
/*
 * kv_node_stale() - does @node name an earlier life of its record (a file
 * evicted, its record reused)? Then a request about it answers ESTALE.
 */
bool kv_node_stale(struct kv_daemon *d, uint64_t node);

/* dirs.c, xattrs.c: FUSE handlers (kv_fuse_ops), each sends its reply */
void kv_op_opendir(fuse_req_t req, fuse_ino_t ino_node, struct fuse_file_info *fi);
void kv_op_readdir(fuse_req_t req, fuse_ino_t ino_node, size_t size, off_t off,
		   struct fuse_file_info *fi);
void kv_op_readdirplus(fuse_req_t req, fuse_ino_t ino_node, size_t size, off_t off,
		       struct fuse_file_info *fi);
void kv_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void kv_op_setxattr(fuse_req_t req, fuse_ino_t ino_node, const char *name, const char *value,
		    size_t size, int flags);
void kv_op_getxattr(fuse_req_t req, fuse_ino_t ino_node, const char *name, size_t size);
void kv_op_listxattr(fuse_req_t req, fuse_ino_t ino_node, size_t size);
void kv_op_removexattr(fuse_req_t req, fuse_ino_t ino_node, const char *name);
/*
 * What a change of xattr @name on @ino_node may not do: a stale node
 * (ESTALE), a virtual file or one of kvfs's own names (EPERM), a name outside
 * "user." (ENOTSUP). Return: true if refused (the reply is sent).
 */
bool kv_user_xattr_refused_reply(fuse_req_t req, struct kv_daemon *d, fuse_ino_t ino_node,
				 const char *name);

/* special.c */
bool kv_is_virtual(const struct kv_daemon *d, uint64_t ino);
int kv_special_lookup(struct kv_daemon *d, uint64_t parent, const char *name,
		      struct fuse_entry_param *e);
int kv_special_getattr(struct kv_daemon *d, uint64_t ino, struct stat *st);
void kv_special_open_reply(struct kv_daemon *d, fuse_req_t req, uint64_t ino,
			   struct fuse_file_info *fi);
void kv_special_read_reply(struct kv_daemon *d, fuse_req_t req, uint64_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi);
void kv_special_release(struct kv_daemon *d, fuse_req_t req, uint64_t ino,
			struct fuse_file_info *fi);
void kv_special_readdir_reply(struct kv_daemon *d, fuse_req_t req, size_t size, off_t off,
			      bool plus);
/* getxattr of kvfs's own read-only attributes; -ENODATA when @name is not one */
ssize_t kv_special_getxattr(struct kv_daemon *d, uint64_t ino, const char *name, char *buf,
			    size_t size);
/* text of .kvfs/stats or .kvfs/metrics, malloc'ed */
char *kv_stats_text(struct kv_daemon *d, bool prometheus, size_t *len);
void kv_stat_from_attr(const struct kv_attr *a, struct stat *st);

/* ctl.c */
void kv_ctl_ioctl_reply(struct kv_daemon *d, fuse_req_t req, unsigned int cmd, void *arg,
			struct fuse_file_info *fi, unsigned flags, const void *in_buf,
			size_t in_bufsz, size_t out_bufsz);
void kv_ctl_release(struct kv_daemon *d, struct fuse_file_info *fi);
int kv_ctl_open(struct kv_daemon *d, fuse_req_t req, struct fuse_file_info *fi);

/* access.c */
void kv_cred_init(struct kv_cred *c, fuse_req_t req);
/**
 * kv_may_access() - may @c do @mask (R_OK, W_OK, X_OK) on a file of @a's
 * owner, group and mode, as the kernel's generic_permission() decides?
 * Return: 0 or -EACCES.
 */
int kv_may_access(struct kv_cred *c, const struct kv_attr *a, int mask);
/**
 * kv_user_get() - the hold counter of @uid, made on first use; it lives
 * until the daemon exits. Takes users_lock. Return: the counter, or NULL
 * (out of memory).
 */
struct kv_user_hold *kv_user_get(struct kv_daemon *d, uint32_t uid);
/**
 * kv_user_charge() - count @bytes more held by @u. Lock-free.
 * Return: 0, or -EDQUOT (over user_share; nothing counted).
 */
int kv_user_charge(struct kv_daemon *d, struct kv_user_hold *u, uint64_t bytes);
void kv_user_uncharge(struct kv_user_hold *u, uint64_t bytes);
void kv_user_free_all(struct kv_daemon *d);
/**
 * kv_open_hold_new() - a regular file of @size bytes is being opened (or
 * created) by @req's caller: a uid other than the pool's owner is charged
 * @size for as long as the descriptor is open (fi->fh; 0 for the owner).
 * Return: 0, -EDQUOT (over its share; nothing kept), -ENOMEM.
 */
int kv_open_hold_new(struct kv_daemon *d, fuse_req_t req, uint64_t size,
		     struct fuse_file_info *fi);
/**
 * kv_open_hold_grow() - the file is about to reach @end bytes through @fi
 * (NULL: by path): charge the descriptor's growth to the uid that opened
 * it; by path, another uid's growth must fit its share whole.
 * Return: 0, -EDQUOT, -ENOMEM.
 */
int kv_open_hold_grow(struct kv_daemon *d, fuse_req_t req, struct fuse_file_info *fi,
		      uint64_t end);
/** kv_open_hold_release() - the descriptor is closed: its charge goes. */
void kv_open_hold_release(struct fuse_file_info *fi);
/* one "uid_held_bytes UID N" line (or a Prometheus sample) per user seen */
void kv_user_stats(struct kv_daemon *d, FILE *f, bool prometheus);

/* janitor.c */
/**
 * kv_janitor_start() - start the janitor thread of a mounted @d.
 * Return: 0 or -EAGAIN.
 */
int kv_janitor_start(struct kv_daemon *d);
/** kv_janitor_stop() - stop it and wait for it: what it had queued is dropped. */
void kv_janitor_stop(struct kv_daemon *d);
/**
 * kv_janitor_kick() - wake the janitor when the pool is over its high
 * watermark or short of inode records. Takes inval_lock briefly.
 */
void kv_janitor_kick(struct kv_daemon *d);
/**
 * kv_janitor_queue_inval() - queue a kernel invalidation of the entry
 * (@parent, @name) and of node @ino (0: the entry only; @parent 0: the node
 * only), sent by the janitor, outside any request. Return: nothing (no
 * memory: the kernel's entry times out; a stale inode is refused anyway).
 */
void kv_janitor_queue_inval(struct kv_daemon *d, uint64_t parent, const char *name, size_t len,
			    uint64_t ino, uint64_t gen);
/**
 * kv_janitor_evicted() - mm/'s evict hook (kv_pool_set_evict_hook(), @arg
 * the daemon): queue the kernel invalidation of what eviction removed.
 * Runs under mm/'s lock: it only queues (a failed allocation leaves the
 * kernel's entry to time out).
 */
void kv_janitor_evicted(void *arg, uint64_t parent, uint64_t parent_gen, const char *name,
			size_t len, uint64_t ino, uint64_t gen);

#endif /* KVFS_FS_DAEMON_H */
