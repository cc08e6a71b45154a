/* SPDX-License-Identifier: MIT */
/*
 * xattr.h - read a record's xattr blob (xattr.c). Caller holds p->lock.
 */
#ifndef KVFS_MM_XATTR_H
#define KVFS_MM_XATTR_H

#include <sys/types.h>

#include "pool_int.h"

/* The bytes one record of a blob takes, padding included. */
uint32_t kv_xattr_rec_bytes(const struct kv_xattr_rec *r);
/* Find @name in a checked blob. Return: its record, or NULL. */
const struct kv_xattr_rec *kv_xattr_find(const uint8_t *blob, uint32_t len, const char *name);
/*
 * Copy a file's xattr blob out of the pool (a client may change it at any
 * moment) and check the copy; everything after reads the copy. *blob is
 * malloc'ed, NULL when the file has none; *ext is its extent.
 * Return: 0, -EIO (the file is quarantined) or -ENOMEM.
 */
int kv_xattr_load(struct kv_pool *p, uint64_t ino, uint8_t **blob, uint32_t *len,
		  struct kv_extent *ext);
/* A user xattr's value. Return: its size, -ENODATA, -ERANGE (@size too small), -EIO, -ENOMEM. */
ssize_t kv_xattr_get_locked(struct kv_pool *p, uint64_t ino, const char *name, void *value,
			    size_t size);

#endif /* KVFS_MM_XATTR_H */
