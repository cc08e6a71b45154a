/* SPDX-License-Identifier: MIT */
/*
 * index.h - the DRAM indexes over the inode table (index.c): the name hash
 * of (parent, name), the per-directory child lists in creation order, and
 * the list of empty directories. Rebuilt at open (kv_index_add_record for
 * each live record). Caller holds p->lock.
 */
#ifndef KVFS_MM_INDEX_H
#define KVFS_MM_INDEX_H

#include "pool_int.h"

/* kv_index_alloc() - the index's arrays for @p->ninodes records. Return: 0, -ENOMEM. */
int kv_index_alloc(struct kv_pool *p);
void kv_index_free(struct kv_pool *p);
/* At open: a live record joins the hash and its parent's child list. */
void kv_index_add_record(struct kv_pool *p, uint64_t ino);

/* Is @name a name a create or lookup may use? Return: 0, -EINVAL, -ENAMETOOLONG. */
int kv_index_check_name(const char *name, size_t len);
bool kv_index_is_live_dir(struct kv_pool *p, uint64_t ino);
/* The name hash of (@parent, @name), keyed at each open: DRAM only. */
uint64_t kv_index_name_hash(const struct kv_pool *p, const char *name, size_t len, uint64_t parent);
/* A record's attributes as kvfs shows them (size published, alloc incl. xattrs). */
void kv_index_fill_attr(struct kv_pool *p, uint64_t ino, struct kv_attr *a);

void kv_index_hash_insert(struct kv_pool *p, uint64_t ino);
/* Remove @ino by the key it was inserted with (never the pool's name, which may have changed). */
void kv_index_hash_remove(struct kv_pool *p, uint64_t ino);
uint64_t kv_index_hash_find(struct kv_pool *p, uint64_t parent, const char *name, size_t len);
uint64_t kv_index_find(struct kv_pool *p, uint64_t parent, const char *name, size_t len);
/* The same in steps, for batches: hash (kv_index_name_hash), prefetch its slot, then find. */
void kv_index_prefetch(struct kv_pool *p, uint64_t h);
/* its slot read: the record it names */
void kv_index_prefetch_inode(struct kv_pool *p, uint64_t h);
uint64_t kv_index_find_hashed(struct kv_pool *p, uint64_t h, uint64_t parent, const char *name,
			      size_t len);
/* A block's name given as its 16 bytes (the name is their 32 lowercase hex digits): its hash, its find. */
uint64_t kv_index_block_hash(const struct kv_pool *p, uint64_t parent, const uint8_t b[16]);
uint64_t kv_index_find_block(struct kv_pool *p, uint64_t h, uint64_t parent, const uint8_t b[16]);

/* Link @ino last in @dir's child list; @dir becomes its parent as linked (dparent). */
void kv_index_child_add(struct kv_pool *p, uint64_t dir, uint64_t ino);
void kv_index_child_remove(struct kv_pool *p, uint64_t dir, uint64_t ino);
/* A committed reservation joins the indexes (and the LRU), under the parent kv_commit() checked. */
void kv_index_link(struct kv_pool *p, uint64_t ino, uint64_t parent);

/* The list of empty directories, longest-empty first (evict.c reclaims them). */
void kv_index_edir_add(struct kv_pool *p, uint64_t dir);
void kv_index_edir_remove(struct kv_pool *p, uint64_t dir);
/* At open, once every record is linked: every live directory without children. */
void kv_index_list_empty_dirs(struct kv_pool *p);

/*
 * A follower's view (follow.c): @ino joins the indexes as its checked copy
 * @in says (name, parent, type), not as the pool's record may say by now;
 * and leaves them as it was linked (@was_dir: it was a directory).
 */
void kv_index_add_copy(struct kv_pool *p, uint64_t ino, const struct kv_inode *in);
void kv_index_remove_as(struct kv_pool *p, uint64_t ino, bool was_dir);

#endif /* KVFS_MM_INDEX_H */
