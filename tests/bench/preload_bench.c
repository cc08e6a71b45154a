// SPDX-License-Identifier: MIT
/*
 * preload_bench.c - read() of 2 MiB block files by an unmodified program
 * under libkvfs_preload.so, against the references measured in the same
 * run: memcpy from a populated mapping of the pool (what a libkvfs engine
 * does; target >= 0.9), the same reads on tmpfs (target >= 1.2), and the
 * same reads through FUSE without the library (syscall(), which the
 * library does not see). Also mmap+copy+munmap under the library against
 * the pool copy, with per-call mappings of the pool and with slices of
 * the data window (KVFS_PRELOAD_MAP=window, the CUDA case). The program re-executes itself with the library
 * preloaded (build/libkvfs_preload.so next to build/bench/).
 *   preload_bench [FILES_2MIB]   (default 32)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#include "bench_util.h"

#define RUNS  21
#define BLOCK (2u << 20)
#define LIB   "libkvfs_preload.so"

static uint8_t *buf;
static int nfiles = 32;

/* Re-execute with the library first in LD_PRELOAD, once. */
static void preload_self(char **argv)
{
	char self[PATH_MAX], lib[PATH_MAX + 64], *slash;
	const char *cur = getenv("LD_PRELOAD");
	ssize_t n;

	if (cur && strstr(cur, LIB))
		return;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		exit(1);
	self[n] = 0;
	slash = strrchr(self, '/');
	*slash = 0;
	snprintf(lib, sizeof(lib), "%s/../%s", self, LIB);
	if (access(lib, R_OK)) {
		fprintf(stderr, "preload_bench: %s not built\n", lib);
		exit(1);
	}
	setenv("LD_PRELOAD", lib, 1);
	execv("/proc/self/exe", argv);
	perror("execv");
	exit(1);
}

static void make_files(const char *dir, int **fds_out)
{
	char p[PATH_MAX + 32];
	int i, *fds = calloc((size_t)nfiles, sizeof(int));

	for (i = 0; i < nfiles; i++) {
		int fd;

		snprintf(p, sizeof(p), "%s/b%03d", dir, i);
		fd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
		memset(buf, i + 1, BLOCK);
		if (fd < 0 || ftruncate(fd, BLOCK) || pwrite(fd, buf, BLOCK, 0) != BLOCK) {
			perror(p);
			exit(1);
		}
		close(fd);
		fds[i] = open(p, O_RDONLY); /* opened after the write: one extent known */
		if (fds[i] < 0) {
			perror(p);
			exit(1);
		}
	}
	*fds_out = fds;
}

/* Bytes per second of one round of @how over every file. */
enum how { READ_LIB, READ_FUSE, MEMCPY_POOL, MMAP_LIB };

static double round_of(enum how how, int *fds, uint8_t *pool, uint64_t *ext)
{
	double t0 = bench_now();
	int i;

	for (i = 0; i < nfiles; i++) {
		void *m;

		switch (how) {
		case READ_LIB:
			if (pread(fds[i], buf, BLOCK, 0) != BLOCK)
				exit(2);
			break;
		case READ_FUSE: /* the library never sees a raw syscall */
			if (syscall(SYS_pread64, fds[i], buf, BLOCK, 0) != BLOCK)
				exit(2);
			break;
		case MEMCPY_POOL:
			memcpy(buf, pool + ext[i], BLOCK);
			break;
		case MMAP_LIB:
			m = mmap(NULL, BLOCK, PROT_READ, MAP_SHARED, fds[i], 0);
			if (m == MAP_FAILED)
				exit(2);
			memcpy(buf, m, BLOCK);
			munmap(m, BLOCK);
			break;
		}
	}
	return (double)nfiles * BLOCK / (bench_now() - t0);
}

/*
 * Every way, round after round, interleaved: host noise hits them alike. A
 * ratio is the median of the per-round ratios; rates are medians too.
 */
#define NWAYS 6
static const enum how ways[NWAYS] = {
	READ_LIB, MEMCPY_POOL, READ_LIB, READ_FUSE, MMAP_LIB, MMAP_LIB
};

static void measure(int *kfds, int *tfds, uint8_t *pool, uint64_t *ext, double v[NWAYS][RUNS])
{
	int r, w;

	for (r = -1; r < RUNS; r++) /* round -1 warms: faults, page cache, CPU caches */
		for (w = 0; w < NWAYS; w++) {
			double x;

			/* way 5 is what a process with CUDA loaded gets: window slices */
			if (w == 5)
				setenv("KVFS_PRELOAD_MAP", "window", 1);
			x = round_of(ways[w], w == 2 ? tfds : kfds, pool, ext);
			unsetenv("KVFS_PRELOAD_MAP");
			if (r >= 0)
				v[w][r] = x;
		}
}

static double median_ratio(double *a, double *b)
{
	double q[RUNS];
	int r;

	for (r = 0; r < RUNS; r++)
		q[r] = a[r] / b[r];
	return bench_median(q, RUNS);
}

/* The pool, mapped populated as libkvfs maps it, and each block's offset in it. */
static uint8_t *map_pool(int *fds, uint64_t **ext_out)
{
	char path[PATH_MAX], text[256];
	uint64_t *ext = calloc((size_t)nfiles, sizeof(uint64_t));
	struct stat st;
	ssize_t n;
	uint8_t *p;
	int i, fd;

	n = getxattr(bench_mnt, "user.kvfs.pool", path, sizeof(path) - 1);
	if (n <= 0)
		exit(1);
	path[n] = 0;
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		exit(1);
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (p == MAP_FAILED)
		exit(1);
	close(fd);
	for (i = 0; i < nfiles; i++) {
		n = fgetxattr(fds[i], "user.kvfs.extents", text, sizeof(text) - 1);
		if (n <= 0 || memchr(text, ' ', (size_t)n)) {
			fprintf(stderr, "block %d is not one extent\n", i);
			exit(1);
		}
		text[n] = 0;
		ext[i] = strtoull(text, NULL, 10);
	}
	*ext_out = ext;
	return p;
}

static void row(const char *what, double *v, const char *ref_name, double *ref, const char *target)
{
	double q = median_ratio(v, ref), tmp[RUNS];

	memcpy(tmp, v, sizeof(tmp));
	printf("%-32s %7.0f MB/s  %-24s ", what, bench_median(tmp, RUNS) / 1e6, ref_name);
	memcpy(tmp, ref, sizeof(tmp));
	printf("%7.0f MB/s  %6.2f  %s\n", bench_median(tmp, RUNS) / 1e6, q, target);
}

int main(int argc, char **argv)
{
	char tmpdir[PATH_MAX], kvdir[PATH_MAX + 8], *saved;
	static double v[NWAYS][RUNS];
	int *kfds, *tfds, i;
	uint64_t *ext;
	uint8_t *pool;

	preload_self(argv);
	if (argc > 1)
		nfiles = atoi(argv[1]);
	if (nfiles < 1 || nfiles > 4096 || posix_memalign((void **)&buf, 4096, BLOCK))
		return 2;
	memset(buf, 0, BLOCK);
	/* the daemon runs without the library */
	saved = strdup(getenv("LD_PRELOAD"));
	unsetenv("LD_PRELOAD");
	i = bench_mount("size=512M");
	setenv("LD_PRELOAD", saved, 1);
	if (i) {
		fprintf(stderr, "preload_bench: mount failed\n");
		return 1;
	}
	snprintf(kvdir, sizeof(kvdir), "%s/ns", bench_mnt);
	snprintf(tmpdir, sizeof(tmpdir), "/dev/shm/kvfs-preload-bench.%d", getpid());
	if (mkdir(kvdir, 0755) || mkdir(tmpdir, 0755))
		return 1;
	make_files(kvdir, &kfds);
	make_files(tmpdir, &tfds);
	pool = map_pool(kfds, &ext);

	measure(kfds, tfds, pool, ext, v);

	printf("preload_bench: %d blocks of 2 MiB, medians of %d interleaved rounds\n", nfiles,
	       RUNS);
	printf("%-32s %12s  %-24s %12s  %6s  %s\n", "under libkvfs_preload.so", "rate", "reference",
	       "rate", "ratio", "target");
	row("pread() of a block", v[0], "memcpy from pool map", v[1], ">= 0.9");
	row("pread() of a block", v[0], "pread() on tmpfs", v[2], ">= 1.2");
	row("pread() of a block", v[0], "pread() through FUSE", v[3], "");
	row("mmap+memcpy+munmap, per-call", v[4], "pread() through FUSE", v[3], "");
	row("mmap+memcpy+munmap, window", v[5], "memcpy from pool map", v[1], "");

	for (i = 0; i < nfiles; i++) {
		char p[PATH_MAX + 32];

		close(kfds[i]);
		close(tfds[i]);
		snprintf(p, sizeof(p), "%s/b%03d", tmpdir, i);
		unlink(p);
	}
	rmdir(tmpdir);
	return 0;
}
