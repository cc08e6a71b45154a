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
#include "pool_int.h"
#include "log.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

int kv_lookup_pin(struct kv_pool *p, uint64_t dir, const char *name, size_t len,
		  struct kv_attr *attr, struct kv_extent *ext)
{
	struct kv_inode *in;
	uint64_t ino;
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	ino = kv_index_find(p, dir, name, len);
	if (!ino || !S_ISREG(kv_inode(p, ino)->mode)) {
		atomic_fetch_add(&p->misses, 1);
		pthread_mutex_unlock(&p->lock);
		return -ENOENT;
	}
	atomic_fetch_add(&p->hits, 1);
	kv_policy_hit(p, ino);
	in = kv_inode(p, ino);
	if (in->extent_count > 1 && !p->open_count[ino]) {
		/* Written in pieces through the mount: make it one extent the client can address. */
		rc = kv_data_migrate_locked(p, ino);
		if (rc)
			goto out;
	}
	if (in->extent_count > 1) {
		rc = -EBUSY; /* still being written through the mount */
		goto out;
	}
	rc = kv_index_pin_locked(p, ino);
	if (rc)
		goto out;
	*ext = in->extent_count ? in->ext[0] : (struct kv_extent){ 0, 0 };
	attr->ino = ino;
	attr->gen = in->gen;
	attr->size = in->size;
	attr->mode = in->mode;
	attr->uid = in->uid; /* the caller checks read permission against these */
	attr->gid = in->gid;
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int kv_reserve(struct kv_pool *p, uint64_t dir, const char *name, size_t len, uint64_t size,
	       uint32_t uid, uint32_t gid, bool zero,
	       uint64_t *ino_out, struct kv_extent *ext)
{
	struct kv_inode *in, *d;
	struct kv_extent e = { 0, 0 };
	int64_t now = kv_now_ns();
	uint64_t ino;
	uint32_t anchor;
	int rc = 0;

	if (p->readonly)
		return -EROFS;
	if (!len || len > KV_NAME_MAX || memchr(name, '/', len) || memchr(name, 0, len))
		return -EINVAL;
	if (!size || size > p->sb->geo.data_size)
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
	while (p->anchors[anchor].quota &&
	       p->anchors[anchor].used + ((size + KV_PAGE_SIZE - 1) & ~(uint64_t)(KV_PAGE_SIZE - 1)) >
		   p->anchors[anchor].quota)
		if (p->anchors[anchor].never || kv_evict_in(p, anchor) < 0) {
			rc = -EDQUOT;
			goto out;
		}
	while ((rc = kv_alloc_extent(&p->alloc, size, &e)) == -ENOSPC)
		if (kv_evict_one(p) < 0)
			break;
	if (rc)
		goto out;
	ino = kv_index_take_inode(p, false);
	if (!ino) {
		kv_alloc_free(&p->alloc, &e);
		rc = -ENOSPC;
		goto out;
	}
	in = kv_inode(p, ino);
	in->gen++;
	in->mode = S_IFREG | 0644;
	in->uid = uid;
	in->gid = gid;
	in->parent = dir;
	in->atime_ns = in->mtime_ns = in->ctime_ns = in->last_use_ns = now;
	in->xattr_off = 0;
	in->xattr_len = 0;
	in->name_len = (uint16_t)len;
	memcpy(in->name, name, len);
	in->ext[0] = e;
	in->extent_count = 1;
	in->size = size;
	kv_fault(p, KV_FP_CREATE_FILLED);
	/* RESERVED is freed by the next open if we die: the extent cannot leak. */
	atomic_store_explicit((_Atomic uint32_t *)&in->state, KV_INODE_RESERVED,
			      memory_order_release);
	p->pin_count[ino] = 1; /* the reserver holds it: never evicted, data kept */
	p->held++;
	kv_policy_attach(p, ino);
	*ino_out = ino;
	*ext = e;
out:
	p->creating_in = 0;
	pthread_mutex_unlock(&p->lock);
	/* Never show another file's old bytes: the caller may not fill every byte. */
	if (!rc && zero)
		memset(p->base + e.off, 0, e.len);
	return rc;
}

/* Free a reservation (caller holds p->lock). */
static void drop_reservation(struct kv_pool *p, uint64_t ino)
{
	struct kv_inode *in = kv_inode(p, ino);
	struct kv_extent e = in->ext[0];
	bool had = in->extent_count > 0;

	kv_policy_detach(p, ino);
	atomic_store_explicit((_Atomic uint32_t *)&in->state, KV_INODE_FREE, memory_order_release);
	in->extent_count = 0;
	if (had)
		kv_alloc_free(&p->alloc, &e);
	p->pin_count[ino] = 0;
	p->held--;
	p->free_ino[p->nfree_ino++] = (uint32_t)ino;
}

static bool is_reservation(struct kv_pool *p, uint64_t ino)
{
	return kv_ino_valid(p, ino) && kv_inode(p, ino)->state == KV_INODE_RESERVED &&
	       p->pin_count[ino] == 1;
}

int kv_commit(struct kv_pool *p, const uint64_t *inos, size_t n, uint8_t *published)
{
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < n; i++)
		if (!is_reservation(p, inos[i])) {
			rc = -EINVAL;
			goto out;
		}
	kv_jtx_begin(p);
	for (i = 0; i < n; i++) {
		struct kv_inode *in = kv_inode(p, inos[i]);
		uint64_t j;

		published[i] = 0;
		/* someone published this name meanwhile (or twice in this batch): theirs stays */
		if (kv_index_find(p, in->parent, (const char *)in->name, in->name_len))
			continue;
		for (j = 0; j < i; j++)
			if (published[j] && kv_inode(p, inos[j])->parent == in->parent &&
			    kv_inode(p, inos[j])->name_len == in->name_len &&
			    !memcmp(kv_inode(p, inos[j])->name, in->name, in->name_len))
				break;
		if (j < i)
			continue;
		if (kv_jtx_add(p, &in->state, &(uint32_t){ KV_INODE_LIVE }, sizeof(uint32_t))) {
			rc = -E2BIG;
			goto out;
		}
		published[i] = 1;
	}
	kv_jtx_commit(p);
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
		p->pin_count[inos[i]] = 0;
		p->held--;
		kv_index_link(p, inos[i]);
	}
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void kv_abort(struct kv_pool *p, const uint64_t *inos, size_t n)
{
	size_t i;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < n; i++)
		if (is_reservation(p, inos[i]))
			drop_reservation(p, inos[i]);
	pthread_mutex_unlock(&p->lock);
}
