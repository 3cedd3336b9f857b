#!/usr/bin/env bash
# aarch64: builds the kernel tests whose paths differ by instruction set with Debian's cross
# compiler (xsimd's NEON batches, the scalar twins of the AVX code; no kernel library, which is
# x86-64 only) and runs them under qemu-user. Not part of CI (emulation is slow: minutes per test).
#   bash scripts/cross_aarch64.sh [test ...]      default: test_simd test_ops_batch_norm test_kde_knn test_ops_conv
#   CATCH_ARGS='"conv2d forward*"' bash scripts/cross_aarch64.sh test_ops_conv    # a subset of one test
set -euo pipefail
cd "$(dirname "$0")/.."
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(test_simd test_ops_batch_norm test_kde_knn test_ops_conv)
if ! dpkg -s libtbb-dev:arm64 > /dev/null 2>&1 || ! command -v qemu-aarch64 > /dev/null || ! command -v aarch64-linux-gnu-g++ > /dev/null; then
  dpkg --add-architecture arm64
  apt-get update -q > /dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q g++-aarch64-linux-gnu qemu-user libtbb-dev:arm64 libopenblas-dev:arm64 \
    > /dev/null
fi
bash scripts/deps.sh > /dev/null  # the headers-only dependencies (Eigen, xsimd, xtensor, Catch2) from the host
out=build-aarch64; mkdir -p "$out"
# the host's headers after the cross compiler's own, so glibc and libstdc++ are aarch64's
cxx=(aarch64-linux-gnu-g++ -std=gnu++20 -O2 -Wall -Wextra -Wpedantic -Werror -Iinclude -Itests
     -I/usr/include/aarch64-linux-gnu/openblas-pthread -idirafter /usr/include -idirafter /usr/include/eigen3
     -DONECLASS_TEST_DATA="\"$PWD/tests/data\"")
[ -f "$out/catch_main.o" ] || "${cxx[@]}" -c tests/catch_main.cpp -o "$out/catch_main.o"
for t in "${tests[@]}"; do
  "${cxx[@]}" "tests/$t.cpp" "$out/catch_main.o" -o "$out/$t" -L/usr/lib/aarch64-linux-gnu -ltbb -lopenblas
  echo "== $t (aarch64, qemu)"
  eval "qemu-aarch64 -L /usr/aarch64-linux-gnu $out/$t ${CATCH_ARGS:-}" | tail -2
done
