#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# demo.sh - the main job, end to end: create a 1 GiB pool in /dev/shm, mount
# it on ./mnt of the checkout, store KV blocks the two ways engines do (as
# files, and through libkvfs's zero-copy store), read them back, and show
# what an operator sees: ls, df, xattrs, .kvfs/stats. The mount stays up for
# you to explore; `umount ./mnt` takes it down (the pool and its blocks stay).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$top/$build" ;; esac
kvfs="$build/kvfs"
pool=${KVFS_POOL:-/dev/shm/kvfs.pool}
mnt="$top/mnt"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

mkdir -p "$mnt"
if mountpoint -q "$mnt"; then
	say "unmounting the previous demo mount"
	umount "$mnt"
	sleep 0.2
fi
say "mount: $kvfs mount -o size=1G $pool $mnt"
"$kvfs" mount -o size=1G,high_watermark=90 "$pool" "$mnt"
mount | grep " $mnt "

say "store 8 blocks of 2 MiB as files (write a temp name, rename onto the hash: what file-based engines do)"
mkdir -p "$mnt/demo-files"
for i in $(seq 0 7); do
	name=$(printf 'block%02d' "$i" | sha256sum | cut -c1-32)
	head -c $((2 << 20)) /dev/urandom > "/tmp/kvfs-demo-$i"
	cp "/tmp/kvfs-demo-$i" "$mnt/demo-files/.tmp-$name"
	mv "$mnt/demo-files/.tmp-$name" "$mnt/demo-files/$name"
	cmp "/tmp/kvfs-demo-$i" "$mnt/demo-files/$name"
	rm -f "/tmp/kvfs-demo-$i"
done
echo "8 blocks stored and read back byte for byte"

if [ -x "$build/examples/store_load" ]; then
	say "store and load a token prefix through libkvfs (zero-copy fast path)"
	mkdir -p "$mnt/demo"
	"$build/examples/store_load" "$mnt" demo
	say "inspect what it stored (examples/inspect.sh)"
	"$top/examples/inspect.sh" "$mnt" demo
fi

say "ls -l $mnt/demo-files"
ls -l "$mnt/demo-files"
say "df -h $mnt"
df -h "$mnt"
say "where a block lives in the pool: getfattr -n user.kvfs.extents"
getfattr --absolute-names -n user.kvfs.extents "$mnt/demo-files/$(ls "$mnt/demo-files" | head -1)"
say "cat $mnt/.kvfs/stats"
cat "$mnt/.kvfs/stats"
say "done: kvfs is mounted on $mnt (unmount with: umount $mnt)"
