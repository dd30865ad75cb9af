#!/usr/bin/env bash
# Install the Debian packages yiqiban needs to build, run and test, if missing,
# then the web UI's npm packages (web/node_modules) when they are missing or
# web/package-lock.json changed since the last `npm ci`.
# Usage: scripts/install-deps.sh        (idempotent; needs root or sudo for apt)
set -euo pipefail

PKGS=(
  build-essential pkg-config make
  libmicrohttpd-dev libjansson-dev libsqlite3-dev libsodium-dev
  libqrencode-dev libpng-dev libxlsxwriter-dev libzip-dev libexpat1-dev libpq-dev libcurl4-openssl-dev
  libcmocka-dev
  sqlite3 curl python3 wrk
  fonts-wqy-microhei
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# Node.js and npm build the web UI (Vite 8 needs Node.js 20.19+); they may come
# from elsewhere than Debian, so only a missing command asks for Debian's.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# Chromium runs the browser tests (tests/browser), headless.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The web UI's packages, exactly as web/package-lock.json pins them.
cd "$(dirname "$0")/../web"
stamp=node_modules/.yiqiban-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing the web UI's npm packages (npm ci in web/)" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
