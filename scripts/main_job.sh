#!/usr/bin/env bash
# The README's main job: one-vs-rest evaluation on Fashion-MNIST (Debian's dataset-fashion-mnist),
# raw pixels, OC-SVM / KDE / GDE on L2-normalised features; prints the per-class AUC table and
# writes results/eval-fashion-mnist-raw.{json,csv}. Extra arguments go to `oneclass eval`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh dataset-fashion-mnist
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DONECLASS_BUILD_TESTS=OFF -DONECLASS_BUILD_BENCHMARKS=OFF
cmake --build build -j"$(nproc)" --target oneclass_cli
./build/tools/oneclass eval --dataset fashion-mnist --features raw --detector ocsvm,kde,gde --classes all \
  --out-dir results "$@"
