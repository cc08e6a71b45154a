// SPDX-License-Identifier: MIT
/*
 * holds.c - who holds a file, and eviction. The kernel's lookups, opens
 * (and maps) and fast-path pins are counted per inode in DRAM; a file
 * nobody holds sits on an LRU list, whose head eviction takes in O(1). An
 * unlinked file that is still held stays an orphan until its last holder
 * goes. Every function here is called with p->lock held or takes it.
 */
#include "check.h"
#include "pool_int.h"
#include "log.h"

#include <errno.h>
#include <string.h>

/* --- LRU of unheld files --- */

/* Each anchor (policy.c) keeps its own list; slot 0 is the unmarked rest. */
void kv_lru_remove(struct kv_pool *p, uint64_t ino)
{
	struct kv_anchor *a;

	if (!p->in_lru[ino])
		return;
	a = &p->anchors[p->file_anchor[ino] ? p->file_anchor[ino] - 1 : 0];
	if (p->lru_prev[ino])
		p->lru_next[p->lru_prev[ino]] = p->lru_next[ino];
	else
		a->lru_head = p->lru_next[ino];
	if (p->lru_next[ino])
		p->lru_prev[p->lru_next[ino]] = p->lru_prev[ino];
	else
		a->lru_tail = p->lru_prev[ino];
	p->lru_prev[ino] = p->lru_next[ino] = KV_NONE;
	p->in_lru[ino] = 0;
}

/* Files under an `evict=never` directory go on no list: nothing can evict them. */
void kv_lru_append(struct kv_pool *p, uint64_t ino)
{
	struct kv_anchor *a = &p->anchors[p->file_anchor[ino] ? p->file_anchor[ino] - 1 : 0];

	if (p->in_lru[ino] || a->never)
		return;
	p->lru_next[ino] = KV_NONE;
	p->lru_prev[ino] = a->lru_tail;
	if (a->lru_tail)
		p->lru_next[a->lru_tail] = (uint32_t)ino;
	else
		a->lru_head = (uint32_t)ino;
	a->lru_tail = (uint32_t)ino;
	p->in_lru[ino] = 1;
}

/*
 * A lookup makes the file the most recently used at once. (Marking it and
 * moving it only when it reached the head, CLOCK's second chance, was
 * cheaper at a million files but not LRU: a file read once long ago went
 * behind every file written since, and a block just stored was evicted
 * before it.)
 */
void kv_lru_touch(struct kv_pool *p, uint64_t ino)
{
	kv_inode(p, ino)->last_use_ns = kv_now_ns();
	if (p->in_lru[ino]) {
		kv_lru_remove(p, ino);
		kv_lru_append(p, ino);
	}
}

/*
 * A free inode record, or 0. When none is free, reuse an orphan that only
 * the kernel's inode cache still refers to (its generation changes, so the
 * kernel drops its stale inode; forgets for it are paid from kref_debt),
 * and failing that evict the least recently used file.
 */
static bool reclaim_idle_dir(struct kv_pool *p);

/*
 * Reuse an orphan only the kernel's cache still names: its node id carries
 * its generation (fs/), so the kernel's old inode never reaches the new
 * life. Files first: a directory's old life may still be revived by a
 * create through it (kv_dir_revive_locked). Return: it, or 0.
 */
static uint64_t take_orphan(struct kv_pool *p)
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

				p->kept[ino] = 0;
				kv_jtx_begin(p);
				kv_data_drop(p, ino, freed, &nfreed);
				kv_jtx_commit(p);
				kv_data_free_extents(p, freed, nfreed);
			}
			p->kref_debt[ino] += p->kref[ino];
			p->kref[ino] = 0;
			p->dir_reclaimed[ino] = 0;
			atomic_store_explicit((_Atomic uint32_t *)&in->state, KV_INODE_FREE,
					      memory_order_release);
			return ino;
		}
	}
	return 0;
}

/*
 * A record nobody names is best: the kernel then has no inode for it.
 * Reusing one the kernel still caches (an orphan) is safe, but a process
 * still using the old inode then sees ESTALE, so first a few evictions are
 * tried for a record that comes back free.
 */
#define KV_EVICT_FOR_FREE 4

uint64_t kv_index_take_inode(struct kv_pool *p, bool for_dir)
{
	int tries = 0;

	for (;;) {
		uint64_t ino;

		if (p->nfree_ino)
			return p->free_ino[--p->nfree_ino];
		if (reclaim_idle_dir(p))
			continue;
		if (tries++ < KV_EVICT_FOR_FREE && kv_evict_one(p) >= 0)
			continue;
		ino = take_orphan(p);
		if (ino)
			return ino;
		if (kv_evict_one(p) < 0)
			return 0;
	}
}

/* An orphan whose last holder went: free its data, and its record when unreferenced. */
void kv_reap_orphan(struct kv_pool *p, uint64_t ino)
{
	struct kv_inode *in = kv_inode(p, ino);

	if (in->state != KV_INODE_ORPHAN || kv_held(p, ino))
		return;
	kv_index_unlink_record(p, ino, true);
}

/*
 * Directories that eviction left empty go too (an engine that makes two
 * directories per block must not run out of inodes), up to the first one
 * that is the root, holds anything, carries xattrs (a policy, or anything a
 * person set) or is open. One the kernel still knows stays a record
 * (ORPHAN, marked reclaimed): a create that races in through it revives it
 * (kv_dir_revive_locked), and its record is freed at the kernel's forget.
 * A top directory (an engine's own, made once at its start) leaves a ghost:
 * a later lookup of its name makes it again (kv_ghost_add).
 */
static void reclaim_empty_dirs(struct kv_pool *p, uint64_t dir)
{
	int depth = 0;

	while (kv_ino_valid(p, dir) && dir != KV_ROOT_INO && depth++ < 4096) {
		struct kv_inode *in = kv_inode(p, dir);
		uint64_t parent = p->dparent[dir]; /* the one linked, not the pool's */
		char name[KV_NAME_MAX + 1];
		size_t len = in->name_len;

		if (in->state != KV_INODE_LIVE || !kv_is_dir(in) || p->nchild[dir] ||
		    in->xattr_off || p->anchor_idx[dir] || kv_held(p, dir) || len > KV_NAME_MAX ||
		    dir == p->creating_in || !kv_dir_idle(p, dir))
			return;
		memcpy(name, in->name, len);
		name[len] = 0;
		kv_ghost_add(p, dir, parent == KV_ROOT_INO || p->anchor_idx[parent]);
		kv_index_unlink_record(p, dir, false);
		if (in->state == KV_INODE_ORPHAN)
			p->dir_reclaimed[dir] = 1;
		p->dirs_reclaimed++;
		/*
		 * Invalidate the kernel's entry only (inode 0): a deleted one
		 * would mark its inode dead, and a revived directory must go on
		 * taking creates through it.
		 */
		if (p->evict_cb)
			p->evict_cb(p->evict_arg, parent, kv_inode(p, parent)->gen, name, len, 0,
				    0);
		dir = parent;
	}
}

/* --- empty directories --- */

void kv_edir_add(struct kv_pool *p, uint64_t dir)
{
	if (p->in_edir[dir] || dir == KV_ROOT_INO)
		return;
	p->edir_next[dir] = KV_NONE;
	p->edir_prev[dir] = p->edir_tail;
	if (p->edir_tail)
		p->edir_next[p->edir_tail] = (uint32_t)dir;
	else
		p->edir_head = (uint32_t)dir;
	p->edir_tail = (uint32_t)dir;
	p->in_edir[dir] = 1;
}

void kv_edir_remove(struct kv_pool *p, uint64_t dir)
{
	if (!p->in_edir[dir])
		return;
	if (p->edir_prev[dir])
		p->edir_next[p->edir_prev[dir]] = p->edir_next[dir];
	else
		p->edir_head = p->edir_next[dir];
	if (p->edir_next[dir])
		p->edir_prev[p->edir_next[dir]] = p->edir_prev[dir];
	else
		p->edir_tail = p->edir_prev[dir];
	p->edir_prev[dir] = p->edir_next[dir] = KV_NONE;
	p->in_edir[dir] = 0;
}

/*
 * Inode records are short: reclaim empty directories nobody used for a few
 * milliseconds, longest-empty first (an engine that
 * makes directories for lookups of absent blocks leaves empty ones that no
 * eviction empties). Those the kernel has forgotten give their record back
 * at once; the others when it forgets them (their entries are invalidated).
 * Return: how many went.
 */
#define KV_EDIR_SCAN 1024

static int reclaim_idle_dirs(struct kv_pool *p, int max)
{
	uint64_t dir = p->edir_head, before = p->dirs_reclaimed;
	int n = 0;

	for (; dir && n < KV_EDIR_SCAN && p->dirs_reclaimed - before < (uint64_t)max; n++) {
		uint64_t next = p->edir_next[dir];

		if (kv_dir_idle(p, dir) && dir != p->creating_in) {
			kv_edir_remove(p, dir);
			reclaim_empty_dirs(p, dir);
		}
		dir = next;
	}
	return (int)(p->dirs_reclaimed - before);
}

static bool reclaim_idle_dir(struct kv_pool *p)
{
	uint64_t free_before = p->nfree_ino;

	reclaim_idle_dirs(p, 64);
	return p->nfree_ino > free_before;
}

static bool inodes_low_locked(struct kv_pool *p)
{
	return p->nfree_ino < (p->ninodes >> 2) && p->edir_head;
}

bool kv_pool_inodes_low(struct kv_pool *p)
{
	bool low;

	pthread_mutex_lock(&p->lock);
	low = inodes_low_locked(p);
	pthread_mutex_unlock(&p->lock);
	return low;
}

int kv_pool_reclaim_dirs(struct kv_pool *p, int max)
{
	int n = 0;

	if (p->readonly) /* a cluster follower's view: the leader reclaims */
		return 0;
	pthread_mutex_lock(&p->lock);
	if (inodes_low_locked(p))
		n = reclaim_idle_dirs(p, max);
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* Evict the head of anchor @a's list. Return: bytes freed, -ENOSPC when it is empty. */
long kv_evict_in(struct kv_pool *p, uint32_t a)
{
	uint64_t ino, parent;
	struct kv_snap snap;
	char name[KV_NAME_MAX + 1];
	size_t len;
	long bytes = 0;

	ino = p->anchors[a].lru_head;
	while (ino && p->cluster_epoch && !kv_cluster_evict_ok(p, ino)) /* held by another node */
		ino = p->anchors[a].lru_head;
	if (!ino)
		return -ENOSPC;
	/* The name and size are the pool's (untrusted); the parent is the one linked. */
	parent = p->dparent[ino];
	len = __atomic_load_n(&kv_inode(p, ino)->name_len, __ATOMIC_RELAXED);
	if (len > KV_NAME_MAX) {
		kv_quarantine(p, ino, "has a name longer than the limit");
		len = 0;
	}
	memcpy(name, kv_inode(p, ino)->name, len);
	name[len] = 0;
	if (len && !kv_check_name((const uint8_t *)name, len))
		len = 0; /* nothing the kernel could have cached under it */
	if (kv_snap_take(p, ino, &snap) == 0)
		bytes = (long)snap.alloc;
	/* a quarantined file goes too, its space kept until the next open checks it */
	kv_index_unlink_record(p, ino, false);
	if (p->cluster_epoch)
		kv_cluster_evicted(p, ino); /* the record may serve another file now */
	atomic_fetch_add(&p->evictions, 1);
	atomic_fetch_add(&p->evicted_bytes, (uint64_t)bytes);
	p->anchors[a].evictions++;
	p->anchors[a].evicted_bytes += (uint64_t)bytes;
	if (p->evict_cb && len)
		p->evict_cb(p->evict_arg, parent, kv_inode(p, parent)->gen, name, len, ino,
			    kv_inode(p, ino)->gen);
	reclaim_empty_dirs(p, parent);
	return bytes;
}

/* The least recently used unheld file of the whole pool, whatever its anchor. */
long kv_evict_one(struct kv_pool *p)
{
	uint32_t i, best = 0;
	int64_t oldest = INT64_MAX;

	for (i = 0; i < p->nanchors; i++) {
		uint32_t head;

		head = p->anchors[i].lru_head;
		if (head && kv_inode(p, head)->last_use_ns < oldest) {
			oldest = kv_inode(p, head)->last_use_ns;
			best = i;
		}
	}
	return kv_evict_in(p, best);
}

/* --- references --- */

void kv_ref(struct kv_pool *p, uint64_t ino, uint64_t n)
{
	if (!kv_ino_valid(p, ino))
		return;
	pthread_mutex_lock(&p->lock);
	p->kref[ino] += (uint32_t)n;
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
	p->kref[ino] = p->kref[ino] > n ? p->kref[ino] - (uint32_t)n : 0;
	if (!p->kref[ino])
		kv_reap_orphan(p, ino);
	pthread_mutex_unlock(&p->lock);
}

/* Add a hold (open or pin) on a live file. Caller holds p->lock. */
static int hold_locked(struct kv_pool *p, uint64_t ino, uint64_t *count, uint64_t gen, bool pin,
		       int64_t now_ns)
{
	struct kv_inode *in = kv_inode(p, ino);

	/* an orphan serves those who hold it, and opens of a rename's kept victim */
	if ((in->state != KV_INODE_LIVE &&
	     !(in->state == KV_INODE_ORPHAN && (kv_held(p, ino) || (!pin && p->kept[ino])))) ||
	    (gen && in->gen != gen))
		return -ESTALE;
	if (!kv_held(p, ino) && !kv_is_dir(in))
		p->held++;
	if (pin && !p->pin_count[ino])
		p->pinned++;
	count[ino]++;
	kv_lru_remove(p, ino);
	in->last_use_ns = now_ns;
	return 0;
}

static int hold(struct kv_pool *p, uint64_t ino, uint64_t *count, uint64_t gen, bool pin)
{
	int rc;

	if (!kv_ino_valid(p, ino))
		return -ENOENT;
	pthread_mutex_lock(&p->lock);
	rc = hold_locked(p, ino, count, gen, pin, kv_now_ns());
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int kv_index_pin_locked(struct kv_pool *p, uint64_t ino, int64_t now_ns)
{
	return hold_locked(p, ino, p->pin_count, 0, true, now_ns);
}

static void unhold_locked(struct kv_pool *p, uint64_t ino, uint64_t *count, bool pin,
			  int64_t now_ns)
{
	struct kv_inode *in;

	if (!kv_ino_valid(p, ino))
		return;
	in = kv_inode(p, ino);
	if (!count[ino])
		return;
	count[ino]--;
	if (pin && !p->pin_count[ino])
		p->pinned--;
	if (kv_held(p, ino) || kv_is_dir(in))
		return;
	p->held--;
	if (in->state == KV_INODE_ORPHAN) {
		kv_reap_orphan(p, ino);
	} else if (in->state == KV_INODE_LIVE) {
		p->bytes_trimmed += kv_data_trim(p, ino);
		in->last_use_ns = now_ns;
		kv_lru_append(p, ino);
	}
}

static void unhold(struct kv_pool *p, uint64_t ino, uint64_t *count, bool pin)
{
	if (!kv_ino_valid(p, ino))
		return;
	pthread_mutex_lock(&p->lock);
	unhold_locked(p, ino, count, pin, kv_now_ns());
	pthread_mutex_unlock(&p->lock);
}

int kv_open_gen(struct kv_pool *p, uint64_t ino, uint64_t gen, uint64_t gen_mask)
{
	int rc = -ESTALE;

	if (!kv_ino_valid(p, ino))
		return -ENOENT;
	pthread_mutex_lock(&p->lock);
	if ((kv_inode(p, ino)->gen & gen_mask) == (gen & gen_mask))
		rc = hold_locked(p, ino, p->open_count, 0, false, kv_now_ns());
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
	return hold(p, ino, p->open_count, 0, false);
}

void kv_release(struct kv_pool *p, uint64_t ino)
{
	if (kv_ino_valid(p, ino) && __atomic_load_n(&p->dirty[ino], __ATOMIC_RELAXED))
		kv_data_seal(p, ino);
	unhold(p, ino, p->open_count, false);
}

int kv_pin(struct kv_pool *p, uint64_t ino, uint64_t gen)
{
	return hold(p, ino, p->pin_count, gen, true);
}

void kv_unpin(struct kv_pool *p, uint64_t ino)
{
	if (p->unpin_cb) /* cluster: the node's own count, whatever view pinned it */
		p->unpin_cb(p->unpin_arg, ino);
	unhold(p, ino, p->pin_count, true);
}

void kv_unpin_batch(struct kv_pool *p, const uint64_t *inos, size_t n)
{
	int64_t now = kv_now_ns();
	size_t i;

	for (i = 0; p->unpin_cb && i < n; i++) /* cluster: as kv_unpin() */
		p->unpin_cb(p->unpin_arg, inos[i]);
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < n; i++)
		unhold_locked(p, inos[i], p->pin_count, true, now);
	pthread_mutex_unlock(&p->lock);
}
