#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_python_mmap.sh - a Python program (stdlib only) maps block files
# through the mount the way a Python engine would: reads and writes through
# mmap must agree with os.read/os.pwrite from other fds, a shared-map write
# must reach the pool itself (checked by mapping the pool file at the
# offset user.kvfs.extents gives, as a zero-copy client does), and a
# private-map write must not reach the file.
. "$(dirname "$0")/lib.sh"

kv_setup size=256M

ok "python mmap checks pass" python3 - "$MNT" <<'PY'
import mmap, os, sys, hashlib

mnt = sys.argv[1]
MiB = 1 << 20
failed = 0

def check(cond, what):
    global failed
    print(("ok - " if cond else "not ok - ") + what)
    if not cond:
        failed += 1

def pattern(n, seed):
    out, i = bytearray(), 0
    while len(out) < n:
        out += hashlib.sha256(b"%d:%d" % (seed, i)).digest()
        i += 1
    return bytes(out[:n])

def read_all(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while True:
            b = os.read(fd, MiB)
            if not b:
                return b"".join(chunks)
            chunks.append(b)
    finally:
        os.close(fd)

def pool_bytes(path, n):
    """The file's first n bytes read from the pool itself, through user.kvfs.extents."""
    pool = os.getxattr(mnt, "user.kvfs.pool").decode()
    exts = os.getxattr(path, "user.kvfs.extents").decode().split()
    out = bytearray()
    with open(pool, "rb") as f:
        for e in exts:
            off, length = (int(x) for x in e.split(":"))
            m = mmap.mmap(f.fileno(), length, mmap.MAP_SHARED, mmap.PROT_READ, offset=off)
            out += m[:]
            m.close()
    return bytes(out[:n])

os.makedirs(mnt + "/py/ns", exist_ok=True)
path = mnt + "/py/ns/0123456789abcdef0123456789abcdef"
size = 4 * MiB + 4096
data = pattern(size, 1)
fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
check(os.write(fd, data) == size, "os.write of a 4 MiB block")
os.close(fd)

# read through a shared mapping
fd = os.open(path, os.O_RDWR)
m = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
check(len(m) == size, "the mapping has the file's size")
check(m[:] == data, "mmap reads the bytes os.write wrote")
check(m[size - 100:] == data[size - 100:], "the last bytes (past 4 MiB) through the map")
check(m[:] == read_all(path), "mmap and os.read agree")

# write through the mapping, flush, read elsewhere
new = pattern(MiB, 2)
m[MiB:2 * MiB] = new
m[size - 1] = 0x7E
m.flush()
expect = data[:MiB] + new + data[2 * MiB:size - 1] + b"\x7e"
check(read_all(path) == expect, "after flush os.read from another fd sees the map's writes")
fd2 = os.open(path, os.O_RDONLY)
check(os.pread(fd2, 16, MiB) == new[:16], "os.pread at the written offset")
os.close(fd2)
check(pool_bytes(path, size) == expect, "the map's writes reached the pool (pool file at user.kvfs.extents)")

# os.pwrite is seen through the existing map
os.pwrite(fd, b"\xaa" * 4096, 3 * MiB)
check(m[3 * MiB:3 * MiB + 4096] == b"\xaa" * 4096, "os.pwrite from the fd is seen through the map")
expect = expect[:3 * MiB] + b"\xaa" * 4096 + expect[3 * MiB + 4096:]
m.close()
os.close(fd)

# a map at an offset, read only, another process's view
fd = os.open(path, os.O_RDONLY)
m = mmap.mmap(fd, MiB, mmap.MAP_SHARED, mmap.PROT_READ, offset=2 * MiB)
check(m[:] == expect[2 * MiB:3 * MiB], "a read-only map at offset 2 MiB")
m.close()
os.close(fd)

# the engine pattern: size the file, fill it through a map, publish by rename
tmp = mnt + "/py/ns/block.tmp"
final = mnt + "/py/ns/fedcba9876543210fedcba9876543210"
blk = pattern(2 * MiB, 3)
fd = os.open(tmp, os.O_CREAT | os.O_RDWR | os.O_EXCL, 0o644)
os.ftruncate(fd, len(blk))
m = mmap.mmap(fd, len(blk), mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
m[:] = blk
m.flush()
m.close()
os.close(fd)
os.rename(tmp, final)
check(read_all(final) == blk, "a block filled through a map and renamed reads back")
check(len(os.getxattr(final, "user.kvfs.extents").split()) == 1, "a block sized with ftruncate first is one extent")
check(pool_bytes(final, len(blk)) == blk, "its bytes are in the pool at its extent")

# a private map: writes stay in the process
fd = os.open(final, os.O_RDWR)
m = mmap.mmap(fd, 0, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE)
m[:4096] = b"\x00" * 4096
check(m[:4096] == b"\x00" * 4096, "a write to a private map is seen in the map")
m.close()
os.close(fd)
check(read_all(final) == blk, "a write to a private map does not reach the file")
m = mmap.mmap(os.open(final, os.O_RDONLY), 0, access=mmap.ACCESS_COPY)
m[:10] = b"x" * 10
check(read_all(final) == blk and m[:10] == b"x" * 10, "mmap.ACCESS_COPY likewise")
m.close()

# an unlinked file stays readable through a map
fd = os.open(final, os.O_RDONLY)
m = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ)
os.close(fd)
os.unlink(final)
check(not os.path.exists(final), "unlink of a mapped file removes the name")
check(m[:] == blk, "the mapping still reads the unlinked file's bytes")
m.close()

print("%d failed" % failed)
sys.exit(1 if failed else 0)
PY
ok "nothing is held after the program exits" test "$(stat_of held_files)" = 0
ok "rm -r of the files" rm -r "$MNT/py"
kv_unmount
ok "fsck is clean" "$KVFS" fsck "$POOL"
kv_done
