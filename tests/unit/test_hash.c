// SPDX-License-Identifier: MIT
/*
 * test_hash.c - libkvfs block naming: fixed vectors (also reproduced by an
 * independent Python implementation, see libkvfs(3)), the chain rule checked
 * against one-shot XXH3-128 over the documented bytes, and bad input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "hex.h"
#include "kvfs.h"

static void test_vectors(void **state)
{
	static const char *const want[] = {
		"a508d223c5e0466b72f269c496ae2c7d",
		"b7e3358eb0f4e6670119dce7a47f292b",
		"2b5904d004c3835911116e57976fb04b",
		"1b24073fe10a17d05100c2a73adcb4fd",
	};
	static const char *const want_empty_ns[] = {
		"4d75b0ec0ecb0713f3f5e3d844e9907b",
		"252f034837e07b97d4185a0ea9030575",
		"4d32767e527d65dd42418878326ddfd6",
	};
	uint32_t t[64];
	kvfs_hash_t h[8];
	char name[KVFS_HASH_NAME_LEN + 1];
	int i;

	for (i = 0; i < 64; i++)
		t[i] = (uint32_t)i;
	assert_int_equal(kvfs_prefix_hashes("demo", t, 64, 16, h, 8), 4);
	for (i = 0; i < 4; i++) {
		kvfs_hash_name(&h[i], name);
		assert_string_equal(name, want[i]);
	}
	assert_int_equal(kvfs_prefix_hashes("", t, 3, 1, h, 8), 3);
	for (i = 0; i < 3; i++) {
		kvfs_hash_name(&h[i], name);
		assert_string_equal(name, want_empty_ns[i]);
	}
}

/*
 * h[i] = XXH3_128(h[i-1] || LE32 tokens), seed = XXH3_128("kvfs-v1:" ns), big-endian bytes,
 * for block sizes hashed in one call and in a streamed one (past 252 tokens).
 */
static void check_chain_rule(uint32_t bt)
{
	enum { BLOCKS = 5 };
	uint32_t *t = calloc((size_t)bt * BLOCKS, sizeof(*t));
	uint8_t *buf = malloc(16 + (size_t)bt * 4), prev[16];
	kvfs_hash_t h[BLOCKS];
	XXH128_canonical_t c;
	uint32_t i, j;

	for (i = 0; i < bt * BLOCKS; i++)
		t[i] = 0x01020304u * (i + 1);
	assert_int_equal(kvfs_prefix_hashes("llama", t, (size_t)bt * BLOCKS, bt, h, BLOCKS), BLOCKS);
	XXH128_canonicalFromHash(&c, XXH3_128bits("kvfs-v1:llama", 13));
	memcpy(prev, c.digest, 16);
	for (i = 0; i < BLOCKS; i++) {
		memcpy(buf, prev, 16);
		for (j = 0; j < bt; j++) {
			uint32_t v = t[i * bt + j];

			buf[16 + 4 * j] = (uint8_t)v;
			buf[17 + 4 * j] = (uint8_t)(v >> 8);
			buf[18 + 4 * j] = (uint8_t)(v >> 16);
			buf[19 + 4 * j] = (uint8_t)(v >> 24);
		}
		XXH128_canonicalFromHash(&c, XXH3_128bits(buf, 16 + (size_t)bt * 4));
		assert_memory_equal(h[i].b, c.digest, 16);
		memcpy(prev, c.digest, 16);
	}
	free(buf);
	free(t);
}

static void test_chain_rule(void **state)
{
	(void)state;
	check_chain_rule(8);
	check_chain_rule(252); /* the largest hashed in one call */
	check_chain_rule(253);
	check_chain_rule(4096);
}

static void test_prefix_property_and_input(void **state)
{
	uint32_t t[100];
	kvfs_hash_t a[10], b[10];
	char name[KVFS_HASH_NAME_LEN + 1];
	kvfs_hash_t back;
	int i;

	for (i = 0; i < 100; i++)
		t[i] = (uint32_t)(i * 7);
	/* a longer request shares its prefix's names; a partial block has none */
	assert_int_equal(kvfs_prefix_hashes("ns", t, 48, 16, a, 10), 3);
	assert_int_equal(kvfs_prefix_hashes("ns", t, 100, 16, b, 10), 6);
	assert_memory_equal(a, b, 3 * sizeof(kvfs_hash_t));
	/* another namespace, another chain */
	assert_int_equal(kvfs_prefix_hashes("other", t, 48, 16, b, 10), 3);
	assert_memory_not_equal(a, b, sizeof(kvfs_hash_t));
	/* changing one token changes that block and every later one */
	t[20] ^= 1;
	assert_int_equal(kvfs_prefix_hashes("ns", t, 48, 16, b, 10), 3);
	assert_memory_equal(&a[0], &b[0], sizeof(kvfs_hash_t));
	assert_memory_not_equal(&a[1], &b[1], sizeof(kvfs_hash_t));
	assert_memory_not_equal(&a[2], &b[2], sizeof(kvfs_hash_t));
	assert_int_equal(kvfs_prefix_hashes("ns", t, 48, 16, b, 1), 1); /* max_out */
	assert_int_equal(kvfs_prefix_hashes("ns", t, 48, 0, b, 10), -EINVAL);
	assert_int_equal(kvfs_prefix_hashes(NULL, t, 48, 16, b, 10), -EINVAL);
	kvfs_hash_name(&a[2], name);
	assert_int_equal(kvfs_hash_parse(name, &back), 0);
	assert_memory_equal(&back, &a[2], sizeof(back));
	assert_int_equal(kvfs_hash_parse("xyz", &back), -EINVAL);
	name[31] = 'g';
	assert_int_equal(kvfs_hash_parse(name, &back), -EINVAL);
}

/* every byte value at every position: its two lowercase digits, high first */
static void test_name_digits(void **state)
{
	static const char digits[] = "0123456789abcdef";
	char name[KVFS_HASH_NAME_LEN + 1];
	kvfs_hash_t h;
	int v, pos, i;

	(void)state;
	for (pos = 0; pos < 16; pos++)
		for (v = 0; v < 256; v++) {
			for (i = 0; i < 16; i++)
				h.b[i] = (uint8_t)(i == pos ? v : (v * 7 + i * 29) & 0xff);
			memset(name, 'x', sizeof(name));
			kvfs_hash_name(&h, name);
			assert_int_equal(name[32], 0);
			for (i = 0; i < 16; i++) {
				assert_int_equal(name[2 * i], digits[h.b[i] >> 4]);
				assert_int_equal(name[2 * i + 1], digits[h.b[i] & 15]);
			}
		}
}

/*
 * The index's compare of a block's name (mm/hex.h): the bytes back from
 * their digits, lowercase only; equal to their own digits and to no name
 * one character off, at any position, whatever the character.
 */
static void test_index_name_compare(void **state)
{
	char name[KVFS_HASH_NAME_LEN + 1], other[32];
	uint8_t back[16];
	kvfs_hash_t h;
	int pos, c, i, k;

	(void)state;
	for (k = 0; k < 64; k++) {
		for (i = 0; i < 16; i++)
			h.b[i] = (uint8_t)(k * 37 + i * 91 + (k >> 2));
		kvfs_hash_name(&h, name);
		assert_true(kv_unhex32((const uint8_t *)name, back));
		assert_memory_equal(back, h.b, 16);
		assert_true(kv_hex16_eq(h.b, name));
		for (pos = 0; pos < 32; pos++)
			for (c = 1; c < 256; c++) {
				memcpy(other, name, 32);
				if ((char)c == name[pos])
					continue;
				other[pos] = (char)c;
				assert_false(kv_hex16_eq(h.b, other));
				/* only the 16 lowercase digits make a block's name */
				assert_int_equal(kv_unhex32((const uint8_t *)other, back),
						 (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
			}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_chain_rule),
		cmocka_unit_test(test_prefix_property_and_input),
		cmocka_unit_test(test_name_digits),
		cmocka_unit_test(test_index_name_compare),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
