"""Shared fixtures: the sample photo, and the command-line tool to compare against."""

import os
import shlex
import subprocess

import numpy as np
import PIL.Image
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COFFEE = os.path.join(ROOT, "assets", "coffee.png")


@pytest.fixture(scope="session")
def coffee():
    """assets/coffee.png as a NumPy array [H, W, 3] of uint8."""
    return np.asarray(PIL.Image.open(COFFEE).convert("RGB"))


@pytest.fixture(scope="session")
def codec():
    import vaerans

    return vaerans.Codec(quality=75)


@pytest.fixture(scope="session")
def cli():
    """The `vaerans` command: $VAERANS_CLI, else built and run by cargo from this checkout."""
    command = os.environ.get("VAERANS_CLI")
    if command:
        return shlex.split(command)
    return ["cargo", "run", "--quiet", "--manifest-path", os.path.join(ROOT, "Cargo.toml"), "--bin", "vaerans", "--"]


def run(command, **kwargs):
    """Runs a command; its output is shown when it fails."""
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done


def psnr(a, b):
    err = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / err)
