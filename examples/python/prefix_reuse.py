#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""prefix_reuse.py - time-to-first-token with and without a cached prefix in kvfs.

A Llama-3-8B-shaped model (random bf16 weights made on the GPU: nothing is
downloaded) answers, for each prompt length P:

  cold   a request of P prefix tokens + a 64-token suffix, prefilled from
         scratch; its prefix KV is then stored in kvfs (reserve, one
         kvfs_cuda store, commit), as an engine would after serving it;
  kvfs   a new request: the same prefix + a NEW 64-token suffix, in a fresh
         cache. Hash its token blocks, find and pin the cached prefix with
         one kvfs lookup, load every block into fresh per-layer K/V tensors
         with one kvfs_cuda load, put a transformers cache over them and
         prefill only the suffix;
  kvfs, layer-pipelined
         the same, but one kvfs_cuda load per layer on a side stream, each
         layer of the suffix prefill waiting only for its own layer's KV,
         so the prefill runs while later layers are still on the link;
  file   the same as kvfs, but the blocks are plain files on /dev/shm
         read() into pinned buffers, copied to the GPU and rearranged into
         the cache layout there (what file-based KV backends do today).

TTFT is wall time from the request's token ids to the first token's logits
on the host side of a torch.cuda.synchronize(). Registering the pool with
CUDA happens once at start-up and is reported apart. The warm paths put the
transformers cache over the loaded tensors without copying them (a
DynamicLayer that appends in place); the cold path uses transformers' own.

Block format (B = 256 tokens): a pool block holds all layers' K and V of
256 tokens, in the order layer 0 K, layer 0 V, layer 1 K, ..., each as
[kv_heads][256 tokens][head_dim]. transformers keeps a layer's K as
[batch, kv_heads, seq, head_dim], so one block is, per layer and K/V,
kv_heads contiguous pieces of 256 * 128 * 2 B = 64 KiB (16-token blocks
would be 4 KiB pieces).

Checks: the loaded K/V are bit-identical to what was stored; the kvfs
logits are bit-identical to the same suffix prefill from the KV kept in GPU
memory, to the file path's and to the pipelined path's; and, against a
float32 recompute of prefix + suffix (same weights, chunked prefill), the
warm logits are within 1.5x of the bf16 full recompute's own error (a KV
layout mix-up, the negative control, must fail that).

  python3 prefix_reuse.py --mount /mnt/kvfs [--sizes 2048,8192,32768]
          [--layers 32] [--json out.json] [--table out.txt]
Needs torch, transformers (5.x or 4.5x), a CUDA GPU, libkvfs.so and
libkvfs_cuda.so in $KVFS_LIB_DIR (see kvfs.py) and a kvfs mount.
"""

import argparse
import ctypes
import json
import os
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvfs  # noqa: E402

# Tolerance: against a float32 recompute (the exact answer up to ~1e-6), the
# warm path's relative L2 error over the suffix logits may be at most this
# many times the bf16 full recompute's own. Both are bf16 computations of the
# same function in a different order; neither should be much further from the
# exact answer than the other.
TOL_VS_FP32 = 1.5
FP32_CHUNK = 4096  # tokens per chunk of the float32 reference prefill


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mount", required=True, help="kvfs mount point")
    p.add_argument("--sizes", default="2048,8192,32768", help="prefix lengths P")
    p.add_argument("--layers", type=int, default=32, help="decoder layers (32 = Llama-3-8B)")
    p.add_argument("--suffix", type=int, default=64, help="new tokens after the prefix")
    p.add_argument("--block-tokens", type=int, default=256)
    p.add_argument("--reps", type=int, default=3, help="timed warm runs per path")
    p.add_argument("--cold-reps", type=int, default=2, help="timed cold runs")
    p.add_argument("--files-dir", default="/dev/shm/kvfs-prefix-reuse-files")
    p.add_argument("--file-slots", type=int, default=4, help="pinned buffers of the file path")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--no-fp32-ref", action="store_true", help="skip the float32 reference")
    p.add_argument("--no-pipeline", action="store_true", help="skip the layer-pipelined path")
    p.add_argument("--pipeline-ctas", type=int, default=16,
                   help="CTAs the layer-pipelined loads may use (0: every SM)")
    p.add_argument("--json", help="write every number here")
    p.add_argument("--table", help="write the tables here")
    return p.parse_args()


def log(*a):
    print(*a, flush=True)


class Timer:
    """Wall time on the host after synchronizing the GPU, as TTFT is seen."""

    def __init__(self, torch):
        self.torch = torch

    def now(self):
        self.torch.cuda.synchronize()
        return time.perf_counter()


# --- the model ---------------------------------------------------------------

def build_model(torch, layers):
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336,
               num_hidden_layers=layers, num_attention_heads=32, num_key_value_heads=8,
               head_dim=128, max_position_embeddings=131072, rms_norm_eps=1e-5,
               tie_word_embeddings=False, hidden_act="silu")
    try:
        config = LlamaConfig(attn_implementation="sdpa", **cfg)
    except TypeError:
        config = LlamaConfig(**cfg)
        config._attn_implementation = "sdpa"
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device("cuda"):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(old)
    model.eval()  # no .to(bf16): it would round float32 buffers such as RoPE's inv_freq
    attn = getattr(model.config, "_attn_implementation", None)
    log("transformers %s, torch %s, attention %s, %d layers, %.2f B parameters, dtype %s"
        % (transformers.__version__, torch.__version__, attn, layers,
           sum(p.numel() for p in model.parameters()) / 1e9, next(model.parameters()).dtype))
    return model


def make_inplace_layer():
    """A transformers DynamicLayer over a preallocated [1, H, cap, D] buffer.

    It reads the first `filled` tokens and appends new ones in place, so a
    cache over loaded KV costs no copy (DynamicLayer.update() would torch.cat
    the whole prefix once when the cache is built and again per forward).
    None where this transformers has no DynamicLayer.
    """
    try:
        from transformers.cache_utils import DynamicLayer
    except ImportError:
        return None

    class InPlaceLayer(DynamicLayer):
        def __init__(self, kbuf, vbuf, filled):
            super().__init__()
            self.kbuf, self.vbuf, self.filled = kbuf, vbuf, filled
            self.dtype, self.device = kbuf.dtype, kbuf.device
            self.keys, self.values = kbuf[:, :, :filled], vbuf[:, :, :filled]
            self.is_initialized = True

        def lazy_initialization(self, *args, **kwargs):
            pass

        def update(self, key_states, value_states, *args, **kwargs):
            end = self.filled + key_states.shape[-2]
            if end > self.kbuf.shape[-2]:  # no room left: behave as DynamicLayer
                return super().update(key_states, value_states, *args, **kwargs)
            self.kbuf[:, :, self.filled:end].copy_(key_states)
            self.vbuf[:, :, self.filled:end].copy_(value_states)
            self.filled = end
            self.keys, self.values = self.kbuf[:, :, :end], self.vbuf[:, :, :end]
            return self.keys, self.values

    return InPlaceLayer


class Engine:
    """The model plus the transformers cache plumbing this example needs."""

    def __init__(self, torch, model, suffix):
        from transformers import DynamicCache

        self.torch, self.model, self.keep = torch, model, suffix
        self.DynamicCache = DynamicCache
        c = model.config
        self.L, self.H, self.D = c.num_hidden_layers, c.num_key_value_heads, 128
        self._keep_kw = "logits_to_keep"
        self.InPlaceLayer = make_inplace_layer()
        self.inplace = self.InPlaceLayer is not None
        # layer-pipelined loads: decoder layer i waits for event i when armed
        self.wait_events = None
        for i, layer in enumerate(model.model.layers):
            layer.register_forward_pre_hook(self._gate(i))

    def _gate(self, i):
        def hook(module, args):
            if self.wait_events is not None:
                self.torch.cuda.current_stream().wait_event(self.wait_events[i])
        return hook

    def new_cache(self):
        try:
            return self.DynamicCache(config=self.model.config)
        except TypeError:
            return self.DynamicCache()

    def cache_over(self, kvs, filled):
        """A cache over per-layer (K, V) buffers [1, H, cap, D] whose first `filled` tokens hold KV.

        In place where possible (nothing is read now: the KV may still be
        arriving); else through the documented update(), which copies.
        """
        if self.inplace:
            try:
                cache = self.new_cache()
                layers = [self.InPlaceLayer(k, v, filled) for k, v in kvs]
                if len(cache.layers) == len(layers):
                    cache.layers[:] = layers
                else:
                    cache.layers.clear()
                    cache.layers.extend(layers)
                if cache.get_seq_length() == filled:
                    return cache
                log("note: in-place cache layers not usable (seq length %s), copying"
                    % cache.get_seq_length())
            except Exception as e:  # another transformers: fall back to update()
                log("note: in-place cache layers not usable (%s), copying" % e)
            self.inplace = False
        cache = self.new_cache()
        for layer, (k, v) in enumerate(kvs):
            cache.update(k[:, :, :filled], v[:, :, :filled], layer)
        return cache

    @staticmethod
    def layers_of(cache):
        if hasattr(cache, "layers"):
            return [(ly.keys, ly.values) for ly in cache.layers]
        if hasattr(cache, "key_cache"):
            return list(zip(cache.key_cache, cache.value_cache))
        return [(kv[0], kv[1]) for kv in cache]

    def forward(self, ids, cache=None):
        """Logits of the last `suffix` positions [suffix, vocab] and the cache."""
        kw = dict(input_ids=ids[None], use_cache=True)
        if cache is not None:
            kw["past_key_values"] = cache
        if self._keep_kw:
            try:
                out = self.model(**kw, **{self._keep_kw: self.keep})
            except TypeError:
                self._keep_kw = None
                out = self.model(**kw)
        else:
            out = self.model(**kw)
        return out.logits[0, -self.keep:], out.past_key_values

    def alloc_kv(self, cached, cap):
        """Fresh per-layer K/V for a request: [L, 2, 1, H, cap, D], prefix in [..., :cached, :]."""
        return self.torch.empty((self.L, 2, 1, self.H, cap, self.D), dtype=self.torch.bfloat16,
                                device="cuda")

    @staticmethod
    def views(buf):
        return [(buf[layer, 0], buf[layer, 1]) for layer in range(buf.shape[0])]


# --- kvfs plumbing -------------------------------------------------------------

def request_hashes(ns, tok_i32, block_tokens):
    """kvfs_prefix_hashes() straight over a CPU int32 tensor (no Python list)."""
    L = kvfs._libkvfs()
    n = tok_i32.numel() // block_tokens
    out = (kvfs._Hash * max(n, 1))()
    got = L.kvfs_prefix_hashes(ns.encode(),
                               ctypes.cast(tok_i32.data_ptr(), ctypes.POINTER(ctypes.c_uint32)),
                               tok_i32.numel(), block_tokens, out, n)
    if got < 0:
        raise kvfs.KvfsError(got, "kvfs_prefix_hashes")
    return [bytes(out[i].b) for i in range(got)]


def piece_table(torch, pool_offsets, block_idx, bases, seq_cap, L, H, D, bt):
    """Pieces (pool offset, device pointer, bytes) as an int64 [n, 3] CPU tensor.

    Token block j (block_idx) lives at pool_offsets; per layer l and K/V, its
    head h is 64 KiB at pool offset + ((2l + kv) H + h) * piece, and at
    bases[l, kv] + (h * seq_cap + j * bt) * D * 2 in a [1, H, seq_cap, D] tensor.
    """
    piece = bt * D * 2
    nb = len(pool_offsets)
    i64 = torch.int64
    off = torch.tensor(pool_offsets, dtype=i64).view(nb, 1, 1, 1)
    idx = torch.tensor(block_idx, dtype=i64).view(nb, 1, 1, 1)
    lkh = torch.arange(L * 2 * H, dtype=i64).view(1, L, 2, H)
    heads = torch.arange(H, dtype=i64).view(1, 1, 1, H)
    pool = off + lkh * piece
    dev = bases.view(1, L, 2, 1) + heads * (seq_cap * D * 2) + idx * piece
    size = torch.full_like(pool, piece)
    return torch.stack([pool, dev, size], dim=-1).reshape(-1, 3).contiguous()


def as_pieces(table):
    n = table.numel() // 3
    return kvfs.PieceList(ctypes.cast(table.data_ptr(), ctypes.POINTER(kvfs.Piece)), n)


def base_table(torch, kvs):
    return torch.tensor([[k.data_ptr(), v.data_ptr()] for k, v in kvs], dtype=torch.int64)


# --- the three paths -----------------------------------------------------------

class Bench:
    def __init__(self, args, torch, eng, kv, pool):
        self.a, self.torch, self.eng, self.kv, self.pool = args, torch, eng, kv, pool
        self.t = Timer(torch)
        self.bt = args.block_tokens
        self.ns = "prefix-reuse-L%d-s%d" % (eng.L, args.seed)
        os.makedirs(os.path.join(args.mount, self.ns), exist_ok=True)
        self.block_bytes = eng.L * 2 * eng.H * self.bt * eng.D * 2
        self.slots = [torch.empty(self.block_bytes, dtype=torch.uint8, pin_memory=True)
                      for _ in range(args.file_slots)]
        self.slot_mv = [memoryview(s.numpy()) for s in self.slots]
        self.events = [torch.cuda.Event() for _ in self.slots]
        self.load_stream = torch.cuda.Stream()
        self.layer_events = [torch.cuda.Event(enable_timing=True) for _ in range(eng.L)]
        self.start_event = torch.cuda.Event(enable_timing=True)

    # cold ---------------------------------------------------------------------
    def cold(self, ids):
        t0 = self.t.now()
        logits, cache = self.eng.forward(ids)
        t1 = self.t.now()
        return logits, cache, (t1 - t0) * 1e3

    # store --------------------------------------------------------------------
    def store(self, hashes, kvs):
        """The full blocks of a served request's cache into kvfs; returns ms and counts."""
        torch, eng = self.torch, self.eng
        t0 = self.t.now()
        assert all(k.is_contiguous() and v.is_contiguous() for k, v in kvs)
        txn, blocks = self.kv.reserve(self.ns, hashes, [self.block_bytes] * len(hashes))
        sel = [j for j, b in enumerate(blocks) if b.status == kvfs.BLOCK_RESERVED]
        if sel:
            table = piece_table(torch, [blocks[j].offset for j in sel], sel,
                                base_table(torch, kvs), kvs[0][0].shape[2], eng.L, eng.H,
                                eng.D, self.bt)
            self.pool.store(as_pieces(table))
            torch.cuda.current_stream().synchronize()  # the bytes are in the pool
        self.kv.commit(txn)
        return (self.t.now() - t0) * 1e3, len(sel), len(blocks) - len(sel)

    # kvfs ---------------------------------------------------------------------
    def _lookup(self, tok_i32, ids):
        hashes = request_hashes(self.ns, tok_i32, self.bt)
        blocks = self.kv.lookup(self.ns, hashes)  # one call: longest cached prefix, pinned
        n = min(len(blocks), (ids.numel() - 1) // self.bt)  # keep >= 1 token to prefill
        return hashes, blocks, n

    def _table(self, kvbuf, blocks, n):
        eng, cap = self.eng, kvbuf.shape[4]
        step = eng.H * cap * eng.D * 2
        bases = kvbuf.data_ptr() + self.torch.arange(eng.L * 2, dtype=self.torch.int64).view(
            eng.L, 2) * step
        return piece_table(self.torch, [b.offset for b in blocks[:n]], list(range(n)), bases,
                           cap, eng.L, eng.H, eng.D, self.bt)

    def warm_kvfs(self, tok_i32, ids, breakdown=False):
        """TTFT of a request whose prefix is in kvfs, one load call. Returns logits, ms, parts, kvbuf, n."""
        torch, eng, bt = self.torch, self.eng, self.bt
        parts = {}
        t0 = self.t.now() if breakdown else (torch.cuda.synchronize(), time.perf_counter())[1]
        hashes, blocks, n = self._lookup(tok_i32, ids)
        cached = n * bt
        if breakdown:
            t1 = time.perf_counter()
            parts["hash_lookup"] = (t1 - t0) * 1e3
        kvbuf = eng.alloc_kv(cached, ids.numel())
        table = self._table(kvbuf, blocks, n)
        if breakdown:
            t2 = time.perf_counter()
            parts["pieces"] = (t2 - t1) * 1e3
        self.pool.load(as_pieces(table))  # one call, on torch's current stream
        if breakdown:
            t3 = self.t.now()
            parts["load"] = (t3 - t2) * 1e3
            parts["load_GBps"] = n * self.block_bytes / ((t3 - t2) * 1e9)
        cache = eng.cache_over(eng.views(kvbuf), cached)
        if breakdown:
            t4 = self.t.now()
            parts["cache_build"] = (t4 - t3) * 1e3
        logits, _ = eng.forward(ids[cached:], cache)
        t5 = self.t.now()
        if breakdown:
            parts["suffix_prefill"] = (t5 - t4) * 1e3
        self.kv.unpin(self.ns, hashes[:len(blocks)])  # the load is done: let go
        return logits, (t5 - t0) * 1e3, parts, kvbuf, n

    def warm_kvfs_pipelined(self, tok_i32, ids, breakdown=False):
        """As warm_kvfs, one load per layer on a side stream; layer i of the prefill waits for its own."""
        torch, eng, bt = self.torch, self.eng, self.bt
        parts = {}
        t0 = (torch.cuda.synchronize(), time.perf_counter())[1]
        hashes, blocks, n = self._lookup(tok_i32, ids)
        cached = n * bt
        kvbuf = eng.alloc_kv(cached, ids.numel())
        per_layer = self._table(kvbuf, blocks, n).view(n, eng.L, 2 * eng.H, 3).transpose(
            0, 1).contiguous()  # [L, n, 2H, 3]: layer by layer
        ls, cur = self.load_stream, torch.cuda.current_stream()
        ls.wait_stream(cur)  # kvbuf is allocated on the compute stream
        kvbuf.record_stream(ls)
        self.start_event.record(ls)
        for layer in range(eng.L):
            self.pool.load(as_pieces(per_layer[layer]), stream=ls)
            self.layer_events[layer].record(ls)
        cache = eng.cache_over(eng.views(kvbuf), cached)
        eng.wait_events = self.layer_events
        try:
            logits, _ = eng.forward(ids[cached:], cache)
        finally:
            eng.wait_events = None
        cur.wait_event(self.layer_events[-1])
        t1 = self.t.now()
        if breakdown:
            parts["load_span"] = self.start_event.elapsed_time(self.layer_events[-1])
            parts["load_GBps"] = n * self.block_bytes / (parts["load_span"] * 1e6)
        self.kv.unpin(self.ns, hashes[:len(blocks)])
        return logits, (t1 - t0) * 1e3, parts, n

    # files --------------------------------------------------------------------
    def file_dir(self):
        return os.path.join(self.a.files_dir, self.ns)

    def write_files(self, hashes):
        """The stored blocks as plain files on tmpfs, one per block, named by hash."""
        d = self.file_dir()
        os.makedirs(d, exist_ok=True)
        blocks = self.kv.lookup(self.ns, hashes)
        for h, b in zip(hashes, blocks):
            buf = (ctypes.c_char * b.length).from_address(b.addr)
            with open(os.path.join(d, kvfs.hash_name(h)), "wb") as f:
                f.write(memoryview(buf))
        self.kv.unpin(self.ns, hashes[:len(blocks)])
        return len(blocks)

    def _read_full(self, fd, mv):
        got, n = 0, len(mv)
        while got < n:
            r = os.readv(fd, [mv[got:]])
            if r <= 0:
                raise IOError("short read")
            got += r

    def warm_files(self, tok_i32, ids, breakdown=False):
        """TTFT with the prefix read() from block files: pinned buffer, H2D, layout."""
        torch, eng, bt = self.torch, self.eng, self.bt
        parts = {}
        t0 = self.t.now() if breakdown else (torch.cuda.synchronize(), time.perf_counter())[1]
        hashes = request_hashes(self.ns, tok_i32, bt)
        d = self.file_dir()
        fds = []
        for h in hashes[:(ids.numel() - 1) // bt]:  # lookup: open() until a block is missing
            try:
                fds.append(os.open(os.path.join(d, kvfs.hash_name(h)), os.O_RDONLY))
            except FileNotFoundError:
                break
        n = len(fds)
        cached = n * bt
        staging = torch.empty((max(n, 1), self.block_bytes), dtype=torch.uint8, device="cuda")
        stream = torch.cuda.current_stream()
        for j, fd in enumerate(fds):
            s = j % len(self.slots)
            self.events[s].synchronize()  # the slot's previous copy is done
            self._read_full(fd, self.slot_mv[s])
            os.close(fd)
            staging[j].copy_(self.slots[s], non_blocking=True)
            self.events[s].record(stream)
        if breakdown:
            t1 = self.t.now()
            parts["open_read_h2d"] = (t1 - t0) * 1e3
            parts["read_GBps"] = n * self.block_bytes / ((t1 - t0) * 1e9)
        kvbuf = eng.alloc_kv(cached, ids.numel())
        src = staging[:n].view(torch.bfloat16).view(n, eng.L, 2, eng.H, bt, eng.D)
        kvbuf[:, :, 0, :, :cached].unflatten(3, (n, bt)).copy_(src.permute(1, 2, 3, 0, 4, 5))
        del staging, src
        if breakdown:
            t2 = self.t.now()
            parts["layout"] = (t2 - t1) * 1e3
        cache = eng.cache_over(eng.views(kvbuf), cached)
        if breakdown:
            t3 = self.t.now()
            parts["cache_build"] = (t3 - t2) * 1e3
        logits, _ = eng.forward(ids[cached:], cache)
        t4 = self.t.now()
        if breakdown:
            parts["suffix_prefill"] = (t4 - t3) * 1e3
        return logits, (t4 - t0) * 1e3, parts, n


# --- checks ------------------------------------------------------------------

def compare_logits(torch, got, ref):
    """How far `got` is from `ref` (both [positions, vocab]), in float32."""
    g, r = got.float(), ref.float()
    d = (g - r).abs()
    std = r.std().item()
    return {
        "rel_l2": ((g - r).norm() / r.norm()).item(),
        "max_abs": d.max().item(),
        "mean_abs": d.mean().item(),
        "ref_std": std,
        "max_over_std": d.max().item() / std,
        "top1": (g.argmax(-1) == r.argmax(-1)).float().mean().item(),
    }


def layout_mixup(torch, prefix, n, bt):
    """Negative control: read each block's [heads][tokens][dim] as [tokens][heads][dim]."""
    L, _, _, H, S, D = prefix.shape
    blocks = prefix.reshape(L, 2, H, n, bt, D).permute(0, 1, 3, 2, 4, 5).contiguous()
    return blocks.view(L, 2, n, bt, H, D).permute(0, 1, 4, 2, 3, 5).reshape(L, 2, 1, H, S, D)


def fp32_reference(torch, eng, ids):
    """Logits of the last `suffix` positions, the model in float32, prefilled in chunks."""
    N, keep = ids.numel(), eng.keep
    starts = list(range(0, N - keep, FP32_CHUNK)) + [N - keep]
    cache, logits = None, None
    for a, b in zip(starts, starts[1:] + [N]):
        logits, cache = eng.forward(ids[a:b], cache)
    return logits


def finish_checks(r, strict, cmp32):
    """The verdict of one size from the exact checks and the float32 comparison."""
    ch = dict(strict)
    ch.update(cmp32 or {})
    ok = all(strict.values())
    if cmp32:
        e_full, e_warm, e_mix = (cmp32["full_vs_fp32"]["rel_l2"], cmp32["warm_vs_fp32"]["rel_l2"],
                                 cmp32["mixup_vs_fp32"]["rel_l2"])
        ch["warm_within_tol"] = e_warm <= TOL_VS_FP32 * e_full
        ch["mixup_caught"] = e_mix > TOL_VS_FP32 * e_full
        ok = ok and ch["warm_within_tol"] and ch["mixup_caught"]
    else:
        ch["warm_within_tol"] = None  # not checked
    ch["pass"] = ok
    r["checks"] = ch


# --- main --------------------------------------------------------------------

def median(xs):
    return statistics.median(xs) if xs else float("nan")


def run_size(args, torch, eng, bench, P, results, pending):
    bt, vocab = args.block_tokens, eng.model.config.vocab_size
    g = torch.Generator(device="cpu").manual_seed(args.seed * 1000003 + P)
    prefix = torch.randint(0, vocab, (P,), generator=g)
    s1 = torch.randint(0, vocab, (args.suffix,), generator=g)
    s2 = torch.randint(0, vocab, (args.suffix,), generator=g)
    req1 = torch.cat([prefix, s1])
    req2 = torch.cat([prefix, s2])
    ids1, ids2 = req1.cuda(), req2.cuda()
    tok1, tok2 = req1.to(torch.int32).contiguous(), req2.to(torch.int32).contiguous()
    r = {"P": P, "suffix": args.suffix, "block_tokens": bt, "layers": eng.L}
    assert request_hashes(bench.ns, tok2, bt) == kvfs.prefix_hashes(bench.ns, req2.tolist(), bt)

    # 1. cold: one untimed run (allocator, kernels for this shape), then timed ones
    bench.cold(ids1)
    cold_ms, ref_logits, cache1 = [], None, None
    for i in range(args.cold_reps):
        ids = ids1 if i % 2 == 0 else ids2
        logits, cache, ms = bench.cold(ids)
        cold_ms.append(ms)
        if i % 2 == 1:
            ref_logits = logits  # full recompute of prefix + NEW suffix: the reference
        else:
            cache1 = cache
        del cache
    if ref_logits is None:
        ref_logits, _, _ = bench.cold(ids2)
    r["cold_ms"] = cold_ms
    torch.cuda.empty_cache()

    # 2. store what serving request 1 computed: its full prefix blocks
    kvs1 = eng.layers_of(cache1)
    hashes1 = request_hashes(bench.ns, tok1, bt)[:P // bt]
    st_ms, stored, present = bench.store(hashes1, kvs1)
    r.update(store_ms=st_ms, stored_blocks=stored, already_present=present,
             block_bytes=bench.block_bytes)
    log("P=%d: stored %d blocks of %d MiB in %.1f ms (%d were present)"
        % (P, stored, bench.block_bytes >> 20, st_ms, present))

    # reference: the same suffix prefill from the prefix KV kept in GPU memory
    n_ref = P // bt
    cached_ref = n_ref * bt
    hbm = eng.alloc_kv(cached_ref, ids2.numel())
    for layer, (k, v) in enumerate(kvs1):
        hbm[layer, 0, :, :, :cached_ref].copy_(k[:, :, :cached_ref])
        hbm[layer, 1, :, :, :cached_ref].copy_(v[:, :, :cached_ref])
    del cache1, kvs1
    hbm_logits, _ = eng.forward(ids2[cached_ref:], eng.cache_over(eng.views(hbm), cached_ref))

    # 3. warm from kvfs: one untimed run (checked), timed runs, one broken down
    logits_k, first_ms, _, kvbuf, n = bench.warm_kvfs(tok2, ids2)
    cached = n * bt
    kv_ok = n == n_ref and torch.equal(kvbuf[:, :, :, :, :cached], hbm[:, :, :, :, :cached])
    wrong = eng.alloc_kv(cached, ids2.numel())
    wrong[:, :, :, :, :cached] = layout_mixup(torch, kvbuf[:, :, :, :, :cached].contiguous(), n,
                                              bt)
    wrong_logits, _ = eng.forward(ids2[cached:], eng.cache_over(eng.views(wrong), cached))
    del kvbuf, hbm, wrong
    torch.cuda.empty_cache()
    warm_ms, same_k = [], True
    for _ in range(args.reps):
        lg, ms, _, kb, _ = bench.warm_kvfs(tok2, ids2)
        warm_ms.append(ms)
        same_k = same_k and torch.equal(lg, logits_k)
        del kb
    _, _, parts_k, kb, _ = bench.warm_kvfs(tok2, ids2, breakdown=True)
    del kb
    r.update(kvfs_first_ms=first_ms, kvfs_ms=warm_ms, kvfs_parts=parts_k,
             kvfs_blocks=n, kvfs_repeat_identical=bool(same_k))

    # 3b. warm from kvfs, layer-pipelined: the loads keep to a few SMs
    #     (--pipeline-ctas), leaving the others to the prefill's kernels
    pipe_eq = None
    if not args.no_pipeline:
        m0 = bench.pool.method(0)
        m1 = kvfs.Method.from_buffer_copy(m0)
        m1.kernel_ctas_per_sm = 1
        m1.kernel_max_ctas = args.pipeline_ctas
        bench.pool.set_method(m1, 0)
        try:
            lg_p, pfirst_ms, _, _ = bench.warm_kvfs_pipelined(tok2, ids2)
            pipe_eq = bool(torch.equal(lg_p, logits_k))
            pipe_ms = []
            for _ in range(args.reps):
                lg, ms, _, _ = bench.warm_kvfs_pipelined(tok2, ids2)
                pipe_ms.append(ms)
                pipe_eq = pipe_eq and bool(torch.equal(lg, logits_k))
            _, _, parts_p, _ = bench.warm_kvfs_pipelined(tok2, ids2, breakdown=True)
        finally:
            bench.pool.set_method(m0, 0)
        r.update(pipe_first_ms=pfirst_ms, pipe_ms=pipe_ms, pipe_parts=parts_p)

    # 5. warm from files on tmpfs
    nfiles = bench.write_files(hashes1)
    logits_f, ffirst_ms, _, nf = bench.warm_files(tok2, ids2)
    file_ms = []
    for _ in range(args.reps):
        _, ms, _, _ = bench.warm_files(tok2, ids2)
        file_ms.append(ms)
    _, _, parts_f, _ = bench.warm_files(tok2, ids2, breakdown=True)
    shutil.rmtree(bench.file_dir(), ignore_errors=True)
    r.update(file_first_ms=ffirst_ms, file_ms=file_ms, file_parts=parts_f, file_blocks=nf,
             files_written=nfiles)

    # 4. correctness: exact checks now, the float32 comparison once every size ran
    strict = {
        "kv_bit_identical": bool(kv_ok),
        "kvfs_logits_eq_hbm_kv": bool(torch.equal(logits_k, hbm_logits)),
        "file_logits_eq_kvfs": bool(torch.equal(logits_f, logits_k)),
        "kvfs_repeat_identical": bool(same_k),
    }
    if pipe_eq is not None:
        strict["pipelined_logits_eq_kvfs"] = pipe_eq
    r["warm_vs_full_bf16"] = compare_logits(torch, logits_k, ref_logits)
    r["mixup_vs_full_bf16"] = compare_logits(torch, wrong_logits, ref_logits)
    finish_checks(r, strict, None)
    results.append(r)
    pending.append((r, strict, ids2, ref_logits, logits_k, wrong_logits))
    del logits_f, hbm_logits
    torch.cuda.empty_cache()
    w = r["warm_vs_full_bf16"]
    log("P=%d: cold %s ms, kvfs %s ms, pipelined %s ms, file %s ms; exact checks %s; warm vs "
        "bf16 full recompute: rel_l2 %.2e, max/std %.3f, top1 %.3f"
        % (P, fmt_list(cold_ms), fmt_list(warm_ms), fmt_list(r.get("pipe_ms", [])),
           fmt_list(file_ms), "PASS" if all(strict.values()) else "FAIL: %s" % strict,
           w["rel_l2"], w["max_over_std"], w["top1"]))


def fp32_checks(torch, eng, pending):
    """The model in float32, then each size's reference; finishes every size's checks."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.cuda.empty_cache()
    eng.model.float()  # bf16 weights upcast exactly: the same function, computed exactly
    for r, strict, ids2, ref_logits, logits_k, wrong_logits in pending:
        try:
            t = time.perf_counter()
            with torch.inference_mode():
                ref32 = fp32_reference(torch, eng, ids2)
            torch.cuda.synchronize()
            cmp32 = {
                "full_vs_fp32": compare_logits(torch, ref_logits, ref32),
                "warm_vs_fp32": compare_logits(torch, logits_k, ref32),
                "mixup_vs_fp32": compare_logits(torch, wrong_logits, ref32),
                "fp32_ref_s": time.perf_counter() - t,
            }
            del ref32
        except Exception as e:  # e.g. out of memory: the exact checks still stand
            log("P=%d: float32 reference failed: %s" % (r["P"], e))
            cmp32 = None
        torch.cuda.empty_cache()
        finish_checks(r, strict, cmp32)
        if cmp32:
            log("P=%d: vs float32: bf16 full recompute rel_l2 %.2e (top1 %.3f), warm %.2e "
                "(top1 %.3f), mix-up %.2e -> %s" % (
                    r["P"], cmp32["full_vs_fp32"]["rel_l2"], cmp32["full_vs_fp32"]["top1"],
                    cmp32["warm_vs_fp32"]["rel_l2"], cmp32["warm_vs_fp32"]["top1"],
                    cmp32["mixup_vs_fp32"]["rel_l2"], "PASS" if r["checks"]["pass"] else "FAIL"))


def fmt_list(xs):
    return "/".join("%.1f" % x for x in xs)


def yes(v):
    return "n/a" if v is None else "yes" if v else "NO"


def tables(results, head):
    out = [head, "",
           "| P | cold TTFT ms | warm TTFT kvfs ms | warm TTFT kvfs, layer-pipelined ms | "
           "warm TTFT file-read ms | cold/kvfs | cold/kvfs pipelined | file/kvfs | logits check |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        c, k, f = median(r["cold_ms"]), median(r["kvfs_ms"]), median(r["file_ms"])
        p = median(r.get("pipe_ms", []))
        ch = r["checks"]
        if ch.get("warm_within_tol") is None:
            tol = "vs float32 not checked"
        else:
            tol = ("vs float32 rel-L2: full recompute %.1e, warm %.1e, mix-up %.1e (%s); top-1 "
                   "= fp32: full %.0f%%, warm %.0f%%" % (
                       ch["full_vs_fp32"]["rel_l2"], ch["warm_vs_fp32"]["rel_l2"],
                       ch["mixup_vs_fp32"]["rel_l2"],
                       "caught" if ch["mixup_caught"] else "NOT caught",
                       100 * ch["full_vs_fp32"]["top1"], 100 * ch["warm_vs_fp32"]["top1"]))
        out.append("| %d | %.1f | %.1f | %.1f | %.1f | %.1fx | %.1fx | %.1fx | %s: KV bit-identical "
                   "%s, logits = HBM-KV path %s, = file path %s, = pipelined %s; %s |"
                   % (r["P"], c, k, p, f, c / k, c / p, f / k, "PASS" if ch["pass"] else "FAIL",
                      yes(ch["kv_bit_identical"]), yes(ch["kvfs_logits_eq_hbm_kv"]),
                      yes(ch["file_logits_eq_kvfs"]), yes(ch.get("pipelined_logits_eq_kvfs")),
                      tol))
    out += ["", "warm TTFT broken down (one run each, synchronized between steps; ms):", "",
            "| P | kvfs: hash+lookup+pin | piece list | load (GB/s) | cache build | "
            "suffix prefill | pipelined: load span (GB/s) | file: open+read+H2D (GB/s) | layout "
            "| cache build | suffix prefill |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        k, f = r["kvfs_parts"], r["file_parts"]
        pp = r.get("pipe_parts") or {"load_span": float("nan"), "load_GBps": float("nan")}
        out.append("| %d | %.2f | %.2f | %.1f (%.1f) | %.1f | %.1f | %.1f (%.1f) | %.1f (%.1f) | "
                   "%.1f | %.1f | %.1f |" % (
                       r["P"], k["hash_lookup"], k["pieces"], k["load"], k["load_GBps"],
                       k["cache_build"], k["suffix_prefill"], pp["load_span"], pp["load_GBps"],
                       f["open_read_h2d"], f["read_GBps"], f["layout"], f["cache_build"],
                       f["suffix_prefill"]))
    return "\n".join(out)


def main():
    args = parse_args()
    import torch

    if not torch.cuda.is_available():
        print("SKIP: no CUDA GPU")
        return 0
    torch.manual_seed(args.seed)
    torch.set_grad_enabled(False)
    info = {"gpu": torch.cuda.get_device_name(0), "sizes": args.sizes, "layers": args.layers}
    t = time.perf_counter()
    model = build_model(torch, args.layers)
    torch.cuda.synchronize()
    info["model_init_s"] = time.perf_counter() - t
    eng = Engine(torch, model, args.suffix)
    import transformers
    info["transformers"], info["torch"] = transformers.__version__, torch.__version__

    t = time.perf_counter()
    kv = kvfs.Kvfs(args.mount, nozero=True)  # the GPU store fills every reserved byte
    info["kvfs_open_ms"] = (time.perf_counter() - t) * 1e3
    t = time.perf_counter()
    pool = kvfs.CudaPool.from_kvfs(kv)
    info["register_wall_ms"] = (time.perf_counter() - t) * 1e3
    info["register_ms"] = pool.info()["register_ms"]
    info["pool_bytes"] = kv.pool_size
    pool.calibrate(0)
    m = pool.method(0)
    info["method"] = repr(m)
    info["kernel_unroll"], info["kernel_ctas_per_sm"] = m.kernel_unroll, m.kernel_ctas_per_sm
    info["calibrate_ms"] = m.calibrate_ms
    info["calibration_GBps"] = {  # piece bytes: [kernel, copy engine], load direction
        str(m.sizes[i]): [m.kernel_gbs[kvfs.LOAD][i], m.copy_gbs[kvfs.LOAD][i]]
        for i in range(kvfs.NSIZES)}
    log("calibration, load GB/s kernel/copy engine by piece size: %s" % ", ".join(
        "%s K %.1f/%.1f" % (int(k) >> 10, v[0], v[1]) for k, v in info["calibration_GBps"].items()))
    log("GPU %s; model init %.1f s; pool %.1f GiB: kvfs_open %.0f ms, CUDA registration %.0f ms "
        "(once per process, not in TTFT), calibration %.0f ms, %r"
        % (info["gpu"], info["model_init_s"], kv.pool_size / 2**30, info["kvfs_open_ms"],
           info["register_ms"], m.calibrate_ms, m))

    # warm-up: kernels, cuBLAS handles, the caching allocator
    w = torch.randint(0, 1000, (512 + args.suffix,), device="cuda")
    _, c = eng.forward(w[:512])
    eng.forward(w[512:], c)
    del c
    torch.cuda.synchronize()

    bench = Bench(args, torch, eng, kv, pool)
    results, pending = [], []
    failed = 0
    for P in [int(x) for x in args.sizes.split(",") if x]:
        try:
            with torch.inference_mode():
                run_size(args, torch, eng, bench, P, results, pending)
        except Exception as e:  # keep going: report what did run
            import traceback
            traceback.print_exc()
            log("P=%d: FAILED: %s" % (P, e))
            failed += 1
            torch.cuda.empty_cache()
    info["inplace_cache"] = eng.inplace
    if pending and not args.no_fp32_ref:
        log("float32 reference (chunks of %d tokens) for %d sizes" % (FP32_CHUNK, len(pending)))
        fp32_checks(torch, eng, pending)
    del pending
    head = ("# %s, Llama-3-8B shape (%d layers, 8 KV heads, head_dim 128, bf16, random "
            "weights, sdpa), suffix %d tokens, blocks of %d tokens (%d MiB); medians of %d "
            "timed runs (cold: %d). Pool %.1f GiB registered once in %.0f ms (not in TTFT). "
            "Warm caches built %s."
            % (info["gpu"], eng.L, args.suffix, args.block_tokens, bench.block_bytes >> 20,
               args.reps, args.cold_reps, kv.pool_size / 2**30, info["register_ms"],
               "in place (no copy)" if eng.inplace else "with DynamicCache.update() (copies)"))
    text = tables(results, head) if results else head + "\n(no size completed)"
    log("\n" + text)
    if args.table:
        with open(args.table, "w") as f:
            f.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "results": results,
                       "tolerance": {"warm_vs_fp32_over_full_vs_fp32": TOL_VS_FP32}},
                      f, indent=1)
    pool.close()
    kv.close()
    bad = failed + sum(not r["checks"]["pass"] for r in results)
    log("prefix_reuse: %d sizes, %d failed" % (len(results) + failed, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
