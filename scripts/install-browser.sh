#!/usr/bin/env bash
# Installs what the browser tests need, and only what is missing: Debian's Chromium
# (/usr/bin/chromium; Playwright never downloads a browser here) and the test's npm
# packages from tests/browser/package-lock.json. Safe to run again.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -x /usr/bin/chromium ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y chromium
fi
cd "$root/tests/browser"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
