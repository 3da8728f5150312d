"""`alder dm`: the management service's REST API from the command line, against
a real alder-dm with a real alder-dmc registered on loopback."""
import json
import os
import stat
import subprocess

import pytest

from test_dmc import dmcs, wait_for  # noqa: F401 (dmcs is a fixture)
from test_dmc_e2e import dm, registered  # noqa: F401 (dm is a fixture)


@pytest.fixture
def cli(build_dir, dm, tmp_path):  # noqa: F811
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    env.pop("ALDER_DM_URL", None)
    env.pop("ALDER_DM_API_KEY", None)
    url = f"http://127.0.0.1:{dm.http_port}"

    def run(*args, key=..., url=url, timeout=60, background=False):
        conn = []
        if url:
            conn += ["--url", url]
        if key is not ...:
            conn += ["--api-key", key] if key else []
        else:
            conn += ["--api-key", dm.key]
        argv = [str(build_dir / "host/alder"), "dm", *conn, *args]
        if background:
            return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    run.env = env
    return run


@pytest.fixture
def device(dm, dmcs):  # noqa: F811
    d = dmcs(dm.coap_port, lifetime=30).start()
    registered(dm)
    return d


def test_devices_and_device(cli, device):
    r = cli("devices")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "ENDPOINT", "STATE"]
    row = [ln for ln in lines[1:] if " dev-1 " in ln]
    assert row and "registered" in row[0], r.stdout

    r = cli("--json", "devices", "--filter", "endpoint_name__eq=dev-1")
    assert r.returncode == 0, r.stderr
    devs = json.loads(r.stdout)
    assert [d["endpoint_name"] for d in devs] == ["dev-1"]
    r = cli("--json", "devices", "--filter", "endpoint_name__eq=nobody")
    assert r.returncode == 0 and json.loads(r.stdout) == []

    r = cli("device", devs[0]["id"])
    assert r.returncode == 0 and "dev-1" in r.stdout, r.stderr
    r = cli("device", "no-such-id")
    assert r.returncode == 1 and "HTTP 404" in r.stderr, r.stderr


def test_read_write_execute(cli, device):
    r = cli("read", "dev-1", "/3/0/0")
    assert r.returncode == 0 and r.stdout == "Alder Test\n", (r.stdout, r.stderr)
    # An instance comes back in SenML-CBOR: printed by path and resource name.
    r = cli("read", "dev-1", "/3/0")
    assert r.returncode == 0, r.stderr
    assert any(ln.split()[:2] == ["/3/0/0", "Manufacturer"] and "Alder Test" in ln for ln in r.stdout.splitlines()), \
        r.stdout
    r = cli("write", "dev-1", "/3/0/15", "Europe/Berlin")
    assert r.returncode == 0 and "done" in r.stdout, r.stderr
    assert cli("read", "dev-1", "/3/0/15").stdout == "Europe/Berlin\n"
    r = cli("execute", "dev-1", "/3/0/4")
    assert r.returncode == 0, r.stderr
    wait_for(device.marker.exists, 10, "the reboot command's marker")

    r = cli("--json", "read", "dev-1", "/3/0/0")
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == 200


def test_device_errors_and_bad_input(cli, device):
    r = cli("read", "dev-1", "/3/0/4")  # Reboot is executable, not readable
    assert r.returncode == 1 and "device answered 405" in r.stderr, r.stderr
    r = cli("read", "dev-1", "/3/x")
    assert r.returncode == 2 and "not an LwM2M path" in r.stderr
    r = cli("read", "nobody", "/3/0/0")
    assert r.returncode == 1 and "HTTP 404" in r.stderr, r.stderr
    r = cli("write", "dev-1", "/3/0/15")
    assert r.returncode == 2 and "missing ENDPOINT PATH VALUE" in r.stderr


def test_authentication_and_connection_errors(cli, dm):  # noqa: F811
    r = cli("devices", key="not-the-key")
    assert r.returncode == 1 and "HTTP 401" in r.stderr, r.stderr
    r = cli("devices", key=None)
    assert r.returncode == 1 and "no API key" in r.stderr and "alder dm login" in r.stderr
    r = cli("devices", url="http://127.0.0.1:1")
    assert r.returncode == 1 and "Couldn't connect" in r.stderr, r.stderr


def test_login_saves_a_private_config(cli, dm):  # noqa: F811
    assert cli("login", key="wrong").returncode == 1
    r = cli("login")
    assert r.returncode == 0, r.stderr
    cfg = os.path.join(cli.env["XDG_CONFIG_HOME"], "alder/dm.json")
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600
    assert json.load(open(cfg)) == {"url": f"http://127.0.0.1:{dm.http_port}", "api_key": dm.key}
    r = cli("--json", "devices", url=None, key=None)  # from the saved config
    assert r.returncode == 0 and json.loads(r.stdout) == [], r.stderr


def test_observe_and_watch(cli, device, dm):  # noqa: F811
    watch = cli("watch", "--count", "1", background=True)
    obs = cli("observe", "dev-1", "/1/0/1", "--count", "1", background=True)
    # The subscription is in place once observe prints its banner.
    banner = obs.stderr.readline()
    assert banner.startswith("observing dev-1 /1/0/1"), banner
    assert cli("write", "dev-1", "/1/0/1", "45").returncode == 0
    out, err = obs.communicate(timeout=30)
    assert obs.returncode == 0, err
    assert "notification dev-1 /1/0/1" in out and "45" in out, out
    wout, werr = watch.communicate(timeout=30)
    assert watch.returncode == 0 and wout.strip(), werr


def test_https_with_a_ca_file(build_dir, tmp_path):
    """`alder dm` against alder-dm's REST API over HTTPS: trusted through $ALDER_DM_CA_FILE, refused without."""
    from test_dm import https_dm, make_tls_certs
    certs = make_tls_certs(tmp_path / "certs")
    dm = https_dm(build_dir, tmp_path, certs)  # noqa: F811
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "xdg"), ALDER_DM_CA_FILE=str(certs / "ca.pem"))
    argv = [str(build_dir / "host/alder"), "dm", "--url", f"https://127.0.0.1:{dm.http_port}", "--api-key", dm.key,
            "--json", "devices"]
    try:
        r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and json.loads(r.stdout) == [], r.stderr
        env.pop("ALDER_DM_CA_FILE")
        r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "certificate" in r.stderr, r.stderr
    finally:
        dm.stop()
