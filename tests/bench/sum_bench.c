// SPDX-License-Identifier: MIT
/*
 * sum_bench.c - what a data checksum costs per GiB: kv_data_sum() (the
 * XXH3-64 kvfs stores at the last close of a writer and at commit, and
 * that fsck --data and kv_verify() recompute) over 1 GiB in 2 MiB extents,
 * against a plain memcpy of the same bytes measured in the same run (the
 * price of writing them once). Best of 5 runs each.
 * Usage: sum_bench [MiB]   (default 1024)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 1024, bytes = mib << 20, i;
	uint64_t n = bytes / KV_DATA_ALIGN;
	uint8_t *a = malloc(bytes), *b = malloc(bytes);
	struct kv_extent *ext = malloc(sizeof(*ext) * (n ? n : 1));
	double t, best_sum = 1e9, best_copy = 1e9;
	volatile uint64_t sink = 0;
	int r;

	if (!a || !b || !ext || !n) {
		fprintf(stderr, "sum_bench: need %llu MiB twice\n", (unsigned long long)mib);
		return 1;
	}
	for (i = 0; i < bytes; i++)
		a[i] = (uint8_t)(i * 2654435761u >> 13);
	memset(b, 0, bytes);
	for (i = 0; i < n; i++)
		ext[i] = (struct kv_extent){ i * KV_DATA_ALIGN, KV_DATA_ALIGN };
	for (r = 0; r < 5; r++) {
		uint64_t sum = 0;

		t = now();
		/* kv_data_sum takes at most KV_INLINE_EXTENTS extents: a file per 10 */
		for (i = 0; i < n; i += KV_INLINE_EXTENTS)
			sum ^= kv_data_sum(a, ext + i,
					   n - i < KV_INLINE_EXTENTS ? (unsigned)(n - i)
								     : KV_INLINE_EXTENTS,
					   (n - i < KV_INLINE_EXTENTS ? n - i : KV_INLINE_EXTENTS) *
					       KV_DATA_ALIGN);
		t = now() - t;
		sink ^= sum;
		best_sum = t < best_sum ? t : best_sum;
		t = now();
		memcpy(b, a, bytes);
		t = now() - t;
		sink ^= b[bytes / 2];
		best_copy = t < best_copy ? t : best_copy;
	}
	printf("%-28s %12s %12s %10s\n", "operation", "s per GiB", "GB/s", "vs memcpy");
	printf("%-28s %12.3f %12.2f %10.2f\n", "memcpy (reference)", best_copy * 1024 / mib,
	       bytes / best_copy / 1e9, 1.0);
	printf("%-28s %12.3f %12.2f %10.2f\n", "kv_data_sum (XXH3-64)", best_sum * 1024 / mib,
	       bytes / best_sum / 1e9, best_sum / best_copy);
	free(a);
	free(b);
	free(ext);
	return sink == 42 ? 2 : 0;
}
