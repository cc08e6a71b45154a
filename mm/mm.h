/* SPDX-License-Identifier: MIT */
/*
 * mm.h - the public face of mm/: a kvfs pool, its files and directories.
 *
 * The FUSE daemon (fs/) and the tools call these; nothing here knows FUSE.
 * Inode numbers are record indices in the pool's inode table (1 = root) and
 * double as FUSE node ids. Every call returns 0 (or a byte count) or -errno,
 * and logs a line through kv_log() where a person needs to act.
 *
 * Locking: each call takes what it needs (one metadata mutex, per-file data
 * stripes); callers hold nothing. The eviction callback runs with the
 * metadata mutex held and must only queue work.
 *
 * The order of mm/, lowest first. A header includes only headers above it
 * in this list, no mm/ file includes a header of fs/ or gpu/, and fs/ sees
 * mm/ through this header (plus log.h, and layout.h for libkvfs.c), never
 * through pool_int.h, alloc.h or backend.h. tests/check-layers.sh checks
 * the #include lines; the build compiles mm/ with -Imm -Iinclude only.
 *
 *   layout.h                 the on-pool format (no code)
 *   coherence.h, coherence.c flush/invalidate of shared pool memory (cluster mode)
 *   check.h, check.c         the checks of pool bytes shared by mount and fsck
 *   log.h, log.c             kv_log()
 *   alloc.h, alloc.c         the extent allocator of the data area
 *   backend.h, backend_*.c   where the bytes come from (file, device-DAX)
 *   mm.h                     this contract
 *   pool_int.h               struct kv_pool, shared by the modules below
 *   pool.c index.c attr.c ghost.c holds.c data.c batch.c policy.c fsck.c check.c (its run-time half)
 *                            cluster.c (the cluster mark, epoch and fence)
 *                            the operations; today they call each other
 *                            (pool.c builds the index, holds.c evicts
 *                            through index.c, index.c drops data.c's
 *                            extents). The planned split puts them in
 *                            layers that never call upward: journal,
 *                            extents, lru, index; then evict, holds,
 *                            namespace, data, batch; pool.c composes them.
 */
#ifndef KVFS_MM_MM_H
#define KVFS_MM_MM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "layout.h"

struct kv_pool;

#define KV_SYMLINK_MAX 4095 /* the kernel's limit on a link's target */
/* Per-directory cache policy, inherited from the nearest marked ancestor (kvfs(7)). */
#define KV_XATTR_EVICT "user.kvfs.evict" /* "lru" (default) | "never" */
#define KV_XATTR_QUOTA "user.kvfs.quota" /* bytes: "1073741824", "64M", "2G" */

struct kv_open_opts {
	uint64_t create_size; /* file pool: create and format at this size when missing */
	uint64_t inode_count; /* for a pool formatted now; 0: one per 64 KiB of data */
	int numa_node; /* -1: no binding */
	bool readonly; /* inspect only (stat, fsck): nothing is written */
	/* cluster mode (mm/cluster.c): etcd, not the pool lock, says who writes */
	bool cluster;
	uint64_t cluster_epoch; /* read-write: the leader's epoch, stored before replay */
	const char *cluster_node; /* read-write: the leader's name, stored with it */
};

struct kv_attr {
	uint64_t ino;
	uint64_t gen;
	uint32_t mode;
	uint32_t nlink;
	uint32_t uid, gid;
	uint64_t size;
	uint64_t alloc_bytes; /* data bytes allocated */
	int64_t atime_ns, mtime_ns, ctime_ns;
};

struct kv_pool_stats {
	uint64_t capacity_bytes, used_bytes, free_bytes;
	uint64_t free_extents, largest_free_bytes;
	unsigned fragmentation_pct;
	uint64_t inodes_total, inodes_free;
	uint64_t files, directories;
	uint64_t held_files; /* open, mapped or pinned */
	uint64_t pinned_files;
	uint64_t evictions, evicted_bytes;
	uint64_t hits, misses; /* lookups of names that existed / did not */
	uint64_t unclean_opens; /* times the pool was opened after its holder died */
	uint64_t orphans_freed, bytes_trimmed; /* recovery work at the last open */
	uint64_t dirs_reclaimed; /* empty directories eviction removed */
	/* records found bad (dropped at open, or EIO since) and journal transactions discarded */
	uint64_t quarantined;
};

/* One directory with a cache policy, for .kvfs/stats and metrics. */
struct kv_dir_stats {
	uint64_t ino;
	bool never;
	uint64_t quota_bytes; /* 0: none */
	uint64_t used_bytes, files, hits, evictions, evicted_bytes;
};
/** kv_pool_dir_stats() - up to @max marked directories. Return: how many were written. */
int kv_pool_dir_stats(struct kv_pool *p, struct kv_dir_stats *out, int max);
/** kv_pool_inodes_low() - fewer than 1/4 of the inode records are free and empty directories exist. */
bool kv_pool_inodes_low(struct kv_pool *p);
/**
 * kv_pool_reclaim_dirs() - when inode records run low, remove up to @max
 * empty directories nobody used for a few milliseconds, longest-empty first (their names are invalidated through the evict hook).
 * Takes the metadata lock. Return: how many went.
 */
int kv_pool_reclaim_dirs(struct kv_pool *p, int max);
/**
 * kv_dir_path() - the path of directory @ino from the mount's root ("/a/b").
 * Return: its length, -ENOENT (not a live directory), -ENAMETOOLONG.
 */
int kv_dir_path(struct kv_pool *p, uint64_t ino, char *buf, size_t size);

/* Fault injection: called at named points; a test hook may kill the process there. */
enum kv_fault_point {
	KV_FP_JOURNAL_WRITTEN = 1, /* records in the journal, not yet committed */
	KV_FP_JOURNAL_COMMITTED, /* commit mark stored, records not applied */
	KV_FP_JOURNAL_APPLIED, /* applied, journal not yet cleared */
	KV_FP_CREATE_FILLED, /* new inode filled, not yet live */
	KV_FP_DATA_WRITTEN, /* write copied its bytes, size not yet published */
	KV_FP_EXTENT_ALLOCATED, /* extent taken in DRAM, inode not updated */
};
typedef void (*kv_fault_fn)(enum kv_fault_point fp, void *arg);
void kv_pool_set_fault_hook(struct kv_pool *p, kv_fault_fn fn, void *arg);

/*
 * Called for each name eviction removes (with the metadata mutex held; it
 * must only queue work): a file (@ino, @gen) or a directory (@ino 0:
 * invalidate the entry only) in directory @parent (@parent_gen).
 */
typedef void (*kv_evict_fn)(void *arg, uint64_t parent, uint64_t parent_gen, const char *name,
			    size_t len, uint64_t ino, uint64_t gen);
void kv_pool_set_evict_hook(struct kv_pool *p, kv_evict_fn fn, void *arg);


/* --- the pool --- */

/**
 * kv_pool_mkfs() - format @path (a file is created at @size when missing).
 * @size: bytes for a new or resized file pool; 0 keeps the present size
 * @inode_count: 0 for the default
 * @force: erase an existing kvfs pool, or other data
 * Return: 0; -EEXIST when it holds a kvfs pool or other (non-zero) data and
 * !@force; -ENOSPC when @size is too small. Nothing is touched on error.
 */
int kv_pool_mkfs(const char *path, uint64_t size, uint64_t inode_count, bool force);

/**
 * kv_pool_open() - open a formatted pool, recovering after a crash.
 * Return: 0, -ENOENT, -EBUSY (held by another process), -EUCLEAN (corrupt),
 * -EPROTO (not kvfs), -ENOTSUP (newer format), -EINVAL, -ENOMEM.
 */
int kv_pool_open(const char *path, const struct kv_open_opts *o, struct kv_pool **out);
/**
 * kv_pool_stop_serving() - say that this process is done with the pool and
 * about to close it: a kv_pool_open() elsewhere waits for the close (up to
 * 5 s) instead of failing with -EBUSY. Call nothing else on @p but close.
 */
void kv_pool_stop_serving(struct kv_pool *p);
/** kv_pool_close() - mark the pool clean and unmap it. */
void kv_pool_close(struct kv_pool *p);

/**
 * kv_pool_populate() - map every page of the pool now, so that no read or
 * write faults later. Call it in the serving process, after any fork.
 * Return: 0 or -errno.
 */
int kv_pool_populate(struct kv_pool *p);
const struct kv_geometry *kv_pool_geometry(const struct kv_pool *p);
const char *kv_pool_path(const struct kv_pool *p);
void kv_pool_get_stats(struct kv_pool *p, struct kv_pool_stats *st);
/** kv_pool_set_watermark() - percent of data use above which kv_pool_over_watermark() says so. */
void kv_pool_set_watermark(struct kv_pool *p, unsigned pct);
bool kv_pool_over_watermark(struct kv_pool *p);
/**
 * kv_pool_zero_free() - zero up to @max_bytes of free pages that may hold
 * old bytes, so that a later zeroing reservation finds them ready. Call it
 * from a background thread; it holds the metadata mutex 1 MiB at a time.
 * Return: bytes zeroed (0: every free page is zero, or a read-only pool).
 */
uint64_t kv_pool_zero_free(struct kv_pool *p, uint64_t max_bytes);
/** kv_pool_evict_to() - evict LRU unheld files until used <= @pct of capacity. Return: files evicted. */
long kv_pool_evict_to(struct kv_pool *p, unsigned pct);

/**
 * kv_pool_fsck() - check superblock, journal and every record with the checker
 * a mount runs: a problem is something a mount would drop or discard.
 * Logs one line per problem. Return: the number of problems (0 = clean),
 * or -errno when the pool cannot be opened at all.
 */
long kv_pool_fsck(const char *path);
#define KV_FSCK_DATA 0x1 /* also hash every file that has a checksum and compare */
/** kv_pool_fsck_flags() - kv_pool_fsck() with KV_FSCK_* flags. Return: as kv_pool_fsck(). */
long kv_pool_fsck_flags(const char *path, unsigned flags);
/**
 * kv_pool_repair() - open the pool read-write and close it: the open drops
 * every record the checker finds bad (kv_pool_fsck() lists them) and keeps
 * the rest; a bad committed journal transaction is discarded.
 * Return: the number of records dropped and transactions discarded, or
 * -errno as kv_pool_open() (a bad superblock cannot be repaired).
 */
long kv_pool_repair(const char *path);

/* --- names --- */

/**
 * kv_lookup() - find @name in directory @parent and fill *out.
 * Return: 0; -ENOENT (absent, or @parent is not a live directory), -ENOTDIR
 * (@parent is a file), -EINVAL or -ENAMETOOLONG (a bad name).
 */
int kv_lookup(struct kv_pool *p, uint64_t parent, const char *name, size_t len,
	      struct kv_attr *out);
/**
 * kv_lookup_ref() - kv_lookup() that also counts one kernel lookup of the
 * found inode (see kv_forget()) in the same critical section, so that no
 * eviction can free and reuse the record between the two, as a separate
 * kv_ref() would allow. Return: as kv_lookup().
 */
int kv_lookup_ref(struct kv_pool *p, uint64_t parent, const char *name, size_t len,
		  struct kv_attr *out);
int kv_create(struct kv_pool *p, uint64_t parent, const char *name, size_t len, uint32_t mode,
	      uint32_t uid, uint32_t gid, struct kv_attr *out);
/**
 * kv_symlink() - create a symbolic link @name in @parent pointing at @target
 * (a NUL-terminated path, stored as the link's data; never followed by mm/).
 * Return: 0; -EEXIST, -ENOENT (no such directory, or an empty target),
 * -ENAMETOOLONG (name, or target over KV_SYMLINK_MAX), -ENOSPC, -EROFS.
 */
int kv_symlink(struct kv_pool *p, uint64_t parent, const char *name, size_t len,
	       const char *target, uint32_t uid, uint32_t gid, struct kv_attr *out);
/** kv_readlink() - copy up to @size bytes of a link's target (no NUL). Return: length, -EINVAL (not a link), -ENOENT. */
ssize_t kv_readlink(struct kv_pool *p, uint64_t ino, char *buf, size_t size);
int kv_unlink(struct kv_pool *p, uint64_t parent, const char *name, size_t len);
int kv_rmdir(struct kv_pool *p, uint64_t parent, const char *name, size_t len);
/* flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE; *replaced: the inode a plain rename unlinked, or 0 */
int kv_rename(struct kv_pool *p, uint64_t parent, const char *name, size_t len, uint64_t newparent,
	      const char *newname, size_t newlen, unsigned flags, uint64_t *replaced);
/**
 * kv_name() - copy a live record's name (NUL-terminated) and its parent as
 * linked. Return: the name's length; -ENOENT (not live), -ERANGE (@size too
 * small), -EIO (the name in the pool is invalid: the file is quarantined).
 */
int kv_name(struct kv_pool *p, uint64_t ino, char *buf, size_t size, uint64_t *parent);

/* --- references: the kernel's lookups, opens (and maps), fast-path pins --- */

void kv_ref(struct kv_pool *p, uint64_t ino, uint64_t n);
void kv_forget(struct kv_pool *p, uint64_t ino, uint64_t n);
int kv_open(struct kv_pool *p, uint64_t ino);
/**
 * kv_open_gen() - kv_open() of the record's life whose generation matches
 * @gen in the bits of @gen_mask, checked under the same lock as the hold.
 * Return: 0; -ESTALE (another life, or not live), -ENOENT.
 */
int kv_open_gen(struct kv_pool *p, uint64_t ino, uint64_t gen, uint64_t gen_mask);
/** kv_gen() - a record's generation now (0 for an invalid inode number). */
uint64_t kv_gen(struct kv_pool *p, uint64_t ino);
void kv_release(struct kv_pool *p, uint64_t ino);
int kv_pin(struct kv_pool *p, uint64_t ino, uint64_t gen);
void kv_unpin(struct kv_pool *p, uint64_t ino);
/** kv_unpin_batch() - kv_unpin() of @n inodes, in order, under one lock. */
void kv_unpin_batch(struct kv_pool *p, const uint64_t *inos, size_t n);

/* --- attributes --- */

int kv_getattr(struct kv_pool *p, uint64_t ino, struct kv_attr *out);
#define KV_SET_MODE  0x01
#define KV_SET_UID   0x02
#define KV_SET_GID   0x04
#define KV_SET_SIZE  0x08
#define KV_SET_ATIME 0x10
#define KV_SET_MTIME 0x20
#define KV_SET_CTIME 0x40
int kv_setattr(struct kv_pool *p, uint64_t ino, unsigned mask, const struct kv_attr *in,
	       struct kv_attr *out);

/* --- data --- */

ssize_t kv_read(struct kv_pool *p, uint64_t ino, void *buf, size_t len, uint64_t off);
/**
 * kv_read_iov() - point @iov at up to @len bytes of a file at @off, in place
 * in the pool (for zero-copy replies). On return >= 0 the file's data lock is
 * held for reading until kv_read_iov_done(). Return: bytes covered (0 at
 * EOF) or -errno (nothing held).
 */
struct iovec;
ssize_t kv_read_iov(struct kv_pool *p, uint64_t ino, uint64_t off, size_t len, struct iovec *iov,
		    int max, int *niov);
void kv_read_iov_done(struct kv_pool *p, uint64_t ino);
/**
 * kv_write_begin() - make [off, off + len) of a file writable in place: the
 * space is allocated (evicting if needed), a gap after the old end zeroed,
 * and @iov points at the pool memory to fill. The file's data lock is held
 * until kv_write_end(), which publishes the new size for the bytes written.
 * Return: 0 (lock held) or -errno (nothing held).
 */
int kv_write_begin(struct kv_pool *p, uint64_t ino, uint64_t off, size_t len, struct iovec *iov,
		   int max, int *niov);
void kv_write_end(struct kv_pool *p, uint64_t ino, uint64_t off, size_t written);
ssize_t kv_write(struct kv_pool *p, uint64_t ino, const void *buf, size_t len, uint64_t off);
int kv_truncate(struct kv_pool *p, uint64_t ino, uint64_t size);
/* mode: 0 or FALLOC_FL_KEEP_SIZE; others -EOPNOTSUPP */
int kv_fallocate(struct kv_pool *p, uint64_t ino, int mode, uint64_t off, uint64_t len);
/**
 * kv_extents() - copy up to @max extents of a file. Return: the number the
 * file has (may exceed @max), or -errno. *size receives the file size.
 */
int kv_extents(struct kv_pool *p, uint64_t ino, struct kv_extent *ext, int max, uint64_t *size);
/**
 * kv_verify() - hash a file's bytes and compare them with the checksum stored
 * when it stopped being written (last close of a writer, or commit).
 * Return: 0 (they match), -ENODATA (no checksum: being written, or never
 * closed since a change), -EIO (they differ; logged), -ENOENT.
 */
int kv_verify(struct kv_pool *p, uint64_t ino);
/** kv_pool_base() - the pool mapping (for tools and tests that inspect the pool in place). */
void *kv_pool_base(const struct kv_pool *p);

/* --- directories --- */

struct kv_dirent {
	uint64_t ino;
	uint64_t gen;
};
/**
 * kv_dir_snapshot() - the children of a directory, in creation order, into a
 * malloc'ed array (*out, *count). POSIX lets readdir ignore later changes.
 */
int kv_dir_snapshot(struct kv_pool *p, uint64_t dir, struct kv_dirent **out, uint64_t *count);
/** kv_dirent_name() - name and attributes of a snapshot entry still alive. Return: len or -ENOENT. */
int kv_dirent_name(struct kv_pool *p, const struct kv_dirent *d, char *buf, size_t size,
		   struct kv_attr *attr);
/** kv_dirent_name_ref() - kv_dirent_name() counting one kernel lookup, as kv_lookup_ref(). */
int kv_dirent_name_ref(struct kv_pool *p, const struct kv_dirent *d, char *buf, size_t size,
		       struct kv_attr *attr);

/* --- the fast path (libkvfs through fs/ctl.c) --- */

/**
 * kv_lookup_pin() - look a file up and pin it in one step. A file written in
 * several extents is first moved into one. *ext: its single extent; *attr:
 * its ino, gen, size, mode, uid and gid (for the caller's permission check).
 * Return: 0, -ENOENT (absent or a directory), -EBUSY (being written), -ENOSPC.
 */
int kv_lookup_pin(struct kv_pool *p, uint64_t dir, const char *name, size_t len,
		  struct kv_attr *attr, struct kv_extent *ext);
/**
 * kv_lookup_pin_batch() - kv_lookup_pin() of the leading names of a batch
 * under one lock, stopping at the first that fails. @names: @n names of
 * @len bytes, @stride bytes apart. attr[i] and ext[i] are filled for each
 * name pinned. Return: how many leading names were pinned; *err says why
 * the batch stopped (0: all were pinned; else as kv_lookup_pin()).
 */
size_t kv_lookup_pin_batch(struct kv_pool *p, uint64_t dir, const char *names, size_t stride,
			   size_t len, size_t n, struct kv_attr *attr, struct kv_extent *ext,
			   int *err);
/**
 * kv_reserve() - an invisible file of @size bytes in one extent (zeroed if @zero), held
 * until kv_commit() or kv_abort() (or freed at the next open after a crash).
 * Return: 0, -EEXIST (the name is present), -ENOENT (no such dir), -ENOSPC.
 */
int kv_reserve(struct kv_pool *p, uint64_t dir, const char *name, size_t len, uint64_t size,
	       uint32_t uid, uint32_t gid, bool zero,
	       uint64_t *ino, struct kv_extent *ext);
/**
 * kv_commit() - publish reservations atomically (one journal transaction).
 * published[i] = 0 where the name appeared meanwhile: that reservation is
 * freed and the other file kept. Return: 0, -EINVAL (not a reservation).
 */
int kv_commit(struct kv_pool *p, const uint64_t *inos, size_t n, uint8_t *published);
void kv_abort(struct kv_pool *p, const uint64_t *inos, size_t n);

/* --- user xattrs (names with the "user." prefix, as given) --- */

int kv_setxattr(struct kv_pool *p, uint64_t ino, const char *name, const void *value, size_t size,
		int flags);
/* Return: value size; -ERANGE when @size is too small and not 0 */
ssize_t kv_getxattr(struct kv_pool *p, uint64_t ino, const char *name, void *value, size_t size);
ssize_t kv_listxattr(struct kv_pool *p, uint64_t ino, char *list, size_t size);
int kv_removexattr(struct kv_pool *p, uint64_t ino, const char *name);

/* --- cluster mode (mm/cluster.c; kvfs(7) CLUSTER) --- */

/* Asked before each journal commit of a cluster leader: may it still write metadata? */
typedef bool (*kv_fence_fn)(void *arg);
/**
 * kv_pool_set_fence_hook() - in cluster mode, every journal commit first checks
 * that the pool's epoch is still this leader's, then asks @fn; a commit either
 * refuses is dropped whole (nothing of it reaches the pool) and counted.
 * Set before the pool serves. Return: nothing.
 */
void kv_pool_set_fence_hook(struct kv_pool *p, kv_fence_fn fn, void *arg);
/** kv_pool_cluster_epoch() - the fencing epoch stored in the pool now. Return: it, 0: none. */
uint64_t kv_pool_cluster_epoch(struct kv_pool *p);
/** kv_pool_cluster_leader() - the leader's name stored in the pool, into @buf. Return: @buf. */
char *kv_pool_cluster_leader(struct kv_pool *p, char *buf, size_t size);
/** kv_pool_commits_refused() - journal commits the fence dropped. Return: the count. */
uint64_t kv_pool_commits_refused(struct kv_pool *p);
/**
 * kv_pool_change_seq() - the journal's sequence plus the leader's change count:
 * it moves at every change of whoever leads, so a follower knows when to look again.
 * Return: the sequence.
 */
uint64_t kv_pool_change_seq(struct kv_pool *p);
/**
 * kv_pool_cluster_leave() - the last node of a cluster unmounts: hand the pool
 * back to single-host use (clears the cluster mark if @epoch is still the pool's).
 * Return: 0, -ESTALE (another leader's epoch is there: left as it is), -EROFS.
 */
int kv_pool_cluster_leave(struct kv_pool *p, uint64_t epoch);
/**
 * kv_pool_cluster_renew() - a leader that lost its lease and won again with
 * @epoch goes on with its open pool only if nobody else wrote meanwhile (the
 * pool still holds its old epoch). Return: 0, -ESTALE (someone did), -EROFS.
 */
int kv_pool_cluster_renew(struct kv_pool *p, uint64_t epoch);
/** kv_pool_cluster_changed() - a leader changed the pool: tell the followers. Return: nothing. */
void kv_pool_cluster_changed(struct kv_pool *p);
/**
 * kv_pool_coh_file() - publish (flush, after writing) or refresh (invalidate,
 * before reading) bytes [@off, @off + @len) of file @ino through mm/coherence.h;
 * nothing but counting on a coherent pool. Lock-free. Return: nothing.
 */
void kv_pool_coh_file(struct kv_pool *p, uint64_t ino, uint64_t off, uint64_t len, bool publish);
/* --- global holds (cluster mode): mark, check, free --- */

/* Called by kv_unpin() and kv_unpin_batch() for each inode, before anything else. */
typedef void (*kv_unpin_fn)(void *arg, uint64_t ino);
/** kv_pool_set_unpin_hook() - set before the pool serves. Return: nothing. */
void kv_pool_set_unpin_hook(struct kv_pool *p, kv_unpin_fn fn, void *arg);
/** kv_pool_holds_usable() - Return: whether the hold bitmaps cover every inode record. */
bool kv_pool_holds_usable(struct kv_pool *p);
/**
 * kv_pool_remote_hold() - node slot @slot holds @ino (of generation @gen):
 * set its bit, then check that the leader is not evicting it and that it is
 * still that live file (@gen 0: any generation). Lock-free.
 * Return: 0, -ESTALE (bit cleared again), -EINVAL.
 */
int kv_pool_remote_hold(struct kv_pool *p, int slot, uint64_t ino, uint64_t gen);
/** kv_pool_remote_release() - clear @slot's bit of @ino. Return: nothing. */
void kv_pool_remote_release(struct kv_pool *p, int slot, uint64_t ino);
/** kv_pool_slot_clear() - drop every hold of @slot (its node's lease ended). Return: nothing. */
void kv_pool_slot_clear(struct kv_pool *p, int slot);
/** kv_pool_slot_holds() - Return: how many files @slot holds. */
uint64_t kv_pool_slot_holds(struct kv_pool *p, int slot);
/**
 * kv_pool_cluster_unpark() - a leader puts the files no node holds any more
 * back in the LRU. Takes the metadata lock. Return: how many.
 */
int kv_pool_cluster_unpark(struct kv_pool *p);
/* --- forwarding (cluster mode): a follower's view sends its stores to the leader --- */

/* What kv_reserve(), kv_commit() and kv_abort() of a follower's view call instead. */
struct kv_forward_ops {
	int (*reserve)(void *arg, uint64_t dir, const char *name, size_t len, uint64_t size,
		       uint32_t uid, uint32_t gid, bool zero, uint64_t *ino, struct kv_extent *ext);
	int (*commit)(void *arg, const uint64_t *inos, size_t n, uint8_t *published);
	void (*abort)(void *arg, const uint64_t *inos, size_t n);
};
/** kv_pool_set_forward() - set on a view before it serves. Return: nothing. */
void kv_pool_set_forward(struct kv_pool *p, const struct kv_forward_ops *ops, void *arg);
/** kv_pool_rpc_box() - node slot @slot's mailbox in the pool. Return: it, or NULL. */
struct kv_rpc_box *kv_pool_rpc_box(struct kv_pool *p, int slot);
/**
 * kv_pool_log_change() - a leader changed @ino's bytes or attributes in place:
 * log it for the followers' page caches. Return: nothing.
 */
void kv_pool_log_change(struct kv_pool *p, uint64_t ino);
/**
 * kv_pool_log_read() - up to @max entries of the change log from *@pos on
 * (inode, generation), moving *@pos past them (a reader that fell behind
 * skips to the newest half; @max 0 moves *@pos to the end). Lock-free.
 * Return: how many.
 */
int kv_pool_log_read(struct kv_pool *p, uint64_t *pos, uint64_t *ino, uint64_t *gen, int max);
/** kv_pool_is_readonly() - Return: true for a pool opened read-only (a follower's view). */
bool kv_pool_is_readonly(const struct kv_pool *p);

#endif /* KVFS_MM_MM_H */
