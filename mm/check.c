// SPDX-License-Identifier: MIT
/*
 * check.c - the pool's metadata is input. The checker:
 *
 * - The checker (check.h): geometry, journal, each inode record, xattr blobs
 *   and the relations between records (shared extents, duplicate names,
 *   parent chains). Open and fsck run the same kv_check_records(); open
 *   repairs by freeing the bad records, so one bad record costs one file.
 * - Run-time distrust of a live pool is snap.c's (kv_snap_take), built on
 *   these checks. Nothing here knows struct kv_pool.
 */
#include "check.h"
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

static uint64_t page_up(uint64_t x)
{
	return (x + KV_PAGE_SIZE - 1) & ~(uint64_t)(KV_PAGE_SIZE - 1);
}

/* --- one structure at a time --- */

const char *kv_check_geometry(const struct kv_geometry *g)
{
	if (g->page_size != KV_PAGE_SIZE || g->inode_size != KV_INODE_SIZE)
		return "page or inode size is not this kvfs's";
	if (g->name_max != KV_NAME_MAX)
		return "the name limit is not this kvfs's";
	if (g->journal_off != KV_SUPER_SIZE || g->journal_size < KV_JOURNAL_SIZE ||
	    g->journal_size > (1u << 30) || g->journal_size % KV_PAGE_SIZE)
		return "the journal is misplaced or out of size bounds";
	if (g->inode_off != g->journal_off + g->journal_size)
		return "the inode table does not follow the journal";
	if (g->inode_count < 2 || g->inode_count >= UINT32_MAX)
		return "the inode count is out of range";
	/* all terms below are bounded (journal <= 1 GiB, count < 2^32): no overflow */
	if (g->data_off < g->inode_off + g->inode_count * KV_INODE_SIZE ||
	    g->data_off % KV_DATA_ALIGN)
		return "the data area overlaps the inode table or is misaligned";
	if (g->pool_size < KV_MIN_POOL_SIZE || !g->data_size || g->data_size % KV_PAGE_SIZE ||
	    g->data_size > g->pool_size || g->data_off > g->pool_size - g->data_size)
		return "the data area does not fit in the pool";
	return NULL;
}

bool kv_check_journal_len(const struct kv_geometry *g, const struct kv_journal_head *h)
{
	return h->bytes <= g->journal_size - sizeof(*h);
}

int kv_check_journal(const struct kv_geometry *g, const struct kv_journal_head *h,
		     const uint8_t *recs, const char **why)
{
	uint64_t table_end = g->inode_off + g->inode_count * KV_INODE_SIZE, pos = 0;
	uint32_t i;

	if (h->state != KV_JOURNAL_COMMITTED)
		return 0;
	*why = NULL;
	if (!kv_check_journal_len(g, h))
		*why = "the journal's length runs past the journal";
	else if (XXH64(recs, h->bytes, h->seq) != h->checksum)
		*why = "the journal is committed but its checksum is wrong";
	for (i = 0; !*why && i < h->nrec; i++) {
		struct kv_journal_rec r;
		uint64_t span;

		if (h->bytes - pos < sizeof(r)) {
			*why = "a journal record runs past the transaction";
			break;
		}
		memcpy(&r, recs + pos, sizeof(r));
		span = sizeof(r) + (((uint64_t)r.len + 7) & ~(uint64_t)7);
		if (span > h->bytes - pos)
			*why = "a journal record runs past the transaction";
		else if (r.off < g->inode_off || r.off > table_end || r.len > table_end - r.off)
			*why = "a journal record points outside the inode table";
		pos += span;
	}
	return *why ? -EUCLEAN : 1;
}

bool kv_check_extent(const struct kv_geometry *g, uint64_t off, uint64_t len)
{
	return len && off % KV_PAGE_SIZE == 0 && len % KV_PAGE_SIZE == 0 && off >= g->data_off &&
	       off - g->data_off <= g->data_size && len <= g->data_size - (off - g->data_off);
}

const char *kv_check_extents(const struct kv_geometry *g, const struct kv_extent *ext, unsigned n,
			     uint64_t *alloc)
{
	unsigned i;

	*alloc = 0;
	for (i = 0; i < n; i++) {
		if (!kv_check_extent(g, ext[i].off, ext[i].len))
			return "has an extent outside the data area or misaligned";
		*alloc += ext[i].len; /* each <= data_size, n <= 10: no overflow */
	}
	return NULL;
}

bool kv_check_name(const uint8_t *name, size_t len)
{
	if (!len || len > KV_NAME_MAX || memchr(name, '/', len) || memchr(name, 0, len))
		return false;
	return !(name[0] == '.' && (len == 1 || (len == 2 && name[1] == '.')));
}

const char *kv_check_inode(const struct kv_geometry *g, uint64_t ino, const struct kv_inode *in)
{
	uint32_t fmt = in->mode & S_IFMT;
	uint64_t alloc;
	const char *why;

	if (in->state == KV_INODE_FREE)
		return NULL;
	if (in->state > KV_INODE_RESERVED)
		return "has an unknown state";
	if (fmt != S_IFREG && fmt != S_IFDIR && fmt != S_IFLNK)
		return "has a mode that is neither file, directory nor symlink";
	if (in->extent_count > KV_INLINE_EXTENTS)
		return "has too many extents";
	if (fmt == S_IFDIR && in->extent_count)
		return "is a directory with data extents";
	why = kv_check_extents(g, in->ext, in->extent_count, &alloc);
	if (why)
		return why;
	if (fmt != S_IFDIR && in->size > alloc)
		return "is larger than its extents";
	if ((in->xattr_off == 0) != (in->xattr_len == 0) || in->xattr_len > KV_XATTR_MAX_BLOB ||
	    (in->xattr_off && !kv_check_extent(g, in->xattr_off, page_up(in->xattr_len))))
		return "has an xattr extent outside the data area";
	if (ino == KV_ROOT_INO)
		return in->state == KV_INODE_LIVE && fmt == S_IFDIR && in->parent == KV_ROOT_INO
			   ? NULL
			   : "(the root) is not a live directory";
	if (in->state != KV_INODE_LIVE)
		return NULL;
	if (!kv_check_name(in->name, in->name_len))
		return "has an invalid name";
	if (in->parent < KV_ROOT_INO || in->parent >= g->inode_count || in->parent == ino)
		return "has a parent out of range";
	return NULL;
}

const char *kv_check_xattrs(const uint8_t *blob, uint32_t len)
{
	uint64_t pos = 0;

	while (pos < len) {
		struct kv_xattr_rec r;
		uint64_t span;

		if (len - pos < sizeof(r))
			return "has an xattr record that runs past its blob";
		memcpy(&r, blob + pos, sizeof(r));
		if (!r.name_len || r.name_len > KV_NAME_MAX)
			return "has an xattr name of a bad length";
		span = (sizeof(r) + r.name_len + (uint64_t)r.value_len + 7) & ~(uint64_t)7;
		if (span > len - pos)
			return "has an xattr record that runs past its blob";
		if (memchr(blob + pos + sizeof(r), 0, r.name_len))
			return "has an xattr name with a NUL";
		pos += span;
	}
	return NULL;
}

const char *kv_check_record(const struct kv_geometry *g, uint64_t ino, const struct kv_inode *in,
			    const uint8_t *base)
{
	const char *why = kv_check_inode(g, ino, in);

	if (!why && in->state != KV_INODE_FREE && in->xattr_off)
		why = kv_check_xattrs(base + in->xattr_off, in->xattr_len);
	return why;
}

/* --- the whole table --- */

struct claim {
	uint64_t off, len, ino;
};

struct checker {
	const struct kv_geometry *g;
	struct kv_inode *inodes;
	const char *path;
	bool repair;
	uint8_t *mark;
	long nbad;
};

static int cmp_claim(const void *a, const void *b)
{
	const struct claim *x = a, *y = b;

	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static void mark_bad(struct checker *c, uint64_t ino, const char *why, uint64_t other)
{
	if (c->mark[ino])
		return;
	c->mark[ino] = 1;
	c->nbad++;
	if (other)
		kv_log(c->repair ? KV_LOG_WARNING : KV_LOG_ERR, "%s: inode %llu %s %llu; %s",
		       c->path, (unsigned long long)ino, why, (unsigned long long)other,
		       c->repair ? "dropping it" : "a mount drops it");
	else
		kv_log(c->repair ? KV_LOG_WARNING : KV_LOG_ERR, "%s: inode %llu %s; %s", c->path,
		       (unsigned long long)ino, why,
		       c->repair ? "dropping it" : "a mount drops it");
}

static bool is_live(const struct checker *c, uint64_t ino)
{
	return c->inodes[ino].state == KV_INODE_LIVE && !c->mark[ino];
}

static bool is_dir(const struct checker *c, uint64_t ino)
{
	return (c->inodes[ino].mode & S_IFMT) == S_IFDIR;
}

/* Pass 1: every record on its own, xattr blob included. */
static void check_each(struct checker *c, const uint8_t *base)
{
	uint64_t ino;

	for (ino = KV_ROOT_INO; ino < c->g->inode_count; ino++) {
		struct kv_inode s;
		const char *why;

		memcpy(&s, &c->inodes[ino], sizeof(s));
		if (s.state == KV_INODE_FREE ||
		    (ino != KV_ROOT_INO &&
		     (s.state == KV_INODE_ORPHAN || s.state == KV_INODE_RESERVED)))
			continue;
		why = kv_check_record(c->g, ino, &s, base);
		if (why)
			mark_bad(c, ino, why, 0);
	}
}

/*
 * How many claims overlap each record's, in O(n log n): claim i overlaps the
 * later-starting claims i+1..k-1 (k: the first starting at or past its end),
 * counted for i at once and for each of them through a difference array.
 */
static int count_conflicts(const struct claim *cl, uint64_t n, uint32_t *per_rec)
{
	int64_t *diff = calloc(n + 1, sizeof(*diff)), run = 0;
	uint64_t i, lo, hi;

	if (!diff)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		uint64_t end = cl[i].off + cl[i].len; /* checked extents: no overflow */

		lo = i + 1;
		hi = n;
		while (lo < hi) {
			uint64_t mid = lo + (hi - lo) / 2;

			if (cl[mid].off < end)
				lo = mid + 1;
			else
				hi = mid;
		}
		per_rec[cl[i].ino] += (uint32_t)(lo - i - 1);
		diff[i + 1]++;
		diff[lo]--;
	}
	for (i = 0; i < n; i++) {
		run += diff[i];
		per_rec[cl[i].ino] += (uint32_t)run;
	}
	free(diff);
	return 0;
}

/*
 * Pass 2: no two live records share data. Of two that do, the one in more
 * conflicts is bad (one wild extent over many files costs one file, not
 * them all); on a tie, the later claimant.
 */
static int check_claims(struct checker *c, struct kv_check_summary *sum)
{
	uint64_t n = 0, cap = 1024, ino, i, end, owner;
	struct claim *cl = malloc(sizeof(*cl) * cap);
	uint32_t *conflicts = calloc(c->g->inode_count, sizeof(*conflicts));
	bool changed;
	int j;

	if (!cl || !conflicts) {
		free(cl);
		free(conflicts);
		return -ENOMEM;
	}
	for (ino = KV_ROOT_INO; ino < c->g->inode_count; ino++) {
		const struct kv_inode *in = &c->inodes[ino];

		if (!is_live(c, ino))
			continue;
		for (j = 0; j <= in->extent_count; j++) {
			struct claim e = { in->xattr_off, page_up(in->xattr_len), ino };

			if (j < in->extent_count)
				e = (struct claim){ in->ext[j].off, in->ext[j].len, ino };
			else if (!in->xattr_off)
				break;
			if (n == cap) {
				struct claim *x = realloc(cl, sizeof(*cl) * cap * 2);

				if (!x) {
					free(cl);
					free(conflicts);
					return -ENOMEM;
				}
				cl = x;
				cap *= 2;
			}
			cl[n++] = e;
		}
	}
	qsort(cl, n, sizeof(*cl), cmp_claim);
	if (count_conflicts(cl, n, conflicts)) {
		free(cl);
		free(conflicts);
		return -ENOMEM;
	}
	do { /* a record dropped midway may have claimed earlier: sweep again */
		changed = false;
		end = owner = 0;
		for (i = 0; i < n; i++) {
			if (c->mark[cl[i].ino])
				continue;
			if (cl[i].off < end && conflicts[owner] > conflicts[cl[i].ino] &&
			    owner != cl[i].ino) {
				mark_bad(c, owner, "shares data with inode", cl[i].ino);
				changed = true;
			} else if (cl[i].off < end) {
				mark_bad(c, cl[i].ino, "shares data with inode", owner);
				changed = true;
				continue;
			}
			end = cl[i].off + cl[i].len;
			owner = cl[i].ino;
		}
	} while (changed);
	if (sum) {
		sum->extents = sum->used_bytes = 0;
		for (i = 0; i < n; i++)
			if (!c->mark[cl[i].ino]) {
				sum->extents++;
				sum->used_bytes += cl[i].len;
			}
	}
	free(cl);
	free(conflicts);
	return 0;
}

/* Pass 3: one live name per (directory, name); the higher record is bad. */
static int check_names(struct checker *c)
{
	uint64_t nrec = c->g->inode_count, hb = 1, ino;
	uint32_t *bucket, *next;

	while (hb < nrec)
		hb <<= 1;
	bucket = calloc(hb, sizeof(*bucket));
	next = calloc(nrec, sizeof(*next));
	if (!bucket || !next) {
		free(bucket);
		free(next);
		return -ENOMEM;
	}
	for (ino = KV_ROOT_INO + 1; ino < nrec; ino++) {
		const struct kv_inode *in = &c->inodes[ino];
		uint64_t b;
		uint32_t o;

		if (!is_live(c, ino))
			continue;
		b = XXH3_64bits_withSeed(in->name, in->name_len, in->parent) & (hb - 1);
		for (o = bucket[b]; o; o = next[o])
			if (c->inodes[o].parent == in->parent &&
			    c->inodes[o].name_len == in->name_len &&
			    !memcmp(c->inodes[o].name, in->name, in->name_len))
				break;
		if (o) {
			mark_bad(c, ino, "has the name of inode", o);
			continue;
		}
		next[ino] = bucket[b];
		bucket[b] = (uint32_t)ino;
	}
	free(bucket);
	free(next);
	return 0;
}

enum { REACH_UNKNOWN, REACH_OK, REACH_BAD, REACH_WALKING };

/* Pass 4: every live record hangs from the root through live directories, no cycles. */
static int check_parents(struct checker *c)
{
	uint64_t nrec = c->g->inode_count, ino;
	uint8_t *reach = calloc(nrec, 1);
	uint32_t *path = malloc(sizeof(*path) * nrec);

	if (!reach || !path) {
		free(reach);
		free(path);
		return -ENOMEM;
	}
	reach[KV_ROOT_INO] = REACH_OK;
	for (ino = KV_ROOT_INO + 1; ino < nrec; ino++) {
		uint64_t cur = ino, depth = 0, up;
		uint8_t verdict;

		if (!is_live(c, ino) || reach[ino] != REACH_UNKNOWN)
			continue;
		for (;;) {
			if (reach[cur] == REACH_OK || reach[cur] == REACH_BAD) {
				verdict = reach[cur];
				break;
			}
			if (reach[cur] == REACH_WALKING) { /* a cycle */
				verdict = REACH_BAD;
				break;
			}
			reach[cur] = REACH_WALKING;
			path[depth++] = (uint32_t)cur;
			up = c->inodes[cur].parent;
			if (up < KV_ROOT_INO || up >= nrec || !is_live(c, up) || !is_dir(c, up)) {
				verdict = REACH_BAD;
				break;
			}
			cur = up;
		}
		while (depth--) {
			reach[path[depth]] = verdict;
			if (verdict == REACH_BAD)
				mark_bad(c, path[depth],
					 "is not reachable from the root through its parent",
					 c->inodes[path[depth]].parent);
		}
	}
	free(reach);
	free(path);
	return 0;
}

static void free_record(struct kv_inode *in)
{
	in->extent_count = 0;
	in->xattr_off = 0;
	in->xattr_len = 0;
	in->size = 0;
	atomic_store_explicit((_Atomic uint32_t *)&in->state, KV_INODE_FREE, memory_order_release);
}

/* A damaged root becomes an empty directory again: its children keep their parent. */
static void reset_root(struct kv_inode *root)
{
	root->mode = S_IFDIR | (root->mode & 07777 ? root->mode & 07777 : 0755);
	root->parent = KV_ROOT_INO;
	root->extent_count = 0;
	root->xattr_off = 0;
	root->xattr_len = 0;
	root->size = 0;
	root->name_len = 0;
	atomic_store_explicit((_Atomic uint32_t *)&root->state, KV_INODE_LIVE,
			      memory_order_release);
}

long kv_check_records(const struct kv_geometry *g, struct kv_inode *inodes, const uint8_t *base,
		      const char *path, bool repair, uint8_t *bad, struct kv_check_summary *sum)
{
	struct checker c = { g, inodes, path, repair, calloc(g->inode_count, 1), 0 };
	uint64_t ino;
	int rc;

	if (!c.mark)
		return -ENOMEM;
	check_each(&c, base);
	if (c.mark[KV_ROOT_INO] && repair) {
		reset_root(&inodes[KV_ROOT_INO]);
		c.mark[KV_ROOT_INO] = 0;
	}
	rc = check_claims(&c, sum);
	if (!rc)
		rc = check_names(&c);
	if (!rc && !c.mark[KV_ROOT_INO])
		rc = check_parents(&c);
	if (rc) {
		free(c.mark);
		return rc;
	}
	for (ino = KV_ROOT_INO; ino < g->inode_count; ino++) {
		if (!c.mark[ino])
			continue;
		if (repair && ino == KV_ROOT_INO)
			reset_root(&inodes[ino]); /* its xattr blob was shared */
		else if (repair)
			free_record(&inodes[ino]);
		else if (bad)
			bad[ino] = 1;
	}
	free(c.mark);
	return c.nbad;
}

uint64_t kv_data_sum(const uint8_t *base, const struct kv_extent *ext, unsigned n, uint64_t size)
{
	XXH3_state_t *st = XXH3_createState();
	uint64_t sum = 0;
	unsigned i;

	if (!st)
		return 0;
	XXH3_64bits_reset(st);
	for (i = 0; i < n && size; i++) {
		uint64_t len = ext[i].len < size ? ext[i].len : size;

		XXH3_64bits_update(st, base + ext[i].off, len);
		size -= len;
	}
	if (!size)
		sum = XXH3_64bits_digest(st) | 1;
	XXH3_freeState(st);
	return sum;
}
