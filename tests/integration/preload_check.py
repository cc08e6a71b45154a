# SPDX-License-Identifier: MIT
"""preload_check.py - the program side of test_preload.sh: an unmodified
Python program (stdlib only) that maps and reads kvfs block files, run with
or without libkvfs_preload.so. Each subcommand prints "ok - ..." or
"not ok - ..." lines and exits non-zero when a check failed.

  preload_check.py make MNT              create the test blocks
  preload_check.py zerocopy MNT          (under kvfs run) mmap/read checks
  preload_check.py plain MNT             (without it) maps go through FUSE
  preload_check.py hold MNT FILE GO      map FILE, close it, wait for GO, unmap
  preload_check.py write MNT FILE        map FILE read-write, store, msync
  preload_check.py write-exit MNT FILE   the same, but exit with the mapping in place
  preload_check.py remount MNT GO         read, wait for GO (another pool mounted), read
  preload_check.py exec-child MNT FD     (after exec) read an inherited fd
"""
import hashlib
import mmap
import os
import sys
import threading
import time

MiB = 1 << 20
BLOCK = 2 * MiB
WINDOW = os.environ.get("KVFS_PRELOAD_MAP") == "window"  # slices of one data-area mapping
failed = 0


def check(cond, what):
    global failed
    print(("ok - " if cond else "not ok - ") + what, flush=True)
    if not cond:
        failed += 1


def pattern(n, seed):
    out, i = bytearray(), 0
    while len(out) < n:
        out += hashlib.sha256(b"%d:%d" % (seed, i)).digest()
        i += 1
    return bytes(out[:n])


def pool_of(mnt):
    return os.getxattr(mnt, "user.kvfs.pool").decode()


def extents(path):
    return [tuple(int(x) for x in e.split(":"))
            for e in os.getxattr(path, "user.kvfs.extents").decode().split()]


def maps_lines():
    with open("/proc/self/maps") as f:
        return [l.split() for l in f]


def pool_lines(pool, offset=None, length=None):
    """/proc/self/maps lines backed by the pool (at a pool offset and length)."""
    out = []
    for l in maps_lines():
        if len(l) < 6 or l[5] != pool:
            continue
        lo, hi = (int(x, 16) for x in l[0].split("-"))
        if offset is not None and int(l[2], 16) != offset:
            continue
        if length is not None and hi - lo != length:
            continue
        out.append(l)
    return out


def block(mnt, i):
    return "%s/ns/%032x" % (mnt, i)


def cmd_make(mnt):
    os.makedirs(mnt + "/ns", exist_ok=True)
    for i in range(4):
        fd = os.open(block(mnt, i), os.O_CREAT | os.O_RDWR | os.O_EXCL, 0o644)
        os.ftruncate(fd, BLOCK)  # size first: one extent
        os.pwrite(fd, pattern(BLOCK, i), 0)
        os.close(fd)
        check(len(extents(block(mnt, i))) == 1, "block %d is one extent" % i)
    # a file of two extents: grown by writes while another file took the pages after it
    multi, other = mnt + "/ns/multi", mnt + "/ns/other"
    a = os.open(multi, os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(a, pattern(MiB, 10))
    b = os.open(other, os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(b, pattern(MiB, 11))
    os.write(a, pattern(MiB, 12))
    os.close(a)
    os.close(b)
    check(len(extents(multi)) > 1, "the multi-extent file has %d extents" % len(extents(multi)))


def cmd_zerocopy(mnt):
    pool = pool_of(mnt)
    # read(): right bytes, file offset moves, EOF
    for i in range(4):
        fd = os.open(block(mnt, i), os.O_RDONLY)
        got = os.read(fd, 3 * MiB)
        check(got == pattern(BLOCK, i), "os.read of block %d" % i)
        check(os.lseek(fd, 0, os.SEEK_CUR) == BLOCK, "the file offset moved by read")
        check(os.read(fd, 10) == b"", "read at EOF returns nothing")
        os.lseek(fd, 4096, os.SEEK_SET)
        check(os.read(fd, 100) == pattern(BLOCK, i)[4096:4196], "read after lseek")
        check(os.fstat(fd).st_size == BLOCK, "fstat is the file's")
        os.close(fd)
    fd = os.open(block(mnt, 1), os.O_RDONLY)
    want = pattern(BLOCK, 1)
    check(os.pread(fd, 5000, MiB - 7) == want[MiB - 7:MiB + 4993], "os.pread at an odd offset")
    check(os.pread(fd, 100, BLOCK - 10) == want[-10:], "os.pread across EOF is short")
    bufs = [bytearray(3000), bytearray(70000)]
    check(os.preadv(fd, bufs, 123) == 73000 and bytes(bufs[0] + bufs[1]) == want[123:73123],
          "os.preadv into two buffers")
    os.lseek(fd, 10, os.SEEK_SET)
    check(os.readv(fd, bufs) == 73000 and bytes(bufs[0] + bufs[1]) == want[10:73010],
          "os.readv at the file offset")
    check(os.lseek(fd, 0, os.SEEK_CUR) == 73010, "readv moved the offset")
    with open(block(mnt, 1), "rb") as f:  # Python's buffered io
        check(f.read() == want, "open().read() of a block")
    # mmap: the mapping is the pool's pages at the block's extent
    off, length = extents(block(mnt, 2))[0]
    m = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)  # fd of block 1
    check(m[:] == want, "mmap of block 1 reads its bytes")
    off1 = extents(block(mnt, 1))[0][0]
    if WINDOW:
        check(len(pool_lines(pool)) >= 1, "/proc/self/maps: the window is the pool file")
    else:
        check(len(pool_lines(pool, off1, BLOCK)) == 1,
              "/proc/self/maps: the mapping is the pool file at the block's extent")
    os.close(fd)
    check(m[BLOCK - 5:] == want[-5:], "the mapping outlives its descriptor")
    m.close()
    check(WINDOW or not pool_lines(pool, off1, BLOCK), "munmap removes the pool mapping")
    # a mapping at an offset, shorter than the file
    fd = os.open(block(mnt, 2), os.O_RDONLY)
    m = mmap.mmap(fd, MiB, access=mmap.ACCESS_READ, offset=MiB)
    check(m[:] == pattern(BLOCK, 2)[MiB:], "a 1 MiB map at offset 1 MiB")
    check(WINDOW or len(pool_lines(pool, off + MiB, MiB)) == 1,
          "backed by the pool at extent + 1 MiB")
    m.close()
    # a private map: copy on write, the file is unchanged
    m = mmap.mmap(fd, 0, access=mmap.ACCESS_COPY)
    m[:4] = b"XXXX"
    check(m[:4] == b"XXXX" and os.pread(fd, 4, 0) == pattern(BLOCK, 2)[:4],
          "a private map's write stays private")
    m.close()
    # a read-only descriptor cannot get a writable shared map
    try:
        mmap.mmap(fd, 0, access=mmap.ACCESS_WRITE)
        check(False, "a writable shared map of an O_RDONLY fd is refused")
    except OSError:
        check(True, "a writable shared map of an O_RDONLY fd is refused")
    os.close(fd)
    # size changes are refused under a mapping, allowed after
    fd = os.open(block(mnt, 3), os.O_RDWR)
    m = mmap.mmap(fd, 0)
    try:
        os.ftruncate(fd, MiB)
        check(False, "ftruncate of a mapped block fails with EBUSY")
    except OSError as e:
        check(e.errno == 16, "ftruncate of a mapped block fails with EBUSY")
    check(os.fstat(fd).st_size == BLOCK, "and the size did not change")
    m.close()
    os.ftruncate(fd, BLOCK)  # same size: allowed once unmapped
    os.close(fd)
    # threads: concurrent preads of all blocks
    errors = []

    def worker(t):
        fd = os.open(block(mnt, t % 4), os.O_RDONLY)
        want = pattern(BLOCK, t % 4)
        for k in range(40):
            o = (k * 65537 * (t + 1)) % (BLOCK - 8192)
            if os.pread(fd, 8192, o) != want[o:o + 8192]:
                errors.append((t, k))
        os.close(fd)

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(not errors, "8 threads x 40 preads read the right bytes")
    # threads sharing one descriptor's offset: every byte read exactly once
    fd = os.open(block(mnt, 2), os.O_RDONLY)
    got = []

    def reader():
        while True:
            b = os.read(fd, 4096)
            if not b:
                return
            got.append(b)

    ts = [threading.Thread(target=reader) for t in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    os.close(fd)
    want = pattern(BLOCK, 2)
    chunks = {want[i:i + 4096] for i in range(0, BLOCK, 4096)}
    check(sum(map(len, got)) == BLOCK and all(b in chunks for b in got),
          "4 threads read() one descriptor: each byte once")
    # fork: the child keeps reading and mapping; the parent is unaffected
    fd = os.open(block(mnt, 0), os.O_RDONLY)
    m = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    pid = os.fork()
    if pid == 0:
        ok = m[:] == pattern(BLOCK, 0) and os.pread(fd, BLOCK, 0) == pattern(BLOCK, 0)
        m.close()
        fd2 = os.open(block(mnt, 3), os.O_RDONLY)
        ok = ok and os.read(fd2, BLOCK) == pattern(BLOCK, 3)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    check(status == 0, "a forked child reads the mapping and the descriptors")
    check(m[:] == pattern(BLOCK, 0), "the parent's mapping after the child exited")
    m.close()
    # the library's descriptors survive the program's close(), closerange(), dup2()
    pid = os.fork()
    if pid == 0:
        fd0 = os.open(block(mnt, 0), os.O_RDONLY)
        m0 = mmap.mmap(fd0, 0, access=mmap.ACCESS_READ)
        os.close(fd0)
        # Python's mmap keeps a dup of its own; the library's is the highest
        held = [max(int(f) for f in os.listdir("/proc/self/fd")
                    if os.path.exists("/proc/self/fd/" + f)
                    and os.readlink("/proc/self/fd/" + f) == block(mnt, 0))]
        ok = held[0] >= 64
        try:
            os.close(held[0])
            ok = False
        except OSError as e:
            ok = ok and e.errno == 9
        os.closerange(3, 1 << 16)
        fd3 = os.open(block(mnt, 3), os.O_RDONLY)
        os.dup2(fd3, held[0])
        m3 = mmap.mmap(fd3, 0, access=mmap.ACCESS_READ)
        ok = ok and m3[:] == pattern(BLOCK, 3) and m0[:] == pattern(BLOCK, 0)
        ok = ok and os.pread(held[0], 16, 0) == pattern(BLOCK, 3)[:16]
        m0.close()
        m3.close()
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    check(status == 0, "close/closerange/dup2 over the library's descriptors leave it working")
    # exec: the library's descriptors do not leak into the new program
    os.set_inheritable(fd, True)
    pid = os.fork()
    if pid == 0:
        os.execv(sys.executable, [sys.executable, __file__, "exec-child", mnt, str(fd)])
    _, status = os.waitpid(pid, 0)
    check(status == 0, "exec: the new program reads an inherited descriptor, nothing leaked")
    os.close(fd)
    # files off the mount and multi-extent files go the normal way
    tmp = "/tmp/kvfs-preload-%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write(pattern(MiB, 5))
    fd = os.open(tmp, os.O_RDONLY)
    m = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    check(m[:] == pattern(MiB, 5) and os.read(fd, MiB) == pattern(MiB, 5), "a /tmp file")
    check(any(l[5:] == [tmp] for l in maps_lines()), "its mapping is the /tmp file")
    m.close()
    os.close(fd)
    os.unlink(tmp)
    multi = mnt + "/ns/multi"
    fd = os.open(multi, os.O_RDONLY)
    want = pattern(MiB, 10) + pattern(MiB, 12)
    m = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    check(m[:] == want and os.read(fd, 2 * MiB) == want, "a multi-extent file reads right")
    check(any(l[5:] == [multi] for l in maps_lines()), "its mapping goes through the mount")
    m.close()
    os.close(fd)


def cmd_plain(mnt):
    """Without the library: mappings name the mount's file, not the pool."""
    pool = pool_of(mnt)
    fd = os.open(block(mnt, 0), os.O_RDONLY)
    m = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    check(m[:] == pattern(BLOCK, 0), "a plain mmap reads the block")
    check(not pool_lines(pool), "no pool mapping in a process without the library")
    check(any(l[5:] == [block(mnt, 0)] for l in maps_lines()), "the mapping is the mount's file")
    m.close()
    os.close(fd)


def cmd_hold(mnt, path, go):
    """Map a block, close its fd, say so, wait for GO, unmap, say so, wait for GO.2."""
    fd = os.open(path, os.O_RDONLY)
    m = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    os.close(fd)
    want = m[:]
    print("mapped", flush=True)
    while not os.path.exists(go):
        time.sleep(0.05)
    check(m[:] == want, "the held mapping still reads its bytes after the pressure")
    m.close()
    print("unmapped", flush=True)
    while not os.path.exists(go + ".2"):
        time.sleep(0.05)


def cmd_write(mnt, path):
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, 0)
    check(len(pool_lines(pool_of(mnt))) >= 1, "the writable mapping is the pool's")
    m[:8] = b"WRITTEN!"
    m[BLOCK - 8:] = b"ENDBYTES"
    m.flush()
    m.close()
    os.close(fd)


KEEP = []


def cmd_remount(mnt, go):
    """Read a block, wait while another pool is mounted in its place, read again."""
    fd = os.open(block(mnt, 0), os.O_RDONLY)
    check(os.read(fd, BLOCK) == pattern(BLOCK, 0), "remount: the first pool's block")
    os.close(fd)
    print("first", flush=True)
    while not os.path.exists(go):
        time.sleep(0.05)
    fd = os.open(block(mnt, 0), os.O_RDONLY)
    check(os.read(fd, BLOCK) == b"\x77" * BLOCK, "remount: the new pool's block, not the old")
    m = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    check(m[:] == b"\x77" * BLOCK and len(pool_lines(pool_of(mnt))) >= 1,
          "remount: mapped from the new pool")
    m.close()
    os.close(fd)


def cmd_write_exit(mnt, path):
    """Store through a shared mapping and exit without msync or munmap."""
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, 0)
    m[:8] = b"ATEXIT!!"
    KEEP.append(m)
    os.close(fd)


def cmd_exec_child(mnt, fd):
    fd = int(fd)
    pool = pool_of(mnt)
    links = []
    for f in os.listdir("/proc/self/fd"):
        try:
            links.append(os.readlink("/proc/self/fd/" + f))
        except OSError:
            pass
    check(pool not in links, "exec: the pool's descriptor did not survive exec")
    check(links.count(block(mnt, 0)) == 1, "exec: only the inherited block fd is open")
    check(os.pread(fd, BLOCK, 0) == pattern(BLOCK, 0), "exec: an inherited fd reads right")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"make": cmd_make, "zerocopy": cmd_zerocopy, "plain": cmd_plain, "hold": cmd_hold,
     "write": cmd_write, "write-exit": cmd_write_exit,
     "remount": cmd_remount, "exec-child": cmd_exec_child}[cmd](*args)
    sys.exit(1 if failed else 0)


main()
