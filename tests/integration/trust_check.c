// SPDX-License-Identifier: MIT
/*
 * trust_check.c - the second user's view of a kvfs mount, for
 * test_trust.sh. Started as root; with -u it drops to uid/gid 65534 (no
 * supplementary groups) before anything else, as an unprivileged local
 * user would be (-g GID: with GID as its one supplementary group). It talks to <mnt>/.kvfs/ctl with the raw ioctls (a second
 * user cannot open the 0600 pool file, so libkvfs is not an option for it)
 * and prints one result line per step for the test to match:
 *   trust_check [-u [-g GID]] CMD ...
 *   trust_check [-u] store MNT NS N SIZE BYTE   libkvfs store of N blocks
 *   trust_check [-u] lookup MNT NS N            "found K" | "error ENAME"
 *   trust_check [-u] reserve MNT NS N SIZE [nozero]
 *                                               "committed K" | "error ENAME"
 *   trust_check share MNT PUBNS N USERNS OWNERFILE OWNER_MB
 *       a 65534 child pins PUBNS's N blocks past its share while root
 *       writes OWNER_MB to OWNERFILE; prints "pinned K", "more ENAME",
 *       "reserve ENAME", "held_stat BYTES", "owner_write ok|ENAME"
 *   trust_check maps MNT                        "maps ok ..." | "maps bad ..."
 *   trust_check scribble MNT                    write over everything below
 *                                               the data area of a mapping
 * Blocks are named by kvfs_prefix_hashes() of a fixed token list per NS.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kvfs.h"
#include "kvfs_abi.h"

#define BT	 16
#define MAX_BLKS 1000

static kvfs_hash_t hashes[MAX_BLKS];

static int chain(const char *ns, size_t n)
{
	static uint32_t tokens[MAX_BLKS * BT];
	size_t i;

	if (n > MAX_BLKS)
		return -1;
	for (i = 0; i < n * BT; i++)
		tokens[i] = (uint32_t)(i * 2654435761u) % 128000;
	return kvfs_prefix_hashes(ns, tokens, n * BT, BT, hashes, n) == (long)n ? 0 : -1;
}

static const char *ename(int e)
{
	const char *s = strerrorname_np(e < 0 ? -e : e);

	return s ? s : "E?";
}

static gid_t extra_group;

static int drop_to_nobody(void)
{
	if (setgroups(extra_group ? 1 : 0, &extra_group) || setresgid(65534, 65534, 65534) ||
	    setresuid(65534, 65534, 65534))
		return -errno;
	return 0;
}

static int ctl_open(const char *mnt)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/.kvfs/ctl", mnt);
	return open(path, O_RDWR | O_CLOEXEC);
}

static void head(struct kvfs_ioc_head *h, const char *ns, uint32_t count, uint32_t flags)
{
	memset(h, 0, sizeof(*h));
	h->abi = KVFS_ABI_VERSION;
	h->count = count;
	h->flags = flags;
	snprintf(h->ns, sizeof(h->ns), "%s", ns);
}

/* Return: blocks pinned, or -errno. */
static long raw_lookup(int fd, const char *ns, size_t first, uint32_t n)
{
	static struct kvfs_ioc_lookup io;
	uint32_t i;

	head(&io.h, ns, n, 0);
	for (i = 0; i < n; i++)
		memcpy(io.item[i].hash, hashes[first + i].b, 16);
	return ioctl(fd, KVFS_IOC_LOOKUP, &io) < 0 ? -errno : (long)io.h.count;
}

/* Reserve @n blocks of @size and commit them. Return: blocks published, or -errno. */
static long raw_store(int fd, const char *ns, size_t first, uint32_t n, uint64_t size,
		      uint32_t flags)
{
	static struct kvfs_ioc_reserve io;
	struct kvfs_ioc_txn t;
	uint32_t i;

	head(&io.h, ns, n, flags);
	for (i = 0; i < n; i++) {
		memcpy(io.item[i].in.hash, hashes[first + i].b, 16);
		io.item[i].in.size = size;
		io.item[i].in.pad = 0;
	}
	if (ioctl(fd, KVFS_IOC_RESERVE, &io) < 0)
		return -errno;
	head(&t.h, "", 0, 0);
	t.h.txn = io.h.txn;
	return ioctl(fd, KVFS_IOC_COMMIT, &t) < 0 ? -errno : (long)t.h.count;
}

static int cmd_store(char **a)
{
	size_t n = strtoul(a[2], NULL, 0), size = strtoul(a[3], NULL, 0), i;
	struct kvfs_block *b = calloc(n, sizeof(*b));
	uint64_t *sizes = calloc(n, sizeof(*sizes)), txn;
	kvfs_t *kv;
	int rc;

	if (!b || !sizes || chain(a[1], n))
		return 1;
	rc = kvfs_open(a[0], 0, &kv);
	if (rc) {
		printf("error %s\n", ename(rc));
		return 0;
	}
	for (i = 0; i < n; i++)
		sizes[i] = size;
	rc = kvfs_reserve(kv, a[1], hashes, sizes, n, b, &txn);
	for (i = 0; !rc && i < n; i++)
		if (b[i].status == KVFS_BLOCK_RESERVED)
			memset(b[i].addr, (int)strtol(a[4], NULL, 0), size);
	if (!rc)
		rc = kvfs_commit(kv, txn);
	if (rc)
		printf("error %s\n", ename(rc));
	else
		printf("stored %zu\n", n);
	kvfs_close(kv);
	free(b);
	free(sizes);
	return 0;
}

static int cmd_lookup(char **a)
{
	uint32_t n = (uint32_t)strtoul(a[2], NULL, 0);
	int fd = ctl_open(a[0]);
	long got;

	if (fd < 0 || chain(a[1], n)) {
		printf("error %s\n", ename(errno));
		return 0;
	}
	got = raw_lookup(fd, a[1], 0, n);
	if (got < 0)
		printf("error %s\n", ename((int)got));
	else
		printf("found %ld\n", got);
	close(fd);
	return 0;
}

static int cmd_reserve(char **a, int argc)
{
	uint32_t n = (uint32_t)strtoul(a[2], NULL, 0);
	uint64_t size = strtoull(a[3], NULL, 0);
	uint32_t flags = argc > 4 && !strcmp(a[4], "nozero") ? KVFS_IOC_F_NOZERO : 0;
	int fd = ctl_open(a[0]);
	long got;

	if (fd < 0 || chain(a[1], n)) {
		printf("error %s\n", ename(errno));
		return 0;
	}
	got = raw_store(fd, a[1], 0, n, size, flags);
	if (got < 0)
		printf("error %s\n", ename((int)got));
	else
		printf("committed %ld\n", got);
	close(fd);
	return 0;
}

/* Bytes .kvfs/stats says uid 65534 holds, or -1. */
static long long held_stat(const char *mnt)
{
	char path[4096], line[256];
	long long v = -1;
	unsigned uid;
	FILE *f;

	snprintf(path, sizeof(path), "%s/.kvfs/stats", mnt);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "uid_held_bytes %u %lld", &uid, &v) == 2 && uid == 65534)
			break;
		else
			v = -1;
	fclose(f);
	return v;
}

/* As root: write @mb MiB to @path through the mount. Return: 0 or -errno. */
static int owner_write(const char *path, size_t mb)
{
	static char buf[1 << 20];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600), rc = 0;
	size_t i;

	if (fd < 0)
		return -errno;
	memset(buf, 0x5a, sizeof(buf));
	for (i = 0; i < mb && !rc; i++)
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	return rc;
}

static int cmd_share(char **a)
{
	uint32_t n = (uint32_t)strtoul(a[2], NULL, 0);
	int up[2], down[2], st;
	char c = 0;
	pid_t pid;
	long got;

	if (chain(a[1], n) || pipe(up) || pipe(down))
		return 1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int fd;

		close(up[0]);
		close(down[1]);
		if (drop_to_nobody() || (fd = ctl_open(a[0])) < 0)
			_exit(1);
		got = raw_lookup(fd, a[1], 0, n);
		printf("pinned %ld\n", got);
		if (got > 0 && (uint32_t)got < n) {
			long more = raw_lookup(fd, a[1], (size_t)got, n - (uint32_t)got);

			printf("more %s\n", more < 0 ? ename((int)more) : "pinned");
		}
		got = raw_store(fd, a[3], 0, 1, 1 << 20, 0);
		printf("reserve %s\n", got < 0 ? ename((int)got) : "ok");
		fflush(stdout);
		if (write(up[1], "r", 1) != 1 || read(down[0], &c, 1) < 0)
			_exit(1);
		close(fd);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	if (read(up[0], &c, 1) != 1) {
		printf("child failed\n");
		return 1;
	}
	printf("held_stat %lld\n", held_stat(a[0]));
	st = owner_write(a[4], strtoul(a[5], NULL, 0));
	printf("owner_write %s\n", st ? ename(st) : "ok");
	fflush(stdout);
	if (write(down[1], "x", 1) != 1)
		return 1;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

/*
 * The pool's lines in /proc/self/maps: every one starts at data_off or
 * later, and the handle's base is aligned as INFO says.
 */
static int cmd_maps(char **a)
{
	struct kvfs_ioc_info info = { .abi = KVFS_ABI_VERSION };
	char line[4608], path[4096];
	unsigned long start, end, off;
	int fd, lines = 0, bad = 0;
	kvfs_t *kv;
	FILE *f;
	int rc = kvfs_open(a[0], 0, &kv);

	fd = ctl_open(a[0]);
	if (rc || fd < 0 || ioctl(fd, KVFS_IOC_INFO, &info) < 0) {
		printf("maps error %s\n", ename(rc ? rc : errno));
		return 0;
	}
	f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof(line), f)) {
		path[0] = 0;
		if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %4095s", &start, &end, &off, path) < 3 ||
		    strcmp(path, kvfs_pool_path(kv)) != 0)
			continue;
		lines++;
		if (off < info.data_off || (uint8_t *)start != (uint8_t *)kvfs_pool_base(kv) + off)
			bad++;
		printf("map %lx-%lx offset %lu\n", start, end, off);
	}
	if (f)
		fclose(f);
	/* the daemon says the alignment; the data area and the handle's base keep it */
	if (!info.data_align || (info.data_align & (info.data_align - 1)) ||
	    info.data_off % info.data_align || (uintptr_t)kvfs_pool_base(kv) % info.data_align)
		bad++;
	printf("maps %s lines=%d data_off=%" PRIu64 " data_align=%" PRIu64 "\n",
	       lines && !bad ? "ok" : "bad", lines, info.data_off, info.data_align);
	close(fd);
	kvfs_close(kv);
	return 0;
}

/* A buggy client writes everything below the data area of its mapping. */
static int cmd_scribble(char **a)
{
	struct kvfs_ioc_info info = { .abi = KVFS_ABI_VERSION };
	int fd = ctl_open(a[0]);
	kvfs_t *kv;
	int rc = kvfs_open(a[0], 0, &kv);

	if (rc || fd < 0 || ioctl(fd, KVFS_IOC_INFO, &info) < 0) {
		printf("scribble error %s\n", ename(rc ? rc : errno));
		return 0;
	}
	memset(kvfs_pool_base(kv), 0xff, info.data_off);
	printf("scribbled %" PRIu64 "\n", info.data_off);
	close(fd);
	kvfs_close(kv);
	return 0;
}

int main(int argc, char **argv)
{
	bool user = argc > 1 && !strcmp(argv[1], "-u");

	if (user) {
		argv++;
		argc--;
		if (argc > 2 && !strcmp(argv[1], "-g")) {
			extra_group = (gid_t)strtoul(argv[2], NULL, 0);
			argv += 2;
			argc -= 2;
		}
		if (drop_to_nobody()) {
			printf("error cannot drop privileges: %s\n", strerror(errno));
			return 1;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 7 && !strcmp(argv[1], "store"))
		return cmd_store(argv + 2);
	if (argc >= 5 && !strcmp(argv[1], "lookup"))
		return cmd_lookup(argv + 2);
	if (argc >= 6 && !strcmp(argv[1], "reserve"))
		return cmd_reserve(argv + 2, argc - 2);
	if (argc >= 8 && !strcmp(argv[1], "share"))
		return cmd_share(argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "maps"))
		return cmd_maps(argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "scribble"))
		return cmd_scribble(argv + 2);
	fprintf(stderr, "usage: see the comment at the top of trust_check.c\n");
	return 2;
}
