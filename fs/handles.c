// SPDX-License-Identifier: MIT
/*
 * handles.c - a table of slots under one mutex: fh = generation << 32 |
 * slot + 1, the generation 28 bits (KV_HANDLE_GEN_MASK): the top four bits
 * of a fh are never a handle's, free for the cluster's marks (cluster_ops.c).
 * Gets and puts are a lock each, cheap next to the FUSE round trip they sit
 * in. Destructors run outside the lock.
 */
#include "handles.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#define KV_HANDLE_GEN_MASK 0x0fffffffu

struct slot {
	void *obj;
	kv_handle_destroy_fn destroy;
	uint32_t gen;
	uint32_t refs; /* the table's own (while open) + requests' */
	bool open;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot *slots;
static uint32_t nslots, *free_slots, nfree;

static struct slot *lookup(uint64_t fh)
{
	uint32_t i = (uint32_t)fh;

	if (i == 0 || i > nslots || slots[i - 1].gen != (uint32_t)(fh >> 32) || !slots[i - 1].obj)
		return NULL;
	return &slots[i - 1];
}

int kv_handle_new(void *obj, kv_handle_destroy_fn destroy, uint64_t *fh)
{
	uint32_t i;

	pthread_mutex_lock(&lock);
	if (!nfree) {
		uint32_t n = nslots ? nslots * 2 : 64, j;
		struct slot *s = realloc(slots, n * sizeof(*s));
		uint32_t *f = s ? realloc(free_slots, n * sizeof(*f)) : NULL;

		if (s)
			slots = s;
		if (!f) {
			pthread_mutex_unlock(&lock);
			return -ENOMEM;
		}
		free_slots = f;
		for (j = n; j-- > nslots;) {
			slots[j] = (struct slot){ 0 };
			free_slots[nfree++] = j;
		}
		nslots = n;
	}
	i = free_slots[--nfree];
	slots[i].obj = obj;
	slots[i].destroy = destroy;
	slots[i].gen = (slots[i].gen + 1) & KV_HANDLE_GEN_MASK;
	slots[i].refs = 1;
	slots[i].open = true;
	*fh = (uint64_t)slots[i].gen << 32 | (i + 1);
	pthread_mutex_unlock(&lock);
	return 0;
}

void *kv_handle_get(uint64_t fh)
{
	struct slot *s;
	void *obj = NULL;

	pthread_mutex_lock(&lock);
	s = lookup(fh);
	if (s && s->open) {
		s->refs++;
		obj = s->obj;
	}
	pthread_mutex_unlock(&lock);
	return obj;
}

/* Drop a reference; the last one frees the slot and returns what to destroy. */
static void unref(uint64_t fh)
{
	kv_handle_destroy_fn destroy = NULL;
	struct slot *s;
	void *obj = NULL;

	pthread_mutex_lock(&lock);
	s = lookup(fh);
	if (s && --s->refs == 0) {
		obj = s->obj;
		destroy = s->destroy;
		s->obj = NULL;
		free_slots[nfree++] = (uint32_t)(s - slots);
	}
	pthread_mutex_unlock(&lock);
	if (destroy)
		destroy(obj);
}

void kv_handle_put(uint64_t fh)
{
	unref(fh);
}

void kv_handle_close(uint64_t fh)
{
	struct slot *s;
	bool was_open = false;

	pthread_mutex_lock(&lock);
	s = lookup(fh);
	if (s && s->open) {
		s->open = false;
		was_open = true;
	}
	pthread_mutex_unlock(&lock);
	if (was_open)
		unref(fh); /* the table's own reference */
}
