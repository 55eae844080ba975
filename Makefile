# The two commands that matter: `make dev` (the local cloud) and `make test` (every test).
.PHONY: dev test bench lint fmt bootstrap seed routes localstack-init release sam-build deploy

## Run the whole cloud side locally: emulator + Redis + functions + API Gateway on :3000.
## Extra flags: make dev DEV_FLAGS="--visibility-timeout 5"
dev: bootstrap
	cargo run -q -p devstack -- up $(DEV_FLAGS)

## Run every test (installs what is missing on a fresh machine).
test:
	bash scripts/test.sh

## Benchmarks with references of the same run: release cold starts (vs an SDK-only and a
## lambda_http-only binary), gateway vs function URL, cached vs uncached, saga latency.
## Table on stdout, target/bench/bench.json and bench.svg. Knobs: see scripts/bench.sh.
bench:
	bash scripts/bench.sh

## Formatting, clippy with warnings as errors, template lint.
lint: bootstrap
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	.venv/bin/cfn-lint template.yaml

fmt:
	cargo fmt --all

bootstrap:
	bash scripts/bootstrap.sh

## Sample users, products and orders in the running `make dev` stack (idempotent).
seed:
	cargo run -q -p devstack -- seed

## Routes and event source mappings, as the template declares them.
routes:
	cargo run -q -p devstack -- routes

## Regenerate the LocalStack init script from the template.
localstack-init:
	cargo run -q -p devstack -- localstack-init > localstack/init/ready.d/10-resources.sh

## Release build of every function for Lambda (arm64, Zig from .venv as cross linker):
## target/lambda/<name>/bootstrap. Needs the target once: rustup target add aarch64-unknown-linux-gnu
release: bootstrap
	PATH="$(CURDIR)/.venv/bin:$$PATH" cargo lambda build --release --arm64 $(foreach f,$(notdir $(wildcard functions/*)),--bin $(f))

## Build for Lambda (arm64, provided.al2023) with SAM; Rust builds are a SAM beta feature.
sam-build:
	sam build --beta-features

deploy: sam-build
	sam deploy --guided

## Load run through the gateway (own stack, throttling off): 300 req/s for 60 s of cached
## GET /products/{id}, then a mix with POST /orders and its accounting; target/load/*.json.
## Knobs: make load LOAD_RATE=100 LOAD_DURATION=30
load:
	bash scripts/load.sh
.PHONY: load

## Fuzz every parser of untrusted input (cargo-fuzz, nightly): FUZZ_SECONDS per target (default 300).
## One target: make fuzz FUZZ_TARGETS=jwt. Crashes land in fuzz/artifacts/<target>/.
fuzz:
	bash scripts/fuzz.sh $(or $(FUZZ_SECONDS),300) $(FUZZ_TARGETS)
.PHONY: fuzz
