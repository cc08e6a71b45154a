#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_engines.sh - the file backends of SGLang, LMCache (local_disk and
# fs), vLLM's FS tier, llm-d and Dynamo KVBM, replayed by engine_replay.py
# (at the end, each again under `kvfs run`)
# on a real mount (tests/integration/engines/README says what each does):
# no error other than a clean miss, every hit byte-exact, several processes
# at once, O_DIRECT from 4 writers and from unaligned buffers, 2 and 16 MiB
# blocks, ten times the pool through the llm-d and vLLM directory layouts
# without running out of inodes, LMCache's own index safe under
# user.kvfs.evict=never + user.kvfs.quota while another engine floods the
# pool, a tree with symlinks copied in by cp -a and tar, and df -i telling
# the truth.
. "$(dirname "$0")/lib.sh"
R=$TOP/tests/integration/engine_replay.py
LOG=$WORK/replay.log

RUN=() # a command the replays run under (kvfs run, in the last part)
replay() { # ARGS...: run one replay, show its summary line, keep it in $LOG
	local rc
	"${RUN[@]}" python3 "$R" "$@" >"$WORK/last" 2>&1
	rc=$?
	cat "$WORK/last" >>"$LOG"
	sed 's/^/    /' "$WORK/last" | tail -n 4
	return $rc
}

field() { # NAME: its value in the last replay's summary line
	tail -n 1 "$WORK/last" | grep -o " $1=[0-9]*" | cut -d= -f2
}

inodes_true() { # df -i's used count is every name below the mount, plus the root
	local used names
	used=$(df --output=iused "$MNT" | tail -1 | tr -d ' ')
	names=$(find "$MNT" -mindepth 1 -path "$MNT/.kvfs" -prune -o -print | wc -l)
	[ "$used" -eq $((names + 1)) ]
}

inodes_settle() { # inodes_true within 10 s: records of removed directories go when the kernel forgets them
	local _
	for _ in $(seq 100); do
		inodes_true && return 0
		sleep 0.1
	done
	inodes_true
}

inodes_left() { # df -i shows free inodes
	[ "$(df --output=iavail "$MNT" | tail -1 | tr -d ' ')" -gt 0 ]
}

# --- ten times a 128 MiB pool through the two hashed directory layouts ----
kv_setup size=128M
ok "llm-d layout, 2 ranks, 10x the pool in 1 MiB blocks" \
	replay llmd "$MNT/llmd" --procs 2 --blocks 640 --block-size 1M
ok "llm-d: blocks read back while storing hit" test "$(field hits)" -gt 600
ok "inodes left after llm-d's 10x" inodes_left
ok "the directories eviction emptied were reclaimed" test "$(stat_of dirs_reclaimed)" -gt 1000
ok "df -i counts every file and directory (once the kernel forgets what eviction removed)" inodes_settle
rm -rf "$MNT/llmd"
ok "vLLM layout, 4 ranks, O_DIRECT, 10x the pool in 1 MiB blocks" \
	replay vllm "$MNT/vllm" --procs 4 --blocks 320 --block-size 1M
ok "vLLM: blocks read back while storing hit" test "$(field hits)" -gt 600
ok "inodes left after vLLM's 10x" inodes_left
ok "df -i counts every file and directory (once the kernel forgets what eviction removed)" inodes_settle
ok "rm -rf of the tree" rm -rf "$MNT/vllm"
ok "df -i back to the root alone" test "$(df --output=iused "$MNT" | tail -1 | tr -d ' ')" -eq 1
kv_unmount
rm -f "$POOL"

# --- a 256 MiB pool ------------------------------------------------------
kv_setup size=256M
ok "SGLang, 2 ranks, 2 MiB, fits: every block hits" \
	replay sglang "$MNT/sglang" --procs 2 --blocks 24 --expect-all-hits
ok "SGLang, a new process scans and reads every block" \
	replay sglang "$MNT/sglang" --procs 2 --blocks 24 --phase get --expect-all-hits
ok "SGLang, 4 ranks, 16 MiB, 3x the pool" \
	replay sglang "$MNT/sglang16" --procs 4 --blocks 12 --block-size 16M --seed 2
ok "LMCache fs, 2 processes, 16 MiB + header, fits: every block hits" \
	replay lmcache-fs "$MNT/lmc-fs" --procs 2 --blocks 4 --block-size 16M --expect-all-hits
ok "LMCache fs, 4 processes, 2 MiB + header, 2x the pool" \
	replay lmcache-fs "$MNT/lmc-fs" --procs 4 --blocks 64 --seed 3
ok "vLLM, 4 O_DIRECT writers, 16 MiB, 2x the pool" \
	replay vllm "$MNT/vllm16" --procs 4 --blocks 8 --block-size 16M
ok "vLLM, 1 O_DIRECT writer, 16 MiB from an unaligned buffer, 1.5x the pool" \
	replay vllm "$MNT/vllm-u" --blocks 24 --block-size 16M --unaligned
ok "vLLM, 4 O_DIRECT writers, 2 MiB from unaligned buffers, 2x the pool" \
	replay vllm "$MNT/vllm-u2" --procs 4 --blocks 64 --unaligned
ok "Dynamo, 2 workers, tier files of 4 x 16 MiB, O_DIRECT, slots reused" \
	replay dynamo "$MNT/dynamo" --procs 2 --blocks 12 --slots 4 --block-size 16M
ok "Dynamo: its unlinked tier files are gone" test -z "$(ls -A "$MNT/dynamo")"
expect_fail "Dynamo: two tier files of 160 MiB held open do not both fit" \
	replay dynamo "$MNT/dynamo" --procs 2 --slots 10 --block-size 16M
ok "... one fallocate gets ENOSPC, the other tier works" \
	bash -c "grep -q '(ENOSPC=1) ' '$WORK/last' && grep -q ' corrupt=0 ' '$WORK/last'"

# LMCache local_disk keeps its own index: kvfs must not evict behind it
mkdir -p "$MNT/lmc-disk"
ok "setfattr user.kvfs.evict=never" setfattr -n user.kvfs.evict -v never "$MNT/lmc-disk"
ok "setfattr user.kvfs.quota=64M" setfattr -n user.kvfs.quota -v 64M "$MNT/lmc-disk"
ok "getfattr shows evict=never" \
	test "$(getfattr --only-values -n user.kvfs.evict "$MNT/lmc-disk" 2>/dev/null)" = never
ok "getfattr shows the quota" bash -c \
	"getfattr --only-values -n user.kvfs.quota '$MNT/lmc-disk' 2>/dev/null | grep -Eqx '64M|67108864'"
ok "LMCache local_disk, 4 O_DIRECT workers of 12 MiB each under a 64 MiB quota, another tenant writing 2x the pool between stores and loads: no corrupt hit" \
	replay lmcache-disk "$MNT/lmc-disk" --procs 4 --blocks 40 --max-size 12M --odirect \
	--batch 3 --flood "$MNT/flood" --flood-bytes 512M
ok "... and it hit" test "$(field hits)" -gt 100
expect_fail "the same without evict=never: kvfs evicts behind LMCache's index (a corrupt hit, the engine's flaw, which the test must see)" \
	replay lmcache-disk "$MNT/lmc-lru" --procs 2 --blocks 20 --max-size 24M --batch 6 \
	--flood "$MNT/flood" --flood-bytes 512M --seed 7
ok "... seen as corrupt hits" test "$(field corrupt)" -gt 0
rm -rf "$MNT/flood" "$MNT/lmc-lru"
# a new LMCache process starts with an empty index and never removes the
# files of the one before: clear them, as an operator must
rm -f "$MNT"/lmc-disk/*.pt
ok "LMCache local_disk, 16 MiB blocks, unaligned O_DIRECT, 48 MiB under the quota" \
	replay lmcache-disk "$MNT/lmc-disk" --blocks 12 --block-size 16M --max-size 48M \
	--odirect --unaligned --seed 5
rm -f "$MNT"/lmc-disk/*.pt
expect_fail "LMCache local_disk with max_local_disk_size above the quota fails" \
	replay lmcache-disk "$MNT/lmc-disk/over" --blocks 48 --max-size 96M --seed 6
ok "... with EDQUOT, and no corrupt hit" \
	bash -c "grep -q EDQUOT '$WORK/last' && grep -q ' corrupt=0 ' '$WORK/last'"

ok ".kvfs/stats shows the marked directory, never evicted" \
	grep -Eq "^dir /lmc-disk evict never quota_bytes 67108864 .* evictions 0 " "$MNT/.kvfs/stats"

# a quota under the default policy: the subtree evicts its own files only
rm -rf "$MNT"/sglang* "$MNT"/lmc-fs "$MNT"/vllm* "$MNT"/lmc-disk/over
ok "SGLang stores 64 MiB in an unmarked directory" \
	replay sglang "$MNT/keep" --blocks 32 --seed 8 --expect-all-hits
mkdir -p "$MNT/q"
ok "setfattr user.kvfs.quota=32M (evict stays lru)" setfattr -n user.kvfs.quota -v 32M "$MNT/q"
ok "SGLang, 2 ranks, 8x the quota into the quota directory" \
	replay sglang "$MNT/q/hicache" --procs 2 --blocks 64 --seed 9
ok "... its blocks were evicted, not refused" test "$(field misses)" -gt 0
ok "the quota directory holds at most 32 MiB" \
	test "$(find "$MNT/q" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')" -le $((32 << 20))
ok ".kvfs/stats counts the quota directory's evictions" \
	grep -Eq "^dir /q evict lru quota_bytes 33554432 .* evictions [1-9]" "$MNT/.kvfs/stats"
ok "the unmarked directory lost nothing" \
	replay sglang "$MNT/keep" --blocks 32 --seed 8 --phase get --expect-all-hits

# a tree with symbolic links, copied in by cp -a and by tar
SRC=$WORK/tree
mkdir -p "$SRC/a/b" "$SRC/c"
head -c 300000 /dev/urandom >"$SRC/a/b/blob"
echo text >"$SRC/c/note"
ln -s b/blob "$SRC/a/rel"
ln -s ../c "$SRC/a/dirlink"
ln -s /nonexistent/target "$SRC/dangling"
ok "cp -a of a tree with symlinks" cp -a "$SRC" "$MNT/cp"
ok "... diff -r clean" diff -r --no-dereference "$SRC" "$MNT/cp"
ok "... a symlink reads back" test "$(readlink "$MNT/cp/a/rel")" = b/blob
mkdir -p "$MNT/tar"
ok "tar of a tree with symlinks" bash -c "tar -C '$SRC' -cf - . | tar -C '$MNT/tar' -xf -"
ok "... diff -r clean" diff -r --no-dereference "$SRC" "$MNT/tar"
ok "df -i counts every file and directory (once the kernel forgets what eviction removed)" inodes_settle
kv_unmount
ok "fsck clean after the engines" "$KVFS" fsck "$POOL"
kv_mount size=256M
ok "the policy survives a restart" \
	test "$(getfattr --only-values -n user.kvfs.evict "$MNT/lmc-disk" 2>/dev/null)" = never
ok "symlinks survive a restart" test "$(readlink "$MNT/cp/a/rel")" = b/blob

# --- the same engines, unmodified, under kvfs run (zero-copy reads and maps) ---
if kv_sanitized; then
	# as in test_preload: the preload library built with sanitizers needs them in every program
	echo "SKIP under kvfs run: an LD_PRELOAD library built with sanitizers needs them in every program"
else
	RUN=("$KVFS" run -m "$MNT" --)
	ok "under kvfs run: SGLang, 2 ranks, every block hits" \
		replay sglang "$MNT/run/sglang" --procs 2 --blocks 16 --expect-all-hits
	ok "under kvfs run: LMCache FSConnector" replay lmcache-fs "$MNT/run/lmc-fs" --procs 2 --blocks 16
	ok "under kvfs run: vLLM, 4 O_DIRECT writers, unaligned buffers" \
		replay vllm "$MNT/run/vllm" --procs 4 --blocks 32 --unaligned
	ok "under kvfs run: llm-d" replay llmd "$MNT/run/llmd" --procs 2 --blocks 64 --block-size 1M
	ok "under kvfs run: Dynamo" replay dynamo "$MNT/run/dynamo" --procs 2 --blocks 12 --slots 4 --block-size 4M
	mkdir -p "$MNT/run/lmc-disk"
	setfattr -n user.kvfs.evict -v never "$MNT/run/lmc-disk"
	ok "under kvfs run: LMCache local_disk (evict=never), O_DIRECT" \
		replay lmcache-disk "$MNT/run/lmc-disk" --procs 2 --blocks 16 --max-size 12M --odirect
	ok "... and it hit" test "$(field hits)" -gt 0
fi
RUN=()
kv_done
