// SPDX-License-Identifier: MIT
/*
 * log.c - kv_log(): one line per call, handed to the program's handler.
 * Nothing here allocates, so it may be called on error paths.
 */
#include "log.h"

#include <stdio.h>

static kv_log_fn log_handler;
static enum kv_log_level log_level = KV_LOG_NOTICE;

void kv_log_set_handler(kv_log_fn fn)
{
	log_handler = fn;
}

void kv_log_set_level(enum kv_log_level level)
{
	log_level = level;
}

void kv_log(enum kv_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!log_handler || level > log_level)
		return;
	va_start(ap, fmt);
	log_handler(level, fmt, ap);
	va_end(ap);
}

void kv_log_stderr(enum kv_log_level level, const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "kvfs: %s%s\n", level <= KV_LOG_ERR ? "error: " : "", line);
}
