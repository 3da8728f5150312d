"""App packages end to end: `alder keys`, `alder app pack|sign|verify|inspect` on
images built during the run by real tools (examples/hello-world via umoci and
skopeo), and what a device does with hostile packages (tests/helpers/alpkg-tool)."""
import io
import json
import os
import shutil
import struct
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import SOURCE_DIR

pytestmark = pytest.mark.skipif(not (shutil.which("umoci") and shutil.which("skopeo") and shutil.which("zstd")),
                                reason="umoci, skopeo and zstd build the fixtures")


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """examples/hello-world built for arm64 with umoci: OCI layout, oci-archive, docker-archive."""
    out = tmp_path_factory.mktemp("image")
    proc = subprocess.run(["bash", str(SOURCE_DIR / "examples/hello-world/build.sh"), "--arch", "arm64", "--out",
                           str(out), "--tool", "umoci"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def keys(tmp_path_factory, build_dir):
    d = tmp_path_factory.mktemp("keys")
    alder = str(build_dir / "host" / "alder")
    for name in ("dev", "other"):
        subprocess.run([alder, "keys", "generate", "--out", str(d / name), "--cn", f"Alder {name}"], check=True,
                       capture_output=True)
    for name in ("dev", "other"):
        (d / f"trust-{name}").mkdir()
        shutil.copy(d / f"{name}.pem", d / f"trust-{name}" / f"{name}.pem")
    return d


def sign_args(keys, name="dev"):
    return ["--key", str(keys / f"{name}.key"), "--cert", str(keys / f"{name}.pem")]


@pytest.fixture(scope="module")
def package(image, keys, build_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("pkg")
    alder = str(build_dir / "host" / "alder")
    proc = subprocess.run([alder, "app", "pack", *sign_args(keys), "--sequence", "7", "--memory", "64M",
                           "--volume", "data:/data", "-o", str(out), f"{image}/oci:1.0.0"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    return out / "hello-world_1.0.0_arm64.alpkg"


def copy_of(package, tmp_path):
    p = tmp_path / package.name
    shutil.copy(package, p)
    return p


def envelope_length(path):
    with open(path, "rb") as f:
        head = f.read(16)
    return struct.unpack(">I", head[12:16])[0]


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x01]))


# ---- pack / inspect / verify ------------------------------------------------------------------------------------

def test_pack_from_each_input_kind(image, keys, alder, tmp_path):
    inputs = [f"{image}/oci:1.0.0", str(image / "hello-world_1.0.0_arm64.oci-archive.tar"),
              str(image / "hello-world_1.0.0_arm64.docker-archive.tar")]
    digests = set()
    for i, src in enumerate(inputs):
        out = tmp_path / f"out{i}"
        out.mkdir()
        r = alder("--json", "app", "pack", *sign_args(keys), "--sequence", "1", "-o", str(out), src)
        assert r.rc == 0, (src, r.err)
        doc = r.json()
        assert (doc["name"], doc["version"], doc["arch"], doc["sequence"]) == ("hello-world", "1.0.0", "arm64", 1)
        assert Path(doc["file"]).exists()
        digests.add(doc["rootfs_sha256"])
        # nothing but the package is left beside it (no staging debris)
        assert [p.name for p in out.iterdir()] == ["hello-world_1.0.0_arm64.alpkg"]
        # the image's VOLUME /data becomes the app's private data volume
        meta = alder("app", "inspect", "--json", doc["file"]).json()["app"]
        assert meta["permissions"]["volumes"] == [{"name": "data", "path": "/data"}]
    # the same image gives the same root filesystem payload, whatever the container format
    assert len(digests) == 1


def test_inspect_shows_runtime_and_permissions(package, alder):
    r = alder("app", "inspect", "--json", str(package))
    assert r.rc == 0, r.err
    doc = r.json()
    app = doc["app"]
    assert app["runtime"]["entrypoint"] == ["/app/hello"]
    assert app["runtime"]["cmd"] == ["--serve", "0"]
    assert app["runtime"]["user"] == "1000:1000"
    assert "ALDER_DATA_DIR=/data" in app["runtime"]["env"]
    assert app["permissions"]["limits"]["memory_bytes"] == 64 << 20
    assert app["permissions"]["volumes"] == [{"name": "data", "path": "/data"}]
    assert doc["sequence"] == 7
    assert doc["signature"] == {"verified": False}
    text = alder("app", "inspect", str(package))
    assert "NOT verified" in text.out and "hello-world 1.0.0 (arm64)" in text.out


def test_verify_good_package(package, keys, alder):
    r = alder("app", "verify", "--trust", str(keys / "trust-dev"), "--arch", "arm64", str(package))
    assert r.rc == 0, r.err
    assert "OK: hello-world 1.0.0 (arm64), sequence 7, signed by CN=Alder dev" in r.out
    j = alder("app", "verify", "--json", "--trust", str(keys / "trust-dev"), str(package))
    assert j.json()["signature"]["verified"] is True


def test_verify_untrusted_signer(package, keys, alder):
    r = alder("app", "verify", "--trust", str(keys / "trust-other"), str(package))
    assert r.rc == 1
    assert str(package) in r.err and "trust" in r.err.lower()


def test_verify_bad_signature(package, keys, alder, tmp_path):
    p = copy_of(package, tmp_path)
    # the COSE signature is the last 64 bytes of the auth wrapper, well inside the envelope
    flip(p, 16 + 100)
    r = alder("app", "verify", "--trust", str(keys / "trust-dev"), str(p))
    assert r.rc == 1 and str(p) in r.err, r.err


def test_verify_payload_digest_mismatch(package, keys, alder, tmp_path):
    p = copy_of(package, tmp_path)
    flip(p, os.path.getsize(p) - 100)  # inside the root filesystem payload
    r = alder("app", "verify", "--trust", str(keys / "trust-dev"), str(p))
    assert r.rc == 1
    assert r.err.strip().endswith("root filesystem does not match the manifest's digest"), r.err


def test_verify_metadata_digest_mismatch(package, keys, alder, tmp_path):
    p = copy_of(package, tmp_path)
    flip(p, 16 + envelope_length(p) + 10)
    r = alder("app", "verify", "--trust", str(keys / "trust-dev"), str(p))
    assert r.rc == 1 and "app metadata does not match the manifest's digest" in r.err


def test_truncated_and_extended_packages(package, keys, alder, tmp_path):
    data = package.read_bytes()
    for cut, expect in ((10, "truncated: header ends after 10 of 16 bytes"),
                        (16 + 20, "truncated: SUIT envelope ends after 20"),
                        (len(data) - 1, "truncated: the root filesystem ends 1 bytes early")):
        p = tmp_path / f"cut{cut}.alpkg"
        p.write_bytes(data[:cut])
        r = alder("app", "verify", "--trust", str(keys / "trust-dev"), str(p))
        assert r.rc == 1 and expect in r.err, (cut, r.err)
    p = tmp_path / "longer.alpkg"
    p.write_bytes(data + b"\0")
    r = alder("app", "verify", "--trust", str(keys / "trust-dev"), str(p))
    assert r.rc == 1 and "unexpected bytes after the last payload" in r.err


def test_not_a_package(alder, tmp_path, keys):
    p = tmp_path / "x.alpkg"
    p.write_bytes(b"PK\x03\x04 not a package at all")
    r = alder("app", "inspect", str(p))
    assert r.rc == 1 and "not an Alder app package (bad magic)" in r.err


def test_wrong_arch(package, image, keys, alder, tmp_path):
    r = alder("app", "verify", "--trust", str(keys / "trust-dev"), "--arch", "amd64", str(package))
    assert r.rc == 1 and "package is for arm64, this device is amd64" in r.err
    r = alder("app", "pack", *sign_args(keys), "--arch", "amd64", "-o", str(tmp_path), f"{image}/oci:1.0.0")
    assert r.rc == 1 and "no image for linux/amd64" in r.err and "available: linux/arm64" in r.err, r.err
    assert list(tmp_path.iterdir()) == []


def test_vendor_must_match(image, keys, alder, tmp_path):
    r = alder("--json", "app", "pack", *sign_args(keys), "--vendor", "example.com", "-o", str(tmp_path),
              f"{image}/oci:1.0.0")
    assert r.rc == 0, r.err
    pkg = r.json()["file"]
    ok = alder("app", "verify", "--trust", str(keys / "trust-dev"), "--vendor", "example.com", pkg)
    assert ok.rc == 0, ok.err
    bad = alder("app", "verify", "--trust", str(keys / "trust-dev"), pkg)
    assert bad.rc == 1 and "vendor" in bad.err.lower()


def test_sign_replaces_signature_keeps_payload(package, keys, alder, tmp_path):
    out = tmp_path / "resigned.alpkg"
    r = alder("app", "sign", *sign_args(keys, "other"), "-o", str(out), str(package))
    assert r.rc == 0, r.err
    assert alder("app", "verify", "--trust", str(keys / "trust-other"), str(out)).rc == 0
    assert alder("app", "verify", "--trust", str(keys / "trust-dev"), str(out)).rc == 1
    a = alder("app", "inspect", "--json", str(package)).json()
    b = alder("app", "inspect", "--json", str(out)).json()
    assert a["payloads"] == b["payloads"] and a["sequence"] == b["sequence"]


def test_pack_rootfs_folder_needs_identity(keys, alder, tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    (rootfs / "bin" / "app").write_text("#!/bin/sh\n")
    out = tmp_path / "out"
    out.mkdir()
    r = alder("app", "pack", *sign_args(keys), "-o", str(out), str(rootfs))
    assert r.rc == 1 and "give --name" in r.err
    r = alder("--json", "app", "pack", *sign_args(keys), "--name", "tool", "--version", "0.1.0", "--arch", "arm",
              "--cmd", '["/bin/app", "--flag"]', "--env", "A=1", "-o", str(out), str(rootfs))
    assert r.rc == 0, r.err
    doc = alder("app", "inspect", "--json", r.json()["file"]).json()
    assert doc["app"]["runtime"]["cmd"] == ["/bin/app", "--flag"]
    assert doc["app"]["arch"] == "arm"


def test_pack_usage_errors(alder, keys, image):
    assert alder("app", "pack", f"{image}/oci:1.0.0").rc == 2  # no key
    r = alder("app", "pack", *sign_args(keys), "--memory", "lots", f"{image}/oci:1.0.0")
    assert r.rc == 2 and "--memory: 'lots'" in r.err
    r = alder("app", "pack", *sign_args(keys), "--version", "1.0", f"{image}/oci:1.0.0")
    assert r.rc == 1 and "not a semantic version" in r.err
    for cmd in ("pack", "sign", "verify", "inspect"):
        h = alder("app", cmd, "--help")
        assert h.rc == 0 and h.out.startswith(f"Usage: alder app {cmd}")


# ---- hostile payloads, as a device sees them ------------------------------------------------------------------

META = {"format": 1, "name": "evil", "version": "1.0.0", "arch": "amd64", "runtime": {"cmd": ["/x"]}}


def tar_bytes(entries):
    """entries: list of (TarInfo, data-bytes-or-None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for info, data in entries:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def entry(name, data=b"", type_=tarfile.REGTYPE, **kw):
    info = tarfile.TarInfo(name)
    info.type = type_
    info.size = len(data) if type_ == tarfile.REGTYPE else 0
    for k, v in kw.items():
        setattr(info, k, v)
    return info, (data if type_ == tarfile.REGTYPE else None)


def zstd(data):
    return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True, check=True).stdout


class Device:
    def __init__(self, build_dir, keys, tmp):
        self.tool = str(build_dir / "tests" / "helpers" / "alpkg-tool")
        self.keys = keys
        self.tmp = tmp
        (tmp / "meta.json").write_text(json.dumps(META))

    def package(self, payload, name="evil.alpkg"):
        (self.tmp / "payload.tar.zst").write_bytes(payload)
        out = self.tmp / name
        subprocess.run([self.tool, "create", "--meta", str(self.tmp / "meta.json"), "--payload",
                        str(self.tmp / "payload.tar.zst"), *sign_args(self.keys), str(out)], check=True)
        return out

    def unpack(self, pkg, *extra):
        dest = self.tmp / "dest"
        proc = subprocess.run([self.tool, "unpack", "--trust", str(self.keys / "trust-dev"), *extra, str(pkg),
                               str(dest)], capture_output=True, text=True, timeout=120)
        assert "Sanitizer" not in proc.stderr, proc.stderr
        return proc, dest


@pytest.fixture
def device(build_dir, keys, tmp_path):
    return Device(build_dir, keys, tmp_path)


def test_device_unpacks_a_good_payload(device):
    pkg = device.package(zstd(tar_bytes([entry("bin/", type_=tarfile.DIRTYPE, mode=0o755),
                                         entry("bin/x", b"#!/bin/sh\n", mode=0o755)])))
    proc, dest = device.unpack(pkg)
    assert proc.returncode == 0, proc.stderr
    assert (dest / "bin" / "x").read_bytes() == b"#!/bin/sh\n"


HOSTILE = [
    ("dotdot", [entry("../escape", b"x")], "entry '../escape': path escapes the root"),
    ("absolute", [entry("/etc/evil", b"x")], "entry '/etc/evil': absolute path refused"),
    ("symlink-escape", [entry("link", type_=tarfile.SYMTYPE, linkname="/"), entry("link/etc/evil", b"x")],
     "entry 'link/etc/evil': 'link' is a symlink; refusing to write through it"),
    ("device-node", [entry("dev/sda", type_=tarfile.BLKTYPE, devmajor=8, devminor=0)],
     "entry 'dev/sda': block device refused"),
    ("setuid", [entry("bin/su", b"x", mode=0o4755)], "entry 'bin/su': setuid/setgid file refused (mode 4755)"),
    ("duplicate", [entry("a", b"1"), entry("a", b"2")], "entry 'a': duplicate entry"),
]


@pytest.mark.parametrize("name,entries,message", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_device_refuses_hostile_entries(device, name, entries, message):
    pkg = device.package(zstd(tar_bytes(entries)))
    proc, dest = device.unpack(pkg)
    assert proc.returncode == 1, proc.stdout
    assert proc.stderr == f"alpkg-tool: {pkg}: root filesystem: {message}\n"
    assert not dest.exists()  # nothing left behind


def test_device_refuses_corrupted_zstd(device):
    text = b"".join(b"line %d of a compressible file\n" % i for i in range(20000))
    good = zstd(tar_bytes([entry("a", text)]))
    bad = good[:40] + bytes(b ^ 0xff for b in good[40:80]) + good[80:]
    proc, dest = device.unpack(device.package(bad))
    assert proc.returncode == 1 and "zstd data is corrupt" in proc.stderr, proc.stderr
    assert not dest.exists()


def test_device_refuses_huge_declared_size(device):
    info, _ = entry("big")
    info.size = 100 * 10**9  # 100 GB declared, nothing behind it
    header = info.tobuf(format=tarfile.PAX_FORMAT)
    proc, dest = device.unpack(device.package(zstd(header + b"\0" * 1024)))
    assert proc.returncode == 1, proc.stdout
    assert "entry 'big': size 100000000000 bytes exceeds the limit of 1073741824 bytes per file" in proc.stderr
    assert not dest.exists()


def entry_bomb(n):
    """A ustar stream of n empty files f0000000, f0000001, ... built from one header template."""
    template = tarfile.TarInfo("f0000000").tobuf(format=tarfile.USTAR_FORMAT)
    head, tail = template[8:148], template[156:]
    base = sum(head) + sum(tail) + 8 * 0x20  # the checksum field counts as spaces
    parts = []
    for i in range(n):
        name = b"f%07d" % i
        parts.append(name + head + b"%06o\0 " % (base + sum(name)) + tail)
    parts.append(b"\0" * 1024)
    return b"".join(parts)


def test_device_refuses_entry_bomb_fast(device):
    # 10^6 empty files; the entry limit must stop the unpacker early (a device's limit is
    # configurable; a small one keeps this test fast, the default of 100000 is unit-tested)
    payload = subprocess.run(["zstd", "-q", "-c"], input=entry_bomb(10**6), capture_output=True, check=True).stdout
    proc, dest = device.unpack(device.package(payload), "--max-entries", "10000")
    assert proc.returncode == 1, proc.stdout
    assert "more than 10000 entries" in proc.stderr, proc.stderr
    assert not dest.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_pack_refuses_device_nodes_and_undeclared_setuid(keys, alder, tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "dev").mkdir(parents=True)
    os.mknod(rootfs / "dev" / "null", 0o666 | 0o020000, os.makedev(1, 3))
    out = tmp_path / "out"
    out.mkdir()
    ident = ["--name", "t", "--version", "1.0.0", "--arch", "amd64", "--cmd", "/x", "-o", str(out)]
    r = alder("app", "pack", *sign_args(keys), *ident, str(rootfs))
    assert r.rc == 1 and "1 device node(s)" in r.err, r.err
    os.unlink(rootfs / "dev" / "null")
    (rootfs / "su").write_text("x")
    os.chmod(rootfs / "su", 0o4755)
    r = alder("app", "pack", *sign_args(keys), *ident, str(rootfs))
    assert r.rc == 1 and "setuid/setgid file(s)" in r.err, r.err
    assert alder("app", "pack", *sign_args(keys), *ident, "--allow-setuid", str(rootfs)).rc == 0
    assert [p.name for p in out.iterdir()] == ["t_1.0.0_amd64.alpkg"]
