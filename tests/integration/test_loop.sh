#!/bin/bash
# SPDX-License-Identifier: MIT
#
# test_loop.sh - the daemon's request loop (fs/loop.c): concurrent requests
# start workers up to threads=N and no more; after such a burst one
# client's calls made one after another are served by two or three workers,
# not spread over all of them (a call on a worker that last ran elsewhere
# finds its lines cold); a signal given to any thread of the daemon (here
# the janitor's) ends it and its mount.
. "$(dirname "$0")/lib.sh"

kv_setup "size=256M,threads=6"
PID=$(pgrep -f "kvfs mount .*$POOL" | head -1)
ok "the daemon is found" [ -n "$PID" ]

is_worker() { # TASKDIR: one of the daemon's threads that is not its main one, nor named otherwise
	[ "${1##*/}" != "$PID" ] && ! grep -qE '^kvfs-(janitor|node|rpc)$' "$1/comm" 2>/dev/null
}
workers() {
	local t n=0
	for t in /proc/"$PID"/task/*; do is_worker "$t" && n=$((n + 1)); done
	echo "$n"
}
switches() { # TID SWITCHES for each worker
	local t
	for t in /proc/"$PID"/task/*; do
		is_worker "$t" || continue
		echo "${t##*/} $(awk '/^voluntary_ctxt_switches/ { print $2 }' "$t/status")"
	done
}

mkdir "$MNT/d"
for i in $(seq 64); do echo "file $i" >"$MNT/d/f$i"; done

# 1. a burst: 16 readers at once, several times over
for _ in 1 2 3 4; do
	ls "$MNT/d" | sed "s|^|$MNT/d/|" | xargs -P 16 -n 4 cat >/dev/null
done
n=$(workers)
ok "a burst started more than two workers ($n)" [ "$n" -gt 2 ]
ok "and no more than threads=6 ($n)" [ "$n" -le 6 ]

# 2. then 600 lookups of absent names, one after another, from one process:
# each a request (no negative entry is cached for a name the kernel never saw)
switches | sort >"$WORK/s0"
for i in $(seq 600); do [ -e "$MNT/d/absent$i" ] && echo "absent$i exists"; done >"$WORK/seq"
switches | sort >"$WORK/s1"
join "$WORK/s0" "$WORK/s1" | awk '{ printf "worker %s: %d\n", $1, $3 - $2 }' >"$WORK/served"
served=$(awk '$3 >= 40' "$WORK/served" | wc -l)
ok "sequential calls after the burst go to 2-3 of the $n workers ($served)" [ "$served" -le 3 ]
[ "$served" -le 3 ] || cat "$WORK/served"
ok "none of the absent names was found" [ ! -s "$WORK/seq" ]
ok "and they were served (the lookups reached the daemon)" [ "$served" -ge 1 ]

# 3. many clients at once, then one, three times over: 16 at a time read
# 3,200 files and look up as many absent names, every read's bytes checked;
# bounded, so a worker lost between the stack and read() shows as a hang
for round in 1 2 3; do
	timeout 120 bash -c 'seq 3200 | xargs -P 16 -n 100 sh -c '\''for i; do
		n=$((i % 64 + 1)); [ "$(cat "$0/d/f$n")" = "file $n" ] && echo ok
		[ -e "$0/d/nope-$1-$i" ] && echo "nope-$i exists"; done'\'' "$1"' _ "$MNT" >"$WORK/hammer$round"
	ok "round $round: 16 clients at once finish, 3,200 reads right" \
		[ "$(grep -cx ok "$WORK/hammer$round")" -eq 3200 ]
	ok "round $round: no absent name found" [ "$(grep -c exists "$WORK/hammer$round")" -eq 0 ]
	for i in $(seq 200); do [ -e "$MNT/d/after$round-$i" ]; done
	ok "round $round: a single client after it is served" grep -qx "file 9" "$MNT/d/f9"
done
n=$(workers)
ok "still no more than threads=6 workers ($n)" [ "$n" -le 6 ]

# 4. SIGTERM given to the janitor's thread, not the main one: the daemon ends
JAN=$(grep -lx kvfs-janitor /proc/"$PID"/task/*/comm | head -1 | cut -d/ -f5)
ok "the janitor's thread is named" [ -n "$JAN" ]
python3 -c 'import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
sys.exit(libc.syscall(234, int(sys.argv[1]), int(sys.argv[2]), 15) != 0)' "$PID" "$JAN"
ok "tgkill(SIGTERM) to the janitor's thread was sent" [ $? -eq 0 ]
gone=0
for _ in $(seq 50); do
	if [ ! -e /proc/"$PID"/task/"$JAN" ] && ! grep -q " $MNT " /proc/mounts; then
		gone=1
		break
	fi
	sleep 0.1
done
ok "the daemon ended and unmounted within 5 s, asked nothing" [ "$gone" -eq 1 ]
ok "the pool mounts again after it" kv_mount "size=256M"
ok "with its files" grep -qx "file 64" "$MNT/d/f64"

kv_done
