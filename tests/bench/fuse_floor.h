/* SPDX-License-Identifier: MIT */
/*
 * fuse_floor.h - the floor under any FUSE filesystem, measured in the same
 * run as kvfs: a server that does no work (every lookup is ENOENT at once,
 * the root its only inode), run in a thread of the benchmark with up to 8
 * workers, either on kvfs's own loop (fs/loop.c) or on libfuse's (its
 * workers kept idle, no cloned fds): what a request costs on it is the
 * kernel's round trip and the loop alone. A kvfs row that needs one round
 * trip per call cannot go past it, and the two loops compare on it.
 */
#ifndef KVFS_BENCH_FUSE_FLOOR_H
#define KVFS_BENCH_FUSE_FLOOR_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loop.h"

/* [0]: on kvfs's loop, [1]: on libfuse's */
static struct floor {
	struct fuse_session *se;
	pthread_t thread;
} floors[2];

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
	struct floor *f = arg;
	struct fuse_loop_config *cfg;

	if (f == &floors[0]) {
		kv_loop_serve(f->se, 8);
		return NULL;
	}
	cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_max_threads(cfg, 8);
	fuse_loop_cfg_set_idle_threads(cfg, 8);
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_session_loop_mt(f->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return NULL;
}

static inline void floor_unmount(void);

/*
 * Mount the empty server at @dir (an empty directory), served by libfuse's
 * loop when @libfuse_loop, else by kvfs's; one of each at a time; unmounted
 * at exit too. Return: 0, or -1.
 */
static inline int floor_mount(const char *dir, int libfuse_loop)
{
	char *argv[] = { "fuse_floor", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	struct floor *f = &floors[!!libfuse_loop];
	bool first = !floors[0].se && !floors[1].se;

	f->se = fuse_session_new(&args, &floor_ops, sizeof(floor_ops), NULL);
	if (!f->se)
		return -1;
	if (fuse_session_mount(f->se, dir) || pthread_create(&f->thread, NULL, floor_main, f)) {
		fuse_session_destroy(f->se);
		f->se = NULL;
		return -1;
	}
	if (first)
		atexit(floor_unmount); /* a failed check exits with the mount up */
	return 0;
}

/* Unmount both: a loop ends when the kernel closes its connection. */
static inline void floor_unmount(void)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (!floors[i].se)
			continue;
		fuse_session_unmount(floors[i].se);
		pthread_join(floors[i].thread, NULL);
		fuse_session_destroy(floors[i].se);
		floors[i].se = NULL;
	}
}

#endif
