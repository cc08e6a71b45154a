// SPDX-License-Identifier: MIT
/*
 * backend_file.c - the embedded default pool: a regular file, normally on
 * /dev/shm. Created at the requested size when missing (with its memory
 * reserved up front, so a full tmpfs fails here and not with SIGBUS later),
 * optionally bound to one NUMA node (CXL memory in system-ram mode is a
 * CPU-less node). Never MAP_SYNC: this is not DAX. The file is the trust
 * root: created O_EXCL|O_NOFOLLOW mode 0600, and an existing one is used
 * read-write only when it is a regular file of the mounting user that
 * nobody else may write (see check_pool_file()).
 */
#include "backend.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <numaif.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * Holder states, seen from outside: the pool lock (flock) says someone has
 * the pool; a one-byte OFD lock at offset 0, the serving mark, says they are
 * still using it. A daemon drops the mark as soon as it stops serving
 * (kv_backend_stop_serving()), then spends a while letting go (unmapping a
 * large pool takes time). Whoever wants the pool meanwhile waits for it
 * rather than fail: `umount && mount` just works. flock and OFD locks are
 * independent of each other, and both go with the holder's last close.
 */
#define KV_LOCK_WAIT_MS	 5000 /* for a holder that has stopped serving */
#define KV_LOCK_GRACE_MS 1000 /* for one still serving: its unmount may be under way */

static bool holder_serving(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return true; /* cannot tell: treat it as live */
	return fl.l_type != F_UNLCK;
}

static void mark_serving(struct kv_backend *be, bool readonly)
{
	struct flock fl = { .l_type = readonly ? F_RDLCK : F_WRLCK,
			    .l_whence = SEEK_SET,
			    .l_start = 0,
			    .l_len = 1 };

	if (fcntl(be->fd, F_OFD_SETLK, &fl) < 0)
		kv_log(KV_LOG_DEBUG, "pool %s: no serving mark: %s", be->path, strerror(errno));
}

void kv_backend_stop_serving(struct kv_backend *be)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };

	if (be->fd >= 0)
		fcntl(be->fd, F_OFD_SETLK, &fl);
}

static int64_t ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)(t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int kv_backend_lock(struct kv_backend *be, bool readonly)
{
	int how = (readonly ? LOCK_SH : LOCK_EX) | LOCK_NB;
	bool told = false;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (flock(be->fd, how) < 0) {
		int64_t waited = ms_since(&t0);

		if (errno != EWOULDBLOCK)
			return -errno;
		if (holder_serving(be->fd) ? waited >= KV_LOCK_GRACE_MS
					   : waited >= KV_LOCK_WAIT_MS) {
			if (told)
				kv_log(KV_LOG_ERR,
				       "pool %s is still held by a kvfs process after %d s; "
				       "is it stuck? (fuser -v %s)",
				       be->path, KV_LOCK_WAIT_MS / 1000, be->path);
			else
				kv_log(KV_LOG_ERR,
				       "pool %s is in use by another kvfs process (mounted?); "
				       "unmount it first or use another pool",
				       be->path);
			return -EBUSY;
		}
		if (!told && !holder_serving(be->fd)) {
			kv_log(KV_LOG_NOTICE,
			       "pool %s: waiting (up to %d s) for the kvfs process that is "
			       "letting go of it",
			       be->path, KV_LOCK_WAIT_MS / 1000);
			told = true;
		}
		usleep(5000);
	}
	mark_serving(be, readonly);
	return 0;
}

/* Take the pool lock: one read-write user, or any number of readers. */
static int lock_pool(struct kv_backend *be, const struct kv_backend_opts *o)
{
	return kv_backend_lock(be, o->readonly || o->shared); /* cluster: shared, see kvfs(7) */
}

/*
 * The pool file is the trust root: whoever can write it can change every
 * cached block, whoever can read it can read them all. So a pool this
 * process did not just create must be a regular file (not a link someone
 * planted), owned by the mounting user and writable by nobody else, as
 * sshd's StrictModes demands of authorized_keys. Checked on the open
 * descriptor (O_NOFOLLOW), so the file cannot be swapped after the check.
 * Return: 0, -EINVAL (not a regular file) or -EPERM (another owner, or
 * writable by others), with a kv_log line that says how to fix it.
 */
static int check_pool_file(const char *path, const struct stat *st)
{
	uid_t me = geteuid();

	if (!S_ISREG(st->st_mode)) {
		kv_log(KV_LOG_ERR,
		       "pool %s is neither a regular file nor a device-DAX device; "
		       "remove it (rm %s) or give another path",
		       path, path);
		return -EINVAL;
	}
	if (st->st_uid != me) {
		kv_log(KV_LOG_ERR,
		       "refusing pool %s: it is owned by uid %u, not by the mounting user "
		       "(uid %u), who could then read and change every cached block; "
		       "remove it (rm %s) or, if you trust its contents, take it over "
		       "(chown %u %s && chmod 600 %s)",
		       path, (unsigned)st->st_uid, (unsigned)me, path, (unsigned)me, path, path);
		return -EPERM;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		kv_log(KV_LOG_ERR,
		       "refusing pool %s: mode %04o lets group or others write it, and so "
		       "change every cached block; fix it with chmod go-w %s (0600 is "
		       "the default) or remove it",
		       path, (unsigned)(st->st_mode & 07777), path);
		return -EPERM;
	}
	return 0;
}

/* A symbolic link as the pool: refused (another user may own what it points at). */
static int refuse_link(const char *path)
{
	kv_log(KV_LOG_ERR,
	       "refusing pool %s: it is a symbolic link, which kvfs never follows for a "
	       "pool (another user may have planted it); remove it (rm %s) or give the "
	       "real path",
	       path, path);
	return -ELOOP;
}

static int file_open(struct kv_backend *be, const char *path, const struct kv_backend_opts *o)
{
	int flags = (o->readonly && !o->shared ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;
	int rc, tries;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		kv_log(KV_LOG_ERR, "pool %s is a directory; give a file path such as %s/kvfs.pool",
		       path, path);
		return -EISDIR;
	}
	if (!o->readonly)
		flags |= O_NOFOLLOW | O_NONBLOCK; /* a planted FIFO must not hang us */
	/* Open, or create exclusively; a file that appears in between is opened and checked. */
	for (tries = 0; tries < 2; tries++) {
		be->fd = open(path, flags);
		if (be->fd >= 0 || errno != ENOENT || !o->create_size || o->readonly)
			break;
		be->fd = open(path, flags | O_CREAT | O_EXCL, 0600);
		if (be->fd >= 0) {
			be->created = true;
			break;
		}
		if (errno != EEXIST)
			break;
	}
	if (be->fd < 0) {
		rc = -errno;
		if (rc == -ELOOP && !o->readonly)
			return refuse_link(path);
		if (rc == -ENOENT)
			kv_log(KV_LOG_ERR,
			       "pool %s does not exist; create it with "
			       "'kvfs mkfs -s 1G %s' or mount with -o size=1G",
			       path, path);
		else
			kv_log(KV_LOG_ERR, "cannot open pool %s: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(be->fd, &st) < 0) {
		rc = -errno;
		goto out_close;
	}
	/*
	 * Before the lock or anything else: never write to a file someone else
	 * controls. Inspecting (stat, fsck) only needs a regular file.
	 */
	rc = o->readonly && S_ISREG(st.st_mode) ? 0 : check_pool_file(path, &st);
	if (rc)
		goto out_close;
	rc = lock_pool(be, o);
	if (rc)
		goto out_close;
	if (be->created && ftruncate(be->fd, (off_t)o->create_size) < 0) {
		rc = -errno;
		kv_log(KV_LOG_ERR, "cannot size pool %s to %llu bytes: %s", path,
		       (unsigned long long)o->create_size, strerror(-rc));
		goto out_close;
	}
	if (be->created && fstat(be->fd, &st) < 0) {
		rc = -errno;
		goto out_close;
	}
	be->size = (uint64_t)st.st_size;
	be->align = 4096;
	return 0;
out_close:
	if (be->created)
		unlink(path);
	close(be->fd);
	be->fd = -1;
	return rc;
}

static int bind_numa(struct kv_backend *be, int node)
{
	struct bitmask *mask;
	long rc;

	if (numa_available() < 0) {
		kv_log(KV_LOG_ERR, "numa=%d: this kernel has no NUMA support; drop the option",
		       node);
		return -ENOTSUP;
	}
	if (node > numa_max_node() || numa_bitmask_isbitset(numa_all_nodes_ptr, node) == 0) {
		kv_log(KV_LOG_ERR, "numa=%d: no such memory node (this machine has nodes 0-%d)",
		       node, numa_max_node());
		return -EINVAL;
	}
	mask = numa_allocate_nodemask();
	numa_bitmask_setbit(mask, (unsigned)node);
	rc = mbind(be->base, be->size, MPOL_BIND, mask->maskp, mask->size + 1, MPOL_MF_MOVE);
	numa_free_nodemask(mask);
	if (rc < 0) {
		rc = -errno;
		kv_log(KV_LOG_ERR, "numa=%d: cannot bind pool memory: %s", node,
		       strerror((int)-rc));
		return (int)rc;
	}
	return 0;
}

static int file_map(struct kv_backend *be, const struct kv_backend_opts *o)
{
	/* cluster views map read-write: a lookup stores the file's recency */
	int prot = PROT_READ | (o->readonly && !o->shared ? 0 : PROT_WRITE);
	int rc;

	be->base = mmap(NULL, be->size, prot, MAP_SHARED, be->fd, 0);
	if (be->base == MAP_FAILED) {
		rc = -errno;
		be->base = NULL;
		kv_log(KV_LOG_ERR, "cannot map pool %s: %s", be->path, strerror(-rc));
		return rc;
	}
	if (o->numa_node >= 0) {
		rc = bind_numa(be, o->numa_node);
		if (rc)
			return rc;
	}
	/* Reserve the memory now (after binding, so pages land on the node). */
	if (be->created) {
		rc = posix_fallocate(be->fd, 0, (off_t)be->size);
		if (rc && rc != EOPNOTSUPP && rc != EINVAL) {
			kv_log(KV_LOG_ERR,
			       "cannot reserve %llu bytes for pool %s: %s "
			       "(is the filesystem full? try a smaller -o size=)",
			       (unsigned long long)be->size, be->path, strerror(rc));
			return -rc;
		}
	}
	return 0;
}

int kv_backend_populate(struct kv_backend *be, bool writable)
{
	/* One fault per 4 KiB page on the data path costs far more than this. */
	return madvise(be->base, be->size, writable ? MADV_POPULATE_WRITE : MADV_POPULATE_READ)
		   ? -errno
		   : 0;
}

int kv_backend_holes(struct kv_backend *be, uint64_t from, uint64_t to,
		     void (*fn)(void *arg, uint64_t off, uint64_t len), void *arg)
{
	struct stat st;
	int n = 0;

	if (be->ops != &kv_backend_file_ops || be->fd < 0 || fstat(be->fd, &st) ||
	    !S_ISREG(st.st_mode))
		return 0;
	while (from < to) {
		off_t hole = lseek(be->fd, (off_t)from, SEEK_HOLE), data;

		if (hole < 0 || (uint64_t)hole >= to)
			break; /* no SEEK_HOLE here (EINVAL), or only data left */
		data = lseek(be->fd, hole, SEEK_DATA);
		if (data < 0 || (uint64_t)data > to)
			data = (off_t)to; /* ENXIO: a hole to the end of the file */
		if (data > hole) {
			fn(arg, (uint64_t)hole, (uint64_t)(data - hole));
			n++;
		}
		from = (uint64_t)data;
	}
	return n;
}

static void file_close(struct kv_backend *be)
{
	if (be->base)
		munmap(be->base, be->size);
	if (be->fd >= 0)
		close(be->fd);
	be->base = NULL;
	be->fd = -1;
}

const struct kv_backend_ops kv_backend_file_ops = {
	.name = "file",
	.open = file_open,
	.map = file_map,
	.close = file_close,
};

/* --- backend selection --- */

bool kv_backend_is_dax(const char *path)
{
	struct stat st;

	if (strncmp(path, "dax:", 4) == 0)
		return true;
	return stat(path, &st) == 0 && S_ISCHR(st.st_mode);
}

int kv_backend_open(struct kv_backend *be, const char *path, const struct kv_backend_opts *o)
{
	int rc;

	memset(be, 0, sizeof(*be));
	be->fd = -1;
	if (strlen(path) >= sizeof(be->path)) {
		kv_log(KV_LOG_ERR, "pool path is too long");
		return -ENAMETOOLONG;
	}
	snprintf(be->path, sizeof(be->path), "%s", path);
	be->ops = kv_backend_is_dax(path) ? &kv_backend_dax_ops : &kv_backend_file_ops;
	rc = be->ops->open(be, path, o);
	if (rc)
		return rc;
	rc = be->ops->map(be, o);
	if (rc)
		kv_backend_discard(be);
	return rc;
}

void kv_backend_close(struct kv_backend *be)
{
	if (be->ops)
		be->ops->close(be);
	be->ops = NULL;
}

void kv_backend_discard(struct kv_backend *be)
{
	/* removed while still locked: nobody opens the half-made pool meanwhile */
	if (be->ops && be->created)
		unlink(be->path);
	kv_backend_close(be);
}
