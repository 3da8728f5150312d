"""A/B updates of the booted QEMU device, end to end: alder-updated in the image,
bundles of the image at another version (image/build --bundle-only), refusals,
power cuts while a bundle installs, an unhealthy version rolled back at boot, a
healthy one committed, a FIT that U-Boot refuses.

One device serves the whole module and the tests run in file order, each
starting from where the one before left it (the order is the story of a
device: refusals, power cuts and a torn FIT in slot A, a bad version rolled
back, a good one committed in B, then what happens in B). The two bundles
build side by side before the device boots. Skipped (with the reason) unless
ALDER_IMAGE_TESTS=1. ALDER_IMAGE_UPDATE_CUTS sets the number of power cuts
during an install (default 2; each costs a cold boot); ALDER_IMAGE_UPDATE_SEED
their offsets; bench/powercut runs hundreds. ALDER_IMAGE_UPDATE_PANIC=1 adds a
kernel that panics in the new slot (four boots: about two minutes more).
"""
import json
import os
import random
import re
import subprocess
import time

import pytest

from image_fixture import (BundleBuild, device_image, host_build_dir, image_env, image_keys,  # noqa: F401
                           make_device, requires_image)

pytestmark = requires_image

BUNDLE_ON_DEVICE = "/var/lib/alder/v2.alupd"
CUTS = int(os.environ.get("ALDER_IMAGE_UPDATE_CUTS", "2"))
SEED = int(os.environ.get("ALDER_IMAGE_UPDATE_SEED", "6"))
UNHEALTHY_HOOK = "#!/bin/sh\necho 'self-test: the new image cannot reach its sensor' >&2\nexit 1\n"


def timing(what, value):
    """Figures for docs/design/image.md: shown with pytest -s, and in the junit XML's stdout."""
    print(f"\n[timing] {what}: {value}")


@pytest.fixture(scope="module")
def v1_sequence(device_image):
    return int(image_env(device_image)["ALDER_IMAGE_SEQUENCE"])


@pytest.fixture(scope="module")
def bundles(device_image, v1_sequence):
    """Version 2 of the image, and a version whose product health hook fails: built side by side
    (once per image: they are cached beside it), before the device boots (a boot beside two
    builds on two shared cores takes minutes)."""
    builds = {"v2": BundleBuild(device_image, "v2", "2", v1_sequence + 200,
                                {"etc/alder/version-2": ("the second version\n", 0o644)}),
              "v2-unhealthy": BundleBuild(device_image, "v2-unhealthy", "2-unhealthy", v1_sequence + 100,
                                          {"etc/alder/health.d/50-selftest": (UNHEALTHY_HOOK, 0o755)})}
    out = {name: b.wait() for name, b in builds.items()}
    for name, b in builds.items():
        if b.seconds:
            timing(f"image {name} build (image/build --bundle-only, beside the other)", f"{b.seconds:.0f} s")
    return out


@pytest.fixture(scope="module")
def dev(make_device, bundles):
    return make_device(name="update")


def alder_host(*args):
    return subprocess.run([str(host_build_dir() / "host" / "alder"), *args], capture_output=True, text=True,
                          timeout=120)


def status(dev):
    return json.loads(dev.check("alder update status", timeout=60))


def update_lines(dev):
    """The results of `alder update boot` the readiness script printed (ALDER-UPDATE: {...} uptime=S),
    as (result, uptime)."""
    return [(json.loads(m.group(1)), m.group(2))
            for m in re.finditer(r"ALDER-UPDATE: (\{.*?\}) +uptime=([0-9.]+)\r?\n", dev.console_text())]


def install_over_ssh(dev, bundle, timeout=300):
    """`alder update install -` on the device, the bundle streamed from here over SSH."""
    proc = dev.ssh("alder update install -", input=bundle, timeout=timeout)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return json.loads(proc.stdout)


def assert_not_armed(dev, slot):
    st = status(dev)
    assert st["booted_slot"] == slot and st["env"]["boot_slot"] == slot, st
    assert st["env"]["upgrade_available"] is False, st
    return st


def test_agent_runs_in_the_image(dev):
    assert dev.ready_line().startswith("ALDER-READY slot=A")
    st = assert_not_armed(dev, "A")
    assert st["agent"]["state"] == "idle"
    assert dev.check("pidof alder-updated")
    cfg = json.loads(dev.check("cat /etc/alder/updated.json"))
    assert cfg["slots"] == {"A": "PARTLABEL=rootfsA", "B": "PARTLABEL=rootfsB"} and cfg["boot_dir"] == "/boot"
    assert dev.check("ls -1 /boot").split() == ["boot.scr", "fit-A.itb", "fit-B.itb", "uboot-redund.env", "uboot.env"]


def test_refused_bundles_change_nothing(dev, device_image, v1_sequence, tmp_path):
    """Another signer, an older sequence number, another product, no boot files: refused
    before the agent writes anything."""
    keys = image_keys(device_image)
    image = tmp_path / "tiny.img"
    image.write_bytes(os.urandom(64 * 1024))
    assert alder_host("keys", "generate", "--out", str(tmp_path / "intruder")).returncode == 0
    signer = ["--key", str(keys / "apps.key"), "--cert", str(keys / "apps.pem")]
    cases = {
        "another key": (["--key", str(tmp_path / "intruder.key"), "--cert", str(tmp_path / "intruder.pem"),
                         "--sequence", str(v1_sequence + 1)], r"not trusted|trust"),
        "older sequence": (signer + ["--sequence", str(v1_sequence - 1)],
                           rf"sequence number {v1_sequence - 1} is lower than the installed {v1_sequence}"),
        "another product": (signer + ["--sequence", str(v1_sequence + 1), "--product", "other-board"], r"class-id"),
        "no boot files": (signer + ["--sequence", str(v1_sequence + 1)], r"carries no boot files"),
    }
    before = dev.check("stat -c '%s %Y' /boot/fit-B.itb; fw_printenv")
    for name, (args, pattern) in cases.items():
        product = [] if "--product" in args else ["--product", "qemu-arm64"]
        out = tmp_path / f"{name.replace(' ', '-')}.alupd"
        r = alder_host("update", "create", *product, "--version", "x", "--image", str(image), *args, "-o", str(out))
        assert r.returncode == 0, r.stderr
        proc = dev.ssh("alder update install -", input=out)
        err = proc.stderr.decode(errors="replace")
        assert proc.returncode == 1 and re.search(pattern, err), f"{name}: {err}"
    assert dev.check("stat -c '%s %Y' /boot/fit-B.itb; fw_printenv") == before
    assert status(dev)["agent"]["state"] == "idle"  # refused before the install began


def test_power_cuts_during_install(dev, bundles):
    """QEMU killed while the bundle streams into slot B (or its FIT into /boot), at a seeded
    random offset of the bundle: slot A boots, the agent reports the interrupted install."""
    bundle = bundles["v2"]
    size = bundle.stat().st_size
    proc = dev.ssh(f"cat > {BUNDLE_ON_DEVICE} && sync && sha256sum {BUNDLE_ON_DEVICE}", input=bundle, timeout=300)
    assert proc.returncode == 0, proc.stderr
    start = 16 + int.from_bytes(bundle.read_bytes()[12:16], "big")  # past the envelope
    rng = random.Random(SEED)
    for k in range(CUTS):
        offset = rng.randrange(start // 4096 + 1, size // 4096) * 4096
        dev.install_cut_short(BUNDLE_ON_DEVICE, offset)
        dev.power_cut()
        ready = dev.boot(fresh=False)
        assert ready.startswith("ALDER-READY slot=A"), f"cut {k + 1} at byte {offset}: {ready}"
        st = assert_not_armed(dev, "A")
        assert st["agent"]["state"] == "failed", f"cut {k + 1} at byte {offset}: {st}"
        assert "interrupted (crash or power cut)" in st["agent"]["error"]
        assert dev.app_running("hello-world")
        fits = dev.check("ls -a /boot").split()
        assert "fit-A.itb" in fits, fits
    timing("power cuts during install", f"{CUTS} (seed {SEED}), all back in slot A with the install reported")


def test_torn_fit_is_refused_and_the_other_slot_boots(dev):
    """Armed for slot B, then its FIT cut short (what a FAT file system may keep of a file) and
    the power cut: U-Boot refuses the FIT, boot.cmd boots slot A, and the agent ends the
    try-boot and says why."""
    res = json.loads(dev.check(f"alder update install {BUNDLE_ON_DEVICE}", timeout=600))
    assert res["target_slot"] == "B"
    timing("install from the data partition (socket API)",
           f"{res['seconds']:.1f} s for {(res['image_size'] + res['boot_size']) / 1e6:.0f} MB "
           f"({res['bytes_per_second'] / 1e6:.1f} MB/s)")
    dev.check("truncate -s 20000000 /boot/fit-B.itb && sync", timeout=120)
    dev.power_cut()
    ready = dev.boot(fresh=False)
    assert ready.startswith("ALDER-READY slot=A"), ready
    console = dev.console_text()
    assert "alder: booting slot B" in console and "alder: slot B did not boot" in console
    [(res, _)] = update_lines(dev)
    assert res["action"] == "rolled-back" and res["reboot_required"] is False, res
    assert "did not boot slot B (its FIT is missing or failed verification)" in res["reason"]
    st = assert_not_armed(dev, "A")
    assert st["agent"]["state"] == "rolled-back"


def test_unhealthy_update_rolls_back(dev, bundles):
    """Version 2-unhealthy boots in slot B, its health hook fails: the agent rolls back to A and
    reboots, and says why."""
    res = install_over_ssh(dev, bundles["v2-unhealthy"])
    assert res["target_slot"] == "B" and res["version"] == "2-unhealthy"
    timing("install over SSH (stdin), v2-unhealthy",
           f"{res['seconds']:.1f} s, {res['bytes_per_second'] / 1e6:.1f} MB/s of image + FIT")
    ready = dev.power_cycle(timeout=420)  # B, rollback, reboot, A
    assert ready.startswith("ALDER-READY slot=A"), ready
    [(res, _)] = update_lines(dev)
    assert res["action"] == "rolled-back" and res["boot_slot"] == "A", res
    assert "self-test: the new image cannot reach its sensor" in res["reason"], res
    st = assert_not_armed(dev, "A")
    assert st["agent"]["state"] == "rolled-back" and "50-selftest" in st["agent"]["error"], st
    assert dev.check("cat /etc/alder/version") != "2-unhealthy"


def test_update_commits(dev, bundles, v1_sequence):
    """Version 2 installs from a file on the device, boots in slot B and is committed."""
    res = json.loads(dev.check(f"alder update install {BUNDLE_ON_DEVICE}", timeout=600))
    assert res["target_slot"] == "B" and res["version"] == "2"
    ready = dev.power_cycle(timeout=300)
    assert ready.startswith("ALDER-READY slot=B"), ready
    [(res, uptime)] = update_lines(dev)
    assert res == {"action": "committed", "slot": "B", "sequence": v1_sequence + 200, "version": "2"}, res
    timing("boot to commit (guest uptime)", f"{uptime} s")
    st = assert_not_armed(dev, "B")
    assert st["agent"]["state"] == "committed" and st["agent"]["sequence"] == v1_sequence + 200, st
    assert dev.check("cat /etc/alder/version /etc/alder/version-2").split("\n") == ["2", "the second version"]
    assert "VERSION_ID=2" in dev.check("cat /etc/os-release")
    assert "alder.slot=B" in dev.check("cat /proc/cmdline")
    assert dev.app_running("hello-world")


def test_older_than_committed_is_refused(dev, device_image, v1_sequence, tmp_path):
    keys = image_keys(device_image)
    image = tmp_path / "tiny.img"
    image.write_bytes(os.urandom(4096))
    out = tmp_path / "older.alupd"
    r = alder_host("update", "create", "--product", "qemu-arm64", "--version", "1.5", "--image", str(image),
                   "--sequence", str(v1_sequence + 150), "--key", str(keys / "apps.key"), "--cert",
                   str(keys / "apps.pem"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    proc = dev.ssh("alder update install -", input=out)
    assert proc.returncode == 1
    assert f"lower than the installed {v1_sequence + 200}" in proc.stderr.decode(), proc.stderr
    assert_not_armed(dev, "B")


@pytest.mark.skipif(os.environ.get("ALDER_IMAGE_UPDATE_PANIC") != "1",
                    reason="four boots (about two minutes): set ALDER_IMAGE_UPDATE_PANIC=1")
def test_kernel_panic_returns_after_bootlimit(dev, bundles, device_image, v1_sequence, tmp_path):
    """A signed FIT whose initramfs kills init: the kernel panics (panic=5 reboots it), U-Boot
    counts the tries and returns to the committed slot after bootlimit."""
    keys = image_keys(device_image)
    v2 = bundles["v2"].parent
    for i, part in enumerate(("kernel", "ramdisk", "fdt")):
        subprocess.run(["dumpimage", "-T", "flat_dt", "-p", str(i), "-o", str(tmp_path / part), str(v2 / "fit.itb")],
                       check=True, capture_output=True)
    init = tmp_path / "panic" / "init"
    init.parent.mkdir()
    init.write_text("#!/bin/sh\necho 'alder-test: init exits: the kernel panics'\nexit 1\n")
    init.chmod(0o755)
    cpio = subprocess.run("find . | cpio --quiet -o -H newc -R 0:0", shell=True, cwd=init.parent, check=True,
                          capture_output=True).stdout
    (tmp_path / "ramdisk").write_bytes((tmp_path / "ramdisk").read_bytes() + cpio)  # later entries win
    (tmp_path / "fit.its").write_text("""/dts-v1/;
/ {
    description = "Alder panic test";
    #address-cells = <1>;
    images {
        kernel { data = /incbin/("kernel"); type = "kernel"; arch = "arm64"; os = "linux"; compression = "none";
                 load = <0x40400000>; entry = <0x40400000>; hash-1 { algo = "sha256"; }; };
        ramdisk { data = /incbin/("ramdisk"); type = "ramdisk"; arch = "arm64"; os = "linux";
                  compression = "none"; hash-1 { algo = "sha256"; }; };
        fdt { data = /incbin/("fdt"); type = "flat_dt"; arch = "arm64"; compression = "none";
              hash-1 { algo = "sha256"; }; };
    };
    configurations {
        default = "conf";
        conf { kernel = "kernel"; ramdisk = "ramdisk"; fdt = "fdt";
               signature-1 { algo = "sha256,rsa2048"; key-name-hint = "dev";
                             sign-images = "kernel", "ramdisk", "fdt"; }; };
    };
};
""")
    subprocess.run(["mkimage", "-f", "fit.its", "-k", str(keys), "-r", "panic.itb"], cwd=tmp_path, check=True,
                   capture_output=True)
    out = tmp_path / "panic.alupd"
    r = alder_host("update", "create", "--product", "qemu-arm64", "--version", "3-panic", "--image",
                   str(v2 / "rootfs.img"), "--boot", str(tmp_path / "panic.itb"), "--sequence",
                   str(v1_sequence + 300), "--key", str(keys / "apps.key"), "--cert", str(keys / "apps.pem"),
                   "-o", str(out))
    assert r.returncode == 0, r.stderr
    res = install_over_ssh(dev, out)
    assert res["target_slot"] == "A"
    t0 = time.monotonic()
    ready = dev.power_cycle(timeout=600)
    timing("kernel panic in the new slot: back in the old one after", f"{time.monotonic() - t0:.0f} s")
    assert ready.startswith("ALDER-READY slot=B"), ready
    console = dev.console_text()
    assert console.count("alder-test: init exits") == 3, console[-3000:]
    assert "alder: slot A failed 3 tries, rolling back" in console
    st = assert_not_armed(dev, "B")
    assert st["agent"]["state"] == "rolled-back" and "did not boot within bootlimit (3) tries" in st["agent"]["error"]
