#!/usr/bin/env bash
# The defect-localisation check set of docs/results.md: scikit-image's sample photographs (the
# Debian package python3-skimage, unpacked, not installed) with synthetic defects in the MVTec AD
# layout (benchmarks/make_checkset.cpp), then the raw-pixel patch baseline and the quick preset of
# rotation, DistAug and CutPaste with KDE and GDE on every category.
#
# Usage: benchmarks/checkset.sh BUILD_DIR OUT_DIR [methods...]   (default: rotation distaug cutpaste)
set -euo pipefail
build=$1 out=$2
shift 2
methods=("$@")
[ ${#methods[@]} -eq 0 ] && methods=(rotation distaug cutpaste)
mkdir -p "$out"
photos=$out/photos
if [ ! -f "$photos/brick.png" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download python3-skimage >/dev/null && dpkg -x python3-skimage_*.deb x)
  mkdir -p "$photos"
  cp "$tmp"/x/usr/lib/python3/dist-packages/skimage/data/{brick,grass,gravel,coffee,astronaut,camera}.png "$photos"/
  rm -rf "$tmp"
fi
[ -d "$out/set" ] || "$build/benchmarks/oneclass-make-checkset" "$photos" "$out/set"
cli=$build/tools/oneclass
textures=brick,grass,gravel
for c in brick grass gravel coffee astronaut camera; do
  "$cli" eval --dataset mvtec --root "$out/set" --category "$c" --features raw --detector knn --k 1 --normalize none \
    --textures $textures --out-dir "$out/results"
done 2>&1 | tee "$out/raw.log"
for m in "${methods[@]}"; do
  "$cli" run --dataset mvtec --root "$out/set" --categories all --method "$m" --preset quick --detector kde,gde \
    --textures $textures --heatmaps "$out/heatmaps-$m" --out-dir "$out/results" --progress log 2>&1 | tee "$out/$m.log"
done
