"""Container images for tests/system/test_oci.py, built during the test run with
the real tools (umoci, skopeo, buildah), offline; plus helpers to compare the
root filesystems they produce with what libalder's flattening produces."""
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

ROOT = os.geteuid() == 0


def run(*args, cwd=None):
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


def rootless():
    return [] if ROOT else ["--rootless"]


def write(path, content, mode=0o644):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    os.chmod(path, mode)


# ---- umoci-built layouts ------------------------------------------------------------------------------------

def umoci_layer(layout, tag, bundle, change):
    """Applies change(rootfs) to a fresh unpack of layout:tag and repacks it as a new layer."""
    if bundle.exists():
        shutil.rmtree(bundle)
    run("umoci", "unpack", *rootless(), "--image", f"{layout}:{tag}", bundle)
    change(bundle / "rootfs")
    run("umoci", "repack", "--image", f"{layout}:{tag}", bundle)
    shutil.rmtree(bundle)


def layer1(r):
    write(r / "etc/hello", "hello\n")
    write(r / "etc/hosts", "127.0.0.1 localhost\n")
    os.link(r / "etc/hosts", r / "etc/hosts.hard")
    write(r / "bin/tool", "#!/bin/sh\necho tool\n", 0o755)
    write(r / "usr/share/doc/a", "a")
    write(r / "usr/share/doc/b", "b")
    write(r / "usr/lib/libx.so", b"\x7fELF...")
    os.symlink("usr/lib", r / "lib")
    os.symlink("/etc/hosts", r / "etc/hosts.abs")
    (r / "var/empty").mkdir(parents=True)
    os.chmod(r / "var/empty", 0o700)
    (r / "tmp").mkdir()
    os.chmod(r / "tmp", 0o1777)
    write(r / "opt/app/old1", "1")
    write(r / "opt/app/old2", "2")
    write(r / "home/user/.profile", "PS1=x\n")
    if ROOT:
        os.chown(r / "home/user", 1000, 1000)
        os.chown(r / "home/user/.profile", 1000, 1000)
    os.utime(r / "etc/hello", (1500000000, 1500000000))


def layer2(r):
    os.unlink(r / "etc/hello")                      # a whiteout for a file
    shutil.rmtree(r / "usr/share/doc")              # ... and for a directory
    write(r / "bin/tool", "#!/bin/sh\necho tool v2\n", 0o700)  # changed contents and mode
    write(r / "etc/new", "new\n")
    os.unlink(r / "lib")                            # a symlink replaced by a directory
    write(r / "lib/real", "real")


def opaque_layer_tar(path):
    """A layer no umoci repack writes: an opaque directory (.wh..wh..opq) with new contents."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        def add(name, data=None, mode=0o644, kind=tarfile.REGTYPE):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = mode
            info.mtime = 1600000000
            if data is not None:
                info.size = len(data)
            t.addfile(info, io.BytesIO(data) if data is not None else None)
        add("opt/app", mode=0o755, kind=tarfile.DIRTYPE)
        add("opt/app/.wh..wh..opq", b"")
        add("opt/app/fresh", b"fresh\n")


def config_image(layout, tag, arch):
    run("umoci", "config", "--image", f"{layout}:{tag}", "--architecture", arch, "--os", "linux",
        "--config.entrypoint", "/bin/tool", "--config.cmd", "--serve", "--config.cmd", "8080",
        "--config.env", "PATH=/usr/bin:/bin", "--config.env", "MODE=test",
        "--config.workingdir", "/opt/app", "--config.user", "1000:1000",
        "--config.label", "org.example.team=alder", "--config.label", "version=1.0",
        "--config.exposedports", "8080/tcp", "--config.volume", "/var/lib/tool",
        "--config.stopsignal", "SIGTERM")


def build_umoci_layout(work):
    """An OCI layout with two images: tag 'arm64' (3 layers: files, whiteouts, an opaque
    directory) and tag 'amd64' (1 layer), each with a full config."""
    layout = work / "layout"
    bundle = work / "bundle"
    run("umoci", "init", "--layout", layout)
    for tag, arch in (("arm64", "arm64"), ("amd64", "amd64")):
        run("umoci", "new", "--image", f"{layout}:{tag}")
        umoci_layer(layout, tag, bundle, layer1)
        if tag == "arm64":
            umoci_layer(layout, tag, bundle, layer2)
            opaque_layer_tar(work / "opaque.tar")
            run("umoci", "raw", "add-layer", "--image", f"{layout}:{tag}", work / "opaque.tar")
        config_image(layout, tag, arch)
    run("umoci", "gc", "--layout", layout)
    return layout


def umoci_rootfs(layout, tag, dest):
    """The reference: umoci's own unpacking of layout:tag."""
    run("umoci", "unpack", *rootless(), "--image", f"{layout}:{tag}", dest)
    return Path(dest) / "rootfs"


# ---- editing layouts by hand (for the index and for broken images) ------------------------------------------

def read_json(path):
    return json.loads(Path(path).read_text())


def put_blob(layout, data):
    """Stores bytes as a blob; returns its descriptor fields (digest, size)."""
    if not isinstance(data, bytes):
        data = json.dumps(data, separators=(",", ":")).encode()
    digest = hashlib.sha256(data).hexdigest()
    (Path(layout) / "blobs/sha256" / digest).write_bytes(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def blob(layout, digest):
    return Path(layout) / "blobs/sha256" / digest.split(":", 1)[1]


def index_entry(layout, ref):
    for m in read_json(Path(layout) / "index.json")["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref:
            return m
    raise KeyError(ref)


def make_multiarch(layout, dest):
    """A copy of layout whose index.json holds one multi-arch image index (with platforms)
    named 'multi', nested as registries and `docker buildx` write them."""
    shutil.copytree(layout, dest, symlinks=True)
    manifests = []
    for tag, arch in (("arm64", "arm64"), ("amd64", "amd64")):
        e = dict(index_entry(dest, tag))
        e.pop("annotations", None)
        e["platform"] = {"architecture": arch, "os": "linux"}
        manifests.append(e)
    nested = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}
    d = put_blob(dest, nested)
    top = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", **d,
                                              "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}
    (Path(dest) / "index.json").write_text(json.dumps(top))
    return dest


def rewrite_manifest(layout, ref, change):
    """Applies change(manifest) to layout:ref, storing the result and pointing the index at it."""
    index_path = Path(layout) / "index.json"
    index = read_json(index_path)
    for m in index["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref:
            manifest = read_json(blob(layout, m["digest"]))
            change(manifest)
            m.update(put_blob(layout, manifest))
    index_path.write_text(json.dumps(index))


# ---- buildah ------------------------------------------------------------------------------------------------

def build_buildah_layout(work):
    """buildah from scratch + copy + config + commit to an oci: layout, with private storage."""
    store = ["--root", str(work / "storage"), "--runroot", str(work / "run"), "--storage-driver", "vfs"]
    src = work / "src"
    write(src / "etc/motd", "built by buildah\n")
    write(src / "bin/app", "#!/bin/sh\necho app\n", 0o755)
    ctr = run("buildah", *store, "from", "scratch").strip()
    try:
        run("buildah", *store, "copy", ctr, str(src), "/")
        run("buildah", *store, "config", "--cmd", "/bin/app", "--env", "A=1", "--arch", "arm64", ctr)
        run("buildah", *store, "commit", ctr, f"oci:{work / 'buildah'}:latest")
    finally:
        subprocess.run(["buildah", *store, "rm", ctr], capture_output=True)
    return work / "buildah"


# ---- comparing trees ----------------------------------------------------------------------------------------

def snapshot(root):
    """What a root filesystem holds: per path its type, mode, owner, contents (digest), link
    target, mtime (files and links) and hard-link groups."""
    root = Path(root)
    out = {}
    inodes = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            st = os.lstat(p)
            rel = str(p.relative_to(root))
            e = {"type": stat.S_IFMT(st.st_mode), "mode": oct(stat.S_IMODE(st.st_mode))}
            if ROOT:
                e["owner"] = (st.st_uid, st.st_gid)
            if stat.S_ISLNK(st.st_mode):
                e["target"] = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                e["sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
                e["mtime"] = int(st.st_mtime)
                inodes.setdefault(st.st_ino, []).append(rel)
            out[rel] = e
    for group in inodes.values():
        for rel in group:
            out[rel]["links"] = sorted(group)
    return out


def assert_same_tree(got, expected):
    a, b = snapshot(got), snapshot(expected)
    missing = sorted(set(b) - set(a))
    extra = sorted(set(a) - set(b))
    differ = {k: (a[k], b[k]) for k in sorted(set(a) & set(b)) if a[k] != b[k]}
    assert not missing and not extra and not differ, f"missing {missing}, extra {extra}, differ {differ}"
