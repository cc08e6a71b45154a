/* SPDX-License-Identifier: MIT */
/*
 * alloc.h - the extent allocator of the data area. It lives in DRAM and is
 * rebuilt at open from the extents the inode table references, so free space
 * can never leak or disagree with the index across a crash. Allocation and
 * free are O(1) (two-level segregated fit with bitmaps, hashed neighbours for
 * coalescing); nothing scans the pool.
 */
#ifndef KVFS_MM_ALLOC_H
#define KVFS_MM_ALLOC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "layout.h"

#define KV_ALLOC_CLASSES 512

struct kv_free_node;

struct kv_alloc {
	pthread_mutex_t lock;
	uint64_t base; /* pool offset of page 0 */
	uint64_t pages; /* pages managed */
	uint64_t free_pages;
	uint64_t free_extents;
	struct kv_free_node **by_start, **by_end;
	uint64_t nbuckets; /* power of two */
	struct kv_free_node *cls[KV_ALLOC_CLASSES];
	uint64_t bitmap[KV_ALLOC_CLASSES / 64];
	uint64_t *zeroed; /* one bit a page: known to hold zeros (NULL: not tracked) */
};

struct kv_alloc_stats {
	uint64_t capacity_bytes;
	uint64_t free_bytes;
	uint64_t used_bytes;
	uint64_t free_extents;
	uint64_t largest_free_bytes;
	/* 0 = all free space in one extent; 100 = shattered */
	unsigned fragmentation_pct;
};

/**
 * kv_alloc_build() - set up the allocator over [base, base + pages pages),
 * marking @used (any order, pool offsets in bytes) as allocated.
 * Return: 0, -ENOMEM, or -EUCLEAN when an extent is misaligned, outside the
 * area or overlaps another (*bad then holds its index). Locking: none needed.
 */
int kv_alloc_build(struct kv_alloc *a, uint64_t base, uint64_t pages, struct kv_extent *used,
		   uint64_t nused, uint64_t *bad);
void kv_alloc_destroy(struct kv_alloc *a);

/**
 * kv_alloc_extent() - one contiguous extent of at least @bytes (rounded up to
 * pages). Return: 0 or -ENOSPC. Locking: takes a->lock.
 */
int kv_alloc_extent(struct kv_alloc *a, uint64_t bytes, struct kv_extent *out);
/* The most pieces kv_alloc_pieces() hands out at once. */
#define KV_ALLOC_PIECES_MAX KV_INLINE_EXTENTS
/**
 * kv_alloc_pieces() - @bytes (rounded up to pages) in at most @max extents,
 * for a caller that can use several: the longest free runs first, each
 * taken whole, and the last piece carved from a run that fits what is left
 * (so one run is used when one fits). All or nothing. Pieces are handed
 * out as kv_alloc_extent() hands out one: their zeroed bits stay as they
 * are. @out has room for @max (at most KV_ALLOC_PIECES_MAX are used).
 * Return: the number of extents (1..@max), -ENOSPC when the @max longest
 * free runs together are shorter (nothing taken), -EINVAL when @max < 1.
 * Locking: takes a->lock.
 */
int kv_alloc_pieces(struct kv_alloc *a, uint64_t bytes, int max, struct kv_extent *out);
/**
 * kv_alloc_extend() - grow @ext in place by @bytes when the pages right after
 * it are free. Return: 0 or -ENOSPC (ext unchanged). Locking: takes a->lock.
 */
int kv_alloc_extend(struct kv_alloc *a, struct kv_extent *ext, uint64_t bytes);
/** kv_alloc_free() - give an extent back. Locking: takes a->lock. */
void kv_alloc_free(struct kv_alloc *a, const struct kv_extent *ext);
void kv_alloc_get_stats(struct kv_alloc *a, struct kv_alloc_stats *st);

/*
 * Zeroed pages. A page is known to hold zeros from when it is zeroed (or
 * the area is new) until it is next freed: whoever held it may have
 * written it. The allocator keeps the bits; the bytes are its callers'.
 */
/**
 * kv_alloc_track_zero() - start tracking zeroed pages: none known, or
 * every page when @all_zero (a newly created area). Return: 0 or -ENOMEM.
 * Locking: takes a->lock.
 */
int kv_alloc_track_zero(struct kv_alloc *a, bool all_zero);
/**
 * kv_alloc_next_dirty() - the first run of pages in @ext, from byte @from
 * of it on, not known to hold zeros: *run (len 0 when none is left).
 * Locking: takes a->lock.
 */
void kv_alloc_next_dirty(struct kv_alloc *a, const struct kv_extent *ext, uint64_t from,
			 struct kv_extent *run);
/**
 * kv_alloc_dirty_free() - a run of at most @max bytes of free pages not
 * known to hold zeros, larger free runs first (len 0: none). The caller
 * zeroes it and calls kv_alloc_mark_zeroed() while no one can allocate.
 * Locking: takes a->lock.
 */
void kv_alloc_dirty_free(struct kv_alloc *a, uint64_t max, struct kv_extent *run);
/** kv_alloc_mark_zeroed() - the pages of @ext hold zeros now. Locking: takes a->lock. */
void kv_alloc_mark_zeroed(struct kv_alloc *a, const struct kv_extent *ext);

#endif /* KVFS_MM_ALLOC_H */
