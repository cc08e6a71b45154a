// SPDX-License-Identifier: MIT
/*
 * test_handles.c - the file handle table (fs/handles.c), without a mount:
 * a handle is a slot and a generation, so a closed handle's number never
 * reaches the object that reuses its slot; references keep a closed object
 * alive until the last one goes; unknown numbers and double closes are
 * harmless; and a release racing requests on other threads destroys the
 * object exactly once, never under a request that holds it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include "handles.h"

struct obj {
	atomic_int destroyed; /* times destroy ran */
	atomic_int users; /* requests inside get..put */
	atomic_int violations; /* destroyed while a request held it */
};

static void destroy(void *p)
{
	struct obj *o = p;

	if (atomic_load(&o->users))
		atomic_fetch_add(&o->violations, 1);
	atomic_fetch_add(&o->destroyed, 1);
}

static void test_get_put_close(void **state)
{
	struct obj o = { 0 };
	uint64_t fh;

	assert_int_equal(kv_handle_new(&o, destroy, &fh), 0);
	assert_ptr_equal(kv_handle_get(fh), &o);
	kv_handle_put(fh);
	assert_int_equal(atomic_load(&o.destroyed), 0);
	kv_handle_close(fh);
	assert_int_equal(atomic_load(&o.destroyed), 1);
	assert_null(kv_handle_get(fh));
	kv_handle_close(fh); /* a second close does nothing */
	assert_int_equal(atomic_load(&o.destroyed), 1);
}

/* A request that holds the object when it is closed keeps it alive. */
static void test_reference_outlives_close(void **state)
{
	struct obj o = { 0 };
	uint64_t fh;

	assert_int_equal(kv_handle_new(&o, destroy, &fh), 0);
	assert_ptr_equal(kv_handle_get(fh), &o);
	assert_ptr_equal(kv_handle_get(fh), &o);
	kv_handle_close(fh);
	assert_null(kv_handle_get(fh)); /* closed: no new references */
	kv_handle_put(fh);
	assert_int_equal(atomic_load(&o.destroyed), 0);
	kv_handle_put(fh);
	assert_int_equal(atomic_load(&o.destroyed), 1);
}

/* A slot is reused under a new generation: the old number reaches nothing. */
static void test_generation(void **state)
{
	struct obj a = { 0 }, b = { 0 };
	uint64_t fa, fb;

	assert_int_equal(kv_handle_new(&a, destroy, &fa), 0);
	kv_handle_close(fa);
	assert_int_equal(kv_handle_new(&b, destroy, &fb), 0);
	assert_int_equal((uint32_t)fb, (uint32_t)fa); /* the same slot... */
	assert_int_not_equal(fb >> 32, fa >> 32); /* ...another generation */
	assert_null(kv_handle_get(fa));
	kv_handle_put(fa); /* a stray put of the old number must not touch b */
	kv_handle_close(fa);
	assert_int_equal(atomic_load(&b.destroyed), 0);
	assert_ptr_equal(kv_handle_get(fb), &b);
	kv_handle_put(fb);
	kv_handle_close(fb);
	assert_int_equal(atomic_load(&b.destroyed), 1);
	assert_int_equal(atomic_load(&a.destroyed), 1);
}

static void test_unknown_numbers(void **state)
{
	assert_null(kv_handle_get(0));
	assert_null(kv_handle_get(1ull << 32 | 0xffffffu));
	assert_null(kv_handle_get(UINT64_MAX));
	kv_handle_put(UINT64_MAX);
	kv_handle_close(0);
	kv_handle_close(UINT64_MAX);
}

/* Many open at once: the table grows, every handle stays distinct and reachable. */
static void test_many(void **state)
{
	enum { N = 1000 };
	static struct obj o[N];
	static uint64_t fh[N];
	int i;

	for (i = 0; i < N; i++)
		assert_int_equal(kv_handle_new(&o[i], destroy, &fh[i]), 0);
	for (i = 0; i < N; i++) {
		assert_ptr_equal(kv_handle_get(fh[i]), &o[i]);
		kv_handle_put(fh[i]);
	}
	for (i = 0; i < N; i++)
		kv_handle_close(fh[i]);
	for (i = 0; i < N; i++)
		assert_int_equal(atomic_load(&o[i].destroyed), 1);
}

struct racer {
	uint64_t fh;
	struct obj *o;
	atomic_int *go;
	long gets;
};

/* A worker handling requests: get, use, put, until the handle is closed. */
static void *request_loop(void *arg)
{
	struct racer *r = arg;

	while (!atomic_load(r->go))
		sched_yield();
	for (;;) {
		struct obj *o = kv_handle_get(r->fh);

		if (!o)
			break;
		atomic_fetch_add(&o->users, 1);
		if (atomic_load(&o->destroyed))
			atomic_fetch_add(&o->violations, 1);
		sched_yield();
		if (atomic_load(&o->destroyed))
			atomic_fetch_add(&o->violations, 1);
		atomic_fetch_sub(&o->users, 1);
		kv_handle_put(r->fh);
		r->gets++;
	}
	return NULL;
}

static void test_racing_release(void **state)
{
	enum { THREADS = 4, ROUNDS = 50 };
	int round, i;

	for (round = 0; round < ROUNDS; round++) {
		struct obj o = { 0 };
		struct racer r[THREADS];
		pthread_t t[THREADS];
		atomic_int go = 0;
		uint64_t fh;

		assert_int_equal(kv_handle_new(&o, destroy, &fh), 0);
		for (i = 0; i < THREADS; i++) {
			r[i] = (struct racer){ .fh = fh, .o = &o, .go = &go };
			assert_int_equal(pthread_create(&t[i], NULL, request_loop, &r[i]), 0);
		}
		atomic_store(&go, 1);
		for (i = 0; i < 100 * (round % 5); i++)
			sched_yield();
		kv_handle_close(fh); /* RELEASE, while requests run */
		for (i = 0; i < THREADS; i++)
			assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(atomic_load(&o.destroyed), 1);
		assert_int_equal(atomic_load(&o.violations), 0);
		assert_int_equal(atomic_load(&o.users), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_put_close),
		cmocka_unit_test(test_reference_outlives_close),
		cmocka_unit_test(test_generation),
		cmocka_unit_test(test_unknown_numbers),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_racing_release),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
