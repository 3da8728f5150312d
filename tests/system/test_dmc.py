"""alder-dmc, the LwM2M client, against real peers on loopback:

- tests/helpers/lwm2m-peer: a minimal LwM2M server on libcoap (UDP and
  DTLS-PSK) that prints what it receives and sends the requests we script;
- coap-rd-notls / coap-rd-openssl from Debian's libcoap3-bin: a third-party
  CoRE resource directory (UDP, DTLS-PSK, DTLS with certificates).

Everything waits for events with deadlines; nothing sleeps for a result.
"""
import functools
import hashlib
import http.server
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

CORE_OBJECTS = ("</1/0>", "</3/0>")


def free_udp_ports(n):
    """A base port with n consecutive free UDP ports on 127.0.0.1."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n > 65535:
            continue
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free UDP ports")


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class Peer:
    """tests/helpers/lwm2m-peer: events as dicts, commands on stdin."""

    def __init__(self, build_dir, port, psk=None, serve=None):
        args = [str(build_dir / "tests/helpers/lwm2m-peer"), str(port)]
        if psk:
            args += list(psk)
        self.port = port
        env = {**os.environ, **({"LWM2M_PEER_SERVE": str(serve)} if serve else {})}
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, env=env)
        self.events = []
        self._buf = ""
        self.wait("ready", timeout=5)

    def _pump(self, timeout):
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            return
        data = os.read(self.proc.stdout.fileno(), 65536).decode()
        if not data:
            raise AssertionError("lwm2m-peer exited")
        self._buf += data
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            self.events.append(json.loads(line))

    def wait(self, name, timeout=10, pred=lambda e: True, start=0):
        """The first event named `name` at index >= start matching pred."""
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events[start:]:
                if e["event"] == name and pred(e):
                    return e
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no '{name}' event within {timeout} s; events: {self.events[-10:]}")
            self._pump(min(left, 0.2))

    def drain(self, seconds):
        """Reads what arrives for `seconds` (to start a quiet span after what is in flight)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._pump(deadline - time.monotonic())

    def mark(self):
        return len(self.events)

    def request(self, line, timeout=10, token_of=None):
        """Sends a command; its answer (a cancel is answered on the token of the observation `token_of`)."""
        start = self.mark()
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        sent = self.wait("sent", start=start)
        want = token_of["id"] if token_of else sent["id"]
        return self.wait("response", timeout, lambda e: e["id"] == want, start)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)


class Dmc:
    def __init__(self, build_dir, root, port, **server):
        self.exe = build_dir / "device/dmc/alder-dmc"
        self.root = root
        self.log = root / "dmc.log"
        (root / "config").mkdir(parents=True, exist_ok=True)
        self.marker = root / "rebooted"
        self.config = {
            "endpoint": "dev-1",
            "server": {"uri": f"coap://127.0.0.1:{port}", "lifetime": 60, **server},
            "device": {"manufacturer": "Alder Test", "model": "QEMU virt", "serial_number": "SN-0001",
                       "firmware_version": "1.2.3",
                       "reboot_command": ["/bin/sh", "-c", f"echo reboot > {self.marker}"]},
            "retry": {"initial_ms": 200, "max_ms": 1000},
            "coap": {"ack_timeout_ms": 300, "max_retransmit": 1},
            "observe_poll_ms": 100,
        }
        self.proc = None

    def write_config(self, config=None):
        (self.root / "config/dmc.json").write_text(json.dumps(config or self.config))

    def start(self):
        self.write_config()
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen([str(self.exe), "--root", str(self.root)], stderr=self.logf,
                                     env={**os.environ, "ALDER_LOG_TARGET": "stderr", "ALDER_LOG_LEVEL": "debug"})
        return self

    def text(self):
        return self.log.read_text()

    def wait_log(self, pattern, timeout=10, count=1):
        def found():
            assert self.proc.poll() is None or count == 0, f"alder-dmc exited: {self.text()}"
            return len(re.findall(pattern, self.text())) >= count
        try:
            wait_for(found, timeout, f"log /{pattern}/ x{count}")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- alder-dmc log ---\n{self.text()}") from None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=20)
        self.logf.close()
        text = self.text()
        assert "Sanitizer" not in text and "runtime error" not in text, text
        return rc


@pytest.fixture
def ports():
    return free_udp_ports(2)


@pytest.fixture
def peers(build_dir):
    made = []

    def make(port, psk=None, serve=None):
        p = Peer(build_dir, port, psk, serve)
        made.append(p)
        return p
    yield make
    for p in made:
        p.close()


@pytest.fixture
def dmcs(build_dir, tmp_path):
    made = []

    def make(port, name="dev", **server):
        d = Dmc(build_dir, tmp_path / name, port, **server)
        made.append(d)
        return d
    yield make
    for d in made:
        if d.proc and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


def query(e):
    return dict(q.split("=", 1) if "=" in q else (q, None) for q in e["query"])


def tlv_decode(data):
    """OMA TLV → {id: bytes | {instance id: bytes}} (resources and multiple resources of one instance)."""
    out, i = {}, 0
    while i < len(data):
        t = data[i]
        i += 1
        kind = t >> 6
        ident = int.from_bytes(data[i:i + (2 if t & 0x20 else 1)], "big")
        i += 2 if t & 0x20 else 1
        ltype = (t >> 3) & 3
        if ltype:
            length = int.from_bytes(data[i:i + ltype], "big")
            i += ltype
        else:
            length = t & 7
        value = data[i:i + length]
        i += length
        out[ident] = tlv_decode(value) if kind == 2 else value
    return out


# ---- registration --------------------------------------------------------------------------------------------

def test_register_update_deregister(peers, dmcs, ports):
    peer = peers(ports)
    dmc = dmcs(ports, lifetime=4).start()
    reg = peer.wait("register")
    q = query(reg)
    assert q == {"ep": "dev-1", "lt": "4", "lwm2m": "1.1", "b": "U"}
    links = reg["text"].split(",")
    assert links[0] == '</>;rt="oma.lwm2m";ct="60 110 112 11542"'
    for o in CORE_OBJECTS:
        assert o in links
    assert not any(link.startswith("</0") for link in links), "the Security object is never registered"
    dmc.wait_log(r"registered with coap://127\.0\.0\.1:\d+ as dev-1 \(location /rd/1, lifetime 4 s\)")
    # Updates at 3/4 of the lifetime: the first after ~3 s, with nothing changed: no query, no payload.
    t0 = time.monotonic()
    upd = peer.wait("update", timeout=6)
    assert 2.0 < time.monotonic() - t0 + 0.2 < 4.5
    assert upd["query"] == [] and upd["text"] == "" and upd["location"] == "rd/1"
    peer.wait("update", timeout=6, start=peer.events.index(upd) + 1)
    assert dmc.stop() == 0
    peer.wait("deregister", timeout=2)
    assert "de-registered from" in dmc.text()


def test_register_over_dtls_psk(peers, dmcs, ports):
    peer = peers(ports, psk=("dev-1", "00112233445566778899aabbccddeeff"))
    dmc = dmcs(ports + 1, lifetime=30, psk_identity="dev-1", psk_key="00112233445566778899aabbccddeeff")
    dmc.config["server"]["uri"] = f"coaps://127.0.0.1:{ports + 1}"
    dmc.start()
    reg = peer.wait("register")
    assert reg["dtls"] is True
    # The device answers over the same DTLS session.
    r = peer.request("get /3/0/0")
    assert (r["code"], r["text"], r["ct"]) == ("2.05", "Alder Test", 0)
    assert dmc.stop() == 0
    peer.wait("deregister", timeout=3)
    assert "00112233445566778899aabbccddeeff" not in dmc.text(), "the PSK never goes into the log"


def test_wrong_psk_is_retried_with_backoff(peers, dmcs, ports):
    peer = peers(ports, psk=("dev-1", "00112233445566778899aabbccddeeff"))
    dmc = dmcs(ports + 1, psk_identity="dev-1", psk_key="ffeeddccbbaa99887766554433221100")
    dmc.config["server"]["uri"] = f"coaps://127.0.0.1:{ports + 1}"
    dmc.start()
    dmc.wait_log(r"cannot register with coaps://127\.0\.0\.1:\d+: .*; registering again in [\d.]+ s \(attempt 3\)",
                 timeout=20)
    delays = [float(x) for x in re.findall(r"registering again in ([\d.]+) s", dmc.text())]
    assert delays[0] <= 0.2 and all(0.1 <= d <= 1.0 for d in delays), delays
    assert not any(e["event"] == "register" for e in peer.events)
    assert dmc.stop() == 0


def test_backoff_until_the_server_comes_up(peers, dmcs, ports):
    dmc = dmcs(ports).start()
    # No server: each attempt fails (ICMP port unreachable), the delay doubles up to retry.max_ms with jitter.
    dmc.wait_log(r"cannot register with .*registering again in [\d.]+ s \(attempt 5\)", timeout=20)
    delays = [float(x) for x in re.findall(r"registering again in ([\d.]+) s", dmc.text())]
    assert delays[:4] == sorted(delays[:4]) or max(delays) <= 1.0, delays
    assert 0.1 <= delays[0] <= 0.2 and max(delays) <= 1.0, delays
    peer = peers(ports)
    peer.wait("register", timeout=10)
    dmc.wait_log("registered with")
    assert dmc.stop() == 0


def test_sighup_reload(peers, dmcs, ports, tmp_path):
    first, second = peers(ports), peers(ports + 1)
    dmc = dmcs(ports, lifetime=60).start()
    first.wait("register")
    dmc.wait_log("registered with")
    # A new lifetime: an Update that says so.
    dmc.config["server"]["lifetime"] = 90
    dmc.write_config()
    dmc.signal(signal.SIGHUP)
    upd = first.wait("update", pred=lambda e: "lt=90" in e["query"])
    assert upd["text"] == ""
    assert first.request("get /1/0/1")["text"] == "90"
    # A broken file is refused with the reason; the registration goes on.
    (dmc.root / "config/dmc.json").write_text('{"endpoint": "dev-1", "server": {"uri": "http://x"}}')
    dmc.signal(signal.SIGHUP)
    dmc.wait_log(r"reload: keeping the running configuration: .*dmc\.json: field 'server\.uri': 'http://x': "
                 r"scheme 'http' not supported \(coap:// or coaps://\)")
    assert first.request("get /3/0/0")["code"] == "2.05"
    # Another server: De-register from the old one, Register with the new one.
    dmc.config["server"]["uri"] = f"coap://127.0.0.1:{ports + 1}"
    dmc.write_config()
    dmc.signal(signal.SIGHUP)
    first.wait("deregister")
    second.wait("register")
    assert second.request("get /3/0/2")["text"] == "SN-0001"
    assert dmc.stop() == 0


@pytest.mark.parametrize("config,message", [
    ({"endpoint": "dev-1"}, "field 'server': missing"),
    ({"endpoint": "dev-1", "server": {"uri": "coaps://127.0.0.1"}},
     "field 'server': a coaps:// server needs credentials: psk_identity + psk_key, or certificate + private_key + ca"),
    ({"endpoint": "dev-1", "server": {"uri": "coaps://127.0.0.1", "psk_identity": "x", "psk_key": "zz"}},
     "field 'server.psk_key': not hex"),
    ({"endpoint": "dev-1", "server": {"uri": "coap://127.0.0.1", "lifetime": "60"}},
     "field 'server.lifetime': expected integer, got string"),
    ({"endpoint": "dev-1", "server": {"uri": "coap://127.0.0.1"}, "device": {"reboot_comand": []}},
     "field 'device.reboot_comand': unknown field"),
])
def test_bad_config_names_file_and_field(build_dir, tmp_path, config, message):
    (tmp_path / "config").mkdir()
    path = tmp_path / "config/dmc.json"
    path.write_text(json.dumps(config))
    for extra in (["--check-config"], []):
        p = subprocess.run([str(build_dir / "device/dmc/alder-dmc"), "--root", str(tmp_path), *extra],
                           capture_output=True, text=True, timeout=10, env={**os.environ, "ALDER_LOG_TARGET": "stderr"})
        assert p.returncode == 1
        assert f"configuration: {path}: {message}" in p.stderr, p.stderr


def test_missing_config(build_dir, tmp_path):
    p = subprocess.run([str(build_dir / "device/dmc/alder-dmc"), "--root", str(tmp_path)], capture_output=True,
                       text=True, timeout=10, env={**os.environ, "ALDER_LOG_TARGET": "stderr"})
    assert p.returncode == 1
    assert f"open '{tmp_path}/config/dmc.json': No such file or directory" in p.stderr


# ---- third-party peers: Debian's coap-rd ------------------------------------------------------------------------

class Rd:
    """coap-rd-notls / coap-rd-openssl: a CoRE resource directory (libcoap's example server)."""

    def __init__(self, tmp_path, port, *args, tls=False):
        self.port = port
        self.logpath = tmp_path / f"rd-{port}.log"
        exe = "coap-rd-openssl" if tls else "coap-rd-notls"
        self.proc = subprocess.Popen([exe, "-A", "127.0.0.1", "-p", str(port), "-v", "7", *args],
                                     stdout=open(self.logpath, "w"), stderr=subprocess.STDOUT)
        wait_for(lambda: "created UDP" in self.logpath.read_text(), 5, "coap-rd to listen")

    def log(self):
        return self.logpath.read_text(errors="replace")

    def registrations(self):
        """Registrations listed in /.well-known/core (asked over plain UDP, which the RD always serves)."""
        p = subprocess.run(["coap-client-notls", "-B", "3", f"coap://127.0.0.1:{self.port}/.well-known/core"],
                           capture_output=True, text=True, timeout=10)
        return re.findall(r"</(rd/[^>]+)>", p.stdout)

    def get(self, path):
        return subprocess.run(["coap-client-notls", "-B", "3", f"coap://127.0.0.1:{self.port}/{path}"],
                              capture_output=True, text=True, timeout=10).stdout.strip()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def rds(tmp_path):
    made = []

    def make(port, *args, tls=False):
        r = Rd(tmp_path, port, *args, tls=tls)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def test_coap_rd_notls(rds, dmcs, ports):
    """coap-rd 4.3.1 takes Register; it answers an Update with 4.05 (it has none) and crashes on DELETE
    (double free): the client registers again after a refused Update, and its De-register reaches the RD."""
    rd = rds(ports)
    dmc = dmcs(ports, lifetime=3).start()
    dmc.wait_log("registered with")
    regs = wait_for(rd.registrations, 5, "a registration at the RD")
    links = rd.get(regs[0]).split(",")
    for o in CORE_OBJECTS:
        assert o in links
    log = rd.log()
    assert re.search(r"c:POST .*Uri-Path:rd, Content-Format:application/link-format, Uri-Query:ep=dev-1, "
                     r"Uri-Query:lt=3, Uri-Query:lwm2m=1\.1, Uri-Query:b=U \]", log), log
    # The Update is LwM2M's POST to the location; this RD refuses it and the client registers again.
    dmc.wait_log(r"the server answered 4\.05.* to the Update: registering again", timeout=6)
    dmc.wait_log("registered with", count=2)
    loc = re.findall(r"location /(rd/[^,]+),", dmc.text())[-1]
    assert re.search(r"c:POST .*\[ Uri-Path:rd, Uri-Path:" + re.escape(loc.split("/")[1]) + r" \]", rd.log()) or \
        re.search(r"c:POST .*\[ Uri-Path:rd, Uri-Path:" + re.escape(regs[0].split("/")[1]) + r" \]", rd.log())
    dmc.stop()
    assert re.search(r"c:DELETE .*\[ Uri-Path:rd, Uri-Path:" + re.escape(loc.split("/")[1]) + r" \]", rd.log())


def test_coap_rd_openssl_psk(rds, dmcs, ports):
    """Register over real DTLS-PSK with coap-rd-openssl (DTLS on port + 1)."""
    rd = rds(ports, "-k", "secretPSK", tls=True)
    dmc = dmcs(ports + 1, psk_identity="dev-1", psk_key=b"secretPSK".hex())
    dmc.config["server"]["uri"] = f"coaps://127.0.0.1:{ports + 1}"
    dmc.start()
    dmc.wait_log("registered with coaps://")
    assert wait_for(rd.registrations, 5, "a registration at the RD")
    assert re.search(r"127\.0\.0\.1:\d+ <-> 127\.0\.0\.1:\d+ .*DTLS", rd.log())
    dmc.stop()


def make_pki(d):
    """A CA, a server certificate (with its key, as coap-rd wants it) and a device certificate (P-256)."""
    d.mkdir()
    def ossl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)
    for name in ("ca", "server", "device", "other-ca"):
        ossl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key")
    for ca in ("ca", "other-ca"):
        ossl("req", "-new", "-x509", "-key", f"{ca}.key", "-subj", f"/CN=Alder test {ca}", "-days", "2",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
             "-out", f"{ca}.pem")
    for name in ("server", "device"):
        ossl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={'127.0.0.1' if name == 'server' else 'dev-1'}",
             "-out", f"{name}.csr")
        ossl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-out", f"{name}.pem")
    (d / "server-with-key.pem").write_text((d / "server.pem").read_text() + (d / "server.key").read_text())
    return d


def test_coap_rd_openssl_certificates(rds, dmcs, ports, tmp_path):
    """Register over DTLS with X.509 on both sides (coap-rd-openssl checks the device's certificate too)."""
    pki = make_pki(tmp_path / "pki")
    rd = rds(ports, "-c", str(pki / "server-with-key.pem"), "-C", str(pki / "ca.pem"), tls=True)
    dmc = dmcs(ports + 1, certificate=str(pki / "device.pem"), private_key=str(pki / "device.key"),
               ca=str(pki / "ca.pem"))
    dmc.config["server"]["uri"] = f"coaps://127.0.0.1:{ports + 1}"
    dmc.start()
    dmc.wait_log("registered with coaps://")
    assert wait_for(rd.registrations, 5, "a registration at the RD")
    dmc.stop()
    # A server whose certificate does not chain to the configured CA is refused.
    other = dmcs(ports + 1, name="other", certificate=str(pki / "device.pem"), private_key=str(pki / "device.key"),
                 ca=str(pki / "other-ca.pem"))
    other.config["server"]["uri"] = f"coaps://127.0.0.1:{ports + 1}"
    other.start()
    other.wait_log(r"cannot register with coaps://.*registering again", timeout=15)
    assert "registered with" not in other.text()
    other.stop()


# ---- the device-management interface, through lwm2m-peer --------------------------------------------------------

@pytest.fixture
def registered(peers, dmcs, ports):
    peer = peers(ports)
    dmc = dmcs(ports).start()
    peer.wait("register")
    dmc.wait_log("registered with")
    yield peer, dmc
    assert dmc.stop() == 0


def test_read_device_object(registered):
    peer, dmc = registered
    r = peer.request("get /3/0 11542")
    assert (r["code"], r["ct"]) == ("2.05", 11542)
    res = tlv_decode(bytes.fromhex(r["hex"]))
    assert res[0] == b"Alder Test" and res[1] == b"QEMU virt" and res[2] == b"SN-0001" and res[3] == b"1.2.3"
    assert res[16] == b"UQ"
    assert res[11] == {0: b"\x00"}  # Error Code: 0, no error
    total = int.from_bytes(res[21], "big", signed=True)
    free = int.from_bytes(res[10], "big", signed=True)
    assert 0 < free <= total
    now = int(peer.request("get /3/0/13")["text"])
    assert abs(now - time.time()) < 5
    # Single resources default to text/plain; Accept'd formats are honoured or refused with 4.06.
    assert peer.request("get /3/0/1 0")["text"] == "QEMU virt"
    r = peer.request("get /3/0 0")
    assert r["code"] == "4.06" and "needs TLV (11542), SenML-JSON (110) or SenML-CBOR (112)" in r["text"]


def test_errors_have_codes_and_diagnostics(registered):
    peer, _ = registered
    cases = [
        ("get /0/0", "4.01", "/0/0: the LWM2M Security object is accessible to bootstrap servers only"),
        ("get /3/0/4", "4.05", "/3/0/4: resource Reboot is not readable (it is executable)"),
        ("get /3/1", "4.04", "/3/1: no such Device instance"),
        ("get /3/0/99", "4.04", "/3/0/99: object Device has no resource 99"),
        ("get /4242", "4.04", "/4242: object 4242 is not implemented by this client"),
        ("get /3/x", "4.04", "Uri-Path segment 2 ('x') is not an LwM2M id (0-65534)"),
        ("put /3/0/0 0 41", "4.05", "/3/0/0: resource Manufacturer is not writable"),
        ("put /3/0/13 0 6e6f77", "4.00", None),
        ("put /3/0/13 11543 7b7d", "4.15", None),
        ("post /3/0/5 -1 -", "4.05", "/3/0/5: Factory Reset is not configured on this device "
                                     "(device.factory_reset_command)"),
        ("post /3/0/4 -1 " + b"x".hex(), "4.00",
         "/3/0/4: Execute arguments: byte 0: expected an argument number 0-9"),
        ("delete /3/0", "4.05", "/3/0: instances of Device cannot be deleted"),
        ("attrs /3/0/0 gt=5", "4.00",
         "/3/0/0: Write-Attributes: attribute 'gt' applies to numeric resources only (this one is not numeric)"),
    ]
    for cmd, code, text in cases:
        r = peer.request(cmd)
        assert r["code"] == code, (cmd, r)
        if text:
            assert r["text"] == text, (cmd, r)


def test_write_and_read_back(registered):
    peer, _ = registered
    assert peer.request("put /3/0/14 0 " + b"+05:30".hex())["code"] == "2.04"
    assert peer.request("get /3/0/14")["text"] == "+05:30"
    # Current Time: the device keeps an offset, the system clock is not touched.
    target = int(time.time()) + 3600
    assert peer.request(f"put /3/0/13 0 {str(target).encode().hex()}")["code"] == "2.04"
    assert abs(int(peer.request("get /3/0/13")["text"]) - target) <= 2
    # Server object: the lifetime written goes into an Update.
    start = peer.mark()
    assert peer.request("put /1/0/1 0 " + b"120".hex())["code"] == "2.04"
    peer.wait("update", pred=lambda e: "lt=120" in e["query"], start=start)


def test_execute_reboot_runs_the_command(registered):
    peer, dmc = registered
    assert not dmc.marker.exists()
    assert peer.request("post /3/0/4 -1 -")["code"] == "2.04"
    wait_for(dmc.marker.exists, 5, "the reboot command's marker")
    assert dmc.marker.read_text() == "reboot\n"
    dmc.wait_log(r"Reboot: /bin/sh exited with status 0")


def test_discover(registered):
    peer, _ = registered
    assert peer.request("attrs /3/0/10 pmin=2&pmax=30&st=1000")["code"] == "2.04"
    r = peer.request("get /3/0 40")
    assert r["ct"] == 40
    links = r["text"].split(",")
    assert links[0] == "</3/0>"
    assert "</3/0/10>;pmin=2;pmax=30;st=1000" in links
    assert "</3/0/11>;dim=1" in links and "</3/0/4>" in links


def test_observe_with_pmin_and_cancel(registered):
    peer, _ = registered
    assert peer.request("attrs /3/0/13 pmin=1")["code"] == "2.04"
    first = peer.request("observe /3/0/13")
    assert first["code"] == "2.05" and first["observe"] >= 0
    start = peer.mark()
    t0 = time.monotonic()
    n1 = peer.wait("notify", timeout=5, start=start)
    n2 = peer.wait("notify", timeout=5, start=peer.events.index(n1) + 1)
    assert int(n2["text"]) > int(n1["text"]) >= int(first["text"])
    assert n2["observe"] > n1["observe"]
    assert time.monotonic() - t0 >= 1.0  # pmin=1: not faster than once a second
    r = peer.request("cancel /3/0/13", token_of=first)
    assert r["code"] == "2.05" and r["observe"] == -1
    mark = peer.mark()
    time.sleep(2.5)  # absence of notifications over a span: nothing to poll for
    assert not [e for e in peer.events[mark:] if e["event"] == "notify"]


def test_observe_notifies_on_write(registered):
    peer, _ = registered
    assert peer.request("observe /1/0/1")["text"] == "60"
    start = peer.mark()
    assert peer.request("put /1/0/1 0 " + b"75".hex())["code"] == "2.04"
    n = peer.wait("notify", start=start)
    assert (n["path"], n["text"]) == ("/1/0/1", "75")


def test_queue_mode(peers, dmcs, ports):
    peer = peers(ports)
    dmc = dmcs(ports, lifetime=6, queue_mode=True, awake_time_ms=1000).start()
    reg = peer.wait("register")
    assert "Q" in reg["query"]
    assert peer.request("observe /3/0/13")["code"] == "2.05"
    dmc.wait_log("queue mode: sleeping until the next Update")
    peer.drain(0.3)
    asleep = peer.mark()
    upd = peer.wait("update", timeout=8, start=asleep)
    i = peer.events.index(upd)
    # Asleep: no notification went out; awake again with the Update, the stored change follows it.
    assert not [e for e in peer.events[asleep:i] if e["event"] == "notify"]
    peer.wait("notify", timeout=3, start=i)
    assert dmc.stop() == 0


# ---- objects 4, 9 and 33900 ------------------------------------------------------------------------------------------

def senml(r):
    """SenML-JSON answer → {path: value}."""
    out, base = {}, ""
    for rec in json.loads(r["text"]):
        base = rec.get("bn", base)
        value = next(rec[k] for k in ("v", "vs", "vb", "vd", "vlo") if k in rec)
        out[base + rec.get("n", "")] = value
    return out


def test_connectivity_monitoring(registered):
    peer, _ = registered
    r = peer.request("get /4/0 110")
    assert (r["code"], r["ct"]) == ("2.05", 110)
    values = senml(r)
    routes = [line.split() for line in Path("/proc/net/route").read_text().splitlines()[1:]]
    default = [f for f in routes if f[1] == "00000000"]
    if default:
        iface = default[0][0]
        wireless = Path(f"/sys/class/net/{iface}/wireless").exists()
        assert values["/4/0/0"] == (21 if wireless else 41)
        addrs = json.loads(subprocess.run(["ip", "-j", "addr", "show", "dev", iface], capture_output=True,
                                          text=True, check=True).stdout)[0]["addr_info"]
        got = sorted(v for k, v in values.items() if k.startswith("/4/0/4/"))
        assert got == sorted(a["local"] for a in addrs)
        gw = socket.inet_ntoa(int(default[0][2], 16).to_bytes(4, "little"))
        assert gw in [v for k, v in values.items() if k.startswith("/4/0/5/")]
        if not wireless:
            assert peer.request("get /4/0/2")["code"] == "4.04"  # no radio, no signal strength


class IpcPeer:
    """A server of Alder's socket protocol (4-byte length + JSON, docs/api/ipc.md); answer() says what to reply."""

    def __init__(self, path):
        self.path = path
        self.calls = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.stop = False
        import threading
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.sock.settimeout(0.1)
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    while True:
                        head = conn.recv(4, socket.MSG_WAITALL)
                        if len(head) < 4:
                            break
                        req = json.loads(conn.recv(int.from_bytes(head, "big"), socket.MSG_WAITALL))
                        reply = {"id": req["id"], **self.answer(req["method"], req.get("params", {}))}
                        body = json.dumps(reply).encode()
                        conn.sendall(len(body).to_bytes(4, "big") + body)
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()
        self.path.unlink()


class FakeAppd(IpcPeer):
    """alder-appd's methods over a few apps in memory."""

    def __init__(self, path):
        self.apps = {"gateway": {"version": "1.0.0", "state": "running"},
                     "sensor": {"version": "2.1.0", "state": "stopped"}}
        super().__init__(path)

    def answer(self, method, params):
        self.calls.append((method, params.get("name")))
        name = params.get("name")
        if method == "app.list":
            return {"result": [{"name": n, **a} for n, a in sorted(self.apps.items())]}
        if name not in self.apps:
            return {"error": {"code": -2, "errno_name": "ENOENT", "message": f"alder-appd: app '{name}' not installed"}}
        if method == "app.start":
            self.apps[name]["state"] = "running"
        elif method == "app.stop":
            self.apps[name]["state"] = "stopped"
        elif method == "app.remove":
            del self.apps[name]
        elif method == "app.logs":
            return {"result": {"data": "hello from " + name + "\n", "offset": 0, "size": 0}}
        return {"result": {"name": name}}


def test_apps_through_appd(peers, dmcs, ports):
    peer = peers(ports)
    dmc = dmcs(ports)
    dmc.config["apps_poll_ms"] = 200
    appd = FakeAppd(dmc.root / "run/alder/appd.sock")
    try:
        dmc.start()
        reg = peer.wait("register")
        for link in ("</9>;ver=1.1", "</9/0>", "</9/1>", "</33900/0>", "</33900/1>"):
            assert link in reg["text"].split(","), reg["text"]
        # Instance ids follow the order apps were first seen and stay with their app.
        assert peer.request("get /33900/0/0")["text"] == "gateway"
        assert peer.request("get /9/1/0")["text"] == "sensor"
        assert peer.request("get /9/1/1")["text"] == "2.1.0"
        assert peer.request("get /9/1/12")["text"] == "0"
        assert peer.request("get /33900/1/7")["text"] == "hello from sensor\n"
        # Activate: answered at once, then app.start; the state shows it.
        assert peer.request("post /9/1/10 -1 -")["code"] == "2.04"
        wait_for(lambda: ("app.start", "sensor") in appd.calls, 5, "app.start")
        wait_for(lambda: peer.request("get /33900/1/2")["text"] == "running", 5, "the app running")
        assert peer.request("post /33900/0/9 -1 -")["code"] == "2.04"
        wait_for(lambda: ("app.stop", "gateway") in appd.calls, 5, "app.stop")
        # Uninstall: the instance goes, and an Update carries the new object list.
        start = peer.mark()
        assert peer.request("post /9/0/6 -1 -")["code"] == "2.04"
        upd = peer.wait("update", pred=lambda e: e["text"] != "", start=start)
        assert "</9/0>" not in upd["text"].split(",") and "</9/1>" in upd["text"].split(",")
        assert peer.request("get /9/0/0")["code"] == "4.04"
        r = peer.request("post /9/1/4 -1 -")
        assert r["code"] == "4.05" and "not implemented" in r["text"]
    finally:
        appd.close()
    # alder-appd gone: the objects stay, without instances, and the log says why.
    dmc.wait_log(r"Software Management \(9\) and Alder App \(33900\) have no instances while alder-appd does not "
                 r"answer: alder-appd at .*appd\.sock")
    upd = peer.wait("update", pred=lambda e: e["text"] and "</9/" not in e["text"])
    links = upd["text"].split(",")
    assert "</9>;ver=1.1" in links and "</33900>" in links
    assert dmc.stop() == 0


def test_apps_without_appd(registered):
    peer, dmc = registered
    dmc.wait_log(r"have no instances while alder-appd does not answer: alder-appd at .*/run/alder/appd\.sock")
    assert peer.request("get /9 40")["text"] == "</9>;ver=1.1"
    r = peer.request("get /33900/0/0")
    assert r["code"] == "4.04"


class FakeUpdated(IpcPeer):
    """alder-updated's update.install: records the digest of the file it is handed, or fails as told."""

    def __init__(self, path):
        self.installed = []
        self.error = None
        super().__init__(path)

    def answer(self, method, params):
        self.calls.append((method, params.get("path")))
        if method != "update.install":
            return {"error": {"code": -95, "errno_name": "EOPNOTSUPP", "message": "no"}}
        if self.error:
            return {"error": self.error}
        self.installed.append(hashlib.sha256(Path(params["path"]).read_bytes()).hexdigest())
        return {"result": {"reboot_required": True, "target_slot": "B"}}


def fw_state(peer):
    return int(peer.request("get /5/0/3")["text"]), int(peer.request("get /5/0/5")["text"])


def test_firmware_update_pull_over_coap(peers, dmcs, ports, tmp_path):
    image = os.urandom(300 * 1024 + 17)  # ~300 blocks of 1 KiB
    (tmp_path / "image.alupd").write_bytes(image)
    peer = peers(ports, serve=tmp_path / "image.alupd")
    dmc = dmcs(ports)
    updated = FakeUpdated(dmc.root / "run/alder/updated.sock")
    try:
        dmc.start()
        peer.wait("register")
        assert fw_state(peer) == (0, 0)
        assert peer.request("get /5/0/9")["text"] == "2"  # pull and push
        uri = f"coap://127.0.0.1:{ports}/fw/image".encode().hex()
        assert peer.request("put /5/0/1 0 " + uri)["code"] == "2.04"
        wait_for(lambda: fw_state(peer) == (2, 0), 20, "state Downloaded")
        assert (dmc.root / "var/lib/alder/dmc/firmware.bin").read_bytes() == image
        # Update: answered at once, installed by alder-updated from a thread; then the reboot command.
        assert peer.request("post /5/0/2 -1 -")["code"] == "2.04"
        wait_for(lambda: fw_state(peer) == (0, 1), 10, "state Idle, result 1 (success)")
        assert updated.installed == [hashlib.sha256(image).hexdigest()]
        wait_for(dmc.marker.exists, 5, "the reboot after the update")
        # Refused by the agent (a bad signature): back to Downloaded with result 5.
        updated.error = {"code": -74, "errno_name": "EBADMSG", "message": "alder-updated: signature does not verify"}
        assert peer.request("put /5/0/1 0 " + uri)["code"] == "2.04"
        wait_for(lambda: fw_state(peer) == (2, 0), 20, "state Downloaded")
        assert peer.request("post /5/0/2 -1 -")["code"] == "2.04"
        wait_for(lambda: fw_state(peer) == (2, 5), 10, "state Downloaded, result 5 (integrity)")
        dmc.wait_log("firmware update failed: alder-updated: signature does not verify")
        # An empty URI resets to Idle.
        assert peer.request("put /5/0/1 0 -")["code"] == "2.04"
        assert fw_state(peer) == (0, 0)
        assert not (dmc.root / "var/lib/alder/dmc/firmware.bin").exists()
    finally:
        updated.close()
    assert dmc.stop() == 0


def file_server(root, ctx=None):
    """http.server on loopback serving root; https when given an SSL context."""
    handler = functools.partial(QuietFiles, directory=str(root))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if ctx:
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"{'https' if ctx else 'http'}://127.0.0.1:{srv.server_address[1]}"


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    """Files, and /slow: 200 KiB announced, 1 KiB sent every 0.1 s (until the client goes away)."""

    def do_GET(self):
        if self.path != "/slow":
            return super().do_GET()
        self.send_response(200)
        self.send_header("Content-Length", str(200 << 10))
        self.end_headers()
        try:
            for _ in range(200):
                self.wfile.write(b"x" * 1024)
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass

    def log_message(self, *args):
        pass


def test_firmware_update_pull_over_http_and_https(peers, dmcs, ports, tmp_path):
    from test_dm import make_tls_certs
    certs = make_tls_certs(tmp_path / "certs")
    www = tmp_path / "www"
    www.mkdir()
    image = os.urandom(200 * 1024 + 17)
    (www / "image.alupd").write_bytes(image)
    (www / "huge.alupd").write_bytes(os.urandom(300 * 1024))

    def tls(name):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certs / f"{name}.pem", certs / f"{name}.key")
        return ctx

    servers = [file_server(www), file_server(www, tls("hook")), file_server(www, tls("bad-hook"))]
    (_, plain), (_, good), (_, bad) = servers
    peer = peers(ports)
    dmc = dmcs(ports)
    dmc.config["firmware"] = {"ca_file": str(certs / "ca.pem"), "max_bytes": 256 * 1024}
    fw = dmc.root / "var/lib/alder/dmc/firmware.bin"

    def pull(uri, state, timeout=20):
        assert peer.request("put /5/0/1 0 " + (uri.encode().hex() or "-"))["code"] == "2.04"
        wait_for(lambda: fw_state(peer) == state, timeout, f"{uri}: state/result {state}")

    try:
        dmc.start()
        peer.wait("register")
        r = peer.request("get /5/0/8 11542")  # protocols: CoAP, HTTP 1.1, HTTPS 1.1
        assert tlv_decode(bytes.fromhex(r["hex"])) == {8: {0: b"\x00", 1: b"\x02", 2: b"\x03"}}, r
        pull(plain + "/image.alupd", (2, 0))
        assert fw.read_bytes() == image
        dmc.wait_log(r"firmware downloaded: 204817 bytes from http://")
        pull("", (0, 0))
        assert not fw.exists()
        pull(good + "/image.alupd", (2, 0))
        assert fw.read_bytes() == image
        pull("", (0, 0))
        # Failures, each with its Update Result; the reason in the log.
        pull(bad + "/image.alupd", (0, 4))
        dmc.wait_log(r"firmware download failed: .*certificate")
        pull(plain + "/missing.alupd", (0, 7))
        pull(plain + "/huge.alupd", (0, 2))
        dmc.wait_log(r"larger than firmware.max_bytes \(262144\)")
        closed = free_tcp_port()
        pull(f"http://127.0.0.1:{closed}/image.alupd", (0, 4))
        pull("http://[::1/x", (0, 7))
        # Cancel while the transfer runs: Idle with result 10 at once, the part file gone when the thread ends.
        pull(plain + "/slow", (1, 0))
        time.sleep(0.5)
        r = peer.request("post /5/0/10 -1 -")
        assert r["code"] == "2.04", (r, fw_state(peer), dmc.text())
        assert fw_state(peer) == (0, 10)
        dmc.wait_log(r"state 1 -> 0, result 10")
        assert not (dmc.root / "var/lib/alder/dmc/firmware.bin.part").exists()
        dmc.wait_log(r"firmware download cancelled: the transfer stopped after \d+ bytes")
        pull(plain + "/image.alupd", (2, 0), timeout=20)
        assert fw.read_bytes() == image
        pull("", (0, 0))
        assert not fw.exists() and not (dmc.root / "var/lib/alder/dmc/firmware.bin.part").exists()
    finally:
        for srv, _ in servers:
            srv.shutdown()
    assert dmc.stop() == 0


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_firmware_update_refusals(registered):
    peer, dmc = registered
    cases = [("ftp://127.0.0.1/fw.bin", 9), ("coaps://127.0.0.1/fw", 9), ("coap://", 7), ("nonsense", 7)]
    for uri, result in cases:
        assert peer.request("put /5/0/1 0 " + uri.encode().hex())["code"] == "2.04"
        assert fw_state(peer) == (0, result), uri
    r = peer.request("post /5/0/2 -1 -")
    assert r["code"] == "4.00" and r["text"] == "/5/0/2: Update needs state Downloaded (2), not 0"
    # Push: the package in the Write itself (Block1 for 5000 bytes), then alder-updated is not there.
    assert peer.request("put /5/0/0 42 " + os.urandom(5000).hex())["code"] == "2.04"
    assert fw_state(peer) == (2, 0)
    assert peer.request("post /5/0/2 -1 -")["code"] == "2.04"
    wait_for(lambda: fw_state(peer) == (2, 8), 10, "result 8 (update failed)")
    dmc.wait_log(r"firmware update failed: alder-updated at .*updated\.sock: connect")
    assert peer.request("post /5/0/10 -1 -")["code"] == "2.04"  # Cancel
    assert fw_state(peer) == (0, 10)
