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
 * The order of mm/, lowest first. A file calls only functions of its own
 * layer and of layers below it, and includes only their headers (a header:
 * only headers of layers below it); where a lower layer must have a higher
 * one act, it calls through a pointer pool.c sets at open (p->up.seal).
 * No mm/ file includes a header of fs/ or gpu/, and fs/ sees mm/ through
 * this header (and log.h, hex.h), never through the
 * layers' own headers. tests/check-layers.sh checks the #include lines
 * (its order is this one); the build compiles mm/ with -Imm -Iinclude only.
 *
 *   layout.h                 the on-pool format (no code)
 *   log.h, log.c             kv_log()
 *   hex.h                    block names: 16 bytes as 32 hex digits (no state)
 *   coherence.h, coherence.c flush/invalidate of shared pool memory (cluster mode)
 *   check.h, check.c         the checks of pool bytes shared by open and fsck
 *   alloc.h, alloc.c         the extent allocator of the data area
 *   backend.h, backend_*.c   where the bytes come from (file, device-DAX)
 *   mm.h                     this contract
 *   pool_int.h               struct kv_pool: each layer writes only the
 *                            members its comment gives it
 *   snap.h, snap.c           checked copies of a record's extents, quarantine
 *   journal.h, journal.c     stage, commit and recover a transaction
 *   extents.h, extents.c     drop, trim and free a record's extents
 *   xattr.h, xattr.c         read a record's xattr blob
 *   lru.h, lru.c             the lists of files nobody holds
 *   index.h, index.c         the name hash, child lists, empty directories
 *   policy.h, policy.c       per-directory policy: anchors, quotas
 *   ghost.h, ghost.c         directories eviction reclaimed, and their aliases
 *   holds.h, holds.c         lookups, opens, pins, free records, unlink of a
 *                            record: the only writer of the counts
 *   nodes.h, nodes.c         cluster mode: the mark, epoch and fence, other
 *                            nodes' holds, mailboxes, the change log
 *   evict.h, evict.c         the only code that evicts: allocate-or-evict,
 *                            take an inode record, evict to a target
 *   namespace.c              lookup, create, symlink, unlink, rmdir, rename
 *   data.h, data.c, data_xattr.c
 *                            read, write, truncate, fallocate, xattrs
 *   attr.c                   attributes, directory listings, paths
 *   batch.c                  the fast path: lookup+pin, reserve, commit
 *   follow.h, follow.c       a follower's view follows the change log
 *   pool.c                   open, format, close; composes the layers
 *   fsck.c                   fsck and repair, through open and close
 */
#ifndef KVFS_MM_MM_H
#define KVFS_MM_MM_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "layout.h"

struct kv_pool;

#define KV_SYMLINK_MAX 4095 /* the kernel's limit on a link's target */
/* Per-directory cache policy, inherited from the nearest marked ancestor (kvfs(7)). */
#define KV_XATTR_EVICT "user.kvfs.evict" /* "lru" (default) | "never" */
#define KV_XATTR_QUOTA "user.kvfs.quota" /* bytes: "1073741824", "64M", "2G" */

/*
 * kv_size_unit() - the unit letter of a size at *@end (k, m, g or t, either
 * case, binary multiples): its multiplier, *@end moved past it; anything
 * else: 1, *@end left. The quota xattr and the command line's sizes share it.
 */
static inline uint64_t kv_size_unit(char **end)
{
	static const char units[] = "kmgt";
	const char *u = **end ? strchr(units, **end | 0x20) : NULL;

	if (!u)
		return 1;
	(*end)++;
	return 1ull << (10 * (u - units + 1));
}

struct kv_open_opts {
	uint64_t create_size; /* file pool: create and format at this size when missing */
	uint64_t inode_count; /* for a pool formatted now; 0: one per 64 KiB of data */
	int numa_node; /* -1: no binding */
	bool readonly; /* inspect only (stat, fsck): nothing is written */
	/* cluster mode (mm/nodes.c): etcd, not the pool lock, says who writes */
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
	uint64_t sums_queued; /* committed blocks whose checksum is not taken yet */
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
/**
 * kv_pool_inodes_low() - are fewer than 1/4 of the inode records free while
 * empty directories exist? Takes the metadata lock.
 * Return: true if so (kv_pool_reclaim_dirs() has work), else false.
 */
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
/** kv_pool_set_fault_hook() - call @fn(point, @arg) at each fault point (NULL: none); tests only. */
void kv_pool_set_fault_hook(struct kv_pool *p, kv_fault_fn fn, void *arg);

/*
 * Called for each name eviction removes (with the metadata mutex held; it
 * must only queue work): a file (@ino, @gen) or a directory (@ino 0:
 * invalidate the entry only) in directory @parent (@parent_gen).
 */
typedef void (*kv_evict_fn)(void *arg, uint64_t parent, uint64_t parent_gen, const char *name,
			    size_t len, uint64_t ino, uint64_t gen);
/** kv_pool_set_evict_hook() - report each name eviction removes to @fn(@arg, ...) (NULL: none). */
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
/** kv_pool_close() - mark the pool clean, unmap it and free @p (NULL: nothing). */
void kv_pool_close(struct kv_pool *p);

/**
 * kv_pool_populate() - map every page of the pool now, so that no read or
 * write faults later. Call it in the serving process, after any fork.
 * Return: 0 or -errno.
 */
int kv_pool_populate(struct kv_pool *p);
/** kv_pool_geometry() - Return: the pool's geometry, as checked at open (valid until close). */
const struct kv_geometry *kv_pool_geometry(const struct kv_pool *p);
/**
 * kv_pool_path_is_device() - does @path name a device-DAX pool (memory other
 * hosts may map too) rather than a pool file? Return: true for a device.
 */
bool kv_pool_path_is_device(const char *path);
/** kv_pool_path() - Return: the path the pool was opened by (valid until close). */
const char *kv_pool_path(const struct kv_pool *p);
/** kv_pool_get_stats() - fill *@st with the pool's counters now (takes the metadata lock). */
void kv_pool_get_stats(struct kv_pool *p, struct kv_pool_stats *st);
/** kv_pool_set_watermark() - percent of data use above which kv_pool_over_watermark() says so (100: never). */
void kv_pool_set_watermark(struct kv_pool *p, unsigned pct);
/** kv_pool_over_watermark() - Return: true when more data bytes than the watermark's percent are in use. */
bool kv_pool_over_watermark(struct kv_pool *p);
/**
 * kv_pool_zero_free() - zero up to @max_bytes of free pages that may hold
 * old bytes, so that a later zeroing reservation finds them ready. Call it
 * from a background thread; it holds the metadata mutex 1 MiB at a time.
 * Return: bytes zeroed (0: every free page is zero, or a read-only pool).
 */
uint64_t kv_pool_zero_free(struct kv_pool *p, uint64_t max_bytes);
/**
 * kv_pool_sum_queued() - store the checksums of committed blocks, oldest
 * commit first, until about @max_bytes were hashed. kv_commit() does not
 * hash (a store would wait for a pass over its bytes); call this from a
 * background thread soon after. A block changed meanwhile is skipped (its
 * next seal sums it).
 * Return: bytes hashed (0: nothing queued).
 */
uint64_t kv_pool_sum_queued(struct kv_pool *p, uint64_t max_bytes);
/** kv_pool_sums_queued() - Return: committed blocks still waiting for their checksum. */
uint64_t kv_pool_sums_queued(struct kv_pool *p);
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
 * kv_lookup() - find @name in directory @parent, fill *out and count one
 * kernel lookup of the found inode (undone by kv_forget()) in the same
 * critical section, so that no eviction can free and reuse the record
 * between the two, as passthrough_ll's lo_find() does. A directory
 * eviction reclaimed comes back, as @parent (the kernel still names it) or
 * as @name (its ghost). A caller that is not the kernel's lookup forgets
 * at once. Return: 0; -ENOENT (absent, or @parent is not a live
 * directory), -ENOTDIR (@parent is a file), -EINVAL or -ENAMETOOLONG (a
 * bad name), -ENOSPC (a reclaimed directory could not be made again).
 */
int kv_lookup(struct kv_pool *p, uint64_t parent, const char *name, size_t len,
	      struct kv_attr *out);
/**
 * kv_create() - create a file or directory @name in @parent, owned by @uid
 * (@gid, or the parent's under a set-group-ID directory), and count one
 * kernel lookup of it as kv_lookup() does. *@out: its attributes.
 * Return: 0; -EEXIST (the name is present), -ENOENT (@parent is not a live
 * directory), -EPERM (@mode is neither a file nor a directory: a link goes
 * through kv_symlink()), -EINVAL or -ENAMETOOLONG (a bad name), -ENOSPC
 * (every inode record is in use and held), -EROFS.
 */
int kv_create(struct kv_pool *p, uint64_t parent, const char *name, size_t len, uint32_t mode,
	      uint32_t uid, uint32_t gid, struct kv_attr *out);
/**
 * kv_symlink() - create a symbolic link @name in @parent pointing at @target
 * (a NUL-terminated path, stored as the link's data; never followed by mm/).
 * Return: 0; -EEXIST, -ENOENT (no such directory, or an empty target),
 * -ENAMETOOLONG (name, or target over KV_SYMLINK_MAX), -ENOSPC, -EROFS.
 */
int kv_symlink(struct kv_pool *p, uint64_t parent, const char *name, size_t len, const char *target,
	       uint32_t uid, uint32_t gid, struct kv_attr *out);
/**
 * kv_readlink() - copy up to @size bytes of a link's target (no NUL).
 * Return: the bytes copied; -EINVAL (not a link), -ENOENT, -EIO (its record is bad).
 */
ssize_t kv_readlink(struct kv_pool *p, uint64_t ino, char *buf, size_t size);
/**
 * kv_unlink() - remove the name of a file or link. Its data goes now unless
 * someone holds it; its record when the kernel forgets it.
 * Return: 0; -ENOENT (absent, or @parent is not a live directory), -EISDIR,
 * -EINVAL or -ENAMETOOLONG (a bad name), -EROFS, -E2BIG (the journal cannot
 * hold the change: nothing changed).
 */
int kv_unlink(struct kv_pool *p, uint64_t parent, const char *name, size_t len);
/**
 * kv_rmdir() - remove an empty directory.
 * Return: 0; -ENOENT, -ENOTDIR, -ENOTEMPTY, -EINVAL or -ENAMETOOLONG, -EROFS,
 * -E2BIG (as kv_unlink()).
 */
int kv_rmdir(struct kv_pool *p, uint64_t parent, const char *name, size_t len);
/**
 * kv_rename() - move @name in @parent to @newname in @newparent, in one
 * journal transaction. @flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE.
 * *@replaced: the inode a plain rename unlinked, or 0.
 * Return: 0 (also when both names are one file); -ENOENT (no source, a
 * directory not live, or nothing to exchange with), -EEXIST (the target
 * exists and RENAME_NOREPLACE), -EINVAL (bad @flags, a directory moved
 * below itself, a bad name), -ENAMETOOLONG, -ENOTDIR or -EISDIR (a file and
 * a directory), -ENOTEMPTY (the target directory is not empty), -EROFS,
 * -E2BIG (the journal cannot hold the change: nothing changed).
 */
int kv_rename(struct kv_pool *p, uint64_t parent, const char *name, size_t len, uint64_t newparent,
	      const char *newname, size_t newlen, unsigned flags, uint64_t *replaced);
/**
 * kv_name() - copy a live record's name (NUL-terminated) and its parent as
 * linked (a cluster leader invalidates its kernel's entries for what a
 * follower published). Return: the name's length; -ENOENT (not live),
 * -ERANGE (@size too small), -EIO (the name in the pool is invalid: the file
 * is quarantined).
 */
int kv_name(struct kv_pool *p, uint64_t ino, char *buf, size_t size, uint64_t *parent);

/* --- references: the kernel's lookups, opens (and maps), fast-path pins --- */

/** kv_ref() - count @n kernel lookups of @ino (an invalid @ino: nothing). */
void kv_ref(struct kv_pool *p, uint64_t ino, uint64_t n);
/**
 * kv_forget() - the kernel forgot @n lookups of @ino (those of an earlier
 * life of the record first). An unlinked record nobody holds or names any
 * more is freed.
 */
void kv_forget(struct kv_pool *p, uint64_t ino, uint64_t n);
/**
 * kv_open() - hold @ino open (or mapped): never evicted, its data kept
 * until kv_release(). Return: 0; -ENOENT (not an inode number), -ESTALE
 * (not live, but for an unlinked file still held or a rename's kept victim).
 */
int kv_open(struct kv_pool *p, uint64_t ino);
/**
 * kv_open_gen() - kv_open() of the record's life whose generation matches
 * @gen in the bits of @gen_mask, checked under the same lock as the hold.
 * Return: 0; -ESTALE (another life, or not live), -ENOENT.
 */
int kv_open_gen(struct kv_pool *p, uint64_t ino, uint64_t gen, uint64_t gen_mask);
/** kv_gen() - Return: a record's generation now (0 for an invalid inode number). */
uint64_t kv_gen(struct kv_pool *p, uint64_t ino);
/**
 * kv_release() - end a kv_open(). The last writer's release stores the
 * checksum of the file's bytes; the last holder's trims its room ahead,
 * or frees an unlinked file.
 */
void kv_release(struct kv_pool *p, uint64_t ino);
/**
 * kv_flush() - a writer closed a descriptor of @ino: what was written
 * through the mount is whole. Until then (or the last kv_release()), a file
 * written while open is not found by kv_lookup_pin() and
 * kv_lookup_pin_batch(): a client must not map half a block. Return: nothing.
 */
void kv_flush(struct kv_pool *p, uint64_t ino);
/**
 * kv_pin() - hold @ino for the fast path, if its generation is @gen (0:
 * any). Return: 0; -ENOENT (not an inode number), -ESTALE (another life, or
 * not live).
 */
int kv_pin(struct kv_pool *p, uint64_t ino, uint64_t gen);
/** kv_unpin() - end a kv_pin() (an invalid @ino or one not pinned: nothing). */
void kv_unpin(struct kv_pool *p, uint64_t ino);
/** kv_unpin_batch() - kv_unpin() of @n inodes, in order, under one lock. */
void kv_unpin_batch(struct kv_pool *p, const uint64_t *inos, size_t n);

/* --- attributes --- */

/** kv_getattr() - fill *@out with @ino's attributes. Return: 0; -ENOENT (not an inode in use). */
int kv_getattr(struct kv_pool *p, uint64_t ino, struct kv_attr *out);
#define KV_SET_MODE  0x01
#define KV_SET_UID   0x02
#define KV_SET_GID   0x04
#define KV_SET_SIZE  0x08
#define KV_SET_ATIME 0x10
#define KV_SET_MTIME 0x20
#define KV_SET_CTIME 0x40
/**
 * kv_setattr() - change the attributes @mask (KV_SET_*) names to those of
 * *@in (a size through kv_truncate()); *@out: the attributes after.
 * Return: 0; -ENOENT, -EROFS; with KV_SET_SIZE, as kv_truncate().
 */
int kv_setattr(struct kv_pool *p, uint64_t ino, unsigned mask, const struct kv_attr *in,
	       struct kv_attr *out);

/* --- data --- */

/**
 * kv_read() - copy up to @len bytes of a file at @off into @buf.
 * Return: bytes copied (0 at or past the end); -ENOENT (not a live file or
 * link), -EISDIR, -EIO (its record is bad).
 */
ssize_t kv_read(struct kv_pool *p, uint64_t ino, void *buf, size_t len, uint64_t off);
struct iovec;
/**
 * kv_read_iov() - point @iov at up to @len bytes of a file at @off, in place
 * in the pool (for zero-copy replies). On return >= 0 the file's data lock is
 * held for reading until kv_read_iov_done(). Return: bytes covered (0 at
 * EOF); -ENOENT, -EISDIR, -EIO, as kv_read() (nothing held).
 */
ssize_t kv_read_iov(struct kv_pool *p, uint64_t ino, uint64_t off, size_t len, struct iovec *iov,
		    int max, int *niov);
/** kv_read_iov_done() - let go of the data lock a kv_read_iov() that returned >= 0 holds. */
void kv_read_iov_done(struct kv_pool *p, uint64_t ino);
/**
 * kv_write_begin() - make [off, off + len) of a file writable in place: the
 * space is allocated (evicting if needed), a gap after the old end zeroed,
 * and @iov points at the pool memory to fill. The file's data lock is held
 * until kv_write_end(), which publishes the new size for the bytes written.
 * Return: 0 (lock held); -EROFS, -ENOENT (not a live file), -EFBIG (past
 * the data area), -ENOSPC (all else held), -EDQUOT (a directory's quota),
 * -EIO (its record is bad), -E2BIG (moving its data into one extent did not
 * fit the journal: nothing changed) (nothing held).
 */
int kv_write_begin(struct kv_pool *p, uint64_t ino, uint64_t off, size_t len, struct iovec *iov,
		   int max, int *niov);
/** kv_write_end() - publish the size for @written bytes at @off and let go of the data lock. */
void kv_write_end(struct kv_pool *p, uint64_t ino, uint64_t off, size_t written);
/**
 * kv_write() - copy @len bytes of @buf into a file at @off (through
 * kv_write_begin() and kv_write_end()).
 * Return: @len; as kv_write_begin() (nothing written).
 */
ssize_t kv_write(struct kv_pool *p, uint64_t ino, const void *buf, size_t len, uint64_t off);
/**
 * kv_truncate() - set a file's size: new bytes read as zeros, space past
 * the new size goes back. Return: 0; -EROFS, -ENOENT, -EISDIR, -EFBIG,
 * -ENOSPC, -EDQUOT, -EIO, -E2BIG (as kv_write_begin()).
 */
int kv_truncate(struct kv_pool *p, uint64_t ino, uint64_t size);
/**
 * kv_fallocate() - allocate [@off, @off + @len) of a file (zeroed), and
 * extend its size unless @mode is FALLOC_FL_KEEP_SIZE.
 * Return: 0; -EOPNOTSUPP (any other @mode), -EROFS, -ENODEV (not a live
 * file), -EINVAL (@len 0, or the range wraps), -EFBIG, -ENOSPC, -EDQUOT, -EIO,
 * -E2BIG (as kv_write_begin()).
 */
int kv_fallocate(struct kv_pool *p, uint64_t ino, int mode, uint64_t off, uint64_t len);
/**
 * kv_extents() - copy up to @max extents of a file. *size receives the
 * file size. Return: the number the file has (may exceed @max); -ENOENT,
 * -EIO (its record is bad).
 */
int kv_extents(struct kv_pool *p, uint64_t ino, struct kv_extent *ext, int max, uint64_t *size);
/**
 * kv_verify() - hash a file's bytes and compare them with the checksum stored
 * when it stopped being written (last close of a writer, or after a commit:
 * a committed block whose checksum is still queued is summed now, and
 * verifies).
 * Return: 0 (they match), -ENODATA (no checksum: being written, or never
 * closed since a change), -EIO (they differ; logged), -ENOENT.
 */
int kv_verify(struct kv_pool *p, uint64_t ino);

/* --- directories --- */

struct kv_dirent {
	uint64_t ino;
	uint64_t gen;
};
/**
 * kv_dir_snapshot() - the children of a directory, in creation order, into a
 * malloc'ed array (*out, *count). POSIX lets readdir ignore later changes.
 * Return: 0; -ENOENT (not in use), -ENOTDIR (not a live directory), -ENOMEM.
 */
int kv_dir_snapshot(struct kv_pool *p, uint64_t dir, struct kv_dirent **out, uint64_t *count);
/**
 * kv_dirent_name() - the name (NUL-terminated) and, if @attr, attributes of
 * a snapshot entry still alive in the same life.
 * Return: the name's length; -ENOENT (gone), -ERANGE (@size too small),
 * -EIO (the name in the pool is invalid: the file is quarantined).
 */
int kv_dirent_name(struct kv_pool *p, const struct kv_dirent *d, char *buf, size_t size,
		   struct kv_attr *attr);
/** kv_dirent_name_ref() - kv_dirent_name() counting one kernel lookup, as kv_lookup() does. Return: as kv_dirent_name(). */
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
 * kv_lookup_pin_batch() - kv_lookup_pin() of the leading blocks of a batch
 * under one lock, stopping at the first that fails. @blocks: @n block
 * names given as their 16 bytes (a block's name is their 32 lowercase hex
 * digits), @stride bytes apart. attr[i] and ext[i] are filled for each
 * block pinned. Return: how many leading blocks were pinned; *err says why
 * the batch stopped (0: all were pinned; else as kv_lookup_pin()).
 */
size_t kv_lookup_pin_batch(struct kv_pool *p, uint64_t dir, const uint8_t *blocks, size_t stride,
			   size_t n, struct kv_attr *attr, struct kv_extent *ext, int *err);
/**
 * kv_reserve() - an invisible file of @size bytes in one extent (zeroed if @zero), held
 * until kv_commit() or kv_abort() (or freed at the next open after a crash).
 * Return: 0; -EEXIST (the name is present), -ENOENT (no such dir), -ENOSPC,
 * -EDQUOT (the directory's quota), -EINVAL (a bad name), -EFBIG (@size 0 or
 * past the data area), -EROFS.
 */
int kv_reserve(struct kv_pool *p, uint64_t dir, const char *name, size_t len, uint64_t size,
	       uint32_t uid, uint32_t gid, bool zero, uint64_t *ino, struct kv_extent *ext);
/**
 * kv_commit() - publish reservations atomically (one journal transaction).
 * published[i] = 0 where the name appeared meanwhile: that reservation is
 * freed and the other file kept. Return: 0; -EINVAL (not a reservation:
 * nothing is published), -E2BIG (more than one journal transaction holds:
 * nothing is published), -ENOMEM.
 */
int kv_commit(struct kv_pool *p, const uint64_t *inos, size_t n, uint8_t *published);
/** kv_abort() - free reservations (an inode that is not one: skipped). */
void kv_abort(struct kv_pool *p, const uint64_t *inos, size_t n);

/* --- user xattrs (names with the "user." prefix, as given) --- */

/**
 * kv_setxattr() - set @name to @size bytes of @value (@flags: XATTR_CREATE,
 * XATTR_REPLACE); a policy name (KV_XATTR_*) on a directory changes its policy.
 * Return: 0; -ERANGE (@name empty or too long), -E2BIG (@value too large),
 * -EEXIST (XATTR_CREATE and present), -ENODATA (XATTR_REPLACE and absent),
 * -EINVAL (a bad policy value, or a policy on a file), -ENOSPC (no room,
 * or all the xattrs of the inode over KV_XATTR_MAX_BLOB), -ENOENT, -EROFS,
 * -ENOMEM, -EIO (its record is bad), -E2BIG (the journal cannot hold the
 * change: nothing changed).
 */
int kv_setxattr(struct kv_pool *p, uint64_t ino, const char *name, const void *value, size_t size,
		int flags);
/**
 * kv_getxattr() - copy @name's value into @value (@size 0: only its size).
 * Return: the value's size; -ERANGE (@size too small and not 0), -ENODATA,
 * -ENOENT, -ENOMEM, -EIO.
 */
ssize_t kv_getxattr(struct kv_pool *p, uint64_t ino, const char *name, void *value, size_t size);
/**
 * kv_listxattr() - the names of @ino's xattrs, each NUL-terminated, into
 * @list (@size 0: only the size). Return: the list's size; -ERANGE (@size
 * too small and not 0), -ENOENT, -ENOMEM, -EIO.
 */
ssize_t kv_listxattr(struct kv_pool *p, uint64_t ino, char *list, size_t size);
/** kv_removexattr() - remove @name. Return: 0; -ENODATA (absent); else as kv_setxattr(). */
int kv_removexattr(struct kv_pool *p, uint64_t ino, const char *name);

/* --- what fs/ needs to know of a pool, without the on-pool format --- */

/* the most extents a file has (kv_extents()) */
#define KV_EXTENTS_MAX KV_INLINE_EXTENTS
/* the most iovecs kv_read_iov() and kv_write_begin() fill for one call */
#define KV_IOV_MAX (KV_EXTENTS_MAX + 1)

/* What the daemon tells clients and people about an open pool (kv_pool_get_info()). */
struct kv_pool_info {
	uint8_t uuid[16]; /* stamped by mkfs */
	uint32_t page_size; /* the unit of allocation */
	uint64_t pool_size; /* bytes the format covers */
	uint64_t data_off, data_size; /* the data area, pool offsets */
	uint64_t data_align; /* data_off and a client's mapping base are aligned to it */
	uint64_t max_ino; /* the largest inode number a record can have */
};
/**
 * kv_pool_get_info() - fill *out with the pool's identity and shape,
 * fixed since mkfs. Takes no lock; cannot fail.
 */
void kv_pool_get_info(const struct kv_pool *p, struct kv_pool_info *out);

/* --- cluster mode (mm/nodes.c; kvfs(7) CLUSTER) --- */

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
 * kv_pool_cluster_unpark() - a leader finishes what waited for other
 * nodes' holds, for each parked file no node holds any more: an unlinked
 * file's bytes and record are freed, a trim and the free of extents a move
 * left are done, and a live file goes back in the LRU. Takes the metadata
 * lock. Return: how many live files went back.
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
 * kv_pool_log_change() - a leader changed @ino's record or its bytes in place:
 * publish the record (and its xattr blob) and log it, for the followers'
 * views (kv_pool_follow) and page caches. Return: nothing.
 */
void kv_pool_log_change(struct kv_pool *p, uint64_t ino);
/**
 * kv_pool_log_read() - up to @max entries of the change log from *@pos on
 * (inode, generation), moving *@pos past them (a reader that fell behind
 * skips to the newest half; @max 0 moves *@pos to the end). Lock-free.
 * Return: how many.
 */
int kv_pool_log_read(struct kv_pool *p, uint64_t *pos, uint64_t *ino, uint64_t *gen, int max);
/* Called by kv_pool_follow() for each logged record the view knew before (the kernel may cache it). */
typedef void (*kv_follow_fn)(void *arg, uint64_t ino, uint64_t gen);
/**
 * kv_pool_follow() - bring a follower's view (a read-only cluster open) up
 * to date with the pool in place: each record the change log names since
 * the view's place in it is copied, checked as an open checks it (a bad
 * one is quarantined and left out) and linked, moved or dropped in the
 * view's index; @fn(@arg, ino, gen) is called for those the view knew.
 * The caller keeps every other user of @p out meanwhile (fs/ holds its
 * view lock exclusive); p's metadata lock is taken here. Costs what
 * changed, not the size of the inode table.
 * Return: the records applied (>= 0); -ESTALE (the log wrapped past the
 * view's place, a new leader opened the pool, or the entries do not fit
 * together: open a new view), -EUCLEAN (the root record is bad), -EINVAL
 * (not a follower's view), -ENOMEM. After an error the view is as good as
 * before but behind, and every later call fails the same: open a new one.
 */
int kv_pool_follow(struct kv_pool *p, kv_follow_fn fn, void *arg);
/**
 * kv_pool_follow_behind() - has the change log entries past a follower's
 * view's place (or did kv_pool_follow() fail)? A change the leader makes
 * outside a request (eviction by its janitor) is logged without moving the
 * change count. Lock-free; call it where kv_pool_follow() is called from.
 * Return: true if kv_pool_follow() has work (false for any other pool).
 */
bool kv_pool_follow_behind(struct kv_pool *p);
/** kv_pool_is_readonly() - Return: true for a pool opened read-only (a follower's view). */
bool kv_pool_is_readonly(const struct kv_pool *p);

#endif /* KVFS_MM_MM_H */
