/* SPDX-License-Identifier: MIT */
/*
 * kvfs_cuda.h - libkvfs_cuda, moves KV blocks between a kvfs pool mapping
 * and GPU memory at link speed.
 *
 * The caller registers a host mapping of the pool once (from libkvfs's
 * kvfs_pool_base()/kvfs_pool_size(), or any MAP_SHARED mapping of a
 * shared-memory file), then moves lists of pieces (pool offset, device
 * pointer, bytes) with kvfs_cuda_load() (pool -> GPU) and kvfs_cuda_store()
 * (GPU -> pool). Each call is asynchronous on the caller's stream and is one
 * kernel launch for any number of pieces; pieces whose size the per-device
 * calibration found faster on the copy engine go there instead.
 *
 * This header does not depend on the daemon or on libkvfs, and it compiles
 * as C11 or C++ without the CUDA headers: a stream is passed as
 * `struct CUstream_st *`, which is what cudaStream_t and CUstream are.
 *
 * Every call returns 0 (or a count) or a negative errno code; the CUDA
 * message behind a failure is in kvfs_cuda_last_error(). The library never
 * prints, except the one line per device that KVFS_CUDA_DEBUG=1 asks for.
 * See libkvfs_cuda(3).
 */
#ifndef KVFS_CUDA_H
#define KVFS_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct CUstream_st; /* cudaStream_t == CUstream == struct CUstream_st * */

typedef struct kvfs_cuda_reg kvfs_cuda_reg_t;

/** One contiguous run of bytes between the pool and GPU memory. */
struct kvfs_cuda_piece {
	uint64_t pool_offset; /* byte offset from the registered base */
	void *dev_ptr; /* device memory on the stream's GPU */
	uint64_t bytes; /* > 0 */
};

/* kvfs_cuda_register() flags */
#define KVFS_CUDA_REG_READONLY 0x1 /* mapping is read-only: loads only */
#define KVFS_CUDA_REG_NO_CHECK 0x2 /* skip device-pointer validation */

/* directions, as indices of kvfs_cuda_method arrays */
enum kvfs_cuda_dir {
	KVFS_CUDA_LOAD = 0, /* pool -> GPU */
	KVFS_CUDA_STORE = 1, /* GPU -> pool */
};

/** What kvfs_cuda_get_reg_info() reports about a registration. */
struct kvfs_cuda_reg_info {
	void *base;
	uint64_t size;
	uint64_t chunk_bytes; /* cudaHostRegister was called per chunk */
	uint32_t nchunks;
	uint32_t flags;
	double register_ms; /* wall time of all cudaHostRegister calls */
};

#define KVFS_CUDA_NSIZES 6 /* piece sizes the calibration measures */
#define KVFS_CUDA_NEVER	 UINT64_MAX

/**
 * struct kvfs_cuda_method - how one GPU moves pieces, per direction.
 *
 * A piece of at least copy_min[dir] bytes goes to the copy engine
 * (one cudaMemcpyAsync); smaller pieces go to the gather/scatter kernel,
 * all of them in one launch. KVFS_CUDA_NEVER: the kernel takes every piece;
 * 0: the copy engine takes every piece.
 */
struct kvfs_cuda_method {
	uint64_t copy_min[2]; /* [enum kvfs_cuda_dir] */
	uint32_t kernel_threads; /* threads per CTA (fixed: 256) */
	uint32_t kernel_unroll; /* 16-byte accesses in flight per thread: 4 or 8 */
	uint32_t kernel_ctas_per_sm; /* grid = SMs x this (1..32, clamped to what fits) */
	uint32_t calibrated; /* 1: copy_min came from a measurement */
	double calibrate_ms; /* wall time the measurement took */
	uint64_t sizes[KVFS_CUDA_NSIZES]; /* piece sizes measured */
	double kernel_gbs[2][KVFS_CUDA_NSIZES]; /* GB/s, [dir][size] */
	double copy_gbs[2][KVFS_CUDA_NSIZES];
	/*
	 * 0: no cap; else the kernel's grid is at most this many CTAs, leaving
	 * the other SMs to the engine's kernels while a load runs beside them
	 * (a layer-by-layer load under a prefill). A few dozen CTAs still fill
	 * the PCIe link.
	 */
	uint32_t kernel_max_ctas;
	uint32_t reserved;
};

/* --- registration --- */

/**
 * kvfs_cuda_register() - make a pool mapping reachable from every GPU.
 * @base: start of the host mapping (page-aligned)
 * @size: bytes of the mapping (> 0)
 * @flags: 0 or KVFS_CUDA_REG_* bits
 * @out: the new registration
 *
 * Pins and maps the range with cudaHostRegister (mapped, portable; read-only
 * with KVFS_CUDA_REG_READONLY), in chunks of 1 GiB (KVFS_CUDA_CHUNK_MB
 * overrides), so one registration serves every GPU of the process. Pinning
 * touches every page: a large pool takes a while, reported by
 * kvfs_cuda_get_reg_info(). Per-GPU state (staging buffers, the method) is made
 * the first time a GPU is used. Thread-safe.
 *
 * Return: 0; -EINVAL (bad arguments), -EEXIST (range already registered),
 * -ENODEV (no usable GPU), -ENOTSUP (GPU cannot address host memory at the
 * same address), -ENOMEM, or -EIO (other CUDA error).
 */
int kvfs_cuda_register(void *base, size_t size, unsigned flags, kvfs_cuda_reg_t **out);

/**
 * kvfs_cuda_unregister() - wait for this registration's transfers, free its
 * per-GPU state and unregister the range.
 *
 * The caller must not use @reg afterwards, nor have transfers enqueued on
 * it from another thread. Return: 0, or the first CUDA error as -errno
 * (everything is released regardless).
 */
int kvfs_cuda_unregister(kvfs_cuda_reg_t *reg);

/**
 * kvfs_cuda_get_reg_info() - what a registration covers and what it cost.
 *
 * Return: 0 or -EINVAL.
 */
int kvfs_cuda_get_reg_info(const kvfs_cuda_reg_t *reg, struct kvfs_cuda_reg_info *info);

/* --- transfers --- */

/**
 * kvfs_cuda_load() - copy pieces from the pool to GPU memory.
 * @reg: registration of the pool
 * @pieces: @n pieces; every dev_ptr on the GPU that owns @stream
 * @n: number of pieces (0: nothing to do)
 * @stream: the caller's stream (NULL: the legacy default stream of the
 *          current GPU)
 *
 * Validates every piece first (pool range, device pointer), then enqueues
 * on @stream: an upload of the piece list, one kernel for the kernel-sized
 * pieces, one cudaMemcpyAsync per copy-engine piece. Returns before the
 * copy is done; @pieces may be reused at once. Destinations must not
 * overlap. Thread-safe; calls on different streams run concurrently.
 *
 * Return: 0; -EINVAL (n > 0 with NULL pieces, a zero-length piece),
 * -ERANGE (a piece beyond the registered size), -EFAULT (a dev_ptr that is
 * not device memory, or a piece that runs past its allocation), -EXDEV
 * (device memory of another GPU), -ENOTSUP (the stream is being captured),
 * or a CUDA error as -errno. On a validation error nothing is enqueued; on
 * a CUDA error while enqueueing, part of the work may be enqueued.
 */
int kvfs_cuda_load(kvfs_cuda_reg_t *reg, const struct kvfs_cuda_piece *pieces, size_t n,
		   struct CUstream_st *stream);

/**
 * kvfs_cuda_store() - copy pieces from GPU memory into the pool.
 *
 * As kvfs_cuda_load(), the other way. The pool bytes are written when the
 * stream reaches the end of this call's work (synchronize, or wait on an
 * event, before kvfs_commit()).
 *
 * Return: as kvfs_cuda_load(), and -EROFS for a read-only registration.
 */
int kvfs_cuda_store(kvfs_cuda_reg_t *reg, const struct kvfs_cuda_piece *pieces, size_t n,
		    struct CUstream_st *stream);

/* --- method choice --- */

/**
 * kvfs_cuda_calibrate() - measure kernel and copy engine on one GPU now.
 * @reg: registration
 * @device: CUDA device index
 *
 * Times both methods over 4 KiB..4 MiB pieces in both directions on private
 * scratch buffers (the pool is not touched; well under a second; it ends
 * with a device-wide synchronization) and sets copy_min to the smallest size
 * from which the copy engine stays faster. The result is kept for the
 * process: other registrations on this GPU reuse it. The first transfer on
 * a GPU calibrates on its own unless a method was set, a calibration of
 * this GPU exists, or KVFS_CUDA_METHOD is "kernel" or "copy". Do it before
 * capturing graphs or timing anything.
 *
 * Return: 0 or -errno.
 */
int kvfs_cuda_calibrate(kvfs_cuda_reg_t *reg, int device);

/**
 * kvfs_cuda_get_method() - the method one GPU uses (calibrating first if it
 * has none yet). Return: 0 or -errno.
 */
int kvfs_cuda_get_method(kvfs_cuda_reg_t *reg, int device, struct kvfs_cuda_method *out);

/**
 * kvfs_cuda_set_method() - override copy_min and the kernel's shape.
 *
 * Only copy_min, kernel_unroll (4 or 8), kernel_ctas_per_sm (1..32) and
 * kernel_max_ctas (0 or more) are read; calibrated is cleared. Takes effect for calls that start after it.
 *
 * Return: 0 or -EINVAL.
 */
int kvfs_cuda_set_method(kvfs_cuda_reg_t *reg, int device, const struct kvfs_cuda_method *m);

/* --- paged KV layouts --- */

enum kvfs_cuda_layout_kind {
	/* per layer a K and a V tensor, each [num_blocks, block_tokens, kv_heads, head_dim] */
	KVFS_CUDA_LAYOUT_KV_SEPARATE = 1,
	/* per layer one tensor [2, num_blocks, block_tokens, kv_heads, head_dim] */
	KVFS_CUDA_LAYOUT_KV_STACKED = 2,
};

/**
 * struct kvfs_cuda_layout - an engine's paged KV cache, all tensors contiguous.
 *
 * One engine block of one layer's K (or V) is block_tokens * kv_heads *
 * head_dim * elem_bytes contiguous bytes: one piece. A pool block holds all
 * layers of one token block, contiguous, in this order:
 * layer 0 K, layer 0 V, layer 1 K, layer 1 V, ..., layer num_layers-1 V.
 */
struct kvfs_cuda_layout {
	uint32_t kind; /* enum kvfs_cuda_layout_kind */
	uint32_t num_layers;
	uint64_t num_blocks; /* blocks in each engine tensor */
	uint32_t block_tokens;
	uint32_t kv_heads;
	uint32_t head_dim;
	uint32_t elem_bytes; /* 2 for bf16/fp16, 1 for fp8 */
	void *const *k; /* SEPARATE: num_layers K tensors; STACKED: num_layers tensors */
	void *const *v; /* SEPARATE: num_layers V tensors; STACKED: unused (NULL) */
};

/**
 * kvfs_cuda_layout_block_bytes() - bytes of one pool block of @lo (all
 * layers, K and V). Return: the size, or 0 if @lo is invalid.
 */
uint64_t kvfs_cuda_layout_block_bytes(const struct kvfs_cuda_layout *lo);

/**
 * kvfs_cuda_layout_pieces() - the pieces that move token blocks between an
 * engine's paged KV cache and pool blocks.
 * @lo: the engine's layout
 * @block_ids: @nblocks engine block ids (0..num_blocks-1)
 * @pool_offsets: @nblocks pool offsets, one pool block each (e.g. from
 *                kvfs_lookup() or kvfs_reserve()), each holding at least
 *                kvfs_cuda_layout_block_bytes(@lo) bytes
 * @nblocks: token blocks to move
 * @out: receives 2 * num_layers * @nblocks pieces, token block by token
 *       block, each in pool order (layer 0 K, layer 0 V, ...)
 * @max_out: room in @out
 *
 * The same list serves kvfs_cuda_load() and kvfs_cuda_store().
 *
 * Return: the number of pieces written; -EINVAL (bad layout, NULL tensor
 * pointer, block id out of range), -ENOSPC (@max_out too small).
 */
long kvfs_cuda_layout_pieces(const struct kvfs_cuda_layout *lo, const int64_t *block_ids,
			     const uint64_t *pool_offsets, size_t nblocks,
			     struct kvfs_cuda_piece *out, size_t max_out);

/* --- errors --- */

/**
 * kvfs_cuda_strerror() - a short text for an error code this library
 * returned. Return: a static string.
 */
const char *kvfs_cuda_strerror(int rc);

/**
 * kvfs_cuda_last_error() - what the calling thread's last failed call said,
 * with the CUDA call and message when CUDA failed ("" if none yet).
 * Return: a thread-local string, valid until the thread's next call.
 */
const char *kvfs_cuda_last_error(void);

#ifdef __cplusplus
}
#endif
#endif /* KVFS_CUDA_H */
