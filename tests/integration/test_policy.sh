#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_policy.sh - a cache that never runs out of inodes, and per-directory
# policy. Engines that spread blocks over directories (two new ones per
# block) write 10x the pool, four processes at once, with no error and no
# inode exhaustion: eviction removes the directories it empties. A directory
# marked user.kvfs.evict=never keeps every file (a write past its
# user.kvfs.quota gets EDQUOT); one with only a quota evicts its own least
# recently used files to stay under it; the policy survives a remount and
# shows in getfattr, .kvfs/stats and .kvfs/metrics; bad values are refused.
. "$(dirname "$0")/lib.sh"

W=$TOP/tests/integration/tree_writer.py
kv_setup size=64M
inodes=$(df --output=itotal "$MNT" | tail -1)
ok "the 64 MiB pool has few inodes ($inodes)" test "$inodes" -le 1024

# --- directories eviction empties are reclaimed ---
mkdir "$MNT/llmd" "$MNT/vllm_r0"
ok "llm-d layout: 3,000 blocks of 256 KiB (12x the pool), no error" \
	python3 "$W" "$MNT/llmd" 3000 256 llmd
ok "vLLM layout: 3,000 blocks of 256 KiB, no error" python3 "$W" "$MNT/vllm_r0" 3000 256 vllm
four() {
	local pids=() rc=0 k
	for k in 1 2 3 4; do python3 "$W" "$MNT/llmd4" 800 128 llmd >"$WORK/four.$k" & pids+=($!); done
	for k in "${pids[@]}"; do wait "$k" || rc=1; done
	cat "$WORK"/four.* && return $rc
}
ok "four processes on one llm-d tree (same keys, racing makedirs and eviction), no error" four
ok "directories were reclaimed" test "$(stat_of dirs_reclaimed)" -gt 1000
ok "llm-d lookups of 3,000 absent blocks (6,000 empty directories, $inodes inodes), no error" \
	python3 "$TOP/tests/integration/lookup_dirs.py" "$MNT/llmd" 3000
ok "and stores still work after them" python3 "$W" "$MNT/llmd" 300 256 llmd
df_agrees() { local a b; a=$(df --output=iavail "$MNT" | tail -1); b=$(stat_of inodes_free); [ "$a" -eq "$b" ] || { echo "df -i $a stats $b"; false; }; }
ok "df -i agrees with .kvfs/stats" eventually df_agrees
ok "the engines' top directories are there when looked up" test -d "$MNT/llmd" -a -d "$MNT/vllm_r0"
ok "a store into an engine's top directory works" bash -c "echo x > '$MNT/llmd/after'"
ok "fsck-level consistency: files + directories + free = inodes - 1" \
	test $(($(stat_of files) + $(stat_of directories) + $(stat_of inodes_free))) -le "$inodes"

# --- evict=never and quota ---
mkdir "$MNT/lm" "$MNT/q" "$MNT/other"
ok "set evict=never" setfattr -n user.kvfs.evict -v never "$MNT/lm"
ok "set a quota of 16M" setfattr -n user.kvfs.quota -v 16M "$MNT/lm"
ok "getfattr shows the policy" \
	test "$(getfattr --only-values -n user.kvfs.evict "$MNT/lm")/$(getfattr --only-values -n user.kvfs.quota "$MNT/lm")" = never/16M
expect_fail "evict=bogus is refused" setfattr -n user.kvfs.evict -v bogus "$MNT/q"
expect_fail "quota=12X is refused" setfattr -n user.kvfs.quota -v 12X "$MNT/q"
echo x >"$MNT/other/file"
expect_fail "a policy on a file is refused" setfattr -n user.kvfs.evict -v never "$MNT/other/file"
ok "quota of 8388608 bytes on q" setfattr -n user.kvfs.quota -v 8388608 "$MNT/q"
mkdir -p "$MNT/lm/sub"
for i in 1 2 3 4 5 6 7 8; do head -c 2M /dev/urandom >"$WORK/lm$i"; cp "$WORK/lm$i" "$MNT/lm/sub/f$i"; done
ok "a ninth 2 MiB file past the never quota gets EDQUOT" \
	bash -c "{ head -c 2M /dev/zero > '$MNT/lm/sub/f9'; } 2>&1 | grep -q 'quota exceeded'"
for i in $(seq 10); do head -c 2M /dev/urandom >"$MNT/q/f$i"; done
ok "q stays under its quota by evicting its own files" test "$(ls "$MNT/q" | wc -l)" -le 4
ok "q's newest file is kept" test -s "$MNT/q/f10"
for i in $(seq 40); do head -c 2M /dev/urandom >"$MNT/other/f$i" || true; done
ok "filling the pool elsewhere evicted no never file" bash -c \
	"for i in 1 2 3 4 5 6 7 8; do cmp -s '$WORK/lm'\$i '$MNT/lm/sub/f'\$i || exit 1; done"
ok "stats show the never directory" \
	grep -qE '^dir /lm evict never quota_bytes 16777216 used_bytes 1[0-9]{7} files 9 ' "$MNT/.kvfs/stats"
ok "stats show q's own evictions" grep -qE '^dir /q evict lru quota_bytes 8388608 .* evictions [1-9]' "$MNT/.kvfs/stats"
ok "metrics show per-directory use" grep -q '^kvfs_dir_used_bytes{dir="/lm",evict="never"} ' "$MNT/.kvfs/metrics"
ok "removing evict=never makes lm's files evictable" setfattr -x user.kvfs.evict "$MNT/lm"
ok "stats say lru now" grep -qE '^dir /lm evict lru ' "$MNT/.kvfs/stats"
ok "set it back" setfattr -n user.kvfs.evict -v never "$MNT/lm"
kv_unmount
ok "remount" kv_mount size=64M
ok "the policy survives a remount" grep -qE '^dir /lm evict never quota_bytes 16777216 ' "$MNT/.kvfs/stats"
ok "the never files survive" cmp "$WORK/lm8" "$MNT/lm/sub/f8"
for i in $(seq 41 70); do head -c 2M /dev/urandom >"$MNT/other/f$i" || true; done
ok "after the remount, eviction still spares never files" cmp "$WORK/lm1" "$MNT/lm/sub/f1"
ok "rm of a never file frees quota" bash -c "rm '$MNT/lm/sub/f1' '$MNT/lm/sub/f9' && head -c 2M /dev/zero > '$MNT/lm/sub/g'"
kv_done
