// SPDX-License-Identifier: MIT
/*
 * index.c - names: lookup, create, rename, unlink, and the DRAM indexes
 * they use (attributes and directory listings are in attr.c).
 *
 * The inode table on the pool is the truth; this file keeps DRAM indexes
 * over it, rebuilt at open (kv_index_build, which also rebuilds holds.c's
 * LRU lists): a hash of (parent, name) for O(1) lookups, a per-directory
 * child list for readdir without scanning the table (the ghosts of
 * directories eviction reclaimed are in ghost.c). The reference counts,
 * the LRU and eviction live in holds.c. Every function here that changes
 * more than one field does so in one journal transaction.
 */
#include "check.h"
#include "journal.h"
#include "pool_int.h"
#include "snap.h"
#include "log.h"

#include <errno.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/fs.h>
#include <xxhash.h>

/* --- helpers --- */

uint64_t kv_inode_alloc_bytes(const struct kv_inode *in)
{
	uint64_t sum = 0;
	int i;

	for (i = 0; i < in->extent_count && i < KV_INLINE_EXTENTS; i++)
		sum += in->ext[i].len;
	return sum;
}

bool kv_index_is_live_dir(struct kv_pool *p, uint64_t ino)
{
	return kv_ino_valid(p, ino) && kv_inode(p, ino)->state == KV_INODE_LIVE &&
	       kv_is_dir(kv_inode(p, ino));
}

/* The name hash: XXH3 of the name, seeded with the parent's inode number. */
uint64_t kv_index_name_hash(const char *name, size_t len, uint64_t parent)
{
	return XXH3_64bits_withSeed(name, len, parent);
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
		a->alloc_bytes = kv_inode_alloc_bytes(in) + ((in->xattr_len + KV_PAGE_SIZE - 1) &
							     ~(uint64_t)(KV_PAGE_SIZE - 1));
	}
}

/* --- the name hash --- */

/*
 * Open addressing with linear probing over (full 64-bit hash, inode) slots,
 * four to a cache line: a probe reads one line of this table, and an inode
 * record (its name) only when the whole hash matches, so a lookup costs
 * about two DRAM misses however many files there are. Deletion shifts the
 * run back (no tombstones); the table is sized for a load of at most 2/3.
 */
void kv_index_hash_insert(struct kv_pool *p, uint64_t ino)
{
	struct kv_inode *in = kv_inode(p, ino);
	uint64_t h = kv_index_name_hash((const char *)in->name, in->name_len, in->parent),
		 i = h & p->hmask;

	while (p->htab[i].ino)
		i = (i + 1) & p->hmask;
	p->htab[i].hash = h;
	p->htab[i].ino = ino;
	p->hkey[ino] = h;
}

/* By the hash it went in with, not by the record's name: the pool may have changed that. */
static void hash_remove(struct kv_pool *p, uint64_t ino)
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

static uint64_t hash_find_h(struct kv_pool *p, uint64_t h, uint64_t parent, const char *name,
			    size_t len)
{
	uint64_t i;

	for (i = h & p->hmask; p->htab[i].ino; i = (i + 1) & p->hmask)
		if (p->htab[i].hash == h && name_eq(kv_inode(p, p->htab[i].ino), parent, name, len))
			return p->htab[i].ino;
	return KV_NONE;
}

uint64_t kv_index_hash_find(struct kv_pool *p, uint64_t parent, const char *name, size_t len)
{
	return hash_find_h(p, kv_index_name_hash(name, len, parent), parent, name, len);
}

/* --- directory child lists --- */

void kv_index_child_add(struct kv_pool *p, uint64_t dir, uint64_t ino)
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
	if (kv_is_dir(kv_inode(p, ino)))
		p->nsubdir[dir]++;
	kv_edir_remove(p, dir);
}

static void child_remove(struct kv_pool *p, uint64_t dir, uint64_t ino)
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
	if (kv_is_dir(kv_inode(p, ino)))
		p->nsubdir[dir]--;
	if (!p->nchild[dir])
		kv_edir_add(p, dir);
}

/* --- record lifecycle --- */

/* An unlink in two halves, so that rename can put it in its own transaction. */
struct unlink_plan {
	uint64_t ino;
	bool keep_data, keep_record;
	struct kv_extent freed[KV_INLINE_EXTENTS + 1];
	int nfreed;
};

/*
 * Take the record off every DRAM index (unless it is off them already) and
 * stage, in the open transaction, its change to an orphan (still referenced)
 * or free; its data goes now unless someone holds it.
 */
static void unlink_stage(struct kv_pool *p, uint64_t ino, bool off_indexes_already,
			 struct unlink_plan *u)
{
	struct kv_inode *in = kv_inode(p, ino);

	u->ino = ino;
	u->keep_data = kv_held(p, ino) || (p->kept[ino] && p->kref[ino]);
	u->keep_record = u->keep_data || p->kref[ino];
	u->nfreed = 0;
	if (!off_indexes_already) {
		hash_remove(p, ino);
		child_remove(p, p->dparent[ino], ino);
		kv_lru_remove(p, ino);
		if (kv_is_dir(in))
			p->dirs--;
		else
			p->files--;
	}
	if (kv_is_dir(in)) {
		kv_policy_dir_gone(p, ino);
		kv_edir_remove(p, ino);
	} else {
		kv_policy_detach(p, ino);
	}
	p->dir_reclaimed[ino] = 0;
	if (!u->keep_data)
		p->kept[ino] = 0;
	if (!u->keep_data)
		kv_data_drop(p, ino, u->freed, &u->nfreed);
	KV_JTX_FIELD(p, &in->state, u->keep_record ? KV_INODE_ORPHAN : KV_INODE_FREE);
}

/* After the commit: give the space back, and the record or make it reclaimable. */
static void unlink_finish(struct kv_pool *p, struct unlink_plan *u)
{
	kv_data_free_extents(p, u->freed, u->nfreed);
	if (!u->keep_record) {
		p->free_ino[p->nfree_ino++] = (uint32_t)u->ino;
	} else if ((!u->keep_data || p->kept[u->ino]) && !p->in_reclaim[u->ino]) {
		/* only the kernel's cache still names it: reusable when records run out */
		p->in_reclaim[u->ino] = 1;
		p->reclaim[p->nreclaim++] = (uint32_t)u->ino;
	}
}

void kv_index_unlink_record(struct kv_pool *p, uint64_t ino, bool dram_only_unlinked)
{
	struct unlink_plan u;

	kv_jtx_begin(p);
	unlink_stage(p, ino, dram_only_unlinked, &u);
	kv_jtx_commit(p);
	unlink_finish(p, &u);
}

/* --- build at open, free at close --- */

/*
 * The name hash is read at random: on 2 MiB pages a probe costs one cache
 * miss rather than a miss and a page walk. Return: zeroed slots, or NULL.
 */
static struct kv_hslot *hash_table_alloc(uint64_t slots)
{
	size_t bytes = slots * sizeof(struct kv_hslot);
	void *t;

	if (bytes < (2u << 20))
		return calloc(slots, sizeof(struct kv_hslot));
	t = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t == MAP_FAILED)
		return NULL;
	madvise(t, bytes, MADV_HUGEPAGE); /* a hint: without it, small pages */
	return t;
}

static void hash_table_free(struct kv_hslot *t, uint64_t slots)
{
	size_t bytes = slots * sizeof(struct kv_hslot);

	if (!t)
		return;
	if (bytes < (2u << 20))
		free(t);
	else
		munmap(t, bytes);
}

#define ALLOC_ARRAY(field, n) (p->field = calloc((n), sizeof(*p->field)))

static int cmp_recency(const void *a, const void *b, void *arg)
{
	const struct kv_inode *inodes = arg;
	int64_t x = inodes[*(const uint32_t *)a].last_use_ns,
		y = inodes[*(const uint32_t *)b].last_use_ns;

	return x < y ? -1 : x > y;
}

int kv_index_build(struct kv_pool *p)
{
	uint64_t n = p->ninodes, ino, nused = 0, bad = 0, hb = 1, nlru = 0, i;
	struct kv_extent *used = NULL;
	uint32_t *lru = NULL;
	int rc = -ENOMEM, j;
	long checked;

	while (hb < n + n / 2)
		hb <<= 1;
	p->hmask = hb - 1;
	if (!(p->htab = hash_table_alloc(hb)) || !ALLOC_ARRAY(child_first, n) ||
	    !ALLOC_ARRAY(child_last, n) || !ALLOC_ARRAY(sib_next, n) || !ALLOC_ARRAY(sib_prev, n) ||
	    !ALLOC_ARRAY(nchild, n) || !ALLOC_ARRAY(nsubdir, n) || !ALLOC_ARRAY(lru_prev, n) ||
	    !ALLOC_ARRAY(lru_next, n) || !ALLOC_ARRAY(in_lru, n) || !ALLOC_ARRAY(kref, n) ||
	    !ALLOC_ARRAY(open_count, n) || !ALLOC_ARRAY(pin_count, n) ||
	    !ALLOC_ARRAY(free_ino, n) || !ALLOC_ARRAY(reclaim, n) || !ALLOC_ARRAY(in_reclaim, n) ||
	    !ALLOC_ARRAY(kref_debt, n) || !ALLOC_ARRAY(bad, n) || !ALLOC_ARRAY(sig, n) ||
	    !ALLOC_ARRAY(dparent, n) || !ALLOC_ARRAY(hkey, n) || !ALLOC_ARRAY(dirty, n) ||
	    !ALLOC_ARRAY(wgen, n) || !ALLOC_ARRAY(anchor_idx, n) || !ALLOC_ARRAY(file_anchor, n) ||
	    !ALLOC_ARRAY(dir_reclaimed, n) || !ALLOC_ARRAY(kept, n) || !ALLOC_ARRAY(edir_prev, n) ||
	    !ALLOC_ARRAY(edir_next, n) || !ALLOC_ARRAY(in_edir, n) || !ALLOC_ARRAY(dir_used, n) ||
	    !ALLOC_ARRAY(recreated, n))
		goto out;
	/* Pass 1: free what nobody can reach any more (rw only): a dead holder's orphans and
	 * reservations, whatever they hold. */
	for (ino = KV_ROOT_INO + 1; ino < n && !p->readonly; ino++) {
		struct kv_inode *in = kv_inode(p, ino);

		if (in->state == KV_INODE_ORPHAN || in->state == KV_INODE_RESERVED) {
			in->extent_count = 0;
			in->xattr_off = 0;
			in->xattr_len = 0;
			atomic_store_explicit((_Atomic uint32_t *)&in->state, KV_INODE_FREE,
					      memory_order_release);
			p->orphans_freed++;
		}
	}
	/* Pass 2: the checker fsck runs too; a read-write open frees what it finds bad. */
	checked =
	    kv_check_records(&p->geo, p->inodes, p->base, p->be.path, !p->readonly, p->bad, NULL);
	if (checked < 0)
		goto out;
	p->quarantined += (uint64_t)checked;
	if (p->bad[KV_ROOT_INO]) {
		kv_log(KV_LOG_ERR,
		       "pool %s: the root directory record is damaged; a read-write mount "
		       "repairs it",
		       p->be.path);
		rc = -EUCLEAN;
		goto out;
	}
	used = malloc(sizeof(*used) * 1024);
	lru = malloc(sizeof(*lru) * n);
	if (!used || !lru)
		goto out;
	for (ino = n - 1; ino > KV_ROOT_INO; ino--)
		if (kv_inode(p, ino)->state == KV_INODE_FREE && !p->bad[ino])
			p->free_ino[p->nfree_ino++] = (uint32_t)ino;
	for (ino = KV_ROOT_INO; ino < n; ino++) {
		struct kv_inode *in = kv_inode(p, ino);

		kv_snap_commit(p, ino);
		if (in->state != KV_INODE_LIVE || p->bad[ino])
			continue; /* read-only: orphans, reservations, bad records stay out */
		for (j = 0; j <= in->extent_count && j <= KV_INLINE_EXTENTS; j++) {
			struct kv_extent e;

			if (j < in->extent_count)
				e = in->ext[j];
			else if (in->xattr_off)
				e = (struct kv_extent){ in->xattr_off,
							(in->xattr_len + KV_PAGE_SIZE - 1) &
							    ~(uint64_t)(KV_PAGE_SIZE - 1) };
			else
				break;
			if ((nused & (nused + 1)) == 0 && nused >= 1023) {
				struct kv_extent *u =
				    realloc(used, sizeof(*used) * (nused + 1) * 2);

				if (!u)
					goto out;
				used = u;
			}
			used[nused++] = e;
		}
		if (ino == KV_ROOT_INO)
			continue;
		kv_index_hash_insert(p, ino);
		kv_index_child_add(p, in->parent, ino);
		if (kv_is_dir(in)) {
			p->dirs++;
		} else {
			p->files++;
			if (S_ISREG(in->mode)) /* links are structure, not cache: never evicted */
				lru[nlru++] = (uint32_t)ino;
		}
	}
	rc = kv_alloc_build(&p->alloc, p->geo.data_off, p->geo.data_size / KV_PAGE_SIZE, used,
			    nused, &bad);
	if (rc == -EUCLEAN) {
		kv_log(KV_LOG_ERR,
		       "pool %s: the index is corrupt (an extent at pool offset %llu is "
		       "outside the data area or shared by two files); run 'kvfs fsck %s'",
		       p->be.path, (unsigned long long)used[bad].off, p->be.path);
		goto out;
	} else if (rc) {
		goto out;
	}
	rc = kv_policy_build(p);
	if (rc)
		goto out;
	for (ino = KV_ROOT_INO + 1; ino < n; ino++)
		if (kv_inode(p, ino)->state == KV_INODE_LIVE && kv_is_dir(kv_inode(p, ino)) &&
		    !p->nchild[ino])
			kv_edir_add(p, ino);
	for (ino = KV_ROOT_INO + 1; ino < n; ino++)
		if (kv_inode(p, ino)->state == KV_INODE_LIVE && !kv_is_dir(kv_inode(p, ino)))
			kv_policy_attach(p, ino);
	qsort_r(lru, nlru, sizeof(*lru), cmp_recency, p->inodes);
	for (i = 0; i < nlru; i++)
		kv_lru_append(p, lru[i]);
	/* Trim over-allocation a dead holder left. */
	for (ino = KV_ROOT_INO + 1; ino < n && !p->readonly; ino++) {
		struct kv_inode *in = kv_inode(p, ino);

		if (in->state == KV_INODE_LIVE && !kv_is_dir(in)) {
			p->bytes_trimmed += kv_data_trim(p, ino);
		}
	}
	rc = 0;
out:
	free(used);
	free(lru);
	return rc;
}

void kv_index_free(struct kv_pool *p)
{
	hash_table_free(p->htab, p->hmask + 1);
	free(p->child_first);
	free(p->child_last);
	free(p->sib_next);
	free(p->sib_prev);
	free(p->nchild);
	free(p->nsubdir);
	free(p->lru_prev);
	free(p->lru_next);
	free(p->in_lru);
	free(p->kref);
	free(p->open_count);
	free(p->pin_count);
	free(p->free_ino);
	free(p->reclaim);
	free(p->in_reclaim);
	free(p->kref_debt);
	free(p->anchor_idx);
	free(p->file_anchor);
	free(p->dir_reclaimed);
	free(p->kept);
	free(p->ahead);
	free(p->in_ahead);
	p->ahead = NULL;
	p->in_ahead = NULL;
	p->nahead = 0;
	free(p->dir_used);
	free(p->recreated);
	free(p->aliases);
	p->aliases = NULL;
	free(p->edir_prev);
	free(p->edir_next);
	free(p->in_edir);
	kv_policy_free(p);
	free(p->ghosts);
	free(p->ghost_bucket);
	p->ghosts = NULL;
	p->ghost_bucket = NULL;
	free(p->bad);
	free(p->sig);
	free(p->dparent);
	free(p->hkey);
	free(p->dirty);
	free(p->wgen);
	p->htab = NULL;
	if (p->alloc.by_start)
		kv_alloc_destroy(&p->alloc);
}

/* --- lookups and creation --- */

static int check_name(const char *name, size_t len)
{
	if (len == 0 || memchr(name, '/', len) || memchr(name, 0, len))
		return -EINVAL;
	if (len > KV_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

static int create_node(struct kv_pool *p, uint64_t parent, const char *name, size_t len,
		       uint32_t mode, uint32_t uid, uint32_t gid, const void *data, size_t dlen,
		       struct kv_attr *out);

static int lookup(struct kv_pool *p, uint64_t parent, const char *name, size_t len,
		  struct kv_attr *out, bool ref)
{
	struct kv_ghost ghost;
	uint64_t ino;
	int rc = check_name(name, len);

	if (rc)
		return rc;
	pthread_mutex_lock(&p->lock);
	/* a lookup in a directory eviction reclaimed: the kernel still names it */
	if (!kv_index_is_live_dir(p, parent) && !(ref && kv_dir_revive_locked(p, parent))) {
		rc = kv_ino_valid(p, parent) && kv_inode(p, parent)->state == KV_INODE_LIVE
			 ? -ENOTDIR
			 : -ENOENT;
		goto out;
	}
	ino = kv_index_hash_find(p, parent, name, len);
	if (!ino && kv_ghost_find(p, parent, name, len, &ghost)) {
		if (kv_ghost_revive_locked(p, &ghost)) {
			ino = ghost.ino;
		} else {
			pthread_mutex_unlock(&p->lock);
			rc = create_node(p, parent, name, len, ghost.mode, ghost.uid, ghost.gid,
					 &ghost, 0, out);
			if (rc)
				return rc == -EEXIST ? lookup(p, parent, name, len, out, ref) : rc;
			if (!ref) /* create_node counted a kernel lookup */
				kv_forget(p, out->ino, 1);
			return 0;
		}
	}
	if (!ino) {
		atomic_fetch_add(&p->misses, 1);
		rc = -ENOENT;
		goto out;
	}
	atomic_fetch_add(&p->hits, 1);
	if (!kv_is_dir(kv_inode(p, ino))) {
		kv_lru_touch(p, ino);
		kv_policy_hit(p, ino);
	}
	kv_index_fill_attr(p, ino, out);
	if (ref) /* in the same critical section: nothing can free it in between */
		p->kref[ino]++;
	if (ref && kv_is_dir(kv_inode(p, ino)))
		kv_dir_touch(p, ino);
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int kv_lookup(struct kv_pool *p, uint64_t parent, const char *name, size_t len, struct kv_attr *out)
{
	return lookup(p, parent, name, len, out, false);
}

int kv_lookup_ref(struct kv_pool *p, uint64_t parent, const char *name, size_t len,
		  struct kv_attr *out)
{
	return lookup(p, parent, name, len, out, true);
}

/*
 * The one constructor of names: a file, directory or symbolic link (whose
 * @data, the target, is stored as its one extent before it becomes visible).
 */
static int create_node(struct kv_pool *p, uint64_t parent, const char *name, size_t len,
		       uint32_t mode, uint32_t uid, uint32_t gid, const void *data, size_t dlen,
		       struct kv_attr *out)
{
	struct kv_inode *in, *dir;
	int64_t now = kv_now_ns();
	uint64_t ino;
	int rc = check_name(name, len);

	if (rc)
		return rc;
	if (!S_ISREG(mode) && !S_ISDIR(mode) && !S_ISLNK(mode))
		return -EPERM;
	if (p->readonly)
		return -EROFS;
	pthread_mutex_lock(&p->lock);
	if (!kv_index_is_live_dir(p, parent) && !kv_dir_revive_locked(p, parent)) {
		rc = -ENOENT;
		goto out;
	}
	if (kv_index_hash_find(p, parent, name, len)) {
		rc = -EEXIST;
		goto out;
	}
	if (p->ghosts) {
		struct kv_ghost g;

		/* the name is being made again: the ghost is spent, or is the directory */
		if (kv_ghost_find(p, parent, name, len, &g) && S_ISDIR(mode) && !data &&
		    kv_ghost_revive_locked(p, &g)) {
			rc = -EEXIST;
			goto out;
		}
	}
	p->creating_in = parent; /* what take_inode evicts must not take @parent with it */
	ino = kv_index_take_inode(p, S_ISDIR(mode));
	if (!ino) {
		kv_log(KV_LOG_WARNING,
		       "pool %s: all %llu inodes are in use and held; reformat with "
		       "a larger -i to hold more files",
		       p->be.path, (unsigned long long)(p->ninodes - 1));
		rc = -ENOSPC;
		goto out;
	}
	in = kv_inode(p, ino);
	dir = kv_inode(p, parent);
	p->recreated[ino] = 0;
	/* POSIX/BSD set-group-ID directories: new entries take the directory's group */
	if (dir->mode & S_ISGID) {
		gid = dir->gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
	/* Fill while FREE; the state store below publishes it. */
	in->gen++;
	in->mode = mode;
	in->uid = uid;
	in->gid = gid;
	in->parent = parent;
	in->size = 0;
	in->atime_ns = in->mtime_ns = in->ctime_ns = in->last_use_ns = now;
	in->xattr_off = 0;
	in->xattr_len = 0;
	in->extent_count = 0;
	in->name_len = (uint16_t)len;
	memcpy(in->name, name, len);
	if (S_ISDIR(mode) && data) /* made anew from a ghost */
		kv_alias_add(p, ino, data);
	if (dlen) {
		rc = kv_data_fill_new_locked(p, in, data, dlen);
		if (rc) {
			p->free_ino[p->nfree_ino++] = (uint32_t)ino;
			goto out;
		}
	}
	p->creating_in = 0;
	in->checksum = 0;
	p->dirty[ino] = 0;
	p->bad[ino] = 0;
	kv_snap_commit(p, ino);
	kv_fault(p, KV_FP_CREATE_FILLED);
	atomic_store_explicit((_Atomic uint32_t *)&in->state, KV_INODE_LIVE, memory_order_release);
	kv_index_hash_insert(p, ino);
	kv_index_child_add(p, parent, ino);
	if (S_ISDIR(mode)) {
		p->dirs++;
		kv_edir_add(p, ino);
	} else {
		p->files++;
		kv_policy_attach(p, ino);
		if (S_ISREG(mode))
			kv_lru_append(p, ino);
	}
	dir->mtime_ns = dir->ctime_ns = now;
	p->kref[ino]++;
	kv_dir_touch(p, parent);
	if (S_ISDIR(mode))
		kv_dir_touch(p, ino);
	kv_index_fill_attr(p, ino, out);
out:
	p->creating_in = 0;
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int kv_create(struct kv_pool *p, uint64_t parent, const char *name, size_t len, uint32_t mode,
	      uint32_t uid, uint32_t gid, struct kv_attr *out)
{
	if (S_ISLNK(mode))
		return -EPERM; /* a link needs its target: kv_symlink() */
	return create_node(p, parent, name, len, mode, uid, gid, NULL, 0, out);
}

int kv_symlink(struct kv_pool *p, uint64_t parent, const char *name, size_t len, const char *target,
	       uint32_t uid, uint32_t gid, struct kv_attr *out)
{
	size_t tlen = strnlen(target, KV_SYMLINK_MAX + 1);

	if (tlen == 0)
		return -ENOENT;
	if (tlen > KV_SYMLINK_MAX)
		return -ENAMETOOLONG;
	return create_node(p, parent, name, len, S_IFLNK | 0777, uid, gid, target, tlen, out);
}

ssize_t kv_readlink(struct kv_pool *p, uint64_t ino, char *buf, size_t size)
{
	if (!kv_ino_valid(p, ino) || kv_inode(p, ino)->state != KV_INODE_LIVE)
		return -ENOENT;
	if (!S_ISLNK(kv_inode(p, ino)->mode))
		return -EINVAL;
	return kv_read(p, ino, buf, size, 0);
}

static int remove_name(struct kv_pool *p, uint64_t parent, const char *name, size_t len,
		       bool want_dir)
{
	uint64_t ino;
	struct kv_inode *in;
	int rc = check_name(name, len);

	if (rc)
		return rc;
	if (p->readonly)
		return -EROFS;
	pthread_mutex_lock(&p->lock);
	if (!kv_index_is_live_dir(p, parent)) {
		rc = -ENOENT;
		goto out;
	}
	ino = kv_index_hash_find(p, parent, name, len);
	if (!ino) {
		rc = -ENOENT;
		goto out;
	}
	in = kv_inode(p, ino);
	if (want_dir && !kv_is_dir(in)) {
		rc = -ENOTDIR;
		goto out;
	}
	if (!want_dir && kv_is_dir(in)) {
		rc = -EISDIR;
		goto out;
	}
	if (want_dir && p->nchild[ino]) {
		rc = -ENOTEMPTY;
		goto out;
	}
	kv_index_unlink_record(p, ino, false);
	kv_inode(p, parent)->mtime_ns = kv_inode(p, parent)->ctime_ns = kv_now_ns();
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int kv_unlink(struct kv_pool *p, uint64_t parent, const char *name, size_t len)
{
	return remove_name(p, parent, name, len, false);
}

int kv_rmdir(struct kv_pool *p, uint64_t parent, const char *name, size_t len)
{
	return remove_name(p, parent, name, len, true);
}

/* Is @ino @dir or one of its ancestors? (moving a directory below itself) */
static bool is_ancestor(struct kv_pool *p, uint64_t ino, uint64_t dir)
{
	for (;;) {
		if (dir == ino)
			return true;
		if (dir == KV_ROOT_INO || !kv_ino_valid(p, dir))
			return false;
		dir = p->dparent[dir]; /* linked parents: the pool's may be scribbled */
	}
}

/* Stage the parent and name of @ino in the open transaction. */
static void stage_name(struct kv_pool *p, uint64_t ino, uint64_t parent, const char *name,
		       size_t len)
{
	struct kv_inode *in = kv_inode(p, ino);

	KV_JTX_FIELD(p, &in->parent, parent);
	KV_JTX_FIELD(p, &in->name_len, (uint16_t)len);
	kv_jtx_add(p, in->name, name, (uint32_t)len);
	KV_JTX_FIELD(p, &in->ctime_ns, kv_now_ns());
}

/* Put a renamed inode back in the indexes, under the parent it was just given. */
static void relink(struct kv_pool *p, uint64_t ino, uint64_t parent)
{
	kv_index_child_add(p, parent, ino);
	kv_index_hash_insert(p, ino);
}

int kv_rename(struct kv_pool *p, uint64_t parent, const char *name, size_t len, uint64_t newparent,
	      const char *newname, size_t newlen, unsigned flags, uint64_t *replaced)
{
	uint64_t src, dst;
	struct kv_inode *s, *d = NULL;
	char sname[KV_NAME_MAX];
	int64_t now = kv_now_ns();
	int rc;

	*replaced = 0;
	if ((rc = check_name(name, len)) || (rc = check_name(newname, newlen)))
		return rc;
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE))
		return -EINVAL;
	if (p->readonly)
		return -EROFS;
	pthread_mutex_lock(&p->lock);
	if (!kv_index_is_live_dir(p, parent) ||
	    (!kv_index_is_live_dir(p, newparent) && !kv_dir_revive_locked(p, newparent))) {
		rc = -ENOENT;
		goto out;
	}
	src = kv_index_hash_find(p, parent, name, len);
	if (!src) {
		rc = -ENOENT;
		goto out;
	}
	s = kv_inode(p, src);
	dst = kv_index_hash_find(p, newparent, newname, newlen);
	if (dst)
		d = kv_inode(p, dst);
	if (dst == src) {
		rc = 0; /* same file: POSIX says do nothing */
		goto out;
	}
	if (flags & RENAME_NOREPLACE && dst) {
		rc = -EEXIST;
		goto out;
	}
	if (flags & RENAME_EXCHANGE) {
		if (!dst) {
			rc = -ENOENT;
			goto out;
		}
		if ((kv_is_dir(s) && is_ancestor(p, src, newparent)) ||
		    (kv_is_dir(d) && is_ancestor(p, dst, parent))) {
			rc = -EINVAL;
			goto out;
		}
		hash_remove(p, src);
		hash_remove(p, dst);
		child_remove(p, parent, src);
		child_remove(p, newparent, dst);
		memcpy(sname, s->name, len);
		kv_jtx_begin(p);
		stage_name(p, src, newparent, newname, newlen);
		stage_name(p, dst, parent, sname, len);
		kv_jtx_commit(p);
		relink(p, src, newparent);
		relink(p, dst, parent);
		if (parent != newparent) {
			kv_policy_reattach_tree(p, src);
			kv_policy_reattach_tree(p, dst);
		}
		goto out_times;
	}
	if (kv_is_dir(s) && is_ancestor(p, src, newparent)) {
		rc = -EINVAL;
		goto out;
	}
	if (d) {
		if (kv_is_dir(s) && !kv_is_dir(d)) {
			rc = -ENOTDIR;
			goto out;
		}
		if (!kv_is_dir(s) && kv_is_dir(d)) {
			rc = -EISDIR;
			goto out;
		}
		if (kv_is_dir(d) && p->nchild[dst]) {
			rc = -ENOTEMPTY;
			goto out;
		}
	}
	hash_remove(p, src);
	child_remove(p, parent, src);
	if (d) {
		/*
		 * The victim leaves the index; its state changes in the same
		 * transaction. While the kernel still caches it, its bytes stay: an
		 * open that resolved the name just before the rename reads the old
		 * version whole, rather than failing (freed at the kernel's forget).
		 */
		struct unlink_plan u;

		p->kept[dst] = !kv_is_dir(d) && (d->extent_count > 0 || d->size == 0);
		kv_jtx_begin(p);
		stage_name(p, src, newparent, newname, newlen);
		unlink_stage(p, dst, false, &u);
		kv_jtx_commit(p);
		unlink_finish(p, &u);
		*replaced = dst;
	} else {
		kv_jtx_begin(p);
		stage_name(p, src, newparent, newname, newlen);
		kv_jtx_commit(p);
	}
	relink(p, src, newparent);
	if (parent != newparent)
		kv_policy_reattach_tree(p, src);
out_times:
	kv_dir_touch(p, parent);
	kv_dir_touch(p, newparent);
	kv_inode(p, parent)->mtime_ns = kv_inode(p, parent)->ctime_ns = now;
	kv_inode(p, newparent)->mtime_ns = kv_inode(p, newparent)->ctime_ns = now;
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* --- for batch.c; caller holds p->lock --- */

uint64_t kv_index_find(struct kv_pool *p, uint64_t parent, const char *name, size_t len)
{
	return kv_index_hash_find(p, parent, name, len);
}

uint64_t kv_index_hash(uint64_t parent, const char *name, size_t len)
{
	return kv_index_name_hash(name, len, parent);
}

void kv_index_prefetch(struct kv_pool *p, uint64_t h)
{
	__builtin_prefetch(&p->htab[h & p->hmask]);
}

void kv_index_prefetch_inode(struct kv_pool *p, uint64_t h)
{
	uint64_t i;

	for (i = h & p->hmask; p->htab[i].ino; i = (i + 1) & p->hmask)
		if (p->htab[i].hash == h) {
			const struct kv_inode *in = kv_inode(p, p->htab[i].ino);

			__builtin_prefetch(in);
			__builtin_prefetch((const char *)in + 64);
			__builtin_prefetch(in->name);
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
