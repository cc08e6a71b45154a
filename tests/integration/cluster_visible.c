// SPDX-License-Identifier: MIT
/*
 * cluster_visible.c - for test_cluster_big.sh: fill a cluster's pool through
 * the leader's mount with N small blocks (reserve and commit in batches of
 * BATCH), wait until the follower's mount finds the last one, then time
 * commit-to-visible: one block committed on the leader, looked up on the
 * follower until found, RUNS times. Prints the fill rate and the median and
 * worst of those times in ms; exit 1 if the follower never finds one.
 *   cluster_visible LEADER_MNT FOLLOWER_MNT N
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "kvfs.h"

#define BATCH 512
#define BLOCK 4096u
#define RUNS  31

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Blocks @first.. @first + @n - 1 of namespace "big", each its own one-block prefix. */
static void hashes(size_t first, size_t n, kvfs_hash_t *h)
{
	uint32_t tok[16];
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < 16; j++)
			tok[j] = (uint32_t)((first + i) * 16 + j);
		kvfs_prefix_hashes("big", tok, 16, 16, &h[i], 1);
	}
}

static int store(kvfs_t *kv, const kvfs_hash_t *h, size_t n)
{
	static struct kvfs_block b[BATCH];
	static uint64_t sizes[BATCH];
	uint64_t txn;
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		sizes[i] = BLOCK;
	rc = kvfs_reserve(kv, "big", h, sizes, n, b, &txn);
	if (rc)
		return rc;
	for (i = 0; i < n; i++)
		if (b[i].status == KVFS_BLOCK_RESERVED)
			memset(b[i].addr, (int)(i & 0xff), 64);
	return kvfs_commit(kv, txn);
}

/* Look @h up on @kv until found, up to @limit seconds. Return: seconds taken, or -1. */
static double until_found(kvfs_t *kv, const kvfs_hash_t *h, double limit)
{
	struct kvfs_block got;
	double t0 = now();

	while (kvfs_lookup(kv, "big", h, 1, &got) != 1)
		if (now() - t0 > limit)
			return -1;
	kvfs_unpin(kv, "big", h, 1);
	return now() - t0;
}

int main(int argc, char **argv)
{
	static kvfs_hash_t h[BATCH];
	double t[RUNS], t0, fill, caught;
	size_t n, done, k;
	char path[4096];
	kvfs_t *kl, *kf;
	int rc, r;

	if (argc != 4 || !(n = strtoul(argv[3], NULL, 10))) {
		fprintf(stderr, "usage: cluster_visible LEADER_MNT FOLLOWER_MNT N\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/big", argv[1]);
	mkdir(path, 0755);
	if ((rc = kvfs_open(argv[1], 0, &kl)) || (rc = kvfs_open(argv[2], 0, &kf))) {
		fprintf(stderr, "kvfs_open: %s\n", strerror(-rc));
		return 1;
	}
	t0 = now();
	for (done = 0; done < n; done += k) {
		k = n - done < BATCH ? n - done : BATCH;
		hashes(done, k, h);
		if ((rc = store(kl, h, k))) {
			fprintf(stderr, "store of blocks %zu..: %s\n", done, strerror(-rc));
			return 1;
		}
	}
	fill = now() - t0;
	caught = until_found(kf, &h[k - 1], 30);
	printf("filled %zu blocks in %.2f s (%.0f a second); the follower found the last after "
	       "%.1f ms\n",
	       n, fill, (double)n / fill, caught * 1e3);
	if (caught < 0)
		return 1;
	for (r = 0; r < RUNS; r++) {
		hashes(n + (size_t)r, 1, h);
		if ((rc = store(kl, h, 1))) {
			fprintf(stderr, "store: %s\n", strerror(-rc));
			return 1;
		}
		t[r] = until_found(kf, h, 2);
		if (t[r] < 0) {
			fprintf(stderr, "the follower never found block %zu\n", n + (size_t)r);
			return 1;
		}
	}
	qsort(t, RUNS, sizeof(*t), cmp_double);
	printf("commit on leader -> lookup hit on follower, %zu files: median %.3f ms worst %.3f "
	       "ms\n",
	       n, t[RUNS / 2] * 1e3, t[RUNS - 1] * 1e3);
	printf("visible_median_ms %.3f\n", t[RUNS / 2] * 1e3);
	kvfs_close(kf);
	kvfs_close(kl);
	return 0;
}
