#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-loop-ab.sh - two static builds' daemons compared on the lookup a full
# fastpath_bench run measures, three runs on one mount (the first run on a
# mount and the ones after it differ when the daemon's request loop spreads
# one client's calls over many workers), builds alternated ROUNDS times,
# each on a fresh pool; then fs_bench of build B (its empty FUSE server on
# both request loops). Each line: the lookup medians (ms) of the three runs,
# and the daemon's share (ns a block).
#   build machine: make static; the other build copied to .carry/<name>
#   device tool:   run(command="A=.carry/<name> bash tests/device/run-loop-ab.sh",
#                      carry=["build-static", ".carry/<name>"])
top=$(pwd)
A=${A:-.carry/base-static}
B=${B:-build-static}
ROUNDS=${ROUNDS:-2}
tmp=$(mktemp -d /tmp/kvfs-loop-ab.XXXXXX)
pool=/dev/shm/kvfs-loop-ab.pool
m=$tmp/m
unmount() {
	fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	sleep 0.5
	rm -f "$pool"
}
trap 'unmount; rm -rf "$tmp"' EXIT
mkdir -p "$m"
echo "== $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); A = $A, B = $B"
for r in $(seq "$ROUNDS"); do
	for x in A B; do
		bin=$top/${!x}
		"$bin/kvfs" mount -o size=5G,inodes=65536 "$pool" "$m" || exit 1
		line="round $r $x:"
		for i in 1 2 3; do
			out=$(timeout 200 "$bin/bench/fastpath_bench" "$m")
			ms=$(echo "$out" | awk '/kvfs_lookup \(one call\)/ { print $(NF-2) }')
			ns=$(echo "$out" | awk '/in the daemon/ { print $6; exit }' | tr -d '(')
			line+=" $ms ($ns)"
		done
		echo "$line"
		unmount
	done
done
[ "${FS_BENCH:-1}" = 1 ] && timeout 300 "$top/$B/bench/fs_bench"
