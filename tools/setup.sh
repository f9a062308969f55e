#!/usr/bin/env bash
# Installs every Debian and Python package graft's build and tests need.
# Idempotent: packages already present are left alone, so a second run costs
# a dpkg query. Run as root (or through sudo).
set -euo pipefail

DEB_PACKAGES=(
  build-essential cmake pkg-config git
  libopenblas-dev libpng-dev libjpeg62-turbo-dev libcjson-dev libinih-dev libcmocka-dev
  clang libclang-rt-14-dev
  python3-torch python3-torchvision python3-sklearn python3-numpy
  dataset-fashion-mnist
)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all Debian packages present"
fi

# The safetensors interoperability test reads graft's files with the
# reference Python implementation, installed for the python3 on PATH.
if ! python3 -c "import safetensors.numpy, numpy" 2>/dev/null; then
  echo "setup: installing safetensors and numpy for $(command -v python3)"
  python3 -m pip install -q safetensors numpy
fi
