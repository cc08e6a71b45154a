#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""lookup_dirs.py ROOT N - N lookups of absent blocks as llm-d's fs backend
makes them: its get_file_name() makes the block's two directories
(os.makedirs, exist_ok) before os.path.exists finds nothing. The directories
stay empty, so no eviction ever empties them. Exits 1 on any error."""
import os, sys, hashlib
root=sys.argv[1]; n=int(sys.argv[2]); err=0
for i in range(n):
    h=hashlib.sha256(b"miss%d"%i).hexdigest()[:16]
    try:
        os.makedirs(f"{root}/{h[0:8]}/{h[8:16]}", exist_ok=True)
        os.path.exists(f"{root}/{h[0:8]}/{h[8:16]}/{h}.bin")
    except OSError as e:
        err+=1
        if err<3: print(e)
print("errors",err); sys.exit(1 if err else 0)
