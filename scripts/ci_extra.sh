#!/usr/bin/env bash
# The checks .ci/run adds after the README's test command (which leaves its build in build-test):
#   1. the kernel-module tests under every OpenBLAS kernel set this CPU can run (summation orders
#      differ between them; Debian's OpenBLAS runs "Prescott" on CPUs it does not know);
#   2. every instruction-set path: the ISA-dependent kernel tests built for x86-64-v2 (the SSE fallbacks)
#      with g++, and the whole suite for x86-64-v3 (AVX2) with clang under ASan + UBSan; the README
#      build is -march=native (AVX-512 on the CI machines seen so far);
#   3. the programs no test runs (examples, benchmarks) compile;
#   4. the libFuzzer harnesses of every reader (scripts/fuzz.sh).
# Every build is -Werror. Usage: bash scripts/ci_extra.sh [fuzz seconds per reader, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh clang libclang-rt-14-dev
jobs=$(nproc)
step() { echo; echo "== $* ($(date +%T))"; }

step "OpenBLAS kernel sets on the README build"
cores=(auto Prescott Haswell Zen)
grep -q avx512bw /proc/cpuinfo && cores+=(SkylakeX)
for core in "${cores[@]}"; do
  # auto: OpenBLAS's own choice for this CPU (the variable unset, whatever the environment says)
  run_core() { if [ "$core" = auto ]; then env -u OPENBLAS_CORETYPE "$@"; else OPENBLAS_CORETYPE=$core "$@"; fi; }
  run_core ctest --test-dir build-test -L kernel -j"$jobs" --output-on-failure > /tmp/oneclass_core.log 2>&1 ||
    { tail -80 /tmp/oneclass_core.log; echo "ci_extra: kernel tests fail with OPENBLAS_CORETYPE=$core"; exit 1; }
  worst=$(run_core build-test/tests/test_torch_golden | grep -A1 'worst first' | grep -v 'worst first' |
          grep -v -- '--' | sort -rn | head -1)
  echo "OPENBLAS_CORETYPE=$core: $(grep 'tests passed' /tmp/oneclass_core.log); golden float worst err/tol:$worst"
done

step "x86-64-v2 (SSE4.2) build of the tests whose paths differ by instruction set, g++"
# Release, not -O1: at -O1 GCC 12 warns maybe-uninitialized on the Winograd weight gradient's taps
# the kernels compiled inline (ONECLASS_DISPATCH=OFF): the path of a program that only includes the
# headers; the README build's test_dispatch runs every level of the kernel library
cmake -S . -B build-v2 -DCMAKE_BUILD_TYPE=Release -DONECLASS_MARCH=x86-64-v2 -DONECLASS_WERROR=ON -DONECLASS_DISPATCH=OFF \
  -DONECLASS_BUILD_TOOLS=OFF -DONECLASS_BUILD_BENCHMARKS=OFF > /dev/null
cmake --build build-v2 -j"$jobs" --target isa_tests
ctest --test-dir build-v2 -L isa -j"$jobs" --output-on-failure

step "x86-64-v3 (AVX2) build of the whole suite, clang, ASan + UBSan"
# -O1: clang needs minutes per file at -O3 with both sanitizers, seconds at -O1
# the kernel library holds the build's own level only (its tests run there; the README build's
# test_dispatch runs the others): a level costs minutes under both sanitizers
CC=clang CXX=clang++ cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only" \
  -DONECLASS_MARCH=x86-64-v3 -DONECLASS_SANITIZE=address,undefined -DONECLASS_WERROR=ON -DONECLASS_KERNEL_LEVELS=3 \
  -DONECLASS_BUILD_BENCHMARKS=OFF > /dev/null
cmake --build build-asan -j"$jobs" --target all_tests
# .ci/lsan.supp: the caches PLplot's PNG driver and fontconfig keep until exit (not oneclass's memory)
ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  LSAN_OPTIONS=suppressions=$PWD/.ci/lsan.supp:print_suppressions=0 \
  ctest --test-dir build-asan -j"$jobs" --output-on-failure -E '^(test_install_consumer|failtest_.*)$'

step "the programs the tests do not run compile: examples, benchmarks, oneclass-bench (clang, -O0)"
CC=clang CXX=clang++ cmake -S . -B build-progs -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS=-O0 -DONECLASS_MARCH=x86-64-v3 \
  -DONECLASS_WERROR=ON -DONECLASS_BUILD_TESTS=OFF > /dev/null
cmake --build build-progs -j"$jobs"

step "fuzzing every reader"
bash scripts/fuzz.sh "${1:-10}"
