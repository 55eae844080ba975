#!/usr/bin/env bash
#: `make test`: installs what is missing, lints the template, starts the local cloud ONCE
#: (its own stack name and ports, so it can run beside `make dev`), runs every test with
#: cargo-nextest — unit, handler, emulator-backed and end-to-end through the emulated API
#: Gateway — and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s) # the start of the step `lap` (below) times next

# BOOTSTRAP_BROWSER=1: also chromium, node and playwright-core, for the console's browser test
# (infra/tests/console.rs, run with the others below). BOOTSTRAP_FUZZ=1: the nightly toolchain
# and cargo-fuzz, for the fuzz smoke step at the end.
BOOTSTRAP_BROWSER=1 BOOTSTRAP_FUZZ=1 bash scripts/bootstrap.sh

echo "== cfn-lint template.yaml"
.venv/bin/cfn-lint template.yaml

export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}
export AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export DEVSTACK_STACK_NAME="e2e-$(date +%s)-$$"
GATEWAY_PORT=${TEST_GATEWAY_PORT:-3100}
LAMBDA_PORT=${TEST_LAMBDA_PORT:-9100}
# The test stack owns its redis-server (the outage tests stop it), fault proxy and control API.
REDIS_PORT=${TEST_REDIS_PORT:-6390}
PROXY_PORT=${TEST_PROXY_PORT:-4569}
CONTROL_PORT=${TEST_CONTROL_PORT:-4597}
# The local payment provider's instances: 4612, 4613 (make dev uses 4610, 4611; make bench 4614+).
PAYMENTS_PORT=${TEST_PAYMENTS_PORT:-4612}
export DEVSTACK_GATEWAY="http://127.0.0.1:$GATEWAY_PORT"
# shared's cache tests use the test stack's redis-server, under their own key prefixes.
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

# Wall-clock seconds of each step, printed as `== took: <step> <s> s` and summed up at the end.
took=()
lap() { # lap STEP: the seconds since the previous lap
  local now
  now=$(date +%s)
  took+=("$1 $((now - t0)) s")
  echo "== took: $1 $((now - t0)) s"
  t0=$now
}
lap bootstrap+cfn-lint

echo "== cargo build (the functions as the stack builds them, devstack, the tests)"
# `--bins` without `-p`: the default members' feature resolution, the one `devstack up` and
# `cargo lambda watch` use (root Cargo.toml), so the stack starts without a rebuild.
cargo build --bins
lap build-functions
cargo build -p devstack
lap build-devstack
cargo nextest run --workspace --no-run
lap build-tests

mkdir -p .devstack/logs
log=.devstack/logs/test-stack.log
ready=".devstack/ready-$DEVSTACK_STACK_NAME.json"
echo "== starting the local cloud (stack $DEVSTACK_STACK_NAME; log: $log)"
# Short visibility timeout: failed records come back (and reach the DLQ) in seconds.
target/debug/devstack up --gateway-port "$GATEWAY_PORT" --lambda-port "$LAMBDA_PORT" \
  --redis-port "$REDIS_PORT" --proxy-port "$PROXY_PORT" --control-port "$CONTROL_PORT" \
  --payments-port "$PAYMENTS_PORT" --visibility-timeout 2 --no-reload >"$log" 2>&1 &
stack_pid=$!
stop_stack() {
  if kill -0 "$stack_pid" 2>/dev/null; then
    kill -TERM "$stack_pid" 2>/dev/null || true
    wait "$stack_pid" 2>/dev/null || true
  fi
}
trap stop_stack EXIT

for _ in $(seq 1 300); do
  [ -f "$ready" ] && break
  if ! kill -0 "$stack_pid" 2>/dev/null; then
    echo "devstack exited before it was ready:"; cat "$log"; exit 1
  fi
  sleep 1
done
[ -f "$ready" ] || { echo "devstack not ready after 300s:"; cat "$log"; exit 1; }
lap stack-start

# Each phase's output is also kept, so that the very end of the run (all a CI log may keep)
# names what failed: the phases and their failed tests.
results=target/test-results
rm -rf "$results" && mkdir -p "$results"
status=0
failed=()
phase() { # phase NAME COMMAND...: runs a test phase, teeing its output to $results/NAME.log
  local name=$1 rc=0
  shift
  "$@" 2>&1 | tee "$results/$name.log" || rc=$?
  if [ "$rc" -ne 0 ]; then
    status=$rc
    failed+=("$name (exit $rc)")
  fi
}

echo "== cargo nextest run (all tests but the outage ones, including those needing the local cloud)"
phase main cargo nextest run --workspace --run-ignored all --no-fail-fast -E 'not (binary(outage) | binary(payments_outage) | binary(schemathesis) | binary(load) | test(=a_modified_template_is_denied_timed_out_and_limited_as_aws_would))'
lap main
# schemathesis (infra/tests/schemathesis.rs) and the bounded load run (infra/tests/load.rs)
# alone, one after the other: their requests stay under the template's per-route throttling
# only when no other test shares the routes.
echo "== cargo nextest run (schemathesis against the gateway's /openapi.json, then the load run; alone)"
phase schemathesis-load cargo nextest run --workspace --run-ignored all --no-fail-fast --test-threads 1 --success-output final -E 'package(devstack) & (binary(schemathesis) | binary(load))'
lap schemathesis-load
# A second stack from a modified template copy (infra/tests/fidelity.rs: IAM denials, Timeout,
# MemorySize, payload limits; its timing checks need the machine), then the outage tests, which
# take the stack's Redis and emulator away: alone, one at a time, last.
echo "== cargo nextest run (cloud fidelity on a modified template; outage tests: Redis, the emulator and the payment provider taken down, one at a time)"
phase outage cargo nextest run --workspace --run-ignored all --no-fail-fast --test-threads 1 --success-output final -E 'package(devstack) & (test(=a_modified_template_is_denied_timed_out_and_limited_as_aws_would) | binary(outage) | binary(payments_outage))'
lap outage
if [ "$status" -ne 0 ]; then
  echo "== tests failed; last 80 lines of the local cloud's log ($log):"
  tail -n 80 "$log"
fi
stop_stack

# The fuzz targets (fuzz/), built once and run a few seconds each: a crash fails the run.
echo "== fuzz smoke (scripts/fuzz.sh smoke)"
phase fuzz-smoke env FUZZ_NO_BOOTSTRAP=1 bash scripts/fuzz.sh smoke
lap fuzz-smoke
echo "== time by step: ${took[*]/%/;}"

if [ "$status" -ne 0 ]; then
  echo "== make test FAILED. Phases that failed: ${failed[*]}"
  echo "== failed tests (each phase's output: $results/<phase>.log):"
  grep -hE '^ +(FAIL|TIMEOUT|SIGSEGV|SIGABRT|SIGKILL|LEAK-FAIL) \[' "$results"/*.log | sort -u | head -n 40 || true
  grep -h '^!! fuzz .* FAILED' "$results"/*.log || true
  echo "== their panics:"
  grep -h -A3 "panicked at" "$results"/*.log | cut -c1-300 | head -n 60 || true
fi
exit "$status"
