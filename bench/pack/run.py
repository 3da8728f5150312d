#!/usr/bin/python3
"""Pack and verify throughput of `alder app pack` / `alder app verify`,
against the plain tools on the same data in the same run:

    pack    vs  tar -cf - . | zstd -3 -T1      (what packing must at least do)
    verify  vs  sha256sum of the package      (what verifying must at least do)

Usage: bench/pack/run.py [--build DIR] [--size-mb 200] [--runs 3] [--json]

The root filesystem is generated (deterministic): a mix of compressible text,
incompressible random data and many small files, like a real container image.
Ratios > 1 mean Alder is slower than the reference. Median of --runs.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_rootfs(path, size_mb):
    rnd = random.Random(42)
    words = [bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9)))
             for _ in range(2000)]
    budget = size_mb << 20
    written = 0
    i = 0
    while written < budget:
        d = os.path.join(path, "usr", "lib", f"pkg{i % 50}")
        os.makedirs(d, exist_ok=True)
        kind = i % 4
        if kind == 0:  # big binary-like: random
            n = min(rnd.randint(1 << 20, 4 << 20), budget - written)
            data = rnd.randbytes(n)
        elif kind in (1, 2):  # text-like: compressible
            n = min(rnd.randint(64 << 10, 1 << 20), budget - written)
            out = bytearray()
            while len(out) < n:
                out += b" ".join(rnd.choice(words) for _ in range(12)) + b"\n"
            data = bytes(out[:n])
        else:  # many small files
            for j in range(64):
                with open(os.path.join(d, f"small{i}_{j}.conf"), "wb") as f:
                    f.write(b"key=value\n" * rnd.randint(1, 40))
            i += 1
            continue
        with open(os.path.join(d, f"file{i}.bin"), "wb") as f:
            f.write(data)
        written += len(data)
        i += 1


def timed(cmd, **kw):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    alder = os.path.join(args.build, "host", "alder")
    for tool in ("tar", "zstd", "sha256sum"):
        if not shutil.which(tool):
            sys.exit(f"bench: '{tool}' not found (apt-get install {tool})")

    with tempfile.TemporaryDirectory(prefix="alder-bench-pack-") as tmp:
        rootfs = os.path.join(tmp, "rootfs")
        os.makedirs(rootfs)
        print(f"bench: generating a {args.size_mb} MiB root filesystem", file=sys.stderr)
        make_rootfs(rootfs, args.size_mb)
        keys = os.path.join(tmp, "keys")
        os.makedirs(keys)
        subprocess.run([alder, "keys", "generate", "--out", os.path.join(keys, "bench"), "--cn", "bench"],
                       check=True, stdout=subprocess.DEVNULL)
        out = os.path.join(tmp, "out")
        os.makedirs(out)
        pkg = os.path.join(out, "bench_1.0.0_amd64.alpkg")
        pack = [alder, "app", "pack", "--key", os.path.join(keys, "bench.key"),
                "--cert", os.path.join(keys, "bench.pem"), "--name", "bench", "--version", "1.0.0",
                "--arch", "amd64", "--cmd", "/bin/true", "-o", pkg, rootfs]
        verify = [alder, "app", "verify", "--trust", keys, pkg]
        ref_out = os.path.join(tmp, "ref.tar.zst")
        ref_pack = ["sh", "-c", f"tar -C '{rootfs}' -cf - . | zstd -3 -T1 -q -f -o '{ref_out}'"]
        ref_verify = ["sha256sum", pkg]

        res = {}
        for name, cmd in (("pack", pack), ("ref_pack", ref_pack), ("verify", verify), ("ref_verify", ref_verify)):
            times = []
            for _ in range(args.runs):
                subprocess.run(["sync"])
                times.append(timed(cmd))
            res[name] = statistics.median(times)
        size_in = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(rootfs) for f in fs)
        report = {
            "rootfs_bytes": size_in,
            "package_bytes": os.path.getsize(pkg),
            "reference_bytes": os.path.getsize(ref_out),
            "seconds": res,
            "pack_MBps": size_in / res["pack"] / 1e6,
            "verify_MBps": os.path.getsize(pkg) / res["verify"] / 1e6,
            "ratio_pack_vs_tar_zstd": res["pack"] / res["ref_pack"],
            "ratio_verify_vs_sha256sum": res["verify"] / res["ref_verify"],
            "ratio_size_vs_tar_zstd": os.path.getsize(pkg) / os.path.getsize(ref_out),
        }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        s = report["seconds"]
        print(f"rootfs {report['rootfs_bytes'] / 2**20:.0f} MiB -> package {report['package_bytes'] / 2**20:.1f} MiB "
              f"(tar|zstd: {report['reference_bytes'] / 2**20:.1f} MiB)")
        print(f"pack    {s['pack']:.2f} s ({report['pack_MBps']:.0f} MB/s)   tar|zstd {s['ref_pack']:.2f} s   "
              f"ratio {report['ratio_pack_vs_tar_zstd']:.2f}")
        print(f"verify  {s['verify']:.2f} s ({report['verify_MBps']:.0f} MB/s)   sha256sum {s['ref_verify']:.2f} s   "
              f"ratio {report['ratio_verify_vs_sha256sum']:.2f}")


if __name__ == "__main__":
    main()
