#!/usr/bin/env bash
# Runs a command with DynamoDB Local and moto up: starts them if they are not running and
# stops afterwards only what it started.   scripts/with-services.sh CMD [ARGS...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
had_services=false
if [ -f "$root/.local/run/dynamodb.pid" ] || [ -f "$root/.local/run/sqs.pid" ]; then had_services=true; fi
"$root/scripts/services.sh" start >&2
cleanup() { $had_services || "$root/scripts/services.sh" stop >&2; }
trap cleanup EXIT
"$@"
