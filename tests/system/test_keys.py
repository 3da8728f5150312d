"""`alder keys generate` and `alder keys show`: files, modes, output, errors."""
import re
import stat
import subprocess


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def generate(alder, prefix, *args):
    r = alder("keys", "generate", "--out", str(prefix), *args, "--json")
    assert r.rc == 0, r.err
    return r.json()


def test_help(alder):
    for args in (("keys", "--help"), ("keys", "generate", "--help"), ("keys", "show", "--help")):
        r = alder(*args)
        assert r.rc == 0, args
        assert r.out.startswith("Usage: alder keys"), args
        assert "Exit status" in r.out or "Commands:" in r.out
    assert alder("help", "keys").out == alder("keys", "--help").out
    assert "keys" in alder("--help").out


def test_generate_self_signed(alder, tmp_path):
    doc = generate(alder, tmp_path / "dev", "--cn", "ACME dev", "--days", "30")
    key, cert = tmp_path / "dev.key", tmp_path / "dev.pem"
    assert mode(key) == 0o600
    assert mode(cert) == 0o644
    assert doc["key"] == str(key) and doc["certificate"] == str(cert)
    assert doc["subject"] == "CN=ACME dev" == doc["issuer"]
    assert doc["ca"] is True and doc["self_signed"] is True
    assert doc["key_type"] == "EC P-256"
    assert re.fullmatch(r"[0-9a-f]{64}", doc["fingerprint"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["not_after"])
    assert "PRIVATE KEY" not in alder("keys", "generate", "--out", str(tmp_path / "x")).out

    # OpenSSL agrees on the certificate and on the fingerprint (SHA-256 of the SubjectPublicKeyInfo)
    text = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-subject", "-ext", "basicConstraints"],
                          capture_output=True, text=True, check=True).stdout
    assert "CN = ACME dev" in text and "CA:TRUE" in text
    spki = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"],
                          capture_output=True, check=True).stdout
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-r"], input=spki, capture_output=True,
                            check=True).stdout.split()[0].decode()
    assert digest == doc["fingerprint"]


def test_show_certificate_key_and_chain(alder, tmp_path):
    ca = generate(alder, tmp_path / "ca", "--cn", "ACME CA")
    leaf = generate(alder, tmp_path / "ci", "--cn", "ACME CI",
                    "--ca-key", str(tmp_path / "ca.key"), "--ca-cert", str(tmp_path / "ca.pem"))
    assert leaf["issuer"] == "CN=ACME CA" and leaf["ca"] is False

    shown = alder("keys", "show", str(tmp_path / "ci.pem"), "--json").json()
    assert shown["fingerprint"] == leaf["fingerprint"]
    assert "chain" not in shown

    key = alder("keys", "show", "--json", str(tmp_path / "ci.key")).json()
    assert key == {"type": "private key", "key_type": "EC P-256", "fingerprint": leaf["fingerprint"]}
    text = alder("keys", "show", str(tmp_path / "ci.key"))
    assert text.rc == 0 and leaf["fingerprint"] in text.out and "BEGIN" not in text.out

    chain = tmp_path / "chain.pem"
    chain.write_text((tmp_path / "ci.pem").read_text() + (tmp_path / "ca.pem").read_text())
    doc = alder("keys", "show", str(chain), "--json").json()
    assert doc["subject"] == "CN=ACME CI"
    assert [c["fingerprint"] for c in doc["chain"]] == [ca["fingerprint"]]
    text = alder("keys", "show", str(chain)).out
    assert text.count("fingerprint:") == 2 and "CA:          yes (self-signed)" in text


def test_generate_refuses_to_overwrite(alder, tmp_path):
    first = generate(alder, tmp_path / "k")
    r = alder("keys", "generate", "--out", str(tmp_path / "k"))
    assert r.rc == 1
    assert f"'{tmp_path}/k.key' exists (use --force to replace it)" in r.err
    assert alder("keys", "show", str(tmp_path / "k.pem"), "--json").json()["fingerprint"] == first["fingerprint"]
    second = generate(alder, tmp_path / "k", "--force")
    assert second["fingerprint"] != first["fingerprint"]


def test_errors_and_usage(alder, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    r = alder("keys", "show", str(bad))
    assert r.rc == 1
    assert f"'{bad}': neither a PEM certificate nor a PEM private key" in r.err
    r = alder("keys", "show", str(tmp_path / "missing.pem"), "--json")
    assert r.rc == 1 and "No such file or directory" in r.json()["error"]["message"]

    for args, message in [
        (("keys",), "Usage: alder keys"),
        (("keys", "frob"), "unknown subcommand 'frob'"),
        (("keys", "show"), "FILE is required"),
        (("keys", "generate", "--days", "0"), "--days: '0' is not a number of days in 1..36500"),
        (("keys", "generate", "--ca-key", "x"), "--ca-key and --ca-cert go together"),
        (("keys", "generate", "--bogus"), "unknown option '--bogus'"),
        (("keys", "generate", "--out"), "option '--out' needs an argument"),
    ]:
        r = alder(*args)
        assert r.rc == 2, args
        assert message in r.err, (args, r.err)

    r = alder("keys", "generate", "--out", str(tmp_path / "c"), "--ca-key", str(bad), "--ca-cert", str(bad))
    assert r.rc == 1
    assert f"generate key: load CA: '{bad}': no PEM private key" in r.err
    assert not (tmp_path / "c.key").exists()
