#!/usr/bin/env bash
# `make lint`: ESLint (flat config, eslint.config.js) over the web page and its browser
# tests. Installs the linter from the committed package-lock.json on first use (npm ci).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >/dev/null
fi
npx --no-install eslint web tests/browser eslint.config.js
echo "lint: web/ and tests/browser/ are clean"
