/* SPDX-License-Identifier: MIT */
/*
 * coherence.h - the one set of flush and invalidate helpers for pool memory
 * that other hosts read. CXL 2.0 memory shared by several hosts is not kept
 * coherent by hardware: a store sits in this host's cache until written back,
 * and a load may hit a stale line another host has since changed. So every
 * publication of shared bytes flushes them (clwb, or clflushopt, then sfence),
 * and every read of bytes another host publishes first invalidates them
 * (clflushopt then a fence: the next load misses and goes to memory).
 *
 * On one host (a pool file in /dev/shm, or device-DAX that one host maps) the
 * caches are coherent and the helpers do nothing (one load and a branch,
 * inline): that is the default, `-o coherent=1`. `-o coherent=0` turns the
 * instructions on. Counting, turned on by kv_coh_reset_counts(), lets a
 * unit test assert that a path flushed or invalidated, coherent or not.
 * This file must not know the on-pool format: callers pass addresses.
 */
#ifndef KVFS_MM_COHERENCE_H
#define KVFS_MM_COHERENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kv_coh_counts {
	uint64_t flushes; /* calls of kv_coh_flush() */
	uint64_t invalidates; /* calls of kv_coh_invalidate() */
	uint64_t lines; /* cache lines written back or dropped (0 when coherent) */
};

/**
 * kv_coh_set_coherent() - whether the memory is coherent (one host: no
 * instructions) or not (hosts behind a CXL switch). Process-wide; set once
 * before the pool serves. Return: nothing.
 */
void kv_coh_set_coherent(bool coherent);
/** kv_coh_coherent() - Return: true when the helpers issue no instructions. */
bool kv_coh_coherent(void);
/* the out-of-line halves; call the inline helpers below */
extern bool kv_coh_busy; /* not coherent, or counting */
void kv_coh_flush_slow(const void *addr, size_t len);
void kv_coh_invalidate_slow(const void *addr, size_t len);

/**
 * kv_coh_flush() - make the stores to [@addr, @addr + @len) visible to other
 * hosts: write the lines back, then fence. Lock-free. Return: nothing.
 */
static inline void kv_coh_flush(const void *addr, size_t len)
{
	if (__builtin_expect(kv_coh_busy, 0))
		kv_coh_flush_slow(addr, len);
}

/**
 * kv_coh_invalidate() - drop this host's copies of [@addr, @addr + @len) so
 * the next loads read what other hosts published. Lock-free. Return: nothing.
 */
static inline void kv_coh_invalidate(const void *addr, size_t len)
{
	if (__builtin_expect(kv_coh_busy, 0))
		kv_coh_invalidate_slow(addr, len);
}

/** kv_coh_counts() - the counters since the last reset, into @out. Return: nothing. */
void kv_coh_counts(struct kv_coh_counts *out);
/** kv_coh_reset_counts() - zero the counters and count from now on (tests). Return: nothing. */
void kv_coh_reset_counts(void);

#endif /* KVFS_MM_COHERENCE_H */
