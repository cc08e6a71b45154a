// SPDX-License-Identifier: MIT
/*
 * posix_check.c - act on a mounted kvfs the way an engine that keeps its KV
 * cache in files does, and check each result against POSIX: O_EXCL create
 * of a temporary name, write/pwritev, atomic rename onto the final name
 * (also RENAME_NOREPLACE and RENAME_EXCHANGE), O_DIRECT + readv/preadv,
 * fallocate, ftruncate, unlink of an open file, scandir, mmap (shared and
 * private), utimensat, and the errors POSIX names for bad input.
 *
 * Usage: posix_check MOUNTPOINT. Works in MOUNTPOINT/posix-check-PID and
 * removes it at the end. Prints one line per check and "N passed, N failed";
 * exits 1 on any failure. It must not depend on anything but the mount.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define MiB (1u << 20)

static int passed, failed;
static char top[4096];

/* One check: print it, count it; on failure say what errno was. */
static void check(int cond, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	printf("%s - ", cond ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!cond)
		printf(" (errno %d: %s)", saved, strerror(saved));
	printf("\n");
	fflush(stdout);
	if (cond)
		passed++;
	else
		failed++;
	errno = saved;
}

/* The call must fail with errno @want. */
static void check_err(int rc, int want, const char *what)
{
	int got = errno;

	if (rc < 0 && got == want) {
		printf("ok - %s fails with %s\n", what, strerror(want));
		passed++;
	} else {
		printf("not ok - %s: want %s, got rc=%d (%s)\n", what, strerror(want), rc,
		       rc < 0 ? strerror(got) : "success");
		failed++;
	}
	fflush(stdout);
}

static const char *path(const char *fmt, ...)
{
	static char bufs[8][4096];
	static int next;
	char *b = bufs[next++ % 8];
	int n = snprintf(b, 4096, "%s/", top);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b + n, 4096 - (size_t)n, fmt, ap);
	va_end(ap);
	return b;
}

/* Deterministic bytes: the same seed and offset give the same byte anywhere. */
static void pattern(uint8_t *buf, size_t len, uint64_t off, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		uint64_t x = (off + i) * 0x9E3779B97F4A7C15ull + seed;

		buf[i] = (uint8_t)(x >> 29 ^ x >> 47);
	}
}

static int is_pattern(const uint8_t *buf, size_t len, uint64_t off, unsigned seed)
{
	uint8_t tmp[4096];
	size_t done;

	for (done = 0; done < len; done += sizeof(tmp)) {
		size_t n = len - done < sizeof(tmp) ? len - done : sizeof(tmp);

		pattern(tmp, n, off + done, seed);
		if (memcmp(tmp, buf + done, n))
			return 0;
	}
	return 1;
}

static int is_zero(const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i])
			return 0;
	return 1;
}

/* Read a whole file through a plain fd (the page cache) into a malloc'ed buffer. */
static uint8_t *slurp(const char *p, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	ssize_t n;
	size_t done = 0;
	int fd = open(p, O_RDONLY);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !(buf = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return NULL;
	}
	while ((n = read(fd, buf + done, (size_t)st.st_size + 1 - done)) > 0)
		done += (size_t)n;
	close(fd);
	*len = done;
	return buf;
}

static int write_file(const char *p, size_t len, unsigned seed)
{
	uint8_t *buf = malloc(len);
	int fd, rc = -1;

	if (!buf)
		return -1;
	pattern(buf, len, 0, seed);
	fd = open(p, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd >= 0 && write(fd, buf, len) == (ssize_t)len)
		rc = 0;
	if (fd >= 0 && close(fd) < 0)
		rc = -1;
	free(buf);
	return rc;
}

static int file_is(const char *p, size_t len, unsigned seed)
{
	size_t n = 0;
	uint8_t *buf = slurp(p, &n);
	int ok = buf && n == len && is_pattern(buf, len, 0, seed);

	free(buf);
	return ok;
}

static uint64_t free_bytes(void)
{
	struct statvfs sv;

	if (statvfs(top, &sv) < 0)
		return 0;
	return (uint64_t)sv.f_bfree * sv.f_frsize;
}

static int extent_count(const char *p)
{
	char text[1024];
	ssize_t n = getxattr(p, "user.kvfs.extents", text, sizeof(text) - 1);
	int count = 1;
	ssize_t i;

	if (n <= 0)
		return n < 0 ? -1 : 0;
	for (i = 0; i < n; i++)
		count += text[i] == ' ';
	return count;
}

/* --- the checks --- */

static void create_write_rename(void)
{
	const size_t len = 3 * MiB + 12345;
	uint8_t *buf = malloc(len);
	struct iovec iov[3];
	struct stat st;
	int fd, fd2;

	pattern(buf, len, 0, 1);
	/* the final name exists already with other bytes: rename must replace it whole */
	check(write_file(path("final"), MiB, 99) == 0, "write an old version of the final name");
	fd = open(path("final.tmp"), O_CREAT | O_EXCL | O_WRONLY, 0644);
	check(fd >= 0, "open(O_CREAT|O_EXCL|O_WRONLY) of a temporary name");
	fd2 = open(path("final.tmp"), O_CREAT | O_EXCL | O_WRONLY, 0644);
	check_err(fd2, EEXIST, "a second open(O_CREAT|O_EXCL) of the same name");
	if (fd2 >= 0)
		close(fd2);
	check(write(fd, buf, MiB) == (ssize_t)MiB, "write 1 MiB");
	iov[0] = (struct iovec){ buf + MiB, 12345 };
	iov[1] = (struct iovec){ buf + MiB + 12345, MiB - 12345 };
	iov[2] = (struct iovec){ buf + 2 * MiB, MiB + 12345 };
	check(pwritev(fd, iov, 3, MiB) == (ssize_t)(2 * MiB + 12345),
	      "pwritev of 3 pieces, 2 MiB and a bit, at 1 MiB");
	check(close(fd) == 0, "close the temporary file");
	check(rename(path("final.tmp"), path("final")) == 0, "rename onto the final name");
	check(stat(path("final.tmp"), &st) < 0 && errno == ENOENT, "the temporary name is gone");
	check(stat(path("final"), &st) == 0 && st.st_size == (off_t)len,
	      "the final name has the new size (%zu)", len);
	check(file_is(path("final"), len, 1), "the final name has exactly the new bytes");
	free(buf);
}

/*
 * Atomic replace: while a reader opens and reads the final name in a loop, a
 * writer publishes new versions by write-to-temp + rename. The reader must
 * always find the name and always see one whole version. A reader holding
 * an old version open keeps reading it after the rename.
 */
static void atomic_replace(void)
{
	const size_t len = 256 << 10;
	uint8_t *buf = malloc(len + 1);
	int i, status, ok = 1, fd_old, bad_reads;
	pid_t reader;

	write_file(path("atomic"), len, 100);
	fd_old = open(path("atomic"), O_RDONLY);
	reader = fork();
	if (reader == 0) {
		int bad = 0, n, fd, rounds = 0;

		for (;;) {
			struct stat st;

			if (stat(path("atomic.stop"), &st) == 0)
				break;
			fd = open(path("atomic"), O_RDONLY);
			if (fd < 0) {
				bad++;
				continue;
			}
			n = (int)pread(fd, buf, len + 1, 0);
			close(fd);
			/* every version is seed 100..199 over the whole file; byte 0 tells which */
			if (n != (int)len)
				bad++;
			else {
				unsigned seed;

				for (seed = 100; seed < 200; seed++) {
					uint8_t first;

					pattern(&first, 1, 0, seed);
					if (first == buf[0] && is_pattern(buf, len, 0, seed))
						break;
				}
				bad += seed == 200;
			}
			rounds++;
		}
		_exit(bad > 255 ? 255 : bad);
	}
	for (i = 1; i < 100 && ok; i++) {
		ok &= write_file(path("atomic.tmp"), len, 100 + (unsigned)i) == 0;
		ok &= rename(path("atomic.tmp"), path("atomic")) == 0;
	}
	close(open(path("atomic.stop"), O_CREAT | O_WRONLY, 0644));
	waitpid(reader, &status, 0);
	bad_reads = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	check(ok, "publish 99 versions by write-to-temp + rename");
	check(bad_reads == 0,
	      "a concurrent reader always found the name and one whole version "
	      "(%d bad reads)",
	      bad_reads);
	check(file_is(path("atomic"), len, 199), "the last version is the one left");
	check(fd_old >= 0 && pread(fd_old, buf, len + 1, 0) == (ssize_t)len &&
		  is_pattern(buf, len, 0, 100),
	      "an fd opened before the renames still reads version 1");
	if (fd_old >= 0)
		close(fd_old);
	unlink(path("atomic"));
	unlink(path("atomic.stop"));
	free(buf);
}

/*
 * Rename churn: readers open one name in a loop while writers publish small
 * versions of it by write-to-temp + rename as fast as they can. The kernel
 * retries an open that meets ESTALE once; kvfs must never let ESTALE reach
 * the application (nor ENOENT: the name always exists).
 */
static void rename_churn(void)
{
	enum { READERS = 3, WRITERS = 2, ROUNDS = 1500 };
	pid_t pid[READERS + WRITERS];
	int i, status, estale = 0, enoent = 0, other = 0, wfail = 0;
	char tmp[64];

	write_file(path("churn"), 4096, 1);
	close(open(path("churn.stop"), O_CREAT | O_WRONLY, 0644));
	unlink(path("churn.stop"));
	for (i = 0; i < READERS; i++) {
		if ((pid[i] = fork()) == 0) {
			int counts[3] = {0, 0, 0}; /* ESTALE, ENOENT, other */
			struct stat st;

			while (stat(path("churn.stop"), &st) != 0) {
				int fd = open(path("churn"), O_RDONLY);
				char b[16];

				if (fd < 0) {
					counts[errno == ESTALE ? 0 : errno == ENOENT ? 1 : 2]++;
					continue;
				}
				if (read(fd, b, sizeof(b)) != (ssize_t)sizeof(b))
					counts[2]++;
				close(fd);
			}
			_exit((counts[0] ? 1 : 0) | (counts[1] ? 2 : 0) | (counts[2] ? 4 : 0));
		}
	}
	for (i = 0; i < WRITERS; i++) {
		if ((pid[READERS + i] = fork()) == 0) {
			int r, bad = 0;

			snprintf(tmp, sizeof(tmp), "churn.tmp%d", i);
			for (r = 0; r < ROUNDS; r++)
				bad |= write_file(path("%s", tmp), 4096, 2 + (unsigned)r) != 0 ||
				       rename(path("%s", tmp), path("churn")) != 0;
			_exit(bad);
		}
	}
	for (i = READERS; i < READERS + WRITERS; i++) {
		waitpid(pid[i], &status, 0);
		wfail += !WIFEXITED(status) || WEXITSTATUS(status);
	}
	close(open(path("churn.stop"), O_CREAT | O_WRONLY, 0644));
	for (i = 0; i < READERS; i++) {
		waitpid(pid[i], &status, 0);
		if (!WIFEXITED(status)) {
			other++;
			continue;
		}
		estale += !!(WEXITSTATUS(status) & 1);
		enoent += !!(WEXITSTATUS(status) & 2);
		other += !!(WEXITSTATUS(status) & 4);
	}
	check(wfail == 0, "rename churn: %d writers x %d renames succeed", WRITERS, ROUNDS);
	check(estale == 0, "rename churn: no open returned ESTALE (%d of %d readers saw it)",
	      estale, READERS);
	check(enoent == 0 && other == 0,
	      "rename churn: every open found the name and read it (%d readers saw ENOENT, %d "
	      "another error)",
	      enoent, other);
	unlink(path("churn"));
	unlink(path("churn.stop"));
}

static void open_flags(void)
{
	uint8_t *a, *b;
	struct stat st;
	int fd;

	if (posix_memalign((void **)&a, 4096, MiB) || posix_memalign((void **)&b, 4096, MiB))
		abort();
	pattern(a, MiB, 0, 12);
	fd = open(path("odirect-w"), O_CREAT | O_WRONLY | O_DIRECT, 0644);
	check(fd >= 0 && pwrite(fd, a, MiB, 0) == MiB && pwrite(fd, a, 4096, MiB) == 4096,
	      "O_DIRECT pwrite of aligned buffers");
	if (fd >= 0)
		close(fd);
	fd = open(path("odirect-w"), O_RDONLY);
	check(fd >= 0 && pread(fd, b, MiB, 0) == MiB && is_pattern(b, MiB, 0, 12) &&
		  fstat(fd, &st) == 0 && st.st_size == MiB + 4096,
	      "a buffered read sees them");
	if (fd >= 0)
		close(fd);
	fd = open(path("odirect-w"), O_WRONLY | O_TRUNC);
	check(fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 0, "open(O_TRUNC) empties the file");
	check(fd >= 0 && ftruncate(fd, 8192) == 0, "ftruncate the emptied file to 8 KiB");
	if (fd >= 0)
		close(fd);
	fd = open(path("odirect-w"), O_RDONLY);
	check(fd >= 0 && pread(fd, b, 8192, 0) == 8192 && is_zero(b, 8192),
	      "the old bytes do not come back after O_TRUNC");
	if (fd >= 0)
		close(fd);
	fd = open(path("odirect-w"), O_WRONLY | O_APPEND);
	check(fd >= 0 && write(fd, "tail", 4) == 4 && fstat(fd, &st) == 0 && st.st_size == 8196,
	      "O_APPEND writes at the end");
	if (fd >= 0)
		close(fd);
	unlink(path("odirect-w"));
	free(a);
	free(b);
}

static void renames(void)
{
	struct stat st;
	int rc;

	write_file(path("ra"), 100000, 2);
	write_file(path("rb"), 200000, 3);
	rc = renameat2(AT_FDCWD, path("ra"), AT_FDCWD, path("rb"), RENAME_NOREPLACE);
	check_err(rc, EEXIST, "renameat2(RENAME_NOREPLACE) onto an existing name");
	check(file_is(path("ra"), 100000, 2) && file_is(path("rb"), 200000, 3),
	      "after the refused rename both files are unchanged");
	rc = renameat2(AT_FDCWD, path("ra"), AT_FDCWD, path("rc"), RENAME_NOREPLACE);
	check(rc == 0 && stat(path("ra"), &st) < 0 && file_is(path("rc"), 100000, 2),
	      "renameat2(RENAME_NOREPLACE) onto a free name moves the file");
	rc = renameat2(AT_FDCWD, path("rc"), AT_FDCWD, path("rb"), RENAME_EXCHANGE);
	check(rc == 0, "renameat2(RENAME_EXCHANGE)");
	check(file_is(path("rc"), 200000, 3) && file_is(path("rb"), 100000, 2),
	      "RENAME_EXCHANGE swapped the two files");
	rc = renameat2(AT_FDCWD, path("rc"), AT_FDCWD, path("nothing-here"), RENAME_EXCHANGE);
	check_err(rc, ENOENT, "RENAME_EXCHANGE with an absent target");

	check(mkdir(path("d1"), 0755) == 0 && mkdir(path("d1/d2"), 0755) == 0,
	      "mkdir d1 and d1/d2");
	check_err(rename(path("d1"), path("d1/d2/d3")), EINVAL,
		  "rename of a directory into its own child");
	check(stat(path("d1/d2"), &st) == 0 && S_ISDIR(st.st_mode), "d1/d2 still there");
	check_err(rmdir(path("d1")), ENOTEMPTY, "rmdir of a non-empty directory");
	check_err(rename(path("rb"), path("d1")), EISDIR, "rename of a file onto a directory");
	check_err(rename(path("d1"), path("rb")), ENOTDIR, "rename of a directory onto a file");
	check(mkdir(path("d9"), 0755) == 0, "mkdir d9");
	check(rename(path("d9"), path("d1/d2/d9")) == 0 && stat(path("d1/d2/d9"), &st) == 0 &&
		  stat(path("d9"), &st) < 0,
	      "rename of a directory into another directory");
	check_err(rename(path("d1/d2/d9/.."), path("x")), EBUSY, "rename of '..'");
	check(rmdir(path("d1/d2/d9")) == 0 && rmdir(path("d1/d2")) == 0 && rmdir(path("d1")) == 0,
	      "rmdir of the emptied directories");
	check_err(rmdir(path("rb")), ENOTDIR, "rmdir of a file");
	check_err(unlink(path("gone")), ENOENT, "unlink of an absent name");
}

static void absent_names(void)
{
	struct stat st;
	int i, ok = 1, fd;

	for (i = 0; i < 3; i++) /* the second and third may come from a cached negative entry */
		ok &= stat(path("absent-%d", 7), &st) < 0 && errno == ENOENT;
	check(ok, "stat of an absent name fails with ENOENT, three times");
	check(stat(path("no-dir/absent"), &st) < 0 && errno == ENOENT,
	      "stat below an absent directory fails with ENOENT");
	check(stat(path("final/x"), &st) < 0 && errno == ENOTDIR,
	      "stat below a file fails with ENOTDIR");
	/* a cached negative entry must not hide a name created afterwards */
	fd = open(path("absent-7"), O_CREAT | O_WRONLY, 0644);
	check(fd >= 0 && close(fd) == 0 && stat(path("absent-7"), &st) == 0,
	      "an absent name, once created, is seen by stat");
	unlink(path("absent-7"));
	check(stat(path("absent-7"), &st) < 0 && errno == ENOENT,
	      "and is absent again after unlink");
}

static void direct_io(void)
{
	const size_t len = 4 * MiB;
	uint8_t *a, *b, *c;
	struct iovec iov[3];
	int fd;

	write_file(path("direct"), len, 4);
	if (posix_memalign((void **)&a, 4096, MiB) || posix_memalign((void **)&b, 4096, 2 * MiB) ||
	    posix_memalign((void **)&c, 4096, MiB))
		abort();
	fd = open(path("direct"), O_RDONLY | O_DIRECT);
	check(fd >= 0, "open(O_RDONLY|O_DIRECT)");
	iov[0] = (struct iovec){ a, MiB };
	iov[1] = (struct iovec){ b, 2 * MiB };
	iov[2] = (struct iovec){ c, MiB };
	check(readv(fd, iov, 3) == (ssize_t)len, "readv of 4 MiB in 3 aligned buffers");
	check(is_pattern(a, MiB, 0, 4) && is_pattern(b, 2 * MiB, MiB, 4) &&
		  is_pattern(c, MiB, 3 * MiB, 4),
	      "readv bytes are the file's bytes");
	memset(a, 0, MiB);
	memset(b, 0, 2 * MiB);
	iov[0] = (struct iovec){ a, 64 << 10 };
	iov[1] = (struct iovec){ b, MiB };
	check(preadv(fd, iov, 2, 2 * MiB + 8192) == (ssize_t)(MiB + (64 << 10)),
	      "preadv at an aligned offset");
	check(is_pattern(a, 64 << 10, 2 * MiB + 8192, 4) &&
		  is_pattern(b, MiB, 2 * MiB + 8192 + (64 << 10), 4),
	      "preadv bytes are the file's bytes");
	check(preadv(fd, iov, 2, 3 * MiB + 512 * 1024) == (ssize_t)(512 * 1024),
	      "preadv across EOF returns the bytes up to EOF");
	check(pread(fd, a, 4096, (off_t)len) == 0, "O_DIRECT pread at EOF returns 0");
	close(fd);
	free(a);
	free(b);
	free(c);
}

static void fallocate_truncate(void)
{
	uint8_t *buf = malloc(4 * MiB);
	struct stat st;
	int fd;

	fd = open(path("falloc"), O_CREAT | O_RDWR, 0644);
	check(fd >= 0, "create a file for fallocate");
	check(fallocate(fd, 0, 0, 4 * MiB) == 0, "fallocate(mode 0, 4 MiB)");
	check(fstat(fd, &st) == 0 && st.st_size == 4 * MiB, "fallocate extended the size to 4 MiB");
	check(pread(fd, buf, 4 * MiB, 0) == 4 * MiB && is_zero(buf, 4 * MiB),
	      "the fallocated range reads as zeros");
	check(extent_count(path("falloc")) == 1, "a fallocated file is one extent");
	check(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 8 * MiB) == 0,
	      "fallocate(FALLOC_FL_KEEP_SIZE, 8 MiB)");
	check(fstat(fd, &st) == 0 && st.st_size == 4 * MiB && st.st_blocks * 512 >= 8 * MiB,
	      "KEEP_SIZE kept the size and allocated the space (size %lld, blocks %lld)",
	      (long long)st.st_size, (long long)st.st_blocks);
	check_err(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096), EOPNOTSUPP,
		  "fallocate(PUNCH_HOLE)");
	close(fd);

	fd = open(path("trunc"), O_CREAT | O_RDWR, 0644);
	pattern(buf, MiB, 0, 5);
	check(fd >= 0 && write(fd, buf, MiB) == MiB, "write 1 MiB to a file for ftruncate");
	check(ftruncate(fd, 3 * MiB) == 0, "ftruncate up to 3 MiB");
	check(fstat(fd, &st) == 0 && st.st_size == 3 * MiB, "size is 3 MiB");
	check(pread(fd, buf, 3 * MiB, 0) == 3 * MiB && is_pattern(buf, MiB, 0, 5) &&
		  is_zero(buf + MiB, 2 * MiB),
	      "first MiB kept, the rest reads as zeros");
	check(ftruncate(fd, 512 * 1024) == 0, "ftruncate down to 512 KiB");
	check(fstat(fd, &st) == 0 && st.st_size == 512 * 1024, "size is 512 KiB");
	check(pread(fd, buf, MiB, 0) == 512 * 1024 && is_pattern(buf, 512 * 1024, 0, 5),
	      "a read returns the 512 KiB kept");
	check(ftruncate(fd, MiB) == 0 && pread(fd, buf, MiB, 0) == MiB &&
		  is_pattern(buf, 512 * 1024, 0, 5) && is_zero(buf + 512 * 1024, 512 * 1024),
	      "ftruncate up again: the cut bytes do not come back (zeros)");
	check(pread(fd, buf, 100, MiB + 4096) == 0, "read at an offset beyond EOF returns 0");
	check(pread(fd, buf, 100, 1ll << 40) == 0, "read at 1 TiB returns 0");
	close(fd);

	/* a size known up front is one extent */
	fd = open(path("sized"), O_CREAT | O_RDWR, 0644);
	pattern(buf, 3 * MiB, 0, 6);
	check(fd >= 0 && ftruncate(fd, 3 * MiB) == 0 && pwrite(fd, buf, 3 * MiB, 0) == 3 * MiB,
	      "ftruncate to 3 MiB, then write 3 MiB");
	close(fd);
	check(extent_count(path("sized")) == 1, "a file sized before writing is one extent");
	free(buf);
}

static void huge_sizes(void)
{
	struct statvfs sv;
	uint64_t cap;
	struct stat st;
	char b[4096];
	int fd;

	statvfs(top, &sv);
	cap = (uint64_t)sv.f_blocks * sv.f_frsize;
	write_file(path("huge"), 10000, 7);
	fd = open(path("huge"), O_RDWR);
	errno = 0;
	check(ftruncate(fd, 1ll << 50) < 0 && (errno == EFBIG || errno == ENOSPC),
	      "ftruncate to 1 PiB fails with EFBIG or ENOSPC");
	errno = 0;
	check(ftruncate(fd, (off_t)(cap + 4096)) < 0 && (errno == EFBIG || errno == ENOSPC),
	      "ftruncate to more than the pool holds fails with EFBIG or ENOSPC");
	errno = 0;
	check(fallocate(fd, 0, 0, (off_t)(cap + 4096)) < 0 && (errno == EFBIG || errno == ENOSPC),
	      "fallocate of more than the pool holds fails with EFBIG or ENOSPC");
	memset(b, 1, sizeof(b));
	errno = 0;
	check(pwrite(fd, b, sizeof(b), (off_t)cap) < 0 && (errno == EFBIG || errno == ENOSPC),
	      "pwrite past the pool's size fails with EFBIG or ENOSPC");
	close(fd);
	check(stat(path("huge"), &st) == 0 && st.st_size == 10000 &&
		  file_is(path("huge"), 10000, 7),
	      "after the refused calls the file is unchanged");
}

static void long_names(void)
{
	char n255[256], n256[257];
	struct stat st;
	DIR *d;
	struct dirent *de;
	int fd, found = 0;

	memset(n255, 'k', 255);
	n255[255] = 0;
	memset(n256, 'k', 256);
	n256[256] = 0;
	fd = open(path("%s", n255), O_CREAT | O_WRONLY, 0644);
	check(fd >= 0 && write(fd, "x", 1) == 1 && close(fd) == 0,
	      "create a file with a 255-byte name");
	check(stat(path("%s", n255), &st) == 0 && st.st_size == 1, "stat of the 255-byte name");
	d = opendir(top);
	while (d && (de = readdir(d)))
		found |= strcmp(de->d_name, n255) == 0;
	if (d)
		closedir(d);
	check(found, "readdir lists the 255-byte name");
	check_err(open(path("%s", n256), O_CREAT | O_WRONLY, 0644), ENAMETOOLONG,
		  "create with a 256-byte name");
	check_err(stat(path("%s", n256), &st), ENAMETOOLONG, "stat of a 256-byte name");
	check_err(mkdir(path("%s", n256), 0755), ENAMETOOLONG, "mkdir with a 256-byte name");
	check_err(rename(path("%s", n255), path("%s", n256)), ENAMETOOLONG,
		  "rename to a 256-byte name");
	check(stat(path("%s", n255), &st) == 0, "the 255-byte name is still there");
	check(unlink(path("%s", n255)) == 0, "unlink of the 255-byte name");
}

static void unlink_open(void)
{
	const size_t len = 8 * MiB;
	uint64_t before, during, after = 0;
	uint8_t *buf = malloc(len);
	struct stat st;
	DIR *d;
	struct dirent *de;
	int fd, listed = 0, i;

	fd = open(path("victim"), O_CREAT | O_RDWR, 0644);
	pattern(buf, len, 0, 8);
	check(fd >= 0 && ftruncate(fd, (off_t)len) == 0 && pwrite(fd, buf, len, 0) == (ssize_t)len,
	      "write an 8 MiB file");
	close(fd);
	before = free_bytes();
	fd = open(path("victim"), O_RDONLY);
	check(fd >= 0, "open it for reading");
	check(unlink(path("victim")) == 0, "unlink it while another fd has it open");
	check(stat(path("victim"), &st) < 0 && errno == ENOENT, "the name is gone (stat ENOENT)");
	d = opendir(top);
	while (d && (de = readdir(d)))
		listed |= strcmp(de->d_name, "victim") == 0;
	if (d)
		closedir(d);
	check(!listed, "readdir no longer lists it");
	memset(buf, 0, len);
	check(pread(fd, buf, len, 0) == (ssize_t)len && is_pattern(buf, len, 0, 8),
	      "the open fd still reads all its bytes");
	check(fstat(fd, &st) == 0 && st.st_nlink == 0 && st.st_size == (off_t)len,
	      "fstat of the open fd: nlink 0, size kept");
	during = free_bytes();
	check(during + MiB > before && during < before + MiB,
	      "space stays allocated while the fd is open (free %llu -> %llu)",
	      (unsigned long long)before, (unsigned long long)during);
	close(fd);
	for (i = 0; i < 40; i++) { /* release reaches the daemon asynchronously */
		after = free_bytes();
		if (after >= before + len)
			break;
		usleep(50000);
	}
	check(after >= before + len, "space is freed after the last close (free %llu -> %llu)",
	      (unsigned long long)before, (unsigned long long)after);
	free(buf);
}

static int only_files(const struct dirent *de)
{
	return strncmp(de->d_name, "s", 1) == 0;
}

static void scan(void)
{
	struct dirent **list = NULL;
	char name[32];
	int i, n, ok = 1, fd;

	check(mkdir(path("scan"), 0755) == 0, "mkdir scan");
	for (i = 0; i < 120; i++) {
		fd = open(path("scan/s%03d", i), O_CREAT | O_WRONLY, 0644);
		ok &= fd >= 0 && close(fd) == 0;
	}
	check(ok, "create 120 files");
	n = scandir(path("scan"), &list, NULL, alphasort);
	check(n == 122, "scandir returns 120 files plus . and .. (got %d)", n);
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
	n = scandir(path("scan"), &list, only_files, alphasort);
	ok = n == 120;
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "s%03d", i);
		ok &= strcmp(list[i]->d_name, name) == 0 && list[i]->d_type == DT_REG;
		free(list[i]);
	}
	free(list);
	check(ok, "scandir with a filter and alphasort: every name, in order, as DT_REG");
	for (i = 0; i < 120; i += 2)
		unlink(path("scan/s%03d", i));
	n = scandir(path("scan"), &list, only_files, alphasort);
	check(n == 60, "after removing half, scandir returns 60 (got %d)", n);
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
	for (i = 1; i < 120; i += 2)
		unlink(path("scan/s%03d", i));
	check(rmdir(path("scan")) == 0, "rmdir of the emptied directory");
}

static void maps(void)
{
	const size_t len = 4 * MiB;
	uint8_t *buf = malloc(len), *m, *d;
	int fd, fd2, fd3;

	write_file(path("mapped"), len, 9);
	fd = open(path("mapped"), O_RDWR);
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	check(m != MAP_FAILED, "mmap(MAP_SHARED, read+write) of a 4 MiB file");
	if (m == MAP_FAILED) {
		close(fd);
		free(buf);
		return;
	}
	check(is_pattern(m, len, 0, 9), "the mapping shows the file's bytes");
	pattern(m + MiB, MiB, 0, 10); /* overwrite the second MiB through the map */
	m[len - 1] = 0x5a;
	check(msync(m, len, MS_SYNC) == 0, "msync(MS_SYNC)");
	fd2 = open(path("mapped"), O_RDONLY);
	check(fd2 >= 0 && pread(fd2, buf, len, 0) == (ssize_t)len, "read the file from another fd");
	check(is_pattern(buf, MiB, 0, 9) && is_pattern(buf + MiB, MiB, 0, 10) &&
		  is_pattern(buf + 2 * MiB, MiB - 1 + MiB, 2 * MiB, 9) && buf[len - 1] == 0x5a,
	      "read() sees the bytes written through the map");
	if (fd2 >= 0)
		close(fd2);
	/* O_DIRECT goes past the page cache to the daemon: the bytes reached the pool */
	if (posix_memalign((void **)&d, 4096, len))
		abort();
	fd3 = open(path("mapped"), O_RDONLY | O_DIRECT);
	check(fd3 >= 0 && pread(fd3, d, len, 0) == (ssize_t)len &&
		  is_pattern(d + MiB, MiB, 0, 10) && d[len - 1] == 0x5a,
	      "an O_DIRECT read (from the pool) sees them too");
	if (fd3 >= 0)
		close(fd3);
	/* the other way: a write() is seen by the map */
	memset(buf, 0xa5, 4096);
	check(pwrite(fd, buf, 4096, 3 * MiB) == 4096 && m[3 * MiB] == (uint8_t)0xa5 &&
		  m[3 * MiB + 4095] == (uint8_t)0xa5,
	      "a pwrite() is seen through the map");
	munmap(m, len);
	close(fd);

	fd = open(path("mapped"), O_RDWR);
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	check(m != MAP_FAILED, "mmap(MAP_PRIVATE, read+write)");
	if (m != MAP_FAILED) {
		check(is_pattern(m, MiB, 0, 9), "the private map shows the file's bytes");
		memset(m, 0x33, MiB);
		check(m[0] == 0x33, "a write to the private map is seen in the map");
		check(pread(fd, buf, MiB, 0) == MiB && is_pattern(buf, MiB, 0, 9),
		      "a write to the private map does not reach the file");
		munmap(m, len);
	}
	close(fd);
	free(d);
	free(buf);
}

static void timestamps(void)
{
	struct timespec ts[2] = { { 1000000000, 123456789 }, { 1500000000, 987654321 } };
	struct stat st;
	time_t now;

	write_file(path("timed"), 10, 11);
	check(utimensat(AT_FDCWD, path("timed"), ts, 0) == 0, "utimensat with explicit times");
	check(stat(path("timed"), &st) == 0 && st.st_atim.tv_sec == ts[0].tv_sec &&
		  st.st_atim.tv_nsec == ts[0].tv_nsec && st.st_mtim.tv_sec == ts[1].tv_sec &&
		  st.st_mtim.tv_nsec == ts[1].tv_nsec,
	      "stat shows them to the nanosecond");
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_nsec = UTIME_NOW;
	now = time(NULL);
	check(utimensat(AT_FDCWD, path("timed"), ts, 0) == 0, "utimensat(UTIME_OMIT, UTIME_NOW)");
	check(stat(path("timed"), &st) == 0 && st.st_atim.tv_sec == 1000000000 &&
		  st.st_mtim.tv_sec >= now - 1 && st.st_mtim.tv_sec <= now + 2,
	      "atime kept, mtime is now");
	check_err(utimensat(AT_FDCWD, path("no-such-file"), ts, 0), ENOENT,
		  "utimensat of an absent name");
	check(chmod(path("timed"), 0600) == 0 && stat(path("timed"), &st) == 0 &&
		  (st.st_mode & 07777) == 0600,
	      "chmod 0600");
}

static void cleanup(void)
{
	static const char *const names[] = { "final", "rb",    "rc",   "direct", "falloc",
					     "trunc", "sized", "huge", "mapped", "timed" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(path("%s", names[i]));
	check(rmdir(top) == 0, "the work directory is empty at the end and removed");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: posix_check MOUNTPOINT\n");
		return 2;
	}
	snprintf(top, sizeof(top), "%s/posix-check-%d", argv[1], (int)getpid());
	if (mkdir(top, 0755) < 0) {
		fprintf(stderr, "posix_check: mkdir %s: %s\n", top, strerror(errno));
		return 2;
	}
	create_write_rename();
	atomic_replace();
	rename_churn();
	open_flags();
	renames();
	absent_names();
	direct_io();
	fallocate_truncate();
	huge_sizes();
	long_names();
	unlink_open();
	scan();
	maps();
	timestamps();
	cleanup();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
