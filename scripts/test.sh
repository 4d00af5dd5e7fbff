#!/usr/bin/env bash
# `make test`: every test of the workspace against the local services (started if needed),
# then the template's offline lint.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/with-services.sh cargo test --workspace --no-fail-fast
make --no-print-directory validate
