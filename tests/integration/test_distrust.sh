#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_distrust.sh - one bad record costs one file, through the real
# commands: fsck names the bad record, a mount drops it and serves every
# other file (counted as quarantined in .kvfs/stats and metrics), fsck
# --repair does the same without mounting, and a record scribbled in the
# pool while mounted (as a client with the pool mapped could) makes that
# file EIO while the daemon and every other file carry on.
. "$(dirname "$0")/lib.sh"

# poke NAME FIELD VALUE: change a live record of the pool file, found by name
poke() {
	python3 - "$POOL" "$1" "$2" "$3" <<'EOF'
import struct, sys
pool, name, field, value = sys.argv[1], sys.argv[2].encode(), sys.argv[3], sys.argv[4]
with open(pool, "r+b") as f:
    sb = f.read(4096)
    inode_off, inode_count = struct.unpack_from("<QQ", sb, 56)
    data_off = struct.unpack_from("<Q", sb, 80)[0]
    for ino in range(2, inode_count):
        f.seek(inode_off + ino * 512)
        rec = f.read(512)
        state = struct.unpack_from("<I", rec, 0)[0]
        nlen = struct.unpack_from("<H", rec, 84)[0]
        if state != 1 or rec[248:248 + nlen] != name:
            continue
        if field == "extent_count":
            f.seek(inode_off + ino * 512 + 86)
            f.write(struct.pack("<H", int(value)))
        elif field == "ext0_off":  # relative to the data area
            f.seek(inode_off + ino * 512 + 88)
            f.write(struct.pack("<Q", data_off + int(value)))
        elif field == "flip":  # one byte of the file's data
            f.seek(struct.unpack_from("<Q", rec, 88)[0] + int(value))
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 1]))
        elif field == "name":
            f.seek(inode_off + ino * 512 + 84)
            f.write(struct.pack("<H", len(value)))
            f.seek(inode_off + ino * 512 + 248)
            f.write(value.encode())
        print(ino)
        sys.exit(0)
sys.exit(1)
EOF
}

content() { # N: the bytes file N holds
	printf 'file %d\n' "$1"
	head -c $((3000 + $1 * 1000)) /dev/zero | tr '\0' "$(printf "\\$(printf %o $((65 + $1)))")"
}

same() { # N: the mounted file fN holds content N
	cmp -s <(content "$1") "$MNT/f$1"
}

kv_setup size=64M
for n in 1 2 3 4 5 6; do content "$n" >"$MNT/f$n"; done
mkdir "$MNT/d"
content 7 >"$MNT/d/f7"
kv_unmount

# --- data checksums: stored at the last close, verified by fsck --data ---
out=$("$KVFS" fsck --data "$POOL" 2>&1)
ok "fsck --data of the fresh pool is clean" test $? -eq 0
ok "fsck --data verified all seven files" grep -q "verified the bytes of 7 files" <<<"$out"
poke f6 flip 100 >/dev/null
ok "plain fsck does not read the data" "$KVFS" fsck "$POOL"
out=$("$KVFS" fsck --data "$POOL" 2>&1)
ok "fsck --data finds a changed byte" test $? -eq 1
ok "and names the file's record" grep -q "do not match their checksum" <<<"$out"
poke f6 flip 100 >/dev/null

# --- a bad record at mount: dropped, the others kept ---
ino=$(poke f3 extent_count 60000)
ok "the record was found" test -n "$ino"
out=$("$KVFS" fsck "$POOL" 2>&1)
ok "fsck of the pool with a bad record exits 1" test $? -eq 1
ok "fsck names the record and what is wrong" grep -q "inode $ino has too many extents" <<<"$out"
ok "the mount serves the pool anyway" kv_mount size=64M
for n in 1 2 4 5 6; do ok "f$n is served byte-exact" same "$n"; done
ok "d/f7 is served byte-exact" cmp -s <(content 7) "$MNT/d/f7"
ok "the bad record's file is gone" test ! -e "$MNT/f3"
ok "stats count one quarantined record" test "$(stat_of quarantined)" = 1
ok "metrics too" grep -q '^kvfs_quarantined_total 1$' "$MNT/.kvfs/metrics"
ok "its name can be used again" bash -c "printf x >'$MNT/f3'"
kv_unmount
ok "fsck is clean after the mount's repair" "$KVFS" fsck "$POOL"

# --- fsck --repair: the same repair without mounting ---
poke f5 name . >/dev/null
expect_fail "fsck of a record named ." "$KVFS" fsck "$POOL"
out=$("$KVFS" fsck --repair "$POOL" 2>&1)
ok "fsck --repair exits 0" test $? -eq 0
ok "fsck --repair says it dropped one record" grep -q "dropped 1 bad record$" <<<"$out"
ok "fsck is clean after --repair" "$KVFS" fsck "$POOL"
usage_out=$("$KVFS" fsck --frobnicate "$POOL" 2>&1)
ok "fsck with an unknown option is a usage error" test $? -eq 2
ok "fsck's usage names --repair" grep -q -- "--repair" <<<"$usage_out"

# --- a record scribbled while mounted: EIO for that file only ---
kv_mount size=64M
poke f2 ext0_off $((1 << 50)) >/dev/null
ok "a read of the scribbled file fails" bash -c "! cat '$MNT/f2' >/dev/null 2>&1"
ok "with EIO" bash -c "cat '$MNT/f2' 2>&1 >/dev/null | grep -qi 'input/output error'"
ok "the daemon still answers" ls "$MNT/f1"
for n in 1 4 6; do ok "f$n is still served byte-exact" same "$n"; done
ok "stats count it" test "$(stat_of quarantined)" = 1
ok "writes elsewhere still work" bash -c "echo hello >'$MNT/new' && grep -q hello '$MNT/new'"
kv_unmount
ok "the next mount drops it" kv_mount size=64M
ok "so f2 is gone" test ! -e "$MNT/f2"
ok "and f1 is still there" same 1
kv_unmount
ok "fsck is clean at the end" "$KVFS" fsck "$POOL"
kv_done
