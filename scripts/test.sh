#!/usr/bin/env bash
# `make test`: every test of the workspace against the local services (started if needed),
# then the template's offline lint, the API fuzzing and the browser tests; ends with one
# summary line of the whole run. Every phase counts: a phase that fails without reporting
# failed tests (a test binary that does not compile or crashes, `sam validate`,
# schemathesis) adds one failure named on its own line, so the last line cannot say
# "0 failed" while something failed.
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
phase_failures=0
# count_phase NAME EXIT_STATUS LOG_OFFSET: a failed phase that reported no failed test counts once.
# Each phase's wall time is printed at the end (CI has a time limit; this says where it went).
phase_started=$SECONDS
phase_times=""
count_phase() {
  local name="$1" code="$2" from="$3"
  phase_times+="$(printf '  %-22s %5d s' "$name" $((SECONDS - phase_started)))"$'\n'
  phase_started=$SECONDS
  if [ "$code" -ne 0 ]; then
    status=1
    local reported
    reported=$(tail -c +"$from" "$log" | awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^failed;?$/) f += $i } /^# fail [0-9]+$/ { f += $3 } END { print f+0 }')
    if [ "$reported" -eq 0 ]; then
      phase_failures=$((phase_failures + 1))
      echo "phase failed: $name (exit $code)" | tee -a "$log.phases"
    fi
  fi
}
from=$(($(stat -c %s "$log") + 1)); code=0
scripts/with-services.sh cargo test --workspace --no-fail-fast 2>&1 | tee -a "$log" || code=$?
count_phase "cargo test" "$code" "$from"
code=0; make --no-print-directory validate || code=$?
count_phase "sam validate --lint" "$code" "$(($(stat -c %s "$log") + 1))"
code=0; scripts/with-services.sh scripts/schemathesis.sh || code=$?
count_phase "schemathesis" "$code" "$(($(stat -c %s "$log") + 1))"
code=0; make --no-print-directory lint || code=$?
count_phase "make lint (ESLint)" "$code" "$(($(stat -c %s "$log") + 1))"
# The web page in headless Chromium; node:test ends with "# pass N" / "# fail N".
from=$(($(stat -c %s "$log") + 1)); code=0
scripts/test-browser.sh 2>&1 | tee -a "$log" || code=$?
count_phase "browser tests" "$code" "$from"
read -r passed failed < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;?$/) p += $i; if ($(i+1) ~ /^failed;?$/) f += $i } }
  /^# pass [0-9]+$/ { p += $3 } /^# fail [0-9]+$/ { f += $3 } END { print p+0, f+0 }' "$log")
printf 'phase times:\n%s' "$phase_times"
[ -f "$log.phases" ] && cat "$log.phases" && rm -f "$log.phases"
echo "tests: $passed passed, $((failed + phase_failures)) failed"
exit "$status"
