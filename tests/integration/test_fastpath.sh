#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The libkvfs fast path against a real mount (fastpath_check.c), then the
# examples that use it, then fsck of the pool after a clean unmount.
. "$(dirname "$0")/lib.sh"
kv_setup size=128M,inodes=8192
ok "fastpath_check" "$BUILD/tests/fastpath_check" "$MNT" "${KVFS_FUZZ_SECONDS:-3}"

# A LOOKUPV whose hashes lie on pages of another FUSE mount whose daemon is
# stopped: the workers that copy them wait; no more than a quarter of them
# may, and the mount keeps serving (fastpath_check stall).
SMNT=$WORK/stuck
SPOOL=/dev/shm/kvfs-it-$$-stuck.pool
mkdir -p "$SMNT"
stuck_cleanup() {
	pkill -CONT -f "$SPOOL" 2>/dev/null
	kv_unmount "$SMNT"
	kv_cleanup
}
trap stuck_cleanup EXIT
"$KVFS" mount -o size=64M,inodes=1024 "$SPOOL" "$SMNT"
truncate -s 192K "$SMNT/pages"
SPID=$(pgrep -f "mount.*$SPOOL" | head -n 1)
ok "the other mount and its daemon" test -n "$SPID" -a -f "$SMNT/pages"
ok "fastpath_check stall" timeout 60 "$BUILD/tests/fastpath_check" "$MNT" stall "$SMNT/pages" "${SPID:-0}"
pkill -CONT -f "$SPOOL" 2>/dev/null
kv_unmount "$SMNT"
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
