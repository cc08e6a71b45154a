// SPDX-License-Identifier: MIT
/*
 * kvfs_cuda.cu - libkvfs_cuda: registration of a pool mapping, per-GPU
 * state, validation and enqueueing of loads and stores, errors.
 *
 * A call validates every piece before it enqueues anything, so a bad piece
 * never reaches the GPU. It then cuts the kernel-sized pieces into items,
 * writes them into a pinned staging slot, uploads them on the caller's
 * stream and launches the kernel once; copy-engine-sized pieces follow as
 * cudaMemcpyAsync. An event per slot keeps a slot from being rewritten
 * while an earlier call on any stream may still read it.
 *
 * Library code: never prints (but the KVFS_CUDA_DEBUG line in
 * calibrate.cu), never exits, returns 0 or -errno.
 */
#include <algorithm>
#include <cuda.h>
#include <new>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <vector>

#include "kvfs_cuda_int.h"

/* --- errors --- */

static thread_local char kc_errbuf[512];

int kc_set_error(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(kc_errbuf, sizeof(kc_errbuf), fmt, ap);
	va_end(ap);
	return rc;
}

static int kc_errno(cudaError_t e)
{
	switch (e) {
	case cudaErrorMemoryAllocation:
		return -ENOMEM;
	case cudaErrorInvalidValue:
		return -EINVAL;
	case cudaErrorNoDevice:
	case cudaErrorInsufficientDriver:
	case cudaErrorInvalidDevice:
		return -ENODEV;
	case cudaErrorHostMemoryAlreadyRegistered:
		return -EEXIST;
	case cudaErrorNotSupported:
		return -ENOTSUP;
	case cudaErrorIllegalAddress:
		return -EFAULT;
	default:
		return -EIO;
	}
}

int kc_cuda_error(cudaError_t e, const char *what)
{
	return kc_set_error(kc_errno(e), "%s: %s (%s)", what, cudaGetErrorString(e),
			    cudaGetErrorName(e));
}

const char *kvfs_cuda_last_error(void)
{
	return kc_errbuf;
}

const char *kvfs_cuda_strerror(int rc)
{
	switch (-rc) {
	case 0:
		return "success";
	case EINVAL:
		return "invalid argument";
	case ERANGE:
		return "piece beyond the registered pool";
	case EFAULT:
		return "not device memory, or a piece runs past its allocation";
	case EXDEV:
		return "device memory of another GPU than the stream's";
	case EROFS:
		return "registration is read-only";
	case EEXIST:
		return "host range already registered with CUDA";
	case ENODEV:
		return "no usable CUDA GPU";
	case ENOTSUP:
		return "not supported by this GPU or in this stream state";
	case ENOSPC:
		return "output array too small";
	case ENOMEM:
		return "out of memory";
	case EIO:
		return "CUDA error (see kvfs_cuda_last_error())";
	default:
		return "unknown error";
	}
}

/* --- small helpers --- */

static double kc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Restores the caller's current GPU on every return path. */
struct kc_device_guard {
	int prev = -1;
	int enter(int device)
	{
		cudaError_t e = cudaGetDevice(&prev);

		if (e != cudaSuccess) {
			prev = -1;
			return kc_cuda_error(e, "cudaGetDevice");
		}
		if (prev == device)
			return 0;
		e = cudaSetDevice(device);
		return e == cudaSuccess ? 0 : kc_cuda_error(e, "cudaSetDevice");
	}
	~kc_device_guard()
	{
		if (prev >= 0)
			cudaSetDevice(prev);
	}
};

void kc_method_defaults(kvfs_cuda_method *m)
{
	static const uint64_t sizes[KVFS_CUDA_NSIZES] = { 4 << 10,   16 << 10, 64 << 10,
							  256 << 10, 1 << 20,  4 << 20 };

	memset(m, 0, sizeof(*m));
	m->copy_min[KVFS_CUDA_LOAD] = KVFS_CUDA_NEVER;
	m->copy_min[KVFS_CUDA_STORE] = KVFS_CUDA_NEVER;
	m->kernel_threads = KC_THREADS;
	m->kernel_unroll = 4;
	m->kernel_ctas_per_sm = 2;
	memcpy(m->sizes, sizes, sizeof(sizes));
}

/* --- per-GPU state --- */

static void kc_dev_free(kc_dev *d)
{
	for (unsigned i = 0; i < d->nslots; i++) {
		kc_slot *sl = &d->slots[i];

		if (sl->used)
			cudaEventSynchronize(sl->done);
		cudaEventDestroy(sl->done);
		cudaFreeHost(sl->host);
		cudaFree(sl->dev);
	}
	delete d;
}

/*
 * Calibrations are kept per process and GPU: a second registration (or a
 * read-only one beside a read-write one) reuses the first measurement.
 */
static std::mutex kc_cal_lock;
static std::vector<kvfs_cuda_method> kc_cal_cache; /* [device]; calibrated == 0: none */

static void kc_cal_remember(const kc_dev *d)
{
	std::lock_guard<std::mutex> g(kc_cal_lock);

	if (kc_cal_cache.size() <= (size_t)d->device)
		kc_cal_cache.resize(d->device + 1);
	kc_cal_cache[d->device] = d->method;
}

/* Apply KVFS_CUDA_METHOD=kernel|copy, a cached calibration, or calibrate. Lock held. */
static int kc_dev_choose(kc_dev *d)
{
	const char *env = getenv("KVFS_CUDA_METHOD");

	kc_method_defaults(&d->method);
	if (env && (!strcmp(env, "kernel") || !strcmp(env, "copy"))) {
		uint64_t v = !strcmp(env, "kernel") ? KVFS_CUDA_NEVER : 0;

		d->method.copy_min[0] = d->method.copy_min[1] = v;
		d->have_method = true;
		kc_debug_line(d, "set by KVFS_CUDA_METHOD");
		return 0;
	}
	{
		std::lock_guard<std::mutex> g(kc_cal_lock);

		if (kc_cal_cache.size() > (size_t)d->device && kc_cal_cache[d->device].calibrated) {
			d->method = kc_cal_cache[d->device];
			d->have_method = true;
			return 0;
		}
	}
	int rc = kc_calibrate(d);

	if (rc == 0) {
		kc_cal_remember(d);
		kc_debug_line(d, "calibrated");
	}
	return rc;
}

static int kc_dev_create(int device, kc_dev **out)
{
	cudaDeviceProp prop;
	int can_map = 0, same_ptr = 0;
	cudaError_t e = cudaGetDeviceProperties(&prop, device);

	if (e != cudaSuccess)
		return kc_cuda_error(e, "cudaGetDeviceProperties");
	cudaDeviceGetAttribute(&can_map, cudaDevAttrCanMapHostMemory, device);
	cudaDeviceGetAttribute(&same_ptr, cudaDevAttrCanUseHostPointerForRegisteredMem, device);
	if (!can_map || !same_ptr)
		return kc_set_error(-ENOTSUP,
				    "GPU %d (%s) cannot address registered host memory at its "
				    "host address (canMapHostMemory %d, "
				    "canUseHostPointerForRegisteredMem %d)",
				    device, prop.name, can_map, same_ptr);
	kc_dev *d = new (std::nothrow) kc_dev();

	if (!d)
		return kc_set_error(-ENOMEM, "out of memory");
	d->device = device;
	d->sms = prop.multiProcessorCount;
	for (int u = 0; u < 2; u++) {
		int rc = kc_occupancy(u ? 8 : 4, &d->resident[u]);

		if (rc) {
			delete d;
			return rc;
		}
	}
	snprintf(d->name, sizeof(d->name), "%s", prop.name);
	kc_method_defaults(&d->method);
	*out = d;
	return 0;
}

/* The state of @device, made (and its method chosen) on first use. */
static int kc_get_dev(kvfs_cuda_reg *reg, int device, bool need_method, kc_dev **out)
{
	if (device < 0 || device >= reg->ndev)
		return kc_set_error(-ENODEV, "GPU %d out of range (%d GPUs)", device, reg->ndev);
	kc_dev *d;
	{
		std::lock_guard<std::mutex> g(reg->lock);

		d = reg->devs[device];
		if (!d) {
			int rc = kc_dev_create(device, &d);

			if (rc)
				return rc;
			reg->devs[device] = d;
		}
	}
	if (need_method) {
		std::lock_guard<std::mutex> g(d->lock);

		if (!d->have_method) {
			int rc = kc_dev_choose(d);

			if (rc)
				return rc;
		}
	}
	*out = d;
	return 0;
}

/*
 * The preamble of every per-GPU call: make @device current (the caller's
 * GPU comes back on every return path), find or make its state, and hold
 * its lock from lock() until the call returns (released before the GPU is
 * restored). Transfers validate their pieces between enter() and lock().
 */
struct kc_dev_call {
	kc_device_guard guard;
	std::unique_lock<std::mutex> held;
	kc_dev *d = nullptr;

	int enter(kvfs_cuda_reg *reg, int device, bool need_method)
	{
		int rc = guard.enter(device);

		return rc ? rc : kc_get_dev(reg, device, need_method, &d);
	}
	void lock()
	{
		held = std::unique_lock<std::mutex>(d->lock);
	}
	int enter_locked(kvfs_cuda_reg *reg, int device, bool need_method)
	{
		int rc = enter(reg, device, need_method);

		if (!rc)
			lock();
		return rc;
	}
};

/* A slot whose earlier work is complete and that holds @nitems. Lock held. */
static int kc_take_slot(kc_dev *d, size_t nitems, kc_slot **out)
{
	kc_slot *sl = NULL;
	cudaError_t e;

	for (unsigned k = 0; k < d->nslots && !sl; k++) {
		kc_slot *c = &d->slots[(d->next + k) % d->nslots];

		if (!c->used) {
			sl = c;
			break;
		}
		e = cudaEventQuery(c->done);
		if (e == cudaSuccess)
			sl = c;
		else if (e != cudaErrorNotReady)
			return kc_cuda_error(e, "cudaEventQuery (an earlier transfer failed)");
	}
	if (!sl && d->nslots < KC_MAX_SLOTS) {
		sl = &d->slots[d->nslots];
		e = cudaEventCreateWithFlags(&sl->done, cudaEventDisableTiming);
		if (e != cudaSuccess)
			return kc_cuda_error(e, "cudaEventCreate");
		d->nslots++;
	}
	if (!sl) { /* every slot in flight: wait for the oldest */
		sl = &d->slots[d->next % d->nslots];
		e = cudaEventSynchronize(sl->done);
		if (e != cudaSuccess)
			return kc_cuda_error(e, "cudaEventSynchronize (earlier transfer failed)");
	}
	d->next = (unsigned)(sl - d->slots + 1) % KC_MAX_SLOTS;
	if (sl->cap < nitems) {
		size_t cap = std::max<size_t>(KC_SLOT_MIN_ITEMS, sl->cap * 2);

		while (cap < nitems)
			cap *= 2;
		cudaFreeHost(sl->host);
		cudaFree(sl->dev);
		sl->host = NULL;
		sl->dev = NULL;
		sl->cap = 0;
		e = cudaHostAlloc((void **)&sl->host, cap * sizeof(kc_item), cudaHostAllocDefault);
		if (e != cudaSuccess)
			return kc_cuda_error(e, "cudaHostAlloc (staging)");
		e = cudaMalloc((void **)&sl->dev, cap * sizeof(kc_item));
		if (e != cudaSuccess) {
			cudaFreeHost(sl->host);
			sl->host = NULL;
			return kc_cuda_error(e, "cudaMalloc (staging)");
		}
		sl->cap = cap;
	}
	*out = sl;
	return 0;
}

static int kc_enqueue_into(kc_dev *d, kc_slot *sl, const kc_xfer *x, const kvfs_cuda_piece *p,
			   size_t n, size_t nitems, cudaStream_t s);

int kc_enqueue(kc_dev *d, const kc_xfer *x, const kvfs_cuda_piece *p, size_t n, cudaStream_t s)
{
	size_t nitems = 0;
	kc_slot *sl = NULL;
	cudaError_t e;
	int rc;

	for (size_t i = 0; i < n; i++)
		if (p[i].bytes < x->copy_min)
			nitems += (p[i].bytes + KC_ITEM_BYTES - 1) / KC_ITEM_BYTES;
	if (nitems > UINT32_MAX)
		return kc_set_error(-EINVAL, "too many pieces in one call (%zu items)", nitems);
	rc = kc_take_slot(d, nitems, &sl);
	if (rc)
		return rc;

	/*
	 * From the first enqueued operation on, the slot's event must be
	 * recorded even on failure: the upload may still read sl->host.
	 */
	rc = kc_enqueue_into(d, sl, x, p, n, nitems, s);
	e = cudaEventRecord(sl->done, s);
	if (e == cudaSuccess)
		sl->used = true;
	else if (!rc)
		rc = kc_cuda_error(e, "cudaEventRecord");
	return rc;
}

static int kc_enqueue_into(kc_dev *d, kc_slot *sl, const kc_xfer *x, const kvfs_cuda_piece *p,
			   size_t n, size_t nitems, cudaStream_t s)
{
	cudaError_t e;
	int rc;

	if (nitems) {
		size_t k = 0;

		for (size_t i = 0; i < n; i++) {
			if (p[i].bytes >= x->copy_min)
				continue;
			uint64_t host = (uint64_t)(uintptr_t)(x->host_base + p[i].pool_offset);
			uint64_t dev = (uint64_t)(uintptr_t)p[i].dev_ptr;

			for (uint64_t off = 0; off < p[i].bytes; off += KC_ITEM_BYTES) {
				kc_item *it = &sl->host[k++];

				it->bytes = std::min<uint64_t>(KC_ITEM_BYTES, p[i].bytes - off);
				it->src = (x->dir == KVFS_CUDA_LOAD ? host : dev) + off;
				it->dst = (x->dir == KVFS_CUDA_LOAD ? dev : host) + off;
			}
		}
		e = cudaMemcpyAsync(sl->dev, sl->host, nitems * sizeof(kc_item),
				    cudaMemcpyHostToDevice, s);
		if (e != cudaSuccess)
			return kc_cuda_error(e, "cudaMemcpyAsync (piece list upload)");
		/* never more CTAs than fit at once: a second wave would only add a tail */
		unsigned per_sm = std::min<unsigned>(x->ctas_per_sm, d->resident[x->unroll == 8]);
		unsigned grid = (unsigned)d->sms * std::max(per_sm, 1u);

		if (x->max_ctas && grid > x->max_ctas)
			grid = x->max_ctas; /* leave SMs to the engine's kernels */
		rc = kc_launch(sl->dev, (uint32_t)nitems, x->unroll, grid, s);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i].bytes < x->copy_min)
			continue;
		/* one cudaMemcpyAsync per registered chunk the piece touches */
		uint64_t off = p[i].pool_offset, end = off + p[i].bytes;
		char *dev = (char *)p[i].dev_ptr;

		while (off < end) {
			uint64_t stop = std::min(end, (off / x->chunk + 1) * x->chunk);
			char *host = x->host_base + off;

			size_t len = stop - off;

			if (x->dir == KVFS_CUDA_LOAD)
				e = cudaMemcpyAsync(dev, host, len, cudaMemcpyHostToDevice, s);
			else
				e = cudaMemcpyAsync(host, dev, len, cudaMemcpyDeviceToHost, s);
			if (e != cudaSuccess)
				return kc_cuda_error(e, "cudaMemcpyAsync (copy-engine piece)");
			dev += stop - off;
			off = stop;
		}
	}
	return 0;
}

/* --- transfers --- */

static int kc_transfer(kvfs_cuda_reg *reg, const kvfs_cuda_piece *p, size_t n, int dir,
		       cudaStream_t s)
{
	cudaStreamCaptureStatus cap;
	kc_dev_call call;
	cudaError_t e;
	int device, rc;

	if (!reg || (n && !p))
		return kc_set_error(-EINVAL, "NULL registration or piece array");
	if (dir == KVFS_CUDA_STORE && (reg->flags & KVFS_CUDA_REG_READONLY))
		return kc_set_error(-EROFS, "store into a read-only registration");
	if (!n)
		return 0;
	/* first: most other stream calls would invalidate a capture in progress */
	e = cudaStreamIsCapturing(s, &cap);
	if (e == cudaErrorStreamCaptureImplicit)
		return kc_set_error(-ENOTSUP, "the legacy default stream cannot be used while "
					      "another stream is being captured");
	if (e != cudaSuccess)
		return kc_cuda_error(e, "cudaStreamIsCapturing");
	if (cap != cudaStreamCaptureStatusNone)
		return kc_set_error(-ENOTSUP, "stream is being captured: the piece list is "
					      "staged per call, graphs cannot replay it");
	e = s ? cudaStreamGetDevice(s, &device) : cudaGetDevice(&device);
	if (e != cudaSuccess)
		return kc_cuda_error(e, "cudaStreamGetDevice");
	rc = call.enter(reg, device, true);
	if (rc)
		return rc;
	/* outside the lock: concurrent callers validate at once */
	rc = kc_validate(reg, device, p, n);
	if (rc)
		return rc;
	call.lock();

	kc_dev *d = call.d;
	kc_xfer x = {};

	x.host_base = reg->base;
	x.chunk = reg->chunk;
	x.dir = dir;
	x.copy_min = d->method.copy_min[dir];
	x.unroll = d->method.kernel_unroll;
	x.ctas_per_sm = d->method.kernel_ctas_per_sm;
	x.max_ctas = d->method.kernel_max_ctas;
	return kc_enqueue(d, &x, p, n, s);
}

int kvfs_cuda_load(kvfs_cuda_reg_t *reg, const struct kvfs_cuda_piece *pieces, size_t n,
		   struct CUstream_st *stream)
{
	return kc_transfer(reg, pieces, n, KVFS_CUDA_LOAD, stream);
}

int kvfs_cuda_store(kvfs_cuda_reg_t *reg, const struct kvfs_cuda_piece *pieces, size_t n,
		    struct CUstream_st *stream)
{
	return kc_transfer(reg, pieces, n, KVFS_CUDA_STORE, stream);
}

/* --- method --- */

int kvfs_cuda_calibrate(kvfs_cuda_reg_t *reg, int device)
{
	kc_dev_call call;
	int rc;

	if (!reg)
		return kc_set_error(-EINVAL, "NULL registration");
	rc = call.enter_locked(reg, device, false);
	if (rc)
		return rc;
	rc = kc_calibrate(call.d);
	if (rc == 0) {
		kc_cal_remember(call.d);
		kc_debug_line(call.d, "calibrated");
	}
	return rc;
}

int kvfs_cuda_get_method(kvfs_cuda_reg_t *reg, int device, struct kvfs_cuda_method *out)
{
	kc_dev_call call;
	int rc;

	if (!reg || !out)
		return kc_set_error(-EINVAL, "NULL argument");
	rc = call.enter_locked(reg, device, true);
	if (rc)
		return rc;
	*out = call.d->method;
	return 0;
}

int kvfs_cuda_set_method(kvfs_cuda_reg_t *reg, int device, const struct kvfs_cuda_method *m)
{
	kc_dev_call call;
	int rc;

	if (!reg || !m)
		return kc_set_error(-EINVAL, "NULL argument");
	if ((m->kernel_unroll != 4 && m->kernel_unroll != 8) || m->kernel_ctas_per_sm < 1 ||
	    m->kernel_ctas_per_sm > 32)
		return kc_set_error(-EINVAL,
				    "kernel_unroll must be 4 or 8, kernel_ctas_per_sm 1..32");
	rc = call.enter_locked(reg, device, false);
	if (rc)
		return rc;
	kc_dev *d = call.d;
	d->method.copy_min[0] = m->copy_min[0];
	d->method.copy_min[1] = m->copy_min[1];
	d->method.kernel_unroll = m->kernel_unroll;
	d->method.kernel_ctas_per_sm = m->kernel_ctas_per_sm;
	d->method.kernel_max_ctas = m->kernel_max_ctas;
	d->method.calibrated = 0;
	d->have_method = true;
	return 0;
}

/* --- registration --- */

static void kc_reg_release(kvfs_cuda_reg *reg, int *rc)
{
	for (int i = 0; i < reg->ndev; i++) {
		if (!reg->devs[i])
			continue;
		if (cudaSetDevice(i) == cudaSuccess)
			kc_dev_free(reg->devs[i]);
		else
			delete reg->devs[i];
	}
	for (uint32_t c = 0; c < reg->registered; c++) {
		cudaError_t e = cudaHostUnregister(reg->base + (uint64_t)c * reg->chunk);

		if (e != cudaSuccess && rc && !*rc)
			*rc = kc_cuda_error(e, "cudaHostUnregister");
	}
	delete[] reg->devs;
	delete reg;
}

int kvfs_cuda_register(void *base, size_t size, unsigned flags, kvfs_cuda_reg_t **out)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t chunk = 1ull << 30;
	const char *env = getenv("KVFS_CUDA_CHUNK_MB");
	unsigned hflags = cudaHostRegisterMapped | cudaHostRegisterPortable;
	int ndev = 0;
	cudaError_t e;

	if (!base || !size || !out || ((uintptr_t)base % page) ||
	    (flags & ~(KVFS_CUDA_REG_READONLY | KVFS_CUDA_REG_NO_CHECK)))
		return kc_set_error(-EINVAL, "bad arguments (base must be page-aligned, size > 0, "
					     "known flags)");
	if (env && atoll(env) > 0)
		chunk = (uint64_t)atoll(env) << 20;
	e = cudaGetDeviceCount(&ndev);
	if (e != cudaSuccess || ndev <= 0)
		return e != cudaSuccess ? kc_cuda_error(e, "cudaGetDeviceCount")
					: kc_set_error(-ENODEV, "no CUDA GPU");
	if (flags & KVFS_CUDA_REG_READONLY)
		hflags |= cudaHostRegisterReadOnly;

	kvfs_cuda_reg *reg = new (std::nothrow) kvfs_cuda_reg();

	if (!reg)
		return kc_set_error(-ENOMEM, "out of memory");
	reg->base = (char *)base;
	reg->size = size;
	reg->flags = flags;
	reg->chunk = chunk;
	reg->nchunks = (uint32_t)((size + chunk - 1) / chunk);
	reg->ndev = ndev;
	reg->devs = new (std::nothrow) kc_dev *[ndev]();
	if (!reg->devs) {
		delete reg;
		return kc_set_error(-ENOMEM, "out of memory");
	}

	double t0 = kc_now_ms();
	int rc = 0;

	for (uint32_t c = 0; c < reg->nchunks; c++) {
		char *p = reg->base + (uint64_t)c * chunk;
		size_t len = std::min<uint64_t>(chunk, size - (uint64_t)c * chunk);
		void *dp = NULL;

		e = cudaHostRegister(p, len, hflags);
		if (e != cudaSuccess) {
			char what[96];

			snprintf(what, sizeof(what), "cudaHostRegister (chunk %u of %u)", c + 1,
				 reg->nchunks);
			rc = kc_cuda_error(e, what);
			break;
		}
		reg->registered++;
		e = cudaHostGetDevicePointer(&dp, p, 0);
		if (e != cudaSuccess) {
			rc = kc_cuda_error(e, "cudaHostGetDevicePointer");
			break;
		}
		if (dp != p) {
			rc = kc_set_error(-ENOTSUP, "GPU maps registered host memory at another "
						    "address than the host's");
			break;
		}
	}
	reg->register_ms = kc_now_ms() - t0;
	if (rc) {
		kc_reg_release(reg, NULL);
		return rc;
	}
	*out = reg;
	return 0;
}

int kvfs_cuda_unregister(kvfs_cuda_reg_t *reg)
{
	int prev = -1, rc = 0;

	if (!reg)
		return kc_set_error(-EINVAL, "NULL registration");
	cudaGetDevice(&prev);
	kc_reg_release(reg, &rc);
	if (prev >= 0)
		cudaSetDevice(prev);
	return rc;
}

int kvfs_cuda_get_reg_info(const kvfs_cuda_reg_t *reg, struct kvfs_cuda_reg_info *info)
{
	if (!reg || !info)
		return kc_set_error(-EINVAL, "NULL argument");
	info->base = reg->base;
	info->size = reg->size;
	info->chunk_bytes = reg->chunk;
	info->nchunks = reg->nchunks;
	info->flags = reg->flags;
	info->register_ms = reg->register_ms;
	return 0;
}
