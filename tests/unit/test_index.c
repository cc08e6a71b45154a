// SPDX-License-Identifier: MIT
/*
 * test_index.c - the name index against a model: thousands of creates,
 * unlinks and renames (plain, RENAME_NOREPLACE, RENAME_EXCHANGE) across
 * directories, in a random order, and after each batch every name the
 * model holds is found with its inode, every removed one is not, and a
 * reopen (which rebuilds the index from the pool) agrees. It exercises the
 * open-addressing table's deletion, which shifts later slots back.
 * A record whose name is changed in the pool behind the daemon's back still
 * leaves the table cleanly (by the hash it went in with) when evicted.
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

#include <fcntl.h>
#include <sys/mman.h>

#include "layout.h"
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

/*
 * Rename records in the pool itself (as a buggy or hostile writer of the
 * pool file might), then evict everything: each record must leave the slot
 * it went in, or later lookups would find a freed record, or none.
 */
static void test_remove_after_pool_rename(void **state)
{
	struct kv_open_opts o = { .numa_node = -1 };
	enum { N = 300 };
	static uint64_t ino[N];
	const struct kv_geometry *g;
	struct kv_pool *p;
	struct kv_attr a;
	char nm[48], blk[4096];
	uint8_t *img;
	int i, fd;

	memset(blk, 7, sizeof(blk));
	assert_int_equal(kv_pool_mkfs(path, 64ull << 20, N + 64, false), 0);
	assert_int_equal(kv_pool_open(path, &o, &p), 0);
	for (i = 0; i < N; i++) {
		int len = name_of(nm, i);

		assert_int_equal(kv_create(p, 1, nm, (size_t)len, S_IFREG | 0644, 0, 0, &a), 0);
		ino[i] = a.ino;
		assert_int_equal(kv_write(p, a.ino, blk, sizeof(blk), 0), (ssize_t)sizeof(blk));
		kv_forget(p, a.ino, 1);
	}
	g = kv_pool_geometry(p);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	img = mmap(NULL, g->pool_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(img != MAP_FAILED);
	for (i = 0; i < N; i += 3) { /* a name of the same length that was never linked */
		struct kv_inode *in = (struct kv_inode *)(img + g->inode_off) + ino[i];

		in->name[0] = 'z';
	}
	munmap(img, g->pool_size);
	kv_pool_evict_to(p, 0);
	for (i = 0; i < N; i++) {
		int len = name_of(nm, i);

		assert_int_equal(kv_lookup(p, 1, nm, (size_t)len, &a), -ENOENT);
		nm[0] = 'z';
		assert_int_equal(kv_lookup(p, 1, nm, (size_t)len, &a), -ENOENT);
	}
	/* the table still works: every name can be made again and found */
	for (i = 0; i < N; i++) {
		int len = name_of(nm, i);

		assert_int_equal(kv_create(p, 1, nm, (size_t)len, S_IFREG | 0644, 0, 0, &a), 0);
		kv_forget(p, a.ino, 1);
		assert_int_equal(kv_lookup(p, 1, nm, (size_t)len, &a), 0);
		kv_forget(p, a.ino, 1);
	}
	for (i = 0; i < N; i++) {
		int len = name_of(nm, i);

		assert_int_equal(kv_unlink(p, 1, nm, (size_t)len), 0);
		assert_int_equal(kv_lookup(p, 1, nm, (size_t)len, &a), -ENOENT);
	}
	/* one record renamed, evicted and reused at once under its old name (the free list
	 * gives the last freed record first): a slot left behind would make it be there twice */
	assert_int_equal(kv_create(p, 1, "solo", 4, S_IFREG | 0644, 0, 0, &a), 0);
	assert_int_equal(kv_write(p, a.ino, blk, sizeof(blk), 0), (ssize_t)sizeof(blk));
	kv_forget(p, a.ino, 1);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	img = mmap(NULL, g->pool_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(img != MAP_FAILED);
	((struct kv_inode *)(img + g->inode_off) + a.ino)->name[0] = 'z';
	munmap(img, g->pool_size);
	kv_pool_evict_to(p, 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(kv_create(p, 1, "solo", 4, S_IFREG | 0644, 0, 0, &a), 0);
		kv_forget(p, a.ino, 1);
		assert_int_equal(kv_unlink(p, 1, "solo", 4), 0);
		assert_int_equal(kv_lookup(p, 1, "solo", 4, &a), -ENOENT);
	}
	kv_pool_close(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_index_model, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_after_pool_rename, setup, teardown),
	};

	kv_log_set_handler(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
