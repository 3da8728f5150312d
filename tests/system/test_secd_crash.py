"""kill -9 of alder-secd at every state-changing syscall of each operation that changes its store,
then a restart: the store opens, every key and secret acknowledged before is intact and usable, the
interrupted operation is done wholly or not at all, and recovery leaves no debris.

Method (crashkill.py, as test_appd_crash.py does for alder-appd): a dry run of each operation
records with `strace -y` the state-changing syscalls secd makes for it; every successful one is a
kill point, and each point gets a run from the same starting state in which strace kills secd
there (SIGKILL on the syscall's entry). The operations run on a running secd (strace -p, attached
once it has answered a request, so that its start is not counted), except the two that happen at
start, which run secd under strace from its exec:

  generate_key     psa_generate_key of a persistent ECDSA key
  destroy_key      psa_destroy_key of a persistent key
  ps_set new, ps_set new write-once, ps_set overwrite, ps_set overwrite to write-once
  ps_set refused   of a write-once secret: no point at all (nothing may be written)
  ps_remove        psa_ps_remove
  app_remove purge app_remove with purge (alder-appd's app.remove) of an app with keys, secrets
                   and a cgroup prefix
  first start      an empty root: the device key is made, the store and sockets created
  TPM seal         (swtpm) the software backend's device key sealed to a TPM at the first start
                   with backend tpm; the secrets sealed under it must still open

Every point starts from the same state (a baseline made once and copied back with cp -a): app a
with two ECDSA keys and an AES key and four secrets (one write-once), app b with a key and two
secrets and the test's own cgroup as its cgroup prefix (so that its socket stays usable here).
After the kill, secd restarts without strace and Crash.check() asserts: it starts and serves; every
baseline key and secret the operation did not target is there, unchanged and usable (keys sign and
verify with the same public key, the AES key decrypts what it encrypted, secrets read back with
their flags, write-once ones still refuse writes and removal); the target is in its old state or
its new one, both whole (see the outcome functions); the store, the key folder and the run folder
hold only what their layout names (no temp file, no half-removed app). Each outcome is counted; the
summary line gives the points per operation.

Not covered: power cuts (a kill -9 cannot lose what was written but not fsynced; the fsync points
are where a power cut would matter, and secd fsyncs the directories it creates), the PKCS#11
backend (its token objects are outside secd's store), TPM key generation (same store path as
software keys).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from crashkill import attach, detach, died_of_sigkill, kill_args, parse_points, print_summary, trace_args
from test_secd import OP, ST, TAG, Secd, call
from test_secd_tpm import Swtpm, free_port_pair

pytestmark = pytest.mark.skipif(not shutil.which("strace") or os.geteuid() != 0,
                                reason="needs strace and root (ptrace of alder-secd)")

TAG_FLAGS, TAG_CGROUP, OP_PS_LIST, OP_APP_REMOVE = 10, 15, 18, 20  # docs/api/secd.md
H = "11" * 32  # a SHA-256 hash to sign
NONCE = "00" * 12
PLAIN = b"baseline plaintext".hex()

# What may be in the folders of secd once it has started: anything else is debris of a crash.
LAYOUT = {
    "config/secd": re.compile(r"device\.key(\.sealed)?"),
    "var/lib/alder/secd": re.compile(r"[a-z0-9][a-z0-9._-]*(/keys(/[0-9a-f]{8})?|/ps(/[0-9a-f]{16})?)?"),
    "run/alder/secd": re.compile(r"admin\.sock|apps(/[a-z0-9][a-z0-9._-]*(/secd\.sock)?)?|cgroups(/[a-z0-9._-]+)?"),
}

summary_counts = {}


@pytest.fixture(scope="module", autouse=True)
def summary(request):
    yield
    print_summary(request, "test_secd_crash", summary_counts)


def own_cgroup():
    """The cgroup secd sees for this process (device/secd/cgroup.c: v1 pids, memory, devices, freezer, cpu; v2 0::)."""
    lines = dict(line.split(":", 2)[1:] for line in Path("/proc/self/cgroup").read_text().splitlines())
    for c in ("pids", "memory", "devices", "freezer", "cpu"):
        for k, v in lines.items():
            if c in k.split(","):
                return v
    return lines[""]


def admin(secd, op, app, *fields):
    """A request on the admin socket for `app`: (status, reply fields)."""
    return call(secd.admin, op, [(TAG["app"], app.encode()), *fields])


class Crash:
    """One secd on a temp root; baseline, kill runs and checks."""

    def __init__(self, build_dir, tmp):
        self.build_dir, self.tmp = build_dir, tmp
        self.root = tmp / "root"
        self.snapshot = tmp / "baseline"
        self.secd = Secd(build_dir, self.root, ["a"])
        self.keys = {}  # (app, id) -> public key (ECDSA) or ciphertext of PLAIN (AES)
        self.secrets = {}  # (app, uid) -> (value hex, flags)
        self.cgroup = own_cgroup()

    # ---- secd ---------------------------------------------------------------------------------

    def start(self, config=None):
        if config is not None:
            (self.root / "config").mkdir(parents=True, exist_ok=True)
            (self.root / "config/secd.json").write_text(json.dumps(config))
        self.secd.start()
        self.secd.ok("a", "hash", "00")  # answered: its start is over

    def stop(self):
        err = self.secd.stop()
        assert "Sanitizer" not in err, err

    def restore(self, snapshot):
        shutil.rmtree(self.root, ignore_errors=True)
        if snapshot:
            subprocess.run(["cp", "-a", str(snapshot), str(self.root)], check=True)

    def make_baseline(self):
        self.restore(None)
        self.start()
        s = self.secd
        for key_id in (1, 3):
            s.ok("a", "generate", "ecc", 256, "sign,verify", "ecdsa-sha256", key_id)
            self.keys[("a", key_id)] = s.ok("a", "export-public", key_id)
        s.ok("a", "generate", "aes", 256, "encrypt,decrypt", "gcm", 2)
        self.keys[("a", 2)] = s.ok("a", "encrypt", 2, NONCE, "", PLAIN)
        assert admin(s, OP["app_add"], "b", (TAG_CGROUP, self.cgroup.encode()))[0] == 0
        s.ok("b", "generate", "ecc", 256, "sign,verify", "ecdsa-sha256", 1)
        self.keys[("b", 1)] = s.ok("b", "export-public", 1)
        for app, uid, value, flags in (("a", 5, b"v1", 0), ("a", 6, b"wo", 1), ("a", 7, b"w1", 0),
                                       ("a", 8, b"gone-soon", 0), ("b", 5, b"b-secret", 0), ("b", 6, b"b-wo", 1)):
            s.ok(app, "ps-set", uid, value.hex(), *(["write-once"] if flags else []))
            self.secrets[(app, uid)] = (value.hex(), flags)
        self.stop()
        shutil.rmtree(self.snapshot, ignore_errors=True)
        subprocess.run(["cp", "-a", str(self.root), str(self.snapshot)], check=True)

    # ---- checks -------------------------------------------------------------------------------

    def key_ok(self, app, key_id):
        """The baseline key is there, whole and usable."""
        s, want = self.secd, self.keys[(app, key_id)]
        if app == "a" and key_id == 2:
            assert s.ok(app, "decrypt", 2, NONCE, "", want) == PLAIN
            return
        assert s.ok(app, "export-public", key_id) == want
        assert s.status(app, "verify", key_id, "ecdsa-sha256", H, s.ok(app, "sign", key_id, "ecdsa-sha256", H)) == 0

    def secret_ok(self, app, uid):
        value, flags = self.secrets[(app, uid)]
        s = self.secd
        assert s.ok(app, "ps-get", uid) == value, (app, uid)
        assert s.ok(app, "ps-info", uid) == f"size={len(value) // 2} capacity={len(value) // 2} flags={flags}"
        if flags:
            assert s.status(app, "ps-set", uid, "00") == ST["not_permitted"]
            assert s.status(app, "ps-rm", uid) == ST["not_permitted"]

    def baseline_ok(self, targets):
        for app, key_id in self.keys:
            if ("key", app, key_id) not in targets and ("app", app) not in targets:
                self.key_ok(app, key_id)
        for app, uid in self.secrets:
            if ("ps", app, uid) not in targets and ("app", app) not in targets:
                self.secret_ok(app, uid)

    def debris(self):
        """Files in secd's folders that their layout does not name."""
        out = []
        for top, pattern in LAYOUT.items():
            base = self.root / top
            for dirpath, dirnames, filenames in os.walk(base):
                for n in dirnames + filenames:
                    rel = str((Path(dirpath) / n).relative_to(base))
                    if not pattern.fullmatch(rel):
                        out.append(f"{top}/{rel}")
        return sorted(out)

    def check(self, scenario):
        left = self.debris()
        assert not left, f"left behind: {left}"
        self.baseline_ok(scenario.targets)
        return scenario.outcome(self)

    # ---- runs ---------------------------------------------------------------------------------

    def run_op(self, scenario, expect_ok):
        try:
            scenario.op(self)
        except Exception:  # noqa: BLE001 - secd died under the request: any failure of the client
            if expect_ok:
                raise

    def points_running(self, scenario):
        """The kill points of an operation on a running secd."""
        self.restore(self.snapshot)
        self.start(scenario.config)
        trace = self.tmp / "secd.trace"
        tracer = attach(self.secd.proc.pid, trace_args(trace))
        try:
            self.run_op(scenario, expect_ok=True)
        finally:
            detach(tracer)
        self.stop()
        return parse_points(trace.read_text(), "secd")

    def kill_running(self, scenario, point):
        self.restore(self.snapshot)
        self.start(scenario.config)
        tracer = attach(self.secd.proc.pid, kill_args(point))
        self.run_op(scenario, expect_ok=False)
        died = died_of_sigkill(self.secd.proc)
        tracer.wait(timeout=10)
        assert died, "the point was not reached"

    def traced_start(self, scenario, args):
        """secd under strace from its exec, on the scenario's starting state; returns (strace, secd pid)."""
        self.restore(scenario.start_from)
        if scenario.config is not None:
            (self.root / "config").mkdir(parents=True, exist_ok=True)
            (self.root / "config/secd.json").write_text(json.dumps(scenario.config))
        env = {**os.environ, "ALDER_LOG_TARGET": "stderr"}
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"  # LeakSanitizer cannot run traced
        with open(self.tmp / "traced.log", "w") as log:
            st = subprocess.Popen(["strace", "-qq", *args, str(self.secd.exe), "--root", str(self.root), "--app", "a"],
                                  stderr=log, env=env)
        return st

    def points_at_start(self, scenario):
        """The kill points of a start: secd traced from its exec until it answers, then killed."""
        trace = self.tmp / "start.trace"
        st = self.traced_start(scenario, trace_args(trace))
        deadline = time.monotonic() + 20
        while not (Secd._accepts(self.secd.sock("a")) and self.secd.status("a", "hash", "00") == 0):
            assert st.poll() is None and time.monotonic() < deadline, (self.tmp / "traced.log").read_text()
            time.sleep(0.02)
        child = int(Path(f"/proc/{st.pid}/task/{st.pid}/children").read_text().split()[0])
        os.kill(child, signal.SIGKILL)  # a start that is over: what follows is no point of it
        st.wait(timeout=10)
        return parse_points(trace.read_text(), "secd")

    def kill_at_start(self, scenario, point):
        st = self.traced_start(scenario, kill_args(point))
        try:
            st.wait(timeout=20)
        except subprocess.TimeoutExpired:  # the point was not reached: secd runs on under strace
            for pid in Path(f"/proc/{st.pid}/task/{st.pid}/children").read_text().split():
                os.kill(int(pid), signal.SIGKILL)
        assert died_of_sigkill(st), "the point was not reached"
        log = (self.tmp / "traced.log").read_text()
        assert "Sanitizer" not in log and "runtime error" not in log, log

    def run(self, scenario):
        at_start = scenario.at_start
        points = self.points_at_start(scenario) if at_start else self.points_running(scenario)
        scenario.after_kill()
        if scenario.label == "ps_set refused (write-once)":
            assert points == [], points  # nothing is written for a refused write
        outcomes, failures = {}, []
        for i, point in enumerate(points):
            try:
                if at_start:
                    self.kill_at_start(scenario, point)
                else:
                    self.kill_running(scenario, point)
                scenario.after_kill()
                self.start(scenario.config)
                found = self.check(scenario)
                if scenario.restart_again:
                    self.stop()
                    self.start(scenario.config)
                    assert self.check(scenario) == found
                self.stop()
                outcomes[found] = outcomes.get(found, 0) + 1
            except Exception as e:  # noqa: BLE001 - every point is reported, not only the first
                failures.append(f"{scenario.label}, point {i + 1}/{len(points)}, kill at {point[3]}: {e}")
                if self.secd.proc and self.secd.proc.poll() is None:
                    self.secd.proc.kill()
                    self.secd.proc.wait()
        summary_counts[scenario.label] = len(points)
        print(f"{scenario.label}: {len(points)} points, outcomes {outcomes}")
        assert not failures, "\n".join(failures)
        return points, outcomes


class Scenario:
    """An operation (op, or at_start: secd's start on the state start_from, None for an empty root),
    what it may touch of the baseline (targets) and outcome(), which asserts that its target is whole
    and says in which state ("done" or "not done", in the operation's words)."""

    def __init__(self, label, op, outcome, targets=(), config=None, at_start=False, start_from=None,
                 restart_again=False, after_kill=None):
        self.label, self.op, self.outcome, self.targets = label, op, outcome, set(targets)
        self.config, self.at_start, self.start_from, self.restart_again = config, at_start, start_from, restart_again
        self.after_kill = after_kill or (lambda: None)


# ---- outcomes: "done" or "not done", asserting that either is whole ----------------------------

def key_outcome(c, app, key_id, before):
    """A key that was being created or destroyed: absent, or there and usable (the baseline's if it had one)."""
    s = c.secd
    if s.status(app, "attrs", key_id) == ST["invalid_handle"]:
        return "absent"
    assert s.ok(app, "attrs", key_id).startswith("type=0x7112 bits=256 usage=0x3c00")
    pub = s.ok(app, "export-public", key_id)
    assert before is None or pub == before
    assert s.status(app, "verify", key_id, "ecdsa-sha256", H, s.ok(app, "sign", key_id, "ecdsa-sha256", H)) == 0
    return "present"


def secret_outcome(c, app, uid, allowed):
    """The secret is absent or one of `allowed` {value: flags}, whole; write-once ones refuse writes."""
    s = c.secd
    st = s.status(app, "ps-get", uid)
    if st == ST["does_not_exist"]:
        assert None in allowed, f"secret {uid} lost"
        return "absent"
    value = s.ok(app, "ps-get", uid)
    assert value in allowed, f"secret {uid} reads {value}"
    flags = allowed[value]
    assert s.ok(app, "ps-info", uid).endswith(f"flags={flags}")
    if flags:
        assert s.status(app, "ps-set", uid, "00") == ST["not_permitted"]
        assert s.status(app, "ps-rm", uid) == ST["not_permitted"]
    return bytes.fromhex(value).decode() + (" (write-once)" if flags else "")


def generated(c):
    r = key_outcome(c, "a", 10, None)
    if r == "absent":  # the id is free again
        c.secd.ok("a", "generate", "ecc", 256, "sign,verify", "ecdsa-sha256", 10)
        c.secd.ok("a", "destroy", 10)
    return r


def provisioned(c):
    """A key of an app secd did not know (admin socket): no key (an empty app may be left), or the app served
    with its key, usable."""
    st, keys = admin(c.secd, OP["key_list"], "c")
    assert st == 0
    if not keys[TAG["output"]]:
        return "absent"
    return key_outcome(c, "c", 1, None)


def provision_c(c):
    rc, _, err = c.secd.secure("", "keys", "generate", "--app", "c", "--id", "1", "--type", "ecc-p256")
    assert rc == 0, err


def app_b_outcome(c):
    """app_remove purge: b keeps everything, cgroup prefix included, or has nothing left and no socket."""
    s = c.secd
    cgroup = c.root / "run/alder/secd/cgroups/b"
    st, keys = admin(s, OP["key_list"], "b")
    st2, secrets = admin(s, OP_PS_LIST, "b")
    assert st == 0 and st2 == 0
    if not keys[TAG["output"]] and not secrets[TAG["output"]]:
        assert not (c.root / "var/lib/alder/secd/b").exists() and not os.path.exists(s.sock("b"))
        assert not cgroup.exists()
        return "removed"
    assert cgroup.exists() and cgroup.read_text() == c.cgroup, "b kept its keys but lost its cgroup prefix"
    for app, key_id in c.keys:
        if app == "b":
            c.key_ok(app, key_id)
    for app, uid in c.secrets:
        if app == "b":
            c.secret_ok(app, uid)
    return "kept"


def started(c):
    """After a first start: a device key, and keys and secrets that survive a restart (restart_again)."""
    key = c.root / "config/secd/device.key"
    assert key.stat().st_size == 32 and key.stat().st_mode & 0o777 == 0o600
    s = c.secd
    if s.status("a", "attrs", 1) == ST["invalid_handle"]:  # the first check after the kill
        s.ok("a", "generate", "ecc", 256, "sign,verify", "ecdsa-sha256", 1)
        s.ok("a", "ps-set", 1, b"first".hex())
    assert s.ok("a", "ps-get", 1) == b"first".hex()
    key_outcome(c, "a", 1, None)
    return "started"


def sealed(c):
    """After the start with the TPM backend: one sealed key, no plain one (the secrets open: baseline_ok)."""
    keydir = c.root / "config/secd"
    assert (keydir / "device.key.sealed").exists() and not (keydir / "device.key").exists()
    return "sealed"


def ps_set(app, uid, value, write_once=False):
    return lambda c: c.secd.ok(app, "ps-set", uid, value.hex(), *(["write-once"] if write_once else []))


def app_remove_b(c):
    assert admin(c.secd, OP_APP_REMOVE, "b", (TAG_FLAGS, (1).to_bytes(4, "little")))[0] == 0  # purge


def refused_write(c):
    assert c.secd.status("a", "ps-set", 6, b"x".hex()) == ST["not_permitted"]


SCENARIOS = [
    Scenario("generate_key", lambda c: c.secd.ok("a", "generate", "ecc", 256, "sign,verify", "ecdsa-sha256", 10),
             generated),
    Scenario("generate_key in a new app", provision_c, provisioned),
    Scenario("destroy_key", lambda c: c.secd.ok("a", "destroy", 3), lambda c: key_outcome(c, "a", 3, c.keys[("a", 3)]),
             targets=[("key", "a", 3)]),
    Scenario("ps_set new", ps_set("a", 20, b"n1"), lambda c: secret_outcome(c, "a", 20, {None: 0, b"n1".hex(): 0})),
    Scenario("ps_set new write-once", ps_set("a", 21, b"n2", True),
             lambda c: secret_outcome(c, "a", 21, {None: 0, b"n2".hex(): 1})),
    Scenario("ps_set overwrite", ps_set("a", 5, b"v2"),
             lambda c: secret_outcome(c, "a", 5, {b"v1".hex(): 0, b"v2".hex(): 0}), targets=[("ps", "a", 5)]),
    Scenario("ps_set overwrite to write-once", ps_set("a", 7, b"w2", True),
             lambda c: secret_outcome(c, "a", 7, {b"w1".hex(): 0, b"w2".hex(): 1}), targets=[("ps", "a", 7)]),
    Scenario("ps_set refused (write-once)", refused_write, lambda c: "unchanged"),
    Scenario("ps_remove", lambda c: c.secd.ok("a", "ps-rm", 8),
             lambda c: secret_outcome(c, "a", 8, {None: 0, b"gone-soon".hex(): 0}), targets=[("ps", "a", 8)]),
    Scenario("app_remove purge", app_remove_b, app_b_outcome, targets=[("app", "b")]),
]


@pytest.fixture(scope="module")
def crash(build_dir, tmp_path_factory):
    c = Crash(build_dir, tmp_path_factory.mktemp("secd-crash"))
    c.make_baseline()
    return c


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.label for s in SCENARIOS])
def test_kill_during_operation(crash, scenario):
    points, outcomes = crash.run(scenario)
    if scenario.label != "ps_set refused (write-once)":
        assert len(points) >= 2, points
        assert len(outcomes) == 2, f"expected both outcomes over the points: {outcomes}"


def test_kill_during_first_start(build_dir, tmp_path):
    c = Crash(build_dir, tmp_path)
    c.keys, c.secrets = {}, {}
    points, _ = c.run(Scenario("first start", None, started, at_start=True, restart_again=True))
    assert len(points) >= 10, points


@pytest.mark.skipif(shutil.which("swtpm") is None, reason="swtpm is not installed")
def test_kill_while_the_device_key_is_sealed_to_a_tpm(crash, tmp_path):
    """The baseline (software backend) started with backend tpm: its device key is sealed, the plain one removed.
    Its software keys are not usable under the TPM backend (another blob format): only its secrets are checked."""
    tpm = Swtpm(tmp_path / "tpm-state", free_port_pair())
    tpm.start()
    try:
        config = {"backend": "tpm", "tpm": {"tcti": tpm.tcti}}
        keys = [("key", app, key_id) for app, key_id in crash.keys]

        def flush():  # what the kernel's resource manager (/dev/tpmrm0) does when a killed secd's fd closes
            rc, _, err = tpm.tools("tpm2_flushcontext", "-t")
            assert rc == 0, err

        points, _ = crash.run(Scenario("TPM seal", None, sealed, targets=keys, config=config, at_start=True,
                                       start_from=crash.snapshot, restart_again=True, after_kill=flush))
        assert len(points) >= 4, points
    finally:
        tpm.stop()
