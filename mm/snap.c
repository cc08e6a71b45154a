// SPDX-License-Identifier: MIT
/*
 * snap.c - run-time distrust of the shared pool: a read-write client or
 * another process with the pool file can change any metadata byte at any
 * moment. Before a file's extents are used, kv_snap_take() copies them once,
 * checks the copy (check.c's checks), and compares it with a signature the
 * daemon keeps in DRAM of the extents it gave the file; a mismatch
 * quarantines the file (EIO, logged once, counted). Nothing here ever
 * writes to the pool.
 */
#include "check.h"
#include "coherence.h"
#include "log.h"
#include "pool_int.h"
#include "snap.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static uint64_t page_up(uint64_t x)
{
	return (x + KV_PAGE_SIZE - 1) & ~(uint64_t)(KV_PAGE_SIZE - 1);
}

/* One word into the signature: a multiply and a fold, every bit of @w reaching every bit. */
static uint64_t sig_mix(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0x9E3779B97F4A7C15ull;
	return h ^ (h >> 32);
}

/*
 * The daemon's signature of a record's extents. Not a hash call: it runs
 * twice for each block a lookup pins and unpins, and a file has one extent
 * nearly always. It is to catch extents changed by anything but the daemon
 * (a scribble, a damaged device), which cannot see it: it lives in DRAM,
 * from a key drawn at each open (@key), so nobody who reads the pool can
 * work out which other extents would give the same signature. Two lanes
 * (offsets; lengths and the xattr extent) mixed side by side, then
 * together: half the chain of multiplies a pin waits for.
 */
static inline uint64_t ext_sig(uint64_t key, uint16_t n, const struct kv_extent *ext,
			       uint64_t xoff, uint32_t xlen)
{
	uint64_t a = sig_mix(key, n | (uint64_t)xlen << 32), b = sig_mix(~key, xoff);
	uint16_t i;

	for (i = 0; i < n; i++) {
		a = sig_mix(a, ext[i].off);
		b = sig_mix(b, ext[i].len);
	}
	return sig_mix(a, b + (b >> 29));
}

void kv_quarantine(struct kv_pool *p, uint64_t ino, const char *why)
{
	if (__atomic_exchange_n(&p->hot[ino].bad, 1, __ATOMIC_RELAXED))
		return;
	atomic_fetch_add(&p->quarantined, 1);
	kv_log(KV_LOG_ERR,
	       "pool %s: inode %llu %s; it is quarantined (EIO) and the next mount "
	       "checks it again",
	       p->be.path, (unsigned long long)ino, why);
}

bool kv_quarantined(const struct kv_pool *p, uint64_t ino)
{
	return __atomic_load_n(&p->hot[ino].bad, __ATOMIC_RELAXED);
}

/*
 * Copy the record's words kv_snap_take() uses, once. Return: NULL, or why
 * not (more extents than a record holds: none are copied).
 */
static const char *snap_load(struct kv_pool *p, uint64_t ino, struct kv_snap *s, uint32_t *mode)
{
	const struct kv_inode *in = kv_inode(p, ino);
	uint16_t i;

	s->n = __atomic_load_n(&in->extent_count, __ATOMIC_ACQUIRE);
	s->size = __atomic_load_n(&in->size, __ATOMIC_ACQUIRE);
	s->xattr_off = __atomic_load_n(&in->xattr_off, __ATOMIC_RELAXED);
	s->xattr_len = __atomic_load_n(&in->xattr_len, __ATOMIC_RELAXED);
	*mode = __atomic_load_n(&in->mode, __ATOMIC_RELAXED);
	s->alloc = 0;
	if (s->n > KV_INLINE_EXTENTS)
		return "has too many extents";
	/* word loads, not memcpy: one extent is the common case, and an inlined
	 * rep movs costs more to start than the copy */
	for (i = 0; i < s->n; i++) {
		s->ext[i].off = __atomic_load_n(&in->ext[i].off, __ATOMIC_RELAXED);
		s->ext[i].len = __atomic_load_n(&in->ext[i].len, __ATOMIC_RELAXED);
		s->alloc += s->ext[i].len;
	}
	return NULL;
}

/* The size within the extents (not signed: a write publishes it alone). */
static const char *snap_size_why(const struct kv_snap *s, uint32_t mode)
{
	return (mode & S_IFMT) != S_IFDIR && s->size > s->alloc ? "is larger than its extents"
								 : NULL;
}

/* What an open checks of the copy's extents and xattr extent. Return: NULL or why not. */
static const char *snap_geometry_why(struct kv_pool *p, struct kv_snap *s)
{
	const char *why = kv_check_extents(&p->geo, s->ext, s->n, &s->alloc);

	if (!why &&
	    ((s->xattr_off == 0) != (s->xattr_len == 0) || s->xattr_len > KV_XATTR_MAX_BLOB ||
	     (s->xattr_off && !kv_check_extent(&p->geo, s->xattr_off, page_up(s->xattr_len)))))
		why = "has an xattr extent outside the data area";
	return why;
}

/* Copy and check what kv_snap_take() checks, but the signature. Return: NULL or why not. */
static const char *snap_copy(struct kv_pool *p, uint64_t ino, struct kv_snap *s)
{
	uint32_t mode;
	const char *why = snap_load(p, ino, s, &mode);

	if (!why)
		why = snap_geometry_why(p, s);
	return why ? why : snap_size_why(s, mode);
}

/*
 * The signature of what the record holds now, read once: only of extents
 * that pass an open's geometry checks (kv_snap_take() checks no more than
 * the size of a copy whose signature matches). Extents that fail them, or
 * more than a record holds (a record the daemon is told of at open or by
 * the change log, changed since it was checked), get a signature no copy
 * matches but by a 2^-64 chance: the next take finds them bad.
 */
void kv_snap_commit(struct kv_pool *p, uint64_t ino)
{
	struct kv_snap s;
	uint32_t mode;
	uint64_t sig;

	if (snap_load(p, ino, &s, &mode)) {
		sig = ~ext_sig(p->sig_key, 0, NULL, 0, 0);
	} else {
		sig = ext_sig(p->sig_key, s.n, s.ext, s.xattr_off, s.xattr_len);
		if (snap_geometry_why(p, &s))
			sig = ~sig;
	}
	p->hot[ino].sig = sig;
	if (p->up.changed) /* a leader's new extents: the followers take them too */
		p->up.changed(p, ino);
}

void kv_snap_commit_empty(struct kv_pool *p, uint64_t ino)
{
	p->hot[ino].sig = ext_sig(p->sig_key, 0, NULL, 0, 0);
	if (p->up.changed)
		p->up.changed(p, ino);
}

/*
 * Is @ino (of generation @gen) named in the change log past a follower's
 * view's place? The leader logs each record it changes, just after
 * changing it (nodes.c). A log the leader wrote past the view's place, or a
 * view that failed to follow, says the view is behind on everything.
 */
static bool logged_since_view(struct kv_pool *p, uint64_t ino, uint32_t gen)
{
	uint64_t pos = p->follow_pos, before, inos[64], gens[64];
	int n, i, batch;

	if (p->follow_err)
		return true;
	/* the log holds 4,092 entries: a leader that writes them faster than this reads them
	 * has the view behind anyway */
	for (batch = 0; batch < 64; batch++) {
		before = pos;
		n = kv_pool_log_read(p, &pos, inos, gens, 64);
		if (n <= 0)
			return false;
		if (pos - (uint64_t)n != before)
			return true;
		for (i = 0; i < n; i++)
			if (inos[i] == ino && (uint32_t)gens[i] == gen)
				return true;
	}
	return true;
}

/*
 * A follower's view signs the extents it followed (follow.c), and the
 * leader may have changed them since: that is the view being behind, not
 * damage, when the record is still the generation the view indexed, its
 * copy passes every check but the signature, and the log names it since
 * the view's place; then the read uses the leader's extents, and the view
 * takes them when it follows. A copy caught while the leader changes the
 * record, or before it logs the change, is tried again for up to
 * SNAP_AHEAD_TRIES x 100 us. A record reused for another file is not the
 * file the view knows, whatever its extents (-ESTALE, nothing
 * quarantined: the leader may have given it the same pages); anything
 * else is damage. @why: what the first copy failed, or NULL.
 */
#define SNAP_AHEAD_TRIES 20
static int snap_follower(struct kv_pool *p, uint64_t ino, struct kv_snap *s, const char *why)
{
	struct kv_inode *in = kv_inode(p, ino);
	int tries;

	for (tries = 0; tries < SNAP_AHEAD_TRIES; tries++) {
		struct timespec ts = { 0, 100000 };
		uint32_t gen;

		if (tries) {
			nanosleep(&ts, NULL);
			kv_coh_invalidate(in, sizeof(*in));
		}
		gen = (uint32_t)__atomic_load_n(&in->gen, __ATOMIC_ACQUIRE);
		if (gen != p->hot[ino].gen && ino != KV_ROOT_INO) /* the root: never reused, not indexed */
			return -ESTALE;
		if (!why)
			return 0;
		if (!snap_copy(p, ino, s) && logged_since_view(p, ino, gen) &&
		    (uint32_t)__atomic_load_n(&in->gen, __ATOMIC_ACQUIRE) == gen)
			return 0;
	}
	kv_quarantine(p, ino, why);
	return -EIO;
}

bool kv_snap_damaged(struct kv_pool *p, uint64_t ino)
{
	struct kv_inode *in = kv_inode(p, ino);
	int tries;

	for (tries = 0; p->seen && tries < SNAP_AHEAD_TRIES; tries++) {
		struct timespec ts = { 0, 100000 };

		if (tries)
			nanosleep(&ts, NULL);
		kv_coh_invalidate(in, sizeof(*in));
		if (logged_since_view(p, ino, (uint32_t)__atomic_load_n(&in->gen, __ATOMIC_ACQUIRE)))
			return false;
	}
	return true;
}

int kv_snap_take(struct kv_pool *p, uint64_t ino, struct kv_snap *s)
{
	const char *why;
	uint32_t mode;

	if (kv_quarantined(p, ino))
		return -EIO;
	why = snap_load(p, ino, s, &mode);
	/* the daemon's signature first: extents it gave were checked when it gave them */
	if (!why && ext_sig(p->sig_key, s->n, s->ext, s->xattr_off, s->xattr_len) != p->hot[ino].sig) {
		why = snap_geometry_why(p, s);
		if (!why)
			why = "has extents the daemon did not give it";
	}
	if (!why)
		why = snap_size_why(s, mode);
	if (p->seen) /* a cluster follower's view */
		return snap_follower(p, ino, s, why);
	if (why) {
		kv_quarantine(p, ino, why);
		return -EIO;
	}
	return 0;
}

int kv_snap_alloc(struct kv_pool *p)
{
	kv_draw_key(&p->sig_key, 1, p->hot);
	return 0;
}
