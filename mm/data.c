// SPDX-License-Identifier: MIT
/*
 * data.c - a file's bytes: read, write, truncate, fallocate, extents, xattrs.
 *
 * A file's data is a short list of extents (at most KV_INLINE_EXTENTS). A
 * size known up front (truncate, fallocate) gets exactly one extent; a file
 * that grows by writes gets room ahead (doubling, up to 64 MiB at a time),
 * extended in place when the next pages are free and trimmed back to its
 * size when the last holder lets go. When the inline list is full the file
 * moves to one new extent.
 *
 * Invisible bytes: a file never shows bytes that were not written to it.
 * Anything that exposes unwritten space (truncate up, a write past EOF,
 * fallocate) zeroes it before the size store that makes it visible.
 *
 * Locking: a file's stripe lock (read for reads, write for anything that
 * changes size or extents), then p->lock for allocation and the journal.
 */
#include "pool_int.h"
#include "log.h"

#include <errno.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/xattr.h>

#define GROW_MIN      (1u << 20)
#define GROW_MAX_STEP (64ull << 20)

static uint64_t page_up(uint64_t x)
{
	return (x + KV_PAGE_SIZE - 1) & ~(uint64_t)(KV_PAGE_SIZE - 1);
}

static uint64_t load_size(const struct kv_inode *in)
{
	return atomic_load_explicit((_Atomic uint64_t *)&in->size, memory_order_acquire);
}

static void publish_size(struct kv_inode *in, uint64_t size)
{
	atomic_store_explicit((_Atomic uint64_t *)&in->size, size, memory_order_release);
}

/* Copy between a file range and memory (to_file: buf -> pool). Range must be allocated. */
static void copy_range(struct kv_pool *p, const struct kv_inode *in, uint64_t off, void *buf,
		       uint64_t len, bool to_file)
{
	uint8_t *b = buf;
	int i;

	for (i = 0; i < in->extent_count && len; i++) {
		const struct kv_extent *e = &in->ext[i];
		uint64_t n;

		if (off >= e->len) {
			off -= e->len;
			continue;
		}
		n = e->len - off < len ? e->len - off : len;
		if (!b)
			memset(p->base + e->off + off, 0, n);
		else if (to_file)
			memcpy(p->base + e->off + off, b, n);
		else
			memcpy(b, p->base + e->off + off, n);
		if (b)
			b += n;
		len -= n;
		off = 0;
	}
}

static bool file_alive(struct kv_pool *p, uint64_t ino)
{
	uint32_t st;

	if (!kv_ino_valid(p, ino))
		return false;
	st = kv_inode(p, ino)->state;
	return (st == KV_INODE_LIVE || st == KV_INODE_ORPHAN || st == KV_INODE_RESERVED) &&
	       (S_ISREG(kv_inode(p, ino)->mode) || S_ISLNK(kv_inode(p, ino)->mode));
}

/* --- allocation (p->lock held) --- */

/* One extent of @bytes, evicting unheld files when the pool is full. */
static int alloc_evicting(struct kv_pool *p, uint64_t bytes, struct kv_extent *e)
{
	int rc;

	while ((rc = kv_alloc_extent(&p->alloc, bytes, e)) == -ENOSPC)
		if (kv_evict_one(p) < 0)
			break;
	return rc;
}

/* Move all data into one new extent of @total bytes (the inline list is full). */
static int migrate(struct kv_pool *p, uint64_t ino, uint64_t total)
{
	struct kv_inode *in = kv_inode(p, ino);
	struct kv_extent old[KV_INLINE_EXTENTS], e;
	uint64_t off = 0;
	int n = in->extent_count, i, rc;

	rc = alloc_evicting(p, total, &e);
	if (rc)
		return rc;
	memcpy(old, in->ext, sizeof(old));
	/* copy what fits: @total may be less than what is allocated (room past the size) */
	for (i = 0; i < n && off < e.len; i++) {
		uint64_t len = old[i].len < e.len - off ? old[i].len : e.len - off;

		memcpy(p->base + e.off + off, p->base + old[i].off, len);
		off += len;
	}
	kv_jtx_begin(p);
	KV_JTX_FIELD(p, &in->ext[0], e);
	KV_JTX_FIELD(p, &in->extent_count, (uint16_t)1);
	kv_jtx_commit(p);
	kv_data_free_extents(p, old, n);
	return 0;
}

int kv_data_fill_new_locked(struct kv_pool *p, struct kv_inode *in, const void *buf, size_t len)
{
	struct kv_extent e;
	int rc = alloc_evicting(p, page_up(len), &e);

	if (rc)
		return rc;
	memcpy(p->base + e.off, buf, len);
	in->ext[0] = e;
	in->extent_count = 1;
	in->size = len;
	return 0;
}

int kv_data_migrate_locked(struct kv_pool *p, uint64_t ino)
{
	uint64_t have = kv_inode_alloc_bytes(kv_inode(p, ino));
	int rc = migrate(p, ino, page_up(load_size(kv_inode(p, ino))));

	kv_policy_charge(p, ino, (int64_t)(kv_inode_alloc_bytes(kv_inode(p, ino)) - have));
	return rc;
}

/* Add @need (or, if it comes easily, @want) bytes to a file's extents. */
static int grow_extents(struct kv_pool *p, uint64_t ino, uint64_t have, uint64_t need,
			uint64_t want)
{
	struct kv_inode *in = kv_inode(p, ino);
	int rc;

	if (in->extent_count) {
		struct kv_extent last = in->ext[in->extent_count - 1];

		if (kv_alloc_extend(&p->alloc, &last, want) == 0 ||
		    (want != need && kv_alloc_extend(&p->alloc, &last, need) == 0)) {
			atomic_store_explicit(
			    (_Atomic uint64_t *)&in->ext[in->extent_count - 1].len, last.len,
			    memory_order_release);
			return 0;
		}
	}
	if (in->extent_count < KV_INLINE_EXTENTS) {
		struct kv_extent e;

		rc = kv_alloc_extent(&p->alloc, want, &e);
		if (rc && want != need)
			rc = alloc_evicting(p, need, &e);
		else if (rc)
			rc = alloc_evicting(p, want, &e);
		if (rc)
			return rc;
		kv_fault(p, KV_FP_EXTENT_ALLOCATED);
		/* Fill the slot, then publish it with the count. */
		in->ext[in->extent_count] = e;
		atomic_store_explicit((_Atomic uint16_t *)&in->extent_count,
				      (uint16_t)(in->extent_count + 1), memory_order_release);
		return 0;
	}
	rc = migrate(p, ino, have + want);
	if (rc && want != need)
		rc = migrate(p, ino, have + need);
	return rc;
}

/* Make [0, end) allocated. @exact: the size is known, take no room ahead. */
static int grow(struct kv_pool *p, uint64_t ino, uint64_t end, bool exact)
{
	struct kv_inode *in = kv_inode(p, ino);
	uint64_t have, need, want, step, room;
	bool was_lru;
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	have = kv_inode_alloc_bytes(in);
	if (end <= have)
		goto out;
	/* Never evict the file being grown, held or not. */
	was_lru = p->in_lru[ino];
	kv_lru_remove(p, ino);
	need = page_up(end) - have;
	step = have < GROW_MAX_STEP ? have : GROW_MAX_STEP;
	want = exact ? need : (need > step ? need : step);
	if (!exact && have + want < GROW_MIN)
		want = GROW_MIN - have;
	/* A directory's quota: make room for what is needed; room ahead only within it. */
	rc = kv_policy_make_room(p, ino, need);
	if (rc)
		goto out_lru;
	room = kv_policy_room(p, ino);
	if (want > room)
		want = need;
	rc = grow_extents(p, ino, have, need, want);
	kv_policy_charge(p, ino, (int64_t)(kv_inode_alloc_bytes(in) - have));
out_lru:
	if (was_lru)
		kv_lru_append(p, ino);
out:
	pthread_mutex_unlock(&p->lock);
	if (rc == -ENOSPC)
		kv_log(KV_LOG_INFO,
		       "pool %s: no room for %llu more bytes of inode %llu (all else held)",
		       p->be.path, (unsigned long long)(end - have), (unsigned long long)ino);
	return rc;
}

void kv_data_free_extents(struct kv_pool *p, struct kv_extent *ext, int n)
{
	int i;

	for (i = 0; i < n; i++)
		kv_alloc_free(&p->alloc, &ext[i]);
}

void kv_data_drop(struct kv_pool *p, uint64_t ino, struct kv_extent *freed, int *nfreed)
{
	struct kv_inode *in = kv_inode(p, ino);
	int i, n = 0;

	for (i = 0; i < in->extent_count && i < KV_INLINE_EXTENTS; i++)
		freed[n++] = in->ext[i];
	if (in->xattr_off)
		freed[n++] = (struct kv_extent){ in->xattr_off, page_up(in->xattr_len) };
	if (in->extent_count)
		KV_JTX_FIELD(p, &in->extent_count, (uint16_t)0);
	if (in->xattr_off) {
		KV_JTX_FIELD(p, &in->xattr_off, (uint64_t)0);
		KV_JTX_FIELD(p, &in->xattr_len, (uint32_t)0);
	}
	*nfreed = n;
}

uint64_t kv_data_trim(struct kv_pool *p, uint64_t ino)
{
	struct kv_inode *in = kv_inode(p, ino);
	uint64_t keep = page_up(load_size(in)), off = 0, trimmed = 0, partial_len = 0;
	struct kv_extent freed[KV_INLINE_EXTENTS];
	int i, nfree = 0, count = in->extent_count, new_count = count, partial = -1;

	for (i = 0; i < count; i++) {
		const struct kv_extent *e = &in->ext[i];

		if (off >= keep) {
			freed[nfree++] = *e;
			if (new_count == count)
				new_count = i;
		} else if (off + e->len > keep) {
			partial = i;
			partial_len = keep - off;
			freed[nfree++] =
			    (struct kv_extent){ e->off + partial_len, e->len - partial_len };
		}
		off += e->len;
	}
	if (!nfree)
		return 0;
	/* Drop whole extents first, then shorten the last kept one: each a single store. */
	if (new_count != count)
		atomic_store_explicit((_Atomic uint16_t *)&in->extent_count, (uint16_t)new_count,
				      memory_order_release);
	if (partial >= 0)
		atomic_store_explicit((_Atomic uint64_t *)&in->ext[partial].len, partial_len,
				      memory_order_release);
	for (i = 0; i < nfree; i++)
		trimmed += freed[i].len;
	kv_data_free_extents(p, freed, nfree);
	kv_policy_charge(p, ino, -(int64_t)trimmed);
	return trimmed;
}

/* --- reads and writes --- */

ssize_t kv_read(struct kv_pool *p, uint64_t ino, void *buf, size_t len, uint64_t off)
{
	struct kv_inode *in;
	uint64_t size;
	ssize_t rc;

	if (!file_alive(p, ino))
		return kv_ino_valid(p, ino) && S_ISDIR(kv_inode(p, ino)->mode) ? -EISDIR : -ENOENT;
	in = kv_inode(p, ino);
	pthread_rwlock_rdlock(kv_stripe(p, ino));
	size = load_size(in);
	if (off >= size) {
		rc = 0;
	} else {
		if (len > size - off)
			len = (size_t)(size - off);
		copy_range(p, in, off, buf, len, false);
		rc = (ssize_t)len;
	}
	pthread_rwlock_unlock(kv_stripe(p, ino));
	return rc;
}

/* Point @iov at [off, off + len) of a file's allocated extents. Return: bytes covered. */
static size_t map_range(struct kv_pool *p, const struct kv_inode *in, uint64_t off, size_t len,
			struct iovec *iov, int max, int *niov)
{
	size_t done = 0;
	int i;

	*niov = 0;
	for (i = 0; i < in->extent_count && done < len && *niov < max; i++) {
		const struct kv_extent *e = &in->ext[i];
		size_t n;

		if (off >= e->len) {
			off -= e->len;
			continue;
		}
		n = e->len - off < len - done ? (size_t)(e->len - off) : len - done;
		iov[*niov].iov_base = p->base + e->off + off;
		iov[*niov].iov_len = n;
		(*niov)++;
		done += n;
		off = 0;
	}
	return done;
}

ssize_t kv_read_iov(struct kv_pool *p, uint64_t ino, uint64_t off, size_t len, struct iovec *iov,
		    int max, int *niov)
{
	struct kv_inode *in;
	uint64_t size;

	*niov = 0;
	if (!file_alive(p, ino))
		return kv_ino_valid(p, ino) && S_ISDIR(kv_inode(p, ino)->mode) ? -EISDIR : -ENOENT;
	in = kv_inode(p, ino);
	pthread_rwlock_rdlock(kv_stripe(p, ino));
	size = load_size(in);
	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	return (ssize_t)map_range(p, in, off, len, iov, max, niov);
}

void kv_read_iov_done(struct kv_pool *p, uint64_t ino)
{
	pthread_rwlock_unlock(kv_stripe(p, ino));
}

int kv_write_begin(struct kv_pool *p, uint64_t ino, uint64_t off, size_t len, struct iovec *iov,
		   int max, int *niov)
{
	struct kv_inode *in;
	uint64_t size, end = off + len;
	int rc;

	*niov = 0;
	if (p->readonly)
		return -EROFS;
	if (!file_alive(p, ino))
		return -ENOENT;
	if (end < off || end > p->sb->geo.data_size)
		return -EFBIG;
	in = kv_inode(p, ino);
	pthread_rwlock_wrlock(kv_stripe(p, ino));
	size = load_size(in);
	rc = len ? grow(p, ino, end, false) : 0;
	if (rc) {
		pthread_rwlock_unlock(kv_stripe(p, ino));
		return rc;
	}
	/* bytes between the old end and this write become visible: zero them */
	if (off > size)
		copy_range(p, in, size, NULL, off - size, true);
	if (len && map_range(p, in, off, len, iov, max, niov) != len) {
		pthread_rwlock_unlock(kv_stripe(p, ino));
		return -EIO; /* more extents than @max: cannot happen with KV_INLINE_EXTENTS + 1 */
	}
	return 0;
}

void kv_write_end(struct kv_pool *p, uint64_t ino, uint64_t off, size_t written)
{
	struct kv_inode *in = kv_inode(p, ino);
	uint64_t size = load_size(in);

	kv_fault(p, KV_FP_DATA_WRITTEN);
	/* the data is in place before the size that shows it */
	if (written && off + written > size)
		publish_size(in, off + written);
	else if (off > size)
		publish_size(in, off); /* a short write still exposed the zeroed gap */
	in->mtime_ns = in->ctime_ns = kv_now_ns();
	pthread_rwlock_unlock(kv_stripe(p, ino));
}

ssize_t kv_write(struct kv_pool *p, uint64_t ino, const void *buf, size_t len, uint64_t off)
{
	struct iovec iov[KV_INLINE_EXTENTS + 1];
	const uint8_t *b = buf;
	int niov, i, rc;

	if (!len)
		return p->readonly ? -EROFS : file_alive(p, ino) ? 0 : -ENOENT;
	rc = kv_write_begin(p, ino, off, len, iov, KV_INLINE_EXTENTS + 1, &niov);
	if (rc)
		return rc;
	for (i = 0; i < niov; i++) {
		memcpy(iov[i].iov_base, b, iov[i].iov_len);
		b += iov[i].iov_len;
	}
	kv_write_end(p, ino, off, len);
	return (ssize_t)len;
}

int kv_truncate(struct kv_pool *p, uint64_t ino, uint64_t size)
{
	struct kv_inode *in;
	uint64_t old;
	int rc = 0;

	if (p->readonly)
		return -EROFS;
	if (!file_alive(p, ino))
		return kv_ino_valid(p, ino) && S_ISDIR(kv_inode(p, ino)->mode) ? -EISDIR : -ENOENT;
	if (size > p->sb->geo.data_size)
		return -EFBIG;
	in = kv_inode(p, ino);
	pthread_rwlock_wrlock(kv_stripe(p, ino));
	old = load_size(in);
	if (size > old) {
		rc = grow(p, ino, size, in->extent_count == 0);
		if (rc)
			goto out;
		copy_range(p, in, old, NULL, size - old, true);
		publish_size(in, size);
	} else if (size < old) {
		publish_size(in, size);
		pthread_mutex_lock(&p->lock);
		p->bytes_trimmed += kv_data_trim(p, ino);
		pthread_mutex_unlock(&p->lock);
	}
	in->mtime_ns = in->ctime_ns = kv_now_ns();
out:
	pthread_rwlock_unlock(kv_stripe(p, ino));
	return rc;
}

int kv_fallocate(struct kv_pool *p, uint64_t ino, int mode, uint64_t off, uint64_t len)
{
	struct kv_inode *in;
	uint64_t end = off + len, size;
	int rc;

	if (mode & ~FALLOC_FL_KEEP_SIZE)
		return -EOPNOTSUPP;
	if (p->readonly)
		return -EROFS;
	if (!file_alive(p, ino))
		return -ENODEV;
	if (!len || end < off)
		return -EINVAL;
	if (end > p->sb->geo.data_size)
		return -EFBIG;
	in = kv_inode(p, ino);
	pthread_rwlock_wrlock(kv_stripe(p, ino));
	size = load_size(in);
	rc = grow(p, ino, end, true);
	if (!rc && !(mode & FALLOC_FL_KEEP_SIZE) && end > size) {
		copy_range(p, in, size, NULL, end - size, true);
		publish_size(in, end);
		in->mtime_ns = in->ctime_ns = kv_now_ns();
	}
	pthread_rwlock_unlock(kv_stripe(p, ino));
	return rc;
}

int kv_extents(struct kv_pool *p, uint64_t ino, struct kv_extent *ext, int max, uint64_t *size)
{
	struct kv_inode *in;
	int i, n;

	if (!kv_ino_valid(p, ino) || kv_inode(p, ino)->state == KV_INODE_FREE)
		return -ENOENT;
	in = kv_inode(p, ino);
	pthread_rwlock_rdlock(kv_stripe(p, ino));
	n = in->extent_count;
	for (i = 0; i < n && i < max; i++)
		ext[i] = in->ext[i];
	*size = load_size(in);
	pthread_rwlock_unlock(kv_stripe(p, ino));
	return n;
}

/* --- user xattrs: one blob per file, replaced whole on change --- */

static uint32_t rec_bytes(const struct kv_xattr_rec *r)
{
	return (uint32_t)((sizeof(*r) + r->name_len + r->value_len + 7) & ~7u);
}

/* Find @name in the blob; return its record or NULL. */
static const struct kv_xattr_rec *xattr_find(const uint8_t *blob, uint32_t len, const char *name)
{
	size_t nlen = strlen(name);
	uint32_t pos = 0;

	while (pos + sizeof(struct kv_xattr_rec) <= len) {
		const struct kv_xattr_rec *r = (const void *)(blob + pos);

		if (r->name_len == nlen && memcmp(r + 1, name, nlen) == 0)
			return r;
		pos += rec_bytes(r);
	}
	return NULL;
}

int kv_setxattr(struct kv_pool *p, uint64_t ino, const char *name, const void *value, size_t size,
		int flags)
{
	struct kv_inode *in;
	const uint8_t *old;
	const struct kv_xattr_rec *found;
	struct kv_xattr_rec *r;
	struct kv_extent e = { 0, 0 }, oldext;
	uint8_t *blob = NULL;
	size_t nlen = strlen(name);
	uint32_t len, pos = 0, newlen = 0;
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
	old = in->xattr_off ? p->base + in->xattr_off : NULL;
	len = in->xattr_len;
	found = old ? xattr_find(old, len, name) : NULL;
	if ((flags & XATTR_CREATE) && found) {
		rc = -EEXIST;
		goto out;
	}
	if ((flags & XATTR_REPLACE) && !found) {
		rc = -ENODATA;
		goto out;
	}
	blob = malloc(len + sizeof(*r) + nlen + size + 8);
	if (!blob) {
		rc = -ENOMEM;
		goto out;
	}
	while (old && pos + sizeof(*r) <= len) {
		const struct kv_xattr_rec *o = (const void *)(old + pos);

		if (o != found) {
			memcpy(blob + newlen, o, rec_bytes(o));
			newlen += rec_bytes(o);
		}
		pos += rec_bytes(o);
	}
	if (value) {
		r = (struct kv_xattr_rec *)(blob + newlen);
		r->name_len = (uint16_t)nlen;
		r->pad = 0;
		r->value_len = (uint32_t)size;
		memcpy(r + 1, name, nlen);
		memcpy((uint8_t *)(r + 1) + nlen, value, size);
		memset((uint8_t *)(r + 1) + nlen + size, 0,
		       rec_bytes(r) - sizeof(*r) - nlen - size);
		newlen += rec_bytes(r);
	}
	if (newlen > KV_XATTR_MAX_BLOB) {
		rc = -ENOSPC;
		goto out;
	}
	if (newlen) {
		rc = alloc_evicting(p, newlen, &e);
		if (rc)
			goto out;
		memcpy(p->base + e.off, blob, newlen);
	}
	oldext = (struct kv_extent){ in->xattr_off, page_up(in->xattr_len) };
	kv_jtx_begin(p);
	KV_JTX_FIELD(p, &in->xattr_off, e.off);
	KV_JTX_FIELD(p, &in->xattr_len, newlen);
	KV_JTX_FIELD(p, &in->ctime_ns, kv_now_ns());
	kv_jtx_commit(p);
	if (oldext.off)
		kv_alloc_free(&p->alloc, &oldext);
	if (kv_policy_is_name(name))
		kv_policy_refresh_dir(p, ino);
out:
	p->creating_in = 0;
	pthread_mutex_unlock(&p->lock);
	free(blob);
	return rc;
}

ssize_t kv_xattr_get_locked(struct kv_pool *p, uint64_t ino, const char *name, void *value,
			    size_t size)
{
	struct kv_inode *in = kv_inode(p, ino);
	const struct kv_xattr_rec *r =
	    in->xattr_off ? xattr_find(p->base + in->xattr_off, in->xattr_len, name) : NULL;

	if (!r)
		return -ENODATA;
	if (size < r->value_len)
		return -ERANGE;
	memcpy(value, (const uint8_t *)(r + 1) + r->name_len, r->value_len);
	return r->value_len;
}

ssize_t kv_getxattr(struct kv_pool *p, uint64_t ino, const char *name, void *value, size_t size)
{
	const struct kv_xattr_rec *r;
	struct kv_inode *in;
	ssize_t rc;

	if (!kv_ino_valid(p, ino))
		return -ENOENT;
	pthread_mutex_lock(&p->lock);
	in = kv_inode(p, ino);
	r = in->xattr_off ? xattr_find(p->base + in->xattr_off, in->xattr_len, name) : NULL;
	if (in->state == KV_INODE_FREE)
		rc = -ENOENT;
	else if (!r)
		rc = -ENODATA;
	else if (size && size < r->value_len)
		rc = -ERANGE;
	else {
		if (size)
			memcpy(value, (const uint8_t *)(r + 1) + r->name_len, r->value_len);
		rc = r->value_len;
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

ssize_t kv_listxattr(struct kv_pool *p, uint64_t ino, char *list, size_t size)
{
	struct kv_inode *in;
	const uint8_t *blob;
	uint32_t pos = 0;
	size_t need = 0;
	ssize_t rc;

	if (!kv_ino_valid(p, ino))
		return -ENOENT;
	pthread_mutex_lock(&p->lock);
	in = kv_inode(p, ino);
	blob = in->xattr_off ? p->base + in->xattr_off : NULL;
	while (blob && pos + sizeof(struct kv_xattr_rec) <= in->xattr_len) {
		const struct kv_xattr_rec *r = (const void *)(blob + pos);

		if (size && need + r->name_len + 1 <= size) {
			memcpy(list + need, r + 1, r->name_len);
			list[need + r->name_len] = 0;
		}
		need += r->name_len + 1u;
		pos += rec_bytes(r);
	}
	rc = in->state == KV_INODE_FREE ? -ENOENT : (size && need > size) ? -ERANGE : (ssize_t)need;
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int kv_removexattr(struct kv_pool *p, uint64_t ino, const char *name)
{
	return kv_setxattr(p, ino, name, NULL, 0, XATTR_REPLACE);
}
