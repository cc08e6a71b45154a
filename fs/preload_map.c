// SPDX-License-Identifier: MIT
/*
 * preload_map.c - the mapping half of libkvfs_preload.so: mmap() of a
 * served block file maps the pool at the file's extent (or hands out a
 * slice of the data window that CUDA registered), holds the file with a
 * close-on-exec duplicate of its descriptor until the last munmap(), and
 * refuses to let the file's size change under the mapping. munmap() and
 * msync() of a shared writable mapping drop the kernel's cached pages of
 * the file, so read() through the mount sees what was stored. Never prints.
 */
#include "preload_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

/* --- mappings --- */

#define MAP_FLAGS_OK                                                                               \
	(MAP_TYPE | MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_POPULATE | MAP_NORESERVE | MAP_LOCKED |  \
	 MAP_NONBLOCK)

/*
 * KVFS_PRELOAD_MAP=window|file; by default a slice of the window once CUDA
 * is loaded (it is never unloaded). Called without kvp_lock: it may take
 * the dynamic loader's lock, and a library's constructor may open files.
 */
static bool use_window(void)
{
	static int cuda_seen;
	const char *how = getenv("KVFS_PRELOAD_MAP");

	if (how && strcmp(how, "window") == 0)
		return true;
	if (how && strcmp(how, "file") == 0)
		return false;
	if (!__atomic_load_n(&cuda_seen, __ATOMIC_RELAXED) && kvp_cuda_loaded())
		__atomic_store_n(&cuda_seen, 1, __ATOMIC_RELAXED);
	return __atomic_load_n(&cuda_seen, __ATOMIC_RELAXED);
}

/*
 * Map [@off, @off + @len) of the served file @fd from the pool, or return
 * MAP_FAILED with *handled false to fall through. Locking: kvp_lock held.
 */
static void *map_locked(void *addr, size_t len, int prot, int flags, int fd, off_t off, bool window,
			bool *handled, struct kvp_mount **cuda_m, bool *cuda_rw)
{
	int type = flags & MAP_TYPE;
	bool shared = type == MAP_SHARED || type == MAP_SHARED_VALIDATE;
	struct fd_entry *e = kvp_fd_slot(fd);
	struct map_rec *r;
	struct stat st;
	uint8_t *p, *win = NULL;

	*handled = false;
	if (!e)
		return MAP_FAILED;
	if (e->state == FD_UNKNOWN || e->state == FD_KVFS_NOEXT)
		kvp_classify(fd, e, -1); /* a file sized and filled since it was opened */
	if (e->state != FD_SERVED || (flags & ~MAP_FLAGS_OK) ||
	    (prot & ~(PROT_READ | PROT_WRITE)) || (!shared && type != MAP_PRIVATE) || off < 0 ||
	    (uint64_t)off % kvp_page_size)
		return MAP_FAILED;
	if (shared && (prot & PROT_WRITE) && (!e->rdwr || !e->m->pool_rw))
		return MAP_FAILED; /* the real call says EACCES, or FUSE serves it */
	if (fstat(fd, &st) || st.st_ino != e->ino || (uint64_t)st.st_size != e->ext_len ||
	    (uint64_t)off + len > kvp_page_up(e->ext_len) || (uint64_t)off + len < (uint64_t)off)
		return MAP_FAILED; /* past the end: the real call's SIGBUS, not a neighbour's bytes */
	r = calloc(1, sizeof(*r));
	if (!r)
		return MAP_FAILED;
	r->hold_fd = fcntl(fd, F_DUPFD_CLOEXEC, KVP_FD_MIN);
	if (r->hold_fd < 0)
		r->hold_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (r->hold_fd < 0) {
		free(r);
		return MAP_FAILED;
	}
	if (shared && window)
		win = (prot & PROT_WRITE) || __atomic_load_n(&e->m->ro_uses_rw, __ATOMIC_ACQUIRE)
			  ? kvp_window_rw(e->m)
			  : e->m->win_ro;
	if (win) {
		p = win + (e->ext_off - e->m->data_off) + off;
		if (flags & MAP_POPULATE)
			madvise(p, kvp_page_up(len), MADV_POPULATE_READ);
		*cuda_m = e->m;
		*cuda_rw = win != e->m->win_ro;
	} else {
		/* populated: the pages are in the pool already, and one call maps
		 * them faster than a fault per 4 KiB page would (not a private
		 * writable map: populating that would copy every page) */
		int populate = shared || !(prot & PROT_WRITE) ? MAP_POPULATE : 0;

		p = kvp_real.mmap(addr, len, prot, flags | populate, e->m->pool_fd,
				  (off_t)(e->ext_off + (uint64_t)off));
		if (p == MAP_FAILED) {
			int saved = errno;

			kvp_real.close(r->hold_fd);
			free(r);
			*handled = true; /* the pool's own answer (ENOMEM, EEXIST, ...) */
			errno = saved;
			return MAP_FAILED;
		}
	}
	kvp_fd_mark_internal(r->hold_fd, true);
	r->addr = p;
	r->len = (size_t)kvp_page_up(len);
	r->window = win != NULL;
	r->dirty_ok = shared && (prot & PROT_WRITE);
	r->dev = e->dev;
	r->ino = e->ino;
	r->next = kvp_maps;
	__atomic_store_n(&kvp_maps, r, __ATOMIC_RELEASE);
	*handled = true;
	return p;
}

static void *do_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off,
		     void *(*real)(void *, size_t, int, int, int, off_t))
{
	struct kvp_mount *cuda_m = NULL;
	bool handled = false, cuda_rw = false, window;
	void *p = MAP_FAILED;
	int saved;

	kvp_resolve();
	if (fd < 0 || (flags & MAP_ANONYMOUS) || !len)
		return real(addr, len, prot, flags, fd, off);
	window = !(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) &&
		 (flags & MAP_TYPE) != MAP_PRIVATE && use_window();
	kvp_lock();
	p = map_locked(addr, len, prot, flags, fd, off, window, &handled, &cuda_m, &cuda_rw);
	saved = errno;
	kvp_unlock();
	if (!handled)
		return real(addr, len, prot, flags, fd, off);
	if (cuda_m)
		kvp_cuda_register(cuda_m, cuda_rw); /* once per window; nothing without CUDA */
	errno = saved;
	return p;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return do_mmap(addr, len, prot, flags, fd, off, kvp_real.mmap);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return do_mmap(addr, len, prot, flags, fd, off, kvp_real.mmap64);
}

/* Writes through a shared mapping went to the pool: drop the kernel's copy. */
static void invalidate(const struct map_rec *r)
{
	if (r->dirty_ok)
		posix_fadvise(r->hold_fd, 0, 0, POSIX_FADV_DONTNEED);
}

/* At exit, what was stored through shared mappings reaches readers of the mount too. */
__attribute__((destructor)) static void invalidate_all(void)
{
	struct map_rec *r;

	kvp_lock();
	for (r = kvp_maps; r; r = r->next)
		invalidate(r);
	kvp_unlock();
}

static void release(struct map_rec *r)
{
	invalidate(r);
	kvp_fd_reset(r->hold_fd);
	kvp_real.close(r->hold_fd);
	free(r);
}

/*
 * Forget the mappings that [@a, @a + @len) covers (trim those it cuts at an
 * end). Return: whether the whole range lies in window slices (nothing to unmap).
 */
static bool forget_range(uint8_t *a, size_t len)
{
	struct map_rec **pp = &kvp_maps, *r;
	uint8_t *end = a + len;
	size_t in_window = 0;

	while ((r = *pp)) {
		uint8_t *rend = r->addr + r->len;
		uint8_t *lo = a > r->addr ? a : r->addr, *hi = end < rend ? end : rend;

		if (lo >= hi) {
			pp = &r->next;
			continue;
		}
		if (r->window)
			in_window += (size_t)(hi - lo);
		if (lo == r->addr && hi == rend) {
			*pp = r->next;
			release(r);
			continue;
		}
		if (!r->window && lo == r->addr) {
			r->len -= (size_t)(hi - lo);
			r->addr = hi;
		} else if (!r->window && hi == rend) {
			r->len -= (size_t)(hi - lo);
		}
		pp = &r->next;
	}
	return in_window && in_window >= len;
}

int munmap(void *addr, size_t len)
{
	bool only_window;

	kvp_resolve();
	if (!__atomic_load_n(&kvp_maps, __ATOMIC_ACQUIRE)) /* no zero-copy map: no lock */
		return kvp_real.munmap(addr, len);
	kvp_lock();
	only_window = forget_range(addr, (size_t)kvp_page_up(len));
	kvp_unlock();
	/* a slice of a window stays mapped: the window is shared by every slice */
	return only_window ? 0 : kvp_real.munmap(addr, len);
}

void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	struct map_rec *r;
	void *new_addr = NULL;
	bool ours = false;
	va_list ap;

	kvp_resolve();
	va_start(ap, flags);
	if (flags & MREMAP_FIXED)
		new_addr = va_arg(ap, void *);
	va_end(ap);
	kvp_lock();
	for (r = kvp_maps; r && !ours; r = r->next)
		ours = (uint8_t *)old < r->addr + r->len && r->addr < (uint8_t *)old + old_len;
	kvp_unlock();
	if (ours) {
		errno =
		    EINVAL; /* a zero-copy mapping is the file's extent: it cannot grow or move */
		return MAP_FAILED;
	}
	return kvp_real.mremap(old, old_len, new_len, flags, new_addr);
}

int msync(void *addr, size_t len, int flags)
{
	struct map_rec *r;
	int rc;

	kvp_resolve();
	rc = kvp_real.msync(addr, len, flags);
	if (rc || !__atomic_load_n(&kvp_maps, __ATOMIC_ACQUIRE))
		return rc;
	kvp_lock();
	for (r = kvp_maps; r; r = r->next)
		if ((uint8_t *)addr < r->addr + r->len && r->addr < (uint8_t *)addr + len)
			invalidate(r);
	kvp_unlock();
	return 0;
}

/* --- size changes: refused under a zero-copy mapping --- */

static int size_change(dev_t dev, ino_t ino)
{
	bool busy;

	kvp_lock();
	busy = kvp_file_mapped(dev, ino);
	if (!busy)
		kvp_forget_file(dev, ino);
	kvp_unlock();
	if (busy)
		errno = EBUSY;
	return busy ? -1 : 0;
}

static int do_ftruncate(int fd, off_t len, int (*real)(int, off_t))
{
	struct stat st;

	kvp_resolve();
	if (!fstat(fd, &st) && size_change(st.st_dev, st.st_ino))
		return -1;
	return real(fd, len);
}

int ftruncate(int fd, off_t len)
{
	return do_ftruncate(fd, len, kvp_real.ftruncate);
}

int ftruncate64(int fd, off_t len)
{
	return do_ftruncate(fd, len, kvp_real.ftruncate64);
}

static int do_truncate(const char *path, off_t len, int (*real)(const char *, off_t))
{
	struct stat st;

	kvp_resolve();
	if (!stat(path, &st) && size_change(st.st_dev, st.st_ino))
		return -1;
	return real(path, len);
}

int truncate(const char *path, off_t len)
{
	return do_truncate(path, len, kvp_real.truncate);
}

int truncate64(const char *path, off_t len)
{
	return do_truncate(path, len, kvp_real.truncate64);
}
