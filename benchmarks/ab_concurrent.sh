#!/usr/bin/env bash
# A/B of two oneclass-bench builds on a noisy 2-vCPU host: both run at the same time, one per
# vCPU (taskset), and swap vCPUs every round, so both see the same host phase and neither keeps
# the faster vCPU. Prints each round's new/old rate ratio, their median and geometric mean, and
# the geometric mean of each swapped pair. The same build against itself shows the noise floor.
#
# Usage: benchmarks/ab_concurrent.sh OLD_BENCH NEW_BENCH [ROUNDS] [STEPS] [-- extra train-step args]
#   e.g. benchmarks/ab_concurrent.sh /tmp/old/oneclass-bench build-test/tools/oneclass-bench 10 60
# Default network: the small ResNet of compare_torch.py (ResNet-10 x0.25, 32x32x1, 2 x 64 head).
set -euo pipefail
old=$1 new=$2 rounds=${3:-10} steps=${4:-60}
shift $(($# < 4 ? $# : 4))
[ "${1:-}" = "--" ] && shift
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--arch resnet10 --width 0.25 --input 32x32x1 --batch 32 --head-depth 2 --head-width 64 --head-out 32)
[ "$(nproc)" -ge 2 ] || { echo "ab_concurrent.sh: needs 2 CPUs" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rate() { grep -o 'images_per_s=[0-9.]*' "$1" | cut -d= -f2; }
pairs=()
for i in $(seq "$rounds"); do
  co=$((i % 2)) cn=$((1 - (i % 2)))
  taskset -c "$co" "$old" train-step "${args[@]}" --steps "$steps" --threads 1 > "$tmp/old" &
  po=$!
  taskset -c "$cn" "$new" train-step "${args[@]}" --steps "$steps" --threads 1 > "$tmp/new" &
  pn=$!
  wait "$po" "$pn"
  o=$(rate "$tmp/old") n=$(rate "$tmp/new")
  echo "round $i: old $o img/s (cpu $co), new $n img/s (cpu $cn)"
  pairs+=("$o:$n")
done
/usr/bin/python3 - "${pairs[@]}" <<'EOF'
import math, statistics, sys
r = [float(n) / float(o) for o, n in (p.split(":") for p in sys.argv[1:])]
gm = lambda v: math.exp(sum(map(math.log, v)) / len(v))
print("new/old per round:", " ".join("%.3f" % x for x in r))
print("median %.3f  geometric mean %.4f  swapped pairs %s  rounds won %d/%d" % (
    statistics.median(r), gm(r), " ".join("%.3f" % gm(r[i:i + 2]) for i in range(0, len(r) - 1, 2)),
    sum(x > 1 for x in r), len(r)))
EOF
