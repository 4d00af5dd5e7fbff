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
# shellcheck source=scripts/lib/seeded-host.sh
. scripts/lib/seeded-host.sh
start_seeded_host abev-web "$root/target/browser-test-host.log" "${ABEV_WEB_TEST_PORT:-}"

echo "test-browser: page on $base; screenshots in target/screenshots/"
cd tests/browser
ABEV_WEB_URL="$base" node --test --test-concurrency=1 --test-reporter=tap "$@" ./*.test.js
