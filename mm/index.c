// SPDX-License-Identifier: MIT
/*
 * index.c - the DRAM indexes over the inode table, and nothing else: a
 * hash of (parent, name) for O(1) lookups, a per-directory child list in
 * creation order for readdir without scanning the table, and the list of
 * empty directories. The inode table on the pool is the truth; pool.c
 * rebuilds these at open (kv_index_add_record for each live record). The
 * operations on names are namespace.c's, the ghosts of reclaimed
 * directories ghost.c's. Nothing here writes the pool. Caller holds p->lock.
 */
#include "extents.h"
#include "hex.h"
#include "index.h"
#include "lru.h"
#include "pool_int.h"

#include <errno.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <linux/fs.h>
#include <xxhash.h>

/* --- helpers --- */

bool kv_index_is_live_dir(struct kv_pool *p, uint64_t ino)
{
	return kv_ino_valid(p, ino) && kv_inode(p, ino)->state == KV_INODE_LIVE &&
	       kv_is_dir(kv_inode(p, ino));
}

/*
 * The name hash, keyed by a secret drawn at each open (p->hseed): whoever
 * makes names cannot make them collide on purpose, into one run of the
 * open-addressed table that every lookup landing in it walks (seeded with
 * the parent alone, XXH3 was anyone's to compute). A block's name, 32
 * lowercase hex digits, is hashed from its 16 bytes with one multiply, so a
 * batch of block lookups given the bytes neither formats nor hashes digits
 * (kv_index_find_block); any other name by XXH3.
 */
static uint64_t bin_hash(const struct kv_pool *p, uint64_t parent, const uint8_t b[16])
{
	uint64_t lo, hi;
	unsigned __int128 m;

	memcpy(&lo, b, 8);
	memcpy(&hi, b + 8, 8);
	m = (unsigned __int128)(lo ^ p->hseed[0]) *
	    (hi ^ p->hseed[1] ^ (parent * 0x9E3779B97F4A7C15ull));
	return (uint64_t)m ^ (uint64_t)(m >> 64);
}

uint64_t kv_index_name_hash(const struct kv_pool *p, const char *name, size_t len, uint64_t parent)
{
	uint8_t b[16];

	if (len == 32 && kv_unhex32((const uint8_t *)name, b))
		return bin_hash(p, parent, b);
	return XXH3_64bits_withSeed(name, len, parent ^ p->hseed[0]);
}

uint64_t kv_index_block_hash(const struct kv_pool *p, uint64_t parent, const uint8_t b[16])
{
	return bin_hash(p, parent, b);
}

static bool name_eq(const struct kv_inode *in, uint64_t parent, const char *name, size_t len)
{
	return in->parent == parent && in->name_len == len && memcmp(in->name, name, len) == 0;
}

void kv_index_fill_attr(struct kv_pool *p, uint64_t ino, struct kv_attr *a)
{
	const struct kv_inode *in = kv_inode(p, ino);

	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->gen = in->gen;
	a->mode = in->mode;
	a->uid = in->uid;
	a->gid = in->gid;
	a->atime_ns = in->atime_ns;
	a->mtime_ns = in->mtime_ns;
	a->ctime_ns = in->ctime_ns;
	if (kv_is_dir(in)) {
		a->nlink = 2 + p->nsubdir[ino];
		a->size = 4096;
	} else {
		a->nlink = in->state == KV_INODE_LIVE ? 1 : 0;
		a->size = atomic_load_explicit((_Atomic uint64_t *)&in->size, memory_order_acquire);
		a->alloc_bytes = kv_extents_bytes(in) + ((in->xattr_len + KV_PAGE_SIZE - 1) &
							 ~(uint64_t)(KV_PAGE_SIZE - 1));
	}
}

/* A name a create or lookup may use. Return: 0, -EINVAL, -ENAMETOOLONG. */
int kv_index_check_name(const char *name, size_t len)
{
	if (len == 0 || memchr(name, '/', len) || memchr(name, 0, len))
		return -EINVAL;
	if (len > KV_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* --- the name hash --- */

/*
 * Open addressing with linear probing over (full 64-bit hash, inode) slots,
 * four to a cache line: a probe reads one line of this table, and the name
 * only when the whole hash matches (a block's in struct kv_hot, any other in
 * its record), so a lookup costs about two DRAM misses however many files
 * there are. Deletion shifts the run back (no tombstones); the table is
 * sized for a load of at most 2/3.
 *
 * hash_insert_h() indexes @ino under the name and parent of @in (its record,
 * or a follower's checked copy of it).
 */
static void hash_insert_h(struct kv_pool *p, uint64_t ino, const struct kv_inode *in)
{
	uint64_t h = kv_index_name_hash(p, (const char *)in->name, in->name_len, in->parent);
	uint64_t i = h & p->hmask;
	struct kv_hot *hot = &p->hot[ino];

	while (p->htab[i].ino)
		i = (i + 1) & p->hmask;
	p->htab[i].hash = h;
	p->htab[i].ino = ino;
	p->hkey[ino] = h;
	hot->parent = (uint32_t)in->parent;
	hot->gen = (uint32_t)in->gen;
	hot->hexname = in->name_len == 32 && in->parent <= UINT32_MAX &&
		       kv_unhex32(in->name, hot->name16);
}

void kv_index_hash_insert(struct kv_pool *p, uint64_t ino)
{
	hash_insert_h(p, ino, kv_inode(p, ino));
}

/* By the hash it went in with, not by the record's name: the pool may have changed that. */
void kv_index_hash_remove(struct kv_pool *p, uint64_t ino)
{
	uint64_t h = p->hkey[ino], i = h & p->hmask, j;

	while (p->htab[i].ino && p->htab[i].ino != ino)
		i = (i + 1) & p->hmask;
	if (!p->htab[i].ino)
		return; /* not indexed */
	/* Move back each later slot of the run whose home is not in (i, j]. */
	for (j = (i + 1) & p->hmask; p->htab[j].ino; j = (j + 1) & p->hmask) {
		uint64_t home = p->htab[j].hash & p->hmask;

		if (((j - home) & p->hmask) >= ((j - i) & p->hmask)) {
			p->htab[i] = p->htab[j];
			i = j;
		}
	}
	p->htab[i].ino = KV_NONE;
	p->htab[i].hash = 0;
}

/* a block indexed under @parent whose record is still the generation indexed */
static bool hot_block_in(struct kv_pool *p, uint64_t ino, uint64_t parent)
{
	return p->hot[ino].parent == parent &&
	       p->hot[ino].gen == (uint32_t)__atomic_load_n(&kv_inode(p, ino)->gen, __ATOMIC_RELAXED);
}

/*
 * Whether indexed @ino is (@parent, @name): a block's name is compared in
 * DRAM (struct kv_hot, which a hit reads anyway), any other in the record.
 * A block's record must still be the generation indexed (its first line,
 * which a hit reads too): a follower's view, until it follows the leader's
 * reuse of the record for another file, then misses, as the name compare in
 * the record did, rather than finding that file's extents unsigned (EIO).
 */
static bool slot_is(struct kv_pool *p, uint64_t ino, uint64_t parent, const char *name, size_t len)
{
	const struct kv_hot *hot = &p->hot[ino];

	if (hot->hexname)
		return len == 32 && kv_hex16_eq(hot->name16, name) && hot_block_in(p, ino, parent);
	return name_eq(kv_inode(p, ino), parent, name, len);
}

static uint64_t hash_find_h(struct kv_pool *p, uint64_t h, uint64_t parent, const char *name,
			    size_t len)
{
	uint64_t i;

	for (i = h & p->hmask; p->htab[i].ino; i = (i + 1) & p->hmask)
		if (p->htab[i].hash == h) {
			uint64_t ino = p->htab[i].ino;
			const struct kv_inode *in = kv_inode(p, ino);

			/* the lines a hit reads, at once rather than each after the last */
			kv_prefetch_record(p, ino);
			if (len != 32) { /* not a block's name: the record's name is compared */
				__builtin_prefetch(in->name);
				__builtin_prefetch(in->name + len - 1);
			}
			if (slot_is(p, ino, parent, name, len))
				return ino;
		}
	return KV_NONE;
}

uint64_t kv_index_hash_find(struct kv_pool *p, uint64_t parent, const char *name, size_t len)
{
	return hash_find_h(p, kv_index_name_hash(p, name, len, parent), parent, name, len);
}

/* slot_is() of a block's name given as its 16 bytes */
static bool block_is(struct kv_pool *p, uint64_t ino, uint64_t parent, const uint8_t b[16])
{
	const struct kv_hot *hot = &p->hot[ino];
	char name[32];

	if (hot->hexname)
		return memcmp(hot->name16, b, 16) == 0 && hot_block_in(p, ino, parent);
	kv_hex16(b, name);
	return name_eq(kv_inode(p, ino), parent, name, 32);
}

uint64_t kv_index_find_block(struct kv_pool *p, uint64_t h, uint64_t parent, const uint8_t b[16])
{
	uint64_t i;

	for (i = h & p->hmask; p->htab[i].ino; i = (i + 1) & p->hmask)
		if (p->htab[i].hash == h) {
			uint64_t ino = p->htab[i].ino;

			kv_prefetch_record(p, ino); /* the lines a hit reads, at once */
			if (block_is(p, ino, parent, b))
				return ino;
		}
	return KV_NONE;
}

/* --- directory child lists --- */

/* @ino joins @dir's children, counted as a subdirectory if @is_dir. */
static void child_add_as(struct kv_pool *p, uint64_t dir, uint64_t ino, bool is_dir)
{
	p->dparent[ino] = (uint32_t)dir;
	p->sib_next[ino] = KV_NONE;
	p->sib_prev[ino] = p->child_last[dir];
	if (p->child_last[dir])
		p->sib_next[p->child_last[dir]] = (uint32_t)ino;
	else
		p->child_first[dir] = (uint32_t)ino;
	p->child_last[dir] = (uint32_t)ino;
	p->nchild[dir]++;
	if (is_dir)
		p->nsubdir[dir]++;
	kv_index_edir_remove(p, dir);
}

void kv_index_child_add(struct kv_pool *p, uint64_t dir, uint64_t ino)
{
	child_add_as(p, dir, ino, kv_is_dir(kv_inode(p, ino)));
}

static void child_remove_as(struct kv_pool *p, uint64_t dir, uint64_t ino, bool is_dir)
{
	if (p->sib_prev[ino])
		p->sib_next[p->sib_prev[ino]] = p->sib_next[ino];
	else
		p->child_first[dir] = p->sib_next[ino];
	if (p->sib_next[ino])
		p->sib_prev[p->sib_next[ino]] = p->sib_prev[ino];
	else
		p->child_last[dir] = p->sib_prev[ino];
	p->sib_next[ino] = p->sib_prev[ino] = KV_NONE;
	p->nchild[dir]--;
	if (is_dir)
		p->nsubdir[dir]--;
	if (!p->nchild[dir])
		kv_index_edir_add(p, dir);
}

void kv_index_child_remove(struct kv_pool *p, uint64_t dir, uint64_t ino)
{
	child_remove_as(p, dir, ino, kv_is_dir(kv_inode(p, ino)));
}

/* --- for batch.c; caller holds p->lock --- */

uint64_t kv_index_find(struct kv_pool *p, uint64_t parent, const char *name, size_t len)
{
	return kv_index_hash_find(p, parent, name, len);
}

void kv_index_prefetch(struct kv_pool *p, uint64_t h)
{
	__builtin_prefetch(&p->htab[h & p->hmask]);
}

void kv_index_prefetch_inode(struct kv_pool *p, uint64_t h)
{
	uint64_t i;

	for (i = h & p->hmask; p->htab[i].ino; i = (i + 1) & p->hmask)
		if (p->htab[i].hash == h) { /* a block's name is compared in struct kv_hot */
			kv_prefetch_record(p, p->htab[i].ino);
			return;
		}
}

uint64_t kv_index_find_hashed(struct kv_pool *p, uint64_t h, uint64_t parent, const char *name,
			      size_t len)
{
	return hash_find_h(p, h, parent, name, len);
}

/* A committed reservation joins the indexes, under the parent kv_commit() checked. */
void kv_index_link(struct kv_pool *p, uint64_t ino, uint64_t parent)
{
	kv_index_hash_insert(p, ino);
	kv_index_child_add(p, parent, ino);
	p->files++;
	kv_lru_append(p, ino);
	kv_inode(p, parent)->mtime_ns = kv_inode(p, parent)->ctime_ns = kv_now_ns();
}

void kv_index_edir_add(struct kv_pool *p, uint64_t dir)
{
	if (p->in_edir[dir] || dir == KV_ROOT_INO)
		return;
	p->edir_next[dir] = KV_NONE;
	p->edir_prev[dir] = p->edir_tail;
	if (p->edir_tail)
		p->edir_next[p->edir_tail] = (uint32_t)dir;
	else
		p->edir_head = (uint32_t)dir;
	p->edir_tail = (uint32_t)dir;
	p->in_edir[dir] = 1;
}

void kv_index_edir_remove(struct kv_pool *p, uint64_t dir)
{
	if (!p->in_edir[dir])
		return;
	if (p->edir_prev[dir])
		p->edir_next[p->edir_prev[dir]] = p->edir_next[dir];
	else
		p->edir_head = p->edir_next[dir];
	if (p->edir_next[dir])
		p->edir_prev[p->edir_next[dir]] = p->edir_prev[dir];
	else
		p->edir_tail = p->edir_prev[dir];
	p->edir_prev[dir] = p->edir_next[dir] = KV_NONE;
	p->in_edir[dir] = 0;
}

/* --- build at open, free at close --- */

int kv_index_alloc(struct kv_pool *p)
{
	uint64_t n = p->ninodes, hb = 1;

	while (hb < n + n / 2)
		hb <<= 1;
	p->hmask = hb - 1;
	kv_draw_key(p->hseed, 2, p);
	if (!KV_ALLOC_ARRAY(p, htab, hb) || !KV_ALLOC_ARRAY(p, child_first, n) ||
	    !KV_ALLOC_ARRAY(p, child_last, n) || !KV_ALLOC_ARRAY(p, sib_next, n) ||
	    !KV_ALLOC_ARRAY(p, sib_prev, n) || !KV_ALLOC_ARRAY(p, nchild, n) ||
	    !KV_ALLOC_ARRAY(p, nsubdir, n) || !KV_ALLOC_ARRAY(p, dparent, n) ||
	    !KV_ALLOC_ARRAY(p, hkey, n) || !KV_ALLOC_ARRAY(p, edir_prev, n) ||
	    !KV_ALLOC_ARRAY(p, edir_next, n) || !KV_ALLOC_ARRAY(p, in_edir, n) ||
	    !KV_ALLOC_ARRAY(p, dir_used, n))
		return -ENOMEM;
	return 0;
}

void kv_index_free(struct kv_pool *p)
{
	free(p->htab);
	p->htab = NULL;
	free(p->child_first);
	free(p->child_last);
	free(p->sib_next);
	free(p->sib_prev);
	free(p->nchild);
	free(p->nsubdir);
	free(p->dparent);
	free(p->hkey);
	free(p->edir_prev);
	free(p->edir_next);
	free(p->in_edir);
	free(p->dir_used);
}

void kv_index_add_record(struct kv_pool *p, uint64_t ino)
{
	struct kv_inode *in = kv_inode(p, ino);

	kv_index_hash_insert(p, ino);
	kv_index_child_add(p, in->parent, ino);
	if (kv_is_dir(in))
		p->dirs++;
	else
		p->files++;
}

void kv_index_list_empty_dirs(struct kv_pool *p)
{
	uint64_t ino;

	for (ino = KV_ROOT_INO + 1; ino < p->ninodes; ino++)
		if (kv_inode(p, ino)->state == KV_INODE_LIVE && kv_is_dir(kv_inode(p, ino)) &&
		    !p->nchild[ino])
			kv_index_edir_add(p, ino);
}

/* --- a follower's view (follow.c): by a checked copy, not by the pool's record --- */

void kv_index_add_copy(struct kv_pool *p, uint64_t ino, const struct kv_inode *in)
{
	hash_insert_h(p, ino, in);
	child_add_as(p, in->parent, ino, kv_is_dir(in));
	if (kv_is_dir(in)) {
		p->dirs++;
		if (!p->nchild[ino])
			kv_index_edir_add(p, ino);
	} else {
		p->files++;
	}
}

void kv_index_remove_as(struct kv_pool *p, uint64_t ino, bool was_dir)
{
	kv_index_hash_remove(p, ino);
	child_remove_as(p, p->dparent[ino], ino, was_dir);
	if (was_dir) {
		p->dirs--;
		kv_index_edir_remove(p, ino);
	} else {
		p->files--;
	}
}
