/* SPDX-License-Identifier: MIT */
/*
 * layout.h - the on-pool format of kvfs, and the only place it is defined.
 *
 * A pool is: the superblock (4 KiB), the journal (a redo log of byte ranges
 * in the metadata area), the inode table (fixed-size records, one per file
 * or directory; the name lives in the inode because kvfs has no hard links),
 * then the data area, 2 MiB aligned, carved into page-aligned extents.
 *
 * Everything here is fixed-width, little-endian (the hosts are x86-64),
 * offset-based (no pointers) and checked with _Static_assert. The free-space
 * map and the name hash are not on the pool: they are rebuilt from the inode
 * table at open, so they can never disagree with it.
 */
#ifndef KVFS_MM_LAYOUT_H
#define KVFS_MM_LAYOUT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#define KV_MAGIC	  UINT64_C(0x4c4f4f5053465653) /* "SVFSPOOL" little-endian */
#define KV_FORMAT_VERSION 1
#define KV_SUPER_SIZE	  4096u
#define KV_PAGE_SIZE	  4096u
#define KV_DATA_ALIGN	  (2u << 20)
#define KV_NAME_MAX	  255
#define KV_INLINE_EXTENTS 10
#define KV_INODE_SIZE	  512u
#define KV_ROOT_INO	  1u
#define KV_JOURNAL_SIZE	  (4u << 20)
/* smallest pool: superblock, journal, 1024 inodes, 2 MiB of data */
#define KV_MIN_POOL_SIZE (16ull << 20)

/* --- superblock --- */

/* Written once by mkfs and covered by its checksum. */
struct kv_geometry {
	uint64_t magic;
	uint32_t version;
	uint32_t page_size;
	uint8_t uuid[16];
	uint64_t pool_size; /* bytes the format covers */
	uint64_t journal_off;
	uint64_t journal_size;
	uint64_t inode_off;
	uint64_t inode_count; /* records, including unused record 0 */
	uint32_t inode_size;
	uint32_t name_max;
	uint64_t data_off; /* KV_DATA_ALIGN aligned */
	uint64_t data_size;
	int64_t created_ns;
	uint8_t reserved[144];
	uint64_t checksum; /* XXH64 of everything above, seed 0 */
};
_Static_assert(sizeof(struct kv_geometry) == 256, "geometry is 256 bytes");
_Static_assert(offsetof(struct kv_geometry, checksum) == 248, "checksum last");

enum kv_pool_state {
	KV_STATE_CLEAN = 1, /* closed cleanly: nothing to recover */
	KV_STATE_OPEN = 2, /* a process holds it, or died holding it */
};

#define KV_CLUSTER_MAGIC    UINT64_C(0x52455453554c43) /* "CLUSTER" little-endian */
#define KV_CLUSTER_NODE_MAX 31 /* bytes of a node name */

/* Changed in place, one aligned 8-byte store at a time; no checksum. */
struct kv_runtime {
	uint64_t state; /* enum kv_pool_state */
	uint64_t open_count; /* times opened read-write */
	uint64_t unclean_count; /* opens that found state OPEN */
	int64_t last_open_ns;
	int64_t last_close_ns;
	/* cluster mode (mm/nodes.c, kvfs(7) CLUSTER): who may write metadata */
	uint64_t cluster_mode; /* KV_CLUSTER_MAGIC: owned by a cluster; 0: one host */
	uint64_t cluster_epoch; /* fencing epoch of the elected leader (etcd revision) */
	char cluster_leader[32]; /* that leader's node name, NUL-padded */
	uint64_t cluster_changes; /* bumped by the leader after each change: followers look again */
	uint8_t reserved[160];
};
_Static_assert(sizeof(struct kv_runtime) == 256, "runtime is 256 bytes");
_Static_assert(offsetof(struct kv_runtime, cluster_epoch) % 8 == 0, "epoch 8-aligned");

struct kv_super {
	struct kv_geometry geo;
	struct kv_runtime rt;
	uint8_t pad[KV_SUPER_SIZE - 512];
};
_Static_assert(sizeof(struct kv_super) == KV_SUPER_SIZE, "superblock is 4 KiB");

/* --- journal: one redo transaction at a time --- */

/*
 * Cluster mode keeps the nodes' holds in the journal's last 1 MiB, which a
 * cluster leader's transactions never reach: one bitmap over the inode
 * records per node slot (bit set: that node holds the file pinned), and one
 * more of the leader's "evicting now" marks (mm/nodes.c, kvfs(7) CLUSTER).
 */
#define KV_CLUSTER_HOLDS_SIZE  (1u << 20)
#define KV_CLUSTER_SLOTS       15
#define KV_CLUSTER_BITMAP_SIZE (KV_CLUSTER_HOLDS_SIZE / (KV_CLUSTER_SLOTS + 1))

/*
 * ... and, after the holds (the journal's very last 1 MiB), one mailbox per node slot for the calls a
 * follower forwards to the leader (fs/cluster_rpc.c): the follower writes a
 * request and then bumps req_seq; the leader runs it, writes the answer, and
 * sets resp_seq to req_seq. One call at a time per node.
 */
#define KV_CLUSTER_RPC_SIZE (1u << 20)
#define KV_CLUSTER_BOX_SIZE (KV_CLUSTER_RPC_SIZE / (KV_CLUSTER_SLOTS + 1))
#define KV_CLUSTER_TAIL	    (KV_CLUSTER_HOLDS_SIZE + KV_CLUSTER_RPC_SIZE)
_Static_assert(KV_CLUSTER_TAIL <= KV_JOURNAL_SIZE / 2,
	       "holds and mailboxes leave the journal room");

struct kv_rpc_box {
	uint64_t req_seq; /* stored last by the follower */
	uint64_t resp_seq; /* stored last by the leader */
	uint64_t epoch; /* of the leader that answered */
	uint32_t op; /* enum kv_rpc_op (fs/cluster_rpc.c) */
	uint32_t len; /* request bytes in data[] */
	int32_t status; /* 0 or -errno */
	uint32_t resp_len; /* answer bytes in data[] */
	uint64_t taken_seq; /* stored by the leader before it runs the call: it may have run */
	uint8_t pad[16];
	uint8_t data[KV_CLUSTER_BOX_SIZE - 64];
};
_Static_assert(sizeof(struct kv_rpc_box) == KV_CLUSTER_BOX_SIZE, "a mailbox fills its share");

/*
 * The last box (of slot KV_CLUSTER_SLOTS, which no node has) is the change
 * log: files whose bytes or attributes the leader changed in place, for the
 * followers to drop from their kernels' page caches. A ring; head counts
 * every entry ever written and is stored after the entry.
 */
#define KV_CHANGE_LOG_LEN ((KV_CLUSTER_BOX_SIZE - 64) / 16)
struct kv_change_log {
	uint64_t head;
	uint8_t pad[56];
	struct {
		uint64_t ino, gen;
	} ent[KV_CHANGE_LOG_LEN];
};
_Static_assert(sizeof(struct kv_change_log) == KV_CLUSTER_BOX_SIZE, "the log fills a box");

enum kv_journal_state {
	KV_JOURNAL_EMPTY = 0,
	KV_JOURNAL_COMMITTED = 0x434f4d4d49544544ull, /* "COMMITED" */
};

struct kv_journal_head {
	uint64_t state; /* enum kv_journal_state, stored last */
	uint64_t seq;
	uint32_t nrec;
	uint32_t bytes; /* of the records that follow the head */
	uint64_t checksum; /* XXH64 of the records, seeded with seq */
	uint8_t pad[32];
};
_Static_assert(sizeof(struct kv_journal_head) == 64, "journal head is 64 bytes");

/* A record: write len bytes at pool offset off. Data follows, 8-aligned. */
struct kv_journal_rec {
	uint64_t off;
	uint32_t len;
	uint32_t pad;
};
_Static_assert(sizeof(struct kv_journal_rec) == 16, "journal record is 16 bytes");

/* --- inodes --- */

enum kv_inode_state {
	KV_INODE_FREE = 0,
	KV_INODE_LIVE = 1, /* named, in a directory */
	KV_INODE_ORPHAN = 2, /* unlinked while open: freed at last close or at open */
	KV_INODE_RESERVED = 3, /* fast-path reservation: freed at open if not committed */
};

struct kv_extent {
	uint64_t off; /* pool offset, page aligned, inside the data area */
	uint64_t len; /* bytes, a multiple of the page size */
};
_Static_assert(sizeof(struct kv_extent) == 16, "extent is 16 bytes");

struct kv_inode {
	uint32_t state; /* enum kv_inode_state */
	uint32_t mode; /* S_IFREG or S_IFDIR | permission bits */
	uint32_t uid;
	uint32_t gid;
	uint64_t gen; /* bumped each time the record is reused */
	uint64_t parent; /* inode number of the directory */
	uint64_t size; /* bytes; one aligned store publishes growth */
	int64_t atime_ns;
	int64_t mtime_ns;
	int64_t ctime_ns;
	int64_t last_use_ns; /* recency for eviction */
	uint64_t xattr_off; /* extent holding the user xattrs, or 0 */
	uint32_t xattr_len; /* bytes used in it */
	uint16_t name_len;
	uint16_t extent_count; /* of ext[] in use */
	struct kv_extent ext[KV_INLINE_EXTENTS];
	uint8_t name[KV_NAME_MAX + 1]; /* not NUL-terminated; name_len bytes */
	/* XXH3-64 of the file's size bytes, bit 0 forced to 1, stored when it stops
	 * being written (last close of a writer, commit); 0 = none (being written) */
	uint64_t checksum;
};
_Static_assert(sizeof(struct kv_inode) == KV_INODE_SIZE, "inode is 512 bytes");
_Static_assert(offsetof(struct kv_inode, ext) % 8 == 0, "extents 8-aligned");
_Static_assert(offsetof(struct kv_inode, size) % 8 == 0, "size 8-aligned");

/* xattr blob: records of {u16 name_len, u16 pad, u32 value_len, name, value}, 8-aligned */
struct kv_xattr_rec {
	uint16_t name_len;
	uint16_t pad;
	uint32_t value_len;
};
_Static_assert(sizeof(struct kv_xattr_rec) == 8, "xattr record head is 8 bytes");
#define KV_XATTR_MAX_BLOB (64u << 10)

#endif /* KVFS_MM_LAYOUT_H */
