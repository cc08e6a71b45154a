/* SPDX-License-Identifier: MIT */
/*
 * handles.h - file handles that survive a racing release. When a process
 * dies in the middle of a read or an ioctl, the kernel may send RELEASE
 * while another worker is still handling the request: a pointer in fi->fh
 * would be freed under it. A handle is a slot and a generation instead;
 * a request takes a reference for as long as it uses the object, and the
 * object is destroyed when it is closed and the last reference is gone.
 */
#ifndef KVFS_FS_HANDLES_H
#define KVFS_FS_HANDLES_H

#include <stdint.h>

typedef void (*kv_handle_destroy_fn)(void *obj);

/** kv_handle_new() - a handle for @obj. Return: 0 or -ENOMEM. Thread-safe. */
int kv_handle_new(void *obj, kv_handle_destroy_fn destroy, uint64_t *fh);
/** kv_handle_get() - the object, with a reference; NULL when closed or unknown. */
void *kv_handle_get(uint64_t fh);
/** kv_handle_put() - drop a reference taken by kv_handle_get(). */
void kv_handle_put(uint64_t fh);
/** kv_handle_close() - no new gets; destroy the object once the last reference goes. */
void kv_handle_close(uint64_t fh);

#endif /* KVFS_FS_HANDLES_H */
