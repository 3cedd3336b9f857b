#!/usr/bin/env bash
# Builds the libFuzzer harnesses of every reader (clang, ASan + UBSan) and runs each from its
# committed seed corpus for SECONDS seconds (default 20), after replaying every input that once
# crashed a reader (tests/fuzz/regressions/<reader>/). A finding stops the script; the input is
# kept under build-fuzz/findings/<reader>/. .ci/run calls it.
#   bash scripts/fuzz.sh [SECONDS] [reader ...]      readers: npy csv idx cifar image model weights representation
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh clang libclang-rt-14-dev
secs=${1:-20}
[ $# -gt 0 ] && shift
readers=("$@")
[ ${#readers[@]} -eq 0 ] && readers=(npy csv idx cifar image model weights representation)
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DONECLASS_BUILD_FUZZERS=ON \
  -DONECLASS_BUILD_TESTS=OFF -DONECLASS_BUILD_TOOLS=OFF -DONECLASS_BUILD_BENCHMARKS=OFF -DONECLASS_WERROR=ON -DONECLASS_DISPATCH=OFF > /dev/null
if [ $# -eq 0 ]; then cmake --build build-fuzz -j"$(nproc)"  # all harnesses at once (one file each)
else cmake --build build-fuzz -j"$(nproc)" --target "${readers[@]/#/fuzz_}"; fi
fuzz_one() {
  local r=$1 secs=$2 bin=build-fuzz/tests/fuzz/fuzz_$1
  mkdir -p "build-fuzz/work/$r" "build-fuzz/findings/$r"
  if [ -d "tests/fuzz/regressions/$r" ] && [ -n "$(ls -A "tests/fuzz/regressions/$r")" ]; then
    "$bin" -runs=0 "tests/fuzz/regressions/$r"/* > "build-fuzz/findings/$r/regressions.log" 2>&1 ||
      { tail -40 "build-fuzz/findings/$r/regressions.log"; echo "fuzz: a regression input of $r fails again"; return 1; }
  fi
  # -malloc_limit_mb: any single allocation above it is a finding (a size taken from a header
  # without a check); -timeout: an input that takes 10 s is one too
  "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="build-fuzz/findings/$r/" "build-fuzz/work/$r" "tests/fuzz/corpus/$r" \
    > "build-fuzz/findings/$r/fuzz.log" 2>&1 ||
    { tail -60 "build-fuzz/findings/$r/fuzz.log"; echo "fuzz: $r found a crash (input in build-fuzz/findings/$r/)"; return 1; }
  echo "fuzz $r: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/findings/$r/fuzz.log" | grep -o '[0-9]*$') runs, clean"
}
export -f fuzz_one
# one reader per core at a time (each harness is single-threaded)
printf '%s\n' "${readers[@]}" | xargs -P "$(nproc)" -I{} bash -c 'fuzz_one "$@"' _ {} "$secs" ||
  { echo "fuzz: a reader failed (above)"; exit 1; }
