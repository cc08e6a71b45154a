// SPDX-License-Identifier: MIT
/*
 * ghost.c - directories eviction reclaimed, and how they come back. A
 * reclaimed directory leaves a ghost (its parent, name, mode, owner and
 * record); a lookup or create of its name revives the very record while the
 * kernel still names it, or lets namespace.c make it anew, and a directory made
 * anew stands (an alias) for the one it replaces, so that the ghosts of its
 * subdirectories are found through it. Bounded, in DRAM; nothing here is on
 * the pool except the state change of a revived record. Caller holds p->lock.
 */
#include "check.h"
#include "ghost.h"
#include "index.h"
#include "journal.h"
#include "log.h"
#include "pool_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* --- ghosts of reclaimed directories --- */

#define KV_GHOST_BUCKETS (2 * KV_GHOSTS)

static void ghost_unlink(struct kv_pool *p, uint32_t slot)
{
	struct kv_ghost *g = &p->ghosts[slot];
	uint32_t *link = &p->ghost_bucket[g->hash % KV_GHOST_BUCKETS];

	while (*link && *link != slot + 1)
		link = &p->ghosts[*link - 1].next;
	if (*link)
		*link = g->next;
	g->hash = 0;
	g->next = 0;
}

void kv_ghost_add(struct kv_pool *p, uint64_t dir, bool top)
{
	const struct kv_inode *in = kv_inode(p, dir);
	struct kv_ghost *g;
	uint32_t slot, *bucket;

	if (!p->ghosts) {
		p->ghosts = calloc(KV_GHOSTS, sizeof(*p->ghosts));
		p->ghost_bucket = calloc(KV_GHOST_BUCKETS, sizeof(*p->ghost_bucket));
		if (!p->ghosts || !p->ghost_bucket) {
			free(p->ghosts);
			free(p->ghost_bucket);
			p->ghosts = NULL;
			p->ghost_bucket = NULL;
			return; /* the directory is simply gone */
		}
	}
	/* top directories have their own part of the ring: bucket churn never pushes them out */
	if (top)
		slot = p->ghost_next_top++ % KV_GHOSTS_TOP;
	else
		slot = KV_GHOSTS_TOP + p->ghost_next++ % (KV_GHOSTS - KV_GHOSTS_TOP);
	g = &p->ghosts[slot];
	if (g->hash)
		ghost_unlink(p, slot);
	g->parent = p->dparent[dir];
	g->parent_gen = kv_inode(p, g->parent)->gen;
	g->hash = kv_index_name_hash(p, (const char *)in->name, in->name_len, g->parent) | 1;
	g->ino = dir;
	g->gen = in->gen;
	g->top = top;
	g->mode = in->mode;
	g->uid = in->uid;
	g->gid = in->gid;
	g->len = in->name_len;
	memcpy(g->name, in->name, in->name_len);
	bucket = &p->ghost_bucket[g->hash % KV_GHOST_BUCKETS];
	g->next = *bucket;
	*bucket = slot + 1;
}

/* Take the ghost of (@parent, @name) off the table. Return: true and a copy if there was one. */
bool kv_ghost_take(struct kv_pool *p, uint64_t parent, uint64_t parent_gen, const char *name,
		   size_t len, struct kv_ghost *out)
{
	uint64_t h;
	uint32_t s;

	if (!p->ghosts)
		return false;
	h = kv_index_name_hash(p, name, len, parent) | 1;
	for (s = p->ghost_bucket[h % KV_GHOST_BUCKETS]; s; s = p->ghosts[s - 1].next) {
		struct kv_ghost *g = &p->ghosts[s - 1];

		if (g->hash != h || g->parent != parent || g->len != len ||
		    memcmp(g->name, name, len))
			continue;
		*out = *g;
		ghost_unlink(p, s - 1);
		return out->parent_gen == parent_gen;
	}
	return false;
}

/*
 * A directory made anew from a ghost stands for the one eviction took: the
 * ghosts of that one's subdirectories (an engine's a/b after a/) are found
 * through it.
 */
void kv_alias_add(struct kv_pool *p, uint64_t ino, const struct kv_ghost *g)
{
	struct kv_alias *a;

	if (!p->aliases) {
		p->aliases = calloc(KV_ALIASES, sizeof(*p->aliases));
		if (!p->aliases)
			return;
	}
	a = &p->aliases[p->alias_next++ % KV_ALIASES];
	a->ino = ino;
	a->gen = kv_inode(p, ino)->gen;
	a->old_ino = g->ino;
	a->old_gen = g->gen;
	p->recreated[ino] = 1;
}

/* The ghost of @name under @parent, or under what @parent was made anew from. */
bool kv_ghost_find(struct kv_pool *p, uint64_t parent, const char *name, size_t len,
		   struct kv_ghost *out)
{
	uint64_t gen = kv_inode(p, parent)->gen;
	int i;

	if (kv_ghost_take(p, parent, gen, name, len, out))
		return true;
	if (!p->recreated[parent] || !p->aliases)
		return false;
	for (i = 0; i < KV_ALIASES; i++) {
		const struct kv_alias *a = &p->aliases[i];

		if (a->ino == parent && a->gen == gen)
			return kv_ghost_take(p, a->old_ino, a->old_gen, name, len, out);
	}
	return false;
}

/*
 * A name with a ghost: bring back the very directory while the kernel still
 * names it (every process then agrees on one inode), else make a top one
 * anew. Return: its inode, 0 when the name is simply absent, or -errno.
 */
bool kv_ghost_revive_locked(struct kv_pool *p, const struct kv_ghost *g)
{
	const struct kv_inode *in;

	if (!kv_ino_valid(p, g->ino))
		return false;
	in = kv_inode(p, g->ino);
	if (in->state != KV_INODE_ORPHAN || !kv_is_dir(in) || !p->dir_reclaimed[g->ino] ||
	    p->dparent[g->ino] != g->parent || in->name_len != g->len ||
	    memcmp(in->name, g->name, g->len))
		return false;
	return kv_dir_revive_locked(p, g->ino);
}

bool kv_dir_revive_locked(struct kv_pool *p, uint64_t dir)
{
	uint64_t chain[64];
	int n = 0;

	/* the reclaimed directories between @dir and the first live one */
	while (!kv_index_is_live_dir(p, dir)) {
		struct kv_inode *in;

		if (!kv_ino_valid(p, dir) || n == 64)
			return false;
		in = kv_inode(p, dir);
		if (in->state != KV_INODE_ORPHAN || !kv_is_dir(in) || !p->dir_reclaimed[dir])
			return false;
		chain[n++] = dir;
		dir = p->dparent[dir]; /* as linked: the pool's may have changed */
	}
	while (n--) {
		uint64_t d = chain[n];
		struct kv_inode *in = kv_inode(p, d);

		if (in->name_len > KV_NAME_MAX || !kv_check_name(in->name, in->name_len) ||
		    kv_index_hash_find(p, p->dparent[d], (const char *)in->name, in->name_len))
			return false; /* the name was made again meanwhile: this one stays gone */
		/*
		 * The same generation: the kernel's inode for it stays good (its
		 * entry was only invalidated, never deleted: see reclaim).
		 */
		kv_jtx_begin(p);
		KV_JTX_FIELD(p, &in->state, (uint32_t)KV_INODE_LIVE);
		if (kv_jtx_commit(p))
			return false; /* nothing applied: it stays reclaimed */
		p->dir_reclaimed[d] = 0;
		kv_dir_touch(p, d);
		kv_index_child_add(p, p->dparent[d], d);
		kv_index_hash_insert(p, d);
		p->dirs++;
		if (!p->nchild[d])
			kv_index_edir_add(p, d);
		kv_log(KV_LOG_DEBUG, "pool %s: directory %llu revived by a create in it",
		       p->be.path, (unsigned long long)d);
	}
	return true;
}

int kv_ghost_alloc(struct kv_pool *p)
{
	return KV_ALLOC_ARRAY(p, recreated, p->ninodes) ? 0 : -ENOMEM;
}

void kv_ghost_free(struct kv_pool *p)
{
	free(p->recreated);
	free(p->aliases);
	p->aliases = NULL;
	free(p->ghosts);
	free(p->ghost_bucket);
	p->ghosts = NULL;
	p->ghost_bucket = NULL;
}
