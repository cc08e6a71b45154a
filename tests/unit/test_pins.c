// SPDX-License-Identifier: MIT
/*
 * test_pins.c - the pin table of a ctl handle (fs/pins.c), without a mount:
 * add and find, two inodes under one name, revive an entry whose count fell
 * to 0, unpin a batch all or nothing (a miss changes nothing), compaction
 * that keeps pin order, growth past many rehashes, and counts past 2^32.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "pins.h"

static void hash_of(uint64_t i, uint8_t h[16])
{
	uint64_t k = i * 0x9E3779B97F4A7C15ull, j = ~i;

	memcpy(h, &k, 8);
	memcpy(h + 8, &j, 8);
}

static void test_add_find(void **state)
{
	struct kv_pins t = { 0 };
	uint8_t a[16], b[16];
	struct kv_pin *p;

	hash_of(1, a);
	hash_of(2, b);
	assert_null(kv_pins_find(&t, 7, a, true, 0)); /* empty table */
	assert_int_equal(kv_pins_add(&t, 7, a, 100, 4096), 0);
	assert_int_equal(kv_pins_add(&t, 7, b, 101, 8192), 0);
	assert_int_equal(kv_pins_add(&t, 8, a, 102, 4096), 0); /* same hash, other namespace */
	assert_int_equal(t.live, 3);
	p = kv_pins_find(&t, 7, a, true, 0);
	assert_non_null(p);
	assert_int_equal(p->ino, 100);
	assert_int_equal(p->count, 1);
	assert_int_equal(p->bytes, 4096);
	assert_int_equal(kv_pins_find(&t, 8, a, true, 0)->ino, 102);
	assert_int_equal(kv_pins_find(&t, 7, b, false, 101)->bytes, 8192);
	assert_null(kv_pins_find(&t, 9, a, true, 0));
	assert_null(kv_pins_find(&t, 7, a, false, 101)); /* by inode: the name must match too */
	kv_pins_free(&t);
	assert_null(t.pin);
	assert_int_equal(t.n, 0);
}

/* A file replaced while pinned: the old inode's pin and the new one's coexist. */
static void test_two_inodes_one_name(void **state)
{
	struct kv_pins t = { 0 };
	uint8_t h[16];
	struct kv_pin *old, *cur;

	hash_of(3, h);
	assert_int_equal(kv_pins_add(&t, 1, h, 10, 100), 0);
	assert_int_equal(kv_pins_add(&t, 1, h, 11, 200), 0);
	old = kv_pins_find(&t, 1, h, false, 10);
	cur = kv_pins_find(&t, 1, h, false, 11);
	assert_non_null(old);
	assert_non_null(cur);
	assert_ptr_not_equal(old, cur);
	assert_ptr_equal(kv_pins_find(&t, 1, h, true, 0), old); /* the first live one */
	assert_true(kv_pins_put(&t, old));
	assert_ptr_equal(kv_pins_find(&t, 1, h, true, 0), cur);
	assert_int_equal(t.live, 1);
	kv_pins_free(&t);
}

static void test_revive(void **state)
{
	struct kv_pins t = { 0 };
	uint8_t h[16];
	struct kv_pin *p;

	hash_of(4, h);
	assert_int_equal(kv_pins_add(&t, 1, h, 20, 100), 0);
	p = kv_pins_find(&t, 1, h, true, 0);
	assert_false(kv_pins_get(&t, p, 999)); /* already live: bytes stay */
	assert_int_equal(p->count, 2);
	assert_int_equal(p->bytes, 100);
	assert_false(kv_pins_put(&t, p));
	assert_true(kv_pins_put(&t, p));
	assert_int_equal(t.live, 0);
	assert_null(kv_pins_find(&t, 1, h, true, 0));
	p = kv_pins_find(&t, 1, h, false, 20); /* dead, still there */
	assert_non_null(p);
	assert_true(kv_pins_get(&t, p, 300)); /* revived, charged anew */
	assert_int_equal(p->count, 1);
	assert_int_equal(p->bytes, 300);
	assert_int_equal(t.live, 1);
	assert_int_equal(t.n, 1); /* no second entry */
	kv_pins_free(&t);
}

static void test_unpin_batch(void **state)
{
	struct kv_pins t = { 0 };
	uint8_t h[4][16];
	struct kv_pin *taken[4], *a, *b;
	bool last[4];

	hash_of(5, h[0]);
	hash_of(6, h[1]);
	memcpy(h[2], h[0], 16);
	hash_of(7, h[3]); /* never pinned */
	assert_int_equal(kv_pins_add(&t, 1, h[0], 30, 1), 0);
	assert_int_equal(kv_pins_add(&t, 1, h[1], 31, 1), 0);
	a = kv_pins_find(&t, 1, h[0], true, 0);
	b = kv_pins_find(&t, 1, h[1], true, 0);
	kv_pins_get(&t, a, 1); /* a: 2 pins */

	/* one miss: nothing changes */
	assert_int_equal(kv_pins_unpin(&t, 1, (const uint8_t(*)[16])h, 4, taken, last), -EINVAL);
	assert_int_equal(a->count, 2);
	assert_int_equal(b->count, 1);
	assert_int_equal(t.live, 2);
	/* wrong namespace: nothing changes */
	assert_int_equal(kv_pins_unpin(&t, 2, (const uint8_t(*)[16])h, 1, taken, last), -EINVAL);
	assert_int_equal(a->count, 2);
	/* a twice and b once, in one pass: each entry's last pin reported once */
	assert_int_equal(kv_pins_unpin(&t, 1, (const uint8_t(*)[16])h, 3, taken, last), 0);
	assert_ptr_equal(taken[0], a);
	assert_ptr_equal(taken[1], b);
	assert_ptr_equal(taken[2], a);
	assert_false(last[0]);
	assert_true(last[1]);
	assert_true(last[2]);
	assert_int_equal(a->count, 0);
	assert_int_equal(t.live, 0);
	/* unpinned already: a second unpin is refused */
	assert_int_equal(kv_pins_unpin(&t, 1, (const uint8_t(*)[16])h, 1, taken, last), -EINVAL);
	assert_int_equal(kv_pins_unpin(&t, 1, (const uint8_t(*)[16])h, 0, taken, last), 0);
	kv_pins_free(&t);
}

/*
 * A prefix pinned again: kv_pins_find_at() takes the entry at the place
 * given when it is the one (name and inode), and finds it anywhere else
 * when not; an unpin in pin order, in the reverse order, or of a name pinned
 * for two inodes takes each pin it names, the same as kv_pins_find().
 */
static void test_pin_order(void **state)
{
	enum { N = 100 };
	struct kv_pins t = { 0 };
	uint8_t h[N][16], rev[N][16];
	struct kv_pin *taken[N];
	bool last[N];
	uint64_t i;

	for (i = 0; i < N; i++) {
		hash_of(1000 + i, h[i]);
		memcpy(rev[N - 1 - i], h[i], 16);
		assert_int_equal(kv_pins_add(&t, 5, h[i], 500 + i, 1), 0);
	}
	for (i = 0; i < N; i++) {
		assert_ptr_equal(kv_pins_find_at(&t, i, 5, h[i], 500 + i), &t.pin[i]);
		/* the place of another block, past the end, another inode, namespace */
		assert_ptr_equal(kv_pins_find_at(&t, (i + 1) % N, 5, h[i], 500 + i), &t.pin[i]);
		assert_ptr_equal(kv_pins_find_at(&t, SIZE_MAX, 5, h[i], 500 + i), &t.pin[i]);
		assert_null(kv_pins_find_at(&t, i, 5, h[i], 501 + i));
		assert_null(kv_pins_find_at(&t, i, 6, h[i], 500 + i));
	}
	/* in pin order, then again after a revival of each, then in the reverse order */
	assert_int_equal(kv_pins_unpin(&t, 5, (const uint8_t(*)[16])h, N, taken, last), 0);
	for (i = 0; i < N; i++) {
		assert_ptr_equal(taken[i], &t.pin[i]);
		assert_true(last[i]);
		assert_true(kv_pins_get(&t, kv_pins_find_at(&t, i, 5, h[i], 500 + i), 1));
	}
	assert_int_equal(kv_pins_unpin(&t, 5, (const uint8_t(*)[16])rev, N, taken, last), 0);
	for (i = 0; i < N; i++)
		assert_ptr_equal(taken[i], &t.pin[N - 1 - i]);
	assert_int_equal(t.live, 0);
	/* all unpinned: one more is refused, nothing changes */
	assert_int_equal(kv_pins_unpin(&t, 5, (const uint8_t(*)[16])h, 2, taken, last), -EINVAL);
	assert_int_equal(t.pin[0].count, 0);
	/* a name pinned for two inodes (a block replaced): two unpins take both */
	assert_true(kv_pins_get(&t, &t.pin[1], 1));
	assert_int_equal(kv_pins_add(&t, 5, h[1], 900, 1), 0);
	assert_ptr_equal(kv_pins_find_at(&t, 1, 5, h[1], 900), &t.pin[N]);
	assert_ptr_equal(kv_pins_find_at(&t, N, 5, h[1], 500 + 1), &t.pin[1]);
	assert_int_equal(kv_pins_unpin(&t, 5, (const uint8_t(*)[16])h, 2, taken, last), -EINVAL);
	memcpy(rev[0], h[1], 16);
	memcpy(rev[1], h[1], 16);
	assert_int_equal(kv_pins_unpin(&t, 5, (const uint8_t(*)[16])rev, 2, taken, last), 0);
	assert_ptr_not_equal(taken[0], taken[1]);
	assert_int_equal(t.pin[1].count + t.pin[N].count, 0);
	assert_int_equal(t.live, 0);
	kv_pins_free(&t);
}

static void test_compact_keeps_order(void **state)
{
	struct kv_pins t = { 0 };
	uint8_t h[16];
	uint64_t i, n = 5000, prev = 0;

	for (i = 0; i < n; i++) {
		hash_of(i, h);
		assert_int_equal(kv_pins_add(&t, 1, h, 1000 + i, i), 0);
	}
	kv_pins_compact(&t); /* nothing dead: nothing to do */
	assert_int_equal(t.n, n);
	for (i = 0; i < n; i++) {
		if (i % 10 == 3)
			continue;
		hash_of(i, h);
		assert_true(kv_pins_put(&t, kv_pins_find(&t, 1, h, true, 0)));
	}
	assert_int_equal(t.live, n / 10);
	kv_pins_compact(&t);
	assert_int_equal(t.n, n / 10);
	assert_int_equal(t.live, n / 10);
	for (i = 0; i < t.n; i++) { /* pin order kept */
		assert_true(t.pin[i].ino > prev);
		assert_int_equal(t.pin[i].ino % 10, 3);
		prev = t.pin[i].ino;
	}
	for (i = 0; i < n; i++) {
		struct kv_pin *p;

		hash_of(i, h);
		p = kv_pins_find(&t, 1, h, false, 1000 + i);
		if (i % 10 == 3) {
			assert_non_null(p);
			assert_int_equal(p->count, 1);
			assert_int_equal(p->bytes, i);
		} else {
			assert_null(p); /* dead entries are gone */
		}
	}
	/* the table still takes new pins after compaction */
	hash_of(n + 1, h);
	assert_int_equal(kv_pins_add(&t, 1, h, 99999, 1), 0);
	assert_int_equal(kv_pins_find(&t, 1, h, true, 0)->ino, 99999);
	kv_pins_free(&t);
}

/* Below the threshold (4096 entries) dead entries stay, ready to revive. */
static void test_compact_threshold(void **state)
{
	struct kv_pins t = { 0 };
	uint8_t h[16];
	uint64_t i;

	for (i = 0; i < 100; i++) {
		hash_of(i, h);
		assert_int_equal(kv_pins_add(&t, 1, h, i + 1, 1), 0);
		assert_true(kv_pins_put(&t, kv_pins_find(&t, 1, h, true, 0)));
	}
	kv_pins_compact(&t);
	assert_int_equal(t.n, 100);
	assert_int_equal(t.live, 0);
	kv_pins_free(&t);
}

static void test_growth(void **state)
{
	struct kv_pins t = { 0 };
	uint8_t h[16];
	uint64_t i, n = 20000;

	for (i = 0; i < n; i++) {
		hash_of(i, h);
		assert_int_equal(kv_pins_add(&t, i % 3, h, i + 1, 1), 0);
	}
	assert_true(t.nslots >= 2 * n);
	for (i = 0; i < n; i++) {
		hash_of(i, h);
		assert_int_equal(kv_pins_find(&t, i % 3, h, true, 0)->ino, i + 1);
	}
	kv_pins_free(&t);
}

static void test_counts_past_32_bits(void **state)
{
	struct kv_pins t = { 0 };
	uint8_t h[16];
	struct kv_pin *p, *taken[1];
	bool last[1];

	hash_of(8, h);
	assert_int_equal(kv_pins_add(&t, 1, h, 40, 1), 0);
	p = kv_pins_find(&t, 1, h, true, 0);
	p->count = UINT32_MAX; /* as if pinned 2^32 - 1 times */
	assert_false(kv_pins_get(&t, p, 1));
	assert_int_equal(p->count, (uint64_t)1 << 32);
	assert_int_equal(kv_pins_unpin(&t, 1, (const uint8_t(*)[16]) & h, 1, taken, last), 0);
	assert_false(last[0]);
	assert_int_equal(p->count, UINT32_MAX);
	assert_false(kv_pins_put(&t, p));
	assert_int_equal(t.live, 1);
	kv_pins_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find),
		cmocka_unit_test(test_two_inodes_one_name),
		cmocka_unit_test(test_revive),
		cmocka_unit_test(test_unpin_batch),
		cmocka_unit_test(test_pin_order),
		cmocka_unit_test(test_compact_keeps_order),
		cmocka_unit_test(test_compact_threshold),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_counts_past_32_bits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
