#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_eviction.sh - the pool is a cache. Fill a small pool (64 MiB) well
# past its capacity with 4 MiB files: every write succeeds because the
# least recently used unheld files are evicted; evicted names are gone from
# ls and stat at once; files held open or mapped by another process are
# never evicted; ENOSPC comes only when everything left is held; and with
# -o high_watermark=50 use drops back under 50% in the background without
# any write failing. Free space left in holes is used for a file longer
# than any of them, with nothing evicted.
. "$(dirname "$0")/lib.sh"

MiB=$((1 << 20))
BG=() # background holders: stopped before lib.sh unmounts, even on failure
trap 'for p in "${BG[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; kv_cleanup' EXIT
make_block() { # N: 4 MiB whose first bytes name the block, to stdout
	printf 'block %08d\n' "$1"
	head -c $((4 * MiB - 15)) "$WORK/src"
}

write_block() { # N NAME
	make_block "$1" >"$MNT/$2"
}

block_ok() { # N NAME: the file holds exactly block N
	[ "$(sha256sum <"$MNT/$2" | cut -d' ' -f1)" = "${SUM[$1]}" ]
}

used_le_capacity() {
	[ "$(stat_of used_bytes)" -le "$(stat_of capacity_bytes)" ]
}

use_at_most() { # PCT
	[ $(($(stat_of used_bytes) * 100)) -le $(($(stat_of capacity_bytes) * $1)) ]
}

head -c $((4 * MiB)) /dev/urandom >"$WORK/src"
declare -A SUM
for n in $(seq 0 79); do
	SUM[$n]=$(make_block "$n" | sha256sum | cut -d' ' -f1)
done

# --- LRU eviction on demand ---
kv_setup size=64M
CAP=$(stat_of capacity_bytes)
FIT=$((CAP / (4 * MiB)))
ok "a 64 MiB pool holds about 14 blocks of 4 MiB (capacity $CAP)" test "$FIT" -ge 12 -a "$FIT" -le 15
failed_writes=0
stale=0
for n in $(seq 0 39); do
	write_block "$n" "b$n" || failed_writes=$((failed_writes + 1))
	# every name stat finds must still be listed by readdir (the daemon's view)
	listed=" $(ls "$MNT" | tr '\n' ' ') "
	for m in $(seq 0 "$n"); do
		if stat "$MNT/b$m" >/dev/null 2>&1 && [[ $listed != *" b$m "* ]]; then
			stale=$((stale + 1))
			echo "b$m: stat finds it after its eviction (after writing b$n)"
		fi
	done
done
ok "40 writes of 4 MiB into a pool that holds $FIT all succeed" test $failed_writes -eq 0
ok "evicted names are gone from stat as soon as they are gone from ls" test $stale -eq 0
ok "evictions were counted" test "$(stat_of evictions)" -ge $((40 - FIT))
ok "evicted_bytes were counted" test "$(stat_of evicted_bytes)" -ge $(((40 - FIT) * 4 * MiB))
ok "used_bytes <= capacity_bytes" used_le_capacity
present=$(ls "$MNT" | grep -c '^b')
ok "the files counter matches ls ($present)" test "$(stat_of files)" = "$present"
ok "at least $((FIT - 1)) blocks are still cached" test "$present" -ge $((FIT - 1))
ok "the oldest block is gone" test ! -e "$MNT/b0"
expect_fail "cat of an evicted block fails" cat "$MNT/b0"
ok "the newest block is there" block_ok 39 b39
oldest_kept=$(ls "$MNT" | grep '^b' | sed 's/^b//' | sort -n | head -1)
ok "the blocks kept are the newest: b$oldest_kept..b39 with no gap" \
	test "$present" -eq $((40 - oldest_kept))
all_ok=1
for n in $(seq "$oldest_kept" 39); do block_ok "$n" "b$n" || all_ok=0; done
ok "every block kept has its own bytes" test $all_ok -eq 1

# Recency: a block read now outlives blocks written after it.
cat "$MNT/b$oldest_kept" >/dev/null
for n in $(seq 40 $((40 + FIT / 2))); do write_block "$n" "b$n"; done
ok "a block read recently is kept (b$oldest_kept)" block_ok "$oldest_kept" "b$oldest_kept"
ok "the block after it, not read, was evicted (b$((oldest_kept + 1)))" test ! -e "$MNT/b$((oldest_kept + 1))"
rm -f "$MNT"/b*
ok "after rm of everything use is zero" eventually stat_is used_bytes 0

# --- held files are never evicted ---
write_block 60 open1
exec 3<"$MNT/open1"
write_block 61 mapped1
python3 - "$MNT/mapped1" "$WORK/mapped.ready" <<'PY' &
import mmap, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
os.close(fd)  # only the mapping holds the file now
open(sys.argv[2], "w").close()
time.sleep(120)
PY
MAPPER=$!
BG+=("$MAPPER")
eventually test -e "$WORK/mapped.ready"
ok "an open fd and a mapping: held_files is 2" eventually stat_is held_files 2
failed_writes=0
for n in $(seq 0 29); do write_block "$n" "c$n" || failed_writes=$((failed_writes + 1)); done
ok "30 more writes succeed around the 2 held files" test $failed_writes -eq 0
ok "evictions happened" test "$(ls "$MNT" | grep -c '^c')" -lt 30
ok "the file held open was not evicted" block_ok 60 open1
ok "the file held open reads through its fd" \
	test "$(sha256sum <&3 | cut -d' ' -f1)" = "${SUM[60]}"
ok "the file held only by a mapping was not evicted" block_ok 61 mapped1
exec 3<&-
kill "$MAPPER" 2>/dev/null
wait "$MAPPER" 2>/dev/null
ok "after close and munmap nothing is held" eventually stat_is held_files 0
for n in $(seq 30 49); do write_block "$n" "c$n"; done
ok "once released, they are evicted like any other" test ! -e "$MNT/open1" -a ! -e "$MNT/mapped1"
rm -f "$MNT"/c*

# --- ENOSPC only when everything is held ---
python3 - "$MNT" "$WORK/src" >"$WORK/hold.out" 2>&1 <<'PY' &
import errno, os, sys, time
mnt, src = sys.argv[1], open(sys.argv[2], "rb").read()
fds, err = [], None
for n in range(100):
    fd = os.open(f"{mnt}/h{n}", os.O_CREAT | os.O_WRONLY)
    fds.append(fd)  # keep every file open: all held
    try:
        done = 0
        while done < len(src):
            done += os.write(fd, src[done:])
    except OSError as e:
        err = e.errno
        break
print("held", len(fds) - 1, "errno", errno.errorcode.get(err, err), flush=True)
open(mnt + "/../holder.ready", "w").close()
time.sleep(120)
PY
HOLDER=$!
BG+=("$HOLDER")
eventually test -e "$WORK/holder.ready"
ok "a writer keeping every file open gets ENOSPC" grep -q 'errno ENOSPC' "$WORK/hold.out"
held=$(awk '{print $2}' "$WORK/hold.out")
ok "only after filling the pool with held files ($held of $FIT)" test "${held:-0}" -ge $((FIT - 1))
ok "no held file was evicted" test "$(ls "$MNT" | grep -c '^h')" -ge "${held:-99}"
ok "used_bytes <= capacity_bytes" used_le_capacity
out=$(head -c $((4 * MiB)) "$WORK/src" 2>&1 >"$MNT/one-more")
ok "a shell write now fails: No space left on device" grep -q 'No space left on device' <<<"$out"
kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null
ok "once the holder exits nothing is held" eventually stat_is held_files 0
ok "and writes succeed again (evicting)" write_block 70 after-release
ok "the new file has its bytes" block_ok 70 after-release
rm -f "$MNT"/h* "$MNT/one-more" "$MNT/after-release"
kv_unmount
ok "fsck is clean after all the evictions" "$KVFS" fsck "$POOL"
rm -f "$POOL"

# --- running out of inodes is an allocation like any other ---
ok "mount a pool with 64 inodes" kv_mount size=64M,inodes=64
failed_creates=0
for n in $(seq 1 150); do
	echo "$n" >"$MNT/i$n" 2>/dev/null || failed_creates=$((failed_creates + 1))
done
ok "150 creates in a pool of 64 inodes all succeed, evicting ($failed_creates failed)" \
	test $failed_creates -eq 0
ok "running out of inodes does not wipe the cache (at least 32 files kept, $(stat_of files) are)" \
	test "$(stat_of files)" -ge 32
ok "the newest file is there" test "$(cat "$MNT/i150" 2>/dev/null)" = 150
rm -f "$MNT"/i*
kv_unmount
rm -f "$POOL"

# --- background eviction above the high watermark ---
ok "mount with -o high_watermark=50" kv_mount size=64M,high_watermark=50
CAP=$(stat_of capacity_bytes)
ok "high_watermark_pct is shown in .kvfs/stats" test "$(stat_of high_watermark_pct)" = 50
target=$((CAP * 8 / 10 / (4 * MiB)))
failed_writes=0
for n in $(seq 1 "$target"); do write_block "$n" "w$n" || failed_writes=$((failed_writes + 1)); done
ok "writing $target blocks (~80% of the pool) never fails" test $failed_writes -eq 0
ok "use drops to <= 50% within 2 s" eventually use_at_most 50
ok "background eviction was counted" test "$(stat_of evictions)" -gt 0
ok "the newest block is kept" block_ok "$target" "w$target"
ok "evicted names are gone from ls and stat" bash -c \
	"for f in \$(seq 1 $target); do [ -e '$MNT'/w\$f ] || continue; ls '$MNT' | grep -qx w\$f || exit 1; done"
ok "the files counter matches ls" test "$(stat_of files)" = "$(ls "$MNT" | grep -c '^w')"
kv_unmount
ok "fsck is clean" "$KVFS" fsck "$POOL"
rm -f "$POOL"

# --- free space in holes is used, never evicted for ---
kv_setup size=64M
FIT=$(($(stat_of capacity_bytes) / (4 * MiB)))
for n in $(seq 0 $((FIT - 1))); do write_block "$n" "s$n"; done
for n in $(seq 0 2 $((FIT - 1))); do rm "$MNT/s$n"; done
before=$(stat_of evictions)
ok "the free space is in holes (largest $(stat_of largest_free_bytes) of $(stat_of free_bytes))" \
	test "$(stat_of largest_free_bytes)" -lt $((16 * MiB)) -a "$(stat_of free_bytes)" -gt $((20 * MiB))
ok "fallocate of 16 MiB, longer than any hole, succeeds" fallocate -l 16M "$MNT/big"
ok "... from several holes" \
	test "$(getfattr --absolute-names --only-values -n user.kvfs.extents "$MNT/big" | wc -w)" -gt 1
ok "... with nothing evicted" test "$(stat_of evictions)" = "$before"
bad=0
for n in $(seq 1 2 $((FIT - 1))); do block_ok "$n" "s$n" || bad=$((bad + 1)); done
ok "every block kept is intact" test $bad -eq 0
kv_unmount
ok "fsck is clean after" "$KVFS" fsck "$POOL"
kv_done
