#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_cluster_failover.sh - a change forwarded from a follower whose leader
# dies after running it and before answering it: the next leader finds the
# call taken by the dead one (the mailbox says so) and answers it from its
# effect instead of running it twice. An exclusive create, run twice, would
# answer EEXIST for a file the call itself made. Three nodes: x leads and is
# told (KVFS_TEST_LEADER_DIES_AFTER_RUN) to exit between a forwarded change
# and its answer; y makes the file; z or y leads next, and y's create
# succeeds either way: never EEXIST, the file made once. Then two nodes,
# where the waiting caller's own node is elected: its call lets go of the
# view the promotion swaps, and the node answers its own mailbox. Last, a
# fast-path commit the dead leader ran is answered committed. fsck clean.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

cluster_setup 256M -i 4096
KVFS_TEST_LEADER_DIES_AFTER_RUN=1 node_mount x # a function: the variable reaches its mount
ok "x mounts and leads" wait_for 5 role_is x leader
ok "y follows" node_mount y
ok "z follows" node_mount z
both_follow() { role_is y follower && role_is z follower; }
ok "y and z follow" wait_for 5 both_follow
python3 - "$WORK/y/made" >"$WORK/create.out" 2>&1 <<'PY'
import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.write(fd, b"made once")
    os.close(fd)
    print("created")
except OSError as e:
    print("error", errno.errorcode.get(e.errno, e.errno))
PY
cat "$WORK/create.out"
ok "the leader died after running the create" test -z "$(node_pid x)"
new_leader() { role_is y leader || role_is z leader; }
ok "another node leads" wait_for $((3 * ETCD_TTL)) new_leader
ok "the create is never answered EEXIST" bash -c "! grep -q EEXIST '$WORK/create.out'"
ok "... it succeeded" grep -q "^created" "$WORK/create.out"
written() { [ "$(cat "$WORK/z/made" 2>/dev/null)" = "made once" ]; }
ok "... and wrote through to the new leader" wait_for 3 written
ok "the file exists, made once (a regular file)" wait_for 3 test -f "$WORK/z/made"
ok "a second exclusive create of it is refused" \
	python3 -c "import os,sys
try:
    os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY); sys.exit(1)
except FileExistsError:
    sys.exit(0)" "$WORK/z/made"
node_unmount y
node_unmount z
node_unmount x

# Two nodes: the follower whose call waits is the one elected. Its promotion
# takes the view the waiting call holds: the call lets it go, and the node,
# leading now, answers its own mailbox (before: ETIMEDOUT after two leases).
KVFS_TEST_LEADER_DIES_AFTER_RUN=1 node_mount v
ok "v mounts and leads" wait_for 5 role_is v leader
ok "w follows" node_mount w
python3 - "$WORK/w/second" >"$WORK/create2.out" 2>&1 <<'PY'
import errno, os, sys, time
t0 = time.monotonic()
try:
    fd = os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.write(fd, b"made by the caller's own node")
    os.close(fd)
    print("created in %.1f s" % (time.monotonic() - t0))
except OSError as e:
    print("error", errno.errorcode.get(e.errno, e.errno))
PY
cat "$WORK/create2.out"
ok "the leader died after running it" test -z "$(node_pid v)"
ok "w leads" wait_for $((3 * ETCD_TTL)) role_is w leader
ok "w answered its own waiting create" grep -q "^created" "$WORK/create2.out"
second() { [ "$(cat "$WORK/w/second" 2>/dev/null)" = "made by the caller's own node" ]; }
ok "... whose bytes are there" wait_for 3 second
node_unmount w
node_unmount v

# A fast-path commit from a follower, run by a leader that dies before
# answering: the next leader finds the blocks live and answers it committed.
PIN=$BUILD/tests/cluster_pin
KVFS_TEST_LEADER_DIES_AFTER_RUN=1 node_mount s
ok "s mounts and leads" wait_for 5 role_is s leader
ok "t follows" node_mount t
ok "u follows" node_mount u
mkdir "$WORK/s/fast" # on the leader itself: nothing forwarded
ok "t sees the namespace" wait_for 2 test -d "$WORK/t/fast"
"$PIN" store "$WORK/t" fast 4 >"$WORK/store.out" 2>&1
cat "$WORK/store.out"
ok "the leader died after running the commit" test -z "$(node_pid s)"
leads_tu() { role_is t leader || role_is u leader; }
ok "another node leads" wait_for $((3 * ETCD_TTL)) leads_tu
ok "the commit was answered committed" grep -q "^stored 4" "$WORK/store.out"
"$PIN" hold "$WORK/u" fast 4 >"$WORK/hold.out" 2>&1 &
holder=$!
ok "... and all 4 blocks are found on the other node" wait_for 5 grep -q "pinned 4" "$WORK/hold.out"
kill $holder 2>/dev/null
wait $holder 2>/dev/null
node_unmount t
node_unmount u
node_unmount s
ok "fsck is clean" "$KVFS" fsck "$POOL"
kv_done
