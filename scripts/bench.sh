#!/usr/bin/env bash
#: `make bench`: cached vs uncached `GET /products/{id}` through the local API Gateway, at the
#: same concurrency, with wrk. Prints requests/s, p50 and p99 of each and their ratio.
#:
#: It starts its own local cloud (stack `bench-<time>`, its own ports and its own redis-server)
#: with gateway throttling off, creates one product, then runs:
#:   cached    the cache up: after the first read every read is a Redis hit;
#:   uncached  `devstack fault redis down`: each instance's cache breaker opens, so every read
#:             goes to DynamoDB (the emulator) — the same functions, no cache.
#: A benchmark, not a test: numbers depend on the machine; nothing is asserted.
#: Knobs: BENCH_CONNECTIONS (8), BENCH_THREADS (2), BENCH_DURATION (15s), BENCH_WARMUP (3s).
set -euo pipefail
cd "$(dirname "$0")/.."

BOOTSTRAP_BENCH=1 bash scripts/bootstrap.sh

CONNECTIONS=${BENCH_CONNECTIONS:-8}
THREADS=${BENCH_THREADS:-2}
DURATION=${BENCH_DURATION:-15s}
WARMUP=${BENCH_WARMUP:-3s}
GATEWAY_PORT=${BENCH_GATEWAY_PORT:-3200}
export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}
export AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export DEVSTACK_STACK_NAME="bench-$(date +%s)"
gateway="http://127.0.0.1:$GATEWAY_PORT"
devstack=target/debug/devstack

cargo build -q --workspace --bins
mkdir -p .devstack/logs
log=.devstack/logs/bench-stack.log
ready=".devstack/ready-$DEVSTACK_STACK_NAME.json"
echo "== starting the local cloud (stack $DEVSTACK_STACK_NAME; log: $log)"
$devstack up --gateway-port "$GATEWAY_PORT" --lambda-port "${BENCH_LAMBDA_PORT:-9200}" \
  --redis-port "${BENCH_REDIS_PORT:-6480}" --proxy-port "${BENCH_PROXY_PORT:-4568}" \
  --control-port "${BENCH_CONTROL_PORT:-4598}" --payments-port "${BENCH_PAYMENTS_PORT:-4614}" --no-reload --no-throttle >"$log" 2>&1 &
stack_pid=$!
trap 'kill -TERM $stack_pid 2>/dev/null || true; wait $stack_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  [ -f "$ready" ] && break
  kill -0 "$stack_pid" 2>/dev/null || { echo "devstack exited:"; cat "$log"; exit 1; }
  sleep 1
done
[ -f "$ready" ] || { echo "devstack not ready after 300s"; tail -40 "$log"; exit 1; }

admin="Authorization: Bearer $($devstack token --sub bench-admin --groups admin)"
id=$(curl -sf -XPOST "$gateway/products" -H "$admin" -H 'Content-Type: application/json' \
  -d '{"name":"Bench gear","description":"for make bench","category":"bench","price_cents":100,"stock":1000}' |
  sed -E 's/.*"id":"([^"]+)".*/\1/')
url="$gateway/products/$id"
curl -sf "$url" >/dev/null

# run <label>: warm-up, then the measured run; prints "label rps p50 p99 non2xx".
run() {
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
  echo "$out" >>"$log"
  rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  printf '%-9s %10s %10s %10s %8s\n' "$1" "$rps" "$p50" "$p99" "${bad:-0}"
}

echo "== GET /products/{id} through the gateway: $CONNECTIONS connections, $THREADS threads, $DURATION each"
printf '%-9s %10s %10s %10s %8s\n' "" "req/s" "p50" "p99" "non-2xx"
cached=$(run cached); echo "$cached"
$devstack fault redis down >/dev/null
uncached=$(run uncached); echo "$uncached"
$devstack fault clear >/dev/null
c=$(echo "$cached" | awk '{print $2}'); u=$(echo "$uncached" | awk '{print $2}')
awk -v c="$c" -v u="$u" 'BEGIN { if (u > 0) printf "cached/uncached throughput: %.1fx\n", c / u }'
