// SPDX-License-Identifier: MIT
/*
 * special.c - what kvfs shows about itself: the .kvfs directory in the
 * root (stats, metrics in Prometheus text format, and the fast-path ctl
 * file), and the read-only xattrs user.kvfs.extents (every file),
 * user.kvfs.pool and user.kvfs.uuid (the root). These live outside the
 * pool: inode numbers above the pool's table, contents made at open.
 */
#include "cluster.h"
#include "daemon.h"
#include "handles.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
	const char *name;
	mode_t mode;
} vnodes[KV_VINO_COUNT] = {
	[KV_VINO_DIR] = { KV_CTL_DIRNAME, S_IFDIR | 0555 },
	[KV_VINO_STATS] = { "stats", S_IFREG | 0444 },
	[KV_VINO_METRICS] = { "metrics", S_IFREG | 0444 },
	[KV_VINO_CTL] = { "ctl", S_IFREG | 0666 },
};

bool kv_is_virtual(const struct kv_daemon *d, uint64_t ino)
{
	return ino >= d->ino_base && ino < d->ino_base + KV_VINO_COUNT;
}

static void vstat(struct kv_daemon *d, unsigned v, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = d->ino_base + v;
	st->st_mode = vnodes[v].mode;
	st->st_nlink = v == KV_VINO_DIR ? 2 : 1;
	st->st_blksize = 4096;
	st->st_uid = d->owner_uid;
	st->st_gid = d->owner_gid;
	st->st_atim = st->st_mtim = st->st_ctim = d->mount_time;
}

int kv_special_lookup(struct kv_daemon *d, uint64_t parent, const char *name,
		      struct fuse_entry_param *e)
{
	unsigned v;

	memset(e, 0, sizeof(*e));
	if (parent == FUSE_ROOT_ID && strcmp(name, KV_CTL_DIRNAME) == 0) {
		v = KV_VINO_DIR;
	} else if (parent == d->ino_base + KV_VINO_DIR) {
		for (v = 1; v < KV_VINO_COUNT; v++)
			if (strcmp(name, vnodes[v].name) == 0)
				break;
		if (v == KV_VINO_COUNT)
			return -ENOENT;
	} else {
		return -ENOTDIR;
	}
	e->ino = d->ino_base + v;
	e->generation = 1;
	vstat(d, v, &e->attr);
	e->attr_timeout = KV_CACHE_TIMEOUT;
	e->entry_timeout = KV_CACHE_TIMEOUT;
	return 0;
}

int kv_special_getattr(struct kv_daemon *d, uint64_t ino, struct stat *st)
{
	vstat(d, (unsigned)(ino - d->ino_base), st);
	return 0;
}

struct text_handle {
	char *text;
	size_t len;
};

static void free_text(void *obj)
{
	struct text_handle *h = obj;

	free(h->text);
	free(h);
}

/* open: stats and metrics are snapshots taken now; ctl gets a fast-path handle */
void kv_special_open_reply(struct kv_daemon *d, fuse_req_t req, uint64_t ino,
			   struct fuse_file_info *fi)
{
	unsigned v = (unsigned)(ino - d->ino_base);
	struct text_handle *h;
	int rc;

	if (v == KV_VINO_DIR) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (v == KV_VINO_CTL) {
		rc = kv_ctl_open(d, req, fi);
		if (rc)
			fuse_reply_err(req, -rc);
		else if (fuse_reply_open(req, fi))
			kv_ctl_release(d, fi);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	h = malloc(sizeof(*h));
	if (!h || !(h->text = kv_stats_text(d, v == KV_VINO_METRICS, &h->len))) {
		free(h);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (kv_handle_new(h, free_text, &fi->fh)) {
		free_text(h);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->direct_io = 1; /* size is 0 in stat; read until EOF */
	if (fuse_reply_open(req, fi))
		kv_handle_close(fi->fh);
}

void kv_special_read_reply(struct kv_daemon *d, fuse_req_t req, uint64_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	struct text_handle *h;

	if (ino == d->ino_base + KV_VINO_CTL) {
		/* nothing to read (it takes ioctls): end of file, so that cp -a, tar, rsync
		 * and grep -r of the mount's root go through without an error */
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	h = kv_handle_get(fi->fh);
	if (!h) {
		fuse_reply_err(req, EBADF); /* released while this read was on its way */
		return;
	}
	if ((size_t)off >= h->len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, h->text + off,
			       h->len - (size_t)off < size ? h->len - (size_t)off : size);
	kv_handle_put(fi->fh);
}

void kv_special_release(struct kv_daemon *d, fuse_req_t req, uint64_t ino,
			struct fuse_file_info *fi)
{
	if (ino == d->ino_base + KV_VINO_CTL)
		kv_ctl_release(d, fi);
	else
		kv_handle_close(fi->fh);
}

void kv_special_readdir_reply(struct kv_daemon *d, fuse_req_t req, size_t size, off_t off,
			      bool plus)
{
	char buf[1024];
	size_t used = 0;
	unsigned i;

	for (i = (unsigned)off; i < KV_VINO_COUNT + 1; i++) {
		struct fuse_entry_param e;
		const char *name;
		size_t sz;

		memset(&e, 0, sizeof(e));
		if (i == 0) {
			name = ".";
			vstat(d, KV_VINO_DIR, &e.attr);
		} else if (i == 1) {
			name = "..";
			e.attr.st_ino = FUSE_ROOT_ID;
			e.attr.st_mode = S_IFDIR;
		} else {
			name = vnodes[i - 1].name;
			kv_special_lookup(d, d->ino_base + KV_VINO_DIR, name, &e);
		}
		sz = plus ? fuse_add_direntry_plus(
				req, buf + used,
				size - used < sizeof(buf) - used ? size - used : sizeof(buf) - used,
				name, &e, i + 1)
			  : fuse_add_direntry(req, buf + used,
					      size - used < sizeof(buf) - used ? size - used
									       : sizeof(buf) - used,
					      name, &e.attr, i + 1);
		if (used + sz > size || used + sz > sizeof(buf))
			break;
		used += sz;
	}
	fuse_reply_buf(req, buf, used);
}

/* --- xattrs --- */

static ssize_t put(const char *text, size_t len, char *buf, size_t size)
{
	if (size && size < len)
		return -ERANGE;
	if (size)
		memcpy(buf, text, len);
	return (ssize_t)len;
}

ssize_t kv_special_getxattr(struct kv_daemon *d, uint64_t ino, const char *name, char *buf,
			    size_t size)
{
	struct kv_extent ext[KV_EXTENTS_MAX];
	char text[KV_EXTENTS_MAX * 48 + 64];
	uint64_t fsize = 0;
	size_t len = 0;
	int n, i;

	if (kv_is_virtual(d, ino))
		return -ENODATA;
	if (ino == FUSE_ROOT_ID && strcmp(name, "user.kvfs.pool") == 0)
		return put(d->pool_path, strlen(d->pool_path), buf, size);
	if (ino == FUSE_ROOT_ID && strcmp(name, "user.kvfs.uuid") == 0)
		return put(d->uuid_text, strlen(d->uuid_text), buf, size);
	if (strcmp(name, "user.kvfs.extents") != 0)
		return -ENODATA;
	n = kv_extents(d->pool, ino, ext, KV_EXTENTS_MAX, &fsize);
	if (n < 0)
		return n;
	/* "OFFSET:LENGTH" per extent, lengths covering the file's bytes only */
	for (i = 0; i < n && fsize; i++) {
		uint64_t l = ext[i].len < fsize ? ext[i].len : fsize;

		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%" PRIu64 ":%" PRIu64,
					len ? " " : "", ext[i].off, l);
		fsize -= l;
	}
	return put(text, len, buf, size);
}

/* --- stats --- */

#define KV_DIR_STATS_MAX 256

/* A path as a Prometheus label value: backslash, quote and newline escaped. */
static void put_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/*
 * One line per directory with a policy (user.kvfs.evict / user.kvfs.quota):
 * "dir PATH evict lru|never quota_bytes N used_bytes N files N hits N
 * evictions N evicted_bytes N", or labelled kvfs_dir_* samples.
 */
static void dir_stats_text(struct kv_daemon *d, FILE *f, bool prometheus)
{
	static const struct {
		const char *key, *help;
		bool counter;
	} cols[] = {
		{ "quota_bytes", "The directory's user.kvfs.quota (0: none)", false },
		{ "used_bytes", "Bytes held by files below the directory", false },
		{ "files", "Files below the directory", false },
		{ "hits", "Lookups that found a file below the directory", true },
		{ "evictions", "Files evicted below the directory", true },
		{ "evicted_bytes", "Bytes evicted below the directory", true },
	};
	struct kv_dir_stats *ds = malloc(KV_DIR_STATS_MAX * sizeof(*ds));
	char (*paths)[1024] = NULL;
	int n = 0, i;
	unsigned c;

	/*
	 * paths only for the directories there are: a reader polling the stats
	 * (a metrics scraper, fastpath_bench around each lookup) had every open
	 * zero 256 KiB, evicting from that core's cache what the next call needs
	 */
	if (ds)
		n = kv_pool_dir_stats(d->pool, ds, KV_DIR_STATS_MAX);
	if (n > 0)
		paths = malloc((size_t)n * sizeof(*paths));
	if (!paths)
		goto out;
	for (i = 0; i < n; i++)
		if (kv_dir_path(d->pool, ds[i].ino, paths[i], sizeof(paths[i])) < 0)
			snprintf(paths[i], sizeof(paths[i]), "(inode %" PRIu64 ")", ds[i].ino);
	for (i = 0; i < n && !prometheus; i++)
		fprintf(f,
			"dir %s evict %s quota_bytes %" PRIu64 " used_bytes %" PRIu64
			" files %" PRIu64 " hits %" PRIu64 " evictions %" PRIu64
			" evicted_bytes %" PRIu64 "\n",
			paths[i], ds[i].never ? "never" : "lru", ds[i].quota_bytes, ds[i].used_bytes,
			ds[i].files, ds[i].hits, ds[i].evictions, ds[i].evicted_bytes);
	for (c = 0; c < sizeof(cols) / sizeof(cols[0]) && prometheus && n; c++) {
		const char *sfx = cols[c].counter ? "_total" : "";

		fprintf(f, "# HELP kvfs_dir_%s%s %s\n# TYPE kvfs_dir_%s%s %s\n", cols[c].key, sfx,
			cols[c].help, cols[c].key, sfx, cols[c].counter ? "counter" : "gauge");
		for (i = 0; i < n; i++) {
			uint64_t v[] = { ds[i].quota_bytes, ds[i].used_bytes, ds[i].files,
					 ds[i].hits,	    ds[i].evictions,  ds[i].evicted_bytes };

			fprintf(f, "kvfs_dir_%s%s{dir=\"", cols[c].key, sfx);
			put_label(f, paths[i]);
			fprintf(f, "\",evict=\"%s\"} %" PRIu64 "\n", ds[i].never ? "never" : "lru",
				v[c]);
		}
	}
out:
	free(ds);
	free(paths);
}

char *kv_stats_text(struct kv_daemon *d, bool prometheus, size_t *len)
{
	struct kv_pool_stats s;
	char *text = NULL;
	size_t size = 0;
	FILE *f;
	unsigned i;

	kv_pool_get_stats(d->pool, &s);
	struct {
		const char *key, *help;
		uint64_t v;
		bool counter;
	} rows[] = {
		{ "capacity_bytes", "Bytes of the pool's data area", s.capacity_bytes, false },
		{ "used_bytes", "Bytes allocated to files", s.used_bytes, false },
		{ "free_bytes", "Bytes free", s.free_bytes, false },
		{ "files", "Block files", s.files, false },
		{ "directories", "Directories", s.directories, false },
		{ "inodes_free", "Unused inode records", s.inodes_free, false },
		{ "held_files", "Files open, mapped or pinned (never evicted)", s.held_files,
		  false },
		{ "pinned_files", "Files pinned through libkvfs", s.pinned_files, false },
		{ "hits", "Lookups of names that exist", s.hits, true },
		{ "misses", "Lookups of names that do not exist", s.misses, true },
		{ "evictions", "Files evicted", s.evictions, true },
		{ "evicted_bytes", "Bytes evicted", s.evicted_bytes, true },
		{ "free_extents", "Free extents", s.free_extents, false },
		{ "largest_free_bytes", "Largest free extent", s.largest_free_bytes, false },
		{ "fragmentation_pct", "Percent of free space outside the largest free extent",
		  s.fragmentation_pct, false },
		{ "high_watermark_pct", "Use above which eviction starts", d->high_watermark,
		  false },
		{ "user_share_pct", "Percent of the pool another user than the owner may hold",
		  d->user_share, false },
		{ "ctl_lookups", "Fast-path lookup calls", d->ctl_lookups, true },
		{ "ctl_blocks_pinned", "Blocks pinned by fast-path lookups", d->ctl_blocks_pinned,
		  true },
		{ "ctl_lookup_us", "Microseconds the daemon spent in fast-path lookup calls",
		  d->ctl_lookup_ns / 1000, true },
		{ "ctl_index_us", "Of those, microseconds in the pool's index (find and pin)",
		  d->ctl_index_ns / 1000, true },
		{ "ctl_commits", "Fast-path commits", d->ctl_commits, true },
		{ "ctl_blocks_committed", "Blocks published by fast-path commits",
		  d->ctl_blocks_committed, true },
		{ "unclean_opens", "Times the pool was opened after its daemon died",
		  s.unclean_opens, true },
		{ "recovered_orphans", "Records freed by recovery at this mount", s.orphans_freed,
		  false },
		{ "dirs_reclaimed", "Empty directories eviction removed", s.dirs_reclaimed, true },
		{ "quarantined", "Bad records dropped at this mount or answering EIO since",
		  s.quarantined, true },
		{ "sums_queued", "Committed blocks whose checksum is still to be taken",
		  s.sums_queued, false },
	};

	f = open_memstream(&text, &size);
	if (!f)
		return NULL;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (!prometheus) {
			fprintf(f, "%s %" PRIu64 "\n", rows[i].key, rows[i].v);
			continue;
		}
		fprintf(f, "# HELP kvfs_%s%s %s\n# TYPE kvfs_%s%s %s\nkvfs_%s%s %" PRIu64 "\n",
			rows[i].key, rows[i].counter ? "_total" : "", rows[i].help, rows[i].key,
			rows[i].counter ? "_total" : "", rows[i].counter ? "counter" : "gauge",
			rows[i].key, rows[i].counter ? "_total" : "", rows[i].v);
	}
	dir_stats_text(d, f, prometheus);
	kv_user_stats(d, f, prometheus);
	kv_cluster_stats(d, f, prometheus); /* cluster mode: cluster_* lines */
	fclose(f);
	*len = size;
	return text;
}
