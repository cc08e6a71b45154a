#!/bin/bash
# SPDX-License-Identifier: MIT
#
# prepare.sh - on the build machine, before tests/device/run-e2e.sh runs on a
# GPU machine that has no libfuse3, libxxhash or package registry: build the
# static kvfs, a self-contained libkvfs.so and static examples into
# build-static/ (`make static`). Then carry build-static/ (a few MiB).
set -e
cd "$(dirname "$0")/../.."
make static > /dev/null
ls -l build-static/kvfs build-static/libkvfs.so build-static/libkvfs_preload.so \
	build-static/examples/engine_load
du -sh build-static
