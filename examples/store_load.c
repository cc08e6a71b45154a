// SPDX-License-Identifier: MIT
/*
 * store_load.c - the fast path in one page: hash a token sequence into
 * chained block names, store the blocks with one reserve and one commit,
 * then, from another process (as another engine would), find the longest
 * cached prefix of a longer request in one call, read the blocks in place
 * through the pool mapping, check every byte, and let go.
 *
 *   build/examples/store_load MOUNTPOINT NAMESPACE
 * NAMESPACE must be a directory under the mount (mkdir it first).
 */
#include <kvfs.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BLOCK_TOKENS  16
#define BLOCK_BYTES   (256u << 10) /* stands in for one block's K and V of every layer */
#define STORED_BLOCKS 24

/* What the engine would have computed for block i: here a function of its hash. */
static void fill_block(uint8_t *dst, const kvfs_hash_t *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		dst[i] = (uint8_t)(h->b[i % 16] ^ (i * 131));
}

static int check_block(const uint8_t *src, const kvfs_hash_t *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (src[i] != (uint8_t)(h->b[i % 16] ^ (i * 131)))
			return -1;
	return 0;
}

static int store(const char *mnt, const char *ns, const uint32_t *tokens, size_t ntok)
{
	kvfs_hash_t h[STORED_BLOCKS];
	uint64_t sizes[STORED_BLOCKS], txn;
	struct kvfs_block b[STORED_BLOCKS];
	long n = kvfs_prefix_hashes(ns, tokens, ntok, BLOCK_TOKENS, h, STORED_BLOCKS);
	kvfs_t *kv;
	int rc, i, filled = 0;

	rc = kvfs_open(mnt, 0, &kv);
	if (rc) {
		fprintf(stderr, "kvfs_open(%s): %s\n", mnt, strerror(-rc));
		return 1;
	}
	for (i = 0; i < n; i++)
		sizes[i] = BLOCK_BYTES;
	rc = kvfs_reserve(kv, ns, h, sizes, (size_t)n, b, &txn);
	if (rc) {
		fprintf(stderr, "kvfs_reserve: %s\n", strerror(-rc));
		kvfs_close(kv);
		return 1;
	}
	for (i = 0; i < n; i++)
		if (b[i].status == KVFS_BLOCK_RESERVED) { /* PRESENT: someone stored it already */
			fill_block(b[i].addr, &h[i], BLOCK_BYTES);
			filled++;
		}
	rc = kvfs_commit(kv, txn);
	kvfs_close(kv);
	if (rc) {
		fprintf(stderr, "kvfs_commit: %s\n", strerror(-rc));
		return 1;
	}
	printf("stored %d of %ld blocks (%d were already cached)\n", filled, n, (int)n - filled);
	return 0;
}

static int load(const char *mnt, const char *ns, const uint32_t *tokens, size_t ntok)
{
	size_t max = ntok / BLOCK_TOKENS;
	kvfs_hash_t *h = calloc(max, sizeof(*h));
	struct kvfs_block *b = calloc(max, sizeof(*b));
	long n = kvfs_prefix_hashes(ns, tokens, ntok, BLOCK_TOKENS, h, max), hit, i;
	char name[KVFS_HASH_NAME_LEN + 1];
	kvfs_t *kv;
	int rc;

	rc = kvfs_open(mnt, KVFS_RDONLY, &kv);
	if (rc) {
		fprintf(stderr, "kvfs_open(%s): %s\n", mnt, strerror(-rc));
		return 1;
	}
	hit = kvfs_lookup(kv, ns, h, (size_t)n, b); /* one call: longest cached prefix, pinned */
	if (hit < 0) {
		fprintf(stderr, "kvfs_lookup: %s\n", strerror((int)-hit));
		return 1;
	}
	for (i = 0; i < hit; i++)
		if (b[i].length != BLOCK_BYTES || check_block(b[i].addr, &h[i], BLOCK_BYTES)) {
			fprintf(stderr, "block %ld has wrong bytes\n", i);
			return 1;
		}
	kvfs_hash_name(&h[0], name);
	printf("request of %zu tokens: %ld of %ld blocks cached, bytes verified in place "
	       "(first block %s/%s at pool offset %llu)\n",
	       ntok, hit, n, ns, name, (unsigned long long)b[0].offset);
	kvfs_unpin(kv, ns, h, (size_t)hit);
	kvfs_close(kv);
	free(h);
	free(b);
	return hit == STORED_BLOCKS ? 0 : 1;
}

int main(int argc, char **argv)
{
	size_t ntok = (STORED_BLOCKS + 8) * BLOCK_TOKENS, i;
	uint32_t *tokens = malloc(ntok * sizeof(*tokens));
	int status;
	pid_t pid;

	if (argc != 3) {
		fprintf(stderr, "usage: %s MOUNTPOINT NAMESPACE\n", argv[0]);
		return 2;
	}
	for (i = 0; i < ntok; i++)
		tokens[i] = (uint32_t)(i * 2654435761u % 128256); /* a "prompt" */
	/* engine A prefilled the first STORED_BLOCKS blocks and stores them */
	if (store(argv[1], argv[2], tokens, STORED_BLOCKS * BLOCK_TOKENS))
		return 1;
	/* engine B, another process, gets a longer request with the same prefix */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int rc = load(argv[1], argv[2], tokens, ntok);

		fflush(stdout);
		_exit(rc);
	}
	waitpid(pid, &status, 0);
	free(tokens);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
