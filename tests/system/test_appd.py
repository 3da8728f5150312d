"""alder-appd's package store through its socket and the `alder app install|list|
status|remove` commands, with a whole device root in a temp folder."""
import json
import os
import subprocess
import time

import pytest

from appd_device import device, needs_runtime, busybox_rootfs, process_gone, wait_for  # noqa: F401


def versions_on_disk(device, name="hello"):
    return sorted(p.name for p in (device.root / "var/lib/alder/apps" / name / "versions").iterdir())


def test_install_update_list_remove(device):
    r = device.app("install", str(device.package("1.0.0", 10)))
    assert r.rc == 0, r.err
    assert r.out == "installed hello 1.0.0 (sequence 10)\n"
    r = device.app("install", "--json", str(device.package("1.1.0", 11)))
    assert r.json() == {"name": "hello", "version": "1.1.0", "sequence": 11, "previous_version": "1.0.0",
                        "running": False}
    apps = device.app("list", "--json").json()
    assert [(a["name"], a["version"], a["previous"]["version"]) for a in apps] == [("hello", "1.1.0", "1.0.0")]
    assert "hello" in device.app("list").out and "1.0.0" in device.app("list").out
    st = device.app("status", "--json", "hello").json()
    assert st["sequence"] == 11 and st["signer"] == "CN=dev"
    current = device.root / "var/lib/alder/apps/hello/current/rootfs/bin/hello"
    assert current.read_text() == "version 1.1.0\n"
    assert versions_on_disk(device) == ["10-1.0.0", "11-1.1.0"]
    r = device.app("remove", "hello")
    assert r.rc == 0 and r.out == "removed hello\n"
    assert device.app("list", "--json").json() == []
    r = device.app("status", "hello")
    assert r.rc == 1 and "alder-appd: app 'hello' is not installed" in r.err


def test_refusals_leave_the_store_unchanged(device):
    assert device.app("install", str(device.package("2.0.0", 20))).rc == 0
    cases = [
        (device.package("1.0.0", 19), "refusing sequence 19, older than the installed 20 (anti-rollback)"),
        (device.package("2.0.1", 20), "sequence 20 is already installed"),
        (device.package("3.0.0", 30, key="other"), "trust"),
        (device.package("3.0.0", 31, arch="arm" if os.uname().machine == "x86_64" else "amd64"),
         "this device is"),
    ]
    for pkg, message in cases:
        r = device.app("install", str(pkg))
        assert r.rc == 1 and message in r.err, (pkg, r.err)
        assert r.err.count(str(pkg)) == 1, r.err  # the package is named, once
    assert versions_on_disk(device) == ["20-2.0.0"]
    staging = device.root / "var/lib/alder/apps/.staging"
    assert list(staging.iterdir()) == []


def test_remove_keeping_data(device):
    assert device.app("install", str(device.package("1.0.0", 1))).rc == 0
    data = device.root / "var/lib/alder/apps/hello/data/db"
    data.parent.mkdir(parents=True)
    data.write_text("precious")
    r = device.app("remove", "--keep-data", "hello")
    assert r.rc == 0 and r.out == "removed hello (data kept)\n"
    assert data.read_text() == "precious"
    assert device.app("install", str(device.package("1.0.0", 1))).rc == 0
    assert data.read_text() == "precious"


def test_restart_after_kill_recovers_the_store(device):
    assert device.app("install", str(device.package("1.0.0", 1))).rc == 0
    # what a kill -9 in the middle of installs leaves behind
    apps = device.root / "var/lib/alder/apps"
    (apps / ".staging" / "half" / "rootfs").mkdir(parents=True)
    (apps / "hello" / "versions" / "2-2.0.0" / "rootfs").mkdir(parents=True)
    device.proc.kill()
    device.proc.wait()
    device.start()
    assert versions_on_disk(device) == ["1-1.0.0"]
    assert list((apps / ".staging").iterdir()) == []
    assert device.app("list", "--json").json()[0]["version"] == "1.0.0"
    assert device.app("install", str(device.package("2.0.0", 2))).rc == 0


def test_daemon_not_running(alder, tmp_path):
    r = alder("app", "list", "--socket", str(tmp_path / "none.sock"))
    assert r.rc == 1 and "alder-appd is not reachable (is it running?)" in r.err


def test_logs_of_unknown_app(device):
    r = device.app("logs", "nothing")
    assert r.rc == 1 and "alder-appd: app 'nothing' has no log yet" in r.err
    r = device.app("logs", "../etc")
    assert r.rc == 1 and "app name '../etc'" in r.err


def test_usage(alder, build_dir):
    for cmd in ("install", "update", "list", "status", "remove", "start", "stop", "restart", "wait", "logs"):
        h = alder("app", cmd, "--help")
        assert h.rc == 0 and h.out.startswith(f"Usage: alder app {cmd}"), cmd
    assert alder("app", "install").rc == 2
    assert alder("app", "list", "--keep-data").rc == 2
    d = subprocess.run([str(build_dir / "device/appd/alder-appd"), "--help"], capture_output=True, text=True)
    assert d.returncode == 0 and d.stdout.startswith("Usage: alder-appd")
    d = subprocess.run([str(build_dir / "device/appd/alder-appd"), "--bogus"], capture_output=True, text=True)
    assert d.returncode == 2


# ---- running apps in real containers (runc on this host, as root) ---------------------------------------

@needs_runtime
def test_installed_app_runs_hardened_and_stops(device, alder):
    rootfs = device.tmp / "bb-rootfs"
    busybox_rootfs(rootfs)
    script = ("echo started; id -u; cat /proc/self/status | grep -E '^(CapEff|NoNewPrivs)'; "
              "touch /rootfs-write 2>&1 || echo ro-root; echo kept > /data/file; "
              "unshare -U true 2>/dev/null || echo no-unshare; "
              "trap 'echo bye; exit 0' TERM; sleep 1000 & wait")
    pkg = device.tmp / "box.alpkg"
    r = alder("app", "pack", "--key", str(device.keys / "dev.key"), "--cert", str(device.keys / "dev.pem"),
              "--name", "box", "--version", "1.0.0", "--arch", {"x86_64": "amd64", "aarch64": "arm64"}[os.uname().machine],
              "--sequence", "1", "--user", "0:0", "--volume", "data:/data",
              "--cmd", json.dumps(["/bin/sh", "-c", script]), "-o", str(pkg), str(rootfs))
    assert r.rc == 0, r.err
    assert device.app("install", str(pkg)).rc == 0
    r = device.app("start", "--json", "box")
    assert r.rc == 0, r.err
    pid = r.json()["pid"]
    log = device.root / "var/log/alder/apps/box.log"
    assert wait_for(lambda: log.exists() and "no-unshare" in log.read_text()), log.read_text() if log.exists() else ""
    out = log.read_text()
    assert "started\n0\n" in out                      # root inside the container...
    uid_map = open(f"/proc/{pid}/uid_map").read().split()
    assert uid_map[:2] == ["0", "100000"]              # ...is an unprivileged range outside
    assert "CapEff:\t0000000000000000" in out
    assert "NoNewPrivs:\t1" in out
    assert "ro-root" in out and "Read-only file system" in out
    data = device.root / "var/lib/alder/apps/box/data/data/file"
    assert data.read_text() == "kept\n" and data.stat().st_uid == 100000
    st = device.app("status", "--json", "box").json()
    assert st["state"] == "running" and st["pid"] == pid
    # the same output through the daemon, and a follower that sees new lines
    r = device.app("logs", "box")
    assert r.rc == 0 and r.out == out, r.err
    follower = subprocess.Popen([str(device.alder_exe), "app", "logs", "-f", "--socket", str(device.sock), "box"],
                                stdout=subprocess.PIPE, text=True)
    assert device.app("start", "box").rc == 1           # already running
    r = device.app("stop", "box")
    assert r.rc == 0 and r.out == "stopped box\n", r.err  # SIGTERM was enough
    assert log.read_text().endswith("bye\n")
    time.sleep(0.8)  # two polls of the follower
    follower.terminate()
    followed = follower.communicate(timeout=10)[0]
    assert followed.startswith("started\n") and followed.endswith("bye\n"), followed
    assert device.app("status", "--json", "box").json()["state"] == "stopped"
    # the init process is gone (the host reaps the orphaned zombie soon after)
    assert wait_for(lambda: process_gone(pid))
    r = device.app("stop", "box")
    assert r.rc == 1 and "app 'box' is not running" in r.err
