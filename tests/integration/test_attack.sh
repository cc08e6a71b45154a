#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_attack.sh - a second local user (uid 65534, on a mount with
# allow_other) tries to take the pool from its owner through the plain
# file interface: a directory it marks user.kvfs.evict=never would make
# everything it writes there unevictable, past its share (kvfs(7), TRUST
# MODEL), and a directory with any xattr (a policy too) is never
# reclaimed, so only the pool's owner (or uid 0) sets directory xattrs;
# the second user sets them on files, and after it has written twice the
# pool (or made twice the records in directories) the owner's writes
# still succeed. Files it
# keeps open cannot be evicted either: they count against its share (open,
# grown, truncated by path), and the owner still writes; each held file
# or reservation counts at least the data area's bytes per record, so
# that empty files, 1-byte reservations or pins of 1-byte files cannot
# take every record; nor can symbolic links, which are evicted like
# files. Then
# ioctls on .kvfs/ctl that try to publish or read what they must not
# (attack_ctl.py): a transaction outlives its namespace, whose inode a new
# directory reuses; a pinned block is truncated, or appended to until its
# bytes would move, and the pool filled: the pinned extent must never be
# given to another file; nor the extent of a file mapped zero-copy under
# kvfs run when another process truncates it; and commits racing lookups
# in one namespace must not leave every daemon thread waiting on the
# kernel.
. "$(dirname "$0")/lib.sh"
MB=1048576
kv_setup size=64M,allow_other
chmod 755 "$WORK" # the second user must reach the mount point
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

# --- directory xattrs (policy included) are the owner's to give ---
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
expect_fail "nor give it a quota (an anchor is never reclaimed)" \
	as_nobody setfattr -n user.kvfs.quota -v 8M "$MNT/u/cache"
expect_fail "nor any xattr (a directory with one is never reclaimed)" \
	as_nobody setfattr -n user.tag -v x "$MNT/u/cache"
ok "it may set xattrs on its files" \
	bash -c "setpriv --reuid=65534 --regid=65534 --clear-groups bash -c \
		': >\"$MNT/u/cache/f\" && setfattr -n user.tag -v x \"$MNT/u/cache/f\"'"
ok "the owner may mark the second user's directory evict=never" \
	setfattr -n user.kvfs.evict -v never "$MNT/u"
ok "and give it a quota" setfattr -n user.kvfs.quota -v 32M "$MNT/u"
ok "the second user may remove what it was given" \
	as_nobody setfattr -x user.kvfs.evict "$MNT/u"
setfattr -x user.kvfs.quota "$MNT/u"
as_nobody mkdir "$MNT/u/xd"
ok "so its empty directories are reclaimed: 2,000 of them (twice the records)" \
	as_nobody /usr/bin/python3 -c "
import os, sys
for i in range(2000):
    os.mkdir('%s/%d' % (sys.argv[1], i))
    try:
        os.setxattr('%s/%d' % (sys.argv[1], i), 'user.a', b'1')
    except OSError:
        pass" "$MNT/u/xd"
ok "and the owner still creates 100 files" \
	bash -c "mkdir '$MNT/own' && for i in \$(seq 100); do : >'$MNT/own/f'\$i || exit 1; done"
rm -rf "$MNT/own" "$MNT/u/xd" "$MNT/u/cache"

# --- the second user writes twice the pool; the owner still writes ---
as_nobody mkdir "$MNT/u/flood"
as_nobody bash -c "for i in \$(seq 128); do head -c $MB /dev/urandom >'$MNT/u/flood/f'\$i || exit; done" \
	2>/dev/null
mkdir "$MNT/own"
ok "after the flood the owner writes 32 MiB" \
	bash -c "for i in \$(seq 32); do head -c $MB /dev/urandom >'$MNT/own/f'\$i || exit 1; done"

# --- open files are held too: they count against the share (32 MiB here) ---
# hold.py PATH MiB: write PATH a MiB at a time and keep it open; print how
# many MiB went in and the errno that stopped it, then wait for stdin to close
HOLD='import os, sys
n, err = 0, "none"
try:
    f = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
    for n in range(int(sys.argv[2])):
        os.write(f, b"h" * 1048576)
    n += 1
except OSError as e:
    err = os.strerror(e.errno)
print(n, err, flush=True)
sys.stdin.read()'
rm -rf "$MNT/u/flood" "$MNT/own"
exec 7> >(as_nobody /usr/bin/python3 -c "$HOLD" "$MNT/u/held" 48 >"$WORK/held.out")
eventually test -s "$WORK/held.out"
ok "an open file of the second user stops at its share ($(cat "$WORK/held.out"))" \
	grep -q "Disk quota exceeded" "$WORK/held.out"
ok "while it holds it, the owner writes 24 MiB" \
	bash -c "head -c $((24 * MB)) /dev/urandom >'$MNT/own24'"
ok "and a second file of the same user gets EDQUOT at once (not created)" \
	test "$(as_nobody /usr/bin/python3 -c "$HOLD" "$MNT/u/held2" 8 </dev/null)" = "0 Disk quota exceeded"
ok "it was not created" test ! -e "$MNT/u/held2"
: >"$MNT/u/held2" && chown 65534:65534 "$MNT/u/held2" # made by the owner: the path truncate below needs one
ok "so does growing it (ftruncate)" \
	bash -c "! setpriv --reuid=65534 --regid=65534 --clear-groups truncate -s 20M '$MNT/u/held2' 2>/dev/null"
ok "or growing it by path (truncate(2))" \
	test "$(as_nobody /usr/bin/python3 -c "
import os, sys
try:
    os.truncate(sys.argv[1], 20 << 20)
    print('grown')
except OSError as e:
    print(os.strerror(e.errno))" "$MNT/u/held2")" = "Disk quota exceeded"
exec 7>&-
ok "once it is closed the share is free again" \
	eventually bash -c "[ \"\$(awk '\$1 == \"uid_held_bytes\" && \$2 == 65534 { print \$3 }' '$MNT/.kvfs/stats')\" = 0 ]"
ok "and the second user writes 16 MiB" \
	test "$(as_nobody /usr/bin/python3 -c "$HOLD" "$MNT/u/held2" 16 </dev/null)" = "16 none"
ok "a write far past the pool's size is still EFBIG" \
	test "$(as_nobody /usr/bin/python3 -c "
import os, sys
f = os.open(sys.argv[1], os.O_WRONLY)
try:
    os.pwrite(f, b'x', 1 << 44)
except OSError as e:
    print(os.strerror(e.errno))" "$MNT/u/held2")" = "File too large"
rm -f "$MNT/own24" "$MNT/u/held" "$MNT/u/held2"

# the pool's owner still makes files while another user holds what it could
# (held through fd 7), then that user lets go
owner_creates_then_release() {
	ok "while they are held the owner creates 100 files" \
		bash -c "mkdir '$MNT/own' && for i in \$(seq 100); do : >'$MNT/own/f'\$i || exit 1; done"
	exec 7>&-
	rm -rf "$MNT/own"
}
# attack_ctl.py MODE as another user, holding what it took until fd 7 closes
ctl_attack() {
	exec 7> >(as_nobody /usr/bin/python3 "$TOP/tests/integration/attack_ctl.py" "$MNT" "$1" \
		>"$WORK/$1.out" 2>&1)
	eventually test -s "$WORK/$1.out"
}

# --- and so are the pool's records (1,023 here): empty files held open ---
OPENS='import os, resource, sys
lim = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (lim, lim))
os.mkdir(sys.argv[1])
n, err = 0, "none"
try:
    for n in range(5000):
        os.open("%s/%d" % (sys.argv[1], n), os.O_CREAT | os.O_RDWR, 0o644)
except OSError as e:
    err = os.strerror(e.errno)
print(n, err, flush=True)
sys.stdin.read()'
exec 7> >(as_nobody /usr/bin/python3 -c "$OPENS" "$MNT/u/empty" >"$WORK/opens.out")
eventually test -s "$WORK/opens.out"
ok "held empty files stop at the share, not at the last record ($(cat "$WORK/opens.out"))" \
	grep -q "Disk quota exceeded" "$WORK/opens.out"
owner_creates_then_release
eventually test "$(find "$MNT/u/empty" -type f | wc -l)" -gt 0
rm -rf "$MNT/u/empty"
# its releases reach the daemon after its exit: its share is free once they have
eventually stat_is held_files 0
ctl_attack pins
ok "pins of 1-byte files stop at the share too ($(cat "$WORK/pins.out"))" \
	grep -q "^ok" "$WORK/pins.out"
owner_creates_then_release
eventually stat_is pinned_files 0
rm -f "$MNT"/u/????????????????????????????????
ctl_attack inodes
ok "1-byte reservations stop at the share too ($(cat "$WORK/inodes.out"))" \
	grep -q "^ok" "$WORK/inodes.out"
owner_creates_then_release

# --- symbolic links hold records too: they are cache entries like files ---
as_nobody mkdir "$MNT/u/links"
ok "the second user makes 2,000 links (twice the records) without running out" \
	as_nobody /usr/bin/python3 -c "
import os, sys
for i in range(2000):
    os.symlink('target-%d' % i, '%s/%d' % (sys.argv[1], i))" "$MNT/u/links"
ok "and the owner still creates 100 files" \
	bash -c "mkdir '$MNT/own' && for i in \$(seq 100); do : >'$MNT/own/f'\$i || exit 1; done"
ok "a link made last is there, with its target" \
	test "$(readlink "$MNT/u/links/1999")" = target-1999
rm -rf "$MNT/own" "$MNT/u/links"

# --- the fast path (attack_ctl.py prints "ok" or what went wrong) ---
AC=$TOP/tests/integration/attack_ctl.py
ok "a commit into a removed namespace whose inode was reused fails, publishes nothing" \
	test "$(python3 "$AC" "$MNT" reuse)" = ok
ok "a pinned block truncated through the mount keeps its bytes until unpinned" \
	test "$(python3 "$AC" "$MNT" truncate)" = ok
ok "a pinned block never moves to another extent (EBUSY past its extents)" \
	test "$(python3 "$AC" "$MNT" migrate)" = ok
if kv_sanitized; then
	echo "SKIP: kvfs run under sanitizers (see test_preload.sh)"
else
	rm -rf "$MNT/churn"
	ok "a block mapped zero-copy keeps its bytes when another process truncates it" \
		test "$("$KVFS" run -m "$MNT" -- python3 "$AC" "$MNT" mapped)" = ok
fi

ok "commits racing lookups in one namespace never hang the daemon" \
	test "$(python3 "$AC" "$MNT" notices)" = ok
ok "the mount still answers" timeout 5 ls "$MNT/nt" >/dev/null

kv_done
