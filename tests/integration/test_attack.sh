#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_attack.sh - a second local user (uid 65534, on a mount with
# allow_other) tries to take the pool from its owner through the plain
# file interface: a directory it marks user.kvfs.evict=never would make
# everything it writes there unevictable, past its share (kvfs(7), TRUST
# MODEL), so only the pool's owner (or uid 0) may set `never`; the second
# user may still set `lru` and a quota on its own directories, and after
# it has written twice the pool the owner's writes still succeed. Then
# ioctls on .kvfs/ctl that try to publish or read what they must not
# (attack_ctl.py): a transaction outlives its namespace, whose inode a new
# directory reuses; a pinned block is truncated, or appended to until its
# bytes would move, and the pool filled: the pinned extent must never be
# given to another file.
. "$(dirname "$0")/lib.sh"
MB=1048576
kv_setup size=64M,allow_other
chmod 755 "$WORK" # the second user must reach the mount point
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

# --- directory policy: `never` is the owner's to give ---
mkdir "$MNT/u" && chown 65534:65534 "$MNT/u"
ok "the second user makes its own directory" as_nobody mkdir "$MNT/u/cache"
expect_fail "it may not mark it evict=never" \
	as_nobody setfattr -n user.kvfs.evict -v never "$MNT/u/cache"
ok "the refusal is EPERM" \
	bash -c "setpriv --reuid=65534 --regid=65534 --clear-groups \
		setfattr -n user.kvfs.evict -v never '$MNT/u/cache' 2>&1 | grep -q 'not permitted'"
ok "nor with a trailing newline" \
	test "$(as_nobody /usr/bin/python3 -c "
import os, sys
try:
    os.setxattr(sys.argv[1], 'user.kvfs.evict', b'never\n')
    print('set')
except OSError as e:
    print(e.errno)" "$MNT/u/cache")" = 1
ok "it may mark it evict=lru" as_nobody setfattr -n user.kvfs.evict -v lru "$MNT/u/cache"
ok "and give it a quota" as_nobody setfattr -n user.kvfs.quota -v 8M "$MNT/u/cache"
ok "its directory still evicts" \
	test "$(getfattr --only-values -n user.kvfs.evict "$MNT/u/cache" 2>/dev/null)" = lru
ok "the owner may mark the second user's directory evict=never" \
	setfattr -n user.kvfs.evict -v never "$MNT/u"
ok "the second user may remove a never it was given" \
	as_nobody setfattr -x user.kvfs.evict "$MNT/u"

# --- the second user writes twice the pool; the owner still writes ---
as_nobody mkdir "$MNT/u/flood"
as_nobody bash -c "for i in \$(seq 128); do head -c $MB /dev/urandom >'$MNT/u/flood/f'\$i || exit; done" \
	2>/dev/null
mkdir "$MNT/own"
ok "after the flood the owner writes 32 MiB" \
	bash -c "for i in \$(seq 32); do head -c $MB /dev/urandom >'$MNT/own/f'\$i || exit 1; done"

# --- the fast path (attack_ctl.py prints "ok" or what went wrong) ---
AC=$TOP/tests/integration/attack_ctl.py
ok "a commit into a removed namespace whose inode was reused fails, publishes nothing" \
	test "$(python3 "$AC" "$MNT" reuse)" = ok
ok "a pinned block truncated through the mount keeps its bytes until unpinned" \
	test "$(python3 "$AC" "$MNT" truncate)" = ok
ok "a pinned block never moves to another extent (EBUSY past its extents)" \
	test "$(python3 "$AC" "$MNT" migrate)" = ok

kv_done
