#!/usr/bin/env bash
# Run-time instruction-set dispatch (ops/dispatch.hpp): oneclass-bench built three ways, each in a
# build folder of its own, run alternately on this machine:
#   native    -march=native, the kernels compiled inline (ONECLASS_DISPATCH=OFF): the reference
#   dispatch  the compiler's default flags (x86-64), kernels from oneclass_kernels at the CPU's level
#   baseline  the compiler's default flags, kernels compiled inline (what a consumer got before)
# and prints each run's train-step images/s (the issue's quick-preset step) and KDE scoring rate
# (bench_detectors' BM_kde_score/128/2000: 2000 queries against 6000 references of dimension 128,
# in million pairs/s), then the medians.
#   benchmarks/dispatch.sh [repeats, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${1:-5}
STEP=(train-step --arch resnet10 --width 0.25 --input 32x32x1 --batch 32 --threads 1 --head-depth 2 --head-width 64 --head-out 32)
build() {  # build folder, cmake options...
  local d=$1; shift
  cmake -S . -B "$d" -DCMAKE_BUILD_TYPE=Release -DONECLASS_BUILD_TESTS=OFF -DONECLASS_BUILD_BENCHMARKS=ON "$@" > /dev/null
  cmake --build "$d" -j"$(nproc)" --target oneclass_bench bench_detectors > /dev/null
}
build build-bench-native -DONECLASS_DISPATCH=OFF -DONECLASS_NATIVE=ON -DONECLASS_MARCH=
build build-bench-dispatch -DONECLASS_DISPATCH=ON -DONECLASS_NATIVE=OFF -DONECLASS_MARCH=
build build-bench-baseline -DONECLASS_DISPATCH=OFF -DONECLASS_NATIVE=OFF -DONECLASS_MARCH=
rate() { "$1/tools/oneclass-bench" "${STEP[@]}" | grep -o 'images_per_s=[0-9.]*' | cut -d= -f2; }
kde() {  # million pairs/s: items (queries) per second x 6000 references
  "$1/benchmarks/bench_detectors" --benchmark_filter='BM_kde_score/128/2000$' --benchmark_format=json 2>/dev/null |
    python3 -c "import json,sys; b=json.load(sys.stdin)['benchmarks'][0]; print(round(b['items_per_second'] * 6000 / 1e6, 1))"
}
declare -A all kall
for i in $(seq "$REPEATS"); do
  line="run $i: train-step images/s"
  for v in native dispatch baseline; do
    r=$(rate "build-bench-$v"); all[$v]="${all[$v]:-} $r"; line="$line $v $r"
  done
  line="$line; KDE Mpairs/s"
  for v in native dispatch baseline; do
    r=$(kde "build-bench-$v"); kall[$v]="${kall[$v]:-} $r"; line="$line $v $r"
  done
  echo "$line"
done
"build-bench-dispatch/tools/oneclass-bench" "${STEP[@]}" | grep '^kernels='
med() { tr ' ' '\n' <<< "$1" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for what in all kall; do
  declare -n m=$what
  n=$(med "${m[native]}"); d=$(med "${m[dispatch]}"); b=$(med "${m[baseline]}")
  label=$([ $what = all ] && echo "train-step images/s" || echo "KDE Mpairs/s")
  echo "medians, $label: native $n, dispatch $d ($(awk "BEGIN {printf \"%.2f\", $d / $n}")x native), baseline $b ($(awk "BEGIN {printf \"%.2f\", $b / $n}")x native)"
  unset -n m
done
