#!/usr/bin/env bash
# Installs the deployment tooling into .local/ (git-ignored), idempotently:
#   .local/sam-venv     aws-sam-cli from PyPI (bundles cfn-lint; `sam validate --lint` runs offline)
#   .local/lambda-venv  cargo-lambda from PyPI (brings zig for cross-compiling to Lambda)
# Usage: scripts/install-sam.sh [sam|lambda|all]   (default: all)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
local_dir="$root/.local"
what="${1:-all}"
mkdir -p "$local_dir"

# Pinned so CI and every developer lint with the same rules; bump deliberately.
SAM_VERSION="${ABEV_SAM_VERSION:-1.170.0}"
CARGO_LAMBDA_VERSION="${ABEV_CARGO_LAMBDA_VERSION:-1.9.2}"

command -v python3 >/dev/null 2>&1 || { echo "install-sam: python3 is required" >&2; exit 1; }

make_venv() { # dir
  if [ ! -x "$1/bin/pip" ]; then
    python3 -m venv "$1" || { echo "install-sam: python3 -m venv failed (apt-get install python3-venv)" >&2; exit 1; }
  fi
}

if [ "$what" = all ] || [ "$what" = sam ]; then
  venv="$local_dir/sam-venv"
  if [ -x "$venv/bin/sam" ] && "$venv/bin/sam" --version 2>/dev/null | grep -q "$SAM_VERSION"; then
    :
  else
    echo "install-sam: installing aws-sam-cli==$SAM_VERSION into $venv"
    make_venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "aws-sam-cli==$SAM_VERSION"
  fi
fi

if [ "$what" = all ] || [ "$what" = lambda ]; then
  venv="$local_dir/lambda-venv"
  if [ -x "$venv/bin/cargo-lambda" ] && "$venv/bin/cargo-lambda" lambda --version 2>/dev/null | grep -q "$CARGO_LAMBDA_VERSION"; then
    :
  else
    echo "install-sam: installing cargo-lambda==$CARGO_LAMBDA_VERSION into $venv"
    make_venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "cargo-lambda==$CARGO_LAMBDA_VERSION"
  fi
fi
