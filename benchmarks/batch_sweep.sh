#!/usr/bin/env bash
# The paper's figure 4 trend (sections 5.1-5.2) on Fashion-MNIST: for SimCLR and DistAug, train one
# class at several batch sizes (preset quick otherwise), then report the uniformity and MMD^2 to
# the sphere of f and g(f) with the KDE's AUC on each.
#
# Usage: benchmarks/batch_sweep.sh BUILD_DIR OUT_DIR [class] [batches...]   (default: class 0, 8 32 128)
# With STEPS=N in the environment every batch size trains for about N optimisation steps (the
# whole epochs nearest N x batch / 6000) instead of the preset's 3 epochs, so that the batch size
# is not confounded with the schedule. METHODS="simclr" (default "simclr distaug") limits the methods.
# Writes OUT_DIR/batch_sweep.csv: series,method,batch,epochs,steps,features,uniformity,mmd2,auc_kde
# (series: method and features, the lines of `oneclass plot --group series`).
set -euo pipefail
build=$1 out=$2
cls=${3:-0}
shift $(( $# >= 3 ? 3 : $# ))
batches=("$@")
[ ${#batches[@]} -eq 0 ] && batches=(8 32 128)
cli=$build/tools/oneclass
mkdir -p "$out"
csv=$out/batch_sweep.csv
n=6000  # a Fashion-MNIST class's training images
echo "series,method,batch,epochs,steps,features,uniformity,mmd2,auc_kde" > "$csv.tmp"
for m in ${METHODS:-simclr distaug}; do
  for b in "${batches[@]}"; do
    epochs=3
    if [ -n "${STEPS:-}" ]; then
      epochs=$(( (STEPS * b + n / 2) / n ))
      [ "$epochs" -ge 1 ] || epochs=1
    fi
    steps=$(( epochs * (n / b) ))
    model=$out/$m-b$b-e$epochs-class$cls.ocm
    [ -f "$model" ] || "$cli" train --dataset fashion-mnist --class "$cls" --method "$m" --preset quick --batch "$b" \
      --epochs "$epochs" --out "$model" --progress none > "$out/$m-b$b-e$epochs.train.log" 2>&1
    for feat in f gf; do
      log=$out/$m-b$b-$feat.eval.log
      "$cli" eval --dataset fashion-mnist --model "$model" --features "$feat" --detector kde --uniformity \
        --out-dir "$out/eval-$m-b$b-$feat" > "$log" 2>&1
      auc=$(sed -n 's/^detector=kde mean_auc=//p' "$log")
      line=$(grep "^features=$feat uniformity=" "$log")
      u=$(echo "$line" | sed 's/.*uniformity=\([^ ]*\).*/\1/')
      mmd=$(echo "$line" | sed 's/.*mmd2=\([^ ]*\).*/\1/')
      name=DistAug; [ "$m" = simclr ] && name=SimCLR
      shown=$feat; [ "$feat" = gf ] && shown="g(f)"
      echo "$name $shown,$m,$b,$epochs,$steps,$feat,$u,$mmd,$auc" | tee -a "$csv.tmp"
    done
  done
done
mv "$csv.tmp" "$csv"
