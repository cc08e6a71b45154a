#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""attack_ctl.py MNT CHECK - ioctls on MNT/.kvfs/ctl that try to make the
daemon publish or pin something it must not (fs/kvfs_abi.h, through ctypes).
Prints one word a check, "ok" when the daemon refused as it should; exits 1
otherwise.

  reuse   reserve in a namespace, remove the namespace, make directories
          until one reuses its inode; the commit (and a reserve appended to
          the transaction) must fail with ENOENT, publish nothing in the new
          directory, and the abort must give the space back.
  truncate a block pinned through the ctl file is truncated to 0 through the
          mount, then the pool is filled with other files: the pinned
          extent must keep the block's bytes until it is unpinned, and the
          space comes back after the unpin.
  migrate grows a pinned block through the mount until it would need
          more extents than a file may have: its bytes may not move (that
          would free the pinned extent for other files): EBUSY, the pinned
          bytes stay, and an append goes through after the unpin.
  mapped  (under kvfs run: a zero-copy mapping of a block file) another
          process truncates the file to 0 and fills the pool with other
          files: the mapping must keep the block's bytes (as a pin would).
  notices 12 processes commit blocks to one namespace while 12 others look up
          absent names in it: a commit tells the kernel to forget the names
          it published, which waits for the directory's lookups, which wait
          for a free daemon thread; the mount must keep going (no second
          without progress), never hang with every thread waiting.
  inodes  (as a second user) reserves 1-byte blocks in MNT/u until refused:
          EDQUOT (its share), never ENOSPC (the pool's records all taken);
          prints "ok N" and holds them until stdin closes.
  pins    (as a second user) writes 1-byte files in MNT/u and pins them, 50
          at a time, until refused: EDQUOT, never ENOSPC; as inodes."""
import ctypes as C, errno, fcntl, mmap, os, subprocess, sys, time

NS_MAX = 128


class Head(C.Structure):
    _fields_ = [("abi", C.c_uint32), ("count", C.c_uint32), ("txn", C.c_uint64),
                ("flags", C.c_uint32), ("pad", C.c_uint32), ("ns", C.c_char * NS_MAX)]


class RIn(C.Structure):
    _fields_ = [("hash", C.c_uint8 * 16), ("size", C.c_uint64), ("pad", C.c_uint64)]


class ROut(C.Structure):
    _fields_ = [("off", C.c_uint64), ("len", C.c_uint64), ("status", C.c_uint32),
                ("pad", C.c_uint32), ("pad2", C.c_uint64)]


class RItem(C.Union):
    _fields_ = [("inp", RIn), ("out", ROut)]


class Reserve(C.Structure):
    _fields_ = [("h", Head), ("item", RItem * 500)]


class Ext(C.Structure):
    _fields_ = [("off", C.c_uint64), ("len", C.c_uint64)]


class LItem(C.Union):
    _fields_ = [("hash", C.c_uint8 * 16), ("ext", Ext)]


class Lookup(C.Structure):
    _fields_ = [("h", Head), ("item", LItem * 1000)]


class Unpin(C.Structure):
    _fields_ = [("h", Head), ("hash", (C.c_uint8 * 16) * 1000)]


class Txn(C.Structure):
    _fields_ = [("h", Head)]


def ioc(d, nr, size):
    return (d << 30) | (size << 16) | (ord('K') << 8) | nr


LOOKUP = ioc(3, 1, C.sizeof(Lookup))
UNPIN = ioc(1, 2, C.sizeof(Unpin))
RESERVE = ioc(3, 3, C.sizeof(Reserve))
COMMIT = ioc(3, 4, C.sizeof(Txn))
ABORT = ioc(1, 5, C.sizeof(Txn))


def call(fd, cmd, obj):
    try:
        fcntl.ioctl(fd, cmd, obj, True)
        return 0
    except OSError as e:
        return e.errno


def reserve(fd, ns, hashes, size, txn=0):
    r = Reserve()
    r.h.abi, r.h.count, r.h.txn, r.h.ns = 1, len(hashes), txn, ns.encode()
    for k, h in enumerate(hashes):
        r.item[k].inp.hash = (C.c_uint8 * 16)(*h)
        r.item[k].inp.size = size
    return call(fd, RESERVE, r), r


def txn_call(fd, cmd, txn):
    t = Txn()
    t.h.abi, t.h.txn = 1, txn
    return call(fd, cmd, t)


def pin_one(fd, ns, h):
    """Pin block @h of @ns: its extent (off, len), or an errno name."""
    lk = Lookup()
    lk.h.abi, lk.h.count, lk.h.ns = 1, 1, ns.encode()
    lk.item[0].hash = (C.c_uint8 * 16)(*h)
    e = call(fd, LOOKUP, lk)
    if e or lk.h.count != 1:
        return errno.errorcode.get(e, "absent")
    return lk.item[0].ext.off, lk.item[0].ext.len


def unpin_one(fd, ns, h):
    u = Unpin()
    u.h.abi, u.h.count, u.h.ns = 1, 1, ns.encode()
    u.hash[0] = (C.c_uint8 * 16)(*h)
    return call(fd, UNPIN, u)


def pool_map(mnt):
    pf = os.open(os.getxattr(mnt, "user.kvfs.pool"), os.O_RDONLY)
    m = mmap.mmap(pf, 0, prot=mmap.PROT_READ)
    os.close(pf)
    return m


def churn(mnt, mib, byte):
    """Write @mib MiB of other files (the pool evicts as it must)."""
    os.makedirs(mnt + "/churn", exist_ok=True)
    for i in range(mib):
        with open("%s/churn/%d" % (mnt, i), "wb") as f:
            f.write(bytes([byte]) * (1 << 20))


def free_bytes(mnt):
    for line in open(mnt + "/.kvfs/stats"):
        k, _, v = line.partition(" ")
        if k == "free_bytes":
            return int(v)
    return -1


def reuse(mnt):
    fd = os.open(mnt + "/.kvfs/ctl", os.O_RDWR)
    os.mkdir(mnt + "/gone")
    ino = os.stat(mnt + "/gone").st_ino
    before = free_bytes(mnt)
    e, r = reserve(fd, "gone", [bytes([7] * 16)], 1 << 20)
    if e:
        return "reserve:" + errno.errorcode[e]
    os.rmdir(mnt + "/gone")
    new = None
    for i in range(64):
        p = "%s/new%d" % (mnt, i)
        os.mkdir(p)
        if os.stat(p).st_ino == ino:
            new = p
            break
    if not new:
        return "no-reuse"
    os.rename(new, mnt + "/gone")  # the same name, too
    e, _ = reserve(fd, "gone", [bytes([8] * 16)], 1 << 20, r.h.txn)
    if e != errno.ENOENT:
        return "append:" + errno.errorcode.get(e, str(e))
    e = txn_call(fd, COMMIT, r.h.txn)
    if e != errno.ENOENT:
        return "commit:" + errno.errorcode.get(e, str(e))
    if os.listdir(mnt + "/gone"):
        return "published-in-the-new-directory"
    if txn_call(fd, ABORT, r.h.txn):
        return "abort-failed"
    if free_bytes(mnt) < before:  # eviction may have freed more to make room
        return "space-not-back"
    os.close(fd)
    return "ok"


def mapped(mnt):
    os.mkdir(mnt + "/zc")
    path = mnt + "/zc/blk"
    with open(path, "wb") as f:
        f.truncate(4 << 20)
        f.write(b"\x44" * (4 << 20))
    f = os.open(path, os.O_RDONLY)
    m = mmap.mmap(f, 4 << 20, prot=mmap.PROT_READ)
    os.close(f)
    if m[:4] != b"\x44" * 4:
        return "not-mapped"
    # another process (without the library), as an engine storing the same name again would
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    subprocess.run([sys.executable, sys.argv[0], mnt, "truncate-churn", path], env=env,
                   check=True)
    if m[:] != b"\x44" * (4 << 20):
        return "mapped-bytes-changed"
    return "ok"


def notices(mnt):
    import multiprocessing as mp
    os.mkdir(mnt + "/nt")
    done = mp.Array("l", 24, lock=False)

    def committer(k):
        fd = os.open(mnt + "/.kvfs/ctl", os.O_RDWR)
        while True:
            e, r = reserve(fd, "nt", [os.urandom(16) for _ in range(20)], 4096)
            if not e:
                txn_call(fd, COMMIT, r.h.txn)
            done[k] += 1

    def looker(k):
        while True:
            try:
                os.stat("%s/nt/%s" % (mnt, os.urandom(16).hex()))
            except OSError:
                pass
            done[k] += 1

    procs = [mp.Process(target=committer if k < 12 else looker, args=(k,)) for k in range(24)]
    for q in procs:
        q.start()
    out, last = "ok", None
    for _ in range(8):
        time.sleep(1)
        now = sum(done)
        if now == last:
            out = "stalled"
            break
        last = now
    for q in procs:
        q.kill()
    for q in procs:
        q.join()
    return out


def truncate(mnt):
    fd = os.open(mnt + "/.kvfs/ctl", os.O_RDWR)
    pm = pool_map(mnt)
    h = bytes([0x21] * 16)
    os.mkdir(mnt + "/pt")
    path = mnt + "/pt/" + h.hex()
    with open(path, "wb") as f:  # its size first: one extent, pinned at once
        f.truncate(4 << 20)
        f.write(b"\x41" * (4 << 20))
    ext = pin_one(fd, "pt", h)
    if isinstance(ext, str):
        return "pin:" + ext
    off, n = ext
    os.truncate(path, 0)
    with open(path, "wb") as f:  # an O_TRUNC open too
        pass
    churn(mnt, 96, 0xCC)
    if pm[off:off + n] != b"\x41" * n:
        return "pinned-bytes-changed"
    before = free_bytes(mnt)
    if unpin_one(fd, "pt", h):
        return "unpin-failed"
    for _ in range(30):  # the kernel sends the last close's release when it will
        if free_bytes(mnt) >= before + (4 << 20):
            break
        time.sleep(0.1)
    else:
        return "space-not-back-after-unpin"
    os.close(fd)
    return "ok"


def migrate(mnt):
    fd = os.open(mnt + "/.kvfs/ctl", os.O_RDWR)
    pm = pool_map(mnt)
    h = bytes([0x22] * 16)
    os.mkdir(mnt + "/pm")
    os.mkdir(mnt + "/frag")
    path = mnt + "/pm/" + h.hex()
    with open(path, "wb") as f:
        f.write(b"\x42" * 65536)
    ext = pin_one(fd, "pm", h)
    if isinstance(ext, str):
        return "pin:" + ext
    off, n = ext
    refused = 0
    for i in range(40):  # another file between appends: no extent can be extended
        with open("%s/frag/%d" % (mnt, i), "wb") as f:
            f.write(b"\xCC" * 65536)
        try:  # exact growth (no room ahead): a new extent each time
            pf = os.open(path, os.O_WRONLY)
            try:
                os.posix_fallocate(pf, os.fstat(pf).st_size, 65536)
            finally:
                os.close(pf)
        except OSError as e:
            if e.errno != errno.EBUSY:
                return "append:" + errno.errorcode.get(e.errno, str(e.errno))
            refused += 1
    if not refused:
        return "never-refused"
    churn(mnt, 96, 0xCD)
    if pm[off:off + n] != b"\x42" * n:
        return "pinned-bytes-changed"
    if unpin_one(fd, "pm", h):
        return "unpin-failed"
    with open(path, "ab") as f:
        f.write(b"\x43" * 65536)
    os.close(fd)
    return "ok"


def inodes(mnt):
    fd = os.open(mnt + "/.kvfs/ctl", os.O_RDWR)
    n = 0
    while True:
        hashes = [os.urandom(16) for _ in range(50)]
        e, r = reserve(fd, "u", hashes, 1)
        if e:
            break
        n += 50
    if e != errno.EDQUOT:
        return "%s after %d" % (errno.errorcode.get(e, str(e)), n)
    print("ok", n, flush=True)
    sys.stdin.read()
    return "ok"


def pins(mnt):
    fd = os.open(mnt + "/.kvfs/ctl", os.O_RDWR)
    n, e = 0, 0
    while not e:
        hashes = [os.urandom(16) for _ in range(50)]
        try:
            for h in hashes:
                with open("%s/u/%s" % (mnt, h.hex()), "wb") as f:
                    f.write(b"p")
        except OSError as err:
            return "%s writing after %d pinned" % (errno.errorcode.get(err.errno), n)
        for h in hashes:
            ext = pin_one(fd, "u", h)
            if ext == "absent":  # its release may still be on its way: once more
                time.sleep(0.1)
                ext = pin_one(fd, "u", h)
            if isinstance(ext, str):
                break
            n += 1
        e = ext if isinstance(ext, str) else 0
    if e != "EDQUOT":
        return "%s after %d pinned" % (e, n)
    print("ok", n, flush=True)
    sys.stdin.read()
    return "ok"


if __name__ == "__main__":
    if sys.argv[2] == "truncate-churn":  # mapped's other process
        os.truncate(sys.argv[3], 0)
        churn(sys.argv[1], 96, 0xCE)
        sys.exit(0)
    if sys.argv[2] in ("inodes", "pins"):
        out = {"inodes": inodes, "pins": pins}[sys.argv[2]](sys.argv[1])
        if out != "ok":
            print(out)
        sys.exit(0 if out == "ok" else 1)
    out = {"reuse": reuse, "truncate": truncate, "migrate": migrate,
           "mapped": mapped, "notices": notices}[sys.argv[2]](sys.argv[1])
    print(out)
    sys.exit(0 if out == "ok" else 1)
