// SPDX-License-Identifier: MIT
/*
 * libkvfs.c - the client side of the fast path: open a mount's ctl file,
 * map the pool the mount names, and turn lookup / unpin / reserve / commit
 * into as few restricted ioctls as the 16 KiB limit allows. The library
 * never prints; every call returns 0 (or a count) or -errno.
 */
#include "kvfs.h"
#include "kvfs_abi.h"
#include "layout.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

struct kvfs {
	int ctl;
	uint8_t *base;
	uint64_t size;
	bool rdonly;
	bool nozero;
	char pool[PATH_MAX];
};

static int set_ns(struct kvfs_ioc_head *h, const char *ns)
{
	size_t len = ns ? strlen(ns) : 0;

	if (!len || len >= KVFS_NS_MAX || strchr(ns, '/'))
		return -EINVAL;
	memcpy(h->ns, ns, len + 1);
	h->abi = KVFS_ABI_VERSION;
	return 0;
}

static int parse_uuid(const char *text, uint8_t uuid[16])
{
	int i = 0;

	for (; *text && i < 32; text++) {
		int v;

		if (*text == '-')
			continue;
		v = *text >= '0' && *text <= '9'   ? *text - '0'
		    : *text >= 'a' && *text <= 'f' ? *text - 'a' + 10
						   : -1;
		if (v < 0)
			return -EINVAL;
		uuid[i / 2] = (uint8_t)(i % 2 ? uuid[i / 2] | v : v << 4);
		i++;
	}
	return i == 32 ? 0 : -EINVAL;
}

int kvfs_open(const char *mountpoint, int flags, kvfs_t **out)
{
	struct kv_geometry geo;
	char path[PATH_MAX], uuid_text[64];
	uint8_t uuid[16];
	struct kvfs *kv;
	ssize_t n;
	int fd = -1, rc;

	if (!mountpoint || !out || (flags & ~(KVFS_RDONLY | KVFS_NOZERO)))
		return -EINVAL;
	kv = calloc(1, sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	kv->ctl = -1;
	kv->rdonly = flags & KVFS_RDONLY;
	kv->nozero = flags & KVFS_NOZERO;
	snprintf(path, sizeof(path), "%s/.kvfs/ctl", mountpoint);
	kv->ctl = open(path, (kv->rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (kv->ctl < 0) {
		rc = errno == ENOENT || errno == ENOTDIR ? -ENOENT : -errno;
		goto out_free;
	}
	n = getxattr(mountpoint, "user.kvfs.pool", kv->pool, sizeof(kv->pool) - 1);
	if (n <= 0) {
		rc = -ENOENT;
		goto out_free;
	}
	kv->pool[n] = 0;
	n = getxattr(mountpoint, "user.kvfs.uuid", uuid_text, sizeof(uuid_text) - 1);
	if (n <= 0) {
		rc = -ENOENT;
		goto out_free;
	}
	uuid_text[n] = 0;
	if (parse_uuid(uuid_text, uuid)) {
		rc = -EPROTO;
		goto out_free;
	}
	if (!kv->rdonly)
		fd = open(kv->pool, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		/* not writable by us: look, don't store */
		fd = open(kv->pool, O_RDONLY | O_CLOEXEC);
		kv->rdonly = true;
	}
	if (fd < 0) {
		rc = -errno;
		goto out_free;
	}
	if (pread(fd, &geo, sizeof(geo), 0) != (ssize_t)sizeof(geo) || geo.magic != KV_MAGIC) {
		rc = -EPROTO;
		goto out_free;
	}
	if (memcmp(geo.uuid, uuid, 16) != 0) {
		rc = -ESTALE; /* the path now names another pool than the one mounted */
		goto out_free;
	}
	kv->size = geo.pool_size;
	/* Populated: a page fault per 4 KiB on first touch would cost more than the copy. */
	kv->base = mmap(NULL, kv->size, PROT_READ | (kv->rdonly ? 0 : PROT_WRITE),
			MAP_SHARED | MAP_POPULATE, fd, 0);
	if (kv->base == MAP_FAILED) {
		rc = -errno;
		kv->base = NULL;
		goto out_free;
	}
	close(fd);
	*out = kv;
	return 0;
out_free:
	if (fd >= 0)
		close(fd);
	if (kv->ctl >= 0)
		close(kv->ctl);
	free(kv);
	return rc;
}

void kvfs_close(kvfs_t *kv)
{
	if (!kv)
		return;
	munmap(kv->base, kv->size);
	close(kv->ctl); /* the daemon releases every pin and reservation of this handle */
	free(kv);
}

void *kvfs_pool_base(const kvfs_t *kv)
{
	return kv->base;
}

uint64_t kvfs_pool_size(const kvfs_t *kv)
{
	return kv->size;
}

const char *kvfs_pool_path(const kvfs_t *kv)
{
	return kv->pool;
}

static int do_ioctl(const kvfs_t *kv, unsigned long cmd, void *arg)
{
	return ioctl(kv->ctl, cmd, arg) < 0 ? -errno : 0;
}

long kvfs_lookup(kvfs_t *kv, const char *ns, const kvfs_hash_t *hashes, size_t n,
		 struct kvfs_block *out)
{
	struct kvfs_ioc_lookup *io;
	size_t done = 0;
	int rc = 0;

	if (!kv || (n && (!hashes || !out)))
		return -EINVAL;
	io = malloc(sizeof(*io));
	if (!io)
		return -ENOMEM;
	memset(&io->h, 0, sizeof(io->h));
	rc = set_ns(&io->h, ns);
	while (!rc && done < n) {
		uint32_t batch =
		    n - done > KVFS_IOC_LOOKUP_MAX ? KVFS_IOC_LOOKUP_MAX : (uint32_t)(n - done);
		uint32_t i;

		io->h.count = batch;
		for (i = 0; i < batch; i++)
			memcpy(io->item[i].hash, hashes[done + i].b, 16);
		rc = do_ioctl(kv, KVFS_IOC_LOOKUP, io);
		if (rc)
			break;
		for (i = 0; i < io->h.count; i++) {
			struct kvfs_block *b = &out[done + i];

			b->offset = io->item[i].ext.off;
			b->length = io->item[i].ext.len;
			b->addr = kv->base + b->offset;
			b->status = KVFS_BLOCK_PINNED;
			b->reserved = 0;
		}
		done += io->h.count;
		if (io->h.count < batch)
			break;
	}
	free(io);
	if (rc && done)
		kvfs_unpin(kv, ns, hashes, done); /* all or nothing */
	return rc ? rc : (long)done;
}

int kvfs_unpin(kvfs_t *kv, const char *ns, const kvfs_hash_t *hashes, size_t n)
{
	struct kvfs_ioc_unpin *io;
	size_t done = 0;
	int rc;

	if (!kv || (n && !hashes))
		return -EINVAL;
	io = malloc(sizeof(*io));
	if (!io)
		return -ENOMEM;
	memset(&io->h, 0, sizeof(io->h));
	rc = set_ns(&io->h, ns);
	/* tail first, so the head of the chain is the most recently used */
	while (!rc && done < n) {
		uint32_t batch =
		    n - done > KVFS_IOC_LOOKUP_MAX ? KVFS_IOC_LOOKUP_MAX : (uint32_t)(n - done);
		uint32_t i;

		for (i = 0; i < batch; i++)
			memcpy(io->hash[i], hashes[n - 1 - done - i].b, 16);
		io->h.count = batch;
		rc = do_ioctl(kv, KVFS_IOC_UNPIN, io);
		done += batch;
	}
	free(io);
	return rc;
}

int kvfs_reserve(kvfs_t *kv, const char *ns, const kvfs_hash_t *hashes, const uint64_t *sizes,
		 size_t n, struct kvfs_block *out, uint64_t *txn)
{
	struct kvfs_ioc_reserve *io;
	size_t done = 0;
	int rc;

	if (!kv || !txn || !n || !hashes || !sizes || !out)
		return -EINVAL;
	if (kv->rdonly)
		return -EROFS;
	io = malloc(sizeof(*io));
	if (!io)
		return -ENOMEM;
	memset(&io->h, 0, sizeof(io->h));
	io->h.flags = kv->nozero ? KVFS_IOC_F_NOZERO : 0;
	rc = set_ns(&io->h, ns);
	while (!rc && done < n) {
		uint32_t batch =
		    n - done > KVFS_IOC_RESERVE_MAX ? KVFS_IOC_RESERVE_MAX : (uint32_t)(n - done);
		uint32_t i;

		io->h.count = batch;
		for (i = 0; i < batch; i++) {
			memcpy(io->item[i].in.hash, hashes[done + i].b, 16);
			io->item[i].in.size = sizes[done + i];
			io->item[i].in.pad = 0;
		}
		rc = do_ioctl(kv, KVFS_IOC_RESERVE, io);
		if (rc)
			break;
		for (i = 0; i < batch; i++) {
			struct kvfs_block *b = &out[done + i];

			b->offset = io->item[i].out.off;
			b->length = io->item[i].out.len;
			b->status = (int32_t)io->item[i].out.status;
			b->addr = b->status == KVFS_BLOCK_RESERVED ? kv->base + b->offset : NULL;
			b->reserved = 0;
		}
		done += batch;
	}
	if (rc && io->h.txn)
		kvfs_abort(kv, io->h.txn); /* nothing stays reserved */
	else if (!rc)
		*txn = io->h.txn;
	free(io);
	return rc;
}

static int txn_call(kvfs_t *kv, unsigned long cmd, uint64_t txn, uint32_t *count)
{
	struct kvfs_ioc_txn io;
	int rc;

	if (!kv || !txn)
		return -EINVAL;
	memset(&io, 0, sizeof(io));
	io.h.abi = KVFS_ABI_VERSION;
	io.h.txn = txn;
	rc = do_ioctl(kv, cmd, &io);
	if (!rc && count)
		*count = io.h.count;
	return rc;
}

int kvfs_commit(kvfs_t *kv, uint64_t txn)
{
	if (kv && kv->rdonly)
		return -EROFS;
	return txn_call(kv, KVFS_IOC_COMMIT, txn, NULL);
}

int kvfs_abort(kvfs_t *kv, uint64_t txn)
{
	return txn_call(kv, KVFS_IOC_ABORT, txn, NULL);
}
