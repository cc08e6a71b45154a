# SPDX-License-Identifier: MIT
#
# kvfs build. `make` builds everything into build/, `make check` runs every
# test, `make asan` builds and tests with ASan/UBSan in build-asan/,
# `make static` builds a static kvfs (no libdaxctl) for machines without
# libfuse3, `make install PREFIX=/usr/local DESTDIR=`.

PREFIX  ?= /usr/local
DESTDIR ?=
B       ?= build
CC      ?= gcc
NVCC    ?= /usr/local/cuda/bin/nvcc

OPT       ?= -O2 -g
# Link-time optimization of the daemon: a lookup's per-block loops call
# across mm/ and fs/ (index, snapshot, holds, permission, pin table), and
# inlining them took a 2,048-block kvfs_lookup to 0.86-0.92 of its time
# (tests/bench/lookup_ab, the 2-core machine; -O3 alone: 0.99-1.00). The
# mm/ and daemon objects are fat (both forms), so the tests and benchmarks
# that link them without -flto work as before; libkvfs and the preload
# library are built without it (below). LTO= turns it off (`make asan` does).
LTO       ?= -flto=auto -ffat-lto-objects
CFLAGS    += $(OPT) -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wshadow -fPIC \
             -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
             $(shell pkg-config --cflags libxxhash 2>/dev/null)
# Every compile writes its header dependencies next to its output ($@.d or
# %.d); -MP keeps a deleted header from breaking the build.
DEPFLAGS   = -MMD -MP
# Per-layer include paths: the build enforces the layering. mm/ sees only
# itself and the public headers; fs/ sees mm/'s headers (it includes mm.h,
# tests/check-layers.sh checks which ones); tests and benchmarks see all.
MM_INC    := -Imm -Iinclude
FS_INC    := -Ifs -Imm -Iinclude $(shell pkg-config --cflags fuse3 2>/dev/null)
TEST_INC  := -Itests -Ifs -Imm -Iinclude
LDLIBS_MM := -lnuma -lxxhash -lpthread
ifeq ($(NO_DAXCTL),)
LDLIBS_MM += -ldaxctl
else
CFLAGS    += -DKVFS_NO_DAXCTL
endif
LDLIBS_FS := $(shell pkg-config --libs fuse3 2>/dev/null || echo -lfuse3) -ldl
# cluster mode (fs/cluster*.c): etcd's JSON gateway through libcurl and json-c;
# NO_CLUSTER=1 (`make static`) leaves it out (fs/cluster_stub.c)
CLUSTER_SRC := fs/cluster.c fs/cluster_holds.c fs/cluster_ops.c fs/cluster_etcd.c fs/cluster_rpc.c
ifeq ($(NO_CLUSTER),)
LDLIBS_FS += -lcurl -ljson-c
endif

# a static build's libkvfs.so carries xxhash inside (machines without libxxhash)
ifeq ($(findstring -static,$(LDFLAGS)),)
LIBKVFS_SO_LIBS := -lxxhash
else
LIBKVFS_SO_LIBS := -Wl,-Bstatic -lxxhash -Wl,-Bdynamic -Wl,--exclude-libs,ALL
endif

MM_SRC   := $(wildcard mm/*.c)
PRE_SRC  := $(wildcard fs/preload*.c)
FS_SRC   := $(filter-out fs/libkvfs.c fs/hash.c $(PRE_SRC),$(wildcard fs/*.c))
ifeq ($(NO_CLUSTER),)
FS_SRC   := $(filter-out fs/cluster_stub.c,$(FS_SRC))
else
FS_SRC   := $(filter-out $(CLUSTER_SRC),$(FS_SRC))
endif
LIB_SRC  := fs/libkvfs.c fs/hash.c
PRE_OBJ  := $(PRE_SRC:%.c=$(B)/%.o)
MM_OBJ   := $(MM_SRC:%.c=$(B)/%.o)
FS_OBJ   := $(FS_SRC:%.c=$(B)/%.o)
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
ITEST_SRC:= $(wildcard tests/integration/*.c)
ITEST_BIN:= $(ITEST_SRC:tests/integration/%.c=$(B)/tests/%)
BENCH_SRC:= $(wildcard tests/bench/*.c)
BENCH_BIN:= $(BENCH_SRC:tests/bench/%.c=$(B)/bench/%)
EX_SRC   := $(wildcard examples/*.c)
EX_BIN   := $(EX_SRC:examples/%.c=$(B)/examples/%)

# what `make install` installs (gpu.mk adds its libraries)
INSTALLED := $(B)/kvfs $(B)/libkvfs.a $(B)/libkvfs.so $(B)/libkvfs_preload.so $(B)/kvfs.pc

all: $(INSTALLED) $(UNIT_BIN) $(ITEST_BIN) $(BENCH_BIN) $(EX_BIN)

$(B)/mm/%.o: mm/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LTO) $(MM_INC) $(DEPFLAGS) -c $< -o $@

$(B)/fs/%.o: fs/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LTO) $(FS_INC) $(DEPFLAGS) -c $< -o $@

$(B)/libkvfs_mm.a: $(MM_OBJ)
	@rm -f $@; ar rcs $@ $^

$(B)/kvfs: $(FS_OBJ) $(B)/fs/hash.o $(B)/libkvfs_mm.a
	$(CC) $(CFLAGS) $(LTO) $(LDFLAGS) -o $@ $^ $(LDLIBS_FS) $(LDLIBS_MM)

$(B)/libkvfs.a: $(LIB_OBJ)
	@rm -f $@; ar rcs $@ $^

$(B)/libkvfs.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libkvfs.so.1 -o $@ $^ $(LIBKVFS_SO_LIBS) -lpthread

# what programs outside kvfs link (libkvfs, the preload library) carries no
# LTO bytecode: a program built with -flto and another gcc would reject it
$(LIB_OBJ) $(PRE_OBJ): LTO :=

# libkvfs_preload.so defines open/open64, mmap/mmap64, ...: each under its own
# name, so the headers must not rename them to their 64-bit twins.
$(PRE_OBJ): CFLAGS += -U_FILE_OFFSET_BITS
$(B)/fs/cmd_run.o: CFLAGS += -DKVFS_PREFIX='"$(PREFIX)"'
$(B)/libkvfs_preload.so: $(PRE_OBJ) fs/preload.map
	$(CC) -shared -Wl,-soname,libkvfs_preload.so -Wl,--version-script=fs/preload.map \
	  $(filter-out -static,$(LDFLAGS)) -o $@ $(PRE_OBJ) -ldl -lpthread

$(B)/kvfs.pc: Makefile
	@mkdir -p $(B)
	printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: kvfs\nDescription: kvfs client library: prefix lookup, pins and batch stores on a kvfs mount\nVersion: 0.1.0\nLibs: -L$${libdir} -lkvfs\nLibs.private: -lxxhash -lpthread\nCflags: -I$${includedir}\n' $(PREFIX) > $@

$(B)/tests/%: tests/unit/%.c $(B)/libkvfs_mm.a $(B)/libkvfs.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TEST_INC) -MMD -MP -MF $@.d -MT $@ -o $@ $^ -lcmocka $(LDLIBS_MM)

# fs/ unit tests link the one module they test
$(B)/tests/test_handles: $(B)/fs/handles.o
$(B)/tests/test_pins: $(B)/fs/pins.o

$(B)/tests/%: tests/integration/%.c $(B)/libkvfs.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TEST_INC) -MMD -MP -MF $@.d -MT $@ -o $@ $^ -lxxhash -lpthread

$(B)/bench/%: tests/bench/%.c $(B)/libkvfs_mm.a $(B)/libkvfs.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TEST_INC) -MMD -MP -MF $@.d -MT $@ $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(filter %.a,$^) $(LDLIBS_MM)

$(B)/examples/%: examples/%.c $(B)/libkvfs.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iinclude -MMD -MP -MF $@.d -MT $@ $(LDFLAGS) -o $@ $^ -lxxhash -lpthread

# fs_bench runs an empty FUSE server beside kvfs (fuse_floor.h), on either loop
$(B)/bench/fs_bench: $(B)/fs/loop.o
$(B)/bench/fs_bench: CFLAGS += $(shell pkg-config --cflags fuse3 2>/dev/null)
$(B)/bench/fs_bench: LDLIBS_MM += $(LDLIBS_FS)

-include $(MM_OBJ:.o=.d) $(FS_OBJ:.o=.d) $(LIB_OBJ:.o=.d) $(PRE_OBJ:.o=.d) $(UNIT_BIN:=.d) $(ITEST_BIN:=.d) \
         $(BENCH_BIN:=.d) $(EX_BIN:=.d)

# --- GPU (libkvfs_cuda): built only where nvcc exists ---
ifneq ($(wildcard $(NVCC)),)
-include gpu/gpu.mk
endif

# --- the two commands of the README ---
deps:
	@tests/install-deps.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@examples/demo.sh $(B)

check: deps
	@$(MAKE) --no-print-directory all
	@KVFS_BUILD=$(B) tests/run-tests.sh

unit: all
	@KVFS_BUILD=$(B) tests/run-tests.sh unit

# Sanitizer reports of daemonized processes would go to /dev/null: they are
# written to build-asan/sanitizer.log.PID instead, and any such file fails.
asan: deps
	@mkdir -p build-asan && rm -f build-asan/sanitizer.log.*
	ASAN_OPTIONS=log_path=$(CURDIR)/build-asan/sanitizer.log \
	UBSAN_OPTIONS=log_path=$(CURDIR)/build-asan/sanitizer.log:print_stacktrace=1 \
	$(MAKE) B=build-asan NO_DAXCTL=$(NO_DAXCTL) LTO= \
	  OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" \
	  LDFLAGS="-fsanitize=address,undefined" check
	@if ls build-asan/sanitizer.log.* >/dev/null 2>&1; then \
	  echo "sanitizer reports:"; head -n 40 build-asan/sanitizer.log.*; exit 1; fi

valgrind: all
	@KVFS_BUILD=$(B) KVFS_VALGRIND=1 tests/run-tests.sh unit

static:
	$(MAKE) B=build-static NO_DAXCTL=1 NO_CLUSTER=1 LDFLAGS="-static" build-static/kvfs \
	  build-static/libkvfs.a build-static/libkvfs.so build-static/libkvfs_preload.so $(patsubst $(B)/%,build-static/%,$(EX_BIN)) \
	  $(patsubst $(B)/%,build-static/%,$(filter-out %/cluster_bench,$(BENCH_BIN)))
	@ldd build-static/libkvfs.so | grep -q xxhash && { echo "static libkvfs.so needs libxxhash"; exit 1; } || true

bench: all
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

# the engines' file backends on kvfs against tmpfs (python3, mounts its own kvfs)
engine-bench: all
	@python3 tests/bench/engine_bench.py $(B)/kvfs
.PHONY: engine-bench

format:
	clang-format -i $$(git ls-files '*.c' '*.h' '*.cu')

install: $(INSTALLED)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/lib \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include \
	  $(DESTDIR)$(PREFIX)/share/man/man3 $(DESTDIR)$(PREFIX)/share/man/man7 \
	  $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 755 $(B)/kvfs $(DESTDIR)$(PREFIX)/bin/kvfs
	ln -sf ../bin/kvfs $(DESTDIR)$(PREFIX)/sbin/mount.kvfs
	ln -sf ../bin/kvfs $(DESTDIR)$(PREFIX)/sbin/mount.fuse.kvfs
	install -m 644 $(B)/libkvfs.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/libkvfs.so $(DESTDIR)$(PREFIX)/lib/libkvfs.so.1
	ln -sf libkvfs.so.1 $(DESTDIR)$(PREFIX)/lib/libkvfs.so
	install -m 755 $(B)/libkvfs_preload.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(B)/kvfs.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 644 include/kvfs.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 man/*.3 $(DESTDIR)$(PREFIX)/share/man/man3/
	install -m 644 man/*.7 $(DESTDIR)$(PREFIX)/share/man/man7/
	install -m 644 man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/

clean:
	rm -rf build build-asan build-static


.PHONY: deps demo all check unit asan valgrind static bench format install clean
.SECONDARY:
