// SPDX-License-Identifier: MIT
/*
 * test_room_ahead.c - room kept ahead of open files goes back before
 * anything is evicted or refused for it. 300 open files of 100 bytes each
 * once kept 300 MiB of room ahead on a 256 MiB pool; a 200 MiB file
 * written next to them (and to ten closed cached files) must still fit,
 * with nothing evicted, every open file keeping its bytes and growing on.
 * Files that do grow (appended to) get room ahead, and it is taken back
 * before a cached file is evicted for new data.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mm.h"

#define OPEN_FILES 300

static char path[64];

static int setup(void **state)
{
	snprintf(path, sizeof(path), "/tmp/kvfs-unit-ahead-%d.pool", getpid());
	unlink(path);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

/* Ten cached files of 1 MiB nobody holds. */
static void store_cached(struct kv_pool *p)
{
	static char chunk[1 << 20];
	struct kv_attr a;
	char nm[32];
	int i;

	for (i = 0; i < 10; i++) {
		snprintf(nm, sizeof(nm), "cached%d", i);
		assert_int_equal(kv_create(p, 1, nm, strlen(nm), S_IFREG | 0644, 0, 0, &a), 0);
		assert_int_equal(kv_write(p, a.ino, chunk, sizeof(chunk), 0), (ssize_t)sizeof(chunk));
		kv_forget(p, a.ino, 1);
	}
}

/* None of them was evicted. */
static void cached_all_there(struct kv_pool *p)
{
	struct kv_attr a;
	char nm[32];
	int i;

	for (i = 0; i < 10; i++) {
		snprintf(nm, sizeof(nm), "cached%d", i);
		assert_int_equal(kv_lookup(p, 1, nm, strlen(nm), &a), 0);
		assert_int_equal(a.size, 1 << 20);
	}
}

static void test_room_ahead_goes_first(void **state)
{
	struct kv_open_opts o = { .numa_node = -1 };
	static struct kv_attr f[OPEN_FILES];
	static char chunk[1 << 20];
	struct kv_attr big;
	struct kv_pool_stats st;
	struct kv_pool *p;
	char nm[32], buf[128];
	uint64_t off;
	int i;

	assert_int_equal(kv_pool_mkfs(path, 256ull << 20, 4096, false), 0);
	assert_int_equal(kv_pool_open(path, &o, &p), 0);
	store_cached(p); /* the first thing eviction would take */
	/* 300 open files, 100 bytes written to each, kept open */
	memset(buf, 'x', sizeof(buf));
	for (i = 0; i < OPEN_FILES; i++) {
		snprintf(nm, sizeof(nm), "open%d", i);
		assert_int_equal(kv_create(p, 1, nm, strlen(nm), S_IFREG | 0644, 0, 0, &f[i]), 0);
		assert_int_equal(kv_open(p, f[i].ino), 0);
		assert_int_equal(kv_write(p, f[i].ino, buf, 100, 0), 100);
	}
	kv_pool_get_stats(p, &st);
	assert_int_equal(st.evictions, 0);
	/* 200 MiB more, in 1 MiB writes */
	assert_int_equal(kv_create(p, 1, "big", 3, S_IFREG | 0644, 0, 0, &big), 0);
	assert_int_equal(kv_open(p, big.ino), 0);
	memset(chunk, 'b', sizeof(chunk));
	for (off = 0; off < (200ull << 20); off += sizeof(chunk))
		assert_int_equal(kv_write(p, big.ino, chunk, sizeof(chunk), off),
				 (ssize_t)sizeof(chunk));
	kv_pool_get_stats(p, &st);
	assert_int_equal(st.evictions, 0);
	cached_all_there(p);
	/* the open files kept their bytes, and can still grow */
	for (i = 0; i < OPEN_FILES; i++) {
		assert_int_equal(kv_read(p, f[i].ino, buf, sizeof(buf), 0), 100);
		assert_int_equal(buf[99], 'x');
	}
	assert_int_equal(kv_write(p, f[0].ino, buf, 100, 100), 100);
	assert_int_equal(kv_read(p, f[0].ino, buf, sizeof(buf), 0), 128);
	for (i = 0; i < OPEN_FILES; i++)
		kv_release(p, f[i].ino);
	kv_release(p, big.ino);
	kv_pool_close(p);
}

/* 200 open files that grew hold ~200 MiB of room; 100 new 512 KiB files take it back. */
static void test_room_ahead_reclaimed(void **state)
{
	struct kv_open_opts o = { .numa_node = -1 };
	static struct kv_attr f[200];
	struct kv_attr a;
	struct kv_pool_stats st;
	struct kv_pool *p;
	char nm[32], buf[4096];
	int i;

	assert_int_equal(kv_pool_mkfs(path, 256ull << 20, 4096, false), 0);
	assert_int_equal(kv_pool_open(path, &o, &p), 0);
	store_cached(p);
	memset(buf, 'y', sizeof(buf));
	for (i = 0; i < 200; i++) {
		snprintf(nm, sizeof(nm), "app%d", i);
		assert_int_equal(kv_create(p, 1, nm, strlen(nm), S_IFREG | 0644, 0, 0, &f[i]), 0);
		assert_int_equal(kv_open(p, f[i].ino), 0);
		assert_int_equal(kv_write(p, f[i].ino, buf, 4096, 0), 4096);
		assert_int_equal(kv_write(p, f[i].ino, buf, 100, 4096),
				 100); /* grows: room ahead */
	}
	kv_pool_get_stats(p, &st);
	assert_true(st.used_bytes > (200ull << 20)); /* the room is really held */
	assert_int_equal(st.evictions, 0);
	for (i = 0; i < 100; i++) {
		snprintf(nm, sizeof(nm), "new%d", i);
		assert_int_equal(kv_create(p, 1, nm, strlen(nm), S_IFREG | 0644, 0, 0, &a), 0);
		assert_int_equal(kv_truncate(p, a.ino, 512 << 10), 0);
		kv_forget(p, a.ino, 1);
	}
	kv_pool_get_stats(p, &st);
	assert_int_equal(st.evictions, 0);
	assert_true(st.bytes_trimmed >= (100ull << 20));
	cached_all_there(p);
	for (i = 0; i < 200; i++) {
		assert_int_equal(kv_read(p, f[i].ino, buf, sizeof(buf), 4096), 100);
		assert_int_equal(buf[99], 'y');
		assert_int_equal(kv_write(p, f[i].ino, buf, 10, 4196), 10); /* grows on */
		kv_release(p, f[i].ino);
	}
	kv_pool_close(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_room_ahead_goes_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_room_ahead_reclaimed, setup, teardown),
	};

	kv_log_set_handler(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
