#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The libkvfs fast path against a real mount (fastpath_check.c), then the
# examples that use it, then fsck of the pool after a clean unmount.
. "$(dirname "$0")/lib.sh"
kv_setup size=128M,inodes=8192
ok "fastpath_check" "$BUILD/tests/fastpath_check" "$MNT" "${KVFS_FUZZ_SECONDS:-3}"
mkdir -p "$MNT/example"
ok "examples/store_load stores, then finds the prefix from another process" \
	"$BUILD/examples/store_load" "$MNT" example
ok "a second run finds every block already stored" \
	bash -c "'$BUILD/examples/store_load' '$MNT' example | grep -q 'stored 0 of 24'"
ok "the stored blocks are files" test "$(ls "$MNT/example" | wc -l)" -eq 24
ok "examples/inspect.sh walks through them (mount and pool agree)" \
	bash -c "'$TOP/examples/inspect.sh' '$MNT' example > '$WORK/inspect.out'"
ok "inspect shows the extents xattr" grep -q 'user.kvfs.extents=' "$WORK/inspect.out"
kv_unmount
ok "fsck clean after the fast path and fuzzing" "$KVFS" fsck "$POOL"

# A daemon in a PID namespace of its own sees no caller's pid (0 in its
# requests): it cannot reach their memory, and libkvfs falls back to the
# batches of 1,000 (LOOKUPV answers EOPNOTSUPP).
POOL=/dev/shm/kvfs-it-$$-pidns.pool
unshare --pid --fork --kill-child "$KVFS" mount -f -o size=64M,inodes=4096 "$POOL" "$MNT" &
for _ in $(seq 50); do
	mountpoint -q "$MNT" && break
	sleep 0.1
done
ok "a daemon in its own PID namespace is mounted" mountpoint -q "$MNT"
ok "fastpath_check fallback" "$BUILD/tests/fastpath_check" "$MNT" fallback
kv_unmount
wait
kv_done
