// SPDX-License-Identifier: MIT
/*
 * gpu_bench.cu - how fast KV blocks move between a kvfs pool and one GPU,
 * against pinned cudaMemcpy measured in the same run.
 *
 * The pool is a MAP_SHARED mapping of a /dev/shm file of a few GiB (no
 * daemon needed), registered with libkvfs_cuda. The device holds a
 * Llama-3-8B-shaped paged KV cache (32 layers, separate K and V tensors,
 * 8 KV heads, head_dim 128, bf16), so a 16-token block is 64 pieces of
 * 32 KiB; 8- and 32-token blocks give 16 and 64 KiB pieces. Every row moves
 * 512 MiB per call, rotating over pool blocks and engine blocks so nothing
 * is served from a cache, and reports the median of several calls as GB/s
 * and as a ratio to the pinned cudaMemcpy limit of its direction.
 * The file rows are what a file-based engine backend does today: read()
 * one block file at a time into a pinned buffer and copy that to the GPU
 * (the later scatter into the paged layout is not counted). --mount DIR
 * repeats them on a kvfs mount. A benchmark, not a test: it prints a table
 * and fails only when something cannot run.
 *
 * Usage: gpu_bench [--device N] [--pool-gib G] [--reps R] [--mount DIR]
 *                  [--files DIR] [--no-tune]
 */
#include <algorithm>
#include <cuda_runtime.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <thread>
#include <time.h>
#include <unistd.h>
#include <vector>

#include "kvfs_cuda.h"

#define MiB	   (1ull << 20)
#define CALL_BYTES (512 * MiB)
#define LAYERS	   32
#define KV_HEADS   8
#define HEAD_DIM   128
#define ELEM	   2
#define DEV_ARENA  (1024 * MiB)
#define FILE_SLOTS 4

#define CK(call)                                                                                   \
	do {                                                                                       \
		cudaError_t e_ = (call);                                                           \
		if (e_ != cudaSuccess)                                                             \
			die("%s:%d: %s: %s", __FILE__, __LINE__, #call, cudaGetErrorString(e_));   \
	} while (0)

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "gpu_bench: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void shuffle(std::vector<int64_t> &v, uint64_t *seed)
{
	for (size_t i = v.size() - 1; i > 0; i--)
		std::swap(v[i], v[splitmix(seed) % (i + 1)]);
}

struct rate {
	double pipe; /* calls back to back: host work overlaps the GPU */
	double one; /* median of single calls: host work included */
};

struct row {
	std::string path, dir, piece;
	rate gbs;
	std::string note;
};

static std::vector<row> g_rows;
static rate g_limit[2]; /* H2D, D2H */
static int g_reps = 7;
static cudaStream_t g_s;
static cudaEvent_t g_ev[2];

static double median(std::vector<double> v)
{
	std::sort(v.begin(), v.end());
	return v[v.size() / 2];
}

/*
 * GB/s of fn(rep), rep 1..g_reps, after a warm-up fn(0): the median of
 * single calls timed alone (events around each, so the host's work before
 * the GPU starts counts), and all calls enqueued back to back (events
 * around the run, so the host prepares call r+1 while the GPU moves call r,
 * as an engine's pipeline does).
 */
template <typename F> static rate time_gpu(uint64_t bytes, F fn)
{
	std::vector<double> ms;
	float t;
	rate out;

	for (int r = 0; r <= g_reps; r++) {
		CK(cudaEventRecord(g_ev[0], g_s));
		fn(r);
		CK(cudaEventRecord(g_ev[1], g_s));
		CK(cudaEventSynchronize(g_ev[1]));
		CK(cudaEventElapsedTime(&t, g_ev[0], g_ev[1]));
		if (r)
			ms.push_back(t);
	}
	out.one = bytes / (median(ms) * 1e6);
	CK(cudaEventRecord(g_ev[0], g_s));
	for (int r = 1; r <= g_reps; r++)
		fn(r);
	CK(cudaEventRecord(g_ev[1], g_s));
	CK(cudaEventSynchronize(g_ev[1]));
	CK(cudaEventElapsedTime(&t, g_ev[0], g_ev[1]));
	out.pipe = (double)bytes * g_reps / (t * 1e6);
	return out;
}

static void add(const char *path, int dir, const char *piece, rate gbs, const char *note = "")
{
	g_rows.push_back({ path, dir ? "store" : "load", piece, gbs, note });
}

/* --- the Llama-3-8B-shaped layout --- */

struct kv_case {
	uint64_t piece; /* bytes: 16, 32 or 64 KiB */
	uint64_t num_blocks; /* engine blocks per tensor */
	uint64_t nblk; /* token blocks per call */
	uint64_t pool_block;
	std::vector<std::vector<kvfs_cuda_piece>> lists; /* one per rep */
};

static kv_case make_case(uint64_t piece, char *arena, uint64_t pool_size, double *helper_us)
{
	kv_case c;
	std::vector<void *> k(LAYERS), v(LAYERS);
	kvfs_cuda_layout lo = {};
	uint64_t seed = piece;

	c.piece = piece;
	c.num_blocks = DEV_ARENA / (2 * LAYERS * piece);
	c.nblk = CALL_BYTES / (2 * LAYERS * piece);
	for (int l = 0; l < LAYERS; l++) {
		k[l] = arena + (2 * l) * c.num_blocks * piece;
		v[l] = arena + (2 * l + 1) * c.num_blocks * piece;
	}
	lo.kind = KVFS_CUDA_LAYOUT_KV_SEPARATE;
	lo.num_layers = LAYERS;
	lo.num_blocks = c.num_blocks;
	lo.block_tokens = (uint32_t)(piece / (KV_HEADS * HEAD_DIM * ELEM));
	lo.kv_heads = KV_HEADS;
	lo.head_dim = HEAD_DIM;
	lo.elem_bytes = ELEM;
	lo.k = k.data();
	lo.v = v.data();
	c.pool_block = kvfs_cuda_layout_block_bytes(&lo);

	uint64_t npool = pool_size / c.pool_block;
	std::vector<int64_t> pool_perm(npool), eng(c.num_blocks);

	for (uint64_t i = 0; i < npool; i++)
		pool_perm[i] = (int64_t)i;
	for (uint64_t i = 0; i < c.num_blocks; i++)
		eng[i] = (int64_t)i;
	shuffle(pool_perm, &seed);
	for (int r = 0; r <= g_reps; r++) {
		std::vector<uint64_t> off(c.nblk);
		std::vector<kvfs_cuda_piece> p(c.nblk * 2 * LAYERS);

		shuffle(eng, &seed);
		for (uint64_t b = 0; b < c.nblk; b++)
			off[b] = pool_perm[(r * c.nblk + b) % npool] * c.pool_block;
		double t0 = now_ms();
		long n = kvfs_cuda_layout_pieces(&lo, eng.data(), off.data(), c.nblk, p.data(),
						 p.size());

		*helper_us = (now_ms() - t0) * 1e3;
		if (n != (long)p.size())
			die("layout_pieces: %ld %s", n, kvfs_cuda_last_error());
		c.lists.push_back(std::move(p));
	}
	return c;
}

/* --- file-backend rows --- */

static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static bool read_all(int fd, char *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

static std::string file_name(const std::string &dir, uint64_t i)
{
	char name[48];

	snprintf(name, sizeof(name), "/%016llx%016llx", 0x6b7666736770ull, (unsigned long long)i);
	return dir + name;
}

/*
 * read(): one file at a time into FILE_SLOTS pinned buffers, each copied to
 * the GPU as soon as it is read. write(): D2H into a pinned buffer, then
 * write() the block file. Wall time over all files; median of reps.
 */
static void file_rows(const char *label, const std::string &dir, const char *pool, char *arena,
		      uint64_t fsize, uint64_t nfiles)
{
	std::vector<char *> slot(FILE_SLOTS);
	std::vector<cudaEvent_t> ev(FILE_SLOTS);
	std::string err;
	char piece[32];

	snprintf(piece, sizeof(piece), "%lluM file", (unsigned long long)(fsize / MiB));
	if (mkdir(dir.c_str(), 0755) && errno != EEXIST)
		err = std::string("mkdir: ") + strerror(errno);
	for (uint64_t i = 0; i < nfiles && err.empty(); i++) {
		int fd = open(file_name(dir, i).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0 || !write_all(fd, pool + i * fsize, fsize))
			err = std::string("create files: ") + strerror(errno);
		if (fd >= 0 && close(fd))
			err = std::string("close: ") + strerror(errno);
	}
	if (!err.empty()) {
		add(label, 0, piece, { 0, 0 }, err.c_str());
		return;
	}
	for (int i = 0; i < FILE_SLOTS; i++) {
		CK(cudaHostAlloc(&slot[i], fsize, cudaHostAllocDefault));
		CK(cudaEventCreateWithFlags(&ev[i], cudaEventDisableTiming));
	}
	for (int dir_i = 0; dir_i < 2 && err.empty(); dir_i++) {
		std::vector<double> ms;

		for (int r = 0; r <= g_reps && err.empty(); r++) {
			double t0 = now_ms();

			for (uint64_t i = 0; i < nfiles && err.empty(); i++) {
				int sl = (int)(i % FILE_SLOTS);
				char *dev = arena + (i * fsize) % DEV_ARENA;
				std::string name = file_name(dir, i);

				CK(cudaEventSynchronize(ev[sl])); /* slot's last copy done */
				if (dir_i == 0) {
					int fd = open(name.c_str(), O_RDONLY);

					if (fd < 0 || !read_all(fd, slot[sl], fsize))
						err = std::string("read: ") + strerror(errno);
					if (fd >= 0)
						close(fd);
					CK(cudaMemcpyAsync(dev, slot[sl], fsize,
							   cudaMemcpyHostToDevice, g_s));
					CK(cudaEventRecord(ev[sl], g_s));
				} else {
					CK(cudaMemcpyAsync(slot[sl], dev, fsize,
							   cudaMemcpyDeviceToHost, g_s));
					CK(cudaEventRecord(ev[sl], g_s));
					CK(cudaEventSynchronize(ev[sl]));
					int fd =
					    open(name.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);

					if (fd < 0 || !write_all(fd, slot[sl], fsize))
						err = std::string("write: ") + strerror(errno);
					if (fd >= 0 && close(fd))
						err = std::string("close: ") + strerror(errno);
				}
			}
			CK(cudaStreamSynchronize(g_s));
			if (r)
				ms.push_back(now_ms() - t0);
		}
		double g = err.empty() ? nfiles * fsize / (median(ms) * 1e6) : 0;

		add(label, dir_i, piece, { g, g },
		    !err.empty() ? err.c_str()
		    : dir_i	 ? "per file: D2H to pinned, then write(); wall time, both columns"
				 : "per file: read() to pinned, then H2D; wall time, both columns");
	}
	for (int i = 0; i < FILE_SLOTS; i++) {
		CK(cudaFreeHost(slot[i]));
		CK(cudaEventDestroy(ev[i]));
	}
	for (uint64_t i = 0; i < nfiles; i++)
		unlink(file_name(dir, i).c_str());
}

/* --- main --- */

static void fill_parallel(char *p, uint64_t len)
{
	unsigned nt = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
	std::vector<std::thread> th;
	uint64_t per = (len / nt) & ~7ull;

	for (unsigned t = 0; t < nt; t++)
		th.emplace_back([=] {
			uint64_t s = t + 1, lo = t * per, hi = t == nt - 1 ? len : lo + per;

			for (uint64_t i = lo; i + 8 <= hi; i += 8) {
				uint64_t v = splitmix(&s);

				memcpy(p + i, &v, 8);
			}
		});
	for (auto &x : th)
		x.join();
}

static void kvfs_move(kvfs_cuda_reg_t *reg, int dir, const std::vector<kvfs_cuda_piece> &p)
{
	int e = dir ? kvfs_cuda_store(reg, p.data(), p.size(), g_s)
		    : kvfs_cuda_load(reg, p.data(), p.size(), g_s);

	if (e)
		die("kvfs transfer: %s", kvfs_cuda_last_error());
}

static const char *choice(uint64_t copy_min, uint64_t piece)
{
	return piece >= copy_min ? "copy engine" : "kernel";
}

int main(int argc, char **argv)
{
	int device = 0, tune = 1;
	uint64_t pool_gib = 4;
	const char *mount = NULL, *files = "/dev/shm/kvfs-gpu-bench-files";

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--device") && i + 1 < argc)
			device = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--pool-gib") && i + 1 < argc)
			pool_gib = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			g_reps = std::max(1, atoi(argv[++i]));
		else if (!strcmp(argv[i], "--mount") && i + 1 < argc)
			mount = argv[++i];
		else if (!strcmp(argv[i], "--files") && i + 1 < argc)
			files = argv[++i];
		else if (!strcmp(argv[i], "--no-tune"))
			tune = 0;
		else
			die("usage: gpu_bench [--device N] [--pool-gib G] [--reps R] [--mount DIR] "
			    "[--files DIR] [--no-tune]");
	}
	int ndev = 0;

	if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
		printf("SKIP: no CUDA GPU\n");
		return 0;
	}
	cudaDeviceProp prop;

	CK(cudaSetDevice(device));
	CK(cudaGetDeviceProperties(&prop, device));
	CK(cudaStreamCreateWithFlags(&g_s, cudaStreamNonBlocking));
	CK(cudaEventCreate(&g_ev[0]));
	CK(cudaEventCreate(&g_ev[1]));

	/* pool: a /dev/shm file, MAP_SHARED, random bytes */
	uint64_t pool_size = pool_gib << 30;
	char path[64];

	snprintf(path, sizeof(path), "/dev/shm/kvfs-gpu-bench-%d.pool", (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);

	if (fd < 0 || ftruncate(fd, (off_t)pool_size))
		die("%s: %s", path, strerror(errno));
	char *pool = (char *)mmap(NULL, pool_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (pool == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	unlink(path);
	double t0 = now_ms();

	fill_parallel(pool, pool_size);
	double fill_ms = now_ms() - t0;
	kvfs_cuda_reg_t *reg;
	struct kvfs_cuda_reg_info info;
	int rc = kvfs_cuda_register(pool, pool_size, 0, &reg);

	if (rc)
		die("register: %s", kvfs_cuda_last_error());
	kvfs_cuda_get_reg_info(reg, &info);

	char *arena, *pinned;

	CK(cudaMalloc(&arena, DEV_ARENA));
	CK(cudaMemset(arena, 0x3c, DEV_ARENA));
	CK(cudaHostAlloc(&pinned, CALL_BYTES, cudaHostAllocDefault));
	memset(pinned, 0x3c, CALL_BYTES);

	kvfs_cuda_method m;

	rc = kvfs_cuda_get_method(reg, device, &m); /* calibrates */
	if (rc)
		die("get_method: %s", kvfs_cuda_last_error());

	/* the limits: one 512 MiB cudaMemcpyAsync, from the registered pool and
	 * from cudaHostAlloc memory; the faster of the two is the limit */
	uint64_t nwin = pool_size / CALL_BYTES;
	rate h2d_pool = time_gpu(CALL_BYTES, [&](int r) {
		CK(cudaMemcpyAsync(arena, pool + (r % nwin) * CALL_BYTES, CALL_BYTES,
				   cudaMemcpyHostToDevice, g_s));
	});
	rate d2h_pool = time_gpu(CALL_BYTES, [&](int r) {
		CK(cudaMemcpyAsync(pool + (r % nwin) * CALL_BYTES, arena, CALL_BYTES,
				   cudaMemcpyDeviceToHost, g_s));
	});
	rate h2d_alloc = time_gpu(CALL_BYTES, [&](int) {
		CK(cudaMemcpyAsync(arena, pinned, CALL_BYTES, cudaMemcpyHostToDevice, g_s));
	});
	rate d2h_alloc = time_gpu(CALL_BYTES, [&](int) {
		CK(cudaMemcpyAsync(pinned, arena, CALL_BYTES, cudaMemcpyDeviceToHost, g_s));
	});
	g_limit[0] = { std::max(h2d_pool.pipe, h2d_alloc.pipe),
		       std::max(h2d_pool.one, h2d_alloc.one) };
	g_limit[1] = { std::max(d2h_pool.pipe, d2h_alloc.pipe),
		       std::max(d2h_pool.one, d2h_alloc.one) };
	add("pinned cudaMemcpy, registered pool", 0, "512M", h2d_pool);
	add("pinned cudaMemcpy, registered pool", 1, "512M", d2h_pool);
	add("pinned cudaMemcpy, cudaHostAlloc", 0, "512M", h2d_alloc);
	add("pinned cudaMemcpy, cudaHostAlloc", 1, "512M", d2h_alloc);

	std::vector<std::string> tune_lines;
	double helper_us[3] = { 0, 0, 0 };
	int ci = 0;

	for (uint64_t piece : { 16 * 1024ull, 32 * 1024ull, 64 * 1024ull }) {
		kv_case c = make_case(piece, arena, pool_size, &helper_us[ci++]);
		char pl[32];
		size_t n = c.lists[0].size();

		snprintf(pl, sizeof(pl), "%lluK", (unsigned long long)(piece >> 10));
		for (int dir = 0; dir < 2; dir++) {
			rate g =
			    time_gpu(CALL_BYTES, [&](int r) { kvfs_move(reg, dir, c.lists[r]); });
			add(dir ? "kvfs_cuda_store" : "kvfs_cuda_load", dir, pl, g,
			    choice(m.copy_min[dir], piece));
		}
		if (tune && piece <= 32 * 1024) {
			for (unsigned u : { 4u, 8u })
				for (unsigned ctas : { 1u, 2u, 4u, 8u, 16u }) {
					kvfs_cuda_method t = m;
					char line[160];

					t.copy_min[0] = t.copy_min[1] = KVFS_CUDA_NEVER;
					t.kernel_unroll = u;
					t.kernel_ctas_per_sm = ctas;
					kvfs_cuda_set_method(reg, device, &t);
					rate g[2];

					for (int dir = 0; dir < 2; dir++)
						g[dir] = time_gpu(CALL_BYTES, [&](int r) {
							kvfs_move(reg, dir, c.lists[r]);
						});
					snprintf(
					    line, sizeof(line),
					    "# tune %s: unroll %u, %2u CTAs/SM: load %.1f GB/s "
					    "(%.3f) one call %.1f, store %.1f GB/s (%.3f) one "
					    "call %.1f",
					    pl, u, ctas, g[0].pipe, g[0].pipe / g_limit[0].pipe,
					    g[0].one, g[1].pipe, g[1].pipe / g_limit[1].pipe,
					    g[1].one);
					tune_lines.push_back(line);
				}
			/* a capped grid (kernel_max_ctas): how few CTAs still fill the link */
			for (unsigned cap : { 8u, 16u, 32u }) {
				kvfs_cuda_method t = m;
				char line[160];
				rate g[2];

				t.copy_min[0] = t.copy_min[1] = KVFS_CUDA_NEVER;
				t.kernel_ctas_per_sm = 1;
				t.kernel_max_ctas = cap;
				kvfs_cuda_set_method(reg, device, &t);
				for (int dir = 0; dir < 2; dir++)
					g[dir] = time_gpu(CALL_BYTES, [&](int r) {
						kvfs_move(reg, dir, c.lists[r]);
					});
				snprintf(line, sizeof(line),
					 "# tune %s: grid capped at %2u CTAs: load %.1f GB/s (%.3f), "
					 "store %.1f GB/s (%.3f)",
					 pl, cap, g[0].pipe, g[0].pipe / g_limit[0].pipe, g[1].pipe,
					 g[1].pipe / g_limit[1].pipe);
				tune_lines.push_back(line);
			}
			kvfs_cuda_set_method(reg, device, &m);
		}
		for (int dir = 0; dir < 2; dir++) {
			rate g = time_gpu(CALL_BYTES, [&](int r) {
				for (auto &q : c.lists[r]) {
					char *h = pool + q.pool_offset;

					if (dir)
						CK(cudaMemcpyAsync(h, q.dev_ptr, q.bytes,
								   cudaMemcpyDeviceToHost, g_s));
					else
						CK(cudaMemcpyAsync(q.dev_ptr, h, q.bytes,
								   cudaMemcpyHostToDevice, g_s));
				}
			});
			add("cudaMemcpyAsync loop", dir, pl, g, "one call per piece");
		}
#if CUDART_VERSION >= 12080
		for (int dir = 0; dir < 2; dir++) {
			std::vector<std::vector<void *>> dsts(c.lists.size()), srcs(c.lists.size());
			std::vector<size_t> sizes(n, piece);

			for (size_t r = 0; r < c.lists.size(); r++)
				for (auto &q : c.lists[r]) {
					void *h = pool + q.pool_offset;

					dsts[r].push_back(dir ? h : q.dev_ptr);
					srcs[r].push_back(dir ? q.dev_ptr : h);
				}
			cudaMemcpyAttributes attr = {};
			size_t attr_idx = 0;
			std::string note = "one call, srcAccessOrder=stream";

			attr.srcAccessOrder = cudaMemcpySrcAccessOrderStream;
			rate g = time_gpu(CALL_BYTES, [&](int r) {
				cudaError_t e;
#if CUDART_VERSION >= 13000
				e = cudaMemcpyBatchAsync(dsts[r].data(),
							 (const void *const *)srcs[r].data(),
							 sizes.data(), n, &attr, &attr_idx, 1, g_s);
#else
				size_t fail_idx;

				e = cudaMemcpyBatchAsync(dsts[r].data(), (const void **)srcs[r].data(),
							 sizes.data(), n, &attr, &attr_idx, 1, &fail_idx,
							 g_s);
#endif
				if (e != cudaSuccess) {
					note = std::string("error: ") + cudaGetErrorString(e);
					(void)cudaGetLastError();
				}
			});
			if (!note.compare(0, 6, "error:"))
				g = { 0, 0 };
			add("cudaMemcpyBatchAsync", dir, pl, g, note.c_str());
		}
#else
		add("cudaMemcpyBatchAsync", 0, pl, { 0, 0 }, "needs CUDA 12.8+");
#endif
	}

	/* file backends: 2 MiB block files (one 16-token Llama-3-8B block) */
	uint64_t fsize = 2 * MiB, nfiles = CALL_BYTES / fsize;

	file_rows("read()/write() block files, tmpfs", files, pool, arena, fsize, nfiles);
	if (mount)
		file_rows("read()/write() block files, kvfs mount",
			  std::string(mount) + "/kvfs-gpu-bench", pool, arena, fsize, nfiles);
	rmdir(files);

	/* the table */
	printf("\n# GPU %d: %s, %d SMs, PCI %04x:%02x:%02x\n", device, prop.name,
	       prop.multiProcessorCount, prop.pciDomainID, prop.pciBusID, prop.pciDeviceID);
	printf("# pool: %llu GiB /dev/shm file, MAP_SHARED (filled in %.0f ms), registered in "
	       "%.0f ms (%u chunks of %llu MiB)\n",
	       (unsigned long long)pool_gib, fill_ms, info.register_ms, info.nchunks,
	       (unsigned long long)(info.chunk_bytes / MiB));
	printf("# calibration (%.0f ms), GB/s kernel/copy engine:", m.calibrate_ms);
	for (int dir = 0; dir < 2; dir++) {
		printf(" %s", dir ? "| store" : "load");
		for (int i = 0; i < KVFS_CUDA_NSIZES; i++)
			printf(" %lluK %.1f/%.1f", (unsigned long long)(m.sizes[i] >> 10),
			       m.kernel_gbs[dir][i], m.copy_gbs[dir][i]);
	}
	printf("\n# layout helper: %.0f / %.0f / %.0f us for one call's piece list (16K/32K/64K)\n",
	       helper_us[0], helper_us[1], helper_us[2]);
	printf("# %llu MiB per call, %d calls after one warm-up. 'b2b': the calls enqueued back "
	       "to back (host work overlaps the GPU); 'one': median of single calls, host work "
	       "included. ratio: over the pinned cudaMemcpy limit of the same direction and "
	       "column (H2D %.1f/%.1f, D2H %.1f/%.1f GB/s)\n",
	       (unsigned long long)(CALL_BYTES / MiB), g_reps, g_limit[0].pipe, g_limit[0].one,
	       g_limit[1].pipe, g_limit[1].one);
	for (auto &l : tune_lines)
		printf("%s\n", l.c_str());
	printf("\n| %-40s | %-5s | %-8s | %8s | %5s | %8s | %5s | %s\n", "path", "dir", "piece",
	       "GB/s b2b", "ratio", "GB/s one", "ratio", "note");
	printf("|%s|%s|%s|%s|%s|%s|%s|%s\n", std::string(42, '-').c_str(),
	       std::string(7, '-').c_str(), std::string(10, '-').c_str(),
	       std::string(10, '-').c_str(), std::string(7, '-').c_str(),
	       std::string(10, '-').c_str(), std::string(7, '-').c_str(), "------");
	for (auto &r : g_rows) {
		const rate &lim = g_limit[r.dir == "store"];

		printf("| %-40s | %-5s | %-8s | %8.1f | %5.3f | %8.1f | %5.3f | %s\n",
		       r.path.c_str(), r.dir.c_str(), r.piece.c_str(), r.gbs.pipe,
		       r.gbs.pipe / lim.pipe, r.gbs.one, r.gbs.one / lim.one, r.note.c_str());
	}

	kvfs_cuda_unregister(reg);
	munmap(pool, pool_size);
	close(fd);
	return 0;
}
