// SPDX-License-Identifier: MIT
/*
 * xattrs.c - the FUSE extended-attribute handlers. Names under "user." are
 * stored in the pool (mm/); "user.kvfs.*" are kvfs's own and read-only
 * (special.c answers them), except the per-directory policy ones (kvfs(7)),
 * which are stored like any other. Each handler sends one reply.
 */
#include "daemon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* kvfs's read-only xattrs; the policy ones (kvfs(7)) are stored like any other */
static bool own_xattr(const char *name)
{
	return strncmp(name, "user.kvfs.", 10) == 0 && strcmp(name, KV_XATTR_EVICT) != 0 &&
	       strcmp(name, KV_XATTR_QUOTA) != 0;
}

/* What a change of xattr @name may not do (daemon.h); a cluster follower asks too. */
bool kv_user_xattr_refused_reply(fuse_req_t req, struct kv_daemon *d, fuse_ino_t ino_node,
				 const char *name)
{
	int err = 0;

	if (kv_node_stale(d, ino_node))
		err = ESTALE;
	else if (kv_is_virtual(d, kv_node_ino(ino_node)) || own_xattr(name))
		err = EPERM;
	else if (strncmp(name, "user.", 5) != 0)
		err = ENOTSUP;
	if (err)
		fuse_reply_err(req, err);
	return err != 0;
}

/*
 * A directory's xattrs are the pool owner's (or uid 0's) to set: `never`
 * makes every file below unevictable, past any share, and a directory
 * that carries an xattr (a policy, or anything else) is never reclaimed,
 * so another user's empty directories with one would take every inode
 * record of the pool for good (kvfs(7), TRUST MODEL). Files are anyone's
 * who may write them: they are evicted with their xattrs.
 */
static bool dir_xattr_refused(struct kv_daemon *d, fuse_req_t req, uint64_t ino)
{
	uid_t uid = fuse_req_ctx(req)->uid;
	struct kv_attr a;

	return uid != 0 && uid != d->pool_owner && kv_getattr(d->pool, ino, &a) == 0 &&
	       S_ISDIR(a.mode);
}

/* setxattr: reply_err(0, EPERM, ENOTSUP, EEXIST, ENODATA, E2BIG, ENOSPC, EINVAL (a bad policy)) */
void kv_op_setxattr(fuse_req_t req, fuse_ino_t ino_node, const char *name, const char *value,
		    size_t size, int flags)
{
	uint64_t ino = kv_node_ino(ino_node);
	struct kv_daemon *d = KV_DAEMON(req);

	if (kv_user_xattr_refused_reply(req, d, ino_node, name))
		return;
	if (dir_xattr_refused(d, req, ino)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fuse_reply_err(req, -kv_setxattr(d->pool, ino, name, value, size, flags));
}

/* getxattr: reply_xattr (size probe), reply_buf, reply_err(ENODATA, ENOTSUP, ERANGE) */
void kv_op_getxattr(fuse_req_t req, fuse_ino_t ino_node, const char *name, size_t size)
{
	uint64_t ino = kv_node_ino(ino_node);
	struct kv_daemon *d = KV_DAEMON(req);
	char *buf = size ? malloc(size) : NULL;
	ssize_t n;

	if (kv_node_stale(d, ino_node)) {
		free(buf);
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (own_xattr(name) || kv_is_virtual(d, ino))
		n = kv_special_getxattr(d, ino, name, buf, size);
	else if (strncmp(name, "user.", 5) == 0)
		n = kv_getxattr(d->pool, ino, name, buf, size);
	else /* a namespace kvfs keeps nothing in, as setxattr says: tools stop asking */
		n = -ENOTSUP;
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else if (!size)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

/*
 * listxattr: reply_xattr (size probe), reply_buf, reply_err(ERANGE, ENOTSUP)
 * The attributes stored on the file, set by setxattr; the computed ones
 * (user.kvfs.extents, .pool, .uuid) are read by name. Nothing stored is
 * ENOTSUP, not an empty list: GNU ls -l (coreutils 9.4 on) asks listxattr
 * of every file it lists and stops asking a filesystem only once it answers
 * ENOTSUP (100k files on an H200 host: 1.55 s, 0.33 s without the round
 * trips, tests/device/run-probe.sh); cp, rsync and Python's shutil read
 * ENOTSUP as "no attributes" (tar --xattrs warns, and archives the file).
 */
void kv_op_listxattr(fuse_req_t req, fuse_ino_t ino_node, size_t size)
{
	uint64_t ino = kv_node_ino(ino_node);
	struct kv_daemon *d = KV_DAEMON(req);
	ssize_t n = kv_is_virtual(d, ino) ? 0 : kv_listxattr(d->pool, ino, NULL, 0);
	char *buf;

	if (kv_node_stale(d, ino_node)) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (n <= 0) {
		fuse_reply_err(req, n ? (int)-n : ENOTSUP);
		return;
	}
	if (!size) {
		fuse_reply_xattr(req, (size_t)n);
		return;
	}
	if (size < (size_t)n) {
		fuse_reply_err(req, ERANGE);
		return;
	}
	buf = malloc((size_t)n);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = kv_listxattr(d->pool, ino, buf, (size_t)n);
	if (n < 0) /* grew meanwhile (ERANGE: the caller asks again) or went */
		fuse_reply_err(req, (int)-n);
	else if (!n)
		fuse_reply_err(req, ENOTSUP);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

/* removexattr: reply_err(0, ENODATA, EPERM) */
void kv_op_removexattr(fuse_req_t req, fuse_ino_t ino_node, const char *name)
{
	uint64_t ino = kv_node_ino(ino_node);
	struct kv_daemon *d = KV_DAEMON(req);

	if (kv_user_xattr_refused_reply(req, d, ino_node, name))
		return;
	fuse_reply_err(req, -kv_removexattr(d->pool, ino, name));
}
