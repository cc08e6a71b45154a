#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""engine_bench.py - engines' KV file backends on kvfs against tmpfs.

Runs the store and load paths of tests/integration/engine_replay.py (the
same system calls as each engine) on a kvfs it mounts itself and on a tmpfs
directory, in one run, for 2 and 16 MiB blocks, 1 and 4 processes, buffered
and O_DIRECT, and prints GB/s (medians) with the ratio kvfs / tmpfs as the
last column (1.00 = as fast as tmpfs). Block contents are not generated or
verified in the timed loops; the pool is large enough that nothing is
evicted. Unmounts on exit, whatever happens.

usage: engine_bench.py KVFS_BIN [--mnt DIR] [--reps N] [--mib-per-proc N]
"""
import argparse
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import engine_replay as er  # noqa: E402

# (row name, engine, O_DIRECT)
PATTERNS = [
    ("sglang", "sglang", False),
    ("lmcache-fs", "lmcache-fs", False),
    ("llmd", "llmd", False),
    ("vllm buffered", "vllm", False),
    ("vllm O_DIRECT", "vllm", True),
    ("lmcache-disk O_DIRECT", "lmcache-disk", True),
    ("dynamo O_DIRECT", "dynamo", True),
]


def one_proc(ns, rank, barrier, q):
    payload = bytearray(os.urandom(4096) * (ns.block_size // 4096))
    er.block_bytes = lambda key, size: payload  # nothing generated while timed
    eng = er.ENGINES[ns.engine](ns, rank)
    eng.startup()
    keys = [er.key_of(ns, rank, i) for i in range(ns.blocks)]
    barrier.wait()
    t0 = time.perf_counter()
    for k in keys:
        eng.put(k)
    t1 = time.perf_counter()
    barrier.wait()
    t2 = time.perf_counter()
    for k in keys:
        eng.get(k)
    t3 = time.perf_counter()
    q.put((t0, t1, t2, t3))


def measure(engine, odirect, top, bs, procs, mib):
    """One run: (put GB/s, get GB/s) over all processes, wall clock."""
    d = tempfile.mkdtemp(dir=top)
    ns = argparse.Namespace(dir=d, block_size=bs, procs=procs, blocks=max(1, (mib << 20) // bs),
                            seed=1, odirect=odirect, unaligned=False, max_size=1 << 40,
                            engine=engine, flood=None)
    ns.slots = ns.blocks
    barrier = multiprocessing.Barrier(procs)
    q = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=one_proc, args=(ns, r, barrier, q))
          for r in range(procs)]
    for p in ps:
        p.start()
    ts = [q.get() for _ in ps]
    for p in ps:
        p.join()
        if p.exitcode:
            raise RuntimeError(f"{engine} worker failed")
    shutil.rmtree(d)
    nbytes = ns.blocks * bs * procs
    put = max(t[1] for t in ts) - min(t[0] for t in ts)
    get = max(t[3] for t in ts) - min(t[2] for t in ts)
    return nbytes / put / 1e9, nbytes / get / 1e9


def mount(kvfs, mnt, pool, size):
    subprocess.run([kvfs, "mount", "-o", f"size={size}", pool, mnt], check=True)


def unmount(mnt):
    if subprocess.run(["mountpoint", "-q", mnt]).returncode == 0:
        if subprocess.run(["umount", mnt]).returncode != 0:
            subprocess.run(["fusermount3", "-u", mnt])


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("kvfs", help="the kvfs binary")
    p.add_argument("--mnt", help="mount point (default: a new temporary directory)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--mib-per-proc", type=int, default=64)
    p.add_argument("--only", help="run only the patterns whose name contains this")
    a = p.parse_args(argv)
    if a.reps < 1 or a.mib_per_proc < 2:
        p.error("--reps must be >= 1 and --mib-per-proc >= 2")
    work = tempfile.mkdtemp(prefix="kvfs-engine-bench.")
    mnt = a.mnt or os.path.join(work, "mnt")
    os.makedirs(mnt, exist_ok=True)
    pool = f"/dev/shm/kvfs-engine-bench.{os.getpid()}.pool"
    tmpfs = tempfile.mkdtemp(prefix="kvfs-engine-bench-tmpfs.", dir="/dev/shm")
    size_mib = max(512, 4 * a.mib_per_proc * 2)
    try:
        mount(a.kvfs, mnt, pool, f"{size_mib}M")
        print(f"engine_bench: kvfs vs tmpfs, GB/s, medians of {a.reps} runs, "
              f"{a.mib_per_proc} MiB per process")
        print(f"{'pattern':<22} {'block':>5} {'procs':>5} {'op':<4} "
              f"{'kvfs':>7} {'tmpfs':>7} {'ratio':>6}")
        for name, engine, odirect in PATTERNS:
            if a.only and a.only not in name:
                continue
            for bs in (2 << 20, 16 << 20):
                for procs in (1, 4):
                    res = {"kvfs": [], "tmpfs": []}
                    for _ in range(a.reps):  # interleaved, so drift hits both
                        res["kvfs"].append(measure(engine, odirect, mnt, bs, procs,
                                                   a.mib_per_proc))
                        res["tmpfs"].append(measure(engine, odirect, tmpfs, bs, procs,
                                                    a.mib_per_proc))
                    for i, op in enumerate(("put", "get")):
                        k = statistics.median(r[i] for r in res["kvfs"])
                        t = statistics.median(r[i] for r in res["tmpfs"])
                        print(f"{name:<22} {bs >> 20:>4}M {procs:>5} {op:<4} "
                              f"{k:7.2f} {t:7.2f} {k / t:6.2f}", flush=True)
        print("ratio: kvfs / tmpfs (higher is better; 1.00 = as fast as tmpfs)")
    finally:
        unmount(mnt)
        for _ in range(50):
            if subprocess.run(["fuser", "-s", pool], stderr=subprocess.DEVNULL).returncode:
                break
            time.sleep(0.1)
        for path in (pool,):
            try:
                os.remove(path)
            except OSError:
                pass
        shutil.rmtree(tmpfs, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
