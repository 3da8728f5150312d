"""alder-dm with alder-dmc where test_dmc_e2e.py does not go: DTLS with X.509
certificates on both sides (the service checks the device certificate's CN,
the device checks the service's chain), a lifetime that lapses when the device
dies, and a device whose certificate names another endpoint."""
import signal

import pytest

from dm_fixture import Dm, b64
from test_dmc import dmcs, make_pki, wait_for  # noqa: F401 (dmcs is a fixture)


@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path / "pki")


def start_dm(build_dir, tmp_path, *args):
    d = Dm(build_dir, tmp_path / "dm-work", args)
    d.dir.mkdir()
    d.start()
    return d


def registered(dm, ep="dev-1"):
    def check():
        found = dm.get(f"/v3/devices/?endpoint_name__eq={ep}")["data"]
        return found[0] if found and found[0]["state"] == "registered" else None
    return wait_for(check, 15, f"{ep} registered at alder-dm")


def test_certificates_end_to_end(build_dir, tmp_path, pki, dmcs):
    dm = start_dm(build_dir, tmp_path, "--cert", str(pki / "server.pem"), "--key", str(pki / "server.key"), "--ca",
                  str(pki / "ca.pem"))
    try:
        dmc = dmcs(dm.coaps_port, certificate=str(pki / "device.pem"), private_key=str(pki / "device.key"),
                   ca=str(pki / "ca.pem"))
        dmc.config["server"]["uri"] = f"coaps://127.0.0.1:{dm.coaps_port}"
        dmc.start()
        d = registered(dm)
        assert d["auth_type"] == "certificate" and d["auth_identity"] == "dev-1"
        status, body = dm.http("GET", "/v2/endpoints/dev-1/3/0/2")
        assert status == 202
        assert b64(dm.async_result(body["async-response-id"])["payload"]) == b"SN-0001"
        dmc.signal(signal.SIGTERM)
        assert dmc.proc.wait(timeout=20) == 0
        dm.pull_until(lambda m: "dev-1" in m.get("de-registrations", []))
        # The same certificate for another endpoint name: refused and flagged.
        other = dmcs(dm.coaps_port, name="other", certificate=str(pki / "device.pem"),
                     private_key=str(pki / "device.key"), ca=str(pki / "ca.pem"))
        other.config["endpoint"] = "dev-2"
        other.config["server"]["uri"] = f"coaps://127.0.0.1:{dm.coaps_port}"
        other.start()
        other.wait_log(r"the server answered 4\.03: certificate CN 'dev-1' does not match endpoint 'dev-2'",
                       timeout=20)
        assert dm.get("/v3/devices/?endpoint_name__eq=dev-2")["data"] == []
        other.stop()
    finally:
        dm.stop()


def test_lifetime_lapses_when_the_device_dies(build_dir, tmp_path, dmcs):
    dm = start_dm(build_dir, tmp_path)
    try:
        dmc = dmcs(dm.coap_port, lifetime=2)
        dmc.start()
        registered(dm)
        dmc.proc.send_signal(signal.SIGKILL)  # no de-registration
        dmc.proc.wait(timeout=10)
        msgs = dm.pull_until(lambda m: "dev-1" in m.get("registrations-expired", []), timeout=15)
        assert not [m for m in msgs if "dev-1" in m.get("de-registrations", [])]
        assert dm.device("dev-1")["state"] == "expired"
    finally:
        dm.stop()
