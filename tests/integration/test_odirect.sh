#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_odirect.sh - O_DIRECT stores larger than the mount's max_write, from
# aligned and unaligned buffers, by several threads at once, on an empty pool
# and past the pool's size (every store then needs an eviction): each
# completes, and each file read back holds exactly what was written. The
# kernel splits such a write into parallel requests and turns any short
# reply into EIO, so a daemon that replies short fails here.
. "$(dirname "$0")/lib.sh"

kv_setup size=256M
C=$TOP/tests/integration/odirect_check.py
ok "1 thread, 16 MiB, unaligned buffer, 20 files (past the pool)" python3 "$C" "$MNT" 1 16 20 1
ok "4 threads, 16 MiB, aligned, 8 files each (past the pool)" python3 "$C" "$MNT" 4 16 8 0
ok "16 threads, 3 MiB, misaligned by 7, 10 files each" python3 "$C" "$MNT" 16 3 10 7
kv_done
