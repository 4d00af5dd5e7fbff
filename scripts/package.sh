#!/usr/bin/env bash
# Builds the three Lambda functions as deployable zips with cargo-lambda (from PyPI; it
# brings zig and cross-compiles, so no cross toolchain or Docker is needed):
#   target/lambda/<arch>/<binary>/bootstrap.zip   for abev-ingest-orders, abev-view, abev-access
#
# Usage: scripts/package.sh            (arm64, the template's default Architecture)
#        ABEV_ARCH=x86_64 scripts/package.sh
# The arm64 standard library comes from `rustup target add aarch64-unknown-linux-gnu`; when
# that cannot be had, the script says so and builds x86_64 instead: deploy that build with
# the parameter Architecture=x86_64.
#
# The build uses its own target directory (target/lambda-build) so that a
# release build (~14 min on 2 cores: fat LTO) never holds the lock of the dev/test target directory.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

BINARIES=(abev-ingest-orders abev-view abev-access abev-events abev-notices)
arch="${ABEV_ARCH:-arm64}"

"$root/scripts/install-sam.sh" lambda
# cargo-lambda finds zig through the venv's python (package ziglang).
export PATH="$root/.local/lambda-venv/bin:$PATH"

command -v cargo >/dev/null 2>&1 || { echo "package: cargo is required (rustup.rs)" >&2; exit 1; }

have_target() { [ -d "$(rustc --print sysroot)/lib/rustlib/$1/lib" ]; }

case "$arch" in
  arm64)
    triple=aarch64-unknown-linux-gnu
    if ! have_target "$triple"; then
      echo "package: adding the $triple standard library (rustup target add $triple)"
      if ! { command -v rustup >/dev/null 2>&1 && rustup target add "$triple"; } || ! have_target "$triple"; then
        cat >&2 <<MSG
package: ************************************************************************
package: the arm64 Rust standard library ($triple) is not installed and
package: 'rustup target add $triple' failed (no rustup, or its download server is
package: unreachable from this machine). Building x86_64 instead, into
package: target/lambda/x86_64. Deploy THAT build with the matching parameter:
package:     sam deploy ... --parameter-overrides Architecture=x86_64
package: (an arm64 binary on an x86_64 function, or the reverse, fails at cold start
package: with Runtime.InvalidEntrypoint / exec format error).
package: ************************************************************************
MSG
        arch=x86_64
      fi
    fi
    ;;
  x86_64) ;;
  *) echo "package: ABEV_ARCH must be arm64 or x86_64, not '$arch'" >&2; exit 2 ;;
esac

case "$arch" in
  arm64) arch_flag=--arm64 ;;
  x86_64) arch_flag=--x86-64 ;;
esac

lambda_dir="$root/target/lambda/$arch"
export CARGO_TARGET_DIR="${ABEV_PACKAGE_TARGET_DIR:-$root/target/lambda-build}"
bin_flags=()
for b in "${BINARIES[@]}"; do bin_flags+=(--bin "$b"); done

cmd=(cargo lambda build --release "$arch_flag" --output-format zip --lambda-dir "$lambda_dir" "${bin_flags[@]}")
echo "package: ${cmd[*]}"
start=$(date +%s)
"${cmd[@]}"
end=$(date +%s)

echo "package: built for $arch in $((end - start)) s (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
printf 'package: %-20s %12s %14s  %s\n' binary "zip bytes" "bootstrap bytes" path
for b in "${BINARIES[@]}"; do
  zip="$lambda_dir/$b/bootstrap.zip"
  [ -f "$zip" ] || { echo "package: missing $zip" >&2; exit 1; }
  zip_bytes=$(stat -c %s "$zip")
  raw_bytes=$(python3 -c 'import sys, zipfile; print(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist()))' "$zip")
  printf 'package: %-20s %12s %14s  %s\n' "$b" "$zip_bytes" "$raw_bytes" "${zip#"$root"/}"
done
if [ "$arch" != arm64 ]; then
  echo "package: NOTE these are $arch zips: deploy with --parameter-overrides Architecture=$arch"
fi
