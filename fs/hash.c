// SPDX-License-Identifier: MIT
/*
 * hash.c - libkvfs's block naming: chained XXH3-128 over token ids.
 * seed = XXH3_128("kvfs-v1:" ns); h[i] = XXH3_128(h[i-1] || tokens of
 * block i as little-endian uint32), h[-1] = seed, each hash in XXH128's
 * canonical (big-endian) bytes. Deterministic across processes and hosts.
 */
#include "hex.h"
#include "kvfs.h"

#include <errno.h>
#include <string.h>
#include <xxhash.h>

static void canonical(XXH128_hash_t h, kvfs_hash_t *out)
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, h);
	memcpy(out->b, c.digest, 16);
}

/* A block's hash, chained on *@prev: XXH3-128 of prev || the tokens as little-endian uint32. */
static void block_hash(XXH3_state_t *st, const kvfs_hash_t *prev, const uint32_t *tokens,
		       uint32_t block_tokens, kvfs_hash_t *out)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	size_t bytes = (size_t)block_tokens * 4;

	/* the ids are little-endian already: hash them where they are (4-byte updates, one a
	 * token, took 160 us for 32k tokens); a short block in one call from the stack */
	if (16 + bytes <= 1024) {
		uint8_t buf[1024];

		memcpy(buf, prev->b, 16);
		memcpy(buf + 16, tokens, bytes);
		canonical(XXH3_128bits(buf, 16 + bytes), out);
		return;
	}
	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, prev->b, 16);
	XXH3_128bits_update(st, tokens, bytes);
#else
	size_t j;

	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, prev->b, 16);
	for (j = 0; j < block_tokens; j++) {
		uint8_t le[4] = { (uint8_t)tokens[j], (uint8_t)(tokens[j] >> 8),
				  (uint8_t)(tokens[j] >> 16), (uint8_t)(tokens[j] >> 24) };

		XXH3_128bits_update(st, le, 4);
	}
#endif
	canonical(XXH3_128bits_digest(st), out);
}

long kvfs_prefix_hashes(const char *ns, const uint32_t *tokens, size_t ntokens,
			uint32_t block_tokens, kvfs_hash_t *out, size_t max_out)
{
	XXH3_state_t *st;
	kvfs_hash_t prev;
	size_t nblocks, i;

	if (!ns || !block_tokens || (ntokens && !tokens) || (max_out && !out))
		return -EINVAL;
	st = XXH3_createState();
	if (!st)
		return -ENOMEM;
	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, "kvfs-v1:", 8);
	XXH3_128bits_update(st, ns, strlen(ns));
	canonical(XXH3_128bits_digest(st), &prev);
	nblocks = ntokens / block_tokens;
	if (nblocks > max_out)
		nblocks = max_out;
	for (i = 0; i < nblocks; i++) {
		block_hash(st, &prev, tokens + i * block_tokens, block_tokens, &out[i]);
		prev = out[i];
	}
	XXH3_freeState(st);
	return (long)nblocks;
}

/* 32 lowercase digits in registers (mm/hex.h): about 2 ns, a 2,048-block lookup formats each */
void kvfs_hash_name(const kvfs_hash_t *h, char out[KVFS_HASH_NAME_LEN + 1])
{
	kv_hex16(h->b, out);
	out[32] = 0;
}

int kvfs_hash_parse(const char *name, kvfs_hash_t *h)
{
	int i;

	for (i = 0; i < 32; i++) {
		char c = name[i];
		int v = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;

		if (v < 0)
			return -EINVAL;
		if (i % 2 == 0)
			h->b[i / 2] = (uint8_t)(v << 4);
		else
			h->b[i / 2] |= (uint8_t)v;
	}
	return name[32] == 0 ? 0 : -EINVAL;
}
