// SPDX-License-Identifier: MIT
/*
 * copy_kernel.cu - the one gather/scatter kernel of libkvfs_cuda.
 *
 * A persistent grid walks an item table (each item at most KC_ITEM_BYTES of
 * one piece); CTA b takes items b, b + grid, ... so no prefix sum is needed.
 * The same kernel serves both directions: for a load the source is the
 * pool, read through its mapped host address over PCIe, for a store the
 * destination is. PCIe latency is hidden by keeping `U` 16-byte accesses in
 * flight per thread (16 KiB per CTA with U = 4) in a grid of a few CTAs per
 * SM, never more than fit at once (a second wave would only add a tail).
 * Consecutive threads touch consecutive 16 bytes, so a warp reads or writes
 * 512 contiguous bytes (full 128-byte lines, which is what posted writes to
 * host memory want).
 * Pieces whose two addresses are not mutually 16-byte aligned fall back to
 * 8-, 4- or 1-byte accesses: correct, slower.
 *
 * This file must stay free of host-side policy: it only launches.
 */
#include "kvfs_cuda_int.h"

template <typename T> __device__ __forceinline__ T kc_ld(const T *p)
{
	return __ldcs(p);
}

template <typename T> __device__ __forceinline__ void kc_st(T *p, T v)
{
	__stcs(p, v);
}

/* Copy @n elements of T; all U loads of a round are issued before any store. */
template <typename T, int U>
__device__ __forceinline__ void kc_copy_run(const T *__restrict__ s, T *__restrict__ d, uint64_t n)
{
	uint64_t t = threadIdx.x;

	for (; t + (uint64_t)(U - 1) * KC_THREADS < n; t += (uint64_t)U * KC_THREADS) {
		T v[U];
#pragma unroll
		for (int k = 0; k < U; k++)
			v[k] = kc_ld(s + t + k * KC_THREADS);
#pragma unroll
		for (int k = 0; k < U; k++)
			kc_st(d + t + k * KC_THREADS, v[k]);
	}
	if (t < n) {
		T v[U];
#pragma unroll
		for (int k = 0; k < U; k++)
			if (t + k * KC_THREADS < n)
				v[k] = kc_ld(s + t + k * KC_THREADS);
#pragma unroll
		for (int k = 0; k < U; k++)
			if (t + k * KC_THREADS < n)
				kc_st(d + t + k * KC_THREADS, v[k]);
	}
}

/* Head bytes up to T's alignment, the body in T, tail bytes. */
template <typename T, int U>
__device__ __forceinline__ void kc_copy_aligned(const char *s, char *d, uint64_t bytes)
{
	uint64_t head = (sizeof(T) - ((uintptr_t)s & (sizeof(T) - 1))) & (sizeof(T) - 1);

	if (head > bytes)
		head = bytes;
	if (threadIdx.x < head)
		d[threadIdx.x] = s[threadIdx.x];
	uint64_t n = (bytes - head) / sizeof(T);

	kc_copy_run<T, U>((const T *)(s + head), (T *)(d + head), n);
	uint64_t done = head + n * sizeof(T);

	if (threadIdx.x < bytes - done)
		d[done + threadIdx.x] = s[done + threadIdx.x];
}

template <int U>
__global__ void __launch_bounds__(KC_THREADS)
    kc_copy_kernel(const kc_item *__restrict__ items, uint32_t nitems)
{
	for (uint32_t i = blockIdx.x; i < nitems; i += gridDim.x) {
		const kc_item it = items[i];
		const char *s = (const char *)it.src;
		char *d = (char *)it.dst;
		unsigned mis = (unsigned)(it.src ^ it.dst);

		if (!(mis & 15))
			kc_copy_aligned<uint4, U>(s, d, it.bytes);
		else if (!(mis & 7))
			kc_copy_aligned<uint2, U>(s, d, it.bytes);
		else if (!(mis & 3))
			kc_copy_aligned<unsigned int, U>(s, d, it.bytes);
		else
			kc_copy_run<unsigned char, U>((const unsigned char *)s, (unsigned char *)d,
						      it.bytes);
	}
}

/**
 * kc_launch() - one launch over @nitems device-resident items.
 * @items: the item table in device memory
 * @nitems: > 0
 * @unroll: 4 or 8
 * @grid: CTAs (clamped to 1..nitems)
 * @s: stream
 *
 * Return: 0 or the launch error as -errno (message set).
 */
int kc_launch(const kc_item *items, uint32_t nitems, unsigned unroll, unsigned grid, cudaStream_t s)
{
	if (grid > nitems)
		grid = nitems;
	if (grid < 1)
		grid = 1;
	(void)cudaGetLastError(); /* our runtime's stale error is not this launch's */
	if (unroll == 8)
		kc_copy_kernel<8><<<grid, KC_THREADS, 0, s>>>(items, nitems);
	else
		kc_copy_kernel<4><<<grid, KC_THREADS, 0, s>>>(items, nitems);
	cudaError_t e = cudaGetLastError();

	return e == cudaSuccess ? 0 : kc_cuda_error(e, "copy kernel launch");
}

/**
 * kc_occupancy() - how many CTAs of the kernel fit on one SM of the current
 * device.
 * @unroll: 4 or 8
 * @ctas: result (at least 1)
 *
 * Return: 0 or -errno (message set).
 */
int kc_occupancy(unsigned unroll, int *ctas)
{
	cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(
	    ctas, unroll == 8 ? kc_copy_kernel<8> : kc_copy_kernel<4>, KC_THREADS, 0);

	if (e != cudaSuccess)
		return kc_cuda_error(e, "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
	if (*ctas < 1)
		*ctas = 1;
	return 0;
}
