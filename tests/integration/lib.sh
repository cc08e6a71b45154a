# SPDX-License-Identifier: MIT
#
# lib.sh - shared by the integration tests: mount a fresh kvfs in a
# temporary directory, always unmount and clean up on exit (pass or fail),
# and small assertion helpers. A test sources this, calls kv_setup [SIZE]
# [OPTS], uses $MNT / $POOL / $KVFS, and calls kv_done at the end.
set -u
KVFS=${KVFS_BIN:?KVFS_BIN is set by tests/run-tests.sh}
BUILD=${KVFS_BUILD:?}
TOP=${KVFS_TOP:?}
WORK=$(mktemp -d /tmp/kvfs-it.XXXXXX)
MNT=$WORK/mnt
POOL=/dev/shm/kvfs-it-$$-$RANDOM.pool
mkdir -p "$MNT"
T_PASS=0
T_FAIL=0

kv_unmount() {
	local m=${1:-$MNT}
	local _
	# a mount just used can be busy for a moment (a release the kernel still sends): retry
	# before a lazy unmount, which leaves the daemon serving whoever still holds it
	for _ in $(seq 30); do
		mountpoint -q "$m" 2>/dev/null || break
		umount "$m" 2>/dev/null || fusermount3 -u "$m" 2>/dev/null || sleep 0.1
	done
	mountpoint -q "$m" 2>/dev/null && umount -l "$m" 2>/dev/null
	# wait for the daemon to let go of the pool (it marks it clean on the way out)
	for _ in $(seq 50); do
		fuser -s "$POOL" 2>/dev/null || break
		sleep 0.1
	done
}

kv_cleanup() {
	kv_unmount "$MNT"
	rm -rf "$WORK" 2>/dev/null
	rm -f "$POOL" /dev/shm/kvfs-it-$$-*.pool 2>/dev/null
}
trap kv_cleanup EXIT

kv_mount() { # [OPTS]
	"$KVFS" mount -o "${1:-size=256M}" "$POOL" "$MNT"
}

kv_setup() { # [OPTS]
	kv_mount "${1:-size=256M}" || { echo "FATAL: mount failed"; exit 1; }
}

ok() { # description, command...
	local d=$1
	shift
	if "$@"; then
		T_PASS=$((T_PASS + 1))
	else
		T_FAIL=$((T_FAIL + 1))
		echo "not ok: $d"
	fi
}

# expect_errno DESCRIPTION ERRNO_NAME command... : the command must fail and print the errno name
expect_fail() { # description, command...: must exit non-zero
	local d=$1
	shift
	if "$@" 2>/dev/null; then
		T_FAIL=$((T_FAIL + 1))
		echo "not ok (should have failed): $d"
	else
		T_PASS=$((T_PASS + 1))
	fi
}

stat_of() { # KEY: its value in .kvfs/stats
	awk -v k="$1" '$1 == k { print $2 }' "$MNT/.kvfs/stats"
}

stat_is() { # KEY VALUE: .kvfs/stats shows it now (read anew at each call: for eventually)
	[ "$(stat_of "$1")" = "$2" ]
}

eventually() { # command...: true within 3 s (releases and evictions reach the daemon asynchronously)
	local _
	for _ in $(seq 30); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

# Built with `make asan`? Then programs linked against our libraries need the
# sanitizer flags, and an uninstrumented host (python3) needs libasan preloaded.
kv_sanitized() {
	nm "$BUILD/libkvfs.a" 2>/dev/null | grep -q __asan_init
}

kv_done() {
	echo "$T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
}
