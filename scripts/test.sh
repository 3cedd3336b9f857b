#!/usr/bin/env bash
# Builds oneclass (Release) and runs the whole test suite. The README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs=$(nproc)
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Release -DONECLASS_WERROR=ON -DONECLASS_WITH_MPI=ON
# the test programs and what they run (the CLI, the CIFAR-10 example); CI compiles the other
# examples and the benchmarks in scripts/ci_extra.sh
cmake --build build-test -j"$jobs" --target all_tests
ctest --test-dir build-test --output-on-failure -j"$jobs"
