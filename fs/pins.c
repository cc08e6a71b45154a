// SPDX-License-Identifier: MIT
/*
 * pins.c - the pin table of a ctl handle: an array in pin order with an
 * open-addressing hash over it (slot = index + 1), so a lookup of 1,000
 * hashes costs 1,000 probes and not a scan. It only counts: the pool's
 * pins and the user's share are ctl.c's.
 */
#include "pins.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t slot_of(const struct kv_pins *t, uint64_t dir, const uint8_t h[16])
{
	uint64_t k;

	memcpy(&k, h, sizeof(k));
	return (size_t)((k ^ (dir * 0x9E3779B97F4A7C15ull)) & (t->nslots - 1));
}

/* Two word compares: memcmp is a call, and this runs for every block a lookup or unpin names. */
static bool same_hash(const uint8_t a[16], const uint8_t b[16])
{
	uint64_t a0, a1, b0, b1;

	memcpy(&a0, a, 8);
	memcpy(&a1, a + 8, 8);
	memcpy(&b0, b, 8);
	memcpy(&b1, b + 8, 8);
	return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

struct kv_pin *kv_pins_find(struct kv_pins *t, uint64_t dir, const uint8_t h[16], bool live,
			    uint64_t ino)
{
	size_t i;

	if (!t->nslots)
		return NULL;
	for (i = slot_of(t, dir, h); t->slots[i]; i = (i + 1) & (t->nslots - 1)) {
		struct kv_pin *p = &t->pin[t->slots[i] - 1];

		if (p->dir == dir && same_hash(p->hash, h) &&
		    (live ? p->count > 0 : p->ino == ino))
			return p;
	}
	return NULL;
}

/* Entry @at when it is one of (@dir, @h), else NULL. */
static struct kv_pin *named_at(struct kv_pins *t, size_t at, uint64_t dir, const uint8_t h[16])
{
	if (at < t->n && t->pin[at].dir == dir && same_hash(t->pin[at].hash, h))
		return &t->pin[at];
	return NULL;
}

/* Entry @at when it is a counted pin of (@dir, @h), else NULL. */
static struct kv_pin *counted_at(struct kv_pins *t, size_t at, uint64_t dir, const uint8_t h[16])
{
	struct kv_pin *p = named_at(t, at, dir, h);

	return p && p->count ? p : NULL;
}

struct kv_pin *kv_pins_find_at(struct kv_pins *t, size_t at, uint64_t dir, const uint8_t h[16],
			       uint64_t ino)
{
	/* one entry of (dir, h) belongs to an inode (kv_pins_add follows a miss): it, if here */
	struct kv_pin *p = named_at(t, at, dir, h);

	return p && p->ino == ino ? p : kv_pins_find(t, dir, h, false, ino);
}

void kv_pins_prefetch(const struct kv_pins *t, uint64_t dir, const uint8_t h[16], bool entry)
{
	size_t i;

	if (!t->nslots)
		return;
	i = slot_of(t, dir, h);
	if (!entry)
		__builtin_prefetch(&t->slots[i]);
	else if (t->slots[i])
		__builtin_prefetch(&t->pin[t->slots[i] - 1]);
}

/* Point @slots (zeroed, @nslots of them) over the whole pin array. */
static void install(struct kv_pins *t, uint32_t *slots, size_t nslots)
{
	size_t i, j;

	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
	for (j = 0; j < t->n; j++) {
		for (i = slot_of(t, t->pin[j].dir, t->pin[j].hash); t->slots[i];
		     i = (i + 1) & (nslots - 1))
			;
		t->slots[i] = (uint32_t)j + 1;
	}
}

void kv_pins_compact(struct kv_pins *t)
{
	size_t j, n = 0, nslots = 2048;
	uint32_t *slots;

	if (t->n < 4096 || t->n < 4 * t->live)
		return;
	while (nslots < 2 * (t->live + 1))
		nslots *= 2;
	slots = calloc(nslots, sizeof(*slots));
	if (!slots)
		return; /* the table stays as it is; the next unpin tries again */
	for (j = 0; j < t->n; j++)
		if (t->pin[j].count)
			t->pin[n++] = t->pin[j];
	t->n = n;
	install(t, slots, nslots);
}

int kv_pins_add(struct kv_pins *t, uint64_t dir, const uint8_t h[16], uint64_t ino, uint64_t bytes)
{
	struct kv_pin *p;
	size_t i;

	if (t->n == KV_PINS_MAX)
		return -ENOSPC;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		struct kv_pin *np = realloc(t->pin, cap * sizeof(*np));

		if (!np)
			return -ENOMEM;
		t->pin = np;
		t->cap = cap;
	}
	if ((t->n + 1) * 2 > t->nslots) {
		size_t nslots = t->nslots ? t->nslots * 2 : 2048;
		uint32_t *slots = calloc(nslots, sizeof(*slots));

		if (!slots)
			return -ENOMEM;
		install(t, slots, nslots);
	}
	p = &t->pin[t->n];
	p->dir = dir;
	memcpy(p->hash, h, 16);
	p->ino = ino;
	p->count = 1;
	p->bytes = bytes;
	for (i = slot_of(t, dir, h); t->slots[i]; i = (i + 1) & (t->nslots - 1))
		;
	t->slots[i] = (uint32_t)++t->n;
	t->live++;
	return 0;
}

bool kv_pins_get(struct kv_pins *t, struct kv_pin *p, uint64_t bytes)
{
	if (p->count++)
		return false;
	t->live++;
	p->bytes = bytes;
	return true;
}

bool kv_pins_put(struct kv_pins *t, struct kv_pin *p)
{
	if (--p->count)
		return false;
	t->live--;
	return true;
}

int kv_pins_unpin(struct kv_pins *t, uint64_t dir, const uint8_t (*h)[16], uint32_t n,
		  struct kv_pin **taken, bool *last)
{
	/* a prefix pinned in one call: its entries in pin order (unpins come last first) */
	size_t at = SIZE_MAX;
	uint32_t i;

	/* take the counts down, and put them back if one is not pinned */
	for (i = 0; i < n; i++) {
		struct kv_pin *p;

		/* two dependent misses a block (slot, then entry): overlap them, as lookups do */
		if (at >= t->n && i + 16 < n)
			kv_pins_prefetch(t, dir, h[i + 16], false);
		if (at >= t->n && i + 8 < n)
			kv_pins_prefetch(t, dir, h[i + 8], true);
		/* (any counted entry of the name will do: each is a pin of it this handle holds) */
		p = at < t->n ? counted_at(t, at - 1, dir, h[i]) : NULL;
		if (!p && at < t->n)
			p = counted_at(t, at + 1, dir, h[i]);
		if (!p)
			p = kv_pins_find(t, dir, h[i], true, 0);
		at = p ? (size_t)(p - t->pin) : SIZE_MAX;

		if (!p) {
			while (i-- > 0)
				taken[i]->count++;
			return -EINVAL;
		}
		p->count--;
		taken[i] = p;
		last[i] = p->count == 0;
	}
	for (i = 0; i < n; i++)
		if (last[i])
			t->live--;
	return 0;
}

void kv_pins_free(struct kv_pins *t)
{
	free(t->pin);
	free(t->slots);
	*t = (struct kv_pins){ 0 };
}
