#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make install` into a DESTDIR, then use it as a user would: the installed
# kvfs mounts, mount.kvfs is there, and a program built against the
# installed header and library through pkg-config (kvfs.pc) works.
. "$(dirname "$0")/lib.sh"
dest="$WORK/dest"
ok "make install DESTDIR=..." make -s -C "$TOP" install DESTDIR="$dest" PREFIX=/usr/local \
	B="$BUILD" >"$WORK/install.log" 2>&1
p="$dest/usr/local"
# what install would build from nothing: the installed files, never a test or benchmark
make -n -C "$TOP" install DESTDIR="$WORK/dest-n" B="$WORK/fresh" >"$WORK/install-n.log" 2>&1
ok "make install builds no tests, benchmarks or examples" \
	bash -c '! grep -qE "/fresh/(tests|bench|examples)/" "$1"' _ "$WORK/install-n.log"
ok "kvfs installed" test -x "$p/bin/kvfs"
ok "mount.kvfs installed, pointing at kvfs" test "$(readlink -f "$p/sbin/mount.kvfs")" = "$(readlink -f "$p/bin/kvfs")"
ok "the man pages installed" test -f "$p/share/man/man8/kvfs.8" -a -f "$p/share/man/man7/kvfs.7" \
	-a -f "$p/share/man/man3/libkvfs.3"
ok "libkvfs_preload.so installed" test -f "$p/lib/libkvfs_preload.so"
# (a sanitized build's library cannot be preloaded into an uninstrumented sh)
kv_sanitized || ok "the installed kvfs run finds it in ../lib" \
	test "$(readlink -f "$("$p/bin/kvfs" run -- sh -c 'echo $LD_PRELOAD')")" \
	= "$(readlink -f "$p/lib/libkvfs_preload.so")"
flags=$(PKG_CONFIG_PATH="$p/lib/pkgconfig" pkg-config --define-variable=prefix="$p" \
	--cflags --libs --static kvfs)
ok "pkg-config knows kvfs ($flags)" test -n "$flags"
kv_sanitized && flags="$flags -fsanitize=address,undefined"
# shellcheck disable=SC2086
ok "store_load builds against the installed kvfs.h and libkvfs" \
	cc -o "$WORK/store_load" "$TOP/examples/store_load.c" $flags -Wl,-rpath,"$p/lib"
KVFS_BIN="$p/bin/kvfs"
KVFS="$KVFS_BIN"
kv_setup size=64M
mkdir -p "$MNT/ns"
ok "the installed kvfs serves, and the program built from the install stores and loads" \
	"$WORK/store_load" "$MNT" ns
kv_done
