#!/usr/bin/env bash
# Installs the Debian packages given that are not installed yet (as root):
# one `apt-get update` and one `apt-get install --no-install-recommends`,
# or nothing at all when every package is present.
#   bash scripts/apt-install-missing.sh LABEL PACKAGE...
# LABEL prefixes the messages (the calling script's name).
set -euo pipefail
label="$1"
shift
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "$label: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "$label: all Debian packages present"
fi
