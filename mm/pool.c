// SPDX-License-Identifier: MIT
/*
 * pool.c - format, open, recover and close a kvfs pool; the redo journal.
 *
 * Crash model: the process holding the pool may die at any instruction; the
 * pool's memory survives (a shared-memory file, or CXL memory). So every
 * update is ordered such that the pool is always either before or after it:
 * single aligned stores publish single fields (a size, a state), and changes
 * of several fields go through the journal: stage the new bytes in DRAM, copy
 * them to the journal, store the commit mark, apply, clear. Open replays a
 * committed transaction, frees orphans and reservations, and trims
 * over-allocation. Free space is derived from the inode table, never stored.
 */
#include "check.h"
#include "pool_int.h"
#include "coherence.h"
#include "log.h"

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

int64_t kv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t geometry_checksum(const struct kv_geometry *g)
{
	return XXH64(g, offsetof(struct kv_geometry, checksum), 0);
}

/* --- journal --- */

static struct kv_journal_head *journal_head(struct kv_pool *p)
{
	return (struct kv_journal_head *)(p->base + p->geo.journal_off);
}

void kv_jtx_begin(struct kv_pool *p)
{
	p->jbytes = 0;
	p->jnrec = 0;
	p->joverflow = false;
}

int kv_jtx_add(struct kv_pool *p, void *dst, const void *src, uint32_t len)
{
	uint32_t need = sizeof(struct kv_journal_rec) + ((len + 7) & ~7u);
	struct kv_journal_rec *r;

	if (p->joverflow)
		return -E2BIG;
	/* the checked copy of the geometry: the pool's may have been changed */
	if (need > p->geo.journal_size - sizeof(struct kv_journal_head) - p->jbytes -
		       (p->cluster_epoch ? KV_CLUSTER_TAIL : 0)) { /* cluster: holds, mailboxes */
		p->joverflow = true;
		kv_log(KV_LOG_ERR,
		       "pool %s: a journal transaction outgrew the journal (%u bytes staged); "
		       "it is dropped",
		       p->be.path, p->jbytes);
		return -E2BIG;
	}
	r = (struct kv_journal_rec *)(p->jbuf + p->jbytes);
	r->off = (uint64_t)((uint8_t *)dst - p->base);
	r->len = len;
	r->pad = 0;
	memcpy(r + 1, src, len);
	p->jbytes += need;
	p->jnrec++;
	return 0;
}

static void journal_apply(struct kv_pool *p, const uint8_t *recs, uint32_t nrec)
{
	uint32_t i;

	for (i = 0; i < nrec; i++) {
		const struct kv_journal_rec *r = (const void *)recs;

		memcpy(p->base + r->off, r + 1, r->len);
		kv_coh_flush(p->base + r->off, r->len); /* other hosts read it (coherence.h) */
		recs += sizeof(*r) + ((r->len + 7) & ~7u);
	}
}

void kv_jtx_commit(struct kv_pool *p)
{
	struct kv_journal_head *h = journal_head(p);
	uint8_t *recs = (uint8_t *)(h + 1);

	if (p->joverflow) /* all or nothing: a transaction cut short is not applied */
		p->jnrec = p->jbytes = 0;
	if (!p->jnrec)
		return;
	if (p->cluster_epoch && !kv_cluster_may_commit(p)) { /* fenced: see cluster.c */
		p->jnrec = p->jbytes = 0;
		return;
	}
	memcpy(recs, p->jbuf, p->jbytes);
	h->seq = ++p->jseq;
	h->nrec = p->jnrec;
	h->bytes = p->jbytes;
	h->checksum = XXH64(recs, p->jbytes, h->seq);
	kv_coh_flush(h, sizeof(*h) + p->jbytes); /* the records reach memory before the mark */
	kv_fault(p, KV_FP_JOURNAL_WRITTEN);
	atomic_store_explicit((_Atomic uint64_t *)&h->state, KV_JOURNAL_COMMITTED,
			      memory_order_release);
	kv_coh_flush(&h->state, sizeof(h->state));
	kv_fault(p, KV_FP_JOURNAL_COMMITTED);
	journal_apply(p, p->jbuf, p->jnrec);
	kv_fault(p, KV_FP_JOURNAL_APPLIED);
	atomic_store_explicit((_Atomic uint64_t *)&h->state, KV_JOURNAL_EMPTY,
			      memory_order_release);
	kv_coh_flush(&h->state, sizeof(h->state));
	p->jnrec = 0;
	p->jbytes = 0;
}

/*
 * Replay a committed transaction a dead holder left behind. The head and the
 * records are copied out of the pool first and the copy is checked and
 * applied, so nobody can change them between the check and the use. A bad
 * transaction is discarded (the records it meant to change are checked next,
 * as any others). Return: 1 replayed, 0 none or discarded.
 */
static int journal_recover(struct kv_pool *p)
{
	struct kv_journal_head *jh = journal_head(p), h;
	const char *why;
	int rc;

	memcpy(&h, jh, sizeof(h));
	p->jseq = h.seq;
	if (h.state == KV_JOURNAL_COMMITTED && kv_check_journal_len(&p->geo, &h))
		memcpy(p->jbuf, jh + 1, h.bytes);
	rc = kv_check_journal(&p->geo, &h, p->jbuf, &why);
	if (rc < 0) {
		kv_log(KV_LOG_WARNING, "pool %s: %s; discarding that transaction", p->be.path, why);
		atomic_fetch_add(&p->quarantined, 1);
		rc = 0;
	} else if (rc > 0) {
		journal_apply(p, p->jbuf, h.nrec);
	}
	/* an uncommitted transaction never happened */
	atomic_store_explicit((_Atomic uint64_t *)&jh->state, KV_JOURNAL_EMPTY,
			      memory_order_release);
	return rc;
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

/* --- open and close --- */

static int pool_alloc_dram(struct kv_pool *p)
{
	p->jbuf = malloc(p->geo.journal_size);
	return p->jbuf ? 0 : -ENOMEM;
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
	rc = pool_alloc_dram(p);
	if (rc)
		goto out_close;
	rc = kv_cluster_open_check(p, o); /* cluster: the epoch goes in before the replay */
	if (rc)
		goto out_close;
	if (!p->readonly) {
		journal_recover(p);
		if (p->sb->rt.state == KV_STATE_OPEN) {
			p->sb->rt.unclean_count++;
			kv_log(KV_LOG_NOTICE, "pool %s was not closed cleanly: recovering", path);
		}
		p->sb->rt.open_count++;
		p->sb->rt.last_open_ns = kv_now_ns();
		atomic_store_explicit((_Atomic uint64_t *)&p->sb->rt.state, KV_STATE_OPEN,
				      memory_order_release);
	} else if (journal_head(p)->state == KV_JOURNAL_COMMITTED && !o->cluster) {
		kv_log(KV_LOG_WARNING,
		       "pool %s has an unreplayed journal; it is replayed at the "
		       "next read-write open",
		       path);
	}
	rc = kv_index_build(p);
	if (rc)
		goto out_close;
	/* a pool file made now is all zeros; of any other, no free page is known to be */
	if (!p->readonly && kv_alloc_track_zero(&p->alloc, p->be.created))
		kv_log(KV_LOG_INFO,
		       "pool %s: reservations zero all their bytes (no memory to "
		       "track zeroed pages)",
		       path);
	*out = p;
	return 0;
out_close:
	kv_index_free(p);
	free(p->jbuf);
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
	kv_index_free(p); /* and the allocator built with it */
	free(p->parked); /* cluster.c */
	free(p->jbuf);
	kv_backend_close(&p->be);
	free(p);
}

/* --- accessors --- */

const struct kv_geometry *kv_pool_geometry(const struct kv_pool *p)
{
	return &p->geo;
}

const char *kv_pool_path(const struct kv_pool *p)
{
	return p->be.path;
}

void *kv_pool_base(const struct kv_pool *p)
{
	return p->base;
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

long kv_pool_evict_to(struct kv_pool *p, unsigned pct)
{
	struct kv_alloc_stats st;
	bool reclaimed = false;
	long n = 0;

	if (p->readonly) /* a cluster follower's view: the leader evicts */
		return 0;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		kv_alloc_get_stats(&p->alloc, &st);
		if (st.used_bytes * 100 <= st.capacity_bytes * pct)
			break;
		if (!reclaimed) { /* room ahead of open files goes before any cached file */
			reclaimed = true;
			if (kv_data_reclaim_ahead(p))
				continue;
		}
		if (kv_evict_one(p) < 0)
			break;
		n++;
	}
	pthread_mutex_unlock(&p->lock);
	return n;
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
	st->inodes_total = p->ninodes - 1;
	st->inodes_free = p->nfree_ino;
	st->files = p->files;
	st->directories = p->dirs;
	st->held_files = p->held;
	st->pinned_files = p->pinned;
	st->unclean_opens = p->sb->rt.unclean_count;
	st->orphans_freed = p->orphans_freed;
	st->dirs_reclaimed = p->dirs_reclaimed;
	st->bytes_trimmed = p->bytes_trimmed;
	pthread_mutex_unlock(&p->lock);
	st->quarantined = atomic_load(&p->quarantined);
	st->evictions = atomic_load(&p->evictions);
	st->evicted_bytes = atomic_load(&p->evicted_bytes);
	st->hits = atomic_load(&p->hits);
	st->misses = atomic_load(&p->misses);
}
