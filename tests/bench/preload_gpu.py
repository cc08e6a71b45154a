# SPDX-License-Identifier: MIT
"""preload_gpu.py - 2 MiB block files to the GPU from an unmodified torch
program, to run under `kvfs run` on a GPU machine: a block mmap'd (Python's
mmap, torch.frombuffer) and copied with one copy_ to HBM, against the same
bytes from a pinned host tensor (the reference: target >= 0.9 under the
library, whose data window is registered with CUDA), and the file-backend
path (os.readv into a pinned buffer, then copy_). Rates are medians of
interleaved rounds; the ratio is the median of the per-round ratios.

  kvfs run -m MNT -- python3 tests/bench/preload_gpu.py MNT [BLOCKS]
  python3 tests/bench/preload_gpu.py MNT [BLOCKS]     (the same without the library)
"""
import mmap
import os
import statistics
import sys
import time

try:
    import torch
except ImportError:
    print("SKIP: no torch")
    sys.exit(0)
if not torch.cuda.is_available():
    print("SKIP: no CUDA GPU")
    sys.exit(0)

BLOCK = 2 << 20
RUNS = 9
mnt = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 512
torch.cuda.init()  # CUDA is loaded before the first map: the library registers its window
d = os.path.join(mnt, "preload-gpu")
os.makedirs(d, exist_ok=True)
paths = [os.path.join(d, "b%05d" % i) for i in range(n)]
for i, p in enumerate(paths):
    if not os.path.exists(p):
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
        os.ftruncate(fd, BLOCK)  # one extent
        os.pwrite(fd, bytes([i % 251]) * BLOCK, 0)
        os.close(fd)
fds = [os.open(p, os.O_RDONLY) for p in paths]
maps = [mmap.mmap(fd, 0, access=mmap.ACCESS_READ) for fd in fds]
srcs = [torch.frombuffer(m, dtype=torch.uint8) for m in maps]
pinned = torch.empty(n * BLOCK, dtype=torch.uint8, pin_memory=True)
pinned_srcs = [pinned[i * BLOCK:(i + 1) * BLOCK] for i in range(n)]
slots = [torch.empty(BLOCK, dtype=torch.uint8, pin_memory=True) for _ in range(4)]
dst = torch.empty(n * BLOCK, dtype=torch.uint8, device="cuda")


def timed(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return n * BLOCK / (time.perf_counter() - t0)


def from_maps():
    for i in range(n):
        dst[i * BLOCK:(i + 1) * BLOCK].copy_(srcs[i], non_blocking=True)


def from_pinned():
    for i in range(n):
        dst[i * BLOCK:(i + 1) * BLOCK].copy_(pinned_srcs[i], non_blocking=True)


def from_reads():
    for i in range(n):
        s = slots[i % 4]
        torch.cuda.current_stream().synchronize() if i % 4 == 0 else None
        os.preadv(fds[i], [memoryview(s.numpy())], 0)
        dst[i * BLOCK:(i + 1) * BLOCK].copy_(s, non_blocking=True)


rows = {"mmap'd block, copy_": [], "pinned tensor, copy_": [], "preadv to pinned, copy_": []}
for r in range(RUNS + 1):
    got = (timed(from_maps), timed(from_pinned), timed(from_reads))
    if r:
        for k, v in zip(rows, got):
            rows[k].append(v)
assert torch.equal(dst[-BLOCK:].cpu(), srcs[-1]), "bytes differ"
lib = "under libkvfs_preload.so" if "libkvfs_preload" in os.environ.get("LD_PRELOAD", "") \
    else "without the library"
print("preload_gpu: %d blocks of 2 MiB, %s, medians of %d rounds" % (n, lib, RUNS))
ref = rows["pinned tensor, copy_"]
for k, v in rows.items():
    ratio = statistics.median(a / b for a, b in zip(v, ref))
    print("%-26s %8.2f GB/s   vs pinned %5.2f%s" % (k, statistics.median(v) / 1e9, ratio,
          "  (target >= 0.9)" if k.startswith("mmap") else ""))
