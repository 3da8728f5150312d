#!/usr/bin/python3
"""App start→exit cycles through alder-appd against the raw OCI runtime, in the same run:

    appd   app.start over the socket, then app.wait until the app has exited
           (the daemon writes config.json, runs the container detached, reaps its
           init, records the exit and deletes the container)
    raw    `RUNTIME run --bundle B ID` of a bundle with the same hardened config.json
           (ocispec, as appd generates it) and the same root filesystem
    secd   the appd cycle of two apps, alternately, with alder-secd running on the same
           root: one with its secd socket (before each start appd asks secd to serve the
           app, app_add on its admin socket, and the container gets the app's socket
           folder bind-mounted), one without (permissions.secure_services "none")

and alder-appd's memory: RSS (and its private part, RssAnon) idle, and with 10
apps running, against `sleep` (the smallest dynamically linked program) as the
floor every process pays for libc.

Usage: bench/app-start/run.py [--build DIR] [--cycles 50] [--runtime runc|crun] [--json]

Needs root, runc or crun, and busybox-static (/bin/busybox). Ratios > 1 mean
alder-appd is slower than the reference.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
from appd_device import busybox_rootfs, native_arch  # noqa: E402


class Appd:
    """A persistent IPC connection (docs/api/ipc.md): no CLI process per call."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        body = json.dumps({"id": self.next_id, "method": method, "params": params}).encode()
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        n = struct.unpack(">I", self.recv(4))[0]
        reply = json.loads(self.recv(n))
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']['message']}")
        return reply["result"]

    def recv(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise RuntimeError("alder-appd closed the connection")
            buf += chunk
        return buf


def memory(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0])
    return fields


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def pack(build, keys, rootfs, name, cmd, out, *extra):
    run([f"{build}/host/alder", "app", "pack", "--key", f"{keys}/dev.key", "--cert", f"{keys}/dev.pem",
         "--name", name, "--version", "1.0.0", "--arch", native_arch(), "--sequence", "1", "--user", "0:0",
         "--restart", "no", "--cmd", json.dumps(cmd), *extra, "-o", out, rootfs])


def wait_exited(appd, name):
    st = appd.call("app.wait", name=name)  # answered when the daemon has reaped the container's init
    assert st["state"] in ("stopped", "failed"), st
    return st


def bench_appd(appd, cycles, names=("hello",)):
    """Start→exit cycles of each app in turn: {name: [seconds]}."""
    times = {name: [] for name in names}
    for _ in range(cycles):
        for name in names:
            t0 = time.perf_counter()
            appd.call("app.start", name=name)
            st = wait_exited(appd, name)
            times[name].append(time.perf_counter() - t0)
            assert st["last_exit"]["code"] == 0, st
    return times[names[0]] if len(names) == 1 else times


def bench_raw(build, runtime, store, bundle, cycles):
    app_dir = os.path.realpath(f"{store}/hello/current")
    with open(f"{store}/ids.json") as f:
        index = json.load(f)["hello"]  # the app's id range (lib/alder/appstore.h)
    os.makedirs(bundle, exist_ok=True)
    run([f"{build}/tests/helpers/ocispec-bundle", "--rootfs", f"{app_dir}/rootfs", "--id-start",
         str(100000 + 65536 * index), f"{app_dir}/app.json", bundle])
    state = tempfile.mkdtemp(prefix="raw-state-")
    times = []
    for i in range(cycles):
        t0 = time.perf_counter()
        r = subprocess.run([runtime, "--root", state, "run", "--bundle", bundle, f"raw{i}"], capture_output=True)
        times.append(time.perf_counter() - t0)
        assert r.returncode == 0 and r.stdout == b"hello\n", r
    shutil.rmtree(state, ignore_errors=True)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--cycles", type=int, default=50)
    ap.add_argument("--runtime", default="runc")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    runtime = shutil.which(a.runtime)
    if os.geteuid() != 0 or not runtime or not os.path.exists("/bin/busybox"):
        sys.exit("app-start bench: needs root, the runtime and /bin/busybox (busybox-static)")

    base = tempfile.mkdtemp(prefix="alder-bench-", dir="/tmp")
    os.chmod(base, 0o755)
    root, keys = f"{base}/root", f"{base}/keys"
    os.makedirs(f"{root}/config/trust")
    os.makedirs(keys)
    run([f"{build}/host/alder", "keys", "generate", "--out", f"{keys}/dev", "--cn", "dev"])
    shutil.copy(f"{keys}/dev.pem", f"{root}/config/trust/dev.pem")
    with open(f"{root}/config/appd.json", "w") as f:
        json.dump({"runtime": a.runtime}, f)
    rootfs = f"{base}/rootfs"
    busybox_rootfs(Path(rootfs))
    pack(build, keys, rootfs, "hello", ["/bin/echo", "hello"], f"{base}/hello.alpkg")
    pack(build, keys, rootfs, "plain", ["/bin/echo", "hello"], f"{base}/plain.alpkg", "--secure-services", "none")
    for i in range(10):
        pack(build, keys, rootfs, f"idle{i}", ["/bin/sleep", "1000"], f"{base}/idle{i}.alpkg")

    sock = f"{root}/run/alder/appd.sock"
    daemon = subprocess.Popen([f"{build}/device/appd/alder-appd", "--root", root], stderr=subprocess.DEVNULL,
                              env={**os.environ, "ALDER_LOG_LEVEL": "warning"})
    floor = subprocess.Popen(["sleep", "1000"])
    secd = None
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            assert time.monotonic() < deadline and daemon.poll() is None, "alder-appd did not start"
            time.sleep(0.02)
        time.sleep(0.2)
        appd = Appd(sock)
        appd.call("app.install", package=f"{base}/hello.alpkg")
        bench_appd(appd, 3)  # warm-up: page cache, first cgroup creation
        idle = memory(daemon.pid)
        appd_times = bench_appd(appd, a.cycles)
        raw_times = bench_raw(build, runtime, f"{root}/var/lib/alder/apps", f"{base}/bundle", a.cycles)
        secd = subprocess.Popen([f"{build}/device/secd/alder-secd", "--root", root], stderr=subprocess.DEVNULL,
                                env={**os.environ, "ALDER_LOG_LEVEL": "warning"})
        deadline = time.monotonic() + 10
        while not os.path.exists(f"{root}/run/alder/secd/admin.sock"):
            assert time.monotonic() < deadline and secd.poll() is None, "alder-secd did not start"
            time.sleep(0.02)
        appd.call("app.install", package=f"{base}/plain.alpkg")
        pair = ("hello", "plain")
        bench_appd(appd, 3, pair)  # warm-up: secd makes the app's store folder and socket once
        secd_times = bench_appd(appd, a.cycles, pair)
        for i in range(10):
            appd.call("app.install", package=f"{base}/idle{i}.alpkg")
            appd.call("app.start", name=f"idle{i}")
        time.sleep(0.5)
        busy = memory(daemon.pid)
        floor_mem = memory(floor.pid)
        for i in range(10):
            appd.call("app.stop", name=f"idle{i}", timeout_ms=2000)
    finally:
        if secd:
            secd.terminate()
            secd.wait(timeout=10)
        floor.kill()
        daemon.terminate()
        daemon.wait(timeout=10)
        subprocess.run([runtime, "--root", f"{root}/run/alder/runtime", "list"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)

    med_appd, med_raw = statistics.median(appd_times), statistics.median(raw_times)
    med_secd, med_plain = statistics.median(secd_times["hello"]), statistics.median(secd_times["plain"])
    result = {
        "runtime": a.runtime,
        "cycles": a.cycles,
        "appd_start_exit_ms": round(med_appd * 1000, 1),
        "raw_run_ms": round(med_raw * 1000, 1),
        "ratio": round(med_appd / med_raw, 2),
        "appd_secd_start_exit_ms": round(med_secd * 1000, 1),
        "appd_no_secd_socket_start_exit_ms": round(med_plain * 1000, 1),
        "secd_ratio": round(med_secd / med_plain, 3),
        "appd_rss_kb_idle": idle["VmRSS"],
        "appd_rss_anon_kb_idle": idle["RssAnon"],
        "appd_rss_kb_10_apps": busy["VmRSS"],
        "appd_rss_anon_kb_10_apps": busy["RssAnon"],
        "sleep_rss_kb": floor_mem["VmRSS"],
    }
    if a.json:
        print(json.dumps(result, indent=2))
        return
    print(f"start→exit, median of {a.cycles}: alder-appd {result['appd_start_exit_ms']} ms, "
          f"raw {a.runtime} run {result['raw_run_ms']} ms → {result['ratio']}×")
    print(f"with alder-secd running: app with its socket {result['appd_secd_start_exit_ms']} ms, without "
          f"{result['appd_no_secd_socket_start_exit_ms']} ms → {result['secd_ratio']}×")
    print(f"alder-appd RSS: idle {idle['VmRSS']} KiB (private {idle['RssAnon']} KiB), "
          f"10 apps {busy['VmRSS']} KiB (private {busy['RssAnon']} KiB); "
          f"`sleep` {floor_mem['VmRSS']} KiB (private {floor_mem['RssAnon']} KiB)")


if __name__ == "__main__":
    main()
