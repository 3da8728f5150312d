#!/usr/bin/python3
"""alder-logd's ingest rate and memory, against writing the same lines to a plain file
with fwrite()+fflush() each, in the same run:

    ingest  N numbered lines of SIZE bytes logged through lib/log.c's alder target by
            K processes at once (tests/helpers/logd-flood), timed from the first send until
            alder-logd has stored the last one; reference: the same K processes writing the
            same lines to their own files. Ratios > 1 mean logd is slower than the file.
            Also the CPU time per line of alder-logd and of the senders (user + system),
            against the writers' CPU time per line: on a loaded machine wall-clock rates
            vary from run to run, CPU time much less.
    rss     alder-logd's VmRSS idle (just started) and its peak during the runs.
    flood   (--flood-mb MB, needs root, runc/crun and busybox-static) MB of numbered app
            output from a container through alder-appd into alder-logd: runs the system
            test test_flood_of_app_output_stays_within_bound with ALDER_LOGD_FLOOD_MB=MB
            (CI runs it with 200) and reports its throughput, the peak store size against
            the bound, and the peak RSS of alder-logd and alder-appd; reference: the same
            lines written to a file by one process.

Usage: bench/logd/run.py [--build DIR] [--lines 200000] [--size 200] [--senders 1,4]
                         [--flood-mb 0] [--json]
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests/system"))
from logd_fixture import Logd  # noqa: E402


def flood_cmd(build, *args):
    return [str(build / "tests/helpers/logd-flood"), *map(str, args)]


class RssPeak:
    """Samples a process's VmRSS every 50 ms while running."""

    def __init__(self, logd):
        self.logd, self.peak, self.stop = logd, logd.rss_kb(), threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, self.logd.rss_kb())

    def done(self):
        self.stop.set()
        self.t.join()
        return self.peak


def cpu_s(pid):
    """User + system CPU seconds of a process so far."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_all(cmds, env=None):
    """Runs the commands at once; returns their CPU seconds together."""
    before = children_cpu_s()
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, env=env) for c in cmds]
    for p in procs:
        p.communicate()
        assert p.returncode == 0
    return children_cpu_s() - before


def ingest(build, logd, senders, lines, size):
    """Lines per second into logd; CPU µs per line of logd and of the senders."""
    per = lines // senders
    start_stored = logd.status()["counters"]["stored"]
    env = {**os.environ, "ALDER_LOG_SOCKET": str(logd.sock)}
    cpu0, t0 = cpu_s(logd.proc.pid), time.monotonic()
    sender_cpu = run_all([flood_cmd(build, "logd", per, size)] * senders, env)
    while logd.status()["counters"]["stored"] < start_stored + per * senders:
        time.sleep(0.005)
    t = time.monotonic() - t0
    logd_cpu = cpu_s(logd.proc.pid) - cpu0
    c = logd.status()["counters"]
    assert c["dropped_no_space"] == c["dropped_write_error"] == 0, c
    n = per * senders
    return n / t, logd_cpu * 1e6 / n, sender_cpu * 1e6 / n


def to_files(build, tmp, senders, lines, size):
    """Lines per second into files, and the writers' CPU µs per line."""
    per = lines // senders
    t0 = time.monotonic()
    cpu = run_all([flood_cmd(build, "file", Path(tmp) / f"ref-{i}.log", per, size) for i in range(senders)])
    return per * senders / (time.monotonic() - t0), cpu * 1e6 / (per * senders)


def app_flood(build, mb):
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            str(ROOT / "tests/system/test_logd.py::test_flood_of_app_output_stays_within_bound")],
                           env={**os.environ, "ALDER_BUILD_DIR": str(build), "ALDER_LOGD_FLOOD_MB": str(mb),
                                "ALDER_LOGD_FLOOD_REPORT": str(report)}, capture_output=True, text=True)
        if r.returncode != 0 or not report.exists():
            sys.exit(f"flood test failed or skipped:\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}")
        res = json.loads(report.read_text())
        ref, _ = to_files(build, tmp, 1, res["lines"], res["line_bytes"])
    res["mb_per_s"] = round(res["mb"] / res["seconds"], 1)
    res["lines_per_s"] = round(res["lines"] / res["seconds"])
    res["file_lines_per_s"] = round(ref)
    res["ratio"] = round(ref / res["lines_per_s"], 1)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("ALDER_BUILD_DIR", ROOT / "build"), type=Path)
    ap.add_argument("--lines", type=int, default=200000)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--senders", default="1,4")
    ap.add_argument("--flood-mb", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    result = {"load_average": os.getloadavg()[0], "cpus": os.cpu_count()}
    base = Path(tempfile.mkdtemp(prefix="bench-logd-"))
    try:
        logd = Logd(a.build, base / "root", {"max_bytes": 256 << 20})
        logd.start()
        time.sleep(0.5)
        result["logd_rss_kb_idle"] = logd.rss_kb()
        peak = RssPeak(logd)
        for k in map(int, a.senders.split(",")):
            rate, logd_us, sender_us = ingest(a.build, logd, k, a.lines, a.size)
            ref, ref_us = to_files(a.build, base, k, a.lines, a.size)
            result[f"ingest_{k}_senders_lines_per_s"] = {"logd": round(rate), "file_fwrite_fflush": round(ref),
                                                         "ratio": round(ref / rate, 1)}
            result[f"ingest_{k}_senders_cpu_us_per_line"] = {
                "logd": round(logd_us, 2), "senders": round(sender_us, 2), "file_writers": round(ref_us, 2),
                "ratio": round((logd_us + sender_us) / ref_us, 1)}
        result["logd_rss_kb_peak"] = peak.done()
        result["store_bytes"] = logd.store_bytes()
        logd.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if a.flood_mb:
        result["app_flood"] = app_flood(a.build, a.flood_mb)
    if a.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
