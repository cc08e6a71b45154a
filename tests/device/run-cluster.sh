#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-cluster.sh - cluster mode on a GPU machine (one host, so the "CXL
# pool" is one /dev/shm file and every node maps the same memory): the
# cluster bench (tests/bench/cluster_bench.sh: cross-node lookup+pin,
# commit latency, commit-to-visible, failover) on quiet cores, then the GPU
# load of a cached prefix from a follower's mapping against the same load
# from the leader's (examples/engine_load, GPU variant built here with nvcc).
# Needs build-cluster/ from tests/device/prepare-cluster.sh (carried): the
# dynamic kvfs, cluster_bench and etcd with their libraries and loader.
#   device tool: run(command="OUT=$OUT bash tests/device/run-cluster.sh", carry=["build-cluster"])
# Knobs: SKIP_BENCH=1, BLOCKS ("512 2048").
cd "$(dirname "$0")/../.." || exit 100
OUT=${OUT:-/tmp/kvfs-cluster-out}
C=$PWD/build-cluster
W=$PWD/build/cluster-device
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
CUDA_INC=$(dirname "$(dirname "$(readlink -f "$NVCC")")")/include
FLAGS="-O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -Xcompiler -fPIC -Iinclude"
failed=0
mkdir -p "$OUT" "$W/bin" "$W/bench" "$W/gpu"
exec > >(tee -a "$OUT/cluster.log") 2>&1
step() { echo; echo "== $(date +%T) $*"; }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }

# each program through the carried loader and libraries, none of this machine's
mkdir -p "$W/tests"
for p in kvfs etcd cluster_bench cluster_visible; do
	printf '#!/bin/sh\nexec %s/ld.so --library-path %s/lib %s/%s "$@"\n' "$C" "$C" "$C" "$p" \
		>"$W/bin/$p"
	chmod +x "$W/bin/$p"
done
cp "$W/bin/kvfs" "$W/kvfs"
cp "$W/bin/cluster_bench" "$W/bench/cluster_bench"
cp "$W/bin/cluster_visible" "$W/tests/cluster_visible"
export PATH=$W/bin:$PATH

step "machine"
nproc; uptime; nvidia-smi --query-gpu=name --format=csv,noheader
kvfs --help >/dev/null 2>&1 || fail "the carried kvfs does not run"
etcd --version | head -1 || fail "the carried etcd does not run"
avail_kb=$(df -k --output=avail /dev/shm | tail -1)
[ "${avail_kb:-0}" -ge $((20 * 1024 * 1024)) ] || mount -o remount,size=40G /dev/shm || fail "grow /dev/shm"

step "GPU build: libkvfs_cuda and engine_load's GPU variant"
pids=()
for f in gpu/*.cu; do
	"$NVCC" $FLAGS -c "$f" -o "$W/gpu/$(basename "$f" .cu).o" &
	pids+=($!)
done
wait "${pids[@]}" # not a bare wait: that would wait for the log's tee too
ar rcs "$W/libkvfs_cuda.a" "$W"/gpu/*.o
gcc -O2 -std=gnu11 -DKVFS_HAVE_CUDA -Iinclude -I"$CUDA_INC" -c examples/engine_load.c \
	-o "$W/engine_load.o" &&
	"$NVCC" -o "$W/engine_load_gpu" "$W/engine_load.o" "$W/libkvfs_cuda.a" -L"$C/libkvfs" \
		-lkvfs || fail "engine_load GPU build"

if [ -z "${SKIP_BENCH:-}" ]; then
	step "cluster bench (2 s leases)"
	KVFS_BUILD=$W KVFS_BIN=$W/kvfs timeout 300 bash tests/bench/cluster_bench.sh "$W" |
		tee "$OUT/cluster_bench.txt" || fail "cluster bench"
fi

step "GPU load of a cached prefix: from the leader's mapping, then from a follower's"
(
	export KVFS_BUILD=$W KVFS_TOP=$PWD KVFS_BIN=$W/kvfs
	. tests/integration/lib.sh
	. tests/integration/cluster_lib.sh
	cluster_setup 12G
	node_mount a || exit 1
	wait_for 10 role_is a leader || exit 1
	node_mount b || exit 1
	wait_for 10 role_is b follower || exit 1
	export LD_LIBRARY_PATH=$C/libkvfs
	for blocks in ${BLOCKS:-512 2048}; do
		for node in a b a b; do
			echo "-- $blocks blocks of 16 tokens (Llama-3-8B shape), node $node ($(role_of $node))"
			timeout 120 "$W/engine_load_gpu" --blocks $blocks "$WORK/$node" p$blocks || exit 1
		done
	done
) | tee "$OUT/follower_gpu.txt"
[ "${PIPESTATUS[0]}" = 0 ] || fail "follower GPU load"
echo
echo "failed steps: $failed"
exit $failed
