#!/usr/bin/env bash
# Deploys the artifacts of ONE workspace build (docs/DEPLOY.md "Build and deploy").
#
# `sam build` with BuildMethod rust-cargolambda builds each function in its own target
# directory (three fat-LTO release builds) and caches by the function's folder only, so a
# change in shared/ can ship a stale binary with `cached = true`. Instead: `make package`
# builds all three binaries in one cargo invocation (scripts/package.sh), and this script
# points each function's CodeUri at its zip in a copy of the template, then runs
# `sam deploy` on that copy. Nothing is built by SAM; nothing is cached by folder.
#
# Usage: make deploy [ARGS="--parameter-overrides ..."]   (reads samconfig.toml as sam does)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
"$root/scripts/package.sh"
# package.sh may fall back to x86_64 (it says so): deploy what it built.
arch=arm64
[ -f "target/lambda/arm64/abev-view/bootstrap.zip" ] || arch=x86_64
out="$root/target/lambda/template.$arch.yaml"
python3 - "$arch" "$out" <<'PY'
import re, sys
arch, out = sys.argv[1], sys.argv[2]
code = {"functions/ingest-orders": "abev-ingest-orders", "functions/view": "abev-view", "functions/access": "abev-access", "functions/events": "abev-events", "functions/notices": "abev-notices"}
text = open("template.yaml").read()
for folder, binary in code.items():
    line = f"CodeUri: {folder}\n"
    assert text.count(line) == 1, f"template.yaml: one {line!r}"
    text = text.replace(line, f"CodeUri: ../../target/lambda/{arch}/{binary}/bootstrap.zip\n")
open(out, "w").write(text)
PY
echo "deploy: $out (Architecture=$arch)"
sam_bin="${SAM:-sam}"
command -v "$sam_bin" >/dev/null 2>&1 || sam_bin="$root/.local/sam-venv/bin/sam"
# shellcheck disable=SC2086
"$sam_bin" deploy --template-file "$out" --parameter-overrides "Architecture=$arch" ${ARGS:-}
