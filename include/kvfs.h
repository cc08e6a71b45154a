/* SPDX-License-Identifier: MIT */
/*
 * kvfs.h - libkvfs, the zero-copy client of a kvfs mount.
 *
 * An engine hashes its token ids into chained block hashes, asks the daemon
 * in one call which leading blocks are cached (and pins them), then reads the
 * blocks in place through its own mapping of the pool. Stores go the other
 * way: reserve extents, fill them, publish all names with one commit.
 *
 * Every call returns 0 (or a count) on success and -errno on failure; the
 * library never prints. A handle may be used from several threads.
 * See libkvfs(3).
 */
#ifndef KVFS_H
#define KVFS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A block's 128-bit chained hash, in canonical (big-endian) byte order. */
typedef struct kvfs_hash {
	uint8_t b[16];
} kvfs_hash_t;

#define KVFS_HASH_NAME_LEN 32 /* hex digits, without the NUL */

typedef struct kvfs kvfs_t;

/* kvfs_open() flags */
#define KVFS_RDONLY 0x1 /* map the pool read-only: lookups only, no stores */
#define KVFS_NOZERO 0x2 /* this handle fills every byte it reserves: skip zeroing */
#define KVFS_VERIFY 0x4 /* lookups check every block's bytes against its checksum (-EIO) */

/* kvfs_block.status */
enum kvfs_block_status {
	KVFS_BLOCK_PINNED = 1, /* lookup: present and pinned to the handle */
	KVFS_BLOCK_RESERVED = 2, /* reserve: an extent for the caller to fill */
	KVFS_BLOCK_PRESENT = 3, /* reserve: already stored; nothing reserved */
};

/** Where one block lives in the pool, and in the caller's mapping of it. */
struct kvfs_block {
	uint64_t offset; /* byte offset in the pool */
	uint64_t length; /* bytes of data */
	void *addr; /* pool base of this handle + offset */
	int32_t status; /* enum kvfs_block_status */
	uint32_t reserved;
};

/* --- prefix hashing (no mount needed) --- */

/**
 * kvfs_prefix_hashes() - chained hashes of the full blocks of a token list.
 * @ns: namespace (the directory the blocks live in); seeds the chain
 * @tokens: token ids
 * @ntokens: number of token ids
 * @block_tokens: tokens per block (> 0)
 * @out: receives min(ntokens / block_tokens, max_out) hashes
 *
 * seed = XXH3_128("kvfs-v1:" ns); h[i] = XXH3_128(h[i-1] || tokens of block i
 * as little-endian uint32), with h[-1] = seed, hashes in canonical big-endian
 * form. See libkvfs(3) for the exact bytes.
 *
 * Return: the number of hashes written, or -EINVAL.
 */
long kvfs_prefix_hashes(const char *ns, const uint32_t *tokens, size_t ntokens,
			uint32_t block_tokens, kvfs_hash_t *out, size_t max_out);

/** kvfs_hash_name() - the 32 lowercase hex digits of @h, NUL-terminated. */
void kvfs_hash_name(const kvfs_hash_t *h, char out[KVFS_HASH_NAME_LEN + 1]);

/** kvfs_hash_parse() - parse 32 hex digits. Return: 0 or -EINVAL. */
int kvfs_hash_parse(const char *name, kvfs_hash_t *h);

/* --- handles --- */

/**
 * kvfs_open() - open the fast path of a mounted kvfs.
 * @mountpoint: where kvfs is mounted
 * @flags: 0 or KVFS_RDONLY, KVFS_NOZERO, KVFS_VERIFY
 * @out: the new handle
 *
 * Opens <mountpoint>/.kvfs/ctl, asks the daemon where the pool's data area
 * is, and maps that area only, never the pool's metadata (the path comes
 * from the mount; the pool file's permissions decide read-write or
 * read-only). The file at that path must be the one the daemon serves.
 *
 * Return: 0, -ENOENT (not a kvfs mount), -EACCES (pool not accessible),
 * -ESTALE (another file at the pool's path), -EPROTO (daemon too old or
 * newer), or another -errno.
 */
int kvfs_open(const char *mountpoint, int flags, kvfs_t **out);

/** kvfs_close() - release every pin and reservation, unmap, close. */
void kvfs_close(kvfs_t *kv);

/**
 * kvfs_pool_base() - base + a pool offset of the data area is that byte.
 * [base, base + kvfs_pool_size()) is one mapped range (register it whole
 * with libkvfs_cuda); below the data area it is private zeros, not the pool.
 */
void *kvfs_pool_base(const kvfs_t *kv);
uint64_t kvfs_pool_size(const kvfs_t *kv);
/** kvfs_pool_path() - the pool's path as the mount reports it. */
const char *kvfs_pool_path(const kvfs_t *kv);

/* --- lookup and pins --- */

/**
 * kvfs_lookup() - find and pin the longest cached prefix.
 * @ns: namespace directory under the mount (one path component)
 * @hashes: the chain, first block first
 * @n: number of hashes (any number; the library batches)
 * @out: n entries; the first <return value> are filled (status PINNED)
 *
 * Pinned blocks are not evicted and stay readable (even if unlinked) until
 * kvfs_unpin(), kvfs_close() or the process exits.
 *
 * Blocks the caller may not read (as through the mount), or that would
 * take its user past its share of the pool, end the prefix.
 *
 * With KVFS_VERIFY (kvfs_open()), each block's bytes are hashed and
 * compared with the checksum kvfs stored when the block stopped being
 * written (commit, or last close of a writer): about 0.2 s per GiB.
 *
 * Return: the number of leading blocks present (0..n), -EACCES (no search
 * permission on the namespace, or the first block unreadable), -EDQUOT
 * (the first block past the share), -EIO (KVFS_VERIFY: a block's bytes
 * changed since it was stored; nothing is pinned by the call), -EFAULT
 * (@hashes or @out not the caller's memory), or another -errno.
 */
long kvfs_lookup(kvfs_t *kv, const char *ns, const kvfs_hash_t *hashes, size_t n,
		 struct kvfs_block *out);

/** kvfs_unpin() - drop one pin on each of @n blocks. Return: 0 or -errno. */
int kvfs_unpin(kvfs_t *kv, const char *ns, const kvfs_hash_t *hashes, size_t n);

/* --- stores --- */

/**
 * kvfs_reserve() - reserve one contiguous extent per block.
 * @sizes: bytes of each block (> 0)
 * @out: per block, RESERVED (fill @addr, then commit) or PRESENT (skip)
 * @txn: receives the reservation's id
 *
 * Reserved extents read as zeros until filled, unless the handle was opened
 * with KVFS_NOZERO and the caller could open the pool file read-write: then
 * the caller must fill every byte (the daemon skips zeroing, which costs as
 * much as the fill). Nothing is visible under the namespace until
 * kvfs_commit(); the blocks then belong to the caller.
 *
 * Return: 0, -EROFS (read-only handle), -ENOSPC, -ENOENT (no such
 * namespace), -EACCES (no write and search permission on it), -EDQUOT
 * (past the user's share), or another -errno; on error nothing stays
 * reserved.
 */
int kvfs_reserve(kvfs_t *kv, const char *ns, const kvfs_hash_t *hashes, const uint64_t *sizes,
		 size_t n, struct kvfs_block *out, uint64_t *txn);

/**
 * kvfs_commit() - publish every block of a reservation, atomically.
 *
 * A block that another client committed meanwhile is kept as theirs and
 * this one's extent freed. Needs write and search permission on the
 * namespace at the time of the commit. Return: 0 or -errno (-ENOENT:
 * unknown txn, -EACCES: not allowed; the reservation stays).
 */
int kvfs_commit(kvfs_t *kv, uint64_t txn);

/** kvfs_abort() - free a reservation. Return: 0 or -ENOENT. */
int kvfs_abort(kvfs_t *kv, uint64_t txn);

#ifdef __cplusplus
}
#endif
#endif /* KVFS_H */
