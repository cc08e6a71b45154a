// SPDX-License-Identifier: MIT
/*
 * data.c - a file's bytes: read, write, truncate, fallocate, their
 * checksums, and a file's extents for the fast path (its xattrs are
 * data_xattr.c's, beside it).
 *
 * A file's data is a short list of extents (at most KV_INLINE_EXTENTS). A
 * size known up front (truncate, fallocate) gets one extent when a free run
 * that long exists; a file
 * that grows by writes gets room ahead (doubling, up to 64 MiB at a time),
 * extended in place when the next pages are free and trimmed back to its
 * size when the last holder lets go. When no free run is long enough, the
 * bytes come from several (the longest first, as many as the list has
 * slots left): a cached file is evicted only when free space is short,
 * never because it is scattered. When the inline list is full, the
 * shortest tail of it that fits in fewer extents moves, with the growth,
 * into new ones; the fast path asks for the whole file in one.
 *
 * Invisible bytes: a file never shows bytes that were not written to it.
 * Anything that exposes unwritten space (truncate up, a write past EOF,
 * fallocate) zeroes it before the size store that makes it visible.
 *
 * Locking: a file's stripe lock (read for reads, write for anything that
 * changes size or extents), then p->lock for allocation (evict.c's
 * allocate-or-evict) and the journal.
 */
#include "check.h"
#include "data.h"
#include "evict.h"
#include "extents.h"
#include "journal.h"
#include "log.h"
#include "lru.h"
#include "policy.h"
#include "pool_int.h"
#include "snap.h"

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

/*
 * @need bytes, or @want when they come without evicting, in at most @max
 * extents (*@e has room for KV_INLINE_EXTENTS). One extent when a hole
 * fits; else the longest free runs; a cached file is evicted only when
 * those are short (evict.c). Return: how many extents, or -ENOSPC.
 */
static int take_room(struct kv_pool *p, uint64_t need, uint64_t want, int max, struct kv_extent *e)
{
	if (kv_alloc_extent(&p->alloc, want, e) == 0)
		return 1;
	if (want != need && kv_alloc_extent(&p->alloc, need, e) == 0)
		return 1;
	return kv_evict_alloc_pieces(p, need, max, e);
}

/* Copy the bytes of extents @src (@ns of them) into @dst (@nd), as far as both reach. */
static void copy_extents(struct kv_pool *p, const struct kv_extent *dst, int nd,
			 const struct kv_extent *src, int ns)
{
	uint64_t doff = 0, soff = 0;
	int d = 0, s = 0;

	while (d < nd && s < ns) {
		uint64_t n =
		    dst[d].len - doff < src[s].len - soff ? dst[d].len - doff : src[s].len - soff;

		memcpy(p->base + dst[d].off + doff, p->base + src[s].off + soff, n);
		doff += n;
		soff += n;
		if (doff == dst[d].len) {
			d++;
			doff = 0;
		}
		if (soff == src[s].len) {
			s++;
			soff = 0;
		}
	}
}

/*
 * Move a file's extents from @first on into the @n new ones in @e (which
 * may be longer: growth), in one transaction, and free the old ones.
 * Return: 0, or -E2BIG (nothing changed; @e freed).
 */
static int move_tail(struct kv_pool *p, uint64_t ino, struct kv_snap *snap, int first,
		     struct kv_extent *e, int n)
{
	struct kv_inode *in = kv_inode(p, ino);
	int rc;

	copy_extents(p, e, n, snap->ext + first, snap->n - first);
	kv_jtx_begin(p);
	kv_jtx_add(p, &in->ext[first], e, (uint32_t)((size_t)n * sizeof(e[0])));
	KV_JTX_FIELD(p, &in->extent_count, (uint16_t)(first + n));
	rc = kv_jtx_commit(p);
	if (rc) { /* nothing applied: the file keeps its extents */
		kv_extents_free(p, e, n);
		return rc;
	}
	kv_snap_commit(p, ino);
	/* the old ones may be read in place (a zero-copy mapping): not another's while held */
	kv_extents_free_unheld(p, ino, snap->ext + first, snap->n - first);
	return 0;
}

/*
 * The inline list is full: the shortest tail of it that moves, with the
 * growth, into fewer extents from free runs (copying least, evicting
 * nothing); failing that the whole file, evicting as little as it takes.
 * Either leaves a slot free for the next growth.
 */
static int grow_full(struct kv_pool *p, uint64_t ino, struct kv_snap *snap, uint64_t need,
		     uint64_t want)
{
	struct kv_extent e[KV_INLINE_EXTENTS];
	uint64_t tail = snap->ext[snap->n - 1].len;
	int first, n;

	/* a pinned file's client reads its extents in place: they are never freed under it */
	if (p->hot[ino].pin_count)
		return -EBUSY;
	for (first = snap->n - 2; first >= 0; first--) {
		int max = KV_INLINE_EXTENTS - 1 - first;

		tail += snap->ext[first].len;
		n = kv_alloc_pieces(&p->alloc, tail + want, max, e);
		if (n == -ENOSPC && want != need)
			n = kv_alloc_pieces(&p->alloc, tail + need, max, e);
		if (n > 0)
			return move_tail(p, ino, snap, first, e, n);
	}
	n = take_room(p, snap->alloc + need, snap->alloc + want, KV_INLINE_EXTENTS - 1, e);
	if (n < 0)
		return n;
	return move_tail(p, ino, snap, 0, e, n);
}

/* The whole file into @e (taken for it), its anchor charged the change. Return: as move_tail(). */
static int move_whole(struct kv_pool *p, uint64_t ino, struct kv_snap *snap, struct kv_extent *e)
{
	int rc = move_tail(p, ino, snap, 0, e, 1);

	kv_policy_charge(p, ino, (int64_t)(kv_extents_bytes(kv_inode(p, ino)) - snap->alloc));
	return rc;
}

int kv_data_migrate_locked(struct kv_pool *p, uint64_t ino)
{
	struct kv_snap snap;
	struct kv_extent e;
	bool was_lru = p->hot[ino].in_lru;
	int rc = kv_snap_take(p, ino, &snap);

	if (rc)
		return rc;
	if (p->hot[ino].pin_count)
		return -EBUSY; /* as grow_full() */
	/* the file being moved is never the one evicted to make its hole */
	kv_lru_remove(p, ino);
	rc = kv_evict_alloc(p, page_up(snap.size), &e);
	if (!rc)
		rc = move_whole(p, ino, &snap, &e);
	if (was_lru)
		kv_lru_append(p, ino);
	return rc;
}

int kv_data_join_pieces_locked(struct kv_pool *p, uint64_t ino)
{
	struct kv_snap snap;
	struct kv_extent e;

	if (kv_held(p, ino) || kv_snap_take(p, ino, &snap) || snap.n < 2 || !snap.size ||
	    kv_held_elsewhere(p, ino))
		return 0;
	/* a hole that takes it whole, or it stays in pieces (a pin here evicts for one) */
	if (kv_alloc_extent(&p->alloc, page_up(snap.size), &e))
		return 0;
	return move_whole(p, ino, &snap, &e);
}

/* Add @need (or, if it comes easily, @want) bytes to a file's extents (*@snap: as they are). */
static int grow_extents(struct kv_pool *p, uint64_t ino, struct kv_snap *snap, uint64_t need,
			uint64_t want)
{
	struct kv_inode *in = kv_inode(p, ino);
	struct kv_extent e[KV_INLINE_EXTENTS];
	int n;

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
	if (snap->n >= KV_INLINE_EXTENTS)
		return grow_full(p, ino, snap, need, want);
	n = take_room(p, need, want, KV_INLINE_EXTENTS - snap->n, e);
	if (n < 0)
		return n;
	kv_fault(p, KV_FP_EXTENT_ALLOCATED);
	/* Fill the slots, then publish them with the count. */
	memcpy(&in->ext[snap->n], e, (size_t)n * sizeof(e[0]));
	atomic_store_explicit((_Atomic uint16_t *)&in->extent_count, (uint16_t)(snap->n + n),
			      memory_order_release);
	kv_snap_commit(p, ino);
	return 0;
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
	was_lru = p->hot[ino].in_lru;
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
	rc = kv_evict_make_room(p, ino, need);
	if (rc)
		goto out_lru;
	room = kv_policy_room(p, ino);
	if (want > room)
		want = need;
	rc = grow_extents(p, ino, &snap, need, want);
	kv_policy_charge(p, ino, (int64_t)(kv_extents_bytes(in) - have));
	if (!rc && kv_extents_bytes(in) > page_up(end))
		kv_evict_note_ahead(p, ino);
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
	p->hot[ino].dirty = KV_DIRTY_WRITTEN;
	p->hot[ino].unflushed = 1;
	if (kv_inode(p, ino)->checksum)
		atomic_store_explicit((_Atomic uint64_t *)&kv_inode(p, ino)->checksum, 0,
				      memory_order_release);
	pthread_mutex_unlock(&p->lock);
}

/*
 * Hash @ino's bytes outside the metadata lock, then store the sum if the
 * record is the same life (@gen), unchanged (@wgen: a write meanwhile bumps
 * it) and still waits for a checksum for the same reason (@why; a writer
 * seals only as the last one open). *@stored (may be NULL): whether it did.
 * Return: bytes hashed.
 */
static uint64_t seal(struct kv_pool *p, uint64_t ino, uint8_t why, uint32_t wgen, uint64_t gen,
		     bool *stored)
{
	struct kv_inode *in = kv_inode(p, ino);
	struct kv_snap snap;
	uint64_t sum = 0, bytes = 0;
	bool ok;

	pthread_rwlock_rdlock(kv_stripe(p, ino));
	if (!kv_snap_take(p, ino, &snap)) {
		sum = kv_data_sum(p->base, snap.ext, snap.n, snap.size);
		bytes = snap.size;
	}
	pthread_rwlock_unlock(kv_stripe(p, ino));
	pthread_mutex_lock(&p->lock);
	ok = sum && p->wgen[ino] == wgen && p->hot[ino].dirty == why && in->gen == gen &&
	     in->state == KV_INODE_LIVE && (why != KV_DIRTY_WRITTEN || p->hot[ino].open_count == 1);
	if (ok) {
		atomic_store_explicit((_Atomic uint64_t *)&in->checksum, sum, memory_order_release);
		p->hot[ino].dirty = 0;
	}
	pthread_mutex_unlock(&p->lock);
	if (stored)
		*stored = ok;
	return bytes;
}

void kv_flush(struct kv_pool *p, uint64_t ino)
{
	if (!kv_ino_valid(p, ino))
		return;
	pthread_mutex_lock(&p->lock);
	p->hot[ino].unflushed = 0;
	pthread_mutex_unlock(&p->lock);
}

void kv_data_seal(struct kv_pool *p, uint64_t ino)
{
	uint64_t gen;
	uint32_t wgen;
	bool last;

	pthread_mutex_lock(&p->lock);
	last = p->hot[ino].open_count == 1 && p->hot[ino].dirty == KV_DIRTY_WRITTEN;
	if (p->hot[ino].open_count == 1)
		p->hot[ino].unflushed = 0; /* its last opener lets go */
	wgen = p->wgen[ino];
	gen = kv_inode(p, ino)->gen;
	pthread_mutex_unlock(&p->lock);
	if (last)
		seal(p, ino, KV_DIRTY_WRITTEN, wgen, gen, NULL);
}

/*
 * Checksums of committed blocks are taken in the background: a commit that
 * hashed its blocks would hold a store of 4 GiB for a pass over 4 GiB of
 * memory (about 0.5 s on one core), longer than the copy that filled them.
 * The ring holds each queued record once per commit; when it is full a
 * block goes without a checksum (kv_verify says -ENODATA, as for any block
 * never sealed).
 */
void kv_data_queue_sum_locked(struct kv_pool *p, uint64_t ino)
{
	if (p->sumq_tail - p->sumq_head >= p->ninodes)
		return;
	p->hot[ino].dirty = KV_DIRTY_QUEUED;
	p->sumq[p->sumq_tail++ % p->ninodes] = (uint32_t)ino;
}

uint64_t kv_pool_sum_queued(struct kv_pool *p, uint64_t max_bytes)
{
	uint64_t done = 0, ino, gen;
	uint32_t wgen;

	while (done < max_bytes) {
		pthread_mutex_lock(&p->lock);
		if (p->sumq_head == p->sumq_tail) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		ino = p->sumq[p->sumq_head++ % p->ninodes];
		if (p->hot[ino].dirty != KV_DIRTY_QUEUED || kv_inode(p, ino)->state != KV_INODE_LIVE) {
			pthread_mutex_unlock(&p->lock);
			continue;
		}
		wgen = p->wgen[ino];
		gen = kv_inode(p, ino)->gen;
		pthread_mutex_unlock(&p->lock);
		done += seal(p, ino, KV_DIRTY_QUEUED, wgen, gen, NULL) + 1;
	}
	return done;
}

uint64_t kv_pool_sums_queued(struct kv_pool *p)
{
	uint64_t n;

	pthread_mutex_lock(&p->lock);
	n = p->sumq_tail - p->sumq_head;
	pthread_mutex_unlock(&p->lock);
	return n;
}

int kv_verify(struct kv_pool *p, uint64_t ino)
{
	struct kv_snap snap;
	uint64_t want, gen;
	uint32_t wgen;
	bool queued, stored = false;
	int rc;

	if (!file_alive(p, ino))
		return -ENOENT;
	pthread_mutex_lock(&p->lock);
	queued = p->hot[ino].dirty == KV_DIRTY_QUEUED;
	wgen = p->wgen[ino];
	gen = kv_inode(p, ino)->gen;
	pthread_mutex_unlock(&p->lock);
	if (queued) /* committed, its checksum not taken yet: take it now */
		seal(p, ino, KV_DIRTY_QUEUED, wgen, gen, &stored);
	if (stored)
		return 0; /* the bytes just hashed are the checksum: no second pass over them */
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

/* A copy out of the pool, built on kv_read_iov() as kv_write() is on kv_write_begin(). */
ssize_t kv_read(struct kv_pool *p, uint64_t ino, void *buf, size_t len, uint64_t off)
{
	struct iovec iov[KV_INLINE_EXTENTS + 1];
	uint8_t *b = buf;
	ssize_t n;
	int niov, i;

	n = kv_read_iov(p, ino, off, len, iov, KV_INLINE_EXTENTS + 1, &niov);
	if (n < 0)
		return n;
	for (i = 0; i < niov; i++) {
		memcpy(b, iov[i].iov_base, iov[i].iov_len);
		b += iov[i].iov_len;
	}
	kv_read_iov_done(p, ino);
	return n;
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
		/*
		 * A held file's bytes may be read in place (a pin, a zero-copy
		 * mapping of another process): its tail goes at the last release.
		 */
		if (!kv_held(p, ino) && !kv_held_elsewhere(p, ino))
			p->bytes_trimmed += kv_policy_trim(p, ino);
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

ssize_t kv_readlink(struct kv_pool *p, uint64_t ino, char *buf, size_t size)
{
	if (!kv_ino_valid(p, ino) || kv_inode(p, ino)->state != KV_INODE_LIVE)
		return -ENOENT;
	if (!S_ISLNK(kv_inode(p, ino)->mode))
		return -EINVAL;
	return kv_read(p, ino, buf, size, 0);
}

/* --- build at open, free at close --- */

int kv_data_alloc(struct kv_pool *p)
{
	if (!KV_ALLOC_ARRAY(p, wgen, p->ninodes) || !KV_ALLOC_ARRAY(p, sumq, p->ninodes))
		return -ENOMEM;
	return 0;
}

void kv_data_free(struct kv_pool *p)
{
	free(p->wgen);
	free(p->sumq);
}
