#!/usr/bin/env bash
# Compares two `spicenn predict` CSVs of the same samples (e.g. the spice and
# the software engine): the accuracy of each, the fraction of samples whose
# predicted class agrees, and the output deviation per sample,
# max_o |a_o - b_o| / max_o |b_o| (median and largest over the samples).
# Fails if the files hold different samples or lack label/predicted/y columns.
#   bash scripts/compare-predictions.sh SPICE.csv SOFTWARE.csv
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 A.csv B.csv" >&2; exit 2; }
paste -d, "$1" "$2" | awk -F, -v a="$1" -v b="$2" '
  NR == 1 {
    half = NF / 2
    for (i = 1; i <= half; i++) {
      if ($i != $(i + half)) { print "compare-predictions: the headers of " a " and " b " differ" > "/dev/stderr"; exit 2 }
      if ($i == "label") lab = i
      if ($i == "predicted") pred = i
      if ($i ~ /^y[0-9]+$/) ys[++ny] = i
      if ($i ~ /^x[0-9]+$/) xs[++nx] = i
    }
    if (!lab || !pred || !ny) { print "compare-predictions: need label, predicted and y<o> columns" > "/dev/stderr"; exit 2 }
    next
  }
  {
    for (j = 1; j <= nx; j++)
      if ($(xs[j]) != $(xs[j] + half)) { print "compare-predictions: row " NR " holds different samples" > "/dev/stderr"; exit 2 }
    n++
    if ($lab == $pred) ca++
    if ($(lab + half) == $(pred + half)) cb++
    if ($pred == $(pred + half)) same++
    d = 0; s = 0
    for (j = 1; j <= ny; j++) {
      v = $(ys[j]) - $(ys[j] + half); if (v < 0) v = -v
      w = $(ys[j] + half); if (w < 0) w = -w
      if (v > d) d = v
      if (w > s) s = w
    }
    dev[n] = s > 0 ? d / s : d
  }
  END {
    if (!n) { print "compare-predictions: no samples" > "/dev/stderr"; exit 2 }
    # median by insertion sort (a few thousand rows at most)
    for (i = 2; i <= n; i++) { v = dev[i]; for (j = i - 1; j >= 1 && dev[j] > v; j--) dev[j + 1] = dev[j]; dev[j + 1] = v }
    med = n % 2 ? dev[(n + 1) / 2] : (dev[n / 2] + dev[n / 2 + 1]) / 2
    printf "samples %d\n", n
    printf "accuracy %s %.2f %% (%d/%d)\n", a, 100 * ca / n, ca, n
    printf "accuracy %s %.2f %% (%d/%d)\n", b, 100 * cb / n, cb, n
    printf "difference %.2f percentage points\n", 100 * (ca - cb) / n
    printf "same predicted class %.2f %% (%d/%d)\n", 100 * same / n, same, n
    printf "output deviation (max |a - b| / max |b| per sample): median %.3g, largest %.3g\n", med, dev[n]
  }'
