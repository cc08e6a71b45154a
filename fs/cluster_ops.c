// SPDX-License-Identifier: MIT
/*
 * cluster_ops.c - the FUSE ops of a cluster node: each calls the one-host op
 * of kv_fuse_ops (daemon.c) holding the node's view lock shared, so that
 * fs/cluster.c can swap the pool under it; an op that changes the pool
 * (metadata or file bytes) first asks whether this node is the leader with a
 * live lease and answers EROFS when not (a follower, or a leader that lost
 * etcd or was fenced; .kvfs/stats says which). Fast-path lookups and pins
 * (.kvfs/ctl) work on every node; reservations and commits only on the leader.
 * Nothing here may block but on that lock.
 */
#include "cluster.h"
#include "cluster_rpc.h"
#include "daemon.h"
#include "kvfs_abi.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#define D(req) ((struct kv_daemon *)fuse_req_userdata(req))

/* May this request change the pool? Replies EROFS when not. */
static bool writable(fuse_req_t req)
{
	if (kv_cluster_may_write(D(req)))
		return true;
	fuse_reply_err(req, EROFS);
	return false;
}

#define WRAP(call)                                                                                 \
	do {                                                                                       \
		struct kv_daemon *d__ = D(req);                                                    \
		kv_cluster_enter(d__);                                                             \
		call;                                                                              \
		kv_cluster_leave(d__);                                                             \
	} while (0)
/* an op that may change the pool on a leader (a release trims, a forget frees) */
#define WRAP_C(call)                                                                               \
	do {                                                                                       \
		struct kv_daemon *d__ = D(req);                                                    \
		kv_cluster_enter(d__);                                                             \
		call;                                                                              \
		kv_pool_cluster_changed(d__->pool);                                                \
		kv_cluster_leave(d__);                                                             \
	} while (0)
#define WRAP_W(call)                                                                               \
	do {                                                                                       \
		struct kv_daemon *d__ = D(req);                                                    \
		kv_cluster_enter(d__);                                                             \
		if (writable(req)) {                                                               \
			call;                                                                      \
			kv_pool_cluster_changed(d__->pool);                                        \
		}                                                                                  \
		kv_cluster_leave(d__);                                                             \
	} while (0)

/* --- a follower's changes through its mount, run by the leader (cluster_rpc.c) --- */

#define KV_CLUSTER_FH  (1ull << 62) /* fi->fh of a file a follower opened to write */
#define KV_CLUSTER_RFH (1ull << 61) /* a mark on the fh of a file opened to read, held node-wide
				     (handles.c leaves a fh's top bits free) */
#define KV_WRITE_CHUNK (60u << 10) /* bytes per forwarded write: one mailbox */
#define KV_XATTR_VALUE_FWD_MAX (KV_WRITE_CHUNK - KV_NAME_MAX) /* a value that fits with its name */

/* Run @pc on the leader; the view lock is held meanwhile (the mailbox is in the view). */
static int forward(fuse_req_t req, struct kv_rpc_path *pc, const void *data, size_t len,
		   struct kv_rpc_path_out *o)
{
	struct kv_daemon *d = D(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	int rc;

	pc->uid = ctx->uid;
	pc->gid = ctx->gid;
	kv_cluster_enter_store(d);
	rc = kv_cluster_path(d, pc, data, len, o);
	kv_cluster_leave(d);
	return rc;
}

static void entry_of(const struct kv_attr *a, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = kv_node(a->ino, a->gen);
	e->generation = a->gen;
	kv_stat_from_attr(a, &e->attr); /* timeouts 0: a follower's kernel asks again */
}

/* create (with @fi) or mkdir: reply_create or reply_entry, reply_err(any of the leader's) */
static void fwd_make(fuse_req_t req, fuse_ino_t parent, const char *name, uint32_t mode,
		     struct fuse_file_info *fi)
{
	struct kv_rpc_path pc = { .what = KV_PATH_CREATE,
				  .ino = kv_node_ino(parent),
				  .mode = mode };
	struct kv_rpc_path_out o;
	struct fuse_entry_param e;
	int rc;

	pc.len = (uint32_t)strlen(name);
	pc.open = fi != NULL;
	if (kv_node_ino(parent) == FUSE_ROOT_ID && strcmp(name, KV_CTL_DIRNAME) == 0) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	rc = forward(req, &pc, name, pc.len, &o);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	entry_of(&o.attr, &e);
	if (!fi) {
		fuse_reply_entry(req, &e);
		return;
	}
	fi->fh = KV_CLUSTER_FH;
	fi->direct_io = 1;
	if (fuse_reply_create(req, &e, fi)) { /* the caller went away: let go on the leader */
		struct kv_rpc_path rel = { .what = KV_PATH_RELEASE, .ino = o.attr.ino };

		forward(req, &rel, NULL, 0, &o);
	}
}

/* open to write: reply_open, reply_err */
static void fwd_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct kv_rpc_path pc = { .what = KV_PATH_OPEN, .ino = kv_node_ino(ino) };
	struct kv_rpc_path_out o;
	int rc;

	pc.gen = kv_node_gen(ino);
	pc.trunc = (fi->flags & O_TRUNC) != 0;
	rc = forward(req, &pc, NULL, 0, &o);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = KV_CLUSTER_FH;
	fi->direct_io = 1;
	if (fuse_reply_open(req, fi)) {
		pc.what = KV_PATH_RELEASE;
		forward(req, &pc, NULL, 0, &o);
	}
}

/* write of a file opened on a follower: reply_write, reply_err */
static void fwd_write(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off)
{
	size_t total = fuse_buf_size(bufv), done = 0;
	struct fuse_bufvec dst = FUSE_BUFVEC_INIT(total);
	struct kv_rpc_path_out o;
	char *buf = malloc(total ? total : 1);
	ssize_t got;
	int rc = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	dst.buf[0].mem = buf;
	got = fuse_buf_copy(&dst, bufv, 0);
	if (got < 0 || (size_t)got != total)
		rc = got < 0 ? (int)got : -EIO;
	while (!rc && done < total) {
		size_t n = total - done < KV_WRITE_CHUNK ? total - done : KV_WRITE_CHUNK;
		struct kv_rpc_path pc = { .what = KV_PATH_WRITE, .ino = kv_node_ino(ino) };

		pc.off = (uint64_t)off + done;
		rc = forward(req, &pc, buf + done, n, &o);
		done += rc ? 0 : o.written;
		if (!rc && o.written < n)
			break;
	}
	free(buf);
	if (done || !rc)
		fuse_reply_write(req, done);
	else
		fuse_reply_err(req, -rc);
}

/* release of a file opened on a follower: reply_err(0) */
static void fwd_release(fuse_req_t req, fuse_ino_t ino)
{
	struct kv_rpc_path pc = { .what = KV_PATH_RELEASE, .ino = kv_node_ino(ino) };
	struct kv_rpc_path_out o;

	forward(req, &pc, NULL, 0, &o);
	fuse_reply_err(req, 0);
}

/* unlink, rmdir, rename: reply_err */
static void fwd_names(fuse_req_t req, uint32_t what, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname, unsigned flags)
{
	struct kv_rpc_path pc = { .what = what, .ino = kv_node_ino(parent), .flags = flags };
	struct kv_rpc_path_out o;
	char names[2 * (KV_NAME_MAX + 1)];

	pc.len = (uint32_t)strlen(name);
	pc.len2 = newname ? (uint32_t)strlen(newname) : 0;
	pc.ino2 = kv_node_ino(newparent);
	if (pc.len > KV_NAME_MAX || pc.len2 > KV_NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	memcpy(names, name, pc.len);
	memcpy(names + pc.len, newname ? newname : "", pc.len2);
	fuse_reply_err(req, -forward(req, &pc, names, pc.len + pc.len2, &o));
}

/*
 * setxattr, removexattr, symlink: a name, then (but for removexattr) the
 * value or the link's target, in one mailbox. Return: as forward(), with
 * the new link's attributes in *@o.
 */
static int fwd_named(fuse_req_t req, uint32_t what, fuse_ino_t ino, const char *name,
		     const void *more, size_t more_len, int flags, struct kv_rpc_path_out *o)
{
	struct kv_rpc_path pc = { .what = what, .ino = kv_node_ino(ino), .flags = (uint32_t)flags };
	char *buf;
	int rc;

	pc.len = (uint32_t)strlen(name);
	if (pc.len > KV_NAME_MAX)
		return -ENAMETOOLONG;
	if (more_len > KV_XATTR_VALUE_FWD_MAX)
		return what == KV_PATH_SYMLINK ? -ENAMETOOLONG : -E2BIG;
	buf = malloc(pc.len + more_len + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, name, pc.len);
	if (more_len)
		memcpy(buf + pc.len, more, more_len);
	rc = forward(req, &pc, buf, pc.len + more_len, o);
	free(buf);
	return rc;
}

static int64_t ns_of(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* setattr: reply_attr, reply_err */
static void fwd_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *st, int to_set)
{
	struct kv_rpc_path pc = { .what = KV_PATH_SETATTR, .ino = kv_node_ino(ino) };
	struct kv_rpc_path_out o;
	struct timespec now;
	struct stat out;
	int rc;

	clock_gettime(CLOCK_REALTIME, &now);
	pc.mask = (to_set & FUSE_SET_ATTR_MODE ? KV_SET_MODE : 0) |
		  (to_set & FUSE_SET_ATTR_UID ? KV_SET_UID : 0) |
		  (to_set & FUSE_SET_ATTR_GID ? KV_SET_GID : 0) |
		  (to_set & FUSE_SET_ATTR_SIZE ? KV_SET_SIZE : 0) |
		  (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW) ? KV_SET_ATIME : 0) |
		  (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW) ? KV_SET_MTIME : 0);
	pc.attr.mode = st->st_mode;
	pc.attr.uid = st->st_uid;
	pc.attr.gid = st->st_gid;
	pc.attr.size = (uint64_t)st->st_size;
	pc.attr.atime_ns = to_set & FUSE_SET_ATTR_ATIME_NOW ? ns_of(&now) : ns_of(&st->st_atim);
	pc.attr.mtime_ns = to_set & FUSE_SET_ATTR_MTIME_NOW ? ns_of(&now) : ns_of(&st->st_mtim);
	rc = forward(req, &pc, NULL, 0, &o);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	kv_stat_from_attr(&o.attr, &out);
	fuse_reply_attr(req, &out, 0);
}

static void c_init(void *userdata, struct fuse_conn_info *conn)
{
	kv_fuse_ops.init(userdata, conn);
}

static void c_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	WRAP(kv_fuse_ops.lookup(req, parent, name));
}

static void c_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	WRAP_C(kv_fuse_ops.forget(req, ino, nlookup));
}

static void c_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	WRAP_C(kv_fuse_ops.forget_multi(req, count, forgets));
}

static void c_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	WRAP(kv_fuse_ops.getattr(req, ino, fi));
}

static void c_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *st, int to_set,
		      struct fuse_file_info *fi)
{
	if (kv_cluster_forwards(D(req)) && !kv_is_virtual(D(req), kv_node_ino(ino)))
		return fwd_setattr(req, ino, st, to_set);
	WRAP_W((kv_fuse_ops.setattr(req, ino, st, to_set, fi),
		kv_pool_log_change(d__->pool, kv_node_ino(ino)))); /* followers drop pages */
}

static void c_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	WRAP_W(kv_fuse_ops.mknod(req, parent, name, mode, rdev));
}

static void c_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	if (kv_cluster_forwards(D(req)))
		return fwd_make(req, parent, name, S_IFDIR | (mode & 07777), NULL);
	WRAP_W(kv_fuse_ops.mkdir(req, parent, name, mode));
}

static void c_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (kv_cluster_forwards(D(req)))
		return fwd_names(req, KV_PATH_UNLINK, parent, name, parent, NULL, 0);
	WRAP_W(kv_fuse_ops.unlink(req, parent, name));
}

static void c_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (kv_cluster_forwards(D(req)))
		return fwd_names(req, KV_PATH_RMDIR, parent, name, parent, NULL, 0);
	WRAP_W(kv_fuse_ops.rmdir(req, parent, name));
}

static void c_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	if (kv_cluster_forwards(D(req))) {
		struct kv_rpc_path_out o;
		struct fuse_entry_param e;
		int rc = fwd_named(req, KV_PATH_SYMLINK, parent, name, link, strlen(link), 0, &o);

		if (rc) {
			fuse_reply_err(req, -rc);
			return;
		}
		entry_of(&o.attr, &e);
		fuse_reply_entry(req, &e);
		return;
	}
	WRAP_W(kv_fuse_ops.symlink(req, link, parent, name));
}

static void c_readlink(fuse_req_t req, fuse_ino_t ino)
{
	WRAP(kv_fuse_ops.readlink(req, ino));
}

static void c_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		     const char *newname, unsigned int flags)
{
	if (kv_cluster_forwards(D(req)))
		return fwd_names(req, KV_PATH_RENAME, parent, name, newparent, newname, flags);
	WRAP_W(kv_fuse_ops.rename(req, parent, name, newparent, newname, flags));
}

static void c_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	WRAP_W(kv_fuse_ops.link(req, ino, newparent, newname));
}

/*
 * open to read: on a follower the file is held node-wide first (marked in
 * the pool, where the leader's evictor looks), as a pin is, so its extents
 * are not given to another file while it is open or mapped here.
 */
static void read_open(fuse_req_t req, struct kv_daemon *d, fuse_ino_t ino,
		      struct fuse_file_info *fi)
{
	int held = kv_cluster_hold_file(d, kv_node_ino(ino), kv_node_gen(ino)), rc;

	rc = held < 0 ? held : kv_open_file(d, req, ino, fi);
	if (rc) {
		if (held == 0)
			kv_cluster_unhold_file(d, kv_node_ino(ino));
		fuse_reply_err(req, -rc);
		return;
	}
	if (held == 0)
		fi->fh |= KV_CLUSTER_RFH; /* on the share's handle, if the opener has one */
	if (fuse_reply_open(req, fi)) {
		fi->fh &= ~KV_CLUSTER_RFH;
		kv_open_hold_release(fi);
		kv_release(d->pool, kv_node_ino(ino));
		if (held == 0)
			kv_cluster_unhold_file(d, kv_node_ino(ino));
	}
}

static void c_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* .kvfs/ctl is opened read-write by every client: lookups work everywhere */
	if (((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) &&
	    !kv_is_virtual(D(req), ino) && kv_cluster_forwards(D(req)))
		fwd_open(req, ino, fi);
	else if (((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) &&
		 !kv_is_virtual(D(req), ino))
		WRAP_W((kv_fuse_ops.open(req, ino, fi),
			(fi->flags & O_TRUNC) ? kv_pool_log_change(d__->pool, kv_node_ino(ino))
					      : (void)0));
	else if (!kv_is_virtual(D(req), kv_node_ino(ino)))
		WRAP(read_open(req, d__, ino, fi));
	else
		WRAP(kv_fuse_ops.open(req, ino, fi));
}

static void c_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct kv_daemon *d = D(req);

	kv_cluster_enter(d); /* another host wrote these bytes: drop stale lines (coherence.h) */
	kv_pool_coh_file(d->pool, kv_node_ino(ino), (uint64_t)off, size, false);
	kv_fuse_ops.read(req, ino, size, off, fi);
	kv_cluster_leave(d);
}

static void c_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
			struct fuse_file_info *fi)
{
	size_t len = fuse_buf_size(bufv);

	if (fi->fh == KV_CLUSTER_FH && kv_cluster_forwards(D(req)))
		return fwd_write(req, ino, bufv, off);
	/* the bytes reach memory before anyone is told the file changed */
	WRAP_W((kv_fuse_ops.write_buf(req, ino, bufv, off, fi),
		kv_pool_coh_file(d__->pool, kv_node_ino(ino), (uint64_t)off, len, true),
		kv_pool_log_change(d__->pool, kv_node_ino(ino))));
}

static void c_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (fi->fh == KV_CLUSTER_FH && kv_cluster_forwards(D(req)))
		return fwd_release(req, ino);
	if (fi->fh == KV_CLUSTER_FH) { /* its hold was the leader's of then: gone with it */
		fuse_reply_err(req, 0);
		return;
	}
	if (fi->fh & KV_CLUSTER_RFH) { /* the view's hold goes below, the node's here */
		kv_cluster_unhold_file(D(req), kv_node_ino(ino));
		fi->fh &= ~KV_CLUSTER_RFH;
	}
	WRAP_C(kv_fuse_ops.release(req, ino, fi));
}

/* flush: a leader's writer is whole now; a follower's writes are the leader's, whole at release */
static void c_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (fi->fh == KV_CLUSTER_FH) {
		fuse_reply_err(req, 0);
		return;
	}
	WRAP(kv_fuse_ops.flush(req, ino, fi));
}

static void c_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			struct fuse_file_info *fi)
{
	if (kv_cluster_forwards(D(req))) {
		struct kv_rpc_path pc = { .what = KV_PATH_FALLOCATE, .ino = kv_node_ino(ino) };
		struct kv_rpc_path_out o;

		if (off < 0 || len <= 0) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		pc.flags = (uint32_t)mode;
		pc.off = (uint64_t)off;
		pc.attr.size = (uint64_t)len;
		fuse_reply_err(req, -forward(req, &pc, NULL, 0, &o));
		return;
	}
	WRAP_W((kv_fuse_ops.fallocate(req, ino, mode, off, len, fi),
		kv_pool_log_change(d__->pool, kv_node_ino(ino))));
}

static void c_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	WRAP(kv_fuse_ops.opendir(req, ino, fi));
}

static void c_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	WRAP(kv_fuse_ops.readdir(req, ino, size, off, fi));
}

static void c_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	WRAP(kv_fuse_ops.readdirplus(req, ino, size, off, fi));
}

static void c_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	WRAP(kv_fuse_ops.releasedir(req, ino, fi));
}

static void c_statfs(fuse_req_t req, fuse_ino_t ino)
{
	WRAP(kv_fuse_ops.statfs(req, ino));
}

/* A follower refuses what its own mount would, under the view lock. Return: true if it replied. */
static bool xattr_refused(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct kv_daemon *d = D(req); /* not read from @req once it is answered */
	bool refused;

	kv_cluster_enter(d);
	refused = kv_user_xattr_refused_reply(req, d, ino, name);
	kv_cluster_leave(d);
	return refused;
}

static void c_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		       size_t size, int flags)
{
	struct kv_rpc_path_out o;

	if (!kv_cluster_forwards(D(req)))
		WRAP_W(kv_fuse_ops.setxattr(req, ino, name, value, size, flags));
	else if (!xattr_refused(req, ino, name))
		fuse_reply_err(req, -fwd_named(req, KV_PATH_SETXATTR, ino, name, value, size, flags,
					       &o));
}

static void c_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	WRAP(kv_fuse_ops.getxattr(req, ino, name, size));
}

static void c_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	WRAP(kv_fuse_ops.listxattr(req, ino, size));
}

static void c_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct kv_rpc_path_out o;

	if (!kv_cluster_forwards(D(req)))
		WRAP_W(kv_fuse_ops.removexattr(req, ino, name));
	else if (!xattr_refused(req, ino, name))
		fuse_reply_err(req, -fwd_named(req, KV_PATH_REMOVEXATTR, ino, name, NULL, 0, 0, &o));
}

static void c_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     struct fuse_file_info *fi)
{
	if (kv_cluster_forwards(D(req)))
		return fwd_make(req, parent, name, S_IFREG | (mode & 07777), fi);
	WRAP_W(kv_fuse_ops.create(req, parent, name, mode, fi));
}

static void c_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		    struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
		    size_t out_bufsz)
{
	if ((cmd == KVFS_IOC_RESERVE || cmd == KVFS_IOC_COMMIT) && !kv_cluster_forwards(D(req)))
		WRAP_W(
		    kv_fuse_ops.ioctl(req, ino, cmd, arg, fi, flags, in_buf, in_bufsz, out_bufsz));
	else if (cmd == KVFS_IOC_RESERVE || cmd == KVFS_IOC_COMMIT) { /* forwarded */
		struct kv_daemon *d = D(req); /* req is gone once answered */

		kv_cluster_enter_store(d);
		kv_fuse_ops.ioctl(req, ino, cmd, arg, fi, flags, in_buf, in_bufsz, out_bufsz);
		kv_cluster_leave(d);
	} else
		WRAP_C(
		    kv_fuse_ops.ioctl(req, ino, cmd, arg, fi, flags, in_buf, in_bufsz, out_bufsz));
}

const struct fuse_lowlevel_ops kv_cluster_fuse_ops = {
	.init = c_init,
	.lookup = c_lookup,
	.forget = c_forget,
	.forget_multi = c_forget_multi,
	.getattr = c_getattr,
	.setattr = c_setattr,
	.mknod = c_mknod,
	.mkdir = c_mkdir,
	.unlink = c_unlink,
	.rmdir = c_rmdir,
	.symlink = c_symlink,
	.readlink = c_readlink,
	.rename = c_rename,
	.link = c_link,
	.open = c_open,
	.read = c_read,
	.write_buf = c_write_buf,
	.flush = c_flush,
	.release = c_release,
	.opendir = c_opendir,
	.readdir = c_readdir,
	.readdirplus = c_readdirplus,
	.releasedir = c_releasedir,
	.statfs = c_statfs,
	.setxattr = c_setxattr,
	.getxattr = c_getxattr,
	.listxattr = c_listxattr,
	.removexattr = c_removexattr,
	.create = c_create,
	.fallocate = c_fallocate,
	.ioctl = c_ioctl,
};
