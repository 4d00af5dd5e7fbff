#!/usr/bin/env bash
# `make dev`: the whole system on this machine. Ctrl-C stops everything it started.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --quiet -p abev-local
started_before="$(ls .local/run/*.pid 2>/dev/null || true)"
scripts/services.sh start
cleanup() { [ -n "$started_before" ] || scripts/services.sh stop; }
trap cleanup EXIT INT TERM
target/debug/abev-local up "$@"
