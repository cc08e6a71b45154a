/* SPDX-License-Identifier: MIT */
/*
 * preload_int.h - shared by the two files of libkvfs_preload.so: preload.c
 * (the interposed libc calls, the descriptor and mapping tables) and
 * preload_pool.c (which mounts are kvfs, their pools' data areas, and the
 * CUDA registration). Nothing here is exported from the library.
 *
 * Locking: one mutex (kvp_lock) guards every table; it is taken around
 * table updates only, never around a copy of data.
 */
#ifndef KVFS_FS_PRELOAD_INT_H
#define KVFS_FS_PRELOAD_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <sys/uio.h>

#define KVP_MAX_MOUNTS 64 /* mounts met in a process's life, remounts included */
#define KVP_FD_MIN     64 /* the library's own descriptors start here when they can */

/* the real libc calls, found with dlsym(RTLD_NEXT) */
struct kvp_real {
	int (*open)(const char *, int, ...);
	int (*open64)(const char *, int, ...);
	int (*openat)(int, const char *, int, ...);
	int (*openat64)(int, const char *, int, ...);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*pread)(int, void *, size_t, off_t);
	ssize_t (*pread64)(int, void *, size_t, off_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*preadv)(int, const struct iovec *, int, off_t);
	ssize_t (*preadv64)(int, const struct iovec *, int, off_t);
	void *(*mmap)(void *, size_t, int, int, int, off_t);
	void *(*mmap64)(void *, size_t, int, int, int, off_t);
	int (*munmap)(void *, size_t);
	void *(*mremap)(void *, size_t, size_t, int, ...);
	int (*msync)(void *, size_t, int);
	int (*close)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*ftruncate)(int, off_t);
	int (*ftruncate64)(int, off_t);
	int (*truncate)(const char *, off_t);
	int (*truncate64)(const char *, off_t);
};
extern struct kvp_real kvp_real;

/* One kvfs mount this process has met, with its pool's data area. */
struct kvp_mount {
	dev_t dev;
	int state; /* 1: usable; -1: not kvfs, or its pool is not ours to open; 0: retired */
	int pool_fd; /* the pool, O_RDWR when the caller may, else O_RDONLY */
	bool pool_rw;
	dev_t pool_dev; /* the pool file mapped, to notice a pool made anew at its path */
	ino_t pool_ino;
	uint8_t uuid[16];
	struct timespec mounted; /* mtime of <root>/.kvfs: this mount, not a later one */
	uint64_t data_off, data_size; /* the data area: the only part mapped */
	/* data_off .. data_off + data_size, mapped once each: read-only (reads,
	 * PROT_READ maps) and, when first asked, read-write */
	uint8_t *win_ro, *win_rw;
	int cuda_tried_ro, cuda_tried_rw; /* atomic: registered (or tried) once */
	int ro_uses_rw; /* atomic: CUDA took only the read-write window */
	char root[PATH_MAX];
	char pool[PATH_MAX];
};

void kvp_lock(void);
void kvp_unlock(void);

/**
 * kvp_mount_of() - the kvfs mount that holds device @dev, met or new.
 * @fd: an open descriptor on that device (for fstatfs), or -1
 *
 * Locking: kvp_lock held.
 * Return: the mount when it is kvfs and its pool's data area is mapped,
 * else NULL (not kvfs, not the one KVFS_PRELOAD_MOUNT names, or the
 * pool cannot be opened by this process: the caller falls through).
 */
struct kvp_mount *kvp_mount_of(dev_t dev, int fd);

/**
 * kvp_file_extent() - the one extent of the file open at @fd.
 * @off: receives its pool offset
 * @len: receives its length in bytes (the file's size, capped by the extent)
 *
 * Return: 0, -ENODATA (no data yet), -E2BIG (more than one extent),
 * -EINVAL (an answer that does not parse), or another -errno.
 */
int kvp_file_extent(int fd, uint64_t *off, uint64_t *len);

/**
 * kvp_window_rw() - @m's read-write window, mapped at the first call.
 * Locking: kvp_lock held. Return: the window, or NULL (a read-only pool).
 */
uint8_t *kvp_window_rw(struct kvp_mount *m);

/** kvp_cuda_loaded() - whether the process has the CUDA runtime loaded. */
bool kvp_cuda_loaded(void);

/**
 * kvp_cuda_register() - register one of @m's windows with CUDA once, if the
 * process has the CUDA runtime loaded. Failure is not an error: copies
 * from the window are then pageable copies. Locking: call WITHOUT kvp_lock
 * (the CUDA runtime opens and maps files itself).
 */
void kvp_cuda_register(struct kvp_mount *m, bool rw);

/** kvp_mount_move_fd() - the pool fd @from of a mount is now @to. Locking: kvp_lock held. */
bool kvp_mount_move_fd(int from, int to);

/** kvp_own_fd() - move @fd to a high close-on-exec number. Return: the new fd or -errno. */
int kvp_own_fd(int fd);

/** kvp_fd_mark_internal() - note @fd as the library's (close() of it says EBADF). */
void kvp_fd_mark_internal(int fd, bool internal);

/** kvp_resolve() - fill kvp_real (idempotent, thread-safe). */
void kvp_resolve(void);

/* --- the descriptor and mapping tables (preload.c) --- */

enum fd_state {
	FD_UNKNOWN = 0, /* not looked at yet */
	FD_PLAIN, /* anything the library does not serve */
	FD_KVFS_NOEXT, /* on a usable mount, but not one extent when last looked at */
	FD_SERVED,
	FD_INTERNAL, /* the library's own (pool, holds): invisible to close() */
};

struct fd_entry {
	uint8_t state; /* enum fd_state */
	uint8_t rdwr; /* opened O_RDWR */
	dev_t dev;
	ino_t ino;
	uint64_t ext_off, ext_len;
	struct kvp_mount *m;
};

/* One zero-copy mapping the program made; holds its file until unmapped. */
struct map_rec {
	struct map_rec *next;
	uint8_t *addr;
	size_t len;
	bool window; /* a slice of a data window: never unmapped for real */
	bool dirty_ok; /* shared and writable: drop the file's cached pages at sync */
	int hold_fd;
	dev_t dev;
	ino_t ino;
};

extern struct map_rec *kvp_maps; /* guarded by kvp_lock */
extern size_t kvp_page_size;

/** kvp_fd_slot() - the entry of @fd, its chunk made if need be, or NULL. Locking: held. */
struct fd_entry *kvp_fd_slot(int fd);
/** kvp_fd_reset() - forget @fd. Locking: held. */
void kvp_fd_reset(int fd);
/**
 * kvp_classify() - look at @fd (@flags: its open flags, or -1) and fill @e.
 * Locking: takes kvp_lock for the mount table only; callable with or without it.
 */
void kvp_classify(int fd, struct fd_entry *e, int flags);
/** kvp_forget_file() - drop what is known of a file whose size may change. Locking: held. */
void kvp_forget_file(dev_t dev, ino_t ino);
/** kvp_file_mapped() - whether this process has a zero-copy mapping of the file. Locking: held. */
bool kvp_file_mapped(dev_t dev, ino_t ino);
uint64_t kvp_page_up(uint64_t n);

#endif /* KVFS_FS_PRELOAD_INT_H */
