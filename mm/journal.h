/* SPDX-License-Identifier: MIT */
/*
 * journal.h - the redo journal (journal.c): a transaction is begin, adds,
 * commit; open replays what a dead holder committed.
 */
#ifndef KVFS_MM_JOURNAL_H
#define KVFS_MM_JOURNAL_H

#include "pool_int.h"

/*
 * Caller holds p->lock.
 * A transaction is begin, adds, commit. Only kv_commit's grows with its
 * input; every other one stages a few fields and at most two names, a few
 * KiB against a journal of KV_JOURNAL_SIZE. Should one overflow all the
 * same, the add logs an error and fails with -E2BIG, and so does the
 * commit, which then applies nothing: the pool keeps its state before the
 * transaction, never half of it. A caller that changes DRAM state with a
 * transaction checks the adds (or the commit) before it changes any, so
 * that a transaction that cannot be staged fails whole.
 */
void kv_jtx_begin(struct kv_pool *p);
/* Stage "write len bytes of src at dst" (dst inside the pool). Return: 0 or -E2BIG. */
int kv_jtx_add(struct kv_pool *p, void *dst, const void *src, uint32_t len);
/* Drop the staged transaction: nothing of it is applied. */
void kv_jtx_abort(struct kv_pool *p);
/* Write, mark, apply and clear the transaction. Return: 0, -E2BIG (an add failed: nothing applied). */
int kv_jtx_commit(struct kv_pool *p);
#define KV_JTX_FIELD(p, ptr, val)                                                                  \
	({                                                                                         \
		__typeof__(*(ptr)) v__ = (val);                                                    \
		kv_jtx_add((p), (ptr), &v__, sizeof(v__));                                         \
	})

/* kv_journal_alloc() - the staging buffer, as large as the checked journal. Return: 0, -ENOMEM. */
int kv_journal_alloc(struct kv_pool *p);
void kv_journal_free(struct kv_pool *p);

/*
 * kv_journal_recover() - replay a committed transaction a dead holder left
 * (at open, before anything reads the records). Return: 1 replayed, 0 none
 * or discarded (a bad one is logged and counted as quarantined).
 */
int kv_journal_recover(struct kv_pool *p);
/** kv_journal_pending() - does the pool's journal hold a committed transaction not yet replayed? */
bool kv_journal_pending(struct kv_pool *p);

#endif /* KVFS_MM_JOURNAL_H */
