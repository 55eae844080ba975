#!/usr/bin/env bash
#: Installs what the local cloud and the tests need, only when missing:
#:   - .venv/ (project-local): moto[server] (AWS API emulator), cargo-lambda, cfn-lint, awscli
#:   - redis-server (Debian package; needs root or sudo); wrk too when BOOTSTRAP_BENCH=1
#:   - mold (Debian package, optional: scripts/host-gcc links with it when present, else with ld)
#:   - with BOOTSTRAP_BROWSER=1 (`make test`): chromium, node and npm (Debian packages) and
#:     infra/console/node_modules (npm ci: playwright-core) for the console's browser test
#:   - cargo-nextest (cargo install, when not on PATH)
#:   - with BOOTSTRAP_LINT=1 (`make lint`): .venv/sam (aws-sam-cli, for `sam validate --lint`)
#:     and .venv/checkov (checkov)
#:   - with BOOTSTRAP_DEPLOY=1 (`make sam-build`, `make release`): .venv/sam and the Rust target
#:     aarch64-unknown-linux-gnu (rustup); the cross linker is Zig, from the ziglang wheel that
#:     cargo-lambda brings into .venv
# Idempotent; safe to run before every `make dev` / `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
# Pinned so a fresh clone gets what CI tested. Bump deliberately.
PY_PACKAGES=("moto[server]==5.2.5" "cargo-lambda==1.9.2" "cfn-lint==1.51.0" "awscli==1.45.11" "schemathesis==4.32.5")
# Deploy and lint tools, each in its own venv under .venv/: their pins cannot share one with the
# above or with each other (aws-sam-cli 1.170.0 pins boto3==1.43.108 and cfn-lint >=1.52,<1.59;
# checkov 3.3.30 pins boto3==1.35.49).
SAM_PACKAGES=("aws-sam-cli==1.170.0")
CHECKOV_PACKAGES=("checkov==3.3.30")

say() { printf '\033[1mbootstrap:\033[0m %s\n' "$*" >&2; }

# --- Python tools in a project-local venv --------------------------------------------------
PYTHON=${PYTHON:-$(command -v python3 || true)}
if [ -z "$PYTHON" ]; then
  say "python3 is required (Debian: apt-get install python3 python3-venv)"; exit 1
fi
venv_install() { # venv_install <dir> <package>...: the venv <dir> with exactly these pins, once
  local dir=$1; shift
  local stamp
  stamp="$dir/.installed-$(printf '%s\n' "$@" | sha256sum | cut -c1-12)"
  [ ! -f "$stamp" ] || return 0
  say "installing $* into $dir"
  [ -x "$dir/bin/python" ] || "$PYTHON" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
  rm -f "$dir"/.installed-*; touch "$stamp"
}
venv_install "$VENV" "${PY_PACKAGES[@]}"
if [ "${BOOTSTRAP_LINT:-}" = 1 ] || [ "${BOOTSTRAP_DEPLOY:-}" = 1 ]; then
  venv_install "$VENV/sam" "${SAM_PACKAGES[@]}"
fi
[ "${BOOTSTRAP_LINT:-}" != 1 ] || venv_install "$VENV/checkov" "${CHECKOV_PACKAGES[@]}"

# --- Debian packages: redis-server (the local cache); wrk only for `make bench` --------------
apt_install() { # apt_install <command> <package>: installs <package> when <command> is missing
  command -v "$1" >/dev/null 2>&1 && return 0
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
  if command -v apt-get >/dev/null 2>&1 && { [ -z "$SUDO" ] || sudo -n true 2>/dev/null; }; then
    say "installing $2 (apt)"
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$2" >/dev/null
  else
    say "$2 is missing and cannot be installed here. Install it yourself:"
    say "  Debian/Ubuntu: sudo apt-get install $2    macOS: brew install $2"
    exit 1
  fi
}
apt_install redis-server redis-server
# mold: the faster linker scripts/host-gcc uses when present; a build works without it.
if ! command -v mold >/dev/null 2>&1; then
  (apt_install mold mold) || say "mold not installed: builds link with the system linker (slower)"
fi
[ "${BOOTSTRAP_BENCH:-}" != 1 ] || apt_install wrk wrk

# --- The console's browser test (`make test` sets BOOTSTRAP_BROWSER=1): Debian's chromium and
# node, and playwright-core from npm (pinned in infra/console/package-lock.json; it drives the
# installed chromium, so no browser download).
if [ "${BOOTSTRAP_BROWSER:-}" = 1 ]; then
  apt_install chromium chromium
  apt_install node nodejs
  apt_install npm npm
  if [ ! -d infra/console/node_modules/playwright-core ]; then
    say "installing playwright-core (npm ci --prefix infra/console)"
    npm ci --prefix infra/console --no-audit --no-fund --loglevel=error
  fi
fi

# --- cargo-nextest ------------------------------------------------------------------------------
if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest (cargo install --locked; takes a few minutes once)"
  cargo install --locked cargo-nextest
fi

# --- Fuzzing (`make fuzz`, and the smoke step of `make test`, set BOOTSTRAP_FUZZ=1): the nightly
# toolchain (cargo-fuzz needs it for -Zsanitizer / sanitizer-coverage) and cargo-fuzz, pinned.
if [ "${BOOTSTRAP_FUZZ:-}" = 1 ]; then
  if ! cargo +nightly --version >/dev/null 2>&1; then
    say "installing the nightly toolchain (rustup, minimal profile) for cargo-fuzz"
    rustup toolchain install nightly --profile minimal
  fi
  if ! cargo fuzz --version >/dev/null 2>&1; then
    say "installing cargo-fuzz 0.13.2 (cargo install --locked; takes a few minutes once)"
    cargo install --locked cargo-fuzz@0.13.2
  fi
fi

# --- The Lambda build (`make sam-build`, `make release` set BOOTSTRAP_DEPLOY=1): the arm64 Rust
# target. cargo lambda links it with Zig (the ziglang wheel in .venv, found through .venv/bin on
# PATH), so no aarch64 gcc is needed.
if [ "${BOOTSTRAP_DEPLOY:-}" = 1 ]; then
  if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    say "installing the Rust target aarch64-unknown-linux-gnu (rustup)"
    rustup target add aarch64-unknown-linux-gnu
  fi
fi
