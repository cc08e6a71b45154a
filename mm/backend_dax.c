// SPDX-License-Identifier: MIT
/*
 * backend_dax.c - pools on CXL memory exposed as device-DAX character
 * devices (/dev/daxX.Y), and "dax:auto" discovery. The only file that calls
 * libdaxctl. Device-DAX maps must be MAP_SHARED, cover whole multiples of
 * the device's alignment (2 MiB usually) and start at an aligned address.
 * Enumeration goes through a replaceable function so that the logic above
 * libdaxctl is tested on machines without DAX hardware.
 */
#include "backend.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef KVFS_NO_DAXCTL
#include <daxctl/libdaxctl.h>
#endif

#define KV_DAX_MAX_DEVS 64

#ifndef KVFS_NO_DAXCTL
static int daxctl_enumerate(struct kv_dax_dev *devs, int max, void *arg)
{
	struct daxctl_region *region;
	struct daxctl_dev *dev;
	struct daxctl_ctx *ctx;
	int n = 0, rc;

	rc = daxctl_new(&ctx);
	if (rc < 0)
		return rc;
	daxctl_region_foreach (ctx, region) {
		daxctl_dev_foreach (region, dev) {
			struct kv_dax_dev *d;

			if (n == max)
				break;
			d = &devs[n++];
			memset(d, 0, sizeof(*d));
			snprintf(d->name, sizeof(d->name), "%s", daxctl_dev_get_devname(dev));
			d->size = daxctl_dev_get_size(dev);
			d->align = daxctl_dev_get_align(dev);
			d->numa_node = daxctl_dev_get_target_node(dev);
			if (!daxctl_dev_is_enabled(dev))
				d->mode = KV_DAX_DISABLED;
			else if (daxctl_dev_get_memory(dev) && daxctl_dev_has_online_memory(dev))
				d->mode = KV_DAX_SYSTEM_RAM;
			else
				d->mode = KV_DAX_DEVDAX;
		}
	}
	daxctl_unref(ctx);
	return n;
}
#else
static int daxctl_enumerate(struct kv_dax_dev *devs, int max, void *arg)
{
	kv_log(KV_LOG_ERR, "this kvfs was built without libdaxctl; "
			   "build it with libdaxctl-dev installed, or use a file pool");
	return -ENOTSUP;
}
#endif

static kv_dax_enum_fn dax_enum = daxctl_enumerate;
static void *dax_enum_arg;

void kv_dax_set_enumerator(kv_dax_enum_fn fn, void *arg)
{
	dax_enum = fn ? fn : daxctl_enumerate;
	dax_enum_arg = fn ? arg : NULL;
}

static const char *mode_name(enum kv_dax_mode m)
{
	return m == KV_DAX_DEVDAX ? "devdax" : m == KV_DAX_SYSTEM_RAM ? "system-ram" : "disabled";
}

int kv_dax_resolve(const char *path, struct kv_dax_dev *out)
{
	struct kv_dax_dev devs[KV_DAX_MAX_DEVS];
	const char *want = NULL;
	int n, i;

	if (strcmp(path, "dax:auto") == 0)
		want = NULL;
	else if (strncmp(path, "/dev/", 5) == 0)
		want = path + 5;
	else if (strncmp(path, "dax:", 4) == 0)
		want = path + 4;
	n = dax_enum(devs, KV_DAX_MAX_DEVS, dax_enum_arg);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		if (want && strcmp(devs[i].name, want) != 0)
			continue;
		if (devs[i].mode == KV_DAX_DEVDAX) {
			*out = devs[i];
			return 0;
		}
		if (want)
			break;
	}
	if (want && i == n) {
		kv_log(
		    KV_LOG_ERR,
		    "%s: libdaxctl knows no such device-DAX device; "
		    "list them with 'daxctl list', or use a file pool such as /dev/shm/kvfs.pool",
		    path);
		return -ENODEV;
	}
	if (want || n > 0) {
		/* A named device in the wrong mode, or auto found none in devdax mode. */
		const struct kv_dax_dev *d = want ? &devs[i] : &devs[0];

		if (d->mode == KV_DAX_SYSTEM_RAM)
			kv_log(KV_LOG_ERR,
			       "%s: %s is in system-ram mode (NUMA node %d); switch it with "
			       "'daxctl reconfigure-device --mode=devdax %s', or use it as memory: "
			       "a file pool with -o numa=%d",
			       path, d->name, d->numa_node, d->name, d->numa_node);
		else
			kv_log(KV_LOG_ERR,
			       "%s: %s is %s; enable it with "
			       "'daxctl reconfigure-device --mode=devdax %s'",
			       path, d->name, mode_name(d->mode), d->name);
		return -ENOTSUP;
	}
	kv_log(KV_LOG_ERR,
	       "%s: no device-DAX device found (libdaxctl saw none); create one with "
	       "'daxctl reconfigure-device --mode=devdax', or use a file pool such as "
	       "/dev/shm/kvfs.pool with -o size=",
	       path);
	return -ENODEV;
}

static int dax_open(struct kv_backend *be, const char *path, const struct kv_backend_opts *o)
{
	struct kv_dax_dev dev;
	char node[64];
	int rc;

	rc = kv_dax_resolve(path, &dev);
	if (rc)
		return rc;
	snprintf(node, sizeof(node), "/dev/%s", dev.name);
	snprintf(be->path, sizeof(be->path), "%s", node);
	be->fd = open(node, (o->readonly && !o->shared ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (be->fd < 0) {
		rc = -errno;
		kv_log(KV_LOG_ERR, "cannot open %s: %s", node, strerror(-rc));
		return rc;
	}
	rc = kv_backend_lock(be, o->readonly || o->shared); /* cluster: shared */
	if (rc) {
		close(be->fd);
		be->fd = -1;
		return rc;
	}
	be->align = dev.align ? dev.align : (2u << 20);
	be->size = dev.size / be->align * be->align;
	if (o->numa_node >= 0)
		kv_log(KV_LOG_WARNING, "numa= is ignored for device-DAX pools (%s is node %d)",
		       node, dev.numa_node);
	return 0;
}

static int dax_map(struct kv_backend *be, const struct kv_backend_opts *o)
{
	/* cluster views map read-write: a lookup stores the file's recency */
	int prot = PROT_READ | (o->readonly && !o->shared ? 0 : PROT_WRITE);
	uint8_t *area, *aligned;
	uint64_t slack;
	int rc;

	/* Reserve size + align of address space, then map the device at an aligned spot. */
	area = mmap(NULL, be->size + be->align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return -errno;
	aligned = (uint8_t *)(((uintptr_t)area + be->align - 1) & ~(uintptr_t)(be->align - 1));
	be->base = mmap(aligned, be->size, prot, MAP_SHARED | MAP_FIXED, be->fd, 0);
	if (be->base == MAP_FAILED) {
		rc = -errno;
		munmap(area, be->size + be->align);
		be->base = NULL;
		kv_log(KV_LOG_ERR, "cannot map %s: %s", be->path, strerror(-rc));
		return rc;
	}
	slack = (uint64_t)(aligned - area);
	if (slack)
		munmap(area, slack);
	munmap(aligned + be->size, be->align - slack);
	return 0;
}

static void dax_close(struct kv_backend *be)
{
	kv_backend_file_ops.close(be); /* unmap and close: nothing device-specific */
}

const struct kv_backend_ops kv_backend_dax_ops = {
	.name = "devdax",
	.open = dax_open,
	.map = dax_map,
	.close = dax_close,
};
