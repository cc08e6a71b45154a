// SPDX-License-Identifier: MIT
/*
 * fastpath_check.c - libkvfs against a real mount (run by test_fastpath.sh
 * on a fresh 128 MiB pool): stores publish ordinary files, lookup returns
 * exactly the longest present prefix, pins survive rm and eviction pressure
 * and die with their process, concurrent stores of one prefix publish each
 * block once, bad requests get clear errors and change nothing, and fuzzed
 * ioctl payloads never take the daemon down.
 *   fastpath_check MOUNTPOINT [FUZZ_SECONDS]
 *   fastpath_check MOUNTPOINT fallback   (a daemon that cannot see this process)
 *   fastpath_check MOUNTPOINT stall FILE PID   (FILE on another FUSE mount, served by PID)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kvfs.h"
#include "kvfs_abi.h"

static const char *mnt;
static int passed, failed;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (cond) {                                                                        \
			passed++;                                                                  \
		} else {                                                                           \
			failed++;                                                                  \
			printf("not ok %d: ", __LINE__);                                           \
			printf(__VA_ARGS__);                                                       \
			printf("\n");                                                              \
		}                                                                                  \
	} while (0)

#define BT 16

static void tokens_for(uint32_t *t, size_t n, uint32_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		t[i] = (uint32_t)(i * 2654435761u ^ seed) % 128000;
}

static uint8_t byte_of(const kvfs_hash_t *h, size_t i)
{
	return (uint8_t)(h->b[i % 16] + i * 7 + (i >> 9));
}

static void fill(uint8_t *p, const kvfs_hash_t *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = byte_of(h, i);
}

static int verify(const uint8_t *p, const kvfs_hash_t *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != byte_of(h, i))
			return -1;
	return 0;
}

/* store blocks [first, first+n) of a chain; return committed count or -errno */
static int store(kvfs_t *kv, const char *ns, const kvfs_hash_t *h, size_t n, size_t bytes)
{
	uint64_t *sizes = calloc(n, sizeof(*sizes)), txn;
	struct kvfs_block *b = calloc(n, sizeof(*b));
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		sizes[i] = bytes;
	rc = kvfs_reserve(kv, ns, h, sizes, n, b, &txn);
	if (!rc) {
		for (i = 0; i < n; i++)
			if (b[i].status == KVFS_BLOCK_RESERVED)
				fill(b[i].addr, &h[i], bytes);
		rc = kvfs_commit(kv, txn);
	}
	free(sizes);
	free(b);
	return rc;
}

static void path_of(char *buf, const char *ns, const kvfs_hash_t *h)
{
	char name[KVFS_HASH_NAME_LEN + 1];

	kvfs_hash_name(h, name);
	sprintf(buf, "%s/%s/%s", mnt, ns, name);
}

static long stat_value(const char *key)
{
	char path[512], k[64];
	long v;
	FILE *f;

	snprintf(path, sizeof(path), "%s/.kvfs/stats", mnt);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", k, &v) == 2)
		if (!strcmp(k, key)) {
			fclose(f);
			return v;
		}
	fclose(f);
	return -1;
}

/*
 * Poll a stats counter until it equals @want (up to 10 s): what the daemon
 * does on a release reaches it after the syscall returns. Return: the last value.
 */
static long stat_eventually(const char *key, long want)
{
	long v = stat_value(key);
	int i;

	for (i = 0; i < 500 && v != want; i++) {
		usleep(20000);
		v = stat_value(key);
	}
	return v;
}

static void mkns(const char *ns)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", mnt, ns);
	mkdir(p, 0755);
}

/*
 * A chain of @n blocks of 4 tokens (ids from @seed) in namespace @ns, made
 * if need be, stored as 4 KiB blocks: *@h its hashes, *@b room for as many
 * blocks (the caller frees both).
 */
static void stored_chain(kvfs_t *kv, const char *ns, size_t n, uint32_t seed, kvfs_hash_t **h,
			 struct kvfs_block **b)
{
	uint32_t *t = calloc(n * 4, sizeof(*t));

	*h = calloc(n, sizeof(**h));
	*b = calloc(n, sizeof(**b));
	mkns(ns);
	tokens_for(t, n * 4, seed);
	kvfs_prefix_hashes(ns, t, n * 4, 4, *h, n);
	CHECK(store(kv, ns, *h, n, 4096) == 0, "store %zu blocks in %s", n, ns);
	free(t);
}

/* Blocks stored by the fast path are ordinary files with the right bytes. */
static void test_store_is_files(kvfs_t *kv)
{
	uint32_t t[8 * BT];
	kvfs_hash_t h[8];
	char p[512];
	struct stat st;
	uint8_t *buf = malloc(64 << 10);
	int fd, i, bad = 0;

	mkns("files");
	tokens_for(t, 8 * BT, 1);
	kvfs_prefix_hashes("files", t, 8 * BT, BT, h, 8);
	path_of(p, "files", &h[0]);
	CHECK(stat(p, &st) < 0 && errno == ENOENT,
	      "absent before commit"); /* caches a negative entry */
	CHECK(store(kv, "files", h, 8, 64 << 10) == 0, "store 8 blocks");
	for (i = 0; i < 8; i++) {
		path_of(p, "files", &h[i]);
		fd = open(p, O_RDONLY);
		if (fd < 0 || read(fd, buf, 64 << 10) != 64 << 10 || verify(buf, &h[i], 64 << 10))
			bad++;
		if (fd >= 0)
			close(fd);
	}
	CHECK(bad == 0, "read through the mount: %d blocks wrong or missing", bad);
	CHECK(stat_value("ctl_blocks_committed") >= 8, "stats count commits");
	free(buf);
}

/*
 * KVFS_VERIFY: a lookup checks each block against the checksum stored at
 * its commit. A byte changed through a client's mapping makes the lookup
 * fail with EIO and pin nothing; without the flag the same lookup succeeds
 * (the daemon cannot know); put the byte back and it verifies again.
 */
static void test_verify(kvfs_t *kv)
{
	uint32_t t[6 * BT];
	kvfs_hash_t h[6];
	struct kvfs_block b[6];
	kvfs_t *vk = NULL;
	long long pinned;
	long n;
	uint8_t *p, saved;

	mkns("verify");
	tokens_for(t, 6 * BT, 77);
	kvfs_prefix_hashes("verify", t, 6 * BT, BT, h, 6);
	CHECK(store(kv, "verify", h, 6, 64 << 10) == 0, "store 6 blocks to verify");
	CHECK(stat_eventually("sums_queued", 0) == 0,
	      "the committed blocks' checksums are taken in the background");
	CHECK(kvfs_open(mnt, KVFS_VERIFY, &vk) == 0, "open with KVFS_VERIFY");
	if (!vk)
		return;
	n = kvfs_lookup(vk, "verify", h, 6, b);
	CHECK(n == 6, "a verified lookup of intact blocks finds all 6 (%ld)", n);
	if (n > 0)
		kvfs_unpin(vk, "verify", h, (size_t)n);
	n = kvfs_lookup(kv, "verify", h, 6, b);
	CHECK(n == 6, "plain lookup (%ld)", n);
	if (n != 6)
		goto out;
	p = (uint8_t *)b[3].addr + 1234;
	saved = *p;
	*p ^= 0x5a; /* a client scribbles a pinned block */
	kvfs_unpin(kv, "verify", h, 6);
	pinned = stat_value("pinned_files");
	n = kvfs_lookup(vk, "verify", h, 6, b);
	CHECK(n == -EIO, "a verified lookup over the changed block fails with EIO (%ld)", n);
	CHECK(stat_value("pinned_files") == pinned, "and pins nothing (%lld pinned, %lld before)",
	      (long long)stat_value("pinned_files"), (long long)pinned);
	n = kvfs_lookup(kv, "verify", h, 6, b);
	CHECK(n == 6, "without KVFS_VERIFY the lookup cannot tell (%ld)", n);
	if (n == 6)
		kvfs_unpin(kv, "verify", h, 6);
	*p = saved;
	n = kvfs_lookup(vk, "verify", h, 6, b);
	CHECK(n == 6, "with the byte back it verifies again (%ld)", n);
	if (n > 0)
		kvfs_unpin(vk, "verify", h, (size_t)n);
out:
	kvfs_close(vk);
}

/* Lookup returns exactly the longest present prefix, pinned, with addresses. */
static void test_longest_prefix(kvfs_t *kv)
{
	uint32_t t[16 * BT];
	kvfs_hash_t h[16];
	struct kvfs_block b[16];
	long n;
	int i, bad = 0;

	mkns("prefix");
	tokens_for(t, 16 * BT, 2);
	kvfs_prefix_hashes("prefix", t, 16 * BT, BT, h, 16);
	CHECK(kvfs_lookup(kv, "prefix", h, 16, b) == 0, "nothing cached yet");
	CHECK(store(kv, "prefix", h, 10, 8192) == 0, "store 0..9");
	CHECK(store(kv, "prefix", h + 12, 4, 8192) == 0, "store 12..15");
	n = kvfs_lookup(kv, "prefix", h, 16, b);
	CHECK(n == 10, "longest prefix is 10, got %ld", n);
	for (i = 0; i < n && i < 16; i++)
		if (b[i].status != KVFS_BLOCK_PINNED || b[i].length != 8192 ||
		    verify(b[i].addr, &h[i], 8192))
			bad++;
	CHECK(bad == 0, "pinned blocks readable in place");
	CHECK(kvfs_unpin(kv, "prefix", h, (size_t)n) == 0, "unpin");
	CHECK(kvfs_unpin(kv, "prefix", h, 1) == -EINVAL, "unpin of an unpinned block: EINVAL");
	/* a request longer than one ioctl batch */
	{
		size_t big = 2500;
		kvfs_hash_t *hh = calloc(big, sizeof(*hh));
		struct kvfs_block *bb = calloc(big, sizeof(*bb));
		uint32_t *tt = calloc(big * 4, sizeof(*tt));

		mkns("long");
		tokens_for(tt, big * 4, 3);
		kvfs_prefix_hashes("long", tt, big * 4, 4, hh, big);
		CHECK(store(kv, "long", hh, 2100, 4096) == 0, "store 2100 blocks (5 ioctls)");
		n = kvfs_lookup(kv, "long", hh, big, bb);
		CHECK(n == 2100, "batched lookup finds 2100, got %ld", n);
		CHECK(n > 0 && verify(bb[n - 1].addr, &hh[n - 1], 4096) == 0, "last block's bytes");
		kvfs_unpin(kv, "long", hh, n > 0 ? (size_t)n : 0);
		/* an engine's handle pins and unpins the same prefix again and again */
		{
			long held0 = stat_value("held_files"), again = 0;
			int r;

			for (r = 0; r < 40; r++) {
				again += kvfs_lookup(kv, "long", hh, 2100, bb) == 2100;
				CHECK(kvfs_unpin(kv, "long", hh, 2100) == 0, "unpin round %d", r);
			}
			CHECK(again == 40, "40 rounds of lookup+unpin found all 2100 (%ld)", again);
			CHECK(stat_value("held_files") == held0, "and left nothing held");
			CHECK(kvfs_unpin(kv, "long", hh, 1) == -EINVAL,
			      "one unpin too many: EINVAL");
		}
		free(hh);
		free(bb);
		free(tt);
	}
}

/* A raw LOOKUPV or UNPINV on @kv's ctl file. Return: 0 or -errno; *count: h.count after. */
static int vec_raw(unsigned long cmd, const char *ns, uint64_t hashes, uint64_t ext, uint32_t n,
		   uint64_t reserved, uint32_t *count)
{
	struct kvfs_ioc_vec io;
	char path[512];
	int fd, rc;

	memset(&io, 0, sizeof(io));
	io.h.abi = KVFS_ABI_VERSION;
	io.h.count = n;
	strcpy(io.h.ns, ns);
	io.hashes = hashes;
	io.ext = ext;
	io.reserved[1] = reserved;
	snprintf(path, sizeof(path), "%s/.kvfs/ctl", mnt);
	fd = open(path, O_RDWR);
	if (fd < 0)
		return -errno;
	rc = ioctl(fd, cmd, &io) < 0 ? -errno : 0;
	if (count)
		*count = io.h.count;
	/* nothing may stay pinned by a failed call: UNPIN of the first block says so (-EBUSY) */
	if (rc && rc != -EAGAIN && cmd == KVFS_IOC_LOOKUPV && hashes > 4096) {
		struct kvfs_ioc_unpin *u = calloc(1, sizeof(*u));

		u->h = io.h;
		u->h.count = 1;
		memcpy(u->hash[0], (const void *)(uintptr_t)hashes, 16);
		if (ioctl(fd, KVFS_IOC_UNPIN, u) == 0)
			rc = -EBUSY; /* it was pinned: the failure kept a pin */
		free(u);
	}
	close(fd);
	return rc;
}

/*
 * A lookup or unpin of any length is one call (LOOKUPV, UNPINV): the same
 * answers as the batches of 1,000 (KVFS_NO_VECTOR), all or nothing, and bad
 * addresses or fields refused. Uses test_longest_prefix's "long" chain.
 */
static void test_vector(kvfs_t *kv)
{
	size_t big = 2500, i;
	kvfs_hash_t *hh = calloc(big, sizeof(*hh));
	struct kvfs_block *bv = calloc(big, sizeof(*bv)), *bb = calloc(big, sizeof(*bb));
	uint32_t *tt = calloc(big * 4, sizeof(*tt)), cnt = 0;
	uint64_t *pairs = calloc(big, 16);
	char path[1024];
	kvfs_t *kb = NULL;
	long calls, nv, nb;
	int same = 1, rc;

	tokens_for(tt, big * 4, 3);
	kvfs_prefix_hashes("long", tt, big * 4, 4, hh, big);
	calls = stat_value("ctl_lookups");
	nv = kvfs_lookup(kv, "long", hh, big, bv);
	CHECK(nv == 2100 && stat_value("ctl_lookups") == calls + 1,
	      "2,500 hashes, 2,100 present: %ld found in %ld call(s), want 2100 in 1", nv,
	      stat_value("ctl_lookups") - calls);
	{ /* the index's share is counted, and is a share */
		long in_index = stat_value("ctl_index_us"), in_lookups = stat_value("ctl_lookup_us");

		CHECK(in_index >= 0 && in_lookups >= in_index,
		      "stats: ctl_index_us %ld of ctl_lookup_us %ld", in_index, in_lookups);
	}
	setenv("KVFS_NO_VECTOR", "1", 1);
	CHECK(kvfs_open(mnt, 0, &kb) == 0, "a handle that uses the batches of 1,000 only");
	unsetenv("KVFS_NO_VECTOR");
	if (!kb)
		goto out;
	calls = stat_value("ctl_lookups");
	nb = kvfs_lookup(kb, "long", hh, big, bb);
	CHECK(nb == 2100 && stat_value("ctl_lookups") == calls + 3,
	      "the batches: %ld found in %ld calls, want 2100 in 3", nb,
	      stat_value("ctl_lookups") - calls);
	for (i = 0; nv == nb && i < (size_t)(nv > 0 ? nv : 0); i++)
		same &= bv[i].offset == bb[i].offset && bv[i].length == bb[i].length &&
			bv[i].status == KVFS_BLOCK_PINNED;
	CHECK(same && nv == nb, "both say the same extents for every block");
	CHECK(nv > 0 && verify(bv[nv - 1].addr, &hh[nv - 1], 4096) == 0, "the last block's bytes");
	CHECK(kvfs_unpin(kb, "long", hh, nb > 0 ? (size_t)nb : 0) == 0, "unpin by batches");
	CHECK(kvfs_unpin(kv, "long", hh, nv > 0 ? (size_t)nv : 0) == 0, "unpin in one call");
	CHECK(kvfs_unpin(kv, "long", hh, 1) == -EINVAL, "one unpin too many: EINVAL");
	/* a prefix that ends in the second batch of 1,000: both stop at the same block */
	path_of(path, "long", &hh[1500]);
	CHECK(unlink(path) == 0, "remove block 1500");
	nv = kvfs_lookup(kv, "long", hh, big, bv);
	nb = kvfs_lookup(kb, "long", hh, big, bb);
	CHECK(nv == 1500 && nb == 1500, "the prefix ends at 1500: one call %ld, batches %ld", nv,
	      nb);
	kvfs_unpin(kv, "long", hh, nv > 0 ? (size_t)nv : 0);
	kvfs_unpin(kb, "long", hh, nb > 0 ? (size_t)nb : 0);
	/* bad addresses and fields: refused, nothing pinned */
	rc = vec_raw(KVFS_IOC_LOOKUPV, "long", 4096, (uint64_t)(uintptr_t)pairs, 100, 0, &cnt);
	CHECK(rc == -EFAULT, "hashes at an unmapped address: EFAULT (%d)", rc);
	rc = vec_raw(KVFS_IOC_LOOKUPV, "long", (uint64_t)(uintptr_t)hh, 8192, 100, 0, &cnt);
	CHECK(rc == -EFAULT, "room for the answer unmapped: EFAULT, nothing pinned (%d)", rc);
	{ /* room for 1,024 of the 1,500 pairs: the copy stops partway */
		uint8_t *room =
		    mmap(NULL, 32768, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		munmap(room + 16384, 16384);
		rc = vec_raw(KVFS_IOC_LOOKUPV, "long", (uint64_t)(uintptr_t)hh,
			     (uint64_t)(uintptr_t)room, (uint32_t)big, 0, &cnt);
		CHECK(rc == -EFAULT,
		      "room for the answer ends partway: EFAULT, nothing pinned (%d)", rc);
		munmap(room, 16384);
	}
	rc = vec_raw(KVFS_IOC_LOOKUPV, "long", (uint64_t)(uintptr_t)hh, (uint64_t)(uintptr_t)pairs,
		     100, 0, &cnt);
	CHECK(rc == 0 && cnt == 100 && pairs[0] == bv[0].offset,
	      "a good raw call: 100 found at the same extents (%d, %u)", rc, cnt);
	rc = vec_raw(KVFS_IOC_LOOKUPV, "long", (uint64_t)(uintptr_t)hh, (uint64_t)(uintptr_t)pairs,
		     100, 1, &cnt);
	CHECK(rc == -EINVAL, "a reserved field set: EINVAL (%d)", rc);
	rc = vec_raw(KVFS_IOC_LOOKUPV, "long", (uint64_t)(uintptr_t)hh, (uint64_t)(uintptr_t)pairs,
		     0, 0, &cnt);
	CHECK(rc == -EINVAL, "no blocks: EINVAL (%d)", rc);
	rc = vec_raw(KVFS_IOC_LOOKUPV, "long", (uint64_t)(uintptr_t)hh, (uint64_t)(uintptr_t)pairs,
		     KVFS_IOC_VEC_MAX + 1, 0, &cnt);
	CHECK(rc == -EINVAL, "more than KVFS_IOC_VEC_MAX: EINVAL (%d)", rc);
	rc = vec_raw(KVFS_IOC_UNPINV, "long", (uint64_t)(uintptr_t)hh, (uint64_t)(uintptr_t)pairs,
		     1, 0, &cnt);
	CHECK(rc == -EINVAL, "UNPINV with an answer address: EINVAL (%d)", rc);
	rc = vec_raw(KVFS_IOC_UNPINV, "long", 4096, 0, 1, 0, &cnt);
	CHECK(rc == -EFAULT, "UNPINV of hashes at an unmapped address: EFAULT (%d)", rc);
	rc = vec_raw(KVFS_IOC_UNPINV, "nosuch", (uint64_t)(uintptr_t)hh, 0, 1, 0, &cnt);
	CHECK(rc == -ENOENT, "UNPINV in a missing namespace: ENOENT (%d)", rc);
out:
	kvfs_close(kb);
	free(pairs);
	free(tt);
	free(bb);
	free(bv);
	free(hh);
}

/*
 * KVFS_VERIFY over one call of many batches: a block changed in the second
 * batch fails the whole call with EIO and leaves nothing pinned, the first
 * batch's pins included.
 */
static void test_vector_verify(kvfs_t *kv)
{
	size_t n = 1500;
	struct kvfs_block *b;
	long calls, pinned, got;
	kvfs_t *vk = NULL;
	uint8_t *p, saved;
	kvfs_hash_t *h;

	stored_chain(kv, "vverify", n, 21, &h, &b);
	CHECK(stat_eventually("sums_queued", 0) == 0, "their checksums taken");
	CHECK(kvfs_open(mnt, KVFS_VERIFY, &vk) == 0, "open with KVFS_VERIFY");
	if (!vk)
		goto out;
	calls = stat_value("ctl_lookups");
	got = kvfs_lookup(vk, "vverify", h, n, b);
	CHECK(got == (long)n && stat_value("ctl_lookups") == calls + 1,
	      "verified, all 1,500 in one call (%ld)", got);
	kvfs_unpin(vk, "vverify", h, got > 0 ? (size_t)got : 0);
	got = kvfs_lookup(kv, "vverify", h, n, b);
	CHECK(got == (long)n, "plain lookup (%ld)", got);
	if (got != (long)n)
		goto out;
	p = (uint8_t *)b[1200].addr + 99;
	saved = *p;
	*p ^= 0x81; /* block 1,200: in the second batch of 1,000 */
	kvfs_unpin(kv, "vverify", h, n);
	pinned = stat_value("pinned_files");
	got = kvfs_lookup(vk, "vverify", h, n, b);
	CHECK(got == -EIO, "a verified lookup over the changed block: EIO (%ld)", got);
	CHECK(stat_value("pinned_files") == pinned, "nothing left pinned (%ld, %ld before)",
	      stat_value("pinned_files"), pinned);
	*p = saved;
	got = kvfs_lookup(vk, "vverify", h, n, b);
	CHECK(got == (long)n, "with the byte back, all verify again (%ld)", got);
	if (got > 0)
		kvfs_unpin(vk, "vverify", h, (size_t)got);
out:
	kvfs_close(vk);
	free(b);
	free(h);
}

/* Pins hold through rm; pins die with their process. */
static void test_pins(kvfs_t *kv)
{
	uint32_t t[4 * BT];
	kvfs_hash_t h[4];
	struct kvfs_block b[4];
	char p[512];
	int pipefd[2], status;
	pid_t pid;
	long held0;

	mkns("pins");
	tokens_for(t, 4 * BT, 4);
	kvfs_prefix_hashes("pins", t, 4 * BT, BT, h, 4);
	CHECK(store(kv, "pins", h, 4, 1 << 20) == 0, "store");
	CHECK(kvfs_lookup(kv, "pins", h, 4, b) == 4, "pin 4");
	path_of(p, "pins", &h[0]);
	CHECK(unlink(p) == 0, "rm a pinned block");
	CHECK(access(p, F_OK) < 0, "its name is gone");
	CHECK(verify(b[0].addr, &h[0], 1 << 20) == 0, "its bytes stay readable while pinned");
	CHECK(stat_value("pinned_files") >= 4, "pinned_files counts it");
	kvfs_unpin(kv, "pins", h, 4);
	held0 = stat_value("held_files");
	/* a child pins, then dies by SIGKILL: the daemon sees the handle go */
	CHECK(pipe(pipefd) == 0, "pipe");
	pid = fork();
	if (pid == 0) {
		kvfs_t *c;

		if (kvfs_open(mnt, KVFS_RDONLY, &c) || kvfs_lookup(c, "pins", h + 1, 3, b) != 3)
			_exit(1);
		if (write(pipefd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	{
		char x;

		CHECK(read(pipefd[0], &x, 1) == 1, "child pinned");
	}
	CHECK(stat_value("held_files") >= held0 + 3, "child's pins held");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	{
		long held = stat_eventually("held_files", held0);

		CHECK(held == held0, "pins released when the process died (%ld vs %ld)", held,
		      held0);
	}
	close(pipefd[0]);
	close(pipefd[1]);
}

/* Under eviction pressure pinned blocks stay; unpinned ones may go. */
static void test_eviction_pressure(kvfs_t *kv)
{
	uint32_t t[4 * BT];
	kvfs_hash_t h[4];
	struct kvfs_block b[4];
	char p[512];
	uint8_t *junk = calloc(1, 4 << 20);
	long ev0 = stat_value("evictions");
	int i, fd;

	mkns("press");
	tokens_for(t, 4 * BT, 5);
	kvfs_prefix_hashes("press", t, 4 * BT, BT, h, 4);
	CHECK(store(kv, "press", h, 4, 2 << 20) == 0, "store");
	CHECK(kvfs_lookup(kv, "press", h, 2, b) == 2, "pin the first 2");
	mkns("junk");
	for (i = 0; i < 48; i++) { /* 192 MiB through a 128 MiB pool */
		snprintf(p, sizeof(p), "%s/junk/%d", mnt, i);
		fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		CHECK(fd >= 0 && write(fd, junk, 4 << 20) == 4 << 20, "write junk %d", i);
		if (fd >= 0)
			close(fd);
	}
	CHECK(stat_value("evictions") > ev0, "the pool evicted");
	for (i = 0; i < 2; i++) {
		path_of(p, "press", &h[i]);
		CHECK(access(p, F_OK) == 0, "pinned block %d survived", i);
		CHECK(verify(b[i].addr, &h[i], 2 << 20) == 0, "pinned block %d bytes", i);
	}
	kvfs_unpin(kv, "press", h, 2);
	free(junk);
}

/* Which of @n chain blocks are listed in @ns (readdir: it does not touch recency). */
static void listed(const char *ns, const kvfs_hash_t *h, int n, int *present)
{
	char dir[512], name[KVFS_HASH_NAME_LEN + 1];
	struct dirent *e;
	DIR *d;
	int i;

	for (i = 0; i < n; i++)
		present[i] = 0;
	snprintf(dir, sizeof(dir), "%s/%s", mnt, ns);
	d = opendir(dir);
	while (d && (e = readdir(d)))
		for (i = 0; i < n; i++) {
			kvfs_hash_name(&h[i], name);
			if (!strcmp(e->d_name, name))
				present[i] = 1;
		}
	if (d)
		closedir(d);
}

/* Eviction takes a stored chain from its tail: the present blocks stay a prefix. */
static void test_chain_evicted_from_tail(kvfs_t *kv)
{
	uint32_t t[8 * BT];
	kvfs_hash_t h[8];
	char p[512];
	uint8_t *junk = calloc(1, 4 << 20);
	int i, fd, present[8], prefix_ok = 1, seen_gap = 0;

	mkns("chain");
	tokens_for(t, 8 * BT, 8);
	kvfs_prefix_hashes("chain", t, 8 * BT, BT, h, 8);
	CHECK(store(kv, "chain", h, 8, 2 << 20) == 0, "store a chain of 8");
	mkns("junk2");
	for (i = 0; i < 64; i++) { /* newer files until the chain's tail is evicted */
		listed("chain", h, 8, present);
		if (!present[7])
			break;
		snprintf(p, sizeof(p), "%s/junk2/%d", mnt, i);
		fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (fd >= 0) {
			if (write(fd, junk, 4 << 20) != 4 << 20)
				break;
			close(fd);
		}
	}
	listed("chain", h, 8, present);
	for (i = 0; i < 8; i++) {
		if (!present[i])
			seen_gap = 1;
		else if (seen_gap)
			prefix_ok = 0;
	}
	CHECK(!present[7], "the tail was evicted");
	CHECK(present[0], "the head outlived the tail");
	CHECK(prefix_ok, "what is left of the chain is a prefix");
	free(junk);
}

/* Several processes store the same prefix at once: each block once, right bytes. */
static void test_concurrent_stores(void)
{
	uint32_t t[64 * BT];
	kvfs_hash_t h[64];
	struct kvfs_block b[64];
	kvfs_t *kv;
	int i, status, ok = 1;
	long n;

	mkns("race");
	tokens_for(t, 64 * BT, 6);
	kvfs_prefix_hashes("race", t, 64 * BT, BT, h, 64);
	for (i = 0; i < 4; i++)
		if (fork() == 0) {
			kvfs_t *c;

			if (kvfs_open(mnt, 0, &c))
				_exit(1);
			_exit(store(c, "race", h, 64, 32 << 10) == 0 ? 0 : 1);
		}
	for (i = 0; i < 4; i++) {
		wait(&status);
		ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	CHECK(ok, "all four stores succeeded");
	kvfs_open(mnt, 0, &kv);
	n = kvfs_lookup(kv, "race", h, 64, b);
	CHECK(n == 64, "all 64 present, got %ld", n);
	for (i = 0; i < n; i++)
		if (verify(b[i].addr, &h[i], 32 << 10))
			ok = 0;
	CHECK(ok, "bytes correct");
	{
		char p[512];
		int count = 0;
		FILE *f;

		snprintf(p, sizeof(p), "ls %s/race | wc -l", mnt);
		f = popen(p, "r");
		if (f && fscanf(f, "%d", &count) == 1)
			pclose(f);
		CHECK(count == 64, "one file per block: %d", count);
	}
	kvfs_close(kv);
}

/* Bad input: clear errors, nothing published. */
static void test_bad_input(kvfs_t *kv)
{
	uint32_t t[4 * BT];
	kvfs_hash_t h[4];
	struct kvfs_block b[4];
	uint64_t sizes[4] = { 4096, 4096, 0, 4096 }, txn = 0;
	kvfs_t *ro;
	long files0 = stat_value("files");

	mkns("bad");
	tokens_for(t, 4 * BT, 7);
	kvfs_prefix_hashes("bad", t, 4 * BT, BT, h, 4);
	CHECK(kvfs_lookup(kv, "nosuch", h, 4, b) == -ENOENT, "missing namespace: ENOENT");
	CHECK(kvfs_lookup(kv, "..", h, 4, b) == -EINVAL, "'..': EINVAL");
	CHECK(kvfs_lookup(kv, "a/b", h, 4, b) == -EINVAL, "'a/b': EINVAL");
	CHECK(kvfs_lookup(kv, "", h, 4, b) == -EINVAL, "empty: EINVAL");
	CHECK(kvfs_lookup(kv, ".kvfs", h, 4, b) == -EINVAL, ".kvfs: EINVAL");
	CHECK(kvfs_lookup(kv, "bad", h, 0, b) == 0, "n = 0 finds nothing");
	CHECK(kvfs_reserve(kv, "bad", h, sizes, 4, b, &txn) == -EINVAL, "a zero size: EINVAL");
	sizes[2] = 1ull << 50;
	CHECK(kvfs_reserve(kv, "bad", h, sizes, 4, b, &txn) == -EINVAL, "a huge size: EINVAL");
	CHECK(kvfs_commit(kv, 12345) == -ENOENT, "commit of a txn never reserved: ENOENT");
	CHECK(kvfs_abort(kv, 12345) == -ENOENT, "abort of a txn never reserved: ENOENT");
	CHECK(kvfs_open(mnt, KVFS_RDONLY, &ro) == 0, "read-only handle");
	sizes[2] = 4096;
	CHECK(kvfs_reserve(ro, "bad", h, sizes, 4, b, &txn) == -EROFS, "store on read-only: EROFS");
	kvfs_close(ro);
	CHECK(kvfs_open("/tmp", 0, &ro) == -ENOENT, "not a kvfs mount: ENOENT");
	/* reserve then abort: nothing published, space back */
	{
		long used0 = stat_value("used_bytes");

		CHECK(kvfs_reserve(kv, "bad", h, sizes, 4, b, &txn) == 0, "reserve");
		CHECK(b[0].status == KVFS_BLOCK_RESERVED && b[0].addr, "reserved");
		CHECK(((uint8_t *)b[0].addr)[100] == 0, "reserved extent reads zero");
		CHECK(kvfs_abort(kv, txn) == 0, "abort");
		CHECK(kvfs_commit(kv, txn) == -ENOENT, "commit after abort: ENOENT");
		CHECK(stat_value("used_bytes") == used0, "space returned");
	}
	CHECK(stat_value("files") == files0, "no file published by bad requests");
	/* a closed handle's reservations vanish */
	{
		kvfs_t *c;

		kvfs_open(mnt, 0, &c);
		CHECK(kvfs_reserve(c, "bad", h, sizes, 4, b, &txn) == 0, "reserve, then close");
		kvfs_close(c);
		CHECK(stat_value("files") == files0, "nothing published by a closed handle");
	}
}

/* Reservations read as zeros even where a freed block left bytes; KVFS_NOZERO skips that. */
static void test_zeroing(void)
{
	uint32_t t[4 * BT];
	kvfs_hash_t h[4];
	struct kvfs_block b[4], c[4];
	uint64_t sizes[4] = { 1 << 20, 1 << 20, 1 << 20, 1 << 20 }, txn;
	kvfs_t *dirty, *clean;
	int i, reused = 0, nonzero = 0;
	size_t k;

	mkns("zero");
	tokens_for(t, 4 * BT, 9);
	kvfs_prefix_hashes("zero", t, 4 * BT, BT, h, 4);
	CHECK(kvfs_open(mnt, KVFS_NOZERO, &dirty) == 0, "open with KVFS_NOZERO");
	CHECK(kvfs_open(mnt, 0, &clean) == 0, "open");
	CHECK(kvfs_reserve(dirty, "zero", h, sizes, 4, b, &txn) == 0, "reserve without zeroing");
	for (i = 0; i < 4; i++)
		memset(b[i].addr, 0xab, 1 << 20);
	CHECK(kvfs_abort(dirty, txn) == 0, "abort: the dirtied extents are free again");
	CHECK(kvfs_reserve(clean, "zero", h, sizes, 4, c, &txn) == 0, "reserve");
	for (i = 0; i < 4; i++) {
		int j;

		for (j = 0; j < 4; j++) /* does reservation i overlap dirtied extent j? */
			reused += c[i].offset < b[j].offset + b[j].length &&
				  b[j].offset < c[i].offset + c[i].length;
		for (k = 0; k < (1 << 20); k++)
			nonzero += ((uint8_t *)c[i].addr)[k] != 0;
	}
	CHECK(reused > 0, "the allocator handed the freed extents out again (%d of 4)", reused);
	CHECK(nonzero == 0, "a reservation shows none of the freed block's bytes (%d non-zero)",
	      nonzero);
	CHECK(kvfs_abort(clean, txn) == 0, "abort");
	/* KVFS_NOZERO stores still publish what the caller wrote */
	CHECK(store(dirty, "zero", h, 4, 1 << 20) == 0, "store through a KVFS_NOZERO handle");
	CHECK(kvfs_lookup(clean, "zero", h, 4, c) == 4, "found");
	for (i = 0; i < 4; i++)
		CHECK(verify(c[i].addr, &h[i], 1 << 20) == 0, "block %d bytes", i);
	kvfs_unpin(clean, "zero", h, 4);
	kvfs_close(dirty);
	kvfs_close(clean);
}

/* Raw ioctls with random payloads: errors, never a crash. */
static void test_fuzz(int seconds)
{
	static const unsigned long cmds[] = { KVFS_IOC_LOOKUP,	KVFS_IOC_UNPIN,
					      KVFS_IOC_RESERVE, KVFS_IOC_COMMIT,
					      KVFS_IOC_ABORT,	_IOWR('K', 9, struct kvfs_ioc_txn),
					      KVFS_IOC_LOOKUPV, KVFS_IOC_UNPINV };
	char path[512];
	uint8_t *buf = malloc(1 << 14);
	time_t end = time(NULL) + seconds;
	unsigned seed = 1234;
	long calls = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/.kvfs/ctl", mnt);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0, "open ctl");
	while (time(NULL) < end) {
		unsigned long cmd = cmds[rand_r(&seed) % 8];
		struct kvfs_ioc_head *h = (void *)buf;
		size_t i;

		for (i = 0; i < (1 << 14); i++)
			buf[i] = (uint8_t)rand_r(&seed);
		/* half the time make the head plausible so deeper code runs */
		if (rand_r(&seed) % 2) {
			h->abi = KVFS_ABI_VERSION;
			h->count = (uint32_t)(rand_r(&seed) % 1200);
			h->txn = rand_r(&seed) % 4;
			strcpy(h->ns, rand_r(&seed) % 2 ? "bad" : "files");
		}
		ioctl(fd, cmd, buf);
		calls++;
		if (calls % 200 == 0) { /* reopen: drops what the fuzz pinned or reserved */
			close(fd);
			fd = open(path, O_RDWR);
		}
	}
	close(fd);
	CHECK(stat_value("files") >= 0, "daemon alive after %ld fuzzed ioctls", calls);
	free(buf);
}

/*
 * A daemon that cannot reach this process's memory (its PID namespace does
 * not see us): LOOKUPV and UNPINV answer EOPNOTSUPP, and libkvfs falls back
 * to the batches of 1,000 with the same answers.
 */
static void test_fallback(kvfs_t *kv)
{
	size_t n = 2100;
	uint64_t *pairs = calloc(n, 16);
	struct kvfs_block *b;
	long calls, got;
	kvfs_hash_t *h;
	int rc;

	stored_chain(kv, "fb", n, 11, &h, &b);
	rc = vec_raw(KVFS_IOC_LOOKUPV, "fb", (uint64_t)(uintptr_t)h, (uint64_t)(uintptr_t)pairs,
		     (uint32_t)n, 0, NULL);
	CHECK(rc == -EOPNOTSUPP, "LOOKUPV from a process the daemon cannot see: EOPNOTSUPP (%d)",
	      rc);
	rc = vec_raw(KVFS_IOC_UNPINV, "fb", (uint64_t)(uintptr_t)h, 0, 1, 0, NULL);
	CHECK(rc == -EOPNOTSUPP, "UNPINV too (%d)", rc);
	got = kvfs_lookup(kv, "fb", h, n, b);
	CHECK(got == (long)n, "kvfs_lookup falls back and finds all 2,100 (%ld)", got);
	CHECK(got > 0 && verify(b[got - 1].addr, &h[got - 1], 4096) == 0, "the last block's bytes");
	CHECK(kvfs_unpin(kv, "fb", h, n) == 0, "unpin by batches");
	calls = stat_value("ctl_lookups");
	got = kvfs_lookup(kv, "fb", h, n, b);
	CHECK(got == (long)n && stat_value("ctl_lookups") == calls + 3,
	      "and keeps to the batches: %ld found in %ld calls, want 3", got,
	      stat_value("ctl_lookups") - calls);
	CHECK(kvfs_unpin(kv, "fb", h, n) == 0, "unpin");
	CHECK(kvfs_unpin(kv, "fb", h, 1) == -EINVAL, "one unpin too many: EINVAL");
	free(pairs);
	free(b);
	free(h);
}

struct stall_call {
	pthread_t t;
	uint64_t hashes;
	_Atomic int done;
	int rc;
};

static void *stall_thread(void *arg)
{
	struct stall_call *sc = arg;
	static uint64_t pairs[100][2];

	sc->rc = vec_raw(KVFS_IOC_LOOKUPV, "stall", sc->hashes, (uint64_t)(uintptr_t)pairs, 100, 0,
			 NULL);
	atomic_store(&sc->done, 1);
	return NULL;
}

/* Is every thread of @pid stopped (state T in /proc)? */
static int all_stopped(pid_t pid)
{
	char dir[64], sp[400], line[256], state;
	struct dirent *e;
	int n = 0, stopped = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(sp, sizeof(sp), "%s/%s/status", dir, e->d_name);
		f = fopen(sp, "r");
		state = '?';
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "State: %c", &state) == 1)
				break;
		if (f)
			fclose(f);
		n++;
		stopped += state == 'T' || state == 't';
	}
	closedir(d);
	return n > 0 && stopped == n;
}

/*
 * Hashes on pages of a file whose FUSE daemon (@stopped_pid, stopped here)
 * does not answer: a worker copying them waits as long as it does. Three
 * such calls: at most a quarter of the 8 workers may be in one (2), so the
 * third is answered EAGAIN at once, the mount serves everyone meanwhile
 * (kvfs_lookup then goes by value), and the two finish when it answers.
 */
static void test_stall(const char *stuck_file, pid_t stopped_pid)
{
	enum { CALLS = 3 };
	struct stall_call sc[CALLS];
	size_t n = 2100, i;
	struct kvfs_block *bb;
	kvfs_hash_t *hh;
	int fd = open(stuck_file, O_RDONLY), waited, finished = 0, eagain = 0;
	uint8_t *map = fd < 0 ? MAP_FAILED : mmap(NULL, CALLS << 16, PROT_READ, MAP_SHARED, fd, 0);
	struct stat st;
	kvfs_t *kv;
	long got;

	CHECK(map != MAP_FAILED, "map %s", stuck_file);
	if (map == MAP_FAILED || kvfs_open(mnt, 0, &kv))
		return;
	stored_chain(kv, "stall", n, 5, &hh, &bb);
	CHECK(kill(stopped_pid, SIGSTOP) == 0, "stop the other daemon");
	{ /* SIGSTOP lands asynchronously: wait until every thread of it has stopped */
		unsigned char vec[CALLS << 4];
		int all = 0;

		for (waited = 0; waited < 100 && !(all = all_stopped(stopped_pid)); waited++)
			usleep(20000);
		CHECK(all, "every thread of the other daemon is stopped");
		CHECK(mincore(map, CALLS << 16, vec) == 0 && memchr(vec, 1, sizeof(vec)) == NULL,
		      "none of its pages are cached yet");
	}
	for (i = 0; i < CALLS; i++) {
		sc[i].hashes = (uint64_t)(uintptr_t)(map + (i << 16));
		atomic_store(&sc[i].done, 0);
		pthread_create(&sc[i].t, NULL, stall_thread, &sc[i]);
	}
	for (waited = 0; waited < 100 && !finished; waited++) { /* up to 10 s for one */
		usleep(100000);
		for (i = 0, finished = 0; i < CALLS; i++)
			finished += atomic_load(&sc[i].done);
	}
	usleep(500000); /* and half a second more: nothing else finishes */
	for (i = 0, finished = 0; i < CALLS; i++)
		if (atomic_load(&sc[i].done)) {
			finished++;
			eagain += sc[i].rc == -EAGAIN;
		}
	CHECK(finished == 1 && eagain == 1,
	      "two calls wait on the stopped daemon, the third is answered EAGAIN (%d done, %d "
	      "EAGAIN)",
	      finished, eagain);
	CHECK(stat(mnt, &st) == 0, "the mount answers meanwhile");
	got = kvfs_lookup(kv, "stall", hh, n, bb);
	CHECK(got == (long)n, "and a lookup goes by value: %ld found, want 2100", got);
	CHECK(got > 0 && verify(bb[got - 1].addr, &hh[got - 1], 4096) == 0,
	      "the last block's bytes");
	CHECK(kvfs_unpin(kv, "stall", hh, got > 0 ? (size_t)got : 0) == 0, "unpin by value");
	CHECK(kill(stopped_pid, SIGCONT) == 0, "let the other daemon go on");
	for (i = 0; i < CALLS; i++)
		pthread_join(sc[i].t, NULL);
	for (i = 0, finished = 0; i < CALLS; i++)
		finished += sc[i].rc == 0;
	CHECK(finished == 2, "the two waiting calls end well (%d)", finished);
	kvfs_close(kv);
	munmap(map, CALLS << 16);
	close(fd);
	free(bb);
	free(hh);
}

int main(int argc, char **argv)
{
	kvfs_t *kv;
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: fastpath_check MOUNTPOINT [FUZZ_SECONDS]\n");
		return 2;
	}
	mnt = argv[1];
	if (argc > 4 && strcmp(argv[2], "stall") == 0) {
		test_stall(argv[3], (pid_t)atoi(argv[4]));
		printf("%d passed, %d failed\n", passed, failed);
		return failed ? 1 : 0;
	}
	rc = kvfs_open(mnt, 0, &kv);
	CHECK(rc == 0, "kvfs_open: %s", strerror(-rc));
	if (rc)
		return 1;
	if (argc > 2 && strcmp(argv[2], "fallback") == 0) {
		test_fallback(kv);
		kvfs_close(kv);
		printf("%d passed, %d failed\n", passed, failed);
		return failed ? 1 : 0;
	}
	test_zeroing(); /* first: the pool is mostly free, so freed extents come back */
	test_store_is_files(kv);
	test_verify(kv);
	test_longest_prefix(kv);
	test_vector(kv);
	test_vector_verify(kv);
	test_pins(kv);
	test_concurrent_stores();
	test_bad_input(kv);
	test_eviction_pressure(kv);
	test_chain_evicted_from_tail(kv);
	kvfs_close(kv);
	test_fuzz(argc > 2 ? atoi(argv[2]) : 3);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
