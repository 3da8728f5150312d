#!/usr/bin/python3
"""Crypto through alder-secd against the same operations in-process with OpenSSL, in the same run:

    sign   ECDSA P-256 signatures per second: psa_sign_hash() of a persistent key over
           the app socket (tests/helpers/psa-client bench-sign) vs `openssl speed ecdsap256`
    aead   AES-256-GCM MB/s for SIZE-byte messages: psa_aead_encrypt() vs
           `openssl speed -evp aes-256-gcm -bytes SIZE`

and alder-secd's memory (VmRSS and its private part RssAnon) idle with two apps, and
after the runs. Ratios > 1 mean secd is slower than in-process OpenSSL (the price of
the socket round trip, the key load from the sealed store and the policy checks).

Usage: bench/secd/run.py [--build DIR] [--seconds 3] [--size 4096] [--json]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def rss(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "RssAnon"):
            fields[k] = int(v.split()[0])
    return fields


def openssl_speed(args, seconds):
    out = subprocess.run(["openssl", "speed", "-seconds", str(max(1, round(seconds))), "-mr", *args], capture_output=True,
                         text=True, check=True).stdout
    return [line.split(":") for line in out.splitlines() if line.startswith("+F")]


def client(build, sock, *args):
    p = subprocess.run([str(build / "tests/helpers/psa-client"), *map(str, args)], capture_output=True, text=True,
                       env={**os.environ, "ALDER_SECD_SOCKET": sock}, check=True)
    return p.stdout.strip()


def through_secd(build, sock, op, seconds, *args):
    """Runs N calls, N grown until a run takes `seconds`; returns the helper's JSON."""
    n = 100
    while True:
        t0 = time.monotonic()
        r = json.loads(client(build, sock, op, *args, n))
        if time.monotonic() - t0 >= seconds:
            return r
        n *= 4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("ALDER_BUILD_DIR", ROOT / "build"), type=Path)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as root:
        proc = subprocess.Popen([str(a.build / "device/secd/alder-secd"), "--root", root, "--app", "bench",
                                 "--app", "other"], stderr=subprocess.DEVNULL)
        sock = f"{root}/run/alder/secd/apps/bench/secd.sock"
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            if time.monotonic() > deadline:
                sys.exit("alder-secd did not start")
            time.sleep(0.01)
        time.sleep(0.2)
        idle = rss(proc.pid)
        client(a.build, sock, "generate", "ecc", 256, "sign", "ecdsa-sha256", 1)
        client(a.build, sock, "generate", "aes", 256, "encrypt", "gcm", 2)
        sign = through_secd(a.build, sock, "bench-sign", a.seconds, 1)
        aead = through_secd(a.build, sock, "bench-aead", a.seconds, 2, a.size)
        busy = rss(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    ref_sign = float(openssl_speed(["ecdsap256"], a.seconds)[0][3])
    ref_aead = float(openssl_speed(["-bytes", str(a.size), "-evp", "aes-256-gcm"], a.seconds)[0][3]) / 1e6
    result = {
        "ecdsa_p256_sign_per_s": {"secd": sign["ops_per_s"], "openssl": ref_sign,
                                  "ratio": round(ref_sign / sign["ops_per_s"], 2)},
        f"aes256_gcm_{a.size}B_mb_per_s": {"secd": aead["mb_per_s"], "openssl": round(ref_aead, 1),
                                           "ratio": round(ref_aead / aead["mb_per_s"], 2)},
        "aead_calls_per_s": aead["ops_per_s"],
        "secd_rss_kb": {"idle": idle, "after": busy},
    }
    if a.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
