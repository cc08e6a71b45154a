#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_crash.sh - kill -9 the daemon while writers run, then fsck and mount
# again: every file a writer saw closed (or renamed into place) before the
# kill is there with identical bytes, nothing else is damaged, and no space
# leaks. Three rounds, killed at different moments. Also: a clean unmount
# leaves the pool marked clean.
. "$(dirname "$0")/lib.sh"

WRITERS=3
daemon_pid() { # the process that holds the pool (the daemon maps and locks it)
	fuser "$POOL" 2>/dev/null | tr -s ' ' '\n' | grep -E '^[0-9]+$' | head -1
}

pool_released() { # true once no process holds the pool's lock, within 10 s
	local _
	for _ in $(seq 100); do
		flock -n -s "$POOL" true 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

stop_writers() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	PIDS=()
}
trap 'stop_writers; kv_cleanup' EXIT

# One writer: engine-style (write a temp name, rename into place) and
# plain (write, close), sizes from 4 KiB to 512 KiB, at most 80 files per
# writer and round (three rounds never fill the 512 MiB pool: nothing may
# be evicted);
# after the command that completes the close or the rename returns, record
# "NAME SHA256" in its log.
writer() { # ID ROUND
	local id=$1 round=$2 n=0 size name sum dir
	set -o pipefail
	while [ ! -e "$WORK/stop" ] && [ $n -lt 80 ]; do
		n=$((n + 1))
		size=$(((RANDOM * 32768 + RANDOM) % (512 << 10) + 4096))
		dir=$MNT/r$round/w$id/$((n % 8))
		mkdir -p "$dir" 2>/dev/null || break
		name=$dir/blk$n
		if ((n % 2)); then
			sum=$({ echo "$name"; head -c "$size" "$WORK/src"; } | tee "$name.tmp" | sha256sum) || break
			mv "$name.tmp" "$name" 2>/dev/null || break
		else
			sum=$({ echo "$name"; head -c "$size" "$WORK/src"; } | tee "$name" | sha256sum) || break
		fi
		echo "${name#"$MNT"/} ${sum%% *}" >>"$WORK/done.$round.$id"
	done 2>/dev/null
}

verify() { # ROUND: every recorded file is there with its bytes; prints what is not
	local round=$1 f name sum bad=0 n=0
	for f in "$WORK"/done."$round".*; do
		[ -e "$f" ] || continue
		while read -r name sum; do
			n=$((n + 1))
			if [ ! -f "$MNT/$name" ]; then
				echo "round $round: $name was closed before the kill but is missing"
				bad=$((bad + 1))
			elif [ "$(sha256sum <"$MNT/$name" | cut -d' ' -f1)" != "$sum" ]; then
				echo "round $round: $name has other bytes than were written"
				bad=$((bad + 1))
			fi
		done <"$f"
	done
	echo "round $round: $n recorded files checked, $bad bad"
	[ $bad -eq 0 ] && [ $n -gt 0 ]
}

no_stale_bytes() { # ROUND: every file of the round, finished or not, holds only bytes written to it
	local f size bad=0
	while IFS= read -r -d '' f; do
		size=$(stat -c %s "$f")
		if ! cmp -s -n "$size" "$f" <({ echo "${f%.tmp}"; cat "$WORK/src"; }); then
			echo "round $1: ${f#"$MNT"/} ($size bytes) holds bytes nobody wrote to it"
			bad=$((bad + 1))
		fi
	done < <(find "$MNT/r$1" -type f -print0)
	[ $bad -eq 0 ]
}

head -c $((512 << 10 | 4096)) /dev/urandom >"$WORK/src"
kv_setup size=512M
PIDS=()
for round in 1 2 3; do
	rm -f "$WORK/stop"
	for id in $(seq $WRITERS); do
		writer "$id" "$round" &
		PIDS+=($!)
	done
	# a file held open, and one unlinked while open (an orphan the next mount frees)
	head -c $((3 << 20)) "$WORK/src" >"$MNT/held$round"
	exec 4<"$MNT/held$round"
	head -c $((2 << 20)) "$WORK/src" >"$MNT/orphan$round"
	exec 5<"$MNT/orphan$round"
	rm "$MNT/orphan$round"
	sleep "$(awk -v r=$round 'BEGIN { print 0.3 + r * 0.3 }')"
	pid=$(daemon_pid)
	ok "round $round: found the daemon (pid ${pid:-none})" test -n "$pid"
	[ -n "$pid" ] && kill -9 "$pid"
	touch "$WORK/stop"
	stop_writers
	exec 4<&- 5<&-
	# the mount is dead now: anything touching it fails, nothing hangs
	ok "round $round: the dead mount answers with an error" bash -c "! ls '$MNT' >/dev/null 2>&1"
	umount -l "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null
	ok "round $round: the dead mount is gone" bash -c "! mountpoint -q '$MNT'"
	# SIGKILL is delivered at once, but the process lets go of the pool's
	# lock only when its last thread has exited and its mappings are gone
	ok "round $round: the killed daemon let go of the pool" pool_released
	fsck_out=$("$KVFS" fsck "$POOL" 2>&1)
	fsck_rc=$?
	ok "round $round: fsck after the kill exits 0 (rc $fsck_rc)" test $fsck_rc -eq 0
	ok "round $round: fsck notes the pool was not closed cleanly" grep -q 'not closed cleanly' <<<"$fsck_out"
	ok "round $round: fsck reports no problem" bash -c "! grep -qE 'error|problem' <<<'$fsck_out'"
	[ $fsck_rc -eq 0 ] || echo "$fsck_out"
	ok "round $round: mount again" kv_mount size=512M
	ok "round $round: the mount counts the unclean open" test "$(stat_of unclean_opens)" = $round
	ok "round $round: the pool never needed to evict" \
		test $(($(stat_of used_bytes) + (200 << 20))) -lt "$(stat_of capacity_bytes)"
	ok "round $round: every file closed before the kill is there, same sha256" verify $round
	ok "round $round: no file shows bytes that were not written to it" no_stale_bytes $round
	ok "round $round: the file held open at the kill is there" cmp -s -n $((3 << 20)) "$MNT/held$round" "$WORK/src"
	ok "round $round: the file unlinked while open is gone" test ! -e "$MNT/orphan$round"
	for r in $(seq 1 $((round - 1))); do
		ok "round $round: the files of round $r are still intact" verify "$r"
	done
done

# no leaked space: remove everything, use must be zero
ok "rm -r of everything after three crashes" rm -rf "$MNT"/r1 "$MNT"/r2 "$MNT"/r3 "$MNT"/held*
ok "no file or directory is left" test -z "$(ls "$MNT")"
ok "no space leaked: used_bytes is 0" eventually stat_is used_bytes 0
ok "no inode leaked: files and directories are 0" test "$(stat_of files):$(stat_of directories)" = 0:0
free_inodes=$(stat_of inodes_free)

# a clean unmount leaves the pool clean
echo data >"$MNT/after"
kv_unmount
fsck_out=$("$KVFS" fsck "$POOL" 2>&1)
ok "fsck after a clean unmount exits 0" test $? -eq 0
ok "fsck after a clean unmount has no 'not closed cleanly' notice" \
	bash -c "! grep -q 'not closed cleanly' <<<'$fsck_out'"
mount_out=$(kv_mount size=512M 2>&1)
ok "mount after a clean unmount does not recover" bash -c "! grep -q 'not closed cleanly' <<<'$mount_out'"
ok "unclean_opens did not grow" test "$(stat_of unclean_opens)" = 3
ok "the file written before the clean unmount is there" test "$(cat "$MNT/after")" = data
ok "every inode record came back" test "$(stat_of inodes_free)" = $((free_inodes - 1))

# after a kill -9, mounting again on the same directory just works (the dead mount is cleared)
pid=$(daemon_pid)
[ -n "$pid" ] && kill -9 "$pid"
pool_released
mount_out=$(kv_mount size=512M 2>&1)
mount_rc=$?
[ $mount_rc -eq 0 ] || echo "mount said: $mount_out"
ok "mount over the dead mount of a killed daemon works" test $mount_rc -eq 0
ok "it says it cleared the dead mount" grep -q 'cleared the dead kvfs mount' <<<"$mount_out"
ok "the file is still there" test "$(cat "$MNT/after")" = data
kv_done
