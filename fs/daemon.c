// SPDX-License-Identifier: MIT
/*
 * daemon.c - the FUSE low-level operations of kvfs: each request becomes a
 * call on mm/ and one reply. Only this layer turns -errno into replies.
 * Directories are dirs.c's, extended attributes xattrs.c's; the .kvfs
 * directory (stats, metrics, ctl) is answered by special.c, the fast-path
 * ioctls by ctl.c.
 *
 * Handlers must not send kernel notifications themselves (the kernel may
 * hold the directory lock the notification needs while it waits for their
 * reply): what eviction removes is queued for the janitor (janitor.c) by
 * mm/'s evict hook. The one exception is the fast path's commit (ctl.c): an
 * ioctl on the ctl file holds no lock of the namespace directory, and the
 * names it publishes must be visible when the commit returns, which a
 * queued notification would not promise. It sends them after letting go
 * of every lock of its own, before its reply.
 */
#include "daemon.h"
#include "handles.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/xattr.h>

void kv_stat_from_attr(const struct kv_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_size = (off_t)a->size;
	st->st_blksize = 1 << 20; /* tools size their buffers from this: ask for big I/O */
	st->st_blocks = (blkcnt_t)(a->alloc_bytes / 512);
	st->st_atim.tv_sec = a->atime_ns / 1000000000;
	st->st_atim.tv_nsec = a->atime_ns % 1000000000;
	st->st_mtim.tv_sec = a->mtime_ns / 1000000000;
	st->st_mtim.tv_nsec = a->mtime_ns % 1000000000;
	st->st_ctim.tv_sec = a->ctime_ns / 1000000000;
	st->st_ctim.tv_nsec = a->ctime_ns % 1000000000;
}

void kv_fill_entry(const struct kv_attr *a, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = kv_node(a->ino, a->gen);
	e->generation = a->gen;
	kv_stat_from_attr(a, &e->attr);
	e->attr_timeout = KV_CACHE_TIMEOUT;
	e->entry_timeout = KV_CACHE_TIMEOUT;
}

/*
 * Does @node name an earlier life of its record (a file evicted, its record
 * reused)? Then the request is about a file that is gone: ESTALE. The root
 * and the virtual files have one life.
 */
bool kv_node_stale(struct kv_daemon *d, uint64_t node)
{
	uint64_t ino = kv_node_ino(node);

	if (node == FUSE_ROOT_ID || kv_is_virtual(d, ino))
		return false;
	return (kv_gen(d->pool, ino) & KV_NODE_GEN_MASK) != kv_node_gen(node);
}

/* The name ".kvfs" in the root belongs to kvfs. */
static bool reserved_name(uint64_t parent, const char *name)
{
	return parent == FUSE_ROOT_ID && strcmp(name, KV_CTL_DIRNAME) == 0;
}

/*
 * lookup: reply_entry (also a negative entry with ino 0, which the kernel
 * caches: absent names are asked for often), reply_err(ENAMETOOLONG, ENOTDIR)
 */
static void op_lookup(fuse_req_t req, fuse_ino_t parent_node, const char *name)
{
	uint64_t parent = kv_node_ino(parent_node);
	struct kv_daemon *d = KV_DAEMON(req);
	struct fuse_entry_param e;
	struct kv_attr a;
	int rc;

	if (kv_node_stale(d, parent_node)) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (kv_is_virtual(d, parent) || reserved_name(parent, name)) {
		rc = kv_special_lookup(d, parent, name, &e);
		if (rc)
			fuse_reply_err(req, -rc);
		else
			fuse_reply_entry(req, &e);
		return;
	}
	kv_neg_note(d, parent_node, name, strlen(name));
	rc = kv_lookup(d->pool, parent, name, strlen(name), &a);
	if (rc == -ENOENT) {
		memset(&e, 0, sizeof(e));
		e.entry_timeout = KV_CACHE_TIMEOUT;
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	kv_fill_entry(&a, &e);
	if (fuse_reply_entry(req, &e))
		kv_forget(d->pool, a.ino, 1);
}

/* forget: reply_none */
static void op_forget(fuse_req_t req, fuse_ino_t ino_node, uint64_t nlookup)
{
	uint64_t ino = kv_node_ino(ino_node);
	struct kv_daemon *d = KV_DAEMON(req);

	if (!kv_is_virtual(d, ino))
		kv_forget(d->pool, ino, nlookup);
	fuse_reply_none(req);
}

/* forget_multi: reply_none */
static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct kv_daemon *d = KV_DAEMON(req);
	size_t i;

	for (i = 0; i < count; i++)
		if (!kv_is_virtual(d, forgets[i].ino))
			kv_forget(d->pool, kv_node_ino(forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

/* getattr: reply_attr, reply_err(ENOENT) */
static void op_getattr(fuse_req_t req, fuse_ino_t ino_node, struct fuse_file_info *fi)
{
	uint64_t ino = kv_node_ino(ino_node);
	struct kv_daemon *d = KV_DAEMON(req);
	struct kv_attr a;
	struct stat st;
	int rc;

	if (kv_node_stale(d, ino_node)) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (kv_is_virtual(d, ino)) {
		rc = kv_special_getattr(d, ino, &st);
	} else {
		rc = kv_getattr(d->pool, ino, &a);
		if (!rc)
			kv_stat_from_attr(&a, &st);
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, KV_CACHE_TIMEOUT);
}

/* setattr: reply_attr, reply_err(ENOENT, EFBIG, ENOSPC, EISDIR, EPERM) */
static void op_setattr(fuse_req_t req, fuse_ino_t ino_node, struct stat *st, int to_set,
		       struct fuse_file_info *fi)
{
	uint64_t ino = kv_node_ino(ino_node);
	struct kv_daemon *d = KV_DAEMON(req);
	struct kv_attr in = { 0 }, out;
	struct stat reply;
	unsigned mask = 0;
	int64_t now = 0;
	int rc;

	if (kv_node_stale(d, ino_node)) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (kv_is_virtual(d, ino)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	}
	if (to_set & FUSE_SET_ATTR_MODE) {
		mask |= KV_SET_MODE;
		in.mode = st->st_mode;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		mask |= KV_SET_UID;
		in.uid = st->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		mask |= KV_SET_GID;
		in.gid = st->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		struct kv_attr cur;

		mask |= KV_SET_SIZE;
		in.size = (uint64_t)st->st_size;
		/* another user's file grows: within its share (access.c) */
		rc = fuse_req_ctx(req)->uid == d->pool_owner || kv_getattr(d->pool, ino, &cur) ||
			     in.size <= cur.size
			 ? 0
			 : kv_open_hold_grow(d, req, fi, in.size);
		if (rc) {
			fuse_reply_err(req, -rc);
			return;
		}
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) {
		mask |= KV_SET_ATIME;
		in.atime_ns = (to_set & FUSE_SET_ATTR_ATIME_NOW)
				  ? now
				  : (int64_t)st->st_atim.tv_sec * 1000000000 + st->st_atim.tv_nsec;
	}
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
		mask |= KV_SET_MTIME;
		in.mtime_ns = (to_set & FUSE_SET_ATTR_MTIME_NOW)
				  ? now
				  : (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	}
	if (to_set & FUSE_SET_ATTR_CTIME) {
		mask |= KV_SET_CTIME;
		in.ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
	}
	rc = kv_setattr(d->pool, ino, mask, &in, &out);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (mask & KV_SET_SIZE)
		kv_janitor_kick(d);
	kv_stat_from_attr(&out, &reply);
	fuse_reply_attr(req, &reply, KV_CACHE_TIMEOUT);
}

/*
 * How the kernel caches a file's pages for this open (kvfs(7), CACHING).
 * Pages stay valid across opens (keep_cache): anything kvfs changes itself,
 * it invalidates. A write-only open (an engine storing a block) bypasses the
 * page cache: its bytes go straight from the writer's buffer to the pool,
 * one copy, and do not sit in RAM a second time. (A write-only descriptor
 * cannot be mapped, so nothing mmap needs is lost.)
 */
static void set_cache_mode(struct fuse_file_info *fi)
{
	fi->keep_cache = 1;
	if ((fi->flags & O_ACCMODE) == O_WRONLY)
		fi->direct_io = 1;
}

/*
 * Create a file, directory or symbolic link (to @link) and reply with its
 * entry (and open it for create).
 */
static void make_node_reply(fuse_req_t req, fuse_ino_t parent_node, const char *name, mode_t mode,
			    struct fuse_file_info *fi, const char *link)
{
	uint64_t parent = kv_node_ino(parent_node);
	struct kv_daemon *d = KV_DAEMON(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fuse_entry_param e;
	struct kv_attr a;
	int rc;

	if (kv_node_stale(d, parent_node)) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (kv_is_virtual(d, parent)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (reserved_name(parent, name)) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	/* an open file is held: another user's share must allow it before it exists */
	rc = fi ? kv_open_hold_new(d, req, 0, fi) : 0;
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (link)
		rc = kv_symlink(d->pool, parent, name, strlen(name), link, ctx->uid, ctx->gid, &a);
	else
		rc = kv_create(d->pool, parent, name, strlen(name), mode & ~ctx->umask, ctx->uid,
			       ctx->gid, &a);
	if (rc) {
		if (fi)
			kv_open_hold_release(fi);
		fuse_reply_err(req, -rc);
		return;
	}
	kv_fill_entry(&a, &e);
	if (fi) {
		rc = kv_open(d->pool, a.ino);
		if (rc) {
			kv_open_hold_release(fi);
			kv_forget(d->pool, a.ino, 1);
			fuse_reply_err(req, -rc);
			return;
		}
		set_cache_mode(fi);
		if (fuse_reply_create(req, &e, fi)) {
			kv_open_hold_release(fi);
			kv_release(d->pool, a.ino);
			kv_forget(d->pool, a.ino, 1);
		}
		return;
	}
	if (S_ISDIR(mode))
		kv_janitor_kick(d); /* records may be running low: idle directories */
	if (fuse_reply_entry(req, &e))
		kv_forget(d->pool, a.ino, 1);
}

/* mkdir: reply_entry, reply_err(EEXIST, ENOSPC, ENAMETOOLONG, ENOENT) */
static void op_mkdir(fuse_req_t req, fuse_ino_t parent_node, const char *name, mode_t mode)
{
	make_node_reply(req, parent_node, name, S_IFDIR | (mode & 07777), NULL, NULL);
}

/* mknod: reply_entry for regular files; reply_err(EPERM) for devices, fifos, sockets */
static void op_mknod(fuse_req_t req, fuse_ino_t parent_node, const char *name, mode_t mode,
		     dev_t rdev)
{
	if (!S_ISREG(mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	make_node_reply(req, parent_node, name, mode, NULL, NULL);
}

/* create: reply_create, reply_err(EEXIST, ENOSPC, ENAMETOOLONG) */
static void op_create(fuse_req_t req, fuse_ino_t parent_node, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	make_node_reply(req, parent_node, name, S_IFREG | (mode & 07777), fi, NULL);
}

/* symlink: reply_entry, reply_err(EEXIST, ENOSPC, ENAMETOOLONG, ENOENT, EPERM) */
static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent_node, const char *name)
{
	make_node_reply(req, parent_node, name, S_IFLNK | 0777, NULL, link);
}

/* readlink: reply_readlink, reply_err(EINVAL, ENOENT) */
static void op_readlink(fuse_req_t req, fuse_ino_t ino_node)
{
	uint64_t ino = kv_node_ino(ino_node);
	struct kv_daemon *d = KV_DAEMON(req);
	char buf[KV_SYMLINK_MAX + 1];
	ssize_t n;

	if (kv_node_stale(d, ino_node)) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (kv_is_virtual(d, ino)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	n = kv_readlink(d->pool, ino, buf, KV_SYMLINK_MAX);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	buf[n] = 0;
	fuse_reply_readlink(req, buf);
}

/* link: reply_err(EPERM): kvfs has no hard links (a name lives in its inode) */
static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	fuse_reply_err(req, EPERM);
}

/* unlink: reply_err(0, ENOENT, EISDIR, EPERM) */
static void op_unlink(fuse_req_t req, fuse_ino_t parent_node, const char *name)
{
	uint64_t parent = kv_node_ino(parent_node);
	struct kv_daemon *d = KV_DAEMON(req);

	if (kv_node_stale(d, parent_node)) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (kv_is_virtual(d, parent) || reserved_name(parent, name)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fuse_reply_err(req, -kv_unlink(d->pool, parent, name, strlen(name)));
}

/* rmdir: reply_err(0, ENOENT, ENOTDIR, ENOTEMPTY, EPERM) */
static void op_rmdir(fuse_req_t req, fuse_ino_t parent_node, const char *name)
{
	uint64_t parent = kv_node_ino(parent_node);
	struct kv_daemon *d = KV_DAEMON(req);

	if (kv_node_stale(d, parent_node)) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (kv_is_virtual(d, parent) || reserved_name(parent, name)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fuse_reply_err(req, -kv_rmdir(d->pool, parent, name, strlen(name)));
}

/* rename: reply_err(0, ENOENT, EEXIST, EINVAL, EISDIR, ENOTDIR, ENOTEMPTY, EPERM) */
static void op_rename(fuse_req_t req, fuse_ino_t parent_node, const char *name,
		      fuse_ino_t newparent_node, const char *newname, unsigned int flags)
{
	uint64_t parent = kv_node_ino(parent_node);
	uint64_t newparent = kv_node_ino(newparent_node);
	struct kv_daemon *d = KV_DAEMON(req);
	uint64_t replaced;

	if (kv_node_stale(d, parent_node) || kv_node_stale(d, newparent_node)) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (kv_is_virtual(d, parent) || kv_is_virtual(d, newparent) ||
	    reserved_name(parent, name) || reserved_name(newparent, newname)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fuse_reply_err(req, -kv_rename(d->pool, parent, name, strlen(name), newparent, newname,
				       strlen(newname), flags, &replaced));
}

/*
 * An open whose inode went stale (replaced by a rename, unlinked or evicted
 * after the kernel resolved it) answers ESTALE: the kernel then looks the
 * name up again and retries once, so an open racing with rename-over sees
 * the new file. A second ESTALE would reach the application, so when the
 * retry (the same thread's next open, within a moment) is stale too, it
 * answers ENOENT: a clean miss, as for any evicted block.
 */
#define KV_STALE_SLOTS	  64
#define KV_STALE_RETRY_NS (200 * 1000000LL)

static struct {
	pthread_mutex_t lock;
	struct {
		pid_t tid;
		int64_t ns;
	} slot[KV_STALE_SLOTS];
} stale = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* @tid's open found @is_stale: the errno to answer (0 when not stale). */
static int stale_open_errno(pid_t tid, bool is_stale)
{
	struct timespec ts;
	int64_t now;
	int i = (int)((unsigned)tid % KV_STALE_SLOTS), rc = 0;
	bool retry;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = ts.tv_sec * 1000000000LL + ts.tv_nsec;
	pthread_mutex_lock(&stale.lock);
	retry = stale.slot[i].tid == tid && now - stale.slot[i].ns < KV_STALE_RETRY_NS;
	if (retry)
		stale.slot[i].tid = 0;
	if (is_stale && !retry) {
		stale.slot[i].tid = tid;
		stale.slot[i].ns = now;
		rc = ESTALE;
	} else if (is_stale) {
		rc = ENOENT;
	}
	pthread_mutex_unlock(&stale.lock);
	return rc;
}

/* open: reply_open, reply_err(ENOENT, ESTALE (see above), EISDIR) */
/* An open file cannot be evicted: another user's counts against its share. */
static int open_hold(struct kv_daemon *d, fuse_req_t req, uint64_t ino, struct fuse_file_info *fi)
{
	struct kv_attr a = { .size = 0 };

	if (fuse_req_ctx(req)->uid != d->pool_owner && kv_getattr(d->pool, ino, &a))
		a.size = 0;
	return kv_open_hold_new(d, req, a.size, fi);
}

int kv_open_file(struct kv_daemon *d, fuse_req_t req, fuse_ino_t ino_node,
		 struct fuse_file_info *fi)
{
	uint64_t ino = kv_node_ino(ino_node);
	int rc = kv_open_gen(d->pool, ino, kv_node_gen(ino_node), KV_NODE_GEN_MASK);

	if (rc == -ESTALE || !rc) {
		int stale_rc = stale_open_errno(fuse_req_ctx(req)->pid, rc == -ESTALE);

		if (stale_rc) {
			if (!rc)
				kv_release(d->pool, ino);
			return -stale_rc;
		}
	}
	if (rc)
		return rc;
	if (fi->flags & O_TRUNC) {
		struct kv_attr in = { .size = 0 }, out;

		rc = kv_setattr(d->pool, ino, KV_SET_SIZE, &in, &out);
		if (rc) {
			kv_release(d->pool, ino);
			return rc;
		}
	}
	rc = open_hold(d, req, ino, fi);
	if (rc) {
		kv_release(d->pool, ino);
		return rc;
	}
	set_cache_mode(fi);
	/* a reader has nothing to flush: no round trip on its close (a writer's
	 * close still writes back dirty pages of a mapping, kernel side) */
	if ((fi->flags & O_ACCMODE) == O_RDONLY)
		fi->noflush = 1;
	return 0;
}

static void op_open(fuse_req_t req, fuse_ino_t ino_node, struct fuse_file_info *fi)
{
	uint64_t ino = kv_node_ino(ino_node);
	struct kv_daemon *d = KV_DAEMON(req);
	int rc;

	if (kv_is_virtual(d, ino)) {
		kv_special_open_reply(d, req, ino, fi);
		return;
	}
	rc = kv_open_file(d, req, ino_node, fi);
	if (rc)
		fuse_reply_err(req, -rc);
	else if (fuse_reply_open(req, fi)) {
		kv_open_hold_release(fi);
		kv_release(d->pool, ino);
	}
}

/* read: reply_data (straight from the pool), reply_err(EISDIR, ENOENT) */
static void op_read(fuse_req_t req, fuse_ino_t ino_node, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	uint64_t ino = kv_node_ino(ino_node);
	struct kv_daemon *d = KV_DAEMON(req);
	struct iovec iov[KV_IOV_MAX];
	ssize_t n;
	int niov;

	if (kv_is_virtual(d, ino)) {
		kv_special_read_reply(d, req, ino, size, off, fi);
		return;
	}
	n = kv_read_iov(d->pool, ino, (uint64_t)off, size, iov, KV_IOV_MAX, &niov);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	fuse_reply_iov(req, iov, niov);
	kv_read_iov_done(d->pool, ino);
}

/*
 * write_buf: reply_write, reply_err(ENOSPC, EFBIG, EPERM, EIO)
 * The payload may still sit in a pipe (splice): it is read straight into
 * the pool's extents, one copy from the kernel to the pool.
 */
static void op_write_buf(fuse_req_t req, fuse_ino_t ino_node, struct fuse_bufvec *bufv, off_t off,
			 struct fuse_file_info *fi)
{
	uint64_t ino = kv_node_ino(ino_node);
	struct kv_daemon *d = KV_DAEMON(req);
	struct iovec iov[KV_IOV_MAX];
	size_t size = fuse_buf_size(bufv), done = 0;
	ssize_t n = 0;
	int niov, i, rc;

	if (kv_is_virtual(d, ino)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	rc = fi->fh ? kv_open_hold_grow(d, req, fi, (uint64_t)off + size) : 0;
	if (!rc)
		rc = kv_write_begin(d->pool, ino, (uint64_t)off, size, iov, KV_IOV_MAX, &niov);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	/*
	 * One destination buffer per call: libfuse 3.14's fuse_buf_copy() can
	 * stop after the first buffer of a multi-buffer destination, and a short
	 * reply to an O_DIRECT write the kernel split in parallel requests comes
	 * back to the application as EIO. @bufv advances in place.
	 */
	for (i = 0; i < niov && done < size; i++) {
		struct fuse_bufvec dst = FUSE_BUFVEC_INIT(iov[i].iov_len);

		dst.buf[0].mem = iov[i].iov_base;
		n = fuse_buf_copy(&dst, bufv, 0);
		if (n < 0)
			break;
		done += (size_t)n;
		if ((size_t)n < iov[i].iov_len)
			break;
	}
	kv_write_end(d->pool, ino, (uint64_t)off, done);
	if (n < 0 && !done) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	if (d->high_watermark < 100)
		kv_janitor_kick(d);
	fuse_reply_write(req, done);
}

/*
 * flush: reply_err(0). The kernel sends it at each close() of a writer
 * (readers' opens say noflush), before close() returns; dirty pages of a
 * mapping are written back first. It tells the pool the bytes written are
 * whole, so fast-path lookups find the file again (kv_flush()): a release,
 * which also would, arrives after close() has returned. No fsync or
 * fsyncdir handlers: the pool is memory and a completed write is in it (the
 * kernel takes libfuse's ENOSYS once as "not needed" and stops asking).
 */
static void op_flush(fuse_req_t req, fuse_ino_t ino_node, struct fuse_file_info *fi)
{
	uint64_t ino = kv_node_ino(ino_node);
	struct kv_daemon *d = KV_DAEMON(req);

	if (!kv_is_virtual(d, ino))
		kv_flush(d->pool, ino);
	fuse_reply_err(req, 0);
}

/* release: reply_err(0) */
static void op_release(fuse_req_t req, fuse_ino_t ino_node, struct fuse_file_info *fi)
{
	uint64_t ino = kv_node_ino(ino_node);
	struct kv_daemon *d = KV_DAEMON(req);

	if (kv_is_virtual(d, ino)) {
		kv_special_release(d, req, ino, fi);
	} else {
		kv_open_hold_release(fi);
		kv_release(d->pool, ino);
	}
	fuse_reply_err(req, 0);
}

/* fallocate: reply_err(0, EOPNOTSUPP, ENOSPC, EFBIG) */
static void op_fallocate(fuse_req_t req, fuse_ino_t ino_node, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	uint64_t ino = kv_node_ino(ino_node);
	struct kv_daemon *d = KV_DAEMON(req);
	int rc;

	if (kv_is_virtual(d, ino)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	rc = fi->fh && off >= 0 && len > 0
		 ? kv_open_hold_grow(d, req, fi, (uint64_t)off + (uint64_t)len)
		 : 0;
	fuse_reply_err(req,
		       rc ? -rc : -kv_fallocate(d->pool, ino, mode, (uint64_t)off, (uint64_t)len));
}

/* statfs: reply_statfs */
static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct kv_daemon *d = KV_DAEMON(req);
	struct kv_pool_stats ps;
	struct kv_pool_info info;
	struct statvfs sv;

	kv_pool_get_stats(d->pool, &ps);
	kv_pool_get_info(d->pool, &info);
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = info.page_size;
	sv.f_frsize = info.page_size;
	sv.f_blocks = ps.capacity_bytes / info.page_size;
	sv.f_bfree = ps.free_bytes / info.page_size;
	sv.f_bavail = sv.f_bfree;
	sv.f_files = ps.inodes_total;
	sv.f_ffree = ps.inodes_free;
	sv.f_favail = ps.inodes_free;
	sv.f_namemax = KV_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

/* ioctl: only on .kvfs/ctl (ctl.c); reply_err(ENOTTY) elsewhere */
static void op_ioctl(fuse_req_t req, fuse_ino_t ino_node, unsigned int cmd, void *arg,
		     struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
		     size_t out_bufsz)
{
	uint64_t ino = kv_node_ino(ino_node);
	struct kv_daemon *d = KV_DAEMON(req);

	if (ino != d->ino_base + KV_VINO_CTL) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	kv_ctl_ioctl_reply(d, req, cmd, arg, fi, flags, in_buf, in_bufsz, out_bufsz);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	conn->max_write = 1 << 20;
	conn->max_readahead = 1 << 20;
	/*
	 * FUSE_CAP_SPLICE_READ (libfuse's default with a write_buf handler,
	 * asked for here so that it is a choice): requests come through a pipe
	 * and write_buf reads a write's payload straight into the pool's
	 * extents. fs_bench with it and without (kvfs/tmpfs, medians of 6 runs
	 * each, 512 files, 2 cores shared with other work): create+write+close
	 * of 2 MiB files 1.00 with, 0.85 without; every other row moved both
	 * ways within the runs' spread. No FUSE_CAP_SPLICE_WRITE: libfuse 3.14
	 * splices a reply only in fuse_reply_data(), and kvfs replies with
	 * fuse_reply_iov() and fuse_reply_buf().
	 */
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
	conn->want &= ~FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
	/* no writeback cache: a write() reaches the pool before it returns */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/*
	 * No automatic invalidation of cached pages when a file's mtime moves:
	 * every write goes through this kernel (which keeps its cache right) and
	 * whatever kvfs changes itself it invalidates. With it, the first stat
	 * after a write threw away the written pages (0.9 ms for 16 MiB).
	 */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
}

const struct fuse_lowlevel_ops kv_fuse_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.readlink = op_readlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write_buf = op_write_buf,
	.flush = op_flush,
	.release = op_release,
	.opendir = kv_op_opendir,
	.readdir = kv_op_readdir,
	.readdirplus = kv_op_readdirplus,
	.releasedir = kv_op_releasedir,
	.statfs = op_statfs,
	.setxattr = kv_op_setxattr,
	.getxattr = kv_op_getxattr,
	.listxattr = kv_op_listxattr,
	.removexattr = kv_op_removexattr,
	.create = op_create,
	.fallocate = op_fallocate,
	.ioctl = op_ioctl,
};
