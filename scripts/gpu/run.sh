#!/usr/bin/env bash
# Runs the GPU measurements from an unpacked scripts/gpu/pack.sh archive: what the machine has,
# where the VAE's nodes run on WebGPU (and CUDA), `vaerans bench --compare` at 512×512 and
# 768×512 for batches 1, 8 and 64, and the cross-provider parity of the packed images.
#
# Usage: gpu-pack/run.sh [RESULTS_DIR]   (default: $OUT, else ./results)
# SIZES (default "512x512 768x512"), BATCHES (default 1,8,64) and ITERS (default 2) narrow it.
# CUDA runs when gpu-pack/cuda/ holds onnxruntime-gpu's libraries (see pack.sh).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-${OUT:-$here/results}}
mkdir -p "$out"
log=$out/run.log
exec > >(tee -a "$log") 2>&1
iters=${ITERS:-2}
sizes=${SIZES:-512x512 768x512}
batches=${BATCHES:-1,8,64}
export VAERANS_WEBGPU_EP_PATH=$here/lib/libonnxruntime_providers_webgpu.so
export ORT_DYLIB_PATH=$here/lib/libonnxruntime.so.1.31.1
cuda=0
if [ -f "$here/cuda/libonnxruntime_providers_cuda.so" ]; then
    cuda=1
fi
step() { echo; echo "== $* =="; }

step "machine ($(cat "$here/COMMIT"))"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "nvidia-smi failed"
nproc; uname -r
ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null
ldconfig -p | grep -E 'libvulkan.so.1|libcudart.so.13|libcudnn.so.9|libcublas.so.13' || true

step "placement on WebGPU"
timeout 120 "$here/bin/vaerans" models --placement --ep webgpu

for size in $sizes; do
    step "bench --compare, WebGPU, $size"
    timeout 300 "$here/bin/vaerans" bench --compare --ep webgpu --device gpu --size "$size" \
        --batch "$batches" --iters "$iters" | tee "$out/bench-webgpu-$size.txt"
done

providers=cpu,webgpu
if [ $cuda = 1 ]; then
    # The CUDA provider needs the onnxruntime-gpu build of the core library too.
    export ORT_DYLIB_PATH=$here/cuda/libonnxruntime.so.1.31.1
    providers=cpu,webgpu,cuda
    step "placement on CUDA"
    timeout 120 "$here/bin/vaerans" models --placement --ep cuda
    for size in $sizes; do
        step "bench, VAE on CUDA, $size"
        timeout 300 "$here/bin/vaerans" bench --ep cuda --device gpu --size "$size" \
            --batch "$batches" --iters "$iters" | tee "$out/bench-cuda-$size.txt"
    done
fi

step "provider parity ($providers) on $(ls "$here/images" | wc -l) images"
timeout 300 "$here/bin/provider_parity" "$here/images" "$providers" | tee "$out/parity.txt"
echo; echo "results in $out"
