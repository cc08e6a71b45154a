/* SPDX-License-Identifier: MIT */
/*
 * ctl_int.h - what ctl.c (the ioctls on .kvfs/ctl) shares with ctl_vec.c
 * (the calls that carry addresses in the caller's memory). Callers hold
 * the handle's lock.
 */
#ifndef KVFS_FS_CTL_INT_H
#define KVFS_FS_CTL_INT_H

#include <sys/types.h>

#include "daemon.h"
#include "kvfs_abi.h"

struct kv_ctl_state;

/**
 * kv_ctl_check_head() - check a call's head (ABI, flags, 1..@max items) and,
 * with @ns, resolve its namespace; with @c, the caller must be allowed
 * @mask on it. Return: 0, -EPROTO, -EINVAL, -ENOENT, -ENOTDIR, -EACCES.
 */
int kv_ctl_check_head(struct kv_daemon *d, const struct kvfs_ioc_head *h, uint32_t max,
		      struct kv_cred *c, int mask, struct kv_attr *ns);
/**
 * kv_ctl_lookup() - LOOKUP: pin the leading present blocks of @hd->count
 * hashes in @item that @c may read, their extents written over the hashes.
 * Return: 0 (@hd->count: how many), -EACCES or -EDQUOT (the first block
 * refused), -EIO (KVFS_VERIFY), -ENOMEM, -ENOSPC, or the head's errors.
 */
int kv_ctl_lookup(struct kv_daemon *d, struct kv_ctl_state *s, struct kvfs_ioc_head *hd,
		  union kvfs_ioc_lookup_item *item, struct kv_cred *c);
/**
 * kv_ctl_unpin() - UNPIN: drop one of the handle's pins per hash, all or
 * nothing. Return: 0 or -errno.
 */
int kv_ctl_unpin(struct kv_daemon *d, struct kv_ctl_state *s, const struct kvfs_ioc_unpin *io);
/**
 * kv_ctl_lookupv() - LOOKUPV for the caller process @pid (the request's).
 * Return: as kv_ctl_lookup(), and -EFAULT (an address not mapped in the
 * caller), -EOPNOTSUPP (its memory out of the daemon's reach), -EAGAIN
 * (enough workers in such calls now: do this one by value).
 */
int kv_ctl_lookupv(struct kv_daemon *d, struct kv_ctl_state *s, struct kvfs_ioc_vec *io,
		   struct kv_cred *c, pid_t pid);
/**
 * kv_ctl_unpinv() - UNPINV for the caller process @pid.
 * Return: as kv_ctl_unpin() and kv_ctl_lookupv().
 */
int kv_ctl_unpinv(struct kv_daemon *d, struct kv_ctl_state *s, struct kvfs_ioc_vec *io, pid_t pid);

#endif /* KVFS_FS_CTL_INT_H */
