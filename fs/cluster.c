// SPDX-License-Identifier: MIT
/*
 * cluster.c - one node of a kvfs cluster (kvfs(7) CLUSTER). etcd keys, under
 * /kvfs/<pool uuid>/: nodes/<name> (each node, under its lease) and leader
 * (the leader's name, under its lease; created only where absent, in one
 * transaction). The epoch is the leader key's create revision: etcd makes it
 * larger at every new leader. A leader stores it in the pool before replaying
 * the journal (mm/cluster.c) and every commit checks it, and asks
 * kv_cluster_leader_ok() here: still leader, lease not yet past its deadline.
 *
 * A follower serves a read-only view of the pool: whenever the leader's
 * change count moves (kv_pool_change_seq) it follows the pool's change log
 * in place (kv_pool_follow: what changed, whatever the size of the inode
 * table), under an rwlock every FUSE op holds shared, and answers the
 * kernel with zero cache timeouts, so what the leader committed is seen at
 * the next lookup. Where the log cannot say (it wrapped, a new leader) and
 * every KV_VIEW_RECHECK_NS while the leader writes, it opens a new view and
 * swaps it in under the same rwlock.
 * A follower elected leader opens the pool read-write the same way. Global
 * holds and forwarding are in cluster_holds.c.
 *
 * Must not decide anything etcd has not: no timers of our own elect anyone.
 */
#include "cluster_int.h"
#include "coherence.h"
#include "daemon.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double kv_cache_timeout = KV_CACHE_TIMEOUT_DEFAULT;

static const char *const role_names[] = { "detached", "follower", "leader", "fenced" };

static void set_reason(struct kv_cluster *c, const char *why)
{
	pthread_mutex_lock(&c->info_lock);
	snprintf(c->reason, sizeof(c->reason), "%s", why);
	pthread_mutex_unlock(&c->info_lock);
}

static void set_role(struct kv_cluster *c, enum kv_cluster_role r, const char *why)
{
	int was = atomic_exchange(&c->role, (int)r);

	set_reason(c, why);
	if (was != (int)r)
		kv_log(r == KV_ROLE_LEADER || r == KV_ROLE_FOLLOWER ? KV_LOG_NOTICE : KV_LOG_ERR,
		       "cluster node %s: %s -> %s (%s)", c->node, role_names[was], role_names[r],
		       why);
}

/* Asked by every journal commit (with the pool's lock held): lock-free. */
bool kv_cluster_leader_ok(void *arg)
{
	struct kv_cluster *c = arg;

	return atomic_load(&c->role) == KV_ROLE_LEADER &&
	       kv_mono_ns() < atomic_load(&c->deadline_ns);
}

bool kv_cluster_may_write(struct kv_daemon *d)
{
	return kv_cluster_leader_ok(d->cluster);
}

/* --- options --- */

int kv_cluster_opt(struct kv_cluster_opts *co, const char *opt, const char *val)
{
	size_t n = strlen(co->endpoints);
	unsigned long v;
	char *end;

	if (!val && co->in_endpoints && strchr(opt, ':')) { /* cluster=etcd://a:1,b:2 */
		if (n + strlen(opt) + 2 > sizeof(co->endpoints))
			goto bad_list;
		snprintf(co->endpoints + n, sizeof(co->endpoints) - n, ",%s", opt);
		return 1;
	}
	co->in_endpoints = false;
	if (strcmp(opt, "cluster") == 0 && val) {
		if (strncmp(val, "etcd://", 7) || !val[7] ||
		    strlen(val + 7) >= sizeof(co->endpoints))
			goto bad_list;
		snprintf(co->endpoints, sizeof(co->endpoints), "%s", val + 7);
		co->in_endpoints = true;
		return 1;
	}
	if (strcmp(opt, "node") == 0 && val) {
		if (!*val || strlen(val) > KV_CLUSTER_NODE_MAX ||
		    strspn(val,
			   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
			strlen(val)) {
			fprintf(stderr,
				"kvfs mount: node=%s: a node name is 1-%d of [A-Za-z0-9._-]\n", val,
				KV_CLUSTER_NODE_MAX);
			return -EINVAL;
		}
		snprintf(co->node, sizeof(co->node), "%s", val);
		return 1;
	}
	if ((strcmp(opt, "cluster_ttl") == 0 || strcmp(opt, "coherent") == 0) && val) {
		v = strtoul(val, &end, 10);
		if (*opt == 'c' && opt[1] == 'l' && !*end && v >= 1 && v <= 600) {
			co->ttl = (unsigned)v;
			return 1;
		}
		if (*opt == 'c' && opt[1] == 'o' && !*end && v <= 1) {
			co->coherent = (int)v;
			return 1;
		}
		fprintf(stderr,
			"kvfs mount: %s=%s: cluster_ttl is 1-600 seconds, coherent 0 or 1\n", opt,
			val);
		return -EINVAL;
	}
	return 0;
bad_list:
	fprintf(stderr,
		"kvfs mount: cluster=%s: expected cluster=etcd://HOST:PORT[,HOST:PORT...]\n",
		val ? val : opt);
	return -EINVAL;
}

/* --- views of the pool --- */

static void evicted(void *arg, uint64_t parent, uint64_t parent_gen, const char *name, size_t len,
		    uint64_t ino, uint64_t gen)
{
	kv_janitor_queue_inval(arg, kv_node(parent, parent_gen), name, len, ino ? kv_node(ino, gen) : 0,
		       gen);
}

/*
 * Views a request or the janitor may still use: requests hold the rwlock,
 * the janitor reads d->pool without it for a moment. Close those retired
 * longer than the grace ago (the first view stays: the janitor prefaults it).
 * Return: whether another view may be retired now.
 */
static bool reap_views(struct kv_cluster *c)
{
	int i, j = 0;

	for (i = 0; i < c->nretired; i++)
		if (i > 0 && kv_mono_ns() - c->retired_at[i] > KV_VIEW_GRACE_NS)
			kv_pool_close(c->retired[i]);
		else
			c->retired[j] = c->retired[i], c->retired_at[j++] = c->retired_at[i];
	c->nretired = j;
	return c->nretired < KV_RETIRED_MAX;
}

static void retire(struct kv_cluster *c, struct kv_pool *old)
{
	if (!reap_views(c)) { /* promote() only: the pool it leaves is never used again */
		kv_log(KV_LOG_WARNING, "cluster node %s: keeping a view past the grace", c->node);
		return;
	}
	c->retired[c->nretired] = old;
	c->retired_at[c->nretired++] = kv_mono_ns();
}

static int open_view(struct kv_cluster *c, bool rw, uint64_t epoch, struct kv_pool **out)
{
	struct kv_open_opts o = c->oo;
	int rc;

	o.readonly = !rw;
	o.cluster = true;
	o.cluster_epoch = rw ? epoch : 0;
	o.cluster_node = c->node;
	o.create_size = 0;
	rc = kv_pool_open(c->pool, &o, out);
	if (!rc)
		kv_pool_set_unpin_hook(*out, kv_cluster_on_unpin, c);
	if (!rc && !rw)
		kv_pool_set_forward(*out, &kv_cluster_fwd_ops, c);
	return rc;
}

/* Swap d->pool for @np with no request inside. */
/*
 * The view lock, exclusive: a forwarded call waiting in its mailbox holds it
 * shared, so it is asked to let go meanwhile (cluster_rpc.h); otherwise the
 * node thread would wait for the call, and the call for this node to lead.
 */
static void swap_lock(struct kv_cluster *c)
{
	atomic_store(&c->rpc.view_wanted, true);
	pthread_rwlock_wrlock(&c->swap);
	atomic_store(&c->rpc.view_wanted, false);
}

static void install(struct kv_cluster *c, struct kv_pool *np)
{
	struct kv_pool *old;

	swap_lock(c);
	old = c->d->pool;
	c->d->pool = np;
	pthread_rwlock_unlock(&c->swap);
	if (old)
		retire(c, old);
}

/* A logged file or directory the view knew: the kernel forgets its pages (the janitor tells it). */
static void drop_changed_pages(void *arg, uint64_t ino, uint64_t gen)
{
	struct kv_cluster *c = arg;

	kv_janitor_queue_inval(c->d, 0, "", 0, kv_node(ino, gen), gen);
	atomic_fetch_add(&c->page_invals, 1);
}

/* The view follows the change log in place, no request inside. Return: as kv_pool_follow(). */
static int follow_log(struct kv_cluster *c)
{
	int rc;

	swap_lock(c);
	rc = kv_pool_follow(c->d->pool, drop_changed_pages, c);
	pthread_rwlock_unlock(&c->swap);
	if (rc >= 0)
		atomic_fetch_add(&c->follows, 1);
	return rc;
}

/*
 * A new view, built beside the one serving, then brought up to what the log
 * says was changed while it was built, and swapped in. *@rc: that follow's.
 * Return: 0, or -EAGAIN (views made too fast, or no view: the next poll).
 */
static int reopen(struct kv_cluster *c, int *rc)
{
	struct kv_pool *np;

	if (!reap_views(c) || open_view(c, false, 0, &np))
		return -EAGAIN;
	*rc = kv_pool_follow(np, drop_changed_pages, c);
	install(c, np);
	c->view_ns = kv_mono_ns();
	atomic_fetch_add(&c->refreshes, 1);
	return 0;
}

/* A follower: the leader committed since our view was brought up to date. */
static void follow(struct kv_cluster *c)
{
	uint64_t seq, again;
	int rc = -ESTALE;

	pthread_mutex_lock(&c->refresh_lock);
	seq = kv_pool_change_seq(c->d->pool);
	if (!kv_pool_is_readonly(c->d->pool) ||
	    (seq == c->seen_seq && !kv_pool_follow_behind(c->d->pool))) {
		pthread_mutex_unlock(&c->refresh_lock);
		return; /* leading, or nothing new */
	}
	if (kv_mono_ns() - c->view_ns < KV_VIEW_RECHECK_NS)
		rc = follow_log(c);
	if (rc < 0 && reopen(c, &rc)) {
		pthread_mutex_unlock(&c->refresh_lock);
		return;
	}
	atomic_store(&c->view_seq, seq); /* what was logged before seq moved is in the view */
	pthread_mutex_unlock(&c->refresh_lock);
	/* a commit meanwhile may be half in the view: then look again at once */
	again = kv_pool_change_seq(c->d->pool);
	c->seen_seq = again == seq && rc >= 0 ? seq : 0;
}

static int promote(struct kv_cluster *c, uint64_t epoch)
{
	struct kv_pool *np;
	int rc;

	pthread_mutex_lock(&c->refresh_lock); /* no follower's view goes in after this */
	atomic_store(&c->epoch, epoch);
	/* the open checks the epoch it stores; the role follows the swap of the pool */
	rc = open_view(c, true, epoch, &np);
	if (rc) {
		pthread_mutex_unlock(&c->refresh_lock);
		set_role(c, KV_ROLE_FENCED, "could not open the pool read-write to lead");
		return rc;
	}
	kv_pool_set_fence_hook(np, kv_cluster_leader_ok, c);
	kv_pool_set_watermark(np, c->d->high_watermark);
	kv_pool_set_evict_hook(np, evicted, c->d);
	install(c, np);
	pthread_mutex_unlock(&c->refresh_lock);
	kv_cache_timeout = KV_CACHE_TIMEOUT_DEFAULT; /* the only writer: its kernel may cache */
	atomic_fetch_add(&c->promotions, 1);
	pthread_mutex_lock(&c->info_lock);
	snprintf(c->leader, sizeof(c->leader), "%s", c->node);
	pthread_mutex_unlock(&c->info_lock);
	set_role(c, KV_ROLE_LEADER, "elected through etcd");
	return 0;
}

/* --- etcd --- */

static void key(struct kv_cluster *c, char *buf, size_t size, const char *what)
{
	snprintf(buf, size, "%s%s", c->prefix, what);
}

/* Renew the lease; a lease that ended takes the lead with it. Return: 0 or -errno. */
static int keep_lease(struct kv_cluster *c)
{
	int64_t t0 = kv_mono_ns();
	char k[160];
	long ttl;
	int rc = kv_etcd_keepalive(c->etcd, c->lease, &ttl);

	if (!rc) {
		atomic_store(&c->deadline_ns, t0 + (int64_t)ttl * 1000000000LL);
		return 0;
	}
	if (rc != -ENOENT)
		return rc; /* unreachable: the deadline runs out by itself */
	/* expired (paused, or etcd was away too long): a new lease, registered again */
	atomic_store(&c->deadline_ns, 0);
	if (atomic_load(&c->role) == KV_ROLE_LEADER)
		set_role(c, KV_ROLE_DETACHED, "lost its etcd lease");
	rc = kv_etcd_grant(c->etcd, c->ttl, &c->lease);
	if (rc)
		return rc;
	atomic_store(&c->deadline_ns, t0 + (int64_t)c->ttl * 1000000000LL);
	key(c, k, sizeof(k), "nodes/");
	strncat(k, c->node, sizeof(k) - strlen(k) - 1);
	rc = kv_etcd_put(c->etcd, k, "up", c->lease);
	if (!rc)
		kv_cluster_claim_slot(c); /* the old slot went with the old lease */
	return rc;
}

/* Who leads now; elect ourselves where nobody does. */
static void elect(struct kv_cluster *c)
{
	char k[160], who[64];
	int64_t rev = 0, lease = 0, n;
	int role = atomic_load(&c->role), rc;
	bool led;

	key(c, k, sizeof(k), "nodes/");
	if (!kv_etcd_count(c->etcd, k, &n))
		atomic_store(&c->members, n);
	key(c, k, sizeof(k), "leader");
	rc = kv_etcd_get(c->etcd, k, who, sizeof(who), &rev, &lease);
	if (rc == -ENOENT && role != KV_ROLE_FENCED) {
		rc = kv_etcd_create(c->etcd, k, c->node, c->lease, &rev);
		if (!rc) {
			snprintf(who, sizeof(who), "%s", c->node);
			lease = c->lease;
		}
	}
	if (rc)
		return;
	pthread_mutex_lock(&c->info_lock);
	snprintf(c->leader, sizeof(c->leader), "%.31s", who);
	pthread_mutex_unlock(&c->info_lock);
	led = !kv_pool_is_readonly(c->d->pool); /* this process opened it read-write once */
	if (lease == c->lease && strcmp(who, c->node) == 0) {
		if (role == KV_ROLE_LEADER && (uint64_t)rev == atomic_load(&c->epoch))
			return;
		if (!led) {
			promote(c, (uint64_t)rev);
		} else if (role !=
			   KV_ROLE_FENCED) { /* lead again: only if nobody wrote meanwhile */
			if (kv_pool_cluster_renew(c->d->pool, (uint64_t)rev) == 0) {
				atomic_store(&c->epoch, (uint64_t)rev);
				set_role(c, KV_ROLE_LEADER,
					 "etcd answers again; leads on, new epoch");
			} else {
				set_role(c, KV_ROLE_FENCED,
					 "another leader wrote the pool meanwhile");
			}
		}
		return;
	}
	/* someone else leads: a node that led is fenced for good, a follower follows */
	if (led && role != KV_ROLE_FENCED)
		set_role(c, KV_ROLE_FENCED, "another node leads with a newer epoch");
	else if (!led && role != KV_ROLE_FENCED)
		set_role(c, KV_ROLE_FOLLOWER, "etcd answers; following");
	if (!led)
		atomic_store(&c->epoch, (uint64_t)rev);
}

static void *node_main(void *arg)
{
	struct kv_cluster *c = arg;
	int64_t period = (int64_t)c->ttl * 1000000000LL / 3, next = 0, next_look = 0;

	while (!atomic_load(&c->stop)) {
		int64_t now = kv_mono_ns();
		struct timespec ts = { 0, KV_FOLLOW_POLL_NS };

		/* a follower asks who leads four times a second: a dead leader's successor
		 * is elected within a quarter second of its lease's end */
		if (now < next && now >= next_look && atomic_load(&c->role) == KV_ROLE_FOLLOWER &&
		    now < atomic_load(&c->deadline_ns)) {
			next_look = now + 250 * 1000000LL;
			elect(c);
		}
		if (now >= next) {
			next = now + period;
			next_look = now + 250 * 1000000LL;
			if (keep_lease(c) == 0) {
				elect(c);
				if (atomic_load(&c->role) == KV_ROLE_LEADER)
					kv_cluster_reap_slots(c);
			} else if (now >= atomic_load(&c->deadline_ns) &&
				   atomic_load(&c->role) != KV_ROLE_FENCED)
				set_role(c, KV_ROLE_DETACHED, KV_REASON_NO_ETCD);
		}
		if (atomic_load(&c->role) == KV_ROLE_FOLLOWER ||
		    (atomic_load(&c->role) != KV_ROLE_LEADER && c->d->pool &&
		     kv_pool_is_readonly(c->d->pool)))
			follow(c);
		else
			ts.tv_nsec = 50 * 1000000L;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* --- start and stop --- */

static int join_etcd(struct kv_cluster *c)
{
	char k[160];
	int64_t rev;
	int rc;

	rc = kv_etcd_grant(c->etcd, c->ttl, &c->lease);
	if (rc)
		return rc;
	atomic_store(&c->deadline_ns, kv_mono_ns() + (int64_t)c->ttl * 1000000000LL);
	key(c, k, sizeof(k), "nodes/");
	strncat(k, c->node, sizeof(k) - strlen(k) - 1);
	rc = kv_etcd_create(c->etcd, k, "up", c->lease, &rev);
	if (rc == -EEXIST)
		fprintf(stderr,
			"kvfs mount: node name %s is in use in this cluster (a live node "
			"has it); choose another node=\n",
			c->node);
	return rc;
}

/* The node's state before anything is opened. */
static void cluster_init(struct kv_cluster *c, struct kv_daemon *d,
			 const struct kv_cluster_opts *co, const char *pool,
			 const struct kv_open_opts *oo)
{
	pthread_rwlockattr_t ra;

	c->d = d;
	c->oo = *oo;
	c->ttl = co->ttl ? co->ttl : 10;
	snprintf(c->node, sizeof(c->node), "%s", co->node);
	snprintf(c->pool, sizeof(c->pool), "%s", pool);
	pthread_mutex_init(&c->info_lock, NULL);
	pthread_mutex_init(&c->hold_lock, NULL);
	pthread_mutex_init(&c->refresh_lock, NULL);
	pthread_mutex_init(&c->rpc.lock, NULL);
	c->slot = -1;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&c->swap, &ra);
	/* unsaid: a pool file is this host's memory; a device may be behind a CXL
	 * switch other hosts map too, where only flushes make stores visible */
	kv_coh_set_coherent(co->coherent < 0 ? !kv_pool_path_is_device(pool) : co->coherent != 0);
	d->cluster = c;
}

/* The first view of the pool, and the etcd prefix its UUID names. Return: 0, -errno (said). */
static int open_first_view(struct kv_cluster *c, const char *pool)
{
	struct kv_pool_info info;
	struct kv_pool *view = NULL;
	const uint8_t *u;
	int rc = open_view(c, false, 0, &view);

	if (rc) {
		fprintf(stderr, "kvfs mount: cannot open pool %s for the cluster: %s%s\n", pool,
			strerror(-rc),
			rc == -EBUSY	? " (a single-host kvfs holds it: unmount it first)"
			: rc == -ENOENT ? " (make it first: kvfs mkfs -s SIZE POOL)"
					: "");
		return rc;
	}
	kv_pool_get_info(view, &info);
	u = info.uuid;
	snprintf(c->prefix, sizeof(c->prefix),
		 "/kvfs/%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x/",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
	c->nholds = info.max_ino + 1;
	c->seen_seq = kv_pool_change_seq(view);
	c->view_ns = kv_mono_ns();
	atomic_store(&c->view_seq, c->seen_seq);
	c->d->pool = view;
	return 0;
}

int kv_cluster_start(struct kv_daemon *d, const struct kv_cluster_opts *co, const char *pool,
		     const struct kv_open_opts *oo)
{
	struct kv_cluster *c = calloc(1, sizeof(*c));
	int rc = -ENOMEM;

	if (!c)
		return rc;
	if (!co->node[0]) {
		fprintf(stderr, "kvfs mount: cluster= needs node=NAME (unique in the cluster)\n");
		free(c);
		return -EINVAL;
	}
	cluster_init(c, d, co, pool, oo);
	rc = open_first_view(c, pool);
	if (rc)
		goto out;
	rc = kv_etcd_new(co->endpoints, c->ttl * 1000 / 4 < 1000 ? c->ttl * 1000 / 4 : 1000,
			 &c->etcd);
	if (rc) {
		fprintf(stderr, "kvfs mount: cluster=etcd://%s: bad endpoint list\n",
			co->endpoints);
		goto out;
	}
	rc = join_etcd(c);
	if (rc) {
		if (rc != -EEXIST)
			fprintf(stderr, "kvfs mount: etcd at %s: %s\n", co->endpoints,
				rc == -EHOSTUNREACH ? "no member answered" : strerror(-rc));
		goto out;
	}
	if (kv_pool_holds_usable(d->pool))
		c->holds = calloc(c->nholds, sizeof(*c->holds));
	else
		kv_log(KV_LOG_WARNING,
		       "cluster: %llu inode records are more than the hold bitmaps "
		       "cover; pins stay local to each node",
		       (unsigned long long)c->nholds);
	kv_cluster_claim_slot(c);
	c->rpc.timeout_ns = 2 * c->ttl * 1000000000LL + 1000000000LL; /* through a failover */
	atomic_store(&c->role, KV_ROLE_FOLLOWER);
	kv_cache_timeout = 0; /* a follower's kernel asks every time: the leader changes things */
	elect(c);
	if (atomic_load(&c->role) == KV_ROLE_FENCED) {
		rc = -EIO;
		fprintf(stderr, "kvfs mount: could not take the lead of pool %s\n", pool);
		goto out;
	}
	kv_log(KV_LOG_INFO, "cluster node %s joined as %s (epoch %llu)", c->node,
	       role_names[atomic_load(&c->role)], (unsigned long long)atomic_load(&c->epoch));
	return 0;
out:
	if (c->lease)
		kv_etcd_revoke(c->etcd, c->lease);
	kv_etcd_free(c->etcd);
	kv_pool_close(d->pool);
	for (int i = 0; i < c->nretired; i++)
		kv_pool_close(c->retired[i]);
	d->pool = NULL;
	d->cluster = NULL;
	free(c->holds);
	free(c);
	return rc;
}

int kv_cluster_run(struct kv_daemon *d)
{
	struct kv_cluster *c = d->cluster;

	if (pthread_create(&c->thread, NULL, node_main, c))
		return -EAGAIN;
	c->running = true;
	pthread_setname_np(c->thread, "kvfs-node");
	if (pthread_create(&c->rpc_thread, NULL, kv_cluster_rpc_main, c))
		return -EAGAIN;
	c->rpc_running = true;
	pthread_setname_np(c->rpc_thread, "kvfs-rpc");
	return 0;
}

void kv_cluster_stop(struct kv_daemon *d)
{
	struct kv_cluster *c = d->cluster;
	bool last = false;
	char k[160];
	int64_t n;
	int i;

	if (!c)
		return;
	atomic_store(&c->stop, true);
	if (c->running)
		pthread_join(c->thread, NULL);
	if (c->rpc_running)
		pthread_join(c->rpc_thread, NULL);
	key(c, k, sizeof(k), "nodes/");
	last = kv_etcd_count(c->etcd, k, &n) == 0 && n <= 1;
	if (kv_cluster_leader_ok(c) && last)
		kv_pool_cluster_leave(d->pool, atomic_load(&c->epoch));
	kv_pool_close(d->pool); /* before the lease ends: no write after another leads */
	d->pool = NULL;
	for (i = 0; i < c->nretired; i++)
		kv_pool_close(c->retired[i]);
	kv_etcd_revoke(c->etcd, c->lease);
	kv_etcd_free(c->etcd);
	d->cluster = NULL;
	free(c->holds);
	free(c);
}

/* This node committed something its view does not show yet: wait for a view that does. */
static void catch_up(struct kv_cluster *c)
{
	int tries;

	for (tries = 0; tries < 500 && atomic_load(&c->min_seq) > atomic_load(&c->view_seq) &&
			kv_pool_is_readonly(c->d->pool);
	     tries++) {
		struct timespec ts = { 0, 200000 };

		follow(c);
		if (atomic_load(&c->min_seq) > atomic_load(&c->view_seq))
			nanosleep(&ts, NULL);
	}
}

void kv_cluster_enter(struct kv_daemon *d)
{
	struct kv_cluster *c = d->cluster;

	if (atomic_load(&c->min_seq) > atomic_load(&c->view_seq))
		catch_up(c); /* read-your-writes on this node */
	pthread_rwlock_rdlock(&c->swap);
}

void kv_cluster_enter_store(struct kv_daemon *d)
{
	pthread_rwlock_rdlock(&d->cluster->swap); /* forwarded: reads no index, waits for none */
}

void kv_cluster_leave(struct kv_daemon *d)
{
	pthread_rwlock_unlock(&d->cluster->swap);
}

/* --- operators --- */

void kv_cluster_stats(struct kv_daemon *d, FILE *f, bool prometheus)
{
	struct kv_cluster *c = d->cluster;
	int role;
	char leader[32], reason[160];

	if (!c)
		return;
	role = atomic_load(&c->role);
	pthread_mutex_lock(&c->info_lock);
	snprintf(leader, sizeof(leader), "%s", c->leader[0] ? c->leader : "-");
	snprintf(reason, sizeof(reason), "%s", c->reason);
	pthread_mutex_unlock(&c->info_lock);
	if (role == KV_ROLE_LEADER &&
	    !kv_cluster_leader_ok(c)) { /* the thread has not said so yet */
		role = KV_ROLE_DETACHED;
		snprintf(reason, sizeof(reason), "%s", KV_REASON_NO_ETCD);
	}
	if (!prometheus) {
		fprintf(f,
			"cluster_node %s\ncluster_role %s\ncluster_epoch %llu\n"
			"cluster_members %lld\ncluster_leader %s\ncluster_refreshes %llu\n"
			"cluster_follows %llu\ncluster_commits_refused %llu\n",
			c->node, role_names[role], (unsigned long long)atomic_load(&c->epoch),
			(long long)atomic_load(&c->members), leader,
			(unsigned long long)atomic_load(&c->refreshes),
			(unsigned long long)atomic_load(&c->follows),
			(unsigned long long)(d->pool ? kv_pool_commits_refused(d->pool) : 0));
		fprintf(f,
			"cluster_forwarded %llu\ncluster_served %llu\ncluster_page_invals %llu\n",
			(unsigned long long)atomic_load(&c->forwarded),
			(unsigned long long)atomic_load(&c->served),
			(unsigned long long)atomic_load(&c->page_invals));
		fprintf(f, "cluster_slot %d\ncluster_holds %llu\ncluster_other_holds %llu\n",
			c->slot,
			(unsigned long long)(c->slot >= 0 && d->pool
						 ? kv_pool_slot_holds(d->pool, c->slot)
						 : 0),
			(unsigned long long)kv_cluster_other_holds(c));
		fprintf(f, "cluster_coherent %d\n", kv_coh_coherent());
		if (role != KV_ROLE_LEADER && role != KV_ROLE_FOLLOWER)
			fprintf(f, "cluster_reason %s\n", reason);
		return;
	}
	fprintf(f, "# HELP kvfs_cluster_role This node's role (1 for the one it has)\n"
		   "# TYPE kvfs_cluster_role gauge\n");
	for (int r = 0; r < 4; r++)
		fprintf(f, "kvfs_cluster_role{node=\"%s\",role=\"%s\"} %d\n", c->node,
			role_names[r], r == role);
	fprintf(f,
		"# HELP kvfs_cluster_epoch Fencing epoch of the leader\n"
		"# TYPE kvfs_cluster_epoch gauge\nkvfs_cluster_epoch{node=\"%s\"} %llu\n"
		"# HELP kvfs_cluster_members Nodes registered in etcd\n"
		"# TYPE kvfs_cluster_members gauge\nkvfs_cluster_members{node=\"%s\"} %lld\n",
		c->node, (unsigned long long)atomic_load(&c->epoch), c->node,
		(long long)atomic_load(&c->members));
}
