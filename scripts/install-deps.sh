#!/usr/bin/env bash
# Install the Debian packages yiqiban needs to build, run and test, if missing.
# Usage: scripts/install-deps.sh        (idempotent; needs root or sudo for apt)
set -euo pipefail

PKGS=(
  build-essential pkg-config make
  libmicrohttpd-dev libjansson-dev libsqlite3-dev libsodium-dev
  libqrencode-dev libpng-dev libxlsxwriter-dev libzip-dev libexpat1-dev libpq-dev libcurl4-openssl-dev
  libcmocka-dev
  sqlite3 curl python3 wrk
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "installing: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
