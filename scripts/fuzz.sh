#!/usr/bin/env bash
#: Fuzzing with cargo-fuzz (libFuzzer) of the parsers that read untrusted input (targets in
#: fuzz/fuzz_targets/: jwt, apigw_request, sqs_event, stream_event, cursor, template).
#:
#:   bash scripts/fuzz.sh smoke                # `make test`: build once, each target a few seconds
#:   bash scripts/fuzz.sh build                # the build alone (`make test` runs it early, niced)
#:   bash scripts/fuzz.sh [seconds] [target...] # `make fuzz`: each target `seconds` (default 300)
#:
#: Each target starts from its committed seeds (fuzz/seeds/<target>/) and grows its corpus in
#: fuzz/corpus/<target>/ (git-ignored, kept between runs). A crash (a panic, a failed property,
#: a timeout, running out of memory) stops the run with a non-zero exit; its input is in
#: fuzz/artifacts/<target>/ and reproduces with
#:   cargo +nightly fuzz run -s none -a <target> fuzz/artifacts/<target>/<file>
#: (from the repository root, or `cd fuzz` and drop the `fuzz/` prefix).
#:
#: Built without a sanitizer (`-s none`): the code is safe Rust (`unsafe_code = "forbid"`), so
#: what we hunt is panics and broken properties, not memory errors; AddressSanitizer would make
#: the build and every run slower for nothing. Built with debug assertions (`-a`), so that
#: integer overflow panics as it does in a debug build.
#: Needs the nightly toolchain and cargo-fuzz; BOOTSTRAP_FUZZ=1 bootstrap installs both.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

TARGETS=(jwt apigw_request sqs_event stream_event cursor template)
# Seconds per target in the smoke run (`make test`).
SMOKE_SECONDS=${FUZZ_SMOKE_SECONDS:-10}

mode=${1:-300}
build_only=
if [ "$mode" = build ]; then
  # `fuzz.sh build`: only the build (make test starts it early, in the background).
  build_only=1
  seconds=0
  shift || true
elif [ "$mode" = smoke ]; then
  seconds=$SMOKE_SECONDS
  shift || true
else
  [ $# -eq 0 ] || shift
  seconds=$mode
fi
case "$seconds" in
  '' | *[!0-9]*) echo "usage: $0 build | $0 smoke | $0 [seconds] [target...]" >&2; exit 2 ;;
esac
[ $# -eq 0 ] || TARGETS=("$@")

if [ -z "${FUZZ_NO_BOOTSTRAP:-}" ]; then
  BOOTSTRAP_FUZZ=1 bash scripts/bootstrap.sh
fi

# One build flavour for build and run, or `cargo fuzz run` rebuilds everything.
FLAGS=(--sanitizer none --debug-assertions)

echo "== cargo +nightly fuzz build (${TARGETS[*]})"
start=$(date +%s)
(cd fuzz && cargo +nightly fuzz build "${FLAGS[@]}")
echo "== fuzz build: $(($(date +%s) - start)) s"
[ -z "$build_only" ] || exit 0

status=0
for target in "${TARGETS[@]}"; do
  corpus="$root/fuzz/corpus/$target"
  seeds="$root/fuzz/seeds/$target"
  artifacts="$root/fuzz/artifacts/$target"
  mkdir -p "$corpus" "$seeds" "$artifacts"
  echo "== fuzz $target: ${seconds} s (corpus fuzz/corpus/$target, seeds fuzz/seeds/$target)"
  # The full libFuzzer log, outside the artifacts (cargo fuzz lists every file there as a crash).
  log="$root/target/fuzz-logs/$target.log"
  mkdir -p "$(dirname "$log")"
  # New inputs go to the first directory (the git-ignored corpus); seeds are only read.
  # -timeout: an input taking over 10 s is a hang, reported as a crash.
  if (cd fuzz && cargo +nightly fuzz run "${FLAGS[@]}" "$target" "$corpus" "$seeds" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/") >"$log" 2>&1; then
    # libFuzzer's summary: the last status line and the final stats.
    grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1 || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" || true
    echo "   corpus: $(find "$corpus" -type f | wc -l) files"
  else
    status=1
    echo "!! fuzz $target FAILED; the end of its log ($log):"
    tail -n 60 "$log"
    echo "!! reproduce: cargo +nightly fuzz run ${FLAGS[*]} $target fuzz/artifacts/$target/<crash-file> (in fuzz/)"
  fi
done
exit "$status"
