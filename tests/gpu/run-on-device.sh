#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-on-device.sh - build libkvfs_cuda, its GPU test and its benchmark with
# nvcc alone and run all three, plus the Python binding's self-test. Meant
# for a GPU machine that has CUDA and python3/torch but no libfuse3, xxhash
# or make targets of the daemon: nothing here needs them. Logs go to $OUT
# (default /tmp/kvfs-gpu-out). Arguments go to gpu_bench (e.g. --mount DIR).
# KVFS_GPU_SANITIZE=1 also runs the test under compute-sanitizer memcheck.
# Exit status: the number of failed steps.

cd "$(dirname "$0")/../.." || exit 100
OUT=${OUT:-/tmp/kvfs-gpu-out}
B=${B:-build/gpu-device}
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
FLAGS="-O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 -Xcompiler -fPIC -Iinclude"
failed=0
step() { echo "== $*"; }

mkdir -p "$B/gpu" "$OUT"
step "machine"
nvidia-smi --query-gpu=index,name,pcie.link.gen.current,pcie.link.gen.max,pcie.link.width.current,driver_version,clocks.sm,clocks.mem --format=csv 2>&1 | tee "$OUT/gpu.txt"
"$NVCC" --version | tail -2
df -h /dev/shm
# the benchmark's pool is 4 GiB in /dev/shm: make room where /dev/shm is small
avail_kb=$(df -k --output=avail /dev/shm | tail -1)
if [ "${avail_kb:-0}" -lt $((8 * 1024 * 1024)) ]; then
	mount -o remount,size=12G /dev/shm && df -h /dev/shm
fi

step "build"
t0=$(date +%s)
for f in gpu/*.cu; do
	"$NVCC" $FLAGS -c "$f" -o "$B/gpu/$(basename "$f" .cu).o" &
done
wait
rm -f "$B/libkvfs_cuda.a" && ar rcs "$B/libkvfs_cuda.a" "$B"/gpu/*.o || failed=$((failed + 1))
"$NVCC" $FLAGS -shared -Xlinker -soname,libkvfs_cuda.so.1 \
	-Xlinker --version-script=gpu/libkvfs_cuda.map -o "$B/libkvfs_cuda.so" "$B"/gpu/*.o &
"$NVCC" $FLAGS -o "$B/gpu_test" tests/gpu/test_gpu.cu "$B/libkvfs_cuda.a" &
"$NVCC" $FLAGS -o "$B/gpu_bench" tests/bench/gpu_bench.cu "$B/libkvfs_cuda.a" &
wait
for f in libkvfs_cuda.so gpu_test gpu_bench; do
	[ -e "$B/$f" ] || { echo "build of $f failed"; failed=$((failed + 1)); }
done
echo "built in $(($(date +%s) - t0)) s"
cuobjdump -sass "$B/gpu/copy_kernel.o" > "$OUT/copy_kernel.sass" 2>&1
echo "SASS: $(grep -c 'LDG.E.EF.128\|LDG.E.128' "$OUT/copy_kernel.sass") 16-byte loads," \
	"$(grep -c 'STG.E.EF.128\|STG.E.128' "$OUT/copy_kernel.sass") 16-byte stores," \
	"$(grep -c 'LDL\|STL' "$OUT/copy_kernel.sass") local-memory accesses"

step "test"
KVFS_CUDA_DEBUG=1 timeout 300 "$B/gpu_test" 2>&1 | tee "$OUT/test.log"
[ "${PIPESTATUS[0]}" = 0 ] || failed=$((failed + 1))

step "bench"
KVFS_CUDA_DEBUG=1 timeout 300 "$B/gpu_bench" "$@" 2>&1 | tee "$OUT/bench.log"
[ "${PIPESTATUS[0]}" = 0 ] || failed=$((failed + 1))

step "python binding"
KVFS_LIB_DIR=$B PYTHONUNBUFFERED=1 timeout 200 python3 examples/python/kvfs.py selftest 2>&1 | tee "$OUT/python.log"
[ "${PIPESTATUS[0]}" = 0 ] || failed=$((failed + 1))

# opt-in: the test again under compute-sanitizer memcheck (slow; bounded)
if [ -n "${KVFS_GPU_SANITIZE:-}" ]; then
	step "compute-sanitizer memcheck"
	KVFS_CUDA_METHOD=kernel timeout "${KVFS_GPU_SANITIZE_TIMEOUT:-180}" \
		compute-sanitizer --tool memcheck --leak-check no "$B/gpu_test" \
		> "$OUT/memcheck.log" 2>&1
	echo "memcheck exit status $? (124: stopped at the time limit)"
	grep -E "ERROR SUMMARY|passed|Invalid|out of bounds" "$OUT/memcheck.log" | head -20
fi

step "summary"
grep -E "passed|SKIP" "$OUT/test.log" "$OUT/python.log"
echo "failed steps: $failed"
exit $failed
