// SPDX-License-Identifier: MIT
/*
 * test_pool.c - mm/ through its public API on a pool file under /tmp: format
 * checks and bad input (each a clear error, the pool untouched), the pool
 * file's trust checks (no link, no other owner, nobody else writing), device-DAX
 * discovery against a fake libdaxctl, the namespace operations, data,
 * xattrs, persistence across reopen, and one directory of a million files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include "backend.h"
#include "layout.h"
#include "log.h"
#include "mm.h"
#include "index.h"

static char path[64];
static char lastlog[1024];

static void capture_log(enum kv_log_level level, const char *fmt, va_list ap)
{
	vsnprintf(lastlog, sizeof(lastlog), fmt, ap);
}

static int setup(void **state)
{
	snprintf(path, sizeof(path), "/tmp/kvfs-unit-%d.pool", getpid());
	unlink(path);
	lastlog[0] = 0;
	kv_log_set_handler(capture_log);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

static struct kv_pool *open_pool(void)
{
	struct kv_open_opts o = { .numa_node = -1 };
	struct kv_pool *p = NULL;

	assert_int_equal(kv_pool_open(path, &o, &p), 0);
	return p;
}

static uint64_t file_hash(void)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	void *m;
	uint64_t h;

	assert_true(fd >= 0);
	fstat(fd, &st);
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	h = XXH64(m, (size_t)st.st_size, 0);
	munmap(m, (size_t)st.st_size);
	close(fd);
	return h;
}

/* --- format and bad input --- */

static void test_mkfs_refuses_formatted(void **state)
{
	uint64_t before;

	assert_int_equal(kv_pool_mkfs(path, 32 << 20, 0, false), 0);
	before = file_hash();
	assert_int_equal(kv_pool_mkfs(path, 32 << 20, 0, false), -EEXIST);
	assert_non_null(strstr(lastlog, "-f"));
	assert_int_equal(file_hash(), before);
	assert_int_equal(kv_pool_mkfs(path, 32 << 20, 0, true), 0);
	assert_int_not_equal(file_hash(), before); /* new UUID */
}

/* What fs/ learns of a pool without its format: identity, data area, inode range. */
static void test_pool_info(void **state)
{
	static const uint8_t zero[16];
	struct kv_pool_info info;
	struct kv_pool_stats st;
	struct kv_pool *p;
	struct kv_attr a;

	assert_int_equal(kv_pool_mkfs(path, 32 << 20, 100, false), 0);
	p = open_pool();
	kv_pool_get_info(p, &info);
	kv_pool_get_stats(p, &st);
	assert_memory_not_equal(info.uuid, zero, sizeof(zero));
	assert_int_equal(info.pool_size, 32 << 20);
	assert_true(info.page_size >= 4096 && !(info.page_size & (info.page_size - 1)));
	assert_true(info.data_align && !(info.data_align & (info.data_align - 1)));
	assert_int_equal(info.data_off % info.data_align, 0);
	assert_true(info.data_size && info.data_off + info.data_size <= info.pool_size);
	assert_int_equal(info.max_ino, 100);
	assert_int_equal(st.inodes_total, info.max_ino);
	assert_int_equal(kv_create(p, KV_ROOT_INO, "f", 1, S_IFREG | 0644, 0, 0, &a), 0);
	assert_true(a.ino <= info.max_ino);
	kv_pool_close(p);
}

static void test_too_small(void **state)
{
	struct kv_open_opts o = { .create_size = 1 << 20, .numa_node = -1 };
	struct kv_pool *p;

	assert_int_equal(kv_pool_mkfs(path, 1 << 20, 0, false), -ENOSPC);
	assert_non_null(strstr(lastlog, "too small"));
	assert_int_equal(access(path, F_OK), -1); /* nothing left behind */
	/* an open that creates the file and cannot format it removes it again */
	assert_int_equal(kv_pool_open(path, &o, &p), -EINVAL);
	assert_non_null(strstr(lastlog, "too small"));
	assert_int_equal(access(path, F_OK), -1);
}

static void test_not_formatted_and_foreign(void **state)
{
	struct kv_open_opts o = { .numa_node = -1 };
	struct kv_pool *p;
	char junk[4096];
	int fd = open(path, O_CREAT | O_RDWR, 0600);

	assert_int_equal(ftruncate(fd, 32 << 20), 0);
	assert_int_equal(kv_pool_open(path, &o, &p), -EPROTO);
	assert_non_null(strstr(lastlog, "not formatted"));
	memset(junk, 0xa5, sizeof(junk));
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	close(fd);
	assert_int_equal(kv_pool_open(path, &o, &p), -EPROTO);
	assert_non_null(strstr(lastlog, "foreign"));
	assert_true(kv_pool_fsck(path) > 0);
}

static void poke(off_t off, const void *bytes, size_t len)
{
	int fd = open(path, O_RDWR);

	assert_int_equal(pwrite(fd, bytes, len, off), (ssize_t)len);
	close(fd);
}

static void test_newer_version_and_corrupt(void **state)
{
	struct kv_open_opts o = { .numa_node = -1 };
	struct kv_pool *p;
	uint32_t v = KV_FORMAT_VERSION + 1;
	uint64_t before;
	uint8_t b = 0x5a;

	assert_int_equal(kv_pool_mkfs(path, 32 << 20, 0, false), 0);
	poke(8, &v, sizeof(v));
	before = file_hash();
	assert_int_equal(kv_pool_open(path, &o, &p), -ENOTSUP);
	assert_non_null(strstr(lastlog, "newer"));
	assert_int_equal(file_hash(), before);
	v = KV_FORMAT_VERSION;
	poke(8, &v, sizeof(v));
	assert_int_equal(kv_pool_fsck(path), 0);
	poke(40, &b, 1); /* inside the checksummed geometry */
	before = file_hash();
	assert_int_equal(kv_pool_open(path, &o, &p), -EUCLEAN);
	assert_non_null(strstr(lastlog, "checksum"));
	assert_true(kv_pool_fsck(path) > 0);
	assert_int_equal(file_hash(), before);
}

static void test_directory_and_missing(void **state)
{
	struct kv_open_opts o = { .numa_node = -1 };
	struct kv_pool *p;

	assert_int_equal(kv_pool_open("/tmp", &o, &p), -EISDIR);
	assert_non_null(strstr(lastlog, "directory"));
	assert_int_equal(kv_pool_open(path, &o, &p), -ENOENT);
	assert_non_null(strstr(lastlog, "mkfs"));
	assert_int_equal(kv_pool_mkfs("/tmp", 32 << 20, 0, false), -EISDIR);
}

/* The pool file is the trust root: nobody else's file, no link, nobody else may write it. */
static void test_pool_file_trust(void **state)
{
	struct kv_open_opts o = { .numa_node = -1, .create_size = 32 << 20 };
	char link[80], target[80];
	struct kv_pool *p;
	struct stat st;
	uint64_t h;

	assert_int_equal(kv_pool_mkfs(path, 32 << 20, 0, false), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	h = file_hash();
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(kv_pool_open(path, &o, &p), -EPERM);
	assert_non_null(strstr(lastlog, "chmod go-w"));
	assert_int_equal(kv_pool_mkfs(path, 0, 0, true), -EPERM);
	assert_int_equal(chmod(path, 0620), 0);
	assert_int_equal(kv_pool_open(path, &o, &p), -EPERM);
	assert_int_equal(file_hash(), h); /* refused before a byte was written */
	assert_int_equal(chmod(path, 0640), 0); /* readers are the owner's choice */
	p = open_pool();
	kv_pool_close(p);
	h = file_hash();

	snprintf(link, sizeof(link), "%s.link", path);
	snprintf(target, sizeof(target), "%s.target", path);
	unlink(link);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(kv_pool_open(link, &o, &p), -ELOOP);
	assert_non_null(strstr(lastlog, "symbolic link"));
	assert_int_equal(kv_pool_mkfs(link, 32 << 20, 0, true), -ELOOP);
	assert_int_equal(file_hash(), h);
	unlink(link);
	/* a dangling link: creating the pool must not create its target */
	unlink(target);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(kv_pool_open(link, &o, &p), -ELOOP);
	assert_int_equal(access(target, F_OK), -1);
	unlink(link);

	if (geteuid() == 0) { /* another owner: only root can make one */
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_int_equal(kv_pool_open(path, &o, &p), -EPERM);
		assert_non_null(strstr(lastlog, "owned by uid 65534"));
		assert_int_equal(kv_pool_mkfs(path, 0, 0, true), -EPERM);
		assert_int_equal(file_hash(), h);
	}
}

static void test_truncated_pool(void **state)
{
	struct kv_open_opts o = { .numa_node = -1 };
	struct kv_pool *p;

	assert_int_equal(kv_pool_mkfs(path, 64 << 20, 0, false), 0);
	assert_int_equal(truncate(path, 32 << 20), 0);
	assert_int_equal(kv_pool_open(path, &o, &p), -EUCLEAN);
	assert_non_null(strstr(lastlog, "truncated"));
}

static void test_locked_twice(void **state)
{
	struct kv_open_opts o = { .numa_node = -1 };
	struct kv_pool *p, *q;

	assert_int_equal(kv_pool_mkfs(path, 32 << 20, 0, false), 0);
	p = open_pool();
	assert_int_equal(kv_pool_open(path, &o, &q), -EBUSY);
	assert_non_null(strstr(lastlog, "in use"));
	assert_int_equal(kv_pool_mkfs(path, 32 << 20, 0, true), -EBUSY);
	kv_pool_close(p);
}

/* --- device-DAX discovery through a fake enumerator --- */

static struct kv_dax_dev fake_devs[4];
static int fake_n;

static int fake_enum(struct kv_dax_dev *devs, int max, void *arg)
{
	memcpy(devs, fake_devs, sizeof(fake_devs[0]) * (size_t)fake_n);
	return fake_n;
}

static void test_dax_discovery(void **state)
{
	struct kv_dax_dev d;

	kv_dax_set_enumerator(fake_enum, NULL);
	fake_n = 0;
	assert_int_equal(kv_dax_resolve("dax:auto", &d), -ENODEV);
	assert_non_null(strstr(lastlog, "/dev/shm/kvfs.pool")); /* names the next thing to try */
	fake_devs[0] = (struct kv_dax_dev){ "dax0.0", 1ull << 34, 2 << 20, KV_DAX_SYSTEM_RAM, 2 };
	fake_n = 1;
	assert_int_equal(kv_dax_resolve("dax:auto", &d), -ENOTSUP);
	assert_non_null(strstr(lastlog, "system-ram"));
	assert_non_null(strstr(lastlog, "numa=2"));
	assert_int_equal(kv_dax_resolve("/dev/dax0.0", &d), -ENOTSUP);
	fake_devs[1] = (struct kv_dax_dev){ "dax1.0", 1ull << 35, 2 << 20, KV_DAX_DEVDAX, 3 };
	fake_n = 2;
	assert_int_equal(kv_dax_resolve("dax:auto", &d), 0);
	assert_string_equal(d.name, "dax1.0");
	assert_int_equal(d.align, 2 << 20);
	assert_int_equal(kv_dax_resolve("/dev/dax7.0", &d), -ENODEV);
	assert_non_null(strstr(lastlog, "daxctl list"));
	kv_dax_set_enumerator(NULL, NULL);
}

/*
 * mkfs of a device-DAX pool looks through the backend's mapping (a pread()
 * of a devdax node reads nothing): it refuses to erase a pool or foreign
 * data without force, and a pool in use even with it. A regular file plays
 * the device: the fake enumerator names it as /dev/../tmp/...
 */
static void test_dax_mkfs_probe(void **state)
{
	struct kv_open_opts o = { .numa_node = -1 };
	struct kv_pool *p;
	struct stat st;
	int fd;

	fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 32 << 20), 0);
	fake_devs[0] = (struct kv_dax_dev){ "", 32 << 20, 2 << 20, KV_DAX_DEVDAX, 0 };
	assert_true(strlen(path) + 3 <= sizeof(fake_devs[0].name));
	memcpy(fake_devs[0].name, "..", 2);
	memcpy(fake_devs[0].name + 2, path, strlen(path) + 1);
	fake_n = 1;
	kv_dax_set_enumerator(fake_enum, NULL);
	assert_int_equal(kv_pool_mkfs("dax:auto", 0, 0, false), 0); /* zeros: formatted */
	assert_int_equal(kv_pool_mkfs("dax:auto", 0, 0, false), -EEXIST);
	assert_non_null(strstr(lastlog, "already holds a kvfs pool"));
	assert_int_equal(kv_pool_open("dax:auto", &o, &p), 0);
	assert_int_equal(kv_pool_mkfs("dax:auto", 0, 0, true), -EBUSY);
	kv_pool_close(p);
	assert_int_equal(kv_pool_mkfs("dax:auto", 0, 0, true), 0);
	assert_int_equal(pwrite(fd, "not a pool", 10, 0), 10);
	assert_int_equal(kv_pool_mkfs("dax:auto", 0, 0, false), -EEXIST);
	assert_non_null(strstr(lastlog, "foreign data"));
	assert_int_equal(kv_pool_mkfs("dax:auto", 0, 0, true), 0);
	assert_int_equal(kv_pool_fsck("dax:auto"), 0);
	close(fd);
	kv_dax_set_enumerator(NULL, NULL);
	assert_int_equal(stat(path, &st), 0); /* a device is never removed */
}

/* --- namespace and data --- */

static void test_names(void **state)
{
	struct kv_pool *p;
	struct kv_attr a, dir, b;
	struct kv_dirent *ents;
	uint64_t n, replaced;
	char name[300];

	assert_int_equal(kv_pool_mkfs(path, 64 << 20, 0, false), 0);
	p = open_pool();
	assert_int_equal(kv_create(p, KV_ROOT_INO, "ns", 2, S_IFDIR | 0755, 0, 0, &dir), 0);
	assert_int_equal(kv_create(p, dir.ino, "a", 1, S_IFREG | 0644, 0, 0, &a), 0);
	assert_int_equal(kv_create(p, dir.ino, "a", 1, S_IFREG | 0644, 0, 0, &b), -EEXIST);
	assert_int_equal(kv_create(p, dir.ino, "l", 1, S_IFLNK | 0777, 0, 0, &b), -EPERM);
	memset(name, 'x', sizeof(name));
	assert_int_equal(kv_create(p, dir.ino, name, 255, S_IFREG | 0644, 0, 0, &b), 0);
	assert_int_equal(kv_create(p, dir.ino, name, 256, S_IFREG | 0644, 0, 0, &b), -ENAMETOOLONG);
	assert_int_equal(kv_lookup(p, dir.ino, "a", 1, &b), 0);
	assert_int_equal(b.ino, a.ino);
	assert_int_equal(kv_lookup(p, dir.ino, "zz", 2, &b), -ENOENT);
	assert_int_equal(kv_lookup(p, a.ino, "zz", 2, &b), -ENOTDIR);
	/* rename: plain, NOREPLACE, onto an existing file, dir into its own child */
	assert_int_equal(kv_create(p, dir.ino, "b", 1, S_IFREG | 0644, 0, 0, &b), 0);
	assert_int_equal(
	    kv_rename(p, dir.ino, "a", 1, dir.ino, "b", 1, RENAME_NOREPLACE, &replaced), -EEXIST);
	assert_int_equal(kv_lookup(p, dir.ino, "a", 1, &b), 0);
	assert_int_equal(kv_rename(p, dir.ino, "a", 1, dir.ino, "b", 1, 0, &replaced), 0);
	assert_int_not_equal(replaced, 0);
	assert_int_equal(kv_lookup(p, dir.ino, "a", 1, &b), -ENOENT);
	assert_int_equal(kv_lookup(p, dir.ino, "b", 1, &b), 0);
	assert_int_equal(b.ino, a.ino);
	assert_int_equal(kv_create(p, dir.ino, "sub", 3, S_IFDIR | 0755, 0, 0, &b), 0);
	assert_int_equal(kv_rename(p, KV_ROOT_INO, "ns", 2, b.ino, "x", 1, 0, &replaced), -EINVAL);
	assert_int_equal(kv_rmdir(p, KV_ROOT_INO, "ns", 2), -ENOTEMPTY);
	assert_int_equal(kv_unlink(p, dir.ino, "sub", 3), -EISDIR);
	assert_int_equal(kv_rmdir(p, dir.ino, "b", 1), -ENOTDIR);
	assert_int_equal(kv_dir_snapshot(p, dir.ino, &ents, &n), 0);
	assert_int_equal(n, 3); /* xxx..., b, sub */
	free(ents);
	kv_pool_close(p);
	/* everything is still there after reopen */
	p = open_pool();
	assert_int_equal(kv_lookup(p, KV_ROOT_INO, "ns", 2, &dir), 0);
	assert_int_equal(kv_lookup(p, dir.ino, "b", 1, &b), 0);
	assert_int_equal(kv_lookup(p, dir.ino, name, 255, &b), 0);
	assert_int_equal(kv_pool_fsck(path), -EBUSY); /* held: fsck refuses */
	kv_pool_close(p);
	assert_int_equal(kv_pool_fsck(path), 0);
}

/*
 * Record @ino's generation moves on in the pool file, the index not told:
 * its block name @blk in @dir is missed (lookup and pin), and found again
 * once the generation is back.
 */
static void generation_moved_is_a_miss(struct kv_pool *p, uint64_t dir, const char *blk,
				       uint64_t ino)
{
	int fd = open(path, O_RDWR);
	struct kv_geometry geo;
	struct kv_attr x;
	struct kv_extent e;
	uint64_t gen;
	off_t at;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &geo, sizeof(geo), 0), (ssize_t)sizeof(geo));
	at = (off_t)(geo.inode_off + ino * KV_INODE_SIZE + offsetof(struct kv_inode, gen));
	assert_int_equal(pread(fd, &gen, 8, at), 8);
	gen++;
	assert_int_equal(pwrite(fd, &gen, 8, at), 8);
	assert_int_equal(kv_lookup(p, dir, blk, 32, &x), -ENOENT);
	assert_int_equal(kv_lookup_pin(p, dir, blk, 32, &x, &e), -ENOENT);
	gen--;
	assert_int_equal(pwrite(fd, &gen, 8, at), 8);
	close(fd);
}

/* A new pool with directories d1 and d2 and a file named @blk in each (*@a, *@b). */
static struct kv_pool *block_in_two_dirs(const char *blk, struct kv_attr *d1, struct kv_attr *d2,
					  struct kv_attr *a, struct kv_attr *b)
{
	struct kv_pool *p;

	assert_int_equal(kv_pool_mkfs(path, 64 << 20, 0, false), 0);
	p = open_pool();
	assert_int_equal(kv_create(p, KV_ROOT_INO, "d1", 2, S_IFDIR | 0755, 0, 0, d1), 0);
	assert_int_equal(kv_create(p, KV_ROOT_INO, "d2", 2, S_IFDIR | 0755, 0, 0, d2), 0);
	assert_int_equal(kv_create(p, d1->ino, blk, 32, S_IFREG | 0644, 0, 0, a), 0);
	assert_int_equal(kv_create(p, d2->ino, blk, 32, S_IFREG | 0644, 0, 0, b), 0);
	return p;
}

/*
 * Block names (32 lowercase hex digits) are compared in DRAM, every other
 * name in its record: each kind is found by its own name only, in its own
 * directory, across renames from one kind to the other and a reopen; a
 * record whose generation changed behind the index (a follower's view sees
 * the leader reuse it so until it follows) is missed, not taken for the name.
 */
static void test_block_names(void **state)
{
	static const char blk[] = "0123456789abcdef0123456789abcdef";
	struct kv_pool *p;
	struct kv_attr d1, d2, a, b, c, u, g, x;
	struct kv_extent e;
	char upper[33], near[33], odd[33];
	uint64_t replaced;
	int i;

	p = block_in_two_dirs(blk, &d1, &d2, &a, &b);
	/* the same digits in capitals: another name, and no block's */
	for (i = 0; i < 32; i++)
		upper[i] = (char)(blk[i] >= 'a' ? blk[i] - 'a' + 'A' : blk[i]);
	assert_int_equal(kv_lookup(p, d1.ino, upper, 32, &x), -ENOENT);
	assert_int_equal(kv_create(p, d1.ino, upper, 32, S_IFREG | 0644, 0, 0, &u), 0);
	/* one digit off, and 32 characters that are not all digits */
	memcpy(near, blk, 32);
	near[31] = 'e';
	assert_int_equal(kv_lookup(p, d1.ino, near, 32, &x), -ENOENT);
	memcpy(odd, blk, 32);
	odd[0] = 'g';
	assert_int_equal(kv_create(p, d1.ino, odd, 32, S_IFREG | 0644, 0, 0, &g), 0);
	assert_int_equal(kv_lookup(p, d1.ino, blk, 32, &x), 0);
	assert_int_equal(x.ino, a.ino);
	assert_int_equal(kv_lookup(p, d2.ino, blk, 32, &x), 0);
	assert_int_equal(x.ino, b.ino);
	assert_int_equal(kv_lookup(p, d1.ino, upper, 32, &x), 0);
	assert_int_equal(x.ino, u.ino);
	assert_int_equal(kv_lookup(p, d1.ino, odd, 32, &x), 0);
	assert_int_equal(x.ino, g.ino);
	assert_int_equal(kv_lookup_pin(p, d2.ino, blk, 32, &x, &e), 0);
	assert_int_equal(x.ino, b.ino);
	kv_unpin(p, b.ino);
	/* a block's name renamed to another kind and back, across directories */
	assert_int_equal(kv_rename(p, d1.ino, blk, 32, d1.ino, "plain", 5, 0, &replaced), 0);
	assert_int_equal(kv_lookup(p, d1.ino, blk, 32, &x), -ENOENT);
	assert_int_equal(kv_lookup(p, d1.ino, "plain", 5, &x), 0);
	assert_int_equal(x.ino, a.ino);
	assert_int_equal(kv_rename(p, d1.ino, "plain", 5, d2.ino, near, 32, 0, &replaced), 0);
	assert_int_equal(kv_lookup(p, d2.ino, near, 32, &x), 0);
	assert_int_equal(x.ino, a.ino);
	assert_int_equal(kv_lookup(p, d1.ino, near, 32, &x), -ENOENT);
	assert_int_equal(kv_lookup(p, d1.ino, "plain", 5, &x), -ENOENT);
	/* renamed over another block: the victim's name finds the one renamed */
	assert_int_equal(kv_rename(p, d2.ino, near, 32, d2.ino, blk, 32, 0, &replaced), 0);
	assert_int_equal(replaced, b.ino);
	assert_int_equal(kv_lookup(p, d2.ino, blk, 32, &x), 0);
	assert_int_equal(x.ino, a.ino);
	assert_int_equal(kv_lookup(p, d2.ino, near, 32, &c), -ENOENT);
	kv_pool_close(p);
	p = open_pool(); /* rebuilt from the records */
	assert_int_equal(kv_lookup(p, d2.ino, blk, 32, &x), 0);
	assert_int_equal(x.ino, a.ino);
	assert_int_equal(kv_lookup(p, d1.ino, blk, 32, &x), -ENOENT);
	assert_int_equal(kv_lookup(p, d1.ino, upper, 32, &x), 0);
	assert_int_equal(x.ino, u.ino);
	assert_int_equal(kv_lookup(p, d1.ino, odd, 32, &x), 0);
	assert_int_equal(x.ino, g.ino);
	generation_moved_is_a_miss(p, d2.ino, blk, a.ino);
	assert_int_equal(kv_lookup(p, d2.ino, blk, 32, &x), 0);
	assert_int_equal(x.ino, a.ino);
	kv_pool_close(p);
	assert_int_equal(kv_pool_fsck(path), 0);
}

/* The 16 bytes whose 32 lowercase hex digits @name is. */
static void bytes_of(const char *name, uint8_t b[16])
{
	int i;

	for (i = 0; i < 16; i++) {
		unsigned v;

		assert_int_equal(sscanf(name + 2 * i, "%2x", &v), 1);
		b[i] = (uint8_t)v;
	}
}

/*
 * The fast path hands the index a block's name as its 16 bytes
 * (kv_lookup_pin_batch): it finds what the digits find, in that directory
 * only, never a name in capitals or one digit off; the name hash is keyed
 * at each open and the same from the digits as from the bytes.
 */
static void test_block_bytes(void **state)
{
	static const char blk[] = "00112233445566778899aabbccddeeff";
	static const char caps[] = "FFEEDDCCBBAA99887766554433221100";
	uint8_t b[4][16], other[16];
	struct kv_attr d1, d2, a, a2, c, x[4];
	struct kv_extent e[4];
	struct kv_pool *p;
	uint64_t replaced, h[2];
	int err;

	p = block_in_two_dirs(blk, &d1, &d2, &a, &a2);
	assert_int_equal(kv_create(p, d1.ino, caps, 32, S_IFREG | 0644, 0, 0, &c), 0);
	bytes_of(blk, b[0]);
	/* the bytes of the capitals' digits: their name is "ffee..", not a file here */
	bytes_of("ffeeddccbbaa99887766554433221100", b[1]);
	assert_int_equal(kv_lookup_pin_batch(p, d1.ino, b[0], 16, 2, x, e, &err), 1);
	assert_int_equal(err, -ENOENT);
	assert_int_equal(x[0].ino, a.ino);
	kv_unpin(p, a.ino);
	assert_int_equal(kv_lookup_pin_batch(p, d2.ino, b[0], 16, 1, x, e, &err), 1);
	assert_int_equal(x[0].ino, a2.ino);
	kv_unpin(p, a2.ino);
	memcpy(other, b[0], 16);
	other[15] ^= 1;
	assert_int_equal(kv_lookup_pin_batch(p, d1.ino, other, 16, 1, x, e, &err), 0);
	assert_int_equal(err, -ENOENT);
	/* the hash: the same from the digits as from the bytes; another at the next open */
	assert_int_equal(kv_index_name_hash(p, blk, 32, d1.ino),
			 kv_index_block_hash(p, d1.ino, b[0]));
	assert_true(kv_index_name_hash(p, blk, 32, d1.ino) != kv_index_name_hash(p, blk, 32, d2.ino));
	h[0] = kv_index_name_hash(p, blk, 32, d1.ino);
	h[1] = kv_index_name_hash(p, "plain", 5, d1.ino);
	/* renamed away and back, and found again after a reopen (a new key) */
	assert_int_equal(kv_rename(p, d1.ino, blk, 32, d1.ino, "plain", 5, 0, &replaced), 0);
	assert_int_equal(kv_lookup_pin_batch(p, d1.ino, b[0], 16, 1, x, e, &err), 0);
	assert_int_equal(kv_rename(p, d1.ino, "plain", 5, d1.ino, blk, 32, 0, &replaced), 0);
	kv_pool_close(p);
	p = open_pool();
	assert_true(kv_index_name_hash(p, blk, 32, d1.ino) != h[0]);
	assert_true(kv_index_name_hash(p, "plain", 5, d1.ino) != h[1]);
	assert_int_equal(kv_lookup_pin_batch(p, d1.ino, b[0], 16, 1, x, e, &err), 1);
	assert_int_equal(x[0].ino, a.ino);
	kv_unpin(p, a.ino);
	kv_pool_close(p);
}

/*
 * Names made to share one home slot of the name hash as it was (XXH3
 * seeded with the parent's inode number: anyone could compute it and make
 * one run of the table that every lookup landing in it walks) land in
 * slots of their own under the key drawn at each open.
 */
static void test_hash_flood(void **state)
{
	enum { N = 64 };
	static char names[N][24];
	uint64_t home[N], want;
	struct kv_pool *p;
	struct kv_attr d, a;
	int n = 0, i, j, distinct = 0;
	unsigned k;

	assert_int_equal(kv_pool_mkfs(path, 64 << 20, 0, false), 0);
	p = open_pool();
	assert_int_equal(kv_create(p, KV_ROOT_INO, "flood", 5, S_IFDIR | 0755, 0, 0, &d), 0);
	want = XXH3_64bits_withSeed("x0", 2, d.ino) & p->hmask;
	for (k = 0; n < N; k++) {
		char nm[24];
		int len = snprintf(nm, sizeof(nm), "x%u", k);

		if ((XXH3_64bits_withSeed(nm, (size_t)len, d.ino) & p->hmask) == want)
			memcpy(names[n++], nm, (size_t)len + 1);
	}
	for (i = 0; i < N; i++) {
		home[i] = kv_index_name_hash(p, names[i], strlen(names[i]), d.ino) & p->hmask;
		for (j = 0; j < i && home[j] != home[i]; j++)
			;
		distinct += j == i;
		assert_int_equal(kv_create(p, d.ino, names[i], strlen(names[i]), S_IFREG | 0644, 0,
					   0, &a),
				 0);
	}
	assert_true(p->hmask + 1 >= 16 * N); /* the slots drawn at random: nearly all differ */
	assert_true(distinct >= N * 3 / 4);
	for (i = 0; i < N; i++)
		assert_int_equal(kv_lookup(p, d.ino, names[i], strlen(names[i]), &a), 0);
	kv_pool_close(p);
}

static void fill(uint8_t *buf, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 12));
}

static void test_data(void **state)
{
	struct kv_pool *p;
	struct kv_attr a;
	struct kv_extent ext[KV_INLINE_EXTENTS];
	uint8_t *w = malloc(8 << 20), *r = malloc(8 << 20);
	uint64_t size;
	int i;

	assert_int_equal(kv_pool_mkfs(path, 64 << 20, 0, false), 0);
	p = open_pool();
	assert_int_equal(kv_create(p, KV_ROOT_INO, "f", 1, S_IFREG | 0644, 0, 0, &a), 0);
	assert_int_equal(kv_open(p, a.ino), 0);
	/* size known up front: exactly one extent */
	assert_int_equal(kv_truncate(p, a.ino, 3 << 20), 0);
	assert_int_equal(kv_extents(p, a.ino, ext, KV_INLINE_EXTENTS, &size), 1);
	assert_int_equal(ext[0].len, 3 << 20);
	assert_int_equal(size, 3 << 20);
	/* the new bytes read as zeros */
	assert_int_equal(kv_read(p, a.ino, r, 3 << 20, 0), 3 << 20);
	for (i = 0; i < (3 << 20); i++)
		assert_int_equal(r[i], 0);
	fill(w, 3 << 20, 1);
	assert_int_equal(kv_write(p, a.ino, w, 3 << 20, 0), 3 << 20);
	assert_int_equal(kv_read(p, a.ino, r, 8 << 20, 0), 3 << 20);
	assert_memory_equal(r, w, 3 << 20);
	assert_int_equal(kv_read(p, a.ino, r, 10, 5 << 20), 0); /* beyond EOF */
	/* a write past EOF leaves a zero gap */
	assert_int_equal(kv_write(p, a.ino, w, 100, (4 << 20) + 5), 100);
	assert_int_equal(kv_read(p, a.ino, r, 2 << 20, 3 << 20), (1 << 20) + 105);
	for (i = 0; i < (1 << 20) + 5; i++)
		assert_int_equal(r[i], 0);
	assert_memory_equal(r + (1 << 20) + 5, w, 100);
	/* shrink, then grow: the old bytes must not come back */
	assert_int_equal(kv_truncate(p, a.ino, 10), 0);
	assert_int_equal(kv_truncate(p, a.ino, 1 << 20), 0);
	assert_int_equal(kv_read(p, a.ino, r, 1 << 20, 0), 1 << 20);
	assert_memory_equal(r, w, 10);
	for (i = 10; i < (1 << 20); i++)
		assert_int_equal(r[i], 0);
	/* too big: EFBIG, nothing changed */
	assert_int_equal(kv_truncate(p, a.ino, 1ull << 40), -EFBIG);
	assert_int_equal(kv_getattr(p, a.ino, &a), 0);
	assert_int_equal(a.size, 1 << 20);
	/* fallocate */
	assert_int_equal(kv_fallocate(p, a.ino, FALLOC_FL_KEEP_SIZE, 0, 2 << 20), 0);
	assert_int_equal(kv_getattr(p, a.ino, &a), 0);
	assert_int_equal(a.size, 1 << 20);
	assert_int_equal(kv_fallocate(p, a.ino, 0, 0, 2 << 20), 0);
	assert_int_equal(kv_getattr(p, a.ino, &a), 0);
	assert_int_equal(a.size, 2 << 20);
	assert_int_equal(
	    kv_fallocate(p, a.ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096),
	    -EOPNOTSUPP);
	kv_release(p, a.ino);
	kv_pool_close(p);
	free(w);
	free(r);
}

/* Appends: many extents stay within the inline list (moved into one when full). */
static void test_appends(void **state)
{
	struct kv_pool *p;
	struct kv_attr a, other[40];
	struct kv_extent ext[KV_INLINE_EXTENTS];
	uint8_t *w = malloc(1 << 20), *r = malloc(24 << 20);
	uint64_t size, off = 0;
	int i, n;

	assert_int_equal(kv_pool_mkfs(path, 128 << 20, 0, false), 0);
	p = open_pool();
	assert_int_equal(kv_create(p, KV_ROOT_INO, "big", 3, S_IFREG | 0644, 0, 0, &a), 0);
	assert_int_equal(kv_open(p, a.ino), 0);
	/* interleave with small files so in-place extension often fails */
	for (i = 0; i < 24; i++) {
		char nm[8];

		fill(w, 1 << 20, (unsigned)i);
		assert_int_equal(kv_write(p, a.ino, w, 1 << 20, off), 1 << 20);
		off += 1 << 20;
		snprintf(nm, sizeof(nm), "s%d", i);
		assert_int_equal(
		    kv_create(p, KV_ROOT_INO, nm, strlen(nm), S_IFREG | 0644, 0, 0, &other[i]), 0);
		assert_int_equal(kv_write(p, other[i].ino, w, 4096, 0), 4096);
	}
	n = kv_extents(p, a.ino, ext, KV_INLINE_EXTENTS, &size);
	assert_true(n >= 1 && n <= KV_INLINE_EXTENTS);
	assert_int_equal(size, 24 << 20);
	assert_int_equal(kv_read(p, a.ino, r, 24 << 20, 0), 24 << 20);
	for (i = 0; i < 24; i++) {
		fill(w, 1 << 20, (unsigned)i);
		assert_memory_equal(r + ((size_t)i << 20), w, 1 << 20);
	}
	kv_release(p, a.ino); /* trims the room ahead */
	assert_int_equal(kv_getattr(p, a.ino, &a), 0);
	assert_int_equal(a.alloc_bytes, 24 << 20);
	/* the fast path needs one extent: lookup+pin moves a file written in pieces */
	{
		struct kv_attr pa;
		struct kv_extent one;

		assert_true(n > 1); /* the interleaved small files kept it in pieces */
		assert_int_equal(kv_lookup_pin(p, KV_ROOT_INO, "big", 3, &pa, &one), 0);
		assert_int_equal(kv_extents(p, a.ino, ext, KV_INLINE_EXTENTS, &size), 1);
		assert_int_equal(one.off, ext[0].off);
		assert_int_equal(one.len, 24 << 20);
		assert_int_equal(kv_read(p, a.ino, r, 24 << 20, 0), 24 << 20);
		for (i = 0; i < 24; i++) {
			fill(w, 1 << 20, (unsigned)i);
			assert_memory_equal(r + ((size_t)i << 20), w, 1 << 20);
		}
		kv_unpin(p, a.ino);
	}
	kv_pool_close(p);
	assert_int_equal(kv_pool_fsck(path), 0);
	free(w);
	free(r);
}

static void test_xattrs(void **state)
{
	struct kv_pool *p;
	struct kv_attr a;
	char buf[256];

	assert_int_equal(kv_pool_mkfs(path, 32 << 20, 0, false), 0);
	p = open_pool();
	assert_int_equal(kv_create(p, KV_ROOT_INO, "f", 1, S_IFREG | 0644, 0, 0, &a), 0);
	assert_int_equal(kv_getxattr(p, a.ino, "user.x", buf, sizeof(buf)), -ENODATA);
	assert_int_equal(kv_setxattr(p, a.ino, "user.x", "hello", 5, 0), 0);
	assert_int_equal(kv_setxattr(p, a.ino, "user.y", "", 0, 0), 0);
	assert_int_equal(kv_setxattr(p, a.ino, "user.x", "no", 2, XATTR_CREATE), -EEXIST);
	assert_int_equal(kv_setxattr(p, a.ino, "user.z", "no", 2, XATTR_REPLACE), -ENODATA);
	assert_int_equal(kv_getxattr(p, a.ino, "user.x", NULL, 0), 5);
	assert_int_equal(kv_getxattr(p, a.ino, "user.x", buf, 2), -ERANGE);
	assert_int_equal(kv_listxattr(p, a.ino, buf, sizeof(buf)), 14);
	assert_memory_equal(buf, "user.x\0user.y\0", 14);
	kv_pool_close(p);
	p = open_pool();
	assert_int_equal(kv_getxattr(p, a.ino, "user.x", buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(kv_removexattr(p, a.ino, "user.x"), 0);
	assert_int_equal(kv_getxattr(p, a.ino, "user.x", buf, sizeof(buf)), -ENODATA);
	assert_int_equal(kv_unlink(p, KV_ROOT_INO, "f", 1), 0);
	kv_forget(p, a.ino, 1);
	kv_pool_close(p);
	assert_int_equal(kv_pool_fsck(path), 0);
}

/* Unlinked while open: data stays readable until the last holder goes. */
static void test_unlink_open(void **state)
{
	struct kv_pool *p;
	struct kv_pool_stats st0, st1;
	struct kv_attr a;
	uint8_t buf[8192], r[8192];

	assert_int_equal(kv_pool_mkfs(path, 32 << 20, 0, false), 0);
	p = open_pool();
	kv_pool_get_stats(p, &st0);
	assert_int_equal(kv_create(p, KV_ROOT_INO, "f", 1, S_IFREG | 0644, 0, 0, &a), 0);
	assert_int_equal(kv_truncate(p, a.ino, sizeof(buf)), 0);
	fill(buf, sizeof(buf), 9);
	assert_int_equal(kv_write(p, a.ino, buf, sizeof(buf), 0), sizeof(buf));
	assert_int_equal(kv_open(p, a.ino), 0);
	assert_int_equal(kv_unlink(p, KV_ROOT_INO, "f", 1), 0);
	assert_int_equal(kv_lookup(p, KV_ROOT_INO, "f", 1, &a), -ENOENT);
	assert_int_equal(kv_read(p, a.ino, r, sizeof(r), 0), sizeof(r));
	assert_memory_equal(r, buf, sizeof(r));
	kv_release(p, a.ino);
	kv_forget(p, a.ino, 1);
	kv_pool_get_stats(p, &st1);
	assert_int_equal(st1.used_bytes, st0.used_bytes);
	assert_int_equal(st1.inodes_free, st0.inodes_free);
	kv_pool_close(p);
}

/* Eviction: LRU order, held files never, ENOSPC when all is held. */
static void test_eviction(void **state)
{
	struct kv_pool *p;
	struct kv_attr a[64], x;
	struct kv_pool_stats st;
	uint64_t cap;
	int i, n;

	assert_int_equal(kv_pool_mkfs(path, 32 << 20, 0, false), 0);
	p = open_pool();
	kv_pool_get_stats(p, &st);
	cap = st.capacity_bytes;
	n = (int)(cap / (1 << 20));
	for (i = 0; i < n + 8 && i < 64; i++) {
		char nm[8];

		snprintf(nm, sizeof(nm), "f%d", i);
		assert_int_equal(
		    kv_create(p, KV_ROOT_INO, nm, strlen(nm), S_IFREG | 0644, 0, 0, &a[i]), 0);
		if (i == 1)
			assert_int_equal(kv_open(p, a[1].ino), 0); /* held */
		if (i == 2)
			assert_int_equal(kv_pin(p, a[2].ino, a[2].gen), 0); /* pinned */
		assert_int_equal(kv_truncate(p, a[i].ino, 1 << 20), 0);
	}
	kv_pool_get_stats(p, &st);
	assert_true(st.evictions >= 8);
	assert_true(st.used_bytes <= cap);
	assert_int_equal(kv_lookup(p, KV_ROOT_INO, "f0", 2, &x), -ENOENT); /* oldest went first */
	assert_int_equal(kv_lookup(p, KV_ROOT_INO, "f1", 2, &x), 0);
	assert_int_equal(kv_lookup(p, KV_ROOT_INO, "f2", 2, &x), 0);
	/* hold everything left: now ENOSPC */
	for (i = 3; i < n + 8 && i < 64; i++)
		if (kv_open(p, a[i].ino) != 0)
			a[i].ino = 0;
	assert_int_equal(kv_create(p, KV_ROOT_INO, "last", 4, S_IFREG | 0644, 0, 0, &x), 0);
	assert_int_equal(kv_truncate(p, x.ino, 4 << 20), -ENOSPC);
	kv_pool_close(p);
}

/*
 * A fresh 32 MiB pool all but full of files f0, f1, ... of 1 MiB each,
 * stored in that order, none evicted. @a: room for 64. Return: the pool;
 * *@n: how many files.
 */
static struct kv_pool *open_full_pool(struct kv_attr *a, int *n)
{
	struct kv_pool_stats st;
	struct kv_pool *p;
	char nm[16];
	int i;

	assert_int_equal(kv_pool_mkfs(path, 32 << 20, 0, false), 0);
	p = open_pool();
	kv_pool_get_stats(p, &st);
	*n = (int)(st.capacity_bytes / (1 << 20)) - 1;
	assert_true(*n > 12 && *n < 64);
	for (i = 0; i < *n; i++) {
		snprintf(nm, sizeof(nm), "f%d", i);
		assert_int_equal(
		    kv_create(p, KV_ROOT_INO, nm, strlen(nm), S_IFREG | 0644, 0, 0, &a[i]), 0);
		assert_int_equal(kv_truncate(p, a[i].ino, 1 << 20), 0);
	}
	kv_pool_get_stats(p, &st);
	assert_int_equal(st.evictions, 0);
	return p;
}

/*
 * Eviction takes exactly the least recently used: a lookup, an open, a pin
 * make a file the newest, however long ago it was stored; files that become
 * evictable together leave in the order they did.
 */
static void test_lru_order(void **state)
{
	static const int used[] = { 5, 3, 7, 0 }; /* in this order, after every store */
	struct kv_pool *p;
	struct kv_attr a[64], x;
	struct kv_pool_stats st;
	int i, n, k, order[64], gone, prefix;
	char nm[8];

	p = open_full_pool(a, &n);
	assert_int_equal(kv_lookup(p, KV_ROOT_INO, "f5", 2, &x), 0);
	kv_forget(p, x.ino, 1);
	assert_int_equal(kv_open(p, a[3].ino), 0);
	kv_release(p, a[3].ino);
	assert_int_equal(kv_pin(p, a[7].ino, a[7].gen), 0);
	kv_unpin(p, a[7].ino);
	assert_int_equal(kv_lookup(p, KV_ROOT_INO, "f0", 2, &x), 0);
	kv_forget(p, x.ino, 1);
	/* the order eviction must follow */
	for (i = 0, k = 0; i < n; i++)
		if (i != 0 && i != 3 && i != 5 && i != 7)
			order[k++] = i;
	for (i = 0; i < 4; i++)
		order[k++] = used[i];
	/* seven more files of 1 MiB: about six of the least recently used go, nothing else */
	for (i = 0; i < 7; i++) {
		snprintf(nm, sizeof(nm), "n%d", i);
		assert_int_equal(kv_create(p, KV_ROOT_INO, nm, 2, S_IFREG | 0644, 0, 0, &x), 0);
		assert_int_equal(kv_truncate(p, x.ino, 1 << 20), 0);
	}
	for (i = 0, gone = 0, prefix = 1; i < n; i++) {
		bool absent;

		snprintf(nm, sizeof(nm), "f%d", order[i]);
		absent = kv_lookup(p, KV_ROOT_INO, nm, strlen(nm), &x) == -ENOENT;
		if (!absent)
			kv_forget(p, x.ino, 1);
		if (absent && !prefix)
			fail_msg("%s was evicted before a file used less recently", nm);
		prefix &= absent;
		gone += absent;
	}
	if (gone < 5 || gone > 7)
		fail_msg("%d files evicted for 7 MiB (n %d)", gone, n);
	kv_pool_close(p);
	/* a read-only open (kvfs stat) builds the same order and writes nothing */
	{
		struct kv_open_opts ro = { .numa_node = -1, .readonly = true };

		assert_int_equal(kv_pool_open(path, &ro, &p), 0);
		kv_pool_get_stats(p, &st);
		assert_int_equal(st.files, (uint64_t)(n - gone + 7));
		kv_pool_close(p);
	}
}

/* Is the file @a still there? Asked without a lookup, which would count as a use. */
static int still_there(struct kv_pool *p, const struct kv_attr *a)
{
	struct kv_attr x;

	return kv_getattr(p, a->ino, &x) == 0 && x.gen == a->gen && x.nlink == 1;
}

/*
 * A hold leaves a file in its LRU set: eviction passes over it (taking it
 * off the set) while it is held, and its last release puts it back as just
 * used, after which it goes in its turn.
 */
static void test_lru_held_at_top(void **state)
{
	struct kv_pool *p;
	struct kv_attr a[64], b[3], x;
	struct kv_pool_stats st;
	int i, n;
	char nm[16];

	(void)state;
	p = open_full_pool(a, &n);
	assert_int_equal(kv_pin(p, a[0].ino, a[0].gen), 0); /* the oldest, pinned */
	for (i = 0; i < 3; i++) { /* the oldest after f0 go for these, f0 stays */
		snprintf(nm, sizeof(nm), "n%d", i);
		assert_int_equal(kv_create(p, KV_ROOT_INO, nm, 2, S_IFREG | 0644, 0, 0, &b[i]), 0);
		assert_int_equal(kv_truncate(p, b[i].ino, 1 << 20), 0);
	}
	kv_pool_get_stats(p, &st);
	assert_true(st.evictions >= 1);
	assert_false(still_there(p, &a[1]));
	assert_true(still_there(p, &a[0]));
	kv_unpin(p, a[0].ino); /* back in, as used now: after f2 .. f(n-1) and n0 .. n2 */
	for (i = 3; i < n + 6 && still_there(p, &a[0]); i++) {
		snprintf(nm, sizeof(nm), "n%d", i);
		assert_int_equal(
		    kv_create(p, KV_ROOT_INO, nm, strlen(nm), S_IFREG | 0644, 0, 0, &x), 0);
		assert_int_equal(kv_truncate(p, x.ino, 1 << 20), 0);
	}
	/* f0 went in its turn (not lost off the set), after every file used before its unpin */
	assert_false(still_there(p, &a[0]));
	for (i = 2; i < n; i++)
		if (still_there(p, &a[i]))
			fail_msg("f0 went while f%d, used less recently, stayed", i);
	for (i = 0; i < 3; i++)
		if (still_there(p, &b[i]))
			fail_msg("f0 went while n%d, used less recently, stayed", i);
	kv_pool_close(p);
}

/* Records only the kernel's cache still names are reused when none is free. */
static void test_inode_reuse(void **state)
{
	struct kv_pool *p;
	struct kv_attr a[40], b, old, cur, x;
	struct kv_pool_stats st;
	uint64_t free0;
	char nm[16];
	int i, n_f;

	assert_int_equal(kv_pool_mkfs(path, 32 << 20, 16, false), 0);
	p = open_pool();
	kv_pool_get_stats(p, &st);
	/* fill every record; each create leaves a kernel reference (kref 1) */
	n_f = (int)st.inodes_free;
	for (i = 0; i < n_f; i++) {
		snprintf(nm, sizeof(nm), "f%d", i);
		assert_int_equal(
		    kv_create(p, KV_ROOT_INO, nm, strlen(nm), S_IFREG | 0644, 0, 0, &a[i]), 0);
	}
	/* more creates evict (still referenced files) and, short of free records, reuse one */
	for (i = 0; i < 8; i++) {
		snprintf(nm, sizeof(nm), "g%d", i);
		assert_int_equal(
		    kv_create(p, KV_ROOT_INO, nm, strlen(nm), S_IFREG | 0644, 0, 0, &b), 0);
	}
	assert_int_equal(kv_lookup(p, KV_ROOT_INO, "f0", 2, &b), -ENOENT);
	/*
	 * A g file lives in the record of an evicted f file the kernel still
	 * named, under a new generation; late forgets of the old life are absorbed.
	 */
	for (i = 0, old.ino = 0; i < 8 && !old.ino; i++) {
		int j;

		snprintf(nm, sizeof(nm), "g%d", i);
		if (kv_lookup(p, KV_ROOT_INO, nm, strlen(nm), &cur)) /* evicted in turn */
			continue;
		for (j = 0; j < n_f; j++)
			if (a[j].ino == cur.ino && a[j].gen != cur.gen)
				old = a[j];
	}
	assert_int_not_equal(old.ino, 0);
	kv_forget(p, old.ino, 1); /* the kernel forgets the f file only now */
	assert_int_equal(kv_getattr(p, old.ino, &x), 0);
	assert_int_equal(x.gen, cur.gen);
	/* still referenced (its own lookups stand): unlinked, it stays an orphan */
	kv_pool_get_stats(p, &st);
	free0 = st.inodes_free;
	assert_int_equal(kv_unlink(p, KV_ROOT_INO, nm, strlen(nm)), 0);
	kv_pool_get_stats(p, &st);
	assert_int_equal(st.inodes_free, free0);
	/* its own forgets (with any older lives' still owed) free the record */
	kv_forget(p, old.ino, 1000);
	kv_pool_get_stats(p, &st);
	assert_int_equal(st.inodes_free, free0 + 1);
	/* a held file's record is never reused */
	assert_int_equal(kv_create(p, KV_ROOT_INO, "h", 1, S_IFREG | 0644, 0, 0, &b), 0);
	assert_int_equal(kv_open(p, b.ino), 0);
	assert_int_equal(kv_unlink(p, KV_ROOT_INO, "h", 1), 0);
	for (i = 8; i < 40; i++) {
		snprintf(nm, sizeof(nm), "g%d", i);
		assert_int_equal(
		    kv_create(p, KV_ROOT_INO, nm, strlen(nm), S_IFREG | 0644, 0, 0, &a[0]), 0);
		assert_int_not_equal(a[0].ino, b.ino);
	}
	kv_release(p, b.ino);
	kv_pool_close(p);
	assert_int_equal(kv_pool_fsck(path), 0);
}

/* A file replaced by rename that only the kernel still names is reusable too. */
static void test_rename_victim_reuse(void **state)
{
	struct kv_pool *p;
	struct kv_attr a, b, x;
	struct kv_pool_stats st;
	uint64_t replaced;
	char nm[16];
	int i, n;

	assert_int_equal(kv_pool_mkfs(path, 32 << 20, 16, false), 0);
	p = open_pool();
	assert_int_equal(kv_create(p, KV_ROOT_INO, "b", 1, S_IFREG | 0644, 0, 0, &b), 0);
	assert_int_equal(kv_create(p, KV_ROOT_INO, "a", 1, S_IFREG | 0644, 0, 0, &a), 0);
	assert_int_equal(kv_rename(p, KV_ROOT_INO, "a", 1, KV_ROOT_INO, "b", 1, 0, &replaced), 0);
	assert_int_equal(replaced, b.ino); /* an orphan now: the kernel still has it */
	assert_int_equal(kv_open(p, a.ino), 0);
	/* fill every other record with files held open: eviction cannot help */
	kv_pool_get_stats(p, &st);
	n = (int)st.inodes_free;
	for (i = 0; i < n; i++) {
		snprintf(nm, sizeof(nm), "h%d", i);
		assert_int_equal(
		    kv_create(p, KV_ROOT_INO, nm, strlen(nm), S_IFREG | 0644, 0, 0, &x), 0);
		assert_int_equal(kv_open(p, x.ino), 0);
	}
	/* the one way left is the rename's victim */
	assert_int_equal(kv_create(p, KV_ROOT_INO, "new", 3, S_IFREG | 0644, 0, 0, &x), 0);
	assert_int_equal(x.ino, b.ino);
	assert_int_not_equal(x.gen, b.gen);
	assert_int_equal(kv_open(p, x.ino), 0); /* now everything is held */
	assert_int_equal(kv_create(p, KV_ROOT_INO, "more", 4, S_IFREG | 0644, 0, 0, &x), -ENOSPC);
	kv_pool_close(p);
}

/*
 * Eviction removes the directories it empties. One the kernel still names
 * comes back when a create arrives through it (the same inode); one it
 * forgot comes back anew at a lookup of its name, and its subdirectories
 * under it; one with a policy stays; a file under evict=never is never taken.
 */
static void test_dir_reclaim(void **state)
{
	struct kv_pool *p;
	struct kv_attr top, sub, f, g, again, keep, nv, x;
	struct kv_pool_stats st;
	uint64_t dirs;

	assert_int_equal(kv_pool_mkfs(path, 32 << 20, 0, false), 0);
	p = open_pool();
	assert_int_equal(kv_create(p, KV_ROOT_INO, "top", 3, S_IFDIR | 0750, 7, 8, &top), 0);
	assert_int_equal(kv_create(p, top.ino, "sub", 3, S_IFDIR | 0755, 7, 8, &sub), 0);
	assert_int_equal(kv_create(p, sub.ino, "f", 1, S_IFREG | 0644, 7, 8, &f), 0);
	assert_int_equal(kv_write(p, f.ino, "data", 4, 0), 4);
	assert_int_equal(kv_create(p, KV_ROOT_INO, "keep", 4, S_IFDIR | 0755, 0, 0, &keep), 0);
	assert_int_equal(kv_setxattr(p, keep.ino, "user.kvfs.quota", "1G", 2, 0), 0);
	assert_int_equal(kv_create(p, keep.ino, "k", 1, S_IFREG | 0644, 0, 0, &x), 0);
	assert_int_equal(kv_create(p, KV_ROOT_INO, "nv", 2, S_IFDIR | 0755, 0, 0, &nv), 0);
	assert_int_equal(kv_setxattr(p, nv.ino, "user.kvfs.evict", "never", 5, 0), 0);
	assert_int_equal(kv_create(p, nv.ino, "n", 1, S_IFREG | 0644, 0, 0, &x), 0);
	assert_int_equal(kv_write(p, x.ino, "keep", 4, 0), 4);
	assert_int_equal(kv_setxattr(p, f.ino, "user.kvfs.evict", "never", 5, 0), -EINVAL);
	assert_int_equal(kv_setxattr(p, nv.ino, "user.kvfs.quota", "12X", 3, 0), -EINVAL);
	/* the kernel still caches "top" and "sub" (a cached dentry pins its parent's) */
	usleep(50 * 1000); /* directories used in the last ~34 ms stay */
	kv_pool_get_stats(p, &st);
	dirs = st.directories;
	assert_true(kv_pool_evict_to(p, 0) >= 2);
	kv_pool_get_stats(p, &st);
	assert_int_equal(st.dirs_reclaimed, 2);
	assert_int_equal(st.directories, dirs - 2); /* top and sub are gone */
	assert_int_equal(kv_lookup(p, KV_ROOT_INO, "keep", 4, &x), 0); /* has a policy */
	assert_int_equal(kv_lookup(p, nv.ino, "n", 1, &x), 0); /* never evicted */
	/* a create through the cached "sub" revives it and "top" under it */
	assert_int_equal(kv_create(p, sub.ino, "g", 1, S_IFREG | 0644, 7, 8, &g), 0);
	assert_int_equal(kv_lookup(p, KV_ROOT_INO, "top", 3, &again), 0);
	assert_int_equal(again.ino, top.ino);
	assert_int_equal(kv_lookup(p, top.ino, "sub", 3, &x), 0);
	assert_int_equal(x.ino, sub.ino);
	assert_int_equal(x.gen, sub.gen);
	assert_int_equal(x.mode, S_IFDIR | 0755);
	/* gone again, and forgotten: a lookup of the top name makes it anew */
	kv_forget(p, top.ino, 3);
	kv_forget(p, sub.ino, 2);
	kv_forget(p, g.ino, 1);
	usleep(50 * 1000);
	assert_true(kv_pool_evict_to(p, 0) >= 1);
	assert_int_equal(kv_lookup(p, KV_ROOT_INO, "top", 3, &again), 0);
	assert_int_equal(again.mode, S_IFDIR | 0750);
	assert_int_equal(again.uid, 7);
	/* and its subdirectory, through the new one standing for the old */
	assert_int_equal(kv_lookup(p, again.ino, "sub", 3, &x), 0);
	assert_int_equal(x.mode, S_IFDIR | 0755);
	assert_int_not_equal(x.ino, 0);
	assert_int_equal(kv_lookup(p, again.ino, "other", 5, &x), -ENOENT);
	kv_pool_close(p);
	assert_int_equal(kv_pool_fsck(path), 0);
}

/* A million files in one directory: all found, listed, and the pool checks clean. */
static void test_million(void **state)
{
	struct kv_open_opts o = { .numa_node = -1 };
	struct kv_pool *p;
	struct kv_attr a, d;
	struct kv_dirent *ents;
	uint64_t n, i;
	char nm[40];

	assert_int_equal(kv_pool_mkfs(path, 1100ull << 20, 1000100, false), 0);
	assert_int_equal(kv_pool_open(path, &o, &p), 0);
	assert_int_equal(kv_create(p, KV_ROOT_INO, "d", 1, S_IFDIR | 0755, 0, 0, &d), 0);
	for (i = 0; i < 1000000; i++) {
		int len = snprintf(nm, sizeof(nm), "%016llx%016llx", (unsigned long long)i * 7919,
				   (unsigned long long)i);

		assert_int_equal(kv_create(p, d.ino, nm, (size_t)len, S_IFREG | 0644, 0, 0, &a), 0);
	}
	kv_pool_close(p);
	assert_int_equal(kv_pool_open(path, &o, &p), 0);
	for (i = 0; i < 1000000; i += 997) {
		int len = snprintf(nm, sizeof(nm), "%016llx%016llx", (unsigned long long)i * 7919,
				   (unsigned long long)i);

		assert_int_equal(kv_lookup(p, d.ino, nm, (size_t)len, &a), 0);
		nm[0] ^= 1;
		assert_int_equal(kv_lookup(p, d.ino, nm, (size_t)len, &a), -ENOENT);
	}
	assert_int_equal(kv_dir_snapshot(p, d.ino, &ents, &n), 0);
	assert_int_equal(n, 1000000);
	free(ents);
	kv_pool_close(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mkfs_refuses_formatted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_formatted_and_foreign, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_version_and_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory_and_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_file_trust, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_pool, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locked_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dax_discovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dax_mkfs_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_appends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xattrs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlink_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eviction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lru_held_at_top, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lru_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_victim_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_reclaim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_million, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
