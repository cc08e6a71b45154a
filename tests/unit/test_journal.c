// SPDX-License-Identifier: MIT
/*
 * test_journal.c - a journal transaction that cannot be staged fails whole.
 * The daemon's checked copy of the journal size is made too small for a
 * rename, an unlink, an xattr or a commit of reservations (as a bug that
 * outgrew the journal would be): each fails with E2BIG, and the pool and
 * the daemon's indexes keep their state before it, never half of it; with
 * the journal's room back, the same calls succeed and fsck is clean.
 * White-box: it reaches into struct kv_pool (pool_int.h) for the size.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mm.h"
#include "pool_int.h"

static char path[64];

static void quiet_log(enum kv_log_level level, const char *fmt, va_list ap)
{
}

static int setup(void **state)
{
	snprintf(path, sizeof(path), "/tmp/kvfs-unit-journal-%d.pool", getpid());
	unlink(path);
	kv_log_set_handler(quiet_log); /* the failed adds log an error each */
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

/* Room in the journal for one small field record: no rename, unlink, xattr or commit fits. */
static uint64_t shrink_journal(struct kv_pool *p)
{
	uint64_t saved = p->geo.journal_size;

	p->geo.journal_size = sizeof(struct kv_journal_head) + sizeof(struct kv_journal_rec) + 8;
	return saved;
}

static void test_overflow_fails_whole(void **state)
{
	struct kv_open_opts o = { .numa_node = -1 };
	struct kv_attr a, b, d, x;
	struct kv_pool_stats st;
	struct kv_pool *p = NULL;
	struct kv_extent ext;
	uint64_t saved, replaced = 7, ino, inos[2];
	uint8_t pub2[2];
	char v[8];

	assert_int_equal(kv_pool_mkfs(path, 32 << 20, 0, false), 0);
	assert_int_equal(kv_pool_open(path, &o, &p), 0);
	assert_int_equal(kv_create(p, KV_ROOT_INO, "a", 1, S_IFREG | 0644, 0, 0, &a), 0);
	assert_int_equal(kv_write(p, a.ino, "aaaa", 4, 0), 4);
	assert_int_equal(kv_create(p, KV_ROOT_INO, "b", 1, S_IFREG | 0644, 0, 0, &b), 0);
	assert_int_equal(kv_write(p, b.ino, "bbbb", 4, 0), 4);
	assert_int_equal(kv_create(p, KV_ROOT_INO, "d", 1, S_IFDIR | 0755, 0, 0, &d), 0);
	assert_int_equal(kv_reserve(p, d.ino, "r", 1, 4096, 0, 0, true, &ino, &ext), 0);
	assert_int_equal(kv_reserve(p, d.ino, "s", 1, 4096, 0, 0, true, &inos[1], &ext), 0);
	inos[0] = ino;
	kv_pool_get_stats(p, &st);
	assert_int_equal(st.files, 2);

	saved = shrink_journal(p);
	/* a rename over another file: the name, the victim's state and extents */
	assert_int_equal(kv_rename(p, KV_ROOT_INO, "a", 1, KV_ROOT_INO, "b", 1, 0, &replaced),
			 -E2BIG);
	assert_int_equal(replaced, 0);
	assert_int_equal(kv_rename(p, KV_ROOT_INO, "a", 1, d.ino, "a", 1, 0, &replaced), -E2BIG);
	assert_int_equal(
	    kv_rename(p, KV_ROOT_INO, "a", 1, KV_ROOT_INO, "d", 1, RENAME_EXCHANGE, &replaced),
	    -E2BIG);
	assert_int_equal(kv_unlink(p, KV_ROOT_INO, "b", 1), -E2BIG);
	assert_int_equal(kv_setxattr(p, a.ino, "user.k", "v", 1, 0), -E2BIG);
	/* a commit stages one record per block: two do not fit */
	assert_int_equal(kv_commit(p, inos, 2, pub2), -E2BIG);
	/* nothing changed, in the indexes nor in the pool */
	assert_int_equal(kv_lookup(p, KV_ROOT_INO, "a", 1, &x), 0);
	assert_int_equal(x.ino, a.ino);
	assert_int_equal(kv_lookup(p, KV_ROOT_INO, "b", 1, &x), 0);
	assert_int_equal(x.ino, b.ino);
	assert_int_equal(kv_lookup(p, KV_ROOT_INO, "d", 1, &x), 0);
	assert_int_equal(x.ino, d.ino);
	assert_int_equal(kv_lookup(p, d.ino, "a", 1, &x), -ENOENT);
	assert_int_equal(kv_lookup(p, d.ino, "r", 1, &x), -ENOENT);
	assert_int_equal(kv_lookup(p, d.ino, "s", 1, &x), -ENOENT);
	assert_int_equal(kv_read(p, b.ino, v, sizeof(v), 0), 4);
	assert_memory_equal(v, "bbbb", 4);
	assert_int_equal(kv_getxattr(p, a.ino, "user.k", v, sizeof(v)), -ENODATA);
	kv_pool_get_stats(p, &st);
	assert_int_equal(st.files, 2);

	/* with the room back, the same calls go through */
	p->geo.journal_size = saved;
	assert_int_equal(kv_setxattr(p, a.ino, "user.k", "v", 1, 0), 0);
	assert_int_equal(kv_rename(p, KV_ROOT_INO, "a", 1, KV_ROOT_INO, "b", 1, 0, &replaced), 0);
	assert_int_equal(replaced, b.ino);
	assert_int_equal(kv_commit(p, inos, 2, pub2), 0);
	assert_int_equal(pub2[0] && pub2[1], 1);
	assert_int_equal(kv_lookup(p, d.ino, "r", 1, &x), 0);
	assert_int_equal(kv_lookup(p, d.ino, "s", 1, &x), 0);
	assert_int_equal(kv_unlink(p, KV_ROOT_INO, "b", 1), 0);
	kv_pool_close(p);
	assert_int_equal(kv_pool_fsck(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_overflow_fails_whole, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
