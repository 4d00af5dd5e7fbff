#!/usr/bin/env bash
# Fuzzes the local API against its own OpenAPI document with schemathesis, once per caller
# of the worked example (member, reseller, ship-to, admin-less site, Care, a stranger):
# no 5xx, every answer conforms to the document (status, schema, content type; errors are
# problem+json). Needs DynamoDB Local and moto (make test starts them). Bounded: a few
# examples per operation, about two minutes in all.
#   scripts/schemathesis.sh            ST_MAX_EXAMPLES=N to fuzz harder
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv=.local/schemathesis-venv
version=4.32.5
max_examples="${ST_MAX_EXAMPLES:-15}"

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  echo "schemathesis: installing schemathesis==$version into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

# shellcheck source=scripts/lib/seeded-host.sh
. scripts/lib/seeded-host.sh
start_seeded_host schemathesis "$root/target/schemathesis-host.log"
mary="$("$local_bin" token mary@skynet.example)"

status=0
# schemathesis and hypothesis keep their caches in the working directory: keep them in .local.
work=.local/schemathesis-run
mkdir -p "$work"
run() { # label token
  echo "schemathesis: as $1" >&2
  (cd "$work" && "$root/$venv/bin/schemathesis" run "$base/v1/openapi.json" \
    --header "Authorization: Bearer $2" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "$max_examples" \
    --seed 20261128 \
    --workers 1 \
    --request-timeout 10 \
    --suppress-health-check too_slow,filter_too_much \
    --warnings off \
    --no-color) || status=1
}
run "mary (member of SKY-1, reseller)" "$mary"
run "ted (ship-to contact of O-1)" "$("$local_bin" token ted@data.example)"
run "bill (member of ACME-1)" "$("$local_bin" token bill@acme.example)"
run "fiona (member of admin-less FARM-1)" "$("$local_bin" token fiona@farm.example)"
run "carla (Customer Care)" "$("$local_bin" token carla@care.example --care)"
run "a stranger" "$("$local_bin" token nobody@stranger.example)"
[ "$status" = 0 ] && echo "schemathesis: every caller passed" >&2 || echo "schemathesis: FAILED (see above)" >&2
exit "$status"
