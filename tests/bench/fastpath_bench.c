// SPDX-License-Identifier: MIT
/*
 * fastpath_bench.c - the fast path against the file path, in one run:
 *  1. lookup+pin of a 2,048-block prefix: one libkvfs call (one ioctl)
 *     vs per block stat + open + getxattr(user.kvfs.extents) through the mount;
 *     the call both on a quiet daemon and right after the store, while the
 *     daemon checksums the blocks just committed;
 *  2. reading 2,048 blocks of 2 MiB: memcpy from the client's pool mapping
 *     vs read() on the mount (first pass and page-cache pass) vs memcpy from
 *     a plain shared-memory mapping of the same size (the limit).
 * Medians of several runs; the last column is the ratio to the reference.
 *   fastpath_bench [MOUNTPOINT [lookup]]   (without one it mounts a 5 GiB pool
 *                                          itself; "lookup": the lookup rows only)
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/xattr.h>

#include "kvfs.h"

#define NBLOCKS 2048
#define BLOCK	(2u << 20)
#define RUNS	7
#define LOOKUP_RUNS 301 /* a lookup takes about 0.1 ms: many runs, a steady median */
#define FILE_RUNS   31	/* the per-file path takes about 100 ms */

#include "bench_util.h"
#include "index_ref.h"

#define now    bench_now
#define median bench_median

/* The @n counters @keys from one read of MOUNT/.kvfs/stats into @v (-1 each one absent). */
static void stats_of(const char *mnt, const char *const *keys, double *v, int n)
{
	char path[PATH_MAX + 64], k[64];
	double x;
	FILE *f;
	int i;

	for (i = 0; i < n; i++)
		v[i] = -1;
	snprintf(path, sizeof(path), "%s/.kvfs/stats", mnt);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fscanf(f, "%63s %lf", k, &x) == 2)
		for (i = 0; i < n; i++)
			if (strcmp(k, keys[i]) == 0)
				v[i] = x;
	fclose(f);
}

/* A counter from MOUNT/.kvfs/stats, or -1. */
static double stat_of(const char *mnt, const char *key)
{
	double v;

	stats_of(mnt, &key, &v, 1);
	return v;
}

static void print_row(const char *what, double seconds, double ref_seconds, double bytes)
{
	if (bytes > 0)
		printf("%-52s %10.3f ms %8.2f GB/s %7.2f\n", what, seconds * 1e3,
		       bytes / seconds / 1e9, ref_seconds / seconds);
	else
		printf("%-52s %10.3f ms %13s %7.2f\n", what, seconds * 1e3, "",
		       ref_seconds / seconds);
}

/* The times of LOOKUP_RUNS lookups (s), each run's */
struct lookup_times {
	double ioctl[LOOKUP_RUNS]; /* the call */
	double daemon[LOOKUP_RUNS]; /* the daemon's share, up to its reply (.kvfs/stats) */
	double index[LOOKUP_RUNS]; /* of which in the pool's index (kv_lookup_pin_batch) */
};

/*
 * LOOKUP_RUNS lookups of the prefix, each unpinned after, the stats read
 * outside the timing. Return: the daemon's LOOKUP calls per kvfs_lookup (-1
 * without its counters), or -2 when a lookup did not find the whole prefix.
 */
static double lookup_runs(kvfs_t *kv, const char *mnt, const kvfs_hash_t *h, struct kvfs_block *b,
			  struct lookup_times *t)
{
	double calls0 = stat_of(mnt, "ctl_lookups"), calls1, t0;
	int r;

	for (r = 0; r < LOOKUP_RUNS; r++) {
		static const char *const keys[2] = { "ctl_lookup_us", "ctl_index_us" };
		double us0[2], us1[2];
		long n;

		stats_of(mnt, keys, us0, 2);
		t0 = now();
		n = kvfs_lookup(kv, "bench", h, NBLOCKS, b);
		t->ioctl[r] = now() - t0;
		stats_of(mnt, keys, us1, 2);
		t->daemon[r] = (us1[0] - us0[0]) / 1e6;
		t->index[r] = (us1[1] - us0[1]) / 1e6;
		if (n != NBLOCKS) {
			fprintf(stderr, "fastpath_bench: lookup found %ld\n", n);
			return -2;
		}
		kvfs_unpin(kv, "bench", h, NBLOCKS);
	}
	calls1 = stat_of(mnt, "ctl_lookups");
	return calls0 >= 0 && calls1 > calls0 ? (calls1 - calls0) / LOOKUP_RUNS : -1;
}

/*
 * The same index code in this process (index_ref.h), on a pool of its own:
 * the median of 51 lookup+pin batches, ns a block, or -1 without that pool.
 * Run just before and after the lookups, not between them (its 2,048
 * records would push the daemon's out of a small machine's caches): the
 * host's speed at those moments, which drifts up to 2x on the H200 hosts
 * (tests/device/results-h200-meta.txt, run 24).
 */
static double index_here(struct index_ref *iref)
{
	double tp[51], tu;
	int k;

	if (!iref->p)
		return -1;
	for (k = 0; k < 51; k++)
		if (index_ref_batch(iref, &tp[k], &tu))
			return -1;
	return median(tp, 51) * 1e9 / NBLOCKS;
}

/* Wait (up to 60 s) for the daemon to checksum what was committed. Return: the sums left. */
static double wait_sums(const char *mnt)
{
	double left = stat_of(mnt, "sums_queued");
	int i;

	for (i = 0; i < 6000 && left > 0; i++) {
		usleep(10000);
		left = stat_of(mnt, "sums_queued");
	}
	return left;
}

int main(int argc, char **argv)
{
	static kvfs_hash_t h[NBLOCKS];
	static struct kvfs_block b[NBLOCKS];
	static uint64_t sizes[NBLOCKS];
	static int fds[NBLOCKS];
	uint32_t *tokens = malloc(NBLOCKS * 16 * sizeof(*tokens));
	uint8_t *dst = aligned_alloc(4096, BLOCK), *ref;
	static struct lookup_times busy, quiet;
	static struct index_ref iref;
	char iref_path[64];
	double m_busy, m_busy_daemon;
	double t_file[FILE_RUNS], t_map[RUNS], t_read1 = 0, t_read[RUNS], t_ref[RUNS], t0;
	char path[PATH_MAX + 64], name[KVFS_HASH_NAME_LEN + 1], xbuf[512];
	uint64_t txn;
	kvfs_t *kv;
	int i, r, rc, reffd;

	const char *mnt = argc > 1 ? argv[1] : bench_mnt;

	if (argc == 1 && bench_mount("size=5G,inodes=65536")) {
		fprintf(stderr,
			"fastpath_bench: cannot mount a pool (is build/kvfs built? root?)\n");
		return 1;
	}
	snprintf(iref_path, sizeof(iref_path), "/dev/shm/kvfs-fastpath-ref.%d.pool", (int)getpid());
	if (index_ref_open(&iref, iref_path, 1)) { /* the rows without their reference */
		fprintf(stderr, "fastpath_bench: no pool of its own for the index reference\n");
		index_ref_close(&iref);
	}
	rc = kvfs_open(mnt, 0, &kv);
	if (rc) {
		fprintf(stderr, "fastpath_bench: kvfs_open(%s): %s\n", mnt, strerror(-rc));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/bench", mnt);
	mkdir(path, 0755);
	for (i = 0; i < NBLOCKS * 16; i++)
		tokens[i] = (uint32_t)(i * 40503u) % 128000;
	kvfs_prefix_hashes("bench", tokens, NBLOCKS * 16, 16, h, NBLOCKS);
	for (i = 0; i < NBLOCKS; i++)
		sizes[i] = BLOCK;
	t0 = now();
	rc = kvfs_reserve(kv, "bench", h, sizes, NBLOCKS, b, &txn);
	if (rc) {
		fprintf(stderr, "fastpath_bench: reserve: %s\n", strerror(-rc));
		return 1;
	}
	double t_reserve = now() - t0;
	t0 = now();
	for (i = 0; i < NBLOCKS; i++)
		if (b[i].status == KVFS_BLOCK_RESERVED)
			memset(b[i].addr, i & 0xff, BLOCK);
	double t_fill = now() - t0;
	t0 = now();
	rc = kvfs_commit(kv, txn);
	double t_commit = now() - t0;
	if (rc) {
		fprintf(stderr, "fastpath_bench: commit: %s\n", strerror(-rc));
		return 1;
	}

	/*
	 * 1. lookup + pin: first right after the store, while the daemon checksums the
	 * 4 GiB just committed beside the lookups (its janitor: memory bandwidth and the
	 * caches the index lives in), then once that is done; the rest of each call
	 * beyond the daemon's share is the round trip through the kernel and the client
	 */
	double sums_busy = stat_of(mnt, "sums_queued");
	double calls_busy = lookup_runs(kv, mnt, h, b, &busy);
	double sums_after = stat_of(mnt, "sums_queued"), sums_left = wait_sums(mnt);
	double here0 = index_here(&iref);
	double calls = lookup_runs(kv, mnt, h, b, &quiet);
	double here1 = index_here(&iref);

	if (calls_busy < -1 || calls < -1)
		return 1;
	if (argc > 2 && strcmp(argv[2], "lookup") == 0) {
		printf("kvfs_lookup of %d blocks: %.3f ms (daemon %.0f ns a block, index %.0f; the "
		       "index in this process %.0f / %.0f); right after the store %.3f ms\n",
		       NBLOCKS, median(quiet.ioctl, LOOKUP_RUNS) * 1e3,
		       median(quiet.daemon, LOOKUP_RUNS) * 1e9 / NBLOCKS,
		       median(quiet.index, LOOKUP_RUNS) * 1e9 / NBLOCKS, here0, here1,
		       median(busy.ioctl, LOOKUP_RUNS) * 1e3);
		kvfs_close(kv);
		return 0;
	}
	for (r = 0; r < FILE_RUNS; r++) {
		struct stat st;

		t0 = now();
		for (i = 0; i < NBLOCKS; i++) {
			kvfs_hash_name(&h[i], name);
			snprintf(path, sizeof(path), "%s/bench/%s", mnt, name);
			if (stat(path, &st) || (fds[i] = open(path, O_RDONLY)) < 0 ||
			    fgetxattr(fds[i], "user.kvfs.extents", xbuf, sizeof(xbuf)) <= 0) {
				fprintf(stderr, "fastpath_bench: per-file lookup of %s failed\n",
					path);
				return 1;
			}
		}
		t_file[r] = now() - t0;
		for (i = 0; i < NBLOCKS; i++)
			close(fds[i]);
	}

	/* 2. reads of 2,048 x 2 MiB */
	if (kvfs_lookup(kv, "bench", h, NBLOCKS, b) != NBLOCKS)
		return 1;
	for (r = 0; r < RUNS; r++) {
		t0 = now();
		for (i = 0; i < NBLOCKS; i++)
			memcpy(dst, b[i].addr, BLOCK);
		t_map[r] = now() - t0;
	}
	for (r = 0; r <= RUNS; r++) {
		t0 = now();
		for (i = 0; i < NBLOCKS; i++) {
			int fd;

			kvfs_hash_name(&h[i], name);
			snprintf(path, sizeof(path), "%s/bench/%s", mnt, name);
			fd = open(path, O_RDONLY);
			if (fd < 0 || read(fd, dst, BLOCK) != BLOCK) {
				fprintf(stderr, "fastpath_bench: read of %s failed\n", path);
				return 1;
			}
			close(fd);
		}
		if (r == 0)
			t_read1 = now() - t0;
		else
			t_read[r - 1] = now() - t0;
	}
	snprintf(path, sizeof(path), "/dev/shm/kvfs-bench-ref.%d", getpid());
	reffd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (reffd < 0 || ftruncate(reffd, (off_t)NBLOCKS * BLOCK))
		return 1;
	ref = mmap(NULL, (size_t)NBLOCKS * BLOCK, PROT_READ | PROT_WRITE, MAP_SHARED, reffd, 0);
	unlink(path);
	if (ref == MAP_FAILED)
		return 1;
	for (i = 0; i < NBLOCKS; i++)
		memset(ref + (size_t)i * BLOCK, i & 0xff, BLOCK);
	for (r = 0; r < RUNS; r++) {
		t0 = now();
		for (i = 0; i < NBLOCKS; i++)
			memcpy(dst, ref + (size_t)i * BLOCK, BLOCK);
		t_ref[r] = now() - t0;
	}
	kvfs_unpin(kv, "bench", h, NBLOCKS);

	double bytes = (double)NBLOCKS * BLOCK, m_ioctl = median(quiet.ioctl, LOOKUP_RUNS),
	       m_daemon = median(quiet.daemon, LOOKUP_RUNS), m_file = median(t_file, FILE_RUNS),
	       m_ref = median(t_ref, RUNS);
	printf("fastpath_bench: %d blocks of %u MiB, medians of %d runs (lookups: %d)\n", NBLOCKS,
	       BLOCK >> 20, RUNS, LOOKUP_RUNS);
	printf("%-52s %13s %13s %7s\n", "lookup+pin of a 2,048-block prefix", "time", "", "x");
	print_row("  libkvfs: kvfs_lookup (one call)", m_ioctl, m_file, 0);
	if (calls > 0)
		printf("    in the daemon: %.3f ms (%.0f ns a block, %.0f of them in the pool's "
		       "index) in %.0f call(s); the rest: round trip and client\n",
		       m_daemon * 1e3, m_daemon * 1e9 / NBLOCKS,
		       median(quiet.index, LOOKUP_RUNS) * 1e9 / NBLOCKS, calls);
	printf("    the same index batch in this process, just before and after the calls: %.0f / "
	       "%.0f ns a block (the host's speed then; -1: not run)\n",
	       here0, here1);
	if (sums_left > 0)
		printf("    (%.0f checksums still queued after 60 s: not a quiet daemon)\n",
		       sums_left);
	m_busy = median(busy.ioctl, LOOKUP_RUNS);
	m_busy_daemon = median(busy.daemon, LOOKUP_RUNS);
	print_row("  the same right after the store, its checksums beside", m_busy, m_file, 0);
	printf("    in the daemon: %.3f ms (%.0f ns a block); blocks left to checksum "
	       "%.0f -> %.0f\n",
	       m_busy_daemon * 1e3, m_busy_daemon * 1e9 / NBLOCKS, sums_busy, sums_after);
	print_row("  per file: stat + open + getxattr (reference)", m_file, m_file, 0);
	printf("%-52s %13s %13s %7s\n", "read 2,048 x 2 MiB into a buffer", "time", "rate", "x");
	print_row("  libkvfs: memcpy from the pool mapping", median(t_map, RUNS), m_ref, bytes);
	print_row("  read() on the mount, first pass", t_read1, m_ref, bytes);
	print_row("  read() on the mount, page-cache pass", median(t_read, RUNS), m_ref, bytes);
	print_row("  memcpy from a plain /dev/shm mapping (limit)", m_ref, m_ref, bytes);
	printf("store of the 2,048 blocks: reserve %.1f ms (with zeroing, the default), fill "
	       "%.1f ms, commit %.2f ms\n",
	       t_reserve * 1e3, t_fill * 1e3, t_commit * 1e3);
	printf("%-52s %10.3f ms %13s %7.2f\n", "reserve of 4 GiB with zeroing / its fill (<= 0.1)",
	       t_reserve * 1e3, "", t_reserve / t_fill);
	printf("x: lookup rows, speedup over the per-file path; read rows, rate relative to the "
	       "limit\n");
	kvfs_close(kv);
	munmap(ref, (size_t)NBLOCKS * BLOCK);
	close(reffd);
	return 0;
}
