// SPDX-License-Identifier: MIT
/*
 * main.c - `kvfs SUBCOMMAND ...`: dispatch through one table. Also answers
 * to the names mount.kvfs / mount.fuse.kvfs and to the argument order that
 * mount(8) and mount.fuse3 use (kvfs POOL MOUNTPOINT -o OPTS), so /etc/fstab
 * lines and `mount -t fuse.kvfs` work.
 */
#include "cli.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int cmd_help(int argc, char **argv);

static const struct kv_command commands[] = {
	{ "mount", kv_cmd_mount, "mount [-f] [-o OPTS] POOL MOUNTPOINT",
	  "mount a pool (file, /dev/daxX.Y or dax:auto) as a directory of block files" },
	{ "mkfs", kv_cmd_mkfs, "mkfs [-f] [-s SIZE] [-i INODES] POOL",
	  "format a pool; refuses a formatted pool without -f" },
	{ "stat", kv_cmd_stat, "stat POOL|MOUNTPOINT", "show a pool's capacity, use and files" },
	{ "fsck", kv_cmd_fsck, "fsck [--repair] [--data] POOL",
	  "check a pool that is not mounted; non-zero on damage; --repair drops bad records, "
	  "--data verifies every file's checksum" },
	{ "run", kv_cmd_run, "run [-m MOUNTPOINT] -- CMD [ARGS]",
	  "run a program with zero-copy mmap/read of block files (LD_PRELOAD)" },
	{ "help", cmd_help, "help [SUBCOMMAND]", "show this help" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static int cmd_help(int argc, char **argv)
{
	size_t i;

	if (argc > 1) {
		for (i = 0; i < NCOMMANDS; i++)
			if (strcmp(argv[1], commands[i].name) == 0) {
				printf("usage: kvfs %s\n  %s\n", commands[i].usage,
				       commands[i].summary);
				return 0;
			}
		fprintf(stderr, "kvfs: no subcommand '%s'; see 'kvfs help'\n", argv[1]);
		return 2;
	}
	printf("usage: kvfs SUBCOMMAND [ARGS]\n\nkvfs keeps LLM KV-cache blocks in a shared "
	       "memory pool and shows them as files.\n\n");
	for (i = 0; i < NCOMMANDS; i++)
		printf("  kvfs %-40s %s\n", commands[i].usage, commands[i].summary);
	printf("\nSee kvfs(8) for options and kvfs(7) for concepts.\n");
	return 0;
}

static const struct kv_command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct kv_command *cmd;
	const char *self = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	struct stat st;

	kv_log_set_handler(kv_log_stderr);
	if (strncmp(self, "mount.", 6) == 0 ||
	    (argc >= 3 && argv[1][0] != '-' && !find_command(argv[1]) && stat(argv[2], &st) == 0 &&
	     S_ISDIR(st.st_mode))) {
		/* mount(8) order: POOL MOUNTPOINT [-o OPTS] */
		argv[0] = "mount";
		return kv_cmd_mount(argc, argv);
	}
	if (argc < 2) {
		cmd_help(1, argv);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cmd_help(1, argv);
	cmd = find_command(argv[1]);
	if (cmd)
		return cmd->run(argc - 1, argv + 1);
	fprintf(stderr, "kvfs: unknown subcommand '%s'; see 'kvfs help'\n", argv[1]);
	return 2;
}
