#!/bin/bash
# SPDX-License-Identifier: MIT
#
# test_remount.sh - `umount && mount` of the same pool just works: a new
# mount waits (bounded, with a message) for the old daemon that is letting
# go of the pool, and still refuses at once a pool that a live mount serves.
. "$(dirname "$0")/lib.sh"

kv_setup "size=1G"
echo kept >"$MNT/kept"
dd if=/dev/zero of="$MNT/big" bs=1M count=512 status=none

# 1. ten times: unmount and mount again at once (no waiting in between)
fails=0
for i in $(seq 10); do
	fusermount3 -u "$MNT" || umount "$MNT"
	if ! "$KVFS" mount -o size=1G "$POOL" "$MNT" 2>"$WORK/mount.err"; then
		fails=$((fails + 1))
		cat "$WORK/mount.err"
	fi
done
ok "10 of 10 remounts right after an unmount succeed" [ "$fails" -eq 0 ]
ok "the files are still there" grep -qx kept "$MNT/kept"
ok "and their sizes" [ "$(stat -c %s "$MNT/big")" -eq $((512 << 20)) ]

# 2. a live mount is refused, and at once (well under the 5 s wait)
mkdir -p "$WORK/mnt2"
t0=$(date +%s%N)
expect_fail "a second mount of a served pool is refused" \
	"$KVFS" mount -o size=1G "$POOL" "$WORK/mnt2"
t1=$(date +%s%N)
ok "the refusal takes under 2 s" [ $(((t1 - t0) / 1000000)) -lt 2000 ]
"$KVFS" mount -o size=1G "$POOL" "$WORK/mnt2" 2>"$WORK/mount.err"
ok "it says the pool is in use" grep -q "in use by another kvfs process" "$WORK/mount.err"
ok "the first mount still serves" grep -qx kept "$MNT/kept"
mountpoint -q "$WORK/mnt2" && fusermount3 -u "$WORK/mnt2"

kv_done
