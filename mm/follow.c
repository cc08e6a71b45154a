// SPDX-License-Identifier: MIT
/*
 * follow.c - a cluster follower's view of the pool follows the change log
 * (kvfs(7) CLUSTER) instead of being built again at every commit of the
 * leader. The leader logs each record it changes (its journal commits, the
 * extents it gives, the records it publishes: nodes.c's change log); the
 * view reads the entries since its place in the log and, for each record
 * named, does what an open would do for that one record: it copies the
 * record once, checks the copy with the checker open and fsck run
 * (kv_check_record), and checks it against the others the way
 * kv_check_records() does (a parent that is a live directory of the view,
 * one name per directory, no cycle of directories). A bad record is
 * quarantined and left out, as an open leaves it out. The view's DRAM
 * state then follows: the name hash and child lists, the extents'
 * signature, the anchors and the LRU.
 *
 * What this cannot decide on its own it gives back to the caller, who
 * opens a new view (-ESTALE): the log wrapped past the view's place, a new
 * leader (epoch, open count or journal sequence moved: a replay and the
 * open's repairs are not logged), or entries that still do not fit together
 * once all were read. Extents shared between two records, and the
 * allocator's and anchors' byte counts, are checked and counted only by
 * such a new open: the caller opens one now and then (fs/cluster.c).
 *
 * Locking: the caller keeps every user of the view out (fs/ holds its view
 * lock exclusive); kv_pool_follow() also takes p->lock for the janitor.
 * Nothing here writes the pool.
 */
#include "check.h"
#include "coherence.h"
#include "extents.h"
#include "follow.h"
#include "index.h"
#include "log.h"
#include "lru.h"
#include "policy.h"
#include "pool_int.h"
#include "snap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* What a view indexed of a record (p->seen). */
enum { KV_SEEN_NONE, KV_SEEN_FILE, KV_SEEN_DIR, KV_SEEN_LINK };

#define FOLLOW_BATCH 256

static uint8_t seen_type(uint32_t mode)
{
	return S_ISDIR(mode) ? KV_SEEN_DIR : S_ISLNK(mode) ? KV_SEEN_LINK : KV_SEEN_FILE;
}

/*
 * The leader's marks a view was built under: its epoch, and the pool's
 * read-write opens (a journal replay and the repairs of recovery happen
 * only in such an open, and are not logged).
 */
static void leader_marks(struct kv_pool *p, uint64_t *epoch, uint64_t *opens)
{
	kv_coh_invalidate(&p->sb->rt.open_count, sizeof(p->sb->rt.open_count));
	*epoch = kv_pool_cluster_epoch(p);
	*opens =
	    atomic_load_explicit((_Atomic uint64_t *)&p->sb->rt.open_count, memory_order_acquire);
}

/* Was a new leader at work since the view was built (or the last follow)? */
static bool leader_changed(struct kv_pool *p)
{
	uint64_t epoch, opens;

	leader_marks(p, &epoch, &opens);
	return epoch != p->follow_epoch || opens != p->follow_opens;
}

void kv_follow_begin(struct kv_pool *p)
{
	leader_marks(p, &p->follow_epoch, &p->follow_opens);
	kv_pool_log_read(p, &p->follow_pos, NULL, NULL, 0); /* entries from now on */
}

/* The data pages a good live record holds, as open counts them for the allocator. */
static uint32_t record_pages(const struct kv_inode *in)
{
	uint64_t bytes = kv_extents_bytes(in);

	if (in->xattr_off)
		bytes +=
		    ((uint64_t)in->xattr_len + KV_PAGE_SIZE - 1) & ~(uint64_t)(KV_PAGE_SIZE - 1);
	return (uint32_t)(bytes / KV_PAGE_SIZE);
}

int kv_follow_build(struct kv_pool *p)
{
	uint64_t ino;

	if (!KV_ALLOC_ARRAY(p, seen, p->ninodes) || !KV_ALLOC_ARRAY(p, seen_pages, p->ninodes) ||
	    !KV_ALLOC_ARRAY(p, seen_free, p->ninodes))
		return -ENOMEM;
	for (ino = KV_ROOT_INO; ino < p->ninodes; ino++) {
		const struct kv_inode *in = kv_inode(p, ino);

		p->seen_free[ino] = ino > KV_ROOT_INO && in->state == KV_INODE_FREE && !p->hot[ino].bad;

		if (in->state == KV_INODE_LIVE && !p->hot[ino].bad) {
			p->seen[ino] = seen_type(in->mode);
			p->seen_pages[ino] = record_pages(in);
		}
	}
	return 0;
}

void kv_follow_free(struct kv_pool *p)
{
	free(p->seen);
	free(p->seen_pages);
	free(p->seen_free);
	p->seen = NULL;
	p->seen_pages = NULL;
	p->seen_free = NULL;
}

/* --- one record --- */

/* May @c (live, checked) join the view as @ino? Its parent, its name, no cycle. */
static bool may_link(struct kv_pool *p, uint64_t ino, const struct kv_inode *c)
{
	uint64_t other, d, depth;

	if (p->seen[c->parent] != KV_SEEN_DIR)
		return false; /* not (yet) a directory of the view */
	other = kv_index_hash_find(p, c->parent, (const char *)c->name, c->name_len);
	if (other && other != ino)
		return false; /* the name is another's (until that one's entry is read) */
	if (!S_ISDIR(c->mode))
		return true;
	for (d = c->parent, depth = 0; d != KV_ROOT_INO && depth < p->ninodes; depth++) {
		if (d == ino)
			return false; /* under itself */
		d = p->dparent[d];
	}
	return d == KV_ROOT_INO;
}

static void unlink_seen(struct kv_pool *p, uint64_t ino, uint8_t have, bool stays_dir)
{
	if (have != KV_SEEN_DIR) {
		kv_lru_remove(p, ino);
		kv_policy_detach(p, ino);
	} else if (!stays_dir) {
		kv_policy_dir_gone(p, ino);
	}
	kv_index_remove_as(p, ino, have == KV_SEEN_DIR);
	p->seen[ino] = KV_SEEN_NONE;
}

static void link_seen(struct kv_pool *p, uint64_t ino, const struct kv_inode *c, uint8_t want)
{
	kv_index_add_copy(p, ino, c);
	p->seen[ino] = want;
	if (want == KV_SEEN_DIR)
		return;
	kv_policy_attach(p, ino);
	if (want == KV_SEEN_FILE && !kv_held(p, ino))
		kv_lru_append(p, ino);
}

/* Copy @ino's record once, after dropping stale cache lines, and its xattr blob's lines. */
static void copy_record(struct kv_pool *p, uint64_t ino, struct kv_inode *c)
{
	struct kv_inode *in = kv_inode(p, ino);
	uint64_t xlen;

	kv_coh_invalidate(in, sizeof(*in));
	memcpy(c, in, sizeof(*c));
	xlen = ((uint64_t)c->xattr_len + KV_PAGE_SIZE - 1) & ~(uint64_t)(KV_PAGE_SIZE - 1);
	if (c->xattr_off && c->xattr_len <= KV_XATTR_MAX_BLOB &&
	    kv_check_extent(&p->geo, c->xattr_off, xlen))
		kv_coh_invalidate(p->base + c->xattr_off, c->xattr_len);
}

/*
 * What an open finds wrong with record @ino on its own (@c, a copy): as
 * kv_check_records(), orphans and reservations are not checked beyond their
 * state. Return: NULL or why it is bad.
 */
static const char *record_why(struct kv_pool *p, uint64_t ino, const struct kv_inode *c)
{
	if (ino != KV_ROOT_INO && (c->state == KV_INODE_ORPHAN || c->state == KV_INODE_RESERVED))
		return NULL;
	return kv_check_record(&p->geo, ino, c, p->base);
}

/*
 * Bring the view's state of @ino to what an open would make of its record
 * now. *@had: the view knew it before (the kernel may cache it).
 * Return: 0 done; 1 it does not fit the view yet (try again after the other
 * entries); -EUCLEAN the root record is bad.
 */
static int follow_one(struct kv_pool *p, uint64_t ino, bool *had)
{
	uint8_t have = p->seen[ino], want = KV_SEEN_NONE;
	uint64_t old_sig = p->hot[ino].sig, old_parent = p->dparent[ino], h = 0;
	struct kv_inode c;
	const char *why;

	*had = have != KV_SEEN_NONE;
	copy_record(p, ino, &c);
	why = record_why(p, ino, &c);
	if (why) { /* bad, or caught while the leader writes it: then its next entry */
		struct kv_inode again;

		copy_record(p, ino, &again);
		if (memcmp(&c, &again, sizeof(c)))
			return 0;
	}
	if (ino == KV_ROOT_INO) {
		if (why)
			return -EUCLEAN;
		kv_snap_commit(p, ino);
		return 0;
	}
	if (!why && c.state == KV_INODE_LIVE)
		want = seen_type(c.mode);
	if (want)
		h = kv_index_name_hash(p, (const char *)c.name, c.name_len, c.parent);
	if (!(have && want == have && old_parent == c.parent && p->hkey[ino] == h)) {
		if (want && !may_link(p, ino, &c))
			return 1;
		if (have == KV_SEEN_DIR && want != KV_SEEN_DIR && p->nchild[ino])
			return 1; /* its children's entries first */
		if (have)
			unlink_seen(p, ino, have, want == KV_SEEN_DIR);
		if (want)
			link_seen(p, ino, &c, want);
	}
	/* its data counts in the view's use while it is in the view */
	p->follow_used +=
	    ((int64_t)(want ? record_pages(&c) : 0) - p->seen_pages[ino]) * KV_PAGE_SIZE;
	p->seen_pages[ino] = want ? record_pages(&c) : 0;
	p->follow_free += (int64_t)(c.state == KV_INODE_FREE) - p->seen_free[ino];
	p->seen_free[ino] = c.state == KV_INODE_FREE;
	/* checked again now, as an open checks it: a bad record is left out and quarantined */
	p->hot[ino].bad = 0;
	if (why)
		kv_quarantine(p, ino, why);
	kv_snap_commit(p, ino);
	if (want == KV_SEEN_DIR &&
	    (p->hot[ino].sig != old_sig || (have && old_parent != c.parent && p->nanchors > 1)) &&
	    (c.xattr_off || p->anchor_idx[ino] || p->nanchors > 1))
		kv_policy_refresh_dir(p, ino); /* its policy xattrs, or its place, changed */
	return 0;
}

/* --- the log --- */

struct later {
	uint64_t *ino;
	size_t n, cap;
};

static int later_add(struct later *l, uint64_t ino)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		uint64_t *x = realloc(l->ino, cap * sizeof(*x));

		if (!x)
			return -ENOMEM;
		l->ino = x;
		l->cap = cap;
	}
	l->ino[l->n++] = ino;
	return 0;
}

/* Apply one batch of log entries. Return: records applied, or -errno. */
static int follow_batch(struct kv_pool *p, const uint64_t *ino, const uint64_t *gen, int n,
			struct later *l, kv_follow_fn fn, void *arg)
{
	int i, rc, done = 0;
	bool had;

	for (i = 0; i < n; i++) {
		if (!kv_ino_valid(p, ino[i]))
			continue; /* the log is shared memory too */
		rc = follow_one(p, ino[i], &had);
		if (rc < 0)
			return rc;
		if (rc > 0 && later_add(l, ino[i]))
			return -ENOMEM;
		if (had && fn) /* the kernel may hold its pages or its listing */
			fn(arg, ino[i], gen[i]);
		done += rc == 0;
	}
	return done;
}

/* Entries that did not fit, again until none does any more. Return: 0, -ESTALE, -EUCLEAN. */
static int follow_later(struct kv_pool *p, struct later *l)
{
	size_t i, j, before;
	bool had;
	int rc;

	do {
		before = l->n;
		for (i = j = 0; i < l->n; i++) {
			rc = follow_one(p, l->ino[i], &had);
			if (rc < 0)
				return rc;
			if (rc > 0)
				l->ino[j++] = l->ino[i];
		}
		l->n = j;
	} while (l->n && l->n < before);
	return l->n ? -ESTALE : 0;
}

int kv_pool_follow(struct kv_pool *p, kv_follow_fn fn, void *arg)
{
	uint64_t ino[FOLLOW_BATCH], gen[FOLLOW_BATCH], pos;
	struct later l = { 0 };
	int n, rc = 0, done = 0;

	if (!p->seen)
		return -EINVAL;
	if (p->follow_err) /* entries were skipped or not applied: they are not read again */
		return p->follow_err;
	if (leader_changed(p))
		return p->follow_err = -ESTALE;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		pos = p->follow_pos;
		n = kv_pool_log_read(p, &p->follow_pos, ino, gen, FOLLOW_BATCH);
		if (n > 0 && p->follow_pos - (uint64_t)n != pos) {
			rc = -ESTALE; /* it skipped entries the leader wrote over */
			break;
		}
		if (n <= 0)
			break;
		rc = follow_batch(p, ino, gen, n, &l, fn, arg);
		if (rc < 0)
			break;
		done += rc;
		rc = 0;
	}
	if (!rc && l.n)
		rc = follow_later(p, &l);
	pthread_mutex_unlock(&p->lock);
	free(l.ino);
	if (!rc && leader_changed(p))
		rc = -ESTALE; /* a new leader replayed or repaired meanwhile: not logged */
	if (rc) {
		p->follow_err = rc;
		kv_log(KV_LOG_DEBUG, "pool %s: the view cannot follow the change log (%s)",
		       p->be.path, rc == -ESTALE ? "entries lost or a new leader" : "bad root");
	}
	return rc ? rc : done;
}

bool kv_pool_follow_behind(struct kv_pool *p)
{
	uint64_t head;

	if (!p->seen)
		return false;
	kv_pool_log_read(p, &head, NULL, NULL, 0);
	return head != p->follow_pos || p->follow_err;
}
