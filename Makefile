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

## Formatting, clippy with warnings as errors, and the template: cfn-lint, `sam validate --lint`
## and checkov (skips, each with its reason, in .checkov.yaml).
lint:
	BOOTSTRAP_LINT=1 bash scripts/bootstrap.sh
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	.venv/bin/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 .venv/sam/bin/sam validate --lint --template template.yaml --region us-east-1
	.venv/checkov/bin/checkov --config-file .checkov.yaml

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
## target/lambda/<name>/bootstrap. Installs the arm64 target when missing.
release:
	BOOTSTRAP_DEPLOY=1 bash scripts/bootstrap.sh
	PATH="$(CURDIR)/.venv/bin:$$PATH" cargo lambda build --release --arm64 $(foreach f,$(notdir $(wildcard functions/*)),--bin $(f))

## The deploy build: `sam build` (SAM CLI from .venv/sam; BuildMethod rust-cargolambda, which
## runs `cargo lambda build --release --arm64 --bin <Binary>` per function) into
## .aws-sam/build/<LogicalId>/bootstrap. Installs SAM CLI and the arm64 target when missing.
## Measured: 37 min on 2 cores from a cold target/ (fat LTO, 22 links; see README, Deploy).
sam-build:
	BOOTSTRAP_DEPLOY=1 bash scripts/bootstrap.sh
	PATH="$(CURDIR)/.venv/bin:$$PATH" SAM_CLI_TELEMETRY=0 .venv/sam/bin/sam build --template template.yaml
	@for f in .aws-sam/build/*/bootstrap; do \
	  file "$$f" | grep -q 'ELF 64-bit.*ARM aarch64' || { echo "$$f is not an arm64 ELF: $$(file -b "$$f")"; exit 1; }; \
	done; echo "sam-build: $$(ls .aws-sam/build/*/bootstrap | wc -l) arm64 bootstraps in .aws-sam/build/"

## First deploy: asks for the stack name, region and parameters and saves them to samconfig.toml.
deploy: sam-build
	SAM_CLI_TELEMETRY=0 .venv/sam/bin/sam deploy --guided

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
