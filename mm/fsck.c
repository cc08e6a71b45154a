// SPDX-License-Identifier: MIT
/*
 * fsck.c - check a pool that nobody holds: superblock, journal, and every
 * inode record through the same checker a mount runs (check.c), so fsck
 * reports exactly what a mount would drop. Read-only; a committed journal
 * is applied to a private copy of the inode table before the check, as a
 * mount would replay it. kv_pool_repair() is a read-write open: the mount's
 * own repair.
 */
#include "check.h"
#include "log.h"
#include "pool_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PROBLEM(...)                                                                               \
	do {                                                                                       \
		kv_log(KV_LOG_ERR, __VA_ARGS__);                                                   \
		problems++;                                                                        \
	} while (0)

/*
 * The inode table as a mount would see it after replaying the journal: the
 * mapping itself when there is nothing to replay, else a patched copy
 * (*copy, to free). Return: the table, or NULL (-ENOMEM).
 */
static struct kv_inode *table_after_replay(const struct kv_geometry *g, const uint8_t *base,
					   const struct kv_journal_head *h, const uint8_t *recs,
					   struct kv_inode **copy)
{
	uint64_t bytes = g->inode_count * KV_INODE_SIZE, pos = 0;
	uint8_t *t;
	uint32_t i;

	*copy = NULL;
	if (!recs)
		return (struct kv_inode *)(base + g->inode_off);
	t = malloc(bytes);
	if (!t)
		return NULL;
	memcpy(t, base + g->inode_off, bytes);
	for (i = 0; i < h->nrec; i++) { /* checked by kv_check_journal() */
		struct kv_journal_rec r;

		memcpy(&r, recs + pos, sizeof(r));
		memcpy(t + (r.off - g->inode_off), recs + pos + sizeof(r), r.len);
		pos += sizeof(r) + (((uint64_t)r.len + 7) & ~(uint64_t)7);
	}
	*copy = (struct kv_inode *)t;
	return *copy;
}

/* Hash every live file that has a checksum. Return: how many do not match. */
static long verify_data(const struct kv_geometry *g, const struct kv_inode *table,
			const uint8_t *base, const uint8_t *bad, const char *path)
{
	uint64_t ino, files = 0, bytes = 0;
	long problems = 0;

	for (ino = KV_ROOT_INO + 1; ino < g->inode_count; ino++) {
		const struct kv_inode *in = &table[ino];

		if (in->state != KV_INODE_LIVE || bad[ino] || !S_ISREG(in->mode) || !in->checksum)
			continue;
		files++;
		bytes += in->size;
		if (kv_data_sum(base, in->ext, in->extent_count, in->size) != in->checksum)
			PROBLEM("%s: the bytes of inode %llu do not match their checksum", path,
				(unsigned long long)ino);
	}
	kv_log(KV_LOG_NOTICE, "%s: verified the bytes of %llu files (%llu bytes)", path,
	       (unsigned long long)files, (unsigned long long)bytes);
	return problems;
}

long kv_pool_fsck(const char *path)
{
	return kv_pool_fsck_flags(path, 0);
}

long kv_pool_fsck_flags(const char *path, unsigned flags)
{
	struct kv_backend_opts bo = { .numa_node = -1, .readonly = true };
	struct kv_inode *table, *copy = NULL;
	struct kv_check_summary sum = { 0, 0 };
	struct kv_journal_head jh;
	struct kv_geometry g;
	const uint8_t *base, *recs = NULL;
	const struct kv_super *sb;
	struct kv_backend be;
	long problems = 0, rc;
	uint8_t *bad = NULL;
	const char *why;

	rc = kv_backend_open(&be, path, &bo);
	if (rc)
		return rc;
	base = be.base;
	sb = be.base;
	memcpy(&g, &sb->geo, sizeof(g));
	rc = kv_geometry_check(path, &g, be.size);
	if (rc) {
		problems = 1;
		goto out;
	}
	if (sb->rt.state == KV_STATE_OPEN)
		kv_log(KV_LOG_NOTICE, "%s: was not closed cleanly; the next mount recovers it",
		       path);
	memcpy(&jh, base + g.journal_off, sizeof(jh));
	rc = kv_check_journal(&g, &jh, base + g.journal_off + sizeof(jh), &why);
	if (rc < 0) {
		PROBLEM("%s: %s; a mount discards that transaction", path, why);
	} else if (rc > 0) {
		recs = base + g.journal_off + sizeof(jh);
		kv_log(KV_LOG_NOTICE,
		       "%s: the journal holds a committed transaction; the next mount replays it",
		       path);
	} else if (jh.state != KV_JOURNAL_EMPTY) {
		kv_log(KV_LOG_NOTICE,
		       "%s: the journal holds an uncommitted transaction; it is discarded at the "
		       "next mount",
		       path);
	}
	table = table_after_replay(&g, base, &jh, recs, &copy);
	bad = calloc(g.inode_count, 1);
	rc = table && bad ? kv_check_records(&g, table, base, path, false, bad, &sum) : -ENOMEM;
	if (rc >= 0 && (flags & KV_FSCK_DATA))
		rc += verify_data(&g, table, base, bad, path);
	free(copy);
	if (rc < 0) {
		problems = rc;
		goto out;
	}
	problems += rc;
	kv_log(KV_LOG_NOTICE, "%s: %llu extents, %llu of %llu data bytes in use", path,
	       (unsigned long long)sum.extents, (unsigned long long)sum.used_bytes,
	       (unsigned long long)g.data_size);
out:
	free(bad);
	kv_backend_close(&be);
	return problems;
}

long kv_pool_repair(const char *path)
{
	struct kv_open_opts o = { .numa_node = -1 };
	struct kv_pool_stats st;
	struct kv_pool *p;
	int rc = kv_pool_open(path, &o, &p);

	if (rc)
		return rc;
	kv_pool_get_stats(p, &st);
	kv_pool_close(p);
	return (long)st.quarantined;
}
