#!/usr/bin/env bash
#: `make load`: a bounded load run through the local API Gateway with `devstack load`:
#: cached `GET /products/{id}` (scenario get-product), then a mix with `POST /orders` (scenario
#: mix: every placed order must settle, none lost or doubled, stock, reservations and charges
#: must add up). Prints each summary, writes target/load/<scenario>.json, and fails when a run
#: had an error or its accounting failed.
#:
#: It starts its own local cloud (stack `load-<time>`, its own ports and redis-server) with
#: route throttling off (`--no-throttle`: the template's 50 requests/s per route would answer
#: 429), and stops it at the end.
#: Release builds by default (devstack, and the functions through `devstack up --release`): a debug
#: function spends several ms of CPU per request, which on a 2-core machine caps the stack near
#: 120 requests/s. The first release build takes a while (LTO, every function).
#: Knobs: LOAD_RATE (300 requests/s, get-product), LOAD_MIX_RATE (30 requests/s, mix: one request
#: in ten is an order, and every order's saga runs through the one moto server), LOAD_DURATION
#: (60 s), LOAD_SCENARIOS ("get-product mix"),
#: LOAD_ORDER_EVERY (10: one request in 10 of the mix is an order), LOAD_PROFILE (release|debug).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh

RATE=${LOAD_RATE:-300}
MIX_RATE=${LOAD_MIX_RATE:-30}
DURATION=${LOAD_DURATION:-60}
SCENARIOS=${LOAD_SCENARIOS:-get-product mix}
ORDER_EVERY=${LOAD_ORDER_EVERY:-10}
GATEWAY_PORT=${LOAD_GATEWAY_PORT:-3400}
export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}
export AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export DEVSTACK_STACK_NAME="load-$(date +%s)"
export DEVSTACK_GATEWAY="http://127.0.0.1:$GATEWAY_PORT"
target=${CARGO_TARGET_DIR:-target}
PROFILE=${LOAD_PROFILE:-release}
if [ "$PROFILE" = release ]; then
  echo "== cargo build --release (devstack and every function; the first time takes a while)"
  cargo build -q --release -p devstack
  devstack=$target/release/devstack
  up_flags=(--release)
else
  cargo build -q --bins  # the functions, as the stack builds them (default-members)
  cargo build -q -p devstack
  devstack=$target/debug/devstack
  up_flags=()
fi
mkdir -p .devstack/logs target/load
log=.devstack/logs/load-stack.log
ready=".devstack/ready-$DEVSTACK_STACK_NAME.json"
echo "== starting the local cloud (stack $DEVSTACK_STACK_NAME; log: $log)"
$devstack up --gateway-port "$GATEWAY_PORT" --lambda-port "${LOAD_LAMBDA_PORT:-9400}" \
  --redis-port "${LOAD_REDIS_PORT:-6393}" --proxy-port "${LOAD_PROXY_PORT:-4766}" \
  --control-port "${LOAD_CONTROL_PORT:-4767}" --payments-port "${LOAD_PAYMENTS_PORT:-4768}" \
  --no-reload --no-throttle "${up_flags[@]}" >"$log" 2>&1 &
stack_pid=$!
trap 'kill -TERM $stack_pid 2>/dev/null || true; wait $stack_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 1800); do
  [ -f "$ready" ] && break
  kill -0 "$stack_pid" 2>/dev/null || { echo "devstack exited:"; cat "$log"; exit 1; }
  sleep 1
done
[ -f "$ready" ] || { echo "devstack not ready after 1800s"; tail -40 "$log"; exit 1; }

status=0
for scenario in $SCENARIOS; do
  rate=$RATE
  if [ "$scenario" = mix ]; then rate=$MIX_RATE; fi
  echo "== devstack load --scenario $scenario --rate $rate --duration $DURATION (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  $devstack load --scenario "$scenario" --rate "$rate" --duration "$DURATION" \
    --order-every "$ORDER_EVERY" --json "target/load/$scenario.json" || status=$?
done
echo "== reports: target/load/*.json"
exit "$status"
