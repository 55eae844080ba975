#!/usr/bin/env bash
#: The cost of the function sandbox and of IAM enforcement (issue 21): starts `make dev`'s stack
#: (debug devstack, ports of `make dev`: stop it first) once per configuration, times it to
#: ready, and measures sequential GET /orders/{id} through the gateway (scripts/sandbox_cost.py).
#: Configurations: DEVSTACK_SANDBOX=off (functions as plain cargo lambda watch runs them),
#: DEVSTACK_IAM=off (sandbox on), and both on. Needs `scripts/bootstrap.sh` and built functions.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://127.0.0.1:4566} AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
N=${COST_REQUESTS:-300}
cargo build -q -p devstack
mkdir -p .devstack/logs
for config in DEVSTACK_SANDBOX=off DEVSTACK_IAM=off DEVSTACK_IAM=on; do
  rm -f .devstack/ready-shop.json
  start=$(date +%s.%N)
  env "$config" target/debug/devstack up --no-reload >".devstack/logs/sandbox-cost.log" 2>&1 &
  pid=$!
  until [ -f .devstack/ready-shop.json ]; do
    kill -0 "$pid" 2>/dev/null || { echo "devstack exited; see .devstack/logs/sandbox-cost.log"; exit 1; }
    sleep 0.1
  done
  ready=$(date +%s.%N)
  printf '%-22s start_to_ready_s=%.2f %s\n' "$config" "$(awk "BEGIN{print $ready - $start}")" \
    "$(.venv/bin/python scripts/sandbox_cost.py http://127.0.0.1:3000 shop "$N")"
  kill -TERM "$pid"; wait "$pid" || true
done
