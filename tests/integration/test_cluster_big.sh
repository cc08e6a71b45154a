#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_cluster_big.sh - what a leader commits is visible on a follower
# within 10 ms (median) however many files the pool holds: the follower's
# view follows the pool's change log (kvfs(7) CLUSTER), it is not built
# again from the whole inode table. A private etcd, a leader and a follower
# on one pool of 131,072 records; 60,000 blocks stored through the leader
# (build/tests/cluster_visible), then commit-to-visible timed on the follower.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

N=${KVFS_BIG_FILES:-60000}
cluster_setup 1G -i 131072
ok "a mounts and leads" node_mount a
ok "b mounts and follows" node_mount b
ok "a leads" wait_for 10 role_is a leader || grep cluster_ "$WORK/a/.kvfs/stats"
"$BUILD/tests/cluster_visible" "$WORK/a" "$WORK/b" "$N" >"$WORK/vis.out" 2>&1
rc=$?
cat "$WORK/vis.out"
ok "$N blocks stored, and the follower finds each new one" test $rc -eq 0
med=$(awk '$1 == "visible_median_ms" { print $2 }' "$WORK/vis.out")
ok "commit-to-visible median ${med:-?} ms <= 10 ms with $N files" \
	awk -v m="${med:-999}" 'BEGIN { exit !(m <= 10) }'
ok "the follower lists the $N files and the new ones" \
	test "$(ls "$WORK/b/big" | wc -l)" -ge "$N"
echo "follower: $(stat_at b cluster_follows) follows of the log, $(stat_at b cluster_refreshes) new views"
ok "the follower followed the log in place" test "$(stat_at b cluster_follows)" -gt 0
ok "stats files agree" test "$(stat_at a files)" = "$(stat_at b files)"
node_unmount b
node_unmount a
ok "fsck clean" "$KVFS" fsck "$POOL"
kv_done
