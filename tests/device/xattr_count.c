// SPDX-License-Identifier: MIT
/*
 * xattr_count.c - an LD_PRELOAD shim for run-probe.sh: counts the xattr
 * calls a tool makes (getxattr by name, listxattr) and appends them at exit
 * to $XATTR_COUNT_LOG (coreutils closes stderr before exit), so that what `ls -l` asks a filesystem for each file is known on a host
 * without strace. XATTR_NOLIST=1 answers every listxattr ENOTSUP without
 * asking the filesystem (what a filesystem without listxattr costs `ls`).
 *   gcc -shared -fPIC -O2 -o xattr_count.so xattr_count.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static unsigned long n_list, n_get, n_sel, n_acl;

static void count_name(const char *name)
{
	n_get++;
	if (name && strstr(name, "selinux"))
		n_sel++;
	if (name && strstr(name, "acl"))
		n_acl++;
}

#define GET(fn, T)                                                                                 \
	ssize_t fn(T path, const char *name, void *v, size_t s)                                    \
	{                                                                                          \
		static ssize_t (*real)(T, const char *, void *, size_t);                           \
		if (!real)                                                                         \
			real = dlsym(RTLD_NEXT, #fn);                                              \
		count_name(name);                                                                  \
		return real(path, name, v, s);                                                     \
	}
GET(getxattr, const char *)
GET(lgetxattr, const char *)
GET(fgetxattr, int)

#define LIST(fn, T)                                                                                \
	ssize_t fn(T path, char *l, size_t s)                                                      \
	{                                                                                          \
		static ssize_t (*real)(T, char *, size_t);                                         \
		if (!real)                                                                         \
			real = dlsym(RTLD_NEXT, #fn);                                              \
		n_list++;                                                                          \
		if (getenv("XATTR_NOLIST")) {                                                      \
			errno = ENOTSUP;                                                           \
			return -1;                                                                 \
		}                                                                                  \
		return real(path, l, s);                                                           \
	}
LIST(listxattr, const char *)
LIST(llistxattr, const char *)
LIST(flistxattr, int)

__attribute__((destructor)) static void report(void)
{
	const char *log = getenv("XATTR_COUNT_LOG");
	char line[160];
	int fd, len;

	if (!log || (fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644)) < 0)
		return;
	len = snprintf(line, sizeof(line),
		       "xattr calls: %lu listxattr, %lu getxattr (%lu selinux, %lu acl)\n", n_list,
		       n_get, n_sel, n_acl);
	if (write(fd, line, (size_t)len) < 0)
		len = 0;
	close(fd);
}
