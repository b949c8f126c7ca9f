#!/usr/bin/env bash
# The Python package's tests: a virtual environment in target/python-venv (made if missing,
# with the test requirements and the package's dependencies, ONNX Runtime's wheel among
# them), the native module built into it (maturin develop, the python-test profile), and
# pytest over python/tests and the package's doctests. Installs python3-venv on Debian if
# Python cannot make virtual environments.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=$(command -v python3 || command -v python || true)
if [ -z "$PY" ]; then
    echo "error: the Python tests need Python 3.9 or later; install python3" >&2
    exit 1
fi
VENV=target/python-venv
if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PY" -m venv "$VENV" >/dev/null 2>&1; then
        rm -rf "$VENV"
        echo "installing python3-venv" >&2
        ./scripts/apt-install.sh python3-venv
        "$PY" -m venv "$VENV"
    fi
fi
export VIRTUAL_ENV="$PWD/$VENV"
export PATH="$VIRTUAL_ENV/bin:$PATH"
python -m pip install --quiet --disable-pip-version-check -r python/requirements-test.txt
# Builds the module and installs the package's dependencies (numpy, onnxruntime); pip's
# report of them goes to /dev/null, build errors still show.
maturin develop --quiet --profile python-test >/dev/null

# The package finds ONNX Runtime the way an installed one does: in the onnxruntime package,
# not through the variables the Rust tests set.
unset ORT_DYLIB_PATH VAERANS_WEBGPU_EP_PATH
# The command line the tests compare against: the one `cargo test` built, when it is there.
if [ -z "${VAERANS_CLI:-}" ] && [ -x target/debug/vaerans ]; then
    export VAERANS_CLI="$PWD/target/debug/vaerans"
fi
python -m pytest -q -rs "$@"
