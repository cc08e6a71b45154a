/* SPDX-License-Identifier: MIT */
/*
 * index_ref.h - the fast path's share in mm/, run in the benchmark's own
 * process: a private pool of 65,536 files in one directory, of which 2,048
 * have a 64 KiB extent and are named as a prefix's blocks, and one
 * kv_lookup_pin_batch() + kv_unpin_batch() of those 2,048 at a time.
 * mm_bench measures it; fastpath_bench runs it between the daemon's calls,
 * a reference that sees the same moments of a host whose speed drifts.
 * Also the names mm_bench's files get (index_ref_name()) and the 16 bytes
 * the fast path hands the index for them (index_ref_block()).
 */
#ifndef KVFS_TESTS_BENCH_INDEX_REF_H
#define KVFS_TESTS_BENCH_INDEX_REF_H

#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "mm.h"

#define IREF_BLOCKS 2048
#define IREF_FILES  65536

struct index_ref {
	struct kv_pool *p;
	uint64_t dir;
	uint8_t blocks[IREF_BLOCKS][16];
	struct kv_attr at[IREF_BLOCKS];
	struct kv_extent ex[IREF_BLOCKS];
	uint64_t inos[IREF_BLOCKS];
};

/* File @i's name: 32 hex digits, as a block's. Return: its length. */
static inline int index_ref_name(char *buf, uint64_t i)
{
	return snprintf(buf, 40, "%016llx%016llx", (unsigned long long)(i * 0x9E3779B97F4A7C15ull),
			(unsigned long long)i);
}

/* The 16 bytes whose digits index_ref_name(@i) is: how the fast path hands a block to the index. */
static inline void index_ref_block(uint8_t b[16], uint64_t i)
{
	uint64_t hi = i * 0x9E3779B97F4A7C15ull;
	int k;

	for (k = 0; k < 8; k++) {
		b[k] = (uint8_t)(hi >> (56 - 8 * k));
		b[8 + k] = (uint8_t)(i >> (56 - 8 * k));
	}
}

/*
 * Make the pool at @path (a file that is replaced) and its files. With
 * @unlinked the file is removed once open (nothing is left behind, however
 * the process ends). Return: 0, or -1.
 */
static inline int index_ref_open(struct index_ref *r, const char *path, int unlinked)
{
	struct kv_open_opts o = { .numa_node = -1 };
	struct kv_attr a, d;
	char nm[40];
	uint64_t i;

	unlink(path);
	if (kv_pool_mkfs(path,
			 (uint64_t)IREF_BLOCKS * (64 << 10) + (IREF_FILES + 1000) * 512 +
			     (256ull << 20),
			 IREF_FILES + 1000, false) ||
	    kv_pool_open(path, &o, &r->p)) {
		unlink(path);
		return -1;
	}
	if (unlinked)
		unlink(path);
	if (kv_create(r->p, KV_ROOT_INO, "ns", 2, S_IFDIR | 0755, 0, 0, &d))
		return -1;
	r->dir = d.ino;
	for (i = 0; i < IREF_FILES; i++) {
		int len = index_ref_name(nm, i);

		if (kv_create(r->p, d.ino, nm, (size_t)len, S_IFREG | 0644, 0, 0, &a))
			return -1;
		if (i < IREF_BLOCKS) {
			index_ref_block(r->blocks[i], i);
			if (kv_fallocate(r->p, a.ino, 0, 0, 64 << 10))
				return -1;
		}
	}
	return 0;
}

/* One lookup+pin batch of the 2,048 and their unpin: the times in @t_pin, @t_unpin (s). Return: 0, or -1. */
static inline int index_ref_batch(struct index_ref *r, double *t_pin, double *t_unpin)
{
	double t0 = bench_now();
	int i, err;
	size_t n =
	    kv_lookup_pin_batch(r->p, r->dir, r->blocks[0], 16, IREF_BLOCKS, r->at, r->ex, &err);

	*t_pin = bench_now() - t0;
	for (i = 0; i < (int)n; i++)
		r->inos[i] = r->at[i].ino;
	t0 = bench_now();
	kv_unpin_batch(r->p, r->inos, n);
	*t_unpin = bench_now() - t0;
	return n == IREF_BLOCKS ? 0 : -1;
}

static inline void index_ref_close(struct index_ref *r)
{
	if (r->p)
		kv_pool_close(r->p);
	r->p = NULL;
}

#endif
