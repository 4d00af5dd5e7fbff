#!/usr/bin/env bash
# Cold start-to-ready time of each packaged function, measured locally: the bootstrap
# binary is started against a stub Lambda Runtime API, and "ready" is the moment it asks
# for its first invocation (GET /2018-06-01/runtime/invocation/next), i.e. after its
# start-up work (config, SDK clients, logging). Not Lambda's own cold start (no download,
# no sandbox set-up, no network to AWS), but the part of it that our code owns.
#
# Columns: wall time from start to ready (min, median, p90) and the median CPU time (user +
# system) the process used until then, which stays meaningful on a loaded machine.
# Usage: scripts/bench-coldstart.sh [arch] [runs]   (defaults: this machine's arch, 20)
# Needs the zips from `scripts/package.sh` for an architecture this machine can execute:
#   ABEV_ARCH=x86_64 scripts/package.sh && scripts/bench-coldstart.sh x86_64
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
case "$(uname -m)" in aarch64|arm64) native=arm64 ;; *) native=x86_64 ;; esac
arch="${1:-$native}"
runs="${2:-20}"
if [ "$arch" != "$native" ]; then
  echo "bench-coldstart: this machine runs $native binaries, not $arch" >&2
  exit 2
fi
# ABEV_LAMBDA_DIR points at another <dir>/<binary>/bootstrap.zip tree (e.g. a host build).
exec python3 - "${ABEV_LAMBDA_DIR:-$root/target/lambda/$arch}" "$runs" <<'PY'
import http.server, os, statistics, subprocess, sys, tempfile, threading, time, zipfile

lambda_dir, runs = sys.argv[1], int(sys.argv[2])
binaries = ["abev-ingest-orders", "abev-view", "abev-access"]
ready = threading.Event()

class RuntimeApi(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/2018-06-01/runtime/invocation/next"):
            self.server.ready_at = time.perf_counter()
            ready.set()
        self.send_response(503)  # never hand out an event; the process is killed next
        self.end_headers()
    def log_message(self, *a):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
threading.Thread(target=server.serve_forever, daemon=True).start()
port = server.server_address[1]

env = dict(os.environ)
env.update({
    "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
    "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
    "AWS_LAMBDA_LOG_STREAM_NAME": "bench", "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "ABEV_TABLE": "abev",
    "ABEV_ORDERS_DLQ_URL": "http://127.0.0.1:9/000000000000/abev-orders-dlq",
    "ABEV_CARE_QUEUE_URL": "http://127.0.0.1:9/000000000000/abev-care",
    "ABEV_CURSOR_SECRET": "bench-cursor-secret-bench-cursor-secret",
    "ABEV_ADMIN_SLA_DAYS": "14", "RUST_LOG": "error",
})

print(f"{'binary':20} {'runs':>4} {'min ms':>8} {'median ms':>10} {'p90 ms':>8} {'cpu ms':>8}")
with tempfile.TemporaryDirectory() as tmp:
    for b in binaries:
        zpath = os.path.join(lambda_dir, b, "bootstrap.zip")
        if not os.path.exists(zpath):
            print(f"{b:20} missing {zpath} (run scripts/package.sh)")
            continue
        exe = os.path.join(tmp, b)
        with zipfile.ZipFile(zpath) as z, open(exe, "wb") as out:
            out.write(z.read("bootstrap"))
        os.chmod(exe, 0o755)
        times, cpu, problem = [], [], None
        for _ in range(runs + 1):  # the first run warms the page cache and is dropped
            ready.clear()
            start = time.perf_counter()
            proc = subprocess.Popen([exe], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            while not ready.wait(0.005):
                if proc.poll() is not None or time.perf_counter() - start > 10:
                    break
            if not ready.is_set():
                proc.kill()
                err = proc.communicate()[1].decode(errors="replace").strip().splitlines()
                problem = f"exited (status {proc.returncode}) before asking for an invocation: {err[-1] if err else 'no output'}"
                break
            times.append((server.ready_at - start) * 1000)
            proc.kill()
            # CPU time (user + system) the process used, up to its kill right after "ready":
            # unlike wall time, it hardly moves when other work loads the machine.
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = status
            cpu.append((usage.ru_utime + usage.ru_stime) * 1000)
        if problem:
            print(f"{b:20} {problem}")
            continue
        times, cpu = times[1:], cpu[1:]
        p90 = sorted(times)[max(0, int(len(times) * 0.9) - 1)]
        print(f"{b:20} {len(times):>4} {min(times):>8.1f} {statistics.median(times):>10.1f} {p90:>8.1f} {statistics.median(cpu):>8.1f}")
server.shutdown()
PY
