/* SPDX-License-Identifier: MIT */
/*
 * backend.h - where a pool's bytes come from, behind one small ops table:
 * a regular (shared-memory) file, or a device-DAX character device. Code
 * above this layer never branches on the backend: it gets a base address,
 * a size and an alignment. libdaxctl calls live in backend_dax.c alone.
 */
#ifndef KVFS_MM_BACKEND_H
#define KVFS_MM_BACKEND_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

struct kv_backend_opts {
	uint64_t
	    create_size; /* file backend: create the file at this size when missing (0: don't) */
	int numa_node; /* bind pages to this node; -1: no binding */
	bool readonly; /* map PROT_READ, open O_RDONLY */
	bool shared; /* cluster mode: etcd arbitrates writers; take the locks shared */
};

struct kv_backend;

struct kv_backend_ops {
	const char *name;
	/* Open the path, fill size/align/created. Return: 0 or -errno (and a kv_log line). */
	int (*open)(struct kv_backend *be, const char *path, const struct kv_backend_opts *o);
	/* Map the whole size, MAP_SHARED, aligned to be->align. Return: 0 or -errno. */
	int (*map)(struct kv_backend *be, const struct kv_backend_opts *o);
	void (*close)(struct kv_backend *be);
};

struct kv_backend {
	const struct kv_backend_ops *ops;
	char path[PATH_MAX];
	int fd;
	uint64_t size;
	uint64_t align;
	bool created; /* the file did not exist and was made now */
	void *base;
};

/* --- device-DAX discovery, with a hook for tests --- */

enum kv_dax_mode { KV_DAX_DISABLED = 0, KV_DAX_DEVDAX = 1, KV_DAX_SYSTEM_RAM = 2 };

struct kv_dax_dev {
	char name[32]; /* "dax0.0" */
	uint64_t size;
	uint64_t align;
	enum kv_dax_mode mode;
	int numa_node;
};

/* Fill up to max devices; return the count or -errno. */
typedef int (*kv_dax_enum_fn)(struct kv_dax_dev *devs, int max, void *arg);

/** kv_dax_set_enumerator() - replace libdaxctl enumeration (tests); NULL restores it. */
void kv_dax_set_enumerator(kv_dax_enum_fn fn, void *arg);
/**
 * kv_dax_resolve() - turn "dax:auto" or "/dev/daxX.Y" into a device.
 * Return: 0, or -ENODEV/-EINVAL/-ENOTSUP with a kv_log line that names what to try next.
 */
int kv_dax_resolve(const char *path, struct kv_dax_dev *out);

/** kv_backend_open() - pick the backend for @path, open and map it. Return: 0 or -errno. */
int kv_backend_open(struct kv_backend *be, const char *path, const struct kv_backend_opts *o);
void kv_backend_close(struct kv_backend *be);
/**
 * kv_backend_lock() - take the pool lock on be->fd (shared when @readonly)
 * and the serving mark. A holder that has stopped serving is waited for
 * (up to 5 s, with a kv_log line); one still serving is refused after a
 * short grace. Return: 0, -EBUSY (logged), or -errno.
 */
int kv_backend_lock(struct kv_backend *be, bool readonly);
/** kv_backend_stop_serving() - say that this holder is letting go: openers wait for it. */
void kv_backend_stop_serving(struct kv_backend *be);
/**
 * kv_backend_discard() - close, and remove the pool file when this open
 * created it (be->created): what a failed create uses, so that nothing is
 * left behind. A pool that existed before (or a device) is only closed.
 * The backends are the only code that removes a pool file.
 */
void kv_backend_discard(struct kv_backend *be);
/**
 * kv_backend_populate() - map every page of the pool into this process now.
 * Call it in the process that serves (page tables of shared maps are not
 * inherited across fork). Return: 0 or -errno.
 */
int kv_backend_populate(struct kv_backend *be, bool writable);
/**
 * kv_backend_holes() - call @fn for each hole of a pool file within [@from,
 * @to): bytes never written since the file was made, which read as zero.
 * A device has none. Return: the number of holes reported.
 */
int kv_backend_holes(struct kv_backend *be, uint64_t from, uint64_t to,
		     void (*fn)(void *arg, uint64_t off, uint64_t len), void *arg);
/** kv_backend_is_dax() - does @path name a device-DAX pool ("dax:..." or a char device)? */
bool kv_backend_is_dax(const char *path);

extern const struct kv_backend_ops kv_backend_file_ops;
extern const struct kv_backend_ops kv_backend_dax_ops;

#endif /* KVFS_MM_BACKEND_H */
