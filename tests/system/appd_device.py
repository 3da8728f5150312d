"""A whole device root in a temp folder with alder-appd running on it, and helpers to
build busybox apps for real containers. Shared by the test_appd*.py files."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def delete_all_containers(root):
    state = root / "run/alder/runtime"
    for runtime in ("runc", "crun"):
        if shutil.which(runtime) and state.is_dir():
            for entry in state.iterdir():
                if entry.is_dir():
                    subprocess.run([runtime, "--root", str(state), "delete", "-f", entry.name], capture_output=True)


@pytest.fixture
def device(build_dir, tmp_path, alder, request):
    """A device root with trust anchors, a running alder-appd, and a signing key.
    @pytest.mark.appd_config({...}) writes ROOT/config/appd.json first;
    @pytest.mark.appd_env({...}) adds to alder-appd's environment (ROOT in a value stands for the root)."""
    # Not under tmp_path: its 0700 parents would keep an app's mapped root out of its rootfs,
    # as no real device's /var/lib would.
    base = Path(tempfile.mkdtemp(prefix="alder-device-", dir="/tmp"))
    os.chmod(base, 0o755)
    root = base / "root"
    trust = root / "config" / "trust"
    trust.mkdir(parents=True)
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("dev", "other"):
        assert alder("keys", "generate", "--out", str(keys / name), "--cn", name).rc == 0
    shutil.copy(keys / "dev.pem", trust / "dev.pem")
    marker = request.node.get_closest_marker("appd_config")
    if marker:
        (root / "config" / "appd.json").write_text(json.dumps(marker.args[0]))
    sock = root / "run" / "alder" / "appd.sock"
    env_marker = request.node.get_closest_marker("appd_env")
    extra_env = {k: v.replace("ROOT", str(root)) for k, v in (env_marker.args[0] if env_marker else {}).items()}

    class Device:
        def __init__(self):
            self.root, self.keys, self.sock, self.tmp = root, keys, sock, tmp_path
            self.alder_exe = build_dir / "host" / "alder"
            self.proc = None

        def start(self):
            self.proc = subprocess.Popen([str(build_dir / "device" / "appd" / "alder-appd"), "--root", str(root)],
                                         stderr=subprocess.PIPE, text=True,
                                         env={**os.environ, "ALDER_LOG_TARGET": "stderr", **extra_env})
            deadline = time.monotonic() + 10
            while not self.accepting():  # a stale socket file of a killed daemon may still be there
                assert self.proc.poll() is None, self.proc.stderr.read()
                assert time.monotonic() < deadline, "alder-appd did not start"
                time.sleep(0.02)

        def accepting(self):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(str(sock))
                return True
            except OSError:
                return False
            finally:
                s.close()

        def stop(self, sig=signal.SIGTERM):
            self.proc.send_signal(sig)
            err = self.proc.communicate(timeout=10)[1]
            assert "Sanitizer" not in err and "runtime error" not in err, err
            return self.proc.returncode, err

        def app(self, *args):
            return alder("app", *args[:1], "--socket", str(sock), *args[1:])

        def package(self, version, seq, key="dev", arch=None, name="hello"):
            rootfs = tmp_path / f"rootfs-{name}-{version}"
            (rootfs / "bin").mkdir(parents=True, exist_ok=True)
            (rootfs / "bin" / "hello").write_text(f"version {version}\n")
            out = tmp_path / f"{name}-{version}-{key}.alpkg"
            native = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, "arm")
            r = alder("app", "pack", "--key", str(keys / f"{key}.key"), "--cert", str(keys / f"{key}.pem"),
                      "--name", name, "--version", version, "--arch", arch or native, "--sequence", str(seq),
                      "--cmd", "/bin/hello", "-o", str(out), str(rootfs))
            assert r.rc == 0, r.err
            return out

    d = Device()
    d.start()
    yield d
    try:
        if d.proc.poll() is None:
            rc, err = d.stop()
            assert rc == 0, err
    finally:
        delete_all_containers(root)
        shutil.rmtree(base, ignore_errors=True)


BUSYBOX = "/bin/busybox"


def busybox_rootfs(path):
    (path / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, path / "bin" / "busybox")
    for tool in ("sh", "sleep", "cat", "echo", "id", "touch", "grep", "mount", "unshare", "dd", "ls", "true",
                 "false", "head", "kill", "ps"):
        os.symlink("busybox", path / "bin" / tool)
    for d in ("proc", "sys", "dev", "tmp", "data"):
        (path / d).mkdir()


needs_runtime = pytest.mark.skipif(
    os.geteuid() != 0 or not (shutil.which("runc") or shutil.which("crun")) or not os.path.exists(BUSYBOX)
    or "statically" not in subprocess.run(["file", "-L", BUSYBOX], capture_output=True, text=True).stdout,
    reason="needs root, runc or crun, and a static /bin/busybox (busybox-static)")


def process_gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return ") Z " in f.read()  # a zombie the host has not reaped yet
    except FileNotFoundError:
        return True


def runtime_containers(runtime_root):
    """[(id, status)] of the runc containers under runtime_root.

    `runc list` reads the state directory and then stats each entry, so a
    container deleted in between makes it fail with "no such file or
    directory": that is a snapshot taken at the wrong moment, not an error of
    ours, so take it again."""
    for _ in range(20):
        r = subprocess.run(["runc", "--root", str(runtime_root), "list", "--format", "json"],
                           capture_output=True, text=True)
        if r.returncode == 0:
            return sorted((c["id"], c["status"]) for c in (json.loads(r.stdout) or []))
        assert "no such file or directory" in r.stderr, r.stderr
        time.sleep(0.05)
    raise AssertionError(f"runc list kept failing: {r.stderr}")


def wait_for(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False




def native_arch():
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, "arm")


def pack_busybox_app(device, alder, name, version, seq, script, *extra):
    """A signed package of a busybox app running `sh -c script` as root in its container."""
    rootfs = device.tmp / f"bb-{name}-{version}"
    if not rootfs.exists():
        busybox_rootfs(rootfs)
    pkg = device.tmp / f"{name}-{version}.alpkg"
    r = alder("app", "pack", "--key", str(device.keys / "dev.key"), "--cert", str(device.keys / "dev.pem"),
              "--name", name, "--version", version, "--arch", native_arch(), "--sequence", str(seq),
              "--user", "0:0", "--cmd", json.dumps(["/bin/sh", "-c", script]), *extra, "-o", str(pkg), str(rootfs))
    assert r.rc == 0, r.err
    return pkg
