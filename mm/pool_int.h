/* SPDX-License-Identifier: MIT */
/*
 * pool_int.h - the inside of struct kv_pool, shared by the mm/ modules
 * (pool.c: open, format, the journal; index.c: names and directories;
 * holds.c: references, the LRU and eviction; data.c: bytes, extents and
 * xattrs; batch.c: the fast path; policy.c: per-directory policy; fsck.c).
 * Nothing outside mm/ but its unit tests and benchmarks includes this.
 */
#ifndef KVFS_MM_POOL_INT_H
#define KVFS_MM_POOL_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "alloc.h"
#include "backend.h"
#include "layout.h"
#include "mm.h"

#define KV_STRIPES 64

/*
 * A directory that eviction reclaimed (index.c): a lookup of its name
 * brings it back, the very record while the kernel still names it (so
 * every process agrees on one inode), else made anew with its mode and
 * owner. An engine that saw it a moment ago (makedirs() then open()) or
 * made it once at its start (a top directory: a child of the root or of a
 * marked directory) finds it. A bounded ring with a hash index, in DRAM;
 * top directories have a part of their own.
 */
#define KV_GHOSTS     16384
#define KV_GHOSTS_TOP 1024
struct kv_ghost {
	uint64_t parent, parent_gen, hash; /* hash 0: an empty slot */
	uint64_t ino, gen; /* the reclaimed record */
	uint32_t next; /* bucket chain: slot + 1 */
	bool top;
	uint32_t mode, uid, gid;
	uint16_t len;
	char name[KV_NAME_MAX + 1];
};

/* A directory made anew from a ghost, and the one it stands for (index.c). */
#define KV_ALIASES 4096
struct kv_alias {
	uint64_t ino, gen, old_ino, old_gen;
};

/* A directory with a cache policy (policy.c); slot 0 is the unmarked rest. */
struct kv_anchor {
	uint64_t ino, gen; /* the directory; ino 0: a free slot */
	bool never; /* user.kvfs.evict=never */
	uint64_t quota; /* user.kvfs.quota in bytes, 0: none */
	uint64_t used, files; /* data bytes and files below it */
	uint64_t hits, evictions, evicted_bytes;
	uint32_t lru_head, lru_tail; /* its unheld files, least recently used first */
};
/* One slot of the name hash: ino KV_NONE is an empty slot. */
struct kv_hslot {
	uint64_t hash;
	uint64_t ino;
};
#define KV_NONE 0u /* "no inode" in the DRAM link arrays: record 0 is never used */

struct kv_pool {
	struct kv_backend be;
	uint8_t *base;
	struct kv_super *sb;
	struct kv_geometry geo; /* a checked copy: the pool's may change under us */
	struct kv_inode *inodes;
	uint64_t ninodes;
	bool readonly;
	struct kv_alloc alloc;

	/* Metadata: the index, the journal, the references. */
	pthread_mutex_t lock;
	/* Data of files: readers/writers of a file's bytes vs. changes of its extents. */
	pthread_rwlock_t stripes[KV_STRIPES];

	/* journal staging (DRAM) */
	uint8_t *jbuf;
	uint32_t jbytes, jnrec;
	bool joverflow; /* a record did not fit: this transaction commits nothing */
	uint64_t jseq;

	/* name hash: open addressing over (hash of parent and name, inode) (index.c) */
	struct kv_hslot *htab;
	uint64_t hmask;
	/* directory children in creation order */
	uint32_t *child_first, *child_last, *sib_next, *sib_prev;
	uint32_t *nchild, *nsubdir;
	/* LRU lists of files nobody holds, one per anchor (heads in struct kv_anchor) */
	uint32_t *lru_prev, *lru_next;
	uint8_t *in_lru;
	/* policy: anchor slots, a directory's own slot, a file's anchor (slot + 1, 0: none) */
	struct kv_anchor *anchors;
	uint32_t nanchors, anchors_cap;
	uint32_t *anchor_idx, *file_anchor;
	/* directories eviction emptied that the kernel still knows (ORPHAN records) */
	uint8_t *dir_reclaimed;
	/* when each directory was last named to the kernel or created in (KV_DIR_TICK units) */
	uint32_t *dir_used;
	/* empty directories, oldest first: reclaimed when inode records run out */
	uint32_t *edir_prev, *edir_next;
	uint8_t *in_edir;
	uint32_t edir_head, edir_tail;
	/* rename victims whose bytes stay while the kernel caches them (index.c) */
	uint8_t *kept;
	uint64_t creating_in; /* a directory a create is filling now: never reclaimed */
	/* files that were given room past their size, to take back before evicting (data.c) */
	uint32_t *ahead;
	uint8_t *in_ahead;
	uint64_t nahead;
	struct kv_ghost *ghosts; /* KV_GHOSTS of them, oldest overwritten first */
	uint32_t *ghost_bucket;
	uint32_t ghost_next, ghost_next_top;
	struct kv_alias *aliases;
	uint32_t alias_next;
	uint8_t *recreated; /* made anew from a ghost: has an alias */
	/* holds */
	uint32_t *kref;
	uint64_t *open_count, *pin_count; /* 64-bit: one handle pins millions a second */
	/* free records */
	uint32_t *free_ino;
	uint64_t nfree_ino;
	/* orphans only the kernel's cache names: reused when no record is free */
	uint32_t *reclaim;
	uint8_t *in_reclaim;
	uint64_t nreclaim;
	uint64_t *kref_debt; /* kernel lookups of a reused record's earlier life */
	/* Distrust of the shared pool (check.c): DRAM copies of what the index needs. */
	uint8_t *bad; /* quarantined: EIO until the next open checks it again */
	uint64_t *sig; /* signature of the extents and xattr extent the daemon gave */
	uint32_t *dparent; /* parent, as linked in the child list */
	uint64_t *hkey; /* full name hash, as inserted: removal never rehashes the pool's name */
	/* Data checksums (data.c): changes since the record's checksum, and a change count. */
	uint8_t *dirty;
	uint32_t *wgen;

	uint64_t files, dirs, held, pinned;
	unsigned watermark_pct;
	_Atomic uint64_t hits, misses, evictions, evicted_bytes;
	uint64_t orphans_freed, bytes_trimmed, dirs_reclaimed;
	_Atomic uint64_t quarantined;

	kv_fault_fn fault;
	void *fault_arg;
	kv_evict_fn evict_cb;
	void *evict_arg;

	/* cluster mode (cluster.c): 0 = one host, no fencing */
	uint64_t cluster_epoch;
	kv_fence_fn fence;
	void *fence_arg;
	_Atomic uint64_t commits_refused;
	kv_unpin_fn unpin_cb; /* a follower's node-wide hold count (fs/cluster.c) */
	void *unpin_arg;
	uint8_t *parked; /* leader: files out of the LRU because another node holds them */
	const struct kv_forward_ops *forward; /* a follower's view: changes go to the leader */
	void *forward_arg;
};

static inline void kv_fault(struct kv_pool *p, enum kv_fault_point fp)
{
	if (p->fault)
		p->fault(fp, p->fault_arg);
}

static inline struct kv_inode *kv_inode(struct kv_pool *p, uint64_t ino)
{
	return &p->inodes[ino];
}

static inline bool kv_ino_valid(const struct kv_pool *p, uint64_t ino)
{
	return ino >= KV_ROOT_INO && ino < p->ninodes;
}

static inline bool kv_is_dir(const struct kv_inode *in)
{
	return (in->mode & 0170000) == 0040000; /* S_ISDIR */
}

/* Open, mapped or pinned: never evicted, data kept. */
static inline bool kv_held(const struct kv_pool *p, uint64_t ino)
{
	return p->open_count[ino] || p->pin_count[ino];
}

static inline pthread_rwlock_t *kv_stripe(struct kv_pool *p, uint64_t ino)
{
	return &p->stripes[ino % KV_STRIPES];
}

int64_t kv_now_ns(void);

/*
 * A directory eviction empties is reclaimed only if nobody named it or made
 * something in it for a few milliseconds: an engine's makedirs() and the
 * open() that follows are that close. Should one still race with it, the
 * ghost (index.c) brings the directory back at the open's lookup.
 */
#define KV_DIR_TICK_SHIFT 20 /* ~1 ms */
#define KV_DIR_IDLE_TICKS 4

static inline uint32_t kv_dir_tick(void)
{
	return (uint32_t)(kv_now_ns() >> KV_DIR_TICK_SHIFT);
}

/* The kernel was told of @dir, or something was made in it, now. */
static inline void kv_dir_touch(struct kv_pool *p, uint64_t dir)
{
	p->dir_used[dir] = kv_dir_tick();
}

static inline bool kv_dir_idle(const struct kv_pool *p, uint64_t dir)
{
	return (uint32_t)(kv_dir_tick() - p->dir_used[dir]) > KV_DIR_IDLE_TICKS;
}

/* Is this superblock usable for a device of @dev_size bytes? Logs why not. Return: 0 or -errno. */
int kv_geometry_check(const char *path, const struct kv_geometry *g, uint64_t dev_size);

/*
 * --- journal (pool.c); caller holds p->lock ---
 * A transaction is begin, adds, commit. Only kv_commit's grows with its
 * input (and checks -E2BIG); every other one stages a few fields and at
 * most two names, a few KiB against a journal of KV_JOURNAL_SIZE, so their
 * callers do not check. Should one overflow all the same (a bug), the add
 * logs an error and the whole transaction is dropped at commit: the pool
 * keeps its state before it, never half of it.
 */
void kv_jtx_begin(struct kv_pool *p);
/* Stage "write len bytes of src at dst" (dst inside the pool). Return: 0 or -E2BIG. */
int kv_jtx_add(struct kv_pool *p, void *dst, const void *src, uint32_t len);
void kv_jtx_commit(struct kv_pool *p);
#define KV_JTX_FIELD(p, ptr, val)                                                                  \
	({                                                                                         \
		__typeof__(*(ptr)) v__ = (val);                                                    \
		kv_jtx_add((p), (ptr), &v__, sizeof(v__));                                         \
	})

/* --- cluster.c --- */
/* At open, before the journal is replayed: refuse a mismatched mode; a leader stores its epoch. */
int kv_cluster_open_check(struct kv_pool *p, const struct kv_open_opts *o);
/* Before a journal commit of a cluster leader (p->cluster_epoch != 0). Return: may it write. */
bool kv_cluster_may_commit(struct kv_pool *p);
/*
 * Eviction of @ino by a leader (p->lock held): mark it evicting, then look at
 * every node's holds; held: unmark, park it out of the LRU, return false.
 */
bool kv_cluster_evict_ok(struct kv_pool *p, uint64_t ino);
/* After the eviction of @ino: drop the evicting mark. */
void kv_cluster_evicted(struct kv_pool *p, uint64_t ino);

/* --- index.c; caller holds p->lock --- */
bool kv_index_is_live_dir(struct kv_pool *p, uint64_t ino);
uint64_t kv_index_name_hash(const char *name, size_t len, uint64_t parent);
uint64_t kv_index_hash_find(struct kv_pool *p, uint64_t parent, const char *name, size_t len);
void kv_index_hash_insert(struct kv_pool *p, uint64_t ino);
void kv_index_child_add(struct kv_pool *p, uint64_t dir, uint64_t ino);

/* --- ghost.c; caller holds p->lock --- */
/* Take the ghost of (@parent of generation @parent_gen, @name) off the table. Return: found. */
bool kv_ghost_take(struct kv_pool *p, uint64_t parent, uint64_t parent_gen, const char *name,
		   size_t len, struct kv_ghost *out);
/* The ghost of @name under @parent, or under what @parent was made anew from. Return: found. */
bool kv_ghost_find(struct kv_pool *p, uint64_t parent, const char *name, size_t len,
		   struct kv_ghost *out);
/* Revive the ghost's very record if the kernel still names it. Return: true if it is live. */
bool kv_ghost_revive_locked(struct kv_pool *p, const struct kv_ghost *g);
/* @ino was made anew from ghost @g: let it stand for the reclaimed one. */
void kv_alias_add(struct kv_pool *p, uint64_t ino, const struct kv_ghost *g);
/* A record's attributes as kvfs shows them (size published, alloc incl. xattrs). */
void kv_index_fill_attr(struct kv_pool *p, uint64_t ino, struct kv_attr *a);
int kv_index_build(struct kv_pool *p); /* at open, after recovery */
void kv_index_free(struct kv_pool *p);
void kv_lru_touch(struct kv_pool *p, uint64_t ino);
void kv_lru_remove(struct kv_pool *p, uint64_t ino);
void kv_lru_append(struct kv_pool *p, uint64_t ino);
/* Evict the least recently used unheld file. Return: bytes freed, or -ENOSPC when none is left. */
long kv_evict_one(struct kv_pool *p);
/* Evict the least recently used unheld file of one anchor. Return: bytes freed, or -ENOSPC. */
long kv_evict_in(struct kv_pool *p, uint32_t anchor);
/* Bring back a directory eviction reclaimed that the kernel still names. Return: true if live. */
bool kv_dir_revive_locked(struct kv_pool *p, uint64_t dir);
/* The list of empty directories (holds.c). */
void kv_edir_add(struct kv_pool *p, uint64_t dir);
void kv_edir_remove(struct kv_pool *p, uint64_t dir);
/* Remember a reclaimed top directory so that a lookup of its name remakes it. */
void kv_ghost_add(struct kv_pool *p, uint64_t dir, bool top);
uint64_t kv_inode_alloc_bytes(const struct kv_inode *in);
int kv_index_pin_locked(struct kv_pool *p, uint64_t ino, int64_t now_ns);
/* A free record (evicting if need be), or 0. @for_dir: it will be a directory. */
uint64_t kv_index_take_inode(struct kv_pool *p, bool for_dir);
/* Take a record off the indexes and make it an orphan or free (index.c). */
void kv_index_unlink_record(struct kv_pool *p, uint64_t ino, bool dram_only_unlinked);
/* An orphan whose last holder went: drop its data, and its record if unreferenced (holds.c). */
void kv_reap_orphan(struct kv_pool *p, uint64_t ino);
uint64_t kv_index_find(struct kv_pool *p, uint64_t parent, const char *name, size_t len);
/* The same in steps, for batches: hash, prefetch its slot, then find. */
uint64_t kv_index_hash(uint64_t parent, const char *name, size_t len);
void kv_index_prefetch(struct kv_pool *p, uint64_t h);
void kv_index_prefetch_inode(struct kv_pool *p,
			     uint64_t h); /* its slot read: the record it names */
uint64_t kv_index_find_hashed(struct kv_pool *p, uint64_t h, uint64_t parent, const char *name,
			      size_t len);
void kv_index_link(struct kv_pool *p, uint64_t ino, uint64_t parent);

/* --- data.c; caller holds p->lock --- */
/* Free all data and xattrs of a record in a journal transaction the caller commits. */
void kv_data_drop(struct kv_pool *p, uint64_t ino, struct kv_extent *freed, int *nfreed);
void kv_data_free_extents(struct kv_pool *p, struct kv_extent *ext, int n);
/* Trim allocation beyond the size (page-rounded). Return: bytes trimmed. */
uint64_t kv_data_trim(struct kv_pool *p, uint64_t ino);
/* Trim the room ahead of every open file nobody is reading or writing now. Return: bytes freed. */
uint64_t kv_data_reclaim_ahead(struct kv_pool *p);
/* Give a record that is not yet visible one extent holding @buf (a link's target). Return: 0, -ENOSPC. */
int kv_data_fill_new_locked(struct kv_pool *p, struct kv_inode *in, const void *buf, size_t len);
/* Move a file's data into one extent (nobody may be reading or writing it). Return: 0 or -ENOSPC. */
int kv_data_migrate_locked(struct kv_pool *p, uint64_t ino);

/* --- policy.c; caller holds p->lock --- */
int kv_policy_build(struct kv_pool *p); /* at open, after the child lists */
void kv_policy_free(struct kv_pool *p);
bool kv_policy_is_name(const char *name);
/* Is @value acceptable for policy xattr @name (others: always)? Return: 0 or -EINVAL. */
int kv_policy_check_value(const char *name, const void *value, size_t size);
uint32_t kv_policy_anchor_of_dir(struct kv_pool *p, uint64_t dir);
void kv_policy_attach(struct kv_pool *p, uint64_t ino); /* a live file: count it */
void kv_policy_detach(struct kv_pool *p, uint64_t ino); /* leaving: uncount it */
void kv_policy_charge(struct kv_pool *p, uint64_t ino, int64_t delta);
void kv_policy_hit(struct kv_pool *p, uint64_t ino);
void kv_policy_reattach_tree(struct kv_pool *p, uint64_t ino); /* after a move */
void kv_policy_refresh_dir(struct kv_pool *p, uint64_t dir); /* after its xattrs changed */
void kv_policy_dir_gone(struct kv_pool *p, uint64_t dir);
void kv_policy_unlist(struct kv_pool *p, uint32_t anchor);
void kv_policy_relist(struct kv_pool *p, uint32_t anchor, uint64_t dir);
/* Keep @ino's anchor under its quota with @need more bytes. Return: 0, -EDQUOT. */
int kv_policy_make_room(struct kv_pool *p, uint64_t ino, uint64_t need);
/* Bytes @ino's anchor may still grow by (UINT64_MAX: no quota). */
uint64_t kv_policy_room(struct kv_pool *p, uint64_t ino);
/* A user xattr's value, with p->lock held (data.c). Return: its size, -ENODATA, -ERANGE. */
ssize_t kv_xattr_get_locked(struct kv_pool *p, uint64_t ino, const char *name, void *value,
			    size_t size);
/* A writer is closing: store the checksum of the file's bytes if it was the last (p->lock not held). */
void kv_data_seal(struct kv_pool *p, uint64_t ino);
/* Move a file's data into one extent (nobody may be reading or writing it). Return: 0 or -ENOSPC. */
int kv_data_migrate_locked(struct kv_pool *p, uint64_t ino);

/* --- check.c: run-time distrust of the shared pool --- */
struct kv_snap {
	uint64_t size, alloc, xattr_off;
	uint32_t xattr_len;
	uint16_t n;
	struct kv_extent ext[KV_INLINE_EXTENTS];
};
/*
 * Copy a record's extents, size and xattr extent once and check the copy
 * (bounds, size within the extents, the daemon's signature). A bad record is
 * quarantined. Hold what keeps the daemon itself from changing them (the
 * file's stripe, or p->lock). Return: 0 or -EIO.
 */
int kv_snap_take(struct kv_pool *p, uint64_t ino, struct kv_snap *s);
/* The same copy and bounds checks, without the signature or a quarantine (for work done
 * before the caller can hold the locks; check again with kv_snap_take()). Return: 0 or -EIO. */
int kv_snap_peek(struct kv_pool *p, uint64_t ino, struct kv_snap *s);
/* Record the extents the daemon just gave @ino (after every change of them). */
void kv_snap_commit(struct kv_pool *p, uint64_t ino);
/* ... or that it now has none (the change is staged in the open transaction). */
void kv_snap_commit_empty(struct kv_pool *p, uint64_t ino);
/* Mark a record bad: EIO from now on; logged and counted once. */
void kv_quarantine(struct kv_pool *p, uint64_t ino, const char *why);
bool kv_quarantined(const struct kv_pool *p, uint64_t ino);

#endif /* KVFS_MM_POOL_INT_H */
