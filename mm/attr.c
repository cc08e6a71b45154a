// SPDX-License-Identifier: MIT
/*
 * attr.c - what a file or directory looks like from outside: attributes
 * (getattr, setattr), names as linked, paths, and directory snapshots for
 * readdir. Reads of the pool's records are checked copies; it changes no
 * index (index.c owns the names, holds.c the references). Above the data
 * layer: a size change is kv_truncate().
 */
#include "check.h"
#include "holds.h"
#include "index.h"
#include "pool_int.h"
#include "snap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * Copy a live record's name into @buf (NUL-terminated) once, and check the
 * copy: a name a client changed in the pool quarantines the file. Caller
 * holds p->lock. Return: its length, -ERANGE or -EIO.
 */
static int copy_name(struct kv_pool *p, uint64_t ino, char *buf, size_t size)
{
	size_t len = __atomic_load_n(&kv_inode(p, ino)->name_len, __ATOMIC_RELAXED);
	uint8_t name[KV_NAME_MAX];

	if (len <= KV_NAME_MAX)
		memcpy(name, kv_inode(p, ino)->name, len);
	if (len > KV_NAME_MAX || !kv_check_name(name, len)) {
		if (kv_snap_damaged(p, ino))
			kv_quarantine(p, ino, "has an invalid name");
		return -EIO;
	}
	if (len >= size)
		return -ERANGE;
	memcpy(buf, name, len);
	buf[len] = 0;
	return (int)len;
}

int kv_name(struct kv_pool *p, uint64_t ino, char *buf, size_t size, uint64_t *parent)
{
	int rc;

	if (!kv_ino_valid(p, ino))
		return -ENOENT;
	pthread_mutex_lock(&p->lock);
	if (kv_inode(p, ino)->state != KV_INODE_LIVE) {
		rc = -ENOENT;
	} else {
		rc = copy_name(p, ino, buf, size);
		*parent = p->dparent[ino]; /* as linked: the pool's may have changed */
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int kv_dir_path(struct kv_pool *p, uint64_t ino, char *buf, size_t size)
{
	uint64_t chain[256];
	size_t len = 0;
	int n = 0, rc = 0;

	if (!size)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&p->lock);
	if (!kv_index_is_live_dir(p, ino)) {
		rc = -ENOENT;
		goto out;
	}
	for (; ino != KV_ROOT_INO; ino = kv_inode(p, ino)->parent) {
		if (n == 256 || !kv_index_is_live_dir(p, ino)) {
			rc = -ENAMETOOLONG;
			goto out;
		}
		chain[n++] = ino;
	}
	buf[0] = 0;
	if (!n) {
		if (size < 2) {
			rc = -ENAMETOOLONG;
			goto out;
		}
		buf[len++] = '/';
	}
	while (n--) {
		const struct kv_inode *in = kv_inode(p, chain[n]);

		if (len + 1 + in->name_len + 1 > size) {
			rc = -ENAMETOOLONG;
			goto out;
		}
		buf[len++] = '/';
		memcpy(buf + len, in->name, in->name_len);
		len += in->name_len;
	}
	buf[len] = 0;
	rc = (int)len;
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* --- attributes --- */

int kv_getattr(struct kv_pool *p, uint64_t ino, struct kv_attr *out)
{
	int rc = 0;

	if (!kv_ino_valid(p, ino))
		return -ENOENT;
	pthread_mutex_lock(&p->lock);
	if (kv_inode(p, ino)->state == KV_INODE_FREE)
		rc = -ENOENT;
	else
		kv_index_fill_attr(p, ino, out);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int kv_setattr(struct kv_pool *p, uint64_t ino, unsigned mask, const struct kv_attr *in,
	       struct kv_attr *out)
{
	struct kv_inode *r;
	int rc = 0;

	if (!kv_ino_valid(p, ino))
		return -ENOENT;
	if (p->readonly)
		return -EROFS;
	if (mask & KV_SET_SIZE) {
		rc = kv_truncate(p, ino, in->size);
		if (rc)
			return rc;
	}
	pthread_mutex_lock(&p->lock);
	r = kv_inode(p, ino);
	if (r->state == KV_INODE_FREE) {
		rc = -ENOENT;
		goto out;
	}
	/* Single aligned stores: each field is published whole, no journal needed. */
	if (mask & KV_SET_MODE)
		r->mode = (r->mode & S_IFMT) | (in->mode & 07777);
	if (mask & KV_SET_UID)
		r->uid = in->uid;
	if (mask & KV_SET_GID)
		r->gid = in->gid;
	if (mask & KV_SET_ATIME)
		r->atime_ns = in->atime_ns;
	if (mask & KV_SET_MTIME)
		r->mtime_ns = in->mtime_ns;
	r->ctime_ns = (mask & KV_SET_CTIME) ? in->ctime_ns : kv_now_ns();
	kv_index_fill_attr(p, ino, out);
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* --- directories --- */

int kv_dir_snapshot(struct kv_pool *p, uint64_t dir, struct kv_dirent **out, uint64_t *count)
{
	struct kv_dirent *ents;
	uint64_t n = 0;
	uint32_t c;
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	if (!kv_index_is_live_dir(p, dir)) {
		rc = kv_ino_valid(p, dir) && kv_inode(p, dir)->state != KV_INODE_FREE ? -ENOTDIR
										      : -ENOENT;
		goto out;
	}
	ents = malloc(sizeof(*ents) * (p->nchild[dir] + 1));
	if (!ents) {
		rc = -ENOMEM;
		goto out;
	}
	for (c = p->child_first[dir]; c; c = p->sib_next[c]) {
		ents[n].ino = c;
		ents[n].gen = kv_inode(p, c)->gen;
		n++;
	}
	*out = ents;
	*count = n;
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static int dirent_name(struct kv_pool *p, const struct kv_dirent *d, char *buf, size_t size,
		       struct kv_attr *attr, bool ref)
{
	struct kv_inode *in;
	int rc;

	if (!kv_ino_valid(p, d->ino))
		return -ENOENT;
	pthread_mutex_lock(&p->lock);
	in = kv_inode(p, d->ino);
	if (in->state != KV_INODE_LIVE || in->gen != d->gen) {
		rc = -ENOENT;
	} else {
		rc = copy_name(p, d->ino, buf, size);
		if (rc >= 0 && attr)
			kv_index_fill_attr(p, d->ino, attr);
		if (rc >= 0 && ref)
			kv_holds_ref_locked(p, d->ino);
		if (rc >= 0 && ref && kv_is_dir(in))
			kv_dir_touch(p, d->ino);
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int kv_dirent_name(struct kv_pool *p, const struct kv_dirent *d, char *buf, size_t size,
		   struct kv_attr *attr)
{
	return dirent_name(p, d, buf, size, attr, false);
}

int kv_dirent_name_ref(struct kv_pool *p, const struct kv_dirent *d, char *buf, size_t size,
		       struct kv_attr *attr)
{
	return dirent_name(p, d, buf, size, attr, true);
}
