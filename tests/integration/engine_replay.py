#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""engine_replay.py - replay the file I/O of engines' KV file backends.

Each subcommand repeats, system call for system call, what one engine's
file backend does to store a KV block, look it up and load it back (open
flags, O_DIRECT, temporary file + rename or not, fallocate, directory
layout, existence checks, startup scans, the engine's own index and LRU
where it keeps one). tests/integration/engines/README says where in each
engine's source every step comes from. Blocks hold bytes derived from their
key, so any reader in any process can verify them.

A run counts, over every process: stores, hits, clean misses (the engine's
own miss path: ENOENT, a failed existence check, a key not in its index),
corrupt hits (a load the engine returns as a hit whose bytes differ) and
errors (any other exception, by errno). It prints one summary line and
exits 1 on any error or corrupt hit, 2 on bad usage.

Python standard library only; O_DIRECT buffers come from mmap (page
aligned); --unaligned offsets them by 512 bytes where the engine would
accept such a buffer.
"""
import argparse
import collections
import ctypes
import errno
import glob
import hashlib
import json
import mmap
import multiprocessing
import os
import random
import struct
import sys
import threading
import uuid

PAGE = mmap.PAGESIZE
O_DIRECT = getattr(os, "O_DIRECT", 0)
LIBC = ctypes.CDLL(None, use_errno=True)


class Miss(Exception):
    """The engine's own clean miss path."""


class Corrupt(Exception):
    """A load the engine returns as a hit with wrong or missing bytes."""


# --- block contents ------------------------------------------------------

_PATTERNS = {}


def block_bytes(key, size):
    """The bytes of block KEY: a 4 KiB pattern derived from the key, each
    page stamped with its index, so a shifted, stale, zeroed or foreign
    page never compares equal."""
    pat = _PATTERNS.get(key)
    if pat is None:
        seed = hashlib.sha256(key.encode()).digest()
        parts, h = [], seed
        while len(parts) * 32 < PAGE:
            h = hashlib.sha256(h).digest()
            parts.append(h)
        pat = b"".join(parts)[:PAGE]
        if len(_PATTERNS) > 64:
            _PATTERNS.clear()
        _PATTERNS[key] = pat
    npages = -(-size // PAGE)
    buf = bytearray(pat * npages)
    for i in range(npages):
        buf[i * PAGE:i * PAGE + 8] = struct.pack("<Q", i)
    del buf[size:]
    return buf


def aligned_buffer(size, unaligned=False):
    """A writable memoryview of SIZE bytes: page-aligned, or 512 bytes past
    a page boundary when UNALIGNED."""
    off = 512 if unaligned else 0
    m = mmap.mmap(-1, max(PAGE, -(-(size + off) // PAGE) * PAGE))
    return memoryview(m)[off:off + size]


def fallocate(fd, size):
    """fallocate(fd, 0, 0, size), as Rust's nix crate calls it."""
    if LIBC.fallocate(fd, 0, ctypes.c_long(0), ctypes.c_long(size)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def write_all(fd, view):
    """A single write(2); a short one raises, as the engines check."""
    n = os.write(fd, view)
    if n != len(view):
        raise OSError(errno.EIO, f"short write {n} of {len(view)}")


# --- engines -------------------------------------------------------------


class Engine:
    """One backend instance of one process (one rank)."""

    def __init__(self, args, rank):
        self.a = args
        self.rank = rank
        self.bs = args.block_size

    def startup(self):
        pass

    def put(self, key):
        raise NotImplementedError

    def exists(self, key):
        return os.path.exists(self.path(key))

    def lookup(self, keys):
        """How many of KEYS, from the first, the engine finds present."""
        for i, key in enumerate(keys):
            if not self.exists(key):
                return i
        return len(keys)

    def get(self, key):
        """Load a block lookup() found; raise Miss on the engine's miss path."""
        raise NotImplementedError


class SGLang(Engine):
    """SGLang HiCacheFile: flat directory, <key>_<model>_<tp>_<tpsize>.bin,
    numpy tofile into a unique tmp then os.replace; get is
    open(rb, buffering=0).readinto; exists is os.path.exists."""

    def __init__(self, args, rank):
        super().__init__(args, rank)
        self.dir = args.dir
        self.suffix = f"_llama-8b_{rank}_{args.procs}"

    def path(self, key):
        return os.path.join(self.dir, f"{key}{self.suffix}.bin")

    def startup(self):
        if not os.path.exists(self.dir) and self.rank == 0:
            os.makedirs(self.dir, exist_ok=True)  # exist_ok: ranks race here
        os.makedirs(self.dir, exist_ok=True)
        # LRUFileEvictor._scan_existing_files and the metadata cache scan
        for fn in os.listdir(self.dir):
            if fn.endswith(self.suffix + ".bin"):
                try:
                    os.stat(os.path.join(self.dir, fn))
                except FileNotFoundError:
                    pass

    def put(self, key):
        dest = self.path(key)
        if os.path.exists(dest):
            return
        tmp = f"{dest}.tmp.{os.getpid()}.{threading.get_ident()}.{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as f:  # ndarray.tofile: fwrite of the whole array
                f.write(block_bytes(key, self.bs))
            os.replace(tmp, dest)
        except OSError:
            try:
                os.remove(tmp)
            except OSError:
                pass
            raise

    def lookup(self, keys):
        """batch_exists_v2 without the metadata cache: one os.scandir of the
        whole directory, then the present prefix."""
        want = {os.path.basename(self.path(k)) for k in keys}
        present = set()
        with os.scandir(self.dir) as entries:
            for entry in entries:
                if entry.name in want and entry.is_file():
                    present.add(entry.name)
        for i, key in enumerate(keys):
            if os.path.basename(self.path(key)) not in present:
                return i
        return len(keys)

    def get(self, key):
        buf = bytearray(self.bs)
        try:
            with open(self.path(key), "rb", buffering=0) as f:
                if f.readinto(buf) != self.bs:
                    raise OSError(errno.EIO, "short read")  # SGLang raises IOError
        except FileNotFoundError:
            raise Miss
        return buf


class LMCacheFS(Engine):
    """LMCache FSConnector: <dir>/<key>.data holding a 28-byte metadata header
    then the data; put writes <key>.tmp (buffered, two writes) and
    os.replace; get opens buffered and readinto's header then data."""

    MD = 28

    def __init__(self, args, rank):
        super().__init__(args, rank)
        self.dir = args.dir

    def name(self, key):
        return f"vllm@llama-8b@{self.a.procs}@{self.rank}@{key}".replace("/", "-")

    def path(self, key):
        return os.path.join(self.dir, self.name(key) + ".data")

    def startup(self):
        os.makedirs(self.dir, exist_ok=True)
        glob.glob(os.path.join(glob.escape(self.dir), "*.data"))  # list()

    def put(self, key):
        final = self.path(key)
        tmp = final[:-len(".data")] + ".tmp"  # Path.with_suffix(".tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(struct.pack("<Q", self.bs).ljust(self.MD, b"\0"))
                f.write(block_bytes(key, self.bs))
            os.replace(tmp, final)
        except OSError:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def get(self, key):  # after batched_async_contains (os.path.exists)
        try:
            with open(self.path(key), "rb") as f:
                md = bytearray(self.MD)
                if f.readinto(md) != self.MD:
                    raise OSError(errno.EIO, "partial read of metadata")
                if struct.unpack_from("<Q", md)[0] != self.bs:
                    raise Corrupt("metadata")
                buf = bytearray(self.bs)
                if f.readinto(buf) != self.bs:
                    raise OSError(errno.EIO, "partial read of data")
        except FileNotFoundError:
            raise Miss
        return buf


class LMCacheDisk(Engine):
    """LMCache LocalDiskBackend: its own in-memory index (dict + LRU) under
    max_local_disk_size; <dir>/<key>.pt written by open(wb).write, or with
    use_odirect os.open(O_CREAT|O_WRONLY|O_DIRECT) + one os.write; get looks
    only at its index, then readinto a reused buffer, ignoring the count; a
    FileNotFoundError drops the key but still returns the buffer (a hit)."""

    def __init__(self, args, rank):
        super().__init__(args, rank)
        self.dir = args.dir
        self.index = collections.OrderedDict()  # key -> (path, size), LRU first
        self.max = args.max_size
        self.cur = 0
        self.buf = aligned_buffer(self.bs, args.unaligned)  # allocator reuse

    def path(self, key):
        return os.path.join(self.dir, f"vllm@llama-8b@1@{self.rank}@{key}.pt")

    def startup(self):
        if not os.path.exists(self.dir):
            os.makedirs(self.dir, exist_ok=True)
        self.fbs = os.statvfs(self.dir).f_bsize

    def put(self, key):
        if key in self.index:
            self.index.move_to_end(key)
            return
        while self.cur + self.bs > self.max:  # submit_put_task
            victim, (vpath, vsize) = next(iter(self.index.items()))
            self.cur -= vsize
            del self.index[victim]
            os.remove(vpath)  # remove(): no FileNotFoundError handling
        self.cur += self.bs
        data = block_bytes(key, self.bs)
        path = self.path(key)
        if self.bs % self.fbs != 0 or not self.a.odirect:  # write_file
            with open(path, "wb") as f:
                f.write(data)
        else:
            view = self.buf
            view[:] = data
            fd = os.open(path, os.O_CREAT | os.O_WRONLY | O_DIRECT, 0o644)
            try:
                os.write(fd, view)  # LMCache does not check the count
            finally:
                os.close(fd)
        self.index[key] = (path, self.bs)  # insert_key, after the write

    def exists(self, key):  # batched_async_contains: the index only
        return key in self.index

    def get(self, key):
        if key not in self.index:  # get_blocking
            raise Miss
        self.index.move_to_end(key)
        path = self.index[key][0]
        view = self.buf
        view[:] = b"\xa5" * self.bs  # what the reused buffer held before
        try:  # read_file
            if self.bs % self.fbs != 0 or not self.a.odirect:
                with open(path, "rb") as f:
                    f.readinto(view)
            else:
                fd = os.open(path, os.O_RDONLY | O_DIRECT)
                with os.fdopen(fd, "rb", buffering=0) as fdo:
                    fdo.readinto(view)
        except FileNotFoundError:
            self.index.pop(key, None)  # current_cache_size is left as it was
        return bytes(view)  # returned as a hit in every case


class VLLM(Engine):
    """vLLM FS offload tier: <root>/<model>_<sha12>/config.json, an O_DIRECT
    probe, blocks at <base>_r<rank>/<hhh>/<hh>_g<group>/<hash>.bin written
    to <dest>_<rand>.tmp with O_CREAT|O_EXCL|O_WRONLY|O_TRUNC|O_DIRECT, one
    os.write, os.replace; load is O_RDONLY|O_DIRECT + os.readv, removing the
    file on any failure; lookup is os.path.exists."""

    def __init__(self, args, rank):
        super().__init__(args, rank)
        self.base = os.path.join(args.dir, "meta-llama_Llama-3.1-8B_3f2a9c1b7d4e")
        self.suffix = f"_{random.randint(0, 2**63 - 1)}.tmp"
        self.buf = aligned_buffer(self.bs, args.unaligned)
        self.direct = False

    def path(self, key):
        h = hashlib.sha256(key.encode()).hexdigest()
        return f"{self.base}_r{self.rank}/{h[:3]}/{h[3:5]}_g0/{h}.bin"

    def startup(self):
        os.makedirs(self.base, exist_ok=True)  # write_run_config
        cfg = os.path.join(self.base, "config.json")
        if not os.path.exists(cfg):
            with open(cfg + f".{os.getpid()}", "w") as f:
                json.dump({"model_name": "meta-llama/Llama-3.1-8B"}, f)
            os.replace(cfg + f".{os.getpid()}", cfg)
        self.direct = self.a.odirect and self.probe()

    def probe(self):
        path = os.path.join(self.base, f".o_direct_probe{self.suffix}")
        page = mmap.mmap(-1, PAGE)
        try:
            fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | O_DIRECT, 0o644)
            try:
                os.write(fd, page)
            finally:
                os.close(fd)
            return True
        except OSError:
            return False
        finally:
            page.close()
            try:
                os.remove(path)
            except OSError:
                pass

    def put(self, key):
        dest = self.path(key)
        if os.path.exists(dest):
            return
        tmp = dest + self.suffix
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        self.buf[:] = block_bytes(key, self.bs)
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_TRUNC
                         | (O_DIRECT if self.direct else 0), 0o644)
            try:
                write_all(fd, self.buf)
            finally:
                os.close(fd)
            os.replace(tmp, dest)
        except Exception:
            try:
                os.remove(tmp)
            except OSError:
                pass
            raise

    def get(self, key):
        src = self.path(key)  # after NoOpEvictor.lookup (os.path.exists)
        fd = None
        try:
            fd = os.open(src, os.O_RDONLY | (O_DIRECT if self.direct else 0))
            n = os.readv(fd, [self.buf])
            if n < self.bs:
                raise OSError(errno.EIO, f"short read {n} of {self.bs}")
        except FileNotFoundError:
            raise Miss
        except Exception:
            try:
                os.remove(src)
            except OSError:
                pass
            raise
        finally:
            if fd is not None:
                os.close(fd)
        return bytes(self.buf)


class LLMD(Engine):
    """llm-d fs backend: <root>/<model>/tp_<n>/rank_<r>/<dtype>/<h[0:8]>/
    <h[8:16]>/<h>.bin; get_file_name makes both directories even for a
    lookup; put opens the target for reading to skip existing blocks, else
    writes <target><thread>.tmp. (ofstream, O_TRUNC) and renames; get opens,
    seeks to the end for the size and reads it all."""

    def __init__(self, args, rank):
        super().__init__(args, rank)
        self.base = os.path.join(args.dir, "llama-8b", f"tp_{args.procs}",
                                 f"rank_{rank}", "bfloat16")

    def path(self, key):
        h = f"{int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], 'little'):016x}"
        p = os.path.join(self.base, h[:8], h[8:16], h + ".bin")
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def startup(self):
        os.makedirs(self.base, exist_ok=True)

    def put(self, key):
        target = self.path(key)
        try:
            os.close(os.open(target, os.O_RDONLY))  # std::ifstream(target).good()
            os.utime(target)  # update_atime
            return
        except FileNotFoundError:
            pass
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = target + "0.tmp."
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_all(fd, block_bytes(key, self.bs))
        finally:
            os.close(fd)
        os.rename(tmp, target)

    def get(self, key):
        p = self.path(key)  # after lookup (os.path.exists, dirs made)
        try:
            fd = os.open(p, os.O_RDONLY)
        except FileNotFoundError:
            raise Miss
        try:
            size = os.lseek(fd, 0, os.SEEK_END)
            os.lseek(fd, 0, os.SEEK_SET)
            chunks, left = [], size
            while left > 0:
                b = os.read(fd, left)
                if not b:
                    break
                chunks.append(b)
                left -= len(b)
            return b"".join(chunks)  # llm-d trusts the size it saw
        finally:
            os.close(fd)


class Dynamo(Engine):
    """Dynamo KVBM disk tier: one file per worker made by mkostemp in
    DYN_KVBM_DISK_CACHE_DIR, O_DIRECT set by fcntl, fallocate of the whole
    tier (ftruncate on EOPNOTSUPP), unlinked while open; blocks are pwrite/
    pread at slot offsets from page-aligned buffers; the engine's own index
    maps blocks to slots and reuses the oldest slot."""

    def __init__(self, args, rank):
        super().__init__(args, rank)
        self.slots = args.slots
        self.index = collections.OrderedDict()  # key -> slot
        self.free = list(range(self.slots))
        self.buf = aligned_buffer(self.bs, args.unaligned)
        self.fd = -1

    def startup(self):
        os.makedirs(self.a.dir, exist_ok=True)
        for _ in range(100):  # mkostemp(..., O_CLOEXEC): O_RDWR|O_CREAT|O_EXCL, 0600
            name = os.path.join(self.a.dir, "dynamo-kvbm-disk-cache-"
                                + uuid.uuid4().hex[:6])
            try:
                self.fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL
                                  | os.O_CLOEXEC, 0o600)
                break
            except FileExistsError:
                continue
        if self.a.odirect:
            import fcntl
            fl = fcntl.fcntl(self.fd, fcntl.F_GETFL)
            fcntl.fcntl(self.fd, fcntl.F_SETFL, fl | O_DIRECT)
        size = self.slots * self.bs
        try:
            fallocate(self.fd, size)
        except OSError as e:
            if e.errno != errno.EOPNOTSUPP:
                raise
            os.ftruncate(self.fd, size)
        os.unlink(name)  # after NIXL registration

    def put(self, key):
        if key in self.index:
            self.index.move_to_end(key)
            return
        if not self.free:
            _, slot = self.index.popitem(last=False)
            self.free.append(slot)
        slot = self.free.pop()
        self.buf[:] = block_bytes(key, self.bs)
        n = os.pwritev(self.fd, [self.buf], slot * self.bs)
        if n != self.bs:
            raise OSError(errno.EIO, f"short pwrite {n}")
        self.index[key] = slot

    def exists(self, key):
        return key in self.index

    def get(self, key):
        if key not in self.index:
            raise Miss
        n = os.preadv(self.fd, [self.buf], self.index[key] * self.bs)
        if n != self.bs:
            raise Corrupt(f"short pread {n}")
        return bytes(self.buf)


ENGINES = {"sglang": SGLang, "lmcache-fs": LMCacheFS, "lmcache-disk": LMCacheDisk,
           "vllm": VLLM, "llmd": LLMD, "dynamo": Dynamo}
SHARED = {"sglang", "lmcache-fs", "vllm", "llmd"}  # index lives in the files


# --- driver --------------------------------------------------------------


def key_of(args, rank, i):
    return f"{args.seed:x}-{rank}-{i:08x}"


def count_error(c, e):
    name = errno.errorcode.get(getattr(e, "errno", None) or 0, type(e).__name__)
    c["errors"] += 1
    c["err:" + name] += 1
    if c["err:" + name] <= 2:  # the first two of each kind
        print(f"  error: {type(e).__name__}: {e}", file=sys.stderr)


def check_get(eng, key, c):
    try:
        data = eng.get(key)
    except Miss:
        c["misses"] += 1
        return
    except Corrupt:
        c["corrupt"] += 1
        return
    except Exception as e:  # noqa: BLE001 - every other failure counts
        count_error(c, e)
        return
    if len(data) == eng.bs and data == block_bytes(key, eng.bs):
        c["hits"] += 1
    else:
        c["corrupt"] += 1


def flood(args, c):
    """Another tenant of the pool writes FLOOD_BYTES of 4 MiB files."""
    os.makedirs(args.flood, exist_ok=True)
    chunk = bytes(4 << 20)
    for i in range(-(-args.flood_bytes // len(chunk))):
        try:
            with open(os.path.join(args.flood, f"flood-{os.getpid()}-{i}"), "wb") as f:
                f.write(chunk)
        except OSError as e:
            count_error(c, e)


def read_prefix(eng, keys, c):
    """Look KEYS up as the engine does, then load the present prefix."""
    try:
        n = eng.lookup(keys)
    except Exception as e:  # noqa: BLE001
        count_error(c, e)
        return
    c["misses"] += len(keys) - n
    for key in keys[:n]:
        check_get(eng, key, c)


def store_all(eng, mine, args, c):
    for i, key in enumerate(mine):
        try:
            eng.put(key)
            c["puts"] += 1
        except Exception as e:  # noqa: BLE001 - every failure counts
            count_error(c, e)
        if i >= args.lag:  # read back a recent block, as a reuse would
            read_prefix(eng, [mine[i - args.lag]], c)


def load_all(eng, rank, args, c):
    ranks = range(args.procs) if args.engine in SHARED else [rank]
    for r in ranks:
        other = eng if r == rank else ENGINES[args.engine](args, r)
        keys = [key_of(args, r, i) for i in range(args.blocks)]
        for end in range(len(keys), 0, -args.batch):  # newest requests first
            read_prefix(other, keys[max(0, end - args.batch):end], c)


def worker(args, rank, q, barrier):
    """One rank: start, store, wait for every rank (a rank whose start
    failed still waits), let the flood run, load."""
    c = collections.Counter()
    eng = None
    try:
        eng = ENGINES[args.engine](args, rank)
        eng.startup()
    except Exception as e:  # noqa: BLE001 - a failed start is an error
        count_error(c, e)
        eng = None
    try:
        if eng is not None and args.phase in ("put", "both"):
            store_all(eng, [key_of(args, rank, i) for i in range(args.blocks)], args, c)
        if args.phase == "both":  # every rank has stored before any loads
            barrier.wait(timeout=300)
        if args.flood:
            if rank == 0:
                flood(args, c)
            barrier.wait(timeout=300)
        if eng is not None and args.phase in ("get", "both"):
            load_all(eng, rank, args, c)
    except Exception as e:  # noqa: BLE001
        count_error(c, e)
    q.put(dict(c))


def tree_counts(top):
    files = dirs = 0
    for _, d, f in os.walk(top):
        dirs += len(d)
        files += len(f)
    return files, dirs


def parse_size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(s[:-1]) * mult[s[-1].upper()] if s[-1].upper() in mult else int(s)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("engine", choices=sorted(ENGINES))
    p.add_argument("dir")
    p.add_argument("--blocks", type=int, default=16, help="blocks each process stores")
    p.add_argument("--block-size", type=parse_size, default=2 << 20)
    p.add_argument("--procs", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--phase", choices=("put", "get", "both"), default="both")
    p.add_argument("--lag", type=int, default=2,
                   help="while storing, read back the block stored LAG before")
    p.add_argument("--batch", type=int, default=32,
                   help="blocks per lookup in the loading phase (one request's prefix)")
    p.add_argument("--odirect", action="store_true",
                   help="O_DIRECT where the engine can use it (LMCache use_odirect; "
                   "vLLM and Dynamo default to it)")
    p.add_argument("--unaligned", action="store_true",
                   help="O_DIRECT from a buffer 512 bytes past a page boundary")
    p.add_argument("--max-size", type=parse_size, default=64 << 20,
                   help="lmcache-disk: max_local_disk_size in bytes")
    p.add_argument("--slots", type=int, default=8, help="dynamo: blocks in the tier file")
    p.add_argument("--flood", metavar="DIR",
                   help="between storing and loading, another tenant writes "
                   "--flood-bytes into DIR")
    p.add_argument("--flood-bytes", type=parse_size, default=512 << 20)
    p.add_argument("--expect-all-hits", action="store_true",
                   help="a miss is an error (the data fits)")
    args = p.parse_args(argv)
    if min(args.blocks, args.procs, args.block_size, args.lag, args.batch) < 1:
        p.error("--blocks, --procs, --block-size, --lag and --batch must be positive")
    if args.engine in ("vllm", "dynamo") and "--odirect" not in argv:
        args.odirect = True  # their default
    q = multiprocessing.Queue()
    barrier = multiprocessing.Barrier(args.procs)
    ps = [multiprocessing.Process(target=worker, args=(args, r, q, barrier))
          for r in range(args.procs)]
    for pr in ps:
        pr.start()
    total = collections.Counter()
    for _ in ps:
        total.update(q.get())
    for pr in ps:
        pr.join()
        if pr.exitcode != 0:
            total["errors"] += 1
            total["err:died"] += 1
    if args.expect_all_hits and total["misses"]:
        total["errors"] += total["misses"]
        total["err:miss"] += total["misses"]
    files, dirs = tree_counts(args.dir)
    errs = " ".join(f"{k[4:]}={v}" for k, v in sorted(total.items()) if k.startswith("err:"))
    print(f"{args.engine}: procs={args.procs} block={args.block_size} "
          f"odirect={int(args.odirect)} puts={total['puts']} hits={total['hits']} "
          f"misses={total['misses']} corrupt={total['corrupt']} errors={total['errors']}"
          f"{' (' + errs + ')' if errs else ''} files={files} dirs={dirs}")
    return 1 if total["errors"] or total["corrupt"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
