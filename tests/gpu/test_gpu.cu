// SPDX-License-Identifier: MIT
/*
 * test_gpu.cu - GPU tests of libkvfs_cuda, on a pool that is a MAP_SHARED
 * mapping of a /dev/shm file (no daemon, no libkvfs).
 *
 * Every check draws fresh random data, poisons the destination first and
 * compares every byte of a window around the pieces, so an unwritten byte,
 * a stray write or a wrong offset all fail. Each transfer test runs with the
 * kernel forced, the copy engine forced and the calibrated choice. Without a
 * GPU it prints one "SKIP: no CUDA GPU (...)" line and exits 0. It ends with
 * "N passed, M failed" and exits 1 if anything failed. How to run it on the
 * GPU machine: tests/gpu/README.
 */
#include <algorithm>
#include <atomic>
#include <cuda_runtime.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "kvfs_cuda.h"

#define POOL_BYTES  (512ull << 20)
#define DEV_BYTES   (256ull << 20)
#define CHUNK_MB    64 /* so the pool is 8 registered chunks */
#define POISON_DEV  0xA5
#define POISON_POOL 0x5A

static int g_pass, g_fail;
static bool g_ok; /* current test */

#define CK(call)                                                                                   \
	do {                                                                                       \
		cudaError_t e_ = (call);                                                           \
		if (e_ != cudaSuccess) {                                                           \
			fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,              \
				cudaGetErrorString(e_));                                           \
			exit(2);                                                                   \
		}                                                                                  \
	} while (0)

#define EXPECT(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "  FAIL %s:%d: (%s) ", __FILE__, __LINE__, #cond);         \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			g_ok = false;                                                              \
		}                                                                                  \
	} while (0)

static void begin(void)
{
	g_ok = true;
}

static void end(const char *fmt, ...)
{
	va_list ap;

	printf("%s ", g_ok ? "ok  " : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (g_ok)
		g_pass++;
	else
		g_fail++;
}

/* --- random --- */

struct rng {
	uint64_t s;
	explicit rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1)
	{
	}
	uint64_t next()
	{
		uint64_t z = (s += 0x9E3779B97F4A7C15ull);

		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
		z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
		return z ^ (z >> 31);
	}
	uint64_t below(uint64_t n)
	{
		return next() % n;
	}
	void fill(void *p, size_t len)
	{
		uint8_t *b = (uint8_t *)p;
		size_t i = 0;

		for (; i + 8 <= len; i += 8) {
			uint64_t v = next();

			memcpy(b + i, &v, 8);
		}
		for (; i < len; i++)
			b[i] = (uint8_t)next();
	}
};

static rng g_rng(12345);

/* --- fixture --- */

static char *g_pool;
static kvfs_cuda_reg_t *g_reg;
static char *g_dev; /* DEV_BYTES device buffer */
static char *g_dev_src; /* DEV_BYTES device buffer of source data */
static uint8_t *g_host; /* DEV_BYTES host scratch */
static uint8_t *g_expect; /* DEV_BYTES host scratch */
static kvfs_cuda_method g_auto;
static int g_device;

enum method { M_KERNEL, M_COPY, M_AUTO };
static const char *method_name[] = { "kernel", "copy", "auto" };

static void use_method(int device, enum method m)
{
	kvfs_cuda_method x = g_auto;

	if (m == M_KERNEL)
		x.copy_min[0] = x.copy_min[1] = KVFS_CUDA_NEVER;
	else if (m == M_COPY)
		x.copy_min[0] = x.copy_min[1] = 0;
	int rc = kvfs_cuda_set_method(g_reg, device, &x);

	if (rc) {
		fprintf(stderr, "kvfs_cuda_set_method: %s\n", kvfs_cuda_last_error());
		exit(2);
	}
}

/*
 * @n pieces of about @size bytes scattered in pool [0, pool_span) and device
 * [0, dev_span) (as offsets), non-overlapping. @jitter: misalign the two
 * sides by pool_mis / dev_mis bytes and add up to 15 bytes to each size.
 */
struct placement {
	std::vector<kvfs_cuda_piece> p; /* dev_ptr holds an offset until bound */
	uint64_t pool_span, dev_span;
};

static placement place(size_t n, uint64_t size, bool jitter, unsigned pool_mis, unsigned dev_mis)
{
	placement pl;
	uint64_t slot = (size + 15 + 64 + 63) & ~63ull;
	uint64_t nslots = 2 * n + 1;
	std::vector<uint64_t> ps(nslots), ds(nslots);

	for (uint64_t i = 0; i < nslots; i++)
		ps[i] = ds[i] = i;
	for (uint64_t i = nslots - 1; i > 0; i--) {
		std::swap(ps[i], ps[g_rng.below(i + 1)]);
		std::swap(ds[i], ds[g_rng.below(i + 1)]);
	}
	pl.pool_span = pl.dev_span = nslots * slot;
	for (size_t i = 0; i < n; i++) {
		kvfs_cuda_piece q;

		q.bytes = size + (jitter ? g_rng.below(16) : 0);
		q.pool_offset = ps[i] * slot + pool_mis;
		q.dev_ptr = (void *)(uintptr_t)(ds[i] * slot + dev_mis);
		pl.p.push_back(q);
	}
	return pl;
}

static std::vector<kvfs_cuda_piece> bind(const placement &pl, uint64_t pool_base, char *dev)
{
	std::vector<kvfs_cuda_piece> v = pl.p;

	for (auto &q : v) {
		q.pool_offset += pool_base;
		q.dev_ptr = dev + (uintptr_t)q.dev_ptr;
	}
	return v;
}

static long first_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
	if (!memcmp(a, b, n))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return (long)i;
	return -1;
}

/* --- load / store of random placements --- */

static void check_load(cudaStream_t s, uint64_t pool_base, const placement &pl, const char *what)
{
	std::vector<kvfs_cuda_piece> v = bind(pl, pool_base, g_dev);

	g_rng.fill(g_pool + pool_base, pl.pool_span);
	CK(cudaMemsetAsync(g_dev, POISON_DEV, pl.dev_span, s));
	int rc = kvfs_cuda_load(g_reg, v.data(), v.size(), s);

	EXPECT(rc == 0, "%s: load: %d %s", what, rc, kvfs_cuda_last_error());
	CK(cudaMemcpyAsync(g_host, g_dev, pl.dev_span, cudaMemcpyDeviceToHost, s));
	CK(cudaStreamSynchronize(s));
	memset(g_expect, POISON_DEV, pl.dev_span);
	for (auto &q : pl.p)
		memcpy(g_expect + (uintptr_t)q.dev_ptr, g_pool + pool_base + q.pool_offset,
		       q.bytes);
	long d = first_diff(g_host, g_expect, pl.dev_span);

	EXPECT(d < 0, "%s: load: device byte %ld is %#x, expected %#x", what, d,
	       d >= 0 ? g_host[d] : 0, d >= 0 ? g_expect[d] : 0);
}

static void check_store(cudaStream_t s, uint64_t pool_base, const placement &pl, const char *what)
{
	std::vector<kvfs_cuda_piece> v = bind(pl, pool_base, g_dev_src);

	g_rng.fill(g_host, pl.dev_span);
	CK(cudaMemcpyAsync(g_dev_src, g_host, pl.dev_span, cudaMemcpyHostToDevice, s));
	CK(cudaStreamSynchronize(s));
	memset(g_pool + pool_base, POISON_POOL, pl.pool_span);
	int rc = kvfs_cuda_store(g_reg, v.data(), v.size(), s);

	EXPECT(rc == 0, "%s: store: %d %s", what, rc, kvfs_cuda_last_error());
	CK(cudaStreamSynchronize(s));
	memset(g_expect, POISON_POOL, pl.pool_span);
	for (auto &q : pl.p)
		memcpy(g_expect + q.pool_offset, g_host + (uintptr_t)q.dev_ptr, q.bytes);
	long d = first_diff((uint8_t *)g_pool + pool_base, g_expect, pl.pool_span);

	EXPECT(d < 0, "%s: store: pool byte %ld is %#x, expected %#x", what, d,
	       d >= 0 ? (uint8_t)g_pool[pool_base + d] : 0, d >= 0 ? g_expect[d] : 0);
}

static void test_sizes_and_counts(cudaStream_t s)
{
	static const uint64_t sizes[] = { 4 << 10,   16 << 10, 32 << 10, 64 << 10,
					  256 << 10, 1 << 20,  2 << 20 };
	static const size_t counts[] = { 1, 3, 7, 33, 61 };

	for (int m = 0; m < 3; m++) {
		use_method(g_device, (enum method)m);
		for (uint64_t size : sizes) {
			begin();
			for (size_t n : counts) {
				char what[96];
				placement pl = place(n, size, false, 0, 0);

				snprintf(what, sizeof(what), "%s %llu B x %zu", method_name[m],
					 (unsigned long long)size, n);
				/* base near a chunk boundary: some pieces cross it */
				uint64_t base = (CHUNK_MB << 20) - 4096 * (1 + g_rng.below(8));

				if (base + pl.pool_span > POOL_BYTES)
					base = 0;
				check_load(s, base, pl, what);
				check_store(s, base, pl, what);
			}
			end("load+store %s, %llu KiB pieces, counts 1 3 7 33 61", method_name[m],
			    (unsigned long long)(size >> 10));
		}
	}
}

/* A grid capped to a few CTAs (kernel_max_ctas) still moves every byte. */
static void test_capped_grid(cudaStream_t s)
{
	static const uint64_t sizes[] = { 4 << 10, 64 << 10, 1 << 20 };
	kvfs_cuda_method x = g_auto;

	x.copy_min[0] = x.copy_min[1] = KVFS_CUDA_NEVER;
	x.kernel_max_ctas = 3;
	if (kvfs_cuda_set_method(g_reg, g_device, &x)) {
		fprintf(stderr, "kvfs_cuda_set_method: %s\n", kvfs_cuda_last_error());
		exit(2);
	}
	begin();
	for (uint64_t size : sizes) {
		char what[96];
		placement pl = place(61, size, true, 3, 5);

		snprintf(what, sizeof(what), "3 CTAs, %llu B x 61", (unsigned long long)size);
		check_load(s, 0, pl, what);
		check_store(s, 0, pl, what);
	}
	end("load+store with the kernel's grid capped at 3 CTAs (kernel_max_ctas)");
	use_method(g_device, M_AUTO);
}

static void test_unaligned(cudaStream_t s)
{
	/* same misalignment, 8-, 4-, 1-byte mutual alignment */
	static const unsigned mis[][2] = { { 3, 3 }, { 8, 0 }, { 4, 12 },
					   { 1, 2 }, { 0, 7 }, { 15, 0 } };

	for (int m = 0; m < 3; m++) {
		use_method(g_device, (enum method)m);
		begin();
		for (auto &mm : mis) {
			for (uint64_t size : { 4096ull, 16384ull + 5, 70000ull }) {
				char what[96];
				placement pl = place(13, size, true, mm[0], mm[1]);

				snprintf(what, sizeof(what), "%s unaligned %u/%u %llu",
					 method_name[m], mm[0], mm[1], (unsigned long long)size);
				check_load(s, 0, pl, what);
				check_store(s, 0, pl, what);
			}
		}
		end("unaligned pieces (pool/device misalignment 3/3 8/0 4/12 1/2 0/7 15/0, odd "
		    "sizes), %s",
		    method_name[m]);
	}
}

static void test_round_trip(cudaStream_t s)
{
	for (int m = 0; m < 3; m++) {
		use_method(g_device, (enum method)m);
		begin();
		placement pl = place(101, 32 << 10, false, 0, 0);
		std::vector<kvfs_cuda_piece> st = bind(pl, 4096, g_dev_src);
		std::vector<kvfs_cuda_piece> ld = bind(pl, 4096, g_dev);
		int rc;

		g_rng.fill(g_host, pl.dev_span);
		CK(cudaMemcpy(g_dev_src, g_host, pl.dev_span, cudaMemcpyHostToDevice));
		memset(g_pool, POISON_POOL, pl.pool_span + 8192);
		CK(cudaMemsetAsync(g_dev, POISON_DEV, pl.dev_span, s));
		rc = kvfs_cuda_store(g_reg, st.data(), st.size(), s);
		EXPECT(rc == 0, "store %d %s", rc, kvfs_cuda_last_error());
		/* same stream: the load sees the store's bytes */
		rc = kvfs_cuda_load(g_reg, ld.data(), ld.size(), s);
		EXPECT(rc == 0, "load %d %s", rc, kvfs_cuda_last_error());
		CK(cudaMemcpyAsync(g_expect, g_dev, pl.dev_span, cudaMemcpyDeviceToHost, s));
		CK(cudaStreamSynchronize(s));
		for (auto &q : pl.p) {
			uintptr_t o = (uintptr_t)q.dev_ptr;

			EXPECT(!memcmp(g_expect + o, g_host + o, q.bytes),
			       "piece at dev +%lu differs", (unsigned long)o);
			memset(g_expect + o, POISON_DEV, q.bytes); /* what is left must be poison */
		}
		bool clean = true;

		for (uint64_t i = 0; i < pl.dev_span; i++)
			clean &= g_expect[i] == POISON_DEV;
		EXPECT(clean, "bytes between pieces were written");
		end("store then load round trip exact (101 x 32 KiB), %s", method_name[m]);
	}
	use_method(g_device, M_AUTO);
}

/* Many calls in flight on several streams, from several threads. */
static void test_streams(void)
{
	const int nthreads = 4, calls = 40, per = 9;
	const uint64_t size = 20000, slot = 20480;
	std::vector<cudaStream_t> st(nthreads);
	std::atomic<int> errors(0);

	begin();
	for (auto &s : st)
		CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	/* thread t, call c, piece j -> device slot ((t*calls+c)*per+j), pool slot shuffled */
	uint64_t total = (uint64_t)nthreads * calls * per;
	std::vector<uint64_t> pool_slot(total);

	for (uint64_t i = 0; i < total; i++)
		pool_slot[i] = i;
	for (uint64_t i = total - 1; i > 0; i--)
		std::swap(pool_slot[i], pool_slot[g_rng.below(i + 1)]);
	g_rng.fill(g_pool, total * slot);
	CK(cudaMemset(g_dev, POISON_DEV, total * slot));

	for (int m = 0; m < 2; m++) {
		use_method(g_device, m ? M_COPY : M_KERNEL);
		std::vector<std::thread> th;

		for (int t = 0; t < nthreads; t++) {
			th.emplace_back([&, t] {
				cudaSetDevice(g_device);
				for (int c = 0; c < calls; c++) {
					kvfs_cuda_piece p[per];

					for (int j = 0; j < per; j++) {
						uint64_t i = ((uint64_t)t * calls + c) * per + j;

						p[j].pool_offset = pool_slot[i] * slot;
						p[j].dev_ptr = g_dev + i * slot;
						p[j].bytes = size;
					}
					if (kvfs_cuda_load(g_reg, p, per, st[t]))
						errors++;
				}
			});
		}
		for (auto &x : th)
			x.join();
		for (auto &s : st)
			CK(cudaStreamSynchronize(s));
		EXPECT(errors == 0, "%d calls failed", errors.load());
		CK(cudaMemcpy(g_host, g_dev, total * slot, cudaMemcpyDeviceToHost));
		uint64_t bad = 0;

		for (uint64_t i = 0; i < total; i++) {
			bad += memcmp(g_host + i * slot, g_pool + pool_slot[i] * slot, size) != 0;
			for (uint64_t b = size; b < slot; b++)
				bad += g_host[i * slot + b] != POISON_DEV;
		}
		EXPECT(bad == 0, "%s: %llu pieces or gaps wrong", method_name[m],
		       (unsigned long long)bad);
		CK(cudaMemset(g_dev, POISON_DEV, total * slot));
	}
	for (auto &s : st)
		CK(cudaStreamDestroy(s));
	use_method(g_device, M_AUTO);
	end("4 threads x 4 streams x 40 calls in flight (kernel, copy): every piece right");
}

/* More calls in flight than staging slots, and one call bigger than a slot. */
static void test_staging(cudaStream_t s)
{
	use_method(g_device, M_KERNEL);
	begin();
	const int calls = 200, per = 7;
	const uint64_t size = 4096 + 512;
	uint64_t total = (uint64_t)calls * per;

	g_rng.fill(g_pool, total * size);
	CK(cudaMemsetAsync(g_dev, POISON_DEV, total * size, s));
	for (int c = 0; c < calls; c++) {
		kvfs_cuda_piece p[per];

		for (int j = 0; j < per; j++) { /* reversed order inside each call */
			uint64_t i = (uint64_t)c * per + j;

			p[j].pool_offset = (total - 1 - i) * size;
			p[j].dev_ptr = g_dev + i * size;
			p[j].bytes = size;
		}
		int rc = kvfs_cuda_load(g_reg, p, per, s);

		EXPECT(rc == 0, "call %d: %d %s", c, rc, kvfs_cuda_last_error());
	}
	CK(cudaMemcpyAsync(g_host, g_dev, total * size, cudaMemcpyDeviceToHost, s));
	CK(cudaStreamSynchronize(s));
	uint64_t bad = 0;

	for (uint64_t i = 0; i < total; i++)
		bad += memcmp(g_host + i * size, g_pool + (total - 1 - i) * size, size) != 0;
	EXPECT(bad == 0, "%llu pieces wrong", (unsigned long long)bad);
	end("200 back-to-back calls on one stream (staging ring reuse)");

	begin();
	const size_t n = 40000;
	std::vector<kvfs_cuda_piece> v(n);
	placement pl = place(n, 2048, false, 0, 0);

	v = bind(pl, 0, g_dev);
	g_rng.fill(g_pool, pl.pool_span);
	CK(cudaMemsetAsync(g_dev, POISON_DEV, pl.dev_span, s));
	int rc = kvfs_cuda_load(g_reg, v.data(), n, s);

	EXPECT(rc == 0, "%d %s", rc, kvfs_cuda_last_error());
	CK(cudaMemcpyAsync(g_host, g_dev, pl.dev_span, cudaMemcpyDeviceToHost, s));
	CK(cudaStreamSynchronize(s));
	memset(g_expect, POISON_DEV, pl.dev_span);
	for (auto &q : pl.p)
		memcpy(g_expect + (uintptr_t)q.dev_ptr, g_pool + q.pool_offset, q.bytes);
	EXPECT(first_diff(g_host, g_expect, pl.dev_span) < 0, "bytes differ");
	end("one call of 40000 pieces (staging slot grows)");
	use_method(g_device, M_AUTO);
}

/* --- layout helper --- */

struct kv_shape {
	uint32_t layers, blocks, tokens, heads, dim, elem;
};

/* Reference: address of element (blk, t=0, h=0, d=0) computed element-wise. */
static char *ref_block_addr(int kind, char *const *k, char *const *v, const kv_shape &sh,
			    uint32_t layer, int isv, uint64_t blk)
{
	uint64_t elem_index;

	if (kind == KVFS_CUDA_LAYOUT_KV_SEPARATE) {
		elem_index = ((blk * sh.tokens + 0) * sh.heads + 0) * sh.dim + 0;
		return (isv ? v[layer] : k[layer]) + elem_index * sh.elem;
	}
	elem_index = ((((uint64_t)isv * sh.blocks + blk) * sh.tokens + 0) * sh.heads + 0) * sh.dim;
	return k[layer] + elem_index * sh.elem;
}

static void test_layout(cudaStream_t s)
{
	const kv_shape sh = { 5, 37, 16, 2, 64, 2 }; /* 4 KiB pieces */
	const uint64_t piece = (uint64_t)sh.tokens * sh.heads * sh.dim * sh.elem;
	const uint64_t tensor = (uint64_t)sh.blocks * piece;

	for (int kind = 1; kind <= 2; kind++) {
		begin();
		/* SEPARATE: K at k[l], V at v[l] = k[l] + tensor; STACKED: [2, ...] at k[l] */
		std::vector<char *> k(sh.layers), v(sh.layers);
		uint64_t per_layer = 2 * tensor;

		for (uint32_t l = 0; l < sh.layers; l++) {
			k[l] = g_dev + l * per_layer;
			v[l] = kind == KVFS_CUDA_LAYOUT_KV_SEPARATE ? k[l] + tensor : NULL;
		}
		kvfs_cuda_layout lo = {};

		lo.kind = kind;
		lo.num_layers = sh.layers;
		lo.num_blocks = sh.blocks;
		lo.block_tokens = sh.tokens;
		lo.kv_heads = sh.heads;
		lo.head_dim = sh.dim;
		lo.elem_bytes = sh.elem;
		lo.k = (void *const *)k.data();
		lo.v = kind == KVFS_CUDA_LAYOUT_KV_SEPARATE ? (void *const *)v.data() : NULL;
		uint64_t pool_block = kvfs_cuda_layout_block_bytes(&lo);

		EXPECT(pool_block == 2 * sh.layers * piece, "block bytes %llu",
		       (unsigned long long)pool_block);

		/* 11 engine blocks, in shuffled order, into shuffled pool blocks */
		const size_t nb = 11;
		std::vector<int64_t> ids(sh.blocks);
		std::vector<uint64_t> pool_off(nb);

		for (uint32_t i = 0; i < sh.blocks; i++)
			ids[i] = i;
		for (uint32_t i = sh.blocks - 1; i > 0; i--)
			std::swap(ids[i], ids[g_rng.below(i + 1)]);
		for (size_t b = 0; b < nb; b++)
			pool_off[b] = (2 * b + 1 + (b % 3)) * pool_block;
		std::vector<kvfs_cuda_piece> out(nb * 2 * sh.layers);
		long np = kvfs_cuda_layout_pieces(&lo, ids.data(), pool_off.data(), nb, out.data(),
						  out.size());

		EXPECT(np == (long)out.size(), "pieces %ld", np);
		size_t bad = 0;

		for (size_t b = 0; b < nb && np > 0; b++)
			for (uint32_t l = 0; l < sh.layers; l++)
				for (int isv = 0; isv < 2; isv++) {
					const kvfs_cuda_piece &q =
					    out[(b * sh.layers + l) * 2 + isv];
					char *ref = ref_block_addr(kind, k.data(), v.data(), sh, l,
								   isv, ids[b]);

					bad += q.dev_ptr != ref || q.bytes != piece ||
					       q.pool_offset != pool_off[b] + (2 * l + isv) * piece;
				}
		EXPECT(bad == 0, "%zu pieces differ from the reference", bad);

		/* end to end: load into the tensors, check every tensor byte */
		uint64_t span = sh.layers * per_layer;
		uint64_t pool_span = (2 * nb + 4) * pool_block;

		g_rng.fill(g_pool, pool_span);
		CK(cudaMemsetAsync(g_dev, POISON_DEV, span, s));
		int rc = kvfs_cuda_load(g_reg, out.data(), np, s);

		EXPECT(rc == 0, "load %d %s", rc, kvfs_cuda_last_error());
		CK(cudaMemcpyAsync(g_host, g_dev, span, cudaMemcpyDeviceToHost, s));
		CK(cudaStreamSynchronize(s));
		memset(g_expect, POISON_DEV, span);
		for (size_t b = 0; b < nb; b++)
			for (uint32_t l = 0; l < sh.layers; l++)
				for (int isv = 0; isv < 2; isv++) {
					char *ref = ref_block_addr(kind, k.data(), v.data(), sh, l,
								   isv, ids[b]);

					memcpy(g_expect + (ref - g_dev),
					       g_pool + pool_off[b] + (2 * l + isv) * piece, piece);
				}
		EXPECT(first_diff(g_host, g_expect, span) < 0, "tensor bytes differ after load");

		/* and back: store the tensors into fresh pool blocks, compare */
		for (size_t b = 0; b < nb; b++)
			pool_off[b] += pool_span;
		np = kvfs_cuda_layout_pieces(&lo, ids.data(), pool_off.data(), nb, out.data(),
					     out.size());
		memset(g_pool + pool_span, POISON_POOL, pool_span);
		rc = kvfs_cuda_store(g_reg, out.data(), np, s);
		EXPECT(rc == 0, "store %d %s", rc, kvfs_cuda_last_error());
		CK(cudaStreamSynchronize(s));
		bad = 0;
		for (size_t b = 0; b < nb; b++)
			bad += memcmp(g_pool + pool_off[b], g_pool + pool_off[b] - pool_span,
				      pool_block) != 0;
		EXPECT(bad == 0, "%zu pool blocks differ after store", bad);

		/* errors */
		int64_t badid = sh.blocks;

		EXPECT(kvfs_cuda_layout_pieces(&lo, &badid, pool_off.data(), 1, out.data(),
					       out.size()) == -EINVAL,
		       "block id out of range accepted");
		EXPECT(kvfs_cuda_layout_pieces(&lo, ids.data(), pool_off.data(), 2, out.data(),
					       2 * sh.layers * 2 - 1) == -ENOSPC,
		       "short output accepted");
		lo.head_dim = 0;
		EXPECT(kvfs_cuda_layout_pieces(&lo, ids.data(), pool_off.data(), 1, out.data(),
					       out.size()) == -EINVAL,
		       "zero head_dim accepted");
		end("layout helper %s: pieces match the CPU reference; load and store through them",
		    kind == KVFS_CUDA_LAYOUT_KV_SEPARATE ? "KV_SEPARATE" : "KV_STACKED");
	}
}

/* --- registration, calibration, errors, several GPUs --- */

static void test_register(const char *path, int fd)
{
	struct kvfs_cuda_reg_info info;
	kvfs_cuda_reg_t *r2 = NULL;
	int rc;

	begin();
	rc = kvfs_cuda_register(g_pool, POOL_BYTES, 0, &g_reg);
	if (rc) {
		fprintf(stderr, "kvfs_cuda_register: %d %s\n", rc, kvfs_cuda_last_error());
		exit(2);
	}
	rc = kvfs_cuda_get_reg_info(g_reg, &info);
	EXPECT(rc == 0 && info.nchunks == POOL_BYTES / (CHUNK_MB << 20) &&
		   info.chunk_bytes == (CHUNK_MB << 20) && info.size == POOL_BYTES &&
		   info.register_ms > 0,
	       "info rc %d chunks %u chunk %llu ms %.3f", rc, info.nchunks,
	       (unsigned long long)info.chunk_bytes, info.register_ms);
	printf("# registered %llu MiB in %.1f ms (%u chunks)\n",
	       (unsigned long long)(POOL_BYTES >> 20), info.register_ms, info.nchunks);
	rc = kvfs_cuda_register(g_pool, POOL_BYTES, 0, &r2);
	EXPECT(rc == -EEXIST, "second registration of the same range: %d %s", rc,
	       kvfs_cuda_last_error());
	EXPECT(kvfs_cuda_register(g_pool + 1, 4096, 0, &r2) == -EINVAL, "unaligned base accepted");
	EXPECT(kvfs_cuda_register(g_pool, 0, 0, &r2) == -EINVAL, "zero size accepted");
	EXPECT(kvfs_cuda_register(g_pool, 4096, 0x80, &r2) == -EINVAL, "unknown flag accepted");
	end("register in chunks, info, -EEXIST, -EINVAL");

	/* a read-only mapping of the same file: loads work, stores are refused */
	begin();
	char *ro = (char *)mmap(NULL, 64 << 20, PROT_READ, MAP_SHARED, fd, 0);

	EXPECT(ro != MAP_FAILED, "mmap %s read-only", path);
	rc = kvfs_cuda_register(ro, 64 << 20, KVFS_CUDA_REG_READONLY, &r2);
	EXPECT(rc == 0, "read-only register: %d %s", rc, kvfs_cuda_last_error());
	if (rc == 0) {
		kvfs_cuda_piece p = { 12345, g_dev, 100000 };

		g_rng.fill(g_pool, 1 << 20);
		CK(cudaMemset(g_dev, POISON_DEV, 1 << 20));
		rc = kvfs_cuda_load(r2, &p, 1, 0);
		EXPECT(rc == 0, "load from read-only: %d %s", rc, kvfs_cuda_last_error());
		CK(cudaDeviceSynchronize());
		CK(cudaMemcpy(g_host, g_dev, p.bytes, cudaMemcpyDeviceToHost));
		EXPECT(!memcmp(g_host, g_pool + p.pool_offset, p.bytes), "read-only load wrong");
		rc = kvfs_cuda_store(r2, &p, 1, 0);
		EXPECT(rc == -EROFS, "store into read-only: %d", rc);
		EXPECT(kvfs_cuda_unregister(r2) == 0, "unregister read-only");
	}
	munmap(ro, 64 << 20);
	end("read-only registration: load ok, store -EROFS");
}

/*
 * A libkvfs handle maps only the pool's data area, at base + data_off,
 * with private zeros below it (clients never map the metadata); the
 * engine still registers [base, base + pool size) whole and addresses
 * blocks by pool offset. Same shape here, over the test's pool file.
 */
static void test_data_area_mapping(int fd)
{
	const uint64_t size = 64 << 20, data_off = 6 << 20, align = 2 << 20;
	kvfs_cuda_reg_t *r = NULL;
	int rc;

	begin();
	char *raw = (char *)mmap(NULL, size + align, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	EXPECT(raw != MAP_FAILED, "reserve %llu bytes", (unsigned long long)(size + align));
	char *base = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	void *data = mmap(base + data_off, size - data_off, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_FIXED, fd, (off_t)data_off);

	EXPECT(data == base + data_off, "map the data area at base + data_off");
	rc = kvfs_cuda_register(base, size, 0, &r);
	EXPECT(rc == 0, "register [base, base + size) with a private head: %d %s", rc,
	       kvfs_cuda_last_error());
	if (rc == 0) {
		kvfs_cuda_piece p = { data_off + 12345, g_dev, 100000 };

		g_rng.fill(g_pool + data_off, 1 << 20);
		CK(cudaMemset(g_dev, POISON_DEV, 1 << 20));
		rc = kvfs_cuda_load(r, &p, 1, 0);
		EXPECT(rc == 0, "load: %d %s", rc, kvfs_cuda_last_error());
		CK(cudaDeviceSynchronize());
		CK(cudaMemcpy(g_host, g_dev, p.bytes, cudaMemcpyDeviceToHost));
		EXPECT(!memcmp(g_host, g_pool + p.pool_offset, p.bytes),
		       "a load by pool offset reads the pool's bytes");
		p.pool_offset = data_off + 4096;
		CK(cudaMemset(g_dev, 0x3c, p.bytes));
		rc = kvfs_cuda_store(r, &p, 1, 0);
		CK(cudaDeviceSynchronize());
		EXPECT(rc == 0 && (uint8_t)g_pool[data_off + 4096] == 0x3c &&
			   (uint8_t)g_pool[data_off + 4096 + p.bytes - 1] == 0x3c,
		       "a store by pool offset reaches the pool file: %d", rc);
		EXPECT(kvfs_cuda_unregister(r) == 0, "unregister");
	}
	munmap(raw, size + align);
	end("a libkvfs-shaped mapping (data area only) registers whole; offsets are pool offsets");
}

static void test_calibration(void)
{
	begin();
	int rc = kvfs_cuda_get_method(g_reg, 0, &g_auto);

	EXPECT(rc == 0, "get_method %d %s", rc, kvfs_cuda_last_error());
	EXPECT(g_auto.calibrated == 1 || getenv("KVFS_CUDA_METHOD"), "not calibrated");
	for (int dir = 0; dir < 2 && g_auto.calibrated; dir++) {
		printf("# calibration GPU 0 %s (GB/s kernel/copy):", dir ? "store" : "load");
		for (int i = 0; i < KVFS_CUDA_NSIZES; i++) {
			printf(" %lluK %.1f/%.1f", (unsigned long long)(g_auto.sizes[i] >> 10),
			       g_auto.kernel_gbs[dir][i], g_auto.copy_gbs[dir][i]);
			EXPECT(g_auto.kernel_gbs[dir][i] > 0 && g_auto.copy_gbs[dir][i] > 0,
			       "zero rate");
		}
		if (g_auto.copy_min[dir] == KVFS_CUDA_NEVER)
			printf("; kernel for all sizes\n");
		else
			printf("; copy engine from %llu B\n",
			       (unsigned long long)g_auto.copy_min[dir]);
	}
	printf("# calibration took %.0f ms\n", g_auto.calibrate_ms);
	kvfs_cuda_method bad = g_auto;

	bad.kernel_unroll = 3;
	EXPECT(kvfs_cuda_set_method(g_reg, 0, &bad) == -EINVAL, "unroll 3 accepted");
	end("calibration: both methods measured at every size, choice visible");
}

static void test_default_stream(void)
{
	begin();
	CK(cudaSetDevice(0));
	placement pl = place(17, 24 << 10, false, 0, 0);

	check_load(0, 0, pl, "default stream");
	check_store(0, 0, pl, "default stream");
	end("legacy default stream (NULL)");
}

/* A list whose piece 3 is bad: the call fails and no piece moves. */
static void expect_refused(cudaStream_t s, int dir, int want, kvfs_cuda_piece bad, const char *what)
{
	kvfs_cuda_piece p[5];

	for (int i = 0; i < 5; i++) {
		p[i].pool_offset = (uint64_t)i << 20;
		p[i].dev_ptr = (dir ? g_dev_src : g_dev) + ((uint64_t)i << 20);
		p[i].bytes = 65536;
	}
	p[3] = bad;
	g_rng.fill(g_host, 5 << 20);
	CK(cudaMemcpy(g_dev_src, g_host, 5 << 20, cudaMemcpyHostToDevice));
	g_rng.fill(g_pool, 5 << 20);
	memcpy(g_expect, g_pool, 5 << 20);
	CK(cudaMemset(g_dev, POISON_DEV, 5 << 20));
	kvfs_cuda_last_error(); /* exists before any failure */
	int rc = dir ? kvfs_cuda_store(g_reg, p, 5, s) : kvfs_cuda_load(g_reg, p, 5, s);

	EXPECT(rc == want, "%s %s: got %d (%s), want %d", dir ? "store" : "load", what, rc,
	       kvfs_cuda_last_error(), want);
	EXPECT(*kvfs_cuda_last_error() && *kvfs_cuda_strerror(rc), "%s: no message", what);
	CK(cudaStreamSynchronize(s));
	CK(cudaMemcpy(g_host, g_dev, 5 << 20, cudaMemcpyDeviceToHost));
	bool poisoned = true;

	for (uint64_t i = 0; i < (5 << 20); i++)
		poisoned &= g_host[i] == POISON_DEV;
	EXPECT(poisoned, "%s: device written although the call failed", what);
	EXPECT(!memcmp(g_expect, g_pool, 5 << 20), "%s: pool written although the call failed",
	       what);
}

/*
 * The last 100 bytes of a device allocation that is followed by unmapped
 * address space (a piece running past an allocation into the next one is
 * accepted: pieces may span adjacent mappings of one tensor).
 */
static char *dev_tail(std::vector<void *> *keep)
{
	for (int i = 0; i < 16; i++) {
		char *p;
		cudaPointerAttributes a;

		CK(cudaMalloc(&p, 3 << 20));
		keep->push_back(p);
		if (cudaPointerGetAttributes(&a, p + (3 << 20)) == cudaSuccess &&
		    a.type == cudaMemoryTypeUnregistered)
			return p + (3 << 20) - 100;
		(void)cudaGetLastError();
	}
	return NULL;
}

static void test_errors(cudaStream_t s)
{
	static char host_buf[1 << 16];
	std::vector<void *> keep;
	char *tail = dev_tail(&keep);

	for (int m = 0; m < 2; m++) {
		use_method(g_device, m ? M_COPY : M_KERNEL);
		begin();
		for (int dir = 0; dir < 2; dir++) {
			char *dev = dir ? g_dev_src : g_dev;

			expect_refused(s, dir, -ERANGE, { POOL_BYTES - 100, dev, 4096 },
				       "past pool end");
			expect_refused(s, dir, -ERANGE, { UINT64_MAX - 10, dev, 4096 },
				       "offset wraps");
			expect_refused(s, dir, -ERANGE, { 0, dev, POOL_BYTES + 1 },
				       "longer than pool");
			expect_refused(s, dir, -EINVAL, { 0, dev, 0 }, "zero bytes");
			expect_refused(s, dir, -EFAULT, { 0, NULL, 4096 }, "NULL dev_ptr");
			expect_refused(s, dir, -EFAULT, { 0, host_buf, 4096 }, "host dev_ptr");
			expect_refused(s, dir, -EFAULT, { 0, (void *)(uintptr_t)0x10, 4096 },
				       "wild dev_ptr");
			if (tail)
				expect_refused(s, dir, -EFAULT, { 0, tail, 4096 },
					       "piece past its allocation");
			expect_refused(s, dir, -EFAULT, { 0, g_pool, 4096 },
				       "registered host memory");
		}
		EXPECT(kvfs_cuda_load(g_reg, NULL, 3, s) == -EINVAL, "NULL pieces accepted");
		EXPECT(kvfs_cuda_load(g_reg, NULL, 0, s) == 0, "empty list refused");
		EXPECT(kvfs_cuda_load(NULL, NULL, 0, s) == -EINVAL, "NULL reg accepted");
		end("bad offsets and pointers: clear codes and messages, nothing moved (%s)%s",
		    method_name[m], tail ? "" : " [no allocation end found: overrun case not run]");
	}
	for (void *p : keep)
		CK(cudaFree(p));
	use_method(g_device, M_AUTO);

	begin();
	cudaStream_t cs;
	cudaGraph_t graph;
	kvfs_cuda_piece p = { 0, g_dev, 4096 };

	CK(cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking));
	CK(cudaStreamBeginCapture(cs, cudaStreamCaptureModeRelaxed));
	int rc = kvfs_cuda_load(g_reg, &p, 1, cs);

	EXPECT(rc == -ENOTSUP, "load during capture: %d %s", rc, kvfs_cuda_last_error());
	cudaError_t e = cudaStreamEndCapture(cs, &graph);

	EXPECT(e == cudaSuccess, "the capture was invalidated: %s", cudaGetErrorString(e));
	if (e == cudaSuccess)
		CK(cudaGraphDestroy(graph));
	(void)cudaGetLastError();
	CK(cudaStreamDestroy(cs));
	end("stream capture refused with -ENOTSUP");
}

/* Each GPU on its own, then all at once; memory of another GPU: -EXDEV. */
static void test_devices(int ndev)
{
	const size_t n = 33;
	const uint64_t size = 64 << 10, slot = 96 << 10;
	std::vector<char *> dev(ndev);
	std::vector<cudaStream_t> st(ndev);
	std::vector<std::vector<kvfs_cuda_piece>> pl(ndev);

	begin();
	for (int d = 0; d < ndev; d++) {
		kvfs_cuda_method m;

		CK(cudaSetDevice(d));
		CK(cudaMalloc(&dev[d], n * slot));
		CK(cudaMemset(dev[d], POISON_DEV, n * slot));
		CK(cudaStreamCreateWithFlags(&st[d], cudaStreamNonBlocking));
		int rc = kvfs_cuda_get_method(g_reg, d, &m);

		EXPECT(rc == 0, "GPU %d: get_method %d %s", d, rc, kvfs_cuda_last_error());
		for (size_t i = 0; i < n; i++)
			pl[d].push_back(
			    { ((uint64_t)d * n + i) * slot + 16 * d, dev[d] + i * slot, size });
	}
	g_rng.fill(g_pool, (uint64_t)ndev * n * slot + 4096);
	CK(cudaSetDevice(0));
	std::vector<std::thread> th;
	std::atomic<int> errors(0);

	for (int d = 0; d < ndev; d++)
		th.emplace_back([&, d] {
			cudaSetDevice(d);
			for (int rep = 0; rep < 5; rep++)
				if (kvfs_cuda_load(g_reg, pl[d].data(), n, st[d]))
					errors++;
			cudaStreamSynchronize(st[d]);
		});
	for (auto &t : th)
		t.join();
	EXPECT(errors == 0, "%d loads failed", errors.load());
	for (int d = 0; d < ndev; d++) {
		CK(cudaSetDevice(d));
		CK(cudaMemcpy(g_host, dev[d], n * slot, cudaMemcpyDeviceToHost));
		size_t bad = 0;

		for (size_t i = 0; i < n; i++)
			bad += memcmp(g_host + i * slot, g_pool + pl[d][i].pool_offset, size) != 0;
		EXPECT(bad == 0, "GPU %d: %zu pieces wrong", d, bad);
	}
	if (ndev >= 2) {
		kvfs_cuda_piece p = { 0, dev[1], 4096 };

		CK(cudaSetDevice(0));
		int rc = kvfs_cuda_load(g_reg, &p, 1, st[0]);

		EXPECT(rc == -EXDEV, "GPU 1 memory on a GPU 0 stream: %d", rc);
	}
	for (int d = 0; d < ndev; d++) {
		CK(cudaSetDevice(d));
		CK(cudaStreamDestroy(st[d]));
		CK(cudaFree(dev[d]));
	}
	CK(cudaSetDevice(0));
	end("%d GPU(s) from one registration, concurrently%s", ndev,
	    ndev < 2 ? " (one GPU here: -EXDEV not exercised)" : ", -EXDEV across GPUs");
}

int main(void)
{
	int ndev = 0;
	cudaError_t e = cudaGetDeviceCount(&ndev);

	if (e != cudaSuccess || ndev == 0) {
		printf("SKIP: no CUDA GPU (%s)\n",
		       e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount returned 0");
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < ndev; i++) {
		cudaDeviceProp prop;

		CK(cudaGetDeviceProperties(&prop, i));
		printf("# GPU %d: %s, %d SMs, cc %d.%d\n", i, prop.name, prop.multiProcessorCount,
		       prop.major, prop.minor);
	}
	char path[64];

	snprintf(path, sizeof(path), "/dev/shm/kvfs-gpu-test-%d", (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);

	if (fd < 0 || ftruncate(fd, POOL_BYTES)) {
		perror(path);
		return 2;
	}
	g_pool = (char *)mmap(NULL, POOL_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (g_pool == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	setenv("KVFS_CUDA_CHUNK_MB", "64", 1);
	CK(cudaSetDevice(0));
	CK(cudaMalloc(&g_dev, DEV_BYTES));
	CK(cudaMalloc(&g_dev_src, DEV_BYTES));
	CK(cudaMallocHost(&g_host, DEV_BYTES));
	g_expect = (uint8_t *)malloc(DEV_BYTES);

	test_register(path, fd); /* sets g_reg */
	test_data_area_mapping(fd);
	cudaStream_t s;

	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	test_calibration();
	test_sizes_and_counts(s);
	test_capped_grid(s);
	test_unaligned(s);
	test_round_trip(s);
	test_streams();
	test_staging(s);
	test_layout(s);
	test_default_stream();
	test_errors(s);
	test_devices(ndev);

	CK(cudaStreamDestroy(s));
	begin();
	int rc = kvfs_cuda_unregister(g_reg);

	EXPECT(rc == 0, "unregister %d %s", rc, kvfs_cuda_last_error());
	end("unregister");
	munmap(g_pool, POOL_BYTES);
	close(fd);
	unlink(path);
	printf("%d passed, %d failed\n", g_pass, g_fail);
	return g_fail ? 1 : 0;
}
