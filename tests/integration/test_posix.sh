#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_posix.sh - run the C client build/tests/posix_check against a fresh
# mount: what engines that keep KV in files do (O_EXCL temp file, pwritev,
# atomic rename, O_DIRECT readv, fallocate, ftruncate, unlink while open,
# scandir, mmap, utimensat) and the errno POSIX names for bad input. Then
# the pool must still be consistent: unmount and fsck it.
. "$(dirname "$0")/lib.sh"

CHECK=$BUILD/tests/posix_check
if [ ! -x "$CHECK" ]; then
	echo "FATAL: $CHECK is not built (make $CHECK)"
	exit 1
fi

kv_setup size=256M

out=$("$CHECK" "$MNT" 2>&1)
rc=$?
# print what failed and the count; the full list is long
grep -v '^ok - ' <<<"$out"
ok "posix_check passes every check (exit $rc)" test $rc -eq 0
ok "posix_check ran its checks" grep -q '^[1-9][0-9]* passed, 0 failed$' <<<"$out"
ok "nothing is left in the mount" test -z "$(ls -A "$MNT" | grep -vx '.kvfs')"
ok "no file is held after the client exits" eventually stat_is held_files 0
ok "use is back to zero" eventually stat_is used_bytes 0
kv_unmount
ok "fsck is clean after the run" "$KVFS" fsck "$POOL"
kv_done
