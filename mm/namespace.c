// SPDX-License-Identifier: MIT
/*
 * namespace.c - names: lookup, create (files, directories, links), unlink,
 * rmdir, rename. Built on the index (index.c: the name hash and child
 * lists), the ghosts of reclaimed directories (ghost.c), the holds
 * (holds.c: a record's unlink, the kernel's lookups) and eviction
 * (evict.c: a record or an extent when the pool is full). Every function
 * here that changes more than one field does so in one journal transaction.
 * Attributes and directory listings are attr.c's.
 */
#include "evict.h"
#include "ghost.h"
#include "holds.h"
#include "index.h"
#include "journal.h"
#include "log.h"
#include "lru.h"
#include "policy.h"
#include "pool_int.h"
#include "snap.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <linux/fs.h>

static uint64_t page_up(uint64_t x)
{
	return (x + KV_PAGE_SIZE - 1) & ~(uint64_t)(KV_PAGE_SIZE - 1);
}

/* --- lookups and creation --- */

/* Give a record that is not yet visible one extent holding @buf (a link's target). Return: 0, -ENOSPC. */
static int fill_new_locked(struct kv_pool *p, struct kv_inode *in, const void *buf, size_t len)
{
	struct kv_extent e;
	int rc = kv_evict_alloc(p, page_up(len), &e);

	if (rc)
		return rc;
	memcpy(p->base + e.off, buf, len);
	in->ext[0] = e;
	in->extent_count = 1;
	in->size = len;
	return 0; /* the caller records the extents (kv_snap_commit) once the record is filled */
}

static int create_node(struct kv_pool *p, uint64_t parent, const char *name, size_t len,
		       uint32_t mode, uint32_t uid, uint32_t gid, const void *data, size_t dlen,
		       struct kv_attr *out);

int kv_lookup(struct kv_pool *p, uint64_t parent, const char *name, size_t len, struct kv_attr *out)
{
	struct kv_ghost ghost;
	uint64_t ino, h;
	int rc = kv_index_check_name(name, len);

	if (rc)
		return rc;
	h = kv_index_name_hash(p, name, len, parent);
	kv_index_prefetch(p, h); /* its slot's miss overlaps taking the lock */
	pthread_mutex_lock(&p->lock);
	/* a lookup in a directory eviction reclaimed: the kernel still names it */
	if (!kv_index_is_live_dir(p, parent) && !kv_dir_revive_locked(p, parent)) {
		rc = kv_ino_valid(p, parent) && kv_inode(p, parent)->state == KV_INODE_LIVE
			 ? -ENOTDIR
			 : -ENOENT;
		goto out;
	}
	ino = kv_index_find_hashed(p, h, parent, name, len);
	if (!ino && kv_ghost_find(p, parent, name, len, &ghost)) {
		if (kv_ghost_revive_locked(p, &ghost)) {
			ino = ghost.ino;
		} else {
			pthread_mutex_unlock(&p->lock);
			rc = create_node(p, parent, name, len, ghost.mode, ghost.uid, ghost.gid,
					 &ghost, 0, out);
			/* create_node counted the kernel lookup */
			return rc == -EEXIST ? kv_lookup(p, parent, name, len, out) : rc;
		}
	}
	if (!ino) {
		kv_count_locked(&p->misses, 1);
		rc = -ENOENT;
		goto out;
	}
	kv_count_locked(&p->hits, 1);
	if (!kv_is_dir(kv_inode(p, ino))) {
		kv_lru_touch(p, ino);
		kv_policy_hit(p, ino);
	}
	kv_index_fill_attr(p, ino, out);
	/* in the same critical section: nothing can free it in between */
	kv_holds_ref_locked(p, ino);
	if (kv_is_dir(kv_inode(p, ino)))
		kv_dir_touch(p, ino);
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* Make a filled record live: its state store publishes it, then the indexes take it. */
static void publish_node(struct kv_pool *p, uint64_t ino, uint64_t parent, uint32_t mode,
			 int64_t now)
{
	struct kv_inode *in = kv_inode(p, ino), *dir = kv_inode(p, parent);

	kv_snap_commit(p, ino);
	kv_fault(p, KV_FP_CREATE_FILLED);
	atomic_store_explicit((_Atomic uint32_t *)&in->state, KV_INODE_LIVE, memory_order_release);
	kv_pool_log_change(p, ino); /* published: a follower's view links it (follow.c) */
	kv_index_hash_insert(p, ino);
	kv_index_child_add(p, parent, ino);
	if (S_ISDIR(mode)) {
		p->dirs++;
		kv_index_edir_add(p, ino);
	} else {
		p->files++;
		kv_policy_attach(p, ino);
		/* links are cache entries too: never evicted, they would take every record */
		if (S_ISREG(mode) || S_ISLNK(mode))
			kv_lru_append(p, ino);
	}
	dir->mtime_ns = dir->ctime_ns = now;
	kv_holds_ref_locked(p, ino);
	kv_dir_touch(p, parent);
	if (S_ISDIR(mode))
		kv_dir_touch(p, ino);
}

/*
 * The one constructor of names: a file, directory or symbolic link (whose
 * @data, the target, is stored as its one extent before it becomes visible).
 */
static int create_node(struct kv_pool *p, uint64_t parent, const char *name, size_t len,
		       uint32_t mode, uint32_t uid, uint32_t gid, const void *data, size_t dlen,
		       struct kv_attr *out)
{
	struct kv_inode *in, *dir;
	int64_t now = kv_now_ns();
	uint64_t ino;
	int rc = kv_index_check_name(name, len);

	if (rc)
		return rc;
	if (!S_ISREG(mode) && !S_ISDIR(mode) && !S_ISLNK(mode))
		return -EPERM;
	if (p->readonly)
		return -EROFS;
	/* the name's slot: a miss at a million files, overlapping taking the lock */
	kv_index_prefetch(p, kv_index_name_hash(p, name, len, parent));
	pthread_mutex_lock(&p->lock);
	if (!kv_index_is_live_dir(p, parent) && !kv_dir_revive_locked(p, parent)) {
		rc = -ENOENT;
		goto out;
	}
	ino = kv_index_hash_find(p, parent, name, len);
	if (ino) {
		/* makedirs(exist_ok) stats what it found next: not reclaimed meanwhile */
		kv_dir_touch(p, parent);
		if (kv_is_dir(kv_inode(p, ino)))
			kv_dir_touch(p, ino);
		rc = -EEXIST;
		goto out;
	}
	if (p->ghosts) {
		struct kv_ghost g;

		/* the name is being made again: the ghost is spent, or is the directory */
		if (kv_ghost_find(p, parent, name, len, &g) && S_ISDIR(mode) && !data &&
		    kv_ghost_revive_locked(p, &g)) {
			rc = -EEXIST;
			goto out;
		}
	}
	p->creating_in = parent; /* what take_inode evicts must not take @parent with it */
	dir = kv_inode(p, parent);
	/* POSIX/BSD set-group-ID directories: new entries take the directory's group */
	if (dir->mode & S_ISGID) {
		gid = dir->gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
	ino = kv_evict_new_inode(p, parent, name, len, mode, uid, gid, now);
	if (!ino) {
		kv_log(KV_LOG_WARNING,
		       "pool %s: all %llu inodes are in use and held; reformat with "
		       "a larger -i to hold more files",
		       p->be.path, (unsigned long long)(p->ninodes - 1));
		rc = -ENOSPC;
		goto out;
	}
	in = kv_inode(p, ino);
	if (S_ISDIR(mode) && data) /* made anew from a ghost */
		kv_alias_add(p, ino, data);
	if (dlen) {
		rc = fill_new_locked(p, in, data, dlen);
		if (rc) {
			kv_holds_put_free(p, ino);
			goto out;
		}
	}
	p->creating_in = 0;
	publish_node(p, ino, parent, mode, now);
	kv_index_fill_attr(p, ino, out);
out:
	p->creating_in = 0;
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int kv_create(struct kv_pool *p, uint64_t parent, const char *name, size_t len, uint32_t mode,
	      uint32_t uid, uint32_t gid, struct kv_attr *out)
{
	if (S_ISLNK(mode))
		return -EPERM; /* a link needs its target: kv_symlink() */
	return create_node(p, parent, name, len, mode, uid, gid, NULL, 0, out);
}

int kv_symlink(struct kv_pool *p, uint64_t parent, const char *name, size_t len, const char *target,
	       uint32_t uid, uint32_t gid, struct kv_attr *out)
{
	size_t tlen = strnlen(target, KV_SYMLINK_MAX + 1);

	if (tlen == 0)
		return -ENOENT;
	if (tlen > KV_SYMLINK_MAX)
		return -ENAMETOOLONG;
	return create_node(p, parent, name, len, S_IFLNK | 0777, uid, gid, target, tlen, out);
}

static int remove_name(struct kv_pool *p, uint64_t parent, const char *name, size_t len,
		       bool want_dir)
{
	uint64_t ino;
	struct kv_inode *in;
	int rc = kv_index_check_name(name, len);

	if (rc)
		return rc;
	if (p->readonly)
		return -EROFS;
	pthread_mutex_lock(&p->lock);
	if (!kv_index_is_live_dir(p, parent)) {
		rc = -ENOENT;
		goto out;
	}
	ino = kv_index_hash_find(p, parent, name, len);
	if (!ino) {
		rc = -ENOENT;
		goto out;
	}
	in = kv_inode(p, ino);
	if (want_dir && !kv_is_dir(in)) {
		rc = -ENOTDIR;
		goto out;
	}
	if (!want_dir && kv_is_dir(in)) {
		rc = -EISDIR;
		goto out;
	}
	if (want_dir && p->nchild[ino]) {
		rc = -ENOTEMPTY;
		goto out;
	}
	rc = kv_holds_unlink(p, ino, false);
	if (rc)
		goto out;
	kv_inode(p, parent)->mtime_ns = kv_inode(p, parent)->ctime_ns = kv_now_ns();
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int kv_unlink(struct kv_pool *p, uint64_t parent, const char *name, size_t len)
{
	return remove_name(p, parent, name, len, false);
}

int kv_rmdir(struct kv_pool *p, uint64_t parent, const char *name, size_t len)
{
	return remove_name(p, parent, name, len, true);
}

/* Is @ino @dir or one of its ancestors? (moving a directory below itself) */
static bool is_ancestor(struct kv_pool *p, uint64_t ino, uint64_t dir)
{
	for (;;) {
		if (dir == ino)
			return true;
		if (dir == KV_ROOT_INO || !kv_ino_valid(p, dir))
			return false;
		dir = p->dparent[dir]; /* linked parents: the pool's may be scribbled */
	}
}

/* Stage the parent and name of @ino in the open transaction. Return: 0, -E2BIG. */
static int stage_name(struct kv_pool *p, uint64_t ino, uint64_t parent, const char *name,
		      size_t len)
{
	struct kv_inode *in = kv_inode(p, ino);

	if (KV_JTX_FIELD(p, &in->parent, parent) || KV_JTX_FIELD(p, &in->name_len, (uint16_t)len) ||
	    kv_jtx_add(p, in->name, name, (uint32_t)len) ||
	    KV_JTX_FIELD(p, &in->ctime_ns, kv_now_ns()))
		return -E2BIG;
	return 0;
}

/* Put a renamed inode back in the indexes, under the parent it was just given. */
static void relink(struct kv_pool *p, uint64_t ino, uint64_t parent)
{
	kv_index_child_add(p, parent, ino);
	kv_index_hash_insert(p, ino);
}

/*
 * RENAME_EXCHANGE of @src (in @parent, its name @len bytes) and @dst (in
 * @newparent, named @newname): both names in one transaction. Caller holds p->lock.
 * Return: 0, -ENOENT (no @dst), -EINVAL (a directory below itself),
 * -E2BIG (the transaction cannot hold it: nothing changed).
 */
static int rename_exchange(struct kv_pool *p, uint64_t parent, uint64_t src, size_t len,
			   uint64_t newparent, uint64_t dst, const char *newname, size_t newlen)
{
	struct kv_inode *s = kv_inode(p, src), *d;
	char sname[KV_NAME_MAX];

	if (!dst)
		return -ENOENT;
	d = kv_inode(p, dst);
	if ((kv_is_dir(s) && is_ancestor(p, src, newparent)) ||
	    (kv_is_dir(d) && is_ancestor(p, dst, parent)))
		return -EINVAL;
	memcpy(sname, s->name, len);
	kv_jtx_begin(p);
	if (stage_name(p, src, newparent, newname, newlen) ||
	    stage_name(p, dst, parent, sname, len)) {
		kv_jtx_abort(p);
		return -E2BIG;
	}
	kv_index_hash_remove(p, src);
	kv_index_hash_remove(p, dst);
	kv_index_child_remove(p, parent, src);
	kv_index_child_remove(p, newparent, dst);
	kv_jtx_commit(p); /* cannot fail: every add succeeded */
	relink(p, src, newparent);
	relink(p, dst, parent);
	if (parent != newparent) {
		kv_policy_reattach_tree(p, src);
		kv_policy_reattach_tree(p, dst);
	}
	return 0;
}

/* May @s replace @dst (a plain rename)? Return: 0, -ENOTDIR, -EISDIR, -ENOTEMPTY. */
static int rename_victim_ok(struct kv_pool *p, const struct kv_inode *s, uint64_t dst)
{
	const struct kv_inode *d = kv_inode(p, dst);

	if (kv_is_dir(s) && !kv_is_dir(d))
		return -ENOTDIR;
	if (!kv_is_dir(s) && kv_is_dir(d))
		return -EISDIR;
	if (kv_is_dir(d) && p->nchild[dst])
		return -ENOTEMPTY;
	return 0;
}

/*
 * A plain rename of @src (in @parent) to @newname in @newparent, replacing
 * @dst (0: none), whose state changes in the same transaction. Caller holds
 * p->lock and has checked that it may. *@replaced: @dst.
 * Return: 0, -E2BIG (the transaction cannot hold it: nothing changed).
 */
static int rename_move(struct kv_pool *p, uint64_t parent, uint64_t src, uint64_t newparent,
		       const char *newname, size_t newlen, uint64_t dst, uint64_t *replaced)
{
	struct kv_unlink_plan u;
	uint8_t was_kept = 0;

	kv_jtx_begin(p);
	if (stage_name(p, src, newparent, newname, newlen))
		goto fail;
	if (dst) {
		/*
		 * The victim leaves the index; its state changes in the same
		 * transaction. While the kernel still caches it, its bytes stay: an
		 * open that resolved the name just before the rename reads the old
		 * version whole, rather than failing (freed at the kernel's forget).
		 */
		struct kv_inode *d = kv_inode(p, dst);

		was_kept = p->kept[dst];
		p->kept[dst] = !kv_is_dir(d) && (d->extent_count > 0 || d->size == 0);
		if (kv_holds_unlink_stage(p, dst, &u)) {
			p->kept[dst] = was_kept;
			goto fail;
		}
	}
	kv_index_hash_remove(p, src);
	kv_index_child_remove(p, parent, src);
	if (dst)
		kv_holds_unlink_detach(p, &u, false);
	kv_jtx_commit(p); /* cannot fail: every add succeeded */
	if (dst) {
		kv_holds_unlink_finish(p, &u);
		*replaced = dst;
	}
	relink(p, src, newparent);
	if (parent != newparent)
		kv_policy_reattach_tree(p, src);
	return 0;
fail:
	kv_jtx_abort(p);
	return -E2BIG;
}

int kv_rename(struct kv_pool *p, uint64_t parent, const char *name, size_t len, uint64_t newparent,
	      const char *newname, size_t newlen, unsigned flags, uint64_t *replaced)
{
	uint64_t src, dst;
	struct kv_inode *s, *d = NULL;
	int64_t now = kv_now_ns();
	int rc;

	*replaced = 0;
	if ((rc = kv_index_check_name(name, len)) || (rc = kv_index_check_name(newname, newlen)))
		return rc;
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE))
		return -EINVAL;
	if (p->readonly)
		return -EROFS;
	pthread_mutex_lock(&p->lock);
	if (!kv_index_is_live_dir(p, parent) ||
	    (!kv_index_is_live_dir(p, newparent) && !kv_dir_revive_locked(p, newparent))) {
		rc = -ENOENT;
		goto out;
	}
	src = kv_index_hash_find(p, parent, name, len);
	if (!src) {
		rc = -ENOENT;
		goto out;
	}
	s = kv_inode(p, src);
	dst = kv_index_hash_find(p, newparent, newname, newlen);
	if (dst)
		d = kv_inode(p, dst);
	if (dst == src) {
		rc = 0; /* same file: POSIX says do nothing */
		goto out;
	}
	if (flags & RENAME_NOREPLACE && dst) {
		rc = -EEXIST;
		goto out;
	}
	if (flags & RENAME_EXCHANGE) {
		rc = rename_exchange(p, parent, src, len, newparent, dst, newname, newlen);
		if (rc)
			goto out;
		goto out_times;
	}
	if (kv_is_dir(s) && is_ancestor(p, src, newparent)) {
		rc = -EINVAL;
		goto out;
	}
	if (d && (rc = rename_victim_ok(p, s, dst)))
		goto out;
	rc = rename_move(p, parent, src, newparent, newname, newlen, dst, replaced);
	if (rc)
		goto out;
out_times:
	kv_dir_touch(p, parent);
	kv_dir_touch(p, newparent);
	kv_inode(p, parent)->mtime_ns = kv_inode(p, parent)->ctime_ns = now;
	kv_inode(p, newparent)->mtime_ns = kv_inode(p, newparent)->ctime_ns = now;
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}
