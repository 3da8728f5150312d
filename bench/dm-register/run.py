#!/usr/bin/python3
"""LwM2M registrations against alder-dm, with libcoap's own resource directory
(coap-rd-notls from libcoap3-bin, no database, no REST) under the same load in
the same run as the reference:

    register   N simulated clients (build/bench/dm-register/dm-load: one process,
               one libcoap session and source port each) Register with C requests
               in flight: registrations per second, p50/p99 latency
    update     the same clients Update their registration (alder-dm only: coap-rd
               has no rd/<id> to update)

and alder-dm's CPU time per registration and resident memory per registered
device (VmRSS after minus before, divided by N).

Usage: bench/dm-register/run.py [--build DIR] [--devices 1000,10000] [--concurrency 64] [--json]
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TICKS = os.sysconf("SC_CLK_TCK")


def free_port(kind=socket.SOCK_DGRAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def wait_udp_server(port, proc):
    """Waits until something answers CoAP on the port (an empty CON: ping, answered with RST)."""
    deadline = time.monotonic() + 10
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            assert proc.poll() is None, "server exited"
            s.sendto(b"\x40\x00\x12\x34", ("127.0.0.1", port))
            try:
                s.recvfrom(64)
                return
            except socket.timeout:
                pass
    raise RuntimeError("server did not come up")


def load(build, port, n, concurrency, updates):
    out = subprocess.run([str(build / "bench/dm-register/dm-load"), "127.0.0.1", str(port), str(n), str(concurrency),
                          str(updates)], capture_output=True, text=True, timeout=1800, check=True).stdout
    return json.loads(out)


def run_alder_dm(build, n, concurrency):
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        proc = subprocess.Popen([str(build / "dm/alder-dm"), "--db", f"{d}/dm.db", "--address", "127.0.0.1",
                                 "--coap-port", str(port), "--coaps-port", "0", "--http-port",
                                 str(free_port(socket.SOCK_STREAM))],
                                stderr=subprocess.DEVNULL, env={**os.environ, "ALDER_LOG_LEVEL": "warning"})
        try:
            wait_udp_server(port, proc)
            rss0, cpu0 = rss_kib(proc.pid), cpu_seconds(proc.pid)
            r = load(build, port, n, concurrency, 1)
            r["rss_kib_idle"] = rss0
            r["rss_kib_loaded"] = rss_kib(proc.pid)
            r["rss_bytes_per_device"] = (r["rss_kib_loaded"] - rss0) * 1024 / n
            r["server_cpu_ms_per_request"] = (cpu_seconds(proc.pid) - cpu0) * 1000 / (2 * n)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    return r


def run_coap_rd(build, n, concurrency):
    port = free_port()
    proc = subprocess.Popen(["coap-rd-notls", "-A", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_udp_server(port, proc)
        rss0, cpu0 = rss_kib(proc.pid), cpu_seconds(proc.pid)
        r = load(build, port, n, concurrency, 0)
        r["rss_bytes_per_device"] = (rss_kib(proc.pid) - rss0) * 1024 / n
        r["server_cpu_ms_per_request"] = (cpu_seconds(proc.pid) - cpu0) * 1000 / n
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--devices", default="1000,10000")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    build = Path(args.build)
    results = []
    for n in [int(x) for x in args.devices.split(",")]:
        dm = run_alder_dm(build, n, args.concurrency)
        rd = run_coap_rd(build, n, args.concurrency)
        results.append({"devices": n, "alder-dm": dm, "coap-rd": rd})
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
        return
    print(f"{'devices':>8} {'server':>9} {'reg/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'upd/s':>8} {'upd p99':>8} "
          f"{'cpu ms/req':>10} {'RSS B/dev':>10}")
    for r in results:
        for name in ("alder-dm", "coap-rd"):
            x = r[name]
            upd = x.get("update1", {})
            print(f"{r['devices']:>8} {name:>9} {x['register']['per_second']:>8.0f} {x['register']['p50_ms']:>8.1f} "
                  f"{x['register']['p99_ms']:>8.1f} {upd.get('per_second', 0):>8.0f} {upd.get('p99_ms', 0):>8.1f} "
                  f"{x['server_cpu_ms_per_request']:>10.3f} {x['rss_bytes_per_device']:>10.0f}")
        ratio = r["coap-rd"]["register"]["per_second"] / r["alder-dm"]["register"]["per_second"]
        print(f"{'':>8} coap-rd registers {ratio:.2f}x as fast as alder-dm at {r['devices']} devices")
        for name in ("alder-dm", "coap-rd"):
            fails = r[name]["register"]["failures"] + r[name].get("update1", {}).get("failures", 0)
            if fails:
                print(f"{'':>8} {name}: {fails} requests failed")


if __name__ == "__main__":
    main()
