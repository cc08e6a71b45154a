#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# cluster_bench.sh - cluster mode's numbers on one machine: a private etcd
# (2 s leases), a leader and a follower mounting one pool file; runs
# build/bench/cluster_bench on the two mounts (cross-node lookup+pin of
# 2,048 blocks vs the leader, commit latency, commit-to-visible), then kills
# the leader with -9 and times until the follower leads (failover), five
# times; last, commit-to-visible again on a pool of 131,072 records holding
# BIG_FILES (120,000) blocks (build/tests/cluster_visible): it must not grow
# with the inode table. Usage: tests/bench/cluster_bench.sh [BUILD_DIR]
# (default: build)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
export KVFS_BUILD=${1:-${KVFS_BUILD:-$top/build}}
case "$KVFS_BUILD" in /*) ;; *) KVFS_BUILD="$top/$KVFS_BUILD" ;; esac
export KVFS_TOP=$top KVFS_BIN=$KVFS_BUILD/kvfs
. "$top/tests/integration/lib.sh"
. "$top/tests/integration/cluster_lib.sh"
cluster_setup 512M
node_mount a || exit 1
node_mount b || exit 1
"$BUILD/bench/cluster_bench" "$WORK/a" "$WORK/b" || exit 1

# failover: kill -9 the leader, time until another node leads; then bring it back
printf '%-56s %13s %8s\n' "failover (kill -9 of the leader, ttl ${ETCD_TTL}s)" "ms" "x ttl"
for run in 1 2 3 4 5; do
	L=$(leader_of a b) F=$([ "$(leader_of a b)" = a ] && echo b || echo a)
	t0=$(date +%s%N)
	kill -9 "$(node_pid "$L")"
	wait_for $((3 * ETCD_TTL)) role_is "$F" leader || { echo "no failover"; exit 1; }
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	printf '%-56s %13d %8.2f\n' "  run $run: $L -> $F" $ms "$(awk -v m="$ms" -v t="$ETCD_TTL" 'BEGIN { print m / (t * 1000) }')"
	node_unmount "$L"
	wait_for $((2 * ETCD_TTL + 2)) node_mount "$L" 2>/dev/null || { echo "no remount"; exit 1; }
done

# commit-to-visible on a large inode table
node_unmount a
node_unmount b
"$KVFS" mkfs -f -s 1G -i 131072 "$POOL" >/dev/null || exit 1
node_mount a || exit 1
wait_for 5 role_is a leader || exit 1
node_mount b || exit 1
"$BUILD/tests/cluster_visible" "$WORK/a" "$WORK/b" "${BIG_FILES:-120000}" | grep -v '^visible_median'
