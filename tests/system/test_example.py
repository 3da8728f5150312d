"""The hello-world example app (examples/hello-world): build.sh builds it
offline, for arm64 and amd64, with every image tool installed here, into a
static binary, an OCI layout, an oci-archive and a docker-archive that
`alder app pack` can take; and the app does what its README promises, directly
and in a container under runc.

Needs no meson build: the example is built by its own script, as users do.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tarfile
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello-world"
BUILD_SH = EXAMPLE / "build.sh"
NAME = "hello-world"
VERSION = "1.0.0"
REF = f"localhost/{NAME}:{VERSION}"
MACHINE = {"amd64": "x86-64", "arm64": "ARM aarch64"}
HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine)
TOOLS = [t for t in ("buildah", "umoci") if shutil.which(t)]
COMBOS = [(tool, arch) for tool in TOOLS for arch in ("amd64", "arm64")]

# What the Containerfile puts in the image config: the runtime settings the packer reads.
EXPECTED_CONFIG = {
    "Entrypoint": ["/app/hello"],
    "Cmd": ["--serve", "0"],
    "Env": ["PATH=/app", "ALDER_DATA_DIR=/data"],
    "User": "1000:1000",
    "WorkingDir": "/data",
    "Volumes": {"/data": {}},
    "StopSignal": "SIGTERM",
}
EXPECTED_LABELS = {
    "org.opencontainers.image.version": VERSION,
    "org.opencontainers.image.title": NAME,
}

pytestmark = pytest.mark.skipif(not TOOLS or not shutil.which("skopeo"),
                                reason="needs skopeo and buildah or umoci (scripts/deps.sh test)")


def run_build(out, arch, tool, script=BUILD_SH):
    return subprocess.run([str(script), "--arch", arch, "--out", str(out), "--tool", tool],
                          capture_output=True, text=True, timeout=120)


class Build:
    """One build.sh run's outputs, read back."""

    def __init__(self, out, tool, arch):
        self.out, self.tool, self.arch = out, tool, arch
        self.oci = out / "oci"
        self.binary = out / f"hello-{arch}"
        self.oci_archive = out / f"{NAME}_{VERSION}_{arch}.oci-archive.tar"
        self.docker_archive = out / f"{NAME}_{VERSION}_{arch}.docker-archive.tar"

    def blob(self, digest):
        algo, hexdigest = digest.split(":")
        assert algo == "sha256"
        return self.oci / "blobs" / "sha256" / hexdigest

    def json_blob(self, descriptor):
        data = self.blob(descriptor["digest"]).read_bytes()
        assert len(data) == descriptor["size"]
        return json.loads(data)

    def index(self):
        return json.loads((self.oci / "index.json").read_text())

    def manifest(self):
        (desc,) = self.index()["manifests"]
        return self.json_blob(desc)

    def config(self):
        return self.json_blob(self.manifest()["config"])


@pytest.fixture(scope="module", params=COMBOS, ids=[f"{t}-{a}" for t, a in COMBOS])
def build(request, tmp_path_factory):
    tool, arch = request.param
    out = tmp_path_factory.mktemp(f"{tool}-{arch}")
    r = run_build(out, arch, tool)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"done: {NAME} {VERSION} for linux/{arch}" in r.stdout
    return Build(out, tool, arch)


def test_binary_is_static_for_its_arch(build):
    desc = subprocess.run(["file", "-b", str(build.binary)], capture_output=True, text=True,
                          check=True).stdout
    assert "statically linked" in desc
    assert MACHINE[build.arch] in desc


def runner(arch):
    """How to run a binary for arch here: natively, or under qemu-user."""
    if arch == HOST_ARCH:
        return []
    qemu = shutil.which({"arm64": "qemu-aarch64-static", "amd64": "qemu-x86_64-static"}[arch])
    if not qemu:
        pytest.skip(f"cannot run {arch} binaries here (qemu-user-static)")
    return [qemu]


def test_binary_runs_and_knows_its_version(build):
    r = subprocess.run([*runner(build.arch), str(build.binary), "--version"], capture_output=True, text=True,
                       timeout=30)
    assert (r.returncode, r.stdout) == (0, f"{NAME} {VERSION}\n")


def test_oci_layout_carries_the_runtime_settings(build):
    assert json.loads((build.oci / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    (desc,) = build.index()["manifests"]
    assert desc["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert desc["annotations"]["org.opencontainers.image.ref.name"] == VERSION
    manifest = build.manifest()
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    config = build.config()
    assert (config["os"], config["architecture"]) == ("linux", build.arch)
    assert {k: config["config"].get(k) for k in EXPECTED_CONFIG} == EXPECTED_CONFIG
    assert EXPECTED_LABELS.items() <= config["config"]["Labels"].items()
    assert len(config["rootfs"]["diff_ids"]) == len(manifest["layers"]) == 1


def test_layer_holds_the_binary_and_the_volume_mount_point(build):
    (layer,) = build.manifest()["layers"]
    with tarfile.open(build.blob(layer["digest"])) as tar:
        members = {m.name.strip("./"): m for m in tar.getmembers()}
        hello = members["app/hello"]
        assert hello.isfile() and hello.mode & 0o111 and (hello.uid, hello.gid) == (0, 0)
        assert tar.extractfile(hello).read() == build.binary.read_bytes()
        assert members["data"].isdir()


def test_blob_digests_match_their_names(build):
    blobs = list((build.oci / "blobs" / "sha256").iterdir())
    assert len(blobs) == 3  # manifest, config, one layer: nothing left over
    for blob in blobs:
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name


def test_oci_archive_is_the_same_image(build):
    with tarfile.open(build.oci_archive) as tar:
        index = json.load(tar.extractfile("index.json"))
        names = set(tar.getnames())
    (desc,) = index["manifests"]
    assert desc["digest"] == build.index()["manifests"][0]["digest"]
    assert desc["annotations"]["org.opencontainers.image.ref.name"] == VERSION
    assert "oci-layout" in names


def test_docker_archive_manifest(build):
    with tarfile.open(build.docker_archive) as tar:
        (entry,) = json.load(tar.extractfile("manifest.json"))
        config = json.load(tar.extractfile(entry["Config"]))
        names = set(tar.getnames())
    assert entry["RepoTags"] == [REF]
    assert len(entry["Layers"]) == 1 and entry["Layers"][0] in names
    assert config["architecture"] == build.arch
    assert config["config"]["Entrypoint"] == EXPECTED_CONFIG["Entrypoint"]
    assert config["config"]["User"] == EXPECTED_CONFIG["User"]


@pytest.mark.skipif(len(TOOLS) < 2, reason="needs both buildah and umoci")
def test_buildah_and_umoci_write_the_same_config(tmp_path):
    configs = []
    for tool in TOOLS:
        assert run_build(tmp_path / tool, "amd64", tool).returncode == 0
        config = Build(tmp_path / tool, tool, "amd64").config()
        configs.append((config["architecture"], config["os"], config["created"], config["config"]))
    assert configs[0] == configs[1]


def test_rebuild_is_idempotent(tmp_path):
    tool = TOOLS[-1]
    digests = []
    for _ in range(2):
        r = run_build(tmp_path, "amd64", tool)
        assert r.returncode == 0, r.stderr
        digests.append(Build(tmp_path, tool, "amd64").index()["manifests"][0]["digest"])
    assert digests[0] == digests[1]  # pinned timestamps: same sources, same image
    assert not list(tmp_path.glob(".build.*"))


@pytest.mark.parametrize("args, message", [
    (["--arch", "riscv64"], "--arch: 'riscv64' is not arm64 or amd64"),
    (["--tool", "docker"], "--tool: 'docker' is not buildah or umoci"),
    (["--out"], "option '--out' needs an argument"),
    (["extra"], "unknown argument 'extra'"),
], ids=["arch", "tool", "missing-value", "extra"])
def test_build_sh_usage_errors(args, message):
    r = subprocess.run([str(BUILD_SH), *args], capture_output=True, text=True)
    assert r.returncode == 2
    assert message in r.stderr and "--help" in r.stderr


def test_build_sh_help():
    r = subprocess.run([str(BUILD_SH), "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    assert r.stdout.startswith("Usage: build.sh")
    assert "Exit status:" in r.stdout


@pytest.mark.skipif(not shutil.which("umoci"), reason="needs umoci")
def test_umoci_follows_the_containerfile_and_refuses_what_it_cannot_build(tmp_path):
    example = tmp_path / "example"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("out"))
    cf = example / "Containerfile"
    cf.write_text(cf.read_text().replace(f'version="{VERSION}"', 'version="2.0.0"') + "ENV EXTRA=yes\n")
    r = run_build(tmp_path / "out", "amd64", "umoci", script=example / "build.sh")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "out" / "oci" / "index.json").read_text())["manifests"][0]["annotations"][
        "org.opencontainers.image.ref.name"] == "2.0.0"
    hello = subprocess.run([str(tmp_path / "out" / "hello-amd64"), "--version"], capture_output=True, text=True)
    assert hello.stdout == f"{NAME} 2.0.0\n"
    config = Build(tmp_path / "out", "umoci", "amd64").config()["config"]
    assert config["Env"][-1] == "EXTRA=yes"

    cf.write_text(cf.read_text() + "RUN echo hi\n")
    r = run_build(tmp_path / "out2", "amd64", "umoci", script=example / "build.sh")
    assert r.returncode == 1
    assert "does not support RUN (build with --tool buildah)" in r.stderr
    assert not (tmp_path / "out2" / "oci").exists()


# --- the app itself -------------------------------------------------------------------

@pytest.fixture(scope="module")
def amd64_build(tmp_path_factory):
    if HOST_ARCH != "amd64":
        pytest.skip("runs the amd64 binary natively")
    out = tmp_path_factory.mktemp("run-amd64")
    r = run_build(out, "amd64", TOOLS[0])
    assert r.returncode == 0, r.stderr
    return Build(out, TOOLS[0], "amd64")


def hello(binary, *args, data_dir, timeout=10):
    env = dict(os.environ, ALDER_DATA_DIR=str(data_dir))
    return subprocess.run([str(binary), *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_binary_runs_natively_and_counts_runs(amd64_build, tmp_path):
    for count in (1, 2):
        r = hello(amd64_build.binary, data_dir=tmp_path)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"Hello from Alder! {NAME} {VERSION}\n")
        assert f"user: uid={os.getuid()} gid={os.getgid()}\n" in r.stdout
        assert f"data: {tmp_path} writable, run count {count}\n" in r.stdout
    assert (tmp_path / "hello-count").read_text() == "2\n"
    assert not (tmp_path / "hello-count.tmp").exists()


@pytest.mark.parametrize("content, rc, message", [
    (None, 0, "unavailable, nothing persisted (open"),  # no data volume at all: still fine
    ("many\n", 1, "parse 'hello-count': not a decimal run count"),
    ("18446744073709551615\n", 1, "run count at its maximum"),
    ("1" * 40, 1, "read 'hello-count': too large for a run count"),
])
def test_binary_reports_data_volume_problems(amd64_build, tmp_path, content, rc, message):
    data = tmp_path / "data"
    if content is not None:
        data.mkdir()
        (data / "hello-count").write_text(content)
    r = hello(amd64_build.binary, data_dir=data)
    assert r.returncode == rc
    assert message in r.stdout + r.stderr


def test_serve_heartbeats_then_exits(amd64_build, tmp_path):
    r = hello(amd64_build.binary, "--serve", "1", data_dir=tmp_path)
    assert r.returncode == 0
    assert r.stdout.endswith("heartbeat 1\nserved 1 seconds, exiting\n")
    assert hello(amd64_build.binary, "--serve", "soon", data_dir=tmp_path).returncode == 2


def wait_for_heartbeat(proc):
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("heartbeat 1"):
            return lines
    raise AssertionError(f"no heartbeat: {''.join(lines)}")


def test_serve_exits_cleanly_on_sigterm(amd64_build, tmp_path):
    proc = subprocess.Popen([str(amd64_build.binary), "--serve", "0"], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, ALDER_DATA_DIR=str(tmp_path)))
    wait_for_heartbeat(proc)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=5)
    assert proc.returncode == 0
    assert out.endswith("received SIGTERM, exiting\n")


@pytest.fixture
def runc_bundle(amd64_build, tmp_path):
    """The image unpacked as a runtime bundle, set up the way a device runs apps:
    read-only root, a private writable /data owned by the app's uid."""
    if not shutil.which("runc"):
        pytest.skip("needs runc (apt-get install runc)")
    if os.getuid() != 0:
        pytest.skip("runc needs root here")
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{amd64_build.oci}:{VERSION}", str(bundle)],
                   check=True, capture_output=True)
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, 1000, 1000)
    config = json.loads((bundle / "config.json").read_text())
    assert config["process"]["args"] == EXPECTED_CONFIG["Entrypoint"] + EXPECTED_CONFIG["Cmd"]
    config["process"]["terminal"] = False
    config["root"]["readonly"] = True
    config["hostname"] = "alder-hello"
    config["mounts"] = [m for m in config["mounts"] if m["destination"] != "/data"]
    config["mounts"].append({"destination": "/data", "type": "bind", "source": str(data),
                             "options": ["rbind", "rw"]})
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle, data


def test_runs_under_runc_with_read_only_root(runc_bundle, tmp_path):
    bundle, data = runc_bundle
    state = tmp_path / "runc-state"
    name = f"alder-hello-test-{os.getpid()}"
    runc = ["runc", "--root", str(state)]
    proc = subprocess.Popen([*runc, "run", "--bundle", str(bundle), name], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = wait_for_heartbeat(proc)
        # Stopped the way the device stops apps: SIGTERM to the container's PID 1.
        subprocess.run([*runc, "kill", name, "TERM"], check=True, timeout=10)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            subprocess.run([*runc, "delete", "--force", name], capture_output=True)
    out = "".join(lines) + out
    assert proc.returncode == 0, err
    for expected in (f"Hello from Alder! {NAME} {VERSION}\n", "hostname: alder-hello\n", "user: uid=1000 gid=1000\n",
                     "rootfs: read-only (EROFS)\n", "data: /data writable, run count 1\n",
                     "received SIGTERM, exiting\n"):
        assert expected in out
    assert (data / "hello-count").read_text() == "1\n"
    assert (data / "hello-count").stat().st_uid == 1000
