// SPDX-License-Identifier: MIT
/*
 * policy.c - per-directory cache policy: `user.kvfs.evict` (lru | never) and
 * `user.kvfs.quota` (bytes) on a directory govern every file below it down
 * to the next marked directory (the nearest marked ancestor wins).
 *
 * A marked directory is an anchor: a DRAM slot holding its policy, the
 * bytes its files hold, its counters and its own LRU list of unheld files.
 * Slot 0 is the unmarked rest of the pool. Files under `never` are on no
 * list, so nothing here or in eviction can take them; a quota is kept by
 * eviction (evict.c) from the anchor's own list before a write grows past it.
 *
 * The policy lives on the pool as ordinary xattrs (it survives restarts and
 * shows in getfattr); the slots are rebuilt from them at open. Every
 * function here is called with p->lock held. It must not allocate pool
 * space or touch the journal.
 */
#include "extents.h"
#include "lru.h"
#include "policy.h"
#include "pool_int.h"
#include "xattr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KV_POLICY_DEPTH_MAX 4096 /* parent walks stop here: a cycle is damage */

bool kv_policy_is_name(const char *name)
{
	return !strcmp(name, KV_XATTR_EVICT) || !strcmp(name, KV_XATTR_QUOTA);
}

/* "64M", "2G", "1048576", "1.5G": bytes, or -EINVAL. */
static int parse_bytes(const char *s, size_t len, uint64_t *out)
{
	char buf[32], *end;
	double v;
	uint64_t mul;

	while (len && (s[len - 1] == '\n' || s[len - 1] == ' '))
		len--;
	if (!len || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = 0;
	if (buf[0] < '0' || buf[0] > '9')
		return -EINVAL;
	v = strtod(buf, &end);
	mul = kv_size_unit(&end);
	if (*end == 'i' && mul > 1)
		end++;
	if ((*end == 'B' || *end == 'b') && mul > 1)
		end++;
	if (*end || v < 0 || v * (double)mul > 1.8e19)
		return -EINVAL;
	*out = (uint64_t)(v * (double)mul);
	return 0;
}

int kv_policy_check_value(const char *name, const void *value, size_t size)
{
	uint64_t q;

	if (!strcmp(name, KV_XATTR_EVICT)) {
		if ((size == 3 && !memcmp(value, "lru", 3)) ||
		    (size == 5 && !memcmp(value, "never", 5)) ||
		    (size == 4 && !memcmp(value, "lru\n", 4)) ||
		    (size == 6 && !memcmp(value, "never\n", 6)))
			return 0;
		return -EINVAL;
	}
	if (!strcmp(name, KV_XATTR_QUOTA))
		return parse_bytes(value, size, &q);
	return 0;
}

/* --- slots --- */

static uint32_t slot_new(struct kv_pool *p, uint64_t dir)
{
	uint32_t i;

	for (i = 1; i < p->nanchors; i++)
		if (!p->anchors[i].ino)
			break;
	if (i == p->nanchors) {
		struct kv_anchor *a;

		if (p->nanchors == p->anchors_cap) {
			uint32_t cap = p->anchors_cap ? p->anchors_cap * 2 : 8;

			a = realloc(p->anchors, cap * sizeof(*a));
			if (!a)
				return 0;
			p->anchors = a;
			p->anchors_cap = cap;
		}
		p->nanchors++;
	}
	memset(&p->anchors[i], 0, sizeof(p->anchors[i]));
	p->anchors[i].ino = dir;
	p->anchor_idx[dir] = i;
	return i;
}

uint32_t kv_policy_anchor_of_dir(struct kv_pool *p, uint64_t dir)
{
	int depth = 0;

	while (kv_ino_valid(p, dir) && depth++ < KV_POLICY_DEPTH_MAX) {
		if (p->anchor_idx[dir])
			return p->anchor_idx[dir];
		if (dir == KV_ROOT_INO)
			break;
		dir = kv_inode(p, dir)->parent;
	}
	return 0;
}

/* Read this directory's policy xattrs into @a (defaults when absent). Return: true if any. */
static bool read_policy(struct kv_pool *p, uint64_t dir, bool *never, uint64_t *quota)
{
	char v[32];
	ssize_t n;
	bool any = false;

	*never = false;
	*quota = 0;
	n = kv_xattr_get_locked(p, dir, KV_XATTR_EVICT, v, sizeof(v));
	if (n >= 0) {
		any = true;
		*never = n >= 5 && !memcmp(v, "never", 5);
	}
	n = kv_xattr_get_locked(p, dir, KV_XATTR_QUOTA, v, sizeof(v));
	if (n >= 0 && parse_bytes(v, (size_t)n, quota) == 0)
		any = true;
	return any;
}

/* --- files and their anchor --- */

void kv_policy_charge(struct kv_pool *p, uint64_t ino, int64_t delta)
{
	struct kv_anchor *a;

	if (!p->hot[ino].file_anchor)
		return; /* not counted: an orphan, or a record being built */
	a = &p->anchors[p->hot[ino].file_anchor - 1];
	a->used = (int64_t)a->used + delta < 0 ? 0 : (uint64_t)((int64_t)a->used + delta);
}

void kv_policy_attach(struct kv_pool *p, uint64_t ino)
{
	uint32_t i = kv_policy_anchor_of_dir(p, kv_inode(p, ino)->parent);

	if (p->hot[ino].file_anchor)
		return;
	p->hot[ino].file_anchor = i + 1;
	p->anchors[i].files++;
	kv_policy_charge(p, ino, (int64_t)kv_extents_bytes(kv_inode(p, ino)));
}

void kv_policy_detach(struct kv_pool *p, uint64_t ino)
{
	struct kv_anchor *a;

	if (!p->hot[ino].file_anchor)
		return;
	kv_policy_charge(p, ino, -(int64_t)kv_extents_bytes(kv_inode(p, ino)));
	a = &p->anchors[p->hot[ino].file_anchor - 1];
	if (a->files)
		a->files--;
	p->hot[ino].file_anchor = 0;
}

/* Move one file to the anchor its place in the tree gives it now. */
static void reattach_file(struct kv_pool *p, uint64_t ino)
{
	uint32_t to = kv_policy_anchor_of_dir(p, kv_inode(p, ino)->parent);
	bool listed = p->hot[ino].in_lru;

	if (!p->hot[ino].file_anchor || to + 1 == p->hot[ino].file_anchor)
		return;
	if (listed)
		kv_lru_remove(p, ino);
	kv_policy_detach(p, ino);
	kv_policy_attach(p, ino);
	if (listed || (!kv_held(p, ino) && kv_inode(p, ino)->state == KV_INODE_LIVE &&
		       (S_ISREG(kv_inode(p, ino)->mode) || S_ISLNK(kv_inode(p, ino)->mode))))
		kv_lru_append(p, ino);
}

/* Call @fn on every file below directory @dir (depth first; stops early if out of memory). */
static void for_each_file_below(struct kv_pool *p, uint64_t dir,
				void (*fn)(struct kv_pool *p, uint64_t ino, uint32_t arg),
				uint32_t arg)
{
	uint64_t *stack, n = 0, cap = 64;

	stack = malloc(cap * sizeof(*stack));
	if (!stack)
		return;
	stack[n++] = dir;
	while (n) {
		uint64_t d = stack[--n], c;

		for (c = p->child_first[d]; c; c = p->sib_next[c]) {
			if (!kv_is_dir(kv_inode(p, c))) {
				fn(p, c, arg);
				continue;
			}
			if (n == cap) {
				uint64_t *s = realloc(stack, 2 * cap * sizeof(*s));

				if (!s)
					break;
				stack = s;
				cap *= 2;
			}
			stack[n++] = c;
		}
	}
	free(stack);
}

static void reattach_one(struct kv_pool *p, uint64_t ino, uint32_t unused)
{
	reattach_file(p, ino);
}

void kv_policy_reattach_tree(struct kv_pool *p, uint64_t ino)
{
	if (kv_is_dir(kv_inode(p, ino)))
		for_each_file_below(p, ino, reattach_one, 0);
	else
		reattach_file(p, ino);
}

void kv_policy_refresh_dir(struct kv_pool *p, uint64_t dir)
{
	bool never;
	uint64_t quota;
	uint32_t i = p->anchor_idx[dir];

	if (!kv_is_dir(kv_inode(p, dir)))
		return;
	if (read_policy(p, dir, &never, &quota)) {
		if (!i)
			i = slot_new(p, dir);
		if (!i)
			return;
		p->anchors[i].never = never;
		p->anchors[i].quota = quota;
		p->anchors[i].gen = kv_inode(p, dir)->gen;
	} else if (i) {
		p->anchor_idx[dir] = 0;
	}
	kv_policy_reattach_tree(p, dir);
	if (i && !p->anchor_idx[dir])
		p->anchors[i].ino = 0; /* every file moved out above: the slot is free */
	else if (i && never)
		kv_policy_unlist(p, i);
	else if (i)
		kv_policy_relist(p, i, dir);
}

void kv_policy_dir_gone(struct kv_pool *p, uint64_t dir)
{
	uint32_t i = p->anchor_idx[dir];

	if (!i)
		return;
	p->anchor_idx[dir] = 0;
	p->anchors[i].ino = 0;
}

/* A `never` anchor keeps no list: take its files off. */
void kv_policy_unlist(struct kv_pool *p, uint32_t a)
{
	kv_lru_clear(p, a);
}

/* An anchor that became `lru`: list its unheld files (they were on none). */
/* List @ino if it is an unheld live file of anchor @a and on no list. */
static void relist_one(struct kv_pool *p, uint64_t ino, uint32_t a)
{
	if (p->hot[ino].file_anchor == a + 1 && !p->hot[ino].in_lru && !kv_held(p, ino) &&
	    (S_ISREG(kv_inode(p, ino)->mode) || S_ISLNK(kv_inode(p, ino)->mode)) &&
	    kv_inode(p, ino)->state == KV_INODE_LIVE)
		kv_lru_append(p, ino);
}

void kv_policy_relist(struct kv_pool *p, uint32_t a, uint64_t dir)
{
	for_each_file_below(p, dir, relist_one, a);
}

/* --- the quota --- */

uint64_t kv_policy_room(struct kv_pool *p, uint64_t ino)
{
	uint32_t i = p->hot[ino].file_anchor ? p->hot[ino].file_anchor - 1 : 0;
	const struct kv_anchor *a = &p->anchors[i];

	if (!i || !a->quota)
		return UINT64_MAX;
	return a->used < a->quota ? a->quota - a->used : 0;
}

void kv_policy_hit(struct kv_pool *p, uint64_t ino)
{
	if (p->hot[ino].file_anchor)
		p->anchors[p->hot[ino].file_anchor - 1].hits++;
}

/* --- at open --- */

int kv_policy_build(struct kv_pool *p)
{
	uint64_t ino;

	p->anchors_cap = 8;
	p->anchors = calloc(p->anchors_cap, sizeof(*p->anchors));
	if (!p->anchors)
		return -ENOMEM;
	p->nanchors = 1; /* slot 0: everything unmarked */
	for (ino = KV_ROOT_INO; ino < p->ninodes; ino++) {
		struct kv_inode *in = kv_inode(p, ino);
		bool never;
		uint64_t quota;
		uint32_t i;

		if (in->state != KV_INODE_LIVE || !kv_is_dir(in) || !in->xattr_off)
			continue;
		if (!read_policy(p, ino, &never, &quota))
			continue;
		i = slot_new(p, ino);
		if (!i)
			return -ENOMEM;
		p->anchors[i].never = never;
		p->anchors[i].quota = quota;
		p->anchors[i].gen = in->gen;
	}
	return 0;
}

void kv_policy_free(struct kv_pool *p)
{
	free(p->anchor_idx);
	free(p->anchors);
	p->anchors = NULL;
	p->nanchors = p->anchors_cap = 0;
}

/* --- for operators --- */

int kv_pool_dir_stats(struct kv_pool *p, struct kv_dir_stats *out, int max)
{
	uint32_t i;
	int n = 0;

	pthread_mutex_lock(&p->lock);
	for (i = 1; i < p->nanchors && n < max; i++) {
		const struct kv_anchor *a = &p->anchors[i];

		if (!a->ino)
			continue;
		out[n] = (struct kv_dir_stats){ .ino = a->ino,
						.never = a->never,
						.quota_bytes = a->quota,
						.used_bytes = a->used,
						.files = a->files,
						.hits = a->hits,
						.evictions = a->evictions,
						.evicted_bytes = a->evicted_bytes };
		n++;
	}
	pthread_mutex_unlock(&p->lock);
	return n;
}

uint64_t kv_policy_trim(struct kv_pool *p, uint64_t ino)
{
	uint64_t trimmed;

	/* a pinned extent is read in place: its bytes stay the file's until the last unpin */
	if (p->hot[ino].pin_count)
		return 0;
	trimmed = kv_extents_trim(p, ino);
	if (trimmed) /* nearly never: a block is stored whole */
		kv_policy_charge(p, ino, -(int64_t)trimmed);
	return trimmed;
}

int kv_policy_alloc(struct kv_pool *p)
{
	if (!KV_ALLOC_ARRAY(p, anchor_idx, p->ninodes))
		return -ENOMEM;
	return 0;
}
