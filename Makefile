# lesionrank — build. Every library is found with pkg-config (BLIS and libcsv ship none: -lblis, -lcsv).
# Targets: all test demo bench asan deps clean
SHELL := /bin/bash

MPICC   ?= mpicc
CC      := $(MPICC)
PKG_CONFIG ?= pkg-config
# Debian names the parallel HDF5 "hdf5-openmpi"; a cluster module usually exports plain "hdf5".
HDF5_PC := $(firstword $(foreach p,hdf5-openmpi hdf5-mpi hdf5,$(if $(shell $(PKG_CONFIG) --exists $(p) 2>/dev/null && echo y),$(p))))
PC_PKGS := $(HDF5_PC) libconfig gsl

PC_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PC_PKGS) 2>/dev/null)
PC_LIBS   := $(shell $(PKG_CONFIG) --libs $(PC_PKGS) 2>/dev/null)
# BLIS: Debian puts blis.h under the multiarch include dir; clusters set BLIS_PREFIX.
BLIS_PREFIX ?=
BLIS_CFLAGS := $(if $(BLIS_PREFIX),-I$(BLIS_PREFIX)/include -I$(BLIS_PREFIX)/include/blis,)
BLIS_LIBS   := $(if $(BLIS_PREFIX),-L$(BLIS_PREFIX)/lib -Wl$(,)-rpath$(,)$(BLIS_PREFIX)/lib,) -lblis
, := ,

OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -fopenmp -Isrc $(PC_CFLAGS) $(BLIS_CFLAGS)
LDFLAGS  += -fopenmp
# The CNN engine's memory-bound loops need the vectoriser's full cost model (-O3); no -ffast-math anywhere.
# -fno-math-errno lets sqrtf vectorise (it changes no value).
NN_OPT   ?= $(if $(findstring -O0,$(OPT))$(findstring -O1,$(OPT)),,-O3) -fno-math-errno
# niftilib (NIfTI-1/-2 I/O, Debian libnifti2-dev) ships no pkg-config file: headers in include/nifti.
NIFTI_PREFIX ?= /usr
NIFTI_CFLAGS := $(if $(shell $(PKG_CONFIG) --exists nifti2 2>/dev/null && echo y),$(shell $(PKG_CONFIG) --cflags nifti2),-I$(NIFTI_PREFIX)/include/nifti)
NIFTI_LIBS   := $(if $(shell $(PKG_CONFIG) --exists nifti2 2>/dev/null && echo y),$(shell $(PKG_CONFIG) --libs nifti2),-lnifti2 -lznz -lz)
CFLAGS   += $(NIFTI_CFLAGS)
LDLIBS   += $(PC_LIBS) $(BLIS_LIBS) $(NIFTI_LIBS) -lcsv -lm

BUILD ?= build
BIN   ?= bin

LIB_SRC  := $(sort $(filter-out src/main.c,$(wildcard src/*/*.c)))
LIB_OBJ  := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRC))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
TEST_SUPPORT := $(sort $(filter-out $(TEST_SRC),$(wildcard tests/*.c)))

DEBIAN_PKGS := libopenmpi-dev openmpi-bin libblis-dev libconfig-dev libhdf5-openmpi-dev hdf5-tools \
               libgsl-dev libcsv-dev libnifti2-dev pkg-config gnuplot-nox python3-numpy python3-h5py

.PHONY: all test demo bench asan deps clean found
all: found $(BIN)/lesionrank

found:
	@echo "lesionrank build: CC=$(CC) ($$($(CC) --showme:version 2>/dev/null | head -1 || echo no mpicc))"
	@echo "  pkg-config: $(PC_PKGS) -> $(if $(PC_LIBS),ok,MISSING (run 'make deps' or load modules))"
	@echo "  BLIS: -lblis $(BLIS_CFLAGS)   libcsv: -lcsv   niftilib: $(NIFTI_LIBS)"

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*.h src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/nn/%.o: src/nn/%.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(NN_OPT) -c $< -o $@

$(BUILD)/liblesionrank.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN)/lesionrank: src/main.c $(BUILD)/liblesionrank.a
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) $< -o $@ $(BUILD)/liblesionrank.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(TEST_SUPPORT) tests/check.h $(BUILD)/liblesionrank.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $< $(TEST_SUPPORT) -o $@ $(BUILD)/liblesionrank.a $(LDFLAGS) $(LDLIBS)

# Install Debian packages only when something is missing, and only as root on Debian/Ubuntu.
deps:
	@missing=""; for p in $(DEBIAN_PKGS) $(EXTRA_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "deps: installing$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "deps: missing$$missing — not root or not Debian; load your site's modules instead (see README 'On a cluster')"; fi

test: deps
	@$(MAKE) --no-print-directory all $(TEST_BIN)
	@BIN=$(BIN) BUILD=$(BUILD) bash tests/run.sh $(TEST_BIN)

demo: deps
	@$(MAKE) --no-print-directory all
	@bash experiments/demo.sh $(BIN)/lesionrank

bench: deps
	@$(MAKE) --no-print-directory all
	BLIS_NUM_THREADS=1 $(BIN)/lesionrank bench

# AddressSanitizer + UBSan build of the whole suite, in its own build tree.
asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan BIN=build-asan/bin \
	  OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  LDFLAGS="-fsanitize=address,undefined" test

clean:
	rm -rf build build-asan bin
