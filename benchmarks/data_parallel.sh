#!/usr/bin/env bash
# Data-parallel training on this machine: P = 2 ranks of one thread each against one process of
# two threads (and of one), the same model, images and global batch, alternating runs; prints the
# train-step images/s of each run (oneclass train's own figure, from its metrics file).
#   benchmarks/data_parallel.sh [build/tools/oneclass] [method ...]
set -euo pipefail
B=${1:-build/tools/oneclass}; shift || true
METHODS=${*:-rotation distaug}
REPEATS=${REPEATS:-3}; IMAGES=${IMAGES:-4096}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
rate() { python3 -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print(round(int(sys.argv[2]) / [x for x in r if x.get('event')=='epoch'][-1]['elapsed_s'], 1))" "$1" "$IMAGES"; }
for m in $METHODS; do
  for i in $(seq "$REPEATS"); do
    common=(train --dataset fashion-mnist --class 0 --method "$m" --preset quick --epochs 1 --train-limit "$IMAGES" --progress none)
    "$B" --threads 1 "${common[@]}" --out "$T/a.ocm" --metrics "$T/a.jsonl" >/dev/null
    "$B" --threads 2 "${common[@]}" --out "$T/b.ocm" --metrics "$T/b.jsonl" >/dev/null
    mpirun -np 2 --oversubscribe --bind-to none "$B" --threads 1 "${common[@]}" --out "$T/c.ocm" --metrics "$T/c.jsonl" >/dev/null
    mpirun -np 2 --oversubscribe --bind-to none "$B" --threads 1 "${common[@]}" --sync-batch-norm --out "$T/d.ocm" --metrics "$T/d.jsonl" >/dev/null
    echo "$m run $i images/s: 1 process x 1 thread $(rate "$T/a.jsonl"), 1 x 2 threads $(rate "$T/b.jsonl"), 2 ranks x 1 thread $(rate "$T/c.jsonl"), with --sync-batch-norm $(rate "$T/d.jsonl")"
  done
done
