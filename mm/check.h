/* SPDX-License-Identifier: MIT */
/*
 * check.h - the one checker of the on-pool metadata. Mount (kv_pool_open,
 * through pool_build) and `kvfs fsck` both call kv_check_records(), so
 * fsck never calls clean a pool that the mount would not serve as it is.
 * Every function here reads the pool as untrusted input: a field is
 * copied once, then checked, with arithmetic that cannot wrap. Nothing here
 * knows struct kv_pool; the run-time checks of a live pool are snap.c's
 * (kv_snap_take and friends).
 */
#ifndef KVFS_MM_CHECK_H
#define KVFS_MM_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"

/**
 * kv_check_geometry() - is a superblock's geometry consistent and within the
 * bounds the code relies on (journal at least KV_JOURNAL_SIZE, tables and
 * data area inside the pool without overflow)? Magic, version and checksum
 * are the caller's. Return: NULL, or why not (a static string).
 */
const char *kv_check_geometry(const struct kv_geometry *g);

/**
 * kv_check_journal() - may this journal be replayed? @h is a copy of the
 * head, @recs a copy of its h->bytes record bytes (h->bytes already checked
 * against the journal by the caller, see kv_check_journal_len()).
 * Return: 0 when there is nothing to replay, 1 when it is committed and every
 * record lands inside the inode table, -EUCLEAN (*why set) otherwise.
 */
int kv_check_journal(const struct kv_geometry *g, const struct kv_journal_head *h,
		     const uint8_t *recs, const char **why);
/** kv_check_journal_len() - do h->bytes of records fit in the journal? */
bool kv_check_journal_len(const struct kv_geometry *g, const struct kv_journal_head *h);

/** kv_check_extent() - is [off, off + len) a non-empty page-aligned run inside the data area? */
bool kv_check_extent(const struct kv_geometry *g, uint64_t off, uint64_t len);

/**
 * kv_check_extents() - check @n extents (n <= KV_INLINE_EXTENTS) and sum their
 * lengths into *alloc. Return: NULL or why not.
 */
const char *kv_check_extents(const struct kv_geometry *g, const struct kv_extent *ext, unsigned n,
			     uint64_t *alloc);

/** kv_check_name() - a valid entry name: 1..KV_NAME_MAX bytes, no '/', no NUL, not "." or "..". */
bool kv_check_name(const uint8_t *name, size_t len);

/**
 * kv_check_inode() - the checks of one record on its own (a snapshot the
 * caller copied): state, mode (file, directory or symlink), extents, size
 * within the extents, xattr extent, name and parent range of a live record.
 * Return: NULL (good, or FREE) or why not.
 */
const char *kv_check_inode(const struct kv_geometry *g, uint64_t ino, const struct kv_inode *in);

/**
 * kv_check_xattrs() - does an xattr blob (a private copy) parse: every record
 * inside @len, names 1..KV_NAME_MAX bytes without NUL? Return: NULL or why not.
 */
const char *kv_check_xattrs(const uint8_t *blob, uint32_t len);

/**
 * kv_data_sum() - the checksum kvfs stores for a file: XXH3-64 of its @size
 * bytes laid over @ext (checked extents), with bit 0 set so that 0 means none.
 * Return: the checksum, or 0 when @size runs past the extents or memory ran out.
 */
uint64_t kv_data_sum(const uint8_t *base, const struct kv_extent *ext, unsigned n, uint64_t size);

/**
 * kv_check_record() - one record on its own, as open and fsck check each:
 * kv_check_inode() of @in (a copy the caller made), then its xattr blob
 * read through the pool mapping @base. A follower's view checks each
 * record the change log names with it (mm/follow.c).
 * Return: NULL (good, or FREE) or why not.
 */
const char *kv_check_record(const struct kv_geometry *g, uint64_t ino, const struct kv_inode *in,
			    const uint8_t *base);

struct kv_check_summary {
	uint64_t extents; /* extents claimed by good live records, xattr blobs included */
	uint64_t used_bytes;
};

/**
 * kv_check_records() - check every inode record, on its own and against the
 * others: extents not shared (the later claimant is bad), no two live names
 * alike in a directory (the higher record is bad), parent chains of live
 * directories up to the root, without cycles. ORPHAN and RESERVED records
 * are not checked beyond their state: open frees them whatever they hold.
 * Logs one line per bad record. With @repair each bad record is freed in
 * place (and a bad root made an empty directory again); without, @bad[ino]
 * is set for each (an array of g->inode_count bytes, zeroed by the caller).
 * @base is the pool mapping (xattr blobs are read through it), @inodes the
 * inode table (the mapping's, or a copy). @sum may be NULL.
 * Return: the number of bad records, or -ENOMEM. Locking: nobody else may
 * change the table meanwhile (open, or a pool nobody holds).
 */
long kv_check_records(const struct kv_geometry *g, struct kv_inode *inodes, const uint8_t *base,
		      const char *path, bool repair, uint8_t *bad, struct kv_check_summary *sum);

#endif /* KVFS_MM_CHECK_H */
