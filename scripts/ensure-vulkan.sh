#!/usr/bin/env bash
# A Vulkan driver for the GPU path, the WebGPU execution provider and their tests. Machines
# with a GPU driver already have one; elsewhere this installs Mesa's (lavapipe: a software
# adapter that runs the compute kernels on the CPU, so the GPU tests run for real on any
# machine). ONNX Runtime's WebGPU provider (Dawn) refuses lavapipe before Mesa 25, so on
# Debian 12, whose Mesa is 22.3, Mesa comes from bookworm-backports (25.0.7).
set -euo pipefail
here=$(dirname "$0")

have_icd() {
    for f in /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json; do
        [ -e "$f" ] && return 0
    done
    return 1
}
have_loader() { ldconfig -p 2>/dev/null | grep 'libvulkan\.so\.1' >/dev/null; }
# The installed Debian Mesa Vulkan drivers' major version, empty when not installed (dpkg-query
# fails for a package it has never seen: not an error here, under pipefail).
mesa_major() {
    { dpkg-query -W -f='${Status} ${Version}' mesa-vulkan-drivers 2>/dev/null || true; } |
        sed -n 's/^install ok installed \([0-9]*\)\..*/\1/p'
}
is_bookworm() { grep -qs '^VERSION_CODENAME=bookworm' /etc/os-release; }

major=$(mesa_major)
if have_icd && have_loader && { [ -z "$major" ] || [ "$major" -ge 25 ]; }; then
    exit 0
fi
if is_bookworm; then
    src=/etc/apt/sources.list.d/bookworm-backports.sources
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "adding Debian's bookworm-backports (for Mesa 25's lavapipe)" >&2
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO=sudo
        printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' \
            'Suites: bookworm-backports' 'Components: main' \
            'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' | $SUDO tee "$src" >/dev/null
        $SUDO apt-get update -qq
    fi
    echo "installing Mesa 25's Vulkan drivers from bookworm-backports" >&2
    "$here/apt-install.sh" -t bookworm-backports mesa-vulkan-drivers libvulkan1
else
    echo "installing Mesa's Vulkan drivers (mesa-vulkan-drivers, libvulkan1)" >&2
    "$here/apt-install.sh" mesa-vulkan-drivers libvulkan1
fi
major=$(mesa_major)
if [ -n "$major" ] && [ "$major" -lt 25 ]; then
    echo "warning: Mesa $major's lavapipe is installed; ONNX Runtime's WebGPU provider needs 25 or later" >&2
fi
