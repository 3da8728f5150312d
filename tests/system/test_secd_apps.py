"""alder-secd and alder-appd together, with real containers: appd asks secd to serve each app it
starts and mounts the app's socket folder alone into its container; apps use libalder-psa from
inside (examples/secure-counter, and tests/helpers/psa-client built static for probing); secd
checks that a peer of an app's socket is in the app's cgroup. docs/api/secd.md, "Container
integration"."""
import hashlib
import json
import shutil

import pytest

from appd_device import device, needs_runtime, busybox_rootfs, native_arch, wait_for  # noqa: F401
from test_secd import Secd, ST

pytestmark = needs_runtime

SECD_DIR = "/run/alder/secd.d"


@pytest.fixture
def secd(device, build_dir):
    """alder-secd on the device's root, serving no app until appd asks."""
    d = Secd(build_dir, device.root, [])
    d.start()
    yield d
    if d.proc.poll() is None:
        d.stop()


def pack(device, alder, build_dir, name, version, seq, script, *extra):
    """A signed busybox app with secure-counter and psa-client (static) beside busybox, running
    `sh -c script` as root in its container, not restarted when it ends."""
    rootfs = device.tmp / f"secd-{name}-{version}"
    shutil.rmtree(rootfs, ignore_errors=True)
    busybox_rootfs(rootfs)
    shutil.copy(build_dir / "examples/secure-counter/secure-counter", rootfs / "bin/secure-counter")
    shutil.copy(build_dir / "tests/helpers/psa-client-static", rootfs / "bin/psa-client")
    pkg = device.tmp / f"{name}-{version}.alpkg"
    r = alder("app", "pack", "--key", str(device.keys / "dev.key"), "--cert", str(device.keys / "dev.pem"),
              "--name", name, "--version", version, "--arch", native_arch(), "--sequence", str(seq),
              "--user", "0:0", "--restart", "no", "--cmd", json.dumps(["/bin/sh", "-c", script]), *extra,
              "-o", str(pkg), str(rootfs))
    assert r.rc == 0, r.err
    return pkg


def log_of(device, name):
    log = device.root / "var/log/alder/apps" / f"{name}.log"
    return log.read_text().splitlines() if log.exists() else []


def output_after(device, name, mark, until, run=1):
    """The log lines of `name` after its run-th line `mark` once a line `until` follows it."""
    def lines():
        log = log_of(device, name)
        starts = [i for i, line in enumerate(log) if line == mark]
        return log[starts[run - 1] + 1:] if len(starts) >= run else []
    assert wait_for(lambda: until in lines(), timeout=20), log_of(device, name)
    return lines()


def run_app(device, alder, build_dir, name, script, *extra, version="1.0.0", seq=1, until="done"):
    """Installs (or updates to) and starts the app; its output once the line `until` is there."""
    mark = f"--- {version} ---"
    pkg = pack(device, alder, build_dir, name, version, seq, f"echo '{mark}'; {script}", *extra)
    installed = device.app("status", "--json", name).rc == 0
    r = device.app("update" if installed else "install", str(pkg))
    assert r.rc == 0, r.err
    if device.app("status", "--json", name).json()["state"] != "running":
        r = device.app("start", name)
        assert r.rc == 0, r.err
    return output_after(device, name, mark, until)


def value(lines, key):
    return next(line.split(": ", 1)[1] for line in lines if line.startswith(key + ": "))


COUNTER = "secure-counter && echo done && exec sleep 1000"


def test_app_sees_only_its_own_socket(device, alder, build_dir, secd):
    script = (f"echo env $ALDER_SECD_SOCKET; ls {SECD_DIR}; ls /run/alder; ls /run/alder/secd 2>&1; "
              f"grep ' {SECD_DIR} ' /proc/self/mounts; {COUNTER}")
    lines = run_app(device, alder, build_dir, "a", script)
    assert f"env {SECD_DIR}/secd.sock" in lines
    listing = lines[lines.index(f"env {SECD_DIR}/secd.sock") + 1:]
    assert listing[:2] == ["secd.sock", "secd.d"], lines  # the app's socket alone; nothing else of /run/alder
    assert any("No such file or directory" in line for line in lines), lines  # no /run/alder/secd (admin)
    mount = next(line for line in lines if f" {SECD_DIR} " in line)
    assert mount.split()[3].split(",")[0] == "ro", mount
    assert "key: generated" in lines and "verified" in lines, lines
    status = device.app("status", "--json", "a").json()
    assert status["secure_services"] == "available" and "secure_services_error" not in status, status
    assert "secure svcs    available" in device.app("status", "a").out


def test_key_and_secret_survive_an_update(device, alder, build_dir, secd):
    v1 = run_app(device, alder, build_dir, "a", COUNTER)
    assert "key: generated" in v1 and value(v1, "counter") == "1", v1
    v2 = run_app(device, alder, build_dir, "a", COUNTER, version="2.0.0", seq=2)
    assert device.app("status", "--json", "a").json()["version"] == "2.0.0"
    assert "key: loaded" in v2 and value(v2, "counter") == "2", v2
    assert value(v2, "public") == value(v1, "public")


def test_other_app_can_neither_see_nor_use_nor_destroy(device, alder, build_dir, secd):
    a = run_app(device, alder, build_dir, "a", COUNTER)
    a_public = value(a, "public")
    a_sock = secd.sock("a")
    digest = hashlib.sha256(b"m").hexdigest()
    probes = [("attrs", "attrs 1"), ("export-public", "export-public 1"), ("sign", f"sign 1 ecdsa-sha256 {digest}"),
              ("destroy", "destroy 1"), ("ps-get", "ps-get 1"), ("ps-info", "ps-info 1"), ("ps-rm", "ps-rm 1")]
    script = "; ".join(f"echo \"{what}: $(psa-client {args})\"" for what, args in probes)
    # A's socket by its host path and by the admin socket's: neither exists in B's container.
    script += (f"; echo \"a-host: $(ALDER_SECD_SOCKET={a_sock} psa-client attrs 1)\""
               f"; echo \"admin: $(ALDER_SECD_SOCKET={secd.admin} psa-client attrs 1)\""
               "; echo \"admin-path: $(ALDER_SECD_SOCKET=/run/alder/secd/admin.sock psa-client attrs 1)\""
               f"; ls {a_sock} {secd.admin} /run/alder/secd 2>&1 | sed 's/^/ls: /'"
               # B's own key 1 is another key: same id, other app
               "; echo \"own: $(psa-client generate ecc 256 sign,verify ecdsa-sha256 1)\""
               "; echo \"own-public: $(psa-client export-public 1)\"; echo done; exec sleep 1000")
    b = run_app(device, alder, build_dir, "b", script)
    invalid_handle, does_not_exist = f"PSA status {ST['invalid_handle']}", f"PSA status {ST['does_not_exist']}"
    unreachable = f"PSA status {ST['communication_failure']}"
    expected = {"attrs": invalid_handle, "export-public": invalid_handle, "sign": invalid_handle,
                "destroy": invalid_handle, "ps-get": does_not_exist, "ps-info": does_not_exist,
                "ps-rm": does_not_exist, "a-host": unreachable, "admin": unreachable, "admin-path": unreachable,
                "own": "1"}
    assert {k: value(b, k) for k in expected} == expected, b
    assert sum(line.startswith("ls: ") and "No such file or directory" in line for line in b) == 3, b
    assert value(b, "own-public") != a_public
    # A's key and secret are still there, untouched
    rc, out, err = secd.secure("--json", "keys", "list", "--app", "a")
    assert rc == 0, err
    assert [k["id"] for k in json.loads(out)] == [1]
    assert device.app("restart", "a").rc == 0
    again = output_after(device, "a", "--- 1.0.0 ---", "done", run=2)
    assert "key: loaded" in again and value(again, "counter") == "2" and value(again, "public") == a_public, again


def test_remove_keeps_keys_only_with_keep_data(device, alder, build_dir, secd):
    first = run_app(device, alder, build_dir, "a", COUNTER)
    store = device.root / "var/lib/alder/secd/a"
    sock_dir = device.root / "run/alder/secd/apps/a"
    assert store.is_dir() and sock_dir.is_dir()
    r = device.app("remove", "--keep-data", "a")
    assert r.rc == 0 and "warning" not in r.err, r.err
    assert store.is_dir() and not sock_dir.exists()  # not served any more, keys kept
    kept = run_app(device, alder, build_dir, "a", COUNTER)
    assert "key: loaded" in kept and value(kept, "counter") == "2", kept
    assert value(kept, "public") == value(first, "public")
    r = device.app("remove", "a")
    assert r.rc == 0 and "warning" not in r.err, r.err
    assert not store.exists() and not sock_dir.exists()
    rc, out, _ = secd.secure("--json", "keys", "list", "--app", "a")
    assert (rc, json.loads(out) if rc == 0 else None) == (0, []), out
    fresh = run_app(device, alder, build_dir, "a", COUNTER)
    assert "key: generated" in fresh and value(fresh, "counter") == "1", fresh
    assert value(fresh, "public") != value(first, "public")


def test_apps_reconnect_after_a_secd_restart(device, alder, build_dir, secd):
    run_app(device, alder, build_dir, "a", "secure-counter --ticks 60", until="tick: 1 signed")
    secd.stop()
    secd.start()
    lines = output_after(device, "a", "--- 1.0.0 ---", "secd: back")
    lost = next(line for line in lines if line.startswith("secd: lost"))
    assert lost == f"secd: lost (PSA status {ST['communication_failure']})", lines
    after = len(lines)
    assert wait_for(lambda: any(line.endswith(" signed") for line in log_of(device, "a")[after:]), timeout=10)
    # the restarted secd still knows the app's cgroup: it accepted the app and refuses the host
    assert secd.app("a", "attrs", "1") == (3, f"PSA status {ST['not_permitted']}")


def test_cgroup_cross_check_refuses_a_process_outside_the_app(device, alder, build_dir, secd):
    run_app(device, alder, build_dir, "a", COUNTER)
    # This test's process on the host, through the app's socket path: the socket alone would let it in.
    assert secd.app("a", "attrs", "1") == (3, f"PSA status {ST['not_permitted']}")
    assert secd.app("a", "ps-get", "1") == (3, f"PSA status {ST['not_permitted']}")
    err = secd.stop()
    assert "app a: refusing pid" in err and "is not the app's (/alder/a.*)" in err, err


def test_without_secd(device, alder, build_dir):
    """secd is not running: an optional app starts without its socket and says why; an app that
    requires secure services does not start; an app that wants none gets none."""
    lines = run_app(device, alder, build_dir, "opt", f"ls {SECD_DIR} 2>&1; echo done", until="done")
    assert f"ls: {SECD_DIR}: No such file or directory" in lines, lines
    status = device.app("status", "--json", "opt").json()
    assert status.get("secure_services") in ("unavailable", None), status  # None: it has exited already
    pkg = pack(device, alder, build_dir, "req", "1.0.0", 1, COUNTER, "--secure-services", "required")
    assert device.app("install", str(pkg)).rc == 0
    r = device.app("start", "req")
    assert r.rc != 0
    assert "app 'req' requires secure services (permissions.secure_services): alder-secd is not running" in r.err
    assert device.app("status", "--json", "req").json()["state"] == "failed"


def test_status_tells_why_an_app_runs_without_secd(device, alder, build_dir):
    run_app(device, alder, build_dir, "opt", "echo done; exec sleep 1000")
    status = device.app("status", "--json", "opt").json()
    assert status["secure_services"] == "unavailable", status
    assert status["secure_services_error"].startswith("alder-secd is not running: connect '"), status
    assert "secure svcs    unavailable: alder-secd is not running" in device.app("status", "opt").out
    _, err = device.stop()
    assert "starting opt without secure services" in err, err
    device.start()  # adopts the app: what its bundle mounts is still known
    assert device.app("status", "--json", "opt").json()["secure_services"] == "unavailable"


def test_app_that_wants_none_gets_none(device, alder, build_dir, secd):
    lines = run_app(device, alder, build_dir, "none", f"echo env $ALDER_SECD_SOCKET; ls {SECD_DIR} 2>&1; echo done; "
                    "exec sleep 1000", "--secure-services", "none")
    assert "env" in lines and f"ls: {SECD_DIR}: No such file or directory" in lines, lines
    assert device.app("status", "--json", "none").json()["secure_services"] == "none"
    assert not (device.root / "run/alder/secd/apps/none").exists()
