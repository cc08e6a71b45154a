// SPDX-License-Identifier: MIT
/*
 * fs_bench.c - kvfs against tmpfs through the file API, in one run:
 * create+write+close of 2 MiB files, stat of present and absent names, read
 * of 2 MiB files, readdir, `ls -l` and `du -s` of 100k files, 4 KiB random
 * reads and random stores through a shared mapping of a 64 MiB file. Each
 * row prints kvfs's and tmpfs's rate (medians) and their ratio (kvfs /
 * tmpfs; 1.0 = as fast). Stat of absent names, from one thread and from 8
 * at once, is also run on an empty FUSE server (fuse_floor.h): one round
 * trip with no work behind it, the most any FUSE filesystem can do for a
 * name the kernel has not seen; the server runs once on kvfs's request loop
 * and once on libfuse's, which compares the two.
 *   fs_bench [FILES_2MIB] [READDIR_FILES]   (defaults 512 and 100000)
 */
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "bench_util.h"
#include "fuse_floor.h"

#define RUNS 5

struct result {
	double kvfs, tmpfs; /* operations (or bytes) per second */
};

static char *buf;

static double run_create(const char *dir, int n, int round)
{
	char p[3 * PATH_MAX];
	double t0 = bench_now();
	int i, fd;

	for (i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/w%d-%d", dir, round, i);
		fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0 || write(fd, buf, 2 << 20) != 2 << 20) {
			perror(p);
			exit(1);
		}
		close(fd);
	}
	return (double)n * (2 << 20) / (bench_now() - t0);
}

static void remove_round(const char *dir, int n, int round)
{
	char p[3 * PATH_MAX];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/w%d-%d", dir, round, i);
		unlink(p);
	}
}

static double run_read(const char *dir, int n)
{
	char p[3 * PATH_MAX];
	double t0 = bench_now();
	int i, fd;

	for (i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/w0-%d", dir, i);
		fd = open(p, O_RDONLY);
		if (fd < 0 || read(fd, buf, 2 << 20) != 2 << 20) {
			perror(p);
			exit(1);
		}
		close(fd);
	}
	return (double)n * (2 << 20) / (bench_now() - t0);
}

static double run_stat(const char *dir, int n, bool present)
{
	static int round; /* absent names are new every time: no cached negative entry */
	char p[3 * PATH_MAX];
	struct stat st;
	double t0 = bench_now();
	int i, k;

	round++;
	for (k = 0; k < 20; k++)
		for (i = 0; i < n; i++) {
			if (present)
				snprintf(p, sizeof(p), "%s/w0-%d", dir, i);
			else
				snprintf(p, sizeof(p), "%s/absent%d-%d-%d", dir, round, k, i);
			if ((stat(p, &st) == 0) != present) {
				fprintf(stderr, "stat %s: unexpected\n", p);
				exit(1);
			}
		}
	return 20.0 * n / (bench_now() - t0);
}

#define STAT_THREADS 8

struct stat_job {
	const char *dir;
	int n, round, t;
};

static void *stat_absent_thread(void *arg)
{
	const struct stat_job *j = arg;
	char p[3 * PATH_MAX];
	struct stat st;
	int i;

	for (i = 0; i < j->n; i++) {
		snprintf(p, sizeof(p), "%s/absent-mt%d-%d-%d", j->dir, j->round, j->t, i);
		if (stat(p, &st) == 0) {
			fprintf(stderr, "stat %s: unexpected\n", p);
			exit(1);
		}
	}
	return NULL;
}

/* STAT_THREADS threads stat @n absent names each, all at once: the rate of them all */
static double run_stat_threads(const char *dir, int n)
{
	static int round;
	struct stat_job jobs[STAT_THREADS];
	pthread_t th[STAT_THREADS];
	double t0 = bench_now();
	int t;

	round++;
	for (t = 0; t < STAT_THREADS; t++) {
		jobs[t] = (struct stat_job){ dir, n, round, t };
		if (pthread_create(&th[t], NULL, stat_absent_thread, &jobs[t])) {
			fprintf(stderr, "fs_bench: pthread_create failed\n");
			exit(1);
		}
	}
	for (t = 0; t < STAT_THREADS; t++)
		pthread_join(th[t], NULL);
	return (double)STAT_THREADS * n / (bench_now() - t0);
}

/*
 * Stat of absent names, from one thread and from STAT_THREADS, on kvfs and
 * tmpfs (@dirs) and on the empty FUSE server on each loop, runs alternated:
 * the medians in *@one and *@many, the server's in @floor1 and @floor8
 * ([0] kvfs's loop, [1] libfuse's). Return: 0, or 1 (said why).
 */
static int run_absent(char dirs[2][PATH_MAX], int nfiles, struct result *one, struct result *many,
		      double floor1[2], double floor8[2])
{
	double v[2][RUNS], vt[2][RUNS], fl[2][RUNS], flt[2][RUNS];
	char floor_dir[2][64];
	int r, k;

	for (k = 0; k < 2; k++) {
		snprintf(floor_dir[k], sizeof(floor_dir[k]), "/tmp/kvfs-fsbench-floor%d.%d", k,
			 getpid());
		mkdir(floor_dir[k], 0755);
		if (floor_mount(floor_dir[k], k)) {
			fprintf(stderr, "fs_bench: cannot mount the empty FUSE server at %s\n",
				floor_dir[k]);
			return 1;
		}
	}
	for (r = 0; r < RUNS; r++) {
		for (k = 0; k < 2; k++) {
			v[k][r] = run_stat(dirs[k], nfiles, false);
			vt[k][r] = run_stat_threads(dirs[k], nfiles * 4);
		}
		for (k = 0; k < 2; k++) {
			fl[k][r] = run_stat(floor_dir[k], nfiles, false);
			flt[k][r] = run_stat_threads(floor_dir[k], nfiles * 4);
		}
	}
	floor_unmount();
	for (k = 0; k < 2; k++) {
		rmdir(floor_dir[k]);
		floor1[k] = bench_median(fl[k], RUNS);
		floor8[k] = bench_median(flt[k], RUNS);
	}
	*one = (struct result){ bench_median(v[0], RUNS), bench_median(v[1], RUNS) };
	*many = (struct result){ bench_median(vt[0], RUNS), bench_median(vt[1], RUNS) };
	return 0;
}

static void make_many(const char *dir, int n)
{
	char p[3 * PATH_MAX];
	int i, fd;

	mkdir(dir, 0755);
	for (i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%.8000s/%08x%024d", dir, i * 2654435761u, i);
		fd = open(p, O_CREAT | O_WRONLY, 0644);
		if (fd < 0) {
			perror(p);
			exit(1);
		}
		close(fd);
	}
}

static double run_readdir(const char *dir, int n)
{
	double t0 = bench_now();
	struct dirent *e;
	DIR *d = opendir(dir);
	int count = 0;

	while ((e = readdir(d)))
		count++;
	closedir(d);
	if (count < n) {
		fprintf(stderr, "readdir %s: %d entries, expected %d\n", dir, count, n);
		exit(1);
	}
	return (double)count / (bench_now() - t0);
}

/* A shell tool over the 100k-file directory (output discarded): entries per second. */
static double run_tool(const char *tool, const char *dir, int n)
{
	char cmd[3 * PATH_MAX];
	double t0 = bench_now();

	snprintf(cmd, sizeof(cmd), "%s '%s' >/dev/null", tool, dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "fs_bench: %s failed\n", cmd);
		exit(1);
	}
	return (double)n / (bench_now() - t0);
}

#define RAND_FILE (64u << 20)
#define RAND_OPS  20000

static void make_rand_file(const char *dir)
{
	char p[3 * PATH_MAX];
	int fd, i;

	snprintf(p, sizeof(p), "%s/rand", dir);
	fd = open(p, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	for (i = 0; fd >= 0 && i < (int)(RAND_FILE >> 21); i++)
		if (write(fd, buf, 2 << 20) != 2 << 20) {
			perror(p);
			exit(1);
		}
	if (fd < 0) {
		perror(p);
		exit(1);
	}
	close(fd);
}

/* 4 KiB preads at random aligned offsets (the same ones for both): reads per second. */
static double run_rand_read(const char *dir)
{
	char p[3 * PATH_MAX];
	unsigned seed = 7;
	double t0;
	int fd, i;

	snprintf(p, sizeof(p), "%s/rand", dir);
	fd = open(p, O_RDONLY);
	t0 = bench_now();
	for (i = 0; fd >= 0 && i < RAND_OPS; i++) {
		off_t off = (off_t)(rand_r(&seed) % (RAND_FILE / 4096)) * 4096;

		if (pread(fd, buf, 4096, off) != 4096) {
			perror(p);
			exit(1);
		}
	}
	t0 = bench_now() - t0;
	if (fd < 0) {
		perror(p);
		exit(1);
	}
	close(fd);
	return RAND_OPS / t0;
}

/* 8-byte stores to random pages of a shared mapping, then msync: stores per second. */
static double run_mmap_write(const char *dir)
{
	char p[3 * PATH_MAX];
	unsigned seed = 11;
	uint8_t *m;
	double t0;
	int fd, i;

	snprintf(p, sizeof(p), "%s/rand", dir);
	fd = open(p, O_RDWR);
	m = fd < 0 ? MAP_FAILED : mmap(NULL, RAND_FILE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		perror(p);
		exit(1);
	}
	t0 = bench_now();
	for (i = 0; i < RAND_OPS; i++)
		*(volatile uint64_t *)(m + (size_t)(rand_r(&seed) % (RAND_FILE / 4096)) * 4096) = i;
	msync(m, RAND_FILE, MS_SYNC);
	t0 = bench_now() - t0;
	munmap(m, RAND_FILE);
	close(fd);
	return RAND_OPS / t0;
}

static void row(const char *what, const char *unit, double scale, struct result r)
{
	printf("%-40s %12.1f %12.1f %-6s %7.2f\n", what, r.kvfs / scale, r.tmpfs / scale, unit,
	       r.kvfs / r.tmpfs);
}

int main(int argc, char **argv)
{
	int nfiles = argc > 1 ? atoi(argv[1]) : 512, ndir = argc > 2 ? atoi(argv[2]) : 100000;
	char dirs[2][PATH_MAX], many[2][2 * PATH_MAX];
	double v[2][RUNS], floor1[2], floor8[2];
	struct result create, rd, st_hit, st_miss, st_miss8, rdir, lsl, du, rread, mwrite;
	int r, k;

	buf = aligned_alloc(4096, 2 << 20);
	memset(buf, 0x5a, 2 << 20);
	if (bench_mount("size=3G,inodes=262144")) {
		fprintf(stderr, "fs_bench: cannot mount kvfs (build/kvfs built? root?)\n");
		return 1;
	}
	snprintf(dirs[0], sizeof(dirs[0]), "%.4000s/files", bench_mnt);
	snprintf(dirs[1], sizeof(dirs[1]), "/dev/shm/kvfs-fsbench-tmpfs.%d", getpid());
	snprintf(many[0], sizeof(many[0]), "%s/many", bench_mnt);
	snprintf(many[1], sizeof(many[1]), "%s/many", dirs[1]);
	for (k = 0; k < 2; k++)
		mkdir(dirs[k], 0755);
	/* create: RUNS rounds, each into fresh names; keep round 0 for reads and stats */
	for (r = 0; r < RUNS; r++)
		for (k = 0; k < 2; k++) {
			v[k][r] = run_create(dirs[k], nfiles, r);
			if (r)
				remove_round(dirs[k], nfiles, r);
		}
	create = (struct result){ bench_median(v[0], RUNS), bench_median(v[1], RUNS) };
	for (r = 0; r < RUNS; r++)
		for (k = 0; k < 2; k++)
			v[k][r] = run_read(dirs[k], nfiles);
	rd = (struct result){ bench_median(v[0], RUNS), bench_median(v[1], RUNS) };
	for (r = 0; r < RUNS; r++)
		for (k = 0; k < 2; k++)
			v[k][r] = run_stat(dirs[k], nfiles, true);
	st_hit = (struct result){ bench_median(v[0], RUNS), bench_median(v[1], RUNS) };
	if (run_absent(dirs, nfiles, &st_miss, &st_miss8, floor1, floor8))
		return 1;
	for (k = 0; k < 2; k++)
		make_many(many[k], ndir);
	for (r = 0; r < RUNS; r++)
		for (k = 0; k < 2; k++)
			v[k][r] = run_readdir(many[k], ndir);
	rdir = (struct result){ bench_median(v[0], RUNS), bench_median(v[1], RUNS) };
	for (r = 0; r < RUNS; r++)
		for (k = 0; k < 2; k++)
			v[k][r] = run_tool("ls -l", many[k], ndir);
	lsl = (struct result){ bench_median(v[0], RUNS), bench_median(v[1], RUNS) };
	for (r = 0; r < RUNS; r++)
		for (k = 0; k < 2; k++)
			v[k][r] = run_tool("du -s", many[k], ndir);
	du = (struct result){ bench_median(v[0], RUNS), bench_median(v[1], RUNS) };
	for (k = 0; k < 2; k++)
		make_rand_file(dirs[k]);
	for (r = 0; r < RUNS; r++)
		for (k = 0; k < 2; k++)
			v[k][r] = run_rand_read(dirs[k]);
	rread = (struct result){ bench_median(v[0], RUNS), bench_median(v[1], RUNS) };
	for (r = 0; r < RUNS; r++)
		for (k = 0; k < 2; k++)
			v[k][r] = run_mmap_write(dirs[k]);
	mwrite = (struct result){ bench_median(v[0], RUNS), bench_median(v[1], RUNS) };

	printf("fs_bench: kvfs vs tmpfs, medians of %d runs (%d files of 2 MiB; readdir of %d)\n",
	       RUNS, nfiles, ndir);
	printf("%-40s %12s %12s %-6s %7s\n", "operation", "kvfs", "tmpfs", "unit", "ratio");
	row("create+write+close 2 MiB files", "GB/s", 1e9, create);
	row("read 2 MiB files (open+read+close)", "GB/s", 1e9, rd);
	row("stat, present names", "k/s", 1e3, st_hit);
	row("stat, absent names (first time each)", "k/s", 1e3, st_miss);
	row("stat, absent names, 8 threads", "k/s", 1e3, st_miss8);
	row("readdir (entries)", "k/s", 1e3, rdir);
	row("ls -l (entries)", "k/s", 1e3, lsl);
	row("du -s (entries)", "k/s", 1e3, du);
	row("4 KiB random reads (pread)", "k/s", 1e3, rread);
	row("random stores to a shared mapping+msync", "k/s", 1e3, mwrite);
	printf("ratio: kvfs / tmpfs (higher is better; 1.00 = as fast as tmpfs)\n");
	printf("stat, absent names: an empty FUSE server %.1f k/s (one round trip, no work); "
	       "kvfs at %.2f of it, tmpfs %.1fx it\n",
	       floor1[0] / 1e3, st_miss.kvfs / floor1[0], st_miss.tmpfs / floor1[0]);
	printf("  8 threads: the empty server %.1f k/s, kvfs at %.2f of it\n", floor8[0] / 1e3,
	       st_miss8.kvfs / floor8[0]);
	printf("  the empty server on libfuse's loop: %.1f k/s, 8 threads %.1f k/s "
	       "(kvfs's loop at %.2f / %.2f of it)\n",
	       floor1[1] / 1e3, floor8[1] / 1e3, floor1[0] / floor1[1], floor8[0] / floor8[1]);
	{
		char cmd[PATH_MAX + 64];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dirs[1]);
		if (system(cmd) != 0)
			fprintf(stderr, "fs_bench: could not remove %s\n", dirs[1]);
	}
	return 0;
}
