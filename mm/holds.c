// SPDX-License-Identifier: MIT
/*
 * holds.c - who holds a file. The kernel's lookups, opens (and maps) and
 * fast-path pins are counted per inode in DRAM; the last holder's release
 * puts a file on its LRU list (lru.c). An unlinked file that is still held
 * stays an orphan until its last holder goes; one only the kernel's cache
 * still names is reclaimable (evict.c takes it when records run out). This
 * is the only writer of those counts, the held state and the free and
 * reclaimable records, and the unlink of a record is here. Below eviction:
 * it never evicts. Every function here is called with p->lock held or
 * takes it.
 */
#include "extents.h"
#include "holds.h"
#include "index.h"
#include "journal.h"
#include "lru.h"
#include "policy.h"
#include "pool_int.h"
#include "snap.h"

#include <errno.h>
#include <string.h>

/*
 * Reuse an orphan only the kernel's cache still names: its node id carries
 * its generation (fs/), so the kernel's old inode never reaches the new
 * life. Files first: a directory's old life may still be revived by a
 * create through it (kv_dir_revive_locked). Return: it, or 0.
 */
uint64_t kv_holds_take_orphan(struct kv_pool *p)
{
	int pass;

	for (pass = 0; pass < 2; pass++) {
		uint64_t i;

		for (i = p->nreclaim; i-- > 0;) {
			uint64_t ino = p->reclaim[i];
			struct kv_inode *in = kv_inode(p, ino);

			if (in->state == KV_INODE_ORPHAN && kv_is_dir(in) && !pass)
				continue;
			p->reclaim[i] = p->reclaim[--p->nreclaim];
			p->in_reclaim[ino] = 0;
			if (in->state != KV_INODE_ORPHAN || kv_held(p, ino))
				continue;
			if (p->kept[ino]) { /* a rename's victim: its bytes go now */
				struct kv_extent freed[KV_INLINE_EXTENTS + 1];
				int nfreed;

				kv_jtx_begin(p);
				if (kv_extents_drop(p, ino, freed, &nfreed) || kv_jtx_commit(p)) {
					kv_jtx_abort(p);
					continue; /* it stays an orphan with its bytes */
				}
				p->kept[ino] = 0;
				kv_snap_commit_empty(p, ino);
				kv_extents_free(p, freed, nfreed);
			}
			p->kref_debt[ino] += p->hot[ino].kref;
			p->hot[ino].kref = 0;
			p->dir_reclaimed[ino] = 0;
			atomic_store_explicit((_Atomic uint32_t *)&in->state, KV_INODE_FREE,
					      memory_order_release);
			return ino;
		}
	}
	return 0;
}

/* An orphan whose last holder went: free its data, and its record when unreferenced. */
void kv_holds_reap_orphan(struct kv_pool *p, uint64_t ino)
{
	struct kv_inode *in = kv_inode(p, ino);

	if (in->state != KV_INODE_ORPHAN || kv_held(p, ino) || p->readonly)
		return; /* p->readonly: a cluster follower's view; the leader frees its records */
	kv_holds_unlink(p, ino, true); /* -E2BIG: it stays an orphan, until the next open */
}

/* --- references --- */

void kv_ref(struct kv_pool *p, uint64_t ino, uint64_t n)
{
	if (!kv_ino_valid(p, ino))
		return;
	pthread_mutex_lock(&p->lock);
	p->hot[ino].kref += (uint32_t)n;
	pthread_mutex_unlock(&p->lock);
}

void kv_forget(struct kv_pool *p, uint64_t ino, uint64_t n)
{
	if (!kv_ino_valid(p, ino) || ino == KV_ROOT_INO)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->kref_debt[ino]) { /* forgets owed by an earlier life of this record */
		uint64_t paid = p->kref_debt[ino] < n ? p->kref_debt[ino] : n;

		p->kref_debt[ino] -= paid;
		n -= paid;
	}
	p->hot[ino].kref = p->hot[ino].kref > n ? p->hot[ino].kref - (uint32_t)n : 0;
	if (!p->hot[ino].kref)
		kv_holds_reap_orphan(p, ino);
	pthread_mutex_unlock(&p->lock);
}

/* Add a hold (open or pin) on a live file. Caller holds p->lock. */
static int hold_locked(struct kv_pool *p, uint64_t ino, uint64_t gen, bool pin, int64_t now_ns)
{
	struct kv_inode *in = kv_inode(p, ino);
	uint64_t *count = pin ? &p->hot[ino].pin_count : &p->hot[ino].open_count;

	/* an orphan serves those who hold it, and opens of a rename's kept victim */
	if ((in->state != KV_INODE_LIVE &&
	     !(in->state == KV_INODE_ORPHAN && (kv_held(p, ino) || (!pin && p->kept[ino])))) ||
	    (gen && in->gen != gen))
		return -ESTALE;
	if (!kv_held(p, ino) && !kv_is_dir(in))
		p->held++;
	if (pin && !p->hot[ino].pin_count)
		p->pinned++;
	(*count)++;
	/* it stays in its LRU set: kv_lru_head() takes held files off when they reach the top */
	if (!p->readonly) /* a follower's view writes no record: the leader's are its own */
		in->last_use_ns = now_ns;
	return 0;
}

static int hold(struct kv_pool *p, uint64_t ino, uint64_t gen, bool pin)
{
	int rc;

	if (!kv_ino_valid(p, ino))
		return -ENOENT;
	pthread_mutex_lock(&p->lock);
	rc = hold_locked(p, ino, gen, pin, kv_now_ns());
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int kv_holds_pin_locked(struct kv_pool *p, uint64_t ino, int64_t now_ns)
{
	return hold_locked(p, ino, 0, true, now_ns);
}

static void unhold_locked(struct kv_pool *p, uint64_t ino, bool pin, int64_t now_ns)
{
	struct kv_inode *in;
	uint64_t *count;

	if (!kv_ino_valid(p, ino))
		return;
	in = kv_inode(p, ino);
	count = pin ? &p->hot[ino].pin_count : &p->hot[ino].open_count;
	if (!*count)
		return;
	(*count)--;
	if (pin && !p->hot[ino].pin_count)
		p->pinned--;
	if (kv_held(p, ino) || kv_is_dir(in))
		return;
	p->held--;
	/* another node's hold keeps the rest too (kv_pool_cluster_unpark() does it then) */
	kv_holds_released_locked(p, ino, kv_held_elsewhere(p, ino), true, now_ns);
}

bool kv_holds_released_locked(struct kv_pool *p, uint64_t ino, bool elsewhere, bool join,
			      int64_t now_ns)
{
	uint32_t state = kv_inode(p, ino)->state;

	if (!elsewhere)
		kv_extents_release_deferred(p, ino); /* what a move kept from under its readers */
	if (state == KV_INODE_ORPHAN) {
		kv_holds_reap_orphan(p, ino);
		return false;
	}
	if (state != KV_INODE_LIVE)
		return false;
	if (!elsewhere)
		p->bytes_trimmed += kv_policy_trim(p, ino);
	/* a cluster leader: a follower's pin wants one extent, and its view cannot move it */
	if (!elsewhere && join && p->up.join_pieces)
		p->up.join_pieces(p, ino);
	/* back in its set, or a use if still in; and its last_use_ns */
	kv_lru_append_at(p, ino, now_ns);
	return true;
}

static void unhold(struct kv_pool *p, uint64_t ino, bool pin)
{
	if (!kv_ino_valid(p, ino))
		return;
	pthread_mutex_lock(&p->lock);
	unhold_locked(p, ino, pin, kv_now_ns());
	pthread_mutex_unlock(&p->lock);
}

int kv_open_gen(struct kv_pool *p, uint64_t ino, uint64_t gen, uint64_t gen_mask)
{
	int rc = -ESTALE;

	if (!kv_ino_valid(p, ino))
		return -ENOENT;
	pthread_mutex_lock(&p->lock);
	if ((kv_inode(p, ino)->gen & gen_mask) == (gen & gen_mask))
		rc = hold_locked(p, ino, 0, false, kv_now_ns());
	pthread_mutex_unlock(&p->lock);
	return rc;
}

uint64_t kv_gen(struct kv_pool *p, uint64_t ino)
{
	if (!kv_ino_valid(p, ino))
		return 0;
	return atomic_load_explicit((_Atomic uint64_t *)&kv_inode(p, ino)->gen,
				    memory_order_acquire);
}

int kv_open(struct kv_pool *p, uint64_t ino)
{
	return hold(p, ino, 0, false);
}

void kv_release(struct kv_pool *p, uint64_t ino)
{
	if (kv_ino_valid(p, ino) && __atomic_load_n(&p->hot[ino].dirty, __ATOMIC_RELAXED))
		p->up.seal(p, ino); /* kv_data_seal() */
	unhold(p, ino, false);
}

int kv_pin(struct kv_pool *p, uint64_t ino, uint64_t gen)
{
	return hold(p, ino, gen, true);
}

void kv_unpin(struct kv_pool *p, uint64_t ino)
{
	if (p->unpin_cb) /* cluster: the node's own count, whatever view pinned it */
		p->unpin_cb(p->unpin_arg, ino);
	unhold(p, ino, true);
}

void kv_unpin_batch(struct kv_pool *p, const uint64_t *inos, size_t n)
{
	int64_t now = kv_now_ns();
	size_t i;

	for (i = 0; p->unpin_cb && i < n; i++) /* cluster: as kv_unpin() */
		p->unpin_cb(p->unpin_arg, inos[i]);
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < n; i++) {
		/* what the last unpin of a file reads and writes, 8 files ahead (as lookups do) */
		if (i + 8 < n && kv_ino_valid(p, inos[i + 8]))
			kv_prefetch_record(p, inos[i + 8]);
		unhold_locked(p, inos[i], true, now);
	}
	pthread_mutex_unlock(&p->lock);
}

/* --- record lifecycle --- */

int kv_holds_unlink_stage(struct kv_pool *p, uint64_t ino, struct kv_unlink_plan *u)
{
	struct kv_inode *in = kv_inode(p, ino);

	u->ino = ino;
	/* another node's hold keeps the bytes as this node's does: free_ok() marks the file
	 * against new holds until kv_holds_unlink_finish(), or parks it when held */
	u->keep_data = kv_held(p, ino) || (p->kept[ino] && p->hot[ino].kref) ||
		       (p->up.free_ok && !p->up.free_ok(p, ino));
	u->keep_record = u->keep_data || p->hot[ino].kref;
	u->nfreed = 0;
	if ((!u->keep_data && kv_extents_drop(p, ino, u->freed, &u->nfreed)) ||
	    KV_JTX_FIELD(p, &in->state, u->keep_record ? KV_INODE_ORPHAN : KV_INODE_FREE)) {
		if (p->up.freed)
			p->up.freed(p, ino);
		return -E2BIG;
	}
	return 0;
}

void kv_holds_unlink_detach(struct kv_pool *p, struct kv_unlink_plan *u, bool off_indexes_already)
{
	uint64_t ino = u->ino;
	struct kv_inode *in = kv_inode(p, ino);

	if (!off_indexes_already) {
		kv_index_hash_remove(p, ino);
		kv_index_child_remove(p, p->dparent[ino], ino);
		kv_lru_remove(p, ino);
		if (kv_is_dir(in))
			p->dirs--;
		else
			p->files--;
	}
	if (kv_is_dir(in)) {
		kv_policy_dir_gone(p, ino);
		kv_index_edir_remove(p, ino);
	} else {
		kv_policy_detach(p, ino);
	}
	p->dir_reclaimed[ino] = 0;
	if (!u->keep_data) {
		p->kept[ino] = 0;
		kv_snap_commit_empty(p, ino);
	}
}

/* After the commit: give the space back, and the record or make it reclaimable. */
void kv_holds_unlink_finish(struct kv_pool *p, struct kv_unlink_plan *u)
{
	kv_extents_free(p, u->freed, u->nfreed);
	if (p->up.freed) /* the bytes went (or stayed for their holders): new holds may come */
		p->up.freed(p, u->ino);
	if (!u->keep_record) {
		kv_holds_put_free(p, u->ino);
	} else if ((!u->keep_data || p->kept[u->ino]) && !p->in_reclaim[u->ino]) {
		/* only the kernel's cache still names it: reusable when records run out */
		p->in_reclaim[u->ino] = 1;
		p->reclaim[p->nreclaim++] = (uint32_t)u->ino;
	}
}

int kv_holds_unlink(struct kv_pool *p, uint64_t ino, bool dram_only_unlinked)
{
	struct kv_unlink_plan u;

	kv_jtx_begin(p);
	if (kv_holds_unlink_stage(p, ino, &u)) {
		kv_jtx_abort(p);
		return -E2BIG;
	}
	kv_holds_unlink_detach(p, &u, dram_only_unlinked);
	kv_jtx_commit(p); /* cannot fail: every add succeeded */
	kv_holds_unlink_finish(p, &u);
	return 0;
}

/* --- free records; build at open, free at close --- */

uint64_t kv_holds_take_free(struct kv_pool *p)
{
	return p->nfree_ino ? p->free_ino[--p->nfree_ino] : 0;
}

void kv_holds_put_free(struct kv_pool *p, uint64_t ino)
{
	p->free_ino[p->nfree_ino++] = (uint32_t)ino;
}

void kv_holds_ref_locked(struct kv_pool *p, uint64_t ino)
{
	p->hot[ino].kref++;
}

void kv_holds_reserve(struct kv_pool *p, uint64_t ino)
{
	p->hot[ino].pin_count = 1; /* the reserver holds it: never evicted, data kept */
	p->held++;
}

void kv_holds_unreserve(struct kv_pool *p, uint64_t ino)
{
	p->hot[ino].pin_count = 0;
	p->held--;
}

int kv_holds_alloc(struct kv_pool *p)
{
	uint64_t n = p->ninodes;

	if (!KV_ALLOC_ARRAY(p, free_ino, n) ||
	    !KV_ALLOC_ARRAY(p, reclaim, n) || !KV_ALLOC_ARRAY(p, in_reclaim, n) ||
	    !KV_ALLOC_ARRAY(p, kref_debt, n) || !KV_ALLOC_ARRAY(p, kept, n) ||
	    !KV_ALLOC_ARRAY(p, dir_reclaimed, n))
		return -ENOMEM;
	return 0;
}

void kv_holds_free(struct kv_pool *p)
{
	free(p->free_ino);
	free(p->reclaim);
	free(p->in_reclaim);
	free(p->kref_debt);
	free(p->kept);
	free(p->dir_reclaimed);
}

void kv_holds_build(struct kv_pool *p)
{
	uint64_t ino;

	for (ino = p->ninodes - 1; ino > KV_ROOT_INO; ino--)
		if (kv_inode(p, ino)->state == KV_INODE_FREE && !p->hot[ino].bad)
			p->free_ino[p->nfree_ino++] = (uint32_t)ino;
}
