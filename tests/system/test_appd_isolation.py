"""Isolation of app containers, proven from inside running ones: alder-appd starts busybox apps that
carry tests/helpers/isolation-probe and report what they could see and do; each property is one
entry of a table (or one assertion) so that a failure names the property that broke.
See docs/design/container-hardening.md for what the container is meant to refuse."""
import glob
import json
import os
import shutil

import pytest

from appd_device import device, needs_runtime, busybox_rootfs, native_arch, wait_for  # noqa: F401

pytestmark = needs_runtime

ID_BASE, ID_COUNT = 100000, 65536  # app n maps to ID_BASE + n * ID_COUNT
MIB = 1024 * 1024


def pack_probe_app(device, alder, build_dir, name, script, *extra):
    """A signed busybox app running `sh -c script` as root with /bin/isolation-probe beside busybox."""
    rootfs = device.tmp / f"probe-{name}"
    busybox_rootfs(rootfs)
    shutil.copy(build_dir / "tests/helpers/isolation-probe", rootfs / "bin/isolation-probe")
    pkg = device.tmp / f"{name}.alpkg"
    r = alder("app", "pack", "--key", str(device.keys / "dev.key"), "--cert", str(device.keys / "dev.pem"),
              "--name", name, "--version", "1.0.0", "--arch", native_arch(), "--sequence", "1", "--user", "0:0",
              "--restart", "no", "--cmd", json.dumps(["/bin/sh", "-c", script]), *extra, "-o", str(pkg), str(rootfs))
    assert r.rc == 0, r.err
    return pkg


def log_of(device, name):
    log = device.root / "var/log/alder/apps" / f"{name}.log"
    return log.read_text() if log.exists() else ""


def run_probe_app(device, alder, build_dir, name, script, *extra, until="done"):
    """Installs and starts the app, waits for the output line `until`; returns (host pid, output lines)."""
    assert device.app("install", str(pack_probe_app(device, alder, build_dir, name, script, *extra))).rc == 0
    r = device.app("start", "--json", name)
    assert r.rc == 0, r.err
    assert wait_for(lambda: until in log_of(device, name).splitlines()), log_of(device, name)
    return r.json()["pid"], log_of(device, name).splitlines()


def host_id_start(pid):
    """The host uid that root of the container of `pid` is, from the host's view of its uid_map."""
    with open(f"/proc/{pid}/uid_map") as f:
        inside, outside, count = (int(v) for v in f.read().split())
    assert (inside, count) == (0, ID_COUNT)
    return outside


def host_uids(pid):
    with open(f"/proc/{pid}/status") as f:
        return next([int(v) for v in line.split()[1:]] for line in f if line.startswith("Uid:"))


def missing(checks, lines):
    """The properties of `checks` ((property, expected output line)...) whose line is not in `lines`."""
    return [(prop, line) for prop, line in checks if line not in lines]


def test_root_inside_is_powerless(device, alder, build_dir):
    outsiders = [device.proc.pid, os.getpid()]  # host processes: alder-appd and this test
    script = ("echo uid: $(id -u); grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; "
              "isolation-probe create /probe-file /bin/probe-file; isolation-probe mount; isolation-probe unshare; "
              f"(isolation-probe ptrace; :); isolation-probe kill 1 {' '.join(map(str, outsiders))}; "
              "echo done; exec sleep 1000")
    pid, lines = run_probe_app(device, alder, build_dir, "powerless", script)
    checks = [
        ("root inside the user namespace", "uid: 0"),
        ("no effective capabilities", "CapEff:\t0000000000000000"),
        ("no permitted capabilities", "CapPrm:\t0000000000000000"),
        ("empty bounding set", "CapBnd:\t0000000000000000"),
        ("no ambient capabilities", "CapAmb:\t0000000000000000"),
        ("no new privileges", "NoNewPrivs:\t1"),
        ("seccomp filter mode", "Seccomp:\t2"),
        ("read-only root: /", "create /probe-file: EROFS"),
        ("read-only root: /bin", "create /bin/probe-file: EROFS"),
        ("mount refused", "mount: EPERM"),
        ("new user namespace refused", "unshare CLONE_NEWUSER: EPERM"),
        ("new mount namespace refused", "unshare CLONE_NEWNS: EPERM"),
        ("ptrace of the container's init refused", "ptrace attach 1: EPERM"),
        ("ptrace of the parent refused", "ptrace attach parent: EPERM"),
        ("ptrace of an own child refused (seccomp, not permissions)", "ptrace attach child: EPERM"),
        ("own pid namespace: its init is pid 1", "kill 1: OK"),
    ] + [(f"host process {p} invisible", f"kill {p}: ESRCH") for p in outsiders]
    assert missing(checks, lines) == [], "\n".join(lines)
    # root inside is an unprivileged, app-specific uid outside
    start = host_id_start(pid)
    assert start >= ID_BASE and (start - ID_BASE) % ID_COUNT == 0, start
    assert host_uids(pid) == [start] * 4


def test_apps_cannot_see_each_other(device, alder, build_dir):
    apps = device.root / "var/lib/alder/apps"
    b_pid, _ = run_probe_app(device, alder, build_dir, "app-b",
                             "echo b > /data/b; echo done; exec sleep 4242", "--volume", "data:/data")
    b_file = apps / "app-b/data/data/b"
    b_busybox = apps / "app-b/current/rootfs/bin/busybox"
    assert b_file.exists() and b_busybox.exists()  # there on the host, so absence inside A means something
    script = ("echo a > /data/a; for p in /proc/[0-9]*; do echo \"proc ${p#/proc/} $(cat $p/comm)\"; done; "
              f"ps; isolation-probe kill {b_pid}; isolation-probe open {b_file} {b_busybox}; "
              "echo done; exec sleep 1000")
    a_pid, lines = run_probe_app(device, alder, build_dir, "app-a", script, "--volume", "data:/data")
    assert device.app("status", "--json", "app-b").json()["state"] == "running"  # both at once
    procs = {line.split()[1]: line.split()[2] for line in lines if line.startswith("proc ")}
    checks = [
        ("pid namespace: init is A's shell", "proc 1 sh"),
        ("B's host pid cannot be signalled", f"kill {b_pid}: ESRCH"),
        ("B's data volume not reachable", f"open {b_file}: ENOENT"),
        ("B's root file system not reachable", f"open {b_busybox}: ENOENT"),
    ]
    assert missing(checks, lines) == [], "\n".join(lines)
    assert set(procs.values()) <= {"sh", "cat", "ps"}, procs  # no "sleep": that is B's (and A's later)
    assert not any("sleep 4242" in line for line in lines), lines  # ps did not list B either
    a_start, b_start = host_id_start(a_pid), host_id_start(b_pid)
    assert abs(a_start - b_start) >= ID_COUNT  # disjoint ranges
    assert (apps / "app-a/data/data/a").stat().st_uid == a_start
    assert b_file.stat().st_uid == b_start


def interfaces(net_dev_lines):
    """Interface names of /proc/net/dev lines (the two header lines have '|' in them)."""
    return {line.split(":")[0].strip() for line in net_dev_lines if ":" in line and "|" not in line}


def test_network_namespace(device, alder, build_dir):
    with open("/proc/self/net/dev") as f:
        host = interfaces(f)
    assert host - {"lo"}, "the host has no interface but lo: nothing to tell the namespaces apart"
    script = "echo dev; cat /proc/net/dev; echo sys; ls /sys/class/net; echo done; exec sleep 1000"
    for name, extra, expected in [("own-net", (), {"lo"}), ("host-net", ("--host-network",), host)]:
        _, lines = run_probe_app(device, alder, build_dir, name, script, *extra)
        dev, sys = lines.index("dev"), lines.index("sys")
        assert interfaces(lines[dev + 1:sys]) == expected, (name, "/proc/net/dev", lines)
        assert set(lines[sys + 1:lines.index("done")]) == expected, (name, "/sys/class/net", lines)


def test_memory_limit_kills_and_is_reported(device, alder, build_dir):
    name, limit = "hog", 32 * MIB
    go = device.root / "var/lib/alder/apps" / name / "data/data/go"
    script = ("echo ready; while [ ! -e /data/go ]; do sleep 0.05; done; "
              "exec isolation-probe alloc 100")  # as pid 1: the OOM kill ends the app
    run_probe_app(device, alder, build_dir, name, script, "--memory", "32M", "--volume", "data:/data",
                  until="ready")
    # the container id is NAME.SEQUENCE.RUN, its cgroupsPath /alder/NAME.SEQUENCE.RUN
    limits = glob.glob(f"/sys/fs/cgroup/memory/alder/{name}.1.*/memory.limit_in_bytes") + \
        glob.glob(f"/sys/fs/cgroup/alder/{name}.1.*/memory.max")  # cgroup v1 (hybrid) hosts, cgroup v2
    found = [path for path in limits if os.path.exists(path)]
    assert found, f"the running app has no memory cgroup: none of {limits}"
    with open(found[0]) as f:
        assert int(f.read()) == limit, f"{found[0]}: the runtime did not apply --memory"
    go.write_text("")
    assert wait_for(lambda: device.app("status", "--json", name).json()["state"] == "failed"), log_of(device, name)
    st = device.app("status", "--json", name).json()
    assert st["last_exit"]["signal"] == 9 and st["last_exit"]["oom"] is True, st
    assert "alloc 100: OK" not in log_of(device, name)
