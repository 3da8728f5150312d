"""alder-logd on a device root in a temp folder: start, stop, kill, send entries in the
native protocol, call its API. Shared by tests/system/test_logd.py and bench/logd."""
import json
import os
import signal
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path


def native(fields):
    """A datagram of journald's native protocol from {KEY: value} (str or bytes)."""
    out = b""
    for k, v in fields.items():
        v = v.encode() if isinstance(v, str) else v
        if b"\n" in v:
            out += k.encode() + b"\n" + struct.pack("<Q", len(v)) + v + b"\n"
        else:
            out += k.encode() + b"=" + v + b"\n"
    return out


class IpcClient:
    """lib/alder/ipc.h's protocol: 4-byte big-endian length + JSON."""

    def __init__(self, path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(str(path))
        self.id = 0

    def call(self, method, params=None, timeout=10):
        self.id += 1
        body = json.dumps({"id": self.id, "method": method, "params": params or {}}).encode()
        self.s.settimeout(timeout)
        self.s.sendall(struct.pack(">I", len(body)) + body)
        n = struct.unpack(">I", self._read(4))[0]
        reply = json.loads(self._read(n))
        assert reply["id"] == self.id, reply
        return reply

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            assert chunk, "alder-logd closed the connection"
            buf += chunk
        return buf

    def close(self):
        self.s.close()


class Logd:
    def __init__(self, build_dir, root, config=None):
        self.exe = Path(build_dir) / "device" / "logd" / "alder-logd"
        self.root = Path(root)
        self.sock = self.root / "run/alder/log.sock"
        self.api = self.root / "run/alder/logd.sock"
        self.store = self.root / "var/lib/alder/log"
        self.boot_file = self.root / "boot_id"
        self.proc = None
        self.client = None
        self.root.mkdir(parents=True, exist_ok=True)
        self.new_boot()
        if config is not None:
            (self.root / "config").mkdir(exist_ok=True)
            (self.root / "config" / "logd.json").write_text(json.dumps(config))

    def new_boot(self):
        """As if the device rebooted: the next start reads another boot id."""
        self.boot = uuid.uuid4().hex
        self.boot_file.write_text(str(uuid.UUID(self.boot)) + "\n")

    def start(self, env=None):
        self.proc = subprocess.Popen([str(self.exe), "--root", str(self.root), "--boot-id-file", str(self.boot_file)],
                                     stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "ALDER_LOG_TARGET": "stderr", **(env or {})})
        deadline = time.monotonic() + 10
        while True:
            assert self.proc.poll() is None, self.proc.stderr.read()
            try:
                self.client = IpcClient(self.api)
                break
            except OSError:
                assert time.monotonic() < deadline, "alder-logd did not start"
                time.sleep(0.02)

    def stop(self):
        self.client.close()
        self.proc.send_signal(signal.SIGTERM)
        err = self.proc.communicate(timeout=30)[1]
        assert self.proc.returncode == 0, err
        assert "Sanitizer" not in err and "runtime error" not in err, err
        return err

    def kill(self):
        self.client.close()
        self.proc.kill()
        self.proc.wait(timeout=10)

    def send(self, fields, sender=None):
        s = sender or socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendto(native(fields) if isinstance(fields, dict) else fields, str(self.sock))
        if not sender:
            s.close()

    def call(self, method, params=None, timeout=10):
        return self.client.call(method, params, timeout)

    def ok(self, method, params=None, timeout=10):
        r = self.call(method, params, timeout)
        assert "result" in r, r
        return r["result"]

    def query(self, **params):
        return self.ok("log.query", params)

    def status(self):
        return self.ok("log.status")

    def wait_for(self, predicate, timeout=20, **params):
        """Polls log.query(**params) until predicate(entries) holds; returns the entries."""
        deadline = time.monotonic() + timeout
        while True:
            entries = self.all_entries(**params)
            if predicate(entries):
                return entries
            assert time.monotonic() < deadline, f"timed out; last entries: {entries[-5:]}"
            time.sleep(0.05)

    def all_entries(self, **params):
        out, since = [], params.pop("since_seq", 1)
        while True:
            r = self.query(since_seq=since, limit=10000, **params)
            out += r["entries"]
            if not r["more"]:
                return out
            since = r["next_seq"]

    def store_bytes(self):
        return sum(p.stat().st_size for p in self.store.iterdir() if p.is_file())

    def segments(self):
        return sorted(p for p in self.store.iterdir() if p.name.endswith(".seg"))

    def rss_kb(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0
