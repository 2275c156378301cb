# a3sim: the two commands of the README, and what they need.
#   make run    real workloads through the simulated A3, and a report
#   make test   the tests (Python and C++)
#   make lint   ruff (lint + format check) and clang-format
# Each installs what is missing (apt packages, .venv, pip packages, the build) and is a no-op
# where it is already there.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
APT_PACKAGES := libsystemc-dev pkg-config cmake g++ wordnet-base clang-format libasan8 libubsan1
DEPS_STAMP := $(VENV)/.deps-stamp
BUILD_STAMP := $(VENV)/.build-stamp
SOURCES := $(shell find systemc python workloads -type f -not -name '*.pyc' -not -path '*/__pycache__/*' 2>/dev/null) CMakeLists.txt pyproject.toml
OUT ?= out

.PHONY: all setup apt run test test-py test-cpp lint format sanitize bench calibrate clean

all: setup

apt:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  echo "== installing $(APT_PACKAGES)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES); \
	fi

$(PY):
	$(PYTHON) -m venv $(VENV)

# Every version comes from pyproject.toml (scripts/pins.py reads it).
$(DEPS_STAMP): pyproject.toml scripts/pins.py | $(PY)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $$($(PY) scripts/pins.py build runtime test dev)
	$(PIP) install -q --no-deps $$($(PY) scripts/pins.py no-deps)
	touch $@

$(BUILD_STAMP): $(DEPS_STAMP) $(SOURCES)
	$(PIP) install -q --no-build-isolation --no-deps .
	touch $@

setup: apt $(BUILD_STAMP)

run: setup
	$(VENV)/bin/a3sim demo --out $(OUT)

test: setup test-cpp test-py

test-py: setup
	$(PY) -m pytest -q -p no:cacheprovider tests

# [blas] CMake finds scipy-openblas32 through the .venv's Python.
build/ctest/Makefile: CMakeLists.txt | apt $(DEPS_STAMP)
	cmake -S . -B build/ctest -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE=$(abspath $(PY)) >/dev/null

test-cpp: apt build/ctest/Makefile
	cmake --build build/ctest -j2
	cd build/ctest && ctest --output-on-failure

PY_LINT_PATHS := python tests benchmarks scripts
CPP_LINT_FILES = $(shell find systemc tests/cpp benchmarks -name '*.cpp' -o -name '*.h' 2>/dev/null)

lint: apt $(DEPS_STAMP)
	$(VENV)/bin/ruff check $(PY_LINT_PATHS)
	$(VENV)/bin/ruff format --check $(PY_LINT_PATHS)
	clang-format --dry-run -Werror $(CPP_LINT_FILES)

# Rewrites the tree in the project's style (what `make lint` checks).
format: apt $(DEPS_STAMP)
	$(VENV)/bin/ruff check --fix $(PY_LINT_PATHS)
	$(VENV)/bin/ruff format $(PY_LINT_PATHS)
	clang-format -i $(CPP_LINT_FILES)

# AddressSanitizer (with its LeakSanitizer) + UndefinedBehaviorSanitizer, gcc's runtimes
# (libasan8 carries LeakSanitizer on x86-64; libubsan1): the C++ tests (ctest, teardown leak-checked), then a
# Python smoke run on the instrumented library (leak checking off there: the interpreter keeps its
# own allocations at exit). Preset "sanitize" in CMakePresets.json; docs/robustness.md section 5.
SAN_RT = $(shell g++ -print-file-name=libasan.so)
sanitize: setup
	cmake --preset sanitize >/dev/null
	cmake --build --preset sanitize
	ctest --preset sanitize
	cp systemc/api/a3sim_api.h build/sanitize/
	ASAN_OPTIONS=detect_leaks=0:detect_stack_use_after_return=0:halt_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 SYSTEMC_DISABLE_COPYRIGHT_MESSAGE=1 \
	A3SIM_LIB=$(CURDIR)/build/sanitize/liba3sim.so LD_PRELOAD=$(SAN_RT) \
	  timeout 900 $(PY) tests/sanitize/smoke.py
	ASAN_OPTIONS=detect_leaks=0:detect_stack_use_after_return=0:halt_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 SYSTEMC_DISABLE_COPYRIGHT_MESSAGE=1 \
	A3SIM_LIB=$(CURDIR)/build/sanitize/liba3sim.so LD_PRELOAD=$(SAN_RT) \
	  timeout 900 $(PY) tests/sanitize/smoke.py --overlap

bench: setup build/ctest/Makefile
	$(PY) benchmarks/run.py
	cmake --build build/ctest -j2 --target bench_kernels
	SYSTEMC_DISABLE_COPYRIGHT_MESSAGE=1 build/ctest/bench_kernels

clean:
	rm -rf build $(VENV) $(OUT)
