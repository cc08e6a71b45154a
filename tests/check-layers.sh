#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# check-layers.sh - fail when an #include crosses the layering that the top
# of mm/mm.h writes down: no mm/ file includes a header of fs/ or gpu/, an
# mm/ header includes only headers below it in mm.h's order, and fs/ reaches
# mm/ through mm.h (and log.h, layout.h), never through its private headers.
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
		 'mm/layout.h:#include "mm.h"' 'fs/ctl.c:#include "pool_int.h"' \
		 'fs/daemon.h:#include "backend.h"' 'fs/mount.c:#include "alloc.h"'; do
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

# the mm/ headers, lowest first (keep in step with mm/mm.h)
order=(layout.h coherence.h check.h log.h alloc.h backend.h mm.h pool_int.h)
mm_private='^(pool_int|alloc|backend)\.h$'

rank() { # header -> its place in $order, or -1
	local i
	for i in "${!order[@]}"; do
		[ "${order[$i]}" = "$1" ] && { echo "$i"; return; }
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

upper=" "
for f in fs/*.h gpu/*.h gpu/*.cuh include/kvfs_cuda.h; do
	[ -e "$f" ] && upper+="$(basename "$f") "
done

for f in mm/*.c mm/*.h; do
	[ -e "$f" ] || continue
	base=$(basename "$f")
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
		if [ "${f%.h}" != "$f" ]; then
			me=$(rank "$base") them=$(rank "$h")
			if [ "$me" -lt 0 ]; then
				violation "$f" "is not in the order at the top of mm/mm.h"
			elif [ "$them" -lt 0 ] || [ "$them" -ge "$me" ]; then
				violation "$f" "includes $h, which is not below it in mm/mm.h's order"
			fi
		fi
	done
done

for f in fs/*.c fs/*.h; do
	[ -e "$f" ] || continue
	for inc in $(includes "$f"); do
		h=$(basename "$inc")
		if [[ "$h" =~ $mm_private ]]; then
			violation "$f" "includes mm/ private $h (use mm.h)"
		fi
	done
done

exit $bad
