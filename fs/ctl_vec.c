// SPDX-License-Identifier: MIT
/*
 * ctl_vec.c - LOOKUPV and UNPINV (kvfs_abi.h): LOOKUP's and UNPIN's batches
 * over hashes the daemon reads from the caller's memory, the answer written
 * back there, so a prefix of any length is one round trip through the
 * kernel instead of one per 1,000 blocks.
 */
#include "ctl_int.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

/*
 * Copy @len bytes between the daemon and the memory of the caller's process
 * @pid (@to_caller: into it). The caller's thread waits in its ioctl until
 * the reply (a request the daemon has read is waited out even by SIGKILL;
 * only root's forced abort of the connection ends the wait), so @pid is
 * that process throughout. Return: 0, -EFAULT (an address the
 * caller does not have mapped), -EOPNOTSUPP (pid 0: the caller is not
 * visible from the daemon's PID namespace; or the daemon may not reach its
 * memory), -ENOMEM.
 */
static int caller_copy(pid_t pid, void *here, uint64_t there, size_t len, bool to_caller)
{
	struct iovec local = { here, len }, remote = { (void *)(uintptr_t)there, len };
	ssize_t n;

	if (!pid)
		return -EOPNOTSUPP;
	n = to_caller ? process_vm_writev(pid, &local, 1, &remote, 1, 0)
		      : process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	if (n >= 0 || errno == EFAULT)
		return -EFAULT;
	return errno == ENOMEM ? -ENOMEM : -EOPNOTSUPP; /* EPERM, ESRCH */
}

/*
 * A worker copying from a caller's memory waits for whatever backs it: a
 * page in swap, or a file on a FUSE filesystem (this one, or one whose
 * daemon never answers), for as long as that takes. So at most a quarter
 * of the workers are in such calls at once (none with fewer than 4): a
 * caller can never take them all, and the others serve the reads its
 * pages may need. Return: whether the call may go on (else EAGAIN: the
 * library does this one by value).
 */
static bool vec_call_begin(struct kv_daemon *d)
{
	if (atomic_fetch_add(&d->vec_calls, 1) < d->threads / 4)
		return true;
	atomic_fetch_sub(&d->vec_calls, 1);
	return false;
}

static void vec_call_end(struct kv_daemon *d)
{
	atomic_fetch_sub(&d->vec_calls, 1);
}

/* Unpin hashes[from, to) through UNPIN's calls, the last first (the first stays most recent). */
static int unpin_range(struct kv_daemon *d, struct kv_ctl_state *s, const struct kvfs_ioc_head *h,
		       const uint8_t (*hashes)[16], uint32_t from, uint32_t to)
{
	struct kvfs_ioc_unpin *u = malloc(sizeof(*u));
	int rc = 0;

	if (!u)
		return -ENOMEM;
	u->h = *h;
	u->h.flags = 0;
	while (!rc && to > from) {
		uint32_t m = to - from > KVFS_IOC_LOOKUP_MAX ? KVFS_IOC_LOOKUP_MAX : to - from, i;

		for (i = 0; i < m; i++)
			memcpy(u->hash[i], hashes[to - 1 - i], 16);
		u->h.count = m;
		rc = kv_ctl_unpin(d, s, u);
		to -= m;
	}
	free(u);
	return rc;
}

/*
 * LOOKUPV: LOOKUP's batches over hashes read from the caller, the pairs
 * written back in one copy. As the library's loop of LOOKUPs: the prefix
 * ends at a block absent, unreadable or past the share (EACCES, EDQUOT only
 * when that is the first), and a failure pins nothing (EIO of KVFS_VERIFY
 * included).
 */
int kv_ctl_lookupv(struct kv_daemon *d, struct kv_ctl_state *s, struct kvfs_ioc_vec *io,
		   struct kv_cred *c, pid_t pid)
{
	uint32_t n = io->h.count, done = 0;
	union kvfs_ioc_lookup_item *item;
	uint8_t(*hashes)[16] = NULL;
	int rc = kv_ctl_check_head(d, &io->h, KVFS_IOC_VEC_MAX, NULL, 0, NULL);

	if (!rc && (io->reserved[0] || io->reserved[1]))
		rc = -EINVAL;
	if (rc)
		return rc;
	if (!vec_call_begin(d))
		return -EAGAIN;
	item = malloc((size_t)n * sizeof(*item));
	rc = item ? caller_copy(pid, item, io->hashes, (size_t)n * sizeof(*item), false) : -ENOMEM;
	while (!rc && done < n) { /* the extents are written over the hashes, in place */
		struct kvfs_ioc_head h = io->h;

		h.count = n - done > KVFS_IOC_LOOKUP_MAX ? KVFS_IOC_LOOKUP_MAX : n - done;
		rc = kv_ctl_lookup(d, s, &h, item + done, c);
		if (rc && done && (rc == -EACCES || rc == -EDQUOT))
			rc = 0; /* refused past the first block: the prefix ends there */
		if (rc)
			break;
		done += h.count;
		if (h.count < KVFS_IOC_LOOKUP_MAX)
			break;
	}
	if (!rc && done)
		rc = caller_copy(pid, item, io->ext, (size_t)done * sizeof(*item), true);
	if (rc && done) { /* all or nothing: the hashes again, for the unpins (a caller that
			   * changed them meanwhile keeps pins of its own handle until its close) */
		hashes = malloc((size_t)done * 16);
		if (hashes && !caller_copy(pid, hashes, io->hashes, (size_t)done * 16, false))
			unpin_range(d, s, &io->h, (const uint8_t(*)[16])hashes, 0, done);
		free(hashes);
	}
	io->h.count = rc ? 0 : done;
	free(item);
	vec_call_end(d);
	return rc;
}

/* UNPINV: UNPIN's batches over hashes read from the caller, the last first. */
int kv_ctl_unpinv(struct kv_daemon *d, struct kv_ctl_state *s, struct kvfs_ioc_vec *io,
		     pid_t pid)
{
	uint32_t n = io->h.count;
	uint8_t(*hashes)[16];
	int rc = kv_ctl_check_head(d, &io->h, KVFS_IOC_VEC_MAX, NULL, 0, NULL);

	if (!rc && (io->ext || io->reserved[0] || io->reserved[1] || io->h.flags))
		rc = -EINVAL;
	if (rc)
		return rc;
	if (!vec_call_begin(d))
		return -EAGAIN;
	hashes = malloc((size_t)n * 16);
	rc = hashes ? caller_copy(pid, hashes, io->hashes, (size_t)n * 16, false) : -ENOMEM;
	if (!rc)
		rc = unpin_range(d, s, &io->h, (const uint8_t(*)[16])hashes, 0, n);
	free(hashes);
	vec_call_end(d);
	return rc;
}
