// SPDX-License-Identifier: MIT
/*
 * cluster_stub.c - cluster mode left out of a build (NO_CLUSTER=1, which
 * `make static` sets: libcurl does not link statically). The mount refuses
 * -o cluster= with a line that says so; everything else is the one-host kvfs.
 */
#include "cluster.h"
#include "daemon.h"

#include <errno.h>
#include <string.h>

double kv_cache_timeout = KV_CACHE_TIMEOUT_DEFAULT;
const struct fuse_lowlevel_ops kv_cluster_fuse_ops;

int kv_cluster_opt(struct kv_cluster_opts *co, const char *opt, const char *val)
{
	if (strcmp(opt, "cluster") && strcmp(opt, "node") && strcmp(opt, "cluster_ttl") &&
	    strcmp(opt, "coherent"))
		return 0;
	fprintf(stderr,
		"kvfs mount: %s=: this kvfs was built without cluster mode "
		"(NO_CLUSTER=1, as in `make static`)\n",
		opt);
	return -EINVAL;
}

int kv_cluster_start(struct kv_daemon *d, const struct kv_cluster_opts *co, const char *pool,
		     const struct kv_open_opts *oo)
{
	return -ENOTSUP;
}

int kv_cluster_run(struct kv_daemon *d)
{
	return -ENOTSUP;
}

void kv_cluster_stop(struct kv_daemon *d)
{
}

bool kv_cluster_may_write(struct kv_daemon *d)
{
	return true;
}

bool kv_cluster_forwards(struct kv_daemon *d)
{
	return false;
}

void kv_cluster_stats(struct kv_daemon *d, FILE *f, bool prometheus)
{
}

uint32_t kv_cluster_hold_batch(struct kv_daemon *d, const struct kv_attr *attr, uint32_t found)
{
	return found;
}

int kv_cluster_hold_file(struct kv_daemon *d, uint64_t ino, uint64_t node_gen)
{
	return 1;
}

void kv_cluster_unhold_file(struct kv_daemon *d, uint64_t ino)
{
}
