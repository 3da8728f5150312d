#!/usr/bin/python3
"""Install throughput of alder-updated into a file-backed slot against `dd` of the same image
to a slot of the same size, in the same run, and the agent's peak memory.

    agent  alder-updated install BUNDLE: envelope verification, zstd decompression, SHA-256 of
           the compressed stream and of the written image, write, fsync, page-cache drop and
           read-back of the slot, one fw_setenv (env copies in plain files)
    dd     dd if=IMAGE of=SLOT bs=1M conv=notrunc,fsync (no verification at all), and the same
           followed by an O_DIRECT read of the image's length (what the agent's read-back costs)

Peak RSS: VmHWM from /proc/PID/status sampled during the install, and ru_maxrss from wait4()
(the kernel's own peak), for two image sizes to show that it does not grow with the image.

Usage: bench/update/run.py [--build DIR] [--size-mib 256] [--runs 3] [--json]
Ratio = agent throughput / dd throughput (goal >= 0.9). Needs fw_setenv/fw_printenv
(libubootenv-tool) and mkenvimage (u-boot-tools).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def make_image(path, size):
    """Half random (incompressible), half a repeating pattern: roughly a real filesystem's mix."""
    chunk = 1 << 20
    pattern = bytes(range(256)) * (chunk // 256)
    with open(path, "wb") as f:
        for i in range(size // chunk):
            f.write(os.urandom(chunk) if i % 2 == 0 else pattern)


def setup_device(d, build, keys, slot_size):
    (d / "config" / "trust").mkdir(parents=True)
    (d / "config" / "trust" / "dev.pem").write_bytes((keys / "dev.pem").read_bytes())
    for s in "AB":
        with open(d / f"slot{s}", "wb") as f:
            f.truncate(slot_size)
    (d / "env.txt").write_text("boot_slot=A\nupgrade_available=0\nbootcount=0\nbootlimit=3\n")
    subprocess.run(["mkenvimage", "-r", "-s", "0x4000", "-o", str(d / "uboot.env"), str(d / "env.txt")], check=True)
    red = bytearray((d / "uboot.env").read_bytes())
    red[4] = 0
    (d / "uboot-redund.env").write_bytes(bytes(red))
    (d / "fw_env.config").write_text(f"{d}/uboot.env 0x0 0x4000\n{d}/uboot-redund.env 0x0 0x4000\n")
    (d / "config" / "updated.json").write_text(json.dumps({
        "product": "bench", "slots": {"A": str(d / "slotA"), "B": str(d / "slotB")},
        "fw_env_config": str(d / "fw_env.config"), "booted_slot": "A", "appd_socket": ""}))


def reset_env(d):
    subprocess.run(["fw_setenv", "-c", str(d / "fw_env.config"), "upgrade_available", "0"], check=True)
    subprocess.run(["fw_setenv", "-c", str(d / "fw_env.config"), "boot_slot", "A"], check=True)


def run_agent(build, d, bundle):
    exe = build / "device" / "updated" / "alder-updated"
    t0 = time.monotonic()
    p = subprocess.Popen([str(exe), "--root", str(d), "-q", "install", str(bundle)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    hwm = anon = 0
    while True:
        try:
            for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    hwm = max(hwm, int(line.split()[1]))
                elif line.startswith("RssAnon:"):
                    anon = max(anon, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            pass
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.005)
    elapsed = time.monotonic() - t0
    if status != 0:
        sys.exit(f"install failed: {p.stderr.read().decode()}")
    return elapsed, (hwm, anon), ru.ru_maxrss


def run_dd(image, slot, size):
    """dd alone, and dd followed by a read-back of the same length from the device (O_DIRECT)."""
    t0 = time.monotonic()
    subprocess.run(["dd", f"if={image}", f"of={slot}", "bs=1M", "conv=notrunc,fsync", "status=none"], check=True)
    t1 = time.monotonic()
    subprocess.run(["dd", f"if={slot}", "of=/dev/null", "bs=1M", f"count={size >> 20}", "iflag=direct",
                    "status=none"], check=True)
    return t1 - t0, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("ALDER_BUILD_DIR", ROOT / "build"), type=Path)
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    alder = a.build / "host" / "alder"
    results = {"size_mib": a.size_mib, "runs": a.runs, "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="alder-bench-update-") as tmp:
        tmp = Path(tmp)
        subprocess.run([str(alder), "keys", "generate", "--out", str(tmp / "dev"), "--cn", "bench"], check=True,
                       capture_output=True)
        for size_mib in sorted({max(a.size_mib // 8, 8), a.size_mib}):
            size = size_mib << 20
            image, bundle = tmp / f"img-{size_mib}", tmp / f"b-{size_mib}.alupd"
            make_image(image, size)
            subprocess.run([str(alder), "update", "create", "--product", "bench", "--version", "1", "--image",
                            str(image), "--key", str(tmp / "dev.key"), "--cert", str(tmp / "dev.pem"), "-q", "-o",
                            str(bundle)], check=True)
            d = tmp / f"dev-{size_mib}"
            setup_device(d, a.build, tmp, size + (1 << 20))
            agent, dd, ddrb, hwms, anons, maxrss = [], [], [], [], [], []
            for _ in range(a.runs):
                reset_env(d)
                t, hwm, rss = run_agent(a.build, d, bundle)
                agent.append(t)
                hwms.append(hwm[0])
                anons.append(hwm[1])
                maxrss.append(rss)
                t_dd, t_ddrb = run_dd(image, d / "slotA", size)
                dd.append(t_dd)
                ddrb.append(t_ddrb)
            ta, td, trb = statistics.median(agent), statistics.median(dd), statistics.median(ddrb)
            results["sizes"][size_mib] = {
                "agent_mib_s": round(size_mib / ta, 1), "dd_mib_s": round(size_mib / td, 1),
                "ratio": round(td / ta, 2), "dd_readback_mib_s": round(size_mib / trb, 1),
                "ratio_vs_dd_readback": round(trb / ta, 2), "vmhwm_kib": max(hwms), "rss_anon_kib": max(anons),
                "ru_maxrss_kib": max(maxrss),
                "bundle_mib": round(bundle.stat().st_size / (1 << 20), 1)}
    if a.json:
        print(json.dumps(results, indent=2))
        return
    for size_mib, r in results["sizes"].items():
        print(f"{size_mib:5d} MiB image ({r['bundle_mib']} MiB bundle): agent {r['agent_mib_s']} MiB/s, "
              f"dd {r['dd_mib_s']} MiB/s (ratio {r['ratio']}), dd + read-back {r['dd_readback_mib_s']} MiB/s "
              f"(ratio {r['ratio_vs_dd_readback']}); agent peak RSS {r['vmhwm_kib']} KiB (VmHWM), "
              f"anonymous {r['rss_anon_kib']} KiB, ru_maxrss {r['ru_maxrss_kib']} KiB")


if __name__ == "__main__":
    main()
