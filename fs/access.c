// SPDX-License-Identifier: MIT
/*
 * access.c - who may do what through <mnt>/.kvfs/ctl, and how much each
 * user may hold.
 *
 * The mount runs with default_permissions, so the kernel checks modes for
 * everything done through files; the ctl ioctls bypass those checks, so
 * the daemon repeats them here for the same operations, with the same
 * rules as the kernel's generic_permission(): owner, then group (primary
 * or supplementary), then other bits; uid 0 may read and write anything
 * and search any directory, and execute a file only where some x bit is
 * set. Nothing here touches the pool.
 *
 * Shares: every byte a ctl handle holds (pinned blocks and reservations)
 * is charged to the uid that opened the handle, and so is every byte of a
 * file another uid holds open (or mapped) through the mount: its size at
 * the open, and as far as it grows through that descriptor. A uid other
 * than the pool's owner may hold at most user_share percent of the data
 * area; beyond that a pin, a reservation, an open or a write gets EDQUOT,
 * so no other user can starve the owner by holding the pool.
 */
#include "daemon.h"
#include "handles.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

void kv_cred_init(struct kv_cred *c, fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	c->req = req;
	c->uid = ctx->uid;
	c->gid = ctx->gid;
	c->ngroups = -1; /* read from /proc only when a group class decides */
}

static bool in_group(struct kv_cred *c, uint32_t gid)
{
	int i, n;

	if (c->gid == gid)
		return true;
	if (c->ngroups < 0) {
		n = c->req ? fuse_req_getgroups(c->req, KV_CRED_MAX_GROUPS, c->groups) : 0;
		/* unreadable (the caller exited): no supplementary groups, never more rights */
		c->ngroups = n < 0 ? 0 : n > KV_CRED_MAX_GROUPS ? KV_CRED_MAX_GROUPS : n;
	}
	for (i = 0; i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return true;
	return false;
}

int kv_may_access(struct kv_cred *c, const struct kv_attr *a, int mask)
{
	bool group, other;

	mask &= R_OK | W_OK | X_OK;
	if (c->uid == 0) {
		/* as CAP_DAC_OVERRIDE: all but executing a file that nobody may execute */
		if ((mask & X_OK) && !S_ISDIR(a->mode) && !(a->mode & 0111))
			return -EACCES;
		return 0;
	}
	if (c->uid == a->uid)
		return ((unsigned)mask & ~(a->mode >> 6) & 7) ? -EACCES : 0;
	group = !((unsigned)mask & ~(a->mode >> 3) & 7);
	other = !((unsigned)mask & ~a->mode & 7);
	/* Reading the groups costs a /proc read: only when they change the answer. */
	if (group != other && in_group(c, a->gid))
		return group ? 0 : -EACCES;
	return other ? 0 : -EACCES;
}

/* --- per-user holds --- */

struct kv_user_hold *kv_user_get(struct kv_daemon *d, uint32_t uid)
{
	struct kv_user_hold *u;

	pthread_mutex_lock(&d->users_lock);
	for (u = d->users; u && u->uid != uid; u = u->next)
		;
	if (!u && (u = calloc(1, sizeof(*u)))) {
		u->uid = uid;
		u->next = d->users;
		d->users = u;
	}
	pthread_mutex_unlock(&d->users_lock);
	return u;
}

int kv_user_charge(struct kv_daemon *d, struct kv_user_hold *u, uint64_t bytes)
{
	uint64_t limit = d->user_limit_bytes, old;

	old = atomic_fetch_add(&u->bytes, bytes);
	if (u->uid == d->pool_owner)
		return 0;
	/* two racing charges may both be refused near the limit; never both let past it */
	if (bytes > limit || old > limit - bytes) {
		atomic_fetch_sub(&u->bytes, bytes);
		return -EDQUOT;
	}
	return 0;
}

void kv_user_uncharge(struct kv_user_hold *u, uint64_t bytes)
{
	atomic_fetch_sub(&u->bytes, bytes);
}

void kv_user_stats(struct kv_daemon *d, FILE *f, bool prometheus)
{
	struct kv_user_hold *u;

	pthread_mutex_lock(&d->users_lock);
	if (prometheus && d->users)
		fprintf(f, "# HELP kvfs_uid_held_bytes Bytes pinned or reserved through "
			   "libkvfs, per user\n# TYPE kvfs_uid_held_bytes gauge\n");
	for (u = d->users; u; u = u->next) {
		uint64_t bytes = atomic_load(&u->bytes);

		if (prometheus)
			fprintf(f, "kvfs_uid_held_bytes{uid=\"%" PRIu32 "\"} %" PRIu64 "\n", u->uid,
				bytes);
		else
			fprintf(f, "uid_held_bytes %" PRIu32 " %" PRIu64 "\n", u->uid, bytes);
	}
	pthread_mutex_unlock(&d->users_lock);
}

void kv_user_free_all(struct kv_daemon *d)
{
	while (d->users) {
		struct kv_user_hold *u = d->users;

		d->users = u->next;
		free(u);
	}
}

/* --- files other users hold open --- */

/* A descriptor another uid opened: what it holds, charged to that uid. */
struct open_hold {
	struct kv_user_hold *user;
	pthread_mutex_t lock; /* writes through one descriptor may run in parallel */
	uint64_t bytes;
};

static void open_hold_destroy(void *obj)
{
	struct open_hold *h = obj;

	kv_user_uncharge(h->user, h->bytes);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

int kv_open_hold_new(struct kv_daemon *d, fuse_req_t req, uint64_t size,
		     struct fuse_file_info *fi)
{
	uint32_t uid = fuse_req_ctx(req)->uid;
	struct open_hold *h;
	int rc;

	fi->fh = 0;
	if (uid == d->pool_owner)
		return 0;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	if (size < d->user_min_charge)
		size = d->user_min_charge; /* it holds a record, too */
	h->user = kv_user_get(d, uid);
	rc = h->user ? kv_user_charge(d, h->user, size) : -ENOMEM;
	if (rc) {
		free(h);
		return rc;
	}
	h->bytes = size;
	pthread_mutex_init(&h->lock, NULL);
	if (kv_handle_new(h, open_hold_destroy, &fi->fh)) {
		open_hold_destroy(h);
		return -ENOMEM;
	}
	return 0;
}

int kv_open_hold_grow(struct kv_daemon *d, fuse_req_t req, struct fuse_file_info *fi,
		      uint64_t end)
{
	uint32_t uid = fuse_req_ctx(req)->uid;
	struct kv_pool_info info;
	struct kv_user_hold *u;
	struct open_hold *h;
	int rc = 0;

	kv_pool_get_info(d->pool, &info);
	if (end > info.data_size)
		return 0; /* no file grows that far: the pool refuses it (EFBIG) */
	if (fi && fi->fh && (h = kv_handle_get(fi->fh))) {
		pthread_mutex_lock(&h->lock);
		if (end > h->bytes && !(rc = kv_user_charge(d, h->user, end - h->bytes)))
			h->bytes = end;
		pthread_mutex_unlock(&h->lock);
		kv_handle_put(fi->fh);
		return rc;
	}
	if (fi || uid == d->pool_owner)
		return 0; /* the owner's descriptor */
	/* by path: the file may be held by a descriptor charged less; it must fit whole */
	u = kv_user_get(d, uid);
	if (!u)
		return -ENOMEM;
	rc = kv_user_charge(d, u, end);
	if (!rc)
		kv_user_uncharge(u, end);
	return rc;
}

void kv_open_hold_release(struct fuse_file_info *fi)
{
	if (fi->fh)
		kv_handle_close(fi->fh);
}
