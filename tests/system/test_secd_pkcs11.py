"""alder-secd with its PKCS#11 backend on a softhsm2 token that each test
initializes in its tmp_path: ECDSA P-256/P-384 keys generated on the token
sign and the openssl CLI verifies; pkcs11-tool (opensc) sees the same
objects, labelled by app; a failed key creation leaves no object behind.
Skipped only when softhsm2 or pkcs11-tool is not installed (scripts/deps.sh
installs them for the tests)."""
import hashlib
import os
import re
import shutil
import subprocess

import pytest
from test_secd import ST, Secd
from test_secd_tpm import verify_ecdsa_with_openssl

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "1234"

pytestmark = pytest.mark.skipif(
    not (shutil.which("softhsm2-util") and shutil.which("pkcs11-tool") and os.path.exists(MODULE)),
    reason="softhsm2 or opensc (pkcs11-tool) is not installed (scripts/deps.sh test installs them)")


@pytest.fixture
def token(tmp_path, monkeypatch):
    """A softhsm2 token 'alder' of its own (SOFTHSM2_CONF, inherited by secd and pkcs11-tool)."""
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "alder", "--pin", PIN, "--so-pin", "5678"],
                   check=True, capture_output=True)


def config(pin=PIN):
    return {"backend": "pkcs11", "pkcs11": {"module": MODULE, "token": "alder", "pin": pin}}


@pytest.fixture
def secd(build_dir, tmp_path, token):
    d = Secd(build_dir, tmp_path / "root", ["a", "b"], config=config())
    d.start()
    yield d
    if d.proc.poll() is None:
        d.stop()


def token_objects():
    """{(class, label, id, ec_point or None)} of the token, as pkcs11-tool lists them."""
    p = subprocess.run(["pkcs11-tool", "--module", MODULE, "--login", "--pin", PIN, "--list-objects"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    objs = []
    for block in re.split(r"\n(?=\S)", p.stdout):
        kind = "private" if block.startswith("Private Key") else "public" if block.startswith("Public Key") else None
        if kind:
            fields = dict(re.findall(r"^\s+(\w+):\s+(\S.*)$", block, re.M))
            objs.append((kind, fields.get("label"), fields.get("ID"), fields.get("EC_POINT")))
    return objs


@pytest.mark.parametrize("bits", [256, 384])
def test_token_key_signs_and_openssl_verifies(secd, tmp_path, bits):
    alg = "ecdsa-sha256" if bits == 256 else "ecdsa-sha384"
    secd.ok("a", "generate", "ecc", bits, "sign,verify", alg, 7)
    pub = verify_ecdsa_with_openssl(secd, "a", 7, bits, tmp_path)
    objs = token_objects()
    assert sorted(o[0] for o in objs) == ["private", "public"]
    assert {o[1] for o in objs} == {"alder/a/7"}
    # the public object's CKA_EC_POINT is the DER OCTET STRING around the point secd exports
    point = next(o[3] for o in objs if o[0] == "public")
    assert bytes.fromhex(point)[-len(pub):] == pub
    assert secd.status("a", "export", 7) == ST["not_permitted"]
    assert secd.status("b", "sign", 7, alg, "00" * (bits // 8)) == ST["invalid_handle"]


def test_objects_come_and_go_with_keys(secd):
    secd.ok("a", "generate", "ecc", 256, "sign,verify", "ecdsa-sha256", 1)
    secd.ok("b", "generate", "ecc", 256, "sign", "ecdsa-sha256", 1)
    assert sorted(o[1] for o in token_objects()) == ["alder/a/1"] * 2 + ["alder/b/1"] * 2
    # a key id taken: the store refuses, and the object the token made is removed again
    assert secd.status("a", "generate", "ecc", 256, "sign", "ecdsa-sha256", 1) == -139  # ALREADY_EXISTS
    assert len(token_objects()) == 4
    # b's key goes, a's stays and still signs
    secd.ok("b", "destroy", 1)
    assert sorted(o[1] for o in token_objects()) == ["alder/a/1"] * 2
    h = hashlib.sha256(b"x").hexdigest()
    assert secd.status("a", "verify", 1, "ecdsa-sha256", h, secd.ok("a", "sign", 1, "ecdsa-sha256", h)) == 0
    # volatile and exportable keys are software keys: nothing on the token
    secd.ok("a", "generate", "ecc", 256, "sign,verify,export", "ecdsa-sha256", 2)
    secd.ok("a", "generate", "aes", 128, "encrypt,decrypt", "gcm", 3)
    ct = secd.ok("a", "encrypt", 3, "00" * 12, "", "abcd")
    assert secd.ok("a", "decrypt", 3, "00" * 12, "", ct) == "abcd"
    assert len(token_objects()) == 2


def test_keys_survive_a_restart_and_a_wrong_pin_is_refused(secd, tmp_path):
    secd.ok("a", "generate", "ecc", 256, "sign,verify", "ecdsa-sha256", 1)
    pub = verify_ecdsa_with_openssl(secd, "a", 1, 256, tmp_path)
    secd.stop()
    secd.start()
    assert verify_ecdsa_with_openssl(secd, "a", 1, 256, tmp_path) == pub
    secd.stop()
    (secd.root / "config/secd.json").write_text(__import__("json").dumps(config(pin="0000")))
    err = secd.start(expect_failure=True)
    assert "PKCS#11: token 'alder': open session and log in" in err, err
