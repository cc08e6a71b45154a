// SPDX-License-Identifier: MIT
/*
 * batch.c - what the fast path needs from the index: look a name up and pin
 * it in one step (returning its single extent), reserve invisible files
 * with one contiguous extent each, and publish many of them atomically.
 *
 * A reservation is an inode in state RESERVED: it has its parent, name and
 * extent but is in no index, so nothing sees it; a dead holder's
 * reservations are freed at the next open. Commit flips every state to LIVE
 * in one journal transaction and links them under the metadata mutex, so
 * observers and crashes both see all or none.
 */
#include "check.h"
#include "data.h"
#include "evict.h"
#include "holds.h"
#include "index.h"
#include "journal.h"
#include "policy.h"
#include "pool_int.h"
#include "snap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Pin a file found in the index (caller holds p->lock). Return: as kv_lookup_pin(). */
static int pin_found_locked(struct kv_pool *p, uint64_t ino, int64_t now_ns, struct kv_attr *attr,
			    struct kv_extent *ext)
{
	struct kv_inode *in;
	struct kv_snap snap;
	int rc;

	if (!ino || !S_ISREG(kv_inode(p, ino)->mode))
		return -ENOENT; /* the caller counts hits and misses */
	if (p->hot[ino].unflushed && p->hot[ino].open_count)
		return -ENOENT; /* being written through the mount: not a whole block yet */
	kv_policy_hit(p, ino);
	in = kv_inode(p, ino);
	rc = kv_snap_take(p, ino, &snap);
	if (rc)
		return rc;
	if (snap.n > 1 && !p->hot[ino].open_count && !p->readonly && !kv_held_elsewhere(p, ino)) {
		/* Written in pieces through the mount: make it one extent the client can address. */
		rc = kv_data_migrate_locked(p, ino);
		if (!rc)
			rc = kv_snap_take(p, ino, &snap);
		if (rc)
			return rc;
	}
	/* still being written through the mount, held by another node, or a follower's view */
	if (snap.n > 1)
		return -EBUSY;
	rc = kv_holds_pin_locked(p, ino, now_ns);
	if (rc)
		return rc;
	*ext = snap.n ? snap.ext[0] : (struct kv_extent){ 0, 0 };
	attr->ino = ino;
	attr->gen = in->gen;
	attr->size = snap.size;
	attr->mode = in->mode;
	attr->uid = in->uid; /* the caller checks read permission against these */
	attr->gid = in->gid;
	return 0;
}

int kv_lookup_pin(struct kv_pool *p, uint64_t dir, const char *name, size_t len,
		  struct kv_attr *attr, struct kv_extent *ext)
{
	int rc;

	pthread_mutex_lock(&p->lock);
	rc = pin_found_locked(p, kv_index_find(p, dir, name, len), kv_now_ns(), attr, ext);
	kv_count_locked(rc == -ENOENT ? &p->misses : &p->hits, 1);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* Names hashed and their slots prefetched this far ahead of the probes, their records half as far. */
#define PIN_AHEAD 16

size_t kv_lookup_pin_batch(struct kv_pool *p, uint64_t dir, const uint8_t *blocks, size_t stride,
			   size_t n, struct kv_attr *attr, struct kv_extent *ext, int *err)
{
	uint64_t h[PIN_AHEAD];
	int64_t now = kv_now_ns();
	size_t i, j;
	int rc = 0;

	for (j = 0; j < n && j < PIN_AHEAD; j++) {
		h[j] = kv_index_block_hash(p, dir, blocks + j * stride);
		kv_index_prefetch(p, h[j]);
	}
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < n; i++) {
		uint64_t hi = h[i % PIN_AHEAD];

		if (j < n) { /* the name PIN_AHEAD later takes this one's place */
			h[j % PIN_AHEAD] = kv_index_block_hash(p, dir, blocks + j * stride);
			kv_index_prefetch(p, h[j % PIN_AHEAD]);
			j++;
		}
		if (i + PIN_AHEAD / 2 < j)
			kv_index_prefetch_inode(p, h[(i + PIN_AHEAD / 2) % PIN_AHEAD]);
		rc = pin_found_locked(p, kv_index_find_block(p, hi, dir, blocks + i * stride), now,
				      &attr[i], &ext[i]);
		if (rc)
			break;
	}
	/* counted once a batch, not once a block */
	kv_count_locked(&p->hits, i + (rc && rc != -ENOENT));
	if (rc == -ENOENT)
		kv_count_locked(&p->misses, 1);
	pthread_mutex_unlock(&p->lock);
	*err = rc;
	return i;
}

int kv_reserve(struct kv_pool *p, uint64_t dir, const char *name, size_t len, uint64_t size,
	       uint32_t uid, uint32_t gid, bool zero, uint64_t *ino_out, struct kv_extent *ext)
{
	struct kv_inode *in, *d;
	struct kv_extent e = { 0, 0 };
	int64_t now = kv_now_ns();
	uint64_t ino;
	uint32_t anchor;
	int rc = 0;

	if (p->forward) /* cluster: a follower's view; the leader reserves */
		return p->forward->reserve(p->forward_arg, dir, name, len, size, uid, gid, zero,
					   ino_out, ext);
	if (p->readonly)
		return -EROFS;
	if (kv_index_check_name(name, len))
		return -EINVAL;
	if (!size || size > p->geo.data_size)
		return -EFBIG;
	pthread_mutex_lock(&p->lock);
	d = kv_ino_valid(p, dir) ? kv_inode(p, dir) : NULL;
	if (!d || d->state != KV_INODE_LIVE || !S_ISDIR(d->mode)) {
		rc = -ENOENT;
		goto out;
	}
	if (kv_index_find(p, dir, name, len)) {
		rc = -EEXIST;
		goto out;
	}
	p->creating_in = dir; /* what we evict must not take the namespace with it */
	anchor = kv_policy_anchor_of_dir(p, dir);
	rc = kv_evict_make_room_in(p, anchor,
				   (size + KV_PAGE_SIZE - 1) & ~(uint64_t)(KV_PAGE_SIZE - 1));
	if (!rc)
		rc = kv_evict_alloc(p, size, &e);
	if (rc)
		goto out;
	ino = kv_evict_new_inode(p, dir, name, len, S_IFREG | 0644, uid, gid, now);
	if (!ino) {
		kv_alloc_free(&p->alloc, &e);
		rc = -ENOSPC;
		goto out;
	}
	in = kv_inode(p, ino);
	in->ext[0] = e;
	in->extent_count = 1;
	/* kv_commit() stores the checksum, once the caller has filled the extent */
	in->size = size;
	kv_snap_commit(p, ino);
	kv_fault(p, KV_FP_CREATE_FILLED);
	/* RESERVED is freed by the next open if we die: the extent cannot leak. */
	atomic_store_explicit((_Atomic uint32_t *)&in->state, KV_INODE_RESERVED,
			      memory_order_release);
	kv_holds_reserve(p, ino);
	kv_policy_attach(p, ino);
	*ino_out = ino;
	*ext = e;
out:
	p->creating_in = 0;
	pthread_mutex_unlock(&p->lock);
	/*
	 * Never show another file's old bytes: the caller may not fill every
	 * byte. Pages zeroed in the background since they were last freed
	 * are skipped (kv_pool_zero_free()).
	 */
	if (!rc && zero) {
		struct kv_extent run;
		uint64_t from = 0;

		for (;;) {
			kv_alloc_next_dirty(&p->alloc, &e, from, &run);
			if (!run.len)
				break;
			memset(p->base + run.off, 0, run.len);
			from = run.off + run.len - e.off;
		}
	}
	return rc;
}

/* Free a reservation (caller holds p->lock). */
static void drop_reservation(struct kv_pool *p, uint64_t ino)
{
	struct kv_inode *in = kv_inode(p, ino);
	struct kv_snap snap;
	bool had = kv_snap_take(p, ino, &snap) == 0 && snap.n; /* a bad one's space stays taken */

	kv_policy_detach(p, ino);
	atomic_store_explicit((_Atomic uint32_t *)&in->state, KV_INODE_FREE, memory_order_release);
	in->extent_count = 0;
	kv_snap_commit_empty(p, ino);
	if (had)
		kv_alloc_free(&p->alloc, &snap.ext[0]);
	kv_holds_unreserve(p, ino);
	kv_holds_put_free(p, ino);
}

static bool is_reservation(struct kv_pool *p, uint64_t ino)
{
	return kv_ino_valid(p, ino) && kv_inode(p, ino)->state == KV_INODE_RESERVED &&
	       p->hot[ino].pin_count == 1;
}

/* The names a commit publishes, so that a name twice in one batch is found without a scan. */
struct batch_names {
	uint64_t mask;
	struct {
		uint64_t h;
		size_t i; /* SIZE_MAX: empty */
	} *slot;
};

static int batch_names_init(struct batch_names *b, size_t n)
{
	uint64_t slots = 2;

	while (slots < 2 * n)
		slots <<= 1;
	b->mask = slots - 1;
	b->slot = malloc(sizeof(*b->slot) * slots);
	if (!b->slot)
		return -ENOMEM;
	memset(b->slot, 0xff, sizeof(*b->slot) * slots);
	return 0;
}

/* Is (@dir, @name) published earlier in this batch? Else remember it as item @i. */
static bool batch_names_seen(struct kv_pool *p, struct batch_names *b, const uint64_t *inos,
			     size_t i, uint64_t dir, const uint8_t *name, size_t len)
{
	uint64_t h = kv_index_name_hash(p, (const char *)name, len, dir), s;

	for (s = h & b->mask; b->slot[s].i != SIZE_MAX; s = (s + 1) & b->mask) {
		const struct kv_inode *o = kv_inode(p, inos[b->slot[s].i]);

		if (b->slot[s].h == h && o->parent == dir && o->name_len == len &&
		    !memcmp(o->name, name, len))
			return true;
	}
	b->slot[s].h = h;
	b->slot[s].i = i;
	return false;
}

/*
 * Check reservation @i of a commit under p->lock and stage its publication
 * in the open transaction (published[i] = 1), or leave it unpublished: a
 * bad parent or name, a bad record, a name that appeared meanwhile.
 * Return: 0, -E2BIG (the transaction cannot hold it).
 */
static int stage_publish(struct kv_pool *p, const uint64_t *inos, size_t i, uint64_t *parents,
			 struct batch_names *seen, uint8_t *published)
{
	struct kv_inode *in = kv_inode(p, inos[i]);
	uint64_t dir = parents[i] = __atomic_load_n(&in->parent, __ATOMIC_RELAXED);
	size_t nlen = __atomic_load_n(&in->name_len, __ATOMIC_RELAXED);
	uint8_t name[KV_NAME_MAX];
	struct kv_snap snap;

	published[i] = 0;
	/* the record sat in shared memory since kv_reserve(): check what we link */
	if (nlen > KV_NAME_MAX)
		nlen = 0;
	memcpy(name, in->name, nlen);
	if (!kv_ino_valid(p, dir) || kv_inode(p, dir)->state != KV_INODE_LIVE ||
	    !S_ISDIR(kv_inode(p, dir)->mode) || !kv_check_name(name, nlen)) {
		kv_quarantine(p, inos[i], "(a reservation) has a bad parent or name");
		return 0;
	}
	if (kv_snap_take(p, inos[i], &snap))
		return 0;
	/* someone published this name meanwhile (or twice in this batch): theirs stays */
	if (kv_index_find(p, dir, (const char *)name, nlen) ||
	    batch_names_seen(p, seen, inos, i, dir, name, nlen))
		return 0;
	/* no checksum yet: taken in the background (kv_pool_sum_queued) */
	if (kv_jtx_add(p, &in->state, &(uint32_t){ KV_INODE_LIVE }, sizeof(uint32_t)))
		return -E2BIG;
	published[i] = 1;
	return 0;
}

int kv_commit(struct kv_pool *p, const uint64_t *inos, size_t n, uint8_t *published)
{
	if (p->forward) /* cluster: a follower's view; the leader commits */
		return p->forward->commit(p->forward_arg, inos, n, published);
	uint64_t *parents = malloc(sizeof(*parents) * (n ? n : 1));
	struct batch_names seen = { 0, NULL };
	size_t i;
	int rc = 0;

	if (!parents || batch_names_init(&seen, n)) {
		rc = -ENOMEM;
		goto out_free;
	}
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < n; i++)
		if (!is_reservation(p, inos[i])) {
			rc = -EINVAL;
			goto out;
		}
	kv_jtx_begin(p);
	for (i = 0; i < n; i++) {
		rc = stage_publish(p, inos, i, parents, &seen, published);
		if (rc)
			goto out;
	}
	kv_jtx_commit(p); /* cannot fail: every add succeeded */
	/*
	 * Link tail first: the LRU then holds the chain's head as the most
	 * recently used, so eviction takes a chain from its tail (a child is
	 * useless without its parent).
	 */
	for (i = n; i-- > 0;) {
		if (!published[i]) {
			drop_reservation(p, inos[i]);
			continue;
		}
		kv_holds_unreserve(p, inos[i]);
		kv_index_link(p, inos[i], parents[i]);
		kv_data_queue_sum_locked(p, inos[i]); /* checksummed in the background */
	}
out:
	pthread_mutex_unlock(&p->lock);
out_free:
	free(parents);
	free(seen.slot);
	return rc;
}

void kv_abort(struct kv_pool *p, const uint64_t *inos, size_t n)
{
	size_t i;

	if (p->forward) { /* cluster: a follower's view */
		p->forward->abort(p->forward_arg, inos, n);
		return;
	}
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < n; i++)
		if (is_reservation(p, inos[i]))
			drop_reservation(p, inos[i]);
	pthread_mutex_unlock(&p->lock);
}
