/* SPDX-License-Identifier: MIT */
/*
 * cluster_etcd.h - the few etcd v3 calls cluster mode needs (leases, a
 * create-if-absent transaction, reads and counts), spoken over etcd's JSON
 * gateway with libcurl and json-c. etcd decides; this is only its client.
 * Endpoints are tried in turn; the one that answered is tried first next.
 * Every call blocks for at most the client's timeout. Thread-safe (one lock).
 */
#ifndef KVFS_FS_CLUSTER_ETCD_H
#define KVFS_FS_CLUSTER_ETCD_H

#include <stddef.h>
#include <stdint.h>

struct kv_etcd;

/**
 * kv_etcd_new() - a client of the etcd members in @endpoints ("HOST:PORT[,...]"),
 * each call bounded by @timeout_ms. Return: 0, -EINVAL (bad list), -ENOMEM.
 */
int kv_etcd_new(const char *endpoints, long timeout_ms, struct kv_etcd **out);
void kv_etcd_free(struct kv_etcd *e);
/** kv_etcd_grant() - a lease of @ttl seconds. Return: 0, -EHOSTUNREACH (no member answered), -EPROTO. */
int kv_etcd_grant(struct kv_etcd *e, long ttl, int64_t *lease);
/** kv_etcd_keepalive() - renew @lease. Return: 0 and its TTL in @ttl; -ENOENT (it expired), -EHOSTUNREACH. */
int kv_etcd_keepalive(struct kv_etcd *e, int64_t lease, long *ttl);
/** kv_etcd_revoke() - end @lease and every key under it. Return: 0 or -errno. */
int kv_etcd_revoke(struct kv_etcd *e, int64_t lease);
/** kv_etcd_put() - @key = @val under @lease (0: none). Return: 0 or -errno. */
int kv_etcd_put(struct kv_etcd *e, const char *key, const char *val, int64_t lease);
/**
 * kv_etcd_create() - put @key = @val under @lease only if @key does not exist
 * (one transaction: create_revision == 0). Return: 0 and the key's create
 * revision in @rev; -EEXIST (someone holds it); -EHOSTUNREACH; -EPROTO.
 */
int kv_etcd_create(struct kv_etcd *e, const char *key, const char *val, int64_t lease,
		   int64_t *rev);
/**
 * kv_etcd_get() - @key's value (NUL-terminated, cut to @size), create revision and lease.
 * Return: 0, -ENOENT, -EHOSTUNREACH, -EPROTO.
 */
int kv_etcd_get(struct kv_etcd *e, const char *key, char *val, size_t size, int64_t *rev,
		int64_t *lease);
/** kv_etcd_delete() - remove @key. Return: 0 or -errno. */
int kv_etcd_delete(struct kv_etcd *e, const char *key);
/** kv_etcd_count() - keys that start with @prefix. Return: 0 and @n, or -errno. */
int kv_etcd_count(struct kv_etcd *e, const char *prefix, int64_t *n);
/**
 * kv_etcd_list() - the last path parts of the keys under @prefix, one a line,
 * into @buf (cut at @size). Return: how many, or -errno.
 */
int kv_etcd_list(struct kv_etcd *e, const char *prefix, char *buf, size_t size);

#endif /* KVFS_FS_CLUSTER_ETCD_H */
