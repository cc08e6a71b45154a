#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-e2e.sh - the end-to-end run on a GPU machine: mount a kvfs pool on
# /dev/shm with the static kvfs carried from the build machine, build
# libkvfs_cuda, gpu_bench and engine_load's GPU variant with nvcc there,
# then run, each step bounded and the next one run whatever happens:
#   1. examples/python/prefix_reuse.py in smoke mode (2 layers, P = 512);
#   2. examples/engine_load, CPU variant and GPU variant;
#   3. tests/bench/gpu_bench --mount <kvfs dir> (its kvfs-mount file row);
#   4. examples/python/prefix_reuse.py for P = 2k, 8k, 32k (Llama-3-8B shape);
#   5. tests/bench/preload_gpu.py with and without `kvfs run` (mmap'd blocks to HBM);
#   6. prefix_reuse.py's file-read path with its files on the mount, under `kvfs run`;
# and unmount and fsck the pool. Meant for a machine with CUDA, python3 with
# torch and transformers, root and FUSE, but no libfuse3, libxxhash or
# package registry: what kvfs needs comes from `tests/device/prepare.sh`
# run on the build machine (build-static/, carried). Logs and tables go to
# $OUT (default /tmp/kvfs-e2e-out); everything printed is also in
# $OUT/e2e.log. Exit status: the number of failed steps.
#
#   build machine:  tests/device/prepare.sh
#   device tool:    run(command="bash tests/device/run-e2e.sh", carry=["build-static"])
# Knobs: SIZES (2048,8192,32768), LAYERS (32), POOL_SIZE (10G), SKIP_BENCH=1,
# SHM_NEED_GB (28: below that much free, /dev/shm is remounted at 40G).

cd "$(dirname "$0")/../.." || exit 100
OUT=${OUT:-/tmp/kvfs-e2e-out}
S=${KVFS_STATIC:-build-static}
B=${B:-build/e2e-device}
MNT=${MNT:-/tmp/kvfs-e2e-mnt}
POOL=${POOL:-/dev/shm/kvfs-e2e.pool}
POOL_SIZE=${POOL_SIZE:-10G}
SIZES=${SIZES:-2048,8192,32768}
LAYERS=${LAYERS:-32}
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
CUDA_INC=$(dirname "$(dirname "$(readlink -f "$NVCC")")")/include
FLAGS="-O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 -Xcompiler -fPIC -Iinclude"
failed=0
mkdir -p "$OUT" "$B/gpu" "$MNT"
exec > >(tee -a "$OUT/e2e.log") 2>&1
step() { echo; echo "== $(date +%T) $*"; }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,pcie.link.gen.current,pcie.link.width.current --format=csv
"$NVCC" --version | tail -1
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
nproc; free -g | head -2
ls -l /dev/fuse || { modprobe fuse 2>/dev/null; ls -l /dev/fuse; }
for f in kvfs libkvfs.so examples/engine_load; do
	[ -e "$S/$f" ] || fail "$S/$f missing (run tests/device/prepare.sh and carry $S)"
done
# room on /dev/shm: the pool, the file path's block files (4 GiB at 32k),
# gpu_bench's 4 GiB pool and 512 MiB of files
avail_kb=$(df -k --output=avail /dev/shm | tail -1)
if [ "${avail_kb:-0}" -lt $((${SHM_NEED_GB:-28} * 1024 * 1024)) ]; then
	mount -o remount,size=40G /dev/shm || fail "grow /dev/shm"
fi
df -h /dev/shm | tail -1

step "build with nvcc (in the background): libkvfs_cuda, gpu_bench, engine_load GPU variant"
cp "$S/kvfs" "$S/libkvfs.so" "$B/"
cp "$S/libkvfs_preload.so" "$B/" 2>/dev/null || true # for `kvfs run`, next to kvfs
ln -sf libkvfs.so "$B/libkvfs.so.1" # its soname, what programs linked with -lkvfs load
export LD_LIBRARY_PATH="$PWD/$B${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export KVFS_LIB_DIR="$PWD/$B"
(
	t0=$(date +%s)
	for f in gpu/*.cu; do
		"$NVCC" $FLAGS -c "$f" -o "$B/gpu/$(basename "$f" .cu).o" &
	done
	wait
	rm -f "$B/libkvfs_cuda.a" && ar rcs "$B/libkvfs_cuda.a" "$B"/gpu/*.o
	"$NVCC" $FLAGS -shared -Xlinker -soname,libkvfs_cuda.so.1 \
		-Xlinker --version-script=gpu/libkvfs_cuda.map -o "$B/libkvfs_cuda.so" "$B"/gpu/*.o &
	"$NVCC" $FLAGS -o "$B/gpu_bench" tests/bench/gpu_bench.cu "$B/libkvfs_cuda.a" &
	gcc -O2 -std=gnu11 -Wall -DKVFS_HAVE_CUDA -Iinclude -I"$CUDA_INC" \
		-c examples/engine_load.c -o "$B/engine_load.o" &&
		"$NVCC" -o "$B/engine_load_gpu" "$B/engine_load.o" "$B/libkvfs_cuda.a" \
			-L"$B" -lkvfs -Xlinker -rpath-link="$B" &
	wait
	echo "built in $(($(date +%s) - t0)) s"
) > "$OUT/build.log" 2>&1 &
build_pid=$!

step "mount a $POOL_SIZE kvfs pool on $MNT"
rm -f "$POOL"
t0=$(date +%s%N)
if "$B/kvfs" mount -o "size=$POOL_SIZE" "$POOL" "$MNT"; then
	echo "mounted in $((($(date +%s%N) - t0) / 1000000)) ms"
	mountpoint "$MNT"; df -h "$MNT" | tail -1
else
	fail "kvfs mount"
fi

wait $build_pid
cat "$OUT/build.log"
for f in libkvfs_cuda.so gpu_bench engine_load_gpu; do
	[ -e "$B/$f" ] || fail "build of $f"
done

step "1. prefix_reuse.py smoke: 2 layers, P = 512"
PYTHONUNBUFFERED=1 timeout 150 python3 examples/python/prefix_reuse.py --mount "$MNT" \
	--layers 2 --sizes 512 --reps 1 --json "$OUT/smoke.json" || fail "prefix_reuse smoke"

step "2. engine_load: CPU variant (as CI runs it), then the GPU variant"
mkdir -p "$MNT/engine"
timeout 60 "$S/examples/engine_load" "$MNT" engine || fail "engine_load CPU variant"
timeout 60 "$B/engine_load_gpu" "$MNT" engine || fail "engine_load GPU variant"
timeout 60 "$B/engine_load_gpu" --block-tokens 256 --blocks 32 "$MNT" engine256 ||
	fail "engine_load GPU variant, 256-token blocks"
rm -rf "$MNT/engine256" # 1 GiB the next steps may want

if [ -z "${SKIP_BENCH:-}" ]; then
	step "3. gpu_bench --mount $MNT (the kvfs-mount file row)"
	KVFS_CUDA_DEBUG=1 timeout 180 "$B/gpu_bench" --mount "$MNT" > "$OUT/bench.log" 2>&1 ||
		fail "gpu_bench"
	cat "$OUT/bench.log"
fi

step "4. prefix_reuse.py: Llama-3-8B shape ($LAYERS layers), P = $SIZES"
PYTHONUNBUFFERED=1 timeout 330 python3 examples/python/prefix_reuse.py --mount "$MNT" \
	--layers "$LAYERS" --sizes "$SIZES" --json "$OUT/prefix_reuse.json" \
	--table "$OUT/prefix_reuse.txt" || fail "prefix_reuse"

if [ -z "${SKIP_PRELOAD:-}" ]; then
	step "5. kvfs run: unmodified torch reads of block files (preload_gpu.py), with and without the library"
	timeout 120 python3 tests/bench/preload_gpu.py "$MNT" 256 > "$OUT/preload_gpu_plain.txt" 2>&1 ||
		fail "preload_gpu.py without kvfs run"
	cat "$OUT/preload_gpu_plain.txt"
	timeout 120 "$B/kvfs" run -m "$MNT" -- python3 tests/bench/preload_gpu.py "$MNT" 256 \
		> "$OUT/preload_gpu_run.txt" 2>&1 || fail "preload_gpu.py under kvfs run"
	cat "$OUT/preload_gpu_run.txt"
	step "6. prefix_reuse.py file-read path with its block files on the mount, under kvfs run, P = ${PRELOAD_SIZES:-32768}"
	mkdir -p "$MNT/prefix-files"
	PYTHONUNBUFFERED=1 timeout 240 "$B/kvfs" run -m "$MNT" -- python3 examples/python/prefix_reuse.py \
		--mount "$MNT" --files-dir "$MNT/prefix-files" --layers "$LAYERS" \
		--sizes "${PRELOAD_SIZES:-32768}" --json "$OUT/prefix_reuse_run.json" \
		--table "$OUT/prefix_reuse_run.txt" || fail "prefix_reuse under kvfs run"
	rm -rf "$MNT/prefix-files"
fi

step "unmount, fsck"
"$B/kvfs" stat "$MNT" 2>&1 | head -5
umount "$MNT" || umount -l "$MNT" || fail "umount"
for _ in $(seq 100); do
	pgrep -f "kvfs mount.*$POOL" > /dev/null || break
	sleep 0.1
done
"$B/kvfs" fsck "$POOL" || fail "fsck after the run"
rm -f "$POOL"

step "summary"
[ -e "$OUT/prefix_reuse.txt" ] && cat "$OUT/prefix_reuse.txt"
[ -e "$OUT/prefix_reuse_run.txt" ] && cat "$OUT/prefix_reuse_run.txt"
grep -E "^\| read\(\)/write\(\) block files" "$OUT/bench.log" 2>/dev/null
echo "failed steps: $failed"
exit $failed
