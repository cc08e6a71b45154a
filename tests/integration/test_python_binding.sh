#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# examples/python/kvfs.py, its libkvfs half (no GPU, no torch needed) against
# a real mount: hash vectors, reserve/fill/commit, lookup and bytes in place,
# unpin, and its errors; a block file being written through the mount is
# found only once its writer closed it. Keeps the Python binding from rotting in CI.
. "$(dirname "$0")/lib.sh"
kv_setup size=64M
mkdir -p "$MNT/py"
preload=()
if kv_sanitized; then # python3 is not instrumented: the sanitizer runtime must come first
	preload=(LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
		ASAN_OPTIONS=detect_leaks=0)
fi
ok "kvfs.py stores, finds and reads blocks in place" env "${preload[@]}" KVFS_LIB_DIR="$BUILD" \
	PYTHONPATH="$TOP/examples/python" python3 - "$MNT" <<'PY'
import ctypes, errno, os, sys
import kvfs

mnt = sys.argv[1]
fails = 0
def check(cond, what):
    global fails
    if not cond:
        fails += 1
        print("not ok:", what)

h = kvfs.prefix_hashes("demo", list(range(64)), 16)
check([kvfs.hash_name(x) for x in h] == [
    "a508d223c5e0466b72f269c496ae2c7d", "b7e3358eb0f4e6670119dce7a47f292b",
    "2b5904d004c3835911116e57976fb04b", "1b24073fe10a17d05100c2a73adcb4fd"], "hash vectors")
check(kvfs.hash_parse(kvfs.hash_name(h[2])) == h[2], "hash_parse(hash_name(h)) == h")
check(kvfs.prefix_hashes("demo", range(64), 16) == h, "any iterable of ids: the same hashes")
check(kvfs.prefix_hashes("demo", [], 16) == [], "no tokens: no hashes")

hashes = kvfs.prefix_hashes("py", [i * 7 for i in range(3 * 16)], 16)
with kvfs.Kvfs(mnt) as kv:
    txn, blocks = kv.reserve("py", hashes, [8192] * 3)
    check([b.status for b in blocks] == [kvfs.BLOCK_RESERVED] * 3, "three reserved")
    for i, b in enumerate(blocks):
        ctypes.memset(b.addr, 0x41 + i, b.length)
    kv.commit(txn)
    check(all(os.path.exists(os.path.join(mnt, "py", kvfs.hash_name(x))) for x in hashes),
          "committed blocks are files")
    with open(os.path.join(mnt, "py", kvfs.hash_name(hashes[1])), "rb") as f:
        check(f.read() == b"B" * 8192, "read through the mount")
    found = kv.lookup("py", hashes + kvfs.prefix_hashes("py", list(range(16)), 16))
    check(len(found) == 3, "longest prefix is 3 (got %d)" % len(found))
    check(all(ctypes.string_at(b.addr, b.length) == bytes([0x41 + i]) * 8192
              for i, b in enumerate(found)), "bytes in place through the mapping")
    kv.unpin("py", hashes)
    try:
        kv.unpin("py", hashes[:1])
        check(False, "unpin of an unpinned block fails")
    except kvfs.KvfsError as e:
        check(e.errno == errno.EINVAL, "unpin too many: EINVAL")
    try:
        kv.lookup("../etc", hashes)
        check(False, "a namespace escaping the mount fails")
    except kvfs.KvfsError as e:
        check(e.errno == errno.EINVAL, "'../etc': EINVAL")
with kvfs.Kvfs(mnt, readonly=True) as ro:
    try:
        ro.reserve("py", hashes, [4096] * 3)
        check(False, "a read-only handle cannot store")
    except kvfs.KvfsError as e:
        check(e.errno == errno.EROFS, "read-only store: EROFS")
# a block file still being written through the mount is not a whole block:
# a lookup does not find it until the writer's close() has returned
wh = kvfs.prefix_hashes("py", [i * 11 for i in range(16)], 16)
path = os.path.join(mnt, "py", kvfs.hash_name(wh[0]))
with kvfs.Kvfs(mnt) as kv:
    f = open(path, "wb", buffering=0)
    f.write(b"H" * 4096)
    check(len(kv.lookup("py", wh)) == 0, "half written and open: not found")
    f.write(b"T" * 4096)
    check(len(kv.lookup("py", wh)) == 0, "still open for writing: not found")
    f.close()
    found = kv.lookup("py", wh)
    check(len(found) == 1, "found as soon as close() returned")
    check(len(found) == 1 and ctypes.string_at(found[0].addr, found[0].length) ==
          b"H" * 4096 + b"T" * 4096, "whole, in place")
    kv.unpin("py", wh[:len(found)])
    r = open(path, "rb")  # a reader's open changes nothing
    check(len(kv.lookup("py", wh)) == 1, "found while open to read")
    r.close()
    kv.unpin("py", wh[:1])
print("python binding: %d failed" % fails)
sys.exit(1 if fails else 0)
PY
kv_done
