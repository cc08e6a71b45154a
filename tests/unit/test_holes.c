// SPDX-License-Identifier: MIT
/*
 * test_holes.c - a cache never drops a block for a hole when the free space
 * is there. In a pool left in pieces (files stored, every other one
 * removed), a file larger than any hole but smaller than the free total is
 * written from several holes with nothing evicted, whether in one write or
 * in the small writes FUSE sends, and a file whose inline extent list is
 * full moves its tail to fewer extents without evicting either (or, when
 * no tail fits, the whole file, evicting at most one file). When the free total
 * is short, exactly as many least recently used files go as the shortfall
 * needs, oldest first. A reservation (one extent per block, the libkvfs
 * contract) still gets one. A held file's move keeps its old extents
 * from other files until the last hold ends. Every byte reads back and
 * fsck finds the pool clean.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mm.h"

#define MIB (1ull << 20)

static char path[64];

static int setup(void **state)
{
	snprintf(path, sizeof(path), "/tmp/kvfs-unit-holes-%d.pool", getpid());
	unlink(path);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

static struct kv_pool *make_pool(uint64_t size)
{
	struct kv_open_opts o = { .numa_node = -1 };
	struct kv_pool *p = NULL;

	assert_int_equal(kv_pool_mkfs(path, size, 4096, false), 0);
	assert_int_equal(kv_pool_open(path, &o, &p), 0);
	return p;
}

/* The bytes of file @name: a pattern nobody else's bytes share. */
static void fill(uint8_t *buf, uint64_t len, const char *name)
{
	uint64_t i, seed = 0;

	for (i = 0; name[i]; i++)
		seed = seed * 131 + (uint8_t)name[i];
	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 7 + (i >> 12));
}

/* Store @name of @len bytes in writes of @chunk, nobody holding it after. */
static void store(struct kv_pool *p, const char *name, uint64_t len, uint64_t chunk)
{
	uint8_t *buf = malloc(len);
	struct kv_attr a;
	uint64_t off;

	assert_non_null(buf);
	fill(buf, len, name);
	assert_int_equal(kv_create(p, KV_ROOT_INO, name, strlen(name), S_IFREG | 0644, 0, 0, &a),
			 0);
	for (off = 0; off < len; off += chunk) {
		uint64_t n = len - off < chunk ? len - off : chunk;

		assert_int_equal(kv_write(p, a.ino, buf + off, n, off), (ssize_t)n);
	}
	kv_forget(p, a.ino, 1);
	free(buf);
}

/* Is @name there, with its bytes? *@next (may be NULL): how many extents it has. */
static bool intact(struct kv_pool *p, const char *name, uint64_t len, int *next)
{
	uint8_t *want = malloc(len), *got = malloc(len);
	struct kv_extent ext[KV_EXTENTS_MAX];
	struct kv_attr a;
	uint64_t size;
	bool there;

	assert_non_null(want);
	assert_non_null(got);
	there = kv_lookup(p, KV_ROOT_INO, name, strlen(name), &a) == 0;
	if (there) {
		fill(want, len, name);
		assert_int_equal(a.size, len);
		assert_int_equal(kv_read(p, a.ino, got, len, 0), (ssize_t)len);
		assert_memory_equal(got, want, len);
		if (next)
			*next = kv_extents(p, a.ino, ext, KV_EXTENTS_MAX, &size);
		kv_forget(p, a.ino, 1);
	}
	free(want);
	free(got);
	return there;
}

/* @n files f0.. of @len bytes, then every even one removed. Return: n. */
static int fragment(struct kv_pool *p, uint64_t len, int max)
{
	struct kv_pool_stats st;
	char nm[16];
	int i, n;

	kv_pool_get_stats(p, &st);
	n = (int)(st.capacity_bytes / len) - 1;
	assert_true(n >= 8 && n <= max);
	for (i = 0; i < n; i++) {
		snprintf(nm, sizeof(nm), "f%d", i);
		store(p, nm, len, len);
	}
	for (i = 0; i < n; i += 2) {
		snprintf(nm, sizeof(nm), "f%d", i);
		assert_int_equal(kv_unlink(p, KV_ROOT_INO, nm, strlen(nm)), 0);
	}
	kv_pool_get_stats(p, &st);
	assert_int_equal(st.evictions, 0);
	return n;
}

static void close_and_fsck(struct kv_pool *p)
{
	kv_pool_close(p);
	assert_int_equal(kv_pool_fsck_flags(path, KV_FSCK_DATA), 0);
}

/* Larger than any hole, smaller than the free total: written from holes, nothing evicted. */
static void test_scattered_room_is_used(void **state)
{
	struct kv_pool *p = make_pool(64 * MIB);
	struct kv_pool_stats st;
	char nm[16];
	int i, n, next = 0;

	n = fragment(p, MIB, 64);
	kv_pool_get_stats(p, &st);
	assert_true(st.largest_free_bytes < 3 * MIB);
	assert_true(st.free_bytes > 14 * MIB);
	store(p, "big", 6 * MIB, 6 * MIB); /* one write */
	store(p, "chunked", 4 * MIB + 4096, 128 << 10); /* as FUSE sends it */
	kv_pool_get_stats(p, &st);
	assert_int_equal(st.evictions, 0);
	assert_true(intact(p, "big", 6 * MIB, &next));
	assert_true(next > 1 && next <= KV_EXTENTS_MAX);
	assert_true(intact(p, "chunked", 4 * MIB + 4096, &next));
	assert_true(next > 1 && next <= KV_EXTENTS_MAX);
	for (i = 1; i < n; i += 2) {
		snprintf(nm, sizeof(nm), "f%d", i);
		assert_true(intact(p, nm, MIB, NULL));
	}
	close_and_fsck(p);
}

/*
 * Ten 1 MiB holes and four of 4 MiB in an otherwise full pool (files k<i>
 * kept between them), then "grown" written in ten exact 1 MiB steps, which
 * take the ten 1 MiB holes: its inline list is full. @hold: opened first,
 * as a reader that maps it in place would. Return: its inode.
 */
static uint64_t full_list_file(struct kv_pool *p, uint8_t *buf, bool hold)
{
	struct kv_pool_stats st;
	struct kv_attr a;
	char nm[16];
	int i;

	for (i = 0; i < 14; i++) { /* keep k<i>, remove h<i> */
		snprintf(nm, sizeof(nm), "h%d", i);
		store(p, nm, i < 10 ? MIB : 4 * MIB, MIB);
		snprintf(nm, sizeof(nm), "k%d", i);
		store(p, nm, MIB, MIB);
	}
	for (kv_pool_get_stats(p, &st), i = 0; st.free_bytes > 2 * MIB; i++) {
		snprintf(nm, sizeof(nm), "rest%d", i); /* the rest of the pool, taken */
		store(p, nm, MIB, MIB);
		kv_pool_get_stats(p, &st);
	}
	for (i = 0; i < 14; i++) {
		snprintf(nm, sizeof(nm), "h%d", i);
		assert_int_equal(kv_unlink(p, KV_ROOT_INO, nm, strlen(nm)), 0);
	}
	fill(buf, 12 * MIB, "grown");
	assert_int_equal(kv_create(p, KV_ROOT_INO, "grown", 5, S_IFREG | 0644, 0, 0, &a), 0);
	if (hold)
		assert_int_equal(kv_open(p, a.ino), 0);
	for (i = 0; i < 10; i++) {
		assert_int_equal(kv_fallocate(p, a.ino, 0, (uint64_t)i * MIB, MIB), 0);
		assert_int_equal(
		    kv_write(p, a.ino, buf + (uint64_t)i * MIB, MIB, (uint64_t)i * MIB),
		    (ssize_t)MIB);
	}
	return a.ino;
}

/*
 * A file whose inline list is full grows by moving to fewer extents, from
 * holes, with nothing evicted: ten 1 MiB holes, then four of 4 MiB.
 */
static void test_full_list_moves_without_evicting(void **state)
{
	struct kv_pool *p = make_pool(64 * MIB);
	struct kv_pool_stats st;
	struct kv_attr a;
	uint8_t *buf = malloc(12 * MIB);
	char nm[16];
	int i, next = 0;

	assert_non_null(buf);
	a.ino = full_list_file(p, buf, false);
	assert_int_equal(kv_extents(p, a.ino, (struct kv_extent[KV_EXTENTS_MAX]){ 0 },
				    KV_EXTENTS_MAX, &(uint64_t){ 0 }),
			 KV_EXTENTS_MAX);
	/* 12 MiB: no hole holds it, three of the 4 MiB ones do */
	assert_int_equal(kv_fallocate(p, a.ino, 0, 10 * MIB, 2 * MIB), 0);
	assert_int_equal(kv_write(p, a.ino, buf + 10 * MIB, 2 * MIB, 10 * MIB), (ssize_t)(2 * MIB));
	kv_forget(p, a.ino, 1);
	kv_pool_get_stats(p, &st);
	assert_int_equal(st.evictions, 0);
	assert_true(intact(p, "grown", 12 * MIB, &next));
	assert_true(next < KV_EXTENTS_MAX);
	for (i = 0; i < 14; i++) {
		snprintf(nm, sizeof(nm), "k%d", i);
		assert_true(intact(p, nm, MIB, NULL));
	}
	free(buf);
	close_and_fsck(p);
}

/*
 * Holes of 1 MiB only: a full list of 1 MiB extents has no tail that fits
 * in fewer, so the whole file moves into nine pieces, and one file (the
 * least recently used: its holes on both sides join into 3 MiB) is all
 * that goes for it.
 */
static void test_full_list_whole_move(void **state)
{
	struct kv_pool *p = make_pool(64 * MIB);
	struct kv_pool_stats st;
	struct kv_attr a;
	uint8_t *buf = malloc(11 * MIB);
	char nm[16];
	int i, n, next = 0;

	assert_non_null(buf);
	n = fragment(p, MIB, 64);
	fill(buf, 11 * MIB, "grown");
	assert_int_equal(kv_create(p, KV_ROOT_INO, "grown", 5, S_IFREG | 0644, 0, 0, &a), 0);
	for (i = 0; i < 11; i++) {
		assert_int_equal(kv_fallocate(p, a.ino, 0, (uint64_t)i * MIB, MIB), 0);
		assert_int_equal(
		    kv_write(p, a.ino, buf + (uint64_t)i * MIB, MIB, (uint64_t)i * MIB),
		    (ssize_t)MIB);
	}
	kv_forget(p, a.ino, 1);
	kv_pool_get_stats(p, &st);
	assert_true(st.evictions <= 1);
	assert_true(intact(p, "grown", 11 * MIB, &next));
	assert_true(next < KV_EXTENTS_MAX);
	for (i = 3; i < n; i += 2) {
		snprintf(nm, sizeof(nm), "f%d", i);
		assert_true(intact(p, nm, MIB, NULL));
	}
	free(buf);
	close_and_fsck(p);
}

/* Short by 6 MiB of 4 MiB files: the two least recently used go, no more. */
static void test_short_evicts_just_enough(void **state)
{
	struct kv_pool *p = make_pool(64 * MIB);
	struct kv_pool_stats st;
	uint64_t want;
	char nm[16];
	int i, n;

	n = fragment(p, 4 * MIB, 20);
	kv_pool_get_stats(p, &st);
	want = st.free_bytes + 6 * MIB;
	assert_true(st.largest_free_bytes < want);
	store(p, "big", want, want);
	kv_pool_get_stats(p, &st);
	assert_int_equal(st.evictions, 2);
	assert_false(intact(p, "f1", 4 * MIB, NULL)); /* the oldest went */
	assert_false(intact(p, "f3", 4 * MIB, NULL));
	for (i = 5; i < n; i += 2) {
		snprintf(nm, sizeof(nm), "f%d", i);
		assert_true(intact(p, nm, 4 * MIB, NULL));
	}
	assert_true(intact(p, "big", want, NULL));
	close_and_fsck(p);
}

/*
 * A reservation is one extent (the client addresses it as one): in the
 * same pool it makes its hole by evicting in LRU order, and stops once the
 * hole is there.
 */
static void test_reservation_is_one_extent(void **state)
{
	struct kv_pool *p = make_pool(64 * MIB);
	struct kv_pool_stats st;
	struct kv_extent e;
	uint64_t ino;
	uint8_t done;
	char nm[16];
	int i, n, gone = 0, prefix = 1;

	n = fragment(p, MIB, 64);
	assert_int_equal(kv_reserve(p, KV_ROOT_INO, "r", 1, 3 * MIB, 0, 0, true, &ino, &e), 0);
	assert_int_equal(e.len, 3 * MIB);
	for (i = 1; i < n; i += 2) {
		bool there;

		snprintf(nm, sizeof(nm), "f%d", i);
		there = intact(p, nm, MIB, NULL);
		if (!there && !prefix)
			fail_msg("%s was evicted before a file used less recently", nm);
		prefix &= !there;
		gone += !there;
	}
	kv_pool_get_stats(p, &st);
	assert_int_equal(st.evictions, (uint64_t)gone);
	assert_int_equal(gone, 1); /* f1 joins the holes of f0 and f2: 3 MiB */
	assert_int_equal(kv_commit(p, &ino, 1, &done), 0);
	assert_int_equal(done, 1);
	close_and_fsck(p);
}

/*
 * A move of a held file (open, pinned, or mapped in place by `kvfs run`)
 * keeps its old extents from everyone else until the last hold ends: a
 * reader of the old extents must never see another file's bytes.
 */
static void test_move_keeps_old_extents_while_held(void **state)
{
	struct kv_pool *p = make_pool(64 * MIB);
	struct kv_extent old[KV_EXTENTS_MAX];
	struct kv_pool_stats st;
	uint64_t size, held_free;
	uint8_t *buf = malloc(12 * MIB), *filler = malloc(MIB);
	const uint8_t *base;
	struct kv_attr a;
	struct stat sb;
	char nm[16];
	int i, n, fd;

	assert_non_null(buf);
	assert_non_null(filler);
	a.ino = full_list_file(p, buf, true); /* a reader holds it, mapped in place */
	n = kv_extents(p, a.ino, old, KV_EXTENTS_MAX, &size);
	assert_int_equal(n, KV_EXTENTS_MAX);
	assert_int_equal(kv_fallocate(p, a.ino, 0, 10 * MIB, 2 * MIB), 0); /* moves */
	assert_int_equal(kv_write(p, a.ino, buf + 10 * MIB, 2 * MIB, 10 * MIB), (ssize_t)(2 * MIB));
	/* everything free now goes to other files, written with other bytes */
	memset(filler, 0xEE, MIB);
	for (kv_pool_get_stats(p, &st), i = 0; st.free_bytes >= MIB; i++) {
		snprintf(nm, sizeof(nm), "after%d", i);
		assert_int_equal(kv_create(p, KV_ROOT_INO, nm, strlen(nm), S_IFREG | 0644, 0, 0, &a),
				 0);
		assert_int_equal(kv_write(p, a.ino, filler, MIB, 0), (ssize_t)MIB);
		kv_forget(p, a.ino, 1);
		kv_pool_get_stats(p, &st);
	}
	assert_int_equal(st.evictions, 0);
	/* the held file's old extents still hold its bytes, as its reader sees them */
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	base = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(base != MAP_FAILED);
	for (i = 0, size = 0; i < n; size += old[i].len, i++)
		assert_memory_equal(base + old[i].off, buf + size, old[i].len);
	munmap((void *)base, (size_t)sb.st_size);
	held_free = st.free_bytes;
	assert_int_equal(kv_lookup(p, KV_ROOT_INO, "grown", 5, &a), 0);
	kv_forget(p, a.ino, 1);
	kv_release(p, a.ino); /* the last hold: the moved-from extents come back */
	kv_pool_get_stats(p, &st);
	assert_true(st.free_bytes >= held_free + MIB);
	assert_true(intact(p, "grown", 12 * MIB, NULL));
	free(buf);
	free(filler);
	close_and_fsck(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_scattered_room_is_used, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_list_moves_without_evicting, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_full_list_whole_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_evicts_just_enough, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reservation_is_one_extent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_keeps_old_extents_while_held, setup,
						teardown),
	};

	kv_log_set_handler(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
