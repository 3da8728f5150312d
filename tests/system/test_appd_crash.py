"""kill -9 of alder-appd at every state-changing step of an install or update, then a restart:
the store, the containers and the app must be consistent (the acceptance check of crash safety).

Method (black box: strace, no test hooks in the daemon):

* A dry run of each scenario records with strace every state-changing syscall (POINT_SYSCALLS;
  openat only with O_CREAT) of the two processes that change the device's state: alder-appd itself
  (strace -p, attached after the scenario's setup, so that only the install/update is counted) and
  the stage worker alder-app-stage. Each successful call is an injection point; a failed one
  (mkdir -> EEXIST) changes nothing and is skipped, and so are writes to the apps' output logs
  (/var/log/alder: not install state, and their number depends on the apps' timing). strace counts
  `when=` per process and per syscall, so a point is "the M-th call of syscall S in process P" and
  its run injects `S:signal=KILL:when=M` and nothing else. strace sends the SIGKILL on the entry of
  that call: the process dies just before the call runs.
* Points in alder-appd: strace -p on the daemon kills it there. Its children are not traced; a
  running worker dies with it (PR_SET_PDEATHSIG) and containers live on, as after a real kill -9.
* Points in the worker: alder-appd runs with `--stage-helper` set to a shell wrapper (WRAPPER) that
  runs the real worker under strace and, when strace reports it killed (status 137), sends SIGKILL
  to the daemon ($PPID) before exiting itself. The daemon cannot react in between: its child is the
  wrapper, alive until the daemon is dead, and the worker's stdout pipe is still open in the
  wrapper, so the daemon sees neither an exit nor an EOF. Both die at the same step, as when the
  daemon is killed at that instant (the worker would die of PDEATHSIG). A traced worker of an ASan
  build runs without LeakSanitizer, which cannot work under ptrace.
* Then whatever is left of the daemon gets SIGKILL, alder-appd restarts without strace
  (device.start()) and Crash.check() asserts: the app is at the old or the new version (or not
  installed, for a first install), its rootfs is exactly that version's package, .staging is
  empty, versions/ holds only current and previous, runc lists at most one container of the app,
  of the current version (NAME.SEQ or NAME.SEQ.RUN), an app that ran before runs again (adopted
  or restarted), no orphan bundles or output FIFOs are left and no process of the killed daemon
  lives on. Then a further install of a newer version must succeed, and after it no file may be
  left that the store's layout does not name, except the KNOWN_LEFTOVERS.

Each point starts from a fresh state: containers, runtime state and logs wiped, the store as the
setup's installs left it (installed through alder-appd once, copied back with cp -a for each
point), a running app started again by the daemon that is then killed.

Every point of the first install is run (30 or so: the whole worker, with the allocation of the
app's id range, and the daemon's commit). For the two updates every daemon point is run, but only
WORKER_SAMPLE of the worker's: the worker does there what it does for a first install, and a
kill anywhere in its unpacking leaves the same kind of state (a .staging entry); the sample has
its first point, points spread over the unpacking, the one before its rename into versions/ and
the one after it (a version the daemon never heard of). That keeps the runtime under 90 s.

pidfd_open is a point too: it kills the daemon right after each fork of a child (the worker, a
runtime call), which once left the fork blocked for ever holding the daemon's fds (fixed in
lib/spawn.c: the child closes the parent's end of its report socket first).

Not covered: power cuts (a kill -9 cannot lose what was written but not fsynced; the fsync points
are where a power cut would matter); app.remove, rollback, start/stop.

Found by this test and fixed, now asserted: temp files of an atomic write, a symlink swap or a
runtime call left by a kill (recovery removes them: KNOWN_LEFTOVERS is empty), and a kill between
the two pointer swaps of a commit that lost the rollback target (a commit now writes its intent
first and recovery rolls it forward).
"""
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from crashkill import TRACE_SET, attach, detach, died_of_sigkill, kill_args, parse_points, print_summary, trace_args, tree
from appd_device import BUSYBOX, delete_all_containers, device, needs_runtime, pack_busybox_app, runtime_containers, wait_for  # noqa: F401

pytestmark = pytest.mark.skipif(not shutil.which("strace") or os.geteuid() != 0,
                                reason="needs strace and root (ptrace of alder-appd)")

NOT_STATE = "/var/log/alder/"  # paths whose syscalls are no points
WORKER_SAMPLE = 6  # worker points of an update: this many of them (see Crash.run)

KNOWN_LEFTOVERS = re.compile(r"(?!)")  # none: recovery removes every temp file (it once did not)

# A service in a container: says which version it is, then waits for SIGTERM.
SERVICE = "echo {v} up; trap 'exit 0' TERM; while true; do sleep 0.1; done"

WRAPPER = """#!/bin/sh
# alder-app-stage, run plain, traced into a file, or killed at one syscall together with alder-appd.
set -- {stage} "$@"
read -r mode a b < {ctl} || mode=plain
[ "$mode" = plain ] || export ASAN_OPTIONS="${{ASAN_OPTIONS:+$ASAN_OPTIONS:}}detect_leaks=0"
case "$mode" in
trace) exec strace -qq -y -o "$a" -e trace={trace} "$@" ;;
kill) strace -qq -o /dev/null -e trace="$a" -e inject="$a":signal=KILL:when="$b" "$@"
      rc=$?
      [ "$rc" -eq 137 ] && kill -KILL "$PPID"
      exit "$rc" ;;
*) exec "$@" ;;
esac
"""

summary_counts = {}  # scenario -> points run
findings = {"leftover temp files": set()}


@pytest.fixture(scope="module", autouse=True)
def summary(request):
    yield
    print_summary(request, "test_appd_crash", summary_counts, findings)


class Crash:
    """One scenario: `setup` versions installed (the last one started when `running`), then an
    install or update to `new` killed at each point, recovery checked, then `newer` installed."""

    def __init__(self, device, alder, name, setup, new, newer, running=False):
        self.d, self.alder, self.name, self.running = device, alder, name, running
        self.setup, self.new, self.newer = setup, new, newer
        self.old = setup[-1] if setup else None
        self.command = "update" if setup else "install"
        self.store = device.root / "var/lib/alder/apps"
        self.run_dir = device.root / "run/alder"
        self.runtime_root = self.run_dir / "runtime"
        self.exe = device.alder_exe.parent.parent / "device/appd/alder-appd"
        self.ctl = device.tmp / "stage.ctl"
        self.wrapper = device.tmp / "stage-wrapper.sh"
        self.wrapper.write_text(WRAPPER.format(stage=self.exe.parent / "alder-app-stage", ctl=self.ctl,
                                               trace=TRACE_SET))
        self.wrapper.chmod(0o755)
        self.pkgs, self.rootfs, self.seq = {}, {}, {}
        for v in [*setup, new, newer]:
            self.seq[v] = int(v.split(".")[0])  # 1.0.0 has sequence 1, ...
            self.pkgs[v], self.rootfs[v] = self.pack(v)
        self.wrapped = False

    def pack(self, version):
        if not self.running:
            return self.d.package(version, self.seq[version], name=self.name), \
                self.d.tmp / f"rootfs-{self.name}-{version}"
        rootfs = self.d.tmp / f"bb-{self.name}-{version}"  # where pack_busybox_app looks first
        for sub in ("bin", "proc", "sys", "dev", "tmp", "data"):  # /data: the runtime would add it
            (rootfs / sub).mkdir(parents=True)
        shutil.copy(BUSYBOX, rootfs / "bin/busybox")
        for tool in ("sh", "sleep"):
            os.symlink("busybox", rootfs / "bin" / tool)
        (rootfs / "VERSION").write_text(version + "\n")
        pkg = pack_busybox_app(self.d, self.alder, self.name, version, self.seq[version], SERVICE.format(v=version),
                               "--health-grace", "0")
        return pkg, rootfs

    # ---- the daemon ---------------------------------------------------------------------------

    def start_wrapped(self):
        """alder-appd with the stage wrapper: what runs the setup and the killed install."""
        self.ctl.write_text("plain\n")
        with open(self.d.tmp / "appd-wrapped.log", "w") as log:
            self.d.proc = subprocess.Popen([str(self.exe), "--root", str(self.d.root), "--stage-helper",
                                            str(self.wrapper)], stderr=log,
                                           env={**os.environ, "ALDER_LOG_TARGET": "stderr"})
        self.wrapped = True
        assert wait_for(self.d.accepting, 10), "alder-appd did not start"

    def stop_daemon(self):
        p = self.d.proc
        if p is None or p.poll() is not None:
            return
        if self.wrapped:
            p.send_signal(signal.SIGTERM)
            assert p.wait(timeout=10) == 0
            self.assert_clean_log()
        else:
            rc, err = self.d.stop()
            assert rc == 0, err

    def assert_no_daemon_left(self):
        """No process of the killed daemon lives on (e.g. a fork that never reached its exec)."""
        left = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[0] == bytes(self.exe) and str(self.d.root).encode() in argv:
                left.append(int(pid))
        for pid in left:
            os.kill(pid, signal.SIGKILL)  # or it would hold the daemon's sockets and FIFOs
        assert not left, f"processes of the killed alder-appd left: {left}"

    def assert_clean_log(self):
        log = (self.d.tmp / "appd-wrapped.log").read_text()
        assert "Sanitizer" not in log and "runtime error" not in log, log

    def reset(self):
        """Nothing running; the store as the setup left it (installed once, then copied back)."""
        self.stop_daemon()
        delete_all_containers(self.d.root)
        for p in (self.store, self.run_dir, self.d.root / "var/log/alder"):
            shutil.rmtree(p, ignore_errors=True)
        snapshot = self.d.tmp / "store-after-setup"
        if snapshot.exists():
            subprocess.run(["cp", "-a", str(snapshot), str(self.store)], check=True)  # owners, links, modes
        self.start_wrapped()
        if not snapshot.exists():
            for v in self.setup:
                self.install(v)
            subprocess.run(["cp", "-a", str(self.store), str(snapshot)], check=True)
        if self.running:
            r = self.d.app("start", self.name)
            assert r.rc == 0, r.err
            log = self.d.root / f"var/log/alder/apps/{self.name}.log"  # opened once its first line came
            assert wait_for(lambda: log.exists() and f"{self.old} up" in log.read_text())

    def attach(self, args):
        """strace -p on the daemon; returns once it is traced."""
        return attach(self.d.proc.pid, args)

    # ---- the store and the containers ---------------------------------------------------------

    def running_only(self, version):
        """The id of the app's only container if it is of `version` (NAME.SEQ[.RUN]) and running, else None."""
        found = self.containers()
        ok = len(found) == 1 and found[0][1] == "running" and \
            re.fullmatch(rf"{re.escape(self.name)}\.{self.seq[version]}(\.\d+)?", found[0][0])
        return found[0][0] if ok else None

    def containers(self):
        if not shutil.which("runc") or not self.runtime_root.is_dir():
            return []
        return runtime_containers(self.runtime_root)

    def install(self, version, command="install", expect_ok=True):
        r = self.d.app(command, "--json", str(self.pkgs[version]))
        assert r.rc == 0 or not expect_ok, r.err
        return r

    def status(self):
        r = self.d.app("status", "--json", self.name)
        if r.rc != 0:
            assert "is not installed" in r.err, r.err
            return None
        return r.json()

    def settled(self, version):
        """An install of `version` has finished, and the old instance is gone too."""
        if not self.running:
            return True
        cid = self.running_only(version)
        return bool(cid) and [p.name for p in (self.run_dir / "bundles").iterdir()] == [cid] and \
            all(p.name.startswith(cid + ".") for p in (self.run_dir / "output").iterdir())

    def leftovers(self):
        """Files the layout does not name: what a crash left and recovery did not clear."""
        known = {".staging", ".trash", "ids.json", ".ids.lock"}
        out = [f"STORE/{p.name}" for p in self.store.iterdir()
               if p.name not in known and (p.name.startswith(".") or not p.is_dir())]
        for app in (p for p in self.store.iterdir() if p.is_dir() and not p.name.startswith(".")):
            out += [f"STORE/{app.name}/{p.name}" for p in app.iterdir()
                    if p.name not in ("current", "previous", "versions", "data")]
        if self.runtime_root.is_dir():
            out += [f"run/alder/runtime/{p.name}" for p in self.runtime_root.iterdir() if not p.is_dir()]
        return out

    def check(self, allowed):
        """The consistent state after recovery; returns the version found (None: not installed)."""
        st = self.status()  # answered once recovery (units_recover) is done
        version = st["version"] if st else None
        assert version in allowed, f"status shows {version}, expected one of {allowed}"
        staging = self.store / ".staging"
        assert not staging.exists() or list(staging.iterdir()) == [], f".staging: {list(staging.iterdir())}"
        app = self.store / self.name
        if version is None:
            assert not (app / "versions").exists() or list((app / "versions").iterdir()) == []
            assert self.containers() == []
            return None
        assert st["sequence"] == self.seq[version]
        assert os.readlink(app / "current") == f"versions/{self.seq[version]}-{version}"
        pointers = {os.readlink(app / p) for p in ("current", "previous") if (app / p).is_symlink()}
        assert {f"versions/{p.name}" for p in (app / "versions").iterdir()} == pointers
        expected = {"data": ("dir", 0o755), **tree(self.rootfs[version])}  # + the /data mount point the worker adds
        assert tree(app / "current/rootfs") == expected, "rootfs differs from the package"
        if self.running:
            assert wait_for(lambda: self.running_only(version), 10), \
                f"containers {self.containers()}, expected one of {version} running"
            cid = self.running_only(version)
            st = self.status()
            assert st["state"] == "running" and st["running_version"] == version, st
            for sub in ("bundles", "output"):
                left = [p.name for p in (self.run_dir / sub).iterdir()]
                assert all(n == cid or n.startswith(cid + ".") for n in left), f"orphans in {sub}: {left}"
        else:
            assert [c for c in self.containers() if c[0].startswith(self.name + ".")] == []
        return version

    def rollback_target_kept(self, version):
        """After a recovery to `version`: does previous name what it should?"""
        st = self.status()
        previous = (st["previous"] or {}).get("version") if st else None
        if version == self.new:
            assert previous == self.old, f"previous is {previous}, expected {self.old}"
        return version != self.old or previous == (self.setup[-2] if len(self.setup) > 1 else None)

    # ---- points -------------------------------------------------------------------------------

    def dry_run(self):
        """The injection points of one install/update of `new`: the daemon's, then the worker's."""
        self.reset()
        appd_trace, worker_trace = self.d.tmp / "appd.trace", self.d.tmp / "worker.trace"
        self.ctl.write_text(f"trace {worker_trace}\n")
        st = self.attach(trace_args(appd_trace))
        try:
            self.install(self.new, self.command)
            assert wait_for(lambda: self.settled(self.new), 10), self.containers()
        finally:
            detach(st)
        return parse_points(appd_trace.read_text(), "appd", NOT_STATE) + \
            parse_points(worker_trace.read_text(), "worker", NOT_STATE)

    def run_point(self, point):
        process, syscall, nth, _ = point
        self.reset()
        tracer = None
        if process == "appd":
            tracer = self.attach(kill_args(point))
        else:
            self.ctl.write_text(f"kill {syscall} {nth}\n")
        self.install(self.new, self.command, expect_ok=False)
        died = died_of_sigkill(self.d.proc)
        if tracer:
            tracer.wait(timeout=10)
        assert died, "the point was not reached"
        self.assert_no_daemon_left()
        self.assert_clean_log()
        self.d.start()  # the plain daemon: recovery
        self.wrapped = False
        found = self.check([self.old, self.new])
        assert self.rollback_target_kept(found), "the rollback target was lost"
        self.install(self.newer)
        assert wait_for(lambda: self.settled(self.newer), 10), self.containers()
        self.check([self.newer])
        left = self.leftovers()
        assert all(KNOWN_LEFTOVERS.fullmatch(p) for p in left), f"left behind: {left}"
        if left:
            findings["leftover temp files"].add(point)
        return found

    def run(self, label, sample=None):
        outcomes, failures = {}, []
        try:
            points = self.dry_run()
            assert any(p[0] == "worker" for p in points) and any(p[0] == "appd" for p in points), points
            if sample:  # the worker's first point, some spread over its unpacking, its rename and the one after
                workers = [p for p in points if p[0] == "worker"]
                spread = [p for p in workers[1:-2] if p[1] != "fsync"]  # under kill -9 an fsync changes nothing
                keep = {workers[0], *workers[-2:]}
                keep |= {spread[round(i * (len(spread) - 1) / (sample - 4))] for i in range(sample - 3)}
                points = [p for p in points if p[0] == "appd" or p in keep]
            for i, point in enumerate(points):
                try:
                    found = self.run_point(point)
                    outcomes[found] = outcomes.get(found, 0) + 1
                except Exception as e:  # noqa: BLE001 - every point is reported, not only the first
                    failures.append(f"{label}, point {i + 1}/{len(points)}, kill in {point[0]} at {point[3]}: {e}")
        finally:
            self.stop_daemon()
        summary_counts[label] = len(points)
        print(f"{label}: {len(points)} points, recovered to {outcomes}")
        assert not failures, "\n".join(failures)
        return points, outcomes


def test_kill_during_install_of_a_new_app(device, alder):
    points, outcomes = Crash(device, alder, "hello", [], "1.0.0", "2.0.0").run("install of a new app")
    assert len(points) >= 20 and set(outcomes) == {None, "1.0.0"}


def test_kill_during_update_of_a_stopped_app(device, alder):
    c = Crash(device, alder, "hello", ["1.0.0", "2.0.0"], "3.0.0", "4.0.0")  # updated before: has a previous
    points, outcomes = c.run("update of a stopped app", sample=WORKER_SAMPLE)
    assert len(points) >= 15 and set(outcomes) == {"2.0.0", "3.0.0"}


@needs_runtime
def test_kill_during_update_of_a_running_app(device, alder):
    c = Crash(device, alder, "svc", ["1.0.0"], "2.0.0", "3.0.0", running=True)
    points, outcomes = c.run("update of a running app", sample=WORKER_SAMPLE)
    assert len(points) >= 10 and set(outcomes) == {"1.0.0", "2.0.0"}
