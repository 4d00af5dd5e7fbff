#!/usr/bin/env bash
# The web page's tests in a real browser: Debian's headless Chromium driven by
# playwright-core (tests/browser, node:test), against a local stack of its own — its own
# table and queues (a unique --stack name) and API port — with the spec §2 worked example
# seeded. Installs Chromium and the npm packages first if they are missing. Prints
# node:test's TAP summary (# pass N / # fail N); exits non-zero when a test fails.
#   scripts/test-browser.sh [node --test options, e.g. --test-name-pattern=CSV]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# DynamoDB Local and moto: started if not running, and afterwards only what was started
# here is stopped (scripts/with-services.sh).
if [ -z "${ABEV_WEB_WITH_SERVICES:-}" ]; then
  ABEV_WEB_WITH_SERVICES=1 exec scripts/with-services.sh "$0" "$@"
fi
scripts/install-browser.sh >/dev/null
nice -n 10 "${CARGO:-cargo}" build --quiet -p abev-local --bin abev-local

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
port="${ABEV_WEB_TEST_PORT:-$(free_port)}"
stack="abev-web-$(date +%s)-$$"
log="$root/target/browser-test-host.log"
base="http://127.0.0.1:$port"

target/debug/abev-local --stack "$stack" up --port "$port" --retry-after 1 >"$log" 2>&1 &
host_pid=$!
cleanup() { kill "$host_pid" 2>/dev/null || true; wait "$host_pid" 2>/dev/null || true; }
trap cleanup EXIT

for _ in $(seq 1 300); do
  curl -fsS -o /dev/null "$base/config.json" 2>/dev/null && break
  kill -0 "$host_pid" 2>/dev/null || { echo "test-browser: the local host stopped; see $log" >&2; cat "$log" >&2; exit 1; }
  sleep 0.2
done
target/debug/abev-local --stack "$stack" seed >/dev/null

# Ingestion is done when mary sees her four sites (spec §2).
mary="$(target/debug/abev-local token mary@skynet.example)"
for i in $(seq 1 300); do
  sites="$(curl -fsS -H "Authorization: Bearer $mary" "$base/v1/view" 2>/dev/null | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["sites"]))' 2>/dev/null || echo 0)"
  [ "$sites" = 4 ] && break
  [ "$i" = 300 ] && { echo "test-browser: the worked example was not ingested within 60 s; see $log" >&2; exit 1; }
  sleep 0.2
done

echo "test-browser: page on $base (stack $stack); screenshots in target/screenshots/"
cd tests/browser
ABEV_WEB_URL="$base" node --test --test-concurrency=1 --test-reporter=tap "$@" ./*.test.js
