"""alder-app-stage, the worker alder-appd runs to verify and unpack a package:
its one-line JSON protocol on stdout, its exit codes, and that a refused
package leaves nothing in the store."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

NATIVE_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, "arm")


@pytest.fixture
def stage(build_dir, tmp_path, alder):
    """A store, trust anchors, signing keys and a runner for alder-app-stage."""
    # Not under tmp_path (0700 parents), as in test_appd.py's device fixture.
    base = Path(tempfile.mkdtemp(prefix="alder-stage-", dir="/tmp"))
    os.chmod(base, 0o755)
    trust = tmp_path / "trust"
    trust.mkdir()
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("dev", "other"):
        assert alder("keys", "generate", "--out", str(keys / name), "--cn", name).rc == 0
    shutil.copy(keys / "dev.pem", trust / "dev.pem")

    class Stage:
        exe = build_dir / "device" / "appd" / "alder-app-stage"
        store = base / "store"

        def args(self, *extra):
            return [str(self.exe), "--store", str(self.store), "--trust", str(trust), *extra]

        def run(self, *extra):
            proc = subprocess.run(self.args(*extra), capture_output=True, text=True, timeout=60,
                                  env={**os.environ, "ALDER_LOG_TARGET": "stderr"})
            assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr
            return proc

        def package(self, version, seq, key="dev"):
            """A signed package of app hello whose /bin/hello says its version."""
            rootfs = tmp_path / f"rootfs-{version}"
            (rootfs / "bin").mkdir(parents=True, exist_ok=True)
            (rootfs / "bin" / "hello").write_text(f"version {version}\n")
            out = tmp_path / f"hello-{version}-{key}.alpkg"
            signer = ["--key", str(keys / f"{key}.key"), "--cert", str(keys / f"{key}.pem")]
            meta = ["--name", "hello", "--version", version, "--arch", NATIVE_ARCH, "--sequence", str(seq),
                    "--cmd", "/bin/hello"]
            r = alder("app", "pack", *signer, *meta, "-o", str(out), str(rootfs))
            assert r.rc == 0, r.err
            return out

    yield Stage()
    shutil.rmtree(base, ignore_errors=True)


def one_line(proc):
    """The protocol: exactly one line of JSON on stdout."""
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and proc.stdout.endswith("\n"), proc.stdout
    return json.loads(lines[0])


def test_success_line(stage):
    proc = stage.run(str(stage.package("1.0.0", 10)))
    assert proc.returncode == 0, proc.stderr
    version_dir = stage.store.resolve() / "hello" / "versions" / "10-1.0.0"
    assert one_line(proc) == {"name": "hello", "version": "1.0.0", "sequence": 10, "dir": str(version_dir)}
    assert (version_dir / "rootfs" / "bin" / "hello").read_text() == "version 1.0.0\n"
    assert json.loads((version_dir / "package.json").read_text())["signer"] == "CN=dev"
    # staged, not current: committing is the daemon's decision
    assert not (stage.store / "hello" / "current").exists()
    assert list((stage.store / ".staging").iterdir()) == []


def refused(stage, pkg):
    proc = stage.run(str(pkg))
    assert proc.returncode == 1, proc.stderr
    out = one_line(proc)
    assert set(out) == {"error"} and set(out["error"]) == {"code", "message"}, out
    assert isinstance(out["error"]["code"], int) and out["error"]["code"] < 0, out
    assert str(pkg) in out["error"]["message"], out
    assert out["error"]["message"] in proc.stderr  # the diagnostic names it too
    assert list((stage.store / ".staging").iterdir()) == []
    assert not (stage.store / "hello" / "versions").exists()
    return out["error"]


def test_tampered_package_leaves_nothing(stage):
    pkg = stage.package("1.0.0", 10)
    data = bytearray(pkg.read_bytes())
    data[-1] ^= 0xFF  # the end of the root filesystem payload: the signed digest no longer matches
    pkg.write_bytes(bytes(data))
    refused(stage, pkg)


def test_refusals(stage, tmp_path):
    cases = [
        (stage.package("1.0.0", 10, key="other"), "trust", None),
        (tmp_path / "missing.alpkg", "No such file or directory", -2),  # -ENOENT
    ]
    for pkg, message, code in cases:
        error = refused(stage, pkg)
        assert message in error["message"] and code in (None, error["code"]), (pkg, error)


def test_no_recovery_of_a_running_install(stage):
    """The worker must not clear what the daemon (or another install) has in the store."""
    assert stage.run(str(stage.package("1.0.0", 1))).returncode == 0
    debris = stage.store / ".staging" / "busy" / "rootfs"
    debris.mkdir(parents=True)
    proc = stage.run(str(stage.package("2.0.0", 2)))
    assert proc.returncode == 0, proc.stderr
    assert debris.is_dir()
    versions = sorted(p.name for p in (stage.store / "hello" / "versions").iterdir())
    assert versions == ["1-1.0.0", "2-2.0.0"]


def test_dies_with_its_parent(stage, tmp_path):
    fifo = tmp_path / "pkg.fifo"
    os.mkfifo(fifo)  # opening it blocks: the worker waits for a writer that never comes
    parent = subprocess.Popen(["sh", "-c", '"$@" & echo $!; sleep 60', "sh", *stage.args(str(fifo))],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    pid = int(parent.stdout.readline())

    def alive():
        try:
            return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
        except FileNotFoundError:
            return False

    time.sleep(0.3)
    assert alive()
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while alive():
        assert time.monotonic() < deadline, "alder-app-stage outlived its parent"
        time.sleep(0.02)


def test_usage(stage, tmp_path):
    h = subprocess.run([str(stage.exe), "--help"], capture_output=True, text=True)
    assert h.returncode == 0 and h.stdout.startswith("Usage: alder-app-stage --store DIR --trust DIR")
    pkg = str(tmp_path / "x.alpkg")
    bad = [
        [str(stage.exe), "--trust", str(tmp_path), pkg],
        [str(stage.exe), "--store", str(tmp_path), pkg],
        stage.args(),
        stage.args(pkg, pkg),
        stage.args("--arch", "mips", pkg),
        stage.args("--bogus", pkg),
    ]
    for args in bad:
        proc = subprocess.run(args, capture_output=True, text=True)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stdout == "" and "Try 'alder-app-stage --help'." in proc.stderr, (args, proc.stderr)
