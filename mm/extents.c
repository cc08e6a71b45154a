// SPDX-License-Identifier: MIT
/*
 * extents.c - a record's extents: drop them all (in the caller's journal
 * transaction), trim what lies past the size, give extents back to the
 * allocator. Never allocates (that is evict.c's allocate-or-evict) and knows
 * no policy: callers charge the directory quotas (kv_policy_trim).
 * Caller holds p->lock.
 */
#include "extents.h"
#include "journal.h"
#include "log.h"
#include "pool_int.h"
#include "snap.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

static uint64_t page_up(uint64_t x)
{
	return (x + KV_PAGE_SIZE - 1) & ~(uint64_t)(KV_PAGE_SIZE - 1);
}

void kv_extents_free(struct kv_pool *p, struct kv_extent *ext, int n)
{
	int i;

	for (i = 0; i < n; i++)
		kv_alloc_free(&p->alloc, &ext[i]);
}

void kv_extents_free_unheld(struct kv_pool *p, uint64_t ino, const struct kv_extent *ext, int n)
{
	int i;

	/* held here, or by another node (a cluster leader's: then parked, nodes.c) */
	bool held = kv_held(p, ino) || kv_held_elsewhere(p, ino);

	for (i = 0; i < n; i++) {
		if (!held) {
			kv_alloc_free(&p->alloc, &ext[i]);
			continue;
		}
		if (p->ndeferred == p->deferred_cap) {
			uint32_t cap = p->deferred_cap ? 2 * p->deferred_cap : 64;
			struct kv_deferred *d = realloc(p->deferred, cap * sizeof(*d));

			if (!d) {
				kv_log(KV_LOG_WARNING,
				       "pool %s: %llu bytes a held file moved from stay taken until "
				       "the next open (no memory to remember them)",
				       p->be.path, (unsigned long long)ext[i].len);
				continue;
			}
			p->deferred = d;
			p->deferred_cap = cap;
		}
		p->deferred[p->ndeferred++] = (struct kv_deferred){ ino, ext[i] };
	}
}

void kv_extents_release_deferred(struct kv_pool *p, uint64_t ino)
{
	uint32_t i = 0;

	while (i < p->ndeferred) {
		if (p->deferred[i].ino != ino) {
			i++;
			continue;
		}
		kv_alloc_free(&p->alloc, &p->deferred[i].e);
		p->deferred[i] = p->deferred[--p->ndeferred];
	}
}

void kv_extents_deferred_free(struct kv_pool *p)
{
	free(p->deferred);
	p->deferred = NULL;
	p->ndeferred = p->deferred_cap = 0;
}

int kv_extents_drop(struct kv_pool *p, uint64_t ino, struct kv_extent *freed, int *nfreed)
{
	struct kv_inode *in = kv_inode(p, ino);
	struct kv_snap snap;
	int i, n = 0;

	/* A bad record's extents are not given back: they may be another file's. The
	 * space it really had stays taken until the next open rebuilds the allocator. */
	if (kv_snap_take(p, ino, &snap) == 0) {
		for (i = 0; i < snap.n; i++)
			freed[n++] = snap.ext[i];
		if (snap.xattr_off)
			freed[n++] = (struct kv_extent){ snap.xattr_off, page_up(snap.xattr_len) };
	}
	*nfreed = n;
	if (KV_JTX_FIELD(p, &in->extent_count, (uint16_t)0) ||
	    KV_JTX_FIELD(p, &in->size, (uint64_t)0) || /* a record without data holds no bytes */
	    KV_JTX_FIELD(p, &in->xattr_off, (uint64_t)0) ||
	    KV_JTX_FIELD(p, &in->xattr_len, (uint32_t)0))
		return -E2BIG;
	return 0;
}

uint64_t kv_extents_trim(struct kv_pool *p, uint64_t ino)
{
	struct kv_inode *in = kv_inode(p, ino);
	uint64_t keep, off = 0, trimmed = 0, partial_len = 0;
	struct kv_extent freed[KV_INLINE_EXTENTS];
	struct kv_snap snap;
	int i, nfree = 0, count, new_count, partial = -1;

	if (p->readonly) /* a cluster follower's view: the leader trims its records */
		return 0;
	/*
	 * Nearly always there is nothing to trim (a block stored whole): say so
	 * from the record's words, without the checked copy and its signature.
	 * A scribbled record can only make this skip a trim, never free a byte.
	 */
	if (in->extent_count <= KV_INLINE_EXTENTS && kv_extents_bytes(in) <= page_up(in->size))
		return 0;
	if (kv_snap_take(p, ino, &snap))
		return 0;
	keep = page_up(snap.size);
	count = new_count = snap.n;
	for (i = 0; i < count; i++) {
		const struct kv_extent *e = &snap.ext[i];

		if (off >= keep) {
			freed[nfree++] = *e;
			if (new_count == count)
				new_count = i;
		} else if (off + e->len > keep) {
			partial = i;
			partial_len = keep - off;
			freed[nfree++] =
			    (struct kv_extent){ e->off + partial_len, e->len - partial_len };
		}
		off += e->len;
	}
	if (!nfree)
		return 0;
	/* Drop whole extents first, then shorten the last kept one: each a single store. */
	if (new_count != count)
		atomic_store_explicit((_Atomic uint16_t *)&in->extent_count, (uint16_t)new_count,
				      memory_order_release);
	if (partial >= 0)
		atomic_store_explicit((_Atomic uint64_t *)&in->ext[partial].len, partial_len,
				      memory_order_release);
	kv_snap_commit(p, ino);
	for (i = 0; i < nfree; i++)
		trimmed += freed[i].len;
	kv_extents_free(p, freed, nfree);
	return trimmed;
}

uint64_t kv_extents_bytes(const struct kv_inode *in)
{
	uint64_t sum = 0;
	int i;

	for (i = 0; i < in->extent_count && i < KV_INLINE_EXTENTS; i++)
		sum += in->ext[i].len;
	return sum;
}
