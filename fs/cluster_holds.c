// SPDX-License-Identifier: MIT
/*
 * cluster_holds.c - the parts of a cluster node that reach the other nodes
 * through the pool (kvfs(7) CLUSTER): global holds (a follower's pins marked
 * in its slot's bitmap, the slot taken through etcd; a leader empties the
 * slots of nodes whose lease ended) and forwarding (a follower's changes sent
 * to the leader's mailbox server, cluster_rpc.c). It decides nothing etcd
 * has not: slots come and go with leases.
 */
#include "cluster_int.h"
#include "daemon.h"
#include "kvfs_abi.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* --- global holds (kvfs(7) CLUSTER: a follower's pins and opens are seen by the leader) --- */

void kv_cluster_on_unpin(void *arg, uint64_t ino)
{
	struct kv_cluster *c = arg;

	/* counts only grow on a follower's views: a zero read without the lock is a zero */
	if (ino >= c->nholds || !__atomic_load_n(&c->holds[ino], __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&c->hold_lock);
	if (ino < c->nholds && c->holds[ino] && --c->holds[ino] == 0)
		kv_pool_remote_release(c->d->pool, c->slot, ino);
	pthread_mutex_unlock(&c->hold_lock);
}

uint32_t kv_cluster_hold_batch(struct kv_daemon *d, const struct kv_attr *attr, uint32_t found)
{
	static __thread uint64_t rest[KVFS_IOC_LOOKUP_MAX];
	struct kv_cluster *c = d->cluster;
	uint32_t i, n = found;

	if (!c || !c->holds || !kv_pool_is_readonly(d->pool))
		return found; /* a leader's own pins are in its index */
	pthread_mutex_lock(&c->hold_lock);
	for (i = 0; i < found; i++) {
		uint64_t ino = attr[i].ino;

		if (ino >= c->nholds) {
			n = i < n ? i : n;
			continue;
		}
		if (c->holds[ino]++ == 0 && i < n && c->slot >= 0 &&
		    kv_pool_remote_hold(d->pool, c->slot, ino, attr[i].gen))
			n = i; /* being evicted, or gone: the prefix ends here */
	}
	pthread_mutex_unlock(&c->hold_lock);
	for (i = n; i < found; i++) /* on_unpin() takes their counts back */
		rest[i - n] = attr[i].ino;
	if (n < found)
		kv_unpin_batch(d->pool, rest, found - n);
	return n;
}

int kv_cluster_hold_file(struct kv_daemon *d, uint64_t ino, uint64_t node_gen)
{
	struct kv_cluster *c = d->cluster;
	uint64_t gen;
	int rc = 0;

	if (!c || !c->holds || !kv_pool_is_readonly(d->pool))
		return 1; /* a leader's opens are in its own index */
	gen = kv_gen(d->pool, ino); /* the record's, as the leader left it */
	if (ino >= c->nholds || (gen & KV_NODE_GEN_MASK) != node_gen)
		return -ENOENT;
	pthread_mutex_lock(&c->hold_lock);
	if (c->holds[ino]++ == 0 && c->slot >= 0 &&
	    kv_pool_remote_hold(d->pool, c->slot, ino, gen)) {
		c->holds[ino]--; /* being evicted, or another file now */
		rc = -ENOENT;
	}
	pthread_mutex_unlock(&c->hold_lock);
	return rc;
}

void kv_cluster_unhold_file(struct kv_daemon *d, uint64_t ino)
{
	if (d->cluster)
		kv_cluster_on_unpin(d->cluster, ino);
}

/* Take a free slot through etcd (one transaction each) and mark what we hold in it. */
void kv_cluster_claim_slot(struct kv_cluster *c)
{
	char k[160];
	int64_t rev;
	uint64_t ino;
	int i;

	c->slot = -1;
	if (!c->holds)
		return;
	for (i = 0; i < KV_CLUSTER_SLOTS && c->slot < 0; i++) {
		snprintf(k, sizeof(k), "%sslots/%d", c->prefix, i);
		if (kv_etcd_create(c->etcd, k, c->node, c->lease, &rev) == 0)
			c->slot = i;
	}
	if (c->slot < 0) {
		kv_log(KV_LOG_WARNING, "cluster node %s: no hold slot free; its pins are local",
		       c->node);
		return;
	}
	pthread_mutex_lock(&c->hold_lock);
	kv_pool_slot_clear(c->d->pool, c->slot); /* a dead owner's holds end here, not before */
	for (ino = 0; ino < c->nholds; ino++)
		if (c->holds[ino] && kv_pool_remote_hold(c->d->pool, c->slot, ino, 0))
			kv_log(KV_LOG_WARNING,
			       "cluster node %s: a pinned file (record %llu) "
			       "changed while the node had no lease",
			       c->node, (unsigned long long)ino);
	pthread_mutex_unlock(&c->hold_lock);
}

/* A leader: empty the slots of nodes whose lease ended; let their files be evicted. */
void kv_cluster_reap_slots(struct kv_cluster *c)
{
	char list[1024], k[160], *line, *save = NULL;
	bool live[KV_CLUSTER_SLOTS] = { false };
	int64_t rev;
	int i;

	snprintf(k, sizeof(k), "%sslots/", c->prefix);
	if (kv_etcd_list(c->etcd, k, list, sizeof(list)) < 0)
		return;
	for (line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		i = atoi(line);
		if (i >= 0 && i < KV_CLUSTER_SLOTS)
			live[i] = true;
	}
	for (i = 0; i < KV_CLUSTER_SLOTS; i++) {
		if (live[i] || c->slot_clear[i]) {
			c->slot_clear[i] = !live[i] && c->slot_clear[i];
			continue;
		}
		snprintf(k, sizeof(k), "%sslots/%d", c->prefix, i);
		if (kv_etcd_create(c->etcd, k, c->node, c->lease, &rev))
			continue; /* a node took it meanwhile: it empties it itself */
		if (kv_pool_slot_holds(c->d->pool, i))
			kv_log(KV_LOG_NOTICE, "cluster: slot %d's node is gone; its holds end", i);
		kv_pool_slot_clear(c->d->pool, i);
		kv_etcd_delete(c->etcd, k);
		c->slot_clear[i] = true;
	}
	kv_pool_cluster_unpark(c->d->pool);
}

/* --- forwarding (cluster_rpc.c): a follower's stores, run by the leader --- */

static struct kv_rpc_box *my_box(struct kv_cluster *c)
{
	return kv_pool_rpc_box(c->d->pool, c->slot); /* the caller holds the view lock */
}

static int fwd_reserve(void *arg, uint64_t dir, const char *name, size_t len, uint64_t size,
		       uint32_t uid, uint32_t gid, bool zero, uint64_t *ino, struct kv_extent *ext)
{
	struct kv_cluster *c = arg;

	atomic_fetch_add(&c->forwarded, 1);
	return kv_rpc_reserve(&c->rpc, my_box(c), dir, name, len, size, uid, gid, zero, ino, ext);
}

static int fwd_commit(void *arg, const uint64_t *inos, size_t n, uint8_t *published)
{
	struct kv_cluster *c = arg;
	uint64_t seq = 0, had;
	int rc;

	atomic_fetch_add(&c->forwarded, 1);
	rc = kv_rpc_commit(&c->rpc, my_box(c), inos, n, published, &seq);
	had = atomic_load(&c->min_seq);
	while (!rc && seq > had && !atomic_compare_exchange_weak(&c->min_seq, &had, seq))
		;
	return rc;
}

static void fwd_abort(void *arg, const uint64_t *inos, size_t n)
{
	struct kv_cluster *c = arg;

	atomic_fetch_add(&c->forwarded, 1);
	kv_rpc_abort(&c->rpc, my_box(c), inos, n);
}

const struct kv_forward_ops kv_cluster_fwd_ops = {
	.reserve = fwd_reserve,
	.commit = fwd_commit,
	.abort = fwd_abort,
};

/* A waiting path call lets the view go while this node is promoted (cluster_rpc.h). */
static void path_let_go(void *arg)
{
	kv_cluster_leave(arg);
}

static struct kv_rpc_box *path_take_back(void *arg)
{
	struct kv_daemon *d = arg;

	kv_cluster_enter_store(d);
	return d->cluster->slot >= 0 ? my_box(d->cluster) : NULL;
}

int kv_cluster_path(struct kv_daemon *d, struct kv_rpc_path *pc, const void *data, size_t len,
		    struct kv_rpc_path_out *out)
{
	struct kv_cluster *c = d->cluster;
	/* nothing else of the view is held here: the call may let it go and take the next */
	const struct kv_rpc_yield y = { path_let_go, path_take_back, d };
	uint64_t had;
	int rc;

	atomic_fetch_add(&c->forwarded, 1);
	memset(out, 0, sizeof(*out));
	rc = kv_rpc_path(&c->rpc, &y, my_box(c), pc, data, len, out);
	had = atomic_load(&c->min_seq); /* even a failed change may have changed something */
	while (out->seq > had && !atomic_compare_exchange_weak(&c->min_seq, &had, out->seq))
		;
	return rc;
}

bool kv_cluster_forwards(struct kv_daemon *d)
{
	struct kv_cluster *c = d->cluster;

	return atomic_load(&c->role) == KV_ROLE_FOLLOWER && c->slot >= 0 &&
	       kv_pool_is_readonly(d->pool);
}

/* The leader's server: answers the followers' mailboxes while it leads. */
void *kv_cluster_rpc_main(void *arg)
{
	struct kv_cluster *c = arg;
	int64_t last = 0;

	while (!atomic_load(&c->stop)) {
		struct timespec ts = { 0, 1000000 };
		int n = 0;

		if (kv_cluster_leader_ok(c)) {
			pthread_rwlock_rdlock(&c->swap);
			if (!kv_pool_is_readonly(c->d->pool))
				n = kv_rpc_serve(c->d, atomic_load(&c->epoch));
			pthread_rwlock_unlock(&c->swap);
		}
		if (n) {
			atomic_fetch_add(&c->served, (uint64_t)n);
			last = kv_mono_ns();
		}
		if (kv_mono_ns() - last < 20 * 1000000LL) /* calls are coming: look again soon */
			ts.tv_nsec = 20000;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* Files the other nodes hold now, in the pool's bitmaps. */
uint64_t kv_cluster_other_holds(struct kv_cluster *c)
{
	uint64_t n = 0;
	int i;

	for (i = 0; c->d->pool && i < KV_CLUSTER_SLOTS; i++)
		if (i != c->slot)
			n += kv_pool_slot_holds(c->d->pool, i);
	return n;
}
