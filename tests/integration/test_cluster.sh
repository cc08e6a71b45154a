#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_cluster.sh - cluster mode on one machine: a private etcd and three
# kvfs daemons (n1, n2, n3) mounting one pool file at three mount points,
# with 2 s leases. One leader; what it stores (files and libkvfs blocks) is
# read byte-exact on the followers and `ls`, `df` and .kvfs/stats agree; a
# commit on the leader is visible on a follower within the stated bound;
# followers refuse changes with EROFS; kill -9 of the leader under load
# elects another within 2 lease TTLs and loses no file whose close returned;
# a leader paused past its lease is fenced when continued and its pending
# write refused; with etcd stopped reads go on and changes fail (stats say
# why) until etcd is back; single-host and cluster mounts refuse each
# other's pool; the last node out hands the pool back; fsck is clean.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

cluster_setup 256M -i 4096
TTL=$ETCD_TTL
EX=$BUILD/examples/engine_load

# --- one leader, two followers ---
ok "n1 mounts" node_mount n1
ok "n2 mounts" node_mount n2
ok "n3 mounts" node_mount n3
ok "the first node leads" test "$(role_of n1)" = leader
ok "n2 follows" test "$(role_of n2)" = follower
ok "n3 follows" test "$(role_of n3)" = follower
ok "one leader of three" test "$(for n in n1 n2 n3; do role_of $n; done | grep -c leader)" -eq 1
test_members() { [ "$(stat_at "$1" cluster_members)" = "$2" ]; }
members3() { [ "$(stat_at n1 cluster_members)" = 3 ] && [ "$(stat_at n3 cluster_members)" = 3 ]; }
ok "every node counts 3 members" wait_for 5 members3
ok "the epochs agree" test "$(stat_at n1 cluster_epoch)" = "$(stat_at n2 cluster_epoch)"
ok "cluster_node names the node" test "$(stat_at n2 cluster_node)" = n2
ok "a pool file is one host's memory: coherent unless told" test "$(stat_at n2 cluster_coherent)" = 1
ok "kvfs stat shows the role" bash -c "'$KVFS' stat '$WORK/n3' | grep -Eq 'cluster_role +follower'"
ok ".kvfs/metrics has the role" grep -q 'kvfs_cluster_role{node="n1",role="leader"} 1' "$WORK/n1/.kvfs/metrics"
expect_fail "a node name in use is refused" "$KVFS" mount -o "cluster=etcd://$ETCD_EP,node=n2" "$POOL" "$MNT"
expect_fail "node= is required" "$KVFS" mount -o "cluster=etcd://$ETCD_EP" "$POOL" "$MNT"
expect_fail "a bad cluster= is refused" "$KVFS" mount -o "cluster=http://x,node=z" "$POOL" "$MNT"
expect_fail "a single-host mount of the cluster's pool is refused" "$KVFS" mount "$POOL" "$MNT"

# --- what the leader stores is read byte-exact everywhere ---
mkdir -p "$WORK/n1/dir"
for i in $(seq 12); do
	head -c $((i * 37000)) /dev/urandom >"$WORK/src.$i"
	cp "$WORK/src.$i" "$WORK/n1/dir/f$i"
done
same_files() { # NODE
	local i
	for i in $(seq 12); do cmp -s "$WORK/src.$i" "$WORK/$1/dir/f$i" || return 1; done
}
ok "n2 reads every file byte-exact" wait_for 2 same_files n2
ok "n3 reads every file byte-exact" wait_for 2 same_files n3
listing() { (cd "$WORK/$1" && ls -lR --time-style=+ . | awk '{ print $1, $5, $NF }'); }
ok "ls agrees on n1 and n2" test "$(listing n1)" = "$(listing n2)"
ok "ls agrees on n1 and n3" test "$(listing n1)" = "$(listing n3)"
dfline() { df --output=size,used,avail "$WORK/$1" | tail -1; }
ok "df agrees" test "$(dfline n1)" = "$(dfline n3)"
for k in files directories used_bytes free_bytes; do
	ok "stats $k agree" test "$(stat_at n1 $k)" = "$(stat_at n2 $k)"
done

# files written through the followers' mounts: each change runs on the leader
ok "mkdir -p through n2" mkdir -p "$WORK/n2/byn2/sub"
for i in 1 2 3; do cp "$WORK/src.$i" "$WORK/n2/byn2/sub/g$i"; done
cp "$WORK/src.4" "$WORK/n3/byn2/h4"
ok "cp through n3 of n2's directory" test -e "$WORK/n3/byn2/h4"
by_followers() { # NODE
	local i
	for i in 1 2 3; do cmp -s "$WORK/src.$i" "$WORK/$1/byn2/sub/g$i" || return 1; done
	cmp -s "$WORK/src.4" "$WORK/$1/byn2/h4"
}
for n in n1 n2 n3; do
	ok "$n reads the followers' files byte-exact" wait_for 2 by_followers $n
done
# a follower reads a file the leader is still writing (its room ahead not yet trimmed):
# the follower's close leaves the leader's record alone
exec 7>"$WORK/n1/dir/growing"
head -c 5000 "$WORK/src.12" >&7
head -c 300000 "$WORK/src.12" >&7
ok "a follower reads a file the leader is writing" wait_for 2 bash -c \
	"cat '$WORK/n2/dir/growing' >/dev/null && cat '$WORK/n3/dir/growing' >/dev/null"
head -c 100000 "$WORK/src.11" >&7
exec 7>&-
{ head -c 5000 "$WORK/src.12"; head -c 300000 "$WORK/src.12"; head -c 100000 "$WORK/src.11"; } >"$WORK/growing"
ok "... and the leader's file is whole after" cmp "$WORK/growing" "$WORK/n1/dir/growing"
ok "... on the followers too" wait_for 2 bash -c \
	"cmp -s '$WORK/growing' '$WORK/n2/dir/growing' && cmp -s '$WORK/growing' '$WORK/n3/dir/growing'"
for n in n1 n2 n3; do
	ok "... nothing quarantined on $n" test "$(stat_at $n quarantined)" = 0
done
ok "mv through a follower" mv "$WORK/n3/byn2/h4" "$WORK/n3/byn2/h4.moved"
ok "... seen on the leader" wait_for 2 test -e "$WORK/n1/byn2/h4.moved" -a ! -e "$WORK/n1/byn2/h4"
ok "... and on the other follower (within the visibility bound)" \
	wait_for 2 test -e "$WORK/n2/byn2/h4.moved"
ok "rm through a follower" rm "$WORK/n2/byn2/h4.moved"
ok "... gone on the leader" wait_for 2 test ! -e "$WORK/n1/byn2/h4.moved"
echo short >"$WORK/n2/byn2/sub/g1"
ok "a truncating write through a follower, read on the leader" \
	wait_for 2 test "$(cat "$WORK/n1/byn2/sub/g1")" = short
ok "chmod through a follower shows on the leader" \
	bash -c "chmod 600 '$WORK/n3/byn2/sub/g2' && test \"\$(stat -c %a '$WORK/n1/byn2/sub/g2')\" = 600"
ok "setfattr through a follower" setfattr -n user.model -v llama "$WORK/n3/byn2/sub/g2"
ok "... read on the leader and the other follower" wait_for 2 bash -c \
	"getfattr --only-values -n user.model '$WORK/n1/byn2/sub/g2' 2>/dev/null | grep -qx llama &&
	 getfattr --only-values -n user.model '$WORK/n2/byn2/sub/g2' 2>/dev/null | grep -qx llama"
ok "a directory policy set through a follower" setfattr -n user.kvfs.evict -v never "$WORK/n2/byn2"
ok "... holds on the leader" wait_for 2 grep -q "^dir /byn2 evict never" "$WORK/n1/.kvfs/stats"
ok "setfattr -x through a follower" setfattr -x user.model "$WORK/n2/byn2/sub/g2"
ok "... gone on the leader" wait_for 2 bash -c "! getfattr -n user.model '$WORK/n1/byn2/sub/g2' 2>/dev/null"
expect_fail "a follower refuses kvfs's own xattrs as the leader does" \
	setfattr -n user.kvfs.extents -v x "$WORK/n2/byn2/sub/g2"
expect_fail "... and names outside user." setfattr -n trusted.x -v 1 "$WORK/n2/byn2/sub/g2"
ok "ln -s through a follower" ln -s sub/g3 "$WORK/n3/byn2/link"
ok "... the link resolves on the leader" wait_for 2 cmp -s "$WORK/src.3" "$WORK/n1/byn2/link"
ok "... and on the other follower" wait_for 2 test "$(readlink "$WORK/n2/byn2/link")" = sub/g3
ok "fallocate through a follower" fallocate -l 1M "$WORK/n2/byn2/prealloc"
ok "... the size shows on the leader" wait_for 2 test "$(stat -c %s "$WORK/n1/byn2/prealloc")" = 1048576
setfattr -x user.kvfs.evict "$WORK/n1/byn2"
ok "the leader served them" test "$(stat_at n1 cluster_served)" -gt 5

# a file the leader changes in place (same size): the followers' page caches let go
inplace_is() { [ "$(cat "$WORK/$1/dir/inplace" 2>/dev/null)" = "$2" ]; }
printf AAAAAA >"$WORK/n1/dir/inplace"
ok "a follower reads it (and caches its page)" wait_for 2 inplace_is n2 AAAAAA
printf BBBBBB >"$WORK/n1/dir/inplace"
ok "the follower reads the new bytes (change log)" wait_for 2 inplace_is n2 BBBBBB
printf CC | dd of="$WORK/n1/dir/inplace" conv=notrunc status=none
ok "... and after an in-place write" wait_for 2 inplace_is n3 CCBBBB
ok "... on both followers" wait_for 2 inplace_is n2 CCBBBB

# commit on the leader -> visible on a follower: median within 10 ms, each within 250 ms
# (the worst case is a view being opened under load on a shared 2-core machine)
visibility() { # ROUND: 20 commits on n1, each polled for on n2
	python3 - "$WORK/n1/dir" "$WORK/n2/dir" "$1" >"$WORK/visible.txt" <<'EOF'
import os, sys, time
a, b, r = sys.argv[1], sys.argv[2], sys.argv[3]
ts = []
for i in range(20):
    name = "vis%s-%d" % (r, i)
    with open(os.path.join(a, name), "wb") as f:
        f.write(b"x" * 4096)
    t0 = time.monotonic()
    while not os.path.exists(os.path.join(b, name)):
        if time.monotonic() - t0 > 2:
            break
    ts.append((time.monotonic() - t0) * 1000)
ts.sort()
print("median_ms %.2f max_ms %.2f" % (ts[len(ts) // 2], ts[-1]))
EOF
}
visibility 1
# a shared 2-core machine can be busy for a whole round: one more round may tell
awk '{ exit !($2 <= 10) }' "$WORK/visible.txt" || { cat "$WORK/visible.txt"; visibility 2; }
cat "$WORK/visible.txt"
bound=10
kv_sanitized && bound=30 # an ASan build opens views three times slower
ok "commit-to-visible median <= $bound ms" awk -v b=$bound '{ exit !($2 <= b) }' "$WORK/visible.txt"
ok "commit-to-visible max <= 250 ms" awk '{ exit !($4 <= 250) }' "$WORK/visible.txt"

# libkvfs blocks stored on the leader: found, pinned, read in place on the followers
ok "engine_load stores 48 blocks on the leader" \
	bash -c "'$EX' --no-gpu '$WORK/n1' llama3 | grep -q 'stored 48 of 48'"
for n in n2 n3; do
	ok "$n finds, pins and checks the 48 blocks in place" \
		bash -c "'$EX' --no-gpu '$WORK/$n' llama3 > '$WORK/el.$n' 2>&1 && ! grep -q '^stored' '$WORK/el.$n' && grep -q 'CPU: 48 blocks of 2048 KiB, every byte checked' '$WORK/el.$n'"
done
# blocks stored through a follower: reserve and commit go to the leader through the
# pool's mailboxes, the bytes straight into the extents; found everywhere, byte-exact
mkdir "$WORK/n1/from2" "$WORK/n1/from3"
wait_for 2 test -d "$WORK/n3/from3"
ok "n2 stores 48 blocks (forwarded to the leader)" \
	bash -c "'$EX' --no-gpu '$WORK/n2' from2 > '$WORK/st.n2' 2>&1 && grep -q 'stored 48 of 48' '$WORK/st.n2' && grep -q 'CPU: 48 blocks of 2048 KiB, every byte checked' '$WORK/st.n2'"
ok "n3 stores a smaller model (forwarded)" \
	bash -c "'$EX' --no-gpu --layers 4 --block-tokens 256 --blocks 8 '$WORK/n3' from3 | grep -q 'stored 8 of 8'"
for n in n1 n3; do
	ok "$n finds and checks n2's blocks in place" \
		bash -c "'$EX' --no-gpu '$WORK/$n' from2 > '$WORK/ld.$n' 2>&1 && ! grep -q '^stored' '$WORK/ld.$n' && grep -q 'CPU: 48 blocks of 2048 KiB, every byte checked' '$WORK/ld.$n'"
done
ok "n2 finds n3's blocks" \
	bash -c "'$EX' --no-gpu --layers 4 --block-tokens 256 --blocks 8 '$WORK/n2' from3 | grep -q 'CPU: 8 blocks of 4096 KiB, every byte checked'"
ok "the leader served the forwarded calls" test "$(stat_at n1 cluster_served)" -gt 0
ok "ls of n2's blocks agrees" test "$(ls "$WORK/n1/from2")" = "$(ls "$WORK/n3/from2")"

# --- kill -9 of the leader under load ---
(
	i=0
	while [ $i -lt 1500 ]; do # well under the 4,096 inode records: nothing is evicted
		i=$((i + 1))
		printf 'payload %d\n' $i >"$WORK/n1/dir/w$i" 2>/dev/null || break
		echo $i >>"$WORK/written"
	done
) &
writer=$!
E0=$(stat_at n2 cluster_epoch)
wait_for 5 test -s "$WORK/written"
sleep 0.3
t0=$(date +%s%N)
kill -9 "$(node_pid n1)"
wait $writer 2>/dev/null
new_leader() { NEWL=$(leader_of n2 n3); }
ok "a new leader within 2 TTLs" wait_for $((2 * TTL + 1)) new_leader
t1=$(date +%s%N)
echo "failover: $(((t1 - t0) / 1000000)) ms to ${NEWL:-none} (ttl ${TTL}s)"
ok "failover took <= 2 TTLs" test $(((t1 - t0) / 1000000)) -le $((2 * TTL * 1000 + 500))
NEWL=${NEWL:-n2}
lost=0
while read -r i; do
	[ "$(cat "$WORK/$NEWL/dir/w$i" 2>/dev/null)" = "payload $i" ] || lost=$((lost + 1))
done <"$WORK/written"
echo "$(wc -l <"$WORK/written") files closed before the kill, $lost lost"
ok "no file closed before the kill is lost" test $lost -eq 0
ok "the files of before are there" same_files "$NEWL"
ok "the new leader writes" bash -c "echo after > '$WORK/$NEWL/dir/after-kill'"
ok "the epoch grew" test "$(stat_at "$NEWL" cluster_epoch)" -gt "$E0"
node_unmount n1
ok "the killed node comes back as a follower" node_mount n1
ok "... and follows" role_is n1 follower
ok "... and sees the new files" wait_for 2 test -e "$WORK/n1/dir/after-kill"

# --- SIGSTOP the leader past its lease: another leads; continued, it is fenced ---
OLD=$NEWL
kill -STOP "$(node_pid $OLD)"
(echo pending >"$WORK/$OLD/dir/pending") 2>"$WORK/pending.err" &
pending=$!
others=$(for n in n1 n2 n3; do [ $n != "$OLD" ] && echo $n; done)
other_leads() { NEWL=$(leader_of $others); }
ok "another node leads while $OLD is stopped" wait_for $((2 * TTL + 1)) other_leads
ok "the new leader writes" bash -c "echo fresh > '$WORK/$NEWL/dir/fresh'"
kill -CONT "$(node_pid $OLD)"
wait $pending
prc=$?
cat "$WORK/pending.err"
ok "the pending write of the paused leader is refused" test $prc -ne 0
ok "... with EROFS" grep -q "Read-only file system" "$WORK/pending.err"
ok "the old leader says fenced" wait_for 3 role_is "$OLD" fenced
ok "the fenced node refuses writes" bash -c "! echo late > '$WORK/$OLD/dir/late' 2>/dev/null"
ok "nothing the fenced node tried reached the pool" \
	bash -c "! test -e '$WORK/$NEWL/dir/pending' && ! test -e '$WORK/$NEWL/dir/late'"
ok "the new leader's file is there" test "$(cat "$WORK/$NEWL/dir/fresh")" = fresh
ok "the fenced node says why" grep -q "cluster_reason .*newer epoch" "$WORK/$OLD/.kvfs/stats"
node_unmount "$OLD"
ok "the fenced node remounts as a follower" node_mount "$OLD"
ok "... which sees the new leader's file" wait_for 2 test -e "$WORK/$OLD/dir/fresh"

# --- etcd stopped: reads go on, changes fail with a reason, until it is back ---
L=$NEWL
etcd_stop
detached() { [ "$(role_of "$L")" = detached ]; }
ok "without etcd the leader turns detached within a TTL or two" wait_for $((2 * TTL + 2)) detached
ok "reads work on the leader" same_files "$L"
ok "reads work on a follower" same_files "$OLD"
ok "changes fail on the leader" bash -c "! echo x > '$WORK/$L/dir/no-etcd' 2>/dev/null"
ok "stats say why" grep -q "cluster_reason etcd unreachable" "$WORK/$L/.kvfs/stats"
etcd_start
some_leader() { NEWL=$(leader_of n1 n2 n3); }
ok "with etcd back a node leads again" wait_for $((3 * TTL + 2)) some_leader
ok "changes work again" bash -c "echo back > '$WORK/${NEWL:-n1}/dir/etcd-back'"
ok "nothing was lost" same_files "${NEWL:-n1}"
ok "the files of the leader of before are there" test "$(cat "$WORK/${NEWL:-n1}/dir/fresh")" = fresh

# --- every node killed: the pool stays the cluster's; the last node out hands it back ---
for n in n1 n2 n3; do kill -9 "$(node_pid $n)" 2>/dev/null; done
for n in n1 n2 n3; do node_unmount $n; done
"$KVFS" mount "$POOL" "$MNT" 2>"$WORK/single.err"
rc=$?
[ $rc -eq 0 ] && kv_unmount "$MNT"
cat "$WORK/single.err"
ok "a single-host mount of a cluster's pool is refused" test $rc -ne 0
ok "... saying it belongs to a cluster" grep -q "belongs to a kvfs cluster" "$WORK/single.err"
ok "fsck is clean" "$KVFS" fsck "$POOL"
# the dead nodes' leases (and n1's name) last up to a TTL more
ok "a lone node leads" wait_for $((2 * TTL + 2)) node_mount n1 2>/dev/null
ok "... as leader" wait_for $((2 * TTL + 2)) role_is n1 leader
ok "... with every file" same_files n1
ok "... alone: the dead nodes' leases ended" wait_for $((2 * TTL + 2)) test_members n1 1
node_unmount n1
ok "after the last node left, a single-host mount works" "$KVFS" mount "$POOL" "$MNT"
ok "... and sees the files" same_files mnt
kv_unmount "$MNT"
ok "fsck is clean at the end" "$KVFS" fsck "$POOL"
kv_done
