#!/usr/bin/env bash
# Build tools for the `avif` feature (the AVIF baseline of `vaerans eval`): cmake builds the
# vendored libaom decoder, nasm assembles rav1e's and libaom's x86 kernels.
set -euo pipefail

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v nasm >/dev/null 2>&1 || missing+=(nasm)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "installing ${missing[*]} (needed by the avif feature)" >&2
"$(dirname "$0")/apt-install.sh" "${missing[@]}"
