#!/usr/bin/env bash
# The main job on the embedded default model: compress a sample photo, decompress it, and
# print its size, bits per pixel and PSNR. Installs ONNX Runtime locally when missing.
# Usage: scripts/compress-sample.sh [IMAGE] [QUALITY]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/ensure-onnxruntime.sh
exec cargo run --quiet --release --example basic_compression -- "$@"
