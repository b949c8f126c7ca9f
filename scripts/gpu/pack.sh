#!/usr/bin/env bash
# Packs what a GPU run needs on an offline Linux x86-64 machine with an NVIDIA GPU into one
# archive: the release binary and the provider_parity example (built with the `cuda` feature,
# which costs nothing where CUDA is absent), ONNX Runtime's library, the WebGPU plugin, a few
# Kodak-size images and scripts/gpu/run.sh.
#
# Usage: scripts/gpu/pack.sh IMAGES_DIR [COUNT]
#   IMAGES_DIR  PNG/JPEG images for the parity check, for example the 24 Kodak images; the
#               first COUNT of them (default 8) are packed. The benchmark makes its own.
#
# Writes target/gpu-pack.tar.xz (about 32 MB; machines that take tens of MB per transfer take it
# in one). With VAERANS_CUDA=1 it also writes target/gpu-pack-cuda.partNN: onnxruntime-gpu's
# libraries (CUDA 13 + cuDNN 9 builds), xz-compressed and split into 60 MiB parts, each its
# own transfer; the machine must then have CUDA 13's runtime, cuBLAS and cuDNN 9 installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
images=${1:-}
count=${2:-8}
[ -n "$images" ] && [ -d "$images" ] || { echo "usage: $0 IMAGES_DIR [COUNT]" >&2; exit 2; }

./scripts/ensure-onnxruntime.sh
cargo build --quiet --release --features cuda --bin vaerans --example provider_parity

stage=target/gpu-pack
rm -rf "$stage" target/gpu-pack.tar.xz target/gpu-pack-cuda.part*
mkdir -p "$stage/bin" "$stage/lib" "$stage/images"
cp target/release/vaerans target/release/examples/provider_parity "$stage/bin/"
cp target/onnxruntime/onnxruntime/capi/libonnxruntime.so.1.31.1 "$stage/lib/"
cp target/onnxruntime/onnxruntime_ep_webgpu/libonnxruntime_providers_webgpu.so "$stage/lib/"
find "$images" -maxdepth 1 -type f \( -iname '*.png' -o -iname '*.jpg' -o -iname '*.jpeg' \) |
    sort | head -n "$count" | while read -r f; do cp "$f" "$stage/images/"; done
cp scripts/gpu/run.sh "$stage/"
git rev-parse --short HEAD > "$stage/COMMIT" 2>/dev/null || echo unknown > "$stage/COMMIT"
strip "$stage"/bin/* 2>/dev/null || true
tar -C target -cJf target/gpu-pack.tar.xz gpu-pack
echo "target/gpu-pack.tar.xz: $(du -h target/gpu-pack.tar.xz | cut -f1) ($(ls "$stage/images" | wc -l) images)"

if [ "${VAERANS_CUDA:-0}" = 1 ]; then
    wheel=target/gpu-wheel
    rm -rf "$wheel" && mkdir -p "$wheel"
    python3 -m pip download --quiet --no-deps --dest "$wheel" onnxruntime-gpu==1.31.1
    (cd "$wheel" && python3 -m zipfile -e ./*.whl x >/dev/null)
    mkdir -p "$wheel/cuda"
    cp "$wheel"/x/onnxruntime/capi/libonnxruntime.so.1.31.1 \
       "$wheel"/x/onnxruntime/capi/libonnxruntime_providers_shared.so \
       "$wheel"/x/onnxruntime/capi/libonnxruntime_providers_cuda.so "$wheel/cuda/"
    tar -C "$wheel" -cJf - cuda | split -b 60M -d - target/gpu-pack-cuda.part
    rm -rf "$wheel"
    ls -la target/gpu-pack-cuda.part*
fi
