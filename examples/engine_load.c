// SPDX-License-Identifier: MIT
/*
 * engine_load.c - the template for an engine that reuses a cached prefix:
 * hash the request's token blocks, find and pin the longest cached prefix
 * with one kvfs_lookup(), move those blocks into the engine's paged KV
 * cache on the GPU with one kvfs_cuda_load() on the engine's stream, and
 * unpin once the copy is done. Copy the parts you need.
 *
 * The engine here has a vLLM-style paged cache: per layer a K and a V
 * tensor [num_blocks, block_tokens, kv_heads, head_dim], bf16, and a pool
 * block holds one token block of every layer (layer 0 K, layer 0 V, ...),
 * the order kvfs_cuda_layout_pieces() uses. Cached blocks land in whatever
 * engine blocks the engine's allocator hands out (here: scattered ids).
 *
 * The CPU part (lookup, pin, check every byte in place through the pool
 * mapping, unpin) needs no GPU; it is what tests/integration/
 * test_engine_load.sh runs. The GPU part is compiled with -DKVFS_HAVE_CUDA
 * (nvcc and libkvfs_cuda) and prints "SKIP GPU part: ..." where it cannot
 * run. If the namespace does not hold the prefix yet, the program stores
 * it first (reserve, fill, commit), standing in for the engine that
 * prefilled it.
 *
 *   engine_load [--layers N] [--block-tokens T] [--blocks N] [--no-gpu]
 *               MOUNTPOINT NAMESPACE
 *   plain:  make build/examples/engine_load
 *   GPU:    gcc -O2 -std=gnu11 -DKVFS_HAVE_CUDA -Iinclude -I/usr/local/cuda/include \
 *             -c examples/engine_load.c -o engine_load.o
 *           nvcc -o engine_load_gpu engine_load.o build/libkvfs_cuda.a build/libkvfs.a -lxxhash
 */
#include <kvfs.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#ifdef KVFS_HAVE_CUDA
#include <cuda_runtime_api.h>
#include <kvfs_cuda.h>
#endif

#define EXTRA_BLOCKS 4 /* the request goes on past the cached prefix */

struct model {
	unsigned layers, kv_heads, head_dim, elem_bytes, block_tokens;
	size_t blocks; /* blocks of the cached prefix */
};

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static uint64_t block_bytes(const struct model *m)
{
	return (uint64_t)2 * m->layers * m->block_tokens * m->kv_heads * m->head_dim *
	       m->elem_bytes;
}

/* What the engine that prefilled block @h computed: here a function of its hash. */
static uint8_t kv_byte(const kvfs_hash_t *h, uint64_t i)
{
	return (uint8_t)(h->b[i % 16] ^ (i * 131) ^ (i >> 12));
}

static int check_block(const uint8_t *p, const kvfs_hash_t *h, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (p[i] != kv_byte(h, i))
			return -1;
	return 0;
}

/* Publish every block of the prefix; blocks someone stored already are kept. */
static int store_prefix(kvfs_t *kv, const char *ns, const kvfs_hash_t *h, const struct model *m)
{
	uint64_t *sizes = calloc(m->blocks, sizeof(*sizes)), txn, bb = block_bytes(m);
	struct kvfs_block *b = calloc(m->blocks, sizeof(*b));
	size_t i, filled = 0;
	int rc = -ENOMEM;

	if (!sizes || !b)
		goto out;
	for (i = 0; i < m->blocks; i++)
		sizes[i] = bb;
	rc = kvfs_reserve(kv, ns, h, sizes, m->blocks, b, &txn);
	if (rc) {
		fprintf(stderr, "kvfs_reserve: %s\n", strerror(-rc));
		goto out;
	}
	for (i = 0; i < m->blocks; i++) {
		if (b[i].status != KVFS_BLOCK_RESERVED)
			continue;
		/* an engine fills these from the GPU with kvfs_cuda_store() */
		for (uint64_t j = 0; j < bb; j++)
			((uint8_t *)b[i].addr)[j] = kv_byte(&h[i], j);
		filled++;
	}
	rc = kvfs_commit(kv, txn);
	if (rc)
		fprintf(stderr, "kvfs_commit: %s\n", strerror(-rc));
	else
		printf("stored %zu of %zu blocks of %llu KiB (the rest were cached)\n", filled,
		       m->blocks, (unsigned long long)(bb >> 10));
out:
	free(sizes);
	free(b);
	return rc;
}

/* --- GPU part: the pinned blocks into a paged KV cache, one call --- */

#ifdef KVFS_HAVE_CUDA
#define CUDA_TRY(call, what)                                                                       \
	do {                                                                                       \
		cudaError_t e_ = (call);                                                           \
		if (e_ != cudaSuccess) {                                                           \
			fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e_));                 \
			rc = 1;                                                                    \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)

static int gpu_load(kvfs_t *kv, const struct kvfs_block *b, size_t n, const struct model *m)
{
	size_t nl = m->layers, num_blocks = 2 * n + 1; /* the engine's cache has room for more */
	uint64_t piece = (uint64_t)m->block_tokens * m->kv_heads * m->head_dim * m->elem_bytes;
	void **k = calloc(nl, sizeof(*k)), **v = calloc(nl, sizeof(*v));
	int64_t *ids = calloc(n, sizeof(*ids));
	uint64_t *offs = calloc(n, sizeof(*offs));
	size_t npieces = 2 * nl * n, bad = 0;
	struct kvfs_cuda_piece *pieces = calloc(npieces, sizeof(*pieces));
	uint8_t *host = malloc(piece);
	struct kvfs_cuda_reg_info info;
	kvfs_cuda_reg_t *reg = NULL;
	cudaStream_t stream = NULL;
	cudaEvent_t ev[2] = { NULL, NULL };
	float ms = 0;
	int ndev = 0, rc = 0;
	long got;

	if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
		printf("SKIP GPU part: no CUDA GPU (%s)\n", cudaGetErrorString(cudaGetLastError()));
		goto out;
	}
	if (!k || !v || !ids || !offs || !pieces || !host) {
		rc = 1;
		goto out;
	}
	/* once per engine process: make the pool mapping reachable from the GPU */
	rc = kvfs_cuda_register(kvfs_pool_base(kv), kvfs_pool_size(kv), 0, &reg);
	if (rc) {
		fprintf(stderr, "kvfs_cuda_register: %s\n", kvfs_cuda_last_error());
		rc = 1;
		goto out;
	}
	kvfs_cuda_get_reg_info(reg, &info);
	CUDA_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
	CUDA_TRY(cudaEventCreate(&ev[0]), "cudaEventCreate");
	CUDA_TRY(cudaEventCreate(&ev[1]), "cudaEventCreate");
	for (size_t l = 0; l < nl; l++) { /* the engine's paged cache, poisoned */
		CUDA_TRY(cudaMalloc(&k[l], num_blocks * piece), "cudaMalloc");
		CUDA_TRY(cudaMalloc(&v[l], num_blocks * piece), "cudaMalloc");
		CUDA_TRY(cudaMemset(k[l], 0xA5, num_blocks * piece), "cudaMemset");
		CUDA_TRY(cudaMemset(v[l], 0xA5, num_blocks * piece), "cudaMemset");
	}
	CUDA_TRY(cudaDeviceSynchronize(), "cudaDeviceSynchronize");

	struct kvfs_cuda_layout lo = {
		.kind = KVFS_CUDA_LAYOUT_KV_SEPARATE,
		.num_layers = m->layers,
		.num_blocks = num_blocks,
		.block_tokens = m->block_tokens,
		.kv_heads = m->kv_heads,
		.head_dim = m->head_dim,
		.elem_bytes = m->elem_bytes,
		.k = k,
		.v = v,
	};
	for (size_t i = 0; i < n; i++) {
		ids[i] = (int64_t)(num_blocks - 1 - 2 * i); /* from the engine's block allocator */
		offs[i] = b[i].offset;
	}
	got = kvfs_cuda_layout_pieces(&lo, ids, offs, n, pieces, npieces);
	if (got < 0) {
		fprintf(stderr, "kvfs_cuda_layout_pieces: %s\n", kvfs_cuda_last_error());
		rc = 1;
		goto out;
	}
	/* warm-up: the first transfer on a GPU calibrates it and sizes the staging */
	rc = kvfs_cuda_load(reg, pieces, (size_t)got, stream);
	CUDA_TRY(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
	for (size_t l = 0; l < nl && !rc; l++) {
		CUDA_TRY(cudaMemsetAsync(k[l], 0xA5, num_blocks * piece, stream), "cudaMemset");
		CUDA_TRY(cudaMemsetAsync(v[l], 0xA5, num_blocks * piece, stream), "cudaMemset");
	}
	/* the load itself: one call, asynchronous on the engine's stream */
	CUDA_TRY(cudaEventRecord(ev[0], stream), "cudaEventRecord");
	if (!rc)
		rc = kvfs_cuda_load(reg, pieces, (size_t)got, stream);
	if (rc) {
		fprintf(stderr, "kvfs_cuda_load: %s\n", kvfs_cuda_last_error());
		rc = 1;
		goto out;
	}
	CUDA_TRY(cudaEventRecord(ev[1], stream), "cudaEventRecord");
	/* an engine would launch its prefill of the uncached tail here, same stream */
	CUDA_TRY(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
	CUDA_TRY(cudaEventElapsedTime(&ms, ev[0], ev[1]), "cudaEventElapsedTime");

	/* every engine block the load wrote, against the pool bytes */
	for (size_t i = 0; i < n; i++)
		for (size_t l = 0; l < nl; l++)
			for (int isv = 0; isv < 2; isv++) {
				const uint8_t *src =
				    (const uint8_t *)b[i].addr + (2 * l + isv) * piece;
				char *dst = (char *)(isv ? v[l] : k[l]) + (uint64_t)ids[i] * piece;

				CUDA_TRY(cudaMemcpy(host, dst, piece, cudaMemcpyDeviceToHost),
					 "cudaMemcpy");
				bad += memcmp(host, src, piece) != 0;
			}
	/* and an engine block the load must not have touched */
	CUDA_TRY(cudaMemcpy(host, k[0], piece, cudaMemcpyDeviceToHost), "cudaMemcpy");
	for (uint64_t j = 0; j < piece; j++)
		bad += host[j] != 0xA5;
	printf("GPU: registered %llu MiB of pool in %.1f ms; loaded %zu blocks (%ld pieces of "
	       "%llu KiB) into the paged cache in one call: %.3f ms, %.1f GB/s; %s\n",
	       (unsigned long long)(info.size >> 20), info.register_ms, n, got,
	       (unsigned long long)(piece >> 10), ms, ms > 0 ? n * block_bytes(m) / (ms * 1e6) : 0,
	       bad ? "WRONG BYTES" : "every byte checked");
	rc = bad ? 1 : 0;
out:
	if (stream)
		cudaStreamSynchronize(stream);
	for (size_t l = 0; k && v && l < nl; l++) {
		cudaFree(k[l]);
		cudaFree(v[l]);
	}
	if (ev[0])
		cudaEventDestroy(ev[0]);
	if (ev[1])
		cudaEventDestroy(ev[1]);
	if (stream)
		cudaStreamDestroy(stream);
	if (reg)
		kvfs_cuda_unregister(reg);
	free(k);
	free(v);
	free(ids);
	free(offs);
	free(pieces);
	free(host);
	return rc;
}
#endif /* KVFS_HAVE_CUDA */

/* --- the request --- */

static int usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--layers N] [--block-tokens T] [--blocks N] [--no-gpu] "
		"MOUNTPOINT NAMESPACE\n",
		argv0);
	return 2;
}

int main(int argc, char **argv)
{
	struct model m = { 32, 8, 128, 2, 16, 48 }; /* Llama-3-8B, bf16, vLLM's block size */
	const char *mnt = NULL, *ns = NULL;
	size_t ntok, want, i;
	uint32_t *tokens = NULL;
	kvfs_hash_t *h = NULL;
	struct kvfs_block *b = NULL;
	char path[4096], name[KVFS_HASH_NAME_LEN + 1];
	int no_gpu = 0, rc = 1, a;
	long n, hit = 0;
	kvfs_t *kv = NULL;
	double t0, t_lookup;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--layers") && a + 1 < argc)
			m.layers = (unsigned)atoi(argv[++a]);
		else if (!strcmp(argv[a], "--block-tokens") && a + 1 < argc)
			m.block_tokens = (unsigned)atoi(argv[++a]);
		else if (!strcmp(argv[a], "--blocks") && a + 1 < argc)
			m.blocks = (size_t)atol(argv[++a]);
		else if (!strcmp(argv[a], "--no-gpu"))
			no_gpu = 1;
		else if (argv[a][0] == '-')
			return usage(argv[0]);
		else if (!mnt)
			mnt = argv[a];
		else if (!ns)
			ns = argv[a];
		else
			return usage(argv[0]);
	}
	if (!mnt || !ns || !m.layers || !m.block_tokens || !m.blocks)
		return usage(argv[0]);

	/* the request: a prompt whose first m.blocks blocks another request prefilled */
	want = m.blocks + EXTRA_BLOCKS;
	ntok = want * m.block_tokens;
	tokens = malloc(ntok * sizeof(*tokens));
	h = calloc(want, sizeof(*h));
	b = calloc(want, sizeof(*b));
	if (!tokens || !h || !b)
		goto out;
	for (i = 0; i < ntok; i++)
		tokens[i] = (uint32_t)(i * 2654435761u % 128256);
	n = kvfs_prefix_hashes(ns, tokens, ntok, m.block_tokens, h, want);
	if (n != (long)want) {
		fprintf(stderr, "kvfs_prefix_hashes: %s\n", strerror(n < 0 ? (int)-n : EINVAL));
		goto out;
	}

	rc = kvfs_open(mnt, 0, &kv);
	if (rc) {
		fprintf(stderr, "kvfs_open(%s): %s\n", mnt, strerror(-rc));
		rc = 1;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", mnt, ns);
	if (mkdir(path, 0755) && errno != EEXIST) {
		fprintf(stderr, "mkdir %s: %s\n", path, strerror(errno));
		rc = 1;
		goto out;
	}

	/* 1. lookup + pin: one call for the whole request */
	t0 = now_us();
	hit = kvfs_lookup(kv, ns, h, (size_t)n, b);
	t_lookup = now_us() - t0;
	if (hit >= 0 && (size_t)hit < m.blocks) { /* nobody prefilled it yet: do it now */
		kvfs_unpin(kv, ns, h, (size_t)hit);
		if (store_prefix(kv, ns, h, &m)) {
			rc = 1;
			hit = 0;
			goto out;
		}
		t0 = now_us();
		hit = kvfs_lookup(kv, ns, h, (size_t)n, b);
		t_lookup = now_us() - t0;
	}
	if (hit < 0) {
		fprintf(stderr, "kvfs_lookup: %s\n", strerror((int)-hit));
		rc = 1;
		hit = 0;
		goto out;
	}
	kvfs_hash_name(&h[0], name);
	printf("request of %zu tokens: %ld of %ld blocks cached and pinned in %.0f us "
	       "(first %s/%s at pool offset %llu)\n",
	       ntok, hit, n, t_lookup, ns, name, (unsigned long long)(hit ? b[0].offset : 0));
	rc = (size_t)hit == m.blocks ? 0 : 1;
	if (rc)
		fprintf(stderr, "expected %zu cached blocks\n", m.blocks);

	/* 2. CPU: the pinned blocks are readable in place through our mapping */
	for (i = 0; i < (size_t)hit && !rc; i++)
		if (b[i].length != block_bytes(&m) || check_block(b[i].addr, &h[i], b[i].length)) {
			fprintf(stderr, "block %zu: wrong length or bytes\n", i);
			rc = 1;
		}
	if (!rc)
		printf("CPU: %ld blocks of %llu KiB, every byte checked in place\n", hit,
		       (unsigned long long)(block_bytes(&m) >> 10));

	/* 3. GPU: one load into the paged cache */
	if (!rc && no_gpu)
		printf("SKIP GPU part: --no-gpu\n");
#ifdef KVFS_HAVE_CUDA
	else if (!rc)
		rc = gpu_load(kv, b, (size_t)hit, &m);
#else
	else if (!rc)
		printf("SKIP GPU part: built without CUDA (see the build line at the top)\n");
#endif
out:
	/* 4. release: once the load is done (the stream synchronized), unpin */
	if (kv && hit > 0) {
		int urc = kvfs_unpin(kv, ns, h, (size_t)hit);

		if (urc) {
			fprintf(stderr, "kvfs_unpin: %s\n", strerror(-urc));
			rc = 1;
		} else {
			printf("unpinned %ld blocks\n", hit);
		}
	}
	kvfs_close(kv);
	free(tokens);
	free(h);
	free(b);
	return rc;
}
