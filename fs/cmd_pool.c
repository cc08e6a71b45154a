// SPDX-License-Identifier: MIT
/*
 * cmd_pool.c - the subcommands that work on a pool without mounting it:
 * mkfs, fsck, and stat (of a pool file, or of a mountpoint through its
 * .kvfs/stats file). Also the size and number parsers the options share.
 */
#include "cli.h"
#include "log.h"
#include "mm.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int kv_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	mul = kv_size_unit(&end);
	if (mul > 1 && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
		end += strlen(end);
	if (*end || (v && mul > UINT64_MAX / v))
		return -EINVAL;
	*out = v * mul;
	return 0;
}

int kv_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

const char *kv_human(uint64_t bytes, char *buf, int size)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, (size_t)size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

int kv_cmd_mkfs(int argc, char **argv)
{
	uint64_t size = 0, inodes = 0;
	bool force = false;
	int c, rc;

	optind = 1;
	while ((c = getopt(argc, argv, "+fs:i:h")) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 's':
			if (kv_parse_size(optarg, &size)) {
				fprintf(stderr,
					"kvfs mkfs: size '%s' is not a size; use a number with "
					"an optional K, M, G or T suffix (e.g. -s 1G)\n",
					optarg);
				return 2;
			}
			break;
		case 'i':
			if (kv_parse_uint(optarg, 16, UINT32_MAX - 2, &inodes)) {
				fprintf(stderr,
					"kvfs mkfs: inode count '%s' is not a number between "
					"16 and %u\n",
					optarg, UINT32_MAX - 2);
				return 2;
			}
			break;
		default:
			fprintf(stderr, "usage: kvfs mkfs [-f] [-s SIZE] [-i INODES] POOL\n");
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: kvfs mkfs [-f] [-s SIZE] [-i INODES] POOL\n");
		return 2;
	}
	rc = kv_pool_mkfs(argv[optind], size, inodes, force);
	if (rc)
		return 1;
	printf("kvfs: formatted %s\n", argv[optind]);
	return 0;
}

int kv_cmd_fsck(int argc, char **argv)
{
	const char *pool = argv[argc - 1];
	unsigned flags = 0;
	long problems, dropped;
	bool repair = false;
	int i;

	for (i = 1; i < argc - 1; i++) {
		if (strcmp(argv[i], "--repair") == 0)
			repair = true;
		else if (strcmp(argv[i], "--data") == 0)
			flags |= KV_FSCK_DATA;
		else
			break;
	}
	if (argc < 2 || i != argc - 1 || pool[0] == '-') {
		fprintf(stderr, "usage: kvfs fsck [--repair] [--data] POOL\n");
		return 2;
	}
	kv_log_set_level(KV_LOG_NOTICE);
	problems = kv_pool_fsck_flags(pool, flags);
	if (problems < 0)
		return 4;
	if (problems && repair) {
		/* the mount's own repair: drop the bad records, keep the rest, then look again */
		dropped = kv_pool_repair(pool);
		if (dropped < 0)
			return 4;
		printf("kvfs fsck: %s: dropped %ld bad record%s\n", pool, dropped,
		       dropped == 1 ? "" : "s");
		problems = kv_pool_fsck_flags(pool, flags);
		if (problems < 0)
			return 4;
	}
	if (problems) {
		fprintf(stderr, "kvfs fsck: %s: %ld problem%s found%s\n", pool, problems,
			problems == 1 ? "" : "s", repair ? " after repair" : "");
		return 1;
	}
	printf("kvfs fsck: %s: clean\n", pool);
	return 0;
}

/* stat of a mountpoint: print its .kvfs/stats in human form */
static int stat_mount(const char *dir)
{
	char path[4096], line[256], key[64], hb[32];
	unsigned long long v, cap = 0, used = 0;
	unsigned uid;
	FILE *f;

	snprintf(path, sizeof(path), "%s/.kvfs/stats", dir);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "kvfs stat: %s is not a kvfs mount (no .kvfs/stats)\n", dir);
		return 1;
	}
	printf("mount %s\n", dir);
	while (fgets(line, sizeof(line), f)) {
		/* per-user lines carry two numbers: "uid_held_bytes UID BYTES" */
		if (strncmp(line, "cluster_", 8) == 0 && sscanf(line, "%63s %31s", key, hb) == 2 &&
		    strspn(hb, "0123456789") != strlen(hb)) { /* cluster mode: words */
			printf("  %-22s %s\n", key, hb);
			continue;
		}
		if (sscanf(line, "uid_held_bytes %u %llu", &uid, &v) == 2)
			snprintf(key, sizeof(key), "held_bytes uid %u", uid);
		else if (sscanf(line, "%63s %llu", key, &v) != 2)
			continue;
		if (strcmp(key, "capacity_bytes") == 0)
			cap = v;
		if (strcmp(key, "used_bytes") == 0)
			used = v;
		if (strstr(key, "bytes"))
			printf("  %-22s %s\n", key, kv_human(v, hb, sizeof(hb)));
		else
			printf("  %-22s %llu\n", key, v);
	}
	if (cap)
		printf("  %-22s %.1f%%\n", "use", 100.0 * (double)used / (double)cap);
	fclose(f);
	return 0;
}

/* Is @pool mounted (a fuse.kvfs mount whose source is its real path)? Its mountpoint into @mnt. */
static bool mounted_on(const char *pool, char *mnt, size_t size)
{
	char real[PATH_MAX];
	struct mntent *m;
	bool found = false;
	FILE *f;

	if (!realpath(pool, real))
		return false;
	f = setmntent("/proc/self/mounts", "r");
	if (!f)
		return false;
	while (!found && (m = getmntent(f)))
		if (strcmp(m->mnt_type, "fuse.kvfs") == 0 && strcmp(m->mnt_fsname, real) == 0) {
			snprintf(mnt, size, "%s", m->mnt_dir);
			found = true;
		}
	endmntent(f);
	return found;
}

int kv_cmd_stat(int argc, char **argv)
{
	struct kv_open_opts o = { .numa_node = -1, .readonly = true };
	struct kv_pool_stats st;
	struct kv_pool_info info;
	struct kv_pool *p;
	struct stat sb;
	char a[32], b[32], c[32], mnt[4096];
	const uint8_t *u;
	int rc;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: kvfs stat POOL|MOUNTPOINT\n");
		return 2;
	}
	if (stat(argv[1], &sb) == 0 && S_ISDIR(sb.st_mode))
		return stat_mount(argv[1]);
	if (mounted_on(argv[1], mnt, sizeof(mnt))) {
		/* its daemon holds the lock; the mount answers instead (one line, no lock error) */
		fprintf(stderr, "kvfs stat: %s is mounted on %s; run 'kvfs stat %s'\n", argv[1],
			mnt, mnt);
		return 1;
	}
	rc = kv_pool_open(argv[1], &o, &p);
	if (rc)
		return 1; /* kv_pool_open said why (-EBUSY: held by a process that is not a mount) */
	kv_pool_get_stats(p, &st);
	kv_pool_get_info(p, &info);
	u = info.uuid;
	printf("pool %s\n", kv_pool_path(p));
	printf(
	    "  uuid        %02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x\n",
	    u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
	    u[14], u[15]);
	printf("  data        %s used of %s (%s free, %.1f%%)\n",
	       kv_human(st.used_bytes, a, sizeof(a)), kv_human(st.capacity_bytes, b, sizeof(b)),
	       kv_human(st.free_bytes, c, sizeof(c)),
	       st.capacity_bytes ? 100.0 * (double)st.used_bytes / (double)st.capacity_bytes : 0.0);
	printf("  files       %" PRIu64 " in %" PRIu64 " directories\n", st.files, st.directories);
	printf("  inodes      %" PRIu64 " of %" PRIu64 " free\n", st.inodes_free, st.inodes_total);
	printf("  free space  %" PRIu64 " extents, largest %s, fragmentation %u%%\n",
	       st.free_extents, kv_human(st.largest_free_bytes, a, sizeof(a)),
	       st.fragmentation_pct);
	printf("  unclean     %" PRIu64 " opens after a crash\n", st.unclean_opens);
	kv_pool_close(p);
	return 0;
}
