#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each, from the committed seeds.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      # default: 60 s each, every target
#
# Targets (fuzz/fuzz_targets): stream (parsing), latent_decode (the whole latent decode),
# image_input (image files as the CLI reads them), latent_file (.npy and .safetensors latent
# caches), shard (tar shards of streams), config (vaerans.toml). Each keeps its
# corpus in $VAERANS_FUZZ_DIR/<target> (default /var/tmp/vaerans-fuzz), so runs resume where
# the last one stopped; crashes land in fuzz/artifacts/<target>. Installs cargo-fuzz if it
# is missing, and uses a nightly toolchain when there is one (else stable with
# RUSTC_BOOTSTRAP=1, which cargo-fuzz's flags need). FUZZ_SANITIZER=address builds with
# AddressSanitizer (slower; vaerans has no unsafe code, so the default is none).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(stream latent_decode image_input latent_file shard config)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked --version 0.13.2
fi
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi
sanitizer=${FUZZ_SANITIZER:-none}
work=${VAERANS_FUZZ_DIR:-/var/tmp/vaerans-fuzz}

cd fuzz
for t in "${targets[@]}"; do
    mkdir -p "$work/$t"
    echo "== fuzz $t for $seconds s"
    log="$work/$t.log"
    # -rss_limit_mb: the targets' limits keep a run far below it; hitting it is a failure.
    status=0
    cargo "${toolchain[@]}" fuzz run --sanitizer "$sanitizer" "$t" "$work/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)" "$log" || true
    if [ "$status" -ne 0 ]; then
        grep -E "ERROR|panicked|SUMMARY|Test unit written|^error" "$log" | head -20 >&2 || tail -20 "$log" >&2
        echo "fuzz $t failed (status $status); the whole log: $log" >&2
        exit 1
    fi
done
