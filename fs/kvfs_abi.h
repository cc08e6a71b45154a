/* SPDX-License-Identifier: MIT */
/*
 * kvfs_abi.h - the ioctls on <mnt>/.kvfs/ctl, shared by the daemon (ctl.c)
 * and libkvfs. FUSE restricted ioctls carry a fixed size encoded in the
 * command, at most 16 KiB each way, so each call carries a bounded batch and
 * the library splits larger requests (or, where the daemon may read and
 * write its memory, hands over addresses: LOOKUPV, UNPINV). Everything is validated by the
 * daemon; a malformed request gets EINVAL/EFAULT/EPERM and changes nothing.
 * The daemon checks the caller as the kernel would for the same operation
 * through the mount: EACCES when the modes say no, EDQUOT past the
 * caller's share of the pool (see kvfs(7), TRUST MODEL).
 */
#ifndef KVFS_FS_ABI_H
#define KVFS_FS_ABI_H

#include <linux/ioctl.h>
#include <stdint.h>

#define KVFS_ABI_VERSION 1
#define KVFS_NS_MAX	 128 /* namespace: one path component under the mount */

#define KVFS_IOC_LOOKUP_MAX  1000
#define KVFS_IOC_RESERVE_MAX 500

#define KVFS_IOC_F_NOZERO 0x1 /* reserve: the caller fills every byte; do not zero */
#define KVFS_IOC_F_VERIFY 0x2 /* lookup: check each block's bytes against its checksum */

struct kvfs_ioc_head {
	uint32_t abi; /* KVFS_ABI_VERSION */
	uint32_t count; /* items in; on return, items answered */
	uint64_t txn; /* reserve: 0 = new, else append; commit/abort: the id */
	uint32_t flags; /* KVFS_IOC_F_* */
	uint32_t pad;
	char ns[KVFS_NS_MAX]; /* NUL-terminated */
};

/* LOOKUP: in hashes; out the extents of the leading present blocks (pinned). */
union kvfs_ioc_lookup_item {
	uint8_t hash[16];
	struct {
		uint64_t off, len;
	} ext;
};

struct kvfs_ioc_lookup {
	struct kvfs_ioc_head h;
	union kvfs_ioc_lookup_item item[KVFS_IOC_LOOKUP_MAX];
};

/* UNPIN: drop one pin for each hash. */
struct kvfs_ioc_unpin {
	struct kvfs_ioc_head h;
	uint8_t hash[KVFS_IOC_LOOKUP_MAX][16];
};

/*
 * LOOKUPV, UNPINV: LOOKUP and UNPIN of up to KVFS_IOC_VEC_MAX blocks in one
 * round trip (a 16 KiB restricted ioctl holds 1,000 hashes: a 2,048-block
 * prefix took three). The call carries addresses in the caller's memory:
 * the daemon reads h.count 16-byte hashes at @hashes (process_vm_readv) and,
 * for LOOKUPV, writes the leading present blocks' {off, len} pairs at @ext
 * (process_vm_writev); h.count says how many. The caller's thread waits in
 * the call meanwhile, so the process it names cannot go away. A daemon that
 * cannot reach the caller's memory (not allowed to, or the caller not
 * visible from its PID namespace) answers EOPNOTSUPP, and the library falls
 * back to LOOKUP and UNPIN; one with a quarter of its workers in such calls
 * answers EAGAIN (that call goes by value); a bad address answers EFAULT. Same checks, same
 * answers, all or nothing as the library's loop of LOOKUPs.
 */
struct kvfs_ioc_vec {
	struct kvfs_ioc_head h;
	uint64_t hashes; /* address of h.count hashes */
	uint64_t ext; /* LOOKUPV: address of room for h.count {off, len} pairs; UNPINV: 0 */
	uint64_t reserved[2]; /* 0 */
};
#define KVFS_IOC_VEC_MAX (1u << 16)

/* RESERVE: in hash+size; out extent+status (enum kvfs_block_status); h.txn set. */
struct kvfs_ioc_reserve {
	struct kvfs_ioc_head h;
	union {
		struct {
			uint8_t hash[16];
			uint64_t size;
			uint64_t pad;
		} in;
		struct {
			uint64_t off, len;
			uint32_t status;
			uint32_t pad;
			uint64_t pad2;
		} out;
	} item[KVFS_IOC_RESERVE_MAX];
};

/* COMMIT / ABORT: h.txn; COMMIT returns in h.count the blocks it published. */
struct kvfs_ioc_txn {
	struct kvfs_ioc_head h;
};

/*
 * INFO: in abi; out what a client needs to map the data area, and nothing
 * else (clients never map, nor read, the pool's metadata). Added to ABI 1
 * compatibly: a daemon without it answers ENOTTY.
 */
struct kvfs_ioc_info {
	uint32_t abi; /* in: KVFS_ABI_VERSION */
	uint32_t page_size; /* the pool's page size */
	uint8_t uuid[16]; /* the pool's UUID */
	uint64_t pool_size; /* bytes the pool's format covers */
	uint64_t data_off; /* the data area: pool offsets [data_off, data_off + data_size) */
	uint64_t data_size;
	uint64_t pool_dev, pool_ino; /* st_dev, st_ino of the pool file the daemon serves */
	/*
	 * data_off's alignment, to which a client aligns its mapping's base
	 * (a power of two); 0 from a daemon older than the field: 2 MiB.
	 */
	uint64_t data_align;
	uint64_t reserved[3];
};

#define KVFS_IOC_MAGIC	 'K'
#define KVFS_IOC_LOOKUP	 _IOWR(KVFS_IOC_MAGIC, 1, struct kvfs_ioc_lookup)
#define KVFS_IOC_UNPIN	 _IOW(KVFS_IOC_MAGIC, 2, struct kvfs_ioc_unpin)
#define KVFS_IOC_RESERVE _IOWR(KVFS_IOC_MAGIC, 3, struct kvfs_ioc_reserve)
#define KVFS_IOC_COMMIT	 _IOWR(KVFS_IOC_MAGIC, 4, struct kvfs_ioc_txn)
#define KVFS_IOC_ABORT	 _IOW(KVFS_IOC_MAGIC, 5, struct kvfs_ioc_txn)
#define KVFS_IOC_INFO	 _IOWR(KVFS_IOC_MAGIC, 6, struct kvfs_ioc_info)
#define KVFS_IOC_LOOKUPV _IOWR(KVFS_IOC_MAGIC, 7, struct kvfs_ioc_vec)
#define KVFS_IOC_UNPINV	 _IOW(KVFS_IOC_MAGIC, 8, struct kvfs_ioc_vec)

_Static_assert(sizeof(struct kvfs_ioc_lookup) < (1 << 14), "fits a restricted ioctl");
_Static_assert(sizeof(struct kvfs_ioc_unpin) < (1 << 14), "fits a restricted ioctl");
_Static_assert(sizeof(struct kvfs_ioc_reserve) < (1 << 14), "fits a restricted ioctl");
_Static_assert(sizeof(struct kvfs_ioc_head) == 152, "head is 152 bytes");
_Static_assert(sizeof(struct kvfs_ioc_info) == 96, "info is 96 bytes");
_Static_assert(sizeof(struct kvfs_ioc_vec) == 184, "vec is 184 bytes");

#endif /* KVFS_FS_ABI_H */
