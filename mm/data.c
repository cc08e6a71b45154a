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
#include "check.h"
#include "journal.h"
#include "pool_int.h"
#include "snap.h"
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

/*
 * Copy between a file range and memory (to_file: buf -> pool; buf NULL: zero).
 * @s: the file's checked extents (kv_snap_take), never the pool's own.
 */
static void copy_range(struct kv_pool *p, const struct kv_snap *s, uint64_t off, void *buf,
		       uint64_t len, bool to_file)
{
	uint8_t *b = buf;
	int i;

	for (i = 0; i < s->n && len; i++) {
		const struct kv_extent *e = &s->ext[i];
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

/* --- room ahead of open files --- */

/* Remember that @ino holds room past its size (caller holds p->lock). */
static void ahead_note(struct kv_pool *p, uint64_t ino)
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

uint64_t kv_data_reclaim_ahead(struct kv_pool *p)
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
		/* Someone is reading or writing it (perhaps we are): its room stays for now. */
		if (pthread_rwlock_trywrlock(stripe)) {
			p->ahead[kept++] = (uint32_t)ino;
			continue;
		}
		freed += kv_data_trim(p, ino);
		pthread_rwlock_unlock(stripe);
		p->in_ahead[ino] = 0;
	}
	p->nahead = kept;
	p->bytes_trimmed += freed;
	return freed;
}

/*
 * Allocate, taking back the room ahead of open files first and then
 * evicting least recently used files: room ahead is a guess, a cached
 * file is not.
 */
static int alloc_evicting(struct kv_pool *p, uint64_t bytes, struct kv_extent *e)
{
	bool reclaimed = false;
	int rc;

	while ((rc = kv_alloc_extent(&p->alloc, bytes, e)) == -ENOSPC) {
		if (!reclaimed && p->nahead) {
			reclaimed = true;
			if (kv_data_reclaim_ahead(p))
				continue;
		}
		if (kv_evict_one(p) < 0)
			break;
	}
	return rc;
}

/* Move all data into one new extent of @total bytes (the inline list is full). */
static int migrate(struct kv_pool *p, uint64_t ino, uint64_t total)
{
	struct kv_inode *in = kv_inode(p, ino);
	struct kv_extent *old, e;
	struct kv_snap snap;
	uint64_t off = 0;
	int n, i, rc;

	rc = kv_snap_take(p, ino, &snap);
	if (rc)
		return rc;
	old = snap.ext;
	n = snap.n;
	rc = alloc_evicting(p, total, &e);
	if (rc)
		return rc;
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
	kv_snap_commit(p, ino);
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
	return 0; /* the caller records the extents (kv_snap_commit) once the record is filled */
}

int kv_data_migrate_locked(struct kv_pool *p, uint64_t ino)
{
	struct kv_snap snap;
	int rc = kv_snap_take(p, ino, &snap);

	if (rc)
		return rc;
	rc = migrate(p, ino, page_up(snap.size));
	kv_policy_charge(p, ino, (int64_t)(kv_inode_alloc_bytes(kv_inode(p, ino)) - snap.alloc));
	return rc;
}

/* Add @need (or, if it comes easily, @want) bytes to a file's extents (*@snap: as they are). */
static int grow_extents(struct kv_pool *p, uint64_t ino, const struct kv_snap *snap, uint64_t need,
			uint64_t want)
{
	struct kv_inode *in = kv_inode(p, ino);
	uint64_t have = snap->alloc;
	int rc;

	if (snap->n) {
		struct kv_extent last = snap->ext[snap->n - 1];

		if (kv_alloc_extend(&p->alloc, &last, want) == 0 ||
		    (want != need && kv_alloc_extend(&p->alloc, &last, need) == 0)) {
			atomic_store_explicit((_Atomic uint64_t *)&in->ext[snap->n - 1].len,
					      last.len, memory_order_release);
			kv_snap_commit(p, ino);
			return 0;
		}
	}
	if (snap->n < KV_INLINE_EXTENTS) {
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
		in->ext[snap->n] = e;
		atomic_store_explicit((_Atomic uint16_t *)&in->extent_count, (uint16_t)(snap->n + 1),
				      memory_order_release);
		kv_snap_commit(p, ino);
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
	uint64_t have = 0, need, want, step, room;
	struct kv_snap snap;
	bool was_lru;
	int rc;

	pthread_mutex_lock(&p->lock);
	rc = kv_snap_take(p, ino, &snap);
	if (rc)
		goto out;
	have = snap.alloc;
	if (end <= have)
		goto out;
	/* Never evict the file being grown, held or not. */
	was_lru = p->in_lru[ino];
	kv_lru_remove(p, ino);
	need = page_up(end) - have;
	step = have < GROW_MAX_STEP ? have : GROW_MAX_STEP;
	/*
	 * Room ahead only for a file that grows again: a file written once (and
	 * perhaps held open for long) keeps no more than its size.
	 */
	want = exact || !have ? need : (need > step ? need : step);
	if (!exact && have && have + want < GROW_MIN)
		want = GROW_MIN - have;
	/* A directory's quota: make room for what is needed; room ahead only within it. */
	rc = kv_policy_make_room(p, ino, need);
	if (rc)
		goto out_lru;
	room = kv_policy_room(p, ino);
	if (want > room)
		want = need;
	rc = grow_extents(p, ino, &snap, need, want);
	kv_policy_charge(p, ino, (int64_t)(kv_inode_alloc_bytes(in) - have));
	if (!rc && kv_inode_alloc_bytes(in) > page_up(end))
		ahead_note(p, ino);
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
	struct kv_snap snap;
	int i, n = 0;

	/* A bad record's extents are not given back: they may be another file's. The
	 * space it really had stays taken until the next open rebuilds the allocator. */
	if (kv_snap_take(p, ino, &snap) == 0) {
		for (i = 0; i < snap.n; i++)
			freed[n++] = snap.ext[i];
		if (snap.xattr_off)
			freed[n++] = (struct kv_extent){ snap.xattr_off, page_up(snap.xattr_len) };
	}
	KV_JTX_FIELD(p, &in->extent_count, (uint16_t)0);
	KV_JTX_FIELD(p, &in->size, (uint64_t)0); /* a record without data holds no bytes */
	KV_JTX_FIELD(p, &in->xattr_off, (uint64_t)0);
	KV_JTX_FIELD(p, &in->xattr_len, (uint32_t)0);
	kv_snap_commit_empty(p, ino);
	*nfreed = n;
}

uint64_t kv_data_trim(struct kv_pool *p, uint64_t ino)
{
	struct kv_inode *in = kv_inode(p, ino);
	uint64_t keep, off = 0, trimmed = 0, partial_len = 0;
	struct kv_extent freed[KV_INLINE_EXTENTS];
	struct kv_snap snap;
	int i, nfree = 0, count, new_count, partial = -1;

	if (kv_snap_take(p, ino, &snap))
		return 0;
	keep = page_up(snap.size);
	count = new_count = snap.n;
	for (i = 0; i < count; i++) {
		const struct kv_extent *e = &snap.ext[i];

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
	kv_snap_commit(p, ino);
	for (i = 0; i < nfree; i++)
		trimmed += freed[i].len;
	kv_data_free_extents(p, freed, nfree);
	kv_policy_charge(p, ino, -(int64_t)trimmed);
	return trimmed;
}

/* --- data checksums --- */

/*
 * The file's bytes are about to change: its checksum goes first (a crash
 * leaves none, never a wrong one). Under p->lock, so that kv_data_seal()
 * sees either the change count before it or the cleared checksum after.
 */
static void mark_written(struct kv_pool *p, uint64_t ino)
{
	pthread_mutex_lock(&p->lock);
	p->wgen[ino]++;
	p->dirty[ino] = 1;
	if (kv_inode(p, ino)->checksum)
		atomic_store_explicit((_Atomic uint64_t *)&kv_inode(p, ino)->checksum, 0,
				      memory_order_release);
	pthread_mutex_unlock(&p->lock);
}

void kv_data_seal(struct kv_pool *p, uint64_t ino)
{
	struct kv_snap snap;
	uint64_t sum;
	uint32_t wgen;
	bool last;

	pthread_mutex_lock(&p->lock);
	last = p->open_count[ino] == 1;
	wgen = p->wgen[ino];
	pthread_mutex_unlock(&p->lock);
	if (!last)
		return;
	/* hash outside the metadata lock: a change meanwhile bumps wgen and is seen below */
	pthread_rwlock_rdlock(kv_stripe(p, ino));
	sum = kv_snap_take(p, ino, &snap) ? 0 : kv_data_sum(p->base, snap.ext, snap.n, snap.size);
	pthread_rwlock_unlock(kv_stripe(p, ino));
	pthread_mutex_lock(&p->lock);
	if (sum && p->wgen[ino] == wgen && p->open_count[ino] == 1 && p->dirty[ino]) {
		atomic_store_explicit((_Atomic uint64_t *)&kv_inode(p, ino)->checksum, sum,
				      memory_order_release);
		p->dirty[ino] = 0;
	}
	pthread_mutex_unlock(&p->lock);
}

int kv_verify(struct kv_pool *p, uint64_t ino)
{
	struct kv_snap snap;
	uint64_t want;
	int rc;

	if (!file_alive(p, ino))
		return -ENOENT;
	pthread_rwlock_rdlock(kv_stripe(p, ino));
	want = __atomic_load_n(&kv_inode(p, ino)->checksum, __ATOMIC_ACQUIRE);
	rc = kv_snap_take(p, ino, &snap);
	if (!rc && !want)
		rc = -ENODATA;
	else if (!rc && kv_data_sum(p->base, snap.ext, snap.n, snap.size) != want)
		rc = -EIO;
	pthread_rwlock_unlock(kv_stripe(p, ino));
	if (rc == -EIO)
		kv_log(KV_LOG_ERR, "pool %s: the bytes of inode %llu do not match their checksum",
		       p->be.path, (unsigned long long)ino);
	return rc;
}

/* --- reads and writes --- */

ssize_t kv_read(struct kv_pool *p, uint64_t ino, void *buf, size_t len, uint64_t off)
{
	struct kv_snap snap;
	ssize_t rc;

	if (!file_alive(p, ino))
		return kv_ino_valid(p, ino) && S_ISDIR(kv_inode(p, ino)->mode) ? -EISDIR : -ENOENT;
	pthread_rwlock_rdlock(kv_stripe(p, ino));
	rc = kv_snap_take(p, ino, &snap);
	if (rc == 0 && off < snap.size) {
		if (len > snap.size - off)
			len = (size_t)(snap.size - off);
		copy_range(p, &snap, off, buf, len, false);
		rc = (ssize_t)len;
	}
	pthread_rwlock_unlock(kv_stripe(p, ino));
	return rc;
}

/* Point @iov at [off, off + len) of a file's allocated extents. Return: bytes covered. */
static size_t map_range(struct kv_pool *p, const struct kv_snap *s, uint64_t off, size_t len,
			struct iovec *iov, int max, int *niov)
{
	size_t done = 0;
	int i;

	*niov = 0;
	for (i = 0; i < s->n && done < len && *niov < max; i++) {
		const struct kv_extent *e = &s->ext[i];
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
	struct kv_snap snap;

	*niov = 0;
	if (!file_alive(p, ino))
		return kv_ino_valid(p, ino) && S_ISDIR(kv_inode(p, ino)->mode) ? -EISDIR : -ENOENT;
	pthread_rwlock_rdlock(kv_stripe(p, ino));
	if (kv_snap_take(p, ino, &snap)) {
		pthread_rwlock_unlock(kv_stripe(p, ino));
		return -EIO;
	}
	if (off >= snap.size)
		return 0;
	if (len > snap.size - off)
		len = (size_t)(snap.size - off);
	return (ssize_t)map_range(p, &snap, off, len, iov, max, niov);
}

void kv_read_iov_done(struct kv_pool *p, uint64_t ino)
{
	pthread_rwlock_unlock(kv_stripe(p, ino));
}

int kv_write_begin(struct kv_pool *p, uint64_t ino, uint64_t off, size_t len, struct iovec *iov,
		   int max, int *niov)
{
	struct kv_snap snap;
	uint64_t end = off + len;
	int rc;

	*niov = 0;
	if (p->readonly)
		return -EROFS;
	if (!file_alive(p, ino))
		return -ENOENT;
	if (end < off || end > p->geo.data_size)
		return -EFBIG;
	pthread_rwlock_wrlock(kv_stripe(p, ino));
	rc = len ? grow(p, ino, end, false) : 0;
	if (!rc)
		rc = kv_snap_take(p, ino, &snap); /* the extents grow gave, checked */
	if (rc) {
		pthread_rwlock_unlock(kv_stripe(p, ino));
		return rc;
	}
	if (len || off > snap.size)
		mark_written(p, ino);
	/* bytes between the old end and this write become visible: zero them */
	if (off > snap.size)
		copy_range(p, &snap, snap.size, NULL, off - snap.size, true);
	if (len && map_range(p, &snap, off, len, iov, max, niov) != len) {
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
	struct kv_snap snap;
	uint64_t old;
	int rc;

	if (p->readonly)
		return -EROFS;
	if (!file_alive(p, ino))
		return kv_ino_valid(p, ino) && S_ISDIR(kv_inode(p, ino)->mode) ? -EISDIR : -ENOENT;
	if (size > p->geo.data_size)
		return -EFBIG;
	in = kv_inode(p, ino);
	pthread_rwlock_wrlock(kv_stripe(p, ino));
	rc = kv_snap_take(p, ino, &snap);
	if (rc)
		goto out;
	old = snap.size;
	if (size != old)
		mark_written(p, ino);
	if (size > old) {
		rc = grow(p, ino, size, snap.n == 0);
		if (!rc)
			rc = kv_snap_take(p, ino, &snap);
		if (rc)
			goto out;
		copy_range(p, &snap, old, NULL, size - old, true);
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
	struct kv_snap snap;
	uint64_t end = off + len;
	int rc;

	if (mode & ~FALLOC_FL_KEEP_SIZE)
		return -EOPNOTSUPP;
	if (p->readonly)
		return -EROFS;
	if (!file_alive(p, ino))
		return -ENODEV;
	if (!len || end < off)
		return -EINVAL;
	if (end > p->geo.data_size)
		return -EFBIG;
	in = kv_inode(p, ino);
	pthread_rwlock_wrlock(kv_stripe(p, ino));
	rc = grow(p, ino, end, true);
	if (!rc)
		rc = kv_snap_take(p, ino, &snap);
	if (!rc && !(mode & FALLOC_FL_KEEP_SIZE) && end > snap.size) {
		mark_written(p, ino);
		copy_range(p, &snap, snap.size, NULL, end - snap.size, true);
		publish_size(in, end);
		in->mtime_ns = in->ctime_ns = kv_now_ns();
	}
	pthread_rwlock_unlock(kv_stripe(p, ino));
	return rc;
}

int kv_extents(struct kv_pool *p, uint64_t ino, struct kv_extent *ext, int max, uint64_t *size)
{
	struct kv_snap snap;
	int i, rc;

	if (!kv_ino_valid(p, ino) || kv_inode(p, ino)->state == KV_INODE_FREE)
		return -ENOENT;
	pthread_rwlock_rdlock(kv_stripe(p, ino));
	rc = kv_snap_take(p, ino, &snap);
	if (!rc) {
		for (i = 0; i < snap.n && i < max; i++)
			ext[i] = snap.ext[i];
		*size = snap.size;
		rc = snap.n;
	}
	pthread_rwlock_unlock(kv_stripe(p, ino));
	return rc;
}

/* --- user xattrs: one blob per file, replaced whole on change --- */

static uint32_t rec_bytes(const struct kv_xattr_rec *r)
{
	return (uint32_t)((sizeof(*r) + r->name_len + r->value_len + 7) & ~7u);
}

/* Find @name in a checked blob; return its record or NULL. */
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

/*
 * Copy a file's xattr blob out of the pool (a client may change it at any
 * moment) and check the copy; everything after reads the copy. *blob is
 * malloc'ed, NULL when the file has none; *ext is its extent. Caller holds
 * p->lock. Return: 0, -EIO (the file is quarantined) or -ENOMEM.
 */
static int xattr_load(struct kv_pool *p, uint64_t ino, uint8_t **blob, uint32_t *len,
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
		kv_quarantine(p, ino, why);
		free(*blob);
		*blob = NULL;
		return -EIO;
	}
	*len = snap.xattr_len;
	return 0;
}

int kv_setxattr(struct kv_pool *p, uint64_t ino, const char *name, const void *value, size_t size,
		int flags)
{
	struct kv_inode *in;
	uint8_t *old = NULL;
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
	rc = xattr_load(p, ino, &old, &len, &oldext);
	if (rc)
		goto out;
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
	kv_jtx_begin(p);
	KV_JTX_FIELD(p, &in->xattr_off, e.off);
	KV_JTX_FIELD(p, &in->xattr_len, newlen);
	KV_JTX_FIELD(p, &in->ctime_ns, kv_now_ns());
	kv_jtx_commit(p);
	kv_snap_commit(p, ino);
	if (oldext.off)
		kv_alloc_free(&p->alloc, &oldext);
	if (kv_policy_is_name(name))
		kv_policy_refresh_dir(p, ino);
out:
	p->creating_in = 0;
	pthread_mutex_unlock(&p->lock);
	free(old);
	free(blob);
	return rc;
}

ssize_t kv_xattr_get_locked(struct kv_pool *p, uint64_t ino, const char *name, void *value,
			    size_t size)
{
	const struct kv_xattr_rec *r;
	struct kv_extent ext;
	uint8_t *blob = NULL;
	uint32_t len;
	ssize_t rc = xattr_load(p, ino, &blob, &len, &ext);

	if (rc)
		return rc;
	r = blob ? xattr_find(blob, len, name) : NULL;
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
	if (kv_inode(p, ino)->state == KV_INODE_FREE) {
		rc = -ENOENT;
		goto out;
	}
	rc = xattr_load(p, ino, &blob, &len, &ext);
	if (rc)
		goto out;
	r = blob ? xattr_find(blob, len, name) : NULL;
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
	if (kv_inode(p, ino)->state == KV_INODE_FREE) {
		rc = -ENOENT;
		goto out;
	}
	rc = xattr_load(p, ino, &blob, &len, &ext);
	if (rc)
		goto out;
	while (blob && pos + sizeof(struct kv_xattr_rec) <= len) {
		const struct kv_xattr_rec *r = (const void *)(blob + pos);

		if (size && need + r->name_len + 1 <= size) {
			memcpy(list + need, r + 1, r->name_len);
			list[need + r->name_len] = 0;
		}
		need += r->name_len + 1u;
		pos += rec_bytes(r);
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
