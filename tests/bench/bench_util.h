/* SPDX-License-Identifier: MIT */
/*
 * bench_util.h - shared by the benchmarks: a monotonic clock, medians, and
 * mounting a private kvfs (build/kvfs next to build/bench/) that is
 * unmounted and removed at exit or on SIGINT/SIGTERM.
 */
#ifndef KVFS_TESTS_BENCH_UTIL_H
#define KVFS_TESTS_BENCH_UTIL_H

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char bench_mnt[PATH_MAX], bench_pool[PATH_MAX];
static int bench_own_mount;

static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static inline double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	return v[n / 2];
}

static void bench_unmount(void)
{
	char cmd[PATH_MAX * 4];

	if (!bench_own_mount)
		return;
	bench_own_mount = 0;
	snprintf(cmd, sizeof(cmd), "umount %s 2>/dev/null; sleep 0.3; rmdir %s; rm -f %s",
		 bench_mnt, bench_mnt, bench_pool);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: cleanup of %s failed\n", bench_mnt);
}

static void bench_on_signal(int sig)
{
	bench_unmount();
	_exit(128 + sig);
}

/* Mount a fresh kvfs with "-o OPTS" on a temporary directory. Return: 0 or -1. */
static inline int bench_mount(const char *opts)
{
	char self[PATH_MAX], cmd[PATH_MAX * 4], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return -1;
	self[n] = 0;
	slash = strrchr(self, '/');
	*slash = 0;
	snprintf(bench_mnt, sizeof(bench_mnt), "/tmp/kvfs-bench-mnt.%d", getpid());
	snprintf(bench_pool, sizeof(bench_pool), "/dev/shm/kvfs-bench.%d.pool", getpid());
	if (mkdir(bench_mnt, 0755))
		return -1;
	snprintf(cmd, sizeof(cmd), "%s/../kvfs mount -o %s %s %s", self, opts, bench_pool,
		 bench_mnt);
	if (system(cmd) != 0) {
		rmdir(bench_mnt);
		return -1;
	}
	bench_own_mount = 1;
	atexit(bench_unmount);
	signal(SIGINT, bench_on_signal);
	signal(SIGTERM, bench_on_signal);
	return 0;
}

#endif /* KVFS_TESTS_BENCH_UTIL_H */
