#!/bin/bash
# SPDX-License-Identifier: MIT
#
# test_room_ahead.sh - through the mount: 300 files written with 100 bytes
# each and kept open hold no room ahead, and a 200 MiB write next to them on
# a 256 MiB pool succeeds without evicting the ten cached files there.
. "$(dirname "$0")/lib.sh"

kv_setup "size=256M"
mkdir "$MNT/c"
for i in $(seq 10); do head -c 1048576 /dev/zero >"$MNT/c/cached$i"; done
python3 - "$MNT" >"$WORK/out" 2>&1 <<'PY'
import os, sys
m = sys.argv[1]
fds = []
for i in range(300):
    fd = os.open(m + "/o%d" % i, os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b"x" * 100)
    fds.append(fd)
used = [int(l.split()[1]) for l in open(m + "/.kvfs/stats") if l.startswith("used_bytes ")][0]
print("used", used)
with open(m + "/big", "wb") as f:
    for i in range(200):
        f.write(b"b" * (1 << 20))
print("big written")
for fd in fds:
    os.close(fd)
PY
cat "$WORK/out"
used=$(awk '$1 == "used" { print $2 }' "$WORK/out")
ok "300 open files of 100 bytes hold under 16 MiB (${used:-?} bytes)" \
	test "${used:-999999999}" -lt $((16 << 20))
ok "a 200 MiB write next to them succeeds" grep -q "big written" "$WORK/out"
ok "its size is right" test "$(stat -c %s "$MNT/big")" -eq $((200 << 20))
ok "nothing was evicted" test "$(stat_of evictions)" -eq 0
ok "the cached files are all there" test "$(ls "$MNT/c" | wc -l)" -eq 10
ok "the open files kept their bytes" test "$(cat "$MNT"/o299)" = "$(printf 'x%.0s' $(seq 100))"
kv_done
