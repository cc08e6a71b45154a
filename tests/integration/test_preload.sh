#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_preload.sh - libkvfs_preload.so and `kvfs run`: an unmodified Python
# program's mmap() and read() of block files come from the pool (its maps
# name the pool file at the block's extent), the page cache does not grow
# by what it reads (fincore of the file, Cached in /proc/meminfo), a mapped
# block is not evicted and is after munmap, writes through a shared mapping
# are seen by read() through the mount in another process, fork/exec/
# threads behave, files off the mount and multi-extent files fall through,
# a process without the library is unaffected, and the POSIX and Python
# mmap tests pass with every process (daemon included) under the library.
. "$(dirname "$0")/lib.sh"

P="$TOP/tests/integration/preload_check.py"
if kv_sanitized; then
	echo "SKIP: an LD_PRELOAD library built with sanitizers needs them in every program"
	exit 0
fi
kv_setup size=64M

ok "make the blocks" python3 "$P" make "$MNT"
ok "zero-copy checks under kvfs run" "$KVFS" run -- python3 "$P" zerocopy "$MNT"
ok "the same with window slices (KVFS_PRELOAD_MAP=window)" \
	env KVFS_PRELOAD_MAP=window "$KVFS" run -- python3 "$P" zerocopy "$MNT"
ok "the library preloaded by hand" env LD_PRELOAD="$BUILD/libkvfs_preload.so" \
	python3 "$P" zerocopy "$MNT"
ok "a process without the library maps through FUSE" python3 "$P" plain "$MNT"
ok "kvfs run -m this mount" "$KVFS" run -m "$MNT" -- python3 "$P" zerocopy "$MNT"
ok "kvfs run -m another directory: everything falls through" \
	env KVFS_PRELOAD_MAP=file "$KVFS" run -m "$WORK" -- python3 "$P" plain "$MNT"

# --- CUDA: with a libcudart loaded privately (as torch's is), maps are slices
# of one data-area window registered once with cudaHostRegister ---
cat >"$WORK/cudart_stub.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
int cudaHostRegister(void *p, size_t n, unsigned flags)
{
	FILE *f = fopen(getenv("CUDA_STUB_LOG"), "a");
	fprintf(f, "%lx %zu %u\n", (unsigned long)p, n, flags);
	fclose(f);
	/* an older driver: no cudaHostRegisterReadOnly */
	return getenv("CUDA_STUB_NO_RO") && (flags & 8) ? 1 : 0;
}
C
ok "build a stand-in libcudart.so.12" cc -shared -fPIC -Wl,-soname,libcudart.so.12 -o "$WORK/libcudart.so.12" "$WORK/cudart_stub.c"
cuda_maps() { # LOG [env...]: three blocks mapped read-only with a libcudart loaded
	env CUDA_STUB_LOG="$1" "${@:2}" "$KVFS" run -- python3 - "$MNT" "$WORK/libcudart.so.12" <<'PY'
import ctypes, mmap, os, sys
mnt, stub = sys.argv[1], sys.argv[2]
ctypes.CDLL(stub)  # RTLD_LOCAL, like an extension module's dependency
pool = os.getxattr(mnt, "user.kvfs.pool").decode()
ok = True
for i in range(3):
    path = "%s/ns/%032x" % (mnt, i)
    fd = os.open(path, os.O_RDONLY)
    m = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ)
    ok = ok and m[:] == os.pread(fd, 1 << 21, 0)
    m.close()
    os.close(fd)
calls = [l.split() for l in open(os.environ["CUDA_STUB_LOG"])]
print(calls)
want = [11, 3] if os.environ.get("CUDA_STUB_NO_RO") else [11]
ok = ok and [int(c[2]) for c in calls] == want
spans = {int(l.split()[0].split("-")[0], 16): int(l.split()[0].split("-")[1], 16)
         for l in open("/proc/self/maps") if l.split()[5:] == [pool]}
for addr, size, _ in calls:  # each registered range is one whole mapping of the pool
    ok = ok and spans.get(int(addr, 16), 0) - int(addr, 16) == int(size)
sys.exit(0 if ok else 1)
PY
}
ok "mmap with CUDA loaded: slices of the data window, registered once" cuda_maps "$WORK/cuda.log"
ok "no read-only registration: the read-write window is registered instead" \
	cuda_maps "$WORK/cuda2.log" CUDA_STUB_NO_RO=1

# --- the page cache: reads under the library leave no pages of the file ---
B0=$(printf '%s/ns/%032x' "$MNT" 0)
resident() { fincore -nbr -o RES "$1"; }
drop() { python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$1"; }
drop "$B0"
ok "no cached pages after the drop" test "$(resident "$B0")" = 0
"$KVFS" run -- python3 -c 'import mmap,os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.read(fd, 4<<20); m=mmap.mmap(fd, 0, access=mmap.ACCESS_READ); m[:]' "$B0"
ok "read+mmap under the library cache no page of the file" test "$(resident "$B0")" = 0
cat "$B0" >/dev/null
ok "cat without the library caches the file's 2 MiB" test "$(resident "$B0")" = 2097152
drop "$B0"

# Cached in /proc/meminfo: a 32 MiB block read under the library must not add
# 32 MiB (other processes on the host add noise, so three tries).
python3 - "$MNT/ns/big" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR, 0o644)
os.ftruncate(fd, 32 << 20)
os.pwrite(fd, b"\x5a" * (32 << 20), 0)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)
PY
cached_grows_little() {
	"$KVFS" run -- python3 - "$MNT/ns/big" <<'PY'
import mmap, os, sys
def cached():
    for l in open("/proc/meminfo"):
        if l.startswith("Cached:"):
            return int(l.split()[1]) * 1024
before = cached()
fd = os.open(sys.argv[1], os.O_RDONLY)
n = 0
while True:
    b = os.read(fd, 2 << 20)
    if not b:
        break
    n += len(b)
m = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
s = sum(m[i] for i in range(0, len(m), 4096))
grew = cached() - before
print("read %d bytes, mapped %d, Cached grew by %d" % (n, len(m), grew))
sys.exit(0 if n == 32 << 20 and s == 0x5a * 8192 and grew < (16 << 20) else 1)
PY
}
ok "Cached (meminfo) does not grow by a 32 MiB block read and mapped under the library" \
	eventually cached_grows_little
rm -f "$MNT/ns/big"

# --- writes through a shared mapping reach readers through the mount ---
B1=$(printf '%s/ns/%032x' "$MNT" 1)
head -c 8 "$B1" >/dev/null # the reader's page is cached now
ok "a writable shared mapping under the library" "$KVFS" run -- python3 "$P" write "$MNT" "$B1"
ok "read() through the mount in another process sees the stores" \
	test "$(head -c 8 "$B1")" = "WRITTEN!"
ok "and the last bytes" test "$(tail -c 8 "$B1")" = "ENDBYTES"
ok "a program that exits with the mapping in place" \
	"$KVFS" run -- python3 "$P" write-exit "$MNT" "$B1"
ok "read() through the mount sees its stores too" test "$(head -c 8 "$B1")" = "ATEXIT!!"

# --- a mapped block is held: not evicted under pressure; evictable after munmap ---
B2=$(printf '%s/ns/%032x' "$MNT" 2)
GO=$WORK/go
mkdir -p "$MNT/fill"
touch "$B2" # nothing else is older but the other blocks: B2 is near the LRU head
"$KVFS" run -- python3 "$P" hold "$MNT" "$B2" "$GO" >"$WORK/hold.out" 2>&1 &
HOLDER=$!
eventually grep -q mapped "$WORK/hold.out"
ok "the mapped, closed block counts as held" eventually test "$(stat_of held_files)" -ge 1
fill() { # N files of 4 MiB
	local i
	for i in $(seq "$1"); do
		dd if=/dev/zero of="$MNT/fill/$2$i" bs=1M count=4 status=none 2>/dev/null
	done
}
fill 30 a
ok "the pool evicted under the pressure" test "$(stat_of evictions)" -gt 0
ok "the mapped block was not evicted" test -e "$B2"
ok "an unmapped block as old as it was" test ! -e "$(printf '%s/ns/%032x' "$MNT" 3)"
touch "$GO"
ok "the holder unmapped" eventually grep -q unmapped "$WORK/hold.out"
ok "nothing held after munmap" eventually test "$(stat_of held_files)" = 0
fill 30 b
ok "after munmap the block is evicted under pressure" test ! -e "$B2"
touch "$GO.2"
wait "$HOLDER"
ok "the holder's checks passed" test $? = 0
grep '^not ok' "$WORK/hold.out"

# --- kvfs run's own errors ---
expect_fail "kvfs run without a command" "$KVFS" run
expect_fail "kvfs run -m a missing directory" "$KVFS" run -m "$WORK/none" -- true
"$KVFS" run -- /nonexistent/program 2>/dev/null
ok "kvfs run of a missing program exits 127" test $? = 127
ok "kvfs run prepends to LD_PRELOAD" test "$(LD_PRELOAD=/lib/x86_64-linux-gnu/libc.so.6 \
	"$KVFS" run -- sh -c 'echo $LD_PRELOAD')" = "$BUILD/libkvfs_preload.so:/lib/x86_64-linux-gnu/libc.so.6"
ok "kvfs run -m exports KVFS_PRELOAD_MOUNT" \
	test "$("$KVFS" run -m "$MNT" -- sh -c 'echo $KVFS_PRELOAD_MOUNT')" = "$MNT"
ok "kvfs run -m makes the mount point absolute" test "$(cd "$MNT/.." && "$KVFS" run -m \
	"$(basename "$MNT")" -- sh -c 'echo $KVFS_PRELOAD_MOUNT')" = "$(readlink -f "$MNT")"
ok "kvfs run passes the exit status" test "$("$KVFS" run -- sh -c 'exit 3'; echo $?)" = 3

# --- whole programs unchanged: the POSIX and Python mmap tests, every process preloaded ---
for t in test_python_mmap; do
	ok "$t passes with every program under the library" \
		env LD_PRELOAD="$BUILD/libkvfs_preload.so" bash "$TOP/tests/integration/$t.sh" \
		>"$WORK/$t.log" 2>&1
	grep -E '^not ok' "$WORK/$t.log"
done

# --- a program outlives its mount: another pool mounted in its place is noticed ---
B0=$(printf '%s/ns/%032x' "$MNT" 0)
python3 - "$B0" <<'PY'
import hashlib, os, sys
out, i = bytearray(), 0
while len(out) < 2 << 20:
    out += hashlib.sha256(b"0:%d" % i).digest()
    i += 1
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR, 0o644)
os.ftruncate(fd, 2 << 20)
os.pwrite(fd, bytes(out[:2 << 20]), 0)
PY
"$KVFS" run -- python3 "$P" remount "$MNT" "$GO.r" >"$WORK/remount.out" 2>&1 &
READER=$!
ok "the reader read the first pool" eventually grep -q first "$WORK/remount.out"
DEV1=$(stat -c %d "$MNT")
kv_unmount
POOL2=/dev/shm/kvfs-it-$$-remount.pool
ok "another pool mounted in the same place" "$KVFS" mount -o size=64M "$POOL2" "$MNT"
POOL=$POOL2 # what the end of the test unmounts and checks
echo "device of the first mount $DEV1, of the second $(stat -c %d "$MNT")"
mkdir -p "$MNT/ns"
python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_CREAT|os.O_RDWR, 0o644); os.ftruncate(fd, 2<<20); os.pwrite(fd, b"\x77" * (2<<20), 0)' "$B0"
touch "$GO.r"
wait "$READER"
ok "the reader's checks passed" test $? = 0
grep '^not ok' "$WORK/remount.out"

rm -rf "$MNT/fill" "$MNT/ns"
kv_unmount
ok "fsck is clean" "$KVFS" fsck "$POOL"
kv_done
