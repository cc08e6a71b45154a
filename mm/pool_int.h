/* SPDX-License-Identifier: MIT */
/*
 * pool_int.h - the inside of struct kv_pool, shared by the mm/ modules
 * (pool.c: open/format/journal; index.c: names and references; data.c:
 * bytes, extents and xattrs). Nothing outside mm/ includes this.
 */
#ifndef KVFS_MM_POOL_INT_H
#define KVFS_MM_POOL_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "alloc.h"
#include "backend.h"
#include "layout.h"
#include "mm.h"

#define KV_STRIPES 64
#define KV_NONE	   0u /* "no inode" in the DRAM link arrays: record 0 is never used */

struct kv_pool {
	struct kv_backend be;
	uint8_t *base;
	struct kv_super *sb;
	struct kv_inode *inodes;
	uint64_t ninodes;
	bool readonly;
	struct kv_alloc alloc;

	/* Metadata: the index, the journal, the references. */
	pthread_mutex_t lock;
	/* Data of files: readers/writers of a file's bytes vs. changes of its extents. */
	pthread_rwlock_t stripes[KV_STRIPES];

	/* journal staging (DRAM) */
	uint8_t *jbuf;
	uint32_t jbytes, jnrec;
	uint64_t jseq;

	/* name hash: bucket -> first inode, chained through hnext */
	uint32_t *hbucket;
	uint64_t hmask;
	uint32_t *hnext;
	uint32_t *hfp; /* high 32 bits of each inode's name hash */
	/* directory children in creation order */
	uint32_t *child_first, *child_last, *sib_next, *sib_prev;
	uint32_t *nchild, *nsubdir;
	/* LRU of files nobody holds: head = least recently used */
	uint32_t *lru_prev, *lru_next;
	uint32_t lru_head, lru_tail;
	uint8_t *in_lru;
	/* holds */
	uint32_t *kref, *open_count, *pin_count;
	/* free records */
	uint32_t *free_ino;
	uint64_t nfree_ino;
	/* orphans only the kernel's cache names: reused when no record is free */
	uint32_t *reclaim;
	uint8_t *in_reclaim;
	uint64_t nreclaim;
	uint64_t *kref_debt; /* kernel lookups of a reused record's earlier life */

	uint64_t files, dirs, held, pinned;
	unsigned watermark_pct;
	_Atomic uint64_t hits, misses, evictions, evicted_bytes;
	uint64_t orphans_freed, bytes_trimmed;

	kv_fault_fn fault;
	void *fault_arg;
	kv_evict_fn evict_cb;
	void *evict_arg;
};

static inline void kv_fault(struct kv_pool *p, enum kv_fault_point fp)
{
	if (p->fault)
		p->fault(fp, p->fault_arg);
}

static inline struct kv_inode *kv_inode(struct kv_pool *p, uint64_t ino)
{
	return &p->inodes[ino];
}

static inline bool kv_ino_valid(const struct kv_pool *p, uint64_t ino)
{
	return ino >= KV_ROOT_INO && ino < p->ninodes;
}

static inline bool kv_is_dir(const struct kv_inode *in)
{
	return (in->mode & 0170000) == 0040000; /* S_ISDIR */
}

/* Open, mapped or pinned: never evicted, data kept. */
static inline bool kv_held(const struct kv_pool *p, uint64_t ino)
{
	return p->open_count[ino] || p->pin_count[ino];
}

static inline pthread_rwlock_t *kv_stripe(struct kv_pool *p, uint64_t ino)
{
	return &p->stripes[ino % KV_STRIPES];
}

int64_t kv_now_ns(void);

/* Is this superblock usable for a device of @dev_size bytes? Logs why not. Return: 0 or -errno. */
int kv_geometry_check(const char *path, const struct kv_geometry *g, uint64_t dev_size);

/* --- journal (pool.c); caller holds p->lock --- */
void kv_jtx_begin(struct kv_pool *p);
/* Stage "write len bytes of src at dst" (dst inside the pool). Return: 0 or -E2BIG. */
int kv_jtx_add(struct kv_pool *p, void *dst, const void *src, uint32_t len);
void kv_jtx_commit(struct kv_pool *p);
#define KV_JTX_FIELD(p, ptr, val)                                                                  \
	({                                                                                         \
		__typeof__(*(ptr)) v__ = (val);                                                    \
		kv_jtx_add((p), (ptr), &v__, sizeof(v__));                                         \
	})

/* --- index.c; caller holds p->lock --- */
int kv_index_build(struct kv_pool *p); /* at open, after recovery */
void kv_index_free(struct kv_pool *p);
void kv_lru_touch(struct kv_pool *p, uint64_t ino);
void kv_lru_remove(struct kv_pool *p, uint64_t ino);
void kv_lru_append(struct kv_pool *p, uint64_t ino);
/* Evict the least recently used unheld file. Return: bytes freed, or -ENOSPC when none is left. */
long kv_evict_one(struct kv_pool *p);
uint64_t kv_inode_alloc_bytes(const struct kv_inode *in);
int kv_index_pin_locked(struct kv_pool *p, uint64_t ino);
uint64_t kv_index_take_inode(struct kv_pool *p);
/* Take a record off the indexes and make it an orphan or free (index.c). */
void kv_index_unlink_record(struct kv_pool *p, uint64_t ino, bool dram_only_unlinked);
/* An orphan whose last holder went: drop its data, and its record if unreferenced (holds.c). */
void kv_reap_orphan(struct kv_pool *p, uint64_t ino);
uint64_t kv_index_find(struct kv_pool *p, uint64_t parent, const char *name, size_t len);
void kv_index_link(struct kv_pool *p, uint64_t ino);

/* --- data.c; caller holds p->lock --- */
/* Free all data and xattrs of a record in a journal transaction the caller commits. */
void kv_data_drop(struct kv_pool *p, uint64_t ino, struct kv_extent *freed, int *nfreed);
void kv_data_free_extents(struct kv_pool *p, struct kv_extent *ext, int n);
/* Trim allocation beyond the size (page-rounded). Return: bytes trimmed. */
uint64_t kv_data_trim(struct kv_pool *p, uint64_t ino);
/* Give a record that is not yet visible one extent holding @buf (a link's target). Return: 0, -ENOSPC. */
int kv_data_fill_new_locked(struct kv_pool *p, struct kv_inode *in, const void *buf, size_t len);
/* Move a file's data into one extent (nobody may be reading or writing it). Return: 0 or -ENOSPC. */
int kv_data_migrate_locked(struct kv_pool *p, uint64_t ino);

#endif /* KVFS_MM_POOL_INT_H */
