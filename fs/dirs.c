// SPDX-License-Identifier: MIT
/*
 * dirs.c - the FUSE directory handlers: opendir takes a snapshot of the
 * children (POSIX lets readdir ignore later changes), readdir and
 * readdirplus walk it, releasedir frees it. Each handler sends one reply.
 * The .kvfs directory is answered by special.c.
 */
#include "daemon.h"
#include "handles.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct dir_handle {
	struct kv_dirent *ents;
	uint64_t count;
};

/* opendir: reply_open, reply_err(ENOENT, ENOTDIR) */
static void free_dir_handle(void *obj)
{
	struct dir_handle *h = obj;

	free(h->ents);
	free(h);
}

void kv_op_opendir(fuse_req_t req, fuse_ino_t ino_node, struct fuse_file_info *fi)
{
	uint64_t ino = kv_node_ino(ino_node);
	struct kv_daemon *d = KV_DAEMON(req);
	struct dir_handle *h;
	int rc;

	if (kv_node_stale(d, ino_node)) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (kv_is_virtual(d, ino)) {
		fi->fh = 0;
		fuse_reply_open(req, fi);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = kv_dir_snapshot(d->pool, ino, &h->ents, &h->count);
	if (rc) {
		free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	if (kv_handle_new(h, free_dir_handle, &fi->fh)) {
		free_dir_handle(h);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->cache_readdir = 0;
	if (fuse_reply_open(req, fi))
		kv_handle_close(fi->fh);
}

/*
 * Offsets: 1 ".", 2 "..", 3 ".kvfs" (root only), then 3 + i for entry i of
 * the snapshot taken at opendir. An entry removed since is skipped.
 */
static void readdir_reply(fuse_req_t req, fuse_ino_t ino_node, size_t size, off_t off,
			  struct fuse_file_info *fi, bool plus)
{
	uint64_t ino = kv_node_ino(ino_node);
	struct kv_daemon *d = KV_DAEMON(req);
	struct dir_handle *h;
	char *buf, name[KV_NAME_MAX + 1];
	size_t used = 0;
	uint64_t i;

	if (kv_is_virtual(d, ino)) {
		kv_special_readdir_reply(d, req, size, off, plus);
		return;
	}
	h = kv_handle_get(fi->fh);
	if (!h) {
		fuse_reply_err(req, EBADF); /* released while this call was on its way */
		return;
	}
	buf = malloc(size);
	if (!buf) {
		kv_handle_put(fi->fh);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (i = (uint64_t)off;; i++) {
		struct fuse_entry_param e;
		struct kv_attr a;
		const char *n = name;
		size_t sz;

		memset(&e, 0, sizeof(e));
		if (i == 0 || i == 1) {
			n = i == 0 ? "." : "..";
			e.attr.st_ino =
			    i == 0 ? ino : FUSE_ROOT_ID; /* ".." : the kernel knows the parent */
			e.attr.st_mode = S_IFDIR;
		} else if (i == 2) {
			if (ino != FUSE_ROOT_ID)
				continue;
			kv_special_lookup(d, FUSE_ROOT_ID, KV_CTL_DIRNAME, &e);
			n = KV_CTL_DIRNAME;
		} else if (i - 3 < h->count) {
			if ((plus ? kv_dirent_name_ref : kv_dirent_name)(
				d->pool, &h->ents[i - 3], name, sizeof(name), &a) < 0)
				continue;
			kv_fill_entry(&a, &e);
		} else {
			break;
		}
		if (plus) {
			sz = fuse_add_direntry_plus(req, buf + used, size - used, n, &e,
						    (off_t)(i + 1));
			if (sz > size - used) {
				if (i >=
				    3) /* not sent: the lookup it counted is not the kernel's */
					kv_forget(d->pool, a.ino, 1);
				break;
			}
		} else {
			sz = fuse_add_direntry(req, buf + used, size - used, n, &e.attr,
					       (off_t)(i + 1));
			if (sz > size - used)
				break;
		}
		used += sz;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
	kv_handle_put(fi->fh);
}

/* readdir, readdirplus: reply_buf */
void kv_op_readdir(fuse_req_t req, fuse_ino_t ino_node, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	readdir_reply(req, ino_node, size, off, fi, false);
}

void kv_op_readdirplus(fuse_req_t req, fuse_ino_t ino_node, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	readdir_reply(req, ino_node, size, off, fi, true);
}

/* releasedir: reply_err(0) */
void kv_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (fi->fh)
		kv_handle_close(fi->fh);
	fuse_reply_err(req, 0);
}
