// SPDX-License-Identifier: MIT
/*
 * fsck.c - check a pool that nobody holds: superblock, journal, every inode
 * record, names, parents, extents, and that the allocator's view (free space
 * = what no record references) adds up. Read-only: it reports, it never
 * repairs (a mount repairs what is safe: orphans, reservations, the journal).
 */
#include "pool_int.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

struct fsck_ext {
	uint64_t off, len, ino;
};

static int cmp_ext(const void *a, const void *b)
{
	const struct fsck_ext *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

#define PROBLEM(...)                                                                               \
	do {                                                                                       \
		kv_log(KV_LOG_ERR, __VA_ARGS__);                                                   \
		problems++;                                                                        \
	} while (0)

static long check_records(const struct kv_geometry *g, const struct kv_inode *inodes,
			  const char *path)
{
	uint64_t n = g->inode_count, ino, next = 0, cap = 1024, used = 0, i, hb = 1;
	uint64_t data_end = g->data_off + g->data_size;
	struct fsck_ext *ext = malloc(sizeof(*ext) * cap);
	uint32_t *hbucket = NULL, *hnext = NULL;
	long problems = 0;
	int j;

	while (hb < n)
		hb <<= 1;
	hbucket = calloc(hb, sizeof(*hbucket));
	hnext = calloc(n, sizeof(*hnext));
	if (!ext || !hbucket || !hnext) {
		free(ext);
		free(hbucket);
		free(hnext);
		return -ENOMEM;
	}
	if (inodes[KV_ROOT_INO].state != KV_INODE_LIVE || !S_ISDIR(inodes[KV_ROOT_INO].mode))
		PROBLEM("%s: the root directory record is damaged", path);
	for (ino = KV_ROOT_INO; ino < n; ino++) {
		const struct kv_inode *in = &inodes[ino];
		uint64_t alloc = 0, depth = 0, up;

		if (in->state == KV_INODE_FREE)
			continue;
		if (in->state > KV_INODE_RESERVED) {
			PROBLEM("%s: inode %llu has unknown state %u", path,
				(unsigned long long)ino, in->state);
			continue;
		}
		if (!S_ISREG(in->mode) && !S_ISDIR(in->mode) && !S_ISLNK(in->mode))
			PROBLEM("%s: inode %llu has mode %o (not a file, directory or link)", path,
				(unsigned long long)ino, in->mode);
		if (in->extent_count > KV_INLINE_EXTENTS ||
		    (S_ISDIR(in->mode) && in->extent_count)) {
			PROBLEM("%s: inode %llu has %u extents", path, (unsigned long long)ino,
				in->extent_count);
			continue;
		}
		for (j = 0; j <= in->extent_count; j++) {
			struct fsck_ext e = { 0, 0, ino };

			if (j < in->extent_count)
				e = (struct fsck_ext){ in->ext[j].off, in->ext[j].len, ino };
			else if (in->xattr_off)
				e = (struct fsck_ext){ in->xattr_off,
						       (in->xattr_len + KV_PAGE_SIZE - 1) &
							   ~(uint64_t)(KV_PAGE_SIZE - 1),
						       ino };
			else
				break;
			if (e.off < g->data_off || e.off + e.len > data_end ||
			    e.off % KV_PAGE_SIZE || e.len % KV_PAGE_SIZE || !e.len) {
				PROBLEM("%s: inode %llu has an extent [%llu, +%llu) outside the "
					"data area",
					path, (unsigned long long)ino, (unsigned long long)e.off,
					(unsigned long long)e.len);
				continue;
			}
			if (j < in->extent_count)
				alloc += e.len;
			if (next == cap) {
				struct fsck_ext *x = realloc(ext, sizeof(*ext) * cap * 2);

				if (!x) {
					problems = -ENOMEM;
					goto out;
				}
				ext = x;
				cap *= 2;
			}
			ext[next++] = e;
			used += e.len;
		}
		if (in->state != KV_INODE_LIVE)
			continue;
		if (S_ISREG(in->mode) && in->size > alloc)
			PROBLEM("%s: inode %llu is %llu bytes but has only %llu bytes of extents",
				path, (unsigned long long)ino, (unsigned long long)in->size,
				(unsigned long long)alloc);
		if (ino == KV_ROOT_INO)
			continue;
		if (!in->name_len || in->name_len > KV_NAME_MAX ||
		    memchr(in->name, '/', in->name_len) || memchr(in->name, 0, in->name_len))
			PROBLEM("%s: inode %llu has an invalid name", path,
				(unsigned long long)ino);
		for (up = in->parent; up != KV_ROOT_INO && depth < 4096; depth++) {
			if (up == 0 || up >= n || inodes[up].state != KV_INODE_LIVE ||
			    !S_ISDIR(inodes[up].mode))
				break;
			up = inodes[up].parent;
		}
		if (up != KV_ROOT_INO)
			PROBLEM("%s: inode %llu is not reachable from the root (parent %llu)", path,
				(unsigned long long)ino, (unsigned long long)in->parent);
		else {
			uint64_t b =
			    XXH3_64bits_withSeed(in->name, in->name_len, in->parent) & (hb - 1);
			uint32_t o;

			for (o = hbucket[b]; o; o = hnext[o])
				if (inodes[o].parent == in->parent &&
				    inodes[o].name_len == in->name_len &&
				    !memcmp(inodes[o].name, in->name, in->name_len))
					PROBLEM("%s: inodes %u and %llu have the same name in "
						"directory %llu",
						path, o, (unsigned long long)ino,
						(unsigned long long)in->parent);
			hnext[ino] = hbucket[b];
			hbucket[b] = (uint32_t)ino;
		}
	}
	qsort(ext, next, sizeof(*ext), cmp_ext);
	for (i = 1; i < next; i++)
		if (ext[i].off < ext[i - 1].off + ext[i - 1].len)
			PROBLEM("%s: inodes %llu and %llu share data at pool offset %llu", path,
				(unsigned long long)ext[i - 1].ino, (unsigned long long)ext[i].ino,
				(unsigned long long)ext[i].off);
	if (used > g->data_size)
		PROBLEM("%s: records claim %llu bytes of a %llu-byte data area", path,
			(unsigned long long)used, (unsigned long long)g->data_size);
	kv_log(KV_LOG_NOTICE, "%s: %llu extents, %llu of %llu data bytes in use", path,
	       (unsigned long long)next, (unsigned long long)used,
	       (unsigned long long)g->data_size);
out:
	free(ext);
	free(hbucket);
	free(hnext);
	return problems;
}

long kv_pool_fsck(const char *path)
{
	struct kv_backend_opts bo = { .numa_node = -1, .readonly = true };
	const struct kv_journal_head *jh;
	const struct kv_super *sb;
	struct kv_backend be;
	long problems = 0, rc;

	rc = kv_backend_open(&be, path, &bo);
	if (rc)
		return rc;
	sb = be.base;
	rc = kv_geometry_check(path, &sb->geo, be.size);
	if (rc) {
		problems = 1;
		goto out;
	}
	if (sb->rt.state == KV_STATE_OPEN)
		kv_log(KV_LOG_NOTICE, "%s: was not closed cleanly; the next mount recovers it",
		       path);
	jh = (const void *)((const uint8_t *)be.base + sb->geo.journal_off);
	if (jh->state == KV_JOURNAL_COMMITTED) {
		if (jh->bytes > sb->geo.journal_size - sizeof(*jh) ||
		    XXH64(jh + 1, jh->bytes, jh->seq) != jh->checksum)
			PROBLEM("%s: the journal is marked committed but its checksum is wrong",
				path);
		else
			kv_log(KV_LOG_NOTICE,
			       "%s: the journal holds a committed transaction; the next "
			       "mount replays it",
			       path);
	} else if (jh->state != KV_JOURNAL_EMPTY) {
		kv_log(KV_LOG_NOTICE,
		       "%s: the journal holds an uncommitted transaction; it is "
		       "discarded at the next mount",
		       path);
	}
	rc = check_records(&sb->geo, (const void *)((const uint8_t *)be.base + sb->geo.inode_off),
			   path);
	problems = rc < 0 ? rc : problems + rc;
out:
	kv_backend_close(&be);
	return problems;
}
