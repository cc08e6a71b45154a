// SPDX-License-Identifier: MIT
/*
 * calibrate.cu - chooses, per GPU and direction, which piece sizes go to
 * the gather/scatter kernel and which to the copy engine, by timing both.
 *
 * It measures on its own pinned and device scratch buffers, never on the
 * pool (a store would overwrite cached blocks), with the same enqueue path
 * the transfers use, on a private stream. The copy engine wins a size only
 * when it is faster at that size and at every larger measured size; the
 * smallest such size becomes copy_min. Also the one place that prints: the
 * KVFS_CUDA_DEBUG=1 line.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vector>

#include "kvfs_cuda_int.h"

#define KC_CAL_REGION (64ull << 20) /* scratch, each side */
#define KC_CAL_TOTAL  (32ull << 20) /* bytes per timed transfer */
#define KC_CAL_REPS   3 /* timed, after one warm-up */
#define KC_CAL_MARGIN 1.02 /* copy engine must win by 2% */

static double kc_cal_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct kc_cal_bufs {
	char *host = NULL;
	char *dev = NULL;
	cudaStream_t s = NULL;
	cudaEvent_t ev[2] = { NULL, NULL };

	~kc_cal_bufs()
	{
		if (s)
			cudaStreamSynchronize(s);
		cudaFreeHost(host);
		cudaFree(dev);
		if (ev[0])
			cudaEventDestroy(ev[0]);
		if (ev[1])
			cudaEventDestroy(ev[1]);
		if (s)
			cudaStreamDestroy(s);
	}
	int alloc(void)
	{
		cudaError_t e;

		e = cudaHostAlloc((void **)&host, KC_CAL_REGION,
				  cudaHostAllocMapped | cudaHostAllocPortable);
		if (e != cudaSuccess)
			return kc_cuda_error(e, "calibrate: cudaHostAlloc");
		e = cudaMalloc((void **)&dev, KC_CAL_REGION);
		if (e != cudaSuccess)
			return kc_cuda_error(e, "calibrate: cudaMalloc");
		e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
		if (e != cudaSuccess)
			return kc_cuda_error(e, "calibrate: cudaStreamCreate");
		for (int i = 0; i < 2; i++) {
			e = cudaEventCreate(&ev[i]);
			if (e != cudaSuccess)
				return kc_cuda_error(e, "calibrate: cudaEventCreate");
		}
		memset(host, 0x5a, KC_CAL_REGION);
		e = cudaMemsetAsync(dev, 0xa5, KC_CAL_REGION, s);
		return e == cudaSuccess ? 0 : kc_cuda_error(e, "calibrate: cudaMemsetAsync");
	}
};

/* Best GB/s of KC_CAL_REPS timed transfers of @p. */
static int kc_cal_time(kc_dev *d, kc_cal_bufs *b, const kc_xfer *x,
		       const std::vector<kvfs_cuda_piece> &p, double *gbs)
{
	float best = INFINITY;

	for (int rep = 0; rep <= KC_CAL_REPS; rep++) {
		float ms;
		cudaError_t e = cudaEventRecord(b->ev[0], b->s);
		int rc;

		if (e != cudaSuccess)
			return kc_cuda_error(e, "calibrate: cudaEventRecord");
		rc = kc_enqueue(d, x, p.data(), p.size(), b->s);
		if (rc)
			return rc;
		e = cudaEventRecord(b->ev[1], b->s);
		if (e == cudaSuccess)
			e = cudaEventSynchronize(b->ev[1]);
		if (e == cudaSuccess)
			e = cudaEventElapsedTime(&ms, b->ev[0], b->ev[1]);
		if (e != cudaSuccess)
			return kc_cuda_error(e, "calibrate: timing");
		if (rep > 0 && ms < best)
			best = ms;
	}
	*gbs = KC_CAL_TOTAL / (best * 1e6);
	return 0;
}

int kc_calibrate(kc_dev *d)
{
	kvfs_cuda_method m;
	kc_cal_bufs b;
	double t0 = kc_cal_now_ms();
	int rc;

	kc_method_defaults(&m);
	m.kernel_unroll = d->method.kernel_unroll;
	m.kernel_ctas_per_sm = d->method.kernel_ctas_per_sm;
	rc = b.alloc();
	if (rc)
		return rc;

	std::vector<kvfs_cuda_piece> p;

	for (int dir = 0; dir < 2; dir++) {
		for (int si = 0; si < KVFS_CUDA_NSIZES; si++) {
			uint64_t size = m.sizes[si];
			uint64_t npieces = KC_CAL_TOTAL / size, nslots = KC_CAL_REGION / size;
			kc_xfer x = {}; /* max_ctas 0: calibrate the uncapped kernel */

			/* scattered on both sides, as pool blocks and paged tensors are;
			 * odd multipliers permute the power-of-two slot counts */
			p.resize(npieces);
			for (uint64_t j = 0; j < npieces; j++) {
				p[j].pool_offset = ((j * 2654435761ull) % nslots) * size;
				p[j].dev_ptr = b.dev + ((j * 40503ull + 7) % nslots) * size;
				p[j].bytes = size;
			}
			x.host_base = b.host;
			x.chunk = KC_CAL_REGION;
			x.dir = dir;
			x.unroll = m.kernel_unroll;
			x.ctas_per_sm = m.kernel_ctas_per_sm;
			x.copy_min = KVFS_CUDA_NEVER;
			rc = kc_cal_time(d, &b, &x, p, &m.kernel_gbs[dir][si]);
			if (rc)
				return rc;
			x.copy_min = 0;
			rc = kc_cal_time(d, &b, &x, p, &m.copy_gbs[dir][si]);
			if (rc)
				return rc;
		}
		m.copy_min[dir] = KVFS_CUDA_NEVER;
		for (int si = KVFS_CUDA_NSIZES - 1; si >= 0; si--) {
			if (m.copy_gbs[dir][si] <= m.kernel_gbs[dir][si] * KC_CAL_MARGIN)
				break;
			m.copy_min[dir] = m.sizes[si];
		}
	}
	m.calibrated = 1;
	m.calibrate_ms = kc_cal_now_ms() - t0;
	d->method = m;
	d->have_method = true;
	return 0;
}

static void kc_fmt_size(char *buf, size_t len, uint64_t v)
{
	if (v >= (1ull << 20) && !(v % (1ull << 20)))
		snprintf(buf, len, "%lluM", (unsigned long long)(v >> 20));
	else if (v >= 1024 && !(v % 1024))
		snprintf(buf, len, "%lluK", (unsigned long long)(v >> 10));
	else
		snprintf(buf, len, "%llu", (unsigned long long)v);
}

static void kc_fmt_choice(char *buf, size_t len, uint64_t copy_min)
{
	char sz[32];

	if (copy_min == KVFS_CUDA_NEVER) {
		snprintf(buf, len, "kernel for every size");
	} else if (copy_min == 0) {
		snprintf(buf, len, "copy engine for every size");
	} else {
		kc_fmt_size(sz, sizeof(sz), copy_min);
		snprintf(buf, len, "kernel below %s, copy engine from %s", sz, sz);
	}
}

void kc_debug_line(const kc_dev *d, const char *why)
{
	const char *env = getenv("KVFS_CUDA_DEBUG");
	const kvfs_cuda_method *m = &d->method;
	char line[1024], load[96], store[96];
	int o;

	if (!env || !*env || !strcmp(env, "0"))
		return;
	kc_fmt_choice(load, sizeof(load), m->copy_min[KVFS_CUDA_LOAD]);
	kc_fmt_choice(store, sizeof(store), m->copy_min[KVFS_CUDA_STORE]);
	o = snprintf(line, sizeof(line), "kvfs_cuda: GPU %d (%s, %d SMs): load %s; store %s; %s",
		     d->device, d->name, d->sms, load, store, why);
	if (m->calibrated) {
		o += snprintf(line + o, sizeof(line) - o, " in %.0f ms; GB/s kernel/copy",
			      m->calibrate_ms);
		for (int dir = 0; dir < 2 && o < (int)sizeof(line); dir++) {
			o += snprintf(line + o, sizeof(line) - o, " %s",
				      dir == KVFS_CUDA_LOAD ? "load" : "| store");
			for (int si = 0; si < KVFS_CUDA_NSIZES && o < (int)sizeof(line); si++) {
				char sz[32];

				kc_fmt_size(sz, sizeof(sz), m->sizes[si]);
				o += snprintf(line + o, sizeof(line) - o, " %s %.1f/%.1f", sz,
					      m->kernel_gbs[dir][si], m->copy_gbs[dir][si]);
			}
		}
	}
	fprintf(stderr, "%s\n", line);
}
