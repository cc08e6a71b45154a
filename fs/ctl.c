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
#include "daemon.h"
#include "handles.h"
#include "kvfs.h"
#include "kvfs_abi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KV_CTL_MAX_PINS (16u << 20)

struct pin {
	uint64_t dir;
	uint8_t hash[16];
	uint64_t ino;
	uint64_t count;
	uint64_t bytes; /* charged to the handle's uid while count > 0 */
};

struct txn {
	uint64_t id;
	uint64_t dir;
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
	struct pin *pins; /* in pin order */
	size_t npins, pins_cap;
	size_t live; /* entries with count > 0 */
	uint32_t *slots; /* open addressing over pins: index + 1, 0 = empty */
	size_t nslots; /* power of two */
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

static size_t slot_of(const struct kv_ctl_state *s, uint64_t dir, const uint8_t h[16])
{
	uint64_t k;

	memcpy(&k, h, sizeof(k));
	return (size_t)((k ^ (dir * 0x9E3779B97F4A7C15ull)) & (s->nslots - 1));
}

/*
 * The first entry of (dir, hash) that is still counted (@live), or that
 * belongs to inode @ino, counted or not (to revive it), or NULL.
 */
static struct pin *pin_find(struct kv_ctl_state *s, uint64_t dir, const uint8_t h[16], bool live,
			    uint64_t ino)
{
	size_t i;

	if (!s->nslots)
		return NULL;
	for (i = slot_of(s, dir, h); s->slots[i]; i = (i + 1) & (s->nslots - 1)) {
		struct pin *p = &s->pins[s->slots[i] - 1];

		if (p->dir == dir && !memcmp(p->hash, h, 16) &&
		    (live ? p->count > 0 : p->ino == ino))
			return p;
	}
	return NULL;
}

/* Rebuild the slots over the first @n entries of the pin array. */
static int pin_rehash(struct kv_ctl_state *s, size_t nslots)
{
	uint32_t *slots = calloc(nslots, sizeof(*slots));
	size_t i, j;

	if (!slots)
		return -ENOMEM;
	free(s->slots);
	s->slots = slots;
	s->nslots = nslots;
	for (j = 0; j < s->npins; j++) {
		for (i = slot_of(s, s->pins[j].dir, s->pins[j].hash); s->slots[i];
		     i = (i + 1) & (nslots - 1))
			;
		s->slots[i] = (uint32_t)j + 1;
	}
	return 0;
}

/* Drop entries no longer counted once they outnumber the live ones (keeps pin order). */
static void pin_compact(struct kv_ctl_state *s)
{
	size_t j, n = 0, nslots = 2048;

	if (s->npins < 4096 || s->npins < 4 * s->live)
		return;
	for (j = 0; j < s->npins; j++)
		if (s->pins[j].count)
			s->pins[n++] = s->pins[j];
	s->npins = n;
	while (nslots < 2 * (n + 1))
		nslots *= 2;
	pin_rehash(s, nslots); /* on ENOMEM the old slots are gone: rebuilt at the next add */
}

static int pin_add(struct kv_ctl_state *s, uint64_t dir, const uint8_t h[16], uint64_t ino,
		   uint64_t bytes)
{
	struct pin *p;
	size_t i;

	if (s->npins == KV_CTL_MAX_PINS)
		return -ENOSPC;
	if (s->npins == s->pins_cap) {
		size_t cap = s->pins_cap ? s->pins_cap * 2 : 1024;
		struct pin *np = realloc(s->pins, cap * sizeof(*np));

		if (!np)
			return -ENOMEM;
		s->pins = np;
		s->pins_cap = cap;
	}
	if ((s->npins + 1) * 2 > s->nslots || !s->slots) {
		int rc = pin_rehash(s, s->nslots && s->slots ? s->nslots * 2 : 2048);

		if (rc)
			return rc;
	}
	p = &s->pins[s->npins];
	p->dir = dir;
	memcpy(p->hash, h, 16);
	p->ino = ino;
	p->count = 1;
	p->bytes = bytes;
	for (i = slot_of(s, dir, h); s->slots[i]; i = (i + 1) & (s->nslots - 1))
		;
	s->slots[i] = (uint32_t)++s->npins;
	s->live++;
	return 0;
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
	for (i = s->npins; i-- > 0;) {
		if (s->pins[i].count)
			kv_user_uncharge(s->user, s->pins[i].bytes);
		while (s->pins[i].count) {
			s->pins[i].count--;
			kv_unpin(d->pool, s->pins[i].ino);
		}
	}
	while (s->ntxns) {
		kv_user_uncharge(s->user, s->txns[0].held);
		kv_abort(d->pool, s->txns[0].inos, s->txns[0].n);
		txn_remove(s, &s->txns[0]);
	}
	free(s->pins);
	free(s->slots);
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
static int check_head(struct kv_daemon *d, const struct kvfs_ioc_head *h, uint32_t max,
		      struct kv_cred *c, int mask, struct kv_attr *ns)
{
	struct kv_attr a;
	size_t len;
	int rc;

	if (h->abi != KVFS_ABI_VERSION)
		return -EPROTO;
	if (h->flags & ~(uint32_t)KVFS_IOC_F_NOZERO)
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
	if (!S_ISDIR(a.mode))
		return -ENOTDIR;
	if (c && (rc = kv_may_access(c, &a, mask)))
		return rc;
	*ns = a;
	return 0;
}

/*
 * Pin the leading present blocks the caller may read. A block it may not
 * read, or cannot hold within its share, ends the prefix there; when that
 * is the first block the call fails with EACCES or EDQUOT rather than
 * answer 0 silently.
 */
static int do_lookup(struct kv_daemon *d, struct kv_ctl_state *s, struct kvfs_ioc_lookup *io,
		     struct kv_cred *c)
{
	struct kv_attr ns;
	uint64_t dir;
	uint32_t i, n;
	int rc = check_head(d, &io->h, KVFS_IOC_LOOKUP_MAX, c, X_OK, &ns);

	if (rc)
		return rc;
	dir = ns.ino;
	n = io->h.count;
	for (i = 0; i < n; i++) {
		uint8_t h[16];
		char name[33];
		struct kv_attr a;
		struct kv_extent e;
		struct pin *p;

		memcpy(h, io->item[i].hash, 16);
		hash_name(h, name);
		if (kv_lookup_pin(d->pool, dir, name, 32, &a, &e))
			break;
		rc = kv_may_access(c, &a, R_OK);
		p = rc ? NULL : pin_find(s, dir, h, false, a.ino);
		if (!rc && (!p || !p->count)) /* a handle's share counts each block once */
			rc = kv_user_charge(d, s->user, a.size);
		if (!rc && p) {
			if (!p->count++) {
				s->live++;
				p->bytes = a.size;
			}
		} else if (!rc && (rc = pin_add(s, dir, h, a.ino, a.size))) {
			kv_user_uncharge(s->user, a.size);
		}
		if (rc) {
			kv_unpin(d->pool, a.ino);
			break;
		}
		io->item[i].ext.off = e.off;
		io->item[i].ext.len = a.size;
	}
	io->h.count = i;
	d->ctl_lookups++;
	d->ctl_blocks_pinned += i;
	return i == 0 && (rc == -EACCES || rc == -EDQUOT) ? rc : 0;
}

static int do_unpin(struct kv_daemon *d, struct kv_ctl_state *s, const struct kvfs_ioc_unpin *io)
{
	struct pin *taken[KVFS_IOC_LOOKUP_MAX];
	uint8_t last[KVFS_IOC_LOOKUP_MAX];
	struct kv_attr ns;
	uint64_t dir;
	uint32_t i;
	int rc = check_head(d, &io->h, KVFS_IOC_LOOKUP_MAX, NULL, 0, &ns); /* its own pins */

	if (rc)
		return rc;
	dir = ns.ino;
	/* all or nothing: take the counts down, and put them back if one is not pinned */
	for (i = 0; i < io->h.count; i++) {
		struct pin *p = pin_find(s, dir, io->hash[i], true, 0);

		if (!p) {
			while (i-- > 0)
				taken[i]->count++;
			return -EINVAL;
		}
		p->count--;
		taken[i] = p;
		last[i] = p->count == 0; /* once per entry, even if the batch names it twice */
	}
	for (i = 0; i < io->h.count; i++) {
		if (last[i]) {
			s->live--;
			kv_user_uncharge(s->user, taken[i]->bytes);
		}
		kv_unpin(d->pool, taken[i]->ino);
	}
	pin_compact(s);
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
	struct kv_attr ns;
	struct txn *t;
	bool zero;
	int rc;

	if (!s->writable)
		return -EPERM;
	rc = check_head(d, &io->h, KVFS_IOC_RESERVE_MAX, c, W_OK | X_OK, &ns);
	if (rc)
		return rc;
	dir = ns.ino;
	gid = (ns.mode & S_ISGID) ? ns.gid : c->gid;
	zero =
	    !(io->h.flags & KVFS_IOC_F_NOZERO) || kv_may_access(c, &d->pool_attr, R_OK | W_OK) != 0;
	n = io->h.count;
	for (i = 0; i < n; i++)
		if (io->item[i].in.size == 0 ||
		    io->item[i].in.size > kv_pool_geometry(d->pool)->data_size)
			return -EINVAL;
	if (io->h.txn) {
		t = txn_find(s, io->h.txn);
		if (!t || t->dir != dir)
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
	}
	if (t->n + n > t->cap) {
		size_t cap = (t->n + n) * 2;
		uint64_t *ni = realloc(t->inos, cap * sizeof(*ni));
		uint8_t(*nh)[16];

		if (ni)
			t->inos = ni;
		nh = ni ? realloc(t->hashes, cap * sizeof(*nh)) : NULL;
		if (!nh) {
			rc = -ENOMEM;
			goto out_fail;
		}
		t->hashes = nh;
		t->cap = cap;
	}
	for (i = 0; i < n; i++) {
		uint8_t h[16];
		char name[33];
		struct kv_extent e;
		uint64_t size = io->item[i].in.size;

		memcpy(h, io->item[i].in.hash, 16);
		hash_name(h, name);
		rc = kv_user_charge(d, s->user, size); /* before: a refused call evicts nothing */
		if (rc)
			goto out_fail;
		rc = kv_reserve(d->pool, dir, name, 32, size, c->uid, gid, zero, &inos[nres], &e);
		memset(&io->item[i].out, 0, sizeof(io->item[i].out));
		if (rc)
			kv_user_uncharge(s->user, size);
		if (rc == -EEXIST) {
			io->item[i].out.status = KVFS_BLOCK_PRESENT;
			continue;
		}
		if (rc)
			goto out_fail;
		charged += size;
		io->item[i].out.off = e.off;
		io->item[i].out.len = size;
		io->item[i].out.status = 2; /* KVFS_BLOCK_RESERVED */
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

/* Publishing needs write and search on the namespace now, as a rename into it would. */
static int do_commit(struct kv_daemon *d, struct kv_ctl_state *s, struct kvfs_ioc_txn *io,
		     struct kv_cred *c)
{
	struct kv_attr ns;
	struct txn *t;
	uint8_t *published;
	uint32_t done = 0;
	size_t i;
	int rc = check_head(d, &io->h, 0, NULL, 0, NULL);

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
	for (i = 0; i < t->n; i++) {
		char name[33];

		if (!published[i])
			continue;
		done++;
		/* The kernel may hold a negative entry for this name: drop it now. */
		hash_name(t->hashes[i], name);
		fuse_lowlevel_notify_inval_entry(d->se, t->dir, name, 32);
	}
	d->ctl_commits++;
	d->ctl_blocks_committed += done;
	free(published);
	kv_user_uncharge(s->user, t->held); /* published files are evictable: held no more */
	txn_remove(s, t);
	io->h.count = done;
	return 0;
}

static int do_abort(struct kv_daemon *d, struct kv_ctl_state *s, const struct kvfs_ioc_txn *io)
{
	struct txn *t;
	int rc = check_head(d, &io->h, 0, NULL, 0, NULL);

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
	const struct kv_geometry *g = kv_pool_geometry(d->pool);

	if (io->abi != KVFS_ABI_VERSION)
		return -EPROTO;
	memset(io, 0, sizeof(*io));
	io->abi = KVFS_ABI_VERSION;
	io->page_size = g->page_size;
	memcpy(io->uuid, g->uuid, sizeof(io->uuid));
	io->pool_size = g->pool_size;
	io->data_off = g->data_off;
	io->data_size = g->data_size;
	io->pool_dev = d->pool_dev;
	io->pool_ino = d->pool_ino;
	return 0;
}

/*
 * ioctl on .kvfs/ctl: reply_ioctl with the updated struct (LOOKUP, RESERVE,
 * COMMIT, INFO), reply_ioctl with no data (UNPIN, ABORT), reply_err(EINVAL,
 * EPROTO, ENOENT, ENOTDIR, EPERM, EACCES, EDQUOT, ENOSPC, ENOTTY)
 */
void kv_ctl_ioctl(struct kv_daemon *d, fuse_req_t req, unsigned int cmd, void *arg,
		  struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
		  size_t out_bufsz)
{
	size_t size = _IOC_SIZE(cmd);
	bool out = _IOC_DIR(cmd) & _IOC_READ;
	struct kv_ctl_state *s;
	struct kv_cred cred;
	void *buf;
	int rc;

	if ((flags & FUSE_IOCTL_COMPAT) ||
	    (cmd != KVFS_IOC_LOOKUP && cmd != KVFS_IOC_UNPIN && cmd != KVFS_IOC_RESERVE &&
	     cmd != KVFS_IOC_COMMIT && cmd != KVFS_IOC_ABORT && cmd != KVFS_IOC_INFO)) {
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
	kv_cred_init(&cred, req);
	pthread_mutex_lock(&s->lock);
	switch (cmd) {
	case KVFS_IOC_LOOKUP:
		rc = do_lookup(d, s, buf, &cred);
		break;
	case KVFS_IOC_UNPIN:
		rc = do_unpin(d, s, buf);
		break;
	case KVFS_IOC_RESERVE:
		rc = do_reserve(d, s, buf, &cred);
		break;
	case KVFS_IOC_COMMIT:
		rc = do_commit(d, s, buf, &cred);
		break;
	case KVFS_IOC_INFO:
		rc = do_info(d, buf);
		break;
	default:
		rc = do_abort(d, s, buf);
		break;
	}
	pthread_mutex_unlock(&s->lock);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_ioctl(req, 0, out ? buf : NULL, out ? size : 0);
	free(buf);
out_put:
	kv_handle_put(fi->fh);
}
