#!/usr/bin/env bash
# Installs Debian packages: `apt-get install` (through sudo unless root), and only if that
# fails, `apt-get update` and once more (a fresh machine's package lists may be stale or empty).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -qq "$@" >/dev/null; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "$@" >/dev/null
fi
