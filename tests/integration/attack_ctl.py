#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""attack_ctl.py MNT CHECK - ioctls on MNT/.kvfs/ctl that try to make the
daemon publish or pin something it must not (fs/kvfs_abi.h, through ctypes).
Prints one word a check, "ok" when the daemon refused as it should; exits 1
otherwise.

  reuse   reserve in a namespace, remove the namespace, make directories
          until one reuses its inode; the commit (and a reserve appended to
          the transaction) must fail with ENOENT, publish nothing in the new
          directory, and the abort must give the space back."""
import ctypes as C, errno, fcntl, os, sys

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


class Txn(C.Structure):
    _fields_ = [("h", Head)]


def ioc(d, nr, size):
    return (d << 30) | (size << 16) | (ord('K') << 8) | nr


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


if __name__ == "__main__":
    out = {"reuse": reuse}[sys.argv[2]](sys.argv[1])
    print(out)
    sys.exit(0 if out == "ok" else 1)
