// SPDX-License-Identifier: MIT
/*
 * evict.c - the only code that evicts. Allocate-or-evict (one extent, or
 * several for a file's data: the room ahead of open files first, then
 * least recently used files, only while the request does not fit), take an
 * inode record (a free one, an idle empty directory's, an orphan's, an
 * evicted file's), evict to a watermark or under a directory's quota, and
 * reclaim the empty directories eviction leaves. A name eviction removes is
 * reported through the evict hook (kv_pool_set_evict_hook). Calls only the
 * layers below it: holds (a record's unlink, free records), ghost, policy,
 * index, lru, extents, snap, journal. Caller holds p->lock unless a
 * function says it takes it.
 */
#include "check.h"
#include "nodes.h"
#include "evict.h"
#include "ghost.h"
#include "holds.h"
#include "index.h"
#include "lru.h"
#include "policy.h"
#include "pool_int.h"
#include "snap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static uint64_t page_up(uint64_t x)
{
	return (x + KV_PAGE_SIZE - 1) & ~(uint64_t)(KV_PAGE_SIZE - 1);
}

/* --- taking an inode record --- */

/*
 * A free inode record, or 0. When none is free, reuse an orphan that only
 * the kernel's inode cache still refers to (its generation changes, so the
 * kernel drops its stale inode; forgets for it are paid from kref_debt),
 * and failing that evict the least recently used file.
 */
static bool reclaim_idle_dir(struct kv_pool *p);

/*
 * A record nobody names is best: the kernel then has no inode for it.
 * Reusing one the kernel still caches (an orphan) is safe, but a process
 * still using the old inode then sees ESTALE, so first a few evictions are
 * tried for a record that comes back free.
 */
#define KV_EVICT_FOR_FREE 4

uint64_t kv_evict_take_inode(struct kv_pool *p, bool for_dir)
{
	int tries = 0;

	for (;;) {
		uint64_t ino;

		ino = kv_holds_take_free(p);
		if (ino)
			return ino;
		if (reclaim_idle_dir(p))
			continue;
		if (tries++ < KV_EVICT_FOR_FREE && kv_evict_one(p) >= 0)
			continue;
		ino = kv_holds_take_orphan(p);
		if (ino)
			return ino;
		if (kv_evict_one(p) < 0)
			return 0;
	}
}

/* --- empty directories --- */

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
		if (kv_holds_unlink(p, dir, false))
			return; /* it stays (its ghost finds it live) */
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
			kv_index_edir_remove(p, dir);
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

/* --- evicting files --- */

/* Evict the head of anchor @a's list. Return: bytes freed, -ENOSPC when it is empty. */
long kv_evict_in(struct kv_pool *p, uint32_t a)
{
	uint64_t ino, parent;
	struct kv_snap snap;
	char name[KV_NAME_MAX + 1];
	size_t len;
	long bytes = 0;
	int rc;

	ino = kv_lru_head(p, a, NULL);
	while (ino && p->cluster_epoch && !kv_nodes_evict_ok(p, ino)) /* held by another node */
		ino = kv_lru_head(p, a, NULL);
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
	/* the kernel caches an entry and pages only of what it looked up (a block the
	 * fast path alone used is in none of its caches: nothing to tell it) */
	if (!p->hot[ino].kref)
		len = 0;
	/* a quarantined file goes too, its space kept until the next open checks it */
	rc = kv_holds_unlink(p, ino, false);
	if (p->cluster_epoch) /* evicted or not, the evicting mark goes (nodes.c) */
		kv_nodes_evicted(p, ino);
	if (rc) {
		kv_lru_remove(p, ino); /* it stays, off the list: the next file goes instead */
		return 0;
	}
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
		int64_t stamp;

		if (kv_lru_head(p, i, &stamp) && stamp < oldest) {
			oldest = stamp;
			best = i;
		}
	}
	return kv_evict_in(p, best);
}

/* --- allocate or evict: room ahead of open files first --- */

/* Remember that @ino holds room past its size (caller holds p->lock). */
void kv_evict_note_ahead(struct kv_pool *p, uint64_t ino)
{
	if (!p->ahead) {
		p->ahead = calloc(p->ninodes, sizeof(*p->ahead));
		p->in_ahead = calloc(p->ninodes, sizeof(*p->in_ahead));
		if (!p->ahead || !p->in_ahead) {
			free(p->ahead);
			free(p->in_ahead);
			p->ahead = NULL;
			p->in_ahead = NULL;
			return; /* the room goes back at the last close, as it always does */
		}
	}
	if (!p->in_ahead[ino]) {
		p->in_ahead[ino] = 1;
		p->ahead[p->nahead++] = (uint32_t)ino;
	}
}

uint64_t kv_evict_reclaim_ahead(struct kv_pool *p)
{
	uint64_t i, kept = 0, freed = 0;

	for (i = 0; i < p->nahead; i++) {
		uint64_t ino = p->ahead[i];
		struct kv_inode *in = kv_inode(p, ino);
		pthread_rwlock_t *stripe = kv_stripe(p, ino);
		struct kv_snap snap;

		/* the checked extents, not the pool's: those may say anything */
		if (in->state == KV_INODE_FREE || !S_ISREG(in->mode) ||
		    kv_snap_take(p, ino, &snap) || snap.alloc <= page_up(snap.size)) {
			p->in_ahead[ino] = 0;
			continue;
		}
		/* Someone is reading or writing it (perhaps we are), or another node holds it
		 * (it may read up to a size from before a truncate): its room stays for now. */
		if (kv_held_elsewhere(p, ino) || pthread_rwlock_trywrlock(stripe)) {
			p->ahead[kept++] = (uint32_t)ino;
			continue;
		}
		freed += kv_policy_trim(p, ino);
		pthread_rwlock_unlock(stripe);
		p->in_ahead[ino] = 0;
	}
	p->nahead = kept;
	p->bytes_trimmed += freed;
	return freed;
}

/*
 * Allocate @bytes in at most @max extents (one: kv_alloc_extent()), taking
 * back the room ahead of open files first and then evicting least recently
 * used files, one at a time, until the request fits: room ahead is a
 * guess, a cached file is not. With several pieces allowed, a file goes
 * only when the free space is short, not merely scattered. Return: the
 * number of extents, or -ENOSPC.
 */
static int alloc_or_evict(struct kv_pool *p, uint64_t bytes, int max, struct kv_extent *e)
{
	bool reclaimed = false;
	int rc;

	for (;;) {
		if (max == 1)
			rc = kv_alloc_extent(&p->alloc, bytes, e) ? -ENOSPC : 1;
		else
			rc = kv_alloc_pieces(&p->alloc, bytes, max, e);
		if (rc != -ENOSPC)
			return rc;
		if (!reclaimed && p->nahead) {
			reclaimed = true;
			if (kv_evict_reclaim_ahead(p))
				continue;
		}
		if (kv_evict_one(p) < 0)
			return -ENOSPC;
	}
}

/*
 * One extent, for what must be one: a reservation (libkvfs hands the
 * client one address per block), a file made one for the fast path, an
 * xattr blob, a link's target. Least recently used files go in order
 * until a hole of @bytes exists, and not one more.
 */
int kv_evict_alloc(struct kv_pool *p, uint64_t bytes, struct kv_extent *e)
{
	int rc = alloc_or_evict(p, bytes, 1, e);

	return rc < 0 ? rc : 0;
}

int kv_evict_alloc_pieces(struct kv_pool *p, uint64_t bytes, int max, struct kv_extent *e)
{
	if (max < 1)
		return -EINVAL;
	return alloc_or_evict(p, bytes, max, e);
}

int kv_evict_make_room_in(struct kv_pool *p, uint32_t i, uint64_t need)
{
	if (!i || !p->anchors[i].quota)
		return 0;
	while (p->anchors[i].used + need > p->anchors[i].quota) {
		if (p->anchors[i].never || kv_evict_in(p, i) < 0)
			return -EDQUOT;
	}
	return 0;
}

int kv_evict_make_room(struct kv_pool *p, uint64_t ino, uint64_t need)
{
	return kv_evict_make_room_in(p, p->hot[ino].file_anchor ? p->hot[ino].file_anchor - 1 : 0, need);
}

long kv_pool_evict_to(struct kv_pool *p, unsigned pct)
{
	struct kv_alloc_stats st;
	bool reclaimed = false;
	long n = 0;

	if (p->readonly) /* a cluster follower's view: the leader evicts */
		return 0;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		kv_alloc_get_stats(&p->alloc, &st);
		if (st.used_bytes * 100 <= st.capacity_bytes * pct)
			break;
		if (!reclaimed) { /* room ahead of open files goes before any cached file */
			reclaimed = true;
			if (kv_evict_reclaim_ahead(p))
				continue;
		}
		if (kv_evict_one(p) < 0)
			break;
		n++;
	}
	pthread_mutex_unlock(&p->lock);
	return n;
}

void kv_evict_free(struct kv_pool *p)
{
	free(p->ahead);
	free(p->in_ahead);
	p->ahead = NULL;
	p->in_ahead = NULL;
	p->nahead = 0;
}

/* --- the one constructor of records --- */

uint64_t kv_evict_new_inode(struct kv_pool *p, uint64_t parent, const char *name, size_t len,
			    uint32_t mode, uint32_t uid, uint32_t gid, int64_t now)
{
	struct kv_inode *in;
	uint64_t ino = kv_evict_take_inode(p, S_ISDIR(mode));

	if (!ino)
		return 0;
	in = kv_inode(p, ino);
	p->recreated[ino] = 0;
	/* Fill while FREE; the caller's state store publishes it. */
	in->gen++;
	in->mode = mode;
	in->uid = uid;
	in->gid = gid;
	in->parent = parent;
	in->size = 0;
	in->atime_ns = in->mtime_ns = in->ctime_ns = in->last_use_ns = now;
	in->xattr_off = 0;
	in->xattr_len = 0;
	in->extent_count = 0;
	in->name_len = (uint16_t)len;
	memcpy(in->name, name, len);
	in->checksum = 0; /* stored at the last writer's close, or at kv_commit() */
	p->hot[ino].dirty = 0;
	p->hot[ino].unflushed = 0;
	p->hot[ino].bad = 0;
	return ino;
}
