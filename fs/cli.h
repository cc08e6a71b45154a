/* SPDX-License-Identifier: MIT */
/*
 * cli.h - the kvfs command line: one table of subcommands (main.c) and the
 * helpers they share. `kvfs help` and man/kvfs.8 say the same thing.
 */
#ifndef KVFS_FS_CLI_H
#define KVFS_FS_CLI_H

#include <stdbool.h>
#include <stdint.h>

struct kv_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
	const char *summary;
};

/** kv_parse_size() - "1G", "512M", "4096", "2GiB" -> bytes. Return: 0 or -EINVAL. */
int kv_parse_size(const char *s, uint64_t *out);
/** kv_parse_uint() - a decimal number within [min, max]. Return: 0 or -EINVAL. */
int kv_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/** kv_human() - "1.5 GiB" into @buf. */
const char *kv_human(uint64_t bytes, char *buf, int size);

int kv_cmd_mkfs(int argc, char **argv);
int kv_cmd_fsck(int argc, char **argv);
int kv_cmd_stat(int argc, char **argv);
int kv_cmd_mount(int argc, char **argv);
int kv_cmd_run(int argc, char **argv);

#endif /* KVFS_FS_CLI_H */
