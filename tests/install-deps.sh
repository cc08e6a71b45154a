#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# install-deps.sh - install the Debian packages kvfs needs to build and test,
# only those missing. Used by `make demo` and `make check`; needs root (or
# sudo) only when something is missing.
set -eu
pkgs="gcc make pkg-config libfuse3-dev fuse3 libdaxctl-dev libnuma-dev libxxhash-dev
      libcmocka-dev attr psmisc util-linux python3 man-db strace
      libcurl4-openssl-dev libjson-c-dev etcd-server"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "kvfs: installing Debian packages:$missing"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
