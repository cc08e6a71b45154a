#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# examples/engine_load's CPU part against a real mount: it stores its prefix
# when the namespace is empty, finds and pins it with one lookup, checks
# every byte in place and unpins; a second run (another engine process)
# finds everything cached. The GPU part skips here unless built with CUDA
# and run where there is a GPU.
. "$(dirname "$0")/lib.sh"
kv_setup size=256M,inodes=4096
EX=$BUILD/examples/engine_load
OUT1=$WORK/run1.txt
OUT2=$WORK/run2.txt

ok "engine_load stores, looks up, pins, checks bytes, unpins" \
	bash -c "'$EX' --no-gpu '$MNT' llama3 > '$OUT1' 2>&1"
cat "$OUT1"
ok "first run stored all 48 blocks of 2 MiB" grep -q "stored 48 of 48 blocks of 2048 KiB" "$OUT1"
ok "48 of 52 blocks cached and pinned" grep -q "48 of 52 blocks cached and pinned" "$OUT1"
ok "every byte checked on the CPU" grep -q "CPU: 48 blocks of 2048 KiB, every byte checked" "$OUT1"
ok "unpinned" grep -q "unpinned 48 blocks" "$OUT1"
ok "the blocks are files of the namespace" test "$(ls "$MNT/llama3" | wc -l)" -eq 48
ok "each block file is 2 MiB" test "$(stat -c %s "$MNT/llama3/$(ls "$MNT/llama3" | head -1)")" -eq $((2 << 20))

ok "a second process finds the prefix cached without storing" \
	bash -c "'$EX' '$MNT' llama3 > '$OUT2' 2>&1"
cat "$OUT2"
ok "second run stored nothing" bash -c "! grep -q '^stored' '$OUT2'"
ok "second run: CPU bytes checked" grep -q "CPU: 48 blocks of 2048 KiB, every byte checked" "$OUT2"
ok "GPU part ran or said why not" grep -Eq "^GPU: .*every byte checked|^SKIP GPU part: " "$OUT2"

# another shape: 4 layers, 256-token blocks (pieces of 256 KiB)
ok "another model shape in another namespace" \
	bash -c "'$EX' --no-gpu --layers 4 --block-tokens 256 --blocks 8 '$MNT' small | grep -q 'CPU: 8 blocks of 4096 KiB, every byte checked'"

# pins are gone: every block can be removed, and the prefix then misses
ok "rm of every block works once unpinned" rm -f "$MNT"/llama3/*
ok "after rm the example stores again" \
	bash -c "'$EX' --no-gpu '$MNT' llama3 | grep -q 'stored 48 of 48'"
expect_fail "a missing mount is an error" "$EX" --no-gpu "$WORK/nowhere" llama3
expect_fail "bad arguments are an error" "$EX" --layers
kv_unmount
ok "fsck clean after engine_load" "$KVFS" fsck "$POOL"
kv_done
