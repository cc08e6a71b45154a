// SPDX-License-Identifier: MIT
/*
 * libkvfs.c - the client side of the fast path: open a mount's ctl file,
 * map the data area of the pool the mount names (never its metadata: the
 * daemon says where the data area is), and turn lookup / unpin / reserve /
 * commit into as few restricted ioctls as the 16 KiB limit allows (a lookup
 * or unpin of any length into one, where the daemon may read and write our
 * memory: LOOKUPV, UNPINV). The library never prints; every call returns 0
 * (or a count) or -errno.
 */
#include "kvfs.h"
#include "kvfs_abi.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
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
	uint8_t *base; /* base + pool offset = that byte; only the data area is the pool */
	uint64_t size;
	void *map; /* the whole reservation, for munmap */
	size_t map_len;
	bool rdonly;
	bool nozero;
	bool verify; /* KVFS_VERIFY: lookups check checksums */
	/* LOOKUPV and UNPINV answered EOPNOTSUPP or ENOTTY (or KVFS_NO_VECTOR): batches only
	 * (EAGAIN sends one call by value) */
	atomic_bool no_vec;
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

/* what daemons that do not say data_align align the data area to */
#define DATA_ALIGN_DEFAULT (2u << 20)

/*
 * Ask the daemon where the data area is and how it is aligned: the client
 * never reads the metadata, nor knows the on-pool format.
 */
static int get_info(int ctl, struct kvfs_ioc_info *info)
{
	memset(info, 0, sizeof(*info));
	info->abi = KVFS_ABI_VERSION;
	if (ioctl(ctl, KVFS_IOC_INFO, info) < 0)
		return errno == ENOTTY ? -EPROTO : -errno; /* ENOTTY: a daemon without INFO */
	if (!info->data_align)
		info->data_align = DATA_ALIGN_DEFAULT;
	if (info->abi != KVFS_ABI_VERSION || !info->data_size ||
	    info->data_align & (info->data_align - 1) || info->data_align > (1u << 30) ||
	    info->data_off % info->data_align ||
	    info->data_off + info->data_size < info->data_off ||
	    info->data_off + info->data_size > info->pool_size)
		return -EPROTO;
	return 0;
}

/*
 * Map the data area at base + data_off, base aligned as the data area, so that base +
 * pool offset addresses a block as the ABI promises. What lies below the
 * data area (superblock, journal, inode table, xattrs) is never mapped: a
 * private anonymous placeholder of zeros sits there instead, with the same
 * protection, so that the range [base, base + pool_size) stays one
 * mapping that GPU registration can take whole, and a stray write there
 * reaches nothing shared.
 */
static int map_data(struct kvfs *kv, int fd, const struct kvfs_ioc_info *info)
{
	int prot = PROT_READ | (kv->rdonly ? 0 : PROT_WRITE);
	uintptr_t base;
	void *data;
	int rc;

	kv->map_len = info->pool_size + info->data_align;
	kv->map = mmap(NULL, kv->map_len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (kv->map == MAP_FAILED) {
		kv->map = NULL;
		return -errno;
	}
	base = ((uintptr_t)kv->map + info->data_align - 1) & ~(uintptr_t)(info->data_align - 1);
	kv->base = (uint8_t *)base;
	kv->size = info->pool_size;
	/* Populated: a page fault per 4 KiB on first touch would cost more than the copy. */
	data = mmap(kv->base + info->data_off, info->data_size, prot,
		    MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd, (off_t)info->data_off);
	if (data == MAP_FAILED) {
		rc = -errno;
		munmap(kv->map, kv->map_len);
		kv->map = NULL;
		return rc;
	}
	return 0;
}

int kvfs_open(const char *mountpoint, int flags, kvfs_t **out)
{
	struct kvfs_ioc_info info;
	char path[PATH_MAX];
	struct kvfs *kv;
	struct stat st;
	ssize_t n;
	int fd = -1, rc;

	if (!mountpoint || !out || (flags & ~(KVFS_RDONLY | KVFS_NOZERO | KVFS_VERIFY)))
		return -EINVAL;
	kv = calloc(1, sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	kv->ctl = -1;
	kv->rdonly = flags & KVFS_RDONLY;
	kv->nozero = flags & KVFS_NOZERO;
	kv->verify = flags & KVFS_VERIFY;
	/* the batches of 1,000 only (a check of that path, or a daemon that should not read us) */
	kv->no_vec = getenv("KVFS_NO_VECTOR") && strcmp(getenv("KVFS_NO_VECTOR"), "0") != 0;
	snprintf(path, sizeof(path), "%s/.kvfs/ctl", mountpoint);
	kv->ctl = open(path, (kv->rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (kv->ctl < 0) {
		rc = errno == ENOENT || errno == ENOTDIR ? -ENOENT : -errno;
		goto out_free;
	}
	rc = get_info(kv->ctl, &info);
	if (rc)
		goto out_free;
	n = getxattr(mountpoint, "user.kvfs.pool", kv->pool, sizeof(kv->pool) - 1);
	if (n <= 0) {
		rc = -ENOENT;
		goto out_free;
	}
	kv->pool[n] = 0;
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
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out_free;
	}
	if ((uint64_t)st.st_dev != info.pool_dev || (uint64_t)st.st_ino != info.pool_ino) {
		rc = -ESTALE; /* the path now names another file than the pool mounted */
		goto out_free;
	}
	rc = map_data(kv, fd, &info);
	if (rc)
		goto out_free;
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
	munmap(kv->map, kv->map_len);
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

/*
 * One LOOKUPV or UNPINV of @n (<= KVFS_IOC_VEC_MAX) blocks; @pairs: room for
 * @n {off, len} (LOOKUPV). Return: the count answered, or -errno;
 * -EOPNOTSUPP when the daemon cannot serve them, or not now (EAGAIN: enough
 * of its workers are in such calls): the caller does this call by value.
 */
static long vec_call(kvfs_t *kv, unsigned long cmd, const char *ns, const kvfs_hash_t *hashes,
		     size_t n, uint64_t (*pairs)[2])
{
	struct kvfs_ioc_vec io;
	int rc;

	memset(&io, 0, sizeof(io));
	rc = set_ns(&io.h, ns);
	if (rc)
		return rc;
	io.h.count = (uint32_t)n;
	io.h.flags = cmd == KVFS_IOC_LOOKUPV && kv->verify ? KVFS_IOC_F_VERIFY : 0;
	io.hashes = (uint64_t)(uintptr_t)hashes;
	io.ext = (uint64_t)(uintptr_t)pairs;
	rc = do_ioctl(kv, cmd, &io);
	/* an older daemon, or our memory out of its reach */
	if (rc == -ENOTTY || rc == -EOPNOTSUPP) {
		atomic_store_explicit(&kv->no_vec, true, memory_order_relaxed);
		return -EOPNOTSUPP;
	}
	if (rc == -EAGAIN)
		return -EOPNOTSUPP; /* this call only */
	return rc ? rc : (long)io.h.count;
}

/* kvfs_lookup() in LOOKUPV calls: one round trip up to 65,536 blocks. */
static long lookup_vec(kvfs_t *kv, const char *ns, const kvfs_hash_t *hashes, size_t n,
		       struct kvfs_block *out)
{
	size_t done = 0, i;
	uint64_t(*pairs)[2] = malloc((n < KVFS_IOC_VEC_MAX ? n : KVFS_IOC_VEC_MAX) * 16);
	long got = 0;

	if (!pairs)
		return -ENOMEM;
	while (done < n) {
		size_t batch = n - done > KVFS_IOC_VEC_MAX ? KVFS_IOC_VEC_MAX : n - done;

		got = vec_call(kv, KVFS_IOC_LOOKUPV, ns, hashes + done, batch, pairs);
		if (got < 0 && done && (got == -EACCES || got == -EDQUOT))
			got = 0; /* refused past the first block: the prefix ends there */
		if (got < 0)
			break;
		for (i = 0; i < (size_t)got; i++) {
			struct kvfs_block *b = &out[done + i];

			b->offset = pairs[i][0];
			b->length = pairs[i][1];
			b->addr = kv->base + b->offset;
			b->status = KVFS_BLOCK_PINNED;
			b->reserved = 0;
		}
		done += (size_t)got;
		if ((size_t)got < batch)
			break;
	}
	free(pairs);
	if (got < 0 && done)
		kvfs_unpin(kv, ns, hashes, done); /* all or nothing */
	return got < 0 ? got : (long)done;
}

long kvfs_lookup(kvfs_t *kv, const char *ns, const kvfs_hash_t *hashes, size_t n,
		 struct kvfs_block *out)
{
	struct kvfs_ioc_lookup *io;
	size_t done = 0;
	int rc = 0;

	if (!kv || (n && (!hashes || !out)))
		return -EINVAL;
	if (n && !atomic_load_explicit(&kv->no_vec, memory_order_relaxed)) {
		long got = lookup_vec(kv, ns, hashes, n, out);

		if (got != -EOPNOTSUPP)
			return got;
	}
	io = malloc(sizeof(*io));
	if (!io)
		return -ENOMEM;
	memset(&io->h, 0, sizeof(io->h));
	rc = set_ns(&io->h, ns);
	io->h.flags = kv->verify ? KVFS_IOC_F_VERIFY : 0;
	while (!rc && done < n) {
		uint32_t batch =
		    n - done > KVFS_IOC_LOOKUP_MAX ? KVFS_IOC_LOOKUP_MAX : (uint32_t)(n - done);
		uint32_t i;

		io->h.count = batch;
		for (i = 0; i < batch; i++)
			memcpy(io->item[i].hash, hashes[done + i].b, 16);
		rc = do_ioctl(kv, KVFS_IOC_LOOKUP, io);
		if (rc && done && (rc == -EACCES || rc == -EDQUOT))
			rc = 0; /* refused past the first block: the prefix ends there */
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
	if (n && !atomic_load_explicit(&kv->no_vec, memory_order_relaxed)) {
		long got = 0;

		/* tail first (the daemon turns each call around): the head stays most recent */
		while (done < n && got >= 0) {
			size_t batch = n - done > KVFS_IOC_VEC_MAX ? KVFS_IOC_VEC_MAX : n - done;

			got = vec_call(kv, KVFS_IOC_UNPINV, ns, hashes + n - done - batch, batch,
				       NULL);
			done += got >= 0 ? batch : 0;
		}
		if (got != -EOPNOTSUPP)
			return got < 0 ? (int)got : 0;
		/* the rest by value, still tail first */
	}
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
