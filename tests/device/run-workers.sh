#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-workers.sh - why the second fastpath_bench run on one mount reads its
# lookups 1.6x slower than the first on H200 hosts: which daemon workers
# served each run's calls, and on which CPUs, around the phases that come
# between two runs. Each step is `fastpath_bench MOUNT lookup` (the store of
# the prefix, then its lookup rows alone) followed by the daemon's threads
# that served requests in it: "tid:switches@cpu" (voluntary context switches
# during the step, each a wait for the next request; the CPU it last ran on).
#   build machine: make static
#   device tool:   run(command="bash tests/device/run-workers.sh", carry=["build-static"])
# BIN=DIR takes kvfs and the benchmarks from another static build (default build-static).
# STEPS picks the experiments (default: all of "fresh burst pin threads1 threads2 full";
# also "phases": a full run's phases one at a time, "place": the daemon and the client pinned).
top=$(pwd)
bin=$top/${BIN:-build-static}
tmp=$(mktemp -d /tmp/kvfs-workers.XXXXXX)
pool=/dev/shm/kvfs-workers.pool
m=$tmp/m
cleanup() {
	fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	sleep 0.5
	rm -rf "$tmp" "$pool"
}
trap cleanup EXIT
STEPS=${STEPS:-fresh burst pin threads1 threads2 full}
mkdir -p "$m"

mnt() { # mount options
	cleanup
	mkdir -p "$m"
	"$bin/kvfs" mount -o "size=5G,inodes=65536$1" "$pool" "$m" || exit 1
	pid=$(pgrep -f "kvfs mount.*$pool" | head -1)
	echo "-- mounted (${1:-threads=8, the default}), daemon $pid"
}
snap() {
	for t in /proc/"$pid"/task/*; do
		echo "${t##*/} $(awk '/^voluntary_ctxt_switches/{print $2}' "$t/status") $(awk '{print $39}' "$t/stat")"
	done
}
workers() { # before-snapshot after-snapshot: the threads that served
	join <(sort "$1") <(sort "$2") | awk '$4 - $2 > 20 { printf " %s:%d@%s", $1, $4 - $2, $5 } END { print "" }'
}
step() { # label, command...
	local label=$1
	shift
	snap >"$tmp/s0"
	local res
	res=$("$@" 2>&1 | tail -1)
	snap >"$tmp/s1"
	printf '%-26s %s\n   workers:%s\n' "$label" "$res" "$(workers "$tmp/s0" "$tmp/s1")"
}
lookup() { step "${1:-lookup}" timeout 120 "$bin/bench/fastpath_bench" "$m" lookup; }
burst() { # many concurrent requests through the mount: every worker started
	ls "$m/bench" | sed "s|^|$m/bench/|" | xargs -P 16 -n 32 head -qc 4096 >/dev/null
}

echo "== $bin on $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(lscpu | grep 'Model name' | sed 's/  */ /g')"
if [[ $STEPS == *fresh* || $STEPS == *burst* || $STEPS == *pin* ]]; then
	mnt ""
	for i in 1 2 3; do lookup "fresh mount $i"; done
	step "burst of opens+reads (16 at once)" burst
	for i in 1 2 3; do lookup "after the burst $i"; done
	if [[ $STEPS == *pin* ]]; then
		taskset -a -p -c 3 "$pid" >/dev/null
		for i in 1 2; do lookup "daemon pinned to cpu 3, $i"; done
		taskset -a -p -c "0-$(($(nproc) - 1))" "$pid" >/dev/null
		for i in 1 2; do lookup "unpinned again $i"; done
	fi
	echo 3 >/proc/sys/vm/drop_caches
	lookup "after drop_caches"
fi
for n in 1 2; do
	[[ $STEPS == *threads$n* ]] || continue
	mnt ",threads=$n"
	for i in 1 2; do lookup "threads=$n fresh $i"; done
	step "burst of opens+reads (16 at once)" burst
	for i in 1 2; do lookup "threads=$n after burst $i"; done
done
if [[ $STEPS == *phases* ]]; then # what a full fastpath_bench run does between lookups, a phase at a time
	mnt ""
	for i in 1 2; do lookup "phases: fresh $i"; done
	step "2,048 stat+open+getxattr x31" python3 -c '
import os, sys
d = sys.argv[1]
names = [os.path.join(d, n) for n in os.listdir(d)]
for r in range(31):
    fds = []
    for n in names:
        os.stat(n); fd = os.open(n, os.O_RDONLY); os.getxattr(fd, "user.kvfs.extents"); fds.append(fd)
    for fd in fds: os.close(fd)' "$m/bench"
	for i in 1 2; do lookup "after the opens $i"; done
	step "2,048 open+read 2 MiB x8" python3 -c '
import os, sys
d = sys.argv[1]
names = [os.path.join(d, n) for n in os.listdir(d)]
for r in range(8):
    for n in names:
        with open(n, "rb", buffering=0) as f: f.read(2 << 20)' "$m/bench"
	for i in 1 2; do lookup "after the reads $i"; done
	echo 3 >/proc/sys/vm/drop_caches
	for i in 1 2; do lookup "after drop_caches $i"; done
fi
if [[ $STEPS == *place* ]]; then # the daemon's threads on one CPU, two SMT siblings, two cores
	mnt ""
	lookup "placement: fresh"
	sib=$(cat /sys/devices/system/cpu/cpu2/topology/thread_siblings_list 2>/dev/null || echo 2)
	echo "cpus (lscpu -e): $(lscpu -e=CPU,CORE,CACHE 2>/dev/null | tail -n +2 | tr -s ' ' | tr '\n' ';')"
	for set in 2 "$sib" 2,5 2-5; do
		taskset -a -p -c "$set" "$pid" >/dev/null
		lookup "daemon on cpus $set"
		step "  client on cpu 2 too" taskset -c 2 "$bin/bench/fastpath_bench" "$m" lookup
		step "  client on cpu 9" taskset -c 9 "$bin/bench/fastpath_bench" "$m" lookup
	done
	taskset -a -p -c "0-$(($(nproc) - 1))" "$pid" >/dev/null
	lookup "unpinned"
fi
if [[ $STEPS == *full* ]]; then
	mnt ""
	for i in 1 2 3; do step "full fastpath_bench $i" bash -c "timeout 200 '$bin/bench/fastpath_bench' '$m' | grep 'kvfs_lookup (one'"; done
fi
