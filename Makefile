# Thin wrapper over CMake presets; all build logic lives in CMakeLists.txt.
#   make demo      install missing Debian packages, build (release), run the demo
#   make check     install missing packages, build release + asan-ubsan + no-openmp, run ctest in each
#   make install   install libalig, headers, CMake package and pkg-config file (PREFIX=/usr/local)
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX ?= /usr/local

.PHONY: all deps build demo check install bench clean
all: build

deps:
	@bash scripts/install-deps

build: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)

demo: build
	./build/release/bin/alig demo

check: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)
	ctest --preset release -j $(JOBS)
	cmake --preset asan-ubsan >/dev/null
	cmake --build --preset asan-ubsan -j $(JOBS)
	ctest --preset asan-ubsan -j $(JOBS)
	cmake --preset no-openmp >/dev/null
	cmake --build --preset no-openmp -j $(JOBS)
	ctest --preset no-openmp -j $(JOBS)

install: build
	cmake --install build/release --prefix $(PREFIX)

bench: build
	./build/release/bench/solver_step

clean:
	rm -rf build
