#!/usr/bin/env bash
# `make test`: starts the local services if they are not running (and stops only what it
# started), then runs every test of the workspace.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
had_services=false
if [ -f .local/run/dynamodb.pid ] || [ -f .local/run/sqs.pid ]; then had_services=true; fi
scripts/services.sh start
cleanup() { $had_services || scripts/services.sh stop; }
trap cleanup EXIT
cargo test --workspace --no-fail-fast 2>&1
if [ -f mk/deploy.mk ] && grep -q '^validate:' mk/deploy.mk; then
  make --no-print-directory validate
fi
