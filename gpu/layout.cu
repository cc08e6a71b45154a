// SPDX-License-Identifier: MIT
/*
 * layout.cu - turns token blocks of an engine's paged KV cache into piece
 * lists for kvfs_cuda_load()/kvfs_cuda_store().
 *
 * Pool block order (the one place it is defined in code; libkvfs_cuda(3)
 * documents it): layer 0 K, layer 0 V, layer 1 K, ..., each one engine
 * block of that tensor, back to back. Host code only; touches no GPU.
 */
#include <errno.h>

#include "kvfs_cuda_int.h"

/* Bytes of one engine block of one K or V tensor, or 0 if @lo is invalid. */
static uint64_t kc_layout_piece_bytes(const struct kvfs_cuda_layout *lo)
{
	if (!lo || !lo->num_layers || !lo->num_blocks || !lo->block_tokens || !lo->kv_heads ||
	    !lo->head_dim || !lo->elem_bytes || !lo->k)
		return 0;
	if (lo->kind == KVFS_CUDA_LAYOUT_KV_SEPARATE && !lo->v)
		return 0;
	if (lo->kind != KVFS_CUDA_LAYOUT_KV_SEPARATE && lo->kind != KVFS_CUDA_LAYOUT_KV_STACKED)
		return 0;
	return (uint64_t)lo->block_tokens * lo->kv_heads * lo->head_dim * lo->elem_bytes;
}

uint64_t kvfs_cuda_layout_block_bytes(const struct kvfs_cuda_layout *lo)
{
	return kc_layout_piece_bytes(lo) * 2 * (lo ? lo->num_layers : 0);
}

long kvfs_cuda_layout_pieces(const struct kvfs_cuda_layout *lo, const int64_t *block_ids,
			     const uint64_t *pool_offsets, size_t nblocks,
			     struct kvfs_cuda_piece *out, size_t max_out)
{
	uint64_t piece = kc_layout_piece_bytes(lo);
	size_t per_block, k = 0;

	if (!piece)
		return kc_set_error(-EINVAL, "invalid layout (kind, a zero dimension, or NULL "
					     "tensor arrays)");
	if (nblocks && (!block_ids || !pool_offsets || !out))
		return kc_set_error(-EINVAL, "NULL block_ids, pool_offsets or out");
	per_block = 2 * (size_t)lo->num_layers;
	if (nblocks > max_out / per_block)
		return kc_set_error(-ENOSPC, "%zu blocks need %zu pieces, room for %zu", nblocks,
				    nblocks * per_block, max_out);
	for (uint32_t l = 0; l < lo->num_layers; l++)
		if (!lo->k[l] || (lo->kind == KVFS_CUDA_LAYOUT_KV_SEPARATE && !lo->v[l]))
			return kc_set_error(-EINVAL, "layer %u: NULL tensor pointer", l);

	/* V's distance from K inside one STACKED tensor [2, num_blocks, ...] */
	uint64_t v_off = lo->num_blocks * piece;

	for (size_t b = 0; b < nblocks; b++) {
		int64_t id = block_ids[b];

		if (id < 0 || (uint64_t)id >= lo->num_blocks)
			return kc_set_error(-EINVAL,
					    "block %zu: engine block id %lld not in 0..%llu", b,
					    (long long)id, (unsigned long long)lo->num_blocks - 1);
		uint64_t pool = pool_offsets[b], dev = (uint64_t)id * piece;

		for (uint32_t l = 0; l < lo->num_layers; l++) {
			char *kt = (char *)lo->k[l];
			char *vt = lo->kind == KVFS_CUDA_LAYOUT_KV_SEPARATE ? (char *)lo->v[l]
									    : kt + v_off;

			out[k].pool_offset = pool + (2 * (uint64_t)l) * piece;
			out[k].dev_ptr = kt + dev;
			out[k].bytes = piece;
			k++;
			out[k].pool_offset = pool + (2 * (uint64_t)l + 1) * piece;
			out[k].dev_ptr = vt + dev;
			out[k].bytes = piece;
			k++;
		}
	}
	return (long)k;
}
