/* SPDX-License-Identifier: MIT */
/*
 * log.h - the one logger of kvfs. Library code reports through kv_log() and
 * never prints; the program decides where lines go (stderr, syslog, nowhere)
 * by installing a handler. Levels mirror fuse_log's.
 */
#ifndef KVFS_MM_LOG_H
#define KVFS_MM_LOG_H

#include <stdarg.h>

enum kv_log_level {
	KV_LOG_ERR = 3,
	KV_LOG_WARNING = 4,
	KV_LOG_NOTICE = 5,
	KV_LOG_INFO = 6,
	KV_LOG_DEBUG = 7,
};

typedef void (*kv_log_fn)(enum kv_log_level level, const char *fmt, va_list ap);

/** kv_log_set_handler() - route log lines; NULL drops them. Not thread-safe. */
void kv_log_set_handler(kv_log_fn fn);
/** kv_log_set_level() - lines above @level are dropped (default KV_LOG_NOTICE). */
void kv_log_set_level(enum kv_log_level level);
void kv_log(enum kv_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** kv_log_stderr() - a handler that prints "kvfs: <line>" to stderr. */
void kv_log_stderr(enum kv_log_level level, const char *fmt, va_list ap);

#endif /* KVFS_MM_LOG_H */
