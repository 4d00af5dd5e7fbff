#!/usr/bin/env bash
# `make load` (issue 22 part 4): the mixed load test. Builds abev-load with the `release`
# profile (the one `make package` ships), runs it against a fresh table and queues of its own
# on the local services (started if needed, stopped afterwards only if this started them) and
# writes its Markdown report to docs/BENCHMARKS-load.md (`make bench` includes that file in
# docs/BENCHMARKS.md). Only the local stack on 127.0.0.1; bounded in time and requests; it
# stops by itself. Exit 1 when a check failed or an answer was an error (anything but 429).
#
#   make load                                          # 50 callers for 5 minutes (~12 min in all)
#   ABEV_LOAD_SECONDS=60 ABEV_LOAD_USERS=20 make load  # a short try (do not commit its report)
#
# The knobs (ABEV_LOAD_*) are listed in tools/load/src/main.rs and docs/BENCHMARKS.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --quiet --release -p abev-load --features goose --bin abev-load
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
dirty="$( (git status --porcelain 2>/dev/null || true) | { grep -v -e '^?? ' -e ' docs/BENCHMARKS.*\.md$' || true; } | wc -l)"
[ "$dirty" -eq 0 ] || commit="$commit + $dirty uncommitted changes"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
status=0
scripts/with-services.sh "${CARGO_TARGET_DIR:-target}/release/abev-load" > "$out" || status=$?
{
  cat "$out" | sed -n '1,2p'
  echo "Produced by \`make load\` (\`scripts/load.sh\`) on $(date -u +%Y-%m-%d) from commit \`$commit\` ($(nproc) cores, the \`release\` profile, DynamoDB Local and moto on this machine, the load generator in the same process as the API)."
  echo
  sed -n '3,$p' "$out"
} > docs/BENCHMARKS-load.md
cat docs/BENCHMARKS-load.md
[ "$status" -eq 0 ] || echo "load: a check failed or an answer was an error (exit $status); see the report above" >&2
exit "$status"
