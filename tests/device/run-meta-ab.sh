#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-meta-ab.sh - an A/B of static builds in one device call: the H200
# hosts of the kind differ by 2x and more between calls, and one host's
# memory speed drifts within a call, so the daemons are compared by
# lookup_ab, which alternates its calls between two mounts one by one.
# The first build given is A; each later one is mounted beside it and is B,
# ROUNDS times. Then mm_bench's fast-path rows of each build, one after
# the other (in-process: no daemon to alternate with; MM=0 leaves them out).
#   build machine: make static; at the old commit (a worktree) make static
#                  and copy its build-static/ to .carry/old (ignored)
#   device tool:   run(command="bash tests/device/run-meta-ab.sh .carry/old build-static",
#                      carry=[".carry/old", "build-static"])
ROUNDS=${ROUNDS:-3}
T=${BENCH_TIMEOUT:-200}
top=$(pwd)
tmp=$(mktemp -d /tmp/kvfs-ab.XXXXXX)
cleanup() {
	for m in "$tmp"/m*; do fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
	rm -rf "$tmp" /dev/shm/kvfs-ab.*.pool
}
trap cleanup EXIT
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
i=0
for b in "$@"; do
	mkdir -p "$tmp/m$i"
	"$top/$b/kvfs" mkfs -s 1G "/dev/shm/kvfs-ab.$i.pool" >/dev/null &&
		"$top/$b/kvfs" mount "/dev/shm/kvfs-ab.$i.pool" "$tmp/m$i" || exit 1
	i=$((i + 1))
done
builds=("$@")
ab=$top/${AB_BIN:-build-static/bench/lookup_ab}
for r in $(seq "$ROUNDS"); do
	for ((k = 1; k < i; k++)); do
		echo "== A ${builds[0]}, B ${builds[k]}, round $r"
		timeout "$T" "$ab" "$tmp/m0" "$tmp/m$k" | tail -2
	done
done
for b in "$@"; do
	[ "${MM:-1}" = 0 ] && break
	echo "== $b: mm_bench"
	(cd "$top/$b/bench" && timeout "$T" ./mm_bench | tail -2)
done
