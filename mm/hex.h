/* SPDX-License-Identifier: MIT */
/*
 * hex.h - block names: 16 bytes as 32 lowercase hex digits. libkvfs
 * formats every name a lookup asks for (kvfs_hash_name), the index keeps a
 * block's name as its 16 bytes in DRAM and compares a name asked for
 * against them (index.c). Header-only: both run once a block.
 */
#ifndef KVFS_MM_HEX_H
#define KVFS_MM_HEX_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>

/*
 * 16 bytes to 32 lowercase digits in registers: split the nibbles,
 * interleave them high first, add '0' and, past 9, 'a' - '0' - 10. About
 * 2 ns; by a table of pairs, 10.
 */
static inline void kv_hex16_regs(const uint8_t b[16], __m128i *d0, __m128i *d1)
{
	const __m128i low4 = _mm_set1_epi8(0x0f), nine = _mm_set1_epi8(9);
	const __m128i zero = _mm_set1_epi8('0'), past9 = _mm_set1_epi8('a' - '0' - 10);
	__m128i v = _mm_loadu_si128((const __m128i *)b);
	__m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), low4), lo = _mm_and_si128(v, low4);
	__m128i a = _mm_unpacklo_epi8(hi, lo), c = _mm_unpackhi_epi8(hi, lo);

	*d0 = _mm_add_epi8(_mm_add_epi8(a, zero), _mm_and_si128(_mm_cmpgt_epi8(a, nine), past9));
	*d1 = _mm_add_epi8(_mm_add_epi8(c, zero), _mm_and_si128(_mm_cmpgt_epi8(c, nine), past9));
}

static inline void kv_hex16(const uint8_t b[16], char out[32])
{
	__m128i d0, d1;

	kv_hex16_regs(b, &d0, &d1);
	_mm_storeu_si128((__m128i *)out, d0);
	_mm_storeu_si128((__m128i *)(out + 16), d1);
}

/* Whether the 32 characters at @name are @b's digits: no copy, two compares. */
static inline bool kv_hex16_eq(const uint8_t b[16], const char *name)
{
	__m128i d0, d1;

	kv_hex16_regs(b, &d0, &d1);
	d0 = _mm_cmpeq_epi8(d0, _mm_loadu_si128((const __m128i *)name));
	d1 = _mm_cmpeq_epi8(d1, _mm_loadu_si128((const __m128i *)(name + 16)));
	return _mm_movemask_epi8(_mm_and_si128(d0, d1)) == 0xffff;
}
#else
static inline void kv_hex16(const uint8_t b[16], char out[32])
{
	static const char digit[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 16; i++) {
		out[2 * i] = digit[b[i] >> 4];
		out[2 * i + 1] = digit[b[i] & 15];
	}
}

static inline bool kv_hex16_eq(const uint8_t b[16], const char *name)
{
	char d[32];

	kv_hex16(b, d);
	return memcmp(d, name, 32) == 0;
}
#endif

/*
 * The 16 bytes whose digits the 32 characters at @name are, lowercase only
 * (so each name has one form). Return: whether it is such a name.
 */
static inline bool kv_unhex32(const uint8_t *name, uint8_t b[16])
{
	int i;

	for (i = 0; i < 32; i++) {
		uint8_t c = name[i], v;

		if (c >= '0' && c <= '9')
			v = (uint8_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = (uint8_t)(c - 'a' + 10);
		else
			return false;
		b[i / 2] = i % 2 ? (uint8_t)(b[i / 2] | v) : (uint8_t)(v << 4);
	}
	return true;
}

#endif /* KVFS_MM_HEX_H */
