#!/usr/bin/python3
"""Crypto through alder-secd against the same operations in-process with OpenSSL, in the same run:

    sign   ECDSA P-256 signatures per second: psa_sign_hash() of a persistent key over
           the app socket (tests/helpers/psa-client bench-sign) vs `openssl speed ecdsap256`
    aead   AES-256-GCM MB/s for SIZE-byte messages: psa_aead_encrypt() vs
           `openssl speed -evp aes-256-gcm -bytes SIZE`

and alder-secd's memory idle with two apps (software backend), and after the runs. Ratios > 1
mean secd is slower than in-process OpenSSL (the price of the socket round trip, the key load
from the sealed store and the policy checks).

    memory     from /proc/PID/smaps, in KB: RSS, PSS, private dirty (anonymous memory: heap,
               stack, data, and the libraries' data as the dynamic linker relocated it: no
               other process can share it) and private clean (file pages no other process maps
               at the moment: shared as soon as one does, reclaimable), and RSS by kind:
               library text and read-only data (the same pages for every process that maps the
               library), library data relocated at load, secd's own binary, anonymous memory.
               References in the same run: `sleep` (a process with libc alone: the floor of
               any C daemon) and `openssl dgst` waiting for its input (OpenSSL 3 initialised).

    backends   signatures per second per key backend, through secd, in the same run:
               ECDSA P-256 and RSA-PSS-2048 (SHA-256) with the software backend,
               the TPM backend on a swtpm started here (when swtpm is installed) and
               the PKCS#11 backend on a softhsm2 token made here (ECDSA only: RSA keys
               are software keys there); each ratio is software ops/s / backend ops/s
               (> 1: slower than software)

Usage: bench/secd/run.py [--build DIR] [--seconds 3] [--size 4096] [--json] [--memory]
       (--memory: the memory figures alone, idle and after 300 signatures and AEAD calls, untimed)
"""
import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def memory(pid):
    """RSS, PSS, private dirty and clean of a process, and its RSS by kind (see the module's doc), in KB."""
    exe = os.path.realpath(f"/proc/{pid}/exe")
    total = {"rss": 0, "pss": 0, "private_dirty": 0, "private_clean": 0}
    kinds = {"library_text": 0, "library_relocated_data": 0, "own_binary": 0, "anonymous": 0}
    path, fields = None, {}

    def account():
        if path is None:
            return
        rss = fields.get("Rss", 0)
        total["rss"] += rss
        total["pss"] += fields.get("Pss", 0)
        total["private_dirty"] += fields.get("Private_Dirty", 0)
        total["private_clean"] += fields.get("Private_Clean", 0)
        if not path.startswith("/"):  # [heap], [stack], anonymous, [vdso]
            kinds["anonymous"] += rss
        elif path == exe:
            kinds["own_binary"] += rss
        else:
            kinds["library_relocated_data"] += fields.get("Private_Dirty", 0)
            kinds["library_text"] += rss - fields.get("Private_Dirty", 0)

    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split(None, 5)
        if re.fullmatch(r"[0-9a-f]+-[0-9a-f]+", head[0]):
            account()
            path, fields = (head[5] if len(head) > 5 else ""), {}
        elif head[0].endswith(":") and len(head) == 3 and head[2] == "kB":
            fields[head[0][:-1]] = int(head[1])
    account()
    return {**total, "rss_by_kind": kinds}


def reference_memory():
    """memory() of `sleep` (libc alone) and of `openssl dgst` waiting for its input (OpenSSL initialised)."""
    out = {}
    for name, argv in (("sleep (libc alone)", ["sleep", "60"]),
                       ("openssl dgst (OpenSSL 3 initialised)", ["openssl", "dgst", "-sha256"])):
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            out[name] = memory(p.pid)
        finally:
            p.kill()
            p.wait()
    return out


def idle_memory(proc):
    """secd's memory once it has been idle a moment."""
    time.sleep(0.3)
    return memory(proc.pid)


def openssl_speed(args, seconds):
    out = subprocess.run(["openssl", "speed", "-seconds", str(max(1, round(seconds))), "-mr", *args], capture_output=True,
                         text=True, check=True).stdout
    return [line.split(":") for line in out.splitlines() if line.startswith("+F")]


def client(build, sock, *args):
    p = subprocess.run([str(build / "tests/helpers/psa-client"), *map(str, args)], capture_output=True, text=True,
                       env={**os.environ, "ALDER_SECD_SOCKET": sock}, check=True)
    return p.stdout.strip()


def through_secd(build, sock, seconds, before_n, after_n=()):
    """Runs `psa-client BEFORE... N AFTER...`, N grown until a run takes `seconds`; returns the helper's JSON."""
    n = 10
    while True:
        t0 = time.monotonic()
        r = json.loads(client(build, sock, *before_n, n, *after_n))
        if time.monotonic() - t0 >= seconds:
            return r
        n *= 4


@contextlib.contextmanager
def secd_running(build, root, config=None):
    """alder-secd on root with apps bench and other; yields (process, the bench app's socket)."""
    if config:
        os.makedirs(f"{root}/config", exist_ok=True)
        Path(f"{root}/config/secd.json").write_text(json.dumps(config))
    proc = subprocess.Popen([str(build / "device/secd/alder-secd"), "--root", root, "--app", "bench",
                             "--app", "other"], stderr=subprocess.DEVNULL)
    sock = f"{root}/run/alder/secd/apps/bench/secd.sock"
    deadline = time.monotonic() + 10
    while not os.path.exists(sock):
        if time.monotonic() > deadline or proc.poll() is not None:
            sys.exit("alder-secd did not start")
        time.sleep(0.01)
    try:
        yield proc, sock
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def free_port_pair():
    """A loopback port P with P+1 free as well (swtpm's control channel)."""
    for _ in range(50):
        with socket.socket() as s, socket.socket() as s2:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            try:
                s2.bind(("127.0.0.1", port + 1))
                return port
            except (OSError, OverflowError):  # taken, or P was 65535
                continue
    sys.exit("no free pair of loopback ports")


@contextlib.contextmanager
def swtpm_running(state):
    """A swtpm on a free loopback port pair; yields its TCTI string."""
    port = free_port_pair()
    proc = subprocess.Popen(["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state}", "--flags",
                             "not-need-init,startup-clear", "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                             "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port + 1), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                sys.exit("swtpm did not start")
            time.sleep(0.05)
    try:
        yield f"swtpm:host=127.0.0.1,port={port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
SIGN_KEYS = [("ecdsa_p256", ["ecc", 256, "sign", "ecdsa-sha256"], "ecdsa-sha256"),
             ("rsa_pss_2048", ["rsa", 2048, "sign", "rsa-pss-sha256"], "rsa-pss-sha256")]


def backend_signs(build, config, seconds):
    """Signatures per second of each SIGN_KEYS key through secd with a backend."""
    out = {}
    with tempfile.TemporaryDirectory() as root, secd_running(build, root, config) as (_, sock):
        for i, (name, gen, alg) in enumerate(SIGN_KEYS, start=10):
            if config and config["backend"] == "pkcs11" and gen[0] == "rsa":
                out[name] = None
                continue
            client(build, sock, "generate", *gen, i)
            out[name] = through_secd(build, sock, seconds, ("bench-sign", i), (alg,))["ops_per_s"]
    return out


def per_backend(build, seconds):
    results = {"software": backend_signs(build, None, seconds)}
    if shutil.which("swtpm"):
        with tempfile.TemporaryDirectory() as state, swtpm_running(state) as tcti:
            results["tpm (swtpm)"] = backend_signs(build, {"backend": "tpm", "tpm": {"tcti": tcti}}, seconds)
    if shutil.which("softhsm2-util") and os.path.exists(SOFTHSM):
        with tempfile.TemporaryDirectory() as tokens:
            os.environ["SOFTHSM2_CONF"] = f"{tokens}/softhsm2.conf"
            Path(os.environ["SOFTHSM2_CONF"]).write_text(f"directories.tokendir = {tokens}\n")
            subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", "1234",
                            "--so-pin", "5678"], check=True, capture_output=True)
            cfg = {"backend": "pkcs11", "pkcs11": {"module": SOFTHSM, "token": "bench", "pin": "1234"}}
            results["pkcs11 (softhsm2)"] = backend_signs(build, cfg, seconds)
    table = {}
    for backend, ops in results.items():
        for name, v in ops.items():
            if v is None:  # the backend keeps no such key in hardware
                continue
            table.setdefault(name, {})[backend] = {"sign_per_s": v,
                                                   "ratio_vs_software": round(results["software"][name] / v, 2)}
    return table


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("ALDER_BUILD_DIR", ROOT / "build"), type=Path)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--memory", action="store_true")
    a = ap.parse_args()
    if a.memory:  # idle, then after a few hundred calls (no timing)
        with tempfile.TemporaryDirectory() as root, secd_running(a.build, root) as (proc, sock):
            idle = idle_memory(proc)
            client(a.build, sock, "generate", "ecc", 256, "sign", "ecdsa-sha256", 1)
            client(a.build, sock, "generate", "aes", 256, "encrypt", "gcm", 2)
            client(a.build, sock, "bench-sign", 1, 300)
            client(a.build, sock, "bench-aead", 2, a.size, 300)
            busy = idle_memory(proc)
        show({"secd_memory_kb": {"idle": idle, "after": busy}, "reference_memory_kb": reference_memory()}, a.json)
        return
    with tempfile.TemporaryDirectory() as root, secd_running(a.build, root) as (proc, sock):
        idle = idle_memory(proc)
        client(a.build, sock, "generate", "ecc", 256, "sign", "ecdsa-sha256", 1)
        client(a.build, sock, "generate", "aes", 256, "encrypt", "gcm", 2)
        sign = through_secd(a.build, sock, a.seconds, ("bench-sign", 1))
        aead = through_secd(a.build, sock, a.seconds, ("bench-aead", 2, a.size))
        busy = idle_memory(proc)
    backends = per_backend(a.build, a.seconds)
    ref_sign = float(openssl_speed(["ecdsap256"], a.seconds)[0][3])
    ref_aead = float(openssl_speed(["-bytes", str(a.size), "-evp", "aes-256-gcm"], a.seconds)[0][3]) / 1e6
    result = {
        "ecdsa_p256_sign_per_s": {"secd": sign["ops_per_s"], "openssl": ref_sign,
                                  "ratio": round(ref_sign / sign["ops_per_s"], 2)},
        f"aes256_gcm_{a.size}B_mb_per_s": {"secd": aead["mb_per_s"], "openssl": round(ref_aead, 1),
                                           "ratio": round(ref_aead / aead["mb_per_s"], 2)},
        "aead_calls_per_s": aead["ops_per_s"],
        "secd_memory_kb": {"idle": idle, "after": busy},
        "reference_memory_kb": reference_memory(),
        "sign_per_backend": backends,
    }
    show(result, a.json)


def show(result, as_json):
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
