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

void kv_lru_remove(struct kv_pool *p, uint64_t ino)
{
	if (!p->in_lru[ino])
		return;
	if (p->lru_prev[ino])
		p->lru_next[p->lru_prev[ino]] = p->lru_next[ino];
	else
		p->lru_head = p->lru_next[ino];
	if (p->lru_next[ino])
		p->lru_prev[p->lru_next[ino]] = p->lru_prev[ino];
	else
		p->lru_tail = p->lru_prev[ino];
	p->lru_prev[ino] = p->lru_next[ino] = KV_NONE;
	p->in_lru[ino] = 0;
}

void kv_lru_append(struct kv_pool *p, uint64_t ino)
{
	p->lru_next[ino] = KV_NONE;
	p->lru_prev[ino] = p->lru_tail;
	if (p->lru_tail)
		p->lru_next[p->lru_tail] = (uint32_t)ino;
	else
		p->lru_head = (uint32_t)ino;
	p->lru_tail = (uint32_t)ino;
	p->in_lru[ino] = 1;
}

void kv_lru_touch(struct kv_pool *p, uint64_t ino)
{
	struct kv_inode *in = kv_inode(p, ino);

	in->last_use_ns = kv_now_ns();
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
uint64_t kv_index_take_inode(struct kv_pool *p)
{
	for (;;) {
		if (p->nfree_ino)
			return p->free_ino[--p->nfree_ino];
		while (p->nreclaim) {
			uint64_t ino = p->reclaim[--p->nreclaim];

			p->in_reclaim[ino] = 0;
			if (kv_inode(p, ino)->state != KV_INODE_ORPHAN || kv_held(p, ino))
				continue;
			p->kref_debt[ino] += p->kref[ino];
			p->kref[ino] = 0;
			atomic_store_explicit((_Atomic uint32_t *)&kv_inode(p, ino)->state,
					      KV_INODE_FREE, memory_order_release);
			return ino;
		}
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

long kv_evict_one(struct kv_pool *p)
{
	uint64_t ino = p->lru_head, parent;
	struct kv_snap snap;
	char name[KV_NAME_MAX + 1];
	size_t len;
	long bytes = 0;

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
	atomic_fetch_add(&p->evictions, 1);
	atomic_fetch_add(&p->evicted_bytes, (uint64_t)bytes);
	if (p->evict_cb && len)
		p->evict_cb(p->evict_arg, parent, name, len, ino);
	return bytes;
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
static int hold_locked(struct kv_pool *p, uint64_t ino, uint32_t *count, uint64_t gen, bool pin)
{
	struct kv_inode *in = kv_inode(p, ino);

	if ((in->state != KV_INODE_LIVE && !(in->state == KV_INODE_ORPHAN && kv_held(p, ino))) ||
	    (gen && in->gen != gen))
		return -ESTALE;
	if (!kv_held(p, ino) && !kv_is_dir(in))
		p->held++;
	if (pin && !p->pin_count[ino])
		p->pinned++;
	count[ino]++;
	kv_lru_remove(p, ino);
	in->last_use_ns = kv_now_ns();
	return 0;
}

static int hold(struct kv_pool *p, uint64_t ino, uint32_t *count, uint64_t gen, bool pin)
{
	int rc;

	if (!kv_ino_valid(p, ino))
		return -ENOENT;
	pthread_mutex_lock(&p->lock);
	rc = hold_locked(p, ino, count, gen, pin);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int kv_index_pin_locked(struct kv_pool *p, uint64_t ino)
{
	return hold_locked(p, ino, p->pin_count, 0, true);
}

static void unhold(struct kv_pool *p, uint64_t ino, uint32_t *count, bool pin)
{
	struct kv_inode *in;

	if (!kv_ino_valid(p, ino))
		return;
	pthread_mutex_lock(&p->lock);
	in = kv_inode(p, ino);
	if (!count[ino])
		goto out;
	count[ino]--;
	if (pin && !p->pin_count[ino])
		p->pinned--;
	if (kv_held(p, ino) || kv_is_dir(in))
		goto out;
	p->held--;
	if (in->state == KV_INODE_ORPHAN) {
		kv_reap_orphan(p, ino);
	} else if (in->state == KV_INODE_LIVE) {
		p->bytes_trimmed += kv_data_trim(p, ino);
		in->last_use_ns = kv_now_ns();
		kv_lru_append(p, ino);
	}
out:
	pthread_mutex_unlock(&p->lock);
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
	unhold(p, ino, p->pin_count, true);
}
