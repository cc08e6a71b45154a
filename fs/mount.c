// SPDX-License-Identifier: MIT
/*
 * mount.c - `kvfs mount`: parse options, open (or create) the pool, mount,
 * daemonize once the mount is up, run the multi-threaded FUSE loop, and on
 * unmount mark the pool clean. Also the janitor thread, which sends the
 * kernel the invalidations that request handlers must not send themselves
 * and evicts down from the high watermark in the background.
 */
#include "cli.h"
#include "cluster.h"
#include "daemon.h"
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
#include <sys/sysmacros.h>
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
	d->user_limit_bytes = kv_pool_geometry(d->pool)->data_size / 100 * user_share;
	return 0;
}

/* --- janitor --- */

void kv_queue_inval(struct kv_daemon *d, uint64_t parent, const char *name, size_t len,
		    uint64_t ino, uint64_t gen)
{
	struct kv_inval *iv = malloc(sizeof(*iv) + len + 1);

	if (!iv)
		return; /* the kernel's entry times out; the inode is already refused on open */
	iv->next = NULL;
	iv->parent = parent;
	iv->ino = ino;
	iv->gen = gen;
	iv->len = len;
	memcpy(iv->name, name, len);
	iv->name[len] = 0;
	pthread_mutex_lock(&d->inval_lock);
	*d->inval_tail = iv;
	d->inval_tail = &iv->next;
	pthread_cond_signal(&d->inval_cond);
	pthread_mutex_unlock(&d->inval_lock);
}

void kv_kick_janitor(struct kv_daemon *d)
{
	if ((d->high_watermark < 100 && kv_pool_over_watermark(d->pool)) ||
	    kv_pool_inodes_low(d->pool)) {
		pthread_mutex_lock(&d->inval_lock);
		pthread_cond_signal(&d->inval_cond);
		pthread_mutex_unlock(&d->inval_lock);
	}
}

static void evicted(void *arg, uint64_t parent, uint64_t parent_gen, const char *name, size_t len,
		    uint64_t ino, uint64_t gen)
{
	kv_queue_inval(arg, kv_node(parent, parent_gen), name, len, ino ? kv_node(ino, gen) : 0,
		       gen);
}

/*
 * The kernel caps a FUSE mount's readahead at 128 KiB, so a 2 MiB block file
 * is read in 16 round trips. Raise the mount's window to one request (1 MiB)
 * where we may (root); otherwise leave it.
 */
static void tune_readahead(struct kv_daemon *d)
{
	char path[128];
	struct stat st;
	FILE *f;

	if (stat(d->mountpoint, &st) < 0) /* served by the loop, which runs by now */
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev),
		 minor(st.st_dev));
	f = fopen(path, "w");
	if (!f)
		return;
	fprintf(f, "1024\n");
	if (fclose(f))
		kv_log(KV_LOG_DEBUG, "could not raise readahead (%s)", path);
}

/*
 * Inode records are running low: reclaim empty directories nobody used for
 * a few milliseconds (their entries are invalidated
 * through the evict hook, and the kernel's forgets free their records).
 * Called and returns with inval_lock held. Return: true if any went.
 */
static bool reclaim_idle_dirs(struct kv_daemon *d)
{
	int n;

	pthread_mutex_unlock(&d->inval_lock);
	n = kv_pool_reclaim_dirs(d->pool, 256);
	pthread_mutex_lock(&d->inval_lock);
	return n > 0;
}

static void *janitor_main(void *arg)
{
	struct kv_daemon *d = arg;
	uint64_t zeroed;
	int rc;

	/* In the background: the mount serves meanwhile, each first touch faulting. */
	rc = kv_pool_populate(d->pool);
	if (rc)
		kv_log(KV_LOG_WARNING, "could not prefault the pool (%s); first touches will fault",
		       strerror(-rc));
	tune_readahead(d);
	pthread_mutex_lock(&d->inval_lock);
	while (!d->stopping) {
		struct kv_inval *iv = d->inval_head;
		struct timespec ts;

		if (iv) {
			d->inval_head = NULL;
			d->inval_tail = &d->inval_head;
			pthread_mutex_unlock(&d->inval_lock);
			for (; iv; iv = arg) {
				arg = iv->next;
				/* inode 0: a directory eviction emptied; its entry only */
				if (!iv->ino || fuse_lowlevel_notify_delete(d->se, iv->parent,
									    iv->ino, iv->name,
									    iv->len))
					fuse_lowlevel_notify_inval_entry(d->se, iv->parent,
									 iv->name, iv->len);
				if (iv->ino)
					fuse_lowlevel_notify_inval_inode(d->se, iv->ino, 0, 0);
				free(iv);
			}
			arg = d;
			pthread_mutex_lock(&d->inval_lock);
			continue;
		}
		if (reclaim_idle_dirs(d))
			continue;
		if (d->high_watermark < 100 && kv_pool_over_watermark(d->pool)) {
			pthread_mutex_unlock(&d->inval_lock);
			kv_pool_evict_to(d->pool,
					 d->high_watermark > 5 ? d->high_watermark - 5 : 0);
			pthread_mutex_lock(&d->inval_lock);
			continue;
		}
		/* idle: zero freed space ahead of the reservations that would wait for it */
		pthread_mutex_unlock(&d->inval_lock);
		zeroed = d->prezero ? kv_pool_zero_free(d->pool, 64u << 20) : 0;
		pthread_mutex_lock(&d->inval_lock);
		if (zeroed)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&d->inval_cond, &d->inval_lock, &ts);
	}
	pthread_mutex_unlock(&d->inval_lock);
	return NULL;
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

int kv_cmd_mount(int argc, char **argv)
{
	struct mount_opts mo = {
		.numa = -1, .high_watermark = 100, .threads = 8, .user_share = 50, .prezero = 1
	};
	struct kv_open_opts oo = { .numa_node = -1 };
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *cfg = NULL;
	struct kv_daemon *d;
	const uint8_t *u;
	char fuse_opts[PATH_MAX + 128], mnt[PATH_MAX], mnt_other[PATH_MAX];
	const char *pool, *mntarg;
	int c, rc = 1;

	optind = 1;
	while ((c = getopt(argc, argv, "fo:hsnvd")) != -1) {
		switch (c) {
		case 'f':
			mo.foreground = true;
			break;
		case 'o':
			if (parse_opts(&mo, optarg))
				return 2;
			break;
		case 'd':
			mo.debug = true;
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
	pool = argv[optind];
	mntarg = argv[optind + 1];
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
	d = calloc(1, sizeof(*d));
	if (!d)
		return 1;
	pthread_mutex_init(&d->inval_lock, NULL);
	pthread_cond_init(&d->inval_cond, NULL);
	pthread_mutex_init(&d->users_lock, NULL);
	d->inval_tail = &d->inval_head;
	d->high_watermark = mo.high_watermark;
	d->prezero = mo.prezero != 0;
	snprintf(d->mountpoint, sizeof(d->mountpoint), "%s", mnt);
	oo.create_size = mo.size;
	oo.inode_count = mo.inodes;
	oo.numa_node = mo.numa;
	if (mo.cluster.endpoints[0] ? kv_cluster_start(d, &mo.cluster, pool, &oo) /* cluster.c */
				    : kv_pool_open(pool, &oo, &d->pool))
		goto out_free;
	kv_pool_set_watermark(d->pool, mo.high_watermark);
	kv_pool_set_evict_hook(d->pool, evicted, d);
	if (!realpath(kv_pool_path(d->pool), d->pool_path))
		snprintf(d->pool_path, sizeof(d->pool_path), "%s", kv_pool_path(d->pool));
	u = kv_pool_geometry(d->pool)->uuid;
	snprintf(d->uuid_text, sizeof(d->uuid_text),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
		 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
		 u[15]);
	d->ino_base = KV_NODE_VIRTUAL; /* apart from every record's node id */
	clock_gettime(CLOCK_REALTIME, &d->mount_time);
	d->owner_uid = getuid();
	d->owner_gid = getgid();
	if (trust_init(d, mo.user_share))
		goto out_pool;

	snprintf(fuse_opts, sizeof(fuse_opts), "fsname=%s,subtype=kvfs,default_permissions%s",
		 d->pool_path, mo.allow_other ? ",allow_other" : "");
	if (fuse_opt_add_arg(&args, "kvfs") || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, fuse_opts) || (mo.debug && fuse_opt_add_arg(&args, "-d")))
		goto out_pool;
	d->se = fuse_session_new(&args, d->cluster ? &kv_cluster_fuse_ops : &kv_fuse_ops,
				 sizeof(kv_fuse_ops), d);
	if (!d->se) {
		fprintf(stderr,
			"kvfs mount: cannot start a FUSE session (is the fuse module loaded "
			"and /dev/fuse present?)\n");
		goto out_pool;
	}
	if (fuse_set_signal_handlers(d->se))
		goto out_session;
	if (fuse_session_mount(d->se, mnt)) {
		fprintf(stderr,
			"kvfs mount: cannot mount on %s (fusermount3 missing, or not "
			"permitted? see above)\n",
			mnt);
		goto out_signals;
	}
	if (mo.debug)
		kv_log_set_level(KV_LOG_DEBUG);
	if (fuse_daemonize(mo.foreground))
		goto out_unmount;
	if (!mo.foreground) {
		openlog("kvfs", LOG_PID, LOG_DAEMON);
		kv_log_set_handler(log_syslog);
	}
	if (pthread_create(&d->janitor, NULL, janitor_main, d))
		goto out_unmount;
	if (d->cluster && kv_cluster_run(d)) /* cluster: the node's etcd thread */
		goto out_janitor;
	cfg = fuse_loop_cfg_create();
	if (!cfg)
		goto out_janitor;
	fuse_loop_cfg_set_max_threads(cfg, mo.threads);
	/* keep idle workers: a new one costs a fresh 1 MiB buffer and its page faults */
	fuse_loop_cfg_set_idle_threads(cfg, mo.threads);
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	rc = fuse_session_loop_mt(d->se, cfg) ? 1 : 0;
	/* unmounted: a `kvfs mount` of this pool now waits for us rather than fail */
	kv_pool_stop_serving(d->pool);
	fuse_loop_cfg_destroy(cfg);
out_janitor:
	pthread_mutex_lock(&d->inval_lock);
	d->stopping = true;
	pthread_cond_signal(&d->inval_cond);
	pthread_mutex_unlock(&d->inval_lock);
	pthread_join(d->janitor, NULL);
out_unmount:
	fuse_session_unmount(d->se);
out_signals:
	fuse_remove_signal_handlers(d->se);
out_session:
	fuse_session_destroy(d->se);
out_pool:
	kv_cluster_stop(d); /* cluster: closes the pool before its lease ends */
	kv_pool_close(d->pool);
out_free:
	fuse_opt_free_args(&args);
	kv_user_free_all(d);
	free(d);
	return rc;
}
