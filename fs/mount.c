// SPDX-License-Identifier: MIT
/*
 * mount.c - `kvfs mount`: parse options, open (or create) the pool, mount,
 * daemonize once the mount is up, run the multi-threaded FUSE loop, and on
 * unmount mark the pool clean. The janitor thread it starts is janitor.c.
 */
#include "cli.h"
#include "cluster.h"
#include "daemon.h"
#include "loop.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <syslog.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct mount_opts {
	uint64_t size;
	uint64_t inodes;
	int numa;
	unsigned high_watermark;
	unsigned threads;
	unsigned user_share;
	unsigned prezero;
	bool allow_other;
	bool debug;
	bool foreground;
	struct kv_cluster_opts cluster; /* cluster mode (cluster.c) */
};

/* Options mount(8) passes along that mean nothing to kvfs. */
static const char *const ignored_opts[] = {
	"rw",	  "dev",     "nodev",	 "suid",	"nosuid",   "exec",    "noexec",   "auto",
	"noauto", "user",    "nouser",	 "users",	"nofail",   "_netdev", "defaults", "async",
	"atime",  "noatime", "relatime", "strictatime", "lazytime", NULL,
};

static int parse_one(struct mount_opts *mo, char *opt)
{
	char *val = strchr(opt, '=');
	uint64_t v;
	int i;

	if (val)
		*val++ = 0;
	i = kv_cluster_opt(&mo->cluster, opt, val); /* cluster=, node=, cluster_ttl=, coherent= */
	if (i)
		return i < 0 ? -EINVAL : 0;
	for (i = 0; ignored_opts[i]; i++)
		if (strcmp(opt, ignored_opts[i]) == 0)
			return 0;
	if (strcmp(opt, "size") == 0 && val) {
		if (kv_parse_size(val, &mo->size) == 0)
			return 0;
		fprintf(stderr, "kvfs mount: size=%s is not a size (use e.g. size=1G)\n", val);
	} else if (strcmp(opt, "inodes") == 0 && val) {
		if (kv_parse_uint(val, 16, UINT32_MAX - 2, &mo->inodes) == 0)
			return 0;
		fprintf(stderr, "kvfs mount: inodes=%s is not a number\n", val);
	} else if (strcmp(opt, "numa") == 0 && val) {
		if (kv_parse_uint(val, 0, 1023, &v) == 0) {
			mo->numa = (int)v;
			return 0;
		}
		fprintf(stderr, "kvfs mount: numa=%s is not a node number\n", val);
	} else if (strcmp(opt, "high_watermark") == 0 && val) {
		if (kv_parse_uint(val, 1, 100, &v) == 0) {
			mo->high_watermark = (unsigned)v;
			return 0;
		}
		fprintf(stderr, "kvfs mount: high_watermark=%s must be a percentage 1-100\n", val);
	} else if (strcmp(opt, "user_share") == 0 && val) {
		if (kv_parse_uint(val, 0, 100, &v) == 0) {
			mo->user_share = (unsigned)v;
			return 0;
		}
		fprintf(stderr, "kvfs mount: user_share=%s must be a percentage 0-100\n", val);
	} else if (strcmp(opt, "prezero") == 0 && val) {
		if (kv_parse_uint(val, 0, 1, &v) == 0) {
			mo->prezero = (unsigned)v;
			return 0;
		}
		fprintf(stderr, "kvfs mount: prezero=%s must be 0 or 1\n", val);
	} else if (strcmp(opt, "threads") == 0 && val) {
		if (kv_parse_uint(val, 1, 1024, &v) == 0) {
			mo->threads = (unsigned)v;
			return 0;
		}
		fprintf(stderr, "kvfs mount: threads=%s must be 1-1024\n", val);
	} else if (strcmp(opt, "allow_other") == 0 && !val) {
		mo->allow_other = true;
		return 0;
	} else if (strcmp(opt, "debug") == 0 && !val) {
		mo->debug = true;
		return 0;
	} else {
		fprintf(stderr, "kvfs mount: unknown option '%s'; see kvfs(8)\n", opt);
	}
	return -EINVAL;
}

static int parse_opts(struct mount_opts *mo, const char *list)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save))
		rc = parse_one(mo, tok);
	free(copy);
	return rc;
}

/* Is @mnt listed in /proc/self/mounts as a kvfs mount? */
static bool is_kvfs_mount(const char *mnt)
{
	char dev[PATH_MAX], dir[PATH_MAX], type[64], abs[PATH_MAX + 1], cwd[PATH_MAX];
	bool found = false;
	FILE *f;

	/* no realpath(): it fails on a dead mount */
	if (mnt[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		snprintf(abs, sizeof(abs), "%s", mnt);
	else
		snprintf(abs, sizeof(abs), "%.2000s/%.2000s", cwd, mnt);
	while (strlen(abs) > 1 && abs[strlen(abs) - 1] == '/')
		abs[strlen(abs) - 1] = 0;
	f = fopen("/proc/self/mounts", "r");
	if (!f)
		return false;
	while (!found && fscanf(f, "%4095s %4095s %63s %*[^\n]", dev, dir, type) == 3)
		found = strcmp(type, "fuse.kvfs") == 0 && strcmp(dir, abs) == 0;
	fclose(f);
	return found;
}

/*
 * Is @pool served by a kvfs mount (its fsname is the pool's real path)?
 * Such a pool is refused at once; a holder that is not (yet or any more)
 * mounted is left to kv_pool_open(), which waits for one letting go.
 * Return: true and its mount point in @where.
 */
static bool pool_is_mounted(const char *pool, char *where, size_t size)
{
	char real[PATH_MAX], dev[PATH_MAX], dir[PATH_MAX], type[64];
	bool found = false;
	FILE *f;

	if (!realpath(pool, real) || !(f = fopen("/proc/self/mounts", "r")))
		return false;
	while (!found && fscanf(f, "%4095s %4095s %63s %*[^\n]", dev, dir, type) == 3)
		found = strcmp(type, "fuse.kvfs") == 0 && strcmp(dev, real) == 0;
	fclose(f);
	if (found)
		snprintf(where, size, "%s", dir);
	return found;
}

/* A kvfs mount whose daemon died (kill -9, OOM) answers ENOTCONN to an open. */
static bool is_dead_mount(const char *mnt)
{
	char path[PATH_MAX + 32];
	int fd;

	snprintf(path, sizeof(path), "%s/.kvfs/stats", mnt);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		close(fd);
		return false;
	}
	return errno == ENOTCONN || errno == ECONNABORTED;
}

static int check_mountpoint(const char *mnt)
{
	char parent[PATH_MAX + 4];
	struct stat st, pst;

	if (is_kvfs_mount(mnt)) {
		if (!is_dead_mount(mnt)) {
			fprintf(stderr,
				"kvfs mount: %s is already a kvfs mount point (busy); unmount "
				"it first or choose another directory\n",
				mnt);
			return -EBUSY;
		}
		/* its daemon died (kill -9, OOM): clear the dead mount and go on */
		if (umount2(mnt, MNT_DETACH) == 0)
			fprintf(stderr, "kvfs mount: cleared the dead kvfs mount left on %s\n",
				mnt);
	}
	if (stat(mnt, &st) < 0) {
		int e = errno;

		fprintf(stderr, "kvfs mount: mountpoint %s: %s%s\n", mnt, strerror(e),
			e == ENOENT ? " (create it with mkdir -p)"
			: e == ENOTCONN
			    ? " (a dead FUSE mount: clear it with 'fusermount3 -u' or 'umount -l')"
			    : "");
		return -e;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "kvfs mount: mountpoint %s is not a directory\n", mnt);
		return -ENOTDIR;
	}
	snprintf(parent, sizeof(parent), "%s/..", mnt);
	if (stat(parent, &pst) == 0 && (pst.st_dev != st.st_dev || pst.st_ino == st.st_ino)) {
		fprintf(stderr,
			"kvfs mount: %s is already a mount point (busy); unmount it first "
			"or choose another directory\n",
			mnt);
		return -EBUSY;
	}
	return 0;
}

/*
 * What the ctl ioctls check callers against: the pool file's owner and
 * mode (KVFS_NOZERO needs read-write access to it), its identity (clients
 * check they opened this very file), and each user's share of the pool.
 */
static int trust_init(struct kv_daemon *d, unsigned user_share)
{
	struct kv_pool_info info;
	struct stat st;

	if (stat(d->pool_path, &st) < 0) {
		fprintf(stderr, "kvfs mount: cannot stat pool %s: %s\n", d->pool_path,
			strerror(errno));
		return -errno;
	}
	d->pool_attr.mode = st.st_mode;
	d->pool_attr.uid = st.st_uid;
	d->pool_attr.gid = st.st_gid;
	d->pool_dev = st.st_dev;
	d->pool_ino = st.st_ino;
	d->pool_owner = geteuid();
	d->user_share = user_share;
	kv_pool_get_info(d->pool, &info);
	d->user_limit_bytes = info.data_size / 100 * user_share;
	d->user_min_charge = info.data_size / (info.max_ino ? info.max_ino : 1);
	d->user_min_charge = (d->user_min_charge + info.page_size - 1) & ~(uint64_t)(info.page_size - 1);
	return 0;
}

/* --- mount --- */

/* Once daemonized, stderr is /dev/null: log lines go to syslog (kv_log levels are syslog's). */
static void log_syslog(enum kv_log_level level, const char *fmt, va_list ap)
{
	vsyslog((int)level, fmt, ap);
}

static void usage(void)
{
	fprintf(stderr, "usage: kvfs mount [-f] [-o OPTS] POOL MOUNTPOINT\n"
			"  OPTS: "
			"size=SIZE,inodes=N,high_watermark=PCT,user_share=PCT,numa=NODE,threads=N,"
			"allow_other,debug\n"
			"        cluster=etcd://HOST:PORT[,HOST:PORT...],node=NAME[,cluster_ttl=S,"
			"coherent=0|1]\n");
}

/* Options and the two operands. Return: 0, or 2 (usage; said why). */
static int parse_args(int argc, char **argv, struct mount_opts *mo, const char **pool,
		      const char **mnt)
{
	int c;

	optind = 1;
	while ((c = getopt(argc, argv, "fo:hsnvd")) != -1) {
		switch (c) {
		case 'f':
			mo->foreground = true;
			break;
		case 'o':
			if (parse_opts(mo, optarg))
				return 2;
			break;
		case 'd':
			mo->debug = true;
			break;
		case 's':
		case 'n':
		case 'v':
			break; /* mount(8)'s sloppy, no-mtab, verbose */
		default:
			usage();
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage();
		return 2;
	}
	*pool = argv[optind];
	*mnt = argv[optind + 1];
	return 0;
}

static void daemon_free(struct kv_daemon *d)
{
	kv_cluster_stop(d); /* cluster: closes the pool before its lease ends */
	if (d->pool)
		kv_pool_close(d->pool);
	kv_user_free_all(d);
	free((void *)d->neg_bits);
	free(d);
}

/* The daemon of @pool for mount point @mnt, its pool open. Return: it, or NULL (said why). */
static struct kv_daemon *daemon_open(const char *pool, const char *mnt, const struct mount_opts *mo)
{
	struct kv_open_opts oo = { .numa_node = mo->numa };
	struct kv_pool_info info;
	struct kv_daemon *d;
	const uint8_t *u;

	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	pthread_mutex_init(&d->inval_lock, NULL);
	pthread_cond_init(&d->inval_cond, NULL);
	pthread_mutex_init(&d->users_lock, NULL);
	d->inval_tail = &d->inval_head;
	d->neg_bits = calloc(KV_NEG_BITS / 64, sizeof(*d->neg_bits)); /* NULL: notify every name */
	d->high_watermark = mo->high_watermark;
	d->prezero = mo->prezero != 0;
	snprintf(d->mountpoint, sizeof(d->mountpoint), "%s", mnt);
	oo.create_size = mo->size;
	oo.inode_count = mo->inodes;
	if (mo->cluster.endpoints[0] ? kv_cluster_start(d, &mo->cluster, pool, &oo) /* cluster.c */
				     : kv_pool_open(pool, &oo, &d->pool)) {
		d->pool = NULL;
		goto out_free;
	}
	kv_pool_set_watermark(d->pool, mo->high_watermark);
	kv_pool_set_evict_hook(d->pool, kv_janitor_evicted, d);
	if (!realpath(kv_pool_path(d->pool), d->pool_path))
		snprintf(d->pool_path, sizeof(d->pool_path), "%s", kv_pool_path(d->pool));
	kv_pool_get_info(d->pool, &info);
	if (info.max_ino > 0xffffffffull) { /* node ids carry the inode number in 32 bits */
		fprintf(stderr, "kvfs mount: pool %s has more inode records than kvfs serves\n",
			pool);
		goto out_free;
	}
	u = info.uuid;
	snprintf(d->uuid_text, sizeof(d->uuid_text),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
		 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
		 u[15]);
	d->ino_base = KV_NODE_VIRTUAL; /* apart from every record's node id */
	clock_gettime(CLOCK_REALTIME, &d->mount_time);
	d->owner_uid = getuid();
	d->owner_gid = getgid();
	if (trust_init(d, mo->user_share))
		goto out_free;
	return d;
out_free:
	daemon_free(d);
	return NULL;
}

/*
 * A FUSE session for @d, mounted on d->mountpoint, made from @args (empty;
 * the caller frees them after the session). Return: 0, or -1 (said why).
 */
static int session_mount(struct kv_daemon *d, const struct mount_opts *mo, struct fuse_args *args)
{
	char fuse_opts[PATH_MAX + 128];

	snprintf(fuse_opts, sizeof(fuse_opts), "fsname=%s,subtype=kvfs,default_permissions%s",
		 d->pool_path, mo->allow_other ? ",allow_other" : "");
	if (fuse_opt_add_arg(args, "kvfs") || fuse_opt_add_arg(args, "-o") ||
	    fuse_opt_add_arg(args, fuse_opts) || (mo->debug && fuse_opt_add_arg(args, "-d")))
		return -1;
	d->se = fuse_session_new(args, d->cluster ? &kv_cluster_fuse_ops : &kv_fuse_ops,
				 sizeof(kv_fuse_ops), d);
	if (!d->se) {
		fprintf(stderr,
			"kvfs mount: cannot start a FUSE session (is the fuse module loaded "
			"and /dev/fuse present?)\n");
		return -1;
	}
	if (fuse_set_signal_handlers(d->se))
		goto out_session;
	if (fuse_session_mount(d->se, d->mountpoint)) {
		fprintf(stderr,
			"kvfs mount: cannot mount on %s (fusermount3 missing, or not "
			"permitted? see above)\n",
			d->mountpoint);
		goto out_signals;
	}
	return 0;
out_signals:
	fuse_remove_signal_handlers(d->se);
out_session:
	fuse_session_destroy(d->se);
	d->se = NULL;
	return -1;
}

static void session_unmount(struct kv_daemon *d)
{
	fuse_session_unmount(d->se);
	fuse_remove_signal_handlers(d->se);
	fuse_session_destroy(d->se);
	d->se = NULL;
}

/* Daemonize, start the janitor, serve until unmounted. Return: the command's exit code. */
static int serve(struct kv_daemon *d, const struct mount_opts *mo)
{
	int rc;

	if (mo->debug)
		kv_log_set_level(KV_LOG_DEBUG);
	if (fuse_daemonize(mo->foreground))
		return 1;
	if (!mo->foreground) {
		openlog("kvfs", LOG_PID, LOG_DAEMON);
		kv_log_set_handler(log_syslog);
	}
	if (kv_janitor_start(d))
		return 1;
	if (d->cluster && kv_cluster_run(d)) { /* cluster: the node's etcd thread */
		kv_janitor_stop(d);
		return 1;
	}
	d->threads = mo->threads;
	rc = kv_loop_serve(d->se, mo->threads) ? 1 : 0;
	/* unmounted: a `kvfs mount` of this pool now waits for us rather than fail */
	kv_pool_stop_serving(d->pool);
	kv_janitor_stop(d);
	return rc;
}

int kv_cmd_mount(int argc, char **argv)
{
	struct mount_opts mo = {
		.numa = -1, .high_watermark = 100, .threads = 8, .user_share = 50, .prezero = 1,
		.cluster = { .coherent = -1 }
	};
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char mnt[PATH_MAX], mnt_other[PATH_MAX];
	const char *pool, *mntarg;
	struct kv_daemon *d;
	int rc;

	rc = parse_args(argc, argv, &mo, &pool, &mntarg);
	if (rc)
		return rc;
	if (check_mountpoint(mntarg))
		return 1;
	if (!realpath(mntarg, mnt))
		return 1;
	if (!mo.cluster.endpoints[0] && /* cluster: one mount per node, etcd arbitrates */
	    pool_is_mounted(pool, mnt_other, sizeof(mnt_other)) && !is_dead_mount(mnt_other)) {
		fprintf(stderr,
			"kvfs mount: pool %s is in use by another kvfs process (mounted on %s); "
			"unmount it first or use another pool\n",
			pool, mnt_other);
		return 1;
	}
	d = daemon_open(pool, mnt, &mo);
	if (!d)
		return 1;
	rc = 1;
	if (!session_mount(d, &mo, &args)) {
		rc = serve(d, &mo);
		session_unmount(d);
	}
	fuse_opt_free_args(&args);
	daemon_free(d);
	return rc;
}
