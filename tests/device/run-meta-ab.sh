#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-meta-ab.sh - an A/B of static builds in one device call: the H200
# hosts of the kind differ by 2x and more between calls, so only rounds
# interleaved on one host compare. For each build dir given (each a
# `make static` output, its bench/ beside its kvfs), ROUNDS rounds of
# fastpath_bench's lookup rows, the builds alternated, then mm_bench's
# fast-path rows of each.
#   build machine: make static; at the old commit (a worktree) make static
#                  and copy its build-static/ to .carry/old (ignored)
#   device tool:   run(command="bash tests/device/run-meta-ab.sh .carry/old build-static",
#                      carry=[".carry/old", "build-static"])
ROUNDS=${ROUNDS:-3}
T=${BENCH_TIMEOUT:-200}
top=$(pwd)
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
	for b in "$@"; do
		echo "== $b, round $r"
		(cd "$top/$b/bench" && timeout "$T" ./fastpath_bench | grep -A1 "kvfs_lookup")
	done
done
for b in "$@"; do
	echo "== $b: mm_bench"
	(cd "$top/$b/bench" && timeout "$T" ./mm_bench | tail -5)
done
