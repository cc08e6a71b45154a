// SPDX-License-Identifier: MIT
/*
 * janitor.c - the daemon's background thread. It sends the kernel the
 * invalidations that request handlers must not send themselves (queued by
 * the evict hook while mm/ holds its lock), reclaims idle directories when
 * inode records run low, evicts down from the high watermark, and zeroes
 * freed space while idle. It never answers a request; handlers only wake it.
 * Also the filter of names the kernel asked for by path (kv_neg_note), the
 * only ones a commit's invalidations need to name.
 */
#include "daemon.h"
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <xxhash.h>

void kv_janitor_queue_inval(struct kv_daemon *d, uint64_t parent, const char *name, size_t len,
			    uint64_t ino, uint64_t gen)
{
	struct kv_inval *iv = malloc(sizeof(*iv) + len + 1);

	if (!iv)
		return; /* the kernel's entry times out; the inode is already refused on open */
	iv->next = NULL;
	iv->parent = parent;
	iv->ino = ino;
	iv->gen = gen;
	iv->len = len;
	memcpy(iv->name, name, len);
	iv->name[len] = 0;
	pthread_mutex_lock(&d->inval_lock);
	*d->inval_tail = iv;
	d->inval_tail = &iv->next;
	pthread_cond_signal(&d->inval_cond);
	pthread_mutex_unlock(&d->inval_lock);
}

/* --- which names the kernel may hold as absent (daemon.h) --- */

static uint64_t neg_bit(uint64_t parent_node, const char *name, size_t len)
{
	return XXH3_64bits_withSeed(name, len, parent_node) & (KV_NEG_BITS - 1);
}

void kv_neg_note(struct kv_daemon *d, uint64_t parent_node, const char *name, size_t len)
{
	uint64_t b = neg_bit(parent_node, name, len);

	/* before the index is asked: a commit after that sees the bit (seq_cst) */
	if (d->neg_bits && !(atomic_load_explicit(&d->neg_bits[b / 64], memory_order_relaxed) &
			     (1ull << (b % 64))))
		atomic_fetch_or(&d->neg_bits[b / 64], 1ull << (b % 64));
	atomic_thread_fence(memory_order_seq_cst);
}

bool kv_neg_maybe(struct kv_daemon *d, uint64_t parent_node, const char *name, size_t len)
{
	uint64_t b = neg_bit(parent_node, name, len);

	return !d->neg_bits || (atomic_load(&d->neg_bits[b / 64]) & (1ull << (b % 64)));
}

void kv_janitor_kick(struct kv_daemon *d)
{
	if ((d->high_watermark < 100 && kv_pool_over_watermark(d->pool)) ||
	    kv_pool_inodes_low(d->pool) || kv_pool_sums_queued(d->pool)) {
		pthread_mutex_lock(&d->inval_lock);
		pthread_cond_signal(&d->inval_cond);
		pthread_mutex_unlock(&d->inval_lock);
	}
}

void kv_janitor_evicted(void *arg, uint64_t parent, uint64_t parent_gen, const char *name,
			size_t len, uint64_t ino, uint64_t gen)
{
	kv_janitor_queue_inval(arg, kv_node(parent, parent_gen), name, len, ino ? kv_node(ino, gen) : 0, gen);
}

/*
 * The kernel caps a FUSE mount's readahead at 128 KiB, so a 2 MiB block file
 * is read in 16 round trips. Raise the mount's window to one request (1 MiB)
 * where we may (root); otherwise leave it.
 */
static void tune_readahead(struct kv_daemon *d)
{
	char path[128];
	struct stat st;
	FILE *f;

	if (stat(d->mountpoint, &st) < 0) /* served by the loop, which runs by now */
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev),
		 minor(st.st_dev));
	f = fopen(path, "w");
	if (!f)
		return;
	fprintf(f, "1024\n");
	if (fclose(f))
		kv_log(KV_LOG_DEBUG, "could not raise readahead (%s)", path);
}

/*
 * Inode records are running low: reclaim empty directories nobody used for
 * a few milliseconds (their entries are invalidated
 * through the evict hook, and the kernel's forgets free their records).
 * Called and returns with inval_lock held. Return: true if any went.
 */
static bool reclaim_idle_dirs(struct kv_daemon *d)
{
	int n;

	pthread_mutex_unlock(&d->inval_lock);
	n = kv_pool_reclaim_dirs(d->pool, 256);
	pthread_mutex_lock(&d->inval_lock);
	return n > 0;
}

/* Send the kernel a detached list of invalidations and free it. Holds no lock. */
static void send_invals(struct kv_daemon *d, struct kv_inval *iv)
{
	struct kv_inval *next;

	for (; iv; iv = next) {
		next = iv->next;
		/* inode 0: a directory eviction emptied, its entry only; parent 0: the inode only */
		if (iv->parent &&
		    (!iv->ino ||
		     fuse_lowlevel_notify_delete(d->se, iv->parent, iv->ino, iv->name, iv->len)))
			fuse_lowlevel_notify_inval_entry(d->se, iv->parent, iv->name, iv->len);
		if (iv->ino)
			fuse_lowlevel_notify_inval_inode(d->se, iv->ino, 0, 0);
		free(iv);
	}
}

static void *janitor_main(void *arg)
{
	struct kv_daemon *d = arg;
	uint64_t did; /* bytes hashed or zeroed in the background this round */
	int rc;

	/* In the background: the mount serves meanwhile, each first touch faulting. */
	rc = kv_pool_populate(d->pool);
	if (rc)
		kv_log(KV_LOG_WARNING, "could not prefault the pool (%s); first touches will fault",
		       strerror(-rc));
	tune_readahead(d);
	pthread_mutex_lock(&d->inval_lock);
	while (!d->stopping) {
		struct kv_inval *iv = d->inval_head;
		struct timespec ts;

		if (iv) {
			d->inval_head = NULL;
			d->inval_tail = &d->inval_head;
			pthread_mutex_unlock(&d->inval_lock);
			send_invals(d, iv);
			pthread_mutex_lock(&d->inval_lock);
			continue;
		}
		if (reclaim_idle_dirs(d))
			continue;
		if (d->high_watermark < 100 && kv_pool_over_watermark(d->pool)) {
			pthread_mutex_unlock(&d->inval_lock);
			kv_pool_evict_to(d->pool,
					 d->high_watermark > 5 ? d->high_watermark - 5 : 0);
			pthread_mutex_lock(&d->inval_lock);
			continue;
		}
		/* idle: checksums of committed blocks, then zero freed space ahead of the
		 * reservations that would wait for it */
		pthread_mutex_unlock(&d->inval_lock);
		did = kv_pool_sum_queued(d->pool, 256u << 20);
		if (!did && d->prezero)
			did = kv_pool_zero_free(d->pool, 64u << 20);
		pthread_mutex_lock(&d->inval_lock);
		if (did)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&d->inval_cond, &d->inval_lock, &ts);
	}
	pthread_mutex_unlock(&d->inval_lock);
	return NULL;
}

int kv_janitor_start(struct kv_daemon *d)
{
	d->stopping = false;
	if (pthread_create(&d->janitor, NULL, janitor_main, d))
		return -EAGAIN;
	pthread_setname_np(d->janitor, "kvfs-janitor");
	return 0;
}

void kv_janitor_stop(struct kv_daemon *d)
{
	pthread_mutex_lock(&d->inval_lock);
	d->stopping = true;
	pthread_cond_signal(&d->inval_cond);
	pthread_mutex_unlock(&d->inval_lock);
	pthread_join(d->janitor, NULL);
	/* the session is going: what the kernel was not told it forgets with the mount */
	while (d->inval_head) {
		struct kv_inval *iv = d->inval_head;

		d->inval_head = iv->next;
		free(iv);
	}
	d->inval_tail = &d->inval_head;
}
