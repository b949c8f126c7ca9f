#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test (default features with the AVIF
# baseline, and none; the Python package's pytest suite).
# Installs what it needs that a fresh Debian machine with Rust lacks.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    echo "installing rustfmt and clippy" >&2
    rustup component add rustfmt clippy
fi

# ONNX Runtime's shared library (PyPI wheel, into target/onnxruntime): the VAE tests run
# real sessions and are never skipped.
./scripts/ensure-onnxruntime.sh
# A Vulkan adapter (Mesa's lavapipe, 25 or later, where there is no GPU): the GPU and WebGPU
# provider tests are never skipped.
./scripts/ensure-vulkan.sh
# Headless: keep Mesa's device-select layer from printing "XDG_RUNTIME_DIR is invalid" into
# the output while it looks for a display (see README, GPU).
[ -n "${XDG_RUNTIME_DIR:-}" ] || export NODEVICE_SELECT="${NODEVICE_SELECT:-1}"
# cmake and nasm: the AVIF baseline (feature `avif`) builds libaom and rav1e.
./scripts/ensure-build-tools.sh

# Every step builds once from a clean tree: incremental caches would only add gigabytes.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# Each step prints its name, then how long it took.
step() {
    local name=$1 start=$SECONDS
    shift
    echo "== $name"
    "$@"
    echo "   ($name: $((SECONDS - start)) s)"
}

step "cargo fmt --all --check" cargo fmt --all --check
step "cargo clippy --all-targets -- -D warnings" cargo clippy --all-targets -- -D warnings
step "cargo clippy -p vaerans-python -- -D warnings" cargo clippy -p vaerans-python -- -D warnings
step "cargo clippy --all-targets --features avif,check_gpu -- -D warnings" \
    cargo clippy --all-targets --features avif,check_gpu -- -D warnings
step "cargo doc --no-deps, warnings denied" env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps
step "cargo test --features avif (the default features plus the AVIF baseline)" \
    cargo test --features avif
# The Python package (built with maturin into target/python-venv) and its pytest suite, the
# Ray Data recipe included; compared against the command line the step before built.
step "python: maturin develop and pytest (scripts/test-python.sh)" ./scripts/test-python.sh
# The same dependency build as the step before: only vaerans is rebuilt with the checks.
step "cargo test --features avif,check_gpu --test gpu (every GPU stage checked against its CPU reference)" \
    cargo test --features avif,check_gpu --test gpu
step "cargo test --no-default-features" cargo test --no-default-features
step "cargo test --features cuda --test vae (the CUDA build reports a missing device clearly)" \
    cargo test --features cuda --test vae
# Every fuzz target briefly from its seeds (they build in release, with coverage
# instrumentation): a smoke run; longer runs are `scripts/fuzz.sh SECONDS`.
step "fuzz smoke (scripts/fuzz.sh 15: every target 15 s)" ./scripts/fuzz.sh 15
# The benchmarks are type-checked by the clippy steps (--all-targets); building them in the
# release profile would rebuild every dependency a third time (about 9 minutes on 2 cores).
echo "== target folder: $(du -sh target | cut -f1)"
