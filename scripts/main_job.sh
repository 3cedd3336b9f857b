#!/usr/bin/env bash
# The README's main job: the paper's two-stage pipeline on Fashion-MNIST (Debian's
# dataset-fashion-mnist). First the raw-pixel baseline (oneclass eval --features raw: OC-SVM, KDE,
# GDE on L2-normalised pixels, about half a minute), then for every class a DistAug contrastive
# representation trained on that class only (preset quick), KDE and OC-SVM on its features, and
# the per-class AUC table with the raw-pixel columns alongside. Writes results/*.{json,csv}.
# Extra arguments go to `oneclass run` (e.g. --classes 0,1 --seeds 3 --preset standard).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh dataset-fashion-mnist
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DONECLASS_BUILD_TESTS=OFF -DONECLASS_BUILD_BENCHMARKS=OFF
cmake --build build -j"$(nproc)" --target oneclass_cli
./build/tools/oneclass eval --dataset fashion-mnist --features raw --detector ocsvm,kde,gde --classes all \
  --out-dir results
./build/tools/oneclass run --dataset fashion-mnist --method distaug --preset quick --classes all \
  --detector kde,ocsvm --features f --metrics results/run-fashion-mnist-distaug-quick.jsonl \
  --baseline results/eval-fashion-mnist-raw.csv --out-dir results "$@"
