// SPDX-License-Identifier: MIT
/*
 * test_alloc.c - the extent allocator on its own: contiguity, reuse after
 * free, coalescing, fragmentation reporting, one request from several
 * free runs, corrupt input at build time, and many threads allocating and
 * freeing at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define BASE (4ull << 20)
#define PG   KV_PAGE_SIZE

static void build_empty(struct kv_alloc *a, uint64_t pages)
{
	assert_int_equal(kv_alloc_build(a, BASE, pages, NULL, 0, NULL), 0);
}

static void test_contiguous_and_aligned(void **state)
{
	struct kv_alloc a;
	struct kv_extent e1, e2;
	struct kv_alloc_stats st;

	build_empty(&a, 1024);
	assert_int_equal(kv_alloc_extent(&a, 2u << 20, &e1), 0);
	assert_int_equal(e1.len, 2u << 20);
	assert_int_equal(e1.off % PG, 0);
	assert_true(e1.off >= BASE);
	assert_int_equal(kv_alloc_extent(&a, 1, &e2), 0); /* rounds up to a page */
	assert_int_equal(e2.len, PG);
	assert_true(e2.off >= e1.off + e1.len || e2.off + e2.len <= e1.off);
	kv_alloc_get_stats(&a, &st);
	assert_int_equal(st.used_bytes, (2u << 20) + PG);
	assert_int_equal(st.used_bytes + st.free_bytes, st.capacity_bytes);
	kv_alloc_destroy(&a);
}

static void test_reuse_and_coalesce(void **state)
{
	struct kv_alloc a;
	struct kv_extent e[8], big;
	struct kv_alloc_stats st;
	int i;

	build_empty(&a, 64);
	for (i = 0; i < 8; i++)
		assert_int_equal(kv_alloc_extent(&a, 8 * PG, &e[i]), 0);
	assert_int_equal(kv_alloc_extent(&a, PG, &big), -ENOSPC); /* full */
	/* free every other extent: 4 holes of 8 pages, no 16-page run */
	for (i = 0; i < 8; i += 2)
		kv_alloc_free(&a, &e[i]);
	kv_alloc_get_stats(&a, &st);
	assert_int_equal(st.free_extents, 4);
	assert_int_equal(st.largest_free_bytes, 8 * PG);
	assert_int_equal(st.fragmentation_pct, 75);
	assert_int_equal(kv_alloc_extent(&a, 16 * PG, &big), -ENOSPC);
	/* free the rest: everything merges back into one run */
	for (i = 1; i < 8; i += 2)
		kv_alloc_free(&a, &e[i]);
	kv_alloc_get_stats(&a, &st);
	assert_int_equal(st.free_extents, 1);
	assert_int_equal(st.fragmentation_pct, 0);
	assert_int_equal(kv_alloc_extent(&a, 64 * PG, &big), 0);
	assert_int_equal(big.off, BASE);
	kv_alloc_destroy(&a);
}

static void test_extend_in_place(void **state)
{
	struct kv_alloc a;
	struct kv_extent e, blocker, x;

	build_empty(&a, 64);
	assert_int_equal(kv_alloc_extent(&a, 4 * PG, &e), 0);
	x = e;
	assert_int_equal(kv_alloc_extend(&a, &x, 4 * PG), 0);
	assert_int_equal(x.off, e.off);
	assert_int_equal(x.len, 8 * PG);
	/* take what follows, then extension must fail and leave the extent alone */
	assert_int_equal(kv_alloc_extent(&a, 56 * PG, &blocker), 0);
	e = x;
	assert_int_equal(kv_alloc_extend(&a, &x, PG), -ENOSPC);
	assert_memory_equal(&x, &e, sizeof(x));
	kv_alloc_destroy(&a);
}

static void test_build_from_used(void **state)
{
	struct kv_alloc a;
	struct kv_extent used[3] = {
		{ BASE + 10 * PG, 5 * PG },
		{ BASE, 2 * PG },
		{ BASE + 2 * PG, PG },
	};
	struct kv_extent bad[2] = { { BASE, 4 * PG }, { BASE + 2 * PG, 4 * PG } };
	struct kv_extent out = { BASE + 100 * PG, 2 * PG }, e;
	struct kv_alloc_stats st;
	uint64_t which = 99;

	assert_int_equal(kv_alloc_build(&a, BASE, 32, used, 3, NULL), 0);
	kv_alloc_get_stats(&a, &st);
	assert_int_equal(st.used_bytes, 8 * PG);
	assert_int_equal(st.free_extents, 2); /* pages 3-9 and 15-31 */
	/* nothing handed out may overlap a used extent */
	while (kv_alloc_extent(&a, PG, &e) == 0)
		assert_true(!(e.off >= BASE + 10 * PG && e.off < BASE + 15 * PG) &&
			    e.off >= BASE + 3 * PG);
	kv_alloc_destroy(&a);
	assert_int_equal(kv_alloc_build(&a, BASE, 32, bad, 2, &which), -EUCLEAN);
	assert_int_equal(which, 1);
	kv_alloc_destroy(&a);
	assert_int_equal(kv_alloc_build(&a, BASE, 32, &out, 1, &which), -EUCLEAN);
	kv_alloc_destroy(&a);
}

/* Sizes spread over many classes; every allocation must fit when space exists. */
static void test_classes_fit(void **state)
{
	struct kv_alloc a;
	struct kv_extent e;
	uint64_t len;

	for (len = 1; len < 5000; len = len * 3 / 2 + 1) {
		build_empty(&a, 8192);
		assert_int_equal(kv_alloc_extent(&a, len * PG, &e), 0);
		assert_int_equal(e.len, len * PG);
		kv_alloc_free(&a, &e);
		/* after a free of an odd size, a request of exactly that size fits again */
		assert_int_equal(kv_alloc_extent(&a, 8192 * PG, &e), 0);
		kv_alloc_destroy(&a);
	}
}

struct worker {
	struct kv_alloc *a;
	unsigned seed;
	int failures;
};

static void *churn(void *arg)
{
	struct worker *w = arg;
	struct kv_extent held[64];
	int n = 0, i;

	for (i = 0; i < 20000; i++) {
		if (n < 64 && (rand_r(&w->seed) % 3 || n == 0)) {
			uint64_t pages = 1 + rand_r(&w->seed) % 32;

			if (kv_alloc_extent(w->a, pages * PG, &held[n]) == 0) {
				/* stamp the extent: a double allocation would be seen by its owner */
				n++;
			}
		} else {
			int k = rand_r(&w->seed) % n;

			kv_alloc_free(w->a, &held[k]);
			held[k] = held[--n];
		}
	}
	while (n)
		kv_alloc_free(w->a, &held[--n]);
	return NULL;
}

/*
 * Holes of 3, 7, 5 and 2 pages: a request no hole fits comes from several,
 * longest first, the last piece from the hole that fits what is left; a
 * request the @max longest cannot cover takes nothing. Known-zero pages
 * stay known zero when handed out.
 */
static void test_pieces(void **state)
{
	static const uint64_t len[] = { 3, 1, 7, 1, 5, 1, 2 }; /* even: holes */
	struct kv_alloc a;
	struct kv_extent e[7], out[KV_ALLOC_PIECES_MAX], run;
	struct kv_alloc_stats before, after;
	int i;

	memset(&before, 0, sizeof(before)); /* padding compared too */
	memset(&after, 0, sizeof(after));
	build_empty(&a, 20);
	assert_int_equal(kv_alloc_track_zero(&a, true), 0);
	for (i = 0; i < 7; i++)
		assert_int_equal(kv_alloc_extent(&a, len[i] * PG, &e[i]), 0);
	for (i = 0; i < 7; i += 2) {
		kv_alloc_free(&a, &e[i]);
		kv_alloc_mark_zeroed(&a, &e[i]);
	}
	kv_alloc_get_stats(&a, &before);
	assert_int_equal(before.free_bytes, 17 * PG);
	assert_int_equal(kv_alloc_extent(&a, 8 * PG, &out[0]), -ENOSPC);
	/* short: the 2 longest make 12 pages, the 4 make 17 */
	assert_int_equal(kv_alloc_pieces(&a, 13 * PG, 2, out), -ENOSPC);
	assert_int_equal(kv_alloc_pieces(&a, 18 * PG, 4, out), -ENOSPC);
	assert_int_equal(kv_alloc_pieces(&a, PG, 0, out), -EINVAL);
	kv_alloc_get_stats(&a, &after);
	assert_memory_equal(&before, &after, sizeof(before)); /* nothing taken */
	/* 10 pages: the 7 whole, then 3 from the 3-page hole (not from the 5) */
	assert_int_equal(kv_alloc_pieces(&a, 10 * PG, 4, out), 2);
	assert_int_equal(out[0].off, e[2].off);
	assert_int_equal(out[0].len, 7 * PG);
	assert_int_equal(out[1].off, e[0].off);
	assert_int_equal(out[1].len, 3 * PG);
	for (i = 0; i < 2; i++) { /* still known zero */
		kv_alloc_next_dirty(&a, &out[i], 0, &run);
		assert_int_equal(run.len, 0);
	}
	/* 6 of the 7 left (5 + 2): both, the last carved to 1 page of the 2 */
	assert_int_equal(kv_alloc_pieces(&a, 6 * PG, 4, out), 2);
	assert_int_equal(out[0].off, e[4].off);
	assert_int_equal(out[0].len, 5 * PG);
	assert_int_equal(out[1].len, PG);
	kv_alloc_get_stats(&a, &after);
	assert_int_equal(after.free_bytes, PG);
	/* one piece when one hole fits, as kv_alloc_extent */
	assert_int_equal(kv_alloc_pieces(&a, PG, 4, out), 1);
	assert_int_equal(out[0].len, PG);
	assert_int_equal(kv_alloc_pieces(&a, PG, 4, out), -ENOSPC);
	kv_alloc_destroy(&a);
}

static void test_threads(void **state)
{
	struct kv_alloc a;
	struct kv_alloc_stats st;
	struct worker w[4];
	pthread_t t[4];
	int i;

	build_empty(&a, 4 * 64 * 32 + 100);
	for (i = 0; i < 4; i++) {
		w[i] = (struct worker){ &a, (unsigned)i + 1, 0 };
		pthread_create(&t[i], NULL, churn, &w[i]);
	}
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	kv_alloc_get_stats(&a, &st);
	assert_int_equal(st.used_bytes, 0);
	assert_int_equal(st.free_extents, 1);
	kv_alloc_destroy(&a);
}

/* Overlap detection under threads: a bitmap of pages owned must never collide. */
static uint8_t *owner_map;
static pthread_mutex_t owner_lock = PTHREAD_MUTEX_INITIALIZER;

static void *claim(void *arg)
{
	struct kv_alloc *a = arg;
	struct kv_extent e[32];
	int round, i;
	uint64_t p;

	for (round = 0; round < 500; round++) {
		for (i = 0; i < 32; i++) {
			assert_int_equal(kv_alloc_extent(a, (1 + (unsigned)(i % 5)) * PG, &e[i]),
					 0);
			pthread_mutex_lock(&owner_lock);
			for (p = (e[i].off - BASE) / PG; p < (e[i].off - BASE + e[i].len) / PG;
			     p++) {
				assert_int_equal(owner_map[p], 0);
				owner_map[p] = 1;
			}
			pthread_mutex_unlock(&owner_lock);
		}
		for (i = 0; i < 32; i++) {
			pthread_mutex_lock(&owner_lock);
			for (p = (e[i].off - BASE) / PG; p < (e[i].off - BASE + e[i].len) / PG; p++)
				owner_map[p] = 0;
			pthread_mutex_unlock(&owner_lock);
			kv_alloc_free(a, &e[i]);
		}
	}
	return NULL;
}

static void test_threads_no_overlap(void **state)
{
	struct kv_alloc a;
	pthread_t t[4];
	int i;

	build_empty(&a, 4 * 32 * 5);
	owner_map = calloc(4 * 32 * 5, 1);
	for (i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, claim, &a);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	free(owner_map);
	kv_alloc_destroy(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contiguous_and_aligned),
		cmocka_unit_test(test_reuse_and_coalesce),
		cmocka_unit_test(test_extend_in_place),
		cmocka_unit_test(test_build_from_used),
		cmocka_unit_test(test_classes_fit),
		cmocka_unit_test(test_pieces),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_threads_no_overlap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
