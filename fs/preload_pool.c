// SPDX-License-Identifier: MIT
/*
 * preload_pool.c - the pool side of libkvfs_preload.so: which devices are
 * kvfs mounts (statfs says FUSE, /proc/self/mountinfo says fuse.kvfs, or
 * the one mount KVFS_PRELOAD_MOUNT names), the pool each one names in its
 * user.kvfs.pool xattr, and one mapping per mount of that pool's data area
 * only (never the superblock or the metadata: the daemon says where the
 * data area is, through the ctl file's INFO ioctl, and the answer is
 * checked like any input). A process that cannot open the pool
 * gets no mount here and goes through FUSE as before. Also the one-time
 * CUDA registration of the data window. Never prints.
 */
#include "kvfs_abi.h"
#include "preload_int.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define FUSE_MAGIC 0x65735546

/* cudaHostRegister flags (cuda_runtime_api.h), without including CUDA */
#define CUDA_HOST_REGISTER_PORTABLE 0x01
#define CUDA_HOST_REGISTER_MAPPED   0x02
#define CUDA_HOST_REGISTER_READONLY 0x08

static struct kvp_mount mounts[KVP_MAX_MOUNTS];
static int nmounts;

static int parse_uuid(const char *text, uint8_t uuid[16])
{
	int i = 0;

	for (; *text && i < 32; text++) {
		int v;

		if (*text == '-')
			continue;
		v = *text >= '0' && *text <= '9'   ? *text - '0'
		    : *text >= 'a' && *text <= 'f' ? *text - 'a' + 10
						   : -1;
		if (v < 0)
			return -EINVAL;
		uuid[i / 2] = (uint8_t)(i % 2 ? uuid[i / 2] | v : v << 4);
		i++;
	}
	return i == 32 ? 0 : -EINVAL;
}

/* mountinfo escapes blanks and backslashes as \ooo */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] && s[3]) {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
}

/* The mount point of the fuse.kvfs mount on @dev, from /proc/self/mountinfo. */
static int find_root(dev_t dev, char *root, size_t size)
{
	char *line = NULL;
	size_t cap = 0;
	int rc = -ENOENT;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		unsigned maj, min;
		char mp[PATH_MAX], *dash;
		char fstype[64];

		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, mp) != 3 ||
		    makedev(maj, min) != dev)
			continue;
		dash = strstr(line, " - ");
		if (!dash || sscanf(dash + 3, "%63s", fstype) != 1 ||
		    strcmp(fstype, "fuse.kvfs") != 0)
			continue;
		unescape(mp);
		if (strlen(mp) < size) {
			strcpy(root, mp);
			rc = 0;
		}
		break;
	}
	free(line);
	fclose(f);
	return rc;
}

/* Which mount point to use for @dev: KVFS_PRELOAD_MOUNT's, or any kvfs mount. */
static int mount_root(dev_t dev, char *root, size_t size)
{
	const char *only = getenv("KVFS_PRELOAD_MOUNT");
	struct stat st;

	if (!only || !*only)
		return find_root(dev, root, size);
	if (stat(only, &st) || st.st_dev != dev || strlen(only) >= size)
		return -ENOENT;
	strcpy(root, only);
	return 0;
}

/* Ask the daemon of @m where the data area is (libkvfs asks the same). */
static int pool_info(const struct kvp_mount *m, struct kvfs_ioc_info *info)
{
	char path[PATH_MAX + 16];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/.kvfs/ctl", m->root);
	fd = kvp_real.open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(info, 0, sizeof(*info));
	info->abi = KVFS_ABI_VERSION;
	if (ioctl(fd, KVFS_IOC_INFO, info) < 0)
		rc = errno == ENOTTY ? -EPROTO : -errno; /* ENOTTY: a daemon without INFO */
	kvp_real.close(fd);
	if (!rc && !info->data_align)
		info->data_align = 2u << 20; /* a daemon older than the field */
	return rc;
}

/* Open the pool @m names and check it is the mounted one; learn its data area. */
static int open_pool(struct kvp_mount *m)
{
	struct kvfs_ioc_info info;
	char uuid_text[64];
	uint8_t uuid[16];
	struct stat st;
	ssize_t n;
	int fd;

	n = getxattr(m->root, "user.kvfs.pool", m->pool, sizeof(m->pool) - 1);
	if (n <= 0)
		return -ENOENT;
	m->pool[n] = 0;
	n = getxattr(m->root, "user.kvfs.uuid", uuid_text, sizeof(uuid_text) - 1);
	if (n <= 0)
		return -ENOENT;
	uuid_text[n] = 0;
	if (parse_uuid(uuid_text, uuid))
		return -EPROTO;
	memcpy(m->uuid, uuid, sizeof(m->uuid));
	m->pool_rw = true;
	fd = kvp_real.open(m->pool, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		m->pool_rw = false;
		fd = kvp_real.open(m->pool, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0)
		return -errno;
	m->pool_fd = fd;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		return -EPROTO; /* devdax pools are not mapped here */
	m->pool_dev = st.st_dev;
	m->pool_ino = st.st_ino;
	if (pool_info(m, &info))
		return -EPROTO;
	if (info.abi != KVFS_ABI_VERSION || memcmp(info.uuid, uuid, 16) != 0 ||
	    info.pool_dev != (uint64_t)st.st_dev || info.pool_ino != (uint64_t)st.st_ino)
		return -ESTALE;
	/* the answer is input: the data area must lie inside the file */
	if (info.data_align & (info.data_align - 1) || info.data_off % info.data_align ||
	    !info.data_size || info.data_off > info.pool_size ||
	    info.data_size > info.pool_size - info.data_off ||
	    info.pool_size > (uint64_t)st.st_size)
		return -EPROTO;
	m->data_off = info.data_off;
	m->data_size = info.data_size;
	return 0;
}

static uint8_t *map_data(struct kvp_mount *m, int prot)
{
	void *p =
	    kvp_real.mmap(NULL, m->data_size, prot, MAP_SHARED, m->pool_fd, (off_t)m->data_off);

	return p == MAP_FAILED ? NULL : p;
}

static int map_window(struct kvp_mount *m)
{
	int fd;

	m->win_ro = map_data(m, PROT_READ);
	if (!m->win_ro)
		return -errno;
	fd = kvp_own_fd(m->pool_fd);
	if (fd < 0)
		return fd;
	m->pool_fd = fd;
	kvp_fd_mark_internal(fd, true);
	return 0;
}

/*
 * Is @m still what is mounted? A long-lived program may outlive a daemon:
 * the mount point must still be on @m's device, and the pool path still
 * the file that was mapped (not a pool made anew at the same path).
 */
static int mount_stamp(const struct kvp_mount *m, struct timespec *ts)
{
	char path[PATH_MAX + 8];
	struct stat st;

	/* .kvfs carries the time of its mount: it tells one mount from the next */
	snprintf(path, sizeof(path), "%s/.kvfs", m->root);
	if (stat(path, &st) || st.st_dev != m->dev)
		return -ENOENT;
	*ts = st.st_mtim;
	return 0;
}

/* Does the mount on @m's root name the pool @m mapped (path, UUID and file)? */
static bool same_pool(const struct kvp_mount *m)
{
	char path[PATH_MAX], uuid_text[64];
	uint8_t uuid[16];
	struct stat st;
	ssize_t n;

	n = getxattr(m->root, "user.kvfs.pool", path, sizeof(path) - 1);
	if (n <= 0)
		return false;
	path[n] = 0;
	n = getxattr(m->root, "user.kvfs.uuid", uuid_text, sizeof(uuid_text) - 1);
	if (n <= 0)
		return false;
	uuid_text[n] = 0;
	return strcmp(path, m->pool) == 0 && !parse_uuid(uuid_text, uuid) &&
	       memcmp(uuid, m->uuid, 16) == 0 && stat(m->pool, &st) == 0 &&
	       st.st_dev == m->pool_dev && st.st_ino == m->pool_ino;
}

static bool still_mounted(struct kvp_mount *m)
{
	struct timespec ts;
	struct stat st;

	if (mount_stamp(m, &ts))
		return false;
	if (ts.tv_sec == m->mounted.tv_sec && ts.tv_nsec == m->mounted.tv_nsec)
		return stat(m->pool, &st) == 0 && st.st_dev == m->pool_dev &&
		       st.st_ino == m->pool_ino;
	/* mounted again: a daemon restarted on the same pool keeps this mapping */
	if (!same_pool(m))
		return false;
	m->mounted = ts;
	return true;
}

struct kvp_mount *kvp_mount_of(dev_t dev, int fd)
{
	struct kvp_mount *m;
	struct statfs sfs;
	int i;

	for (i = 0; i < nmounts; i++) {
		m = &mounts[i];
		if (m->dev != dev || m->state == 0)
			continue;
		if (m->state < 0)
			return NULL;
		if (still_mounted(m))
			return m;
		/* retired, never reused: served descriptors and maps may point at it */
		m->state = 0;
	}
	/* not FUSE at all: no need to remember it */
	if (fd < 0 || fstatfs(fd, &sfs) || sfs.f_type != FUSE_MAGIC || nmounts == KVP_MAX_MOUNTS)
		return NULL;
	m = &mounts[nmounts++];
	memset(m, 0, sizeof(*m));
	m->dev = dev;
	m->state = -1;
	m->pool_fd = -1;
	if (mount_root(dev, m->root, sizeof(m->root)) || mount_stamp(m, &m->mounted) ||
	    open_pool(m) || map_window(m)) {
		if (m->pool_fd >= 0)
			kvp_real.close(m->pool_fd);
		m->pool_fd = -1;
		return NULL;
	}
	m->state = 1;
	return m;
}

int kvp_file_extent(int fd, uint64_t *off, uint64_t *len)
{
	char text[512], *end;
	ssize_t n;

	n = fgetxattr(fd, "user.kvfs.extents", text, sizeof(text) - 1);
	if (n < 0)
		return errno == ERANGE ? -E2BIG : -errno;
	if (n == 0)
		return -ENODATA;
	text[n] = 0;
	if (strchr(text, ' '))
		return -E2BIG;
	errno = 0;
	*off = strtoull(text, &end, 10);
	if (errno || *end != ':')
		return -EINVAL;
	*len = strtoull(end + 1, &end, 10);
	if (errno || *end || !*len)
		return -EINVAL;
	return 0;
}

uint8_t *kvp_window_rw(struct kvp_mount *m)
{
	if (!m->win_rw && m->pool_rw)
		m->win_rw = map_data(m, PROT_READ | PROT_WRITE);
	return m->win_rw;
}

bool kvp_mount_move_fd(int from, int to)
{
	int i;

	for (i = 0; i < nmounts; i++)
		if (from >= 0 && mounts[i].pool_fd == from) {
			mounts[i].pool_fd = to;
			return true;
		}
	return false;
}

/*
 * cudaHostRegister of the CUDA runtime in the process, or NULL. Python
 * loads torch's libcudart.so.12 privately (RTLD_LOCAL), where RTLD_DEFAULT
 * does not look: ask for the loaded library by name too, never loading it.
 */
static void *cuda_host_register(void)
{
	static const char *const names[] = { "libcudart.so", "libcudart.so.13", "libcudart.so.12",
					     "libcudart.so.11.0" };
	void *fn = dlsym(RTLD_DEFAULT, "cudaHostRegister");
	size_t i;

	for (i = 0; !fn && i < sizeof(names) / sizeof(names[0]); i++) {
		void *h = dlopen(names[i], RTLD_LAZY | RTLD_NOLOAD);

		if (h) {
			fn = dlsym(h, "cudaHostRegister");
			dlclose(h); /* drops the reference NOLOAD took; it stays loaded */
		}
	}
	return fn;
}

bool kvp_cuda_loaded(void)
{
	return cuda_host_register() != NULL;
}

void kvp_cuda_register(struct kvp_mount *m, bool rw)
{
	int (*reg)(void *, size_t, unsigned);
	unsigned flags = CUDA_HOST_REGISTER_PORTABLE | CUDA_HOST_REGISTER_MAPPED;
	uint8_t *win = rw ? m->win_rw : m->win_ro;

	if (!win ||
	    __atomic_exchange_n(rw ? &m->cuda_tried_rw : &m->cuda_tried_ro, 1, __ATOMIC_ACQ_REL))
		return;
	reg = (int (*)(void *, size_t, unsigned))cuda_host_register();
	if (!reg)
		return;
	if (!rw)
		flags |= CUDA_HOST_REGISTER_READONLY;
	if (reg(win, m->data_size, flags) == 0 || rw || !m->pool_rw)
		return; /* not fatal: copies are then pageable */
	/*
	 * No read-only registration here (an older GPU or driver): read-only
	 * maps get slices of the read-write window from now on, registered
	 * instead; their pages are writable, which the program did not ask for.
	 */
	kvp_lock();
	win = kvp_window_rw(m);
	kvp_unlock();
	if (!win)
		return;
	kvp_cuda_register(m, true);
	__atomic_store_n(&m->ro_uses_rw, 1, __ATOMIC_RELEASE);
}
