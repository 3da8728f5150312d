"""Update bundles and the update agent on the host: `alder update create|sign|verify|inspect`,
and alder-updated installing into file-backed A/B slots with a U-Boot env in two plain files
(libubootenv's fw_setenv/fw_printenv, mkenvimage from u-boot-tools)."""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from test_app import keys, sign_args  # noqa: F401 (the same signing keys fixture)

pytestmark = pytest.mark.skipif(not all(shutil.which(t) for t in ("fw_printenv", "fw_setenv", "mkenvimage")),
                                reason="libubootenv-tool and u-boot-tools (scripts/deps.sh test)")

PRODUCT = "qemu-arm64"
IMAGE_SIZE = 3 * 1024 * 1024 + 12345
SLOT_SIZE = 4 * 1024 * 1024
ENV_SIZE = "0x4000"


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A root-filesystem image: half random, half zeros (compressible like a real one)."""
    p = tmp_path_factory.mktemp("img") / "rootfs.img"
    p.write_bytes(os.urandom(IMAGE_SIZE // 2) + bytes(IMAGE_SIZE - IMAGE_SIZE // 2))
    return p


def create(alder, keys, image, out, *extra, sequence=100, product=PRODUCT, signer="dev"):
    r = alder("update", "create", "--product", product, "--version", "1.2.0", "--image", str(image), "--sequence",
              str(sequence), *sign_args(keys, signer), "-o", str(out), *extra)
    assert r.rc == 0, r.err
    return out


@pytest.fixture(scope="module")
def bundle(alder, keys, image, tmp_path_factory):
    return create(alder, keys, image, tmp_path_factory.mktemp("bundle") / "b.alupd")


def envelope_length(path):
    return int.from_bytes(path.read_bytes()[12:16], "big")


class Device:
    """A device root for alder-updated: slots, env copies, trust, config."""

    def __init__(self, root, build_dir, keys, booted="A", slot_size=SLOT_SIZE, **config):
        self.root = root
        self.exe = build_dir / "device" / "updated" / "alder-updated"
        (root / "config" / "trust").mkdir(parents=True)
        shutil.copy(keys / "dev.pem", root / "config" / "trust")
        self.slots = {s: root / f"slot{s}" for s in "AB"}
        for s, p in self.slots.items():
            p.write_bytes(bytes([0x5A]) * slot_size)
        boot = root / "boot"
        boot.mkdir()
        (root / "env.txt").write_text("boot_slot=A\nupgrade_available=0\nbootcount=0\nbootlimit=3\n")
        subprocess.run(["mkenvimage", "-r", "-s", ENV_SIZE, "-o", str(boot / "uboot.env"), str(root / "env.txt")],
                       check=True)
        redund = bytearray((boot / "uboot.env").read_bytes())
        redund[4] = 0  # the older copy, as image/build makes them
        (boot / "uboot-redund.env").write_bytes(bytes(redund))
        self.fw_config = root / "fw_env.config"
        self.fw_config.write_text(f"{boot}/uboot.env 0x0 {ENV_SIZE}\n{boot}/uboot-redund.env 0x0 {ENV_SIZE}\n")
        self.config = {"product": PRODUCT, "slots": {s: str(p) for s, p in self.slots.items()},
                       "fw_env_config": str(self.fw_config), "booted_slot": booted, "appd_socket": "",
                       "socket": str(root / "updated.sock"), **config}
        self.write_config()

    def write_config(self):
        (self.root / "config" / "updated.json").write_text(json.dumps(self.config))

    def boot(self, slot):
        """What a reboot into `slot` changes for the agent."""
        self.config["booted_slot"] = slot
        self.write_config()

    def run(self, *args, input=None, stdin=None):
        return subprocess.run([str(self.exe), "--root", str(self.root), *args], capture_output=True,
                              input=input, stdin=stdin, timeout=60)

    def env(self):
        out = subprocess.run(["fw_printenv", "-c", str(self.fw_config)], capture_output=True, text=True,
                             check=True).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def state(self):
        p = self.root / "var" / "lib" / "alder" / "update" / "state.json"
        return json.loads(p.read_text()) if p.exists() else {}


@pytest.fixture
def device(tmp_path, build_dir, keys):
    return Device(tmp_path / "dev", build_dir, keys)


NOT_ARMED = {"boot_slot": "A", "upgrade_available": "0", "bootcount": "0", "bootlimit": "3"}


# ---- host CLI ------------------------------------------------------------------------------


def test_create_inspect_verify_round_trip(bundle, keys, alder, image):
    assert bundle.read_bytes()[:8] == b"\x89ALUPD\r\n"
    r = alder("update", "inspect", "--json", str(bundle))
    assert r.rc == 0, r.err
    doc = r.json()
    assert doc["product"] == PRODUCT and doc["version"] == "1.2.0" and doc["sequence"] == 100
    assert doc["signature"] == {"verified": False}
    [p] = doc["payloads"]
    assert p["uri"] == "#rootfs.img.zst" and p["component"] == "['alder','os','rootfs']"
    assert p["size"] < IMAGE_SIZE  # compressed
    r = alder("update", "verify", "--trust", str(keys / "trust-dev"), "--product", PRODUCT, "--json", str(bundle))
    assert r.rc == 0, r.err
    assert r.json()["signature"]["verified"] and r.json()["image_size"] == IMAGE_SIZE
    r = alder("update", "verify", "--trust", str(keys / "trust-dev"), "--product", PRODUCT, str(bundle))
    assert r.rc == 0 and "OK" in r.out


def test_sign_replaces_signature_only(bundle, keys, alder, tmp_path):
    out = tmp_path / "re.alupd"
    r = alder("update", "sign", *sign_args(keys, "other"), "-o", str(out), str(bundle))
    assert r.rc == 0, r.err
    assert out.read_bytes()[16 + envelope_length(out):] == bundle.read_bytes()[16 + envelope_length(bundle):]
    ok = alder("update", "verify", "--trust", str(keys / "trust-other"), "--product", PRODUCT, str(out))
    assert ok.rc == 0, ok.err
    bad = alder("update", "verify", "--trust", str(keys / "trust-dev"), "--product", PRODUCT, str(out))
    assert bad.rc == 1


def test_bundle_with_app_packages_and_ready_payload(alder, keys, image, tmp_path):
    zst = tmp_path / "img.zst"
    subprocess.run(["zstd", "-q", "-o", str(zst), str(image)], check=True)
    fake_app = tmp_path / "not-an-app.alpkg"
    fake_app.write_bytes(b"not a package at all")
    r = alder("update", "create", "--product", PRODUCT, "--version", "2", "--payload", str(zst), "--app",
              str(fake_app), *sign_args(keys), "-o", str(tmp_path / "x.alupd"))
    assert r.rc == 1 and "not an Alder app package" in r.err
    assert not (tmp_path / "x.alupd").exists()
    r = alder("update", "create", "--product", PRODUCT, "--version", "2", "--payload", str(zst), *sign_args(keys),
              "-o", str(tmp_path / "y.alupd"), "--json")
    assert r.rc == 0, r.err
    assert r.json()["image_size"] == IMAGE_SIZE


def test_verify_refusals(bundle, keys, alder, tmp_path):
    def verify(path, product=PRODUCT, trust="trust-dev"):
        return alder("update", "verify", "--trust", str(keys / trust), "--product", product, str(path))

    assert "class-id" in verify(bundle, product="other-board").err
    assert verify(bundle, trust="trust-other").rc == 1
    data = bundle.read_bytes()
    trunc = tmp_path / "t.alupd"
    trunc.write_bytes(data[:-1000])
    r = verify(trunc)
    assert r.rc == 1 and "truncated" in r.err
    flipped = bytearray(data)
    flipped[-10] ^= 0xFF
    (tmp_path / "f.alupd").write_bytes(bytes(flipped))
    r = verify(tmp_path / "f.alupd")
    assert r.rc == 1 and ("digest" in r.err or "decompress" in r.err)
    (tmp_path / "e.alupd").write_bytes(data + b"x")
    assert "unexpected bytes" in verify(tmp_path / "e.alupd").err


def test_cli_help_and_usage(alder):
    for cmd in ("create", "sign", "verify", "inspect", "install", "status"):
        r = alder("update", cmd, "--help")
        assert r.rc == 0 and "Usage: alder update" in r.out
    assert alder("update", "create", "--product", "x").rc == 2
    assert alder("update", "frobnicate").rc == 2
    assert alder("update", "--help").rc == 0


# ---- the agent ------------------------------------------------------------------------------


def assert_installed(device, image, target="B"):
    data = device.slots[target].read_bytes()
    assert data[:IMAGE_SIZE] == image.read_bytes()
    assert data[IMAGE_SIZE:] == bytes([0x5A]) * (SLOT_SIZE - IMAGE_SIZE)  # nothing past the image is touched
    env = device.env()
    assert env["boot_slot"] == target and env["upgrade_available"] == "1" and env["bootcount"] == "0"


def test_install_arms_try_boot(device, bundle, image):
    r = device.run("install", str(bundle))
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["target_slot"] == "B" and res["reboot_required"] and res["image_size"] == IMAGE_SIZE
    assert_installed(device, image)
    assert device.slots["A"].read_bytes() == bytes([0x5A]) * SLOT_SIZE
    assert device.state()["state"] == "armed"
    # A second install before the reboot is refused: one transaction at a time.
    r = device.run("install", str(bundle))
    assert r.returncode == 1 and b"pending" in r.stderr


def test_install_from_stdin(device, bundle, image):
    r = device.run("install", "-", input=bundle.read_bytes())
    assert r.returncode == 0, r.stderr
    assert_installed(device, image)


def refusal_cases(bundle, tmp_path, alder, keys, image):
    data = bundle.read_bytes()
    cut = tmp_path / "truncated.alupd"
    cut.write_bytes(data[:len(data) // 2])
    flipped = bytearray(data)
    flipped[-100] ^= 0x01
    (tmp_path / "flipped.alupd").write_bytes(bytes(flipped))
    return {
        "unknown key": (create(alder, keys, image, tmp_path / "other.alupd", signer="other"), "not trusted|trust"),
        "wrong class-id": (create(alder, keys, image, tmp_path / "board.alupd", product="other-board"), "class-id"),
        "lower sequence": (create(alder, keys, image, tmp_path / "old.alupd", sequence=5), "lower than the installed"),
        "truncated payload": (cut, "truncated"),
        "digest mismatch": (tmp_path / "flipped.alupd", "digest|decompress|checksum"),
    }


@pytest.mark.parametrize("case", ["unknown key", "wrong class-id", "lower sequence", "truncated payload",
                                  "digest mismatch", "slot too small"])
def test_refusals_leave_slot_not_bootable(case, tmp_path, build_dir, keys, bundle, alder, image):
    import re
    device = Device(tmp_path / "dev", build_dir, keys, slot_size=IMAGE_SIZE - 1 if case == "slot too small"
                    else SLOT_SIZE)
    if case == "slot too small":
        path, pattern = bundle, "does not fit slot"
    else:
        path, pattern = refusal_cases(bundle, tmp_path, alder, keys, image)[case]
    if case == "lower sequence":  # the device runs sequence 100
        assert device.run("install", str(bundle)).returncode == 0
        device.boot("B")
        assert device.run("commit").returncode == 0
    before = device.env()
    r = device.run("install", str(path))
    assert r.returncode == 1
    assert re.search(pattern, r.stderr.decode()), r.stderr
    assert device.env() == before
    if case != "lower sequence":
        assert before == NOT_ARMED
    if case in ("unknown key", "wrong class-id", "slot too small"):  # refused before a byte was written
        assert set(device.slots["B"].read_bytes()) == {0x5A}
    st = device.state()
    assert st.get("state") in (None, "idle", "failed", "committed")


def test_commit_after_reboot(device, bundle):
    assert device.run("install", str(bundle)).returncode == 0
    r = device.run("commit")
    assert r.returncode == 1 and b"reboot first" in r.stderr  # still in slot A
    device.boot("B")
    r = device.run("commit")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["sequence"] == 100
    assert device.env()["upgrade_available"] == "0" and device.env()["boot_slot"] == "B"
    st = device.state()
    assert st["state"] == "committed" and st["sequence"] == 100
    assert device.run("commit").returncode == 1  # nothing pending


def test_failed_health_hook_rolls_back(device, bundle):
    hooks = device.root / "config" / "update-hooks.d"
    hooks.mkdir()
    (hooks / "10-ok").write_text("#!/bin/sh\nexit 0\n")
    (hooks / "20-fail").write_text("#!/bin/sh\necho sensor missing >&2\nexit 3\n")
    for h in hooks.iterdir():
        h.chmod(0o755)
    assert device.run("install", str(bundle)).returncode == 0
    device.boot("B")
    r = device.run("commit")
    assert r.returncode == 1
    assert b"20-fail" in r.stderr and b"sensor missing" in r.stderr and b"slot A is the boot target" in r.stderr
    assert device.env() == NOT_ARMED
    assert device.state()["state"] == "rolled-back" and "sensor missing" in device.state()["error"]


def test_health_check_needs_appd(tmp_path, build_dir, keys, bundle):
    device = Device(tmp_path / "dev", build_dir, keys, appd_socket=str(tmp_path / "no-appd.sock"),
                    health_timeout_ms=1500)
    assert device.run("install", str(bundle)).returncode == 0
    device.boot("B")
    t0 = time.monotonic()
    r = device.run("commit")
    assert r.returncode == 1 and b"alder-appd does not answer" in r.stderr and b"(waited 1500 ms)" in r.stderr
    assert time.monotonic() - t0 >= 1.5  # it waited for alder-appd to come up
    assert device.env()["boot_slot"] == "A"


def test_rollback_before_reboot(device, bundle):
    assert device.run("install", str(bundle)).returncode == 0
    r = device.run("rollback")
    assert r.returncode == 0, r.stderr
    assert device.env() == NOT_ARMED


def test_kill_mid_write_leaves_env_untouched(device, bundle):
    """kill -9 while the image streams in: the old slot stays the boot target, and status says what happened."""
    data = bundle.read_bytes()
    proc = subprocess.Popen([str(device.exe), "--root", str(device.root), "-q", "install", "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = 16 + envelope_length(bundle) + 200_000
    proc.stdin.write(data[:head])
    proc.stdin.flush()
    deadline = time.time() + 20
    while device.state().get("state") != "installing" and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    assert device.state().get("state") == "installing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdin.close()
    proc.stdout.close()
    proc.stderr.close()
    assert device.env() == NOT_ARMED
    r = device.run("status")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["agent"]["state"] == "failed" and "interrupted" in st["agent"]["error"]
    assert st["env"]["boot_slot"] == "A" and st["env"]["upgrade_available"] is False
    # and the next install goes through
    assert device.run("install", str(bundle)).returncode == 0


def test_socket_api(device, bundle, alder, image, build_dir):
    srv = subprocess.Popen([str(device.exe), "--root", str(device.root), "serve"], stderr=subprocess.PIPE)
    try:
        sock = device.config["socket"]
        deadline = time.time() + 10
        while not os.path.exists(sock) and time.time() < deadline:
            time.sleep(0.02)
        r = alder("update", "status", "--socket", sock)
        assert r.rc == 0, r.err
        assert r.json()["env"]["boot_slot"] == "A"
        r = alder("update", "install", "--socket", sock, str(bundle), timeout=120)
        assert r.rc == 0, r.err
        assert r.json()["target_slot"] == "B"
        assert_installed(device, image)
        r = alder("update", "commit", "--socket", sock)
        assert r.rc == 1 and "reboot first" in r.err
    finally:
        srv.terminate()
        srv.wait(timeout=10)


def test_status_reports_bootloader_rollback(device, bundle):
    """boot.cmd gave up on slot B after bootlimit tries: the next status says so."""
    assert device.run("install", str(bundle)).returncode == 0
    subprocess.run(["fw_setenv", "-c", str(device.fw_config), "-s", "/dev/stdin"], check=True,
                   input=b"boot_slot=A\nupgrade_available=0\nbootcount=0\n")
    r = device.run("status")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)["agent"]
    assert st["state"] == "rolled-back" and "did not boot within bootlimit (3) tries" in st["error"]
    assert device.run("install", str(bundle)).returncode == 0  # and a new attempt is possible


def test_cli_install_from_stdin(device, bundle, build_dir, image):
    """`alder update install -` hands stdin to the agent itself."""
    env = dict(os.environ, ALDER_UPDATED=str(device.exe))
    cli = build_dir / "host" / "alder"
    # the agent finds its root through --root only: give it a wrapper
    wrapper = device.root / "agent.sh"
    wrapper.write_text(f"#!/bin/sh\nexec {device.exe} --root {device.root} -q \"$@\"\n")
    wrapper.chmod(0o755)
    env["ALDER_UPDATED"] = str(wrapper)
    r = subprocess.run([str(cli), "update", "install", "-"], input=bundle.read_bytes(), capture_output=True,
                       env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["target_slot"] == "B"
    assert_installed(device, image)


def test_bundle_carries_app_packages(alder, keys, image, tmp_path, build_dir):
    """App packages ride along as components ['alder','app',FILE]: digest-checked on the device."""
    rootfs = tmp_path / "app-rootfs"
    rootfs.mkdir()
    (rootfs / "hello").write_text("#!/bin/sh\necho hi\n")
    r = alder("app", "pack", *sign_args(keys), "--name", "hello", "--version", "1.0.0", "--arch", "arm64",
              "--entrypoint", "/hello", "-o", str(tmp_path), str(rootfs))
    assert r.rc == 0, r.err
    app = tmp_path / "hello_1.0.0_arm64.alpkg"
    out = create(alder, keys, image, tmp_path / "with-app.alupd", "--app", str(app))
    doc = alder("update", "inspect", "--json", str(out)).json()
    assert [p["uri"] for p in doc["payloads"]] == ["#rootfs.img.zst", "#hello_1.0.0_arm64.alpkg"]
    assert doc["payloads"][1]["component"] == "['alder','app','hello_1.0.0_arm64.alpkg']"
    assert doc["payloads"][1]["size"] == app.stat().st_size
    assert alder("update", "verify", "--trust", str(keys / "trust-dev"), "--product", PRODUCT, str(out)).rc == 0
    device = Device(tmp_path / "dev", build_dir, keys)
    bad = bytearray(out.read_bytes())
    bad[-5] ^= 0x01  # inside the app package: found after the image was written, before arming
    (tmp_path / "bad.alupd").write_bytes(bytes(bad))
    r = device.run("install", str(tmp_path / "bad.alupd"))
    assert r.returncode == 1 and b"app package 'hello_1.0.0_arm64.alpkg' does not match" in r.stderr
    assert device.env() == NOT_ARMED
    assert device.run("install", str(out)).returncode == 0
    assert device.env()["upgrade_available"] == "1"


def test_cut_after_arming_is_recognised(device, bundle):
    """A cut between the env write and the state write: status finds the try-boot armed."""
    assert device.run("install", str(bundle)).returncode == 0
    p = device.root / "var" / "lib" / "alder" / "update" / "state.json"
    st = json.loads(p.read_text())
    st["state"] = "installing"
    p.write_text(json.dumps(st))
    assert json.loads(device.run("status").stdout)["agent"]["state"] == "armed"


# ---- boot files, the boot-time check, partitions by label ------------------------------------


@pytest.fixture(scope="module")
def fit(tmp_path_factory):
    """Stands in for a signed FIT: the agent writes it as it is and never parses it."""
    p = tmp_path_factory.mktemp("fit") / "fit.itb"
    p.write_bytes(os.urandom(100_000) + bytes(150_000))
    return p


@pytest.fixture(scope="module")
def boot_bundle(alder, keys, image, fit, tmp_path_factory):
    return create(alder, keys, image, tmp_path_factory.mktemp("boot-bundle") / "b.alupd", "--boot", str(fit),
                  sequence=200)


def boot_device(tmp_path, build_dir, keys, **config):
    """A device whose slots boot from FITs in ROOT/boot, as the QEMU image does."""
    device = Device(tmp_path / "dev", build_dir, keys, boot_dir=str(tmp_path / "dev" / "boot"), **config)
    for s in "AB":
        (device.root / "boot" / f"fit-{s}.itb").write_bytes(f"old FIT of slot {s}".encode())
    return device


def test_bundle_with_boot_files(alder, keys, boot_bundle, fit, tmp_path):
    doc = alder("update", "inspect", "--json", str(boot_bundle)).json()
    assert [(p["uri"], p["component"]) for p in doc["payloads"]] == [
        ("#rootfs.img.zst", "['alder','os','rootfs']"), ("#fit.itb.zst", "['alder','boot','fit']")]
    r = alder("update", "verify", "--trust", str(keys / "trust-dev"), "--product", PRODUCT, str(boot_bundle))
    assert r.rc == 0, r.err
    bad = bytearray(boot_bundle.read_bytes())
    bad[-3] ^= 0x10  # the end of the compressed FIT
    (tmp_path / "bad.alupd").write_bytes(bytes(bad))
    r = alder("update", "verify", "--trust", str(keys / "trust-dev"), "--product", PRODUCT, str(tmp_path / "bad.alupd"))
    assert r.rc == 1 and "boot files" in r.err


def test_install_writes_the_slot_fit(tmp_path, build_dir, keys, boot_bundle, image, fit):
    device = boot_device(tmp_path, build_dir, keys)
    boot = device.root / "boot"
    (boot / ".fit-B.itb.tmp-0badc0de").write_bytes(b"what a power cut left")  # debris of an earlier install
    r = device.run("install", str(boot_bundle))
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["boot_size"] == fit.stat().st_size
    assert_installed(device, image)
    assert (boot / "fit-B.itb").read_bytes() == fit.read_bytes()
    assert (boot / "fit-A.itb").read_bytes() == b"old FIT of slot A"
    assert sorted(p.name for p in boot.iterdir() if p.name.startswith(".")) == []


def test_boot_files_refused_or_required(tmp_path, build_dir, keys, bundle, boot_bundle):
    device = boot_device(tmp_path / "with", build_dir, keys)
    r = device.run("install", str(bundle))
    assert r.returncode == 1 and b"carries no boot files, but this device boots each slot from a FIT" in r.stderr
    assert device.env() == NOT_ARMED and set(device.slots["B"].read_bytes()) == {0x5A}
    plain = Device(tmp_path / "without", build_dir, keys)
    r = plain.run("install", str(boot_bundle))
    assert r.returncode == 1 and b"carries boot files, but no 'boot_dir' is configured" in r.stderr
    assert plain.env() == NOT_ARMED


def test_bad_boot_payload_leaves_no_fit_and_no_try_boot(tmp_path, build_dir, keys, boot_bundle):
    device = boot_device(tmp_path, build_dir, keys)
    bad = bytearray(boot_bundle.read_bytes())
    bad[-3] ^= 0x10
    (tmp_path / "bad.alupd").write_bytes(bytes(bad))
    r = device.run("install", str(tmp_path / "bad.alupd"))
    assert r.returncode == 1 and b"boot files" in r.stderr
    assert device.env() == NOT_ARMED
    # The slot was being rewritten: its old FIT went first, and no temp file stays.
    assert sorted(p.name for p in (device.root / "boot").iterdir() if "fit" in p.name) == ["fit-A.itb"]
    assert device.state()["state"] == "failed"


def boot_check(device):
    r = device.run("boot")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_boot_commits_a_healthy_update(tmp_path, build_dir, keys, boot_bundle):
    device = boot_device(tmp_path, build_dir, keys)
    assert boot_check(device)["action"] == "none"
    assert device.run("install", str(boot_bundle)).returncode == 0
    assert boot_check(device)["action"] == "none"  # not rebooted yet: nothing to do
    device.boot("B")
    res = boot_check(device)
    assert res == {"action": "committed", "slot": "B", "sequence": 200, "version": "1.2.0"}
    assert device.env() == {**NOT_ARMED, "boot_slot": "B"}
    assert device.state()["state"] == "committed"
    assert boot_check(device)["action"] == "none"  # the next boot


def test_boot_rolls_back_an_unhealthy_update(tmp_path, build_dir, keys, boot_bundle):
    device = boot_device(tmp_path, build_dir, keys)
    hooks = device.root / "config" / "update-hooks.d"
    hooks.mkdir()
    (hooks / "50-sensor").write_text("#!/bin/sh\necho no sensor on the new kernel >&2\nexit 1\n")
    (hooks / "50-sensor").chmod(0o755)
    assert device.run("install", str(boot_bundle)).returncode == 0
    device.boot("B")
    res = boot_check(device)
    assert res["action"] == "rolled-back" and res["boot_slot"] == "A" and res["reboot_required"] is True
    assert "50-sensor" in res["reason"] and "no sensor on the new kernel" in res["reason"]
    assert device.env() == NOT_ARMED
    device.boot("A")
    st = json.loads(device.run("status").stdout)["agent"]
    assert st["state"] == "rolled-back" and "no sensor" in st["error"]


def test_boot_leaves_a_try_boot_set_by_hand_alone(tmp_path, build_dir, keys):
    device = boot_device(tmp_path, build_dir, keys)
    subprocess.run(["fw_setenv", "-c", str(device.fw_config), "-s", "/dev/stdin"], check=True,
                   input=b"boot_slot=B\nupgrade_available=1\nbootcount=1\n")
    device.boot("B")
    assert boot_check(device)["action"] == "none"
    assert device.env()["upgrade_available"] == "1"


def test_boot_records_a_slot_the_bootloader_refused(tmp_path, build_dir, keys, boot_bundle):
    """Armed for B, yet A runs after a reboot: U-Boot refused fit-B.itb and boot.cmd fell back."""
    device = boot_device(tmp_path, build_dir, keys, boot_id="boot-1")
    assert device.run("install", str(boot_bundle)).returncode == 0
    assert boot_check(device)["action"] == "none"  # the same boot: not rebooted yet
    device.config["boot_id"] = "boot-2"
    device.write_config()
    res = boot_check(device)
    assert res["action"] == "rolled-back" and res["reboot_required"] is False and res["boot_slot"] == "A"
    assert "did not boot slot B (its FIT is missing or failed verification)" in res["reason"]
    assert device.env() == NOT_ARMED
    assert device.state()["state"] == "rolled-back"


def test_slots_by_partition_label(tmp_path, build_dir, keys, bundle, image):
    device = Device(tmp_path / "dev", build_dir, keys)
    for n, (label, slot) in enumerate([("rootfsA", "A"), ("rootfsB", "B")], start=2):
        sysfs = device.root / "sys" / "class" / "block" / f"vda{n}"
        sysfs.mkdir(parents=True)
        (sysfs / "uevent").write_text(f"MAJOR=254\nMINOR={n}\nDEVNAME=vda{n}\nDEVTYPE=partition\nPARTNAME={label}\n")
        (device.root / "dev").mkdir(exist_ok=True)
        os.rename(device.slots[slot], device.root / "dev" / f"vda{n}")
        device.slots[slot] = device.root / "dev" / f"vda{n}"
    device.config["slots"] = {"A": "PARTLABEL=rootfsA", "B": "PARTLABEL=rootfsB"}
    device.write_config()
    r = device.run("install", str(bundle))
    assert r.returncode == 0, r.stderr
    assert_installed(device, image)
    device.config["slots"]["B"] = "PARTLABEL=rootfsC"
    device.config["booted_slot"] = "B"
    device.write_config()
    assert device.run("rollback").returncode == 0
    device.boot("A")
    r = device.run("install", str(bundle))
    assert r.returncode == 1 and b"no partition is labelled 'rootfsC'" in r.stderr


def test_running_image_sets_the_lowest_sequence(device, bundle):
    (device.root / "etc" / "alder").mkdir(parents=True)
    (device.root / "etc" / "alder" / "sequence").write_text("150\n")
    r = device.run("install", str(bundle))  # sequence 100: older than the image that runs
    assert r.returncode == 1 and b"sequence number 100 is lower than the installed 150" in r.stderr


class FakeAppd:
    """Answers app.list on a Unix socket like alder-appd, from a list the test changes."""

    def __init__(self, path):
        import socket
        import threading
        self.apps = []
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(str(path))
        self.srv.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        import struct
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            with conn:
                try:
                    while True:
                        head = conn.recv(4, 0x100)  # MSG_WAITALL
                        if len(head) < 4:
                            break
                        req = json.loads(conn.recv(struct.unpack(">I", head)[0], 0x100))
                        body = json.dumps({"id": req["id"], "result": self.apps}).encode()
                        conn.sendall(struct.pack(">I", len(body)) + body)
                except OSError:
                    pass

    def close(self):
        import socket
        self.srv.shutdown(socket.SHUT_RDWR)
        self.srv.close()


def test_health_waits_for_the_core_apps(tmp_path, build_dir, keys, bundle):
    appd = FakeAppd(tmp_path / "appd.sock")
    try:
        device = Device(tmp_path / "dev", build_dir, keys, appd_socket=str(tmp_path / "appd.sock"),
                        health_timeout_ms=1500)
        (device.root / "config" / "appd.json").write_text('{"core_apps": ["gateway", "sensor"]}')
        appd.apps = [{"name": "gateway", "state": "running"},
                     {"name": "sensor", "state": "failed", "last_error": "exited with status 2"}]
        assert device.run("install", str(bundle)).returncode == 0
        device.boot("B")
        res = boot_check(device)
        assert res["action"] == "rolled-back"
        assert "core app sensor is failed: exited with status 2 (waited 1500 ms)" in res["reason"], res

        device.boot("A")
        assert device.run("install", str(bundle)).returncode == 0
        device.boot("B")
        appd.apps = [{"name": "gateway", "state": "running"}, {"name": "sensor", "state": "starting"}]

        def start_sensor():
            time.sleep(0.7)
            appd.apps = [{"name": "gateway", "state": "running"}, {"name": "sensor", "state": "running"}]
        import threading
        threading.Thread(target=start_sensor).start()
        device.config["health_timeout_ms"] = 20000
        device.write_config()
        assert boot_check(device)["action"] == "committed"
    finally:
        appd.close()
