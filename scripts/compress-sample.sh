#!/usr/bin/env bash
# The main job on the embedded default model: compress a sample photo, decompress it, and
# print its size, bits per pixel and PSNR. Installs ONNX Runtime locally when missing.
# Usage: scripts/compress-sample.sh [IMAGE] [QUALITY]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/ensure-onnxruntime.sh
# Headless (no session runtime dir): Mesa's device-select Vulkan layer looks for a display and
# prints "XDG_RUNTIME_DIR is invalid" while adapters are listed; it is harmless, and Mesa's own
# switch turns the layer off. Adapter choice is wgpu's either way.
[ -n "${XDG_RUNTIME_DIR:-}" ] || export NODEVICE_SELECT="${NODEVICE_SELECT:-1}"
exec cargo run --quiet --release --example basic_compression -- "$@"
