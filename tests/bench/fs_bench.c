// SPDX-License-Identifier: MIT
/*
 * fs_bench.c - kvfs against tmpfs through the file API, in one run:
 * create+write+close of 2 MiB files, stat of present and absent names, read
 * of 2 MiB files, and readdir of 100k files. Each row prints kvfs's and
 * tmpfs's rate (medians) and their ratio (kvfs / tmpfs; 1.0 = as fast).
 *   fs_bench [FILES_2MIB] [READDIR_FILES]   (defaults 512 and 100000)
 */
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "bench_util.h"

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

static void row(const char *what, const char *unit, double scale, struct result r)
{
	printf("%-40s %12.1f %12.1f %-6s %7.2f\n", what, r.kvfs / scale, r.tmpfs / scale, unit,
	       r.kvfs / r.tmpfs);
}

int main(int argc, char **argv)
{
	int nfiles = argc > 1 ? atoi(argv[1]) : 512, ndir = argc > 2 ? atoi(argv[2]) : 100000;
	char dirs[2][PATH_MAX], many[2][2 * PATH_MAX];
	double v[2][RUNS];
	struct result create, rd, st_hit, st_miss, rdir;
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
	for (r = 0; r < RUNS; r++)
		for (k = 0; k < 2; k++)
			v[k][r] = run_stat(dirs[k], nfiles, false);
	st_miss = (struct result){ bench_median(v[0], RUNS), bench_median(v[1], RUNS) };
	for (k = 0; k < 2; k++)
		make_many(many[k], ndir);
	for (r = 0; r < RUNS; r++)
		for (k = 0; k < 2; k++)
			v[k][r] = run_readdir(many[k], ndir);
	rdir = (struct result){ bench_median(v[0], RUNS), bench_median(v[1], RUNS) };

	printf("fs_bench: kvfs vs tmpfs, medians of %d runs (%d files of 2 MiB; readdir of %d)\n",
	       RUNS, nfiles, ndir);
	printf("%-40s %12s %12s %-6s %7s\n", "operation", "kvfs", "tmpfs", "unit", "ratio");
	row("create+write+close 2 MiB files", "GB/s", 1e9, create);
	row("read 2 MiB files (open+read+close)", "GB/s", 1e9, rd);
	row("stat, present names", "k/s", 1e3, st_hit);
	row("stat, absent names (first time each)", "k/s", 1e3, st_miss);
	row("readdir (entries)", "k/s", 1e3, rdir);
	printf("ratio: kvfs / tmpfs (higher is better; 1.00 = as fast as tmpfs)\n");
	{
		char cmd[PATH_MAX + 64];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dirs[1]);
		if (system(cmd) != 0)
			fprintf(stderr, "fs_bench: could not remove %s\n", dirs[1]);
	}
	return 0;
}
