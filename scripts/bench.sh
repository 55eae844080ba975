#!/usr/bin/env bash
#: `make bench`: one command for issue 13's figures, each against a reference of the same run.
#:
#: 1. Builds release binaries of every function (functions/*) and the two references
#:    (bench/sdk-floor: one DynamoDB GetItem; bench/hello-http: lambda_http alone), and a
#:    release devstack (BENCH_STACK_PROFILE=debug: a debug one).
#: 2. Starts its own local cloud (stack `bench-<time>`, its own ports, its own emulator and
#:    redis-server when nothing listens there) with gateway throttling off (--no-throttle);
#:    the stack provisions the template's tables and queues.
#: 3. scripts/bench/bench.py measures: the cold start of each release binary (init, first
#:    response, warm, peak RSS, size) with the stack's environment and emulator; the gateway vs
#:    cargo-lambda's function-URL path (wrk, interleaved); cached vs uncached reads; the saga's
#:    POST /orders -> CONFIRMED; `devstack load` when it exists. Then prints the table and the
#:    issue's targets (PASS/MISS), and writes target/bench/bench.json and target/bench/bench.svg.
#: A benchmark, not a test: exit 0 when it ran, whatever the figures.
#:
#: Knobs: BENCH_RUNS (20 cold starts per binary), BENCH_CONNECTIONS (8), BENCH_THREADS (2),
#: BENCH_DURATION (10 s per wrk run), BENCH_WARMUP (2 s), BENCH_ROUNDS (2: A B A B),
#: BENCH_ORDERS (30), BENCH_LOAD_RATE (300), BENCH_LOAD_DURATION (20), BENCH_SECTIONS
#: (coldstart,gateway,cache,saga,load), BENCH_OUT (target/bench), BENCH_RELEASE_TARGET_DIR
#: (cargo's target dir), BENCH_STACK_PROFILE (release: devstack and the stack's functions release,
#: as make load runs them; debug: both debug), ports BENCH_{GATEWAY,LAMBDA,EMULATOR,REDIS,PROXY,CONTROL,PAYMENTS}_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."

BOOTSTRAP_BENCH=1 bash scripts/bootstrap.sh

GATEWAY_PORT=${BENCH_GATEWAY_PORT:-3200}
export AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export DEVSTACK_STACK_NAME="bench-$(date +%s)"
out=${BENCH_OUT:-target/bench}
python=.venv/bin/python

target_dir=$(cargo metadata --no-deps --format-version 1 | "$python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
release_dir=${BENCH_RELEASE_TARGET_DIR:-$target_dir}
functions=$(for f in functions/*/; do basename "$f"; done)

echo "== release build of $(echo $functions | wc -w) functions + sdk-floor + hello-http (target: $release_dir/release)"
# Every binary of the workspace's default members: the functions and the two references. One
# invocation, so the dependencies build once (with fat LTO each binary still links for minutes).
# Not `-p` per package nor `--workspace`: features resolved as `cargo lambda watch` (the stack)
# and `make release` resolve them (the root Cargo.toml's `default-members`), one artifact each.
CARGO_TARGET_DIR=$release_dir cargo build -q --release --bins
# The stack (the gateway, the saga, the load run) runs as `make load` does: devstack and the
# functions (`devstack up --release`, the same artifacts as above) both release, so the gateway and
# the function-URL path compare in one build profile. BENCH_STACK_PROFILE=debug: both debug.
stack_profile=${BENCH_STACK_PROFILE:-release}
if [ "$stack_profile" = release ]; then
  echo "== release build of devstack"
  CARGO_TARGET_DIR=$release_dir cargo build -q --release -p devstack
  devstack=$release_dir/release/devstack
  stack_target=$release_dir
  up_flags=(--release)
else
  echo "== debug build of devstack (the stack builds its functions itself)"
  cargo build -q -p devstack
  devstack=$target_dir/debug/devstack
  stack_target=$target_dir
  up_flags=()
fi

mkdir -p .devstack/logs "$out"
log=.devstack/logs/bench-stack.log
ready=".devstack/ready-$DEVSTACK_STACK_NAME.json"
echo "== starting the local cloud (stack $DEVSTACK_STACK_NAME; log: $log)"
CARGO_TARGET_DIR=$stack_target $devstack up --gateway-port "$GATEWAY_PORT" --lambda-port "${BENCH_LAMBDA_PORT:-9200}" \
  --emulator-port "${BENCH_EMULATOR_PORT:-4573}" \
  --redis-port "${BENCH_REDIS_PORT:-6480}" --proxy-port "${BENCH_PROXY_PORT:-4568}" \
  --control-port "${BENCH_CONTROL_PORT:-4598}" --payments-port "${BENCH_PAYMENTS_PORT:-4614}" \
  --no-reload --no-throttle "${up_flags[@]}" >"$log" 2>&1 &
stack_pid=$!
trap 'kill -TERM $stack_pid 2>/dev/null || true; wait $stack_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  [ -f "$ready" ] && break
  kill -0 "$stack_pid" 2>/dev/null || { echo "devstack exited:"; tail -40 "$log"; exit 1; }
  sleep 1
done
[ -f "$ready" ] || { echo "devstack not ready after 600 s"; tail -40 "$log"; exit 1; }

# shellcheck disable=SC2086 # one name per function
"$python" scripts/bench/bench.py --ready "$ready" --env-file ".devstack/functions-$DEVSTACK_STACK_NAME.env" \
  --devstack "$devstack" --stack-build "$stack_profile" --release-dir "$release_dir/release" --functions $functions --out "$out" \
  --runs "${BENCH_RUNS:-20}" --connections "${BENCH_CONNECTIONS:-8}" --threads "${BENCH_THREADS:-2}" \
  --duration "${BENCH_DURATION:-10}" --warmup "${BENCH_WARMUP:-2}" --rounds "${BENCH_ROUNDS:-2}" \
  --orders "${BENCH_ORDERS:-30}" --load-rate "${BENCH_LOAD_RATE:-300}" --load-duration "${BENCH_LOAD_DURATION:-20}" \
  --sections "${BENCH_SECTIONS:-coldstart,gateway,cache,saga,load}"
