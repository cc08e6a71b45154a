#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_shell_tools.sh - what an operator does with the mount using the
# tools they know: mkdir -p, cp, cat, cmp, ls, du, df, find, rm, getfattr,
# setfattr, chmod, chown, touch, and reading .kvfs/stats and .kvfs/metrics.
# Symbolic links (cp -a and tar of a tree with links). Also what kvfs
# refuses: hard links, device nodes, writes to .kvfs.
. "$(dirname "$0")/lib.sh"

same_df_and_stats() { # df's size and use equal .kvfs/stats capacity_bytes and used_bytes
	local size used
	read -r size used < <(df -B1 --output=size,used "$MNT" | tail -1)
	[ "$size" = "$(stat_of capacity_bytes)" ] && [ "$used" = "$(stat_of used_bytes)" ]
}

extents_ok() { # FILE: user.kvfs.extents is "OFFSET:LENGTH ..." covering exactly the file's size
	local text sum=0 e off len
	text=$(getfattr --only-values -n user.kvfs.extents "$1" 2>/dev/null) || return 1
	[[ $text =~ ^[0-9]+:[0-9]+(\ [0-9]+:[0-9]+)*$ ]] || return 1
	for e in $text; do
		off=${e%%:*} len=${e##*:}
		((off % 4096 == 0)) || return 1
		sum=$((sum + len))
	done
	[ "$sum" = "$(stat -c %s "$1")" ]
}

n_extents() {
	getfattr --only-values -n user.kvfs.extents "$1" 2>/dev/null | wc -w
}

kv_setup size=256M
head -c $((5 << 20)) /dev/urandom >"$WORK/five"
head -c $((12 << 20 | 12345)) /dev/urandom >"$WORK/twelve"

# --- directories and files ---
H=$MNT/llama/ab/cd/abcdef0123456789abcdef0123456789
ok "mkdir -p of nested hash directories" mkdir -p "$H" "$MNT/llama/ab/ce" "$MNT/llama/0f/1e"
ok "mkdir -p again is a no-op" mkdir -p "$H"
ok "cp a 5 MiB file in" cp "$WORK/five" "$H/blk0"
ok "cp a 12 MiB file in" cp "$WORK/twelve" "$H/blk1"
ok "cat | cmp of the 5 MiB file" cmp "$WORK/five" <(cat "$H/blk0")
ok "cmp of the 12 MiB file" cmp "$WORK/twelve" "$H/blk1"
ok "cp the file out again, same bytes" cp "$H/blk1" "$WORK/back"
ok "cmp of the copy out" cmp "$WORK/twelve" "$WORK/back"
ok "sha256sum of a file in the mount" test "$(sha256sum <"$H/blk0")" = "$(sha256sum <"$WORK/five")"
for i in $(seq 0 19); do printf 'block %d\n' "$i" >"$MNT/llama/ab/ce/small$i"; done
ok "cat of a small file" test "$(cat "$MNT/llama/ab/ce/small7")" = "block 7"
ok "ls -l shows the size" test "$(ls -l "$H/blk1" | awk '{print $5}')" = $((12 << 20 | 12345))
ok "ls lists the directory" test "$(ls "$H")" = "$(printf 'blk0\nblk1')"
ok "ls -la of the root shows .kvfs" bash -c "ls -la '$MNT' | grep -q ' \.kvfs$'"
ok "stat -c %F says regular file / directory" \
	test "$(stat -c %F "$H/blk0"):$(stat -c %F "$H")" = "regular file:directory"
ok "find counts the files" test "$(find "$MNT/llama" -type f | wc -l)" = 22
ok "find counts the directories" test "$(find "$MNT/llama" -type d | wc -l)" = 7
ok "find -name" test "$(find "$MNT" -name blk1)" = "$H/blk1"
ok "find -size" test "$(find "$MNT/llama" -type f -size +6M)" = "$H/blk1"
ok ".kvfs/stats counts files" test "$(stat_of files)" = 22
ok ".kvfs/stats counts directories" test "$(stat_of directories)" = 7

# --- du and df ---
ok "du -b of the 5 MiB file" test "$(du -b "$H/blk0" | cut -f1)" = $((5 << 20))
ok "du -B1 (allocated) of the 5 MiB file after close is 5 MiB" \
	eventually test "$(du -B1 "$H/blk0" | cut -f1)" = $((5 << 20))
ok "du -sb of the tree is at least the bytes in it" \
	test "$(du -sb "$MNT/llama" | cut -f1)" -ge $((17 << 20))
ok "df works on the mount" bash -c "df '$MNT' >/dev/null"
ok "df -T says fuse.kvfs" bash -c "df -T '$MNT' | tail -1 | grep -q fuse.kvfs"
ok "df size and used equal .kvfs/stats capacity_bytes and used_bytes" eventually same_df_and_stats
ok "used_bytes counts the files (>= 17 MiB)" test "$(stat_of used_bytes)" -ge $((17 << 20))
ok "df -i shows the inodes" bash -c "df -i '$MNT' | tail -1 | awk '{exit !(\$2 > 0)}'"

# --- extents ---
ok "user.kvfs.extents of a copied file: OFFSET:LENGTH covering its size" extents_ok "$H/blk1"
ok "user.kvfs.extents of a small file" extents_ok "$MNT/llama/ab/ce/small3"
ok "truncate -s 3M then write 3 MiB" truncate -s 3M "$H/sized"
ok "dd into the sized file" dd if="$WORK/five" of="$H/sized" bs=1M count=3 conv=notrunc status=none
ok "a file written at a size known up front is one extent" test "$(n_extents "$H/sized")" = 1
ok "and that extent covers exactly 3 MiB" \
	bash -c "getfattr --only-values -n user.kvfs.extents '$H/sized' | grep -qE '^[0-9]+:3145728$'"
ok "its bytes are the ones written" cmp -n $((3 << 20)) "$WORK/five" "$H/sized"
ok "an empty file has no extents" bash -c "touch '$MNT/empty' && test -z \"\$(getfattr --only-values -n user.kvfs.extents '$MNT/empty')\""
# listxattr names what was stored; the computed user.kvfs.* are read by name. Nothing
# stored is ENOTSUP, not an empty list: ls -l (coreutils 9.4 on) lists each file's
# attributes and stops asking a filesystem only once it says ENOTSUP.
xattr_list() { # PATH: the names listxattr gives, space-separated, or the errno name
	python3 -c 'import errno, os, sys
try:
    print(" ".join(os.listxattr(sys.argv[1], follow_symlinks=False)))
except OSError as e:
    print(errno.errorcode[e.errno])' "$1"
}
ok "listxattr of a block with no attributes of its own is ENOTSUP" \
	test "$(xattr_list "$H/blk0")" = ENOTSUP
ok "and of a directory without any, the root, an empty file" \
	test "$(xattr_list "$MNT/llama/0f") $(xattr_list "$MNT") $(xattr_list "$MNT/empty")" = \
	"ENOTSUP ENOTSUP ENOTSUP"
ok "getfattr -d -m - of such a block prints nothing and fails as unsupported" bash -c \
	"! getfattr -d -m - '$H/blk0' 2>&1 >/dev/null | grep -vq 'Operation not supported'"
ok "its extents still read by name" extents_ok "$H/blk0"
# two files grown in turns by fallocate cannot extend in place: each growth
# is a new extent, until the eleventh moves the file into one extent
head -c 4096 "$WORK/five" >"$MNT/gA"
head -c 4096 "$WORK/five" >"$MNT/gB"
# the room a writer kept ahead goes back at its last close, which the kernel sends late
trimmed() {
	getfattr --only-values -n user.kvfs.extents "$MNT/gA" 2>/dev/null | grep -qE '^[0-9]+:4096$' &&
		getfattr --only-values -n user.kvfs.extents "$MNT/gB" 2>/dev/null | grep -qE '^[0-9]+:4096$'
}
eventually trimmed
most=0
for i in $(seq 2 24); do
	fallocate -l $((i * 4096)) "$MNT/gA" && fallocate -l $((i * 4096)) "$MNT/gB" || break
	n=$(n_extents "$MNT/gA")
	((n > most)) && most=$n
done
ok "files grown in turns reach several extents ($most)" test "$most" -ge 5
ok "no file ever has more than 10 extents" test "$most" -le 10
ok "the extents still cover the file's size" extents_ok "$MNT/gA"
ok "the first bytes survive the move into one extent" cmp -n 4096 "$WORK/five" "$MNT/gA"
ok "the grown part reads as zeros" cmp -i 4096:0 -n $((23 * 4096)) "$MNT/gA" /dev/zero
ok "the other file too" cmp -n 4096 "$WORK/five" "$MNT/gB"
rm -f "$MNT/gA" "$MNT/gB"
expect_fail "setfattr of user.kvfs.extents is refused" setfattr -n user.kvfs.extents -v 0:1 "$H/blk0"
expect_fail "setfattr -x of user.kvfs.extents is refused" setfattr -x user.kvfs.extents "$H/blk0"
ok "user.kvfs.extents unchanged after the refused setfattr" extents_ok "$H/blk0"

# --- root xattrs ---
POOL_REAL=$(realpath "$POOL")
ok "user.kvfs.pool on the root is the pool's path" \
	test "$(getfattr --only-values -n user.kvfs.pool "$MNT")" = "$POOL_REAL"
UUID=$(getfattr --only-values -n user.kvfs.uuid "$MNT")
ok "user.kvfs.uuid on the root is a UUID" \
	bash -c "[[ '$UUID' =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]]"
expect_fail "setfattr of user.kvfs.pool is refused" setfattr -n user.kvfs.pool -v /x "$MNT"

# --- user xattrs ---
ok "setfattr of a user xattr on a file" setfattr -n user.engine.model -v llama-3-8b "$H/blk0"
ok "setfattr of a second user xattr" setfattr -n user.engine.layers -v 32 "$H/blk0"
ok "setfattr of a user xattr on a directory" setfattr -n user.ns -v tenant-a "$MNT/llama"
ok "getfattr reads it back" test "$(getfattr --only-values -n user.engine.model "$H/blk0")" = llama-3-8b
ok "getfattr -d lists both" \
	test "$(getfattr -d "$H/blk0" 2>/dev/null | grep -c '^user.engine')" = 2
ok "listxattr names the two stored, not the computed extents" \
	test "$(xattr_list "$H/blk0" | tr ' ' '\n' | sort | tr '\n' ' ')" = "user.engine.layers user.engine.model "
ok "a directory's stored attribute is listed" test "$(xattr_list "$MNT/llama")" = user.ns
ok "setfattr replaces a value" setfattr -n user.engine.layers -v 40 "$H/blk0"
ok "the new value is read back" test "$(getfattr --only-values -n user.engine.layers "$H/blk0")" = 40
ok "setfattr -x removes one" setfattr -x user.engine.layers "$H/blk0"
expect_fail "getfattr of the removed xattr fails" getfattr -n user.engine.layers "$H/blk0"
expect_fail "getfattr of an absent xattr fails" getfattr -n user.nothing "$H/blk0"
expect_fail "setfattr outside the user namespace is refused" setfattr -n trusted.x -v 1 "$H/blk0"
# Outside "user." kvfs keeps nothing: reading says so (ENOTSUP, as setting does), not
# ENODATA, so ls -l and cp stop asking for SELinux labels and ACLs file by file.
xattr_errno() { # PATH NAME: the errno name getxattr fails with, or "none"
	python3 -c 'import errno, os, sys
try:
    os.getxattr(sys.argv[1], sys.argv[2]); print("none")
except OSError as e:
    print(errno.errorcode[e.errno])' "$1" "$2"
}
ok "a user xattr that is absent reads as ENODATA" test "$(xattr_errno "$H/blk0" user.nothing)" = ENODATA
ok "security.selinux reads as not supported" test "$(xattr_errno "$H/blk0" security.selinux)" = ENOTSUP
ok "an ACL reads as not supported" test "$(xattr_errno "$H/blk0" system.posix_acl_access)" = ENOTSUP
ok "a directory's default ACL reads as not supported" \
	test "$(xattr_errno "$MNT/llama" system.posix_acl_default)" = ENOTSUP
if command -v strace >/dev/null; then
	ok "ls -l asks for labels and ACLs once, not once a file" \
		test "$(strace -f -c -e trace=getxattr,lgetxattr ls -l "$H" 2>&1 >/dev/null |
			awk '$NF ~ /getxattr/ { n += $4 } END { print n + 0 }')" -le 4
fi
ok "the file's bytes are untouched by xattrs" cmp "$WORK/five" "$H/blk0"

# --- metadata changes ---
ok "chmod 600" chmod 600 "$H/blk0"
ok "ls -l shows -rw-------" bash -c "ls -l '$H/blk0' | grep -q '^-rw------- '"
ok "chmod of a directory" chmod 700 "$MNT/llama/0f"
ok "stat shows 700" test "$(stat -c %a "$MNT/llama/0f")" = 700
ok "chown 1234:5678" chown 1234:5678 "$H/blk1"
ok "stat shows the owner" test "$(stat -c %u:%g "$H/blk1")" = 1234:5678
ok "touch -d sets the time" touch -d '2021-02-03 04:05:06 UTC' "$H/blk1"
ok "stat shows the time" test "$(stat -c %Y "$H/blk1")" = "$(date -d '2021-02-03 04:05:06 UTC' +%s)"
ok "touch creates an empty file" touch "$MNT/llama/new"
ok "the new file is empty" test "$(stat -c %s "$MNT/llama/new")" = 0

# --- symbolic links ---
ok "ln -s" ln -s "$H/blk0" "$MNT/sym"
ok "readlink gives the target" test "$(readlink "$MNT/sym")" = "$H/blk0"
ok "reading through the link gives the file" cmp "$MNT/sym" "$H/blk0"
ok "a relative, dangling link" ln -s ../nowhere/x "$MNT/llama/dangling"
ok "lstat sees a link of the target's length" test "$(stat -c %F:%s "$MNT/llama/dangling")" = "symbolic link:12"
ok "the dangling link reads as absent" test ! -e "$MNT/llama/dangling"
ok "mv renames the link" mv "$MNT/sym" "$MNT/sym2"
ok "the renamed link still points at the file" test "$(readlink "$MNT/sym2")" = "$H/blk0"
ok "chown -h changes the link" chown -h 1234:5678 "$MNT/sym2"
ok "stat shows the link's owner" test "$(stat -c %u:%g "$MNT/sym2")" = 1234:5678
ok "rm of the link leaves the file" bash -c "rm '$MNT/sym2' && test ! -L '$MNT/sym2' && test -f '$H/blk0'"
ok "ln -s with a 4095-byte target" ln -s "$(printf '%04095d' 0)" "$MNT/longlink"
ok "readlink of the long target" test "$(readlink "$MNT/longlink" | wc -c)" = 4096
expect_fail "ln -s on an existing name fails" ln -s x "$MNT/llama/dangling"
SRC=$WORK/tree
mkdir -p "$SRC/a/b" && echo data >"$SRC/a/b/f" && ln -s b/f "$SRC/a/rel" &&
	ln -s /etc/hostname "$SRC/abs" && ln -s a "$SRC/dirlink" && ln -s missing "$SRC/broken"
ok "cp -a of a tree with links" cp -a "$SRC" "$MNT/tree"
ok "the copy diffs clean" diff -r --no-dereference "$SRC" "$MNT/tree"
ok "tar of a tree with links" bash -c "tar -C '$WORK' -cf - tree | tar -C '$MNT/llama' -xf -"
ok "the untarred copy diffs clean" diff -r --no-dereference "$SRC" "$MNT/llama/tree"
kv_unmount
kv_mount || exit 1
ok "after remount the links read back" test "$(readlink "$MNT/tree/a/rel")" = b/f -a "$(cat "$MNT/tree/dirlink/b/f")" = data

# --- what kvfs refuses: an error, nothing created ---
expect_fail "ln (hard link) fails" ln "$H/blk0" "$MNT/hard"
ok "the hard link was not created" test ! -e "$MNT/hard"
expect_fail "mknod of a fifo fails" mknod "$MNT/fifo" p
expect_fail "mkfifo fails" mkfifo "$MNT/fifo2"
expect_fail "mknod of a character device fails" mknod "$MNT/null" c 1 3
ok "no fifo or device was created" test ! -e "$MNT/fifo" -a ! -e "$MNT/fifo2" -a ! -e "$MNT/null"
ok "the error says why (Operation not permitted / not supported)" \
	bash -c "ln '$H/blk0' '$MNT/hard2' 2>&1 | grep -qiE 'not permitted|not supported'"
expect_fail "writing .kvfs/stats is refused" bash -c "echo x > '$MNT/.kvfs/stats'"
expect_fail "rm of .kvfs/stats is refused" rm -f "$MNT/.kvfs/stats"
expect_fail "rm -r of .kvfs is refused" rm -rf "$MNT/.kvfs"
expect_fail "mkdir .kvfs is refused" mkdir "$MNT/.kvfs"
expect_fail "creating a file in .kvfs is refused" touch "$MNT/.kvfs/mine"
ok ".kvfs is intact" test -r "$MNT/.kvfs/stats" -a -r "$MNT/.kvfs/metrics"

# --- .kvfs/stats and .kvfs/metrics ---
for k in capacity_bytes used_bytes files directories hits misses evictions evicted_bytes held_files; do
	ok ".kvfs/stats has $k" grep -qE "^$k [0-9]+$" "$MNT/.kvfs/stats"
done
ok "every line of .kvfs/stats is 'key value'" bash -c "! grep -vqE '^[a-z_]+ [0-9]+$' '$MNT/.kvfs/stats'"
m0=$(stat_of misses)
stat "$MNT/llama/absent-$$" 2>/dev/null
ok "a stat of an absent name counts a miss" test "$(stat_of misses)" -gt "$m0"
cat "$MNT/.kvfs/metrics" >"$WORK/metrics"
metrics_samples_ok() { # every non-comment line is "kvfs_NAME VALUE"
	! grep -v '^#' "$WORK/metrics" | grep -qvE '^kvfs_[a-z_]+ [0-9]+(\.[0-9]+)?$'
}
metrics_help_type_ok() { # every sample has its # HELP and # TYPE lines
	local name _
	while read -r name _; do
		grep -q "^# HELP $name " "$WORK/metrics" || return 1
		grep -qE "^# TYPE $name (gauge|counter)$" "$WORK/metrics" || return 1
	done < <(grep -v '^#' "$WORK/metrics")
}
metrics_counters_ok() { # counters are named *_total
	! grep '^# TYPE .* counter$' "$WORK/metrics" | awk '{print $3}' | grep -qv '_total$'
}
ok "metrics: every sample line is 'kvfs_name value'" metrics_samples_ok
ok "metrics: every sample has # HELP and # TYPE" metrics_help_type_ok
ok "metrics: counters end in _total" metrics_counters_ok
ok "metrics: capacity agrees with stats" \
	test "$(awk '$1 == "kvfs_capacity_bytes" {print $2}' "$WORK/metrics")" = "$(stat_of capacity_bytes)"
for k in used_bytes files directories held_files; do
	ok "metrics has kvfs_$k" grep -qE "^kvfs_$k [0-9]+$" "$WORK/metrics"
done
for k in hits misses evictions evicted_bytes; do
	ok "metrics has counter kvfs_${k}_total" grep -qE "^kvfs_${k}_total [0-9]+$" "$WORK/metrics"
done

# --- tools that walk the whole mount, .kvfs included ---
ok "cat .kvfs/ctl reads nothing (it takes ioctls)" \
	bash -c "out=\$(cat '$MNT/.kvfs/ctl') && test -z \"\$out\""
ok "grep -r of the mount finds no error (1: no match, 2 would be an error)" \
	bash -c "grep -r -q no-such-text-anywhere '$MNT'; test \$? = 1"
ok "cp -a of the whole mount goes through" cp -a "$MNT" "$WORK/copy"
ok "the copy holds the files" cmp "$H/blk1" "$WORK/copy/${H#"$MNT"/}/blk1"
rm -rf "$WORK/copy"

# --- removal ---
ok "rm of a file" rm "$MNT/llama/ab/ce/small0"
ok "the removed file is gone" test ! -e "$MNT/llama/ab/ce/small0"
expect_fail "rmdir of a non-empty directory fails" rmdir "$MNT/llama/ab/ce"
ok "rm -r of a tree" rm -r "$MNT/llama/ab/ce"
ok "the tree is gone" test ! -e "$MNT/llama/ab/ce"
ok "rmdir of an empty directory" rmdir "$MNT/llama/0f/1e"

# --- persistence across a remount ---
used_before=$(stat_of used_bytes)
kv_unmount
stat_shows_uuid() { # kvfs stat of the pool file names $UUID; says what it printed if not
	local out rc
	out=$("$KVFS" stat "$POOL" 2>&1)
	rc=$?
	grep -q "$UUID" <<<"$out" && [ $rc -eq 0 ] && return 0
	echo "kvfs stat $POOL: exit $rc, printed: $out"
	return 1
}
ok "kvfs stat POOL after unmount shows the same UUID" stat_shows_uuid
ok "remount" kv_mount size=256M
ok "the user xattr survives a remount" \
	test "$(getfattr --only-values -n user.engine.model "$H/blk0" 2>/dev/null)" = llama-3-8b
ok "the directory xattr survives a remount" \
	test "$(getfattr --only-values -n user.ns "$MNT/llama" 2>/dev/null)" = tenant-a
ok "the files survive a remount" cmp "$WORK/twelve" "$H/blk1"
ok "mode, owner and time survive a remount" \
	test "$(stat -c '%a %u:%g %Y' "$H/blk1")" = "644 1234:5678 $(date -d '2021-02-03 04:05:06 UTC' +%s)"
ok "the UUID is the same after a remount" test "$(getfattr --only-values -n user.kvfs.uuid "$MNT")" = "$UUID"
ok "use is the same after a remount" test "$(stat_of used_bytes)" = "$used_before"
ok "a lookup after the remount counts a hit" test "$(stat_of hits)" -gt 0
ok "rm -r of everything" rm -r "$MNT/llama" "$MNT/empty" "$MNT/tree" "$MNT/longlink"
ok "the mount is empty" test -z "$(ls "$MNT")"
ok "use is zero" eventually stat_is used_bytes 0
ok "no files or directories are counted" test "$(stat_of files):$(stat_of directories)" = 0:0
kv_unmount
ok "fsck is clean" "$KVFS" fsck "$POOL"
kv_done
