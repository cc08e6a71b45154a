/* SPDX-License-Identifier: MIT */
/*
 * fuse_floor.h - the floor under any FUSE filesystem, measured in the same
 * run as kvfs: a server that does no work (every lookup is ENOENT at once,
 * the root its only inode), run in a thread of the benchmark with kvfs's
 * loop settings (8 workers kept idle, no cloned fds). What a request costs
 * on it is the kernel's round trip and libfuse's loop alone: a kvfs row
 * that needs one round trip per call cannot go past it.
 */
#ifndef KVFS_BENCH_FUSE_FLOOR_H
#define KVFS_BENCH_FUSE_FLOOR_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static struct fuse_session *floor_se;
static pthread_t floor_thread;

static void floor_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, ENOENT);
}

static void floor_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st = { .st_ino = 1, .st_mode = S_IFDIR | 0755, .st_nlink = 2 };

	if (ino != FUSE_ROOT_ID)
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_attr(req, &st, 3600.0);
}

static const struct fuse_lowlevel_ops floor_ops = {
	.lookup = floor_lookup,
	.getattr = floor_getattr,
};

static void *floor_main(void *arg)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();

	fuse_loop_cfg_set_max_threads(cfg, 8);
	fuse_loop_cfg_set_idle_threads(cfg, 8);
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_session_loop_mt(floor_se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return NULL;
}

static inline void floor_unmount(void);

/* Mount the empty server at @dir (an empty directory); unmounted at exit too. Return: 0, or -1. */
static inline int floor_mount(const char *dir)
{
	char *argv[] = { "fuse_floor", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);

	floor_se = fuse_session_new(&args, &floor_ops, sizeof(floor_ops), NULL);
	if (!floor_se)
		return -1;
	if (fuse_session_mount(floor_se, dir) ||
	    pthread_create(&floor_thread, NULL, floor_main, NULL)) {
		fuse_session_destroy(floor_se);
		floor_se = NULL;
		return -1;
	}
	atexit(floor_unmount); /* a failed check exits with the mount up */
	return 0;
}

/* Unmount it: the loop ends when the kernel closes the connection. */
static inline void floor_unmount(void)
{
	if (!floor_se)
		return;
	fuse_session_exit(floor_se);
	fuse_session_unmount(floor_se);
	pthread_join(floor_thread, NULL);
	fuse_session_destroy(floor_se);
	floor_se = NULL;
}

#endif
