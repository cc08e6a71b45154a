#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# inspect.sh - a walk-through of what libkvfs stored, with the tools an
# operator already knows. Run it after examples/store_load:
#   build/examples/store_load MNT demo && examples/inspect.sh MNT demo [POOL]
set -euo pipefail
mnt=${1:?usage: inspect.sh MOUNTPOINT NAMESPACE}
ns=${2:?usage: inspect.sh MOUNTPOINT NAMESPACE}
say() { printf '\n$ %s\n' "$*"; }

say "ls -l $mnt/$ns | head -5      # one file per block, named by its chained prefix hash"
ls -l "$mnt/$ns" | head -5
block=$(ls "$mnt/$ns" | head -1)
say "du -sh $mnt/$ns; ls $mnt/$ns | wc -l"
du -sh "$mnt/$ns"
ls "$mnt/$ns" | wc -l
say "getfattr -n user.kvfs.extents $mnt/$ns/$block   # OFFSET:LENGTH in the pool"
getfattr --absolute-names -n user.kvfs.extents "$mnt/$ns/$block"
say "getfattr -n user.kvfs.pool $mnt; getfattr -n user.kvfs.uuid $mnt   # which pool, which UUID"
getfattr --absolute-names -n user.kvfs.pool "$mnt"
getfattr --absolute-names -n user.kvfs.uuid "$mnt"
say "od -A d -t x1 -N 32 $mnt/$ns/$block   # the bytes, through the mount"
od -A d -t x1 -N 32 "$mnt/$ns/$block"
pool=$(getfattr --absolute-names --only-values -n user.kvfs.pool "$mnt")
off=$(getfattr --absolute-names --only-values -n user.kvfs.extents "$mnt/$ns/$block" | cut -d: -f1)
say "od -A d -t x1 -N 32 -j $off $pool   # the same bytes, read straight from the pool"
od -A d -t x1 -N 32 -j "$off" "$pool"
if ! cmp -s <(head -c 32 "$mnt/$ns/$block") <(tail -c +"$((off + 1))" "$pool" | head -c 32); then
	echo "inspect.sh: the mount and the pool disagree about $block" >&2
	exit 1
fi
say "grep -E 'files|used_bytes|ctl_' $mnt/.kvfs/stats"
grep -E 'files|used_bytes|ctl_' "$mnt/.kvfs/stats"
