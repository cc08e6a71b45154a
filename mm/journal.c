// SPDX-License-Identifier: MIT
/*
 * journal.c - the redo journal: stage a transaction's field writes in DRAM,
 * copy them to the pool's journal, store the commit mark, apply, clear; at
 * open, replay a committed transaction a dead holder left. The checks of a
 * journal's bytes are check.c's (kv_check_journal, which fsck runs too).
 * Calls nothing in mm/ above snap.h; every function here is called with
 * p->lock held (or before the pool is shared, at open).
 */
#include "check.h"
#include "coherence.h"
#include "journal.h"
#include "log.h"
#include "pool_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static struct kv_journal_head *journal_head(struct kv_pool *p)
{
	return (struct kv_journal_head *)(p->base + p->geo.journal_off);
}

void kv_jtx_begin(struct kv_pool *p)
{
	p->jbytes = 0;
	p->jnrec = 0;
	p->joverflow = false;
}

int kv_jtx_add(struct kv_pool *p, void *dst, const void *src, uint32_t len)
{
	uint32_t need = sizeof(struct kv_journal_rec) + ((len + 7) & ~7u);
	struct kv_journal_rec *r;

	if (p->joverflow)
		return -E2BIG;
	/* the checked copy of the geometry: the pool's may have been changed */
	if (need > p->geo.journal_size - sizeof(struct kv_journal_head) - p->jbytes -
		       (p->cluster_epoch ? KV_CLUSTER_TAIL : 0)) { /* cluster: holds, mailboxes */
		p->joverflow = true;
		kv_log(KV_LOG_ERR,
		       "pool %s: a journal transaction outgrew the journal (%u bytes staged); "
		       "it is dropped",
		       p->be.path, p->jbytes);
		return -E2BIG;
	}
	r = (struct kv_journal_rec *)(p->jbuf + p->jbytes);
	r->off = (uint64_t)((uint8_t *)dst - p->base);
	r->len = len;
	r->pad = 0;
	memcpy(r + 1, src, len);
	p->jbytes += need;
	p->jnrec++;
	return 0;
}

/* A cluster leader tells the followers which records a commit changed (nodes.c logs them). */
static void journal_report(struct kv_pool *p, const uint8_t *recs, uint32_t nrec)
{
	uint64_t table = p->geo.inode_off, end = table + p->ninodes * KV_INODE_SIZE, last = 0;
	uint32_t i;

	for (i = 0; i < nrec; i++) {
		const struct kv_journal_rec *r = (const void *)recs;
		uint64_t ino = (r->off - table) / KV_INODE_SIZE;

		if (r->off >= table && r->off < end && ino != last)
			p->up.changed(p, ino);
		last = r->off >= table && r->off < end ? ino : last;
		recs += sizeof(*r) + ((r->len + 7) & ~7u);
	}
}

static void journal_apply(struct kv_pool *p, const uint8_t *recs, uint32_t nrec)
{
	uint32_t i;

	for (i = 0; i < nrec; i++) {
		const struct kv_journal_rec *r = (const void *)recs;

		memcpy(p->base + r->off, r + 1, r->len);
		kv_coh_flush(p->base + r->off, r->len); /* other hosts read it (coherence.h) */
		recs += sizeof(*r) + ((r->len + 7) & ~7u);
	}
}

void kv_jtx_abort(struct kv_pool *p)
{
	kv_jtx_begin(p);
}

int kv_jtx_commit(struct kv_pool *p)
{
	struct kv_journal_head *h = journal_head(p);
	uint8_t *recs = (uint8_t *)(h + 1);

	if (p->joverflow) { /* all or nothing: a transaction cut short is not applied */
		kv_jtx_abort(p);
		return -E2BIG;
	}
	if (!p->jnrec)
		return 0;
	/* a read-only open, a cluster follower's view among them, writes no record (its mapping
	 * may be writable: a follower's mailboxes and holds are in the pool) */
	if (p->readonly) {
		kv_jtx_abort(p);
		return -EROFS;
	}
	/* fenced (nodes.c): dropped whole; the node stops writing and reopens as a follower */
	if (p->cluster_epoch && p->up.may_commit && !p->up.may_commit(p)) {
		kv_jtx_abort(p);
		return -EROFS;
	}
	memcpy(recs, p->jbuf, p->jbytes);
	h->seq = ++p->jseq;
	h->nrec = p->jnrec;
	h->bytes = p->jbytes;
	h->checksum = XXH64(recs, p->jbytes, h->seq);
	kv_coh_flush(h, sizeof(*h) + p->jbytes); /* the records reach memory before the mark */
	kv_fault(p, KV_FP_JOURNAL_WRITTEN);
	atomic_store_explicit((_Atomic uint64_t *)&h->state, KV_JOURNAL_COMMITTED,
			      memory_order_release);
	kv_coh_flush(&h->state, sizeof(h->state));
	kv_fault(p, KV_FP_JOURNAL_COMMITTED);
	journal_apply(p, p->jbuf, p->jnrec);
	if (p->cluster_epoch && p->up.changed)
		journal_report(p, p->jbuf, p->jnrec);
	kv_fault(p, KV_FP_JOURNAL_APPLIED);
	atomic_store_explicit((_Atomic uint64_t *)&h->state, KV_JOURNAL_EMPTY,
			      memory_order_release);
	kv_coh_flush(&h->state, sizeof(h->state));
	p->jnrec = 0;
	p->jbytes = 0;
	return 0;
}

/*
 * Replay a committed transaction a dead holder left behind. The head and the
 * records are copied out of the pool first and the copy is checked and
 * applied, so nobody can change them between the check and the use. A bad
 * transaction is discarded (the records it meant to change are checked next,
 * as any others). Return: 1 replayed, 0 none or discarded.
 */
int kv_journal_recover(struct kv_pool *p)
{
	struct kv_journal_head *jh = journal_head(p), h;
	const char *why;
	int rc;

	memcpy(&h, jh, sizeof(h));
	p->jseq = h.seq;
	if (h.state == KV_JOURNAL_COMMITTED && kv_check_journal_len(&p->geo, &h))
		memcpy(p->jbuf, jh + 1, h.bytes);
	rc = kv_check_journal(&p->geo, &h, p->jbuf, &why);
	if (rc < 0) {
		kv_log(KV_LOG_WARNING, "pool %s: %s; discarding that transaction", p->be.path, why);
		atomic_fetch_add(&p->quarantined, 1);
		rc = 0;
	} else if (rc > 0) {
		journal_apply(p, p->jbuf, h.nrec);
	}
	/* an uncommitted transaction never happened */
	atomic_store_explicit((_Atomic uint64_t *)&jh->state, KV_JOURNAL_EMPTY,
			      memory_order_release);
	return rc;
}

bool kv_journal_pending(struct kv_pool *p)
{
	return journal_head(p)->state == KV_JOURNAL_COMMITTED;
}

int kv_journal_alloc(struct kv_pool *p)
{
	p->jbuf = malloc(p->geo.journal_size);
	return p->jbuf ? 0 : -ENOMEM;
}

void kv_journal_free(struct kv_pool *p)
{
	free(p->jbuf);
	p->jbuf = NULL;
}
