// SPDX-License-Identifier: MIT
/*
 * preload.c - libkvfs_preload.so: an unmodified program's mmap() and read()
 * of kvfs block files reach the pool's pages directly, with no FUSE round
 * trip and no second copy in the page cache. Loaded with LD_PRELOAD (what
 * `kvfs run` sets); interposes the open, read, mmap, munmap, dup, close and
 * truncate families and leaves everything else alone.
 *
 * A descriptor is served when it names a regular file on a kvfs mount whose
 * data is one extent, opened for reading, and the process can open the
 * mount's pool: read()/pread()/readv()/preadv() copy from the pool's data
 * area (the file's own descriptor holds the file, so it is not evicted);
 * mmap() maps the pool file at the extent (or hands out a slice of the
 * data window the CUDA runtime registered, see kvfs(7)) and keeps a
 * close-on-exec duplicate of the descriptor until the last munmap() of
 * it: an open file is never evicted, so that duplicate is the pin. Anything
 * else (other files, several extents, odd flags, a pool that is not ours
 * to open) falls through to the real call, unchanged.
 *
 * What it must not do: print, map the pool's superblock or metadata, change
 * a file's size under a mapping (ftruncate, truncate and O_TRUNC of a file
 * mapped in this process fail with EBUSY), or let a stale table entry serve
 * another file (every served call checks the descriptor's inode first).
 */
#include "preload_int.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/close_range.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

struct kvp_real kvp_real;

static pthread_mutex_t table_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;
/*
 * read() moves the file offset under the kernel's per-file lock; here, under
 * one of these, by inode, so that threads reading one descriptor (or its
 * dups) never get the same bytes twice.
 */
#define POS_LOCKS 64
static pthread_mutex_t pos_locks[POS_LOCKS] = { [0 ... POS_LOCKS - 1] = PTHREAD_MUTEX_INITIALIZER };
/*
 * Descriptors in chunks that are never freed or moved, so that a read() of
 * a descriptor known to be plain checks one byte without the lock.
 */
#define CHUNK_SHIFT 10
#define CHUNK	    (1 << CHUNK_SHIFT)
#define NCHUNKS	    4096 /* 4 Mi descriptors */
static struct fd_entry *chunks[NCHUNKS];
static int nchunks; /* chunks[0 .. nchunks) may be allocated */
struct map_rec *kvp_maps;
size_t kvp_page_size = 4096;

void kvp_lock(void)
{
	pthread_mutex_lock(&table_lock);
}

void kvp_unlock(void)
{
	pthread_mutex_unlock(&table_lock);
}

static void atfork_prepare(void)
{
	kvp_lock();
}

static void atfork_parent(void)
{
	kvp_unlock();
}

/* The child's only thread is not the owner the mutex records: make it anew. */
static void atfork_child(void)
{
	pthread_mutexattr_t attr;
	int i;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&table_lock, &attr);
	pthread_mutexattr_destroy(&attr);
	for (i = 0; i < POS_LOCKS; i++)
		pthread_mutex_init(&pos_locks[i], NULL);
}

#define RESOLVE(name) kvp_real.name = dlsym(RTLD_NEXT, #name)

static void resolve(void)
{
	RESOLVE(open);
	RESOLVE(open64);
	RESOLVE(openat);
	RESOLVE(openat64);
	RESOLVE(read);
	RESOLVE(pread);
	RESOLVE(pread64);
	RESOLVE(readv);
	RESOLVE(preadv);
	RESOLVE(preadv64);
	RESOLVE(mmap);
	RESOLVE(mmap64);
	RESOLVE(munmap);
	RESOLVE(mremap);
	RESOLVE(msync);
	RESOLVE(close);
	RESOLVE(dup);
	RESOLVE(dup2);
	RESOLVE(dup3);
	RESOLVE(ftruncate);
	RESOLVE(ftruncate64);
	RESOLVE(truncate);
	RESOLVE(truncate64);
	kvp_page_size = (size_t)sysconf(_SC_PAGESIZE);
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

void kvp_resolve(void)
{
	pthread_once(&resolve_once, resolve);
}

__attribute__((constructor)) static void kvp_init(void)
{
	kvp_resolve();
}

/* --- the descriptor table --- */

/* The entry of @fd if its chunk exists; safe without the lock. */
static struct fd_entry *fd_peek(int fd)
{
	struct fd_entry *c;

	if (fd < 0 || (fd >> CHUNK_SHIFT) >= NCHUNKS)
		return NULL;
	c = __atomic_load_n(&chunks[fd >> CHUNK_SHIFT], __ATOMIC_ACQUIRE);
	return c ? &c[fd & (CHUNK - 1)] : NULL;
}

/* The entry of @fd, its chunk made if need be. Locking: kvp_lock held. */
struct fd_entry *kvp_fd_slot(int fd)
{
	struct fd_entry *c;
	int i = fd >> CHUNK_SHIFT;

	if (fd < 0 || i >= NCHUNKS)
		return NULL;
	if (!chunks[i]) {
		c = calloc(CHUNK, sizeof(*c));
		if (!c)
			return NULL;
		__atomic_store_n(&chunks[i], c, __ATOMIC_RELEASE);
		if (i >= nchunks)
			nchunks = i + 1;
	}
	return &chunks[i][fd & (CHUNK - 1)];
}

void kvp_fd_reset(int fd)
{
	struct fd_entry *e = fd_peek(fd);

	if (e)
		memset(e, 0, sizeof(*e));
}

void kvp_fd_mark_internal(int fd, bool internal)
{
	struct fd_entry *e = kvp_fd_slot(fd);

	if (e) {
		memset(e, 0, sizeof(*e));
		e->state = internal ? FD_INTERNAL : FD_UNKNOWN;
	}
}

static bool fd_internal(int fd)
{
	struct fd_entry *e = fd_peek(fd);

	return e && e->state == FD_INTERNAL;
}

int kvp_own_fd(int fd)
{
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, KVP_FD_MIN);

	if (nfd < 0)
		nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (nfd < 0)
		return -errno;
	kvp_real.close(fd);
	kvp_fd_reset(fd);
	return nfd;
}

uint64_t kvp_page_up(uint64_t n)
{
	return (n + kvp_page_size - 1) & ~(uint64_t)(kvp_page_size - 1);
}

/* Look at @fd: served or not. @accmode: the open flags' O_ACCMODE, or -1. Locking: held. */
void kvp_classify(int fd, struct fd_entry *e, int flags)
{
	struct kvp_mount *m;
	struct stat st;
	uint64_t off, len;

	memset(e, 0, sizeof(*e));
	e->state = FD_PLAIN;
	if (flags < 0)
		flags = fcntl(fd, F_GETFL);
	if (flags < 0 || (flags & O_PATH) || (flags & O_ACCMODE) == O_WRONLY)
		return;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		return;
	kvp_lock(); /* the mount table; the FUSE round trips below go without it */
	m = kvp_mount_of(st.st_dev, fd);
	kvp_unlock();
	if (!m)
		return;
	e->state = FD_KVFS_NOEXT;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	if (kvp_file_extent(fd, &off, &len) || (uint64_t)st.st_size != len)
		return;
	/* shared memory is input: the extent must lie inside the data area */
	if (off < m->data_off || off - m->data_off > m->data_size ||
	    kvp_page_up(len) > m->data_size - (off - m->data_off))
		return;
	e->state = FD_SERVED;
	e->rdwr = (flags & O_ACCMODE) == O_RDWR;
	e->ext_off = off;
	e->ext_len = len;
	e->m = m;
	/* fault the block's pages in once, not one 4 KiB fault at a time in read() */
	madvise(m->win_ro + (off - m->data_off), kvp_page_up(len), MADV_POPULATE_READ);
}

/* Forget what was learnt about a file whose size or extents may have changed. */
void kvp_forget_file(dev_t dev, ino_t ino)
{
	int i, j;

	for (i = 0; i < nchunks; i++)
		for (j = 0; chunks[i] && j < CHUNK; j++) {
			struct fd_entry *e = &chunks[i][j];

			if ((e->state == FD_SERVED || e->state == FD_KVFS_NOEXT) && e->dev == dev &&
			    e->ino == ino)
				e->state = FD_UNKNOWN;
		}
}

bool kvp_file_mapped(dev_t dev, ino_t ino)
{
	struct map_rec *r;

	for (r = kvp_maps; r; r = r->next)
		if (r->dev == dev && r->ino == ino)
			return true;
	return false;
}

/* --- open, close, dup --- */

static int after_open(int fd, int flags)
{
	int saved = errno;
	struct fd_entry probe, *e;

	if (fd < 0)
		return fd;
	kvp_classify(fd, &probe, flags); /* threads opening files do not wait on each other */
	kvp_lock();
	e = kvp_fd_slot(fd);
	if (e)
		*e = probe;
	kvp_unlock();
	errno = saved;
	return fd;
}

/* O_TRUNC of a file mapped here would change its size under the mapping. */
static bool trunc_refused(int dirfd, const char *path, int flags)
{
	struct stat st;
	bool busy = false;

	if (!(flags & O_TRUNC) || fstatat(dirfd, path, &st, 0))
		return false;
	kvp_lock();
	busy = kvp_file_mapped(st.st_dev, st.st_ino);
	if (!busy)
		kvp_forget_file(st.st_dev, st.st_ino);
	kvp_unlock();
	if (busy)
		errno = EBUSY;
	return busy;
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & (O_CREAT | __O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

#define OPEN_WRAPPER(name, real_name)                                                              \
	int name(const char *path, int flags, ...)                                                 \
	{                                                                                          \
		va_list ap;                                                                        \
		mode_t mode;                                                                       \
		kvp_resolve();                                                                     \
		va_start(ap, flags);                                                               \
		mode = mode_arg(flags, ap);                                                        \
		va_end(ap);                                                                        \
		if (trunc_refused(AT_FDCWD, path, flags))                                          \
			return -1;                                                                 \
		return after_open(kvp_real.real_name(path, flags, mode), flags);                   \
	}

#define OPENAT_WRAPPER(name, real_name)                                                            \
	int name(int dirfd, const char *path, int flags, ...)                                      \
	{                                                                                          \
		va_list ap;                                                                        \
		mode_t mode;                                                                       \
		kvp_resolve();                                                                     \
		va_start(ap, flags);                                                               \
		mode = mode_arg(flags, ap);                                                        \
		va_end(ap);                                                                        \
		if (trunc_refused(dirfd, path, flags))                                             \
			return -1;                                                                 \
		return after_open(kvp_real.real_name(dirfd, path, flags, mode), flags);            \
	}

OPEN_WRAPPER(open, open)
OPEN_WRAPPER(open64, open64)
OPENAT_WRAPPER(openat, openat)
OPENAT_WRAPPER(openat64, openat64)

int creat(const char *path, mode_t mode)
{
	return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode)
{
	return open64(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

/* the _FORTIFY_SOURCE entry points of the two-argument forms */
int __open_2(const char *path, int flags)
{
	return open(path, flags);
}

int __open64_2(const char *path, int flags)
{
	return open64(path, flags);
}

int __openat_2(int dirfd, const char *path, int flags)
{
	return openat(dirfd, path, flags);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
	return openat64(dirfd, path, flags);
}

int close(int fd)
{
	kvp_resolve();
	kvp_lock();
	if (fd_internal(fd)) {
		kvp_unlock();
		errno = EBADF; /* the library's descriptors are not the program's to close */
		return -1;
	}
	kvp_fd_reset(fd);
	kvp_unlock();
	return kvp_real.close(fd);
}

/* close_range(2) and closefrom(3) close the program's descriptors, not the library's. */
static int close_run(unsigned a, unsigned b, int flags, unsigned limit)
{
	int rc = (int)syscall(SYS_close_range, a, b, flags);
	unsigned i;

	for (i = a; rc == 0 && !(flags & CLOSE_RANGE_CLOEXEC) && i <= b && i < limit; i++)
		kvp_fd_reset((int)i);
	return rc;
}

int close_range(unsigned first, unsigned last, int flags)
{
	unsigned limit, fd, start = first;
	int rc = 0;

	kvp_resolve();
	if (first > last)
		return (int)syscall(SYS_close_range, first, last, flags); /* EINVAL */
	kvp_lock();
	limit = (unsigned)nchunks << CHUNK_SHIFT; /* past it, nothing is the library's */
	for (fd = first; fd <= last && fd < limit; fd++) {
		if (!fd_internal((int)fd))
			continue;
		if (fd > start)
			rc = close_run(start, fd - 1, flags, limit);
		if (rc)
			goto out;
		start = fd + 1;
	}
	if (start <= last)
		rc = close_run(start, last, flags, limit);
out:
	kvp_unlock();
	return rc;
}

void closefrom(int lowfd)
{
	close_range(lowfd < 0 ? 0 : (unsigned)lowfd, ~0u, 0);
}

/* @newfd is about to be replaced by dup2/dup3: move the library's own away first. */
static void free_target(int newfd)
{
	struct map_rec *r;
	int moved;

	if (!fd_internal(newfd))
		return;
	moved = fcntl(newfd, F_DUPFD_CLOEXEC, KVP_FD_MIN);
	if (moved < 0)
		return;
	kvp_fd_mark_internal(moved, true);
	kvp_fd_reset(newfd);
	if (kvp_mount_move_fd(newfd, moved))
		return;
	for (r = kvp_maps; r; r = r->next)
		if (r->hold_fd == newfd)
			r->hold_fd = moved;
}

static int after_dup(int oldfd, int newfd)
{
	struct fd_entry *e;

	if (newfd < 0 || newfd == oldfd)
		return newfd;
	e = kvp_fd_slot(newfd);
	if (e) {
		struct fd_entry *old = fd_peek(oldfd);

		if (old && old->state != FD_INTERNAL)
			*e = *old;
		else
			memset(e, 0, sizeof(*e));
	}
	return newfd;
}

int dup(int oldfd)
{
	int fd, saved;

	kvp_resolve();
	kvp_lock();
	fd = kvp_real.dup(oldfd);
	saved = errno;
	after_dup(oldfd, fd);
	kvp_unlock();
	errno = saved;
	return fd;
}

int dup2(int oldfd, int newfd)
{
	int fd, saved;

	kvp_resolve();
	kvp_lock();
	if (oldfd != newfd)
		free_target(newfd);
	fd = kvp_real.dup2(oldfd, newfd);
	saved = errno;
	after_dup(oldfd, fd);
	kvp_unlock();
	errno = saved;
	return fd;
}

int dup3(int oldfd, int newfd, int flags)
{
	int fd, saved;

	kvp_resolve();
	kvp_lock();
	if (oldfd != newfd)
		free_target(newfd);
	fd = kvp_real.dup3(oldfd, newfd, flags);
	saved = errno;
	after_dup(oldfd, fd);
	kvp_unlock();
	errno = saved;
	return fd;
}

/* --- reads --- */

/*
 * The entry of a served @fd, checked against the file it names now.
 * Return: true with @out filled and @size the readable bytes; false to fall through.
 */
static bool served(int fd, struct fd_entry *out, uint64_t *size)
{
	struct fd_entry *e = fd_peek(fd);
	struct stat st;
	bool ok = false;

	if (e && __atomic_load_n(&e->state, __ATOMIC_RELAXED) == FD_PLAIN)
		return false; /* sockets, pipes, other files: no lock */
	kvp_lock();
	e = kvp_fd_slot(fd);
	if (e && e->state == FD_UNKNOWN)
		kvp_classify(fd, e, -1);
	if (e && e->state == FD_SERVED) {
		*out = *e;
		ok = true;
	}
	kvp_unlock();
	if (!ok)
		return false;
	/* the descriptor may have been closed and reused behind our back */
	if (fstat(fd, &st) || st.st_ino != out->ino || st.st_dev != out->dev) {
		kvp_lock();
		e = fd_peek(fd);
		if (e && e->state == FD_SERVED)
			e->state = FD_UNKNOWN;
		kvp_unlock();
		return false;
	}
	if ((uint64_t)st.st_size > out->ext_len)
		return false; /* grew past the extent we know: let the daemon answer */
	*size = (uint64_t)st.st_size;
	return true;
}

/* Copy up to @size - @pos bytes at @pos into @iov. */
static ssize_t copy_out(const struct fd_entry *e, uint64_t size, uint64_t pos,
			const struct iovec *iov, int iovcnt)
{
	const uint8_t *src = e->m->win_ro + (e->ext_off - e->m->data_off);
	size_t done = 0;
	int i;

	for (i = 0; i < iovcnt && pos < size; i++) {
		size_t n = iov[i].iov_len;

		if (n > size - pos)
			n = (size_t)(size - pos);
		memcpy(iov[i].iov_base, src + pos, n);
		pos += n;
		done += n;
	}
	return (ssize_t)done;
}

/* read/readv (@pos < 0: at the file offset, which moves) and pread/preadv. */
static ssize_t serve_read(int fd, const struct iovec *iov, int iovcnt, off_t pos, bool *handled)
{
	struct fd_entry e;
	uint64_t size;
	ssize_t n = -1;
	off_t cur;
	int i;

	*handled = false;
	if (iovcnt < 0 || iovcnt > IOV_MAX)
		return -1;
	for (i = 0; i < iovcnt; i++)
		if (iov[i].iov_len > SSIZE_MAX)
			return -1;
	if (!served(fd, &e, &size))
		return -1;
	if (pos >= 0) {
		*handled = true;
		return copy_out(&e, size, (uint64_t)pos, iov, iovcnt);
	}
	pthread_mutex_lock(&pos_locks[e.ino % POS_LOCKS]);
	cur = lseek(fd, 0, SEEK_CUR);
	if (cur >= 0) {
		*handled = true;
		n = copy_out(&e, size, (uint64_t)cur, iov, iovcnt);
		if (n > 0 && lseek(fd, cur + n, SEEK_SET) < 0)
			n = -1;
	}
	pthread_mutex_unlock(&pos_locks[e.ino % POS_LOCKS]);
	return *handled ? n : -1;
}

ssize_t read(int fd, void *buf, size_t count)
{
	struct iovec v = { buf, count };
	bool handled;
	ssize_t n;

	kvp_resolve();
	n = serve_read(fd, &v, 1, -1, &handled);
	return handled ? n : kvp_real.read(fd, buf, count);
}

static ssize_t do_pread(int fd, void *buf, size_t count, off_t off,
			ssize_t (*real)(int, void *, size_t, off_t))
{
	struct iovec v = { buf, count };
	bool handled = false;
	ssize_t n = -1;

	kvp_resolve();
	if (off >= 0)
		n = serve_read(fd, &v, 1, off, &handled);
	return handled ? n : real(fd, buf, count, off);
}

ssize_t pread(int fd, void *buf, size_t count, off_t off)
{
	return do_pread(fd, buf, count, off, kvp_real.pread);
}

ssize_t pread64(int fd, void *buf, size_t count, off_t off)
{
	return do_pread(fd, buf, count, off, kvp_real.pread64);
}

ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
	bool handled;
	ssize_t n;

	kvp_resolve();
	n = serve_read(fd, iov, iovcnt, -1, &handled);
	return handled ? n : kvp_real.readv(fd, iov, iovcnt);
}

static ssize_t do_preadv(int fd, const struct iovec *iov, int iovcnt, off_t off,
			 ssize_t (*real)(int, const struct iovec *, int, off_t))
{
	bool handled = false;
	ssize_t n = -1;

	kvp_resolve();
	if (off >= 0)
		n = serve_read(fd, iov, iovcnt, off, &handled);
	return handled ? n : real(fd, iov, iovcnt, off);
}

ssize_t preadv(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	return do_preadv(fd, iov, iovcnt, off, kvp_real.preadv);
}

ssize_t preadv64(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	return do_preadv(fd, iov, iovcnt, off, kvp_real.preadv64);
}

/* the _FORTIFY_SOURCE entry points */
ssize_t __read_chk(int fd, void *buf, size_t count, size_t buflen)
{
	if (count > buflen)
		abort();
	return read(fd, buf, count);
}

ssize_t __pread_chk(int fd, void *buf, size_t count, off_t off, size_t buflen)
{
	if (count > buflen)
		abort();
	return pread(fd, buf, count, off);
}

ssize_t __pread64_chk(int fd, void *buf, size_t count, off_t off, size_t buflen)
{
	if (count > buflen)
		abort();
	return pread64(fd, buf, count, off);
}
