// SPDX-License-Identifier: MIT
/*
 * pool.c - format, open, recover and close a kvfs pool, and compose the
 * layers of mm/ (the order is at the top of mm.h): at open it asks each
 * for its DRAM state and builds it from the inode table in order; it
 * sets the pointers through which a lower layer asks a higher one.
 *
 * Crash model: the process holding the pool may die at any instruction; the
 * pool's memory survives (a shared-memory file, or CXL memory). So every
 * update is ordered such that the pool is always either before or after it:
 * single aligned stores publish single fields (a size, a state), and changes
 * of several fields go through the journal (journal.c). Open replays a
 * committed transaction, frees orphans and reservations, and trims
 * over-allocation. Free space is derived from the inode table, never stored.
 */
#include "check.h"
#include "nodes.h"
#include "data.h"
#include "evict.h"
#include "extents.h"
#include "follow.h"
#include "ghost.h"
#include "holds.h"
#include "index.h"
#include "journal.h"
#include "log.h"
#include "lru.h"
#include "policy.h"
#include "pool_int.h"
#include "snap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define KV_ZERO_STEP (1u << 20) /* bytes zeroed per hold of p->lock: ~50 us */

static uint64_t geometry_checksum(const struct kv_geometry *g)
{
	return XXH64(g, offsetof(struct kv_geometry, checksum), 0);
}

/* --- geometry --- */

static int geometry_plan(struct kv_geometry *g, uint64_t size, uint64_t inode_count)
{
	uint64_t inode_bytes;

	memset(g, 0, sizeof(*g));
	size &= ~(uint64_t)(KV_PAGE_SIZE - 1);
	if (size < KV_MIN_POOL_SIZE)
		return -ENOSPC;
	if (!inode_count) {
		inode_count = size / (64u << 10);
		if (inode_count < 1024)
			inode_count = 1024;
	}
	if (inode_count >= UINT32_MAX)
		return -EINVAL;
	g->magic = KV_MAGIC;
	g->version = KV_FORMAT_VERSION;
	g->page_size = KV_PAGE_SIZE;
	g->pool_size = size;
	g->journal_off = KV_SUPER_SIZE;
	g->journal_size = KV_JOURNAL_SIZE;
	g->inode_off = g->journal_off + g->journal_size;
	g->inode_count = inode_count + 1; /* record 0 is never used */
	g->inode_size = KV_INODE_SIZE;
	g->name_max = KV_NAME_MAX;
	inode_bytes = g->inode_count * KV_INODE_SIZE;
	g->data_off =
	    (g->inode_off + inode_bytes + KV_DATA_ALIGN - 1) & ~(uint64_t)(KV_DATA_ALIGN - 1);
	if (g->data_off + KV_DATA_ALIGN > size)
		return -ENOSPC;
	g->data_size = (size - g->data_off) & ~(uint64_t)(KV_PAGE_SIZE - 1);
	g->created_ns = kv_now_ns();
	return 0;
}

/* Is this superblock one we can use? Logs why not. */
int kv_geometry_check(const char *path, const struct kv_geometry *g, uint64_t dev_size)
{
	static const uint8_t zero[sizeof(*g)];
	const char *why;

	if (dev_size < sizeof(struct kv_super)) {
		kv_log(KV_LOG_ERR,
		       "pool %s is only %llu bytes: too small to hold a kvfs pool "
		       "(at least 16 MiB); recreate it with 'kvfs mkfs -f -s 1G %s'",
		       path, (unsigned long long)dev_size, path);
		return -EPROTO;
	}
	if (g->magic != KV_MAGIC) {
		if (memcmp(g, zero, sizeof(*g)) == 0)
			kv_log(KV_LOG_ERR, "pool %s is not formatted; run 'kvfs mkfs %s'", path,
			       path);
		else
			kv_log(KV_LOG_ERR,
			       "pool %s does not hold a kvfs pool (foreign data); "
			       "to erase it and format: 'kvfs mkfs -f %s'",
			       path, path);
		return -EPROTO;
	}
	if (g->version > KV_FORMAT_VERSION) {
		kv_log(KV_LOG_ERR,
		       "pool %s has format version %u, newer than this kvfs knows (%u); "
		       "use a newer kvfs",
		       path, g->version, KV_FORMAT_VERSION);
		return -ENOTSUP;
	}
	if (geometry_checksum(g) != g->checksum) {
		kv_log(KV_LOG_ERR,
		       "pool %s: superblock checksum mismatch (corrupt); the cache "
		       "cannot be trusted: reformat with 'kvfs mkfs -f %s'",
		       path, path);
		return -EUCLEAN;
	}
	why = kv_check_geometry(g);
	if (why) {
		kv_log(KV_LOG_ERR,
		       "pool %s: superblock geometry is inconsistent (%s); reformat with "
		       "'kvfs mkfs -f %s'",
		       path, why, path);
		return -EUCLEAN;
	}
	if (g->pool_size > dev_size) {
		kv_log(KV_LOG_ERR,
		       "pool %s was formatted for %llu bytes but is %llu bytes "
		       "(truncated?); reformat with 'kvfs mkfs -f %s'",
		       path, (unsigned long long)g->pool_size, (unsigned long long)dev_size, path);
		return -EUCLEAN;
	}
	return 0;
}

/* --- mkfs --- */

static void format_mapped(uint8_t *base, const struct kv_geometry *g)
{
	struct kv_super *sb = (struct kv_super *)base;
	struct kv_inode *root;

	/* Invalidate first: a half-written format must never look formatted. */
	atomic_store_explicit((_Atomic uint64_t *)&sb->geo.magic, 0, memory_order_release);
	memset(base + g->journal_off, 0, sizeof(struct kv_journal_head));
	memset(base + g->inode_off, 0, g->inode_count * KV_INODE_SIZE);
	root = (struct kv_inode *)(base + g->inode_off) + KV_ROOT_INO;
	root->mode = 040755;
	root->uid = (uint32_t)getuid();
	root->gid = (uint32_t)getgid();
	root->gen = 1;
	root->parent = KV_ROOT_INO;
	root->atime_ns = root->mtime_ns = root->ctime_ns = g->created_ns;
	root->state = KV_INODE_LIVE;
	memset(&sb->rt, 0, sizeof(sb->rt));
	sb->rt.state = KV_STATE_CLEAN;
	memcpy(&sb->geo, g, sizeof(*g));
	sb->geo.magic = 0;
	atomic_store_explicit((_Atomic uint64_t *)&sb->geo.magic, KV_MAGIC, memory_order_release);
}

/* Plan, stamp with a new UUID and write a fresh format on a mapped backend. Logs why not. */
static int format_new(struct kv_backend *be, const char *path, uint64_t inode_count)
{
	struct kv_geometry g;
	int rc = geometry_plan(&g, be->size, inode_count);

	if (rc == -ENOSPC) {
		kv_log(KV_LOG_ERR,
		       "pool %s is %llu bytes: too small for kvfs (at least 16 MiB, and "
		       "room for the inode table); give a larger size",
		       path, (unsigned long long)be->size);
		return rc;
	}
	if (rc) {
		kv_log(KV_LOG_ERR, "pool %s: inode count out of range", path);
		return rc;
	}
	if (getrandom(g.uuid, sizeof(g.uuid), 0) != sizeof(g.uuid))
		return -EIO;
	g.checksum = geometry_checksum(&g);
	format_mapped(be->base, &g);
	return 0;
}

/* A superblock found at @path: refuse to erase a pool or foreign data. Return: 0 or -EEXIST. */
static int refuse_erase(const char *path, const struct kv_geometry *old)
{
	static const uint8_t zero[sizeof(*old)];

	if (old->magic == KV_MAGIC) {
		kv_log(KV_LOG_ERR,
		       "%s already holds a kvfs pool; add -f to erase it "
		       "(every cached block is lost)",
		       path);
		return -EEXIST;
	}
	/* Someone's data (a typo'd path?) is not erased without -f either. */
	if (memcmp(old, zero, sizeof(*old)) != 0) {
		kv_log(KV_LOG_ERR,
		       "%s holds foreign data (not a kvfs pool); add -f to erase it and format",
		       path);
		return -EEXIST;
	}
	return 0;
}

/*
 * Look at a device-DAX pool before formatting it: through the backend's
 * own read-only mapping, as famfs maps the superblock before its mkfs (a
 * pread() of a devdax node reads nothing). A pool in use fails here (EBUSY).
 * Return: 0 or -errno.
 */
static int probe_dax(const char *path, bool force)
{
	struct kv_backend_opts po = { .numa_node = -1, .readonly = true };
	struct kv_backend probe;
	struct kv_geometry old;
	int rc = kv_backend_open(&probe, path, &po);

	if (rc)
		return rc;
	if (!force && probe.size >= sizeof(old)) {
		memcpy(&old, probe.base, sizeof(old));
		rc = refuse_erase(path, &old);
	}
	kv_backend_close(&probe);
	return rc;
}

int kv_pool_mkfs(const char *path, uint64_t size, uint64_t inode_count, bool force)
{
	struct kv_backend_opts bo = { .create_size = size, .numa_node = -1 };
	struct kv_geometry g, old;
	struct kv_backend be;
	struct stat st;
	int rc, fd;

	/* A size that cannot hold a pool is refused before anything is created or resized. */
	if (size && geometry_plan(&g, size, inode_count) == -ENOSPC) {
		kv_log(KV_LOG_ERR,
		       "-s %llu bytes is too small for a kvfs pool (at least 16 MiB, "
		       "and room for the inode table); give a larger -s",
		       (unsigned long long)size);
		return -ENOSPC;
	}
	/*
	 * Look before touching: a formatted pool is left alone without force. A
	 * link or a FIFO planted at @path is not followed nor waited on here;
	 * the backend refuses it below.
	 */
	if (kv_backend_is_dax(path)) {
		rc = probe_dax(path, force);
		if (rc)
			return rc;
		fd = -1;
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	}
	if (fd >= 0) {
		if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
			close(fd);
			kv_log(KV_LOG_ERR,
			       "pool %s is a directory; give a file path such as "
			       "%s/kvfs.pool",
			       path, path);
			return -EISDIR;
		}
		if (!force && pread(fd, &old, sizeof(old), 0) == (ssize_t)sizeof(old) &&
		    (rc = refuse_erase(path, &old))) {
			close(fd);
			return rc;
		}
		if (S_ISREG(st.st_mode) && size && (uint64_t)st.st_size != size) {
			/* Resize before mapping; the lock below still guards a live pool. */
			struct kv_backend probe;
			struct kv_backend_opts po = { .numa_node = -1, .readonly = false };

			close(fd);
			rc = kv_backend_open(&probe, path, &po);
			if (rc)
				return rc;
			rc = ftruncate(probe.fd, (off_t)size) < 0 ? -errno : 0;
			kv_backend_close(&probe);
			if (rc) {
				kv_log(KV_LOG_ERR, "cannot resize %s: %s", path, strerror(-rc));
				return rc;
			}
		} else {
			close(fd);
		}
	}
	rc = kv_backend_open(&be, path, &bo);
	if (rc)
		return rc;
	rc = format_new(&be, path, inode_count);
	if (rc)
		kv_backend_discard(&be); /* nothing left behind by a failed mkfs */
	else
		kv_backend_close(&be);
	return rc;
}

/* --- build the DRAM state at open: pool.c composes the layers --- */

#define KV_HUGE (2ul << 20)

/*
 * Zeroed DRAM of @bytes on 2 MiB boundaries, huge pages asked for (a hint):
 * a mapping that is not aligned gets small pages at both ends, and a table
 * read at random pays a TLB miss a line there. Return: it, or NULL.
 */
static void *kv_map_huge(size_t bytes)
{
	size_t len = (bytes + KV_HUGE - 1) & ~(KV_HUGE - 1);
	uint8_t *m = mmap(NULL, len + KV_HUGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint8_t *a;

	if (m == MAP_FAILED)
		return NULL;
	a = (uint8_t *)(((uintptr_t)m + KV_HUGE - 1) & ~(uintptr_t)(KV_HUGE - 1));
	if (a > m)
		munmap(m, (size_t)(a - m));
	if (a + len < m + len + KV_HUGE)
		munmap(a + len, (size_t)(m + len + KV_HUGE - (a + len)));
	madvise(a, len, MADV_HUGEPAGE);
	return a;
}

static void kv_unmap_huge(void *a, size_t bytes)
{
	if (a)
		munmap(a, (bytes + KV_HUGE - 1) & ~(KV_HUGE - 1));
}

/* Each layer's DRAM arrays for @p->ninodes records. Return: 0, -ENOMEM. */
static int pool_alloc_layers(struct kv_pool *p)
{
	p->hot = kv_map_huge(p->ninodes * sizeof(*p->hot));
	if (!p->hot)
		return -ENOMEM;
	if (kv_index_alloc(p) || kv_lru_alloc(p) || kv_holds_alloc(p) || kv_snap_alloc(p) ||
	    kv_data_alloc(p) || kv_policy_alloc(p) || kv_ghost_alloc(p))
		return -ENOMEM;
	return 0;
}

/* Free every layer's DRAM state (what is not there yet is NULL). */
static void pool_free_layers(struct kv_pool *p)
{
	kv_index_free(p);
	kv_lru_free(p);
	kv_holds_free(p);
	kv_evict_free(p);
	kv_policy_free(p);
	kv_ghost_free(p);
	kv_data_free(p);
	kv_follow_free(p);
	kv_extents_deferred_free(p);
	if (p->alloc.by_start)
		kv_alloc_destroy(&p->alloc);
	kv_unmap_huge(p->hot, p->ninodes * sizeof(*p->hot));
	p->hot = NULL;
}

/*
 * Pass 1 (read-write only): free what nobody can reach any more, a dead
 * holder's orphans and reservations, whatever they hold. Pass 2: the
 * checker fsck runs too; a read-write open frees what it finds bad.
 * Return: 0, -EUCLEAN (the root is bad), -ENOMEM.
 */
static int pool_check_records(struct kv_pool *p)
{
	uint8_t *bad = calloc(p->ninodes, 1);
	uint64_t ino;
	long checked;

	if (!bad)
		return -ENOMEM;
	for (ino = KV_ROOT_INO + 1; ino < p->ninodes && !p->readonly; ino++) {
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
	checked = kv_check_records(&p->geo, p->inodes, p->base, p->be.path, !p->readonly, bad, NULL);
	for (ino = KV_ROOT_INO; checked > 0 && ino < p->ninodes; ino++)
		p->hot[ino].bad = bad[ino];
	free(bad);
	if (checked < 0)
		return (int)checked;
	p->quarantined += (uint64_t)checked;
	if (p->hot[KV_ROOT_INO].bad) {
		kv_log(KV_LOG_ERR,
		       "pool %s: the root directory record is damaged; a read-write mount "
		       "repairs it",
		       p->be.path);
		return -EUCLEAN;
	}
	return 0;
}

/* The extents of @in (its data, then its xattr blob) appended to *@used. Return: 0, -ENOMEM. */
static int note_used(const struct kv_inode *in, struct kv_extent **used, uint64_t *nused)
{
	int j;

	for (j = 0; j <= in->extent_count && j <= KV_INLINE_EXTENTS; j++) {
		struct kv_extent e;

		if (j < in->extent_count)
			e = in->ext[j];
		else if (in->xattr_off)
			e = (struct kv_extent){ in->xattr_off, (in->xattr_len + KV_PAGE_SIZE - 1) &
								   ~(uint64_t)(KV_PAGE_SIZE - 1) };
		else
			break;
		if ((*nused & (*nused + 1)) == 0 && *nused >= 1023) {
			struct kv_extent *u = realloc(*used, sizeof(**used) * (*nused + 1) * 2);

			if (!u)
				return -ENOMEM;
			*used = u;
		}
		(*used)[(*nused)++] = e;
	}
	return 0;
}

/*
 * Link every live record into the index and note its extents for the
 * allocator, then build the allocator. @lru receives the regular files, to
 * list once the anchors are known. Return: 0, -EUCLEAN, -ENOMEM.
 */
static int pool_link_records(struct kv_pool *p, uint32_t *lru, uint64_t *nlru)
{
	uint64_t n = p->ninodes, ino, nused = 0, bad = 0;
	struct kv_extent *used = malloc(sizeof(*used) * 1024);
	int rc = -ENOMEM;

	if (!used)
		return -ENOMEM;
	for (ino = KV_ROOT_INO; ino < n; ino++) {
		struct kv_inode *in = kv_inode(p, ino);

		kv_snap_commit(p, ino);
		if (in->state != KV_INODE_LIVE || p->hot[ino].bad)
			continue; /* read-only: orphans, reservations, bad records stay out */
		if (note_used(in, &used, &nused))
			goto out;
		if (ino == KV_ROOT_INO)
			continue;
		kv_index_add_record(p, ino);
		if (S_ISREG(in->mode) || S_ISLNK(in->mode)) /* links too (namespace.c) */
			lru[(*nlru)++] = (uint32_t)ino;
	}
	rc = kv_alloc_build(&p->alloc, p->geo.data_off, p->geo.data_size / KV_PAGE_SIZE, used,
			    nused, &bad);
	if (rc == -EUCLEAN)
		kv_log(KV_LOG_ERR,
		       "pool %s: the index is corrupt (an extent at pool offset %llu is "
		       "outside the data area or shared by two files); run 'kvfs fsck %s'",
		       p->be.path, (unsigned long long)used[bad].off, p->be.path);
out:
	free(used);
	return rc;
}

/* At open, after recovery: every layer's DRAM state from the inode table. Return: 0 or -errno. */
static int pool_build(struct kv_pool *p)
{
	uint64_t n = p->ninodes, ino, nlru = 0;
	uint32_t *lru = NULL;
	int rc;

	rc = pool_alloc_layers(p);
	if (!rc)
		rc = pool_check_records(p);
	if (rc)
		return rc;
	kv_holds_build(p);
	lru = malloc(sizeof(*lru) * n);
	if (!lru)
		return -ENOMEM;
	rc = pool_link_records(p, lru, &nlru);
	if (!rc)
		rc = kv_policy_build(p);
	if (rc)
		goto out;
	kv_index_list_empty_dirs(p);
	for (ino = KV_ROOT_INO + 1; ino < n; ino++)
		if (kv_inode(p, ino)->state == KV_INODE_LIVE && !kv_is_dir(kv_inode(p, ino)))
			kv_policy_attach(p, ino);
	kv_lru_build(p, lru, nlru);
	/* Trim over-allocation a dead holder left. */
	for (ino = KV_ROOT_INO + 1; ino < n && !p->readonly; ino++) {
		struct kv_inode *in = kv_inode(p, ino);

		if (in->state == KV_INODE_LIVE && !kv_is_dir(in))
			p->bytes_trimmed += kv_policy_trim(p, ino);
	}
out:
	free(lru);
	return rc;
}

/* --- open and close --- */

/* A read-write open replays the journal a dead holder left and marks the pool open. */
static void recover_and_mark_open(struct kv_pool *p, const char *path,
				  const struct kv_open_opts *o)
{
	if (!p->readonly) {
		kv_journal_recover(p);
		if (p->sb->rt.state == KV_STATE_OPEN) {
			p->sb->rt.unclean_count++;
			kv_log(KV_LOG_NOTICE, "pool %s was not closed cleanly: recovering", path);
		}
		p->sb->rt.open_count++;
		p->sb->rt.last_open_ns = kv_now_ns();
		atomic_store_explicit((_Atomic uint64_t *)&p->sb->rt.state, KV_STATE_OPEN,
				      memory_order_release);
	} else if (kv_journal_pending(p) && !o->cluster) { /* a follower's view: the leader's */
		kv_log(KV_LOG_WARNING,
		       "pool %s has an unreplayed journal; it is replayed at the "
		       "next read-write open",
		       path);
	}
}

/* A hole of the pool file reads as zero: its whole pages need no zeroing before use. */
static void mark_hole_zeroed(void *arg, uint64_t off, uint64_t len)
{
	struct kv_pool *p = arg;
	uint64_t from = (off + KV_PAGE_SIZE - 1) & ~(uint64_t)(KV_PAGE_SIZE - 1),
		 to = (off + len) & ~(uint64_t)(KV_PAGE_SIZE - 1);
	struct kv_extent e;

	if (from < p->geo.data_off)
		from = p->geo.data_off;
	if (to > p->geo.data_off + p->geo.data_size)
		to = p->geo.data_off + p->geo.data_size;
	if (to <= from)
		return;
	e.off = from;
	e.len = to - from;
	kv_alloc_mark_zeroed(&p->alloc, &e);
}

int kv_pool_open(const char *path, const struct kv_open_opts *o, struct kv_pool **out)
{
	struct kv_backend_opts bo = { .create_size = o->create_size,
				      .numa_node = o->numa_node,
				      .readonly = o->readonly,
				      .shared = o->cluster };
	struct kv_pool *p;
	int rc, i;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	for (i = 0; i < KV_STRIPES; i++)
		pthread_rwlock_init(&p->stripes[i], NULL);
	p->readonly = o->readonly;
	p->watermark_pct = 100;
	rc = kv_backend_open(&p->be, path, &bo);
	if (rc)
		goto out_free;
	p->base = p->be.base;
	p->sb = (struct kv_super *)p->base;
	if (p->be.created) {
		rc = format_new(&p->be, path, o->inode_count);
		if (rc) {
			kv_backend_discard(&p->be); /* nothing left behind */
			rc = rc == -ENOSPC ? -EINVAL : rc;
			goto out_close;
		}
		kv_log(KV_LOG_INFO, "created and formatted pool %s (%llu bytes)", path,
		       (unsigned long long)p->be.size);
	}
	memcpy(&p->geo, &p->sb->geo, sizeof(p->geo));
	rc = kv_geometry_check(path, &p->geo, p->be.size);
	if (rc)
		goto out_close;
	p->inodes = (struct kv_inode *)(p->base + p->geo.inode_off);
	p->ninodes = p->geo.inode_count;
	p->up.seal = kv_data_seal;
	p->up.may_commit = kv_nodes_may_commit;
	rc = kv_nodes_open_check(p, o); /* cluster: the epoch goes in before the replay */
	if (rc)
		goto out_close;
	rc = kv_journal_alloc(p);
	if (rc)
		goto out_close;
	recover_and_mark_open(p, path, o);
	if (o->cluster && p->readonly) /* a follower's view: the log from before the build on */
		kv_follow_begin(p);
	rc = pool_build(p);
	if (!rc && o->cluster && p->readonly)
		rc = kv_follow_build(p);
	if (rc)
		goto out_close;
	if (!p->readonly && o->cluster) { /* from now on: a leader logs each record it changes */
		p->up.changed = kv_pool_log_change;
		/* and frees nothing another node holds */
		p->up.held_elsewhere = kv_nodes_held_elsewhere;
		p->up.free_ok = kv_nodes_evict_ok;
		p->up.freed = kv_nodes_evicted;
		p->up.join_pieces = kv_data_join_pieces_locked;
	}
	/* a pool file made now is all zeros; of any other, the holes are (kv_pool_mkfs
	 * leaves its data area one): the janitor zeroes the rest in the background */
	if (!p->readonly && kv_alloc_track_zero(&p->alloc, p->be.created))
		kv_log(KV_LOG_INFO,
		       "pool %s: reservations zero all their bytes (no memory to "
		       "track zeroed pages)",
		       path);
	else if (!p->readonly && !p->be.created)
		kv_backend_holes(&p->be, p->geo.data_off, p->geo.data_off + p->geo.data_size,
				 mark_hole_zeroed, p);
	*out = p;
	return 0;
out_close:
	pool_free_layers(p);
	kv_journal_free(p);
	kv_backend_close(&p->be);
out_free:
	free(p);
	return rc;
}

void kv_pool_stop_serving(struct kv_pool *p)
{
	if (p)
		kv_backend_stop_serving(&p->be);
}

void kv_pool_close(struct kv_pool *p)
{
	if (!p)
		return;
	kv_backend_stop_serving(&p->be); /* the next opener waits for the unmap below */
	if (!p->readonly) {
		p->sb->rt.last_close_ns = kv_now_ns();
		atomic_store_explicit((_Atomic uint64_t *)&p->sb->rt.state, KV_STATE_CLEAN,
				      memory_order_release);
	}
	pool_free_layers(p); /* and the allocator built with them */
	kv_journal_free(p);
	free(p->parked); /* nodes.c */
	kv_backend_close(&p->be);
	free(p);
}

/* --- accessors --- */

const struct kv_geometry *kv_pool_geometry(const struct kv_pool *p)
{
	return &p->geo;
}

bool kv_pool_path_is_device(const char *path)
{
	return kv_backend_is_dax(path);
}

const char *kv_pool_path(const struct kv_pool *p)
{
	return p->be.path;
}

int kv_pool_populate(struct kv_pool *p)
{
	return kv_backend_populate(&p->be, !p->readonly);
}

void kv_pool_set_fault_hook(struct kv_pool *p, kv_fault_fn fn, void *arg)
{
	p->fault = fn;
	p->fault_arg = arg;
}

void kv_pool_set_evict_hook(struct kv_pool *p, kv_evict_fn fn, void *arg)
{
	pthread_mutex_lock(&p->lock);
	p->evict_cb = fn;
	p->evict_arg = arg;
	pthread_mutex_unlock(&p->lock);
}

void kv_pool_set_watermark(struct kv_pool *p, unsigned pct)
{
	p->watermark_pct = pct > 100 ? 100 : pct;
}

bool kv_pool_over_watermark(struct kv_pool *p)
{
	struct kv_alloc_stats st;

	if (p->watermark_pct >= 100)
		return false;
	kv_alloc_get_stats(&p->alloc, &st);
	return st.used_bytes * 100 > st.capacity_bytes * p->watermark_pct;
}

uint64_t kv_pool_zero_free(struct kv_pool *p, uint64_t max_bytes)
{
	uint64_t done = 0;

	if (p->readonly)
		return 0;
	while (done < max_bytes) {
		struct kv_extent run;

		/* under p->lock nothing is allocated: the run stays free while it is zeroed */
		pthread_mutex_lock(&p->lock);
		kv_alloc_dirty_free(&p->alloc, KV_ZERO_STEP, &run);
		if (run.len) {
			memset(p->base + run.off, 0, run.len);
			kv_alloc_mark_zeroed(&p->alloc, &run);
		}
		pthread_mutex_unlock(&p->lock);
		if (!run.len)
			break;
		done += run.len;
	}
	return done;
}

void kv_pool_get_stats(struct kv_pool *p, struct kv_pool_stats *st)
{
	struct kv_alloc_stats as;

	memset(st, 0, sizeof(*st));
	kv_alloc_get_stats(&p->alloc, &as);
	st->capacity_bytes = as.capacity_bytes;
	st->used_bytes = as.used_bytes;
	st->free_bytes = as.free_bytes;
	st->free_extents = as.free_extents;
	st->largest_free_bytes = as.largest_free_bytes;
	st->fragmentation_pct = as.fragmentation_pct;
	pthread_mutex_lock(&p->lock);
	if (p->seen && (int64_t)st->used_bytes + p->follow_used >= 0 &&
	    (int64_t)st->free_bytes - p->follow_used >= 0) { /* a follower's view (follow.c) */
		st->used_bytes = (uint64_t)((int64_t)st->used_bytes + p->follow_used);
		st->free_bytes = (uint64_t)((int64_t)st->free_bytes - p->follow_used);
	}
	st->inodes_total = p->ninodes - 1;
	st->inodes_free = p->nfree_ino;
	if (p->seen && (int64_t)p->nfree_ino + p->follow_free >= 0) /* a follower's view */
		st->inodes_free = (uint64_t)((int64_t)p->nfree_ino + p->follow_free);
	st->files = p->files;
	st->directories = p->dirs;
	st->held_files = p->held;
	st->pinned_files = p->pinned;
	st->unclean_opens = p->sb->rt.unclean_count;
	st->orphans_freed = p->orphans_freed;
	st->dirs_reclaimed = p->dirs_reclaimed;
	st->bytes_trimmed = p->bytes_trimmed;
	st->sums_queued = p->sumq_tail - p->sumq_head;
	pthread_mutex_unlock(&p->lock);
	st->quarantined = atomic_load(&p->quarantined);
	st->evictions = atomic_load(&p->evictions);
	st->evicted_bytes = atomic_load(&p->evicted_bytes);
	st->hits = atomic_load(&p->hits);
	st->misses = atomic_load(&p->misses);
}

void kv_pool_get_info(const struct kv_pool *p, struct kv_pool_info *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->uuid, p->geo.uuid, sizeof(out->uuid));
	out->page_size = p->geo.page_size;
	out->pool_size = p->geo.pool_size;
	out->data_off = p->geo.data_off;
	out->data_size = p->geo.data_size;
	out->data_align = KV_DATA_ALIGN;
	out->max_ino = p->geo.inode_count - 1; /* record 0 is never used */
}
