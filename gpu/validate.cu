// SPDX-License-Identifier: MIT
/*
 * validate.cu - the checks of a load's or store's pieces before anything is
 * enqueued: each piece inside the registration, each dev_ptr device
 * memory of the stream's GPU for its whole length (cuMemGetAddressRange
 * where the driver has it). A bad piece fails the call with a message
 * (kvfs_cuda_last_error()) and never reaches the GPU. Enqueues nothing.
 */
#include <algorithm>
#include <cuda.h>
#include <errno.h>
#include <stdint.h>
#include <vector>

#include "kvfs_cuda_int.h"

typedef CUresult (*kc_get_range_fn)(CUdeviceptr *base, size_t *size, CUdeviceptr p);

static kc_get_range_fn kc_get_range(void)
{
	static std::once_flag once;
	static kc_get_range_fn fn;

	std::call_once(once, [] {
		void *f = NULL;
		cudaDriverEntryPointQueryResult q;

		if (cudaGetDriverEntryPointByVersion("cuMemGetAddressRange", &f, 12000,
						     cudaEnableDefault, &q) == cudaSuccess &&
		    q == cudaDriverEntryPointSuccess)
			fn = (kc_get_range_fn)f;
	});
	return fn;
}

/* Device ranges known valid during one call, sorted by start. */
struct kc_range_cache {
	std::vector<std::pair<uint64_t, uint64_t>> r;

	const std::pair<uint64_t, uint64_t> *find(uint64_t a) const
	{
		auto it = std::upper_bound(r.begin(), r.end(), std::make_pair(a, UINT64_MAX));

		if (it == r.begin())
			return NULL;
		--it;
		return a < it->second ? &*it : NULL;
	}
	void add(uint64_t lo, uint64_t hi)
	{
		auto v = std::make_pair(lo, hi);

		r.insert(std::upper_bound(r.begin(), r.end(), v), v);
	}
};

static bool kc_is_device_memory(const cudaPointerAttributes *attr)
{
	return attr->type == cudaMemoryTypeDevice || attr->type == cudaMemoryTypeManaged;
}

static int kc_past_allocation(size_t idx, uint64_t start, uint64_t len, uint64_t at)
{
	return kc_set_error(-EFAULT,
			    "piece %zu: dev_ptr 0x%llx + %llu runs past its allocation "
			    "(at 0x%llx)",
			    idx, (unsigned long long)start, (unsigned long long)len,
			    (unsigned long long)at);
}

/* Is [a, a+len) device memory usable on @device? Device current. */
static int kc_check_dev_ptr(kc_range_cache *c, int device, size_t idx, uint64_t a, uint64_t len)
{
	uint64_t end = a + len, start = a;

	if (end < a)
		return kc_set_error(-EFAULT, "piece %zu: dev_ptr 0x%llx + %llu wraps", idx,
				    (unsigned long long)a, (unsigned long long)len);
	while (a < end) {
		const std::pair<uint64_t, uint64_t> *hit = c->find(a);

		if (hit) {
			a = hit->second;
			continue;
		}
		cudaPointerAttributes attr;
		cudaError_t e = cudaPointerGetAttributes(&attr, (const void *)(uintptr_t)a);

		if (e != cudaSuccess) {
			(void)cudaGetLastError();
			return kc_set_error(-EFAULT, "piece %zu: dev_ptr 0x%llx: %s", idx,
					    (unsigned long long)a, cudaGetErrorString(e));
		}
		if (attr.type == cudaMemoryTypeDevice && attr.device != device)
			return kc_set_error(-EXDEV,
					    "piece %zu: dev_ptr 0x%llx is memory of GPU %d, the "
					    "stream is on GPU %d",
					    idx, (unsigned long long)a, attr.device, device);
		if (!kc_is_device_memory(&attr)) {
			if (a != start)
				return kc_past_allocation(idx, start, len, a);
			return kc_set_error(-EFAULT,
					    "piece %zu: dev_ptr 0x%llx is not device memory "
					    "(cudaMemoryType %d)",
					    idx, (unsigned long long)a, (int)attr.type);
		}
		kc_get_range_fn fn = kc_get_range();
		CUdeviceptr base;
		size_t size;

		if (!fn) { /* no range query: at least check the last byte */
			e = cudaPointerGetAttributes(&attr, (const void *)(uintptr_t)(end - 1));
			(void)cudaGetLastError();
			if (e != cudaSuccess || !kc_is_device_memory(&attr))
				return kc_past_allocation(idx, start, len, end - 1);
			return 0;
		}
		if (fn(&base, &size, (CUdeviceptr)a) != CUDA_SUCCESS || base + size <= a)
			return kc_set_error(-EFAULT,
					    "piece %zu: dev_ptr 0x%llx: no device allocation there",
					    idx, (unsigned long long)a);
		c->add(base, base + size);
		a = base + size; /* a piece may span adjacent mappings (VMM) */
	}
	return 0;
}

/*
 * Every piece before anything is enqueued. Runs once per piece per call, so
 * the common case (same allocation as the piece before) stays a compare.
 */
int kc_validate(kvfs_cuda_reg *reg, int device, const kvfs_cuda_piece *p, size_t n)
{
	kc_range_cache cache;
	uint64_t last_lo = 1, last_hi = 0; /* last piece's allocation; empty at first */
	bool check = !(reg->flags & KVFS_CUDA_REG_NO_CHECK);

	for (size_t i = 0; i < n; i++) {
		if (!p[i].bytes)
			return kc_set_error(-EINVAL, "piece %zu: zero bytes", i);
		if (p[i].bytes > reg->size || p[i].pool_offset > reg->size - p[i].bytes)
			return kc_set_error(-ERANGE,
					    "piece %zu: pool_offset 0x%llx + %llu bytes beyond the "
					    "registered %llu bytes",
					    i, (unsigned long long)p[i].pool_offset,
					    (unsigned long long)p[i].bytes,
					    (unsigned long long)reg->size);
		if (!p[i].dev_ptr)
			return kc_set_error(-EFAULT, "piece %zu: dev_ptr is NULL", i);
		uint64_t a = (uint64_t)(uintptr_t)p[i].dev_ptr;

		if (!check || (a >= last_lo && a + p[i].bytes <= last_hi && a + p[i].bytes > a))
			continue;
		int rc = kc_check_dev_ptr(&cache, device, i, a, p[i].bytes);

		if (rc)
			return rc;
		const std::pair<uint64_t, uint64_t> *r = cache.find(a);

		if (r && a + p[i].bytes <= r->second) {
			last_lo = r->first;
			last_hi = r->second;
		}
	}
	return 0;
}
