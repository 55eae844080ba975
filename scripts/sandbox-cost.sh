#!/usr/bin/env bash
#: The cost of the function sandbox and of IAM enforcement (issue 21): starts `make dev`'s stack
#: (debug devstack, ports of `make dev`: stop it first) once per configuration, times it to
#: ready, and measures sequential GET /orders/{id} through the gateway (scripts/sandbox_cost.py).
#: Configurations: DEVSTACK_SANDBOX=off (functions as plain cargo lambda watch runs them),
#: DEVSTACK_IAM=off (sandbox on), and both on. Needs `scripts/bootstrap.sh` and built functions.
#: One start costs a few seconds and a run's p50 varies by ±15 % from start to start on 2 cores,
#: so the configurations are interleaved for COST_ROUNDS rounds (default 3) and the last lines
#: give each configuration's median p50 and its cost against the sandbox off.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://127.0.0.1:4566} AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
N=${COST_REQUESTS:-300}
ROUNDS=${COST_ROUNDS:-3}
CONFIGS=(DEVSTACK_SANDBOX=off DEVSTACK_IAM=off DEVSTACK_IAM=on)
results=$(mktemp)
trap 'rm -f "$results"' EXIT
cargo build -q -p devstack
mkdir -p .devstack/logs
for round in $(seq "$ROUNDS"); do
for config in "${CONFIGS[@]}"; do
  rm -f .devstack/ready-shop.json
  start=$(date +%s.%N)
  env "$config" target/debug/devstack up --no-reload >".devstack/logs/sandbox-cost.log" 2>&1 &
  pid=$!
  until [ -f .devstack/ready-shop.json ]; do
    kill -0 "$pid" 2>/dev/null || { echo "devstack exited; see .devstack/logs/sandbox-cost.log"; exit 1; }
    sleep 0.1
  done
  ready=$(date +%s.%N)
  line=$(.venv/bin/python scripts/sandbox_cost.py http://127.0.0.1:3000 shop "$N")
  printf 'round %s %-22s start_to_ready_s=%.2f %s\n' "$round" "$config" \
    "$(awk "BEGIN{print $ready - $start}")" "$line"
  printf '%s %s\n' "$config" "$(sed -E 's/.*"p50_ms": ([0-9.]+).*/\1/' <<<"$line")" >>"$results"
  kill -TERM "$pid"; wait "$pid" || true
done
done
median() { grep "^$1 " "$results" | cut -d' ' -f2 | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
base=$(median "${CONFIGS[0]}")
for config in "${CONFIGS[@]}"; do
  m=$(median "$config")
  printf 'median %-22s p50_ms=%s cost_vs_sandbox_off=%+.0f%%\n' "$config" "$m" "$(awk "BEGIN{print ($m / $base - 1) * 100}")"
done
