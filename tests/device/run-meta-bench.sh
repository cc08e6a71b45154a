#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-meta-bench.sh - the metadata benchmarks (fastpath_bench, mm_bench,
# fs_bench) on the quiet GPU machine, from the static build carried there:
#   build machine:  tests/device/prepare.sh   (make static: kvfs + benchmarks)
#   device tool:    run(command="OUT=$OUT bash tests/device/run-meta-bench.sh",
#                       carry=["build-static"])
# Each table goes to $OUT/<bench>.txt (default /tmp/kvfs-meta-out) and is
# printed; each bench is bounded (BENCH_TIMEOUT seconds, default 240).
# Exit status: the number of benchmarks that failed.
cd "$(dirname "$0")/../../build-static/bench" || exit 100
OUT=${OUT:-/tmp/kvfs-meta-out}
T=${BENCH_TIMEOUT:-240}
failed=0
mkdir -p "$OUT"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for b in fastpath_bench mm_bench fs_bench; do
	echo "== $b"
	timeout "$T" "./$b" >"$OUT/$b.txt" 2>&1 || { echo "$b failed (exit $?)"; failed=$((failed + 1)); }
	cat "$OUT/$b.txt"
done
exit $failed
