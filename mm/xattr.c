// SPDX-License-Identifier: MIT
/*
 * xattr.c - read a record's xattr blob: copy it out of the pool once, check
 * the copy (check.c), find a name in it. The blob's format is layout.h's
 * struct kv_xattr_rec list. Writing xattrs is the data layer's
 * (data_xattr.c); reading them here lets policy.c, below it, read a
 * directory's policy. Caller holds p->lock.
 */
#include "check.h"
#include "pool_int.h"
#include "snap.h"
#include "xattr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t page_up(uint64_t x)
{
	return (x + KV_PAGE_SIZE - 1) & ~(uint64_t)(KV_PAGE_SIZE - 1);
}

uint32_t kv_xattr_rec_bytes(const struct kv_xattr_rec *r)
{
	return (uint32_t)((sizeof(*r) + r->name_len + r->value_len + 7) & ~7u);
}

/* Find @name in a checked blob; return its record or NULL. */
const struct kv_xattr_rec *kv_xattr_find(const uint8_t *blob, uint32_t len, const char *name)
{
	size_t nlen = strlen(name);
	uint32_t pos = 0;

	while (pos + sizeof(struct kv_xattr_rec) <= len) {
		const struct kv_xattr_rec *r = (const void *)(blob + pos);

		if (r->name_len == nlen && memcmp(r + 1, name, nlen) == 0)
			return r;
		pos += kv_xattr_rec_bytes(r);
	}
	return NULL;
}

/*
 * Copy a file's xattr blob out of the pool (a client may change it at any
 * moment) and check the copy; everything after reads the copy. *blob is
 * malloc'ed, NULL when the file has none; *ext is its extent. Caller holds
 * p->lock. Return: 0, -EIO (the file is quarantined) or -ENOMEM.
 */
int kv_xattr_load(struct kv_pool *p, uint64_t ino, uint8_t **blob, uint32_t *len,
		  struct kv_extent *ext)
{
	struct kv_snap snap;
	const char *why;
	int rc = kv_snap_take(p, ino, &snap);

	*blob = NULL;
	*len = 0;
	if (rc)
		return rc;
	*ext = (struct kv_extent){ snap.xattr_off, page_up(snap.xattr_len) };
	if (!snap.xattr_off)
		return 0;
	*blob = malloc(snap.xattr_len);
	if (!*blob)
		return -ENOMEM;
	memcpy(*blob, p->base + snap.xattr_off, snap.xattr_len);
	why = kv_check_xattrs(*blob, snap.xattr_len);
	if (why) {
		if (kv_snap_damaged(p, ino))
			kv_quarantine(p, ino, why);
		free(*blob);
		*blob = NULL;
		return -EIO;
	}
	*len = snap.xattr_len;
	return 0;
}

ssize_t kv_xattr_get_locked(struct kv_pool *p, uint64_t ino, const char *name, void *value,
			    size_t size)
{
	const struct kv_xattr_rec *r;
	struct kv_extent ext;
	uint8_t *blob = NULL;
	uint32_t len;
	ssize_t rc = kv_xattr_load(p, ino, &blob, &len, &ext);

	if (rc)
		return rc;
	r = blob ? kv_xattr_find(blob, len, name) : NULL;
	if (!r)
		rc = -ENODATA;
	else if (size < r->value_len)
		rc = -ERANGE;
	else {
		memcpy(value, (const uint8_t *)(r + 1) + r->name_len, r->value_len);
		rc = r->value_len;
	}
	free(blob);
	return rc;
}
