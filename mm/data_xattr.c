// SPDX-License-Identifier: MIT
/*
 * data_xattr.c - user xattrs of files and directories (part of the data
 * layer, beside data.c): set, get, list, remove. A record's xattrs are one
 * blob in one extent of their own; a change writes a new blob, publishes it
 * in one journal transaction and frees the old one. A policy xattr
 * (user.kvfs.*) on a directory refreshes its anchor (policy.c).
 */
#include "data.h"
#include "evict.h"
#include "journal.h"
#include "policy.h"
#include "pool_int.h"
#include "snap.h"
#include "xattr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

/*
 * The blob @old (@len bytes, checked) with @found left out and, if @value,
 * @name = @value added. Return: a malloc'ed blob of *newlen bytes, or NULL.
 */
static uint8_t *build_blob(const uint8_t *old, uint32_t len, const struct kv_xattr_rec *found,
			   const char *name, const void *value, size_t size, uint32_t *newlen)
{
	size_t nlen = strlen(name);
	struct kv_xattr_rec *r;
	uint32_t pos = 0;
	uint8_t *blob = malloc(len + sizeof(*r) + nlen + size + 8);

	*newlen = 0;
	if (!blob)
		return NULL;
	while (old && pos + sizeof(*r) <= len) {
		const struct kv_xattr_rec *o = (const void *)(old + pos);

		if (o != found) {
			memcpy(blob + *newlen, o, kv_xattr_rec_bytes(o));
			*newlen += kv_xattr_rec_bytes(o);
		}
		pos += kv_xattr_rec_bytes(o);
	}
	if (value) {
		r = (struct kv_xattr_rec *)(blob + *newlen);
		r->name_len = (uint16_t)nlen;
		r->pad = 0;
		r->value_len = (uint32_t)size;
		memcpy(r + 1, name, nlen);
		memcpy((uint8_t *)(r + 1) + nlen, value, size);
		memset((uint8_t *)(r + 1) + nlen + size, 0,
		       kv_xattr_rec_bytes(r) - sizeof(*r) - nlen - size);
		*newlen += kv_xattr_rec_bytes(r);
	}
	return blob;
}

/*
 * Give @ino the @newlen bytes of @blob (none: no xattrs) in a new extent,
 * in one transaction, and free its old one (*@oldext). Caller holds p->lock.
 * Return: 0, -ENOSPC, -E2BIG (nothing changed).
 */
static int store_blob(struct kv_pool *p, uint64_t ino, const uint8_t *blob, uint32_t newlen,
		      const struct kv_extent *oldext)
{
	struct kv_inode *in = kv_inode(p, ino);
	struct kv_extent e = { 0, 0 };
	int rc;

	if (newlen) {
		rc = kv_evict_alloc(p, newlen, &e);
		if (rc)
			return rc;
		memcpy(p->base + e.off, blob, newlen);
	}
	kv_jtx_begin(p);
	KV_JTX_FIELD(p, &in->xattr_off, e.off);
	KV_JTX_FIELD(p, &in->xattr_len, newlen);
	KV_JTX_FIELD(p, &in->ctime_ns, kv_now_ns());
	rc = kv_jtx_commit(p);
	if (rc) { /* nothing applied: the old blob stays */
		if (newlen)
			kv_alloc_free(&p->alloc, &e);
		return rc;
	}
	kv_snap_commit(p, ino);
	if (oldext->off)
		kv_alloc_free(&p->alloc, oldext);
	return 0;
}

int kv_setxattr(struct kv_pool *p, uint64_t ino, const char *name, const void *value, size_t size,
		int flags)
{
	struct kv_inode *in;
	uint8_t *old = NULL;
	const struct kv_xattr_rec *found;
	struct kv_extent oldext;
	uint8_t *blob = NULL;
	size_t nlen = strlen(name);
	uint32_t len, newlen = 0;
	int rc = 0;

	if (p->readonly)
		return -EROFS;
	if (!nlen || nlen > KV_NAME_MAX)
		return -ERANGE;
	if (size > KV_XATTR_MAX_BLOB)
		return -E2BIG;
	if (!kv_ino_valid(p, ino))
		return -ENOENT;
	if (value && kv_policy_check_value(name, value, size))
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	in = kv_inode(p, ino);
	if (in->state == KV_INODE_FREE) {
		rc = -ENOENT;
		goto out;
	}
	if (kv_policy_is_name(name) && !kv_is_dir(in)) {
		rc = -EINVAL; /* a policy belongs to a directory */
		goto out;
	}
	p->creating_in = ino; /* an eviction for the blob must not reclaim this directory */
	rc = kv_xattr_load(p, ino, &old, &len, &oldext);
	if (rc)
		goto out;
	found = old ? kv_xattr_find(old, len, name) : NULL;
	if ((flags & XATTR_CREATE) && found) {
		rc = -EEXIST;
		goto out;
	}
	if ((flags & XATTR_REPLACE) && !found) {
		rc = -ENODATA;
		goto out;
	}
	blob = build_blob(old, len, found, name, value, size, &newlen);
	if (!blob) {
		rc = -ENOMEM;
		goto out;
	}
	if (newlen > KV_XATTR_MAX_BLOB) {
		rc = -ENOSPC;
		goto out;
	}
	rc = store_blob(p, ino, blob, newlen, &oldext);
	if (!rc && kv_policy_is_name(name))
		kv_policy_refresh_dir(p, ino);
out:
	p->creating_in = 0;
	pthread_mutex_unlock(&p->lock);
	free(old);
	free(blob);
	return rc;
}

/* A record's xattr blob, with p->lock held.
 * Return: 0 (*@blob NULL: none), -ENOENT, -EIO, -ENOMEM. */
static int load_locked(struct kv_pool *p, uint64_t ino, uint8_t **blob, uint32_t *len,
		       struct kv_extent *ext)
{
	if (kv_inode(p, ino)->state == KV_INODE_FREE)
		return -ENOENT;
	return kv_xattr_load(p, ino, blob, len, ext);
}

ssize_t kv_getxattr(struct kv_pool *p, uint64_t ino, const char *name, void *value, size_t size)
{
	const struct kv_xattr_rec *r = NULL;
	struct kv_extent ext;
	uint8_t *blob = NULL;
	uint32_t len;
	ssize_t rc;

	if (!kv_ino_valid(p, ino))
		return -ENOENT;
	pthread_mutex_lock(&p->lock);
	rc = load_locked(p, ino, &blob, &len, &ext);
	if (rc)
		goto out;
	r = blob ? kv_xattr_find(blob, len, name) : NULL;
	if (!r)
		rc = -ENODATA;
	else if (size && size < r->value_len)
		rc = -ERANGE;
	else {
		if (size)
			memcpy(value, (const uint8_t *)(r + 1) + r->name_len, r->value_len);
		rc = r->value_len;
	}
out:
	pthread_mutex_unlock(&p->lock);
	free(blob);
	return rc;
}

ssize_t kv_listxattr(struct kv_pool *p, uint64_t ino, char *list, size_t size)
{
	struct kv_extent ext;
	uint8_t *blob = NULL;
	uint32_t pos = 0, len;
	size_t need = 0;
	ssize_t rc;

	if (!kv_ino_valid(p, ino))
		return -ENOENT;
	pthread_mutex_lock(&p->lock);
	rc = load_locked(p, ino, &blob, &len, &ext);
	if (rc)
		goto out;
	while (blob && pos + sizeof(struct kv_xattr_rec) <= len) {
		const struct kv_xattr_rec *r = (const void *)(blob + pos);

		if (size && need + r->name_len + 1 <= size) {
			memcpy(list + need, r + 1, r->name_len);
			list[need + r->name_len] = 0;
		}
		need += r->name_len + 1u;
		pos += kv_xattr_rec_bytes(r);
	}
	rc = (size && need > size) ? -ERANGE : (ssize_t)need;
out:
	pthread_mutex_unlock(&p->lock);
	free(blob);
	return rc;
}

int kv_removexattr(struct kv_pool *p, uint64_t ino, const char *name)
{
	return kv_setxattr(p, ino, name, NULL, 0, XATTR_REPLACE);
}
