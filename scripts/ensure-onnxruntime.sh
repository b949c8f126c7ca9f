#!/usr/bin/env bash
# Makes sure ONNX Runtime 1.31.1's shared library and its WebGPU plugin provider can be found:
# installs the PyPI wheels' libraries into target/onnxruntime (project-local, nothing
# system-wide) unless ORT_DYLIB_PATH / VAERANS_WEBGPU_EP_PATH or that folder already provide
# them. VAERANS_CUDA=1 installs onnxruntime-gpu instead of onnxruntime.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=1.31.1
WEBGPU_VERSION=0.4.0
LIB=target/onnxruntime/onnxruntime/capi/libonnxruntime.so.$VERSION
PLUGIN=target/onnxruntime/onnxruntime_ep_webgpu/libonnxruntime_providers_webgpu.so

need_lib=1
if { [ -n "${ORT_DYLIB_PATH:-}" ] && [ -e "$ORT_DYLIB_PATH" ]; } || [ -f "$LIB" ]; then
    need_lib=0
fi
need_plugin=1
if { [ -n "${VAERANS_WEBGPU_EP_PATH:-}" ] && [ -e "$VAERANS_WEBGPU_EP_PATH" ]; } || [ -f "$PLUGIN" ]; then
    need_plugin=0
fi
if [ "$need_lib$need_plugin" = 00 ]; then
    exit 0
fi

PKG=onnxruntime
if [ "${VAERANS_CUDA:-0}" = 1 ]; then
    PKG=onnxruntime-gpu
fi
PY=$(command -v python3 || command -v python || true)
if [ -z "$PY" ]; then
    echo "error: Python 3 is needed to fetch ONNX Runtime from PyPI; install python3" >&2
    exit 1
fi
if ! "$PY" -m pip --version >/dev/null 2>&1; then
    echo "installing pip" >&2
    "$PY" -m ensurepip --user >/dev/null 2>&1 || ./scripts/apt-install.sh python3-pip
fi
# --target writes only into the project folder, so Debian's externally-managed guard does
# not apply; the variable silences it on pips that enforce it anyway. Each package goes in on
# its own: pip --target leaves an existing package's folder alone.
install() {
    echo "installing $1 into target/onnxruntime" >&2
    PIP_BREAK_SYSTEM_PACKAGES=1 "$PY" -m pip install --quiet --disable-pip-version-check \
        --no-deps --target target/onnxruntime "$1" >&2
    if [ ! -f "$2" ]; then
        echo "error: $1 installed, but $2 is missing" >&2
        exit 1
    fi
}
[ $need_lib = 0 ] || install "$PKG==$VERSION" "$LIB"
[ $need_plugin = 0 ] || install "onnxruntime-ep-webgpu==$WEBGPU_VERSION" "$PLUGIN"
