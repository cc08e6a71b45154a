#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_cluster_pins.sh - pins are global in cluster mode: blocks a follower
# pinned, and files it has open or mapped to read, are never evicted by the
# leader, however much it writes; kill -9
# of that follower keeps them held until its etcd lease ends (2 s here) and
# not longer; then the leader evicts them like any other. A private etcd and
# two daemons (a leads, b follows) on one pool file; fsck clean at the end.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

cluster_setup 256M -i 4096
TTL=$ETCD_TTL
PIN=$BUILD/tests/cluster_pin
ok "a mounts and leads" node_mount a
ok "b mounts and follows" node_mount b
ok "b has a hold slot" test "$(stat_at b cluster_slot)" -ge 0
ok "40 blocks of 2 MiB stored on the leader" "$PIN" store "$WORK/a" pins 40
ok "b sees them" wait_for 2 test -d "$WORK/b/pins"
"$PIN" hold "$WORK/b" pins 40 >"$WORK/hold.out" 2>&1 &
holder=$!
ok "b pins all 40" wait_for 5 grep -q "pinned 40" "$WORK/hold.out"
ok "b's slot holds 40 files" test "$(stat_at b cluster_holds)" = 40
ok "the leader sees 40 files held by another node" test "$(stat_at a cluster_other_holds)" = 40

# files opened (and mapped) to read on b are held as pins are: 10 of 2 MiB, byte i each
mkdir -p "$WORK/a/opened"
for i in $(seq 0 9); do
	python3 -c 'import sys; sys.stdout.buffer.write(bytes([int(sys.argv[1])]) * (2 << 20))' \
		"$((i + 1))" >"$WORK/a/opened/f$i"
done
ok "b sees the 10 files to open" wait_for 2 test -e "$WORK/b/opened/f9"
python3 - "$WORK/b/opened" "$WORK/go" >"$WORK/open.out" 2>&1 <<'PY' &
import mmap, os, sys, time
d, go = sys.argv[1], sys.argv[2]
fds = [os.open("%s/f%d" % (d, i), os.O_RDONLY) for i in range(10)]
m = mmap.mmap(fds[9], 2 << 20, prot=mmap.PROT_READ)
os.close(fds.pop())  # f9 is held by its mapping alone
print("opened", flush=True)
while not os.path.exists(go):
    time.sleep(0.05)
good = sum(os.pread(fd, 2 << 20, 0) == bytes([i + 1]) * (2 << 20) for i, fd in enumerate(fds))
good += m[:] == bytes([10]) * (2 << 20)
print("intact", good, flush=True)
PY
opener=$!
ok "b opens 9 files and maps 1" wait_for 5 grep -q opened "$WORK/open.out"
ok "b's slot holds them too" test "$(stat_at b cluster_holds)" = 50
# removed on the leader while b holds them (two opened, the mapped one, two pinned): their
# bytes stay until b lets go, as an open file's do on one host
ok "the leader removes 2 files b has open or mapped and 2 blocks b pinned" \
	rm "$WORK/a/opened/f0" "$WORK/a/opened/f9" $(ls -d "$WORK"/a/pins/* | head -2)
opened_left() { ls "$WORK/a/opened" | wc -l; }

fill() { # PREFIX N: N files of 2 MiB on the leader (the pool holds about 120)
	local i
	mkdir -p "$WORK/a/fill"
	for i in $(seq "$2"); do
		head -c 2M /dev/zero >"$WORK/a/fill/$1-$i" 2>/dev/null || return 1
	done
}
pinned_left() { ls "$WORK/a/pins" | wc -l; }
ok "the leader writes 300 MiB: eviction makes room" fill one 150
ok "... and every pinned block stays" test "$(pinned_left)" -eq 38
ok "... with its bytes (the holder checks them)" kill -0 $holder
ok "the leader evicted other files" test "$(stat_at a evictions)" -gt 0
ok "... but no file open or mapped on b" test "$(opened_left)" -eq 8
touch "$WORK/go"
ok "b reads all 10 back byte-exact" wait_for 10 grep -q "intact 10" "$WORK/open.out"
wait $opener
ok "closed and unmapped, b holds only its pins" wait_for 3 test "$(stat_at b cluster_holds)" = 40

# kill -9 of the follower: its holds last until its lease ends, not longer
t0=$(date +%s%N)
kill -9 "$(node_pid b)"
ok "right after b died, its holds still stand" test "$(stat_at a cluster_other_holds)" = 40
ok "... and the leader still evicts around them" fill two 20
ok "... every pinned block stays" test "$(pinned_left)" -eq 38
released() { [ "$(stat_at a cluster_other_holds)" = 0 ]; }
ok "b's holds end with its lease" wait_for $((3 * TTL)) released
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
echo "holds of the dead node released ${ms} ms after the kill (lease ${TTL}s)"
# etcd expires a lease TTL after its last renewal, which was at most TTL/3 before the kill
ok "not before its lease could have ended" test $ms -ge $((TTL * 1000 * 2 / 3 - 100))
ok "nor long after" test $ms -le $((TTL * 1000 * 2 + 500))
kill $holder 2>/dev/null
wait $holder 2>/dev/null
ok "then the leader evicts them like any other" fill three 140
ok "... the pinned blocks are gone" test "$(pinned_left)" -lt 38
ok "... and so are the files b had open" test "$(opened_left)" -lt 8
node_unmount b
node_unmount a
ok "fsck is clean" "$KVFS" fsck "$POOL"
kv_done
