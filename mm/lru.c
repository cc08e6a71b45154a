// SPDX-License-Identifier: MIT
/*
 * lru.c - the lists of files nobody holds, least recently used first, one
 * per anchor (policy.c's directories with a policy; slot 0 the rest); the
 * heads live in struct kv_anchor. Eviction (evict.c) takes a list's head
 * in O(1). Calls nothing but pool_int.h's helpers; caller holds p->lock.
 */
#include "lru.h"
#include "pool_int.h"

#include <errno.h>
#include <stdlib.h>

/* Each anchor (policy.c) keeps its own list; slot 0 is the unmarked rest. */
void kv_lru_remove(struct kv_pool *p, uint64_t ino)
{
	struct kv_anchor *a;

	if (!p->in_lru[ino])
		return;
	a = &p->anchors[p->file_anchor[ino] ? p->file_anchor[ino] - 1 : 0];
	if (p->lru_prev[ino])
		p->lru_next[p->lru_prev[ino]] = p->lru_next[ino];
	else
		a->lru_head = p->lru_next[ino];
	if (p->lru_next[ino])
		p->lru_prev[p->lru_next[ino]] = p->lru_prev[ino];
	else
		a->lru_tail = p->lru_prev[ino];
	p->lru_prev[ino] = p->lru_next[ino] = KV_NONE;
	p->in_lru[ino] = 0;
}

/* Files under an `evict=never` directory go on no list: nothing can evict them. */
void kv_lru_append(struct kv_pool *p, uint64_t ino)
{
	struct kv_anchor *a = &p->anchors[p->file_anchor[ino] ? p->file_anchor[ino] - 1 : 0];

	if (p->in_lru[ino] || a->never)
		return;
	p->lru_next[ino] = KV_NONE;
	p->lru_prev[ino] = a->lru_tail;
	if (a->lru_tail)
		p->lru_next[a->lru_tail] = (uint32_t)ino;
	else
		a->lru_head = (uint32_t)ino;
	a->lru_tail = (uint32_t)ino;
	p->in_lru[ino] = 1;
}

/*
 * A lookup makes the file the most recently used at once. (Marking it and
 * moving it only when it reached the head, CLOCK's second chance, was
 * cheaper at a million files but not LRU: a file read once long ago went
 * behind every file written since, and a block just stored was evicted
 * before it.)
 */
void kv_lru_touch(struct kv_pool *p, uint64_t ino)
{
	kv_inode(p, ino)->last_use_ns = kv_now_ns();
	if (p->in_lru[ino]) {
		kv_lru_remove(p, ino);
		kv_lru_append(p, ino);
	}
}

/* --- build at open, free at close --- */

int kv_lru_alloc(struct kv_pool *p)
{
	uint64_t n = p->ninodes;

	if (!KV_ALLOC_ARRAY(p, lru_prev, n) || !KV_ALLOC_ARRAY(p, lru_next, n) ||
	    !KV_ALLOC_ARRAY(p, in_lru, n))
		return -ENOMEM;
	return 0;
}

void kv_lru_free(struct kv_pool *p)
{
	free(p->lru_prev);
	free(p->lru_next);
	free(p->in_lru);
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
	for (i = 0; i < n; i++)
		kv_lru_append(p, files[i]);
}
