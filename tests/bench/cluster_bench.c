// SPDX-License-Identifier: MIT
/*
 * cluster_bench.c - cluster mode against one host, in one run, on a leader's
 * and a follower's mount of one pool (tests/bench/cluster_bench.sh sets them
 * up with a private etcd and times failover itself):
 *  1. lookup+pin of a 2,048-block prefix through the follower vs the leader;
 *  2. a one-block commit (reserve, fill, commit) on the leader, and on the
 *     follower (refused while forwarding is not built: printed as such);
 *  3. commit on the leader -> the block found by a lookup on the follower.
 * Medians; the last column is the ratio to the leader's (or the bound's) time.
 *   cluster_bench LEADER_MNT FOLLOWER_MNT
 */
#include <errno.h>

#include "kvfs.h"

#include "bench_util.h"

#define NBLOCKS	    2048
#define BLOCK	    (64u << 10)
#define LOOKUP_RUNS 21
#define COMMIT_RUNS 41
#define VIS_RUNS    41

static kvfs_hash_t hashes[NBLOCKS];
static struct kvfs_block blocks[NBLOCKS];

static int store(kvfs_t *kv, const char *ns, const kvfs_hash_t *h, size_t n)
{
	uint64_t sizes[NBLOCKS], txn;
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		sizes[i] = BLOCK;
	rc = kvfs_reserve(kv, ns, h, sizes, n, blocks, &txn);
	if (rc)
		return rc;
	for (i = 0; i < n; i++)
		if (blocks[i].status == KVFS_BLOCK_RESERVED)
			memset(blocks[i].addr, (int)(i & 0xff), BLOCK);
	return kvfs_commit(kv, txn);
}

static double lookup_median(kvfs_t *kv)
{
	double t[LOOKUP_RUNS];
	int r;

	for (r = 0; r < LOOKUP_RUNS; r++) {
		double t0 = bench_now();
		long got = kvfs_lookup(kv, "bench", hashes, NBLOCKS, blocks);

		t[r] = bench_now() - t0;
		if (got != NBLOCKS) {
			fprintf(stderr, "lookup found %ld of %d blocks\n", got, NBLOCKS);
			exit(1);
		}
		kvfs_unpin(kv, "bench", hashes, NBLOCKS);
	}
	return bench_median(t, LOOKUP_RUNS);
}

/* One block per run, each a new hash: the time of reserve + fill + commit. */
static double commit_median(kvfs_t *kv, unsigned seed, int *err)
{
	double t[COMMIT_RUNS];
	uint32_t tok[16];
	kvfs_hash_t h;
	int r, i;

	*err = 0;
	for (r = 0; r < COMMIT_RUNS; r++) {
		for (i = 0; i < 16; i++)
			tok[i] = seed * 100000u + (unsigned)r * 16u + (unsigned)i;
		kvfs_prefix_hashes("commit", tok, 16, 16, &h, 1);
		double t0 = bench_now();

		*err = store(kv, "bench", &h, 1);
		t[r] = bench_now() - t0;
		if (*err)
			return 0;
	}
	return bench_median(t, COMMIT_RUNS);
}

/* Commit one block on @a, then look it up on @b until found. */
static double visible_median(kvfs_t *a, kvfs_t *b, double *worst)
{
	double t[VIS_RUNS];
	uint32_t tok[16];
	kvfs_hash_t h;
	struct kvfs_block got;
	int r, i;

	*worst = 0;
	for (r = 0; r < VIS_RUNS; r++) {
		for (i = 0; i < 16; i++)
			tok[i] = 7000000u + (unsigned)r * 16u + (unsigned)i;
		kvfs_prefix_hashes("visible", tok, 16, 16, &h, 1);
		if (store(a, "bench", &h, 1))
			return -1;
		double t0 = bench_now();

		while (kvfs_lookup(b, "bench", &h, 1, &got) != 1)
			if (bench_now() - t0 > 2.0)
				return -1;
		t[r] = bench_now() - t0;
		kvfs_unpin(b, "bench", &h, 1);
		*worst = t[r] > *worst ? t[r] : *worst;
	}
	return bench_median(t, VIS_RUNS);
}

static void row(const char *what, double s, double ref)
{
	printf("%-56s %10.3f ms %8.2f\n", what, s * 1e3, s / ref);
}

int main(int argc, char **argv)
{
	static uint32_t tokens[NBLOCKS * 16];
	double lead, follow, c_lead, c_follow, vis, worst;
	kvfs_t *kl, *kf;
	char path[PATH_MAX];
	int rc, err;

	if (argc != 3) {
		printf("SKIP cluster_bench: needs a cluster; run tests/bench/cluster_bench.sh\n");
		return 0;
	}
	snprintf(path, sizeof(path), "%s/bench", argv[1]);
	mkdir(path, 0755);
	if ((rc = kvfs_open(argv[1], 0, &kl)) || (rc = kvfs_open(argv[2], 0, &kf))) {
		fprintf(stderr, "kvfs_open: %s\n", strerror(-rc));
		return 1;
	}
	for (size_t i = 0; i < NBLOCKS * 16; i++)
		tokens[i] = (uint32_t)i;
	kvfs_prefix_hashes("bench", tokens, NBLOCKS * 16, 16, hashes, NBLOCKS);
	rc = store(kl, "bench", hashes, NBLOCKS);
	if (rc) {
		fprintf(stderr, "store on the leader: %s\n", strerror(-rc));
		return 1;
	}
	/* the follower's view catches up with the store (bounded: see visible below) */
	for (double t0 = bench_now(); kvfs_lookup(kf, "bench", hashes, 1, blocks) != 1;)
		if (bench_now() - t0 > 2) {
			fprintf(stderr, "the follower never saw the store\n");
			return 1;
		}
	kvfs_unpin(kf, "bench", hashes, 1);
	lead = lookup_median(kl);
	follow = lookup_median(kf);
	c_lead = commit_median(kl, 1, &err);
	if (err) {
		fprintf(stderr, "commit on the leader: %s\n", strerror(-err));
		return 1;
	}
	c_follow = commit_median(kf, 2, &err);
	vis = visible_median(kl, kf, &worst);
	printf("%-56s %13s %8s\n", "cluster (one host, 2 nodes)", "median", "ratio");
	row("lookup+pin 2,048 blocks on the leader", lead, lead);
	row("lookup+pin 2,048 blocks on a follower (vs leader)", follow, lead);
	row("commit of 1 block on the leader", c_lead, c_lead);
	if (err)
		printf("%-56s %13s (%s: forwarding not built)\n", "commit of 1 block on a follower",
		       "refused", strerror(-err));
	else
		row("commit of 1 block on a follower (vs leader)", c_follow, c_lead);
	if (vis < 0)
		printf("%-56s %13s\n", "commit on leader -> lookup hit on follower", "never");
	else {
		row("commit on leader -> lookup hit on follower (vs 10 ms)", vis, 0.010);
		row("  worst of those (vs 10 ms)", worst, 0.010);
	}
	kvfs_close(kf);
	kvfs_close(kl);
	return 0;
}
