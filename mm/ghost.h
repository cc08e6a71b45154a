/* SPDX-License-Identifier: MIT */
/*
 * ghost.h - the ghosts of directories eviction reclaimed, and the aliases
 * of directories made anew from them (ghost.c). Caller holds p->lock.
 */
#ifndef KVFS_MM_GHOST_H
#define KVFS_MM_GHOST_H

#include "pool_int.h"

/* Remember a reclaimed top directory so that a lookup of its name remakes it. */
void kv_ghost_add(struct kv_pool *p, uint64_t dir, bool top);
/* Take the ghost of (@parent of generation @parent_gen, @name) off the table. Return: found. */
bool kv_ghost_take(struct kv_pool *p, uint64_t parent, uint64_t parent_gen, const char *name,
		   size_t len, struct kv_ghost *out);
/* The ghost of @name under @parent, or under what @parent was made anew from. Return: found. */
bool kv_ghost_find(struct kv_pool *p, uint64_t parent, const char *name, size_t len,
		   struct kv_ghost *out);
/* Revive the ghost's very record if the kernel still names it. Return: true if it is live. */
bool kv_ghost_revive_locked(struct kv_pool *p, const struct kv_ghost *g);
/* @ino was made anew from ghost @g: let it stand for the reclaimed one. */
void kv_alias_add(struct kv_pool *p, uint64_t ino, const struct kv_ghost *g);
/* Bring back a directory eviction reclaimed that the kernel still names. Return: true if live. */
bool kv_dir_revive_locked(struct kv_pool *p, uint64_t dir);
/* kv_ghost_alloc() - the marks of directories made anew (the ghosts come when needed). Return: 0, -ENOMEM. */
int kv_ghost_alloc(struct kv_pool *p);
void kv_ghost_free(struct kv_pool *p);

#endif /* KVFS_MM_GHOST_H */
