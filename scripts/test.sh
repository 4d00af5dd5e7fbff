#!/usr/bin/env bash
# `make test`: every test of the workspace against the local services (started if needed),
# then the template's offline lint; ends with one summary line of the whole run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# The local services are started once for every phase below (and stopped at the end if
# this run started them).
if [ -z "${ABEV_TEST_WITH_SERVICES:-}" ]; then
  ABEV_TEST_WITH_SERVICES=1 exec scripts/with-services.sh "$0" "$@"
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
scripts/with-services.sh cargo test --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?
make --no-print-directory validate || status=$?
scripts/with-services.sh scripts/schemathesis.sh || status=$?
# The page's linter: a failure fails the run (and counts as one failed test).
if make --no-print-directory lint; then echo "# lint pass" >>"$log"; else status=1; echo "# fail 1" >>"$log"; fi
# The web page in headless Chromium; node:test ends with "# pass N" / "# fail N".
scripts/test-browser.sh 2>&1 | tee -a "$log" || status=$?
read -r passed failed < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;?$/) p += $i; if ($(i+1) ~ /^failed;?$/) f += $i } }
  /^# pass [0-9]+$/ { p += $3 } /^# fail [0-9]+$/ { f += $3 } END { print p+0, f+0 }' "$log")
echo "tests: $passed passed, $failed failed"
exit "$status"
