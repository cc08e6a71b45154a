// SPDX-License-Identifier: MIT
/*
 * test_follow.c - a cluster follower's view follows the change log in place
 * (mm/follow.c, kv_pool_follow): a leader's open of a pool file under /tmp
 * creates, writes, renames, unlinks, removes directories, marks and
 * evicts; a read-only cluster open of the same pool follows, and every
 * directory it lists and every name it looks up matches a view opened afresh. A log the leader wrote past the
 * view's place, and a new leader, send it back to a new open (-ESTALE); a
 * scribbled record is quarantined and left out, as an open leaves it out,
 * a scribbled log entry is skipped, and a directory scribbled under its own
 * child sends the view to a new open; without hardware coherence the view
 * invalidates what it reads again.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coherence.h"
#include "log.h"
#include "mm.h"

static char path[64];

static void quiet_log(enum kv_log_level level, const char *fmt, va_list ap)
{
}

static int setup(void **state)
{
	snprintf(path, sizeof(path), "/tmp/kvfs-unit-follow-%d.pool", getpid());
	unlink(path);
	kv_log_set_handler(quiet_log);
	assert_int_equal(kv_pool_mkfs(path, 64u << 20, 4096, false), 0);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

static struct kv_pool *open_leader(uint64_t epoch)
{
	struct kv_open_opts o = {
		.numa_node = -1, .cluster = true, .cluster_epoch = epoch, .cluster_node = "lead"
	};
	struct kv_pool *p = NULL;

	assert_int_equal(kv_pool_open(path, &o, &p), 0);
	return p;
}

static struct kv_pool *open_view(void)
{
	struct kv_open_opts o = { .numa_node = -1, .readonly = true, .cluster = true };
	struct kv_pool *p = NULL;

	assert_int_equal(kv_pool_open(path, &o, &p), 0);
	return p;
}

static uint64_t mk(struct kv_pool *p, uint64_t dir, const char *name, uint32_t mode)
{
	struct kv_attr a;

	assert_int_equal(kv_create(p, dir, name, strlen(name), mode, 0, 0, &a), 0);
	kv_forget(p, a.ino, 1); /* no kernel here: nothing keeps it as an orphan */
	return a.ino;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted listing of @dir, one "name ino gen mode size" line each, into @buf. */
static void listing(struct kv_pool *p, uint64_t dir, char *buf, size_t size)
{
	struct kv_dirent *d = NULL;
	uint64_t n = 0, i;
	char **line;
	size_t off = 0;

	buf[0] = 0;
	if (kv_dir_snapshot(p, dir, &d, &n) != 0)
		return;
	line = calloc(n + 1, sizeof(*line));
	for (i = 0; i < n; i++) {
		char name[KV_NAME_MAX + 1];
		struct kv_attr a;

		line[i] = malloc(KV_NAME_MAX + 128);
		if (kv_dirent_name(p, &d[i], name, sizeof(name), &a) < 0)
			snprintf(line[i], KV_NAME_MAX + 128, "?");
		else
			snprintf(line[i], KV_NAME_MAX + 128, "%s %llu %llu %o %llu", name,
				 (unsigned long long)a.ino, (unsigned long long)a.gen, a.mode,
				 (unsigned long long)a.size);
	}
	qsort(line, n, sizeof(*line), cmp_str);
	for (i = 0; i < n; i++) {
		off += (size_t)snprintf(buf + off, size - off, "%s\n", line[i]);
		free(line[i]);
	}
	free(line);
	free(d);
}

/* Every directory of @dirs lists the same in the followed view and a fresh one. */
static void same_as_fresh(struct kv_pool *view, const uint64_t *dirs, int n)
{
	static char a[1 << 16], b[1 << 16];
	struct kv_pool *fresh = open_view();
	struct kv_pool_stats sa, sb;
	int i;

	for (i = 0; i < n; i++) {
		listing(view, dirs[i], a, sizeof(a));
		listing(fresh, dirs[i], b, sizeof(b));
		assert_string_equal(a, b);
	}
	{ /* the marked directories, and the files below each (their bytes: at the next open) */
		struct kv_dir_stats da[8], db[8];
		int na = kv_pool_dir_stats(view, da, 8), nb = kv_pool_dir_stats(fresh, db, 8), j;

		assert_int_equal(na, nb);
		for (j = 0; j < na; j++) {
			assert_int_equal(da[j].ino, db[j].ino);
			assert_int_equal(da[j].never, db[j].never);
			assert_int_equal(da[j].files, db[j].files);
		}
	}
	kv_pool_get_stats(view, &sa);
	kv_pool_get_stats(fresh, &sb);
	assert_int_equal(sa.files, sb.files);
	assert_int_equal(sa.directories, sb.directories);
	assert_int_equal(sa.used_bytes, sb.used_bytes);
	assert_int_equal(sa.free_bytes, sb.free_bytes);
	assert_int_equal(sa.inodes_free, sb.inodes_free);
	kv_pool_close(fresh);
}

static int lookup(struct kv_pool *p, uint64_t dir, const char *name, struct kv_attr *a)
{
	int rc = kv_lookup(p, dir, name, strlen(name), a);

	if (!rc)
		kv_forget(p, a->ino, 1);
	return rc;
}

static void test_follow_namespace(void **state)
{
	struct kv_pool *lead = open_leader(1), *view = open_view();
	uint64_t d1, d2, d3, f[8], dirs[4], ino[4], moved;
	uint8_t published[4];
	struct kv_extent ext;
	struct kv_attr a;
	char name[32];
	int i;

	d1 = mk(lead, KV_ROOT_INO, "d1", S_IFDIR | 0755);
	d2 = mk(lead, KV_ROOT_INO, "d2", S_IFDIR | 0755);
	mk(lead, KV_ROOT_INO, "e", S_IFDIR | 0755);
	for (i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		f[i] = mk(lead, d1, name, S_IFREG | 0644);
	}
	assert_true(kv_pool_follow_behind(view));
	assert_true(kv_pool_follow(view, NULL, NULL) > 0);
	assert_false(kv_pool_follow_behind(view));
	assert_int_equal(lookup(view, d1, "f3", &a), 0);
	assert_int_equal(a.ino, f[3]);

	/* data, a rename across directories, an unlink, a directory moved, a policy mark */
	assert_int_equal(kv_write(lead, f[0], "hello", 5, 0), 5);
	assert_int_equal(kv_rename(lead, d1, "f1", 2, d2, "g1", 2, 0, &moved), 0);
	assert_int_equal(kv_unlink(lead, d1, "f2", 2), 0);
	d3 = mk(lead, d1, "d3", S_IFDIR | 0755);
	mk(lead, d3, "inner", S_IFREG | 0600);
	assert_int_equal(kv_rename(lead, d1, "d3", 2, d2, "d3moved", 7, 0, &moved), 0);
	assert_int_equal(kv_setxattr(lead, d2, KV_XATTR_EVICT, "never", 5, 0), 0);
	assert_int_equal(kv_symlink(lead, d2, "link", 4, "d1/f0", 0, 0, &a), 0);
	kv_forget(lead, a.ino, 1);
	/* the fast path: reserve and commit a batch */
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "blk%d", i);
		assert_int_equal(
		    kv_reserve(lead, d1, name, strlen(name), 8192, 0, 0, true, &ino[i], &ext), 0);
	}
	assert_int_equal(kv_commit(lead, ino, 4, published), 0);
	/* a replacing rename: the name's old file goes in the same transaction */
	assert_int_equal(kv_rename(lead, d1, "f4", 2, d1, "f5", 2, 0, &moved), 0);
	/* a directory made and removed, and one removed that the view had */
	mk(lead, d1, "gone", S_IFDIR | 0755);
	assert_int_equal(kv_rmdir(lead, d1, "gone", 4), 0);
	assert_int_equal(kv_rmdir(lead, KV_ROOT_INO, "e", 1), 0);

	assert_true(kv_pool_follow(view, NULL, NULL) > 0);
	assert_int_equal(lookup(view, d1, "f1", &a), -ENOENT);
	assert_int_equal(lookup(view, d2, "g1", &a), 0);
	assert_int_equal(a.ino, f[1]);
	assert_int_equal(lookup(view, d1, "f2", &a), -ENOENT);
	assert_int_equal(lookup(view, d1, "gone", &a), -ENOENT);
	assert_int_equal(lookup(view, KV_ROOT_INO, "e", &a), -ENOENT);
	assert_int_equal(lookup(view, d1, "d3", &a), -ENOENT);
	assert_int_equal(lookup(view, d2, "d3moved", &a), 0);
	assert_int_equal(lookup(view, a.ino, "inner", &a), 0);
	assert_int_equal(lookup(view, d1, "f5", &a), 0);
	assert_int_equal(a.ino, f[4]);
	assert_int_equal(lookup(view, d1, "blk3", &a), 0);
	assert_int_equal(a.size, 8192);
	assert_int_equal(lookup(view, d1, "f0", &a), 0);
	assert_int_equal(a.size, 5);
	{
		char buf[8] = { 0 };

		assert_int_equal(kv_read(view, f[0], buf, sizeof(buf), 0), 5);
		assert_string_equal(buf, "hello");
	}
	dirs[0] = KV_ROOT_INO;
	dirs[1] = d1;
	dirs[2] = d2;
	dirs[3] = d3;
	same_as_fresh(view, dirs, 4);

	/* eviction, then nothing new: the view follows and has nothing to do */
	assert_true(kv_pool_evict_to(lead, 0) > 0);
	assert_true(kv_pool_follow(view, NULL, NULL) > 0);
	same_as_fresh(view, dirs, 4);
	assert_int_equal(kv_pool_follow(view, NULL, NULL), 0);
	kv_pool_close(view);
	kv_pool_close(lead);
}

static void test_follow_falls_back(void **state)
{
	struct kv_pool *lead = open_leader(1), *view = open_view();
	uint64_t d, dirs[2];
	struct kv_attr a;
	char name[32];
	int i;

	d = mk(lead, KV_ROOT_INO, "many", S_IFDIR | 0755);
	assert_true(kv_pool_follow(view, NULL, NULL) > 0);
	/* more changes than the log keeps: the view cannot tell what it missed */
	for (i = 0; i < 1500; i++) {
		snprintf(name, sizeof(name), "x%d", i);
		mk(lead, d, name, S_IFREG | 0644);
	}
	assert_int_equal(kv_pool_follow(view, NULL, NULL), -ESTALE);
	mk(lead, d, "after", S_IFREG | 0644);
	assert_int_equal(kv_pool_follow(view, NULL, NULL), -ESTALE); /* for good */
	kv_pool_close(view);
	view = open_view(); /* what the caller does then */
	assert_int_equal(lookup(view, d, "x1499", &a), 0);
	dirs[0] = KV_ROOT_INO;
	dirs[1] = d;
	same_as_fresh(view, dirs, 2);

	/* a new leader: its open's replay and repairs are not logged */
	assert_int_equal(kv_pool_cluster_renew(lead, 2), 0);
	assert_int_equal(kv_pool_follow(view, NULL, NULL), -ESTALE);
	kv_pool_close(view);
	kv_pool_close(lead);
	/* not a follower's view */
	lead = open_leader(3);
	assert_int_equal(kv_pool_follow(lead, NULL, NULL), -EINVAL);
	kv_pool_close(lead);
}

/* The record of @ino and the change log, through a mapping of the pool file of our own. */
static uint8_t *map_pool(size_t *len)
{
	int fd = open(path, O_RDWR);
	struct stat st;
	uint8_t *m;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	*len = (size_t)st.st_size;
	m = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(m != MAP_FAILED);
	return m;
}

static void test_follow_hostile(void **state)
{
	struct kv_pool *lead = open_leader(1), *view = open_view();
	const struct kv_geometry *g = kv_pool_geometry(lead);
	uint64_t d, victim, other, dirs[2], before;
	struct kv_pool_stats st;
	struct kv_change_log *log;
	struct kv_inode *in;
	struct kv_attr a;
	size_t len;
	uint8_t *m = map_pool(&len);

	d = mk(lead, KV_ROOT_INO, "h", S_IFDIR | 0755);
	victim = mk(lead, d, "victim", S_IFREG | 0644);
	other = mk(lead, d, "other", S_IFREG | 0644);
	mk(lead, d, "third", S_IFREG | 0644);
	assert_int_equal(kv_write(lead, victim, "abc", 3, 0), 3);
	assert_true(kv_pool_follow(view, NULL, NULL) > 0);
	assert_int_equal(lookup(view, d, "victim", &a), 0);
	kv_pool_get_stats(view, &st);
	before = st.quarantined;
	dirs[0] = KV_ROOT_INO;
	dirs[1] = d;

	/* a scribbled extent (outside the data area), and a log entry naming no record */
	in = (struct kv_inode *)(m + g->inode_off) + victim;
	in->ext[0].off = g->pool_size + KV_PAGE_SIZE;
	kv_pool_log_change(lead, victim);
	log = (struct kv_change_log *)(m + g->journal_off + g->journal_size - KV_CLUSTER_RPC_SIZE +
				       (uint64_t)KV_CLUSTER_SLOTS * KV_CLUSTER_BOX_SIZE);
	log->ent[log->head % KV_CHANGE_LOG_LEN].ino = UINT64_MAX - 5;
	log->ent[log->head % KV_CHANGE_LOG_LEN].gen = 1;
	__atomic_store_n(&log->head, log->head + 1, __ATOMIC_RELEASE);
	/* the victim is quarantined and left out, as an open leaves it out */
	assert_true(kv_pool_follow(view, NULL, NULL) >= 1);
	assert_int_equal(lookup(view, d, "victim", &a), -ENOENT);
	assert_int_equal(kv_read(view, victim, (char[4]){ 0 }, 3, 0) < 0, 1);
	kv_pool_get_stats(view, &st);
	assert_true(st.quarantined > before);
	same_as_fresh(view, dirs, 2);

	/* a name another file of the directory has: not for the log to decide */
	in = (struct kv_inode *)(m + g->inode_off) + other;
	memcpy(in->name, "third", 5);
	in->name_len = 5;
	kv_pool_log_change(lead, other);
	assert_int_equal(kv_pool_follow(view, NULL, NULL), -ESTALE);
	assert_int_equal(lookup(view, d, "third", &a), 0); /* the view as it was */
	kv_pool_close(view);
	view = open_view(); /* an open keeps one of the twins */
	assert_int_equal(lookup(view, d, "third", &a), 0);
	assert_int_equal(kv_pool_follow(view, NULL, NULL), 0);
	same_as_fresh(view, dirs, 2);
	kv_pool_close(view);
	kv_pool_close(lead);
	munmap(m, len);
}

/* A directory scribbled under its own child: no cycle joins the view. */
static void test_follow_cycle(void **state)
{
	struct kv_pool *lead = open_leader(1), *view = open_view();
	const struct kv_geometry *g = kv_pool_geometry(lead);
	uint64_t top, sub, dirs[1] = { KV_ROOT_INO };
	struct kv_attr a;
	size_t len;
	uint8_t *m = map_pool(&len);

	top = mk(lead, KV_ROOT_INO, "top", S_IFDIR | 0755);
	sub = mk(lead, top, "sub", S_IFDIR | 0755);
	mk(lead, sub, "leaf", S_IFREG | 0644);
	assert_true(kv_pool_follow(view, NULL, NULL) > 0);
	((struct kv_inode *)(m + g->inode_off) + top)->parent = sub;
	kv_pool_log_change(lead, top);
	assert_int_equal(kv_pool_follow(view, NULL, NULL), -ESTALE);
	assert_int_equal(kv_pool_follow(view, NULL, NULL), -ESTALE); /* until replaced */
	kv_pool_close(view);
	view = open_view(); /* an open drops the cycle */
	assert_int_equal(lookup(view, KV_ROOT_INO, "top", &a), -ENOENT);
	same_as_fresh(view, dirs, 1);
	kv_pool_close(view);
	kv_pool_close(lead);
	munmap(m, len);
}

/* Without hardware coherence the view drops its stale copies of what it reads again. */
static void test_follow_not_coherent(void **state)
{
	struct kv_pool *lead = open_leader(1), *view = open_view();
	struct kv_coh_counts c;
	uint64_t d;
	struct kv_attr a;

	d = mk(lead, KV_ROOT_INO, "c", S_IFDIR | 0755);
	assert_int_equal(kv_setxattr(lead, d, "user.x", "1", 1, 0), 0);
	kv_coh_set_coherent(false);
	kv_coh_reset_counts();
	assert_true(kv_pool_follow(view, NULL, NULL) > 0);
	kv_coh_counts(&c);
	kv_coh_set_coherent(true);
	/* the log's head and entries and the leader's marks (16 lines here), and each
	 * record the log names (8 lines of 512 bytes; the directory's, 3 times) */
	assert_true(c.invalidates >= 5);
	assert_true(c.lines >= 16 + 3 * 8);
	assert_int_equal(lookup(view, KV_ROOT_INO, "c", &a), 0);
	kv_pool_close(view);
	kv_pool_close(lead);
}

/*
 * A view behind the leader reads what the leader wrote since (its log names
 * the file) without quarantining it; extents changed that no log entry
 * names are still a scribble (EIO, quarantined).
 */
static void test_follow_read_ahead(void **state)
{
	struct kv_pool *lead = open_leader(1), *view = open_view();
	const struct kv_geometry *g = kv_pool_geometry(lead);
	static char big[300000], got[300000];
	uint64_t d, f, s, reused;
	struct kv_pool_stats st;
	struct kv_inode *in;
	struct kv_attr a;
	size_t len, i;
	uint8_t *m = map_pool(&len);

	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + 1);
	d = mk(lead, KV_ROOT_INO, "r", S_IFDIR | 0755);
	f = mk(lead, d, "grows", S_IFREG | 0644);
	s = mk(lead, d, "scribbled", S_IFREG | 0644);
	assert_int_equal(kv_write(lead, s, "abc", 3, 0), 3);
	assert_true(kv_pool_follow(view, NULL, NULL) > 0);
	assert_int_equal(lookup(view, d, "grows", &a), 0);

	/* the leader writes, grows and rewrites the file; the view has not followed */
	assert_int_equal(kv_write(lead, f, big, 5000, 0), 5000);
	assert_true(kv_pool_follow_behind(view));
	memset(got, 0, sizeof(got));
	assert_int_equal(kv_read(view, f, got, sizeof(got), 0), 5000);
	assert_memory_equal(got, big, 5000);
	assert_int_equal(kv_write(lead, f, big, sizeof(big), 0), (ssize_t)sizeof(big));
	assert_int_equal(kv_read(view, f, got, sizeof(got), 0), (ssize_t)sizeof(big));
	assert_memory_equal(got, big, sizeof(big));
	assert_int_equal(kv_truncate(lead, f, 100), 0);
	assert_int_equal(kv_read(view, f, got, sizeof(got), 0), 100);
	kv_pool_get_stats(view, &st);
	assert_int_equal(st.quarantined, 0);
	/* followed: the same, from the view's own signature; the root's xattrs too */
	assert_int_equal(kv_setxattr(lead, KV_ROOT_INO, "user.r", "root", 4, 0), 0);
	assert_true(kv_pool_follow(view, NULL, NULL) > 0);
	assert_int_equal(kv_getxattr(view, KV_ROOT_INO, "user.r", got, sizeof(got)), 4);
	assert_int_equal(kv_read(view, f, got, sizeof(got), 0), 100);
	assert_memory_equal(got, big, 100);

	/* the record reused for another file since: not this view's file to read */
	assert_int_equal(kv_unlink(lead, d, "grows", 5), 0);
	reused = mk(lead, d, "new", S_IFREG | 0644);
	/* the leader takes the freed record again, and the same page for its bytes */
	assert_int_equal(reused, f);
	assert_int_equal(kv_write(lead, reused, "zz", 2, 0), 2);
	assert_int_equal(kv_read(view, f, got, sizeof(got), 0), -EIO);
	kv_pool_get_stats(view, &st);
	assert_int_equal(st.quarantined, 0);

	/* a scribble: the extents moved in the pool, no log entry names the file */
	in = (struct kv_inode *)(m + g->inode_off) + s;
	assert_true(kv_pool_follow(view, NULL, NULL) >= 0);
	assert_false(kv_pool_follow_behind(view));
	in->ext[0].off += KV_PAGE_SIZE;
	assert_int_equal(kv_read(view, s, got, 3, 0), -EIO);
	kv_pool_get_stats(view, &st);
	assert_int_equal(st.quarantined, 1);
	/* and while the view is behind on other files */
	kv_pool_close(view);
	in->ext[0].off -= KV_PAGE_SIZE;
	view = open_view();
	assert_int_equal(kv_write(lead, mk(lead, d, "other", S_IFREG | 0644), "x", 1, 0), 1);
	assert_true(kv_pool_follow_behind(view));
	in->ext[0].off += KV_PAGE_SIZE;
	assert_int_equal(kv_read(view, s, got, 3, 0), -EIO);
	kv_pool_get_stats(view, &st);
	assert_int_equal(st.quarantined, 1);
	kv_pool_close(view);
	kv_pool_close(lead);
	munmap(m, len);
}

/*
 * A name or an xattr blob a follower's copy catches mid-change (the log
 * names the record past the view's place): EIO for that call, nothing
 * quarantined, and the right answer once the change is whole; the same
 * bytes with no entry naming the record are damage (quarantined).
 */
static void test_follow_caught_changing(void **state)
{
	struct kv_pool *lead = open_leader(1), *view = open_view();
	const struct kv_geometry *g = kv_pool_geometry(lead);
	struct kv_xattr_rec *rec;
	struct kv_pool_stats st;
	struct kv_inode *in;
	uint64_t d, f, parent;
	char buf[KV_NAME_MAX + 1];
	size_t len;
	uint8_t *m = map_pool(&len);

	d = mk(lead, KV_ROOT_INO, "t", S_IFDIR | 0755);
	f = mk(lead, d, "name", S_IFREG | 0644);
	assert_int_equal(kv_setxattr(lead, f, "user.a", "1", 1, 0), 0);
	assert_true(kv_pool_follow(view, NULL, NULL) > 0);
	in = (struct kv_inode *)(m + g->inode_off) + f;
	rec = (struct kv_xattr_rec *)(m + in->xattr_off);

	in->name[0] = '/'; /* as a copy may catch a rename */
	kv_pool_log_change(lead, f);
	assert_int_equal(kv_name(view, f, buf, sizeof(buf), &parent), -EIO);
	in->name[0] = 'n';
	assert_int_equal(kv_name(view, f, buf, sizeof(buf), &parent), 4);
	assert_string_equal(buf, "name");
	rec->name_len = 0;
	assert_int_equal(kv_getxattr(view, f, "user.a", buf, sizeof(buf)), -EIO);
	rec->name_len = 6;
	assert_int_equal(kv_getxattr(view, f, "user.a", buf, sizeof(buf)), 1);
	kv_pool_get_stats(view, &st);
	assert_int_equal(st.quarantined, 0);

	/* followed: the same bytes and no entry are damage */
	assert_true(kv_pool_follow(view, NULL, NULL) > 0);
	assert_false(kv_pool_follow_behind(view));
	rec->name_len = 0;
	assert_int_equal(kv_getxattr(view, f, "user.a", buf, sizeof(buf)), -EIO);
	kv_pool_get_stats(view, &st);
	assert_int_equal(st.quarantined, 1);
	rec->name_len = 6;
	kv_pool_close(view);
	kv_pool_close(lead);
	munmap(m, len);
}

/*
 * A follower's view writes nothing of the pool (its mapping is writable,
 * for the mailboxes and holds): a read open of a file the leader is still
 * writing, closed on the follower, leaves the leader's room ahead alone
 * (it trimmed the record in place, and the leader then found its own file
 * changed behind its back); a pin of a file in pieces does not move it.
 */
static void test_follow_writes_nothing(void **state)
{
	struct kv_pool *lead = open_leader(1), *view = open_view();
	const struct kv_geometry *g = kv_pool_geometry(lead);
	static char buf[1 << 16], got[1 << 16];
	struct kv_inode *in, before;
	struct kv_pool_stats st;
	struct kv_extent e;
	struct kv_attr a;
	uint64_t d, f;
	size_t len;
	uint8_t *m = map_pool(&len);

	memset(buf, 7, sizeof(buf));
	d = mk(lead, KV_ROOT_INO, "w", S_IFDIR | 0755);
	f = mk(lead, d, "open", S_IFREG | 0644);
	assert_int_equal(kv_open(lead, f), 0); /* a writer: room ahead until its last close */
	assert_int_equal(kv_write(lead, f, buf, 1000, 0), 1000);
	assert_int_equal(kv_write(lead, f, buf, 8000, 1000), 8000); /* grows again: room ahead */
	in = (struct kv_inode *)(m + g->inode_off) + f;
	assert_int_equal(in->extent_count, 1);
	assert_true(in->ext[0].len > 12288);
	assert_true(kv_pool_follow(view, NULL, NULL) > 0);
	memcpy(&before, in, sizeof(before));
	assert_int_equal(kv_open(view, f), 0);
	assert_int_equal(kv_read(view, f, got, sizeof(got), 0), 9000);
	kv_release(view, f);
	assert_memory_equal(&before, in, sizeof(before));
	assert_int_equal(kv_write(lead, f, buf, sizeof(buf), 9000), (ssize_t)sizeof(buf));
	kv_release(lead, f);
	assert_int_equal(kv_read(lead, f, got, sizeof(got), 9000), (ssize_t)sizeof(got));
	assert_memory_equal(got, buf, sizeof(got));
	kv_pool_get_stats(lead, &st);
	assert_int_equal(st.quarantined, 0);
	/* a pin of a file the view sees in several extents: EBUSY, nothing moved */
	in->extent_count = 2;
	in->ext[1] = in->ext[0];
	in->ext[0].len = 4096;
	in->ext[1].off += 4096;
	in->ext[1].len -= 4096;
	kv_pool_log_change(lead, f);
	assert_true(kv_pool_follow(view, NULL, NULL) > 0);
	memcpy(&before, in, sizeof(before));
	assert_int_equal(kv_lookup_pin(view, d, "open", 4, &a, &e), -EBUSY);
	assert_memory_equal(&before, in, sizeof(before));
	kv_pool_close(view);
	kv_pool_close(lead);
	munmap(m, len);
}

/*
 * A leader frees nothing another node holds (a follower's open, map or pin,
 * marked in its slot): an unlinked file keeps its bytes, a truncated one
 * its tail, and nothing new is written over them; a pin does not move a
 * file in pieces into one; the sweep (kv_pool_cluster_unpark) frees what
 * waited once no node holds the file.
 */
static void test_leader_waits_for_holds(void **state)
{
	struct kv_pool *lead = open_leader(1);
	static char buf[300000], got[300000];
	struct kv_pool_stats st0, st1;
	uint64_t d, f, t;
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i % 251);
	d = mk(lead, KV_ROOT_INO, "h", S_IFDIR | 0755);
	f = mk(lead, d, "gone", S_IFREG | 0644);
	t = mk(lead, d, "cut", S_IFREG | 0644);
	assert_int_equal(kv_write(lead, f, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	assert_int_equal(kv_write(lead, t, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	assert_int_equal(kv_pool_remote_hold(lead, 0, f, 0), 0);
	assert_int_equal(kv_pool_remote_hold(lead, 0, t, 0), 0);
	kv_pool_get_stats(lead, &st0);
	assert_int_equal(kv_unlink(lead, d, "gone", 4), 0);
	assert_int_equal(kv_truncate(lead, t, 4096), 0);
	kv_pool_get_stats(lead, &st1);
	assert_int_equal(st1.free_bytes, st0.free_bytes); /* nothing freed while held */
	for (i = 0; i < 3; i++) { /* nor reused: the holder's bytes stay as they were */
		char name[16];
		uint64_t x;

		snprintf(name, sizeof(name), "new%zu", i);
		x = mk(lead, d, name, S_IFREG | 0644);
		assert_int_equal(kv_write(lead, x, got, sizeof(got), 0), (ssize_t)sizeof(got));
	}
	{
		const struct kv_geometry *g = kv_pool_geometry(lead);
		size_t len;
		uint8_t *m = map_pool(&len);
		const struct kv_inode *in = (const struct kv_inode *)(m + g->inode_off) + f;

		assert_memory_equal(m + in->ext[0].off, buf, 4096); /* what the holder maps */
		in = (const struct kv_inode *)(m + g->inode_off) + t;
		assert_memory_equal(m + in->ext[0].off + 8192, buf + 8192, 4096);
		munmap(m, len);
	}
	/* a file in pieces is not moved into one for a pin while another node holds it */
	{
		uint64_t pa = mk(lead, d, "pieces", S_IFREG | 0644), pb;
		const struct kv_geometry *g = kv_pool_geometry(lead);
		struct kv_extent e;
		struct kv_attr a;
		size_t len;
		uint8_t *m = map_pool(&len);
		const struct kv_inode *in = (const struct kv_inode *)(m + g->inode_off) + pa;

		assert_int_equal(kv_write(lead, pa, buf, 4096, 0), 4096);
		pb = mk(lead, d, "after", S_IFREG | 0644); /* its page right after the first */
		assert_int_equal(kv_write(lead, pb, buf, 4096, 0), 4096);
		assert_int_equal(kv_write(lead, pa, buf, 8192, 4096), 8192);
		assert_int_equal(in->extent_count, 2);
		assert_int_equal(kv_pool_remote_hold(lead, 0, pa, 0), 0);
		assert_int_equal(kv_lookup_pin(lead, d, "pieces", 6, &a, &e), -EBUSY);
		assert_int_equal(in->extent_count, 2);
		kv_pool_remote_release(lead, 0, pa);
		assert_int_equal(kv_lookup_pin(lead, d, "pieces", 6, &a, &e), 0); /* moved now */
		assert_int_equal(in->extent_count, 1);
		assert_memory_equal(m + e.off, buf, 4096);
		kv_unpin(lead, pa);
		munmap(m, len);
	}
	/* the holds end: the sweep frees what waited */
	kv_pool_remote_release(lead, 0, f);
	kv_pool_remote_release(lead, 0, t);
	kv_pool_get_stats(lead, &st0);
	assert_true(kv_pool_cluster_unpark(lead) >= 1);
	kv_pool_get_stats(lead, &st1);
	assert_true(st1.free_bytes >= st0.free_bytes + 300000 - 4096);
	kv_pool_close(lead);
	assert_int_equal(kv_pool_fsck(path), 0);
}

/*
 * A file written in pieces is moved into one extent at the leader's last
 * release (a follower's pin wants one, and its view moves nothing): the
 * follower then pins it; still held by another node, it stays in pieces.
 */
static void test_leader_joins_pieces(void **state)
{
	struct kv_pool *lead = open_leader(1), *view = open_view();
	const struct kv_geometry *g = kv_pool_geometry(lead);
	static char buf[16384], got[16384];
	const struct kv_inode *in;
	struct kv_extent e;
	struct kv_attr a;
	uint64_t d, pa, pb, pc;
	size_t len, i;
	uint8_t *m = map_pool(&len);

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i % 253);
	d = mk(lead, KV_ROOT_INO, "j", S_IFDIR | 0755);
	pa = mk(lead, d, "pieces", S_IFREG | 0644);
	pc = mk(lead, d, "held", S_IFREG | 0644);
	in = (const struct kv_inode *)(m + g->inode_off) + pa;
	/* written 4 KiB, then another file's page right after, then 8 KiB more */
	assert_int_equal(kv_open(lead, pa), 0);
	assert_int_equal(kv_open(lead, pc), 0);
	assert_int_equal(kv_write(lead, pa, buf, 4096, 0), 4096);
	assert_int_equal(kv_write(lead, pc, buf, 4096, 0), 4096);
	pb = mk(lead, d, "after", S_IFREG | 0644);
	assert_int_equal(kv_write(lead, pb, buf, 4096, 0), 4096);
	assert_int_equal(kv_write(lead, pa, buf + 4096, 8192, 4096), 8192);
	assert_int_equal(kv_write(lead, pc, buf + 4096, 8192, 4096), 8192);
	assert_int_equal(in->extent_count, 2);
	assert_int_equal(((const struct kv_inode *)(m + g->inode_off) + pc)->extent_count, 2);
	kv_release(lead, pa);
	assert_int_equal(in->extent_count, 1);
	/* another node holds the second: its pieces stay */
	assert_int_equal(kv_pool_remote_hold(lead, 0, pc, 0), 0);
	kv_release(lead, pc);
	assert_int_equal(((const struct kv_inode *)(m + g->inode_off) + pc)->extent_count, 2);
	kv_pool_remote_release(lead, 0, pc);
	assert_true(kv_pool_follow(view, NULL, NULL) > 0);
	assert_int_equal(kv_lookup_pin(view, d, "pieces", 6, &a, &e), 0);
	assert_int_equal(a.size, 12288);
	assert_memory_equal(m + e.off, buf, 12288);
	kv_unpin(view, pa);
	assert_int_equal(kv_lookup_pin(view, d, "held", 4, &a, &e), -EBUSY);
	assert_int_equal(kv_read(view, pc, got, sizeof(got), 0), 12288); /* read() takes pieces */
	assert_memory_equal(got, buf, 12288);
	kv_pool_close(view);
	kv_pool_close(lead);
	munmap(m, len);
	assert_int_equal(kv_pool_fsck(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_follow_namespace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_cycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_not_coherent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_read_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_caught_changing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_writes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leader_waits_for_holds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leader_joins_pieces, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
