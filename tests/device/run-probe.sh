#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-probe.sh - why one H200 host of the kind runs kvfs_lookup in half the
# time of another, and why `ls -l` of 100k files is slower there than here:
#   1. what the host is: CPUs, idle driver, memory;
#   2. lookup_ab (one pool, compared with itself) with the machine idle and
#      with every core kept busy by SCHED_IDLE spinners, which run only when
#      nothing else would and keep the virtual CPUs from halting between
#      calls, alternated ROUNDS times;
#   3. ls -l and du -s of 100k files on kvfs twice each, with the daemon's
#      lookups counted (kvfs_hits_total): each a name the kernel had to ask
#      for again; the xattr calls `ls -l` makes (xattr_count.c, built here
#      with the host's gcc), and ls -l with listxattr answered ENOTSUP by
#      the shim (what kvfs without listxattr would cost).
# PROBE="host lookup ls" (the default) picks the parts.
#   build machine: make static
#   device tool:   run(command="bash tests/device/run-probe.sh", carry=["build-static"])
ROUNDS=${ROUNDS:-3}
top=$(pwd)
bin=$top/build-static
tmp=$(mktemp -d /tmp/kvfs-probe.XXXXXX)
spin=()
stop_spin() {
	[ ${#spin[@]} -gt 0 ] && kill "${spin[@]}" 2>/dev/null
	wait "${spin[@]}" 2>/dev/null
	spin=()
}
cleanup() {
	stop_spin
	fusermount3 -u "$tmp/m" 2>/dev/null || umount -l "$tmp/m" 2>/dev/null
	rm -rf "$tmp" /dev/shm/kvfs-probe.pool /dev/shm/kvfs-probe-many
}
trap cleanup EXIT

PROBE=${PROBE:-host lookup ls}
echo "== host"
echo "cores $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg), $(grep MemTotal /proc/meminfo)"
lscpu | grep -E 'Model name|Socket|NUMA node|Thread|Core|MHz|Hypervisor' | sed 's/  */ /g'
for f in current_driver current_governor; do
	echo "cpuidle $f: $(cat /sys/devices/system/cpu/cpuidle/$f 2>/dev/null || echo none)"
done
echo "cpufreq governor: $(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null || echo none)"

echo "ls: $(ls --version | head -1); $(grep PRETTY_NAME /etc/os-release 2>/dev/null)"
[[ $PROBE == *lookup* ]] && echo "== kvfs_lookup of 2,048 blocks (lookup_ab against itself): idle / every core spinning at SCHED_IDLE"
[[ $PROBE == *lookup* ]] && for r in $(seq "$ROUNDS"); do
	echo "-- round $r, idle"
	timeout 120 "$bin/bench/lookup_ab" | tail -2
	for c in $(seq "$(nproc)"); do
		python3 -c 'import os
os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
while True: pass' &
		spin+=($!)
	done
	sleep 0.5
	echo "-- round $r, spinners"
	timeout 120 "$bin/bench/lookup_ab" | tail -2
	stop_spin
done

[[ $PROBE == *ls* ]] || exit 0
echo "== ls -l and du -s of 100k files: seconds, and names the daemon was asked for (hits)"
mkdir -p "$tmp/m"
"$bin/kvfs" mount -o size=3G,inodes=262144 /dev/shm/kvfs-probe.pool "$tmp/m" || exit 1
hits() { grep '^kvfs_hits_total' "$tmp/m/.kvfs/metrics" | cut -d' ' -f2; }
python3 - "$tmp/m/many" /dev/shm/kvfs-probe-many <<'EOF'
import os, sys
for d in sys.argv[1:]:
    os.mkdir(d)
    for i in range(100000):
        os.close(os.open("%s/%08x%024d" % (d, (i * 2654435761) & 0xffffffff, i), os.O_CREAT | os.O_WRONLY, 0o644))
EOF
grep -E 'MemTotal|MemFree' /proc/meminfo | tr '\n' ' '; echo "dentry-state: $(cat /proc/sys/fs/dentry-state)"
for t in "ls -l" "ls -l" "du -s" "du -s"; do
	h0=$(hits); s=$(date +%s.%N)
	$t "$tmp/m/many" >/dev/null
	e=$(date +%s.%N); h1=$(hits)
	s2=$(date +%s.%N); $t /dev/shm/kvfs-probe-many >/dev/null; e2=$(date +%s.%N)
	echo "$t: kvfs $(awk "BEGIN{print $e - $s}") s ($((h1 - h0)) lookups), tmpfs $(awk "BEGIN{print $e2 - $s2}") s"
done
echo "dentry-state: $(cat /proc/sys/fs/dentry-state)"
shim=$tmp/xattr_count.so
if gcc -shared -fPIC -O2 -o "$shim" "$top/tests/device/xattr_count.c" -ldl; then
	for d in "$tmp/m/many" /dev/shm/kvfs-probe-many; do
		rm -f "$tmp/xlog"
		XATTR_COUNT_LOG=$tmp/xlog LD_PRELOAD=$shim ls -l "$d" >/dev/null
		echo "ls -l $d: $(cat "$tmp/xlog")"
	done
	for r in 1 2; do
		s=$(date +%s.%N)
		XATTR_NOLIST=1 LD_PRELOAD=$shim ls -l "$tmp/m/many" >/dev/null
		e=$(date +%s.%N)
		s2=$(date +%s.%N); ls -l "$tmp/m/many" >/dev/null; e2=$(date +%s.%N)
		echo "ls -l on kvfs, listxattr answered ENOTSUP by the shim: $(awk "BEGIN{print $e - $s}") s; as it is: $(awk "BEGIN{print $e2 - $s2}") s"
	done
else
	echo "no gcc here: xattr calls not counted"
fi
