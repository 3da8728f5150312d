"""alder-logd end to end: a daemon on a temp root; entries from raw datagrams, from other
daemons through lib/log.c, and from apps through alder-appd; queries, follow mode, the
bound under a flood, kill -9 and power cuts, the free-space reserve, forwarding."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from appd_device import busybox_rootfs, device, native_arch, needs_runtime, pack_busybox_app  # noqa: F401
from logd_fixture import Logd, native

# The flood through a real container: 200 MB here (CI); bench/logd/run.py --flood-mb 1024 runs 1 GB.
FLOOD_MB = int(os.environ.get("ALDER_LOGD_FLOOD_MB", "200"))


@pytest.fixture
def logd(build_dir):
    # not under tmp_path, whose 0700 parents would keep senders of other uids from the socket
    base = Path(tempfile.mkdtemp(prefix="alder-logd-", dir="/tmp"))
    os.chmod(base, 0o755)
    started = []

    def start(config=None, root=None):
        d = Logd(build_dir, root or base / "root", config)
        d.start()
        started.append(d)
        return d

    yield start
    for d in started:
        if d.proc and d.proc.poll() is None:
            d.stop()
    shutil.rmtree(base, ignore_errors=True)


def test_entries_are_tagged(logd):
    d = logd()
    d.send({"MESSAGE": "hello\nworld", "PRIORITY": "4", "SYSLOG_IDENTIFIER": "tester", "APP": "a",
            "VERSION": "1.0", "CODE_FILE": "x.c", "_PID": "1"})
    e = d.wait_for(lambda es: any(x["source"] == "tester" for x in es))[-1]
    assert e["message"] == "hello\nworld"
    assert (e["level"], e["priority"]) == ("warning", 4)
    assert (e["app"], e["version"]) == ("a", "1.0")
    assert e["boot"] == d.boot
    assert e["pid"] == os.getpid() and e["uid"] == 0 and e["trusted"] is True
    assert e["fields"] == {"CODE_FILE": "x.c"}  # _PID is logd's to set: left out
    assert "stream" not in e
    assert abs(e["realtime_us"] / 1e6 - time.time()) < 60
    assert e["monotonic_us"] > 0
    first = d.query()["entries"][0]
    assert first["source"] == "alder-logd" and first["message"].startswith("started: boot " + d.boot)
    assert d.status()["counters"]["fields_rejected"] == 1


def test_daemon_logs_through_lib_log(logd, build_dir):
    """alder-secd, with ALDER_LOG_TARGET unset (auto): logd's socket exists, so it logs there."""
    d = logd()
    env = {k: v for k, v in os.environ.items() if k not in ("ALDER_LOG_TARGET", "JOURNAL_STREAM")}
    env["ALDER_LOG_SOCKET"] = str(d.sock)
    secd = subprocess.Popen([str(build_dir / "device/secd/alder-secd"), "--root", str(d.root), "--app", "x"],
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        es = d.wait_for(lambda es: any(e["message"].startswith("ready") for e in es), source="alder-secd")
    finally:
        secd.send_signal(signal.SIGTERM)
        err = secd.communicate(timeout=10)[1]
    assert err == ""  # nothing on stderr: it all went to logd
    ready = [e for e in es if e["message"].startswith("ready")][0]
    assert ready["pid"] == secd.pid and ready["trusted"]
    assert ready["fields"]["CODE_FUNC"] == "main"
    served = [e for e in es if e.get("app") == "x"]
    assert served and served[0]["source"] == "alder-secd"


def test_untrusted_sender_cannot_pass_for_a_daemon_or_an_app(logd):
    d = logd()
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(65534)
            os.setuid(65534)
            d.send({"MESSAGE": "fake", "SYSLOG_IDENTIFIER": "alder-appd", "APP": "hello", "VERSION": "9",
                    "STREAM": "stdout", "PRIORITY": "0"})
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    e = d.wait_for(lambda es: es, source="uid-65534:alder-appd")[0]
    assert e["trusted"] is False and e["uid"] == 65534
    assert "app" not in e and "stream" not in e
    assert e["fields"] == {"APP": "hello", "VERSION": "9", "STREAM": "stdout"}
    assert d.query(app="hello")["entries"] == []


def test_malformed_and_oversize_datagrams_are_counted(logd):
    d = logd()
    d.send(b"DATA\n\xff\xff\x00\x00\x00\x00\x00\x00xx\n")
    d.send(b"MESSAGE=" + b"x" * (70 * 1024) + b"\n")
    d.send({"MESSAGE": "after", "SYSLOG_IDENTIFIER": "t"})
    d.wait_for(lambda es: es, source="t")
    c = d.status()["counters"]
    assert (c["malformed"], c["oversize"]) == (1, 1)


def send_set(d):
    for i, (source, app, prio) in enumerate([("alder-appd", "a", 6), ("a", "a", 4), ("alder-updated", None, 3),
                                             ("b", "b", 6), ("alder-appd", "b", 7), ("a", "a", 6)]):
        f = {"MESSAGE": f"m{i}", "PRIORITY": str(prio), "SYSLOG_IDENTIFIER": source}
        if app:
            f["APP"] = app
        if source == app:
            f["STREAM"] = "stderr" if prio == 4 else "stdout"
        d.send(f)
    return d.wait_for(lambda es: len(es) == 6, since_seq=2)


def test_query_filters(logd):
    d = logd()
    es = send_set(d)
    assert [e["message"] for e in es] == [f"m{i}" for i in range(6)]
    msgs = lambda **p: [e["message"] for e in d.query(**p)["entries"]]  # noqa: E731
    assert msgs(app="a") == ["m0", "m1", "m5"]
    assert msgs(source="a") == ["m1", "m5"]
    assert msgs(source="alder-appd", app="b") == ["m4"]
    assert msgs(min_level="warning") == ["m1", "m2"]
    assert msgs(min_level=3) == ["m2"]
    assert msgs(since_seq=es[4]["seq"]) == ["m4", "m5"]
    assert msgs(tail=True, limit=2) == ["m4", "m5"]
    assert msgs(tail=True, limit=2, app="a") == ["m1", "m5"]
    assert msgs(since_time=es[3]["realtime_us"] / 1e6, source="b") == ["m3"]
    assert msgs(since_time=time.time() + 3600) == []
    assert [e.get("stream") for e in d.query(source="a")["entries"]] == ["stderr", "stdout"]
    # paging: limit, more, next_seq
    r = d.query(limit=3)
    assert len(r["entries"]) == 3 and r["more"] and r["next_seq"] == r["entries"][-1]["seq"] + 1
    r2 = d.query(limit=100, since_seq=r["next_seq"])
    assert not r2["more"] and r2["next_seq"] == d.status()["store"]["next_seq"]
    assert r2["entries"][0]["seq"] == r["next_seq"]
    # errors name the field
    for params, code, msg in [
            ({"levels": 1}, -22, "params: field 'levels': unknown field"),
            ({"min_level": "loud"}, -22, "params: field 'min_level': expected a level (emerg..debug or 0-7)"),
            ({"boot": "yesterday"}, -22, "params: field 'boot': 'yesterday' is not current, previous, all or a boot id"),
            ({"limit": 0}, -34, "params: field 'limit': 0 is out of range [1, 10000]"),
            ({"since_time": "x"}, -22, "params: field 'since_time': expected seconds since 1970, got string")]:
        err = d.call("log.query", params)["error"]
        assert (err["code"], err["message"]) == (code, "alder-logd: " + msg), params


def test_boots(logd, build_dir):
    d = logd()
    d.send({"MESSAGE": "in boot 1", "SYSLOG_IDENTIFIER": "t"})
    d.wait_for(lambda es: es, source="t")
    err = d.call("log.query", {"boot": "previous"})["error"]
    assert err["code"] == -2 and "no previous boot in the store" in err["message"]
    first = d.boot
    d.stop()
    d.new_boot()
    d.start()
    d.send({"MESSAGE": "in boot 2", "SYSLOG_IDENTIFIER": "t"})
    d.wait_for(lambda es: len(es) == 2, source="t")
    msgs = lambda **p: [e["message"] for e in d.query(source="t", **p)["entries"]]  # noqa: E731
    assert msgs(boot="previous") == ["in boot 1"]
    assert msgs(boot=first) == ["in boot 1"]
    assert msgs(boot="current") == ["in boot 2"]
    assert msgs(boot="all") == ["in boot 1", "in boot 2"]
    assert [b["boot"] for b in d.status()["boots"]] == [first, d.boot]
    assert len(d.segments()) == 2  # one boot per segment
    # the CLI: -b alone is the current boot
    r = subprocess.run([str(build_dir / "host/alder"), "logs", "--socket", str(d.api), "-b", "-s", "t"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "in boot 2" in r.stdout and "in boot 1" not in r.stdout
    r = subprocess.run([str(build_dir / "host/alder"), "logs", "--socket", str(d.api), "--boot=previous", "-s", "t"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "in boot 1" in r.stdout and "in boot 2" not in r.stdout


def test_cli(logd, alder):
    d = logd()
    send_set(d)
    r = alder("logs", "--socket", str(d.api), "--app", "a")
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    assert len(lines) == 3
    assert " alder-appd[" in lines[0] and "] info: m0" in lines[0]
    assert lines[1].endswith(" a/ stderr: m1")
    r = alder("logs", "--socket", str(d.api), "-n", "2", "--json")
    assert [json.loads(x)["message"] for x in r.out.splitlines()] == ["m4", "m5"]
    r = alder("logs", "--socket", str(d.api), "--level", "err", "--source", "alder-updated")
    assert r.rc == 0 and r.out.count("\n") == 1 and r.out.rstrip().endswith("err: m2")
    assert alder("logs", "--socket", str(d.api), "-n", "0").out == ""
    r = alder("logs", "--socket", str(d.api), "--level", "loud")
    assert r.rc == 1 and "alder-logd: params: field 'min_level'" in r.err
    r = alder("logs", "--socket", str(d.api), "-n", "x")
    assert r.rc == 2 and "--lines: 'x' is not a number from 0 to 10000" in r.err
    r = alder("logs", "--socket", str(d.root / "nothing.sock"))
    assert r.rc == 1 and "alder-logd is not reachable (is it running?)" in r.err
    r = alder("--json", "logs", "--socket", str(d.root / "nothing.sock"))
    assert r.rc == 1 and "alder-logd is not reachable" in json.loads(r.out)["error"]["message"]


def test_follow(logd, build_dir):
    d = logd()
    # the API: a long poll that answers once a matching entry comes in, or empty at its timeout
    r = d.ok("log.follow", {"source": "f", "timeout_ms": 200})
    assert r["entries"] == [] and r["next_seq"] == d.status()["store"]["next_seq"]
    cli = subprocess.Popen([str(build_dir / "host/alder"), "logs", "--socket", str(d.api), "-f", "--json",
                            "--source", "f"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(cli.stdout), daemon=True)
    reader.start()
    try:
        time.sleep(0.3)  # let it reach its long poll; the entries would be printed either way
        for i in range(50):
            d.send({"MESSAGE": f"f{i}", "SYSLOG_IDENTIFIER": "f" if i % 2 == 0 else "other"})
        deadline = time.monotonic() + 20
        while len(lines) < 25 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        cli.terminate()
        cli.wait(timeout=10)
    assert [json.loads(x)["message"] for x in lines] == [f"f{i}" for i in range(0, 50, 2)]


def test_kill_9_mid_write_keeps_what_was_stored(logd):
    d = logd()
    for i in range(200):
        d.send({"MESSAGE": f"before {i}", "SYSLOG_IDENTIFIER": "t"})
    before = d.wait_for(lambda es: len(es) == 200, source="t")
    stop = threading.Event()

    def flood():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        i = 0
        while not stop.is_set():
            try:
                d.send({"MESSAGE": f"flood {i} " + "x" * 300, "SYSLOG_IDENTIFIER": "t"}, sender=s)
            except OSError:
                return  # logd is gone
            i += 1

    t = threading.Thread(target=flood)
    t.start()
    d.wait_for(lambda es: len(es) > 2000, source="t", since_seq=before[-1]["seq"])
    d.kill()
    stop.set()
    t.join()
    d.start()
    es = d.all_entries()
    seqs = [e["seq"] for e in es]
    assert seqs == list(range(1, len(seqs) + 1))  # nothing lost before the kill, no hole
    assert [e["message"] for e in es if e["source"] == "t"][:200] == [f"before {i}" for i in range(200)]
    assert d.status()["counters"]["damaged_regions"] == 0


def test_power_cut_torn_and_garbled_segments(logd):
    d = logd()
    for i in range(100):
        d.send({"MESSAGE": f"m{i} " + "y" * 100, "SYSLOG_IDENTIFIER": "t"})
    es = d.wait_for(lambda es: len(es) == 100, source="t")
    d.stop()
    seg = d.segments()[-1]
    data = bytearray(seg.read_bytes())
    # a record in the middle garbled (bad sector), the tail torn, and junk after it (unwritten blocks)
    mid = len(data) // 2
    data[mid:mid + 4] = b"\xde\xad\xbe\xef"
    data = data[:-50] + os.urandom(3000)
    seg.write_bytes(bytes(data))
    d.start()
    st = d.status()["counters"]
    assert st["damaged_regions"] == 1 and st["torn_tail_bytes"] > 3000
    kept = d.all_entries(source="t")
    assert len(kept) == 99  # the garbled one lost; the torn tail was logd's own "stopping" entry
    lost = [e["message"] for e in es if e["message"] not in {k["message"] for k in kept}]
    assert len(lost) == 1 and lost[0] not in (es[0]["message"], es[-1]["message"])
    assert [e["seq"] for e in kept] == [e["seq"] for e in es if e["message"] != lost[0]]
    d.send({"MESSAGE": "after", "SYSLOG_IDENTIFIER": "t"})
    d.wait_for(lambda es: es[-1]["message"] == "after", source="t")
    d.stop()
    d.start()
    assert d.all_entries(source="t")[-1]["message"] == "after"
    assert d.status()["counters"]["torn_tail_bytes"] == 0


def test_store_stays_within_bound(logd):
    """Many times the bound through the socket: the files never exceed it, the newest are kept, contiguous."""
    d = logd({"max_bytes": 1 << 20, "segment_bytes": 256 << 10})
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    n = 20000
    for i in range(n):
        d.send({"MESSAGE": f"{i} " + "z" * 400, "SYSLOG_IDENTIFIER": "t"}, sender=s)
        if i % 2000 == 0:
            assert d.store_bytes() <= 1 << 20
    es = d.wait_for(lambda es: es and es[-1]["message"].startswith(f"{n - 1} "), source="t")
    assert d.store_bytes() <= 1 << 20
    numbers = [int(e["message"].split()[0]) for e in es]
    assert numbers == list(range(numbers[0], n)) and numbers[0] > 0
    seqs = [e["seq"] for e in d.all_entries()]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    st = d.status()
    assert st["store"]["first_seq"] == seqs[0] and st["counters"]["segments_dropped"] > 0


def test_free_space_reserve(logd):
    d = logd({"reserve_bytes": 1 << 60})  # more than any disk: nothing may be written
    for i in range(10):
        d.send({"MESSAGE": f"x{i}", "SYSLOG_IDENTIFIER": "t"})
    deadline = time.monotonic() + 10
    while d.status()["counters"]["dropped_no_space"] < 10:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    st = d.status()
    assert st["store"]["no_space"] is True and st["store"]["bytes"] == 0
    assert d.query()["entries"] == []
    assert not d.segments()


def test_forward_to_journal_and_syslog(logd, tmp_path):
    fake = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    fake.bind(str(tmp_path / "journal.sock"))
    fake.settimeout(10)
    d = logd({"forward": {"to": "journal", "level": "notice", "socket": str(tmp_path / "journal.sock")}})
    d.send({"MESSAGE": "quiet", "PRIORITY": "6", "SYSLOG_IDENTIFIER": "t"})
    d.send({"MESSAGE": "loud", "PRIORITY": "5", "SYSLOG_IDENTIFIER": "t", "APP": "a"})
    got = fake.recv(65536)
    seq = d.wait_for(lambda es: len(es) == 2, source="t")[1]["seq"]
    assert got == native({"MESSAGE": "loud", "PRIORITY": "5", "SYSLOG_IDENTIFIER": "t", "APP": "a",
                          "ALDER_SEQ": str(seq), "ALDER_PID": str(os.getpid()), "ALDER_UID": "0"})
    # as logd sees the entry: an untrusted sender's source with its prefix, APP a field; binary values kept
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(65534)
            os.setuid(65534)
            d.send({"MESSAGE": "a\nb", "PRIORITY": "2", "SYSLOG_IDENTIFIER": "alder-appd", "APP": "a"})
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    got = fake.recv(65536)
    seq = d.wait_for(lambda es: es, source="uid-65534:alder-appd")[0]["seq"]
    assert got == native({"MESSAGE": "a\nb", "PRIORITY": "2", "SYSLOG_IDENTIFIER": "uid-65534:alder-appd", "APP": "a",
                          "ALDER_SEQ": str(seq), "ALDER_PID": str(pid), "ALDER_UID": "65534"})
    d.stop()

    syslog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    syslog.bind(str(tmp_path / "log"))
    syslog.settimeout(10)
    d = logd({"forward": {"to": "syslog", "socket": str(tmp_path / "log")}}, root=d.root.parent / "root2")
    d.send({"MESSAGE": "two\nlines", "PRIORITY": "3", "SYSLOG_IDENTIFIER": "t"})
    line = syslog.recv(4096).decode()
    assert line.startswith("<27>") and line.endswith(f" t[{os.getpid()}]: two lines")  # LOG_DAEMON | err
    assert d.status()["counters"]["forwarded"] == 1


def test_refuses_bad_config_and_a_second_instance(logd, build_dir, tmp_path):
    d = logd()
    r = subprocess.run([str(d.exe), "--root", str(d.root), "--boot-id-file", str(d.boot_file)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and f"another alder-logd reads '{d.sock}'" in r.stderr, r.stderr
    root = tmp_path / "bad"
    (root / "config").mkdir(parents=True)
    for config, msg in [({"max_bytes": 1}, "field 'max_bytes'"), ({"forward": {"to": "kmsg"}},
                        "field 'forward.to': 'kmsg' is not one of none, journal, syslog"),
                        ({"segment_bytes": 1 << 20, "max_bytes": 1 << 20},
                        "does not hold two segments"), ({"colour": 1}, "colour")]:
        (root / "config" / "logd.json").write_text(json.dumps(config))
        r = subprocess.run([str(d.exe), "--root", str(root), "--boot-id-file", str(d.boot_file)],
                           capture_output=True, text=True, timeout=10, env={**os.environ, "ALDER_LOG_TARGET": "stderr"})
        assert r.returncode == 1 and msg in r.stderr, (config, r.stderr)
    (root / "config" / "logd.json").unlink()
    (root / "bootid").write_text("not a uuid\n")
    r = subprocess.run([str(d.exe), "--root", str(root), "--boot-id-file", str(root / "bootid")],
                       capture_output=True, text=True, timeout=10, env={**os.environ, "ALDER_LOG_TARGET": "stderr"})
    assert r.returncode == 1 and "does not hold a UUID" in r.stderr


# ---- with alder-appd and real containers ----

LOGD_TARGET = {"ALDER_LOG_TARGET": "alder", "ALDER_LOG_SOCKET": "ROOT/run/alder/log.sock"}


@needs_runtime
@pytest.mark.appd_env(LOGD_TARGET)
def test_app_lines_arrive_tagged(device, alder, logd):
    d = logd(root=device.root)
    pkg = pack_busybox_app(device, alder, "hello", "1.0.0", 1,
                           "echo out one; echo err one >&2; printf 'no newline'; sleep 30")
    assert device.app("install", str(pkg)).rc == 0
    assert device.app("start", "hello").rc == 0
    es = d.wait_for(lambda es: len(es) >= 2, source="hello")
    by_msg = {e["message"]: e for e in es}
    out, err = by_msg["out one"], by_msg["err one"]
    assert (out["app"], out["version"], out["stream"], out["level"]) == ("hello", "1.0.0", "stdout", "info")
    assert (err["stream"], err["level"]) == ("stderr", "warning")
    assert out["pid"] == device.proc.pid and out["trusted"]
    # alder-appd's own entries about the app, through lib/log.c's alder target
    appd = d.wait_for(lambda es: es, source="alder-appd", app="hello")
    assert all(e["pid"] == device.proc.pid for e in appd)
    # `alder app logs` reads logd now; appd's file got nothing
    r = device.app("logs", "--logd-socket", str(d.api), "hello")
    assert r.rc == 0 and r.out.splitlines()[:2] == ["out one", "err one"], r.out + r.err
    assert device.app("logs", "--file", "hello").rc == 1  # "app 'hello' has no log yet"
    assert device.app("stop", "hello").rc == 0
    # the partial last line is flushed when the app goes
    d.wait_for(lambda es: any(e["message"] == "no newline" for e in es), source="hello")


@needs_runtime
def test_app_output_falls_back_to_the_file_while_logd_is_down(device, alder, logd, build_dir):
    pkg = pack_busybox_app(device, alder, "ticker", "1.0.0", 1,
                           "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done")
    assert device.app("install", str(pkg)).rc == 0
    assert device.app("start", "ticker").rc == 0
    log = device.root / "var/log/alder/apps/ticker.log"
    deadline = time.monotonic() + 20
    while not (log.exists() and "tick 3\n" in log.read_text()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    d = logd(root=device.root)  # appd finds it within a second
    es = d.wait_for(lambda es: len(es) >= 5, source="ticker")
    d.kill()  # lines go to the file again
    file_size = log.stat().st_size
    deadline = time.monotonic() + 20
    while log.stat().st_size < file_size + 50:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    d.start()
    d.wait_for(lambda later: len(later) > len(es) + 5, source="ticker")
    assert device.app("stop", "ticker").rc == 0
    # no tick lost: every number is in the file or in logd, in order in each
    in_logd = [int(e["message"].split()[1]) for e in d.all_entries(source="ticker")]
    in_file = [int(x.split()[1]) for x in log.read_text().splitlines()]
    assert sorted(in_logd + in_file) == list(range(max(in_logd + in_file) + 1))


@needs_runtime
@pytest.mark.appd_env(LOGD_TARGET)
def test_flood_of_app_output_stays_within_bound(device, alder, logd):
    """FLOOD_MB of numbered lines from a container: the store never exceeds its bound,
    keeps the newest lines with no hole, and its sequence numbers are contiguous."""
    bound = 32 << 20
    d = logd({"max_bytes": bound, "segment_bytes": 2 << 20}, root=device.root)
    line = 500
    n = FLOOD_MB * (1 << 20) // line
    script = ("awk 'BEGIN { pad = sprintf(\"%%0%dd\", 0); for (i = 1; i <= %d; i++) print i, pad }'; sleep 3600"
              % (line - 9, n))
    pkg = pack_busybox_app(device, alder, "flood", "1.0.0", 1, script)
    assert device.app("install", str(pkg)).rc == 0
    t0 = time.monotonic()
    assert device.app("start", "flood").rc == 0
    peak = logd_rss = appd_rss = 0
    deadline = time.monotonic() + 3600
    while True:
        peak = max(peak, d.store_bytes())
        logd_rss, appd_rss = max(logd_rss, d.rss_kb()), max(appd_rss, rss_kb(device.proc.pid))
        last = d.query(source="flood", tail=True, limit=1)["entries"]
        if last and int(last[0]["message"].split()[0]) == n:
            break
        assert time.monotonic() < deadline, f"flood not done: {last}"
        time.sleep(0.2)
    seconds = time.monotonic() - t0
    assert device.app("stop", "flood").rc == 0
    peak = max(peak, d.store_bytes())
    assert peak <= bound
    es = d.all_entries(source="flood")
    numbers = [int(e["message"].split()[0]) for e in es]
    assert numbers == list(range(numbers[0], n + 1)), "a hole in the kept lines"
    assert len(numbers) * line > bound // 2  # the store is used, not emptied
    seqs = [e["seq"] for e in d.all_entries()]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    c = d.status()["counters"]
    assert c["dropped_no_space"] == c["dropped_write_error"] == c["malformed"] == c["oversize"] == 0
    assert not (device.root / "var/log/alder/apps/flood.log").exists()  # all of it went to logd
    if os.environ.get("ALDER_LOGD_FLOOD_REPORT"):  # for bench/logd/run.py --flood-mb
        Path(os.environ["ALDER_LOGD_FLOOD_REPORT"]).write_text(json.dumps({
            "mb": FLOOD_MB, "lines": n, "line_bytes": line, "seconds": round(seconds, 2), "bound": bound,
            "store_peak_bytes": peak, "kept_lines": len(numbers), "logd_rss_peak_kb": logd_rss,
            "appd_rss_peak_kb": appd_rss}))


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
