#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tree_writer.py ROOT N KIB [LAYOUT] - store N blocks of KIB KiB under ROOT
the way engines that spread blocks over directories do: makedirs of the
block's directory, write a temporary name, rename it onto the block's name
(LAYOUT llmd: ROOT/h[0:8]/h[8:16]/h.bin; vllm: ROOT/h[0:3]/h[3:5]_g0/h.bin),
then read back this block, the previous one and an older one. Every store
must succeed; every read must return the stored bytes or ENOENT (evicted).
Prints the counts; exits 1 on any error or wrong byte."""
import os, sys, hashlib

layout = sys.argv[4] if len(sys.argv) > 4 else "llmd"

def where(h):
    if layout == "vllm":
        return f"{root}/{h[0:3]}/{h[3:5]}_g0"
    return f"{root}/{h[0:8]}/{h[8:16]}"

root=sys.argv[1]; n=int(sys.argv[2]); bs=int(sys.argv[3])<<10
err=0; corrupt=0; hit=0; miss=0
for i in range(n):
    h=hashlib.sha256(str(i).encode()).hexdigest()[:32]
    d=where(h)
    data=(h.encode()*(bs//32+1))[:bs]
    try:
        os.makedirs(d,exist_ok=True)
        tmp=f"{d}/{h}.bin.tmp{os.getpid()}"
        with open(tmp,"wb") as f: f.write(data)
        os.rename(tmp,f"{d}/{h}.bin")
    except OSError as e:
        err+=1
        if err<5: print("store err",i,e)
    # read back a few older
    for j in (i, i-1, i//2):
        hj=hashlib.sha256(str(j).encode()).hexdigest()[:32]
        p=f"{where(hj)}/{hj}.bin"
        try:
            with open(p,"rb") as f: b=f.read()
            if b!=(hj.encode()*(bs//32+1))[:bs]: corrupt+=1
            else: hit+=1
        except FileNotFoundError: miss+=1
        except OSError as e:
            err+=1; print("read err",e)
print(f"errors {err} corrupt {corrupt} hits {hit} misses {miss}")
sys.exit(1 if err or corrupt else 0)
