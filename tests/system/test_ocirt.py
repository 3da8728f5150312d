"""lib/ocirt.c driving a real runc through tests/helpers/ocirt-tool.

The bundle is the static-busybox one of test_ocispec.py (same fixture), with
the command of each case. runc is forced: on a cgroup v1 host crun refuses, and
auto-selection is covered by the unit tests.
"""
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from test_ocispec import RUNC, bundle, write_config  # noqa: F401 (bundle is a fixture)

pytestmark = [
    pytest.mark.skipif(RUNC is None, reason="runc is not installed (scripts/deps.sh test)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="runc with user namespaces needs root"),
]

# PID 1 ignores signals it has no handler for, so the service traps TERM.
SERVICE = "trap 'echo bye; exit 0' TERM; echo started; while true; do sleep 0.1; done"


class Tool:
    def __init__(self, build_dir, root):
        self.exe = str(build_dir / "tests" / "helpers" / "ocirt-tool")
        self.root = root
        self.ids = []

    def __call__(self, *args, check=True, timeout=30):
        proc = subprocess.run([self.exe, "--runtime", "runc", "--root", str(self.root), *args],
                              capture_output=True, text=True, timeout=timeout)
        if check:
            assert proc.returncode == 0, f"ocirt-tool {args}: {proc.stderr}"
        return proc

    def json(self, *args):
        return json.loads(self(*args).stdout)

    def new_id(self):
        cid = f"alder-ocirt-{uuid.uuid4().hex[:12]}"
        self.ids.append(cid)
        return cid


@pytest.fixture
def tool(build_dir, tmp_path):
    t = Tool(build_dir, tmp_path / "runtime")
    yield t
    for cid in t.ids:  # whatever the test did, leave no container behind
        subprocess.run([RUNC, "--root", str(t.root), "delete", "-f", cid], capture_output=True, timeout=10)


def configure(build_dir, bundle_dir, script):
    write_config(build_dir, bundle_dir, no_limits=True, cmd=("/bin/sh", "-c", script))


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_info(tool):
    info = tool.json("info")
    assert info["name"] == "runc"
    assert os.path.dirname(info["path"]) in ("/usr/bin", "/usr/sbin", "/usr/local/bin")
    assert os.path.samefile(info["path"], shutil.which("runc"))
    assert info["version"].startswith("runc version ")


def test_detached_lifecycle(build_dir, bundle, tool, tmp_path):
    configure(build_dir, bundle, SERVICE)
    cid = tool.new_id()
    out = tmp_path / "out.log"
    pid = tool.json("run-detached", cid, str(bundle), str(out))["pid"]
    assert pid > 0

    state = tool.json("state", cid)
    assert state == {"id": cid, "status": "running", "pid": pid}
    assert {"id": cid, "status": "running", "pid": pid} in tool.json("list")
    wait_for(lambda: "started" in out.read_text())

    tool("kill", cid, "15")
    wait_for(lambda: tool.json("state", cid)["status"] == "stopped")
    assert "bye" in out.read_text()

    tool("delete", cid)
    proc = tool("state", cid, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"ocirt-tool: ENOENT: runc state '{cid}': ")
    assert "does not exist" in proc.stderr
    assert cid not in [c["id"] for c in tool.json("list")]


def test_same_id_twice(build_dir, bundle, tool):
    configure(build_dir, bundle, SERVICE)
    cid = tool.new_id()
    tool("run-detached", cid, str(bundle))
    proc = tool("run-detached", cid, str(bundle), check=False)
    assert proc.returncode == 1
    assert f"runc run '{cid}': runc run failed: container with given ID already exists" in proc.stderr
    # The failed second run must not have removed the first container.
    assert tool.json("state", cid)["status"] == "running"
    tool("delete", cid, "force")
    assert tool("delete", cid, check=False).stderr.startswith("ocirt-tool: ENOENT: ")


@pytest.mark.parametrize("script,code,stdout", [("echo hi", 0, "hi\n"), ("echo out; echo err >&2; exit 3", 3, "out\n")])
def test_run_foreground(build_dir, bundle, tool, script, code, stdout):
    configure(build_dir, bundle, script)
    cid = tool.new_id()
    res = tool.json("run", cid, str(bundle), "10000")
    assert res["exit"] == f"exited with status {code}"
    assert res["code"] == code
    assert res["stdout"] == stdout
    # The container is gone afterwards: its id can be used again at once.
    assert cid not in [c["id"] for c in tool.json("list")]


def test_run_foreground_times_out(build_dir, bundle, tool):
    configure(build_dir, bundle, "sleep 30")
    cid = tool.new_id()
    start = time.monotonic()
    res = tool.json("run", cid, str(bundle), "500")
    assert res["exit"].startswith("timed out after 500 ms")
    assert time.monotonic() - start < 10
    assert cid not in [c["id"] for c in tool.json("list")]


def test_bad_id_never_reaches_runtime(tool):
    proc = tool("state", "--all", check=False)
    assert proc.returncode == 1
    assert "ocirt-tool: EINVAL: container id '--all': character 1 is not allowed" in proc.stderr
