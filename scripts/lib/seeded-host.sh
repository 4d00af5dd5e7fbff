# Sourced, not run: a local host of its own with the spec §2 worked example ingested, for
# the test scripts that drive the API from outside (scripts/schemathesis.sh,
# scripts/test-browser.sh).
#   start_seeded_host NAME LOG [PORT]
# builds abev-local (with the workspace's other targets), serves a stack named after NAME on
# PORT (a free one by default), seeds the worked example and waits until it is ingested. Sets `base` (the URL) and
# `local_bin`; the host is stopped when the calling script exits. Needs DynamoDB Local and
# moto (scripts/with-services.sh).

start_seeded_host() {
  local name=$1 log=$2 port=${3:-}
  # Built as `cargo test --workspace` builds (every target, so the same feature set: the
  # tests' tokio `test-util` and dev-dependencies change the features of most crates): after
  # the test phase of `make test` this only links; `-p abev-local` alone rebuilt ~300 crates.
  nice -n 10 "${CARGO:-cargo}" build --quiet --workspace --all-targets
  local_bin=target/debug/abev-local
  [ -n "$port" ] || port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
  local stack="$name-$(date +%s)-$$"
  base="http://127.0.0.1:$port"
  "$local_bin" --stack "$stack" up --port "$port" --retry-after 1 --sweep-every 3600 >"$log" 2>&1 &
  seeded_host_pid=$!
  trap 'kill "$seeded_host_pid" 2>/dev/null || true; wait "$seeded_host_pid" 2>/dev/null || true' EXIT

  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$base/v1/openapi.json" 2>/dev/null && break
    kill -0 "$seeded_host_pid" 2>/dev/null || { cat "$log" >&2; echo "$name: the local host stopped; see $log" >&2; exit 1; }
    sleep 0.2
  done
  "$local_bin" --stack "$stack" seed >/dev/null

  # Ingested when mary sees her 8 entitlements (S1-S8) and bill his 4 (S1-S3 and O-5's S9).
  local mary bill i
  mary="$("$local_bin" token mary@skynet.example)"
  bill="$("$local_bin" token bill@acme.example)"
  for i in $(seq 1 300); do
    [ "$(seen "$mary")" = 8 ] && [ "$(seen "$bill")" = 4 ] && return 0
    sleep 0.2
  done
  cat "$log" >&2
  echo "$name: the worked example was not ingested within 60 s; see $log" >&2
  exit 1
}

# How many entitlements the bearer of token $1 sees (0 while the API cannot say).
seen() {
  curl -fsS -H "Authorization: Bearer $1" "$base/v1/me" 2>/dev/null \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["view"]["entitlements"])' 2>/dev/null || echo 0
}
