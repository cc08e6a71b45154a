// SPDX-License-Identifier: MIT
/*
 * test_zero.c - zeroing reservations never show old bytes, whether the
 * pages were zeroed in the background, freed just now, or come from a pool
 * reopened (whose free pages nobody knows); and the background zeroer
 * stops once every free page is zero; a pool file's holes count as zeroed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mm.h"

#define BYTES (8u << 20)

static char path[64];

static int setup(void **state)
{
	snprintf(path, sizeof(path), "/tmp/kvfs-unit-zero-%d.pool", getpid());
	unlink(path);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

/* Fill the pool's free space with 0xAA through files, then free it all. */
static void dirty_free_space(struct kv_pool *p, int files)
{
	static char buf[BYTES];
	struct kv_attr a;
	char nm[16];
	int i;

	memset(buf, 0xAA, sizeof(buf));
	for (i = 0; i < files; i++) {
		snprintf(nm, sizeof(nm), "dirty%d", i);
		assert_int_equal(kv_create(p, 1, nm, strlen(nm), S_IFREG | 0644, 0, 0, &a), 0);
		assert_int_equal(kv_truncate(p, a.ino, BYTES), 0);
		assert_int_equal(kv_write(p, a.ino, buf, BYTES, 0), (ssize_t)BYTES);
		kv_forget(p, a.ino, 1);
	}
	for (i = 0; i < files; i++) {
		snprintf(nm, sizeof(nm), "dirty%d", i);
		assert_int_equal(kv_unlink(p, 1, nm, strlen(nm)), 0);
	}
}

/* Reserve @n blocks with zeroing and check every byte (as a client maps them); abort them. */
static void reserve_is_zero(struct kv_pool *p, int n)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	const uint8_t *base;
	uint64_t ino[16];
	struct kv_extent e;
	char nm[16];
	int i;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(base != MAP_FAILED);
	for (i = 0; i < n; i++) {
		uint64_t k;

		snprintf(nm, sizeof(nm), "res%d", i);
		assert_int_equal(kv_reserve(p, 1, nm, strlen(nm), BYTES, 0, 0, true, &ino[i], &e),
				 0);
		for (k = 0; k < BYTES; k += 8)
			assert_int_equal(*(const uint64_t *)(base + e.off + k), 0);
	}
	kv_abort(p, ino, (size_t)n);
	munmap((void *)base, (size_t)st.st_size);
}

static void test_reservations_are_zero(void **state)
{
	struct kv_open_opts o = { .numa_node = -1, .create_size = 128ull << 20 };
	struct kv_pool *p;

	assert_int_equal(kv_pool_open(path, &o, &p), 0);
	assert_int_equal(kv_pool_zero_free(p, ~0ull), 0); /* a new pool is all zeros */
	dirty_free_space(p, 12);
	reserve_is_zero(p, 12); /* freed just now: zeroed on reservation */
	dirty_free_space(p, 12);
	assert_true(kv_pool_zero_free(p, ~0ull) >= 12ull * BYTES); /* in the background */
	assert_int_equal(kv_pool_zero_free(p, ~0ull), 0);
	reserve_is_zero(p, 12);
	dirty_free_space(p, 12);
	kv_pool_close(p);
	o.create_size = 0;
	assert_int_equal(kv_pool_open(path, &o, &p), 0);
	reserve_is_zero(p, 12); /* reopened: nothing known, all zeroed */
	dirty_free_space(p, 6);
	assert_true(kv_pool_zero_free(p, BYTES) >= BYTES); /* a budget is kept... */
	assert_true(kv_pool_zero_free(p, BYTES) <= 2 * BYTES); /* ...roughly */
	reserve_is_zero(p, 12);
	kv_pool_close(p);
}

/*
 * A pool made by kv_pool_mkfs() and opened later: its data area is still
 * the file's holes, known zero without a pass over it; the pages files
 * wrote are not, and are zeroed before anyone reserves them.
 */
static void test_holes_are_zero(void **state)
{
	struct kv_open_opts o = { .numa_node = -1 };
	struct kv_pool *p;

	assert_int_equal(kv_pool_mkfs(path, 128ull << 20, 1024, false), 0);
	assert_int_equal(kv_pool_open(path, &o, &p), 0);
	/*
	 * holes: nothing to zero, but where mkfs wrote the header: a file system
	 * with large folios (ext4 on 6.x kernels) calls data the whole 2 MiB
	 * folio around the header's last page, the data area's first bytes too
	 */
	assert_true(kv_pool_zero_free(p, ~0ull) <= (2u << 20));
	reserve_is_zero(p, 12);
	dirty_free_space(p, 12);
	kv_pool_close(p);
	assert_int_equal(kv_pool_open(path, &o, &p), 0);
	/* what the files wrote is data now, not holes: it waits for zeroing */
	assert_true(kv_pool_zero_free(p, ~0ull) >= 12ull * BYTES);
	kv_pool_close(p);
	assert_int_equal(kv_pool_open(path, &o, &p), 0);
	dirty_free_space(p, 12);
	kv_pool_close(p);
	assert_int_equal(kv_pool_open(path, &o, &p), 0);
	reserve_is_zero(p, 12); /* not zeroed in the background: on reservation */
	kv_pool_close(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reservations_are_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_holes_are_zero, setup, teardown),
	};

	kv_log_set_handler(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
