// SPDX-License-Identifier: MIT
/*
 * lookup_ab.c - kvfs_lookup of one 2,048-block prefix on two mounts, the
 * calls alternated one by one (A, B, A, B, ...), so that both see the same
 * moments of a machine whose memory speed drifts (the H200 hosts' do, 2x
 * between runs of one binary): the way to compare two daemons' builds.
 * Each mount gets the same blocks (64 KiB each) in its own namespace; each
 * lookup is followed by its unpin. Medians of 1,001 calls a side, and B's
 * time over A's.
 *   lookup_ab MOUNT_A MOUNT_B
 *   lookup_ab              (one pool of its own, compared with itself:
 *                           the noise floor of the ratio)
 */
#include <errno.h>
#include <sys/stat.h>

#include "kvfs.h"

#define NBLOCKS 2048
#define BLOCK	(64u << 10)
#define CALLS	1001

#include "bench_util.h"

/* Store the prefix's blocks under @mnt (those already there stay). Return: 0 or -errno. */
static int store(kvfs_t *kv, const char *mnt, const kvfs_hash_t *h)
{
	static struct kvfs_block b[NBLOCKS];
	static uint64_t sizes[NBLOCKS];
	char path[PATH_MAX];
	uint64_t txn;
	int i, rc;

	snprintf(path, sizeof(path), "%s/ab", mnt);
	mkdir(path, 0755);
	for (i = 0; i < NBLOCKS; i++)
		sizes[i] = BLOCK;
	rc = kvfs_reserve(kv, "ab", h, sizes, NBLOCKS, b, &txn);
	if (rc)
		return rc;
	for (i = 0; i < NBLOCKS; i++)
		if (b[i].status == KVFS_BLOCK_RESERVED)
			memset(b[i].addr, i & 0xff, BLOCK);
	return kvfs_commit(kv, txn);
}

/* One lookup+pin of the prefix, timed, then its unpin. Return: seconds, or -1. */
static double one(kvfs_t *kv, const kvfs_hash_t *h)
{
	static struct kvfs_block b[NBLOCKS];
	double t0 = bench_now(), t;
	long n = kvfs_lookup(kv, "ab", h, NBLOCKS, b);

	t = bench_now() - t0;
	if (n != NBLOCKS)
		return -1;
	kvfs_unpin(kv, "ab", h, NBLOCKS);
	return t;
}

int main(int argc, char **argv)
{
	static kvfs_hash_t h[NBLOCKS];
	static uint32_t tokens[NBLOCKS * 16];
	static double ta[CALLS], tb[CALLS];
	const char *mnt[2];
	kvfs_t *kv[2];
	int i, k, rc;

	if (argc == 3) {
		mnt[0] = argv[1];
		mnt[1] = argv[2];
	} else if (argc == 1 && bench_mount("size=1G") == 0) {
		mnt[0] = mnt[1] = bench_mnt;
	} else {
		fprintf(stderr, "usage: lookup_ab [MOUNT_A MOUNT_B] (without them it mounts a pool "
				"itself: is build/kvfs built? root?)\n");
		return 1;
	}
	for (i = 0; i < NBLOCKS * 16; i++)
		tokens[i] = (uint32_t)(i * 40503u) % 128000;
	kvfs_prefix_hashes("ab", tokens, NBLOCKS * 16, 16, h, NBLOCKS);
	for (k = 0; k < 2; k++) {
		rc = kvfs_open(mnt[k], 0, &kv[k]);
		if (!rc)
			rc = store(kv[k], mnt[k], h);
		if (rc) {
			fprintf(stderr, "lookup_ab: %s: %s\n", mnt[k], strerror(-rc));
			return 1;
		}
	}
	for (i = 0; i < 50; i++) /* warm both */
		if (one(kv[0], h) < 0 || one(kv[1], h) < 0) {
			fprintf(stderr, "lookup_ab: a lookup did not find all %d blocks\n", NBLOCKS);
			return 1;
		}
	for (i = 0; i < CALLS; i++) {
		ta[i] = one(kv[i & 1], h); /* who goes first alternates too */
		tb[i] = one(kv[!(i & 1)], h);
		if (i & 1) {
			double t = ta[i];

			ta[i] = tb[i];
			tb[i] = t;
		}
		if (ta[i] < 0 || tb[i] < 0) {
			fprintf(stderr, "lookup_ab: a lookup did not find all %d blocks\n", NBLOCKS);
			return 1;
		}
	}
	double ma = bench_median(ta, CALLS), mb = bench_median(tb, CALLS);

	printf("lookup_ab: kvfs_lookup of %d blocks, calls alternated, medians of %d a side\n",
	       NBLOCKS, CALLS);
	printf("  A %-40s %8.3f ms\n", mnt[0], ma * 1e3);
	printf("  B %-40s %8.3f ms   B/A %.2f\n", mnt[1], mb * 1e3, mb / ma);
	kvfs_close(kv[0]);
	kvfs_close(kv[1]);
	return 0;
}
