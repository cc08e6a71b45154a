# SPDX-License-Identifier: MIT
#
# gpu.mk - builds libkvfs_cuda, its GPU test and its benchmark. Included by
# the top Makefile only where $(NVCC) exists, so the rest of kvfs builds
# without CUDA. Uses B and NVCC from there. The CUDA runtime is linked
# statically (nvcc's default): the libraries need only the driver
# (libcuda.so.1) at run time, and the test prints SKIP where it has none.
# `make gpu-check` runs the test (on a machine with a GPU).

NVCCFLAGS ?= -O3
NVCCFLAGS += -std=c++17 -gencode arch=compute_90,code=sm_90 \
             -gencode arch=compute_90,code=compute_90 -Xcompiler -fPIC -Iinclude
GPU_SRC   := $(wildcard gpu/*.cu)
GPU_OBJ   := $(GPU_SRC:%.cu=$(B)/%.o)
GPU_DEPS  := include/kvfs_cuda.h $(wildcard gpu/*.h)

all: $(B)/libkvfs_cuda.a $(B)/libkvfs_cuda.so $(B)/tests/gpu_test $(B)/bench/gpu_bench

$(B)/gpu/%.o: gpu/%.cu $(GPU_DEPS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(B)/libkvfs_cuda.a: $(GPU_OBJ)
	@rm -f $@; ar rcs $@ $^

$(B)/libkvfs_cuda.so: $(GPU_OBJ) gpu/libkvfs_cuda.map
	$(NVCC) $(NVCCFLAGS) -shared -Xlinker -soname,libkvfs_cuda.so.1 \
	  -Xlinker --version-script=gpu/libkvfs_cuda.map -o $@ $(GPU_OBJ)

$(B)/tests/gpu_test: tests/gpu/test_gpu.cu $(B)/libkvfs_cuda.a $(GPU_DEPS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -o $@ $< $(B)/libkvfs_cuda.a

$(B)/bench/gpu_bench: tests/bench/gpu_bench.cu $(B)/libkvfs_cuda.a $(GPU_DEPS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -o $@ $< $(B)/libkvfs_cuda.a

# examples/engine_load.c with its GPU part (the plain build has the CPU part only)
all: $(B)/examples/engine_load_gpu
$(B)/examples/engine_load_gpu: examples/engine_load.c $(B)/libkvfs_cuda.a $(B)/libkvfs.a $(GPU_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iinclude -DKVFS_HAVE_CUDA -I$(dir $(NVCC))../include -c $< -o $@.o
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $@.o $(B)/libkvfs_cuda.a $(B)/libkvfs.a \
	  -L$(dir $(NVCC))../lib64 -lcudart_static -lstdc++ -lxxhash -lpthread -ldl -lrt

gpu-check: $(B)/tests/gpu_test
	$(B)/tests/gpu_test

# `make install` installs libkvfs_cuda too (its man page goes with man/*.3)
install: install-gpu
install-gpu: $(B)/libkvfs_cuda.a $(B)/libkvfs_cuda.so
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include
	install -m 644 $(B)/libkvfs_cuda.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/libkvfs_cuda.so $(DESTDIR)$(PREFIX)/lib/libkvfs_cuda.so.1
	ln -sf libkvfs_cuda.so.1 $(DESTDIR)$(PREFIX)/lib/libkvfs_cuda.so
	install -m 644 include/kvfs_cuda.h $(DESTDIR)$(PREFIX)/include/

.PHONY: gpu-check install-gpu
