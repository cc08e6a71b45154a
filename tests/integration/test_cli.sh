#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_cli.sh - the kvfs command line: help and the man page agree; bad
# input gives one line of error, a non-zero exit and changes nothing;
# stat of a pool and of a mountpoint; mkfs; foreground and background
# mounts; and the mount(8) forms (mount.kvfs, mount.fuse3, mount -t
# fuse.kvfs, an fstab line).
. "$(dirname "$0")/lib.sh"

MAN=$TOP/man/kvfs.8
MNT2=$WORK/mnt2
mkdir -p "$MNT2" "$WORK/bin"
POOL2=/dev/shm/kvfs-it-$$-2.pool # removed by kv_cleanup (kvfs-it-$$-*.pool)
NEW=/dev/shm/kvfs-it-$$-new.pool
stop_mounts() { # our second mountpoint, then what lib.sh cleans
	mountpoint -q "$MNT2" && { umount "$MNT2" 2>/dev/null || umount -l "$MNT2"; }
	kv_cleanup
}
trap stop_mounts EXIT

# bad DESCRIPTION REGEX command...: exits non-zero, prints exactly one line
# (on stderr, nothing on stdout) and that line matches REGEX
bad() {
	local d=$1 re=$2 out err rc
	shift 2
	out=$("$@" 2>"$WORK/err")
	rc=$?
	err=$(cat "$WORK/err")
	if [ $rc -ne 0 ] && [ -z "$out" ] && [ "$(grep -c . <<<"$err")" -eq 1 ] &&
		grep -qiE -- "$re" <<<"$err"; then
		T_PASS=$((T_PASS + 1))
	else
		T_FAIL=$((T_FAIL + 1))
		echo "not ok: $d: exit $rc, want one line matching /$re/, got:"
		printf '%s\n' "$out" "$err" | sed '/^$/d; s/^/    | /'
	fi
}

# usage_err DESCRIPTION command...: exits 2 and prints its usage on stderr
usage_err() {
	local d=$1 out rc
	shift
	out=$("$@" 2>&1 >/dev/null)
	rc=$?
	if [ $rc -eq 2 ] && grep -q '^usage: kvfs' <<<"$out"; then
		T_PASS=$((T_PASS + 1))
	else
		T_FAIL=$((T_FAIL + 1))
		echo "not ok: $d: exit $rc (want 2 and a usage line), got: $out"
	fi
}

# reports DESCRIPTION REGEX command...: fsck's verdict on a damaged pool:
# exits 1 and one of its lines (it may list several problems) matches REGEX
reports() {
	local d=$1 re=$2 out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && grep -qiE -- "$re" <<<"$out"; then
		T_PASS=$((T_PASS + 1))
	else
		T_FAIL=$((T_FAIL + 1))
		echo "not ok: $d: exit $rc (want 1 and a line matching /$re/), got:"
		sed 's/^/    | /' <<<"$out"
	fi
}

head_sum() { # FILE: sha256 of its first 4 MiB and its size
	echo "$(head -c $((4 << 20)) "$1" | sha256sum | cut -d' ' -f1) $(stat -c %s "$1")"
}

gone_after() { # wait until nobody holds POOL (the daemon let go), up to 5 s
	local _
	for _ in $(seq 50); do
		fuser -s "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# --- help and the man page ---
help=$("$KVFS" help)
ok "kvfs help exits 0" test $? -eq 0
subs=$(sed -n 's/^  kvfs \([a-z]*\).*/\1/p' <<<"$help")
for s in mount mkfs stat fsck help; do
	ok "kvfs help lists '$s'" grep -qx "$s" <<<"$subs"
done
for s in $subs; do
	ok "kvfs help $s explains it" bash -c "'$KVFS' help $s | grep -q '^usage: kvfs $s'"
	ok "man/kvfs.8 has a '.B kvfs $s' entry" grep -qE "^\.B kvfs $s( |\$)" "$MAN"
done
opts=$("$KVFS" mount 2>&1 | sed -n 's/^ *OPTS: //p' | tr ',' '\n' | sed 's/=.*/=/')
ok "kvfs mount's usage lists its options" test -n "$opts"
sed 's/\\-/-/g' "$MAN" >"$WORK/kvfs.8.txt" # the source, with roff's \- as a plain -
for o in $opts -f; do
	ok "man/kvfs.8 documents mount option '$o'" grep -qE -- "^\.(B|BI|TP) .*$o" "$WORK/kvfs.8.txt"
done
for w in "mount -t fuse.kvfs" mount.kvfs fstab .kvfs/stats .kvfs/metrics .kvfs/ctl "EXIT STATUS" \
	"kvfs (7)" "libkvfs (3)" "libkvfs_cuda (3)"; do
	ok "man/kvfs.8 mentions '$w'" grep -qF -- "$w" "$WORK/kvfs.8.txt"
done
if command -v man >/dev/null; then
	for page in kvfs.8 kvfs.7; do
		ok "man/$page renders without warnings" \
			bash -c "MANWIDTH=80 man --warnings -l '$TOP/man/$page' 2>&1 >/dev/null | (! grep -q .)"
		ok "man/$page renders to text" bash -c "MANWIDTH=80 man -l '$TOP/man/$page' 2>/dev/null | grep -q '^NAME'"
	done
else
	echo "SKIP: rendering the man pages (no man here; apt-get install man-db)"
fi
bad "an unknown subcommand" "unknown subcommand" "$KVFS" frobnicate
bad "help of an unknown subcommand" "no subcommand" "$KVFS" help frobnicate
ok "kvfs without arguments prints usage and exits 2" \
	bash -c "'$KVFS' >/dev/null 2>&1; test \$? -eq 2"

# --- mkfs ---
bad "mkfs -s abc" "not a size" "$KVFS" mkfs -s abc "$NEW"
ok "mkfs -s abc created nothing" test ! -e "$NEW"
bad "mkfs -s 1M (too small)" "too small" "$KVFS" mkfs -s 1M "$NEW"
ok "mkfs -s 1M left no file behind" test ! -e "$NEW"
bad "mkfs -i 3 (too few inodes)" "inode" "$KVFS" mkfs -s 64M -i 3 "$NEW"
ok "mkfs -i 3 left no file behind" test ! -e "$NEW"
usage_err "mkfs without a pool" "$KVFS" mkfs
ok "mkfs -s 64M -i 200 of a new file" "$KVFS" mkfs -s 64M -i 200 "$POOL"
ok "the new pool is 64 MiB" test "$(stat -c %s "$POOL")" = $((64 << 20))
ok "fsck of the new pool is clean" "$KVFS" fsck "$POOL"
before=$(head_sum "$POOL")
bad "mkfs of a formatted pool without -f" "already holds a kvfs pool.*-f" "$KVFS" mkfs "$POOL"
ok "the pool is unchanged (sha256 of the first 4 MiB, size)" test "$(head_sum "$POOL")" = "$before"
bad "mkfs -s 128M of a formatted pool without -f" "already holds" "$KVFS" mkfs -s 128M "$POOL"
ok "the pool is unchanged (not resized)" test "$(head_sum "$POOL")" = "$before"
bad "mkfs -f -s 1M of a formatted pool (too small)" "too small" "$KVFS" mkfs -f -s 1M "$POOL"
ok "the pool is unchanged (not truncated)" test "$(head_sum "$POOL")" = "$before"
bad "mkfs of a directory" "directory" "$KVFS" mkfs -s 64M "$WORK"

# --- stat of a pool that is not mounted ---
out=$("$KVFS" stat "$POOL")
ok "kvfs stat POOL exits 0" test $? -eq 0
ok "kvfs stat POOL shows use of capacity" grep -qE 'used of [0-9.]+ MiB' <<<"$out"
ok "kvfs stat POOL shows the UUID" grep -qE '[0-9a-f]{8}-[0-9a-f]{4}-' <<<"$out"
ok "kvfs stat POOL shows the inode count (200)" grep -qE 'of 200 free' <<<"$out"
bad "kvfs stat of an absent pool" "does not exist" "$KVFS" stat "$NEW"
usage_err "kvfs stat without arguments" "$KVFS" stat

# --- mount, in the background: it returns once the mount works ---
ok "kvfs mount of the formatted pool (no size= needed)" "$KVFS" mount "$POOL" "$MNT"
ok "the mount is up as soon as kvfs mount returns" mountpoint -q "$MNT"
ok ".kvfs/stats answers at once" test -n "$(stat_of capacity_bytes)"
ok "statvfs shows the 200 inodes" test "$(stat -f -c %c "$MNT")" = 200
echo hello >"$MNT/f"
out=$("$KVFS" stat "$MNT")
ok "kvfs stat MOUNTPOINT exits 0" test $? -eq 0
ok "kvfs stat MOUNTPOINT shows capacity" grep -qE '^ *capacity_bytes +[0-9.]+ MiB' <<<"$out"
ok "kvfs stat MOUNTPOINT shows use" grep -qE '^ *used_bytes +[0-9.]+ (KiB|B)' <<<"$out"
ok "kvfs stat MOUNTPOINT shows the percentage" grep -qE '^ *use +[0-9.]+%' <<<"$out"
bad "kvfs stat of a mounted pool points to the mountpoint" "mounted on $MNT" "$KVFS" stat "$POOL"
bad "kvfs stat of a directory that is not kvfs" "not a kvfs mount" "$KVFS" stat "$WORK"
bad "fsck of a mounted pool is refused" "in use" "$KVFS" fsck "$POOL"
bad "mkfs -f of a mounted pool is refused" "in use" "$KVFS" mkfs -f "$POOL"
ok "the mounted pool still works" test "$(cat "$MNT/f")" = hello

# --- mount: bad input ---
bad "mount of a pool that is already mounted" "in use" "$KVFS" mount "$POOL" "$MNT2"
ok "the refused mount left nothing mounted" bash -c "! mountpoint -q '$MNT2'"
bad "mount on a busy mountpoint" "busy|already a mount point" \
	"$KVFS" mount -o size=64M "$POOL2" "$MNT"
ok "the busy refusal created no pool" test ! -e "$POOL2"
ok "the first mount is unaffected" test "$(cat "$MNT/f")" = hello
bad "mount on a mountpoint that does not exist" "does not exist|No such file" \
	"$KVFS" mount -o size=64M "$POOL2" "$WORK/nowhere"
ok "that created no pool" test ! -e "$POOL2"
touch "$WORK/afile"
bad "mount on a file" "not a directory" "$KVFS" mount -o size=64M "$POOL2" "$WORK/afile"
mkdir -p "$WORK/pooldir"
bad "mount of a pool path that is a directory" "is a directory" "$KVFS" mount "$WORK/pooldir" "$MNT2"
bad "mount of a pool that does not exist, without size=" "does not exist.*size=" \
	"$KVFS" mount "$POOL2" "$MNT2"
bad "unknown -o option" "unknown option 'colour'" "$KVFS" mount -o size=64M,colour=red "$POOL2" "$MNT2"
bad "size=abc" "size=abc" "$KVFS" mount -o size=abc "$POOL2" "$MNT2"
bad "size=1M (too small)" "too small" "$KVFS" mount -o size=1M "$POOL2" "$MNT2"
bad "high_watermark=0" "high_watermark" "$KVFS" mount -o size=64M,high_watermark=0 "$POOL2" "$MNT2"
bad "high_watermark=101" "high_watermark" "$KVFS" mount -o size=64M,high_watermark=101 "$POOL2" "$MNT2"
bad "threads=0" "threads" "$KVFS" mount -o size=64M,threads=0 "$POOL2" "$MNT2"
bad "numa=1023 (no such node)" "numa" "$KVFS" mount -o size=64M,numa=1023 "$POOL2" "$MNT2"
bad "inodes=abc" "inodes" "$KVFS" mount -o size=64M,inodes=abc "$POOL2" "$MNT2"
usage_err "mount without a mountpoint" "$KVFS" mount "$POOL2"
ok "no refused mount created a pool or mounted anything" \
	bash -c "test ! -e '$POOL2' && ! mountpoint -q '$MNT2'"
bad "dax:auto without DAX hardware names what to try" "dax.*(daxctl|ndctl|/dev/shm|size=)" \
	"$KVFS" mount dax:auto "$MNT2"
bad "a /dev/dax path that does not exist" "dax" "$KVFS" mount /dev/dax9.9 "$MNT2"
ok "nothing was mounted by the refused mounts" bash -c "! mountpoint -q '$MNT2'"
kv_unmount
ok "the pool is released after umount" gone_after "$POOL"

# --- damaged pools: fsck says what is wrong, mount refuses, nothing is changed ---
cp "$POOL" "$WORK/good.pool"
printf 'garbage!' | dd of="$POOL" bs=1 seek=16 conv=notrunc status=none
before=$(head_sum "$POOL")
reports "fsck of a pool with a corrupt superblock" "superblock checksum" "$KVFS" fsck "$POOL"
bad "mount of a pool with a corrupt superblock" "checksum|corrupt" "$KVFS" mount "$POOL" "$MNT"
ok "neither changed the pool" test "$(head_sum "$POOL")" = "$before"
ok "nothing was mounted" bash -c "! mountpoint -q '$MNT'"

cp "$WORK/good.pool" "$POOL"
printf '\002\000\000\000' | dd of="$POOL" bs=1 seek=8 conv=notrunc status=none
before=$(head_sum "$POOL")
reports "fsck of a pool of a newer format version" "format version 2, newer" "$KVFS" fsck "$POOL"
ok "the version error does not mention the checksum" \
	bash -c "! '$KVFS' fsck '$POOL' 2>&1 | grep -qi checksum"
bad "mount of a pool of a newer format version" "version.*newer" "$KVFS" mount "$POOL" "$MNT"
ok "neither changed the pool" test "$(head_sum "$POOL")" = "$before"

head -c $((32 << 20)) /dev/urandom >"$POOL"
before=$(head_sum "$POOL")
reports "fsck of a file with foreign data" "foreign" "$KVFS" fsck "$POOL"
bad "mount of a file with foreign data, even with size=" "foreign" \
	"$KVFS" mount -o size=64M "$POOL" "$MNT"
bad "mkfs of a file with foreign data without -f" "foreign|-f" "$KVFS" mkfs "$POOL"
ok "none of them touched the foreign data" test "$(head_sum "$POOL")" = "$before"
bad "fsck of an absent pool" "does not exist" "$KVFS" fsck "$NEW"
ok "fsck of an absent pool exits 4" bash -c "'$KVFS' fsck '$NEW' 2>/dev/null; test \$? -eq 4"
usage_err "fsck without a pool" "$KVFS" fsck
ok "mkfs -f of the foreign file formats it" "$KVFS" mkfs -f "$POOL"
ok "and fsck is clean" "$KVFS" fsck "$POOL"

# --- mkfs -f erases a pool ---
cp "$WORK/good.pool" "$POOL"
uuid1=$("$KVFS" stat "$POOL" | awk '/uuid/ {print $2}')
ok "mkfs -f of a pool with files" "$KVFS" mkfs -f "$POOL"
ok "mkfs -f gave it a new UUID" test "$("$KVFS" stat "$POOL" | awk '/uuid/ {print $2}')" != "$uuid1"
kv_mount
ok "the reformatted pool has no files" test -z "$(ls "$MNT")"
kv_unmount

# --- foreground mount ---
"$KVFS" mount -f "$POOL" "$MNT" 2>"$WORK/fg.err" &
FG=$!
for _ in $(seq 50); do mountpoint -q "$MNT" && break; sleep 0.1; done
ok "kvfs mount -f mounts and stays in the foreground" bash -c "mountpoint -q '$MNT' && kill -0 $FG"
umount "$MNT"
wait $FG
ok "kvfs mount -f exits 0 after umount" test $? -eq 0
ok "the foreground daemon's pool is clean" bash -c "! '$KVFS' fsck '$POOL' 2>&1 | grep -q 'not closed cleanly'"
ok "fusermount3 -u unmounts too" bash -c "'$KVFS' mount '$POOL' '$MNT' && fusermount3 -u '$MNT' && ! mountpoint -q '$MNT'"
gone_after "$POOL"

# --- the mount(8) forms ---
ln -s "$KVFS" "$WORK/bin/kvfs"
ln -s "$KVFS" "$WORK/bin/mount.kvfs"
ok "mount.kvfs POOL MNT -o OPTS (the helper name)" "$WORK/bin/mount.kvfs" "$POOL" "$MNT" -o rw,nosuid,threads=2
ok "  is mounted" bash -c "mountpoint -q '$MNT' && test -r '$MNT/.kvfs/stats'"
kv_unmount
ok "kvfs POOL MNT -o OPTS (mount.fuse3's argument order)" "$KVFS" "$POOL" "$MNT" -o dev,suid,high_watermark=90
ok "  is mounted with the option" test "$(stat_of high_watermark_pct)" = 90
kv_unmount
if command -v mount.fuse3 >/dev/null; then
	ok "mount.fuse3 POOL MNT -t kvfs -o size=64M" \
		env PATH="$WORK/bin:$PATH" mount.fuse3 "$POOL2" "$MNT2" -t kvfs -o size=64M
	ok "  is mounted, a fuse.kvfs mount" bash -c "grep -q ' $MNT2 fuse.kvfs ' /proc/mounts"
	ok "  and works" bash -c "echo x > '$MNT2/y' && test \"\$(cat '$MNT2/y')\" = x"
	kv_unmount "$MNT2"
	gone_after "$POOL2"
	rm -f "$POOL2"
	# mount(8) runs helpers with a fixed PATH; in a private mount namespace,
	# put kvfs on it (/usr/local/sbin) without touching the system.
	if unshare -m true 2>/dev/null; then
		echo "$POOL2 $MNT2 fuse.kvfs size=64M,noauto 0 0" >"$WORK/fstab"
		out=$(unshare -m --propagation private bash -c "
			mount --bind '$WORK/bin' /usr/local/sbin || exit 9
			mount -t fuse.kvfs '$POOL' '$MNT' -o size=64M || exit 1
			grep -q ' $MNT fuse.kvfs ' /proc/mounts || exit 2
			echo via-mount-t >'$MNT/z' && test \"\$(cat '$MNT/z')\" = via-mount-t || exit 3
			# a mount just used can be busy for a moment: retry
			for i in \$(seq 30); do umount '$MNT' 2>/dev/null && break; sleep 0.1; done
			! mountpoint -q '$MNT' || exit 4
			mount --fstab '$WORK/fstab' '$MNT2' || exit 5
			grep -q ' $MNT2 fuse.kvfs ' /proc/mounts || exit 6
			test -r '$MNT2/.kvfs/stats' || exit 7
			for i in \$(seq 30); do umount '$MNT2' 2>/dev/null && break; sleep 0.1; done
			! mountpoint -q '$MNT2' || exit 8
			echo done" 2>&1)
		rc=$?
		if [ $rc -eq 9 ]; then
			echo "SKIP: mount -t fuse.kvfs (cannot bind-mount over /usr/local/sbin here)"
		else
			ok "mount -t fuse.kvfs and an fstab line work (exit $rc)" test $rc -eq 0
			[ $rc -eq 0 ] || echo "$out"
		fi
		gone_after "$POOL"
		gone_after "$POOL2"
		ok "the file written via mount -t is in the pool" bash -c "
			'$KVFS' mount '$POOL' '$MNT' && test \"\$(cat '$MNT/z')\" = via-mount-t"
		kv_unmount
	else
		echo "SKIP: mount -t fuse.kvfs (unshare -m is not permitted here)"
	fi
else
	echo "SKIP: mount -t fuse.kvfs (mount.fuse3 is not installed)"
fi
ok "fsck is clean at the end" "$KVFS" fsck "$POOL"

# -o numa=N binds the pool's pages to node N (CXL memory as a CPU-less node)
POOL3=/dev/shm/kvfs-it-$$-numa.pool
mkdir -p "$WORK/numa"
if "$KVFS" mount -o size=32M,numa=0 "$POOL3" "$WORK/numa"; then
	pid=$(fuser "$POOL3" 2>/dev/null | tr -s ' ' '\n' | grep -E '^[0-9]+$' | head -1)
	ok "numa=0: the daemon's pool mapping is bound to node 0" \
		grep -q "bind:0 file=$POOL3" "/proc/$pid/numa_maps"
	kv_unmount "$WORK/numa"
else
	ok "mount -o numa=0" false
fi
rm -f "$POOL3"
kv_done
