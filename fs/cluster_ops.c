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
#include "daemon.h"
#include "kvfs_abi.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>

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
	WRAP_W(kv_fuse_ops.setattr(req, ino, st, to_set, fi));
}

static void c_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	WRAP_W(kv_fuse_ops.mknod(req, parent, name, mode, rdev));
}

static void c_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	WRAP_W(kv_fuse_ops.mkdir(req, parent, name, mode));
}

static void c_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	WRAP_W(kv_fuse_ops.unlink(req, parent, name));
}

static void c_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	WRAP_W(kv_fuse_ops.rmdir(req, parent, name));
}

static void c_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	WRAP_W(kv_fuse_ops.symlink(req, link, parent, name));
}

static void c_readlink(fuse_req_t req, fuse_ino_t ino)
{
	WRAP(kv_fuse_ops.readlink(req, ino));
}

static void c_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		     const char *newname, unsigned int flags)
{
	WRAP_W(kv_fuse_ops.rename(req, parent, name, newparent, newname, flags));
}

static void c_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	WRAP_W(kv_fuse_ops.link(req, ino, newparent, newname));
}

static void c_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* .kvfs/ctl is opened read-write by every client: lookups work everywhere */
	if (((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) &&
	    !kv_is_virtual(D(req), ino))
		WRAP_W(kv_fuse_ops.open(req, ino, fi));
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

	/* the bytes reach memory before anyone is told the file changed */
	WRAP_W((kv_fuse_ops.write_buf(req, ino, bufv, off, fi),
		kv_pool_coh_file(d__->pool, kv_node_ino(ino), (uint64_t)off, len, true)));
}

static void c_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	WRAP_C(kv_fuse_ops.release(req, ino, fi));
}

static void c_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			struct fuse_file_info *fi)
{
	WRAP_W(kv_fuse_ops.fallocate(req, ino, mode, off, len, fi));
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

static void c_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		       size_t size, int flags)
{
	WRAP_W(kv_fuse_ops.setxattr(req, ino, name, value, size, flags));
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
	WRAP_W(kv_fuse_ops.removexattr(req, ino, name));
}

static void c_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     struct fuse_file_info *fi)
{
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
