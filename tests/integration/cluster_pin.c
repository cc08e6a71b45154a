// SPDX-License-Identifier: MIT
/*
 * cluster_pin.c - for test_cluster_pins.sh: store N blocks of 2 MiB in a
 * namespace through a mount (the leader's), or pin them through another
 * mount (a follower's), print how many it pinned and hold them until
 * killed, checking their first bytes once a second (exit 3 if they change).
 *   cluster_pin store|hold MOUNTPOINT NAMESPACE N
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvfs.h"

#define BLOCK (2u << 20)
#define MAXB  256

int main(int argc, char **argv)
{
	static uint32_t tokens[MAXB * 16];
	static kvfs_hash_t h[MAXB];
	static struct kvfs_block b[MAXB];
	static uint64_t sizes[MAXB];
	char path[4096];
	size_t n, i;
	uint64_t txn;
	kvfs_t *kv;
	long got;
	int rc;

	if (argc != 5 || (n = strtoul(argv[4], NULL, 10)) == 0 || n > MAXB) {
		fprintf(stderr, "usage: cluster_pin store|hold MOUNTPOINT NAMESPACE N (N <= %d)\n",
			MAXB);
		return 2;
	}
	for (i = 0; i < n * 16; i++)
		tokens[i] = (uint32_t)(i * 7 + 1);
	kvfs_prefix_hashes(argv[3], tokens, n * 16, 16, h, n);
	rc = kvfs_open(argv[2], 0, &kv);
	if (rc) {
		fprintf(stderr, "kvfs_open: %s\n", strerror(-rc));
		return 1;
	}
	if (strcmp(argv[1], "store") == 0) {
		snprintf(path, sizeof(path), "%s/%s", argv[2], argv[3]);
		mkdir(path, 0755);
		for (i = 0; i < n; i++)
			sizes[i] = BLOCK;
		rc = kvfs_reserve(kv, argv[3], h, sizes, n, b, &txn);
		for (i = 0; !rc && i < n; i++)
			if (b[i].status == KVFS_BLOCK_RESERVED)
				memset(b[i].addr, (int)(i + 1), BLOCK);
		rc = rc ? rc : kvfs_commit(kv, txn);
		kvfs_close(kv);
		if (rc) {
			fprintf(stderr, "store: %s\n", strerror(-rc));
			return 1;
		}
		printf("stored %zu\n", n);
		return 0;
	}
	got = kvfs_lookup(kv, argv[3], h, n, b);
	printf("pinned %ld\n", got);
	fflush(stdout);
	if (got < 0)
		return 1;
	for (;;) {
		for (i = 0; i < (size_t)got; i++)
			if (((const uint8_t *)b[i].addr)[0] != (uint8_t)(i + 1) ||
			    ((const uint8_t *)b[i].addr)[BLOCK - 1] != (uint8_t)(i + 1)) {
				printf("block %zu changed while pinned\n", i);
				return 3;
			}
		sleep(1);
	}
}
