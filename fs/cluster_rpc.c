// SPDX-License-Identifier: MIT
/*
 * cluster_rpc.c - a follower's stores forwarded to the leader through the
 * mailboxes in the pool (mm/layout.h, struct kv_rpc_box): the fast path's
 * reserve, commit and abort. The follower writes a request into its slot's
 * box and bumps req_seq; the leader's server thread sees it, runs the call
 * on its pool, writes the answer and sets resp_seq. Block bytes never pass
 * through here: the leader hands out extents and the client fills them
 * through its own mapping. Everything read from a box is input and checked.
 * The server polls: every 20 us while calls come, every millisecond when idle.
 */
#include "cluster_rpc.h"
#include "coherence.h"
#include "daemon.h"
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <stdbool.h>
#include <unistd.h>
#include <stdlib.h>

enum kv_rpc_op {
	KV_RPC_RESERVE = 1,
	KV_RPC_COMMIT,
	KV_RPC_ABORT,
	KV_RPC_PATH, /* a change through a follower's mount (struct kv_rpc_path) */
};

struct rpc_reserve {
	uint64_t dir, size;
	uint32_t uid, gid;
	uint32_t zero, len;
	char name[KV_NAME_MAX + 1];
};

struct rpc_reserved {
	uint64_t ino;
	struct kv_extent ext;
};

#define RPC_MAX_INOS ((sizeof(((struct kv_rpc_box *)0)->data) - 16) / 9)

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void nap(long ns)
{
	struct timespec ts = { 0, ns };

	nanosleep(&ts, NULL);
}

/* --- the follower's side --- */

/*
 * The node thread wants the view exclusive while this call waits (a new
 * view, a promotion): let it go, wait for the swap, hold the view again. If
 * this node was elected, it answers the box itself now. Return: the box in
 * the view now held, or NULL (none: the call fails).
 */
static struct kv_rpc_box *yield_view(struct kv_rpc_client *cl, const struct kv_rpc_yield *y,
				     int64_t t0)
{
	y->let_go(y->arg);
	while (atomic_load(&cl->view_wanted) && now_ns() - t0 < cl->timeout_ns)
		nap(1000000);
	return y->take_back(y->arg);
}

int kv_rpc_call(struct kv_rpc_client *cl, const struct kv_rpc_yield *y, struct kv_rpc_box *box,
		uint32_t op, const void *req, uint32_t len, void *resp, uint32_t resp_max,
		uint32_t *resp_len)
{
	int64_t t0 = now_ns(), waited;
	uint64_t seq;
	int rc;

	if (!box || len > sizeof(box->data))
		return -EINVAL;
	pthread_mutex_lock(&cl->lock);
	kv_coh_invalidate(box, 64);
	seq = atomic_load((_Atomic uint64_t *)&box->req_seq) + 1;
	box->op = op;
	box->len = len;
	memcpy(box->data, req, len);
	kv_coh_flush(box, 64 + (size_t)len);
	atomic_store_explicit((_Atomic uint64_t *)&box->req_seq, seq, memory_order_release);
	kv_coh_flush(&box->req_seq, sizeof(box->req_seq));
	for (;;) {
		kv_coh_invalidate(box, 64);
		if (atomic_load_explicit((_Atomic uint64_t *)&box->resp_seq,
					 memory_order_acquire) == seq)
			break;
		waited = now_ns() - t0;
		if (waited > cl->timeout_ns) {
			pthread_mutex_unlock(&cl->lock);
			kv_log(KV_LOG_WARNING,
			       "cluster: the leader did not answer a forwarded call "
			       "in %lld ms",
			       (long long)(waited / 1000000));
			return -ETIMEDOUT;
		}
		if (y && atomic_load(&cl->view_wanted)) {
			box = yield_view(cl, y, t0);
			if (!box) {
				pthread_mutex_unlock(&cl->lock);
				return -EIO;
			}
			continue;
		}
		if (waited > 200000)
			nap(20000);
	}
	rc = box->status;
	*resp_len = box->resp_len < resp_max ? box->resp_len : resp_max;
	kv_coh_invalidate(box->data, *resp_len);
	memcpy(resp, box->data, *resp_len);
	pthread_mutex_unlock(&cl->lock);
	return rc > 0 || rc < -4095 ? -EPROTO : rc;
}

int kv_rpc_reserve(struct kv_rpc_client *cl, struct kv_rpc_box *box, uint64_t dir, const char *name,
		   size_t len, uint64_t size, uint32_t uid, uint32_t gid, bool zero, uint64_t *ino,
		   struct kv_extent *ext)
{
	struct rpc_reserve r = { .dir = dir, .size = size, .uid = uid, .gid = gid, .zero = zero };
	struct rpc_reserved out;
	uint32_t got = 0;
	int rc;

	if (len > KV_NAME_MAX)
		return -ENAMETOOLONG;
	r.len = (uint32_t)len;
	memcpy(r.name, name, len);
	rc = kv_rpc_call(cl, NULL, box, KV_RPC_RESERVE, &r, sizeof(r), &out, sizeof(out), &got);
	if (!rc && got != sizeof(out))
		rc = -EPROTO;
	if (!rc) {
		*ino = out.ino;
		*ext = out.ext;
	}
	return rc;
}

int kv_rpc_commit(struct kv_rpc_client *cl, struct kv_rpc_box *box, const uint64_t *inos, size_t n,
		  uint8_t *published, uint64_t *seq)
{
	static __thread uint8_t buf[sizeof(((struct kv_rpc_box *)0)->data)];
	uint64_t nn = n;
	uint32_t got = 0;
	int rc;

	if (n > RPC_MAX_INOS)
		return -E2BIG;
	memcpy(buf, &nn, 8);
	memcpy(buf + 8, inos, n * 8);
	rc =
	    kv_rpc_call(cl, NULL, box, KV_RPC_COMMIT, buf, (uint32_t)(8 + n * 8), buf, sizeof(buf),
			&got);
	if (!rc && got != 8 + n)
		rc = -EPROTO;
	if (!rc) {
		memcpy(seq, buf, 8);
		memcpy(published, buf + 8, n);
	}
	return rc;
}

void kv_rpc_abort(struct kv_rpc_client *cl, struct kv_rpc_box *box, const uint64_t *inos, size_t n)
{
	static __thread uint8_t buf[sizeof(((struct kv_rpc_box *)0)->data)];
	uint64_t nn = n;
	uint32_t got;

	if (n > RPC_MAX_INOS)
		return;
	memcpy(buf, &nn, 8);
	memcpy(buf + 8, inos, n * 8);
	kv_rpc_call(cl, NULL, box, KV_RPC_ABORT, buf, (uint32_t)(8 + n * 8), buf, 0, &got);
}

int kv_rpc_path(struct kv_rpc_client *cl, const struct kv_rpc_yield *y, struct kv_rpc_box *box,
		struct kv_rpc_path *pc, const void *data, size_t len, struct kv_rpc_path_out *out)
{
	static __thread uint8_t buf[sizeof(((struct kv_rpc_box *)0)->data)];
	uint32_t got = 0;
	int rc;

	if (len > sizeof(buf) - sizeof(*pc))
		return -E2BIG;
	pc->dlen = (uint32_t)len;
	memcpy(buf, pc, sizeof(*pc));
	memcpy(buf + sizeof(*pc), data, len);
	rc = kv_rpc_call(cl, y, box, KV_RPC_PATH, buf, (uint32_t)(sizeof(*pc) + len), out,
			 sizeof(*out), &got);
	if (!rc && got != sizeof(*out))
		rc = -EPROTO;
	return rc;
}

/* --- the leader's side --- */

/* The leader's kernel may cache @name under @parent (a negative entry, or the old file). */
static void inval_name(struct kv_daemon *d, uint64_t parent, const char *name, size_t len)
{
	if (len)
		kv_janitor_queue_inval(d, kv_node(parent, kv_gen(d->pool, parent)), name, len, 0, 0);
}

/*
 * A name made now: the leader's kernel can hold it only as absent, and only
 * if a path lookup asked for it (the filter of names asked, daemon.h).
 */
static void inval_new_name(struct kv_daemon *d, uint64_t parent, const char *name, size_t len)
{
	atomic_thread_fence(memory_order_seq_cst); /* the name made, then the bits (kv_neg_note) */
	if (len && kv_neg_maybe(d, kv_node(parent, kv_gen(d->pool, parent)), name, len))
		inval_name(d, parent, name, len);
}

/* ... or its attributes and cached pages of file @ino (the janitor sends it). */
static void inval_file(struct kv_daemon *d, uint64_t ino)
{
	uint64_t gen = kv_gen(d->pool, ino);

	if (gen)
		kv_janitor_queue_inval(d, 0, "", 0, kv_node(ino, gen), gen);
}

/*
 * The changes whose name (an xattr's, or a new link's) comes with more bytes
 * after it: the value or the link's target. The follower checked what its
 * own mount refuses; the names are checked again here. Return: 0 or -errno.
 */
static int serve_named(struct kv_daemon *d, const struct kv_rpc_path *pc, const char *data,
		       struct kv_rpc_path_out *o)
{
	static __thread char name[KV_NAME_MAX + 1], target[KV_SYMLINK_MAX + 1];
	size_t more = pc->dlen - pc->len;
	int rc;

	memcpy(name, data, pc->len);
	name[pc->len] = 0;
	if (pc->what == KV_PATH_SYMLINK) {
		if (more > KV_SYMLINK_MAX)
			return -ENAMETOOLONG;
		memcpy(target, data + pc->len, more);
		target[more] = 0;
		rc = kv_symlink(d->pool, pc->ino, name, pc->len, target, pc->uid, pc->gid,
				&o->attr);
		inval_new_name(d, pc->ino, name, pc->len);
		return rc;
	}
	if (strlen(name) != pc->len || strncmp(name, "user.", 5) != 0)
		return -ENOTSUP;
	rc = pc->what == KV_PATH_SETXATTR
		     ? kv_setxattr(d->pool, pc->ino, name, data + pc->len, more, (int)pc->flags)
		     : kv_removexattr(d->pool, pc->ino, name);
	kv_pool_log_change(d->pool, pc->ino);
	return rc;
}

/*
 * A call the leader before us took and may have run before it died (the
 * box says it took it; no answer came): answer it from its effect when the
 * effect is there, rather than run it twice (a create would answer EEXIST,
 * an unlink ENOENT). Return: 1 answered (status in *@rc), 0 run it.
 */
static int already_done(struct kv_daemon *d, const struct kv_rpc_path *pc, const char *name,
			const char *name2, struct kv_rpc_path_out *o, int *rc)
{
	struct kv_pool *p = d->pool;
	struct kv_attr a;
	int found = pc->len ? kv_lookup(p, pc->ino, name, pc->len, &a) : -ENOENT;

	if (!found)
		kv_forget(p, a.ino, 1); /* no kernel lookup behind it */
	switch (pc->what) {
	case KV_PATH_CREATE:
	case KV_PATH_SYMLINK:
		if (found || (a.mode & S_IFMT) != (pc->what == KV_PATH_SYMLINK ? S_IFLNK
									      : (pc->mode & S_IFMT)))
			return 0;
		o->attr = a;
		*rc = pc->open ? kv_open(p, a.ino) : 0;
		return 1;
	case KV_PATH_UNLINK:
	case KV_PATH_RMDIR:
		*rc = 0;
		return found == -ENOENT;
	case KV_PATH_RENAME: {
		struct kv_attr b;

		if (found != -ENOENT || kv_lookup(p, pc->ino2, name2, pc->len2, &b))
			return 0;
		kv_forget(p, b.ino, 1);
		*rc = 0;
		return 1;
	}
	}
	return 0; /* the others do the same when run again */
}

/* A change through a follower's mount, run on the leader's pool. Return: 0 or -errno. */
static int serve_path(struct kv_daemon *d, const uint8_t *in, uint32_t len, bool maybe_run,
		      struct kv_rpc_path_out *o)
{
	struct kv_pool *p = d->pool;
	struct kv_rpc_path pc;
	const char *name, *name2;
	uint64_t replaced = 0;
	ssize_t n;
	int rc;

	if (len < sizeof(pc))
		return -EPROTO;
	memcpy(&pc, in, sizeof(pc));
	if (pc.len > KV_NAME_MAX || pc.len2 > KV_NAME_MAX || pc.len + pc.len2 > pc.dlen ||
	    sizeof(pc) + pc.dlen != len)
		return -EPROTO;
	name = (const char *)in + sizeof(pc);
	name2 = name + pc.len;
	if (maybe_run && already_done(d, &pc, name, name2, o, &rc))
		return rc;
	switch (pc.what) {
	case KV_PATH_CREATE:
		rc = kv_create(p, pc.ino, name, pc.len, pc.mode, pc.uid, pc.gid, &o->attr);
		if (!rc && pc.open && (rc = kv_open(p, o->attr.ino)))
			kv_unlink(p, pc.ino, name, pc.len);
		inval_new_name(d, pc.ino, name, pc.len);
		return rc;
	case KV_PATH_OPEN:
		rc = kv_open_gen(p, pc.ino, pc.gen, 0x7fffffffull);
		if (!rc && pc.trunc) {
			struct kv_attr zero = { .size = 0 };

			rc = kv_setattr(p, pc.ino, KV_SET_SIZE, &zero, &o->attr);
			if (rc)
				kv_release(p, pc.ino);
			inval_file(d, pc.ino);
			kv_pool_log_change(p, pc.ino);
		}
		return rc;
	case KV_PATH_WRITE:
		n = kv_write(p, pc.ino, name, pc.dlen, pc.off);
		o->written = n > 0 ? (uint64_t)n : 0;
		kv_pool_coh_file(p, pc.ino, pc.off, o->written, true);
		kv_pool_log_change(p, pc.ino);
		return n < 0 ? (int)n : 0;
	case KV_PATH_RELEASE:
		kv_release(p, pc.ino);
		inval_file(d, pc.ino); /* size and bytes, once the writer is done */
		return 0;
	case KV_PATH_UNLINK:
	case KV_PATH_RMDIR:
		rc = pc.what == KV_PATH_UNLINK ? kv_unlink(p, pc.ino, name, pc.len)
					       : kv_rmdir(p, pc.ino, name, pc.len);
		inval_name(d, pc.ino, name, pc.len);
		return rc;
	case KV_PATH_RENAME:
		rc = kv_rename(p, pc.ino, name, pc.len, pc.ino2, name2, pc.len2, pc.flags,
			       &replaced);
		inval_name(d, pc.ino, name, pc.len);
		inval_name(d, pc.ino2, name2, pc.len2);
		return rc;
	case KV_PATH_SETATTR:
		rc = kv_setattr(p, pc.ino, pc.mask, &pc.attr, &o->attr);
		inval_file(d, pc.ino);
		kv_pool_log_change(p, pc.ino);
		return rc;
	case KV_PATH_SETXATTR:
	case KV_PATH_REMOVEXATTR:
	case KV_PATH_SYMLINK:
		return serve_named(d, &pc, name, o);
	case KV_PATH_FALLOCATE:
		rc = kv_fallocate(p, pc.ino, (int)pc.flags, pc.off, pc.attr.size);
		inval_file(d, pc.ino);
		kv_pool_log_change(p, pc.ino);
		return rc;
	}
	return -EPROTO;
}

/* Run one call from a box (copied out first: the box is input). Return: 0 or -errno. */
/* Every block of a commit the leader before us may have run is a live file now. */
static bool committed_before(struct kv_pool *p, const uint64_t *inos, uint64_t n)
{
	struct kv_attr a;
	uint64_t i;

	for (i = 0; i < n; i++)
		if (kv_getattr(p, inos[i], &a) || !S_ISREG(a.mode))
			return false;
	return n > 0;
}

static int serve_one(struct kv_daemon *d, const uint8_t *in, uint32_t op, uint32_t len,
		     bool maybe_run, uint8_t *out, uint32_t *out_len)
{
	struct kv_pool *p = d->pool;
	uint64_t n;
	int rc;

	*out_len = 0;
	if (op == KV_RPC_PATH) {
		struct kv_rpc_path_out o;

		memset(&o, 0, sizeof(o));
		rc = serve_path(d, in, len, maybe_run, &o);
		kv_pool_cluster_changed(p);
		o.seq = kv_pool_change_seq(p);
		memcpy(out, &o, sizeof(o));
		*out_len = sizeof(o);
		return rc;
	}
	if (op == KV_RPC_RESERVE) {
		struct rpc_reserve r;
		struct rpc_reserved res = { 0, { 0, 0 } };

		if (len != sizeof(r))
			return -EPROTO;
		memcpy(&r, in, sizeof(r));
		if (r.len > KV_NAME_MAX)
			return -EPROTO;
		rc = kv_reserve(p, r.dir, r.name, r.len, r.size, r.uid, r.gid, r.zero != 0,
				&res.ino, &res.ext);
		if (!rc) {
			memcpy(out, &res, sizeof(res));
			*out_len = sizeof(res);
		}
		return rc;
	}
	if (len < 8)
		return -EPROTO;
	memcpy(&n, in, 8);
	if (n > RPC_MAX_INOS || len != 8 + n * 8)
		return -EPROTO;
	if (op == KV_RPC_ABORT) {
		kv_abort(p, (const uint64_t *)(in + 8), n);
		return 0;
	}
	if (op != KV_RPC_COMMIT)
		return -EPROTO;
	rc = kv_commit(p, (const uint64_t *)(in + 8), n, out + 8);
	if (rc && maybe_run && committed_before(p, (const uint64_t *)(in + 8), n)) {
		memset(out + 8, 1, n); /* the leader before us published them */
		rc = 0;
	}
	for (uint64_t i = 0; !rc && i < n; i++) { /* the leader's kernel may cache them absent */
		char name[KV_NAME_MAX + 1];
		uint64_t parent;
		int l = kv_name(p, ((const uint64_t *)(in + 8))[i], name, sizeof(name), &parent);

		if (l > 0)
			inval_new_name(d, parent, name, (size_t)l);
	}
	if (!rc) {
		uint64_t seq;

		kv_pool_cluster_changed(p);
		seq = kv_pool_change_seq(p);
		memcpy(out, &seq, 8);
		*out_len = (uint32_t)(8 + n);
	}
	return rc;
}

/*
 * For the failover test alone (test_cluster.sh): a leader mounted with
 * KVFS_TEST_LEADER_DIES_AFTER_RUN=1 in its environment exits right after it
 * has run a forwarded change (through the mount, or a fast-path commit),
 * before answering it.
 */
static int fault_exit_after_run = -1;

int kv_rpc_serve(struct kv_daemon *d, uint64_t epoch)
{
	struct kv_pool *p = d->pool;
	static uint8_t in[sizeof(((struct kv_rpc_box *)0)->data)];
	static uint8_t out[sizeof(((struct kv_rpc_box *)0)->data)];
	int slot, served = 0;

	if (fault_exit_after_run < 0) /* one server thread: no race */
		fault_exit_after_run = getenv("KVFS_TEST_LEADER_DIES_AFTER_RUN") != NULL;

	for (slot = 0; slot < KV_CLUSTER_SLOTS; slot++) {
		struct kv_rpc_box *box = kv_pool_rpc_box(p, slot);
		uint64_t seq;
		uint32_t len, op, out_len = 0;
		bool maybe_run;
		int rc;

		kv_coh_invalidate(box, 64);
		seq = atomic_load_explicit((_Atomic uint64_t *)&box->req_seq, memory_order_acquire);
		if (seq == atomic_load((_Atomic uint64_t *)&box->resp_seq))
			continue;
		op = box->op;
		len = box->len;
		/* taken by a leader before us, which died before answering: it may have run */
		maybe_run = atomic_load((_Atomic uint64_t *)&box->taken_seq) == seq;
		atomic_store((_Atomic uint64_t *)&box->taken_seq, seq);
		kv_coh_flush(&box->taken_seq, sizeof(box->taken_seq));
		if (len > sizeof(in)) {
			rc = -EPROTO;
		} else {
			kv_coh_invalidate(box->data, len);
			memcpy(in, box->data, len);
			rc = serve_one(d, in, op, len, maybe_run, out, &out_len);
		}
		if (fault_exit_after_run && (op == KV_RPC_PATH || op == KV_RPC_COMMIT) && !maybe_run)
			_exit(9); /* tests: die between the change and its answer */
		memcpy(box->data, out, out_len);
		box->resp_len = out_len;
		box->status = rc;
		box->epoch = epoch;
		kv_coh_flush(box, 64 + (size_t)out_len);
		atomic_store_explicit((_Atomic uint64_t *)&box->resp_seq, seq,
				      memory_order_release);
		kv_coh_flush(&box->resp_seq, sizeof(box->resp_seq));
		served++;
	}
	return served;
}
