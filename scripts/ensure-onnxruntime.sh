#!/usr/bin/env bash
# Makes sure ONNX Runtime 1.31.1's shared library can be found: installs the PyPI wheel's
# library into target/onnxruntime (project-local, nothing system-wide) unless ORT_DYLIB_PATH
# or that folder already provides it. VAERANS_CUDA=1 installs onnxruntime-gpu instead.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=1.31.1
LIB=target/onnxruntime/onnxruntime/capi/libonnxruntime.so.$VERSION
if [ -n "${ORT_DYLIB_PATH:-}" ] && [ -e "$ORT_DYLIB_PATH" ]; then
    exit 0
fi
if [ -f "$LIB" ]; then
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
echo "installing $PKG==$VERSION into target/onnxruntime" >&2
# --target writes only into the project folder, so Debian's externally-managed guard does
# not apply; the variable silences it on pips that enforce it anyway.
PIP_BREAK_SYSTEM_PACKAGES=1 "$PY" -m pip install --quiet --disable-pip-version-check \
    --no-deps --target target/onnxruntime "$PKG==$VERSION" >&2
if [ ! -f "$LIB" ]; then
    echo "error: $PKG installed, but $LIB is missing" >&2
    exit 1
fi
