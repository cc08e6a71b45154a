/* SPDX-License-Identifier: MIT */
/*
 * pins.h - the pins one ctl handle holds (ctl.c): which blocks, named by
 * (namespace directory, hash) and held as inode numbers, it pinned and how
 * many times. Only bookkeeping: it never calls the pool or charges a user;
 * ctl.c does both around these calls. Not thread-safe: the handle's lock
 * covers its table.
 *
 * An entry whose count falls to 0 stays in the table (and can be revived
 * by the next pin of the same inode) until dead entries outnumber live
 * ones; the array keeps pin order, so a closing handle unpins tail first.
 */
#ifndef KVFS_FS_PINS_H
#define KVFS_FS_PINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KV_PINS_MAX (16u << 20) /* entries one handle may hold */

struct kv_pin {
	uint64_t dir;
	uint8_t hash[16];
	uint64_t ino;
	uint64_t count;
	uint64_t bytes; /* charged to the handle's uid while count > 0 */
};

struct kv_pins {
	struct kv_pin *pin; /* in pin order */
	size_t n, cap;
	size_t live; /* entries with count > 0 */
	uint32_t *slots; /* open addressing over pin[]: index + 1, 0 = empty */
	size_t nslots; /* power of two */
};

/**
 * kv_pins_find() - the first entry of (@dir, @h) that is still counted
 * (@live), or that belongs to inode @ino, counted or not (to revive it).
 * Return: the entry (valid until the next add or compact), or NULL.
 */
struct kv_pin *kv_pins_find(struct kv_pins *t, uint64_t dir, const uint8_t h[16], bool live,
			    uint64_t ino);

/**
 * kv_pins_find_at() - kv_pins_find(@t, @dir, @h, false, @ino), trying entry
 * @at first: a prefix pinned again finds its entries in pin order, one after
 * the other, without a probe of the slots. Return: as kv_pins_find().
 */
struct kv_pin *kv_pins_find_at(struct kv_pins *t, size_t at, uint64_t dir, const uint8_t h[16],
			       uint64_t ino);

/**
 * kv_pins_prefetch() - start loading what kv_pins_find() of (@dir, @h) will
 * read first: its slot, or (@entry, once the slot is in cache) the entry
 * the slot names. A hint only; it changes nothing.
 */
void kv_pins_prefetch(const struct kv_pins *t, uint64_t dir, const uint8_t h[16], bool entry);
/**
 * kv_pins_add() - a new entry for @ino with a count of 1 and @bytes charged.
 * Return: 0; -ENOSPC when the table holds KV_PINS_MAX entries; -ENOMEM.
 * Nothing changes on error.
 */
int kv_pins_add(struct kv_pins *t, uint64_t dir, const uint8_t h[16], uint64_t ino, uint64_t bytes);

/**
 * kv_pins_get() - count one more pin on @p, which kv_pins_find() returned;
 * an entry at 0 comes back to life with @bytes charged.
 * Return: true when it came back to life (the caller charges @bytes).
 */
bool kv_pins_get(struct kv_pins *t, struct kv_pin *p, uint64_t bytes);

/**
 * kv_pins_put() - count one pin less on @p (its count must be > 0).
 * Return: true when that was the last (the caller uncharges p->bytes).
 */
bool kv_pins_put(struct kv_pins *t, struct kv_pin *p);

/**
 * kv_pins_unpin() - take one pin off each of the @n hashes of @dir, all or
 * nothing: @taken[i] is the entry of hash i, @last[i] whether that was its
 * last pin (once per entry, even when the batch names it twice). The
 * entries stay valid until the next add or compact.
 * Return: 0, or -EINVAL (and nothing changed) when one is not pinned.
 */
int kv_pins_unpin(struct kv_pins *t, uint64_t dir, const uint8_t (*h)[16], uint32_t n,
		  struct kv_pin **taken, bool *last);

/**
 * kv_pins_compact() - drop the entries no longer counted once they
 * outnumber the live ones four to one (and there are 4096 or more),
 * keeping pin order. Invalidates every entry pointer.
 */
void kv_pins_compact(struct kv_pins *t);

/** kv_pins_free() - free the table's memory (the counts are the caller's to undo first). */
void kv_pins_free(struct kv_pins *t);

#endif /* KVFS_FS_PINS_H */
