// SPDX-License-Identifier: MIT
/*
 * coherence.c - flush and invalidate of pool memory for hosts that share it
 * without hardware coherence (see coherence.h). x86-64 uses clwb where the
 * CPU has it (the line stays cached, written back) and clflushopt otherwise
 * for flushes, clflushopt for invalidates, each followed by sfence (flushes)
 * or mfence (invalidates: later loads must not pass the flush). Other
 * architectures fall back to a full fence, enough on coherent memory only.
 */
#include "coherence.h"

#include <stdatomic.h>

#define KV_CACHE_LINE 64u

static bool coherent = true, counting;
static _Atomic uint64_t n_flush, n_inval, n_lines;
bool kv_coh_busy; /* !coherent || counting: the inline helpers call in */

#if defined(__x86_64__)
static bool have_clwb, have_clflushopt;

__attribute__((constructor)) static void probe_cpu(void)
{
	/* leaf 7, ebx: bit 23 clflushopt, bit 24 clwb */
	unsigned a = 7, b = 0, c = 0, d = 0;

	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	have_clflushopt = b & (1u << 23);
	have_clwb = b & (1u << 24);
}

static inline void line_writeback(const char *p)
{
	if (have_clwb)
		__asm__ volatile(".byte 0x66, 0x0f, 0xae, 0x30" ::"a"(p)
				 : "memory"); /* clwb (%rax) */
	else if (have_clflushopt)
		__asm__ volatile(".byte 0x66, 0x0f, 0xae, 0x38" ::"a"(p)
				 : "memory"); /* clflushopt */
	else
		__asm__ volatile("clflush (%0)" ::"r"(p) : "memory");
}

static inline void line_drop(const char *p)
{
	if (have_clflushopt)
		__asm__ volatile(".byte 0x66, 0x0f, 0xae, 0x38" ::"a"(p) : "memory");
	else
		__asm__ volatile("clflush (%0)" ::"r"(p) : "memory");
}
#define store_fence() __asm__ volatile("sfence" ::: "memory")
#define full_fence()  __asm__ volatile("mfence" ::: "memory")
#else
static inline void line_writeback(const char *p)
{
	(void)p;
}
static inline void line_drop(const char *p)
{
	(void)p;
}
#define store_fence() atomic_thread_fence(memory_order_seq_cst)
#define full_fence()  atomic_thread_fence(memory_order_seq_cst)
#endif

void kv_coh_set_coherent(bool on)
{
	coherent = on;
	kv_coh_busy = !coherent || counting;
}

bool kv_coh_coherent(void)
{
	return coherent;
}

static uint64_t for_each_line(const void *addr, size_t len, void (*fn)(const char *))
{
	const char *p = (const char *)((uintptr_t)addr & ~(uintptr_t)(KV_CACHE_LINE - 1));
	const char *end = (const char *)addr + len;
	uint64_t n = 0;

	for (; p < end; p += KV_CACHE_LINE, n++)
		fn(p);
	return n;
}

void kv_coh_flush_slow(const void *addr, size_t len)
{
	if (counting)
		atomic_fetch_add_explicit(&n_flush, 1, memory_order_relaxed);
	if (coherent || !len)
		return;
	atomic_fetch_add_explicit(&n_lines, for_each_line(addr, len, line_writeback),
				  memory_order_relaxed);
	store_fence();
}

void kv_coh_invalidate_slow(const void *addr, size_t len)
{
	if (counting)
		atomic_fetch_add_explicit(&n_inval, 1, memory_order_relaxed);
	if (coherent || !len)
		return;
	atomic_fetch_add_explicit(&n_lines, for_each_line(addr, len, line_drop),
				  memory_order_relaxed);
	full_fence();
}

void kv_coh_counts(struct kv_coh_counts *out)
{
	out->flushes = atomic_load(&n_flush);
	out->invalidates = atomic_load(&n_inval);
	out->lines = atomic_load(&n_lines);
}

void kv_coh_reset_counts(void)
{
	atomic_store(&n_flush, 0);
	atomic_store(&n_inval, 0);
	atomic_store(&n_lines, 0);
	counting = true;
	kv_coh_busy = true;
}
