"""Device-image fixtures: the aarch64 image built once, booted under QEMU.

The image is built by image/build from the aarch64 cross build
(ALDER_AARCH64_BUILD_DIR, default ./build-aarch64) plus the hello-world core
app, pre-installed by the native build's alder-appd (ALDER_HOST_BUILD_DIR,
default ./build), and cached in ALDER_IMAGE_CACHE_DIR (default
./build-image-cache) under a content hash of its inputs: the image/ folder,
examples/hello-world and the Alder binaries that go into it. Devices boot
with image/run on a qcow2 overlay, so the cached image stays pristine.
Update bundles of the image at other versions (BundleBuild: image/build
--bundle-only) are cached beside it.

These tests take minutes and need QEMU and U-Boot; they run when
ALDER_IMAGE_TESTS=1 (scripts/test.sh has a stage for them) and skip otherwise,
saying why.
"""
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

SOURCE_DIR = Path(__file__).resolve().parents[2]
IMAGE_DIR = SOURCE_DIR / "image"
UBOOT = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")
TOOLS = {
    "qemu-system-aarch64": "qemu-system-arm", "qemu-img": "qemu-utils", "mkimage": "u-boot-tools",
    "fdtput": "device-tree-compiler", "mkfs.vfat": "dosfstools", "mcopy": "mtools",
    "mkfs.erofs": "erofs-utils", "mkfs.ext4": "e2fsprogs", "sgdisk": "gdisk", "depmod": "kmod",
    "cpio": "cpio", "veritysetup": "cryptsetup-bin", "aarch64-linux-gnu-readelf": "binutils-aarch64-linux-gnu",
}


def aarch64_build_dir():
    return Path(os.environ.get("ALDER_AARCH64_BUILD_DIR", SOURCE_DIR / "build-aarch64"))


def host_build_dir():
    return Path(os.environ.get("ALDER_HOST_BUILD_DIR", SOURCE_DIR / "build"))


def skip_reason():
    """Why the device-image tests cannot run here, or None."""
    if os.environ.get("ALDER_IMAGE_TESTS") != "1":
        return "device-image tests run in their own stage: set ALDER_IMAGE_TESTS=1 (scripts/test.sh does)"
    missing = [f"{t} ({p})" for t, p in TOOLS.items() if not shutil.which(t)]
    if not UBOOT.exists():
        missing.append(f"{UBOOT} (u-boot-qemu)")
    if missing:
        return "missing for the device image: " + ", ".join(missing) + " (scripts/deps.sh test)"
    if not (aarch64_build_dir() / "build.ninja").exists():
        return f"no aarch64 build in {aarch64_build_dir()} (set ALDER_AARCH64_BUILD_DIR)"
    if not (host_build_dir() / "build.ninja").exists():
        return f"no native build in {host_build_dir()} for the core app (set ALDER_HOST_BUILD_DIR)"
    return None


requires_image = pytest.mark.skipif(skip_reason() is not None, reason=str(skip_reason()))


def _image_inputs(build_dir):
    files = sorted(p for p in IMAGE_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    files += sorted(p for p in (SOURCE_DIR / "examples" / "hello-world").iterdir() if p.is_file())
    files += sorted(p for p in build_dir.glob("device/*/alder-*") if p.is_file())
    files.append(build_dir / "host" / "alder")
    host = host_build_dir()
    files += [host / "host" / "alder", host / "device" / "appd" / "alder-appd", host / "device" / "appd" / "alder-app-stage"]
    return [f for f in files if f.is_file()]


def image_hash(build_dir):
    """Content hash of everything image/build puts into the image (the package
    versions come from apt's index: image/build records them in packages.lock)."""
    h = hashlib.sha256()
    for f in _image_inputs(build_dir):
        name = str(f.relative_to(SOURCE_DIR)) if f.is_relative_to(SOURCE_DIR) else f.name
        h.update(name.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:16]


def build_image():
    """Builds the image (or reuses the cached one for the same inputs); returns its directory."""
    build_dir = aarch64_build_dir()
    subprocess.run(["ninja", "-C", str(build_dir)], check=True, capture_output=True, timeout=900)
    subprocess.run(["ninja", "-C", str(host_build_dir()), "host/alder", "device/appd/alder-appd",
                    "device/appd/alder-app-stage"], check=True, capture_output=True, timeout=900)
    cache = Path(os.environ.get("ALDER_IMAGE_CACHE_DIR", SOURCE_DIR / "build-image-cache"))
    out = cache / image_hash(build_dir)
    if (out / "image.env").exists() and (out / "alder.img").exists():
        return out
    tmp = cache / (out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    # One signing key for every cached image, so a rebuild changes only what changed.
    cmd = [str(IMAGE_DIR / "build"), "--build-dir", str(build_dir), "--host-build", str(host_build_dir()),
           "--out", str(tmp)]
    if (cache / "keys" / "dev.key").exists():
        cmd += ["--key", str(cache / "keys")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"image/build failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    if not (cache / "keys").exists():
        shutil.copytree(tmp / "keys", cache / "keys")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    # Keep only this image (each is ~150 MiB): older inputs are not coming back.
    for old in cache.iterdir():
        if old.is_dir() and old.name not in (out.name, "keys", "logs"):
            shutil.rmtree(old, ignore_errors=True)
    return out


def image_env(image_dir):
    env = {}
    for line in (image_dir / "image.env").read_text().splitlines():
        k, _, v = line.partition("=")
        env[k] = v
    return env


def image_keys(image_dir):
    """The keys the image was built with (FIT key dev.key, update key apps.key, ssh)."""
    return Path(image_dir) / image_env(image_dir)["ALDER_IMAGE_KEYS"]


class BundleBuild:
    """An update bundle (.alupd) of the image in image_dir at another version, built in the
    background: `files` ({"etc/alder/x": (text, mode)}) are added to its root file system.
    image/build --bundle-only makes it from the same package versions (packages.lock) and
    .deb cache, signed with the image's keys; cached beside the image under a hash of what
    goes in. wait() returns the bundle's path; `seconds` is what the build took (0: cached)."""

    def __init__(self, image_dir, name, version, sequence, files=None):
        files = files or {}
        h = hashlib.sha256(repr((version, sequence, sorted(files.items()))).encode()).hexdigest()[:12]
        self.out = Path(image_dir) / "bundles" / f"{name}-{h}"
        self.bundle = self.out / f"{name}.alupd"
        self.seconds = 0.0
        self.proc = None
        if self.bundle.exists():
            return
        self.tmp = self.out.with_name(self.out.name + ".tmp")
        shutil.rmtree(self.tmp, ignore_errors=True)
        overlay = self.tmp / "overlay"
        overlay.mkdir(parents=True)
        for rel, (text, mode) in files.items():
            f = overlay / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text)
            f.chmod(mode)
        cmd = [str(IMAGE_DIR / "build"), "--build-dir", str(aarch64_build_dir()), "--host-build",
               str(host_build_dir()), "--out", str(self.tmp), "--key", str(image_keys(image_dir)), "--packages-lock",
               str(Path(image_dir) / "packages.lock"), "--offline", "--version", version, "--sequence",
               str(sequence), "--overlay", str(overlay), "--bundle", str(self.tmp / self.bundle.name),
               "--bundle-only"]
        self.log = self.tmp / "build.log"
        self.t0 = time.monotonic()
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)

    def wait(self, timeout=600):
        if self.proc is not None:
            rc = self.proc.wait(timeout=timeout)
            self.proc = None
            if rc != 0:
                pytest.fail(f"image/build --bundle-only failed ({rc}):\n{self.log.read_text()[-4000:]}")
            # image/build's own clock: the build may have ended long before this wait.
            done = re.findall(r"==> \[ *(\d+)s\] done", self.log.read_text())
            self.seconds = float(done[-1]) if done else time.monotonic() - self.t0
            shutil.rmtree(self.out, ignore_errors=True)
            self.tmp.rename(self.out)
        return self.bundle


class Device:
    """One QEMU device: boot, commands on the serial console, power cut, console log."""

    def __init__(self, image_dir, state_dir, disk=None):
        self.image_dir = Path(image_dir)
        self.state = Path(state_dir)
        self.disk = disk
        self.sock = None
        self.seq = 0

    @property
    def console_log(self):
        return self.state / "console.log"

    def console_text(self):
        try:
            return self.console_log.read_bytes().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def console_tail(self, n=60):
        return "\n".join(self.console_text().splitlines()[-n:])

    def pid(self):
        try:
            return int((self.state / "qemu.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def alive(self):
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False

    def boot(self, fresh=True, timeout=180):
        """Starts QEMU and waits for ALDER-READY; fresh=False keeps the disk overlay (a reboot)."""
        self.close_console()
        cmd = [str(IMAGE_DIR / "run"), "--image", str(self.image_dir), "--state", str(self.state),
               "--headless", "--timeout", str(timeout)]
        if fresh:
            cmd.append("--fresh")
        if self.disk:
            cmd += ["--disk", str(self.disk)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 60)
        if proc.returncode != 0:
            raise AssertionError(f"device did not become ready: {proc.stderr.strip()}\n"
                                 f"--- console (last lines) ---\n{self.console_tail()}")
        return self.ready_line()

    READY = re.compile(r"(ALDER-READY[^\r\n]*)[\r\n]")  # whole lines only: the log grows as we read

    def ready_count(self):
        return len(self.READY.findall(self.console_text()))

    def ready_line(self):
        m = self.READY.findall(self.console_text())
        return m[-1] if m else None

    def _connect(self):
        if self.sock is None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(str(self.state / "console.sock"))
            self.sock.settimeout(0.2)
            self._buf = ""

    def close_console(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _read_until(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self._buf, re.S)
            if m:
                self._buf = self._buf[m.end():]
                return m
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {pattern!r} on the console within {timeout} s\n"
                                   f"--- console (last lines) ---\n{self.console_tail()}")
            try:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("console closed (QEMU exited?)\n" + self.console_tail())
                self._buf += data.decode(errors="replace")
            except socket.timeout:
                pass

    def run(self, command, timeout=60):
        """Runs a shell command on the console; returns (exit status, output)."""
        self._connect()
        self.seq += 1
        n = self.seq
        # The markers are split in the typed line, so only the output matches them.
        line = f"echo ALDER_B''EGIN_{n}; {command}; echo ALDER_R''C_{n}=$?\n"
        self.sock.sendall(line.encode())
        m = self._read_until(rf"ALDER_BEGIN_{n}\r?\n(.*?)ALDER_RC_{n}=(\d+)", timeout)
        out = m.group(1).replace("\r", "").replace("\x1b[6n", "")
        return int(m.group(2)), out.strip("\n")

    def check(self, command, timeout=60):
        rc, out = self.run(command, timeout)
        assert rc == 0, f"{command!r} failed ({rc}):\n{out}"
        return out

    def ssh_command(self, command):
        """The ssh command line that runs `command` on the device (dropbear, root's key from the build)."""
        key = image_env(self.image_dir).get("ALDER_IMAGE_SSH_KEY")
        if not key or not shutil.which("ssh"):
            pytest.skip("no SSH client or no SSH key in the image (ssh-keygen missing at build time)")
        key = str(self.image_dir / key)  # relative to the image directory unless absolute
        port = (self.state / "ssh.port").read_text().strip()
        return ["ssh", "-i", key, "-p", port, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=30", "-o", "BatchMode=yes", "root@127.0.0.1", command]

    def ssh(self, command, timeout=60, input=None):
        """Runs a command over SSH; `input` (bytes, or a file path) goes to its stdin. Returns a
        CompletedProcess (text unless input is given)."""
        if isinstance(input, (str, Path)):
            with open(input, "rb") as f:
                return subprocess.run(self.ssh_command(command), stdin=f, capture_output=True, timeout=timeout)
        return subprocess.run(self.ssh_command(command), capture_output=True, text=input is None, input=input,
                              timeout=timeout)

    def app_running(self, name, timeout=60):
        """Whether app `name` is (or gets, within timeout) in state running."""
        rc, _ = self.run(f"i=0; until alder app list | grep -q '^{name} .* running'; do i=$((i+1)); "
                         f"[ $i -lt {timeout} ] || exit 1; sleep 1; done", timeout=timeout + 30)
        return rc == 0

    def wait_installer_read(self, nbytes, timeout=600):
        """Waits until the device's `alder-updated install` process has read nbytes (rchar in
        /proc/PID/io). Shell builtins only, twice a second: the installer needs the one CPU."""
        self.check("p=; i=0; while [ -z \"$p\" ]; do for q in $(pidof alder-updated); do "
                   "grep -q install /proc/$q/cmdline && p=$q; done; i=$((i+1)); [ $i -lt 300 ] || exit 1; "
                   "[ -n \"$p\" ] || sleep 0.2; done; "
                   "while :; do r=0; while read -r k v; do [ \"$k\" = rchar: ] && r=$v; done </proc/$p/io; "
                   f"[ \"$r\" -ge {nbytes} ] && break; i=$((i+1)); [ $i -lt {timeout * 2} ] || exit 1; "
                   "sleep 0.5; done", timeout=timeout + 60)

    def install_cut_short(self, path, nbytes):
        """Starts `alder update install -` with the first nbytes (a multiple of 4096) of the bundle
        at `path` on the device, and returns once the installer has read them: it then waits for
        more, and a power cut lands exactly there. (dd, not head -c: busybox's head copies into a
        pipe at a third of the speed.)"""
        assert nbytes % 4096 == 0, nbytes
        self.check(f"(dd if={path} bs=4096 count={nbytes // 4096} 2>/dev/null; sleep 3600) | "
                   "alder update install - >/dev/null 2>&1 & true")
        self.wait_installer_read(nbytes)

    def reboot(self, timeout=180):
        """Reboots from the console and waits for the next ALDER-READY; returns its line."""
        self._connect()
        n = self.ready_count()
        self.sock.sendall(b"reboot\n")
        deadline = time.monotonic() + timeout
        # Keep reading the console: QEMU drops input when the client hangs up early.
        while self.ready_count() <= n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no ALDER-READY within {timeout} s of reboot\n{self.console_tail()}")
            try:
                self.sock.recv(65536)
            except socket.timeout:
                pass
        self._buf = ""
        return self.ready_line()

    def power_cycle(self, timeout=180):
        """Clean poweroff, then a cold boot on the same disk (cheaper than a warm reboot under TCG);
        returns the ALDER-READY line."""
        self.shutdown()
        return self.boot(fresh=False, timeout=timeout)

    def power_cut(self):
        """Kills QEMU: the device loses power at whatever instant it is at."""
        self.close_console()
        pid = self.pid()
        if pid is not None and self.alive():
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.05)

    def shutdown(self):
        """Clean shutdown (poweroff); a power cut if that does not work."""
        self.close_console()
        if self.alive():
            subprocess.run([str(IMAGE_DIR / "run"), "--stop", "--state", str(self.state)],
                           capture_output=True, timeout=60)
        self.power_cut()

    def keep_log(self, name):
        """Copies the console log next to the test results; returns the path."""
        dest_dir = Path(os.environ.get("ALDER_IMAGE_LOG_DIR", SOURCE_DIR / "build-image-cache" / "logs"))
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / f"{name}.console.log"
        if self.console_log.exists():
            shutil.copyfile(self.console_log, dest)
        return dest


@pytest.fixture(scope="session")
def device_image():
    """Directory of the built (or cached) device image."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    return build_image()


@pytest.fixture(scope="session")
def make_device(device_image, tmp_path_factory, request):
    """make_device(disk=None) -> a booted Device; stopped at the end of the session.
    Console logs of devices in a session with failures are kept (ALDER_IMAGE_LOG_DIR)."""
    devices = []
    failed_before = request.session.testsfailed

    def make(disk=None, name="device"):
        d = Device(device_image, tmp_path_factory.mktemp(name), disk=disk)
        devices.append((name, d))
        d.boot()
        return d

    yield make
    for name, d in devices:
        d.power_cut()  # the overlays are thrown away: no need to wait for a clean shutdown
        if request.session.testsfailed > failed_before:
            print(f"\nconsole log of {name}: {d.keep_log(name)}")


@pytest.fixture(scope="session")
def device(make_device):
    """One booted device shared by the tests that do not break it."""
    return make_device(name="shared")
