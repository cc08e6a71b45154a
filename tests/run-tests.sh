#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run-tests.sh - run every kvfs test: the cmocka unit tests (no root, no
# mount), then the integration tests (each mounts a real kvfs in a temporary
# directory and unmounts it, even when it fails), then the GPU tests (they
# skip with a clear line where there is no GPU). Prints one closing line:
# "N passed, N failed". Usage: run-tests.sh [unit|integration|gpu]...
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
export KVFS_BUILD=${KVFS_BUILD:-build}
case "$KVFS_BUILD" in /*) ;; *) KVFS_BUILD="$top/$KVFS_BUILD" ;; esac
export KVFS_TOP="$top"
export KVFS_BIN="$KVFS_BUILD/kvfs"
layers=${*:-unit integration gpu}
passed=0 failed=0 skipped=0 failures=()

run_one() { # name, command...
	local name=$1 log rc
	shift
	log=$(mktemp /tmp/kvfs-test-log.XXXXXX)
	local t0=$SECONDS
	"$@" >"$log" 2>&1
	rc=$?
	if [ $rc -eq 0 ] && head -n 1 "$log" | grep -q '^SKIP'; then
		rc=77 # a test that found nothing to run on (no GPU) skipped; it did not pass
	fi
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		printf 'PASS %-40s %3ds\n' "$name" $((SECONDS - t0))
		grep -h '^SKIP' "$log" | sed 's/^/     /'
	elif [ $rc -eq 77 ]; then
		skipped=$((skipped + 1))
		printf 'SKIP %-40s %s\n' "$name" "$(grep -h '^SKIP' "$log" | head -1)"
	else
		failed=$((failed + 1))
		failures+=("$name")
		printf 'FAIL %-40s (exit %d)\n' "$name" $rc
		tail -n 40 "$log" | sed 's/^/     | /'
	fi
	rm -f "$log"
}

for layer in $layers; do
	case $layer in
	unit)
		run_one "unit/check-layers" bash "$here/check-layers.sh" --self-test
		for t in "$KVFS_BUILD"/tests/test_*; do
			[ -x "$t" ] || continue
			if [ -n "${KVFS_VALGRIND:-}" ]; then
				run_one "unit/$(basename "$t")" valgrind -q --error-exitcode=9 "$t"
			else
				run_one "unit/$(basename "$t")" "$t"
			fi
		done
		;;
	integration)
		for t in "$here"/integration/test_*.sh; do
			run_one "integration/$(basename "$t" .sh)" bash "$t"
		done
		;;
	gpu)
		if [ -x "$KVFS_BUILD/tests/gpu_test" ]; then
			run_one "gpu/gpu_test" "$KVFS_BUILD/tests/gpu_test"
		else
			echo "SKIP gpu: libkvfs_cuda not built (no nvcc at /usr/local/cuda)"
		fi
		;;
	esac
done
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
