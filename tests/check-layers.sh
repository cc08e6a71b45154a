#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# check-layers.sh - fail when an #include crosses the layering that the top
# of mm/mm.h writes down: no mm/ file includes a header of fs/ or gpu/, no
# mm/ file includes the header of a layer above its own (a header: only
# headers of layers below it), every mm/ file belongs to a layer of the
# order, and fs/ reaches mm/ through mm.h (and log.h, hex.h), never through its
# private headers nor the on-pool format (layout.h: clients learn what they
# need through the ctl file's INFO ioctl, the daemon through mm.h).
# Reads only the #include lines. Usage: check-layers.sh [TOP] (default: the
# tree this script is in). Prints one line per violation; exit 1 if any.
# `check-layers.sh --self-test` checks the checker: it must pass on this
# tree and fail on copies of it with one bad #include each.
set -u
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

if [ "${1:-}" = --self-test ]; then
	src=$(cd "$(dirname "$0")/.." && pwd)
	tmp=$(mktemp -d /tmp/kvfs-layers.XXXXXX)
	trap 'rm -rf "$tmp"' EXIT
	"$self" "$src" || { echo "FAIL: the tree itself does not pass"; exit 1; }
	n=0
	for c in 'mm/pool.c:#include "daemon.h"' 'mm/data.c:#include "../fs/handles.h"' \
		 'mm/alloc.c:#include "kvfs_cuda_int.h"' 'mm/alloc.h:#include "pool_int.h"' \
		 'mm/layout.h:#include "mm.h"' 'mm/index.c:#include "holds.h"' \
		 'mm/lru.c:#include "evict.h"' 'mm/extents.c:#include "policy.h"' \
		 'mm/snap.h:#include "journal.h"' 'mm/pool_int.h:#include "index.h"' \
		 'mm/holds.c:#include "data.h"' 'mm/check.c:#include "pool_int.h"' \
		 'fs/ctl.c:#include "pool_int.h"' 'fs/daemon.h:#include "backend.h"' \
		 'fs/mount.c:#include "alloc.h"' 'fs/handles.c:#include "evict.h"' \
		 'fs/libkvfs.c:#include "layout.h"' 'fs/preload_pool.c:#include "../mm/layout.h"' \
		 'mm/mm.h: *   zzz.c                    a layer the checker does not know'; do
		rm -rf "${tmp:?}"/*
		cp -r "$src/mm" "$src/fs" "$src/gpu" "$src/include" "$tmp/"
		echo "${c#*:}" >>"$tmp/${c%%:*}"
		if "$self" "$tmp" >/dev/null; then
			echo "FAIL: not caught: ${c%%:*} with ${c#*:}"
			exit 1
		fi
		n=$((n + 1))
	done
	echo "ok: the tree passes, $n bad includes caught"
	exit 0
fi

top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 2
bad=0

# mm/'s layers, lowest first (keep in step with the top of mm/mm.h). A
# layer is its files' stem: lru.h and lru.c are layer lru; backend_*.c are
# backend's, data_*.c data's.
order=(layout log hex coherence check alloc backend mm pool_int snap journal extents xattr lru index policy
       ghost holds nodes evict namespace data attr batch follow pool fsck)
# what fs/ may include of mm/
# coherence.h: every reader and writer of shared pool bytes; hex.h: libkvfs names blocks as the index keeps them
mm_public=' mm.h log.h hex.h coherence.h '

rank() { # file -> the place of its layer in $order, or -1
	local stem i
	stem=$(basename "$1")
	stem=${stem%.*}
	case $stem in backend_*) stem=backend ;; data_*) stem=data ;; esac
	for i in "${!order[@]}"; do
		[ "${order[$i]}" = "$stem" ] && { echo "$i"; return; }
	done
	echo -1
}

includes() { # file -> the "quoted" headers it includes, basenames
	sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$1"
}

violation() {
	echo "$1: $2"
	bad=1
}

# the order above is the one mm.h writes down (its lines " *   stem.h ...")
written=$(sed -n 's/^ \*   \([a-z_]*\)\.[ch]\([ ,].*\)\{0,1\}$/\1/p' mm/mm.h | tr '\n' ' ')
if [ "$written" != "${order[*]} " ]; then
	violation mm/mm.h "writes the order '$written', tests/check-layers.sh has '${order[*]}'"
fi

upper=" "
for f in fs/*.h gpu/*.h gpu/*.cuh include/kvfs_cuda.h; do
	[ -e "$f" ] && upper+="$(basename "$f") "
done

for f in mm/*.c mm/*.h; do
	[ -e "$f" ] || continue
	me=$(rank "$f")
	if [ "$me" -lt 0 ]; then
		violation "$f" "is not in a layer of the order at the top of mm/mm.h"
		continue
	fi
	for inc in $(includes "$f"); do
		h=$(basename "$inc")
		case "$inc" in */fs/* | fs/* | */gpu/* | gpu/*)
			violation "$f" "includes $inc (mm/ never includes fs/ or gpu/)"
			continue ;;
		esac
		if [[ "$upper" == *" $h "* ]]; then
			violation "$f" "includes $h, a header of fs/ or gpu/"
			continue
		fi
		[ -e "mm/$h" ] || continue # a system or public header
		them=$(rank "$h")
		if [ "$them" -lt 0 ]; then
			violation "$f" "includes $h, which is in no layer of mm/mm.h's order"
		elif [ "${f%.h}" != "$f" ] && [ "$them" -ge "$me" ]; then
			violation "$f" "includes $h, which is not below it in mm/mm.h's order"
		elif [ "$them" -gt "$me" ]; then
			violation "$f" "includes $h, the header of a layer above its own"
		fi
	done
done

for f in fs/*.c fs/*.h; do
	[ -e "$f" ] || continue
	for inc in $(includes "$f"); do
		h=$(basename "$inc")
		if [ -e "mm/$h" ] && [ ! -e "fs/$h" ] && [[ "$mm_public" != *" $h "* ]]; then
			violation "$f" "includes mm/ private $h (use mm.h)"
		fi
	done
done

exit $bad
