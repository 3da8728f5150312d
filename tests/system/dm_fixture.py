"""alder-dm for system tests: the real service on loopback ports, its REST API,
and a small CoAP client (RFC 7252 encoding) for exact registration requests
and malformed datagrams. Third-party peers (coap-client, coap-server from
Debian's libcoap3-bin) are driven from the tests."""
import base64
import json
import os
import random
import re
import signal
import socket
import ssl
import struct
import subprocess
import time
import urllib.request
import urllib.error

# CoAP codes as (class << 5) | detail.
GET, POST, PUT, DELETE = 1, 2, 3, 4
CON, NON, ACK, RST = 0, 1, 2, 3
OPT = {"observe": 6, "location-path": 8, "uri-path": 11, "content-format": 12, "uri-query": 15, "accept": 17,
       "block1": 27, "size1": 60}


def code_str(c):
    return f"{c >> 5}.{c & 31:02d}"


def free_port(kind=socket.SOCK_DGRAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _opt_nibble(v):
    if v < 13:
        return v, b""
    if v < 269:
        return 13, bytes([v - 13])
    return 14, struct.pack(">H", v - 269)


def encode(mtype, code, mid, token=b"", options=(), payload=b""):
    """A CoAP message; options is a list of (number, bytes) in any order."""
    out = bytearray([0x40 | (mtype << 4) | len(token), code]) + struct.pack(">H", mid) + token
    last = 0
    for num, val in sorted(options, key=lambda o: o[0]):
        d, dx = _opt_nibble(num - last)
        l, lx = _opt_nibble(len(val))
        out += bytes([(d << 4) | l]) + dx + lx + val
        last = num
    if payload:
        out += b"\xff" + payload
    return bytes(out)


def decode(data):
    """(type, code, mid, token, {number: [values]}, payload)."""
    mtype, tkl = (data[0] >> 4) & 3, data[0] & 15
    code, mid = data[1], struct.unpack(">H", data[2:4])[0]
    token = data[4:4 + tkl]
    i, num, opts = 4 + tkl, 0, {}
    while i < len(data) and data[i] != 0xFF:
        d, l = data[i] >> 4, data[i] & 15
        i += 1
        for kind in ("d", "l"):
            v = d if kind == "d" else l
            if v == 13:
                v, i = data[i] + 13, i + 1
            elif v == 14:
                v, i = struct.unpack(">H", data[i:i + 2])[0] + 269, i + 2
            if kind == "d":
                d = v
            else:
                l = v
        num += d
        opts.setdefault(num, []).append(data[i:i + l])
        i += l
    payload = data[i + 1:] if i < len(data) else b""
    return mtype, code, mid, token, opts, payload


def uint_opt(v):
    return v.to_bytes((v.bit_length() + 7) // 8, "big") if v else b""


class CoapClient:
    """One UDP socket (a device's address); request() waits for the answer to its token."""

    def __init__(self, port, host="127.0.0.1", bind=("127.0.0.1", 0)):
        self.dst = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(bind)
        self.sock.settimeout(5)
        self.mid = random.randrange(65536)

    @property
    def port(self):
        return self.sock.getsockname()[1]

    def close(self):
        self.sock.close()

    def request(self, code, path, query=(), payload=b"", ct=None, mtype=CON, extra=()):
        self.mid = (self.mid + 1) & 0xFFFF
        token = os.urandom(4)
        opts = [(OPT["uri-path"], seg.encode()) for seg in path.strip("/").split("/") if seg]
        opts += [(OPT["uri-query"], q.encode()) for q in query]
        if ct is not None:
            opts.append((OPT["content-format"], uint_opt(ct)))
        opts += list(extra)
        self.sock.sendto(encode(mtype, code, self.mid, token, opts, payload), self.dst)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            data, _ = self.sock.recvfrom(65536)
            m = decode(data)
            if m[3] == token:
                return Answer(*m)
        raise TimeoutError(f"no answer to {code_str(code)} {path}")

    def register(self, ep, lt=60, version="1.1", links="</1/0>,</3/0>", extra_query=()):
        q = [f"ep={ep}", f"lt={lt}", f"lwm2m={version}", *extra_query]
        return self.request(POST, "/rd", q, links.encode(), ct=40)


class Answer:
    def __init__(self, mtype, code, mid, token, opts, payload):
        self.type, self.code, self.mid, self.token, self.opts, self.payload = mtype, code, mid, token, opts, payload

    @property
    def code_str(self):
        return code_str(self.code)

    @property
    def location(self):
        return "/".join(v.decode() for v in self.opts.get(OPT["location-path"], []))

    def __repr__(self):
        return f"<{self.code_str} {self.payload!r}>"


class HttpError(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status, self.body = status, body


class Dm:
    def __init__(self, build_dir, workdir, extra_args=()):
        self.exe = build_dir / "dm" / "alder-dm"
        assert self.exe.exists(), f"{self.exe} not built"
        self.dir = workdir
        self.db = workdir / "dm.db"
        self.key_file = workdir / "admin.key"
        self.coap_port = free_port()
        self.coaps_port = free_port()
        self.http_port = free_port(socket.SOCK_STREAM)
        self.extra_args = list(extra_args)
        self.proc = None
        self.key = None
        self.scheme, self.ssl_context = "http", None

    def use_https(self, ca_file):
        """REST calls over https, trusting only ca_file."""
        self.scheme, self.ssl_context = "https", ssl.create_default_context(cafile=str(ca_file))

    def run(self, *args, check=True):
        p = subprocess.run([str(self.exe), *args, "--db", str(self.db)], capture_output=True, text=True, timeout=30)
        if check:
            assert p.returncode == 0, p.stderr
        return p

    def start(self, *extra):
        self.stderr = open(self.dir / "alder-dm.log", "a")
        args = [str(self.exe), "--db", str(self.db), "--address", "127.0.0.1", "--coap-port", str(self.coap_port),
                "--coaps-port", str(self.coaps_port), "--http-port", str(self.http_port), "--admin-key-file",
                str(self.key_file), "--pull-timeout", "2", *self.extra_args, *extra]
        self.proc = subprocess.Popen(args, stderr=self.stderr, env={**os.environ, "ALDER_LOG_TARGET": "stderr"})
        deadline = time.monotonic() + 15
        while True:
            assert self.proc.poll() is None, self.log()
            try:
                with socket.create_connection(("127.0.0.1", self.http_port), timeout=0.2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "alder-dm did not come up: " + self.log()
                time.sleep(0.05)
        if self.key_file.exists():
            self.key = self.key_file.read_text().strip()

    def log(self):
        return (self.dir / "alder-dm.log").read_text()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=20)
        self.stderr.close()
        log = self.log()
        assert rc == 0, log
        assert "Sanitizer" not in log and "runtime error" not in log, log
        return log

    def alive(self):
        return self.proc.poll() is None

    # ---- REST ----
    def http(self, method, path, body=None, headers=None, key=..., raw=False, timeout=30):
        url = f"{self.scheme}://127.0.0.1:{self.http_port}{path}"
        h = dict(headers or {})
        if key is ...:
            key = self.key
        if key is not None:
            h["Authorization"] = f"Bearer {key}"
        data = None
        if body is not None:
            if isinstance(body, (bytes, str)):
                data = body.encode() if isinstance(body, str) else body
            else:
                data = json.dumps(body).encode()
                h.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(url, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ssl_context) as r:
                out = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            out, status = e.read(), e.code
            if not raw:
                raise HttpError(status, json.loads(out) if out else None)
        if raw:
            return status, out
        return status, (json.loads(out) if out else None)

    def get(self, path, **kw):
        return self.http("GET", path, **kw)[1]

    def device(self, ep):
        found = self.get(f"/v3/devices/?endpoint_name__eq={ep}")["data"]
        assert len(found) == 1, found
        return found[0]

    def pull_until(self, pred, timeout=15):
        """Pulls notification messages until pred(message) is true for one; returns all collected messages."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, msg = self.http("GET", "/v2/notification/pull")
            if status == 200:
                seen.append(msg)
                if pred(msg):
                    return seen
        raise AssertionError(f"no matching notification in {timeout} s: {seen}")

    def async_result(self, async_id, timeout=20):
        found = self.pull_until(lambda m: any(a["id"] == async_id for a in m.get("async-responses", [])), timeout)
        for m in found:
            for a in m.get("async-responses", []):
                if a["id"] == async_id:
                    return a


def b64(s):
    return base64.b64decode(s)


def coap_client(*args, timeout=30):
    """Runs coap-client (-notls or -openssl by scheme): (returncode, stdout+stderr)."""
    url = args[-1]
    tool = "coap-client-openssl" if url.startswith("coaps") else "coap-client-notls"
    p = subprocess.run([tool, *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def location_of(output):
    """rd/<id> from coap-client -v 7 output."""
    m = re.search(r"Location-Path:rd, Location-Path:([0-9a-f]+)", output)
    assert m, output
    return m.group(1)
