"""Fixtures for Alder's system tests: real binaries from a meson build.

ALDER_BUILD_DIR names the build to test (scripts/test.sh sets it); the default
is ./build of the source tree.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

SOURCE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def build_dir():
    d = Path(os.environ.get("ALDER_BUILD_DIR", SOURCE_DIR / "build"))
    if not (d / "build.ninja").exists():
        pytest.fail(f"{d} is not a meson build directory (set ALDER_BUILD_DIR)")
    return d


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)


@pytest.fixture(scope="session")
def alder(build_dir):
    """Runs the alder CLI: alder("version", "--json") -> Result."""
    exe = build_dir / "host" / "alder"
    assert exe.exists(), f"{exe} not built"

    def run(*args, timeout=30, input=None):
        proc = subprocess.run([str(exe), *args], capture_output=True, text=True,
                              timeout=timeout, input=input)
        return Result(proc)

    return run


def pytest_configure(config):
    config.addinivalue_line("markers", "appd_config(settings): write ROOT/config/appd.json for the device fixture")
    config.addinivalue_line("markers", "appd_env(variables): add to alder-appd's environment in the device fixture")
