#!/usr/bin/python3
"""Power-cut campaign on the QEMU device: QEMU is killed at seeded random instants of an A/B
update, and after every cut the device must boot a valid slot (A or B, never neither) with its
core app running, and `alder update status` must say what happened.

Phases (chosen per cut, seeded):
  install  while the bundle streams into the inactive slot and its FIT into /boot: the installer
           gets a random number of the bundle's bytes (a multiple of 4 KiB), then the power fails
  arming   a random delay (0-4 s) after the installer has read the whole bundle: read-back of the
           slot, FIT fsync + rename, fw_setenv, state write
  boot     a random delay (0-40 s) into the first boot of the new slot: U-Boot, kernel, health
           check, commit (each cut counts a try; U-Boot gives up after bootlimit)

Usage: bench/powercut/run.py [--cuts 300] [--seed 1] [--phases install,arming,boot] [--json FILE]

The image and the version-2 bundle come from the test fixture (tests/system/image_fixture.py):
built, or taken from its cache (ALDER_IMAGE_CACHE_DIR, default build-image-cache), from
ALDER_AARCH64_BUILD_DIR and ALDER_HOST_BUILD_DIR like the tests. One cut costs a cold boot
(15-25 s under TCG): 300 cuts take about two hours.
"""
import argparse
import collections
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "system"))
os.environ.setdefault("ALDER_IMAGE_TESTS", "1")

import image_fixture  # noqa: E402
from image_fixture import IMAGE_DIR, BundleBuild, Device, build_image, image_env  # noqa: E402

ON_DEVICE = "/var/lib/alder/v2.alupd"
def status(dev):
    return json.loads(dev.check("alder update status", timeout=60))


def cut_during_install(dev, rng, size, start):
    offset = rng.randrange(start // 4096 + 1, size // 4096) * 4096
    dev.install_cut_short(ON_DEVICE, offset)
    dev.power_cut()
    return {"offset": offset}


def cut_while_arming(dev, rng, size, start):
    delay = rng.uniform(0, 4)
    dev.check(f"alder update install - <{ON_DEVICE} >/dev/null 2>&1 & true")
    dev.wait_installer_read(size)
    time.sleep(delay)
    dev.power_cut()
    return {"delay": round(delay, 2)}


def cut_during_first_boot(dev, rng, size, start):
    delay = rng.uniform(0, 40)
    dev.check(f"alder update install {ON_DEVICE} >/dev/null", timeout=600)
    dev.shutdown()
    # Start QEMU without waiting for readiness, then pull the plug.
    proc = subprocess.Popen([str(IMAGE_DIR / "run"), "--image", str(dev.image_dir), "--state", str(dev.state),
                             "--headless", "--timeout", "300"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(delay)
    dev.power_cut()
    proc.wait(timeout=60)
    return {"delay": round(delay, 2)}


PHASES = {"install": cut_during_install, "arming": cut_while_arming, "boot": cut_during_first_boot}


def check(dev, before, phase):
    """After the cut: a valid slot boots, the core app runs, nothing is left half-done."""
    ready = dev.boot(fresh=False, timeout=420)
    slot = ready.split("slot=")[1][0]
    st = status(dev)
    agent = st["agent"]
    problems = []
    if slot not in "AB":
        problems.append(f"booted {ready!r}")
    if not dev.app_running("hello-world"):
        problems.append("the core app does not run")
    if st["env"]["upgrade_available"] or st["env"]["boot_slot"] != slot:
        problems.append(f"env still armed or pointing elsewhere: {st['env']}")
    if agent.get("state") == "installing":
        problems.append("state still 'installing'")
    if slot != before and agent.get("state") != "committed":
        problems.append(f"switched to slot {slot} without a commit: {agent}")
    if "did not boot slot" in agent.get("error", ""):
        problems.append(f"the bootloader could not boot the armed slot (its FIT was not durable): {agent}")
    if slot == before and phase == "install" and agent.get("state") != "failed":
        problems.append(f"an interrupted install is not reported: {agent}")
    return slot, agent.get("state"), agent.get("error", ""), problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cuts", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--phases", default="install,arming,boot")
    ap.add_argument("--json", help="write every cut's record to this file")
    args = ap.parse_args()
    phases = args.phases.split(",")
    for p in phases:
        if p not in PHASES:
            ap.error(f"unknown phase {p!r} (one of {', '.join(PHASES)})")
    reason = image_fixture.skip_reason()
    if reason:
        sys.exit(f"bench/powercut: {reason}")

    image = build_image()
    seq = int(image_env(image)["ALDER_IMAGE_SEQUENCE"])
    bundle = BundleBuild(image, "v2", "2", seq + 200,
                         {"etc/alder/version-2": ("the second version\n", 0o644)}).wait()
    size = bundle.stat().st_size
    start = 16 + int.from_bytes(bundle.read_bytes()[12:16], "big")
    rng = random.Random(args.seed)
    state = Path(tempfile.mkdtemp(prefix="alder-powercut."))
    dev = Device(image, state)
    records, outcomes, failures = [], collections.Counter(), 0
    t0 = time.monotonic()
    try:
        dev.boot()
        proc = dev.ssh(f"cat > {ON_DEVICE} && sync", input=bundle, timeout=600)
        if proc.returncode != 0:
            sys.exit(f"bench/powercut: copying the bundle failed: {proc.stderr}")
        for k in range(args.cuts):
            phase = rng.choice(phases)
            before = status(dev)["booted_slot"]
            rec = {"cut": k + 1, "phase": phase, "from": before, **PHASES[phase](dev, rng, size, start)}
            slot, agent_state, error, problems = check(dev, before, phase)
            rec.update({"booted": slot, "state": agent_state, "error": error, "problems": problems})
            records.append(rec)
            outcomes[(phase, "new slot" if slot != before else "old slot", agent_state)] += 1
            failures += bool(problems)
            print(f"cut {k + 1}/{args.cuts} {phase:8} {json.dumps({x: rec[x] for x in rec if x not in ('cut', 'phase')})}"
                  f" [{time.monotonic() - t0:.0f} s]", flush=True)
            if problems:
                dev.keep_log(f"powercut-{k + 1}")
    finally:
        dev.power_cut()
        if args.json:
            Path(args.json).write_text(json.dumps(records, indent=2) + "\n")
    print(f"\n{len(records)} cuts (seed {args.seed}) in {time.monotonic() - t0:.0f} s; "
          f"{failures} with problems")
    for (phase, where, st), n in sorted(outcomes.items()):
        print(f"  {phase:8} -> {where:8} state {st}: {n}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
