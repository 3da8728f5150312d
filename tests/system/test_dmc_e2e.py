"""alder-dmc (the device) with alder-dm (the service) end to end on loopback:
registration over UDP and DTLS-PSK into the device directory, reads, writes,
an Execute that runs the device's reboot command, and an observation whose
notifications arrive on the REST notification channel."""
import signal

import pytest

from dm_fixture import Dm, b64
from test_dmc import dmcs, wait_for  # noqa: F401 (dmcs is a fixture)

PSK_HEX = "00112233445566778899aabbccddeeff"


@pytest.fixture
def dm(build_dir, tmp_path):
    d = Dm(build_dir, tmp_path / "dm-work")
    d.dir.mkdir()
    d.start()
    yield d
    if d.alive():
        d.stop()


def registered(dm, ep="dev-1"):
    def check():
        found = dm.get(f"/v3/devices/?endpoint_name__eq={ep}")["data"]
        return found[0] if found and found[0]["state"] == "registered" else None
    return wait_for(check, 15, f"{ep} registered at alder-dm")


def request(dm, method, path, body=None, ct="text/plain"):
    status, answer = dm.http(method, f"/v2/endpoints/dev-1{path}", body,
                             headers={"Content-Type": ct} if body is not None else {})
    assert status == 202, answer
    return dm.async_result(answer["async-response-id"])


def test_register_read_write_execute_observe(dm, dmcs):
    dmc = dmcs(dm.coap_port, lifetime=30).start()
    d = registered(dm)
    paths = [r["path"] for r in d["resources"]]
    for p in ("/1/0", "/3/0", "/4/0", "/5/0"):
        assert p in paths, paths
    assert not any(p.startswith("/0") for p in paths)
    assert d["lwm2m_version"] == "1.1" and d["binding"] == "U"

    r = request(dm, "GET", "/3/0/0")
    assert r["status"] == 200 and b64(r["payload"]) == b"Alder Test"
    r = request(dm, "GET", "/3/0")
    assert r["status"] == 200 and r["ct"] == "application/senml+cbor", r
    # Write and read back.
    r = request(dm, "PUT", "/3/0/15", "Europe/Berlin")
    assert r["status"] in (200, 204), r
    assert b64(request(dm, "GET", "/3/0/15")["payload"]) == b"Europe/Berlin"
    # Errors come back with the device's code.
    assert request(dm, "GET", "/3/0/4")["status"] == 405
    assert request(dm, "GET", "/0/0")["status"] == 401
    # Execute Reboot: the device runs its configured command.
    r = request(dm, "POST", "/3/0/4", "")
    assert r["status"] in (200, 204), r
    wait_for(dmc.marker.exists, 10, "the reboot command's marker")

    # Observe the lifetime; a write changes it: a notification, and the device's Update with the new lt.
    status, body = dm.http("PUT", "/v2/subscriptions/dev-1/1/0/1")
    first = dm.async_result(body["async-response-id"])
    assert first["status"] == 200 and b64(first["payload"]) == b"30"
    assert request(dm, "PUT", "/1/0/1", "45")["status"] in (200, 204)
    msgs = dm.pull_until(lambda m: any(n["path"] == "/1/0/1" and b64(n["payload"]) == b"45"
                                       for n in m.get("notifications", [])))
    assert msgs
    wait_for(lambda: dm.device("dev-1")["lifetime"] == 45, 10, "the Update with lt=45")

    assert dmc.stop() == 0
    dm.pull_until(lambda m: "dev-1" in m.get("de-registrations", []))
    assert dm.device("dev-1")["state"] == "deregistered"


def test_register_over_dtls_psk(dm, dmcs):
    dm.run("psk", "add", "dev-1", "dev-1", PSK_HEX)
    dmc = dmcs(dm.coap_port, psk_identity="dev-1", psk_key=PSK_HEX)
    dmc.config["server"]["uri"] = f"coaps://127.0.0.1:{dm.coaps_port}"
    dmc.start()
    d = registered(dm)
    assert d["auth_type"] == "psk" and d["auth_identity"] == "dev-1"
    assert b64(request(dm, "GET", "/3/0/2")["payload"]) == b"SN-0001"
    dmc.signal(signal.SIGTERM)
    assert dmc.proc.wait(timeout=20) == 0
    dm.pull_until(lambda m: "dev-1" in m.get("de-registrations", []))


def test_refused_registration_backs_off(dm, dmcs):
    """alder-dm refuses an identity provisioned for another endpoint (anti-cloning): 4.03, then back-off."""
    dm.run("psk", "add", "another-device", "dev-1", PSK_HEX)
    dmc = dmcs(dm.coap_port, psk_identity="dev-1", psk_key=PSK_HEX)
    dmc.config["server"]["uri"] = f"coaps://127.0.0.1:{dm.coaps_port}"
    dmc.start()
    dmc.wait_log(r"cannot register with coaps://.*: the server answered 4\.03: .*; registering again in [\d.]+ s "
                 r"\(attempt 3\)", timeout=20)
    assert dm.get("/v3/devices/?endpoint_name__eq=dev-1")["data"] == []
    assert dmc.stop() == 0
