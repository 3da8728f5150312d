"""Reading container images and flattening them (lib/oci.c, lib/unpack.c) through
tests/helpers/oci-flatten, against images that umoci, skopeo and buildah build
during the run (offline), compared with umoci's own unpacking."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import oci_fixtures as fx

pytestmark = pytest.mark.skipif(not (shutil.which("umoci") and shutil.which("skopeo")),
                                reason="umoci and skopeo are needed to build the images")


class Flatten:
    def __init__(self, exe):
        self.exe = exe

    def __call__(self, *args):
        proc = subprocess.run([str(self.exe), *map(str, args)], capture_output=True, text=True, timeout=120)
        assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr
        return proc

    def ok(self, *args):
        proc = self(*args)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def fails(self, *args):
        proc = self(*args)
        assert proc.returncode == 1, proc.stdout
        assert proc.stderr.startswith("oci-flatten: "), proc.stderr
        return proc.stderr[len("oci-flatten: "):].strip()


@pytest.fixture(scope="session")
def flatten(build_dir):
    exe = build_dir / "tests" / "helpers" / "oci-flatten"
    assert exe.exists(), f"{exe} not built"
    return Flatten(exe)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """The umoci layout, the same image as oci-archive and docker-archive (skopeo), a
    multi-arch variant, and umoci's unpacking of the arm64 image as the reference."""
    work = tmp_path_factory.mktemp("oci")
    layout = fx.build_umoci_layout(work)
    fx.run("skopeo", "copy", f"oci:{layout}:arm64", f"oci-archive:{work / 'image.oci.tar'}")
    fx.run("skopeo", "copy", f"oci:{layout}:arm64", f"docker-archive:{work / 'image.docker.tar'}:alder/test:1")
    return {
        "work": work,
        "layout": layout,
        "oci-archive": work / "image.oci.tar",
        "docker-archive": work / "image.docker.tar",
        "multi": fx.make_multiarch(layout, work / "multi"),
        "reference": fx.umoci_rootfs(layout, "arm64", work / "reference"),
    }


EXPECTED_CONFIG = {
    "architecture": "arm64",
    "os": "linux",
    "entrypoint": ["/bin/tool"],
    "cmd": ["--serve", "8080"],
    "env": ["PATH=/usr/bin:/bin", "MODE=test"],
    "working_dir": "/opt/app",
    "user": "1000:1000",
    "labels": {"org.example.team": "alder", "version": "1.0"},
    "exposed_ports": ["8080/tcp"],
    "volumes": ["/var/lib/tool"],
    "stop_signal": "SIGTERM",
}


def test_layout_config_and_layers(images, flatten):
    out = flatten.ok("--ref", "arm64", images["layout"])
    img = out["image"]
    assert img["kind"] == "oci-layout"
    assert img["config"] == EXPECTED_CONFIG
    assert [layer["media_type"] for layer in img["layers"]] == ["application/vnd.oci.image.layer.v1.tar+gzip"] * 3
    assert img["digest"] == fx.index_entry(images["layout"], "arm64")["digest"]


@pytest.mark.parametrize("kind", ["layout", "oci-archive", "docker-archive"])
def test_flatten_matches_umoci(images, flatten, tmp_path, kind):
    """Files, whiteouts of files and directories, an opaque directory, a symlink replaced by
    a directory, modes, owners, mtimes, symlinks and hard links, as umoci unpacks them."""
    select = ["--platform", "linux/arm64"] if kind == "layout" else []
    out = flatten.ok(*select, images[kind], tmp_path / "rootfs")
    assert out["image"]["kind"] == {"layout": "oci-layout"}.get(kind, kind)
    assert out["image"]["config"] == EXPECTED_CONFIG
    fx.assert_same_tree(tmp_path / "rootfs", images["reference"])
    assert not (tmp_path / "rootfs/etc/hello").exists()
    assert sorted(os.listdir(tmp_path / "rootfs/opt/app")) == ["fresh"]
    assert out["stats"]["setuid"] == [] and out["stats"]["device"] == []
    assert out["stats"]["entries"] > 20


def test_archives_leave_no_temporary_files(images, flatten, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.run([str(flatten.exe), images["docker-archive"], tmp_path / "rootfs"],
                          env={**os.environ, "TMPDIR": str(tmp)}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert list(tmp.iterdir()) == []


def test_docker_archive_digest_is_the_image_id(images, flatten):
    img = flatten.ok("--ref", "alder/test:1", images["docker-archive"])["image"]
    manifest = json.loads(fx.blob(images["layout"], fx.index_entry(images["layout"], "arm64")["digest"]).read_text())
    assert img["digest"] == manifest["config"]["digest"]
    assert len(img["layers"]) == 3


def test_multiarch_selection(images, flatten, tmp_path):
    arm = flatten.ok("--platform", "linux/aarch64", images["multi"])["image"]
    assert arm["config"]["architecture"] == "arm64" and len(arm["layers"]) == 3
    amd = flatten.ok("--platform", "linux/amd64", "--ref", "multi", images["multi"], tmp_path / "amd")["image"]
    assert amd["config"]["architecture"] == "amd64" and len(amd["layers"]) == 1
    assert (tmp_path / "amd/etc/hello").read_text() == "hello\n"


def test_selection_errors_list_what_is_available(images, flatten):
    path = images["multi"]
    assert flatten.fails(path) == (
        f"image '{path}': 2 images match linux/*; choose one by platform or ref; "
        "available: linux/arm64 'multi', linux/amd64 'multi'")
    assert flatten.fails("--platform", "linux/arm/v7", path) == (
        f"image '{path}': no image for linux/arm/v7; available: linux/arm64 'multi', linux/amd64 'multi'")
    assert flatten.fails("--ref", "nope", images["layout"]) == (
        f"image '{images['layout']}': no image for linux/* 'nope'; available: linux/arm64 'arm64', "
        "linux/amd64 'amd64'")


def test_rootfs_folder(images, flatten, tmp_path):
    out = flatten.ok(images["reference"], tmp_path / "copy")
    assert out["image"]["kind"] == "rootfs-dir"
    assert "config" not in out["image"] and out["image"]["layers"] == []
    fx.assert_same_tree(tmp_path / "copy", images["reference"])


def broken_copy(images, tmp_path):
    dest = tmp_path / "broken"
    shutil.copytree(images["layout"], dest, symlinks=True)
    return dest


def test_corrupt_layer_is_named(images, flatten, tmp_path):
    layout = broken_copy(images, tmp_path)
    manifest = json.loads(fx.blob(layout, fx.index_entry(layout, "amd64")["digest"]).read_text())
    layer = manifest["layers"][0]["digest"]
    data = bytearray(fx.blob(layout, layer).read_bytes())
    data[len(data) // 2] ^= 0xff
    fx.blob(layout, layer).write_bytes(bytes(data))
    msg = flatten.fails("--ref", "amd64", layout, tmp_path / "rootfs")
    assert msg.startswith(f"image '{layout}': layer 1 of 1 ({layer[:19]}): digest mismatch: expected {layer}, got ")
    assert not (tmp_path / "rootfs").exists()


def test_unknown_layer_media_type_is_refused(images, flatten, tmp_path):
    layout = broken_copy(images, tmp_path)
    mt = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    fx.rewrite_manifest(layout, "amd64", lambda m: m["layers"][0].update(mediaType=mt))
    digest = fx.index_entry(layout, "amd64")["digest"]
    assert flatten.fails("--ref", "amd64", layout) == (
        f"image '{layout}': manifest {digest[:19]}: layers[0]: unsupported media type '{mt}'")


def test_bad_index_names_the_field(images, flatten, tmp_path):
    layout = broken_copy(images, tmp_path)
    index = fx.read_json(layout / "index.json")
    del index["manifests"][1]["digest"]
    (layout / "index.json").write_text(json.dumps(index))
    assert flatten.fails(layout) == f"image '{layout}': index.json: manifests[1]: field 'digest': missing"


def test_escaping_layer_is_refused(images, flatten, tmp_path):
    """A layer whose symlink points at / and a later entry through it (the classic
    tar-slip), added with umoci raw add-layer: refused, nothing left behind."""
    import io
    import tarfile
    layout = broken_copy(images, tmp_path)
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as t:
        link = tarfile.TarInfo("escape")
        link.type = tarfile.SYMTYPE
        link.linkname = "/"
        t.addfile(link)
        f = tarfile.TarInfo("escape/tmp/pwned")
        f.size = 4
        t.addfile(f, io.BytesIO(b"evil"))
    fx.run("umoci", "raw", "add-layer", "--image", f"{layout}:amd64", evil)
    msg = flatten.fails("--ref", "amd64", layout, tmp_path / "rootfs")
    assert msg.endswith(": entry 'escape/tmp/pwned': 'escape' is a symlink; refusing to write through it"), msg
    assert msg.startswith(f"image '{layout}': layer 2 of 2 (sha256:")
    assert not (tmp_path / "rootfs").exists()
    assert not Path("/tmp/pwned").exists()


def test_setuid_needs_permission(images, flatten, tmp_path):
    work = tmp_path / "suid"
    work.mkdir()
    layout = work / "layout"
    fx.run("umoci", "init", "--layout", layout)
    fx.run("umoci", "new", "--image", f"{layout}:x")

    def add_su(root):
        fx.write(root / "usr/bin/su", "su", 0o4755)

    fx.umoci_layer(layout, "x", work / "bundle", add_su)
    msg = flatten.fails(layout, tmp_path / "rootfs")
    assert msg.endswith(": entry 'usr/bin/su': setuid/setgid file refused (mode 4755)"), msg
    out = flatten.ok("--allow-setuid", layout, tmp_path / "rootfs")
    assert out["stats"]["setuid"] == ["usr/bin/su"]
    assert oct(os.stat(tmp_path / "rootfs/usr/bin/su").st_mode & 0o7777) == "0o4755"


def test_limits_apply_to_the_whole_image(images, flatten, tmp_path):
    msg = flatten.fails("--max-entries", "20", "--ref", "arm64", images["layout"], tmp_path / "rootfs")
    assert "more than 20 entries" in msg, msg
    assert not (tmp_path / "rootfs").exists()


def test_not_an_image(flatten, tmp_path):
    (tmp_path / "file.tar").write_bytes(b"\0" * 1024)
    assert flatten.fails(tmp_path / "file.tar") == (
        f"image '{tmp_path / 'file.tar'}': neither an oci-archive (no oci-layout) nor a docker-archive "
        "(no manifest.json)")
    assert flatten.fails(tmp_path / "missing").startswith(f"image '{tmp_path / 'missing'}': stat: No such file")


@pytest.mark.skipif(not shutil.which("buildah"), reason="buildah is not installed")
def test_buildah_image(flatten, tmp_path):
    try:
        layout = fx.build_buildah_layout(tmp_path)
    except RuntimeError as e:
        pytest.skip(f"buildah cannot build offline here: {e}")
    out = flatten.ok(layout, tmp_path / "rootfs")
    assert out["image"]["config"]["cmd"] == ["/bin/app"]
    assert out["image"]["config"]["architecture"] == "arm64"
    assert out["image"]["config"]["env"] == ["A=1"]
    fx.assert_same_tree(tmp_path / "rootfs", fx.umoci_rootfs(layout, "latest", tmp_path / "ref"))
    assert (tmp_path / "rootfs/etc/motd").read_text() == "built by buildah\n"
