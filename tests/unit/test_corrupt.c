// SPDX-License-Identifier: MIT
/*
 * test_corrupt.c - the pool's metadata is input. A seeded fuzzer corrupts a
 * pool file that holds files of known content (random bytes and chosen
 * values in inode records, xattr blobs, the journal, the superblock), then
 * asserts what a mount promises: fsck says clean only about a pool the open
 * serves without dropping anything; the open never crashes or hangs; every
 * file whose own record (and whose directories' records) nobody touched is
 * served byte-exact unless a touched record now claims its data or name;
 * fsck is clean after the open's repair. Targeted cases replay the damage
 * reports (a journal record at 2^64-16, a tiny journal, an xattr record that
 * loops, a directory marked orphan, a name of ".", 60,000 extents, a 1 TiB
 * extent, an extent at 2^50), and a run-time test scribbles a live pool's
 * records through the mapping, as a client could, and expects EIO for that
 * file only. Data checksums: sealed at the last close of a writer and at
 * commit, cleared by a change, and a changed byte found. KVFS_FUZZ_SEED and KVFS_FUZZ_CASES change the seeded run.
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
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include "layout.h"
#include "log.h"
#include "mm.h"
#include "snap.h"

#define POOL_SIZE (16u << 20)
#define NFILES	  24
#define NDIRS	  3

struct tdir {
	uint64_t ino;
	int parent; /* index in dirs[], -1 for the root */
	const char *name;
};

struct tfile {
	uint64_t ino, size;
	int dir;
	char name[16];
	bool xattr;
};

static struct tdir dirs[NDIRS] = { { 0, -1, "a" }, { 0, 0, "b" }, { 0, -1, "c" } };
static struct tfile files[NFILES];
static char path[80], pristine_path[80];
static uint8_t *pristine;
static struct kv_geometry geo;
static unsigned log_lines;

static void count_log(enum kv_log_level level, const char *fmt, va_list ap)
{
	log_lines++;
	if (getenv("KVFS_TEST_VERBOSE"))
		vfprintf(stderr, fmt, ap), fputc('\n', stderr);
}

static uint8_t pattern(int i, uint64_t off)
{
	return (uint8_t)(i * 131 + off * 7 + (off >> 9));
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t dir_ino(int d)
{
	return d < 0 ? KV_ROOT_INO : dirs[d].ino;
}

static struct kv_pool *open_rw(const char *at, int expect)
{
	struct kv_open_opts o = { .numa_node = -1, .create_size = 0 };
	struct kv_pool *p = NULL;

	assert_int_equal(kv_pool_open(at, &o, &p), expect);
	return p;
}

static void fill(int i, uint8_t *buf, uint64_t off, uint64_t len)
{
	uint64_t k;

	for (k = 0; k < len; k++)
		buf[k] = pattern(i, off + k);
}

/* --- the pool every case starts from --- */

static void build_pristine(void)
{
	struct kv_open_opts o = { .numa_node = -1, .create_size = POOL_SIZE };
	struct kv_pool *p;
	struct kv_attr a;
	uint8_t *buf = malloc(64 << 10);
	int i, fd;

	unlink(pristine_path);
	assert_int_equal(kv_pool_open(pristine_path, &o, &p), 0);
	for (i = 0; i < NDIRS; i++) {
		assert_int_equal(kv_create(p, dir_ino(dirs[i].parent), dirs[i].name,
					   strlen(dirs[i].name), S_IFDIR | 0755, 0, 0, &a),
				 0);
		dirs[i].ino = a.ino;
	}
	assert_int_equal(kv_setxattr(p, dirs[0].ino, "user.kvfs.evict", "lru", 3, 0), 0);
	for (i = 0; i < NFILES; i++) {
		struct tfile *f = &files[i];
		uint64_t third;

		f->dir = i % (NDIRS + 1) - 1;
		f->size = 1000 + (uint64_t)i * 7919 % 40000;
		snprintf(f->name, sizeof(f->name), "f%02d", i);
		assert_int_equal(kv_create(p, dir_ino(f->dir), f->name, strlen(f->name),
					   S_IFREG | 0644, 0, 0, &a),
				 0);
		f->ino = a.ino;
		fill(i, buf, 0, f->size);
		if (i % 5 == 4) { /* grown by appends: room ahead, trimmed at the next open */
			third = f->size / 3;
			assert_int_equal(kv_write(p, f->ino, buf, third, 0), (ssize_t)third);
			assert_int_equal(kv_write(p, f->ino, buf + third, f->size - third, third),
					 (ssize_t)(f->size - third));
		} else {
			assert_int_equal(kv_truncate(p, f->ino, f->size), 0);
			assert_int_equal(kv_write(p, f->ino, buf, f->size, 0), (ssize_t)f->size);
		}
		if (i % 3 == 0) {
			char v[16];

			snprintf(v, sizeof(v), "v%d", i);
			assert_int_equal(kv_setxattr(p, f->ino, "user.k", v, strlen(v), 0), 0);
			f->xattr = true;
		}
	}
	kv_pool_close(p);
	free(buf);
	pristine = malloc(POOL_SIZE);
	fd = open(pristine_path, O_RDONLY);
	assert_int_equal(pread(fd, pristine, POOL_SIZE, 0), (ssize_t)POOL_SIZE);
	close(fd);
	memcpy(&geo, pristine, sizeof(geo));
}

static int group_setup(void **state)
{
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	snprintf(path, sizeof(path), "%s/kvfs-corrupt-%d.pool", dir, getpid());
	snprintf(pristine_path, sizeof(pristine_path), "%s/kvfs-corrupt-%d.orig", dir, getpid());
	kv_log_set_handler(count_log);
	build_pristine();
	return 0;
}

static int group_teardown(void **state)
{
	unlink(path);
	unlink(pristine_path);
	free(pristine);
	return 0;
}

/* The work pool as built; returns a writable mapping of it (unmap_image() after). */
static uint8_t *restore(void)
{
	int fd = open(path, O_RDWR | O_CREAT, 0600);
	uint8_t *m;

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, pristine, POOL_SIZE, 0), (ssize_t)POOL_SIZE);
	m = mmap(NULL, POOL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(m != MAP_FAILED);
	return m;
}

static void unmap_image(uint8_t *m)
{
	munmap(m, POOL_SIZE);
}

static struct kv_inode *rec(uint8_t *img, uint64_t ino)
{
	return (struct kv_inode *)(img + geo.inode_off) + ino;
}

/* --- what a case must still serve --- */

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/* Does record @t (as corrupted) claim data or a name of record @f (pristine)? */
static bool claims(const struct kv_inode *t, const struct kv_inode *f)
{
	unsigned i, j, nt = t->extent_count > KV_INLINE_EXTENTS ? 0 : t->extent_count;

	if (t->state == KV_INODE_FREE)
		return false;
	if (t->name_len == f->name_len && !memcmp(t->name, f->name, f->name_len))
		return true;
	for (i = 0; i <= nt; i++) {
		uint64_t toff = i < nt ? t->ext[i].off : t->xattr_off;
		uint64_t tlen = i < nt ? t->ext[i].len : (t->xattr_len + 4095ull) & ~4095ull;

		for (j = 0; j <= f->extent_count; j++) {
			uint64_t foff = j < f->extent_count ? f->ext[j].off : f->xattr_off;
			uint64_t flen = j < f->extent_count ? f->ext[j].len
							    : (f->xattr_len + 4095ull) & ~4095ull;

			if (overlaps(toff, tlen, foff, flen))
				return true;
		}
	}
	return false;
}

/* The records a file's service depends on: its own and its directories'. */
static int chain_of(int i, uint64_t *out)
{
	int n = 0, d = files[i].dir;

	out[n++] = files[i].ino;
	for (; d >= 0; d = dirs[d].parent)
		out[n++] = dirs[d].ino;
	out[n++] = KV_ROOT_INO;
	return n;
}

static bool at_risk(uint8_t *img, const uint8_t *touched, int i)
{
	uint64_t chain[NDIRS + 2], t;
	int n = chain_of(i, chain), k;

	for (k = 0; k < n; k++)
		if (touched[chain[k]])
			return true;
	for (t = 1; t < geo.inode_count; t++) {
		if (!touched[t])
			continue;
		for (k = 0; k < n; k++)
			if (claims(rec(img, t),
				   (const struct kv_inode *)(pristine + geo.inode_off) + chain[k]))
				return true;
	}
	return false;
}

static void expect_served(struct kv_pool *p, int i)
{
	struct tfile *f = &files[i];
	uint8_t *got = malloc(f->size + 1), *want = malloc(f->size);
	uint64_t parent = KV_ROOT_INO;
	int path_dirs[NDIRS], nd = 0, d;
	struct kv_attr a;
	char v[16], x[16];

	for (d = f->dir; d >= 0; d = dirs[d].parent)
		path_dirs[nd++] = d;
	while (nd--) {
		assert_int_equal(kv_lookup(p, parent, dirs[path_dirs[nd]].name,
					   strlen(dirs[path_dirs[nd]].name), &a),
				 0);
		parent = a.ino;
	}
	assert_int_equal(kv_lookup(p, parent, f->name, strlen(f->name), &a), 0);
	assert_int_equal(a.size, f->size);
	fill(i, want, 0, f->size);
	assert_int_equal(kv_read(p, a.ino, got, f->size + 1, 0), (ssize_t)f->size);
	assert_memory_equal(got, want, f->size);
	if (f->xattr) {
		snprintf(v, sizeof(v), "v%d", i);
		assert_int_equal(kv_getxattr(p, a.ino, "user.k", x, sizeof(x)), (ssize_t)strlen(v));
		assert_memory_equal(x, v, strlen(v));
	}
	free(got);
	free(want);
}

/* --- corruptions --- */

static uint64_t used_ino(void)
{
	uint64_t k = rnd() % (NFILES + NDIRS + 1);

	return k < NFILES ? files[k].ino : k < NFILES + NDIRS ? dirs[k - NFILES].ino : KV_ROOT_INO;
}

static uint64_t interesting(void)
{
	static const uint64_t v[] = { 0,	  1,	      2,	  3,
				      4096,	  60000,      UINT64_MAX, UINT64_MAX - 15,
				      1ull << 40, 1ull << 50, 1ull << 63, UINT32_MAX };

	switch (rnd() % 4) {
	case 0:
		return rnd();
	case 1:
		return geo.data_off + (rnd() % (geo.data_size / 4096)) * 4096;
	default:
		return v[rnd() % (sizeof(v) / sizeof(v[0]))];
	}
}

/* Set one field of a record to a chosen value. */
static void corrupt_field(struct kv_inode *in)
{
	uint64_t v = interesting();
	unsigned e = (unsigned)(rnd() % KV_INLINE_EXTENTS);

	switch (rnd() % 12) {
	case 0:
		in->state = (uint32_t)(rnd() % 5);
		break;
	case 1:
		in->mode = (uint32_t)(rnd() % 2 ? v : (rnd() % 16) << 12 | 0644);
		break;
	case 2:
		in->parent = rnd() % 2 ? v : used_ino();
		break;
	case 3:
		in->size = v;
		break;
	case 4:
		in->extent_count = (uint16_t)v;
		break;
	case 5:
		in->ext[e].off = v;
		break;
	case 6:
		in->ext[e].len = v;
		break;
	case 7:
		in->xattr_off = v;
		break;
	case 8:
		in->xattr_len = (uint32_t)v;
		break;
	case 9:
		in->name_len = (uint16_t)v;
		break;
	case 10:
		in->name[0] = "./\0x"[rnd() % 4];
		in->name_len = (uint16_t)(1 + rnd() % 2);
		break;
	default: /* the name of another file in the same directory */
		memcpy(in->name, files[rnd() % NFILES].name, 4);
		in->name_len = 3;
		break;
	}
}

/* A committed journal transaction, valid or not, with a right checksum most of the time. */
static void corrupt_journal(uint8_t *img)
{
	struct kv_journal_head *h = (void *)(img + geo.journal_off);
	uint8_t *recs = (uint8_t *)(h + 1);
	uint32_t n = 1 + (uint32_t)(rnd() % 3), i, pos = 0;

	for (i = 0; i < n; i++) {
		struct kv_journal_rec *r = (void *)(recs + pos);
		uint32_t len = 8 * (uint32_t)(rnd() % 4);

		switch (rnd() % 4) {
		case 0:
			r->off = UINT64_MAX - 15;
			break;
		case 1:
			r->off =
			    geo.inode_off + (rnd() % (geo.inode_count * KV_INODE_SIZE)) / 8 * 8;
			break;
		case 2:
			r->off = geo.data_off + rnd() % 4096;
			break;
		default:
			r->off = rnd();
			break;
		}
		r->len = rnd() % 8 ? len : (uint32_t)rnd();
		memset(r + 1, 0xee, len);
		pos += sizeof(*r) + len;
	}
	h->seq = rnd();
	h->nrec = rnd() % 8 ? n : (uint32_t)rnd();
	h->bytes = rnd() % 8 ? pos : (uint32_t)rnd();
	h->checksum = h->bytes <= geo.journal_size - sizeof(*h) ? XXH64(recs, h->bytes, h->seq) : 0;
	if (rnd() % 8 == 0)
		h->checksum ^= 1;
	h->state = KV_JOURNAL_COMMITTED;
}

/* Change one geometry field and fix the checksum: only the geometry check stands between. */
static void corrupt_geometry(uint8_t *img)
{
	struct kv_geometry *g = (void *)img;
	uint64_t *f[] = { &g->pool_size,   &g->journal_off, &g->journal_size, &g->inode_off,
			  &g->inode_count, &g->data_off,    &g->data_size };
	uint64_t v = rnd() % 2 ? interesting() : *f[rnd() % 7] + (rnd() % 3 - 1) * 4096;

	*f[rnd() % 7] = rnd() % 3 ? v : 4096;
	g->checksum = XXH64(g, offsetof(struct kv_geometry, checksum), 0);
}

enum kind { K_RECORD, K_XATTR, K_JOURNAL, K_GEOMETRY };

static enum kind corrupt_one(uint8_t *img, uint8_t *touched)
{
	unsigned r = (unsigned)(rnd() % 20), k, nb;
	struct kv_inode *in;
	uint64_t ino;

	if (r < 9) { /* random bytes in a used record */
		ino = used_ino();
		nb = 1 + (unsigned)(rnd() % 4);
		for (k = 0; k < nb; k++)
			((uint8_t *)rec(img, ino))[rnd() % KV_INODE_SIZE] = (uint8_t)rnd();
		return K_RECORD;
	}
	if (r < 15) {
		corrupt_field(rec(img, used_ino()));
		if (rnd() % 3 == 0)
			corrupt_field(rec(img, used_ino()));
		return K_RECORD;
	}
	if (r < 17) { /* the bytes of an xattr blob: its owner is touched */
		k = (unsigned)(rnd() % 8) * 3; /* files 0, 3, ... 21 have one */
		in = rec(img, files[k].ino);
		img[in->xattr_off + rnd() % in->xattr_len] = (uint8_t)rnd();
		touched[files[k].ino] = 1;
		return K_XATTR;
	}
	if (r < 18) { /* any byte of the table, free records included */
		img[geo.inode_off + rnd() % (geo.inode_count * KV_INODE_SIZE)] = (uint8_t)rnd();
		return K_RECORD;
	}
	if (r < 19) {
		corrupt_journal(img);
		return K_JOURNAL;
	}
	corrupt_geometry(img);
	return K_GEOMETRY;
}

/* --- the fuzzer --- */

struct fuzz_counts {
	unsigned cases, opened, refused, served, at_risk, dropped_records;
};

static void fuzz_case(struct fuzz_counts *c, uint8_t *touched)
{
	uint8_t *img = restore();
	struct kv_pool_stats st;
	struct kv_pool *p;
	struct kv_open_opts o = { .numa_node = -1 };
	enum kind kind;
	long before;
	uint64_t ino;
	int i, rc;

	memset(touched, 0, geo.inode_count);
	kind = corrupt_one(img, touched);
	for (ino = 1; ino < geo.inode_count; ino++)
		if (memcmp(rec(img, ino), (const struct kv_inode *)(pristine + geo.inode_off) + ino,
			   KV_INODE_SIZE))
			touched[ino] = 1;
	before = kv_pool_fsck(path);
	assert_true(before >= 0);
	rc = kv_pool_open(path, &o, &p);
	c->cases++;
	if (rc) {
		/* only a superblock the checker refuses may refuse the pool, and fsck says so */
		assert_int_equal(rc, -EUCLEAN);
		assert_int_equal(kind, K_GEOMETRY);
		assert_true(before > 0);
		c->refused++;
		unmap_image(img);
		return;
	}
	c->opened++;
	kv_pool_get_stats(p, &st);
	/* fsck clean <=> the open dropped nothing */
	if (before == 0)
		assert_int_equal(st.quarantined, 0);
	else
		assert_true(st.quarantined > 0);
	c->dropped_records += (unsigned)st.quarantined;
	for (i = 0; i < NFILES; i++) {
		if (kind == K_JOURNAL || kind == K_GEOMETRY || at_risk(img, touched, i)) {
			c->at_risk++;
			continue;
		}
		expect_served(p, i);
		c->served++;
	}
	kv_pool_close(p);
	unmap_image(img);
	assert_int_equal(kv_pool_fsck(path), 0);
}

static void test_fuzz(void **state)
{
	const char *s = getenv("KVFS_FUZZ_SEED"), *n = getenv("KVFS_FUZZ_CASES");
	unsigned cases = n ? (unsigned)atoi(n) : 300, k;
	struct fuzz_counts c = { 0 };
	uint8_t *touched = malloc(geo.inode_count);

	rng_state = s ? strtoull(s, NULL, 0) : 0x6b76667366757a7aull;
	for (k = 0; k < cases; k++)
		fuzz_case(&c, touched);
	free(touched);
	printf("fuzz: %u cases: %u opened, %u refused (superblock); %u records dropped; "
	       "%u untouched files served byte-exact, %u skipped as at risk\n",
	       c.cases, c.opened, c.refused, c.dropped_records, c.served, c.at_risk);
	assert_true(c.served > cases * NFILES / 3);
}

/* --- targeted cases from the damage reports --- */

/* Open (repairing), check that @lost is gone and every other file is served, then fsck. */
static void expect_only_lost(int lost_dir, int lost_file, unsigned min_dropped)
{
	struct kv_pool_stats st;
	struct kv_pool *p = open_rw(path, 0);
	struct kv_attr a;
	int i, d;

	kv_pool_get_stats(p, &st);
	assert_true(st.quarantined >= min_dropped);
	for (i = 0; i < NFILES; i++) {
		bool under = false;

		for (d = files[i].dir; d >= 0; d = dirs[d].parent)
			under |= d == lost_dir;
		if (i == lost_file || under)
			assert_int_equal(kv_lookup(p, dir_ino(files[i].dir), files[i].name,
						   strlen(files[i].name), &a),
					 -ENOENT);
		else
			expect_served(p, i);
	}
	kv_pool_close(p);
	assert_int_equal(kv_pool_fsck(path), 0);
}

static void test_journal_wraps(void **state)
{
	uint8_t *img = restore();
	struct kv_journal_head *h = (void *)(img + geo.journal_off);
	struct kv_journal_rec *r = (void *)(h + 1);

	r->off = UINT64_MAX - 15; /* off + len wraps past the bounds check */
	r->len = 32;
	h->seq = 7;
	h->nrec = 1;
	h->bytes = sizeof(*r) + 32;
	h->checksum = XXH64(r, h->bytes, h->seq);
	h->state = KV_JOURNAL_COMMITTED;
	unmap_image(img);
	assert_int_equal(kv_pool_fsck(path), 1);
	expect_only_lost(-2, -1, 1); /* the transaction is discarded, every file kept */
}

static void test_tiny_journal(void **state)
{
	uint8_t *img = restore();
	struct kv_geometry *g = (void *)img;
	struct kv_pool *p;

	g->journal_size = 64;
	g->inode_off = g->journal_off + g->journal_size;
	g->checksum = XXH64(g, offsetof(struct kv_geometry, checksum), 0);
	unmap_image(img);
	assert_true(kv_pool_fsck(path) > 0);
	p = open_rw(path, -EUCLEAN);
	assert_null(p);
}

static void test_xattr_loops(void **state)
{
	uint8_t *img = restore();
	struct kv_inode *in = rec(img, files[3].ino);
	struct kv_xattr_rec *x = (void *)(img + in->xattr_off);

	x->name_len = 0; /* 8 + 0 + value_len + 7 wraps to a record of 0 bytes */
	x->value_len = 0xfffffff8u;
	unmap_image(img);
	assert_int_equal(kv_pool_fsck(path), 1);
	expect_only_lost(-2, 3, 1);
}

static void test_dir_marked_orphan(void **state)
{
	uint8_t *img = restore();
	struct kv_dirent *ents;
	struct kv_attr a;
	struct kv_pool *p;
	uint64_t n;

	rec(img, dirs[0].ino)->state = KV_INODE_ORPHAN;
	unmap_image(img);
	assert_true(kv_pool_fsck(path) > 0); /* its files hang from nothing */
	expect_only_lost(0, -1, 1);
	/* a new directory of the same name starts empty */
	p = open_rw(path, 0);
	assert_int_equal(kv_create(p, KV_ROOT_INO, "a", 1, S_IFDIR | 0755, 0, 0, &a), 0);
	assert_int_equal(kv_dir_snapshot(p, a.ino, &ents, &n), 0);
	assert_int_equal(n, 0);
	free(ents);
	kv_pool_close(p);
	assert_int_equal(kv_pool_fsck(path), 0);
}

static void test_bad_name_and_fields(void **state)
{
	struct {
		const char *what;
		void (*set)(struct kv_inode *in);
	} cases[] = {
		{ "name .", NULL },	    { "60000 extents", NULL },	   { "1 TiB extent", NULL },
		{ "extent at 2^50", NULL }, { "size past extents", NULL },
	};
	unsigned k;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		uint8_t *img = restore();
		struct kv_inode *in = rec(img, files[5].ino);

		switch (k) {
		case 0:
			in->name[0] = '.';
			in->name_len = 1;
			break;
		case 1:
			in->extent_count = 60000;
			break;
		case 2:
			in->ext[0].len = 1ull << 40;
			break;
		case 3:
			in->ext[0].off = geo.data_off + (1ull << 50);
			break;
		default:
			in->size = in->ext[0].len * 20;
			break;
		}
		unmap_image(img);
		assert_int_equal(kv_pool_fsck(path), 1);
		expect_only_lost(-2, 5, 1);
	}
}

static void test_shared_extent_repair(void **state)
{
	uint8_t *img = restore();
	int lo = 1, hi = 2;
	struct kv_inode *a = rec(img, files[lo].ino), *b = rec(img, files[hi].ino);

	/* point the later-starting file at the other's data: it is the second claimant */
	if (a->ext[0].off > b->ext[0].off) {
		struct kv_inode *t = a;
		int ti = lo;

		a = b, b = t, lo = hi, hi = ti;
	}
	b->ext[0].off = a->ext[0].off + 4096 * (a->ext[0].len > 4096);
	b->size = 100;
	unmap_image(img);
	assert_int_equal(kv_pool_fsck(path), 1);
	/* fsck --repair is the open's repair: one record dropped, every other file kept */
	assert_int_equal(kv_pool_repair(path), 1);
	assert_int_equal(kv_pool_fsck(path), 0);
	expect_only_lost(-2, hi, 0);
	(void)lo;
}

/* --- run time: a client scribbles a live pool's records --- */

static void test_runtime_scribble(void **state)
{
	struct kv_pool *p;
	uint8_t *img; /* the pool file mapped as a client may map it: the same bytes */
	const struct kv_geometry *g;
	struct kv_pool_stats st;
	struct kv_inode *tab;
	uint8_t buf[256];
	struct kv_attr a;
	char list[64];
	uint64_t ino_of[NFILES], saved, nents, k;
	struct kv_dirent *ents;
	int i;

	img = restore();
	p = open_rw(path, 0);
	g = kv_pool_geometry(p);
	tab = (struct kv_inode *)(img + g->inode_off);
	for (i = 0; i < NFILES; i++)
		ino_of[i] = files[i].ino;
	/* file 1: an extent at base + 2^50 */
	tab[ino_of[1]].ext[0].off = g->data_off + (1ull << 50);
	assert_int_equal(kv_read(p, ino_of[1], buf, sizeof(buf), 0), -EIO);
	assert_int_equal(kv_write(p, ino_of[1], buf, sizeof(buf), 0), -EIO);
	/* file 2: 60,000 extents */
	tab[ino_of[2]].extent_count = 60000;
	assert_int_equal(kv_read(p, ino_of[2], buf, sizeof(buf), 0), -EIO);
	assert_int_equal(kv_truncate(p, ino_of[2], 1), -EIO);
	/* file 4: an in-bounds extent that is another file's */
	tab[ino_of[4]].ext[0] = tab[ino_of[7]].ext[0];
	assert_int_equal(kv_read(p, ino_of[4], buf, sizeof(buf), 0), -EIO);
	assert_int_equal(kv_fallocate(p, ino_of[4], 0, 0, 1 << 20), -EIO);
	/* file 6: an xattr record that loops */
	((struct kv_xattr_rec *)(img + tab[ino_of[6]].xattr_off))
	    ->value_len = 0xfffffff8u - 1;
	assert_int_equal(kv_getxattr(p, ino_of[6], "user.k", buf, sizeof(buf)), -EIO);
	assert_int_equal(kv_listxattr(p, ino_of[6], list, sizeof(list)), -EIO);
	assert_int_equal(kv_setxattr(p, ino_of[6], "user.z", "1", 1, 0), -EIO);
	/* file 12: a name with a slash, seen by readdir (and by eviction's invalidation below) */
	memcpy(tab[ino_of[12]].name, "x/y", 3);
	tab[ino_of[12]].name_len = 3;
	assert_int_equal(kv_dir_snapshot(p, dir_ino(files[12].dir), &ents, &nents), 0);
	for (k = 0; k < nents && ents[k].ino != ino_of[12]; k++)
		;
	assert_true(k < nents);
	assert_int_equal(kv_dirent_name(p, &ents[k], (char *)buf, sizeof(buf), &a), -EIO);
	free(ents);
	/* file 8: a 1 TiB extent; file 9: a parent out of range and a long name */
	tab[ino_of[8]].ext[0].len = 1ull << 40;
	tab[ino_of[9]].parent = 999999999;
	tab[ino_of[9]].name_len = 60000;
	/* the superblock's journal size: the daemon keeps its own checked copy */
	saved = ((struct kv_geometry *)img)->journal_size;
	((struct kv_geometry *)img)->journal_size = 16;
	assert_int_equal(kv_create(p, KV_ROOT_INO, "new", 3, S_IFREG | 0644, 0, 0, &a), 0);
	assert_int_equal(kv_write(p, a.ino, "hello", 5, 0), 5);
	assert_int_equal(
	    kv_rename(p, KV_ROOT_INO, "new", 3, KV_ROOT_INO, "new2", 4, 0, &(uint64_t){ 0 }), 0);
	((struct kv_geometry *)img)->journal_size = saved;
	unmap_image(img);
	/* the others are fine */
	for (i = 0; i < NFILES; i++)
		if (i != 1 && i != 2 && i != 4 && i != 6 && i != 8 && i != 9 && i != 12)
			expect_served(p, i);
	kv_pool_get_stats(p, &st);
	assert_int_equal(st.quarantined, 5);
	/* eviction walks every file, the scribbled ones included */
	kv_pool_evict_to(p, 0);
	kv_pool_get_stats(p, &st);
	assert_int_equal(st.files, 0);
	/* the directories it emptied went with them */
	assert_int_equal(st.directories + st.dirs_reclaimed, NDIRS);
	kv_pool_close(p);
	/* the next open checks them again: still bad ones are dropped, fsck is clean after */
	p = open_rw(path, 0);
	kv_pool_close(p);
	assert_int_equal(kv_pool_fsck(path), 0);
}

/*
 * A record changed between an open's checks and its signature (the
 * daemon signs what the record holds when it signs): the signature matches
 * no copy, and the next use finds the record bad (EIO), instead of taking
 * extents no check saw (a take checks only the size of a copy whose
 * signature matches).
 */
static void test_signed_after_scribble(void **state)
{
	struct kv_pool *p;
	uint8_t *img = restore();
	const struct kv_geometry *g;
	struct kv_pool_stats st;
	struct kv_inode *tab;
	uint8_t buf[256];
	uint64_t f1, f6;
	int i;

	p = open_rw(path, 0);
	g = kv_pool_geometry(p);
	tab = (struct kv_inode *)(img + g->inode_off);
	f1 = files[1].ino;
	f6 = files[6].ino;
	/* file 1: an extent at base + 2^50, signed as the daemon signs a record it is told of */
	tab[f1].ext[0].off = g->data_off + (1ull << 50);
	kv_snap_commit(p, f1);
	assert_int_equal(kv_read(p, f1, buf, sizeof(buf), 0), -EIO);
	/* file 6: signed with 60,000 extents, then none and an xattr blob of 4 GiB */
	assert_true(tab[f6].xattr_off != 0);
	tab[f6].extent_count = 60000;
	kv_snap_commit(p, f6);
	tab[f6].extent_count = 0;
	tab[f6].size = 0;
	tab[f6].xattr_len = UINT32_MAX;
	assert_int_equal(kv_getxattr(p, f6, "user.k", buf, sizeof(buf)), -EIO);
	kv_pool_get_stats(p, &st);
	assert_int_equal(st.quarantined, 2);
	unmap_image(img);
	for (i = 0; i < NFILES; i++)
		if (i != 1 && i != 6)
			expect_served(p, i);
	kv_pool_close(p);
}

/* --- data checksums --- */

static void test_checksums(void **state)
{
	struct kv_pool *p;
	struct kv_attr a;
	struct kv_extent e, ext[KV_INLINE_EXTENTS];
	uint8_t *buf = malloc(100 << 10), published;
	uint64_t ino, size;
	uint8_t *img; /* the pool file mapped as a client maps it */

	img = restore();
	p = open_rw(path, 0);
	fill(99, buf, 0, 100 << 10);
	assert_int_equal(kv_create(p, KV_ROOT_INO, "sum", 3, S_IFREG | 0644, 0, 0, &a), 0);
	assert_int_equal(kv_verify(p, a.ino), -ENODATA); /* nothing written, nothing sealed */
	assert_int_equal(kv_open(p, a.ino), 0);
	assert_int_equal(kv_write(p, a.ino, buf, 100 << 10, 0), 100 << 10);
	assert_int_equal(kv_verify(p, a.ino), -ENODATA); /* still open for writing */
	kv_release(p, a.ino);
	assert_int_equal(kv_verify(p, a.ino), 0);
	/* a change clears the checksum; the next last close stores a new one */
	assert_int_equal(kv_truncate(p, a.ino, 5000), 0);
	assert_int_equal(kv_verify(p, a.ino), -ENODATA);
	assert_int_equal(kv_open(p, a.ino), 0);
	kv_release(p, a.ino);
	assert_int_equal(kv_verify(p, a.ino), 0);
	/* a byte changed behind the daemon's back */
	assert_int_equal(kv_extents(p, a.ino, ext, KV_INLINE_EXTENTS, &size), 1);
	img[ext[0].off + 4999] ^= 1;
	assert_int_equal(kv_verify(p, a.ino), -EIO);
	/* a fast-path store is checksummed after its commit, in the background */
	assert_int_equal(kv_reserve(p, KV_ROOT_INO, "blk", 3, 8192, 0, 0, true, &ino, &e), 0);
	memcpy(img + e.off, buf, 8192);
	assert_int_equal(kv_commit(p, &ino, 1, &published), 0);
	assert_int_equal(published, 1);
	assert_int_equal(kv_pool_sums_queued(p), 1);
	assert_true(kv_pool_sum_queued(p, 1 << 20) >= 8192);
	assert_int_equal(kv_pool_sums_queued(p), 0);
	assert_int_equal(kv_verify(p, ino), 0);
	img[e.off + 100] ^= 1; /* changed after its checksum */
	assert_int_equal(kv_verify(p, ino), -EIO);
	img[e.off + 100] ^= 1;
	assert_int_equal(kv_verify(p, ino), 0);
	/* a verify before the background gets to it takes the checksum itself */
	assert_int_equal(kv_reserve(p, KV_ROOT_INO, "blk2", 4, 8192, 0, 0, true, &ino, &e), 0);
	memcpy(img + e.off, buf, 8192);
	assert_int_equal(kv_commit(p, &ino, 1, &published), 0);
	assert_int_equal(kv_verify(p, ino), 0);
	img[e.off + 5] ^= 1;
	assert_int_equal(kv_verify(p, ino), -EIO);
	img[e.off + 5] ^= 1;
	assert_int_equal(kv_pool_sum_queued(p, 1 << 20), 0); /* its entry found nothing to do */
	assert_int_equal(kv_pool_sums_queued(p), 0);
	unmap_image(img);
	kv_pool_close(p);
	/* fsck: the structure is fine; --data finds the changed byte */
	assert_int_equal(kv_pool_fsck(path), 0);
	assert_int_equal(kv_pool_fsck_flags(path, KV_FSCK_DATA), 1);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_journal_wraps),
		cmocka_unit_test(test_tiny_journal),
		cmocka_unit_test(test_xattr_loops),
		cmocka_unit_test(test_dir_marked_orphan),
		cmocka_unit_test(test_bad_name_and_fields),
		cmocka_unit_test(test_shared_extent_repair),
		cmocka_unit_test(test_runtime_scribble),
		cmocka_unit_test(test_signed_after_scribble),
		cmocka_unit_test(test_checksums),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
