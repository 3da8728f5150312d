"""kill -9 at the N-th state-changing syscall of an operation, for every N: what the crash tests of
the daemons (test_appd_crash.py, test_secd_crash.py) share.

A dry run of the operation records with `strace -y` every call of POINT_SYSCALLS (open/openat only
with O_CREAT) of a process; each successful call is an injection point (a failed one, mkdir ->
EEXIST, changes nothing). strace counts `when=` per process and per syscall, so a point is "the
M-th call of syscall S in process P" and its run injects `S:signal=KILL:when=M` and nothing else:
strace sends the SIGKILL on the entry of that call, the process dies just before the call runs.
No test hooks in the daemons: this is black box.
"""
import contextlib
import hashlib
import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

# Every successful call of these is an injection point (open/openat only with O_CREAT).
POINT_SYSCALLS = ("mkdir", "mkdirat", "rmdir", "rename", "renameat", "renameat2", "link", "linkat", "symlink",
                  "symlinkat", "unlink", "unlinkat", "mknod", "mknodat", "fsync", "fdatasync", "syncfs", "open",
                  "openat", "creat", "pidfd_open")
TRACE_SET = ",".join(POINT_SYSCALLS)


def parse_points(trace_text, process, skip=None):
    """Injection points in one process's strace -y output: (process, syscall, nth call, line).
    skip: a substring of the lines whose calls are no points (state the check does not cover)."""
    points, calls = [], {}
    for line in trace_text.splitlines():
        m = re.match(r"(\w+)\(", line)
        if not m or m.group(1) not in POINT_SYSCALLS:
            continue
        name = m.group(1)
        calls[name] = calls.get(name, 0) + 1
        if re.search(r"= -1 ", line) or (skip and skip in line) or (name.startswith("open") and "O_CREAT" not in line):
            continue
        points.append((process, name, calls[name], line.strip()))
    return points


def trace_args(out):
    """strace options that record the points of a process into the file `out`."""
    return ["-y", "-o", str(out), "-e", f"trace={TRACE_SET}"]


def kill_args(point):
    """strace options that kill a process at `point` and trace nothing else."""
    _, syscall, nth, _ = point
    return ["-o", "/dev/null", "-e", f"trace={syscall}", "-e", f"inject={syscall}:signal=KILL:when={nth}"]


def attach(pid, args):
    """strace -qq -p PID ARGS; returns the strace process once PID is traced."""
    st = subprocess.Popen(["strace", "-qq", "-p", str(pid), *args], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while f"TracerPid:\t{st.pid}\n" not in Path(f"/proc/{pid}/status").read_text():
        assert time.monotonic() < deadline and st.poll() is None, "strace did not attach"
        time.sleep(0.005)
    time.sleep(0.02)  # strace sets its options after the attach
    return st


def detach(tracer):
    tracer.send_signal(signal.SIGINT)
    tracer.wait(timeout=10)


def died_of_sigkill(proc, timeout=10):
    """Waits for proc (killed at its point, or not); True when it died of SIGKILL. It is dead afterwards."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        return False
    return proc.returncode in (-signal.SIGKILL, 137)  # 137: strace's status for its killed tracee


def tree(path):
    """{relative path: what it is} of a directory tree: content digests, link targets, modes."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st = p.lstat()
            rel = str(p.relative_to(path))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            elif stat.S_ISSOCK(st.st_mode):
                out[rel] = ("socket", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("file", stat.S_IMODE(st.st_mode), hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def print_summary(request, name, counts, findings=None):
    """Prints `name: N kill -9 points covered (per scenario)` at the end of a module, without -s too."""
    if not counts:
        return
    text = ", ".join(f"{k}: {v}" for k, v in counts.items())
    line = f"\n{name}: {sum(counts.values())} kill -9 points covered ({text})"
    for what, points in (findings or {}).items():
        if points:
            line += f"\n  known: {what} at {len(points)} points"
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(line)
