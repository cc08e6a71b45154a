# SPDX-License-Identifier: MIT
"""kvfs.py - ctypes binding of libkvfs and libkvfs_cuda, for Python engines.

Shows how an engine written in Python uses kvfs without C: hash a prompt's
blocks, look up and pin the cached prefix, load those blocks from the pool
straight into paged KV tensors on the GPU (torch tensors work: pointers come
from tensor.data_ptr(), the stream from torch.cuda.current_stream()), and
store new blocks the other way (reserve, store, commit).

Plain Python and ctypes; torch is optional (only helpers that take tensors
and the self-test use it). The libraries are found in $KVFS_LIB_DIR, else in
../../build relative to this file, else by the dynamic loader.

    with kvfs.Kvfs("/mnt/kvfs") as kv, kvfs.CudaPool.from_kvfs(kv) as pool:
        hashes = kvfs.prefix_hashes("llama3", tokens, 16)
        blocks = kv.lookup("llama3", hashes)
        layout = kvfs.KVLayout.from_torch(k_caches, v_caches)
        pieces = layout.pieces(engine_block_ids[:len(blocks)],
                               [b.offset for b in blocks])
        pool.load(pieces)                    # on torch's current stream
        torch.cuda.current_stream().synchronize()
        kv.unpin("llama3", hashes[:len(blocks)])

Self-test on a GPU machine (no mount needed): python3 kvfs.py selftest
"""

import array
import ctypes
import ctypes.util
import errno
import os
import sys
from collections import namedtuple

__all__ = [
    "KvfsError", "Kvfs", "Block", "prefix_hashes", "hash_name", "hash_parse",
    "CudaPool", "KVLayout", "Piece", "PieceList", "RDONLY", "NOZERO", "LOAD", "STORE",
]

RDONLY = 0x1                       # kvfs_open() flag
NOZERO = 0x2                       # kvfs_open() flag: stores fill every reserved byte
BLOCK_PINNED, BLOCK_RESERVED, BLOCK_PRESENT = 1, 2, 3
LOAD, STORE = 0, 1                 # enum kvfs_cuda_dir
REG_READONLY, REG_NO_CHECK = 0x1, 0x2
LAYOUT_KV_SEPARATE, LAYOUT_KV_STACKED = 1, 2
NSIZES = 6
NEVER = (1 << 64) - 1              # KVFS_CUDA_NEVER


class KvfsError(OSError):
    """A negative return code of libkvfs or libkvfs_cuda, with its message."""

    def __init__(self, rc, what, detail=""):
        msg = "%s: %s" % (what, os.strerror(-rc))
        if detail:
            msg += " (%s)" % detail
        super().__init__(-rc, msg)


# --- loading the libraries ---------------------------------------------------

def _lib_dirs():
    env = os.environ.get("KVFS_LIB_DIR")
    here = os.path.dirname(os.path.abspath(__file__))
    dirs = [env] if env else []
    dirs.append(os.path.normpath(os.path.join(here, "..", "..", "build")))
    return dirs


def _load(name):
    for d in _lib_dirs():
        path = os.path.join(d, "lib%s.so" % name)
        if os.path.exists(path):
            return ctypes.CDLL(path)
    found = ctypes.util.find_library(name)
    if found:
        return ctypes.CDLL(found)
    raise OSError("lib%s.so not found (set KVFS_LIB_DIR; looked in %s)"
                  % (name, ", ".join(_lib_dirs())))


class _Hash(ctypes.Structure):
    _fields_ = [("b", ctypes.c_uint8 * 16)]


class _Block(ctypes.Structure):
    _fields_ = [("offset", ctypes.c_uint64), ("length", ctypes.c_uint64),
                ("addr", ctypes.c_void_p), ("status", ctypes.c_int32),
                ("reserved", ctypes.c_uint32)]


class Piece(ctypes.Structure):
    """struct kvfs_cuda_piece: pool offset -> device pointer, bytes."""
    _fields_ = [("pool_offset", ctypes.c_uint64), ("dev_ptr", ctypes.c_void_p),
                ("bytes", ctypes.c_uint64)]


class _RegInfo(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("size", ctypes.c_uint64),
                ("chunk_bytes", ctypes.c_uint64), ("nchunks", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("register_ms", ctypes.c_double)]


class Method(ctypes.Structure):
    """struct kvfs_cuda_method: which piece sizes go to the copy engine."""
    _fields_ = [("copy_min", ctypes.c_uint64 * 2),
                ("kernel_threads", ctypes.c_uint32),
                ("kernel_unroll", ctypes.c_uint32),
                ("kernel_ctas_per_sm", ctypes.c_uint32),
                ("calibrated", ctypes.c_uint32),
                ("calibrate_ms", ctypes.c_double),
                ("sizes", ctypes.c_uint64 * NSIZES),
                ("kernel_gbs", (ctypes.c_double * NSIZES) * 2),
                ("copy_gbs", (ctypes.c_double * NSIZES) * 2),
                ("kernel_max_ctas", ctypes.c_uint32),
                ("reserved", ctypes.c_uint32)]

    def __repr__(self):
        def choice(v):
            return {NEVER: "kernel", 0: "copy engine"}.get(v, "copy engine from %d B" % v)
        return "Method(load=%s, store=%s, calibrated=%d)" % (
            choice(self.copy_min[LOAD]), choice(self.copy_min[STORE]), self.calibrated)


class _Layout(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_uint32), ("num_layers", ctypes.c_uint32),
                ("num_blocks", ctypes.c_uint64), ("block_tokens", ctypes.c_uint32),
                ("kv_heads", ctypes.c_uint32), ("head_dim", ctypes.c_uint32),
                ("elem_bytes", ctypes.c_uint32),
                ("k", ctypes.POINTER(ctypes.c_void_p)),
                ("v", ctypes.POINTER(ctypes.c_void_p))]


_kvfs = None
_cuda = None


def _libkvfs():
    global _kvfs
    if _kvfs is None:
        L = _load("kvfs")
        P, c = ctypes.POINTER, ctypes
        sig = {
            "kvfs_prefix_hashes": (c.c_long, [c.c_char_p, P(c.c_uint32), c.c_size_t,
                                              c.c_uint32, P(_Hash), c.c_size_t]),
            "kvfs_hash_name": (None, [P(_Hash), c.c_char_p]),
            "kvfs_hash_parse": (c.c_int, [c.c_char_p, P(_Hash)]),
            "kvfs_open": (c.c_int, [c.c_char_p, c.c_int, P(c.c_void_p)]),
            "kvfs_close": (None, [c.c_void_p]),
            "kvfs_pool_base": (c.c_void_p, [c.c_void_p]),
            "kvfs_pool_size": (c.c_uint64, [c.c_void_p]),
            "kvfs_pool_path": (c.c_char_p, [c.c_void_p]),
            "kvfs_lookup": (c.c_long, [c.c_void_p, c.c_char_p, P(_Hash), c.c_size_t,
                                       P(_Block)]),
            "kvfs_unpin": (c.c_int, [c.c_void_p, c.c_char_p, P(_Hash), c.c_size_t]),
            "kvfs_reserve": (c.c_int, [c.c_void_p, c.c_char_p, P(_Hash), P(c.c_uint64),
                                       c.c_size_t, P(_Block), P(c.c_uint64)]),
            "kvfs_commit": (c.c_int, [c.c_void_p, c.c_uint64]),
            "kvfs_abort": (c.c_int, [c.c_void_p, c.c_uint64]),
        }
        for name, (res, args) in sig.items():
            f = getattr(L, name)
            f.restype, f.argtypes = res, args
        _kvfs = L
    return _kvfs


def _libcuda():
    global _cuda
    if _cuda is None:
        L = _load("kvfs_cuda")
        P, c = ctypes.POINTER, ctypes
        sig = {
            "kvfs_cuda_register": (c.c_int, [c.c_void_p, c.c_size_t, c.c_uint,
                                             P(c.c_void_p)]),
            "kvfs_cuda_unregister": (c.c_int, [c.c_void_p]),
            "kvfs_cuda_get_reg_info": (c.c_int, [c.c_void_p, P(_RegInfo)]),
            "kvfs_cuda_load": (c.c_int, [c.c_void_p, P(Piece), c.c_size_t, c.c_void_p]),
            "kvfs_cuda_store": (c.c_int, [c.c_void_p, P(Piece), c.c_size_t, c.c_void_p]),
            "kvfs_cuda_calibrate": (c.c_int, [c.c_void_p, c.c_int]),
            "kvfs_cuda_get_method": (c.c_int, [c.c_void_p, c.c_int, P(Method)]),
            "kvfs_cuda_set_method": (c.c_int, [c.c_void_p, c.c_int, P(Method)]),
            "kvfs_cuda_layout_block_bytes": (c.c_uint64, [P(_Layout)]),
            "kvfs_cuda_layout_pieces": (c.c_long, [P(_Layout), P(c.c_int64), P(c.c_uint64),
                                                   c.c_size_t, P(Piece), c.c_size_t]),
            "kvfs_cuda_strerror": (c.c_char_p, [c.c_int]),
            "kvfs_cuda_last_error": (c.c_char_p, []),
        }
        for name, (res, args) in sig.items():
            f = getattr(L, name)
            f.restype, f.argtypes = res, args
        _cuda = L
    return _cuda


def _check(rc, what):
    if rc < 0:
        raise KvfsError(rc, what)
    return rc


def _check_cuda(rc, what):
    if rc < 0:
        raise KvfsError(rc, what, _libcuda().kvfs_cuda_last_error().decode(errors="replace"))
    return rc


# --- libkvfs -----------------------------------------------------------------

Block = namedtuple("Block", "offset length addr status")


def _hash_array(hashes):
    arr = (_Hash * len(hashes))()
    for i, h in enumerate(hashes):
        if len(h) != 16:
            raise ValueError("a kvfs hash is 16 bytes")
        ctypes.memmove(arr[i].b, bytes(h), 16)
    return arr


def prefix_hashes(ns, tokens, block_tokens):
    """Chained 16-byte hashes of the full blocks of a token id list."""
    L = _libkvfs()
    # array('I') converts at C speed (a ctypes array from *tokens took 2.8 ms for 32k ids)
    ids = array.array("I", tokens)
    toks = (ctypes.c_uint32 * max(len(ids), 1)).from_buffer(ids) if ids else None
    nmax = len(tokens) // block_tokens if block_tokens > 0 else 0
    out = (_Hash * max(nmax, 1))()
    n = _check(L.kvfs_prefix_hashes(ns.encode(), toks, len(tokens), block_tokens, out,
                                    nmax), "kvfs_prefix_hashes")
    return [bytes(out[i].b) for i in range(n)]


def hash_name(h):
    """The 32 hex digits of a hash: its file name under the namespace."""
    buf = ctypes.create_string_buffer(33)
    _libkvfs().kvfs_hash_name(_hash_array([h]), buf)
    return buf.value.decode()


def hash_parse(name):
    h = _Hash()
    _check(_libkvfs().kvfs_hash_parse(name.encode(), ctypes.byref(h)), "kvfs_hash_parse")
    return bytes(h.b)


class Kvfs:
    """A kvfs_open() handle on a mounted kvfs."""

    def __init__(self, mountpoint, readonly=False, nozero=False):
        """nozero: this handle fills every byte it reserves (a GPU store does),
        so the daemon need not zero reservations first."""
        self._L = _libkvfs()
        h = ctypes.c_void_p()
        flags = (RDONLY if readonly else 0) | (NOZERO if nozero else 0)
        _check(self._L.kvfs_open(os.fsencode(mountpoint), flags,
                                 ctypes.byref(h)), "kvfs_open(%s)" % mountpoint)
        self._h = h

    def close(self):
        if self._h:
            self._L.kvfs_close(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def pool_base(self):
        return self._L.kvfs_pool_base(self._h)

    @property
    def pool_size(self):
        return self._L.kvfs_pool_size(self._h)

    @property
    def pool_path(self):
        return self._L.kvfs_pool_path(self._h).decode()

    @staticmethod
    def _blocks(arr, n):
        return [Block(arr[i].offset, arr[i].length, arr[i].addr, arr[i].status)
                for i in range(n)]

    def lookup(self, ns, hashes):
        """Pin and return the cached leading blocks of a hash chain."""
        if not hashes:
            return []
        out = (_Block * len(hashes))()
        n = _check(self._L.kvfs_lookup(self._h, ns.encode(), _hash_array(hashes),
                                       len(hashes), out), "kvfs_lookup")
        return self._blocks(out, n)

    def unpin(self, ns, hashes):
        if hashes:
            _check(self._L.kvfs_unpin(self._h, ns.encode(), _hash_array(hashes),
                                      len(hashes)), "kvfs_unpin")

    def reserve(self, ns, hashes, sizes):
        """Reserve extents; returns (txn, blocks). Fill RESERVED ones, then commit."""
        n = len(hashes)
        out = (_Block * max(n, 1))()
        txn = ctypes.c_uint64()
        sz = (ctypes.c_uint64 * max(n, 1))(*sizes)
        _check(self._L.kvfs_reserve(self._h, ns.encode(), _hash_array(hashes), sz, n, out,
                                    ctypes.byref(txn)), "kvfs_reserve")
        return txn.value, self._blocks(out, n)

    def commit(self, txn):
        _check(self._L.kvfs_commit(self._h, txn), "kvfs_commit")

    def abort(self, txn):
        _check(self._L.kvfs_abort(self._h, txn), "kvfs_abort")


# --- libkvfs_cuda ------------------------------------------------------------

def _stream_handle(stream):
    """cudaStream_t as an int: None -> torch's current stream, or 0."""
    if stream is None:
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            return torch.cuda.current_stream().cuda_stream
        return 0
    return getattr(stream, "cuda_stream", stream)


class PieceList:
    """A ctypes array of Piece, built once and passed to load()/store()."""

    def __init__(self, arr, n):
        self.arr, self.n = arr, n

    @classmethod
    def from_tuples(cls, tuples):
        tuples = list(tuples)
        arr = (Piece * max(len(tuples), 1))()
        for i, (off, ptr, nbytes) in enumerate(tuples):
            arr[i].pool_offset, arr[i].dev_ptr, arr[i].bytes = off, ptr, nbytes
        return cls(arr, len(tuples))

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        p = self.arr[i]
        return (p.pool_offset, p.dev_ptr or 0, p.bytes)


def _as_pieces(pieces):
    return pieces if isinstance(pieces, PieceList) else PieceList.from_tuples(pieces)


class CudaPool:
    """A kvfs_cuda_register() of a pool mapping; serves every GPU."""

    def __init__(self, base, size, readonly=False, check=True):
        self._C = _libcuda()
        reg = ctypes.c_void_p()
        flags = (REG_READONLY if readonly else 0) | (0 if check else REG_NO_CHECK)
        _check_cuda(self._C.kvfs_cuda_register(base, size, flags, ctypes.byref(reg)),
                    "kvfs_cuda_register")
        self._reg = reg

    @classmethod
    def from_kvfs(cls, kv, readonly=False):
        return cls(kv.pool_base, kv.pool_size, readonly=readonly)

    def close(self):
        if self._reg:
            reg, self._reg = self._reg, None
            _check_cuda(self._C.kvfs_cuda_unregister(reg), "kvfs_cuda_unregister")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def info(self):
        i = _RegInfo()
        _check_cuda(self._C.kvfs_cuda_get_reg_info(self._reg, ctypes.byref(i)),
                    "kvfs_cuda_get_reg_info")
        return {"size": i.size, "chunk_bytes": i.chunk_bytes, "nchunks": i.nchunks,
                "register_ms": i.register_ms}

    def load(self, pieces, stream=None):
        """Pool -> GPU, asynchronous on @stream (default: torch's current stream)."""
        p = _as_pieces(pieces)
        _check_cuda(self._C.kvfs_cuda_load(self._reg, p.arr, p.n, _stream_handle(stream)),
                    "kvfs_cuda_load")

    def store(self, pieces, stream=None):
        """GPU -> pool; synchronize before kvfs commit."""
        p = _as_pieces(pieces)
        _check_cuda(self._C.kvfs_cuda_store(self._reg, p.arr, p.n, _stream_handle(stream)),
                    "kvfs_cuda_store")

    def calibrate(self, device=0):
        _check_cuda(self._C.kvfs_cuda_calibrate(self._reg, device), "kvfs_cuda_calibrate")

    def method(self, device=0):
        m = Method()
        _check_cuda(self._C.kvfs_cuda_get_method(self._reg, device, ctypes.byref(m)),
                    "kvfs_cuda_get_method")
        return m

    def set_method(self, m, device=0):
        _check_cuda(self._C.kvfs_cuda_set_method(self._reg, device, ctypes.byref(m)),
                    "kvfs_cuda_set_method")


class KVLayout:
    """An engine's paged KV cache (struct kvfs_cuda_layout), by tensor pointers.

    separate: per layer K and V tensors [num_blocks, block_tokens, kv_heads, head_dim];
    stacked: per layer one tensor [2, num_blocks, block_tokens, kv_heads, head_dim].
    A pool block holds layer 0 K, layer 0 V, layer 1 K, ... back to back.
    """

    def __init__(self, k_ptrs, v_ptrs=None, *, num_blocks, block_tokens, kv_heads,
                 head_dim, elem_bytes):
        self._C = _libcuda()
        n = len(k_ptrs)
        self._k = (ctypes.c_void_p * n)(*k_ptrs)
        self._v = (ctypes.c_void_p * n)(*v_ptrs) if v_ptrs is not None else None
        if self._v is not None and len(v_ptrs) != n:
            raise ValueError("as many V tensors as K tensors")
        self._lo = _Layout(LAYOUT_KV_SEPARATE if v_ptrs is not None else LAYOUT_KV_STACKED,
                           n, num_blocks, block_tokens, kv_heads, head_dim, elem_bytes,
                           ctypes.cast(self._k, ctypes.POINTER(ctypes.c_void_p)),
                           ctypes.cast(self._v, ctypes.POINTER(ctypes.c_void_p))
                           if self._v is not None else None)
        self.num_layers = n
        self.block_bytes = self._C.kvfs_cuda_layout_block_bytes(ctypes.byref(self._lo))
        if not self.block_bytes:
            raise ValueError("invalid KV layout")

    @classmethod
    def from_torch(cls, k_caches, v_caches=None):
        """From torch tensors: separate K/V lists, or (v_caches None) stacked [2, ...]."""
        t0 = k_caches[0]
        for t in list(k_caches) + list(v_caches or []):
            if not t.is_cuda or not t.is_contiguous() or t.shape != t0.shape:
                raise ValueError("KV tensors must be contiguous CUDA tensors of one shape")
        shape = tuple(t0.shape)
        if v_caches is None:
            if len(shape) != 5 or shape[0] != 2:
                raise ValueError("stacked tensors are [2, num_blocks, tokens, heads, dim]")
            shape = shape[1:]
        elif len(shape) != 4:
            raise ValueError("K/V tensors are [num_blocks, tokens, heads, dim]")
        return cls([t.data_ptr() for t in k_caches],
                   [t.data_ptr() for t in v_caches] if v_caches is not None else None,
                   num_blocks=shape[0], block_tokens=shape[1], kv_heads=shape[2],
                   head_dim=shape[3], elem_bytes=t0.element_size())

    def pieces(self, block_ids, pool_offsets):
        """PieceList for engine blocks @block_ids <-> pool blocks at @pool_offsets."""
        nb = len(block_ids)
        if len(pool_offsets) != nb:
            raise ValueError("one pool offset per engine block")
        ids = (ctypes.c_int64 * max(nb, 1))(*block_ids)
        offs = (ctypes.c_uint64 * max(nb, 1))(*pool_offsets)
        cap = nb * 2 * self.num_layers
        out = (Piece * max(cap, 1))()
        n = self._C.kvfs_cuda_layout_pieces(ctypes.byref(self._lo), ids, offs, nb, out, cap)
        _check_cuda(n, "kvfs_cuda_layout_pieces")
        return PieceList(out, n)


# --- self-test ---------------------------------------------------------------

def _selftest():
    """Round trip through torch tensors on a /dev/shm pool (needs a GPU and torch)."""
    import mmap
    import torch

    if not torch.cuda.is_available():
        print("SKIP: no CUDA GPU (torch.cuda.is_available() is False)")
        return 0
    size = 256 << 20
    path = "/dev/shm/kvfs-py-selftest-%d" % os.getpid()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    os.unlink(path)
    os.ftruncate(fd, size)
    buf = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    cbuf = ctypes.c_char.from_buffer(buf)
    base = ctypes.addressof(cbuf)
    host = torch.frombuffer(buf, dtype=torch.uint8)
    host.copy_(torch.randint(0, 256, (size,), dtype=torch.uint8))
    failed = 0

    with CudaPool(base, size) as pool:
        print("registered %d MiB in %.1f ms; %r" % (size >> 20, pool.info()["register_ms"],
                                                   pool.method(0)))
        L, NB, T, H, D = 4, 32, 16, 8, 128
        dev = torch.device("cuda", 0)
        for kind in ("separate", "stacked"):
            if kind == "separate":
                ks = [torch.full((NB, T, H, D), -7.0, dtype=torch.bfloat16, device=dev)
                      for _ in range(L)]
                vs = [torch.full((NB, T, H, D), -7.0, dtype=torch.bfloat16, device=dev)
                      for _ in range(L)]
                lay = KVLayout.from_torch(ks, vs)
                tens = lambda l, isv: (vs if isv else ks)[l]
            else:
                ks = [torch.full((2, NB, T, H, D), -7.0, dtype=torch.bfloat16, device=dev)
                      for _ in range(L)]
                lay = KVLayout.from_torch(ks)
                tens = lambda l, isv: ks[l][isv]
            pb = lay.block_bytes
            ids = [5, 0, 31, 17]
            offs = [(3 * i + 1) * pb for i in range(len(ids))]
            pool.load(lay.pieces(ids, offs))
            torch.cuda.current_stream().synchronize()
            piece = pb // (2 * L)
            for b, (i, off) in enumerate(zip(ids, offs)):
                for l in range(L):
                    for isv in (0, 1):
                        got = tens(l, isv)[i].contiguous().view(torch.uint8).flatten().cpu()
                        o = off + (2 * l + isv) * piece
                        if not torch.equal(got, host[o:o + piece]):
                            print("FAIL %s load: block %d layer %d %s" % (kind, i, l, "KV"[isv]))
                            failed += 1
            # store into fresh pool blocks, on a side stream
            offs2 = [o + 64 * pb for o in offs]
            for o in offs2:
                host[o:o + pb].fill_(0x5A)
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            pool.store(lay.pieces(ids, offs2), stream=s)
            s.synchronize()
            for o, o2 in zip(offs, offs2):
                if not torch.equal(host[o:o + pb], host[o2:o2 + pb]):
                    print("FAIL %s store: pool block at %d" % (kind, o2))
                    failed += 1
            print("%s %s layout: load and store through torch tensors"
                  % ("ok  " if not failed else "FAIL", kind))
        try:
            pool.load([(size - 10, ks[0].data_ptr(), 4096)])
            print("FAIL: a piece beyond the pool was accepted")
            failed += 1
        except KvfsError as e:
            ok = e.errno == errno.ERANGE
            failed += not ok
            print("%s error path: %s" % ("ok  " if ok else "FAIL", e))
    try:
        h = prefix_hashes("selftest", list(range(64)), 16)
        print("ok   libkvfs: 4 prefix hashes, first %s" % hash_name(h[0]))
    except OSError as e:
        print("note: libkvfs part not exercised (%s)" % e)
    del host, cbuf
    buf.close()
    os.close(fd)
    print("python selftest: %s" % ("FAILED" if failed else "passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["selftest"]:
        sys.exit(_selftest())
    print(__doc__)
