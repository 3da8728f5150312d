"""config.json from lib/ocispec.c run by a real OCI runtime (runc).

A static busybox (Debian busybox-static) is the whole root file system; the
app's meta asks for one data volume. From inside the container we check what
the hardened defaults promise: root of a user namespace only, read-only root,
no capabilities, no new privileges, no namespace or mount escapes, and a
writable data volume whose files land on the host.
"""
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

ID_START = 100000
ID_COUNT = 65536
BUSYBOX = Path("/bin/busybox")
RUNC = shutil.which("runc")

pytestmark = [
    pytest.mark.skipif(RUNC is None, reason="runc is not installed (scripts/deps.sh test)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="runc with user namespaces needs root"),
]

# One shell script answers every question, so the container starts only once per case.
PROBE = r"""
echo "uid=$(id -u)"
echo "uid_map=$(cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //')"
if touch /rootfile 2>/tmp/err; then echo "rootwrite=ok"; else echo "rootwrite=$(cat /tmp/err)"; fi
grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\t' | sed 's/:/=/'
if unshare -U true 2>/dev/null; then echo "unshare=ok"; else echo "unshare=fail"; fi
if mount -t tmpfs x /mnt 2>/dev/null; then echo "mount=ok"; else echo "mount=fail"; fi
echo hello > /data/from-container && echo "volume=ok"
echo "hostname=$(hostname)"
"""


def static_busybox():
    if not BUSYBOX.exists():
        return None
    out = subprocess.run(["file", "-L", str(BUSYBOX)], capture_output=True, text=True).stdout
    return BUSYBOX if "statically linked" in out else None


@pytest.fixture
def bundle():
    if static_busybox() is None:
        pytest.skip("no static /bin/busybox (apt-get install busybox-static)")
    # Not below pytest's 0700 tmp dir: the container's mapped root must reach the bundle.
    top = Path(tempfile.mkdtemp(prefix="alder-ocispec-"))
    top.chmod(0o755)
    rootfs = top / "rootfs"
    for d in ("bin", "proc", "dev", "sys", "tmp", "data", "mnt"):
        (rootfs / d).mkdir(parents=True)
    shutil.copy(BUSYBOX, rootfs / "bin" / "busybox")
    for applet in ("sh", "id", "cat", "touch", "grep", "tr", "sed", "unshare", "mount", "echo", "hostname", "sleep"):
        (rootfs / "bin" / applet).symlink_to("busybox")
    volume = top / "volume"
    volume.mkdir()
    for p in (rootfs, *rootfs.rglob("*"), volume):
        os.lchown(p, ID_START, ID_START)
    yield top
    shutil.rmtree(top, ignore_errors=True)


def write_config(build_dir, bundle_dir, no_limits, cmd=("/bin/sh", "-c", PROBE)):
    meta = {
        "format": 1, "name": "probe", "version": "1.0.0", "arch": "amd64",
        "runtime": {"cmd": list(cmd)},
        "permissions": {"limits": {"memory_bytes": 64 << 20, "cpu_millis": 500, "pids": 64},
                        "volumes": [{"name": "data", "path": "/data"}]},
    }
    (bundle_dir / "app.json").write_text(json.dumps(meta))
    args = [str(build_dir / "tests" / "helpers" / "ocispec-bundle"), "--rootfs", str(bundle_dir / "rootfs"),
            "--id-start", str(ID_START), "--id-count", str(ID_COUNT), "--volume", f"data={bundle_dir / 'volume'}",
            str(bundle_dir / "app.json"), str(bundle_dir)]
    if no_limits:
        args.insert(1, "--no-limits")
    subprocess.run(args, check=True, capture_output=True, text=True, timeout=10)


def run_container(bundle_dir):
    cid = f"alder-ocispec-{uuid.uuid4().hex[:12]}"
    try:
        return subprocess.run([RUNC, "run", "--bundle", str(bundle_dir), cid], capture_output=True, text=True,
                              timeout=20, stdin=subprocess.DEVNULL)
    finally:
        subprocess.run([RUNC, "delete", "-f", cid], capture_output=True, timeout=10)


def probe(build_dir, bundle_dir):
    """Runs PROBE with limits, falling back to none if this host's cgroups refuse them."""
    write_config(build_dir, bundle_dir, no_limits=False)
    proc = run_container(bundle_dir)
    if proc.returncode != 0 and "cgroup" in proc.stderr:
        write_config(build_dir, bundle_dir, no_limits=True)
        proc = run_container(bundle_dir)
    assert proc.returncode == 0, f"runc failed: {proc.stderr}\n{proc.stdout}"
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def test_container_is_hardened(build_dir, bundle):
    r = probe(build_dir, bundle)
    assert r["uid"] == "0"
    assert r["uid_map"].split() == ["0", str(ID_START), str(ID_COUNT)]
    assert "Read-only file system" in r["rootwrite"]
    assert r["CapEff"] == "0000000000000000"
    assert r["CapBnd"] == "0000000000000000"
    assert r["NoNewPrivs"] == "1"
    assert r["Seccomp"] == "2"
    assert r["unshare"] == "fail"
    assert r["mount"] == "fail"
    assert r["hostname"] == "probe"
    assert r["volume"] == "ok"
    host_file = bundle / "volume" / "from-container"
    assert host_file.read_text() == "hello\n"
    assert host_file.stat().st_uid == ID_START


def test_generator_refuses_bad_user(build_dir, bundle):
    meta = {"format": 1, "name": "probe", "version": "1.0.0", "arch": "amd64",
            "runtime": {"cmd": ["/bin/sh"], "user": "nobody"}}
    (bundle / "app.json").write_text(json.dumps(meta))
    proc = subprocess.run([str(build_dir / "tests" / "helpers" / "ocispec-bundle"), str(bundle / "app.json"),
                           str(bundle)], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 1
    assert "field 'runtime.user': 'nobody' is not numeric UID[:GID]" in proc.stderr
    assert not (bundle / "config.json").exists()
