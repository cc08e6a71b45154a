/* SPDX-License-Identifier: MIT */
/*
 * pool_int.h - struct kv_pool, the state of the layers of mm/ (their order
 * is at the top of mm.h), and the helpers every layer uses. Each member's
 * comment names the layer that owns it: that layer allocates and writes it
 * (through its own functions for the layers above); a higher layer may
 * read it. Written by more than one layer, a member says which and why.
 * Nothing outside mm/ but its unit tests and benchmarks includes this.
 */
#ifndef KVFS_MM_POOL_INT_H
#define KVFS_MM_POOL_INT_H

#include <pthread.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

#include "alloc.h"
#include "backend.h"
#include "layout.h"
#include "mm.h"

#define KV_STRIPES 64

/*
 * A directory that eviction reclaimed (ghost.c): a lookup of its name
 * brings it back, the very record while the kernel still names it (so
 * every process agrees on one inode), else made anew with its mode and
 * owner. An engine that saw it a moment ago (makedirs() then open()) or
 * made it once at its start (a top directory: a child of the root or of a
 * marked directory) finds it. A bounded ring with a hash index, in DRAM;
 * top directories have a part of their own.
 */
#define KV_GHOSTS     16384
#define KV_GHOSTS_TOP 1024
struct kv_ghost {
	uint64_t parent, parent_gen, hash; /* hash 0: an empty slot */
	uint64_t ino, gen; /* the reclaimed record */
	uint32_t next; /* bucket chain: slot + 1 */
	bool top;
	uint32_t mode, uid, gid;
	uint16_t len;
	char name[KV_NAME_MAX + 1];
};

/* A directory made anew from a ghost, and the one it stands for (ghost.c). */
#define KV_ALIASES 4096
struct kv_alias {
	uint64_t ino, gen, old_ino, old_gen;
};

/* A directory with a cache policy (policy.c; its LRU list's ends: lru.c); slot 0 is the unmarked rest. */
/* An entry of an anchor's set of unheld files (lru.c). */
struct kv_lru_ent {
	int64_t key; /* the file's stamp when it went in */
	uint32_t ino, seq; /* seq: its membership then */
};
struct kv_anchor {
	uint64_t ino, gen; /* the directory; ino 0: a free slot */
	bool never; /* user.kvfs.evict=never */
	uint64_t quota; /* user.kvfs.quota in bytes, 0: none */
	uint64_t used, files; /* data bytes and files below it */
	uint64_t hits, evictions, evicted_bytes;
	/* its unheld files: a min-heap on their stamps, kept lazily (lru.c) */
	struct kv_lru_ent *heap;
	uint32_t nheap, capheap, nlru;
};
/* One slot of the name hash: ino KV_NONE is an empty slot. */
struct kv_hslot {
	uint64_t hash;
	uint64_t ino;
};
#define KV_NONE 0u /* "no inode" in the DRAM link arrays: record 0 is never used */

/*
 * The DRAM words of one record that a lookup, a pin or an unpin reads or
 * writes, one cache line a record. As separate arrays they were seven
 * lines a block, each a DRAM miss at a million files; a batch of pins
 * waits on the number of lines in flight, not on any one of them. Each
 * field is its layer's alone, as the arrays were.
 */
struct kv_hot {
	uint64_t sig; /* snap.c: signature of the extents and xattr extent the daemon gave */
	/* holds.c: opens and pins, 64-bit: one handle pins millions a second */
	uint64_t open_count, pin_count;
	uint32_t kref; /* holds.c: the kernel's lookups */
	uint32_t file_anchor; /* policy.c: the file's anchor (slot + 1, 0: none) */
	uint8_t bad; /* snap.c: quarantined: EIO until the next open checks it again */
	uint8_t dirty; /* data.c: KV_DIRTY_*: why the record has no checksum yet */
	/* data.c: written through the mount since a writer last closed it: no fast-path lookup finds it */
	uint8_t unflushed;
	uint8_t in_lru; /* lru.c: in its anchor's set */
	/*
	 * index.c: a block's name (32 lowercase hex digits) as its 16 bytes,
	 * its parent and the record's generation, as indexed: a lookup compares
	 * them here instead of in the record's two lines of name (@hexname 0:
	 * another kind of name)
	 */
	uint8_t hexname;
	uint32_t parent;
	uint8_t name16[16];
	uint32_t gen; /* low bits: a record reused for another file is another name */
} __attribute__((aligned(64)));
_Static_assert(sizeof(struct kv_hot) == 64, "one line a record");

struct kv_pool {
	/* pool.c: the mapping and its checked geometry, the allocator built at open */
	struct kv_backend be;
	uint8_t *base;
	struct kv_super *sb;
	struct kv_geometry geo; /* a checked copy: the pool's may change under us */
	struct kv_inode *inodes;
	uint64_t ninodes;
	bool readonly;
	struct kv_alloc alloc;
	struct kv_hot *hot; /* ninodes of them (pool.c allocates, the layers own the fields) */

	/* Metadata: the index, the journal, the references. */
	pthread_mutex_t lock;
	/* Data of files: readers/writers of a file's bytes vs. changes of its extents. */
	pthread_rwlock_t stripes[KV_STRIPES];

	/*
	 * extents.c: extents a move replaced while the file was held (a client
	 * may read them in place): given back once nobody holds it
	 */
	struct kv_deferred {
		uint64_t ino;
		struct kv_extent e;
	} *deferred;
	uint32_t ndeferred, deferred_cap;

	/* journal.c: the transaction being staged (DRAM) */
	uint8_t *jbuf;
	uint32_t jbytes, jnrec;
	bool joverflow; /* a record did not fit: this transaction commits nothing */
	uint64_t jseq;

	/* index.c: the name hash, open addressing over (hash of parent and name, inode) */
	struct kv_hslot *htab;
	uint64_t hseed[2]; /* index.c: the name hash's key, drawn at each open */
	uint64_t hmask;
	/* index.c: directory children in creation order */
	uint32_t *child_first, *child_last, *sib_next, *sib_prev;
	uint32_t *nchild, *nsubdir;
	/* lru.c: lists of files nobody holds, one per anchor (ends in struct kv_anchor) */
	uint32_t *lru_seq; /* membership number: bumped each time a file joins a set */
	int64_t lru_stamp; /* the latest stamp given (lru.c) */
	/* policy.c: anchor slots, a directory's own slot, a file's anchor (slot + 1, 0: none) */
	struct kv_anchor *anchors;
	uint32_t nanchors, anchors_cap;
	uint32_t *anchor_idx;
	/*
	 * holds.c: directories eviction emptied that the kernel still knows
	 * (ORPHAN records); set by evict.c, cleared by ghost.c's revival
	 */
	uint8_t *dir_reclaimed;
	/* index.c: when each directory was last named to the kernel or created in (KV_DIR_TICK units; kv_dir_touch) */
	uint32_t *dir_used;
	/* index.c: empty directories, oldest first: evict.c reclaims them when records run out */
	uint32_t *edir_prev, *edir_next;
	uint8_t *in_edir;
	uint32_t edir_head, edir_tail;
	/* holds.c: rename victims whose bytes stay while the kernel caches them (set by namespace.c) */
	uint8_t *kept;
	/* a directory a create is filling now, never reclaimed (namespace.c, batch.c, data_xattr.c) */
	uint64_t creating_in;
	/* evict.c: files given room past their size, taken back before evicting */
	uint32_t *ahead;
	uint8_t *in_ahead;
	uint64_t nahead;
	/* ghost.c */
	struct kv_ghost *ghosts; /* KV_GHOSTS of them, oldest overwritten first */
	uint32_t *ghost_bucket;
	uint32_t ghost_next, ghost_next_top;
	struct kv_alias *aliases;
	uint32_t alias_next;
	/* made anew from a ghost: has an alias (cleared by evict.c's constructor) */
	uint8_t *recreated;
	/* holds.c: free records */
	uint32_t *free_ino;
	uint64_t nfree_ino;
	/* holds.c: orphans only the kernel's cache names: reused when no record is free */
	uint32_t *reclaim;
	uint8_t *in_reclaim;
	uint64_t nreclaim;
	uint64_t *kref_debt; /* kernel lookups of a reused record's earlier life */
	/* snap.c: distrust of the shared pool, DRAM copies of what the index needs */
	uint64_t sig_key; /* the signatures' key, drawn at open (snap.c) */
	uint32_t *dparent; /* index.c: parent, as linked in the child list */
	/* index.c: full name hash, as inserted: removal never rehashes the pool's name */
	uint64_t *hkey;
	/*
	 * data.c: changes since the record's checksum, and a change count
	 * (cleared for a new record by evict.c's constructor)
	 */
	uint32_t *wgen;
	/* data.c: committed blocks waiting for their checksum, a ring of ninodes */
	uint32_t *sumq;
	uint64_t sumq_head, sumq_tail;

	/* live records: namespace.c, index.c at open and link, holds.c, ghost.c */
	uint64_t files, dirs;
	uint64_t held, pinned; /* holds.c */
	unsigned watermark_pct; /* pool.c */
	/* counters: each where its event happens */
	_Atomic uint64_t hits, misses, evictions, evicted_bytes;
	uint64_t orphans_freed, bytes_trimmed, dirs_reclaimed;
	_Atomic uint64_t quarantined;

	/* What a lower layer asks of a higher one, set by pool.c at open (no upward calls). */
	struct {
		void (*seal)(struct kv_pool *p, uint64_t ino); /* holds.c's release: data.c */
		/* journal.c's commit of a cluster leader: nodes.c's fence check */
		bool (*may_commit)(struct kv_pool *p);
		/* journal.c, snap.c: a record changed in the pool; nodes.c logs it for the followers */
		void (*changed)(struct kv_pool *p, uint64_t ino);
		/*
		 * A cluster leader (nodes.c; NULL elsewhere): another node holds the
		 * file (a follower's open, map or pin)? Then a trim or a moved
		 * extent's free waits (the file is parked until no node holds it).
		 * free_ok(): may its bytes and record go? (marks it against new
		 * holds, or parks it); freed() once they went, or did not.
		 */
		bool (*held_elsewhere)(struct kv_pool *p, uint64_t ino);
		bool (*free_ok)(struct kv_pool *p, uint64_t ino);
		void (*freed)(struct kv_pool *p, uint64_t ino);
		/* holds.c's last release, a cluster leader's: data.c joins a file's pieces */
		int (*join_pieces)(struct kv_pool *p, uint64_t ino);
	} up;

	/* pool.c: the hooks of mm.h */
	kv_fault_fn fault;
	void *fault_arg;
	kv_evict_fn evict_cb;
	void *evict_arg;

	/* nodes.c: cluster mode; 0 = one host, no fencing */
	uint64_t cluster_epoch;
	kv_fence_fn fence;
	void *fence_arg;
	_Atomic uint64_t commits_refused;
	kv_unpin_fn unpin_cb; /* a follower's node-wide hold count (fs/cluster.c) */
	void *unpin_arg;
	uint8_t *parked; /* leader: files out of the LRU because another node holds them */
	const struct kv_forward_ops *forward; /* a follower's view: changes go to the leader */
	void *forward_arg;

	/*
	 * follow.c: a follower's view follows the change log. What it indexed
	 * of each record (KV_SEEN_*, by file type), its place in the log, and
	 * the leader's epoch and open count it was built under.
	 */
	uint8_t *seen;
	uint64_t follow_pos, follow_epoch, follow_opens;
	int follow_err; /* the view fell behind for good (kv_pool_follow's error): a new one is needed */
	/* follow.c: data pages the view counts each record for, and the change since its build */
	uint32_t *seen_pages;
	int64_t follow_used; /* bytes: the allocator's use plus this is the view's */
	uint8_t *seen_free; /* counted free, as holds.c's list at open counts it */
	int64_t follow_free; /* records: the free list's length plus this is the view's */
};

/* Allocate a zeroed DRAM array of @n for field @f of @p. Return: it, or NULL. */
/*
 * A zeroed per-record array; one of 2 MiB or more asks for huge pages (a hint):
 * at a million records each array is megabytes, and a lookup touching five of
 * them at random would pay a TLB miss in each on small pages.
 */
static inline void *kv_calloc_array(size_t n, size_t size)
{
	void *a = calloc(n, size);
	uintptr_t from = ((uintptr_t)a + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1);
	uintptr_t to = ((uintptr_t)a + n * size) & ~(uintptr_t)((2u << 20) - 1);

	if (a && to > from)
		madvise((void *)from, to - from, MADV_HUGEPAGE);
	return a;
}
#define KV_ALLOC_ARRAY(p, f, n) ((p)->f = kv_calloc_array((n), sizeof(*(p)->f)))

static inline void kv_fault(struct kv_pool *p, enum kv_fault_point fp)
{
	if (p->fault)
		p->fault(fp, p->fault_arg);
}

/*
 * A counter every writer of which holds p->lock: no locked instruction
 * (on x86 one is a full fence: the loads of the rest of a lookup would wait
 * for it), readers without the lock still see whole values.
 */
static inline void kv_count_locked(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline struct kv_inode *kv_inode(struct kv_pool *p, uint64_t ino)
{
	return &p->inodes[ino];
}

/*
 * Start loading what a lookup hit, a pin or an unpin of @ino reads and
 * writes: the record's first line (read), its second (the use stamp) and
 * its DRAM words (struct kv_hot). Each is a miss at a million files; issued
 * together they overlap. A batch calls it some files ahead.
 */
static inline void kv_prefetch_record(struct kv_pool *p, uint64_t ino)
{
	const char *in = (const char *)kv_inode(p, ino);

	__builtin_prefetch(in);
	__builtin_prefetch(in + 64, 1);
	__builtin_prefetch(&p->hot[ino], 1);
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
	return p->hot[ino].open_count || p->hot[ino].pin_count;
}

/* Held by another node (a cluster leader's question: nodes.c parks it then; false elsewhere). */
static inline bool kv_held_elsewhere(struct kv_pool *p, uint64_t ino)
{
	return p->up.held_elsewhere && p->up.held_elsewhere(p, ino);
}

static inline pthread_rwlock_t *kv_stripe(struct kv_pool *p, uint64_t ino)
{
	return &p->stripes[ino % KV_STRIPES];
}

static inline int64_t kv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * @n words of a DRAM key drawn at each open (the extents' signatures, the
 * name hash), which nobody who reads the pool can know. Without the entropy
 * pool a time and an address (@where) still differ between opens.
 */
static inline void kv_draw_key(uint64_t *k, size_t n, const void *where)
{
	size_t i;

	if (getrandom(k, n * sizeof(*k), GRND_NONBLOCK) == (ssize_t)(n * sizeof(*k)))
		return;
	for (i = 0; i < n; i++)
		k[i] = ((uint64_t)kv_now_ns() + i) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)where;
}

/*
 * A directory eviction empties is reclaimed only if nobody named it, made
 * something in it or tried to make it again for ~34 ms: an engine's
 * makedirs() and the open() that follows are that close, even on a loaded
 * machine (4 ms was not: a preempted process came back to find its
 * directory reclaimed). Should one still race with it, the ghost
 * (ghost.c) brings the directory back at the open's lookup.
 */
#define KV_DIR_TICK_SHIFT 20 /* ~1 ms */
#define KV_DIR_IDLE_TICKS 32

static inline uint32_t kv_dir_tick(void)
{
	return (uint32_t)(kv_now_ns() >> KV_DIR_TICK_SHIFT);
}

/* The kernel was told of @dir, or something was made in it, now. */
static inline void kv_dir_touch(struct kv_pool *p, uint64_t dir)
{
	p->dir_used[dir] = kv_dir_tick();
}

static inline bool kv_dir_idle(const struct kv_pool *p, uint64_t dir)
{
	return (uint32_t)(kv_dir_tick() - p->dir_used[dir]) > KV_DIR_IDLE_TICKS;
}

/* Is this superblock usable for a device of @dev_size bytes? Logs why not. Return: 0 or -errno. */
int kv_geometry_check(const char *path, const struct kv_geometry *g, uint64_t dev_size);

#endif /* KVFS_MM_POOL_INT_H */
