// SPDX-License-Identifier: MIT
/*
 * test_crash.c - crash consistency with injected kills. A child process
 * works on the pool and is killed (SIGKILL) at a chosen fault point, or at a
 * random moment; the parent reopens the pool and checks the three promises:
 * (1) every file whose last close or rename completed is there, identical;
 * (2) no file shows bytes that were not written to it;
 * (3) no space leaks: used = the sum of what the files hold, fsck is clean.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mm.h"

static char path[64];

/* The content of file "fN" is a pure function of N: anything else is a bug. */
static uint8_t pattern(unsigned n, uint64_t off)
{
	return (uint8_t)(n * 2654435761u + off * 40503u + (off >> 11));
}

static size_t file_len(unsigned n)
{
	return 4096 * (1 + n % 7) + 123 * (n % 5);
}

struct fault_plan {
	enum kv_fault_point point;
	int countdown; /* die on this hit */
};

static void die_at(enum kv_fault_point fp, void *arg)
{
	struct fault_plan *plan = arg;

	if (fp == plan->point && --plan->countdown == 0)
		raise(SIGKILL);
}

/*
 * The workload: create "tmpN", write it, rename to "fN" (the commit point a
 * file-based engine uses), sometimes unlink or overwrite older files. Each
 * completed rename is reported on @fd as "N\n"; an unlink as "-N\n",
 * before it starts (a kill during the unlink may leave the file gone or not,
 * and reported after, it would be a completed file gone missing).
 */
static void workload(struct kv_pool *p, int fd, unsigned first, unsigned count)
{
	uint8_t *buf = malloc(64 << 10);
	unsigned n;

	for (n = first; n < first + count; n++) {
		char tmp[32], fin[32];
		struct kv_attr a;
		uint64_t replaced;
		size_t len = file_len(n), i;
		int tl = snprintf(tmp, sizeof(tmp), "tmp%u", n),
		    fl = snprintf(fin, sizeof(fin), "f%u", n);

		for (i = 0; i < len; i++)
			buf[i] = pattern(n, i);
		if (kv_create(p, KV_ROOT_INO, tmp, (size_t)tl, S_IFREG | 0644, 0, 0, &a))
			continue;
		kv_open(p, a.ino);
		if (n % 3 == 0) {
			kv_truncate(p, a.ino, len); /* size known up front */
			kv_write(p, a.ino, buf, len, 0);
		} else {
			kv_write(p, a.ino, buf, len / 2, 0); /* grows by appends */
			kv_write(p, a.ino, buf + len / 2, len - len / 2, len / 2);
		}
		if (n % 4 == 1)
			kv_setxattr(p, a.ino, "user.n", &n, sizeof(n), 0);
		kv_release(p, a.ino);
		if (kv_rename(p, KV_ROOT_INO, tmp, (size_t)tl, KV_ROOT_INO, fin, (size_t)fl, 0,
			      &replaced) == 0)
			dprintf(fd, "%u\n", n);
		kv_forget(p, a.ino, 1);
		if (n % 5 == 4 && n > first) {
			char old[32];
			int ol = snprintf(old, sizeof(old), "f%u", n - 1);

			dprintf(fd, "-%u\n", n - 1); /* intent first */
			kv_unlink(p, KV_ROOT_INO, old, (size_t)ol);
		}
	}
	free(buf);
}

/* Check the promises; return the number of files found. */
static unsigned verify(const uint8_t *completed, unsigned max)
{
	struct kv_open_opts o = { .numa_node = -1 };
	struct kv_pool_stats st;
	struct kv_dirent *ents;
	struct kv_pool *p;
	uint64_t n, i, held_bytes = 0;
	uint8_t *buf = malloc(64 << 10);
	unsigned found = 0, k;

	assert_int_equal(kv_pool_open(path, &o, &p), 0);
	assert_int_equal(kv_dir_snapshot(p, KV_ROOT_INO, &ents, &n), 0);
	for (i = 0; i < n; i++) {
		char name[256];
		struct kv_attr a;
		unsigned idx;
		ssize_t got;
		int len = kv_dirent_name(p, &ents[i], name, sizeof(name), &a);

		assert_true(len > 0);
		held_bytes += a.alloc_bytes;
		/* (2): whatever a file shows is its own pattern, tmp files included */
		if (sscanf(name, "f%u", &idx) != 1 && sscanf(name, "tmp%u", &idx) != 1)
			fail_msg("unexpected file %s", name);
		assert_true(a.size <= file_len(idx));
		got = kv_read(p, a.ino, buf, 64 << 10, 0);
		assert_int_equal(got, (ssize_t)a.size);
		/*
		 * Files the workload sized with truncate first (idx % 3 == 0) may show
		 * the zeros truncate wrote if the kill came before the data; any other
		 * byte is the file's own pattern.
		 */
		for (k = 0; k < a.size; k++)
			if (buf[k] != pattern(idx, k) && !(idx % 3 == 0 && buf[k] == 0))
				fail_msg("%s: byte %u is %u, not what was written", name, k,
					 buf[k]);
		if (name[0] == 'f') {
			found++;
			/* (1): completed files are whole */
			if (idx < max && completed[idx] == 1)
				assert_int_equal(a.size, file_len(idx));
		}
	}
	/* (1): nothing completed is missing */
	for (k = 0; k < max; k++)
		if (completed[k] == 1) {
			char name[32];
			struct kv_attr a;
			int len = snprintf(name, sizeof(name), "f%u", k);

			if (kv_lookup(p, KV_ROOT_INO, name, (size_t)len, &a))
				fail_msg("completed file %s is missing", name);
		}
	/* (3): used space is exactly what the files hold */
	kv_pool_get_stats(p, &st);
	assert_int_equal(st.used_bytes, held_bytes);
	assert_int_equal(st.used_bytes + st.free_bytes, st.capacity_bytes);
	free(ents);
	free(buf);
	kv_pool_close(p);
	assert_int_equal(kv_pool_fsck(path), 0);
	return found;
}

/* Run the workload in a child that dies per @plan (or after @kill_ms). */
static void crash_run(struct fault_plan *plan, int kill_ms, unsigned first, unsigned count,
		      uint8_t *completed, unsigned max)
{
	int pipefd[2], status;
	pid_t pid;
	FILE *f;
	char line[32];

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kv_open_opts o = { .numa_node = -1 };
		struct kv_pool *p;

		close(pipefd[0]);
		if (kv_pool_open(path, &o, &p))
			_exit(3);
		if (plan)
			kv_pool_set_fault_hook(p, die_at, plan);
		workload(p, pipefd[1], first, count);
		_exit(0); /* no close: a clean exit without marking the pool clean */
	}
	close(pipefd[1]);
	if (kill_ms > 0) {
		struct timespec ts = { kill_ms / 1000, (kill_ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
	}
	f = fdopen(pipefd[0], "r");
	while (fgets(line, sizeof(line), f)) {
		int v = atoi(line);

		if (v >= 0 && (unsigned)v < max)
			completed[v] = 1;
		else if (v < 0 && (unsigned)-v < max)
			completed[-v] = 2; /* unlinked: may or may not be there */
	}
	fclose(f);
	waitpid(pid, &status, 0);
	if (plan)
		assert_true(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

static int setup(void **state)
{
	snprintf(path, sizeof(path), "/tmp/kvfs-crash-%d.pool", getpid());
	unlink(path);
	/* big enough that nothing is evicted: eviction may drop completed files */
	assert_int_equal(kv_pool_mkfs(path, 256 << 20, 8192, false), 0);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

/* Every fault point, at several hits each. */
static void test_fault_points(void **state)
{
	static const enum kv_fault_point points[] = {
		KV_FP_JOURNAL_WRITTEN, KV_FP_JOURNAL_COMMITTED, KV_FP_JOURNAL_APPLIED,
		KV_FP_CREATE_FILLED,   KV_FP_DATA_WRITTEN,	KV_FP_EXTENT_ALLOCATED,
	};
	uint8_t completed[4096] = { 0 };
	unsigned first = 0, i;
	int hit;

	for (i = 0; i < sizeof(points) / sizeof(points[0]); i++)
		for (hit = 1; hit <= 40; hit += 13) {
			struct fault_plan plan = { points[i], hit };

			crash_run(&plan, 0, first, 60, completed, sizeof(completed));
			verify(completed, sizeof(completed));
			first += 60;
		}
}

/* Kills at random moments, many rounds on one pool. */
static void test_random_kills(void **state)
{
	uint8_t completed[8192] = { 0 };
	unsigned first = 0, found = 0;
	int round;

	/* under valgrind (make valgrind) the workload runs some 50 times slower: kill later */
	int scale = getenv("KVFS_VALGRIND") ? 50 : 1;

	srand(42);
	for (round = 0; round < 12; round++) {
		crash_run(NULL, (2 + rand() % 25) * scale, first, 300, completed,
			  sizeof(completed));
		found = verify(completed, sizeof(completed));
		first += 300;
	}
	assert_true(found > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fault_points, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_kills, setup, teardown),
	};

	kv_log_set_handler(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
