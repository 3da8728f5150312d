"""alder-secd end to end: a daemon on a temp root, two apps (each on its own
socket, through libalder-psa in tests/helpers/psa-client), the admin socket
through `alder secure`, and raw frames for the wire protocol's error paths."""
import hashlib
import hmac
import json
import os
import signal
import socket
import struct
import subprocess
import time

import pytest
from test_ipc import raw_connect as connect  # a client socket with a 5 s timeout

MAGIC = 0x43455341
OP = {"generate_key": 1, "export_public_key": 4, "get_attributes": 6, "hash_compute": 11, "ps_get": 14,
      "key_list": 17, "app_add": 19}
TAG = {"key_id": 1, "alg": 3, "input": 4, "out_size": 8, "app": 12, "output": 13}
ST = {"ok": 0, "not_permitted": -133, "not_supported": -134, "invalid_argument": -135, "invalid_handle": -136,
      "does_not_exist": -140, "communication_failure": -145, "invalid_signature": -149, "data_corrupt": -152}
PSA_SHA256 = 0x02000009
P256_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")


class Secd:
    def __init__(self, build_dir, root, apps, config=None):
        self.exe = build_dir / "device" / "secd" / "alder-secd"
        self.client = build_dir / "tests" / "helpers" / "psa-client"
        self.cli = build_dir / "host" / "alder"
        self.root = root
        self.apps = apps
        self.proc = None
        if config is not None:
            (root / "config").mkdir(parents=True, exist_ok=True)
            (root / "config/secd.json").write_text(json.dumps(config))

    def sock(self, app):
        return str(self.root / "run/alder/secd/apps" / app / "secd.sock")

    @property
    def admin(self):
        return str(self.root / "run/alder/secd/admin.sock")

    def start(self, expect_failure=False):
        args = [str(self.exe), "--root", str(self.root)]
        for a in self.apps:
            args += ["--app", a]
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "ALDER_LOG_TARGET": "stderr"})
        if expect_failure:
            _, err = self.proc.communicate(timeout=30)
            assert self.proc.returncode != 0, err
            return err
        deadline = time.monotonic() + 10
        while not all(self._accepts(p) for p in [self.admin] + [self.sock(a) for a in self.apps]):
            assert self.proc.poll() is None, self.proc.stderr.read()
            assert time.monotonic() < deadline, "alder-secd did not come up"
            time.sleep(0.02)

    @staticmethod
    def _accepts(path):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(path)
            return True
        except OSError:
            return False

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=10)
        assert self.proc.returncode == 0, err
        assert "Sanitizer" not in err and "runtime error" not in err, err
        return err

    def app(self, app, *args):
        """Runs psa-client as app: (exit code, stdout stripped)."""
        p = subprocess.run([str(self.client), *map(str, args)], capture_output=True, text=True, timeout=30,
                           env={**os.environ, "ALDER_SECD_SOCKET": self.sock(app)})
        assert p.returncode in (0, 3), p.stderr
        return p.returncode, p.stdout.strip()

    def ok(self, app, *args):
        rc, out = self.app(app, *args)
        assert rc == 0, f"{args}: {out}"
        return out

    def status(self, app, *args):
        rc, out = self.app(app, *args)
        return 0 if rc == 0 else int(out.split()[-1])

    def secure(self, *args, input=None):
        p = subprocess.run([str(self.cli), *([args[0]] if args[0] else []), "secure", *args[1:], "--socket", self.admin],
                           capture_output=True, input=input, timeout=30)
        return p.returncode, p.stdout, p.stderr.decode()


@pytest.fixture
def secd(build_dir, tmp_path):
    d = Secd(build_dir, tmp_path / "root", ["a", "b"])
    d.start()
    yield d
    if d.proc.poll() is None:
        d.stop()


def der_int(b):
    b = b.lstrip(b"\0") or b"\0"
    if b[0] & 0x80:
        b = b"\0" + b
    return b"\x02" + bytes([len(b)]) + b


def ecdsa_der(raw):
    n = len(raw) // 2
    body = der_int(raw[:n]) + der_int(raw[n:])
    return b"\x30" + bytes([len(body)]) + body


def test_signature_verifies_with_openssl(secd, tmp_path):
    secd.ok("a", "generate", "ecc", 256, "sign,verify", "ecdsa-sha256", 1)
    msg = b"firmware 1.2.3"
    (tmp_path / "msg").write_bytes(msg)
    sig = bytes.fromhex(secd.ok("a", "sign", 1, "ecdsa-sha256", hashlib.sha256(msg).hexdigest()))
    assert len(sig) == 64
    pub = bytes.fromhex(secd.ok("a", "export-public", 1))
    assert len(pub) == 65 and pub[0] == 4
    (tmp_path / "pub.der").write_bytes(P256_SPKI_PREFIX + pub)
    (tmp_path / "sig.der").write_bytes(ecdsa_der(sig))
    verify = ["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "pub.der"), "-keyform", "DER",
              "-signature", str(tmp_path / "sig.der"), str(tmp_path / "msg")]
    p = subprocess.run(verify, capture_output=True, text=True)
    assert p.returncode == 0 and "Verified OK" in p.stdout, p.stdout + p.stderr
    # and secd's own verify agrees, and refuses a changed message
    h = hashlib.sha256(msg).hexdigest()
    assert secd.status("a", "verify", 1, "ecdsa-sha256", h, sig.hex()) == 0
    bad = hashlib.sha256(msg + b"!").hexdigest()
    assert secd.status("a", "verify", 1, "ecdsa-sha256", bad, sig.hex()) == ST["invalid_signature"]
    (tmp_path / "msg").write_bytes(msg + b"!")
    assert subprocess.run(verify, capture_output=True).returncode != 0


def test_imported_key_signs_like_openssl_expects(secd, tmp_path):
    """A private scalar made by openssl, imported: secd derives the same public key."""
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(tmp_path / "k.pem")],
                   check=True)
    der = subprocess.run(["openssl", "ec", "-in", str(tmp_path / "k.pem"), "-outform", "DER"], check=True,
                         capture_output=True).stdout
    scalar = der[7:39]  # ECPrivateKey: SEQUENCE, INTEGER 1, OCTET STRING(32)
    pub_openssl = subprocess.run(["openssl", "ec", "-in", str(tmp_path / "k.pem"), "-pubout", "-outform", "DER"],
                                 check=True, capture_output=True).stdout[-65:]
    secd.ok("a", "import", "ecc", "sign", "ecdsa-sha256", 7, scalar.hex())
    assert bytes.fromhex(secd.ok("a", "export-public", 7)) == pub_openssl
    assert secd.ok("a", "attrs", 7).startswith("type=0x7112 bits=256")


def test_aead_round_trip_and_tamper_detection(secd):
    secd.ok("a", "generate", "aes", 256, "encrypt,decrypt", "gcm", 2)
    nonce, aad, pt = "00" * 12, "6865616465", b"attack at dawn".hex()
    ct = secd.ok("a", "encrypt", 2, nonce, aad, pt)
    assert len(ct) == len(pt) + 32 and pt not in ct
    assert secd.ok("a", "decrypt", 2, nonce, aad, ct) == pt
    flipped = ct[:2] + format(int(ct[2:4], 16) ^ 1, "02x") + ct[4:]
    assert secd.status("a", "decrypt", 2, nonce, aad, flipped) == ST["invalid_signature"]
    assert secd.status("a", "decrypt", 2, nonce, "00", ct) == ST["invalid_signature"]
    assert secd.status("a", "decrypt", 2, "01" * 12, aad, ct) == ST["invalid_signature"]
    # usage is enforced: an encrypt-only key does not decrypt, and signs nothing
    secd.ok("a", "generate", "aes", 128, "encrypt", "gcm", 3)
    ct3 = secd.ok("a", "encrypt", 3, nonce, "", pt)
    assert secd.status("a", "decrypt", 3, nonce, "", ct3) == ST["not_permitted"]
    assert secd.status("a", "sign", 3, "ecdsa-sha256", "00" * 32) == ST["not_permitted"]


def test_export_only_where_usage_allows(secd):
    secd.ok("a", "generate", "ecc", 256, "sign", "ecdsa-sha256", 10)
    assert secd.status("a", "export", 10) == ST["not_permitted"]
    assert len(bytes.fromhex(secd.ok("a", "export-public", 10))) == 65  # public part: always
    secd.ok("a", "generate", "aes", 128, "encrypt,decrypt", "gcm", 11)
    assert secd.status("a", "export", 11) == ST["not_permitted"]
    secd.ok("a", "generate", "aes", 128, "encrypt,export", "gcm", 12)
    assert len(bytes.fromhex(secd.ok("a", "export", 12))) == 16


def test_protected_storage_write_once(secd):
    secd.ok("a", "ps-set", 5, b"s3cret".hex(), "write-once")
    assert secd.status("a", "ps-set", 5, b"other".hex()) == ST["not_permitted"]
    assert secd.status("a", "ps-rm", 5) == ST["not_permitted"]
    assert bytes.fromhex(secd.ok("a", "ps-get", 5)) == b"s3cret"
    assert secd.ok("a", "ps-info", 5) == "size=6 capacity=6 flags=1"
    assert bytes.fromhex(secd.ok("a", "ps-get", 5, 2, 3)) == b"cre"
    # an ordinary secret can be replaced and removed
    secd.ok("a", "ps-set", 6, b"v1".hex())
    secd.ok("a", "ps-set", 6, b"v2".hex())
    assert bytes.fromhex(secd.ok("a", "ps-get", 6)) == b"v2"
    secd.ok("a", "ps-rm", 6)
    assert secd.status("a", "ps-get", 6) == ST["does_not_exist"]
    assert secd.status("a", "ps-set", 0, "00") == ST["invalid_argument"]


def test_app_cannot_reach_another_apps_keys_or_secrets(secd):
    secd.ok("a", "generate", "ecc", 256, "sign,verify,export", "ecdsa-sha256", 1)
    pub_a = secd.ok("a", "export-public", 1)
    secd.ok("a", "ps-set", 5, b"a-secret".hex())
    h = "11" * 32
    for args in (["export", 1], ["export-public", 1], ["attrs", 1], ["sign", 1, "ecdsa-sha256", h],
                 ["destroy", 1]):
        assert secd.status("b", *args) == ST["invalid_handle"], args
    for args in (["ps-get", 5], ["ps-info", 5], ["ps-rm", 5]):
        assert secd.status("b", *args) == ST["does_not_exist"], args
    # b's own key 1 and secret 5 are separate objects
    secd.ok("b", "generate", "ecc", 256, "sign", "ecdsa-sha256", 1)
    secd.ok("b", "ps-set", 5, b"b-secret".hex())
    assert secd.ok("b", "export-public", 1) != pub_a
    assert secd.ok("a", "export-public", 1) == pub_a
    assert bytes.fromhex(secd.ok("a", "ps-get", 5)) == b"a-secret"
    # b's listing on its own socket shows only b's key
    reply = call(secd.sock("b"), OP["key_list"], [])
    assert reply[0] == 0 and len(reply[1][TAG["output"]]) == 20


def test_app_socket_cannot_name_another_app_or_add_apps(secd):
    secd.ok("a", "generate", "ecc", 256, "sign", "ecdsa-sha256", 1)
    # the admin-only app field is refused on an app socket, whatever it names
    for app in (b"a", b"b", b"../a"):
        st, _ = call(secd.sock("b"), OP["export_public_key"],
                     [(TAG["key_id"], struct.pack("<I", 1)), (TAG["out_size"], struct.pack("<I", 100)),
                      (TAG["app"], app)])
        assert st == ST["invalid_argument"], app
    assert call(secd.sock("b"), OP["app_add"], [(TAG["app"], b"c")])[0] == ST["not_permitted"]
    assert not os.path.exists(secd.sock("c"))


def test_files_at_rest_are_sealed_and_bound_to_their_app(secd):
    secret = b"correct horse battery staple"
    secd.ok("a", "ps-set", 9, secret.hex())
    secd.ok("a", "generate", "aes", 256, "encrypt,export", "gcm", 4)
    key = bytes.fromhex(secd.ok("a", "export", 4))
    store = secd.root / "var/lib/alder/secd"
    for f in store.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert secret not in data and key not in data, f
            assert (f.stat().st_mode & 0o077) == 0, f
    assert (secd.root / "config/secd/device.key").stat().st_mode & 0o777 == 0o600
    # a sealed file copied into another app's folder does not open there
    src = store / "a/ps/0000000000000009"
    (store / "b/ps").mkdir(parents=True, exist_ok=True)
    (store / "b/ps/0000000000000009").write_bytes(src.read_bytes())
    assert secd.status("b", "ps-get", 9) == ST["data_corrupt"]


def test_keys_and_secrets_survive_a_restart(secd):
    secd.ok("a", "generate", "ecc", 256, "sign,verify", "ecdsa-sha256", 1)
    pub = secd.ok("a", "export-public", 1)
    secd.ok("a", "ps-set", 3, b"kept".hex(), "write-once")
    secd.stop()
    secd.start()
    assert secd.ok("a", "export-public", 1) == pub
    h = hashlib.sha256(b"x").hexdigest()
    sig = secd.ok("a", "sign", 1, "ecdsa-sha256", h)
    assert secd.status("a", "verify", 1, "ecdsa-sha256", h, sig) == 0
    assert bytes.fromhex(secd.ok("a", "ps-get", 3)) == b"kept"
    assert secd.status("a", "ps-set", 3, "00") == ST["not_permitted"]


def test_volatile_keys_do_not_outlive_the_connection(secd):
    out = secd.ok("a", "import", "aes", "encrypt,decrypt", "gcm", 0, "00" * 16)
    vid = int(out)
    assert vid >= 0x40000000
    assert secd.status("a", "encrypt", vid, "00" * 12, "", "00") == ST["invalid_handle"]


def test_hash_and_random(secd):
    assert secd.ok("a", "hash", b"abc".hex()) == hashlib.sha256(b"abc").hexdigest()
    r1, r2 = secd.ok("a", "random", 32), secd.ok("a", "random", 32)
    assert len(r1) == 64 and r1 != r2


def test_bad_attributes_are_refused(secd):
    cases = [
        (["generate", "ecc", 255, "sign", "ecdsa-sha256", 1], ST["not_supported"]),  # no such curve size
        (["generate", "aes", 100, "encrypt", "gcm", 1], ST["not_supported"]),
        (["generate", "ecc-pub", 256, "verify", "ecdsa-sha256", 1], ST["invalid_argument"]),
        (["generate", "0", 128, "encrypt", "gcm", 1], ST["invalid_argument"]),  # type none
        (["generate", "aes", 128, "encrypt", "gcm", 0x40000001], ST["invalid_argument"]),  # vendor id
        (["import", "ecc", "sign", "ecdsa-sha256", 1, "00" * 32], ST["invalid_argument"]),  # scalar 0
        (["import", "ecc", "sign", "ecdsa-sha256", 1, "ff" * 32], ST["invalid_argument"]),  # >= order
        (["import", "ecc-pub", "verify", "ecdsa-sha256", 1, "04" + "00" * 64], ST["invalid_argument"]),
        (["import", "aes", "encrypt", "gcm", 1, "00" * 15], ST["not_supported"]),
    ]
    for args, want in cases:
        assert secd.status("a", *args) == want, args
    secd.ok("a", "generate", "aes", 128, "encrypt", "gcm", 1)
    assert secd.status("a", "generate", "aes", 128, "encrypt", "gcm", 1) == -139  # ALREADY_EXISTS


# --- algorithms beyond ECDSA and AES-GCM, through libalder-psa, checked with the openssl CLI ---

ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
X25519_SPKI_PREFIX = bytes.fromhex("302a300506032b656e032100")
P384_SPKI_PREFIX = bytes.fromhex("3076301006072a8648ce3d020106052b81040022036200")


def openssl(*args, input=None):
    p = subprocess.run(["openssl", *map(str, args)], capture_output=True, input=input)
    return p.returncode, p.stdout, p.stderr.decode()


def check_ed25519(secd, app, key_id, tmp_path):
    """Signs a message with an Ed25519 key of secd and verifies it with openssl (RFC 8032 PureEdDSA)."""
    msg = b"alder ed25519 message"
    sig = bytes.fromhex(secd.ok(app, "sign-msg", key_id, "eddsa", msg.hex()))
    pub = bytes.fromhex(secd.ok(app, "export-public", key_id))
    assert len(sig) == 64 and len(pub) == 32
    (tmp_path / "msg").write_bytes(msg)
    (tmp_path / "sig").write_bytes(sig)
    (tmp_path / "ed.der").write_bytes(ED25519_SPKI_PREFIX + pub)
    verify = ["pkeyutl", "-verify", "-pubin", "-inkey", tmp_path / "ed.der", "-keyform", "DER", "-rawin",
              "-in", tmp_path / "msg", "-sigfile", tmp_path / "sig"]
    rc, out, err = openssl(*verify)
    assert rc == 0 and b"Signature Verified Successfully" in out, out + err.encode()
    assert secd.status(app, "verify-msg", key_id, "eddsa", msg.hex(), sig.hex()) == 0
    (tmp_path / "msg").write_bytes(msg + b"!")
    assert openssl(*verify)[0] != 0
    assert secd.status(app, "verify-msg", key_id, "eddsa", (msg + b"!").hex(), sig.hex()) == ST["invalid_signature"]


def test_ed25519_signature_verifies_with_openssl(secd, tmp_path):
    secd.ok("a", "generate", "ed25519", 255, "sign,verify", "eddsa", 1)
    check_ed25519(secd, "a", 1, tmp_path)
    # a hash is not what PureEdDSA signs
    assert secd.status("a", "sign", 1, "eddsa", "00" * 32) == ST["invalid_argument"]
    assert secd.status("a", "export", 1) == ST["not_permitted"]


def check_rsa_pss(secd, app, key_id, bits, tmp_path):
    """An RSA-PSS (SHA-256, salt = hash length) signature of secd verified by openssl, by message and by hash."""
    msg = b"alder rsa-pss message"
    (tmp_path / "msg").write_bytes(msg)
    pub = bytes.fromhex(secd.ok(app, "export-public", key_id))
    (tmp_path / "rsa.der").write_bytes(pub)  # PKCS#1 RSAPublicKey
    rc, _, err = openssl("rsa", "-RSAPublicKey_in", "-inform", "DER", "-in", tmp_path / "rsa.der", "-pubout",
                         "-out", tmp_path / "rsa.pem")
    assert rc == 0, err
    rc, out, _ = openssl("rsa", "-pubin", "-in", tmp_path / "rsa.pem", "-noout", "-text")
    assert f"Public-Key: ({bits} bit)".encode() in out
    h = hashlib.sha256(msg).hexdigest()
    for sig_hex in (secd.ok(app, "sign-msg", key_id, "rsa-pss-sha256", msg.hex()),
                    secd.ok(app, "sign", key_id, "rsa-pss-sha256", h)):
        sig = bytes.fromhex(sig_hex)
        assert len(sig) == bits // 8
        (tmp_path / "sig").write_bytes(sig)
        rc, out, err = openssl("dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32",
                               "-verify", tmp_path / "rsa.pem", "-signature", tmp_path / "sig", tmp_path / "msg")
        assert rc == 0 and b"Verified OK" in out, out + err.encode()
        assert secd.status(app, "verify", key_id, "rsa-pss-sha256", h, sig_hex) == 0
        bad = hashlib.sha256(msg + b"!").hexdigest()
        assert secd.status(app, "verify", key_id, "rsa-pss-sha256", bad, sig_hex) == ST["invalid_signature"]


@pytest.mark.parametrize("bits", [2048, 3072])
def test_rsa_pss_signature_verifies_with_openssl(secd, tmp_path, bits):
    secd.ok("a", "generate", "rsa", bits, "sign,verify", "rsa-pss-sha256", 1)
    check_rsa_pss(secd, "a", 1, bits, tmp_path)
    # another app verifies with the public key alone; the private key never leaves
    pub = secd.ok("a", "export-public", 1)
    secd.ok("b", "import", "rsa-pub", "verify", "rsa-pss-sha256", 2, pub)
    h = hashlib.sha256(b"m").hexdigest()
    sig = secd.ok("a", "sign", 1, "rsa-pss-sha256", h)
    assert secd.status("b", "verify", 2, "rsa-pss-sha256", h, sig) == 0
    assert secd.status("a", "export", 1) == ST["not_permitted"]
    assert secd.ok("b", "attrs", 2).startswith(f"type=0x4001 bits={bits}")


def test_rsa_private_key_imports_from_openssl(secd, tmp_path):
    rc, _, err = openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", tmp_path / "k.pem")
    assert rc == 0, err
    der = openssl("rsa", "-in", tmp_path / "k.pem", "-outform", "DER", "-traditional")[1]  # RSAPrivateKey
    pub_der = openssl("rsa", "-in", tmp_path / "k.pem", "-RSAPublicKey_out", "-outform", "DER")[1]
    secd.ok("a", "import", "rsa", "sign,verify,export", "rsa-pss-sha256", 5, der.hex())
    assert bytes.fromhex(secd.ok("a", "export-public", 5)) == pub_der
    assert bytes.fromhex(secd.ok("a", "export", 5)) == der
    assert secd.ok("a", "attrs", 5).startswith("type=0x7001 bits=2048")
    check_rsa_pss(secd, "a", 5, 2048, tmp_path)


def test_hmac_matches_python(secd):
    key = bytes(range(32))
    for alg, name, hf in (("hmac-sha256", 1, hashlib.sha256), ("hmac-sha384", 2, hashlib.sha384)):
        secd.ok("a", "import", "hmac", "sign,verify", alg, name, key.hex())
        mac = secd.ok("a", "mac", name, alg, b"payload".hex())
        assert mac == hmac.new(key, b"payload", hf).hexdigest()
        assert secd.status("a", "mac-verify", name, alg, b"payload".hex(), mac) == 0
        assert secd.status("a", "mac-verify", name, alg, b"payloaD".hex(), mac) == ST["invalid_signature"]
    # app b has no key 1: the MAC cannot be computed there
    assert secd.status("b", "mac", 1, "hmac-sha256", "00") == ST["invalid_handle"]


def test_chacha20_poly1305_round_trip_and_tampering(secd):
    secd.ok("a", "generate", "chacha20", 256, "encrypt,decrypt", "chacha20-poly1305", 3)
    nonce, aad, pt = "07" * 12, b"hdr".hex(), b"attack at dawn".hex()
    ct = secd.ok("a", "encrypt", 3, nonce, aad, pt, "chacha20-poly1305")
    assert len(ct) == len(pt) + 32
    assert secd.ok("a", "decrypt", 3, nonce, aad, ct, "chacha20-poly1305") == pt
    flipped = ct[:-2] + format(int(ct[-2:], 16) ^ 1, "02x")
    assert secd.status("a", "decrypt", 3, nonce, aad, flipped, "chacha20-poly1305") == ST["invalid_signature"]
    assert secd.status("a", "decrypt", 3, nonce, "", ct, "chacha20-poly1305") == ST["invalid_signature"]
    assert secd.status("a", "encrypt", 3, nonce, aad, pt, "gcm") == ST["not_permitted"]


@pytest.mark.parametrize("curve", ["P-256", "P-384", "X25519"])
def test_ecdh_agrees_with_openssl(secd, tmp_path, curve):
    """secd's raw ECDH output equals openssl's derive from the other side."""
    if curve == "X25519":
        secd.ok("a", "generate", "x25519", 255, "derive", "ecdh", 4)
        rc, _, err = openssl("genpkey", "-algorithm", "X25519", "-out", tmp_path / "peer.pem")
        prefix, pub_len = X25519_SPKI_PREFIX, 32
    else:
        bits = int(curve[2:])
        secd.ok("a", "generate", "ecc", bits, "derive", "ecdh", 4)
        rc, _, err = openssl("genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}",
                             "-out", tmp_path / "peer.pem")
        prefix, pub_len = (P256_SPKI_PREFIX if bits == 256 else P384_SPKI_PREFIX), 1 + 2 * bits // 8
    assert rc == 0, err
    peer_spki = openssl("pkey", "-in", tmp_path / "peer.pem", "-pubout", "-outform", "DER")[1]
    assert peer_spki.startswith(prefix)
    peer_pub = peer_spki[-pub_len:]
    ours = bytes.fromhex(secd.ok("a", "export-public", 4))
    (tmp_path / "ours.der").write_bytes(prefix + ours)
    rc, theirs, err = openssl("pkeyutl", "-derive", "-inkey", tmp_path / "peer.pem", "-peerkey", tmp_path / "ours.der",
                              "-peerform", "DER")
    assert rc == 0, err
    assert bytes.fromhex(secd.ok("a", "ecdh", 4, peer_pub.hex())) == theirs
    # without DERIVE, no agreement; a key of another app is not there
    secd.ok("a", "generate", "ecc", 256, "sign", "ecdh", 6)
    assert secd.status("a", "ecdh", 6, peer_pub.hex()) == ST["not_permitted"]
    assert secd.status("b", "ecdh", 4, peer_pub.hex()) == ST["invalid_handle"]


def test_import_refuses_what_the_policy_does_not_allow(secd):
    cases = [
        (["import", "ed25519", "sign", "ecdsa-sha256", 1, "00" * 32], ST["invalid_argument"]),  # ECDSA on Ed25519
        (["import", "aes", "encrypt", "hmac-sha256", 1, "00" * 16], ST["invalid_argument"]),
        (["import", "hmac", "sign", "gcm", 1, "00" * 16], ST["invalid_argument"]),
        (["import", "rsa", "sign", "rsa-pss-sha256", 1, "30" * 16], ST["invalid_argument"]),  # not DER
        (["import", "chacha20", "encrypt", "chacha20-poly1305", 1, "00" * 16], ST["not_supported"]),
        (["import", "aes", "encrypt", "0x04404000", 1, "00" * 16], ST["not_supported"]),  # CBC: not offered
        (["generate", "rsa", 1024, "sign", "rsa-pss-sha256", 1], ST["not_supported"]),
    ]
    for args, want in cases:
        assert secd.status("a", *args) == want, args
    assert secd.status("a", "attrs", 1) == ST["invalid_handle"]  # nothing was kept


# --- raw frames -------------------------------------------------------------

def tlv(fields):
    return b"".join(struct.pack("<HI", t, len(v)) + v for t, v in fields)


def header(op, body_len, magic=MAGIC, version=1, status=0):
    return struct.pack("<IHHiI", magic, version, op, status, body_len)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return buf
        buf += chunk
    return buf


def read_reply(s):
    h = recv_exact(s, 16)
    magic, version, op, status, blen = struct.unpack("<IHHiI", h)
    assert magic == MAGIC and version == 1
    body = recv_exact(s, blen)
    fields, off = {}, 0
    while off < len(body):
        t, n = struct.unpack_from("<HI", body, off)
        fields[t] = body[off + 6:off + 6 + n]
        off += 6 + n
    return status, fields


def closed(s):
    """True once the daemon has closed the connection (a reset when our unread bytes were left)."""
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def call(path, op, fields):
    with connect(path) as s:
        body = tlv(fields)
        s.sendall(header(op, len(body)) + body)
        return read_reply(s)


HASH_REQ = [(TAG["alg"], struct.pack("<I", PSA_SHA256)), (TAG["input"], b"abc"), (TAG["out_size"], struct.pack("<I", 64))]


def test_malformed_frames_get_psa_errors_and_the_daemon_keeps_serving(secd):
    ok_body = tlv(HASH_REQ)
    cases = [
        ("unknown opcode", header(999, len(ok_body)) + ok_body, ST["not_supported"], True),
        ("opcode 0", header(0, len(ok_body)) + ok_body, ST["not_supported"], True),
        ("missing field", header(OP["hash_compute"], 0), ST["invalid_argument"], True),
        ("unknown tag", header(OP["hash_compute"], len(ok_body) + 6) + ok_body + struct.pack("<HI", 77, 0),
         ST["invalid_argument"], True),
        ("repeated tag", header(OP["hash_compute"], len(ok_body) * 2) + ok_body * 2, ST["invalid_argument"], True),
        ("field longer than body", header(OP["hash_compute"], 6) + struct.pack("<HI", 4, 1000),
         ST["invalid_argument"], True),
        ("short fixed field", header(OP["hash_compute"], 8) + struct.pack("<HI", 3, 2) + b"\0\0",
         ST["invalid_argument"], True),
        ("status set in request", header(OP["hash_compute"], len(ok_body), status=-1) + ok_body,
         ST["invalid_argument"], True),
        ("bad magic", header(OP["hash_compute"], len(ok_body), magic=0x12345678) + ok_body,
         ST["communication_failure"], False),
        ("other version", header(OP["hash_compute"], len(ok_body), version=2) + ok_body, ST["not_supported"], False),
        ("oversized body", header(OP["hash_compute"], 65537), ST["invalid_argument"], False),
    ]
    for name, data, want, stays_open in cases:
        with connect(secd.sock("a")) as s:
            s.sendall(data)
            status, _ = read_reply(s)
            assert status == want, name
            if stays_open:
                s.sendall(header(OP["hash_compute"], len(ok_body)) + ok_body)
                status, fields = read_reply(s)
                assert status == 0 and fields[TAG["output"]] == hashlib.sha256(b"abc").digest(), name
            else:
                assert closed(s), name
    # a truncated frame followed by a hang-up, and a silent client, stall nobody
    with connect(secd.sock("a")) as s:
        s.sendall(header(OP["hash_compute"], 100)[:10])
    silent = connect(secd.sock("a"))
    silent.sendall(header(OP["hash_compute"], len(ok_body)))
    assert call(secd.sock("a"), OP["hash_compute"], HASH_REQ)[0] == 0
    silent.close()


def test_a_frame_left_unfinished_is_dropped(secd):
    with connect(secd.sock("a")) as s:
        s.sendall(header(OP["hash_compute"], 100) + b"x")
        s.settimeout(15)
        t0 = time.monotonic()
        assert closed(s)
        assert time.monotonic() - t0 < 10
    # an idle connection between frames is kept
    with connect(secd.sock("a")) as s:
        s.settimeout(0.5)
        with pytest.raises(socket.timeout):
            s.recv(1)


def test_admin_socket_provisions_apps(secd):
    rc, out, err = secd.secure("", "keys", "generate", "--app", "a", "--id", "20", "--type", "ecc-p256")
    assert rc == 0, err
    h = hashlib.sha256(b"m").hexdigest()
    sig = secd.ok("a", "sign", 20, "ecdsa-sha256", h)
    assert secd.status("a", "verify", 20, "ecdsa-sha256", h, sig) == 0
    assert secd.status("b", "sign", 20, "ecdsa-sha256", h) == ST["invalid_handle"]
    rc, out, err = secd.secure("", "secrets", "set", "--app", "b", "--uid", "7", "--write-once", input=b"pw\n")
    assert rc == 0, err
    assert bytes.fromhex(secd.ok("b", "ps-get", 7)) == b"pw\n"
    rc, out, err = secd.secure("", "secrets", "get", "--app", "b", "--uid", "7")
    assert rc == 0 and out == b"pw\n"
    rc, out, err = secd.secure("", "secrets", "set", "--app", "b", "--uid", "7", input=b"x")
    assert rc == 1 and "PSA_ERROR_NOT_PERMITTED" in err
    rc, out, err = secd.secure("--json", "keys", "list", "--app", "a")
    assert rc == 0
    import json
    keys = json.loads(out)
    assert [k["id"] for k in keys] == [20] and keys[0]["type"] == "ecc-key-pair-secp-r1"
    rc, out, err = secd.secure("", "keys", "delete", "--app", "a", "--id", "20")
    assert rc == 0
    assert secd.status("a", "sign", 20, "ecdsa-sha256", h) == ST["invalid_handle"]
    # provisioning a new app gives it its socket
    rc, out, err = secd.secure("", "secrets", "set", "--app", "newapp", "--uid", "1", input=b"hi")
    assert rc == 0, err
    assert bytes.fromhex(secd.ok("newapp", "ps-get", 1)) == b"hi"
    # usage errors
    assert secd.secure("", "keys", "list")[0] == 2
    assert secd.secure("", "keys", "generate", "--app", "a", "--id", "0", "--type", "aes-128")[0] == 2
    assert secd.secure("", "keys", "generate", "--app", "a", "--id", "1", "--type", "rsa")[0] == 2
    assert secd.secure("", "keys", "list", "--app", "../etc")[0] == 1


def test_admin_socket_is_private(secd):
    assert os.stat(secd.admin).st_mode & 0o777 == 0o600
    # the admin field is mandatory there: no implicit app
    assert call(secd.admin, OP["key_list"], [])[0] == ST["invalid_argument"]
    assert call(secd.admin, OP["key_list"], [(TAG["app"], b"A/..")])[0] == ST["invalid_argument"]


def test_cli_help(build_dir):
    p = subprocess.run([str(build_dir / "host" / "alder"), "secure", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "Usage: alder secure keys list" in p.stdout and "Exit status" in p.stdout


def test_cli_provisions_the_new_key_types(secd, tmp_path):
    for key_id, kind in ((30, "ed25519"), (31, "rsa-2048"), (32, "chacha20"), (33, "hmac-sha256"), (34, "x25519")):
        rc, _, err = secd.secure("", "keys", "generate", "--app", "a", "--id", str(key_id), "--type", kind)
        assert rc == 0, err
    check_ed25519(secd, "a", 30, tmp_path)
    check_rsa_pss(secd, "a", 31, 2048, tmp_path)
    ct = secd.ok("a", "encrypt", 32, "00" * 12, "", "beef", "chacha20-poly1305")
    assert secd.ok("a", "decrypt", 32, "00" * 12, "", ct, "chacha20-poly1305") == "beef"
    mac = secd.ok("a", "mac", 33, "hmac-sha256", "00")
    assert secd.status("a", "mac-verify", 33, "hmac-sha256", "00", mac) == 0
    rc, out, _ = secd.secure("--json", "keys", "list", "--app", "a")
    types = {k["id"]: k["type"] for k in json.loads(out)}
    assert types == {30: "ecc-key-pair-twisted-edwards", 31: "rsa-key-pair", 32: "chacha20", 33: "hmac",
                     34: "ecc-key-pair-montgomery"}
