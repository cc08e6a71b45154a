// SPDX-License-Identifier: MIT
/*
 * kvfs_cuda_int.h - what the files of libkvfs_cuda share: the registration
 * and per-GPU state, the work item the copy kernel reads, and the internal
 * calls between registration (kvfs_cuda.cu), the checks of pieces
 * (validate.cu), the kernel (copy_kernel.cu) and the calibration
 * (calibrate.cu). Not installed; callers use
 * include/kvfs_cuda.h.
 */
#ifndef KVFS_GPU_KVFS_CUDA_INT_H
#define KVFS_GPU_KVFS_CUDA_INT_H

#include <cuda_runtime.h>
#include <mutex>
#include <stdint.h>

#include "kvfs_cuda.h"

/* One CTA's unit of work: pieces are cut into items of at most this. */
#define KC_ITEM_BYTES	  (32u << 10)
#define KC_THREADS	  256
#define KC_MAX_SLOTS	  64
#define KC_SLOT_MIN_ITEMS 4096

/* What the kernel reads per item; addresses as the GPU sees them. */
struct kc_item {
	uint64_t src;
	uint64_t dst;
	uint64_t bytes;
};

/*
 * A staging slot: the pinned host copy of one call's item list, its device
 * copy, and an event recorded after everything that call enqueued. A slot
 * is reused only once its event has completed, so neither buffer is
 * overwritten while an upload or a kernel may still read it.
 */
struct kc_slot {
	kc_item *host;
	kc_item *dev;
	size_t cap; /* items */
	cudaEvent_t done;
	bool used;
};

/* Per-GPU state of one registration. */
struct kc_dev {
	int device;
	int sms;
	int resident[2]; /* CTAs per SM that fit, unroll 4 and 8 */
	char name[256];
	std::mutex lock; /* slots, method; held while enqueueing */
	kc_slot slots[KC_MAX_SLOTS];
	unsigned nslots;
	unsigned next;
	kvfs_cuda_method method;
	bool have_method;
};

struct kvfs_cuda_reg {
	char *base;
	uint64_t size;
	unsigned flags;
	uint64_t chunk;
	uint32_t nchunks;
	uint32_t registered; /* chunks registered so far */
	double register_ms;
	int ndev;
	std::mutex lock; /* devs[] creation */
	kc_dev **devs; /* [ndev], NULL until first use */
};

/* What one enqueue moves: pieces relative to host_base, already validated. */
struct kc_xfer {
	char *host_base;
	uint64_t chunk; /* copy-engine pieces are split at these boundaries */
	int dir; /* enum kvfs_cuda_dir */
	uint64_t copy_min;
	unsigned unroll;
	unsigned ctas_per_sm;
	unsigned max_ctas; /* 0: no cap */
};

/* --- kvfs_cuda.cu --- */
int kc_set_error(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int kc_cuda_error(cudaError_t e, const char *what);
/* Enqueue @n pieces on @s. Caller holds d->lock, device d->device current. */
int kc_enqueue(kc_dev *d, const kc_xfer *x, const kvfs_cuda_piece *p, size_t n, cudaStream_t s);
void kc_method_defaults(kvfs_cuda_method *m);

/* --- validate.cu --- */
/*
 * Check @n pieces for @device (current) before anything is enqueued.
 * Return: 0, -EINVAL, -ERANGE, -EFAULT or -EXDEV (said by kc_set_error()).
 */
int kc_validate(kvfs_cuda_reg *reg, int device, const kvfs_cuda_piece *p, size_t n);

/* --- copy_kernel.cu --- */
int kc_launch(const kc_item *items, uint32_t nitems, unsigned unroll, unsigned grid,
	      cudaStream_t s);
/* CTAs of the kernel with @unroll that fit on one SM (current device). */
int kc_occupancy(unsigned unroll, int *ctas);

/* --- calibrate.cu --- */
/* Measure and fill d->method. Caller holds d->lock, device current. */
int kc_calibrate(kc_dev *d);
/* The KVFS_CUDA_DEBUG line for @d, if asked for. */
void kc_debug_line(const kc_dev *d, const char *why);

#endif /* KVFS_GPU_KVFS_CUDA_INT_H */
