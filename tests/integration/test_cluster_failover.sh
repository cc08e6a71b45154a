#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_cluster_failover.sh - a change forwarded from a follower whose leader
# dies after running it and before answering it: the next leader finds the
# call taken by the dead one (the mailbox says so) and answers it from its
# effect instead of running it twice. An exclusive create, run twice, would
# answer EEXIST for a file the call itself made. Three nodes: x leads and is
# told (KVFS_TEST_LEADER_DIES_AFTER_RUN) to exit between a forwarded change
# and its answer; y makes the file; z or y leads next. When y itself is
# elected, its own call waits through its promotion and fails with
# ETIMEDOUT (a clean failure; the file is there); when z is, y's create
# succeeds. Never EEXIST, the file made once, fsck clean.
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
ok "... it succeeded, or failed cleanly (its own node was elected)" \
	grep -Eq "^(created|error ETIMEDOUT)$" "$WORK/create.out"
if grep -q created "$WORK/create.out"; then
	written() { [ "$(cat "$WORK/z/made" 2>/dev/null)" = "made once" ]; }
	ok "... and wrote through to the new leader" wait_for 3 written
fi
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
ok "fsck is clean" "$KVFS" fsck "$POOL"
kv_done
