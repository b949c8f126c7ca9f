#!/usr/bin/env bash
# A Vulkan driver for the GPU path and its tests. Machines with a GPU driver already have one;
# elsewhere this installs Mesa's (lavapipe: a software adapter that runs the compute kernels
# on the CPU, so the GPU tests run for real on any machine).
set -euo pipefail

have_icd() {
    for f in /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json; do
        [ -e "$f" ] && return 0
    done
    return 1
}
have_loader() { ldconfig -p 2>/dev/null | grep 'libvulkan\.so\.1' >/dev/null; }

if have_icd && have_loader; then
    exit 0
fi
echo "no Vulkan driver found: installing Mesa's (mesa-vulkan-drivers, libvulkan1)" >&2
"$(dirname "$0")/apt-install.sh" mesa-vulkan-drivers libvulkan1
