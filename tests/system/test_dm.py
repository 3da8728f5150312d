"""alder-dm end to end on loopback: the LwM2M registration interface over UDP
and DTLS-PSK (coap-client from libcoap3-bin and an exact CoAP client), the
device directory through the REST API, API keys, notifications (long poll,
Server-Sent Events, webhook), device requests answered by coap-server, and
bad input that must be refused without taking the server down."""
import http.client
import http.server
import json
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from dm_fixture import (CON, DELETE, GET, NON, OPT, POST, PUT, CoapClient, Dm, HttpError, b64, coap_client,
                        decode, encode, free_port, location_of, uint_opt)

PSK = "secret-psk-key-0001"


@pytest.fixture
def dm(build_dir, tmp_path):
    d = Dm(build_dir, tmp_path)
    d.start()
    yield d
    if d.alive():
        d.stop()


@pytest.fixture
def coap(dm):
    clients = []

    def make(**kw):
        c = CoapClient(dm.coap_port, **kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def last_line(out):
    """coap-client prints the answer's payload after its -v log lines."""
    return out.strip().splitlines()[-1]


def events(messages, key):
    return [e for m in messages for e in m.get(key, [])]


# ---- registration interface ----------------------------------------------


def test_register_update_deregister_with_coap_client(dm):
    url = f"coap://127.0.0.1:{dm.coap_port}/rd"
    rc, out = coap_client("-v", "7", "-m", "post", "-t", "40", "-e", '</>;rt="oma.lwm2m";ct=110,</1/0>,</3/0>,</5>;ver=1.1',
                          f"{url}?ep=node-1&lt=60&lwm2m=1.1&b=U")
    assert rc == 0 and "c:2.01" in out, out
    reg = location_of(out)
    d = dm.device("node-1")
    assert d["state"] == "registered" and d["registration_id"] == reg
    assert d["lifetime"] == 60 and d["binding"] == "U" and d["lwm2m_version"] == "1.1" and d["auth_type"] == "none"
    assert [r["path"] for r in d["resources"]] == ["/1/0", "/3/0", "/5"]
    assert d["resources"][2]["ver"] == "1.1"
    assert d["object"] == "device" and len(d["id"]) == 32
    assert dm.get(f"/v3/devices/{d['id']}/")["endpoint_name"] == "node-1"

    rc, out = coap_client("-v", "7", "-m", "post", f"{url}/{reg}?lt=120")
    assert "c:2.04" in out, out
    d2 = dm.device("node-1")
    assert d2["lifetime"] == 120 and d2["updated_at"] >= d["updated_at"] and d2["id"] == d["id"]

    rc, out = coap_client("-v", "7", "-m", "delete", f"{url}/{reg}")
    assert "c:2.02" in out, out
    assert dm.device("node-1")["state"] == "deregistered"
    rc, out = coap_client("-m", "post", f"{url}/{reg}")
    assert out.startswith("4.04") and f"no registration rd/{reg}" in out, out

    msgs = dm.pull_until(lambda m: "de-registrations" in m)
    regs = events(msgs, "registrations")
    assert regs[0]["ep"] == "node-1" and regs[0]["device-id"] == d["id"] and regs[0]["lt"] == 60
    assert [u["lt"] for u in events(msgs, "reg-updates")] == [120]
    assert events(msgs, "de-registrations") == ["node-1"]


def test_update_payload_binding_and_reregistration(dm, coap):
    c = coap()
    a = c.register("node-2", links="</3/0>")
    assert a.code_str == "2.01", a
    reg = a.location
    assert reg.startswith("rd/")
    a = c.request(POST, "/" + reg, ["b=UQ"])
    assert a.code_str == "4.00" and b"binding (b) 'UQ'" in a.payload  # Q is a separate parameter since 1.1
    a = c.request(POST, "/" + reg, ["b=U", "Q", "sms=+4912345"], b"</3/0>,</4/0>", ct=40)
    assert a.code_str == "2.04", a
    d = dm.device("node-2")
    assert [r["path"] for r in d["resources"]] == ["/3/0", "/4/0"]
    # The same device registering again (a reboot: new port, same host) replaces its registration.
    c2 = coap()
    a2 = c2.register("node-2")
    assert a2.code_str == "2.01" and a2.location != reg
    assert c.request(POST, "/" + reg).code_str == "4.04"
    d2 = dm.device("node-2")
    assert d2["id"] == d["id"] and d2["registration_id"] == a2.location[3:]


def test_registration_errors_are_4xx_with_diagnostics(dm, coap):
    c = coap()
    cases = [
        (["lt=60"], b"</3/0>", "4.00", "missing endpoint name (ep)"),
        (["ep=x", "lwm2m=1.2"], b"</3/0>", "4.00", "unsupported LwM2M version '1.2'"),
        (["ep=x", "lt=0"], b"</3/0>", "4.00", "lifetime (lt) 0"),
        (["ep=x", "lt=-5"], b"</3/0>", "4.00", "lifetime (lt) '-5'"),
        (["ep=x", "ep=y"], b"</3/0>", "4.00", "parameter 'ep' given twice"),
        (["ep=a/b"], b"</3/0>", "4.00", "endpoint name (ep)"),
        (["ep=x"], b"</3/0", "4.00", "link format: offset 5"),
        (["ep=x"], b"</3/0/1>", "4.00", "not an object or an object instance"),
        (["ep=x"], b"", "4.00", "missing object list"),
    ]
    for query, payload, code, diag in cases:
        a = c.request(POST, "/rd", query, payload, ct=40)
        assert a.code_str == code and diag.encode() in a.payload, (query, payload, a)
    a = c.request(POST, "/rd", ["ep=x"], b"{}", ct=50)
    assert a.code_str == "4.15", a
    a = c.request(GET, "/rd")
    assert a.code_str == "4.05", a
    a = c.request(POST, "/other")
    assert a.code_str == "4.04", a
    a = c.request(DELETE, "/rd/0123456789ab")
    assert a.code_str == "4.04" and b"no registration rd/0123456789ab" in a.payload
    # Registration requests must be confirmable (LwM2M transport binding).
    a = c.request(POST, "/rd", ["ep=x"], b"</3/0>", ct=40, mtype=NON)
    assert a.code_str == "4.00" and b"confirmable" in a.payload
    assert dm.get("/v3/devices/")["data"] == []


def test_malformed_datagrams_and_huge_payloads(dm, coap, tmp_path):
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raw.settimeout(0.3)
    garbage = [
        b"",
        b"\x00",
        b"\x40\x02",                                        # truncated header
        b"\x80\x02\x00\x01",                                # version 2
        b"\x49\x02\x00\x01" + b"\x00" * 9,                  # token length 9
        b"\x40\x02\x00\x01\xf0",                            # option delta 15 is reserved
        b"\x40\x02\x00\x01\xbd",                            # option length runs past the end
        b"\x40\x02\x00\x01\xb2rd\x3f" + b"A" * 3,           # Uri-Query with a length past the end
        b"\x40\x02\x00\x01\xb2rd\xff",                      # payload marker without payload
        encode(CON, POST, 7, b"tk", [(11, b"rd"), (15, b"ep=" + b"\xff\xfe" * 40)], b"</3/0>"),
        encode(CON, POST, 8, b"tk", [(11, b"rd")] + [(15, b"lt=1")] * 40, b"</3/0>"),
        bytes(range(256)) * 4,
    ]
    for g in garbage:
        raw.sendto(g, ("127.0.0.1", dm.coap_port))
        try:
            raw.recvfrom(2048)
        except socket.timeout:
            pass
    raw.close()
    c = coap()
    a = c.request(POST, "/rd", ["ep=x", *(["lt=1"] * 40)], b"</3/0>", ct=40)
    assert a.code_str == "4.00", a
    # A payload larger than the server's limit (64 KiB), sent block-wise by coap-client.
    big = tmp_path / "big"
    big.write_text(",".join(f"</{i}/0>" for i in range(10000)))
    rc, out = coap_client("-m", "post", "-t", "40", "-f", str(big), f"coap://127.0.0.1:{dm.coap_port}/rd?ep=big")
    assert out.startswith("4.13"), out
    # Still serving.
    assert c.register("after-garbage").code_str == "2.01"
    assert dm.alive()


# ---- DTLS with pre-shared keys -------------------------------------------


def register_psk(dm, ep, identity, key=PSK, bind=None, lt=60):
    args = ["-B", "5", "-v", "7", "-m", "post", "-t", "40", "-e", "</3/0>", "-u", identity, "-k", key]
    if bind:
        args += ["-a", bind]
    return coap_client(*args, f"coaps://127.0.0.1:{dm.coaps_port}/rd?ep={ep}&lt={lt}&lwm2m=1.1")


def test_dtls_psk_registration_and_identity_checks(dm, coap):
    dm.run("psk", "add", "psk-node", "psk-id", PSK.encode().hex())
    assert dm.run("psk", "list").stdout == "psk-node\tpsk-id\n"
    rc, out = register_psk(dm, "psk-node", "psk-id")
    assert "c:2.01" in out, out
    reg = location_of(out)
    d = dm.device("psk-node")
    assert d["auth_type"] == "psk" and d["auth_identity"] == "psk-id"

    # The same identity for another endpoint: 4.03, flagged on that endpoint.
    assert coap().register("other").code_str == "2.01"
    rc, out = register_psk(dm, "other", "psk-id")
    assert last_line(out) == "4.03 PSK identity 'psk-id' is not the one provisioned for endpoint 'other'", out
    assert dm.device("other")["flags"][0]["type"] == "identity_mismatch"
    # An endpoint with a PSK over plain UDP: 4.03.
    a = coap().register("psk-node")
    assert a.code_str == "4.03" and b"registers over DTLS only" in a.payload
    # A wrong key never gets past the handshake.
    rc, out = register_psk(dm, "psk-node", "psk-id", key="not-the-key")
    assert "c:2.01" not in out and "c:4.0" not in out, out  # (-v output: the log's timestamps hold digits too)
    # A second device with the same identity from another address while the registration lives: a clone.
    rc, out = register_psk(dm, "psk-node", "psk-id", bind="127.0.0.2")
    assert last_line(out).startswith("4.03 identity 'psk-id' is registered from 127.0.0.1:"), out
    assert "suspected clone" in out
    d = dm.device("psk-node")
    assert d["state"] == "registered" and d["registration_id"] == reg
    assert [f["type"] for f in d["flags"]] == ["insecure_registration", "identity_in_use"]
    msgs = dm.pull_until(lambda m: any(e["type"] == "identity_in_use" for e in m.get("security-events", [])))
    sec = events(msgs, "security-events")
    assert {e["type"] for e in sec} == {"identity_mismatch", "insecure_registration", "identity_in_use"}
    assert [e["address"].split(":")[0] for e in sec if e["type"] == "identity_in_use"] == ["127.0.0.2"]

    # Update and de-registration over DTLS with the identity that registered.
    rc, out = coap_client("-v", "7", "-m", "post", "-u", "psk-id", "-k", PSK,
                          f"coaps://127.0.0.1:{dm.coaps_port}/rd/{reg}?lt=90")
    assert "c:2.04" in out, out
    assert dm.device("psk-node")["lifetime"] == 90
    # Not over plain UDP, which has no identity.
    a = coap().request(DELETE, f"/rd/{reg}")
    assert a.code_str == "4.03" and b"belongs to another identity" in a.payload
    rc, out = coap_client("-v", "7", "-m", "delete", "-u", "psk-id", "-k", PSK,
                          f"coaps://127.0.0.1:{dm.coaps_port}/rd/{reg}")
    assert "c:2.02" in out, out
    # Once de-registered, another address may register the identity.
    rc, out = register_psk(dm, "psk-node", "psk-id", bind="127.0.0.2")
    assert "c:2.01" in out, out


def test_psk_provisioning_over_rest(dm):
    status, _ = dm.http("POST", "/v2/device-shared-keys",
                        {"endpoint_name": "rest-node", "secret_hex": PSK.encode().hex()})
    assert status == 201
    assert dm.get("/v2/device-shared-keys/rest-node") == {"endpoint_name": "rest-node", "identity": "rest-node"}
    listed = dm.get("/v2/device-shared-keys")["data"]
    assert [p["endpoint_name"] for p in listed] == ["rest-node"] and "secret_hex" not in listed[0]
    with pytest.raises(HttpError) as e:
        dm.http("POST", "/v2/device-shared-keys", {"endpoint_name": "x", "secret_hex": "abc"})
    assert e.value.status == 400 and e.value.body["fields"][0]["name"] == "secret_hex"
    rc, out = register_psk(dm, "rest-node", "rest-node")
    assert "c:2.01" in out, out
    assert dm.http("DELETE", "/v2/device-shared-keys/rest-node")[0] == 204
    with pytest.raises(HttpError) as e:
        dm.http("GET", "/v2/device-shared-keys/rest-node")
    assert e.value.status == 404


# ---- directory and REST API -----------------------------------------------


def test_directory_filters_and_pages(dm, coap):
    eps = [f"dev-{i:02d}" for i in range(7)]
    regs = {}
    for ep in eps:
        a = coap().register(ep, lt=300 if ep != "dev-03" else 100)
        regs[ep] = a.location
    coap().request(DELETE, "/" + regs["dev-05"])

    def names(q):
        return [d["endpoint_name"] for d in dm.get(f"/v3/devices/?{q}")["data"]]

    assert sorted(names("state__eq=registered")) == [e for e in eps if e != "dev-05"]
    assert names("state__neq=registered") == ["dev-05"]
    assert names("state=deregistered") == ["dev-05"]
    assert sorted(names("endpoint_name__in=dev-01,dev-04,nope")) == ["dev-01", "dev-04"]
    assert len(names("endpoint_name__nin=dev-01,dev-04")) == 5
    assert names("lifetime__lte=100") == ["dev-03"]
    assert len(names("lifetime__gte=101")) == 6
    assert len(names("created_at__gte=2020-01-01T00:00:00Z&created_at__lte=2099-01-01T00:00:00.000Z")) == 7
    assert names("created_at__lte=2020-01-01T00:00:00Z") == []

    page = dm.get("/v3/devices/?limit=3&include=total_count")
    assert page["object"] == "list" and page["has_more"] and page["limit"] == 3 and page["total_count"] == 7
    assert page["order"] == "ASC"
    seen = [d["id"] for d in page["data"]]
    while page["has_more"]:
        page = dm.get(f"/v3/devices/?limit=3&after={seen[-1]}")
        seen += [d["id"] for d in page["data"]]
    assert len(seen) == 7 and seen == sorted(seen)
    desc = dm.get("/v3/devices/?order=DESC&limit=10")["data"]
    assert [d["id"] for d in desc] == sorted(seen, reverse=True)

    for q, field in [("color__eq=red", "color__eq"), ("state__like=x", "state__like"), ("limit=1", "limit"),
                     ("created_at__gte=yesterday", "created_at__gte"), ("order=UP", "order")]:
        with pytest.raises(HttpError) as e:
            dm.get(f"/v3/devices/?{q}")
        err = e.value.body
        assert e.value.status == 400 and err["object"] == "error" and err["code"] == 400
        assert err["type"] == "validation_error" and err["fields"][0]["name"] == field, err
        assert len(err["request_id"]) == 32
    with pytest.raises(HttpError) as e:
        dm.get("/v3/devices/0123/")
    assert e.value.status == 404 and e.value.body["type"] == "not_found"

    # Pelion's endpoint list and an endpoint's resources.
    listed = {e["name"]: e for e in dm.get("/v2/endpoints")}
    assert "dev-05" not in listed and listed["dev-00"]["status"] == "ACTIVE"
    assert [r["uri"] for r in dm.get("/v2/endpoints/dev-00")] == ["/1/0", "/3/0"]
    # A device deleted from the directory once it is not registered.
    dev5 = dm.device("dev-05")["id"]
    with pytest.raises(HttpError) as e:
        dm.http("DELETE", f"/v3/devices/{dm.device('dev-00')['id']}/")
    assert e.value.status == 409
    assert dm.http("DELETE", f"/v3/devices/{dev5}/")[0] == 204
    assert names("endpoint_name__eq=dev-05") == []


def test_api_key_required_and_checked(dm):
    for key, msg in [(None, "missing 'Authorization: Bearer <API key>'"), ("ak_wrong", "invalid API key"),
                     (dm.key + "x", "invalid API key"), ("", "invalid API key")]:
        for method, path in [("GET", "/v3/devices/"), ("GET", "/v2/notification/pull"),
                             ("PUT", "/v2/notification/callback"), ("POST", "/v2/device-shared-keys")]:
            status, body = dm.http(method, path, body={} if method != "GET" else None, key=key, raw=True)
            err = json.loads(body)
            assert status == 401, (key, path, body)
            assert err["object"] == "error" and err["code"] == 401 and err["type"] == "unauthorized"
            assert err["message"] == msg and err["fields"] == []
    # The key exists only as a digest, the file is 0600, and a second start makes no new key.
    assert oct(dm.key_file.stat().st_mode & 0o777) == "0o600"
    assert dm.key.encode() not in dm.db.read_bytes()
    assert "admin API key" in dm.log()
    dm.stop()
    dm.key_file.unlink()
    dm.start()
    assert dm.log().count("admin API key") == 1 and not dm.key_file.exists()
    assert dm.get("/v3/devices/")["object"] == "list"
    # Another key made with the CLI works too.
    new = dm.run("key", "create", "ci").stdout.strip()
    assert new.startswith("ak_") and len(new) == 67


# ---- notifications ---------------------------------------------------------


def test_lifetime_expiry_event(dm, coap):
    a = coap().register("short-lived", lt=1)
    assert a.code_str == "2.01"
    msgs = dm.pull_until(lambda m: "registrations-expired" in m, timeout=10)
    assert events(msgs, "registrations-expired") == ["short-lived"]
    assert dm.device("short-lived")["state"] == "expired"
    assert coap().request(POST, "/" + a.location).code_str == "4.04"


def test_server_sent_events_stream(dm, coap):
    req = urllib.request.Request(f"http://127.0.0.1:{dm.http_port}/v2/notification/events",
                                 headers={"Authorization": f"Bearer {dm.key}"})
    stream = urllib.request.urlopen(req, timeout=20)
    assert stream.headers["Content-Type"] == "text/event-stream"
    c = coap()
    reg = c.register("sse-node").location
    c.request(POST, "/" + reg, ["lt=30"])
    c.request(DELETE, "/" + reg)
    got = []
    while len(got) < 3:
        block = []
        while True:
            line = stream.readline().decode().rstrip("\n")
            if not line:
                break
            block.append(line)
        if block and not block[0].startswith(":"):
            got.append(dict(line.split(": ", 1) for line in block))
    stream.close()
    assert [g["event"] for g in got] == ["registrations", "reg-updates", "de-registrations"]
    ids = [int(g["id"]) for g in got]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert json.loads(got[2]["data"]) == {"de-registrations": ["sse-node"]}
    # Last-Event-ID resumes after the first event.
    req = urllib.request.Request(req.full_url, headers={"Authorization": f"Bearer {dm.key}",
                                                        "Last-Event-ID": str(ids[0])})
    with urllib.request.urlopen(req, timeout=20) as again:
        first = [again.readline().decode().strip() for _ in range(3)]
    assert first[0] == f"id: {ids[1]}" and first[1] == "event: reg-updates"


class Receiver(http.server.BaseHTTPRequestHandler):
    """Answers 500 to the first `fail` PUTs, then 204; records what it got."""
    fail = 2
    got = []

    def do_PUT(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.got.append((self.path, self.headers.get("X-Token"), json.loads(body)))
        self.send_response(500 if len(Receiver.got) <= Receiver.fail else 204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_delivery_with_retries(dm, coap):
    srv = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    Receiver.got = []
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/hook"
        assert dm.http("PUT", "/v2/notification/callback", {"url": url, "headers": {"X-Token": "t1"}})[0] == 204
        assert dm.get("/v2/notification/callback") == {"url": url, "headers": {"X-Token": "t1"}}
        with pytest.raises(HttpError) as e:
            dm.get("/v2/notification/pull")
        assert e.value.status == 409
        coap().register("hooked")
        deadline = time.monotonic() + 20
        while len(Receiver.got) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(Receiver.got) == 3, Receiver.got  # two failures (retried after 1 s, 2 s), then delivered
        for path, token, body in Receiver.got:
            assert path == "/hook" and token == "t1"
            assert body["registrations"][0]["ep"] == "hooked"
        for bad, msg in [({"url": "http://"}, "expected http[s]://"),
                         ({"url": "ftp://x/"}, "scheme 'ftp' is not supported"),
                         ({"url": "http://x/", "headers": {"A": "b\r\nc"}}, "of one line"),
                         ({"url": "http://x/", "other": 1}, "other")]:
            with pytest.raises(HttpError) as e:
                dm.http("PUT", "/v2/notification/callback", bad)
            assert e.value.status == 400 and msg in e.value.body["message"], e.value.body
        assert dm.http("DELETE", "/v2/notification/callback")[0] == 204
        with pytest.raises(HttpError) as e:
            dm.get("/v2/notification/callback")
        assert e.value.status == 404
        assert dm.http("GET", "/v2/notification/pull")[0] in (200, 204)
    finally:
        srv.shutdown()


# ---- requests to devices -------------------------------------------------


@pytest.fixture
def peer(dm, tmp_path):
    """A device: registers with coap-client from a fixed port, then coap-server (dynamic resources) answers there."""
    procs = []

    def start(ep):
        port = None
        for _ in range(20):
            port = CoapClient(dm.coap_port).port  # a free port (closed again at once)
            rc, out = coap_client("-v", "7", "-p", str(port), "-m", "post", "-t", "40", "-e", "</3/0>,</5/0>",
                                  f"coap://127.0.0.1:{dm.coap_port}/rd?ep={ep}&lt=300&lwm2m=1.1")
            if "c:2.01" in out:
                break
        server = subprocess.Popen(["coap-server-notls", "-A", "127.0.0.1", "-p", str(port), "-d", "20"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(server)
        time.sleep(0.3)
        return port

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=10)


def test_async_requests_to_a_registered_peer(dm, peer):
    peer("peer-1")
    status, body = dm.http("PUT", "/v2/endpoints/peer-1/3/0/1", "hello", headers={"Content-Type": "text/plain"})
    assert status == 202 and len(body["async-response-id"]) == 32
    r = dm.async_result(body["async-response-id"])
    assert r["status"] == 201 and r["error"] is None and r["coap-code"] == "2.01"  # coap-server created it
    status, body = dm.http("GET", "/v2/endpoints/peer-1/3/0/1")
    r = dm.async_result(body["async-response-id"])
    assert r["status"] == 200 and b64(r["payload"]) == b"hello"
    # by device id too, as Pelion addresses endpoints
    dev_id = dm.device("peer-1")["id"]
    status, body = dm.http("GET", f"/v2/endpoints/{dev_id}/3/0/1")
    assert b64(dm.async_result(body["async-response-id"])["payload"]) == b"hello"
    status, body = dm.http("GET", "/v2/endpoints/peer-1/3/0/2")
    r = dm.async_result(body["async-response-id"])
    assert r["status"] == 404 and r["error"] == "device answered 4.04" and r["coap-code"] == "4.04"
    # Execute with arguments: the POST reaches the peer (coap-server creates a resource on POST).
    status, body = dm.http("POST", "/v2/endpoints/peer-1/5/0/2", "0='a'", headers={"Content-Type": "text/plain"})
    r = dm.async_result(body["async-response-id"])
    assert r["status"] == 201 and r["coap-code"] == "2.01"
    status, body = dm.http("DELETE", "/v2/endpoints/peer-1/3/0/1")
    assert dm.async_result(body["async-response-id"])["status"] == 202
    # Larger than a datagram: libcoap sends it block-wise (Block1) and reassembles the answer (Block2).
    blob = bytes(range(256)) * 40
    status, body = dm.http("PUT", "/v2/endpoints/peer-1/5/0/0", blob,
                           headers={"Content-Type": "application/octet-stream"})
    assert dm.async_result(body["async-response-id"])["status"] == 201
    status, body = dm.http("GET", "/v2/endpoints/peer-1/5/0/0")
    r = dm.async_result(body["async-response-id"])
    assert r["status"] == 200 and b64(r["payload"]) == blob and r["ct"] == "application/octet-stream"
    # Bodies past the REST limit (1 MiB) are refused before anything is sent.
    with pytest.raises(HttpError) as e:
        dm.http("PUT", "/v2/endpoints/peer-1/5/0/0", b"x" * (1 << 20 | 1),
                headers={"Content-Type": "application/octet-stream"})
    assert e.value.status == 413 and e.value.body["type"] == "payload_too_large"

    for method, path, body, headers, code in [
        ("GET", "/v2/endpoints/nobody/3/0/1", None, {}, 404),
        ("GET", "/v2/endpoints/peer-1/time", None, {}, 400),
        ("GET", "/v2/endpoints/peer-1/3/70000", None, {}, 400),
        ("PUT", "/v2/endpoints/peer-1/3/0/1", "x", {}, 415),
        ("PUT", "/v2/endpoints/peer-1/3/0/1", "x", {"Content-Type": "image/png"}, 415),
        ("PATCH", "/v2/endpoints/peer-1/3/0/1", "x", {}, 405),
    ]:
        with pytest.raises(HttpError) as e:
            dm.http(method, path, body, headers=headers)
        assert e.value.status == code, (method, path, e.value.body)


def test_request_to_a_silent_device_times_out(build_dir, tmp_path):
    dm = Dm(build_dir, tmp_path, ["--request-timeout", "2"])
    dm.start()
    try:
        c = CoapClient(dm.coap_port)
        c.register("silent")
        status, body = dm.http("GET", "/v2/endpoints/silent/3/0/0")
        # The device never answers (nobody reads its socket): a gateway timeout after the request timeout.
        r = dm.async_result(body["async-response-id"], timeout=30)
        assert r["status"] == 504 and r["error"].startswith("TIMEOUT"), r
        c.close()
        # After de-registration the endpoint is gone for requests.
        c = CoapClient(dm.coap_port)
        reg = c.register("gone").location
        c.request(DELETE, "/" + reg)
        with pytest.raises(HttpError) as e:
            dm.http("GET", "/v2/endpoints/gone/3/0/0")
        assert e.value.status == 410 and "deregistered" in e.value.body["message"]
        c.close()
    finally:
        dm.stop()


def test_registrations_survive_a_restart(dm, coap):
    c = coap()
    reg = c.register("durable", lt=300).location
    dm.stop()
    dm.start()
    assert dm.device("durable")["state"] == "registered"
    a = c.request(POST, "/" + reg, ["lt=200"])
    assert a.code_str == "2.04", a
    assert dm.device("durable")["lifetime"] == 200


# ---- observe -------------------------------------------------------------


def test_subscription_notifications_from_coap_server(dm, peer):
    peer("obs-1")
    status, body = dm.http("PUT", "/v2/endpoints/obs-1/3/0/1", "a", headers={"Content-Type": "text/plain"})
    assert dm.async_result(body["async-response-id"])["status"] == 201
    with pytest.raises(HttpError) as e:
        dm.get("/v2/subscriptions/obs-1/3/0/1")
    assert e.value.status == 404
    status, body = dm.http("PUT", "/v2/subscriptions/obs-1/3/0/1")
    assert status == 202
    first = dm.async_result(body["async-response-id"])
    assert first["status"] == 200 and b64(first["payload"]) == b"a"
    assert dm.get("/v2/subscriptions/obs-1/3/0/1") == {"path": "/3/0/1", "state": "active"}
    assert dm.get("/v2/subscriptions/obs-1") == ["/3/0/1"]
    # A write changes the value: coap-server notifies its observers.
    status, body = dm.http("PUT", "/v2/endpoints/obs-1/3/0/1", "b", headers={"Content-Type": "text/plain"})
    msgs = dm.pull_until(lambda m: any(n["payload"] == "Yg==" for n in m.get("notifications", [])))
    note = [n for n in events(msgs, "notifications") if n["payload"] == "Yg=="][0]
    assert note["ep"] == "obs-1" and note["path"] == "/3/0/1"
    # Cancelled: later changes are not notified (the server answers them with a reset).
    assert dm.http("DELETE", "/v2/subscriptions/obs-1/3/0/1")[0] == 204
    assert dm.get("/v2/subscriptions/obs-1") == []
    status, body = dm.http("PUT", "/v2/endpoints/obs-1/3/0/1", "c", headers={"Content-Type": "text/plain"})
    msgs = dm.pull_until(lambda m: any(a["id"] == body["async-response-id"] for a in m.get("async-responses", [])))
    time.sleep(0.5)
    status, later = dm.http("GET", "/v2/notification/pull")
    assert not [n for n in events(msgs + ([later] if later else []), "notifications") if n["payload"] == "Yw=="]


class Device(CoapClient):
    """A device written out by hand: registers, then answers the server's requests."""

    def serve_one(self, answer):
        """Receives one request and answers it: answer(code, path, opts, payload) -> (code, options, payload)."""
        data, src = self.sock.recvfrom(65536)
        mtype, code, mid, token, opts, payload = decode(data)
        path = "/" + "/".join(v.decode() for v in opts.get(OPT["uri-path"], []))
        rcode, ropts, rpayload = answer(code, path, opts, payload)
        self.sock.sendto(encode(2, rcode, mid, token, ropts, rpayload), src)  # piggybacked in the ACK
        return token, path, opts

    def notify(self, token, seq, payload):
        self.mid = (self.mid + 1) & 0xFFFF
        self.sock.sendto(encode(NON, 0x45, self.mid, token, [(OPT["observe"], uint_opt(seq)),
                                                             (OPT["content-format"], b"")], payload), self.dst)


def test_presubscriptions_applied_on_registration(dm):
    presubs = [{"endpoint-name": "sensor-*", "resource-path": ["/3/0/9", "/4*"]}, {"endpoint-name": "other"}]
    assert dm.http("PUT", "/v2/subscriptions", presubs)[0] == 204
    assert dm.get("/v2/subscriptions") == presubs
    for bad in [{"x": 1}, [{"resource-path": ["3/0/9"]}], [{"resource-path": ["/3/*/1"]}], [{"endpoint-name": 5}]]:
        with pytest.raises(HttpError) as e:
            dm.http("PUT", "/v2/subscriptions", bad)
        assert e.value.status == 400
    dev = Device(dm.coap_port)
    try:
        assert dev.register("sensor-7", links="</3/0>,</4/0>,</5/0>").code_str == "2.01"
        observed = {}
        for _ in range(2):  # /3/0/9 and /4/0 (the registered instance the prefix names)
            token, path, opts = dev.serve_one(lambda c, p, o, pl: (0x45, [(OPT["observe"], b"\x01")], b"87"))
            assert opts[OPT["observe"]] == [b""], opts  # Observe 0: register
            observed[path] = token
        assert sorted(observed) == ["/3/0/9", "/4/0"]
        dev.notify(observed["/3/0/9"], 2, b"86")
        msgs = dm.pull_until(lambda m: any(n["payload"] == "ODY=" for n in m.get("notifications", [])))
        notes = [(n["path"], b64(n["payload"])) for n in events(msgs, "notifications")]
        assert ("/3/0/9", b"87") in notes and ("/3/0/9", b"86") in notes
        assert sorted(dm.get("/v2/subscriptions/sensor-7")) == ["/3/0/9", "/4/0"]
    finally:
        dev.close()
    # Not for an endpoint the patterns do not match.
    other = Device(dm.coap_port)
    try:
        other.register("plain-7")
        other.sock.settimeout(1)
        with pytest.raises(socket.timeout):
            other.sock.recvfrom(2048)
    finally:
        other.close()
    assert dm.http("DELETE", "/v2/subscriptions")[0] == 204
    assert dm.get("/v2/subscriptions") == []


# ---- DTLS with certificates ----------------------------------------------


def make_cert(d, name, cn, ca=None, san=None):
    """An EC P-256 key and certificate (self-signed CA when ca is None), made with the openssl CLI."""
    key, pem = d / f"{name}.key", d / f"{name}.pem"
    base = ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key),
            "-subj", f"/CN={cn}"] + (["-addext", f"subjectAltName={san}"] if san else [])
    if ca is None:
        subprocess.run(base + ["-x509", "-days", "2", "-out", str(pem)], check=True, capture_output=True)
    else:
        csr = d / f"{name}.csr"
        subprocess.run(base + ["-out", str(csr)], check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(d / f"{ca}.pem"), "-CAkey",
                        str(d / f"{ca}.key"), "-CAcreateserial", "-days", "2", "-copy_extensions", "copy",
                        "-out", str(pem)],
                       check=True, capture_output=True)
    return pem, key


def test_dtls_certificates(build_dir, tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    make_cert(certs, "ca", "Alder Test CA")
    make_cert(certs, "rogue", "Rogue CA")
    server_pem, server_key = make_cert(certs, "server", "localhost", ca="ca")
    work = tmp_path / "dm"
    work.mkdir()
    dm = Dm(build_dir, work, ["--cert", str(server_pem), "--key", str(server_key), "--ca", str(certs / "ca.pem")])
    dm.start()
    try:
        def register(name, cn, ca="ca", ep="cert-dev"):
            pem, key = make_cert(certs, name, cn, ca=ca)
            return coap_client("-B", "5", "-v", "7", "-m", "post", "-t", "40", "-e", "</3/0>", "-c", str(pem), "-j",
                               str(key), "-C", str(certs / "ca.pem"),
                               f"coaps://127.0.0.1:{dm.coaps_port}/rd?ep={ep}&lt=60&lwm2m=1.1")

        rc, out = register("dev", "cert-dev")
        assert "c:2.01" in out, out
        d = dm.device("cert-dev")
        assert d["auth_type"] == "certificate" and d["auth_identity"] == "cert-dev"
        # A valid certificate of the CA whose CN is another endpoint's name.
        rc, out = register("other", "someone-else")
        assert last_line(out) == "4.03 certificate CN 'someone-else' does not match endpoint 'cert-dev'", out
        assert [f["type"] for f in dm.device("cert-dev")["flags"]] == ["identity_mismatch"]
        # A certificate from another CA does not get through the handshake.
        rc, out = register("rogue-dev", "cert-dev", ca="rogue")
        assert "c:2.01" not in out and "c:4.03" not in out, out
        assert "certificate verify failed" in dm.log()
        # Without a certificate neither.
        rc, out = coap_client("-B", "5", "-v", "7", "-m", "post", "-t", "40", "-e", "</3/0>", "-C",
                              str(certs / "ca.pem"), f"coaps://127.0.0.1:{dm.coaps_port}/rd?ep=anon&lt=60")
        assert "c:2.01" not in out and "c:4.03" not in out, out
        # PSKs keep working on the same port.
        dm.run("psk", "add", "psk-too", "psk-too", PSK.encode().hex())
        rc, out = register_psk(dm, "psk-too", "psk-too")
        assert "c:2.01" in out, out
    finally:
        dm.stop()


# ---- HTTPS: the REST API and webhooks -------------------------------------


def make_tls_certs(d):
    """In d: a test CA ("ca"), another ("rogue"), and for 127.0.0.1 "server" and "hook" of the CA, "bad-hook" of
    the rogue CA (also used by test_dmc and test_dm_cli)."""
    d.mkdir()
    make_cert(d, "ca", "Alder Test CA")
    make_cert(d, "rogue", "Rogue CA")
    make_cert(d, "server", "localhost", ca="ca", san="IP:127.0.0.1,DNS:localhost")
    make_cert(d, "hook", "localhost", ca="ca", san="IP:127.0.0.1")
    make_cert(d, "bad-hook", "localhost", ca="rogue", san="IP:127.0.0.1")
    return d


@pytest.fixture
def certs(tmp_path):
    return make_tls_certs(tmp_path / "certs")


def https_dm(build_dir, tmp_path, certs, *extra):
    work = tmp_path / "dm"
    work.mkdir()
    dm = Dm(build_dir, work, ["--http-cert", str(certs / "server.pem"), "--http-key", str(certs / "server.key"),
                              *extra])
    dm.use_https(certs / "ca.pem")
    dm.start()
    return dm


def test_rest_over_https(build_dir, tmp_path, certs):
    dm = https_dm(build_dir, tmp_path, certs)
    try:
        assert dm.get("/v3/devices/")["object"] == "list"
        with pytest.raises(HttpError) as e:
            dm.get("/v3/devices/", key="ak_wrong")
        assert e.value.status == 401
        # A plain-HTTP client on the TLS port gets no HTTP answer, and the service goes on.
        with pytest.raises((OSError, http.client.HTTPException)):
            urllib.request.urlopen(f"http://127.0.0.1:{dm.http_port}/v3/devices/", timeout=10).read()
        # A client that does not trust the test CA refuses the server.
        with pytest.raises(urllib.error.URLError) as e:
            urllib.request.urlopen(f"https://127.0.0.1:{dm.http_port}/v3/devices/", timeout=10,
                                   context=ssl.create_default_context(cafile=str(certs / "rogue.pem")))
        assert "CERTIFICATE_VERIFY_FAILED" in str(e.value)
        assert dm.alive() and dm.get("/v3/devices/")["data"] == []
    finally:
        dm.stop()


def test_https_key_and_cert_errors_name_the_file(build_dir, tmp_path, certs):
    exe = str(build_dir / "dm" / "alder-dm")
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    base = [exe, "--db", str(tmp_path / "x.db"), "--coap-port", "0", "--coaps-port", "0", "--http-address",
            "127.0.0.1", "--http-port", str(free_port(socket.SOCK_STREAM))]
    for args, msg in [(["--http-cert", str(certs / "server.pem"), "--http-key", str(tmp_path / "nope.key")],
                       str(tmp_path / "nope.key")),
                      (["--http-cert", str(tmp_path / "junk.pem"), "--http-key", str(certs / "server.key")],
                       f"HTTPS certificate '{tmp_path / 'junk.pem'}': no PEM certificate"),
                      (["--http-cert", str(certs / "server.pem"), "--http-key", str(certs / "rogue.key")],
                       "are not a PEM certificate and its key"),
                      (["--http-cert", str(certs / "server.pem")], "--http-cert and --http-key go together"),
                      (["--webhook-ca", str(tmp_path / "no-ca.pem")], f"webhook CA file '{tmp_path / 'no-ca.pem'}'")]:
        p = subprocess.run(base + args, capture_output=True, text=True, timeout=20)
        assert p.returncode != 0 and msg in p.stderr, (args, p.stderr)
        assert "Sanitizer" not in p.stderr


def https_receiver(certs, name):
    Receiver.got, Receiver.fail = [], 0
    srv = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs / f"{name}.pem", certs / f"{name}.key")
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"https://127.0.0.1:{srv.server_address[1]}/hook"


def test_webhook_over_https(build_dir, tmp_path, certs):
    dm = https_dm(build_dir, tmp_path, certs, "--webhook-ca", str(certs / "ca.pem"))
    bad, bad_url = https_receiver(certs, "bad-hook")
    good, good_url = https_receiver(certs, "hook")
    try:
        # A receiver whose certificate does not chain to the CA: refused, retried, the reason logged.
        assert dm.http("PUT", "/v2/notification/callback", {"url": bad_url})[0] == 204
        c = CoapClient(dm.coap_port)
        c.register("tls-hooked")
        c.close()
        deadline = time.monotonic() + 20
        while dm.log().count("callback delivery failed") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        failures = [ln for ln in dm.log().splitlines() if "callback delivery failed" in ln]
        assert len(failures) >= 2, dm.log()
        assert "certificate" in failures[0] and bad_url in failures[0], failures[0]
        assert Receiver.got == []
        # Trusted: the events that waited are delivered.
        assert dm.http("PUT", "/v2/notification/callback", {"url": good_url, "headers": {"X-Token": "t2"}})[0] == 204
        deadline = time.monotonic() + 20
        while not Receiver.got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Receiver.got, dm.log()
        path, token, body = Receiver.got[0]
        assert path == "/hook" and token == "t2" and body["registrations"][0]["ep"] == "tls-hooked"
    finally:
        bad.shutdown()
        good.shutdown()
        dm.stop()
        Receiver.fail = 2


def test_write_attributes_discover_and_formats_reach_the_device(dm):
    """What the REST call becomes on the wire: Uri-Query for Write-Attributes, Accept, Content-Format."""
    dev = Device(dm.coap_port)
    try:
        dev.register("wire-1", links="</3/0>")
        seen = []

        def answer(code, path, opts, payload):
            seen.append((code, path, opts, payload))
            return 0x44, [], b""

        status, body = dm.http("PUT", "/v2/endpoints/wire-1/3/0/9?pmin=10&pmax=60&gt=2.5")
        assert status == 202
        dev.serve_one(answer)
        code, path, opts, payload = seen[-1]
        assert code == PUT and path == "/3/0/9" and payload == b""
        assert sorted(v.decode() for v in opts[OPT["uri-query"]]) == ["gt=2.5", "pmax=60", "pmin=10"]
        assert dm.async_result(body["async-response-id"])["status"] == 204

        status, body = dm.http("GET", "/v2/endpoints/wire-1/3/0", headers={"Accept": "application/link-format"})
        dev.serve_one(answer)
        assert seen[-1][2][OPT["accept"]] == [bytes([40])]

        tlv = bytes([0xC8, 0x00, 0x03]) + b"abc"
        status, body = dm.http("PUT", "/v2/endpoints/wire-1/3/0", tlv,
                               headers={"Content-Type": "application/vnd.oma.lwm2m+tlv"})
        dev.serve_one(answer)
        code, path, opts, payload = seen[-1]
        assert opts[OPT["content-format"]] == [(11542).to_bytes(2, "big")] and payload == tlv
        with pytest.raises(HttpError) as e:
            dm.http("PUT", "/v2/endpoints/wire-1/3/0/9?pmin=ten")
        assert e.value.status == 400
    finally:
        dev.close()
