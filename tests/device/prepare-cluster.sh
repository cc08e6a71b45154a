#!/bin/bash
# SPDX-License-Identifier: MIT
#
# prepare-cluster.sh - on the build machine, before tests/device/run-cluster.sh
# runs on a GPU machine that has no libfuse3, libcurl, json-c or etcd: bundle
# the cluster-capable (dynamic) kvfs, cluster_bench, libkvfs.so, etcd and
# every shared library they load, with this machine's dynamic loader, into
# build-cluster/ (run there as build-cluster/ld.so --library-path
# build-cluster/lib PROGRAM, so no library of that machine is mixed in).
# Then carry build-cluster/ (about 45 MiB).
set -e
cd "$(dirname "$0")/../.."
make >/dev/null && make build/tests/cluster_visible >/dev/null
D=build-cluster
rm -rf "$D"
mkdir -p "$D/lib" "$D/libkvfs"
cp build/kvfs build/bench/cluster_bench build/tests/cluster_visible "$(command -v etcd)" "$D/"
cp build/libkvfs.so "$D/libkvfs/libkvfs.so.1"
ln -s libkvfs.so.1 "$D/libkvfs/libkvfs.so"
cp -L "$(ldd build/libkvfs.so | awk '/libxxhash/ { print $3 }')" "$D/libkvfs/"
for f in build/kvfs build/bench/cluster_bench build/tests/cluster_visible "$(command -v etcd)"; do
	ldd "$f" | awk '$3 ~ /^\// { print $3 }'
done | sort -u | while read -r l; do cp -L "$l" "$D/lib/"; done
cp -L "$(ldd build/kvfs | awk '/ld-linux/ { print $1 }')" "$D/ld.so"
du -sh "$D"
