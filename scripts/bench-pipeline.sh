#!/usr/bin/env bash
# Pipelined against one-batch-at-a-time `vaerans compress DIR` and `decompress DIR`, on the same
# release build: median wall time of each over ROUNDS alternating runs, files/s, the speed-up,
# and each run's peak memory (the CLI's own report, from the process's VmHWM).
#
# Usage: scripts/bench-pipeline.sh [-n COUNT] [-r ROUNDS] DIR [-- VAERANS FLAGS...]
#   COUNT   images to code (default 48): DIR's PNG/JPEG files, repeated as needed
#   ROUNDS  runs of each mode (default 3)
#   flags   passed to both compress and decompress, e.g. -- --ep cpu --device cpu
set -euo pipefail
cd "$(dirname "$0")/.."
count=48 rounds=3
while getopts "n:r:" o; do
    case $o in
        n) count=$OPTARG ;;
        r) rounds=$OPTARG ;;
        *) echo "usage: $0 [-n COUNT] [-r ROUNDS] DIR [-- FLAGS...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: $0 [-n COUNT] [-r ROUNDS] DIR [-- FLAGS...]" >&2; exit 2; }
src=$1; shift
[ "${1:-}" = "--" ] && shift
flags=("$@")

./scripts/ensure-onnxruntime.sh >/dev/null
[ -n "${XDG_RUNTIME_DIR:-}" ] || export NODEVICE_SELECT="${NODEVICE_SELECT:-1}"
cargo build --quiet --release --bin vaerans
bin=target/release/vaerans

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mapfile -t images < <(find "$src" -maxdepth 1 -type f \( -iname '*.png' -o -iname '*.jpg' -o -iname '*.jpeg' \) | sort)
[ ${#images[@]} -gt 0 ] || { echo "$src holds no PNG or JPEG files" >&2; exit 1; }
mkdir "$work/in"
for ((i = 0; i < count; i++)); do
    f=${images[$((i % ${#images[@]}))]}
    ln -s "$(realpath "$f")" "$work/in/$(printf '%04d' "$i")-$(basename "$f")"
done

# One run: prints "seconds peak_MiB" from the CLI's summary line.
run() {
    local what=$1 input=$2 output=$3; shift 3
    rm -rf "$output"
    "$bin" "$what" "$input" -o "$output" --json "${flags[@]}" "$@" 2>"$work/err" >/dev/null || {
        cat "$work/err" >&2; exit 1; }
    grep -E '^(compressed|decompressed) [0-9]+ files' "$work/err" |
        sed -E 's/.* in ([0-9.]+) s.*peak memory ([0-9]+) MiB.*/\1 \2/'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A secs peak outputs
for what in compress decompress; do
    if [ "$what" = compress ]; then input=$work/in; else input=$work/streams; fi
    for ((r = 0; r < rounds; r++)); do
        # Alternate which mode runs first, so neither always gets the warmer machine.
        if ((r % 2)); then order="pipelined batch"; else order="batch pipelined"; fi
        for mode in $order; do
            if [ "$mode" = batch ]; then extra=(--one-batch-at-a-time); else extra=(); fi
            out=$work/out-$what-$mode
            read -r s m < <(run "$what" "$input" "$out" "${extra[@]}")
            secs[$what-$mode]+="$s "
            peak[$what-$mode]=$(( m > ${peak[$what-$mode]:-0} ? m : ${peak[$what-$mode]:-0} ))
        done
        [ "$what" = compress ] && [ ! -d "$work/streams" ] && cp -r "$work/out-compress-pipelined" "$work/streams"
    done
    cmp_dir() { diff -rq "$work/out-$what-batch" "$work/out-$what-pipelined" >/dev/null && echo identical || echo DIFFERENT; }
    outputs[$what]=$(cmp_dir)
done

echo "$count images from $src, $rounds rounds, flags: ${flags[*]:-(none)}"
printf '%-11s %-22s %9s %9s %9s %10s\n' step mode "median s" files/s speed-up "peak MiB"
for what in compress decompress; do
    base=$(echo "${secs[$what-batch]}" | tr ' ' '\n' | grep . | median)
    for mode in batch pipelined; do
        m=$(echo "${secs[$what-$mode]}" | tr ' ' '\n' | grep . | median)
        label=$([ "$mode" = batch ] && echo "one batch at a time" || echo "pipelined")
        awk -v w="$what" -v l="$label" -v m="$m" -v n="$count" -v b="$base" -v p="${peak[$what-$mode]}" \
            'BEGIN { printf "%-11s %-22s %9.2f %9.2f %8.2f× %10s\n", w, l, m, n / m, b / m, p }'
    done
    echo "  $what outputs of the two modes: ${outputs[$what]}; runs (s): batch ${secs[$what-batch]}| pipelined ${secs[$what-pipelined]}"
done
