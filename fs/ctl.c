// SPDX-License-Identifier: MIT
/* ctl.c - placeholder until the fast path lands. */
#include "daemon.h"
#include <errno.h>

int kv_ctl_open(struct kv_daemon *d, struct fuse_file_info *fi) { fi->fh = 0; return 0; }
void kv_ctl_release(struct kv_daemon *d, struct fuse_file_info *fi) {}
void kv_ctl_ioctl(struct kv_daemon *d, fuse_req_t req, unsigned int cmd, void *arg,
		  struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
		  size_t out_bufsz) { fuse_reply_err(req, ENOTTY); }
