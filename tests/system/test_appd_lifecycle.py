"""alder-appd's life-cycle of apps in real containers (runc on this host): update of a running app
with health check and rollback, restart policy with back-off, exit codes, stop timeout, core apps at
start and adoption of running containers after alder-appd itself was killed."""
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from appd_device import device, needs_runtime, pack_busybox_app, process_gone, runtime_containers, wait_for  # noqa: F401

pytestmark = needs_runtime
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello-world"

# A service: says which version it is, then waits for SIGTERM.
SERVICE = "echo {v} up; trap 'echo {v} bye; exit 0' TERM; while true; do sleep 0.1; done"


def status(device, name):
    r = device.app("status", "--json", name)
    assert r.rc == 0, r.err
    return r.json()


def containers(device):
    """[(NAME.SEQUENCE, status)] of the runtime's containers (ids are NAME.SEQUENCE.RUN)."""
    return sorted((cid.rsplit(".", 1)[0], st) for cid, st in runtime_containers(device.root / "run/alder/runtime"))


def log_text(device, name):
    p = device.root / "var/log/alder/apps" / f"{name}.log"
    return p.read_text() if p.exists() else ""


def install(device, pkg, *, update=False):
    r = device.app("update" if update else "install", "--json", str(pkg))
    return r


def test_update_running_app_health_checked_and_rolled_back(device, alder):
    v1 = pack_busybox_app(device, alder, "svc", "1.0.0", 1, SERVICE.format(v="v1"))
    assert install(device, v1).rc == 0
    assert device.app("start", "svc").rc == 0
    assert wait_for(lambda: "v1 up" in log_text(device, "svc"))
    pid1 = status(device, "svc")["pid"]

    # v2 is healthy: it stays up for its grace period, then replaces v1
    v2 = pack_busybox_app(device, alder, "svc", "2.0.0", 2, SERVICE.format(v="v2"), "--health-grace", "1")
    r = install(device, v2, update=True)
    assert r.rc == 0, r.err
    assert r.json()["running"] is True and r.json()["previous_version"] == "1.0.0"
    st = status(device, "svc")
    assert st["state"] == "running" and st["version"] == "2.0.0" and st["running_version"] == "2.0.0"
    pid2 = st["pid"]
    assert pid2 != pid1 and wait_for(lambda: process_gone(pid1))
    assert wait_for(lambda: "v1 bye" in log_text(device, "svc"))  # the old one got SIGTERM
    assert wait_for(lambda: containers(device) == [("svc.2", "running")])

    # v3 exits at once: the update fails, v2 never stopped, the store still points at v2
    v3 = pack_busybox_app(device, alder, "svc", "3.0.0", 3, "echo v3 broken; exit 3", "--health-grace", "2")
    r = install(device, v3, update=True)
    assert r.rc == 1
    assert "update of svc to 3.0.0 failed its health check: it exited with status 3" in r.err, r.err
    assert "2.0.0 keeps running" in r.err
    st = status(device, "svc")
    assert st["version"] == "2.0.0" and st["pid"] == pid2 and st["state"] == "running"
    assert "failed its health check" in st["last_error"]
    assert "v3 broken" in log_text(device, "svc")  # the candidate's output is in the app's log
    assert wait_for(lambda: containers(device) == [("svc.2", "running")])
    versions = sorted(p.name for p in (device.root / "var/lib/alder/apps/svc/versions").iterdir())
    assert versions == ["1-1.0.0", "2-2.0.0"]

    # v4 declares a health command that fails: refused although it stays up
    v4 = pack_busybox_app(device, alder, "svc", "4.0.0", 4, SERVICE.format(v="v4"), "--health-grace", "1",
                          "--health-cmd", json.dumps(["/bin/false"]))
    r = install(device, v4, update=True)
    assert r.rc == 1 and "the health command did not pass within 1 s" in r.err, r.err
    assert status(device, "svc")["pid"] == pid2

    # v5's health command passes: it becomes current before the grace period ends
    v5 = pack_busybox_app(device, alder, "svc", "5.0.0", 5, SERVICE.format(v="v5"), "--health-grace", "20",
                          "--health-cmd", json.dumps(["/bin/true"]))
    r = install(device, v5, update=True)
    assert r.rc == 0, r.err
    assert status(device, "svc")["running_version"] == "5.0.0"

    # remove stops it and leaves nothing behind
    r = device.app("remove", "svc")
    assert r.rc == 0, r.err
    assert wait_for(lambda: containers(device) == [])
    assert list((device.root / "run/alder/bundles").iterdir()) == []
    assert list((device.root / "run/alder/output").iterdir()) == []


def test_update_of_unknown_app_is_refused(device, alder):
    pkg = pack_busybox_app(device, alder, "ghost", "1.0.0", 1, "true")
    r = install(device, pkg, update=True)
    assert r.rc == 1 and "app 'ghost' is not installed: use 'alder app install'" in r.err
    assert not (device.root / "var/lib/alder/apps/ghost/current").exists()


@pytest.mark.appd_config({"restart_delay_ms": 200, "restart_delay_max_ms": 800})
def test_restart_policy_backoff_and_exit_codes(device, alder):
    crashy = pack_busybox_app(device, alder, "crashy", "1.0.0", 1, "echo run; exit 3", "--restart", "on-failure")
    once = pack_busybox_app(device, alder, "once", "1.0.0", 1, "echo done; exit 0", "--restart", "on-failure")
    never = pack_busybox_app(device, alder, "never", "1.0.0", 1, "exit 4", "--restart", "no")
    for pkg in (crashy, once, never):
        assert install(device, pkg).rc == 0
        assert status(device, pkg.name.split("-")[0])["state"] == "installed"
    for name in ("crashy", "once", "never"):
        assert device.app("start", name).rc == 0, name

    # on-failure: restarted again and again, further apart each time (200, 400, 800, 800 ms)
    assert wait_for(lambda: status(device, "crashy")["restarts"] >= 4, timeout=15)
    st = status(device, "crashy")
    assert st["last_exit"]["code"] == 3 and st["last_exit"]["description"] == "exited with status 3"
    assert log_text(device, "crashy").count("run\n") >= 4
    # a stop cancels the scheduled restart
    assert device.app("stop", "crashy").rc == 0
    st = status(device, "crashy")
    assert st["state"] == "stopped" and "restart_in_ms" not in st
    runs = log_text(device, "crashy").count("run\n")

    # exit 0 with on-failure: stays stopped; "no": failed with its code, not restarted
    r = device.app("wait", "--json", "once")  # answered when it has exited (at once if it has already)
    assert r.rc == 0 and r.json()["state"] == "stopped" and r.json()["last_exit"]["code"] == 0, r.out + r.err
    r = device.app("wait", "never")
    assert r.rc == 0 and r.out == "never failed: 1.0.0 exited with status 4\n", r.out + r.err
    st = status(device, "never")
    assert st["last_exit"]["code"] == 4 and st["restarts"] == 0 and "restart_in_ms" not in st
    out = device.app("status", "never").out
    assert "exited with status 4" in out and "failed" in out
    assert log_text(device, "crashy").count("run\n") == runs  # really stopped


def test_stop_escalates_to_sigkill_after_the_timeout(device, alder):
    stubborn = pack_busybox_app(device, alder, "stubborn", "1.0.0", 1,
                                "trap 'echo ignoring TERM' TERM; echo ready; while true; do sleep 0.1; done")
    assert install(device, stubborn).rc == 0
    assert device.app("start", "stubborn").rc == 0
    assert wait_for(lambda: "ready" in log_text(device, "stubborn"))
    params = json.dumps({"name": "stubborn", "timeout_ms": 500})
    r = subprocess.run([str(device.alder_exe), "ipc", "call", "--socket", str(device.sock), "app.stop", params],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["killed"] is True
    st = status(device, "stubborn")
    assert st["state"] == "stopped" and st["last_exit"]["signal"] == signal.SIGKILL
    assert "ignoring TERM" in log_text(device, "stubborn")


@pytest.mark.appd_config({"core_apps": ["alpha", "broken", "missing", "beta"], "restart_delay_ms": 60000})
def test_core_apps_start_and_are_adopted_after_appd_is_killed(device, alder):
    ticker = "i=0; while true; do echo {n} tick $i; i=$((i+1)); sleep 0.2; done"
    for name in ("alpha", "beta"):
        assert install(device, pack_busybox_app(device, alder, name, "1.0.0", 1, ticker.format(n=name))).rc == 0
    # rootfs without the program it should run: fails at start, must not hold up the others
    assert install(device, pack_busybox_app(device, alder, "broken", "1.0.0", 1, "x", "--entrypoint",
                                            json.dumps(["/no/such/program"]))).rc == 0
    device.proc.kill()
    device.proc.wait()
    device.start()  # the core apps come up with appd, in order; a failing one is skipped
    assert wait_for(lambda: status(device, "alpha")["state"] == "running")
    assert status(device, "beta")["state"] == "running"
    assert status(device, "broken")["state"] == "failed"
    assert "no/such/program" in status(device, "broken")["last_error"]
    pids = {n: status(device, n)["pid"] for n in ("alpha", "beta")}
    assert wait_for(lambda: "beta tick 2" in log_text(device, "beta"))

    # appd dies; the apps keep running and are adopted, not started twice
    device.proc.kill()
    device.proc.wait()
    device.start()
    assert {n: status(device, n)["pid"] for n in ("alpha", "beta")} == pids
    assert [c for c in containers(device) if c[1] == "running"] == [("alpha.1", "running"), ("beta.1", "running")]
    # their output flows again into the logs through the re-opened FIFOs
    seen = log_text(device, "alpha").count("tick")
    assert wait_for(lambda: log_text(device, "alpha").count("tick") >= seen + 3)
    # an adopted app is stopped like any other; its exit status is unknown to the new appd
    assert device.app("stop", "alpha").rc == 0
    st = status(device, "alpha")
    assert st["state"] == "stopped" and st["last_exit"]["known"] is False
    assert wait_for(lambda: process_gone(pids["alpha"]))


def test_restart_command(device, alder):
    pkg = pack_busybox_app(device, alder, "svc", "1.0.0", 1, SERVICE.format(v="v1"))
    assert install(device, pkg).rc == 0
    r = device.app("restart", "svc")  # not running: just starts
    assert r.rc == 0 and r.out.startswith("restarted svc (pid "), r.err
    pid = status(device, "svc")["pid"]
    assert wait_for(lambda: "v1 up" in log_text(device, "svc"))
    r = device.app("restart", "--json", "svc")
    assert r.rc == 0, r.err
    assert r.json()["pid"] != pid and "v1 bye" in log_text(device, "svc")
    assert status(device, "svc")["state"] == "running"


@pytest.mark.appd_config({"log_max_bytes": 4096})
def test_app_log_is_bounded_and_rotated(device, alder):
    chatty = pack_busybox_app(device, alder, "chatty", "1.0.0", 1,
                              "i=0; while [ $i -lt 400 ]; do echo line $i of chatter; i=$((i+1)); done; sleep 100")
    assert install(device, chatty).rc == 0
    assert device.app("start", "chatty").rc == 0
    logs = device.root / "var/log/alder/apps"
    assert wait_for(lambda: "line 399 of chatter" in log_text(device, "chatty"))
    assert (logs / "chatty.log").stat().st_size <= 4096 + 2048
    rotated = (logs / "chatty.log.1").read_text()
    assert len(rotated) >= 4096 and rotated.endswith("of chatter\n")
    r = device.app("logs", "chatty")
    assert r.rc == 0 and r.out.endswith("line 399 of chatter\n")


def test_every_app_has_a_private_data_volume(device, alder):
    # packed without --volume: /data is there anyway, writable, owned by the app's id range on the host
    pkg = pack_busybox_app(device, alder, "plain", "1.0.0", 1, "echo kept > /data/file && echo written")
    assert install(device, pkg).rc == 0
    assert device.app("start", "plain").rc == 0
    assert wait_for(lambda: "written" in log_text(device, "plain"))
    data = device.root / "var/lib/alder/apps/plain/data/data/file"
    assert data.read_text() == "kept\n" and data.stat().st_uid >= 100000


def test_full_store_keeps_the_old_version_running_and_leaves_no_debris(device, alder):
    """The store on a small tmpfs: too little space is refused before unpacking; running out of
    inodes in the middle of the unpack fails the install cleanly; the old version keeps running."""
    store = device.root / "var/lib/alder/apps"
    device.stop()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,nr_inodes=600,mode=755", "tmpfs", str(store)], check=True)
    try:
        device.start()
        v1 = pack_busybox_app(device, alder, "svc", "1.0.0", 1, SERVICE.format(v="v1"))
        assert install(device, v1).rc == 0
        assert device.app("start", "svc").rc == 0
        pid = status(device, "svc")["pid"]

        big = device.tmp / "bb-svc-2.0.0"
        pack_busybox_app(device, alder, "svc", "2.0.0", 2, "true")  # creates the rootfs folder
        with open(big / "blob", "wb") as f:
            f.write(os.urandom(40 << 20))
        r = install(device, pack_busybox_app(device, alder, "svc", "2.0.0", 2, "true"), update=True)
        assert r.rc == 1 and "MiB free, the package needs about" in r.err, r.err

        many = device.tmp / "bb-svc-3.0.0"
        pack_busybox_app(device, alder, "svc", "3.0.0", 3, "true")
        (many / "many").mkdir()
        for i in range(1000):  # small: passes the space check, then runs out of inodes
            (many / "many" / f"f{i}").write_text("x")
        r = install(device, pack_busybox_app(device, alder, "svc", "3.0.0", 3, "true"), update=True)
        assert r.rc == 1 and "No space left on device" in r.err, r.err

        st = status(device, "svc")
        assert st["pid"] == pid and st["version"] == "1.0.0" and st["state"] == "running"
        assert list((store / ".staging").iterdir()) == []
        assert sorted(p.name for p in (store / "svc" / "versions").iterdir()) == ["1-1.0.0"]
        # nothing left eating the space: a version that fits installs
        r = install(device, pack_busybox_app(device, alder, "svc", "4.0.0", 4, SERVICE.format(v="v4"),
                                             "--health-grace", "1"), update=True)
        assert r.rc == 0, r.err
        assert device.app("stop", "svc").rc == 0
    finally:
        device.stop()
        subprocess.run(["umount", "-l", str(store)], check=True)
        device.start()


@pytest.fixture(scope="module")
def hello_world_image(tmp_path_factory):
    """The example app (examples/hello-world) built for this machine: an OCI layout."""
    if os.uname().machine != "x86_64" or not shutil.which("umoci"):
        pytest.skip("builds the amd64 example with umoci")
    out = tmp_path_factory.mktemp("hello-world")
    r = subprocess.run([str(EXAMPLE / "build.sh"), "--arch", "amd64", "--tool", "umoci", "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return f"{out}/oci:1.0.0"


def test_hello_world_install_run_update_rollback_remove(device, alder, hello_world_image):
    """The issue's path with the real example app: install, run, update to v2, a v3 that exits at once
    is refused and v2 keeps running, remove."""
    def pack(version, seq, *extra):
        out = device.tmp / f"hello-world-{version}.alpkg"
        r = alder("app", "pack", "--key", str(device.keys / "dev.key"), "--cert", str(device.keys / "dev.pem"),
                  "--version", version, "--sequence", str(seq), "--health-grace", "1", *extra, "-o", str(out),
                  hello_world_image)
        assert r.rc == 0, r.err
        return out

    assert install(device, pack("1.0.0", 1)).rc == 0
    assert device.app("start", "hello-world").rc == 0
    assert wait_for(lambda: "heartbeat 1" in log_text(device, "hello-world"))
    assert "Hello from Alder! hello-world" in log_text(device, "hello-world")
    r = install(device, pack("2.0.0", 2), update=True)
    assert r.rc == 0 and r.json()["running"] is True, r.err
    assert wait_for(lambda: "received SIGTERM, exiting" in log_text(device, "hello-world"))  # v1 stopped cleanly
    st = status(device, "hello-world")
    assert st["running_version"] == "2.0.0" and st["state"] == "running"
    pid = st["pid"]
    r = install(device, pack("3.0.0", 3, "--cmd", json.dumps(["--serve", "soon"])), update=True)
    assert r.rc == 1 and "it exited with status 2" in r.err and "2.0.0 keeps running" in r.err, r.err
    st = status(device, "hello-world")
    assert st["version"] == "2.0.0" and st["pid"] == pid
    assert device.app("remove", "hello-world").rc == 0
    assert wait_for(lambda: containers(device) == [])
    assert not (device.root / "var/lib/alder/apps/hello-world").exists()
