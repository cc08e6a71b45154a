// SPDX-License-Identifier: MIT
/*
 * nodes.c - the pool's side of cluster mode (kvfs(7) CLUSTER): the cluster
 * mark, the leader's fencing epoch and name in the superblock's runtime area,
 * the check every journal commit of a leader makes, and what a follower reads
 * to know the metadata moved. Who leads is decided by etcd (fs/cluster.c), never
 * here: this file only stores the outcome and refuses writes that contradict it.
 *
 * Order of a takeover: the new leader stores its epoch (larger than any before:
 * etcd's revision of its leader key), flushes it, and only then replays the
 * journal and builds its index. An old leader's next commit finds a foreign
 * epoch and is dropped whole. Each field is one aligned 8-byte store.
 */
#include "nodes.h"
#include "check.h"
#include "coherence.h"
#include "extents.h"
#include "holds.h"
#include "log.h"
#include "lru.h"
#include "policy.h"
#include "pool_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t load_epoch(struct kv_pool *p)
{
	kv_coh_invalidate(&p->sb->rt.cluster_epoch, sizeof(p->sb->rt.cluster_epoch));
	return atomic_load_explicit((_Atomic uint64_t *)&p->sb->rt.cluster_epoch,
				    memory_order_acquire);
}

static bool is_cluster_pool(struct kv_pool *p)
{
	kv_coh_invalidate(&p->sb->rt.cluster_mode, sizeof(p->sb->rt.cluster_mode));
	return atomic_load_explicit((_Atomic uint64_t *)&p->sb->rt.cluster_mode,
				    memory_order_acquire) == KV_CLUSTER_MAGIC;
}

char *kv_pool_cluster_leader(struct kv_pool *p, char *buf, size_t size)
{
	struct kv_runtime *rt = &p->sb->rt;
	size_t n = 0;

	kv_coh_invalidate(rt->cluster_leader, sizeof(rt->cluster_leader));
	while (n + 1 < size && n < sizeof(rt->cluster_leader) && rt->cluster_leader[n]) {
		char c = rt->cluster_leader[n]; /* shared memory is input: printable only */

		buf[n++] = c >= 0x21 && c < 0x7f ? c : '?';
	}
	if (size)
		buf[n] = 0;
	return buf;
}

/* A leader's open: mark the pool, store name then epoch, flush, before any replay. */
static int claim(struct kv_pool *p, const struct kv_open_opts *o)
{
	struct kv_runtime *rt = &p->sb->rt;
	uint64_t had = load_epoch(p);
	size_t len = o->cluster_node ? strlen(o->cluster_node) : 0;

	if (!o->cluster_epoch || len > KV_CLUSTER_NODE_MAX)
		return -EINVAL;
	if (had > o->cluster_epoch && is_cluster_pool(p)) {
		kv_log(KV_LOG_ERR,
		       "pool %s: a newer leader (epoch %llu) wrote it; epoch %llu may not lead",
		       p->be.path, (unsigned long long)had, (unsigned long long)o->cluster_epoch);
		return -ESTALE;
	}
	memset(rt->cluster_leader, 0, sizeof(rt->cluster_leader));
	memcpy(rt->cluster_leader, o->cluster_node, len);
	atomic_store_explicit((_Atomic uint64_t *)&rt->cluster_mode, KV_CLUSTER_MAGIC,
			      memory_order_release);
	atomic_store_explicit((_Atomic uint64_t *)&rt->cluster_epoch, o->cluster_epoch,
			      memory_order_release);
	kv_coh_flush(&rt->cluster_mode, offsetof(struct kv_runtime, reserved) -
					    offsetof(struct kv_runtime, cluster_mode));
	p->cluster_epoch = o->cluster_epoch;
	kv_log(KV_LOG_INFO, "pool %s: node %s leads the cluster, epoch %llu (was %llu)", p->be.path,
	       o->cluster_node, (unsigned long long)o->cluster_epoch, (unsigned long long)had);
	return 0;
}

int kv_nodes_open_check(struct kv_pool *p, const struct kv_open_opts *o)
{
	char who[KV_CLUSTER_NODE_MAX + 1];

	if (o->cluster && o->readonly) { /* a follower's view: read what the leader published */
		kv_coh_invalidate(p->base, p->geo.data_off);
		return 0;
	}
	if (o->cluster)
		return claim(p, o);
	if (o->readonly || !is_cluster_pool(p))
		return 0;
	kv_log(KV_LOG_ERR,
	       "pool %s belongs to a kvfs cluster (leader %s, epoch %llu): mount it with "
	       "-o cluster=etcd://HOST:PORT,node=NAME, or unmount every node of the cluster "
	       "first (the last one hands the pool back); see kvfs(7) CLUSTER",
	       p->be.path, kv_pool_cluster_leader(p, who, sizeof(who)),
	       (unsigned long long)load_epoch(p));
	return -EBUSY;
}

bool kv_nodes_may_commit(struct kv_pool *p)
{
	uint64_t now = load_epoch(p);

	if (now == p->cluster_epoch && (!p->fence || p->fence(p->fence_arg)))
		return true;
	if (atomic_fetch_add(&p->commits_refused, 1) == 0 || now != p->cluster_epoch)
		kv_log(KV_LOG_ERR,
		       "pool %s: metadata commit refused: this node is fenced (its epoch %llu, "
		       "the pool's %llu)",
		       p->be.path, (unsigned long long)p->cluster_epoch, (unsigned long long)now);
	return false;
}

void kv_pool_set_fence_hook(struct kv_pool *p, kv_fence_fn fn, void *arg)
{
	p->fence = fn;
	p->fence_arg = arg;
}

uint64_t kv_pool_cluster_epoch(struct kv_pool *p)
{
	return is_cluster_pool(p) ? load_epoch(p) : 0;
}

uint64_t kv_pool_commits_refused(struct kv_pool *p)
{
	return atomic_load(&p->commits_refused);
}

uint64_t kv_pool_change_seq(struct kv_pool *p)
{
	uint64_t *seq =
	    (uint64_t *)(p->base + p->geo.journal_off + offsetof(struct kv_journal_head, seq));

	uint64_t *changes = &p->sb->rt.cluster_changes;

	kv_coh_invalidate(seq, sizeof(*seq));
	kv_coh_invalidate(changes, sizeof(*changes));
	return atomic_load_explicit((_Atomic uint64_t *)seq, memory_order_acquire) +
	       atomic_load_explicit((_Atomic uint64_t *)changes, memory_order_acquire);
}

void kv_pool_cluster_changed(struct kv_pool *p)
{
	if (p->readonly)
		return;
	/* which records an op touched is not tracked yet: without coherence, all of them */
	if (!kv_coh_coherent())
		kv_coh_flush(p->inodes, p->ninodes * sizeof(struct kv_inode));
	atomic_fetch_add_explicit((_Atomic uint64_t *)&p->sb->rt.cluster_changes, 1,
				  memory_order_release);
	kv_coh_flush(&p->sb->rt.cluster_changes, sizeof(p->sb->rt.cluster_changes));
}

int kv_pool_cluster_leave(struct kv_pool *p, uint64_t epoch)
{
	struct kv_runtime *rt = &p->sb->rt;

	if (p->readonly)
		return -EROFS;
	if (load_epoch(p) != epoch)
		return -ESTALE;
	atomic_store_explicit((_Atomic uint64_t *)&rt->cluster_mode, 0, memory_order_release);
	kv_coh_flush(&rt->cluster_mode, sizeof(rt->cluster_mode));
	kv_log(KV_LOG_NOTICE, "pool %s: the last node of the cluster left; single-host use again",
	       p->be.path);
	return 0;
}

int kv_pool_cluster_renew(struct kv_pool *p, uint64_t epoch)
{
	uint64_t mine = p->cluster_epoch;

	if (p->readonly || !mine)
		return -EROFS;
	pthread_mutex_lock(&p->lock); /* no commit between the check and the store */
	if (!atomic_compare_exchange_strong((_Atomic uint64_t *)&p->sb->rt.cluster_epoch, &mine,
					    epoch)) {
		pthread_mutex_unlock(&p->lock);
		return -ESTALE;
	}
	kv_coh_flush(&p->sb->rt.cluster_epoch, sizeof(p->sb->rt.cluster_epoch));
	p->cluster_epoch = epoch;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

bool kv_pool_is_readonly(const struct kv_pool *p)
{
	return p->readonly;
}

void kv_pool_coh_file(struct kv_pool *p, uint64_t ino, uint64_t off, uint64_t len, bool publish)
{
	struct kv_inode *in;
	uint64_t pos = 0;
	unsigned i, n;

	if (!kv_ino_valid(p, ino) || !len)
		return;
	in = kv_inode(p, ino);
	n = in->extent_count < KV_INLINE_EXTENTS ? in->extent_count : KV_INLINE_EXTENTS;
	for (i = 0; i < n && pos < off + len; i++) {
		struct kv_extent e = in->ext[i]; /* shared memory is input: check before use */
		uint64_t a = off > pos ? off - pos : 0, b = off + len - pos;

		if (e.off < p->geo.data_off || e.len > p->geo.data_off + p->geo.data_size - e.off)
			return;
		if (a < e.len) {
			b = b < e.len ? b : e.len;
			if (publish)
				kv_coh_flush(p->base + e.off + a, b - a);
			else
				kv_coh_invalidate(p->base + e.off + a, b - a);
		}
		pos += e.len;
	}
}

/* --- global holds: mark, check, free --- */

/* Bitmap @i (a node slot, or KV_CLUSTER_SLOTS: the evicting marks) in the journal's tail. */
static _Atomic uint64_t *bitmap(struct kv_pool *p, int i)
{
	return (_Atomic uint64_t *)(p->base + p->geo.journal_off + p->geo.journal_size -
				    KV_CLUSTER_TAIL + (uint64_t)i * KV_CLUSTER_BITMAP_SIZE);
}

static bool test_bit_shared(struct kv_pool *p, int i, uint64_t ino)
{
	_Atomic uint64_t *w = bitmap(p, i) + ino / 64;

	kv_coh_invalidate((const void *)w, sizeof(*w));
	return atomic_load(w) & (1ull << (ino % 64));
}

static void set_bit_shared(struct kv_pool *p, int i, uint64_t ino, bool on)
{
	_Atomic uint64_t *w = bitmap(p, i) + ino / 64;

	if (on)
		atomic_fetch_or(w, 1ull << (ino % 64)); /* a full barrier on x86 */
	else
		atomic_fetch_and(w, ~(1ull << (ino % 64)));
	kv_coh_flush((const void *)w, sizeof(*w));
}

void kv_pool_set_unpin_hook(struct kv_pool *p, kv_unpin_fn fn, void *arg)
{
	p->unpin_cb = fn;
	p->unpin_arg = arg;
}

bool kv_pool_holds_usable(struct kv_pool *p)
{
	return p->ninodes <= (uint64_t)KV_CLUSTER_BITMAP_SIZE * 8;
}

int kv_pool_remote_hold(struct kv_pool *p, int slot, uint64_t ino, uint64_t gen)
{
	struct kv_inode *in;

	if (slot < 0 || slot >= KV_CLUSTER_SLOTS || !kv_ino_valid(p, ino) ||
	    !kv_pool_holds_usable(p))
		return -EINVAL;
	in = kv_inode(p, ino);
	set_bit_shared(p, slot, ino,
		       true); /* mark (a seq_cst read-modify-write: a full fence) ... */
	kv_coh_invalidate(in, sizeof(*in));
	/* ... check: the leader marks before it looks at the holds, so one of us sees the other */
	if (test_bit_shared(p, KV_CLUSTER_SLOTS, ino) ||
	    atomic_load_explicit((_Atomic uint32_t *)&in->state, memory_order_acquire) !=
		KV_INODE_LIVE ||
	    (gen && (uint32_t)atomic_load_explicit((_Atomic uint64_t *)&in->gen,
						   memory_order_acquire) != (uint32_t)gen)) {
		set_bit_shared(p, slot, ino, false);
		return -ESTALE;
	}
	return 0;
}

void kv_pool_remote_release(struct kv_pool *p, int slot, uint64_t ino)
{
	if (slot >= 0 && slot < KV_CLUSTER_SLOTS && kv_ino_valid(p, ino) && kv_pool_holds_usable(p))
		set_bit_shared(p, slot, ino, false);
}

void kv_pool_slot_clear(struct kv_pool *p, int slot)
{
	if (slot < 0 || slot >= KV_CLUSTER_SLOTS)
		return;
	memset((void *)bitmap(p, slot), 0, KV_CLUSTER_BITMAP_SIZE);
	kv_coh_flush((const void *)bitmap(p, slot), KV_CLUSTER_BITMAP_SIZE);
}

uint64_t kv_pool_slot_holds(struct kv_pool *p, int slot)
{
	uint64_t n = 0, i, words = (p->ninodes + 63) / 64;

	if (slot < 0 || slot >= KV_CLUSTER_SLOTS || !kv_pool_holds_usable(p))
		return 0;
	kv_coh_invalidate((const void *)bitmap(p, slot), words * 8);
	for (i = 0; i < words; i++)
		n += (uint64_t)__builtin_popcountll(atomic_load(bitmap(p, slot) + i));
	return n;
}

static bool held_elsewhere(struct kv_pool *p, uint64_t ino)
{
	int i;

	for (i = 0; i < KV_CLUSTER_SLOTS; i++)
		if (test_bit_shared(p, i, ino))
			return true;
	return false;
}

bool kv_nodes_evict_ok(struct kv_pool *p, uint64_t ino)
{
	if (!kv_pool_holds_usable(p) || !kv_ino_valid(p, ino))
		return true;
	if (!p->parked && !(p->parked = calloc(p->ninodes, 1)))
		return true; /* out of memory: no global holds, as on one host */
	set_bit_shared(p, KV_CLUSTER_SLOTS, ino, true); /* mark (a full fence) ... */
	if (!held_elsewhere(p, ino)) /* ... check; the caller frees, then kv_nodes_evicted() */
		return true;
	set_bit_shared(p, KV_CLUSTER_SLOTS, ino, false);
	kv_lru_remove(p, ino);
	p->parked[ino] = 1;
	return false;
}

bool kv_nodes_held_elsewhere(struct kv_pool *p, uint64_t ino)
{
	if (!kv_pool_holds_usable(p) || !kv_ino_valid(p, ino))
		return false;
	/* the caller's changes of the record before, the holds read after: a node that marks
	 * its hold after this look reads the record as changed (kv_pool_remote_hold) */
	atomic_thread_fence(memory_order_seq_cst);
	if (!held_elsewhere(p, ino))
		return false;
	if (p->parked || (p->parked = calloc(p->ninodes, 1)))
		p->parked[ino] = 1; /* kv_pool_cluster_unpark() finishes it (else the next open) */
	return true;
}

void kv_nodes_evicted(struct kv_pool *p, uint64_t ino)
{
	if (kv_pool_holds_usable(p) && kv_ino_valid(p, ino))
		set_bit_shared(p, KV_CLUSTER_SLOTS, ino, false);
}

int kv_pool_cluster_unpark(struct kv_pool *p)
{
	uint64_t ino;
	int n = 0;

	if (!p->parked || p->readonly)
		return 0;
	pthread_mutex_lock(&p->lock);
	for (ino = KV_ROOT_INO + 1; ino < p->ninodes; ino++) {
		if (!p->parked[ino] || held_elsewhere(p, ino))
			continue;
		p->parked[ino] = 0;
		if (kv_held(p, ino) || kv_is_dir(kv_inode(p, ino)))
			continue; /* this node's last release does the rest */
		/* what waited for the other nodes: a moved extent's free, a trim, an unlink */
		if (kv_holds_released_locked(p, ino, false, false, kv_now_ns()))
			n++;
	}
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* --- forwarding: the mailboxes, and a view whose changes go to the leader --- */

struct kv_rpc_box *kv_pool_rpc_box(struct kv_pool *p, int slot)
{
	if (slot < 0 || slot >= KV_CLUSTER_SLOTS)
		return NULL;
	return (struct kv_rpc_box *)(p->base + p->geo.journal_off + p->geo.journal_size -
				     KV_CLUSTER_RPC_SIZE + (uint64_t)slot * KV_CLUSTER_BOX_SIZE);
}

void kv_pool_set_forward(struct kv_pool *p, const struct kv_forward_ops *ops, void *arg)
{
	p->forward = ops;
	p->forward_arg = arg;
}

/* --- the change log (layout.h): in-place changes, for the followers' page caches --- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER; /* one leader pool a process */

static struct kv_change_log *change_log(struct kv_pool *p)
{
	return (struct kv_change_log *)(p->base + p->geo.journal_off + p->geo.journal_size -
					KV_CLUSTER_RPC_SIZE +
					(uint64_t)KV_CLUSTER_SLOTS * KV_CLUSTER_BOX_SIZE);
}

void kv_pool_log_change(struct kv_pool *p, uint64_t ino)
{
	struct kv_change_log *log = change_log(p);
	struct kv_inode *in;
	uint64_t h, xoff, xlen;

	if (p->readonly || !p->cluster_epoch || !kv_ino_valid(p, ino))
		return;
	/* the record and its xattr blob reach memory before the entry that names them */
	in = kv_inode(p, ino);
	kv_coh_flush(in, sizeof(*in));
	xoff = in->xattr_off;
	xlen = ((uint64_t)in->xattr_len + KV_PAGE_SIZE - 1) & ~(uint64_t)(KV_PAGE_SIZE - 1);
	if (xoff && in->xattr_len <= KV_XATTR_MAX_BLOB && kv_check_extent(&p->geo, xoff, xlen))
		kv_coh_flush(p->base + xoff, in->xattr_len);
	pthread_mutex_lock(&log_lock);
	h = log->head;
	log->ent[h % KV_CHANGE_LOG_LEN].ino = ino;
	log->ent[h % KV_CHANGE_LOG_LEN].gen = kv_inode(p, ino)->gen;
	kv_coh_flush(&log->ent[h % KV_CHANGE_LOG_LEN], 16);
	atomic_store_explicit((_Atomic uint64_t *)&log->head, h + 1, memory_order_release);
	kv_coh_flush(&log->head, sizeof(log->head));
	pthread_mutex_unlock(&log_lock);
}

int kv_pool_log_read(struct kv_pool *p, uint64_t *pos, uint64_t *ino, uint64_t *gen, int max)
{
	struct kv_change_log *log = change_log(p);
	uint64_t head;
	int n = 0;

	kv_coh_invalidate(&log->head, sizeof(log->head));
	head = atomic_load_explicit((_Atomic uint64_t *)&log->head, memory_order_acquire);
	if (!max) { /* a new reader: from now on */
		*pos = head;
		return 0;
	}
	if (*pos > head || head - *pos > KV_CHANGE_LOG_LEN / 2) /* fell behind: the newest half */
		*pos = head > KV_CHANGE_LOG_LEN / 2 ? head - KV_CHANGE_LOG_LEN / 2 : 0;
	for (; *pos < head && n < max; (*pos)++, n++) {
		kv_coh_invalidate(&log->ent[*pos % KV_CHANGE_LOG_LEN], 16);
		ino[n] = log->ent[*pos % KV_CHANGE_LOG_LEN].ino;
		gen[n] = log->ent[*pos % KV_CHANGE_LOG_LEN].gen;
	}
	return n;
}
