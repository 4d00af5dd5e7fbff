#!/usr/bin/env bash
# `make profile`: where the bench's time goes in our own process (issue 22 part 1). Builds
# `abev-bench` with the `profiling` profile (release's optimisation and LTO, symbols kept, frame
# pointers on), runs a small bench (ABEV_BENCH_N=10000 unless set) under `perf record`, and
# folds the samples with inferno (installed into .local/cargo) into:
#   target/profile/flamegraph.svg        every sample of the bench process
#   target/profile/page-flamegraph.svg   only samples inside an HTTP handler (`abev::http::`):
#                                        the pages, details and access calls the bench times
#   target/profile/top.txt               the functions with the most samples inside handlers
# The emulator's own time (DynamoDB Local, a JVM) is not in these: a page's wait on it shows
# as the runtime parked. Needs perf (Debian's linux-perf) allowed to sample this user.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
command -v perf >/dev/null || { echo "profile: perf is required (apt-get install linux-perf)" >&2; exit 1; }
INFERNO_VERSION=0.12.8
tools="$root/.local/cargo"
if ! "$tools/bin/inferno-flamegraph" --version 2>/dev/null | grep -q "$INFERNO_VERSION"; then
  echo "profile: installing inferno $INFERNO_VERSION into .local/cargo" >&2
  cargo install --quiet --locked --root "$tools" inferno --version "$INFERNO_VERSION"
fi
target="${CARGO_TARGET_DIR:-target}"
RUSTFLAGS="${RUSTFLAGS:-} -C force-frame-pointers=yes" CARGO_TARGET_DIR="$target/profiling-fp" \
  cargo build --quiet --profile profiling -p abev-local --bin abev-bench
bin="$target/profiling-fp/profiling/abev-bench"
out="$root/target/profile"
mkdir -p "$out"
# perf follows the bench only: the services run on their own (started here if need be).
ABEV_BENCH_N="${ABEV_BENCH_N:-10000}" scripts/with-services.sh \
  perf record --quiet -F 499 --call-graph fp -o "$out/perf.data" -- "$bin" > "$out/bench.md"
perf script -i "$out/perf.data" 2>/dev/null | "$tools/bin/inferno-collapse-perf" > "$out/stacks.folded"
"$tools/bin/inferno-flamegraph" --title "abev-bench (ABEV_BENCH_N=${ABEV_BENCH_N:-10000})" < "$out/stacks.folded" > "$out/flamegraph.svg"
grep 'abev::http::' "$out/stacks.folded" > "$out/page.folded" || true
"$tools/bin/inferno-flamegraph" --title "inside the HTTP handlers" < "$out/page.folded" > "$out/page-flamegraph.svg"
# Inclusive samples per function inside the handlers (a function counted once per stack).
awk '{ n = $NF; $NF = ""; split($0, f, ";"); delete seen; for (i in f) { g = f[i]; sub(/^ +| +$/, "", g); if (g != "" && !(g in seen)) { seen[g] = 1; c[g] += n } } total += n }
     END { for (g in c) printf "%6.1f%%  %s\n", 100 * c[g] / total, g }' "$out/page.folded" | sort -rn | head -60 > "$out/top.txt"
echo "profile: $(awk '{ s += $NF } END { print s+0 }' "$out/stacks.folded") samples, $(awk '{ s += $NF } END { print s+0 }' "$out/page.folded") inside handlers; see $out/"
