// SPDX-License-Identifier: MIT
/*
 * cmd_run.c - `kvfs run [-m MOUNTPOINT] -- CMD [ARGS]`: run an unmodified
 * program with libkvfs_preload.so in front of libc (LD_PRELOAD, prepended
 * to what is there), so its mmap() and read() of block files reach the pool
 * directly. The library is looked for next to the kvfs binary, in
 * ../lib from it (an installed tree), in the build folder, and in the
 * prefix kvfs was built for. Nothing else about the program changes.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef KVFS_PREFIX
#define KVFS_PREFIX "/usr/local"
#endif

#define PRELOAD_SO "libkvfs_preload.so"

static bool is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Where libkvfs_preload.so is: $KVFS_PRELOAD_LIB, or near the kvfs binary. */
static int find_library(char *out, size_t size)
{
	const char *env = getenv("KVFS_PRELOAD_LIB");
	char self[PATH_MAX], *slash;
	const char *const rel[] = { "", "../lib/", "../build/", "build/" };
	ssize_t n;
	size_t i;

	if (env && *env) {
		if (!is_file(env))
			return -ENOENT;
		snprintf(out, size, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		slash = strrchr(self, '/');
		if (slash)
			slash[1] = 0;
		for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			if ((size_t)snprintf(out, size, "%s%s%s", self, rel[i], PRELOAD_SO) <
				size &&
			    is_file(out))
				return 0;
		}
	}
	snprintf(out, size, "%s/lib/%s", KVFS_PREFIX, PRELOAD_SO);
	return is_file(out) ? 0 : -ENOENT;
}

static void run_usage(void)
{
	fprintf(stderr, "usage: kvfs run [-m MOUNTPOINT] -- CMD [ARGS]\n");
}

int kv_cmd_run(int argc, char **argv)
{
	char lib[PATH_MAX], abs[PATH_MAX], *preload;
	const char *mount = NULL, *old;
	struct stat st;
	int i = 1;

	for (; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(argv[i], "-m") == 0 && i + 1 < argc) {
			mount = argv[++i];
		} else if (argv[i][0] == '-') {
			run_usage();
			return 2;
		} else {
			break; /* `kvfs run CMD` without "--" */
		}
	}
	if (i >= argc) {
		run_usage();
		return 2;
	}
	if (mount && (stat(mount, &st) || !S_ISDIR(st.st_mode) || !realpath(mount, abs))) {
		fprintf(stderr, "kvfs run: %s is not a directory\n", mount);
		return 2;
	}
	if (mount)
		mount = abs; /* the program may change directory */
	if (find_library(lib, sizeof(lib))) {
		fprintf(stderr,
			"kvfs run: %s not found (next to kvfs, in ../lib, or %s/lib); "
			"set KVFS_PRELOAD_LIB\n",
			PRELOAD_SO, KVFS_PREFIX);
		return 1;
	}
	old = getenv("LD_PRELOAD");
	if (old && *old) {
		preload = malloc(strlen(lib) + strlen(old) + 2);
		if (!preload)
			return 1;
		sprintf(preload, "%s:%s", lib, old);
	} else {
		preload = lib;
	}
	if (setenv("LD_PRELOAD", preload, 1) || (mount && setenv("KVFS_PRELOAD_MOUNT", mount, 1))) {
		perror("kvfs run: setenv");
		return 1;
	}
	execvp(argv[i], argv + i);
	fprintf(stderr, "kvfs run: %s: %s\n", argv[i], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
