#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""odirect_check.py DIR THREADS MIB FILES MISALIGN - O_DIRECT stores as
engines' file tiers do them: threads each create files with one O_DIRECT
pwritev of MIB MiB from a buffer MISALIGN bytes past a page boundary, then
read the last three back with O_DIRECT and compare. Writing more than the
pool holds makes kvfs evict. Exits non-zero on any write error or any read
that returns other bytes than were written (a miss, ENOENT, is allowed: the
file may have been evicted)."""
import os, sys, mmap, threading, hashlib
d=sys.argv[1]; nthr=int(sys.argv[2]); size=int(sys.argv[3])<<20; nfiles=int(sys.argv[4]); unal=int(sys.argv[5])
errs=[0,0,0]; lock=threading.Lock()
def data(t,i):
    seed=hashlib.sha256(f"{t}/{i}".encode()).digest()
    return (seed*((size//32)+1))[:size]
def work(t):
    buf=mmap.mmap(-1,size+8192)
    mv=memoryview(buf)[unal:size+unal]
    for i in range(nfiles):
        p=f"{d}/t{t}_{i}.bin"
        mv[:]=data(t,i)
        try:
            fd=os.open(p,os.O_CREAT|os.O_WRONLY|os.O_TRUNC|os.O_DIRECT,0o644)
            try: n=os.pwritev(fd,[mv],0); assert n==size
            finally: os.close(fd)
        except OSError as e:
            with lock: errs[0]+=1; print("err",p,e)
        # read back the last three
        for j in range(max(0,i-2),i+1):
            try:
                fd=os.open(f"{d}/t{t}_{j}.bin",os.O_RDONLY|os.O_DIRECT)
                try:
                    rb=mmap.mmap(-1,size); n=os.preadv(fd,[rb],0)
                    if n==size and rb[:]!=data(t,j):
                        with lock: errs[1]+=1
                finally: os.close(fd)
            except FileNotFoundError: errs[2]+=1
ts=[threading.Thread(target=work,args=(t,)) for t in range(nthr)]
[t.start() for t in ts]; [t.join() for t in ts]
print("errors",errs[0],"corrupt",errs[1],"miss",errs[2])
sys.exit(1 if errs[0] or errs[1] else 0)
