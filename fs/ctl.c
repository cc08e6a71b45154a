// SPDX-License-Identifier: MIT
/*
 * ctl.c - the fast path's daemon side: ioctls on <mnt>/.kvfs/ctl.
 *
 * Each open ctl handle owns its pins and reservations. Closing it (or the
 * process dying, which closes it) unpins every block, tail of the chain
 * first, and frees every reservation that was not committed. Every request
 * is checked whole before anything changes: a malformed one gets EINVAL,
 * one on a read-only handle EPERM, and the pool is untouched.
 *
 * The caller of each ioctl is checked as the kernel would check the same
 * operation through the mount (access.c): a lookup needs search on the
 * root and the namespace (else EACCES) and read on each block (a block
 * the caller may not read ends the prefix there); reserve and commit need
 * write and search on the namespace. What a handle holds is charged to
 * the uid that opened it, within that uid's share (EDQUOT past it).
 */
#include "cluster.h"
#include "ctl_int.h"
#include "daemon.h"
#include "handles.h"
#include "kvfs.h"
#include "kvfs_abi.h"
#include "pins.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct txn {
	uint64_t id;
	uint64_t dir;
	uint64_t dir_gen; /* the namespace's: a directory made later in its inode is another */
	uint64_t *inos;
	uint8_t (*hashes)[16];
	size_t n, cap;
	uint64_t held; /* bytes charged to the handle's uid */
};

struct kv_ctl_state {
	struct kv_daemon *d;
	pthread_mutex_t lock;
	bool writable;
	struct kv_user_hold *user; /* who opened it: its holds count against this uid's share */
	struct kv_pins pins;
	struct txn *txns;
	size_t ntxns;
	uint64_t next_txn;
};

static void hash_name(const uint8_t h[16], char out[33])
{
	kvfs_hash_t k;

	memcpy(k.b, h, 16);
	kvfs_hash_name(&k, out);
}

static struct txn *txn_find(struct kv_ctl_state *s, uint64_t id)
{
	size_t i;

	for (i = 0; i < s->ntxns; i++)
		if (s->txns[i].id == id)
			return &s->txns[i];
	return NULL;
}

static void txn_remove(struct kv_ctl_state *s, struct txn *t)
{
	free(t->inos);
	free(t->hashes);
	*t = s->txns[--s->ntxns];
}

/* The last reference to a closed ctl handle: let go of everything it holds. */
static void ctl_destroy(void *obj)
{
	struct kv_ctl_state *s = obj;
	struct kv_daemon *d = s->d;
	size_t i;

	/* Tail first: the head of a chain ends up most recently used, evicted last. */
	for (i = s->pins.n; i-- > 0;) {
		struct kv_pin *p = &s->pins.pin[i];

		if (p->count)
			kv_user_uncharge(s->user, p->bytes);
		while (p->count) {
			p->count--;
			kv_unpin(d->pool, p->ino);
		}
	}
	while (s->ntxns) {
		kv_user_uncharge(s->user, s->txns[0].held);
		kv_abort(d->pool, s->txns[0].inos, s->txns[0].n);
		txn_remove(s, &s->txns[0]);
	}
	kv_pins_free(&s->pins);
	free(s->txns);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int kv_ctl_open(struct kv_daemon *d, fuse_req_t req, struct fuse_file_info *fi)
{
	struct kv_ctl_state *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->d = d;
	pthread_mutex_init(&s->lock, NULL);
	s->writable = (fi->flags & O_ACCMODE) != O_RDONLY;
	s->next_txn = 1;
	s->user = kv_user_get(d, fuse_req_ctx(req)->uid);
	if (!s->user || kv_handle_new(s, ctl_destroy, &fi->fh)) {
		ctl_destroy(s);
		return -ENOMEM;
	}
	fi->direct_io = 1;
	fi->nonseekable = 1;
	return 0;
}

/* An ioctl still running on this handle keeps it alive until it ends. */
void kv_ctl_release(struct kv_daemon *d, struct fuse_file_info *fi)
{
	kv_handle_close(fi->fh);
}

/* A namespace is reached from the root: a path walk needs search there first. */
static int may_search_root(struct kv_daemon *d, struct kv_cred *c)
{
	struct kv_attr root;
	int rc = kv_getattr(d->pool, FUSE_ROOT_ID, &root);

	return rc ? rc : kv_may_access(c, &root, X_OK);
}

/*
 * Check the common head and resolve the namespace into @ns; with @c, the
 * caller must also be allowed @mask on it (search on the root first: a
 * caller who may not search the root learns nothing, not even ENOENT).
 * Return: 0 or -errno.
 */
int kv_ctl_check_head(struct kv_daemon *d, const struct kvfs_ioc_head *h, uint32_t max,
		      struct kv_cred *c, int mask, struct kv_attr *ns)
{
	struct kv_attr a;
	size_t len;
	int rc;

	if (h->abi != KVFS_ABI_VERSION)
		return -EPROTO;
	if (h->flags & ~(uint32_t)(KVFS_IOC_F_NOZERO | KVFS_IOC_F_VERIFY))
		return -EINVAL;
	if (max && (h->count == 0 || h->count > max))
		return -EINVAL;
	if (!ns)
		return 0;
	len = strnlen(h->ns, KVFS_NS_MAX);
	if (len == 0 || len == KVFS_NS_MAX || memchr(h->ns, '/', len) || strcmp(h->ns, ".") == 0 ||
	    strcmp(h->ns, "..") == 0 || strcmp(h->ns, KV_CTL_DIRNAME) == 0)
		return -EINVAL;
	if (c && (rc = may_search_root(d, c)))
		return rc;
	rc = kv_lookup(d->pool, FUSE_ROOT_ID, h->ns, len, &a);
	if (rc)
		return rc;
	kv_forget(d->pool, a.ino, 1); /* the kernel did not look it up: only its attributes */
	if (!S_ISDIR(a.mode))
		return -ENOTDIR;
	if (c && (rc = kv_may_access(c, &a, mask)))
		return rc;
	*ns = a;
	return 0;
}

/*
 * Undo the first @n pins of a lookup, tail first: @at[i] is the index of
 * block i's entry in the pin table (stable: nothing compacts during a lookup).
 */
static void drop_lookup_pins(struct kv_daemon *d, struct kv_ctl_state *s, const size_t *at,
			     uint32_t n)
{
	while (n-- > 0) {
		struct kv_pin *p = &s->pins.pin[at[n]];

		if (kv_pins_put(&s->pins, p))
			kv_user_uncharge(s->user, p->bytes);
		kv_unpin(d->pool, p->ino);
	}
}

/* Let go of mm/'s pins on blocks [from, to) of a lookup that the handle did not record. */
static void unpin_unrecorded(struct kv_daemon *d, const struct kv_attr *attr, uint32_t from,
			     uint32_t to)
{
	static __thread uint64_t unpin[KVFS_IOC_LOOKUP_MAX];
	uint32_t k;

	for (k = from; k < to; k++)
		unpin[k - from] = attr[k].ino;
	if (to > from)
		kv_unpin_batch(d->pool, unpin, to - from);
}

/*
 * Asked to verify: every pinned block's bytes against the checksum stored
 * when it stopped being written. One that changed fails the whole call
 * (-EIO, nothing pinned): the caller must not use it. Return: 0 or -EIO.
 */
static int verify_pinned(struct kv_daemon *d, struct kv_ctl_state *s, const struct kv_attr *attr,
			 const size_t *at, uint32_t n)
{
	uint32_t k;

	for (k = 0; k < n && kv_verify(d->pool, attr[k].ino) != -EIO; k++)
		;
	if (k == n)
		return 0;
	drop_lookup_pins(d, s, at, n);
	return -EIO;
}

/* Nanoseconds since @t0 (CLOCK_MONOTONIC): the lookup counters of .kvfs/stats. */
static uint64_t ns_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (uint64_t)((t1.tv_sec - t0->tv_sec) * 1000000000 + (t1.tv_nsec - t0->tv_nsec));
}

/*
 * The handle records pinned block @a, named @h in @dir: its entry (tried at
 * *@next first, which then points past it) counts one more pin, or a new
 * entry is added; *@at is the entry's index. The block's user is charged its
 * cost the first time the handle holds it; the pool's owner has no share to
 * keep within, and its charge adds up in *@owner_bytes, made once a call.
 * Return: 0; -EACCES or -EDQUOT (the prefix ends here); -ENOSPC or -ENOMEM
 * (no entry: the charge for this block is taken back).
 */
static int record_pin(struct kv_daemon *d, struct kv_ctl_state *s, struct kv_cred *c,
		      uint64_t dir, const uint8_t *h, const struct kv_attr *a,
		      uint64_t *owner_bytes, size_t *next, size_t *at)
{
	bool owner = s->user->uid == d->pool_owner;
	/* another user holds a record too (access.c): at least user_min_charge */
	uint64_t cost = owner || a->size >= d->user_min_charge ? a->size : d->user_min_charge;
	struct kv_pin *p;
	int rc = kv_may_access(c, a, R_OK);

	p = rc ? NULL : kv_pins_find_at(&s->pins, *next, dir, h, a->ino);
	*next = p ? (size_t)(p - s->pins.pin) + 1 : SIZE_MAX;
	if (rc)
		return rc;
	if (!p || !p->count) { /* a handle's share counts each block once */
		if (owner)
			*owner_bytes += cost;
		else if ((rc = kv_user_charge(d, s->user, cost)))
			return rc;
	}
	if (p) {
		kv_pins_get(&s->pins, p, cost);
		*at = (size_t)(p - s->pins.pin);
		return 0;
	}
	rc = kv_pins_add(&s->pins, dir, h, a->ino, cost);
	if (rc) {
		if (owner)
			*owner_bytes -= cost;
		else
			kv_user_uncharge(s->user, cost);
		return rc;
	}
	*at = s->pins.n - 1;
	return 0;
}

/*
 * Pin the leading present blocks the caller may read. A block it may not
 * read, or cannot hold within its share, ends the prefix there; when that
 * is the first block the call fails with EACCES or EDQUOT rather than
 * answer 0 silently. When the handle cannot record a pin (ENOMEM, or
 * ENOSPC past KV_PINS_MAX entries) the call fails and pins nothing: a
 * shorter prefix would tell the client the rest is absent.
 */
int kv_ctl_lookup(struct kv_daemon *d, struct kv_ctl_state *s, struct kvfs_ioc_head *hd,
		  union kvfs_ioc_lookup_item *item, struct kv_cred *c)
{
	/* per FUSE thread, not per call: a batch allocates nothing */
	static __thread struct kv_attr attr[KVFS_IOC_LOOKUP_MAX];
	static __thread struct kv_extent ext[KVFS_IOC_LOOKUP_MAX];
	static __thread size_t at[KVFS_IOC_LOOKUP_MAX];
	struct kv_attr ns;
	struct timespec t0; /* the index's share, for .kvfs/stats */
	uint64_t dir;
	uint32_t i, n, found;
	uint64_t owner_bytes = 0; /* the pool owner's charge, added once (record_pin) */
	/* where the next block's pin entry is if this prefix was pinned before (pin order) */
	size_t next = SIZE_MAX;
	int err, rc = kv_ctl_check_head(d, hd, KVFS_IOC_LOOKUP_MAX, c, X_OK, &ns);

	if (rc)
		return rc;
	dir = ns.ino;
	n = hd->count;
	/* a block's name is its hash's digits: the index takes the 16 bytes */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	found = (uint32_t)kv_lookup_pin_batch(d->pool, dir, item[0].hash, sizeof(item[0]), n, attr,
					      ext, &err);
	d->ctl_index_ns += ns_since(&t0);
	if (d->cluster) /* cluster: a follower's pins are marked in the pool for the leader */
		found = kv_cluster_hold_batch(d, attr, found);
	for (i = 0; i < found; i++) {
		/*
		 * A probe of the pin table is two dependent misses a block (the
		 * handle's last call ran on another core): overlap them, unless the
		 * entries come in pin order, read one after the other
		 */
		if (next >= s->pins.n && i + 16 < found)
			kv_pins_prefetch(&s->pins, dir, item[i + 16].hash, false);
		if (next >= s->pins.n && i + 8 < found)
			kv_pins_prefetch(&s->pins, dir, item[i + 8].hash, true);
		rc = record_pin(d, s, c, dir, item[i].hash, &attr[i], &owner_bytes, &next, &at[i]);
		if (rc == -EACCES || rc == -EDQUOT)
			break; /* the prefix ends at this block */
		if (rc) { /* nothing pinned: a shorter prefix would say the rest is absent */
			if (owner_bytes)
				kv_user_charge(d, s->user, owner_bytes);
			drop_lookup_pins(d, s, at, i);
			unpin_unrecorded(d, attr, i, found);
			hd->count = 0;
			return rc;
		}
		item[i].ext.off = ext[i].off;
		item[i].ext.len = attr[i].size;
	}
	if (owner_bytes)
		kv_user_charge(d, s->user, owner_bytes); /* cannot fail for the owner */
	unpin_unrecorded(d, attr, i, found); /* the prefix ends at block i: let go of the rest */
	if ((hd->flags & KVFS_IOC_F_VERIFY) && verify_pinned(d, s, attr, at, i)) {
		hd->count = 0;
		return -EIO;
	}
	hd->count = i;
	d->ctl_blocks_pinned += i;
	return i == 0 && (rc == -EACCES || rc == -EDQUOT) ? rc : 0;
}

int kv_ctl_unpin(struct kv_daemon *d, struct kv_ctl_state *s, const struct kvfs_ioc_unpin *io)
{
	struct kv_pin *taken[KVFS_IOC_LOOKUP_MAX];
	bool last[KVFS_IOC_LOOKUP_MAX];
	uint64_t inos[KVFS_IOC_LOOKUP_MAX];
	struct kv_attr ns;
	uint64_t dir, freed = 0;
	uint32_t i;
	int rc = kv_ctl_check_head(d, &io->h, KVFS_IOC_LOOKUP_MAX, NULL, 0, &ns); /* its own pins */

	if (rc)
		return rc;
	dir = ns.ino;
	rc = kv_pins_unpin(&s->pins, dir, io->hash, io->h.count, taken, last); /* all or nothing */
	if (rc)
		return rc;
	for (i = 0; i < io->h.count; i++) {
		if (last[i])
			freed += taken[i]->bytes;
		inos[i] = taken[i]->ino;
	}
	kv_user_uncharge(s->user, freed); /* one atomic a call, not one a block */
	kv_unpin_batch(d->pool, inos, io->h.count);
	kv_pins_compact(&s->pins);
	return 0;
}

/*
 * The transaction a reserve of @n more blocks in namespace @ns adds to:
 * @id's, or a new one (@id 0), with room for them. Return: 0, -ENOENT (no
 * such transaction in @ns), -ENOMEM (a new transaction is removed again).
 */
static int txn_for_reserve(struct kv_ctl_state *s, uint64_t id, const struct kv_attr *ns,
			   uint32_t n, struct txn **out)
{
	uint64_t dir = ns->ino;
	struct txn *t;

	if (id) {
		t = txn_find(s, id);
		if (!t || t->dir != dir || t->dir_gen != ns->gen)
			return -ENOENT;
	} else {
		struct txn *nt = realloc(s->txns, (s->ntxns + 1) * sizeof(*nt));

		if (!nt)
			return -ENOMEM;
		s->txns = nt;
		t = &s->txns[s->ntxns++];
		memset(t, 0, sizeof(*t));
		t->id = s->next_txn++;
		t->dir = dir;
		t->dir_gen = ns->gen;
	}
	if (t->n + n > t->cap) {
		size_t cap = (t->n + n) * 2;
		uint64_t *ni = realloc(t->inos, cap * sizeof(*ni));
		uint8_t(*nh)[16];

		if (ni)
			t->inos = ni;
		nh = ni ? realloc(t->hashes, cap * sizeof(*nh)) : NULL;
		if (!nh) {
			if (!t->n && !id)
				txn_remove(s, t);
			return -ENOMEM;
		}
		t->hashes = nh;
		t->cap = cap;
	}
	*out = t;
	return 0;
}

/*
 * Reserved blocks belong to the caller (its uid; the namespace's group when
 * the namespace is set-group-ID, else the caller's gid), and are zeroed
 * unless the caller asked not to and could open the pool file read-write
 * anyway: nobody else ever sees bytes they did not write.
 */
static int do_reserve(struct kv_daemon *d, struct kv_ctl_state *s, struct kvfs_ioc_reserve *io,
		      struct kv_cred *c)
{
	uint64_t dir, charged = 0, inos[KVFS_IOC_RESERVE_MAX];
	uint32_t i, n, gid, nres = 0;
	struct kv_pool_info info;
	struct kv_attr ns;
	struct txn *t;
	bool zero;
	int rc;

	if (!s->writable)
		return -EPERM;
	rc = kv_ctl_check_head(d, &io->h, KVFS_IOC_RESERVE_MAX, c, W_OK | X_OK, &ns);
	if (rc)
		return rc;
	dir = ns.ino;
	gid = (ns.mode & S_ISGID) ? ns.gid : c->gid;
	zero =
	    !(io->h.flags & KVFS_IOC_F_NOZERO) || kv_may_access(c, &d->pool_attr, R_OK | W_OK) != 0;
	n = io->h.count;
	kv_pool_get_info(d->pool, &info);
	for (i = 0; i < n; i++)
		if (io->item[i].in.size == 0 || io->item[i].in.size > info.data_size)
			return -EINVAL;
	rc = txn_for_reserve(s, io->h.txn, &ns, n, &t);
	if (rc)
		return rc;
	for (i = 0; i < n; i++) {
		uint8_t h[16];
		char name[33];
		struct kv_extent e;
		uint64_t size = io->item[i].in.size;
		/* what it holds: whole pages, and a record (access.c) */
		uint64_t cost = (size + info.page_size - 1) & ~(uint64_t)(info.page_size - 1);

		if (cost < d->user_min_charge)
			cost = d->user_min_charge;
		memcpy(h, io->item[i].in.hash, 16);
		hash_name(h, name);
		rc = kv_user_charge(d, s->user, cost); /* before: a refused call evicts nothing */
		if (rc)
			goto out_fail;
		rc = kv_reserve(d->pool, dir, name, 32, size, c->uid, gid, zero, &inos[nres], &e);
		memset(&io->item[i].out, 0, sizeof(io->item[i].out));
		if (rc)
			kv_user_uncharge(s->user, cost);
		if (rc == -EEXIST) {
			io->item[i].out.status = KVFS_BLOCK_PRESENT;
			continue;
		}
		if (rc)
			goto out_fail;
		charged += cost;
		io->item[i].out.off = e.off;
		io->item[i].out.len = size;
		io->item[i].out.status = KVFS_BLOCK_RESERVED;
		memcpy(t->hashes[t->n], h, 16);
		t->inos[t->n++] = inos[nres++];
	}
	io->h.txn = t->id;
	t->held += charged;
	return 0;
out_fail:
	/* nothing from this call stays reserved */
	kv_abort(d->pool, inos, nres);
	kv_user_uncharge(s->user, charged);
	t->n -= nres;
	if (!t->n && !io->h.txn)
		txn_remove(s, t);
	return rc;
}

/*
 * The names a commit published, for the kernel's negative entries: sent
 * by send_commit_notices() once the handle's lock is let go.
 */
struct commit_notices {
	uint64_t dir_node;
	uint8_t (*hashes)[16]; /* malloc'ed; NULL: none */
	size_t n;
};

/*
 * Publishing needs write and search on the namespace now, as a rename into
 * it would. *nt receives the names published (the caller sends and frees).
 */
static int do_commit(struct kv_daemon *d, struct kv_ctl_state *s, struct kvfs_ioc_txn *io,
		     struct kv_cred *c, struct commit_notices *nt)
{
	struct kv_attr ns;
	struct txn *t;
	uint8_t *published;
	uint32_t done = 0;
	size_t i;
	int rc = kv_ctl_check_head(d, &io->h, 0, NULL, 0, NULL);

	if (rc)
		return rc;
	if (!s->writable)
		return -EPERM;
	t = txn_find(s, io->h.txn);
	if (!t)
		return -ENOENT;
	rc = may_search_root(d, c);
	if (!rc)
		rc = kv_getattr(d->pool, t->dir, &ns);
	if (!rc && (ns.gen != t->dir_gen || !S_ISDIR(ns.mode)))
		rc = -ENOENT; /* the namespace was removed (its inode may serve another) */
	if (!rc)
		rc = kv_may_access(c, &ns, W_OK | X_OK);
	if (rc)
		return rc; /* the reservation stays: abort it, or commit once allowed */
	published = calloc(t->n ? t->n : 1, 1);
	if (!published)
		return -ENOMEM;
	rc = kv_commit(d->pool, t->inos, t->n, published);
	if (rc) {
		free(published);
		return rc;
	}
	for (i = 0; i < t->n; i++)
		if (published[i])
			memmove(t->hashes[done++], t->hashes[i], 16);
	nt->dir_node = kv_node(t->dir, ns.gen);
	nt->hashes = t->hashes; /* the transaction's list, published names first */
	nt->n = done;
	t->hashes = NULL;
	d->ctl_commits++;
	d->ctl_blocks_committed += done;
	kv_janitor_kick(d); /* their checksums are taken in the background */
	free(published);
	kv_user_uncharge(s->user, t->held); /* published files are evictable: held no more */
	txn_remove(s, t);
	io->h.count = done;
	return 0;
}

/*
 * The kernel may hold a negative entry for a name a commit published: drop
 * it before the commit returns, so that the name opens at once, rather than
 * through the janitor. The request holds no lock of the namespace
 * directory (an ioctl on the ctl file), and the handle's lock is let go
 * first: the kernel may make this wait for requests in flight on the
 * directory (lookups), and those never wait for a ctl handle, but they do
 * wait for a free worker thread: one always stays out of here (with all
 * of them waiting, the mount hung), and a commit that finds no room leaves
 * its names to the janitor, which sends them from its own thread.
 */
static void send_commit_notices(struct kv_daemon *d, struct commit_notices *nt)
{
	char name[33];
	bool direct;
	size_t i;

	if (!nt->n) {
		free(nt->hashes);
		return;
	}
	direct = atomic_fetch_add(&d->notifying, 1) + 1 < d->threads;
	atomic_thread_fence(memory_order_seq_cst); /* the commit, then the bits (kv_neg_note) */
	for (i = 0; i < nt->n; i++) {
		hash_name(nt->hashes[i], name);
		/* a name the kernel never asked for is in none of its caches */
		if (!kv_neg_maybe(d, nt->dir_node, name, 32))
			continue;
		if (direct)
			fuse_lowlevel_notify_inval_entry(d->se, nt->dir_node, name, 32);
		else
			kv_janitor_queue_inval(d, nt->dir_node, name, 32, 0, 0);
	}
	atomic_fetch_sub(&d->notifying, 1);
	free(nt->hashes);
}

static int do_abort(struct kv_daemon *d, struct kv_ctl_state *s, const struct kvfs_ioc_txn *io)
{
	struct txn *t;
	int rc = kv_ctl_check_head(d, &io->h, 0, NULL, 0, NULL);

	if (rc)
		return rc;
	t = txn_find(s, io->h.txn);
	if (!t)
		return -ENOENT;
	kv_abort(d->pool, t->inos, t->n);
	kv_user_uncharge(s->user, t->held);
	txn_remove(s, t);
	return 0;
}

/* What a client needs to map the data area (and to check it opened our pool file). */
static int do_info(struct kv_daemon *d, struct kvfs_ioc_info *io)
{
	struct kv_pool_info g;

	if (io->abi != KVFS_ABI_VERSION)
		return -EPROTO;
	kv_pool_get_info(d->pool, &g);
	memset(io, 0, sizeof(*io));
	io->abi = KVFS_ABI_VERSION;
	io->page_size = g.page_size;
	memcpy(io->uuid, g.uuid, sizeof(io->uuid));
	io->pool_size = g.pool_size;
	io->data_off = g.data_off;
	io->data_size = g.data_size;
	io->data_align = g.data_align;
	io->pool_dev = d->pool_dev;
	io->pool_ino = d->pool_ino;
	return 0;
}

/*
 * ioctl on .kvfs/ctl: reply_ioctl with the updated struct (LOOKUP, RESERVE,
 * COMMIT, INFO), reply_ioctl with no data (UNPIN, ABORT), reply_err(EINVAL,
 * EPROTO, ENOENT, ENOTDIR, EPERM, EACCES, EDQUOT, ENOSPC, ENOTTY)
 */
void kv_ctl_ioctl_reply(struct kv_daemon *d, fuse_req_t req, unsigned int cmd, void *arg,
			struct fuse_file_info *fi, unsigned flags, const void *in_buf,
			size_t in_bufsz, size_t out_bufsz)
{
	size_t size = _IOC_SIZE(cmd);
	bool out = _IOC_DIR(cmd) & _IOC_READ;
	struct commit_notices nt = { 0 };
	struct timespec t0 = { 0 };
	struct kv_ctl_state *s;
	bool lookup;
	struct kv_cred cred;
	void *buf;
	int rc;

	if ((flags & FUSE_IOCTL_COMPAT) ||
	    (cmd != KVFS_IOC_LOOKUP && cmd != KVFS_IOC_UNPIN && cmd != KVFS_IOC_RESERVE &&
	     cmd != KVFS_IOC_COMMIT && cmd != KVFS_IOC_ABORT && cmd != KVFS_IOC_INFO &&
	     cmd != KVFS_IOC_LOOKUPV && cmd != KVFS_IOC_UNPINV)) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	s = kv_handle_get(fi->fh);
	if (!s) {
		fuse_reply_err(req, EBADF); /* released while this call was on its way */
		return;
	}
	if (in_bufsz != size || (out && out_bufsz != size)) {
		fuse_reply_err(req, EINVAL);
		goto out_put;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		goto out_put;
	}
	memcpy(buf, in_buf, size);
	lookup = cmd == KVFS_IOC_LOOKUP || cmd == KVFS_IOC_LOOKUPV;
	if (lookup)
		clock_gettime(CLOCK_MONOTONIC, &t0);
	kv_cred_init(&cred, req);
	pthread_mutex_lock(&s->lock);
	switch (cmd) {
	case KVFS_IOC_LOOKUP:
		rc = kv_ctl_lookup(d, s, &((struct kvfs_ioc_lookup *)buf)->h,
				   ((struct kvfs_ioc_lookup *)buf)->item, &cred);
		break;
	case KVFS_IOC_UNPIN:
		rc = kv_ctl_unpin(d, s, buf);
		break;
	case KVFS_IOC_RESERVE:
		rc = do_reserve(d, s, buf, &cred);
		break;
	case KVFS_IOC_COMMIT:
		rc = do_commit(d, s, buf, &cred, &nt);
		break;
	case KVFS_IOC_INFO:
		rc = do_info(d, buf);
		break;
	case KVFS_IOC_LOOKUPV:
		rc = kv_ctl_lookupv(d, s, buf, &cred, fuse_req_ctx(req)->pid);
		break;
	case KVFS_IOC_UNPINV:
		rc = kv_ctl_unpinv(d, s, buf, fuse_req_ctx(req)->pid);
		break;
	default:
		rc = do_abort(d, s, buf);
		break;
	}
	pthread_mutex_unlock(&s->lock);
	send_commit_notices(d, &nt);
	if (lookup) { /* what fastpath_bench tells from the round trips */
		d->ctl_lookups++;
		d->ctl_lookup_ns += ns_since(&t0);
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_ioctl(req, 0, out ? buf : NULL, out ? size : 0);
	free(buf);
out_put:
	kv_handle_put(fi->fh);
}
