// SPDX-License-Identifier: MIT
/*
 * alloc.c - two-level segregated fit over page runs.
 *
 * Each free run is a node in three structures: its size class's list (found
 * through a 512-bit bitmap), a hash by first page and a hash by end page. A
 * request rounds up to the first class whose every member fits, so finding a
 * run is a couple of bit scans; freeing looks up both neighbours by hash and
 * merges. Classes: lengths 1..15 pages exactly, then 8 classes per power of
 * two. Nothing here touches the pool's bytes; it only remembers which free
 * pages are known to hold zeros, for callers that zero ahead of need.
 */
#include "alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct kv_free_node {
	uint64_t start, len; /* pages */
	struct kv_free_node *snext, *enext; /* hash chains */
	struct kv_free_node *cprev, *cnext; /* class list */
	unsigned cls;
};

/* --- size classes --- */

static unsigned class_of(uint64_t len)
{
	unsigned fl;

	if (len < 16)
		return (unsigned)len;
	fl = 63 - (unsigned)__builtin_clzll(len);
	return 16 + (fl - 4) * 8 + (unsigned)((len >> (fl - 3)) & 7);
}

static uint64_t class_low(unsigned c)
{
	unsigned fl, sl;

	if (c < 16)
		return c;
	fl = (c - 16) / 8 + 4;
	sl = (c - 16) % 8;
	return (UINT64_C(1) << fl) | ((uint64_t)sl << (fl - 3));
}

static void bit_set(struct kv_alloc *a, unsigned c)
{
	a->bitmap[c / 64] |= UINT64_C(1) << (c % 64);
}

static void bit_clear(struct kv_alloc *a, unsigned c)
{
	a->bitmap[c / 64] &= ~(UINT64_C(1) << (c % 64));
}

/* First non-empty class >= c, or -1. */
static int find_class(struct kv_alloc *a, unsigned c)
{
	unsigned w = c / 64;
	uint64_t bits;

	if (c >= KV_ALLOC_CLASSES)
		return -1;
	bits = a->bitmap[w] & (~UINT64_C(0) << (c % 64));
	while (!bits) {
		if (++w == KV_ALLOC_CLASSES / 64)
			return -1;
		bits = a->bitmap[w];
	}
	return (int)(w * 64 + (unsigned)__builtin_ctzll(bits));
}

/* --- hashes --- */

static uint64_t bucket(const struct kv_alloc *a, uint64_t key)
{
	return (key * UINT64_C(0x9E3779B97F4A7C15)) >> 32 & (a->nbuckets - 1);
}

static struct kv_free_node *find_start(struct kv_alloc *a, uint64_t start)
{
	struct kv_free_node *n = a->by_start[bucket(a, start)];

	while (n && n->start != start)
		n = n->snext;
	return n;
}

static struct kv_free_node *find_end(struct kv_alloc *a, uint64_t end)
{
	struct kv_free_node *n = a->by_end[bucket(a, end)];

	while (n && n->start + n->len != end)
		n = n->enext;
	return n;
}

static void unhash(struct kv_free_node **head, struct kv_free_node *n, int by_end)
{
	struct kv_free_node **pp = head;

	while (*pp != n)
		pp = by_end ? &(*pp)->enext : &(*pp)->snext;
	*pp = by_end ? n->enext : n->snext;
}

static int rehash(struct kv_alloc *a, uint64_t nbuckets)
{
	struct kv_free_node **s = calloc(nbuckets, sizeof(*s));
	struct kv_free_node **e = calloc(nbuckets, sizeof(*e));
	struct kv_free_node **olds = a->by_start, **olde = a->by_end;
	uint64_t i, oldn = a->nbuckets;

	if (!s || !e) {
		free(s);
		free(e);
		return -ENOMEM;
	}
	a->by_start = s;
	a->by_end = e;
	a->nbuckets = nbuckets;
	for (i = 0; i < oldn; i++) {
		struct kv_free_node *n = olds[i], *next;

		for (; n; n = next) {
			uint64_t bs = bucket(a, n->start), be = bucket(a, n->start + n->len);

			next = n->snext;
			n->snext = s[bs];
			s[bs] = n;
			n->enext = e[be];
			e[be] = n;
		}
	}
	free(olds);
	free(olde);
	return 0;
}

/* --- node insert/remove --- */

static void node_link(struct kv_alloc *a, struct kv_free_node *n)
{
	uint64_t bs = bucket(a, n->start), be = bucket(a, n->start + n->len);

	n->cls = class_of(n->len);
	n->cprev = NULL;
	n->cnext = a->cls[n->cls];
	if (n->cnext)
		n->cnext->cprev = n;
	a->cls[n->cls] = n;
	bit_set(a, n->cls);
	n->snext = a->by_start[bs];
	a->by_start[bs] = n;
	n->enext = a->by_end[be];
	a->by_end[be] = n;
	a->free_extents++;
	a->free_pages += n->len;
}

static void node_unlink(struct kv_alloc *a, struct kv_free_node *n)
{
	if (n->cprev)
		n->cprev->cnext = n->cnext;
	else
		a->cls[n->cls] = n->cnext;
	if (n->cnext)
		n->cnext->cprev = n->cprev;
	if (!a->cls[n->cls])
		bit_clear(a, n->cls);
	unhash(&a->by_start[bucket(a, n->start)], n, 0);
	unhash(&a->by_end[bucket(a, n->start + n->len)], n, 1);
	a->free_extents--;
	a->free_pages -= n->len;
}

/* Insert a free run, merging with free neighbours. Caller holds the lock. */
static int insert_free(struct kv_alloc *a, uint64_t start, uint64_t len)
{
	struct kv_free_node *prev = find_end(a, start), *next = find_start(a, start + len);
	struct kv_free_node *n;

	if (prev) {
		node_unlink(a, prev);
		start = prev->start;
		len += prev->len;
	}
	if (next) {
		node_unlink(a, next);
		len += next->len;
	}
	n = prev ? prev : next ? next : malloc(sizeof(*n));
	if (prev && next)
		free(next);
	if (!n)
		return -ENOMEM;
	n->start = start;
	n->len = len;
	node_link(a, n);
	if (a->free_extents > a->nbuckets)
		rehash(a, a->nbuckets * 2); /* on failure chains just grow longer */
	return 0;
}

static int cmp_extent(const void *x, const void *y)
{
	const struct kv_extent *a = x, *b = y;

	return a->off < b->off ? -1 : a->off > b->off;
}

int kv_alloc_build(struct kv_alloc *a, uint64_t base, uint64_t pages, struct kv_extent *used,
		   uint64_t nused, uint64_t *bad)
{
	uint64_t cursor = 0, i;
	int rc;

	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->lock, NULL);
	a->base = base;
	a->pages = pages;
	rc = rehash(a, 1024);
	if (rc)
		return rc;
	if (nused) /* qsort(NULL, 0) is undefined */
		qsort(used, nused, sizeof(*used), cmp_extent);
	for (i = 0; i <= nused; i++) {
		uint64_t start = pages, len = 0;

		if (i < nused) {
			const struct kv_extent *e = &used[i];

			if (e->off < base || e->off % KV_PAGE_SIZE || e->len % KV_PAGE_SIZE ||
			    !e->len || (e->off - base) / KV_PAGE_SIZE < cursor ||
			    (e->off - base + e->len) / KV_PAGE_SIZE > pages) {
				if (bad)
					*bad = i;
				return -EUCLEAN;
			}
			start = (e->off - base) / KV_PAGE_SIZE;
			len = e->len / KV_PAGE_SIZE;
		}
		if (start > cursor) {
			rc = insert_free(a, cursor, start - cursor);
			if (rc)
				return rc;
		}
		cursor = start + len;
	}
	return 0;
}

void kv_alloc_destroy(struct kv_alloc *a)
{
	uint64_t i;

	for (i = 0; i < a->nbuckets; i++) {
		struct kv_free_node *n = a->by_start[i], *next;

		for (; n; n = next) {
			next = n->snext;
			free(n);
		}
	}
	free(a->zeroed);
	a->zeroed = NULL;
	free(a->by_start);
	free(a->by_end);
	pthread_mutex_destroy(&a->lock);
	memset(a, 0, sizeof(*a));
}

/* Take @len pages from the front of free node @n. Caller holds the lock. */
static uint64_t carve(struct kv_alloc *a, struct kv_free_node *n, uint64_t len)
{
	uint64_t start = n->start;

	node_unlink(a, n);
	if (n->len == len) {
		free(n);
	} else {
		n->start += len;
		n->len -= len;
		node_link(a, n);
	}
	return start;
}

/*
 * A free run of at least @len pages, a good fit (the lowest class that has
 * one), or NULL. Caller holds the lock.
 */
static struct kv_free_node *fit_run(struct kv_alloc *a, uint64_t len)
{
	struct kv_free_node *n;
	unsigned c = class_of(len);
	int found, scanned = 0;

	/* Every run in a class above c (or in c when len is its lower bound) fits. */
	found = find_class(a, class_low(c) == len ? c : c + 1);
	if (found >= 0)
		return a->cls[found];
	/* Fall back to the runs of len's own class that happen to be long enough. */
	for (n = a->cls[c]; n && n->len < len && scanned < 64; n = n->cnext)
		scanned++;
	return n && n->len >= len ? n : NULL;
}

int kv_alloc_extent(struct kv_alloc *a, uint64_t bytes, struct kv_extent *out)
{
	uint64_t len = (bytes + KV_PAGE_SIZE - 1) / KV_PAGE_SIZE;
	struct kv_free_node *n;

	if (!len)
		len = 1;
	pthread_mutex_lock(&a->lock);
	n = fit_run(a, len);
	if (!n) {
		pthread_mutex_unlock(&a->lock);
		return -ENOSPC;
	}
	out->off = a->base + carve(a, n, len) * KV_PAGE_SIZE;
	out->len = len * KV_PAGE_SIZE;
	pthread_mutex_unlock(&a->lock);
	return 0;
}

/*
 * Runs looked at in one class when picking the longest: in a class of
 * thousands of holes of nearly one length, any of the first ones will do
 * (a class spans at most an eighth of its lower bound).
 */
#define KV_PIECE_SCAN 256

/*
 * The @max longest free runs, longest first, into @top. Classes are walked
 * down from the highest non-empty one; once @max runs are known at the end
 * of a class, no lower class can hold a longer one. Caller holds the lock.
 * Return: how many (fewer than @max when there are fewer runs).
 */
static int longest_runs(struct kv_alloc *a, int max, struct kv_free_node **top)
{
	int w, k = 0;

	for (w = KV_ALLOC_CLASSES / 64 - 1; w >= 0 && k < max; w--) {
		uint64_t bits = a->bitmap[w];

		while (bits && k < max) {
			unsigned c = (unsigned)w * 64 + 63 - (unsigned)__builtin_clzll(bits);
			struct kv_free_node *n;
			int seen = 0;

			bits &= ~(UINT64_C(1) << (c % 64));
			for (n = a->cls[c]; n && seen < KV_PIECE_SCAN; n = n->cnext, seen++) {
				int i;

				if (k == max && n->len <= top[k - 1]->len)
					continue; /* not longer than the shortest kept */
				i = k < max ? k++ : max - 1; /* when full, the shortest makes way */
				for (; i > 0 && top[i - 1]->len < n->len; i--)
					top[i] = top[i - 1];
				top[i] = n;
			}
		}
	}
	return k;
}

int kv_alloc_pieces(struct kv_alloc *a, uint64_t bytes, int max, struct kv_extent *out)
{
	uint64_t len = (bytes + KV_PAGE_SIZE - 1) / KV_PAGE_SIZE, sum = 0, rest;
	struct kv_free_node *top[KV_ALLOC_PIECES_MAX], *n;
	int k, i, used;

	if (max < 1)
		return -EINVAL;
	if (max > KV_ALLOC_PIECES_MAX)
		max = KV_ALLOC_PIECES_MAX;
	if (!len)
		len = 1;
	pthread_mutex_lock(&a->lock);
	k = longest_runs(a, max, top);
	for (used = 0; used < k && sum < len; used++)
		sum += top[used]->len;
	if (sum < len) {
		pthread_mutex_unlock(&a->lock);
		return -ENOSPC;
	}
	/* every run but the last is taken whole */
	for (i = 0; i < used - 1; i++) {
		out[i].off = a->base + top[i]->start * KV_PAGE_SIZE;
		out[i].len = top[i]->len * KV_PAGE_SIZE;
		carve(a, top[i], top[i]->len);
	}
	/* the last takes what is left, from a run that fits it well if there is one */
	rest = len - (sum - top[used - 1]->len);
	n = fit_run(a, rest);
	if (!n)
		n = top[used - 1];
	out[i].off = a->base + carve(a, n, rest) * KV_PAGE_SIZE;
	out[i].len = rest * KV_PAGE_SIZE;
	pthread_mutex_unlock(&a->lock);
	return used;
}

int kv_alloc_extend(struct kv_alloc *a, struct kv_extent *ext, uint64_t bytes)
{
	uint64_t len = (bytes + KV_PAGE_SIZE - 1) / KV_PAGE_SIZE;
	uint64_t end = (ext->off - a->base + ext->len) / KV_PAGE_SIZE;
	struct kv_free_node *n;
	int rc = -ENOSPC;

	pthread_mutex_lock(&a->lock);
	n = find_start(a, end);
	if (n && n->len >= len) {
		carve(a, n, len);
		ext->len += len * KV_PAGE_SIZE;
		rc = 0;
	}
	pthread_mutex_unlock(&a->lock);
	return rc;
}

/* --- zeroed pages --- */

static void zero_bits(struct kv_alloc *a, uint64_t start, uint64_t len, bool set)
{
	uint64_t i = start, end = start + len;

	while (i < end) {
		uint64_t n = 64 - i % 64 < end - i ? 64 - i % 64 : end - i;
		uint64_t mask = (n == 64 ? ~UINT64_C(0) : (UINT64_C(1) << n) - 1) << (i % 64);

		if (set)
			a->zeroed[i / 64] |= mask;
		else
			a->zeroed[i / 64] &= ~mask;
		i += n;
	}
}

/* First page in [start, end) whose bit is @want, or end. */
static uint64_t zero_scan(const struct kv_alloc *a, uint64_t start, uint64_t end, bool want)
{
	uint64_t i = start;

	while (i < end) {
		uint64_t w = want ? a->zeroed[i / 64] : ~a->zeroed[i / 64];

		w &= ~UINT64_C(0) << (i % 64);
		if (w) {
			i = i / 64 * 64 + (uint64_t)__builtin_ctzll(w);
			return i < end ? i : end;
		}
		i = (i / 64 + 1) * 64;
	}
	return end;
}

int kv_alloc_track_zero(struct kv_alloc *a, bool all_zero)
{
	uint64_t *z = calloc((a->pages + 63) / 64, sizeof(*z));

	if (!z)
		return -ENOMEM;
	pthread_mutex_lock(&a->lock);
	free(a->zeroed);
	a->zeroed = z;
	if (all_zero)
		zero_bits(a, 0, a->pages, true);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

void kv_alloc_next_dirty(struct kv_alloc *a, const struct kv_extent *ext, uint64_t from,
			 struct kv_extent *run)
{
	uint64_t start = (ext->off - a->base + from) / KV_PAGE_SIZE,
		 end = (ext->off - a->base + ext->len) / KV_PAGE_SIZE, first, last;

	if (!a->zeroed) { /* not tracked: all of it */
		run->off = ext->off + from;
		run->len = ext->len - from;
		return;
	}
	pthread_mutex_lock(&a->lock);
	first = zero_scan(a, start, end, false);
	last = zero_scan(a, first, end, true);
	pthread_mutex_unlock(&a->lock);
	run->off = a->base + first * KV_PAGE_SIZE;
	run->len = (last - first) * KV_PAGE_SIZE;
}

void kv_alloc_dirty_free(struct kv_alloc *a, uint64_t max, struct kv_extent *run)
{
	int c;

	run->off = run->len = 0;
	if (!a->zeroed)
		return;
	pthread_mutex_lock(&a->lock);
	for (c = KV_ALLOC_CLASSES - 1; c >= 0 && !run->len; c--) {
		struct kv_free_node *n;

		for (n = a->cls[c]; n && !run->len; n = n->cnext) {
			uint64_t end = n->start + n->len,
				 first = zero_scan(a, n->start, end, false);
			uint64_t last = zero_scan(a, first, end, true);

			if (last - first > max / KV_PAGE_SIZE)
				last = first + max / KV_PAGE_SIZE;
			run->off = a->base + first * KV_PAGE_SIZE;
			run->len = (last - first) * KV_PAGE_SIZE;
		}
	}
	pthread_mutex_unlock(&a->lock);
}

void kv_alloc_mark_zeroed(struct kv_alloc *a, const struct kv_extent *ext)
{
	if (!a->zeroed || !ext->len)
		return;
	pthread_mutex_lock(&a->lock);
	zero_bits(a, (ext->off - a->base) / KV_PAGE_SIZE, ext->len / KV_PAGE_SIZE, true);
	pthread_mutex_unlock(&a->lock);
}

void kv_alloc_free(struct kv_alloc *a, const struct kv_extent *ext)
{
	if (!ext->len)
		return;
	pthread_mutex_lock(&a->lock);
	insert_free(a, (ext->off - a->base) / KV_PAGE_SIZE, ext->len / KV_PAGE_SIZE);
	if (a->zeroed) /* its holder may have written it */
		zero_bits(a, (ext->off - a->base) / KV_PAGE_SIZE, ext->len / KV_PAGE_SIZE, false);
	pthread_mutex_unlock(&a->lock);
}

void kv_alloc_get_stats(struct kv_alloc *a, struct kv_alloc_stats *st)
{
	uint64_t largest = 0;
	int c;

	pthread_mutex_lock(&a->lock);
	for (c = KV_ALLOC_CLASSES - 1; c >= 0; c--) {
		struct kv_free_node *n;
		int seen = 0;

		if (!a->cls[c])
			continue;
		for (n = a->cls[c]; n && seen < 256; n = n->cnext, seen++)
			if (n->len > largest)
				largest = n->len;
		break;
	}
	st->capacity_bytes = a->pages * KV_PAGE_SIZE;
	st->free_bytes = a->free_pages * KV_PAGE_SIZE;
	st->used_bytes = st->capacity_bytes - st->free_bytes;
	st->free_extents = a->free_extents;
	st->largest_free_bytes = largest * KV_PAGE_SIZE;
	st->fragmentation_pct = a->free_pages ? (unsigned)(100 - largest * 100 / a->free_pages) : 0;
	pthread_mutex_unlock(&a->lock);
}
