"""alder-secd with its TPM 2.0 backend against swtpm, which each test starts on
a free loopback port (state folder in the test's tmp_path): keys made in the
TPM under the SRK sign (ECDSA P-256/P-384, RSA-PSS 2048/3072) and the openssl
CLI verifies; the device key is sealed to the TPM; keys survive restarts of
secd and of swtpm; tpm2-tools inspects the same TPM. Skipped only when swtpm
is not installed (scripts/deps.sh installs it for the tests)."""
import hashlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from test_secd import ST, Secd, check_ed25519, check_rsa_pss, ecdsa_der, openssl, P256_SPKI_PREFIX, P384_SPKI_PREFIX

pytestmark = pytest.mark.skipif(shutil.which("swtpm") is None,
                                reason="swtpm is not installed (scripts/deps.sh test installs swtpm)")


def free_port_pair():
    """A port P with P+1 free as well (swtpm's control channel), on loopback."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p >= 65535:
            continue
        try:
            with socket.socket() as s2:
                s2.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
    pytest.fail("no free pair of loopback ports")


class Swtpm:
    def __init__(self, state, port):
        self.state = state
        self.port = port
        self.proc = None
        state.mkdir(parents=True, exist_ok=True)

    @property
    def tcti(self):
        return f"swtpm:host=127.0.0.1,port={self.port}"

    def start(self):
        self.proc = subprocess.Popen(
            ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={self.state}", "--flags", "not-need-init,startup-clear",
             "--server", f"type=tcp,port={self.port},bindaddr=127.0.0.1",
             "--ctrl", f"type=tcp,port={self.port + 1},bindaddr=127.0.0.1"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            assert self.proc.poll() is None, self.proc.stdout.read()
            try:
                with socket.create_connection(("127.0.0.1", self.port + 1), timeout=1):
                    return
            except OSError:
                assert time.monotonic() < deadline, "swtpm did not come up"
                time.sleep(0.05)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def tools(self, *args):
        p = subprocess.run([*args, "-T", self.tcti], capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout, p.stderr


@pytest.fixture
def swtpm(tmp_path):
    t = Swtpm(tmp_path / "tpm-state", free_port_pair())
    t.start()
    yield t
    t.stop()


def tpm_secd(build_dir, root, tpm):
    return Secd(build_dir, root, ["a", "b"], config={"backend": "tpm", "tpm": {"tcti": tpm.tcti}})


@pytest.fixture
def secd(build_dir, tmp_path, swtpm):
    d = tpm_secd(build_dir, tmp_path / "root", swtpm)
    d.start()
    yield d
    if d.proc.poll() is None:
        d.stop()


def verify_ecdsa_with_openssl(secd, app, key_id, bits, tmp_path):
    msg = b"signed in the TPM"
    h = (hashlib.sha256 if bits == 256 else hashlib.sha384)(msg).hexdigest()
    alg = "ecdsa-sha256" if bits == 256 else "ecdsa-sha384"
    sig = bytes.fromhex(secd.ok(app, "sign", key_id, alg, h))
    assert len(sig) == 2 * bits // 8
    pub = bytes.fromhex(secd.ok(app, "export-public", key_id))
    assert len(pub) == 1 + 2 * bits // 8 and pub[0] == 4
    (tmp_path / "msg").write_bytes(msg)
    (tmp_path / "pub.der").write_bytes((P256_SPKI_PREFIX if bits == 256 else P384_SPKI_PREFIX) + pub)
    (tmp_path / "sig.der").write_bytes(ecdsa_der(sig))
    rc, out, err = openssl("dgst", f"-sha{bits}", "-verify", tmp_path / "pub.der", "-keyform", "DER",
                           "-signature", tmp_path / "sig.der", tmp_path / "msg")
    assert rc == 0 and b"Verified OK" in out, out + err.encode()
    assert secd.status(app, "verify", key_id, alg, h, sig.hex()) == 0
    return pub


@pytest.mark.parametrize("bits", [256, 384])
def test_tpm_ecdsa_key_signs_and_openssl_verifies(secd, swtpm, tmp_path, bits):
    alg = "ecdsa-sha256" if bits == 256 else "ecdsa-sha384"
    secd.ok("a", "generate", "ecc", bits, "sign,verify", alg, 1)
    verify_ecdsa_with_openssl(secd, "a", 1, bits, tmp_path)
    # the private key is the TPM's: not exportable, and the stored blob holds no scalar OpenSSL could load
    assert secd.status("a", "export", 1) == ST["not_permitted"]
    # tpm2-tools sees the key loaded in the same TPM, beside the SRK (two transient objects)
    rc, out, err = swtpm.tools("tpm2_getcap", "handles-transient")
    assert rc == 0, err
    assert len([line for line in out.splitlines() if line.strip().startswith("- 0x80")]) == 2, out
    # app b cannot reach app a's TPM key, whatever id it sends
    assert secd.status("b", "sign", 1, alg, "00" * (bits // 8)) == ST["invalid_handle"]


@pytest.mark.parametrize("bits", [2048, 3072])
def test_tpm_rsa_pss_key_signs_and_openssl_verifies(secd, tmp_path, bits):
    secd.ok("a", "generate", "rsa", bits, "sign,verify", "rsa-pss-sha256", 2)
    check_rsa_pss(secd, "a", 2, bits, tmp_path)
    assert secd.status("a", "export", 2) == ST["not_permitted"]
    # PKCS#1 v1.5 (TPM2_ALG_RSASSA), verified by openssl too
    secd.ok("a", "generate", "rsa", bits, "sign,verify", "rsa-pkcs1-sha256", 3)
    msg = b"pkcs1 in the TPM"
    (tmp_path / "msg").write_bytes(msg)
    (tmp_path / "sig").write_bytes(bytes.fromhex(secd.ok("a", "sign-msg", 3, "rsa-pkcs1-sha256", msg.hex())))
    (tmp_path / "rsa3.der").write_bytes(bytes.fromhex(secd.ok("a", "export-public", 3)))
    assert openssl("rsa", "-RSAPublicKey_in", "-inform", "DER", "-in", tmp_path / "rsa3.der", "-pubout",
                   "-out", tmp_path / "rsa3.pem")[0] == 0
    rc, out, err = openssl("dgst", "-sha256", "-verify", tmp_path / "rsa3.pem", "-signature", tmp_path / "sig",
                           tmp_path / "msg")
    assert rc == 0 and b"Verified OK" in out, out + err.encode()


def test_device_key_is_sealed_to_the_tpm(build_dir, secd, swtpm, tmp_path):
    keydir = secd.root / "config/secd"
    assert not (keydir / "device.key").exists()
    assert (keydir / "device.key.sealed").stat().st_mode & 0o777 == 0o600
    secd.ok("a", "ps-set", 5, b"sealed secret".hex(), "write-once")
    secd.ok("a", "generate", "aes", 256, "encrypt,decrypt", "gcm", 3)  # a software key under the sealed device key
    ct = secd.ok("a", "encrypt", 3, "00" * 12, "", b"x".hex())
    secd.stop()
    # another TPM (a fresh state) cannot unseal it: secd refuses to start, saying why
    other = Swtpm(tmp_path / "other-state", free_port_pair())
    other.start()
    try:
        (secd.root / "config/secd.json").write_text(
            '{"backend": "tpm", "tpm": {"tcti": "%s"}}' % other.tcti)
        err = secd.start(expect_failure=True)
        assert "unseal device key" in err and "device.key.sealed" in err, err
        # and the software backend cannot either
        (secd.root / "config/secd.json").write_text('{"backend": "software"}')
        err = secd.start(expect_failure=True)
        assert "sealed to a TPM" in err, err
    finally:
        other.stop()
    # back on its own TPM, everything opens
    (secd.root / "config/secd.json").write_text('{"backend": "tpm", "tpm": {"tcti": "%s"}}' % swtpm.tcti)
    secd.start()
    assert bytes.fromhex(secd.ok("a", "ps-get", 5)) == b"sealed secret"
    assert secd.ok("a", "decrypt", 3, "00" * 12, "", ct) == b"x".hex()


def test_keys_survive_secd_and_swtpm_restarts(secd, swtpm, tmp_path):
    secd.ok("a", "generate", "ecc", 256, "sign,verify", "ecdsa-sha256", 1)
    secd.ok("a", "generate", "rsa", 2048, "sign,verify", "rsa-pss-sha256", 2)
    pub1 = verify_ecdsa_with_openssl(secd, "a", 1, 256, tmp_path)
    pub2 = secd.ok("a", "export-public", 2)
    h = hashlib.sha256(b"again").hexdigest()
    # swtpm restarts under a running secd (same state, same port): secd reconnects at the next call
    swtpm.stop()
    assert secd.status("a", "sign", 1, "ecdsa-sha256", h) == -147  # PSA_ERROR_HARDWARE_FAILURE while it is down
    swtpm.start()
    assert verify_ecdsa_with_openssl(secd, "a", 1, 256, tmp_path) == pub1
    sig = secd.ok("a", "sign", 2, "rsa-pss-sha256", h)
    assert secd.status("a", "verify", 2, "rsa-pss-sha256", h, sig) == 0
    # both restart
    secd.stop()
    swtpm.stop()
    swtpm.start()
    secd.start()
    assert verify_ecdsa_with_openssl(secd, "a", 1, 256, tmp_path) == pub1
    assert secd.ok("a", "export-public", 2) == pub2
    err = secd.stop()
    assert "reconnecting" not in err  # a fresh start connects once


def test_software_keys_under_the_tpm_backend(secd, tmp_path):
    """What the TPM does not do (Ed25519, AES-GCM, HMAC, ECDH, exportable or imported keys) stays available."""
    secd.ok("a", "generate", "ed25519", 255, "sign,verify", "eddsa", 1)
    check_ed25519(secd, "a", 1, tmp_path)
    secd.ok("a", "generate", "aes", 128, "encrypt,decrypt", "gcm", 2)
    ct = secd.ok("a", "encrypt", 2, "00" * 12, "", "abcd")
    assert secd.ok("a", "decrypt", 2, "00" * 12, "", ct) == "abcd"
    secd.ok("a", "import", "hmac", "sign,verify", "hmac-sha256", 3, "0b" * 20)
    assert secd.ok("a", "mac", 3, "hmac-sha256", b"Hi There".hex()) == \
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"  # RFC 4231 case 1
    # an exportable ECDSA key is a software key: it exports (what a TPM key never does)
    secd.ok("a", "generate", "ecc", 256, "sign,verify,export", "ecdsa-sha256", 4)
    assert len(bytes.fromhex(secd.ok("a", "export", 4))) == 32
    verify_ecdsa_with_openssl(secd, "a", 4, 256, tmp_path)
    # random bytes come from the TPM (GetRandom in pieces): large requests too
    r = secd.ok("a", "random", 1000)
    assert len(r) == 2000 and r != secd.ok("a", "random", 1000)


def mapped_tss_libraries(pid):
    return sorted({line.split()[-1] for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
                   if "/libtss2-" in line})


def test_tpm2_tss_is_loaded_by_the_tpm_backend_alone(build_dir, tmp_path, swtpm):
    """tpm2-tss is dlopen()ed when the backend starts: a secd with another backend does not map it; without
    it, backend tpm refuses to start and names the library."""
    soft = Secd(build_dir, tmp_path / "soft", ["a"])
    soft.start()
    try:
        assert mapped_tss_libraries(soft.proc.pid) == []
    finally:
        soft.stop()
    tpm = tpm_secd(build_dir, tmp_path / "tpm", swtpm)
    tpm.start()
    try:
        libs = mapped_tss_libraries(tpm.proc.pid)
        assert [lib for lib in libs if "libtss2-esys.so" in lib], libs
        esys = next(lib for lib in libs if "libtss2-esys.so" in lib)
    finally:
        tpm.stop()
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("hiding the library needs root and unshare")
    # in a mount namespace of its own, the library is /dev/null
    cmd = f"mount --bind /dev/null {esys} && exec {tpm.exe} --root {tpm.root} --app a"
    p = subprocess.run(["unshare", "-m", "sh", "-c", cmd], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "ALDER_LOG_TARGET": "stderr"})
    assert p.returncode == 1, p.stderr
    assert "backend tpm: load tpm2-tss: " in p.stderr and "libtss2-esys.so.0: file too short" in p.stderr, p.stderr
