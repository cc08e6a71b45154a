#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The trust model (kvfs(7), TRUST MODEL) as a second local user meets it:
# uid 65534 on a mount with allow_other finds nothing in root's 0700
# namespace, cannot publish where it cannot write, reads zeros where it did
# not write (even asking KVFS_NOZERO), cannot hold more than its share while
# root's writes still succeed; a pool file squatted by another user (or
# writable by others, or a symlink) is refused with a message that says how
# to fix it; a libkvfs client maps the data area only, and scribbling below
# it reaches nothing. trust_check.c does the second user's part.
. "$(dirname "$0")/lib.sh"
TC=$BUILD/tests/trust_check
MB=1048576
kv_setup size=64M,allow_other,user_share=25
chmod 755 "$WORK" # the second user must reach the mount point
ok "a pool created at mount is mode 0600" test "$(stat -c %a "$POOL")" = 600
ok "stats show the share" test "$(stat_of user_share_pct)" = 25

# --- residue: fill the pool with root's 0xAB bytes, free them, reserve ---
cap=$(stat_of capacity_bytes)
mkdir "$MNT/junk" "$MNT/r" "$MNT/r2" "$MNT/rr"
chown 65534:65534 "$MNT/r" "$MNT/r2"
for i in $(seq $((cap / (4 * MB)))); do
	head -c $((4 * MB)) /dev/zero | tr '\0' '\253' >"$MNT/junk/f$i" 2>/dev/null
done
chmod 600 "$MNT"/junk/*
rm -rf "$MNT/junk"
ok "second uid reserves with KVFS_NOZERO and commits without writing" \
	test "$("$TC" -u reserve "$MNT" r 8 $MB nozero)" = "committed 8"
zeros=0
for f in "$MNT"/r/*; do
	cmp -s -n $MB "$f" /dev/zero && zeros=$((zeros + 1))
done
ok "it reads zeros, not root's freed bytes ($zeros of 8 blocks zero)" test "$zeros" -eq 8
ok "a plain reservation by the second uid" \
	test "$("$TC" -u reserve "$MNT" r2 4 $MB)" = "committed 4"
zeros=0
for f in "$MNT"/r2/*; do
	cmp -s -n $MB "$f" /dev/zero && zeros=$((zeros + 1))
done
ok "reads zeros too ($zeros of 4)" test "$zeros" -eq 4
ok "the pool's owner may skip zeroing" \
	test "$("$TC" reserve "$MNT" rr 8 $MB nozero)" = "committed 8"
residue=0
for f in "$MNT"/rr/*; do
	cmp -s -n $MB "$f" /dev/zero || residue=$((residue + 1))
done
ok "and then sees residue (the check above could fail: $residue of 8 not zero)" \
	test "$residue" -gt 0
rm -rf "$MNT/r" "$MNT/r2" "$MNT/rr"

# --- probing and publishing ---
mkdir -m 700 "$MNT/priv"
mkdir -m 755 "$MNT/pub" "$MNT/sec"
mkdir "$MNT/u" && chown 65534:65534 "$MNT/u"
ok "root stores in its 0700 namespace" test "$("$TC" store "$MNT" priv 8 65536 0x11)" = "stored 8"
ok "root stores in a 0755 namespace" test "$("$TC" store "$MNT" pub 20 $MB 0x22)" = "stored 20"
ok "and 0600 blocks in another" test "$("$TC" store "$MNT" sec 4 65536 0x33)" = "stored 4"
chmod 600 "$MNT"/sec/*
ok "root finds all 8 of its 0700 namespace" test "$("$TC" lookup "$MNT" priv 8)" = "found 8"
ok "the second uid finds 0 of them (EACCES)" \
	test "$("$TC" -u lookup "$MNT" priv 8)" = "error EACCES"
mkdir -m 2750 "$MNT/grp" && chgrp 4242 "$MNT/grp"
ok "root stores in a 0750 namespace of group 4242" \
	test "$("$TC" store "$MNT" grp 3 4096 0x44)" = "stored 3"
ok "a member of 4242 (a supplementary group) finds them" \
	test "$("$TC" -u -g 4242 lookup "$MNT" grp 3)" = "found 3"
ok "a non-member does not" test "$("$TC" -u lookup "$MNT" grp 3)" = "error EACCES"
ok "the member may not publish there (no group write)" \
	test "$("$TC" -u -g 4242 reserve "$MNT" grp 1 4096)" = "error EACCES"
chmod 2770 "$MNT/grp"
ok "once the group may write, it publishes" \
	test "$("$TC" -u -g 4242 reserve "$MNT" grp 4 4096)" = "committed 1"
ok "in the set-group-ID namespace its block takes the namespace's group" \
	test "$(stat -c %u:%g "$MNT"/grp/* | sort | uniq -c | awk '{print $1, $2}' | tr '\n' ' ')" \
	= "3 0:4242 1 65534:4242 "
ok "it finds readable blocks of a readable namespace" \
	test "$("$TC" -u lookup "$MNT" pub 4)" = "found 4"
ok "not blocks it may not read (EACCES at the first)" \
	test "$("$TC" -u lookup "$MNT" sec 4)" = "error EACCES"
ok "it cannot publish into root's 0700 namespace" \
	test "$("$TC" -u reserve "$MNT" priv 2 4096)" = "error EACCES"
ok "nor into root's 0755 one" test "$("$TC" -u reserve "$MNT" pub 2 4096)" = "error EACCES"
ok "root's namespaces are unchanged" \
	test "$(ls "$MNT/priv" | wc -l) $(ls "$MNT/pub" | wc -l)" = "8 20"
ok "it publishes into a namespace it may write" \
	test "$("$TC" -u reserve "$MNT" u 2 4096)" = "committed 2"
ok "what it published belongs to it" \
	test "$(stat -c %u:%g "$MNT"/u/* | sort -u)" = "65534:65534"

# --- shares: 25% of the pool, pinned or reserved ---
limit=$((cap / 100 * 25))
"$TC" share "$MNT" pub 20 u "$MNT/owner.bin" 36 >"$WORK/share.out" 2>&1
cat "$WORK/share.out"
pinned=$(awk '$1 == "pinned" { print $2 }' "$WORK/share.out")
ok "the second uid pins only up to its share ($pinned of 20 MiB blocks)" \
	test "${pinned:-0}" -eq $((limit / MB))
ok "a further pin gets EDQUOT" grep -qx "more EDQUOT" "$WORK/share.out"
ok "so does a reservation" grep -qx "reserve EDQUOT" "$WORK/share.out"
held=$(awk '$1 == "held_stat" { print $2 }' "$WORK/share.out")
ok "stats show what it holds ($held bytes)" test "${held:--1}" -eq $((pinned * MB))
ok "meanwhile the owner writes 36 MiB" grep -qx "owner_write ok" "$WORK/share.out"
held_zero() { test "$(awk '$1 == "uid_held_bytes" && $2 == 65534 { print $3 }' \
	"$MNT/.kvfs/stats")" = 0; }
ok "its holds go with its handle" eventually held_zero
"$KVFS" stat "$MNT" >"$WORK/stat.out"
ok "kvfs stat MOUNTPOINT shows per-user holds" grep -q "held_bytes uid 65534" "$WORK/stat.out"
ok "and reads on past them" grep -q "^  use " "$WORK/stat.out"
expect_fail "user_share=101 is refused" "$KVFS" mount -o size=64M,user_share=101 \
	/dev/shm/kvfs-it-$$-bad.pool "$WORK/mnt"

# --- clients map the data area only ---
"$TC" maps "$MNT" >"$WORK/maps.out"
cat "$WORK/maps.out"
ok "a libkvfs mapping starts at the data area (not the superblock)" \
	grep -q "^maps ok" "$WORK/maps.out"
ok "a client scribbling below the data area" \
	bash -c "'$TC' scribble '$MNT' | grep -q '^scribbled'"
ok "changes nothing the daemon reads" test "$("$TC" lookup "$MNT" priv 8)" = "found 8"
ok "the mount still lists its files" test "$(ls "$MNT/pub" | wc -l)" -gt 0
kv_unmount
ok "fsck clean after all of it" "$KVFS" fsck "$POOL"

# --- squatting: the pool file is the trust root ---
SQ=/dev/shm/kvfs-it-$$-sq.pool
M2=$WORK/m2
mkdir -p "$M2"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
refused() { # WHAT PATTERN: mount and mkfs refuse $SQ with a message matching PATTERN
	local out
	out=$("$KVFS" mount -o size=64M "$SQ" "$M2" 2>&1)
	if [ $? -eq 0 ]; then
		kv_unmount "$M2"
		echo "$1: mounted"
		return 1
	fi
	echo "$out" | grep -qE "$2" || { echo "$1: message: $out"; return 1; }
	out=$("$KVFS" mkfs -s 64M "$SQ" 2>&1) && { echo "$1: mkfs went ahead"; return 1; }
	echo "$out" | grep -qE "$2" || { echo "$1: mkfs message: $out"; return 1; }
}
as_nobody touch "$SQ"
ok "a pool file pre-created by another user is refused, saying chown or rm" \
	refused other-owner "owned by uid 65534.*rm $SQ.*chown"
ok "nothing of root's was written to it" test "$(stat -c %s "$SQ")" -eq 0
rm -f "$SQ"
touch "$SQ" && chmod 666 "$SQ"
ok "a pool file writable by others is refused, saying chmod go-w" \
	refused world-writable "mode 0666.*chmod go-w $SQ"
ok "nothing written to it" test "$(stat -c %s "$SQ")" -eq 0
rm -f "$SQ"
as_nobody touch "$SQ.target"
as_nobody ln -s "$SQ.target" "$SQ"
ok "a symlink as the pool is refused, saying rm" refused symlink "symbolic link.*rm $SQ"
ok "nothing written where it points" test "$(stat -c %s "$SQ.target")" -eq 0
rm -f "$SQ" "$SQ.target"
mkfifo -m 600 "$SQ"
ok "a FIFO as the pool is refused at once" refused fifo "not a regular file|neither a regular"
rm -f "$SQ"
ok "with the squatter gone, the mount creates its own pool" \
	"$KVFS" mount -o size=64M "$SQ" "$M2"
ok "mode 0600" test "$(stat -c %a "$SQ")" = 600
kv_unmount "$M2"
rm -f "$SQ"
kv_done
