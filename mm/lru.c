// SPDX-License-Identifier: MIT
/*
 * lru.c - the files nobody holds, least recently used first, one set per
 * anchor (policy.c's directories with a policy; slot 0 the rest). Eviction
 * (evict.c) asks for an anchor's least recently used file.
 *
 * Each set is a binary min-heap of (stamp, inode, membership) entries kept
 * lazily: a use of a file only writes its record's last_use_ns (a lookup
 * reads that record anyway), and taking a file off its set only clears its
 * in_lru mark. A doubly linked list moved on every use costs four or five
 * DRAM misses at a million files; this costs none. The entries pay at the
 * top: kv_lru_head() drops the ones whose file left the set (in_lru clear,
 * or joined again since: another membership number) and puts back, at its
 * new stamp, one whose file was used since it went in, and takes off the
 * set one that is held (open or pinned: a hold does not touch the set, so
 * a lookup's pin and unpin cost no heap work; the last release puts a file
 * taken off back in); then the top is the least recently used unheld file,
 * exactly. Stamps are unique and ordered by the
 * events (clock times, made unique: a use or a join later than the last
 * stamp given), so files that join together leave in the order they
 * joined, as a list's tail would have them. Stale entries are compacted
 * away once they are half the heap. Calls nothing but pool_int.h's helpers;
 * caller holds p->lock.
 */
#include "log.h"
#include "lru.h"
#include "pool_int.h"

#include <errno.h>
#include <stdlib.h>

static struct kv_anchor *anchor_of(struct kv_pool *p, uint64_t ino)
{
	return &p->anchors[p->hot[ino].file_anchor ? p->hot[ino].file_anchor - 1 : 0];
}

/* --- the heap --- */

static void sift_up(struct kv_lru_ent *h, uint32_t i)
{
	struct kv_lru_ent e = h[i];

	while (i && h[(i - 1) / 2].key > e.key) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = e;
}

static void sift_down(struct kv_lru_ent *h, uint32_t n, uint32_t i)
{
	struct kv_lru_ent e = h[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && h[c + 1].key < h[c].key)
			c++;
		if (h[c].key >= e.key)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = e;
}

static void pop(struct kv_anchor *a)
{
	a->heap[0] = a->heap[--a->nheap];
	if (a->nheap)
		sift_down(a->heap, a->nheap, 0);
}

static bool live(const struct kv_pool *p, const struct kv_lru_ent *e)
{
	return p->hot[e->ino].in_lru && p->lru_seq[e->ino] == e->seq;
}

/* Keep the live entries only, as a heap again. */
static void compact(struct kv_pool *p, struct kv_anchor *a)
{
	uint32_t i, n = 0;

	for (i = 0; i < a->nheap; i++)
		if (live(p, &a->heap[i]))
			a->heap[n++] = a->heap[i];
	a->nheap = n;
	for (i = n / 2; i-- > 0;)
		sift_down(a->heap, n, i);
}

/* Return: 0, or -ENOMEM (the entry is not added). */
static int push(struct kv_pool *p, struct kv_anchor *a, struct kv_lru_ent e)
{
	if (a->nheap > 2 * a->nlru + 1024)
		compact(p, a);
	if (a->nheap == a->capheap) {
		uint32_t cap = a->capheap ? 2 * a->capheap : 1024;
		struct kv_lru_ent *h = realloc(a->heap, sizeof(*h) * cap);

		if (!h)
			return -ENOMEM;
		a->heap = h;
		a->capheap = cap;
	}
	a->heap[a->nheap] = e;
	sift_up(a->heap, a->nheap++);
	return 0;
}

/* --- membership --- */

void kv_lru_remove(struct kv_pool *p, uint64_t ino)
{
	struct kv_anchor *a;

	if (!p->hot[ino].in_lru)
		return;
	a = anchor_of(p, ino);
	p->hot[ino].in_lru = 0; /* its entry goes when it reaches the top, or at a compaction */
	a->nlru--;
}

/* A unique stamp at @now_ns: later than every stamp given (one event, one stamp). */
static int64_t next_stamp(struct kv_pool *p, int64_t now_ns)
{
	if (now_ns <= p->lru_stamp)
		now_ns = p->lru_stamp + 1;
	return p->lru_stamp = now_ns;
}

void kv_lru_append(struct kv_pool *p, uint64_t ino)
{
	kv_lru_append_at(p, ino, kv_now_ns());
}

/* Files under an `evict=never` directory go in no set: nothing can evict them. */
void kv_lru_append_at(struct kv_pool *p, uint64_t ino, int64_t now_ns)
{
	struct kv_anchor *a = anchor_of(p, ino);
	struct kv_lru_ent e;

	if (a->never)
		return;
	if (p->hot[ino].in_lru) { /* still in (a held file is until it reaches the top): a use */
		kv_lru_touch_at(p, ino, now_ns);
		return;
	}
	/* the time it joins counts as a use; stamps are clock times, so a use another
	 * process wrote in the record (a cluster follower's view) compares with ours */
	e.key = next_stamp(p, now_ns);
	e.ino = (uint32_t)ino;
	e.seq = ++p->lru_seq[ino];
	if (!p->readonly) /* a read-only open (stat, fsck, a follower's view) writes nothing */
		kv_inode(p, ino)->last_use_ns = e.key;
	if (push(p, a, e)) {
		kv_log(KV_LOG_WARNING,
		       "pool %s: no memory for the eviction order: inode %llu stays until its next use",
		       p->be.path, (unsigned long long)ino);
		return;
	}
	p->hot[ino].in_lru = 1;
	a->nlru++;
}

/*
 * A use of @ino now: its stamp. If it is in a set, its entry moves when it
 * reaches the top. The coarse clock (a tick, 1-4 ms): the precise one's vDSO read fences
 * (rdtsc after lfence), so every lookup hit would wait for its own DRAM
 * misses and the one before it: 3.5x the time at a million files. Order
 * needs no precision: stamps stay unique and ordered (next_stamp()).
 */
void kv_lru_touch(struct kv_pool *p, uint64_t ino)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	kv_lru_touch_at(p, ino, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

void kv_lru_touch_at(struct kv_pool *p, uint64_t ino, int64_t now_ns)
{
	int64_t stamp = next_stamp(p, now_ns);

	if (!p->readonly) /* a read-only open (stat, fsck, a follower's view) writes nothing */
		kv_inode(p, ino)->last_use_ns = stamp;
}

uint64_t kv_lru_head(struct kv_pool *p, uint32_t anchor, int64_t *stamp)
{
	struct kv_anchor *a = &p->anchors[anchor];
	uint32_t moved = 0;

	while (a->nheap) {
		struct kv_lru_ent top = a->heap[0];
		int64_t used;

		if (!live(p, &top)) {
			pop(a);
			continue;
		}
		/* open or pinned: off the set; its last release puts it back */
		if (kv_held(p, top.ino)) {
			kv_lru_remove(p, top.ino);
			pop(a);
			continue;
		}
		used = __atomic_load_n(&kv_inode(p, top.ino)->last_use_ns, __ATOMIC_RELAXED);
		/* used since it went in: back in at its use (each once; the pool's stamp may be
		 * scribbled, so the moves are bounded) */
		if (used > top.key && moved++ < a->nheap) {
			top.key = used;
			a->heap[0] = top;
			sift_down(a->heap, a->nheap, 0);
			continue;
		}
		if (stamp)
			*stamp = top.key;
		return top.ino;
	}
	return KV_NONE;
}

void kv_lru_clear(struct kv_pool *p, uint32_t anchor)
{
	struct kv_anchor *a = &p->anchors[anchor];
	uint32_t i;

	for (i = 0; i < a->nheap; i++)
		if (live(p, &a->heap[i]))
			p->hot[a->heap[i].ino].in_lru = 0;
	a->nheap = 0;
	a->nlru = 0;
}

/* --- build at open, free at close --- */

int kv_lru_alloc(struct kv_pool *p)
{
	uint64_t n = p->ninodes;

	if (!KV_ALLOC_ARRAY(p, lru_seq, n))
		return -ENOMEM;
	return 0;
}

void kv_lru_free(struct kv_pool *p)
{
	uint32_t i;

	for (i = 0; p->anchors && i < p->nanchors; i++) {
		free(p->anchors[i].heap);
		p->anchors[i].heap = NULL;
		p->anchors[i].nheap = p->anchors[i].capheap = p->anchors[i].nlru = 0;
	}
	free(p->lru_seq);
}

static int cmp_recency(const void *a, const void *b, void *arg)
{
	const struct kv_inode *inodes = arg;
	int64_t x = inodes[*(const uint32_t *)a].last_use_ns,
		y = inodes[*(const uint32_t *)b].last_use_ns;

	return x < y ? -1 : x > y;
}

void kv_lru_build(struct kv_pool *p, uint32_t *files, uint64_t n)
{
	uint64_t i;

	qsort_r(files, n, sizeof(*files), cmp_recency, p->inodes);
	/* stamps continue from now (the pool's may be scribbled: not from a future) */
	p->lru_stamp = kv_now_ns();
	for (i = 0; i < n; i++)
		kv_lru_append(p, files[i]);
}
