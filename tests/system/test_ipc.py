"""IPC end to end: the alder CLI and raw clients against a real libalder server
(tests/helpers/ipc-echo-server), over a Unix socket in a temp directory."""
import json
import os
import socket
import struct
import subprocess
import time

import pytest


class Server:
    def __init__(self, exe, path, *options):
        self.path = str(path)
        self.proc = subprocess.Popen([str(exe), *options, self.path], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", f"server did not start: {line!r} {self.proc.stderr.read()}"

    def stop(self):
        self.proc.terminate()
        out, err = self.proc.communicate(timeout=10)
        return self.proc.returncode, err


@pytest.fixture
def server(build_dir, tmp_path):
    exe = build_dir / "tests" / "helpers" / "ipc-echo-server"
    started = []

    def start(*options, name="t.sock"):
        s = Server(exe, tmp_path / name, *options)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            rc, err = s.stop()
            # a clean stop, and no sanitizer report in the server's stderr
            assert rc == 0, err
            assert "Sanitizer" not in err and "runtime error" not in err, err


def raw_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    return s


def frame(obj_or_bytes):
    body = obj_or_bytes if isinstance(obj_or_bytes, bytes) else json.dumps(obj_or_bytes).encode()
    return struct.pack(">I", len(body)) + body


def read_frame(s):
    hdr = b""
    while len(hdr) < 4:
        chunk = s.recv(4 - len(hdr))
        if not chunk:
            return None
        hdr += chunk
    (n,) = struct.unpack(">I", hdr)
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        assert chunk, "connection closed mid-frame"
        body += chunk
    return json.loads(body)


def test_cli_echo_roundtrip(server, alder):
    srv = server()
    params = {"hello": "device", "n": 42, "nested": {"list": [1, 2, 3]}}
    r = alder("ipc", "call", "--socket", srv.path, "echo", json.dumps(params))
    assert r.rc == 0, r.err
    assert json.loads(r.out) == params


def test_cli_params_from_stdin(server, alder):
    srv = server()
    r = alder("ipc", "call", "-s", srv.path, "echo", "-", input='{"from": "stdin"}')
    assert r.rc == 0, r.err
    assert json.loads(r.out) == {"from": "stdin"}


def test_peer_credentials_reach_the_handler(server, alder):
    srv = server()
    r = alder("ipc", "call", "-s", srv.path, "peer")
    assert r.rc == 0, r.err
    peer = json.loads(r.out)
    assert peer["uid"] == os.getuid() and peer["gid"] == os.getgid()
    # the pid is the CLI's, a process that has exited by now: not ours, not the server's
    assert peer["pid"] not in (os.getpid(), srv.proc.pid)


def test_daemon_error_is_reported_with_its_message(server, alder):
    srv = server("--name", "alder-testd")
    r = alder("ipc", "call", "-s", srv.path, "fail", '{"errno": 2, "message": "app \'x\' not installed"}')
    assert r.rc == 1
    assert r.err == "alder: error: alder-testd: app 'x' not installed\n"
    j = alder("--json", "ipc", "call", "-s", srv.path, "fail", '{"errno": 28, "message": "disk full"}')
    assert j.rc == 1
    assert j.json() == {"error": {"errno": 28, "message": "alder-testd: disk full"}}


def test_unknown_method(server, alder):
    srv = server()
    r = alder("ipc", "call", "-s", srv.path, "no.such.method")
    assert r.rc == 1
    assert "no.such.method" in r.err


def test_bad_params_name_the_place(server, alder):
    srv = server()
    r = alder("ipc", "call", "-s", srv.path, "echo", '{"a": }')
    assert r.rc == 1
    assert r.err == "alder: error: PARAMS:1:7: unexpected token near '}'\n"
    r = alder("ipc", "call", "-s", srv.path, "echo", "[1]")
    assert "PARAMS: expected a JSON object, got array" in r.err


def test_timeout_is_bounded_and_named(server, alder):
    srv = server()
    start = time.monotonic()
    r = alder("ipc", "call", "-s", srv.path, "--timeout", "300", "sleep", '{"ms": 5000}')
    elapsed = time.monotonic() - start
    assert r.rc == 1
    assert f"call 'sleep' on '{srv.path}': no reply within 300 ms" in r.err
    assert elapsed < 4  # bounded by the timeout, not by the server's 5 s


def test_slow_call_does_not_block_other_clients(server, alder):
    srv = server()
    sleeper = raw_connect(srv.path)
    sleeper.sendall(frame({"id": 1, "method": "sleep", "params": {"ms": 3000}}))
    start = time.monotonic()
    r = alder("ipc", "call", "-s", srv.path, "echo", '{"quick": true}')
    assert r.rc == 0 and json.loads(r.out) == {"quick": True}
    assert time.monotonic() - start < 2.5
    assert read_frame(sleeper) == {"id": 1, "result": {"slept_ms": 3000}}
    sleeper.close()


def test_missing_socket(alder, tmp_path):
    r = alder("ipc", "call", "-s", str(tmp_path / "nope.sock"), "echo")
    assert r.rc == 1
    assert "nope.sock" in r.err and "No such file or directory" in r.err


def test_usage_errors(alder):
    assert alder("ipc", "call", "echo").rc == 2
    assert alder("ipc", "call", "-s", "/x").rc == 2
    r = alder("ipc", "call", "-s", "/x", "--timeout", "soon", "echo")
    assert r.rc == 2 and "--timeout: 'soon'" in r.err
    assert alder("ipc", "frob").rc == 2


def test_oversized_frame_closes_only_that_connection(server):
    srv = server("--max-message-size", "4096")
    good = raw_connect(srv.path)
    bad = raw_connect(srv.path)
    bad.sendall(struct.pack(">I", 1 << 30))  # 1 GiB announced: refused from the header alone
    reply = read_frame(bad)
    assert reply["id"] is None and reply["error"]["code"] == -90  # EMSGSIZE
    assert read_frame(bad) is None  # closed
    good.sendall(frame({"id": 5, "method": "echo", "params": {"still": "served"}}))
    assert read_frame(good) == {"id": 5, "result": {"still": "served"}}


def test_garbage_body_is_answered_and_connection_kept(server):
    srv = server()
    s = raw_connect(srv.path)
    s.sendall(frame(b"\xff\xfenot json"))
    reply = read_frame(s)
    assert reply["id"] is None and reply["error"]["code"] == -74  # EBADMSG
    s.sendall(frame({"id": 2, "method": "echo", "params": {}}))
    assert read_frame(s) == {"id": 2, "result": {}}


def test_ill_typed_request_names_the_field(server):
    srv = server("--name", "alder-testd")
    s = raw_connect(srv.path)
    s.sendall(frame({"id": 3, "method": 12}))
    reply = read_frame(s)
    assert "field 'method': expected string, got integer" in reply["error"]["message"]


def test_disconnect_mid_frame_leaves_server_healthy(server, alder):
    srv = server()
    for _ in range(20):
        s = raw_connect(srv.path)
        s.sendall(struct.pack(">I", 100) + b'{"id": 1, "meth')
        s.close()
    r = alder("ipc", "call", "-s", srv.path, "echo", '{"ok": 1}')
    assert r.rc == 0 and json.loads(r.out) == {"ok": 1}


def test_connection_limit(server, alder):
    srv = server("--max-connections", "2")
    held = [raw_connect(srv.path) for _ in range(2)]
    for h in held:  # make sure both are accepted before the third arrives
        h.sendall(frame({"id": 1, "method": "echo"}))
        assert read_frame(h)["id"] == 1
    r = alder("ipc", "call", "-s", srv.path, "echo")
    assert r.rc == 1
    assert r.err == "alder: error: ipc-echo-server: too many connections (maximum 2)\n"
    held[0].close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        r = alder("ipc", "call", "-s", srv.path, "echo", '{"after": "close"}')
        if r.rc == 0:
            break
        time.sleep(0.05)
    assert r.rc == 0, r.err


def test_server_removes_socket_on_stop(server):
    srv = server()
    rc, err = srv.stop()
    assert rc == 0, err
    assert not os.path.exists(srv.path)
