#!/usr/bin/env bash
# Installs the Debian packages needed by the PyTorch peer benchmark
# (bench/kan_torch_peer.py) on Debian 12, as root. Nothing comes from pip.
# Idempotent: runs apt-get (update + install) only when a package is missing.
#
# The benchmark runs under Debian's own interpreter, /usr/bin/python3, which is
# where python3-torch installs (not a pyenv/venv python3 that may be first on PATH).
set -euo pipefail

packages=(
  python3          # /usr/bin/python3 (Debian's interpreter)
  python3-torch    # PyTorch 1.13 (CPU) for Debian's python3
  # python3-torch links the generic libblas.so.3 and only *recommends* an
  # optimized BLAS, so --no-install-recommends would leave it on the slow
  # reference BLAS (libblas3). OpenBLAS (pthread build, Debian's default
  # variant) takes over libblas.so.3/liblapack.so.3 through update-alternatives.
  libopenblas0-pthread
  time             # /usr/bin/time: peak memory of a run (bench-kn-theta-storage.sh)
)

bash "$(dirname "${BASH_SOURCE[0]}")/apt-install-missing.sh" install-bench-deps "${packages[@]}"

# Report which BLAS libblas.so.3 resolves to (auto mode picks OpenBLAS, priority 100).
blas_alt="libblas.so.3-$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)"
echo "install-bench-deps: libblas.so.3 -> $(readlink -f "/etc/alternatives/$blas_alt" 2>/dev/null || echo '?')"

# Check that Debian's interpreter can import torch (with the OpenBLAS tuning
# variables unset, as the benchmark is run).
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 -c \
  'import torch; print("install-bench-deps: torch", torch.__version__, "for", __import__("sys").executable)'
