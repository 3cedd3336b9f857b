#!/usr/bin/env bash
# Installs the Debian packages oneclass builds with (and any extra ones named as arguments),
# skipping apt-get entirely when everything is already there. Needs root (or sudo).
set -euo pipefail
pkgs=(g++ cmake make libeigen3-dev xtl-dev xtensor-dev libxtensor-blas-dev libxsimd-dev libtbb-dev
      libopenblas-dev libcli11-dev libpng-dev libjpeg-dev zlib1g-dev catch2 libbenchmark-dev
      nlohmann-json3-dev libcsv-dev libplplot-dev plplot-driver-cairo pkg-config libopenmpi-dev openmpi-bin "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
