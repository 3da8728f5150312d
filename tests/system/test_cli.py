"""The alder CLI's contract: help, version, JSON output, exit codes."""
import re


def test_help_lists_commands_and_exit_codes(alder):
    r = alder("--help")
    assert r.rc == 0
    assert r.out.startswith("Usage: alder")
    for word in ("version", "ipc", "help", "Exit status:", "--json"):
        assert word in r.out


def test_no_command_is_a_usage_error(alder):
    r = alder()
    assert r.rc == 2
    assert "Usage: alder" in r.err


def test_unknown_command(alder):
    r = alder("frobnicate")
    assert r.rc == 2
    assert "unknown command 'frobnicate'" in r.err


def test_unknown_option_of_a_command(alder):
    r = alder("version", "--bogus")
    assert r.rc == 2
    assert "unknown option '--bogus'" in r.err
    assert "alder version --help" in r.err


def test_version_text_and_json(alder):
    r = alder("--version")
    assert r.rc == 0
    assert re.fullmatch(r"alder \d+\.\d+\.\d+\n", r.out)
    j = alder("version", "--json")
    assert j.rc == 0
    doc = j.json()
    assert doc["version"] == r.out.split()[1]
    assert isinstance(doc["features"]["journal"], bool)
    # global --json before the command means the same
    assert alder("--json", "version").json() == doc


def test_every_command_has_help(alder):
    for cmd in ("version", "ipc", "logs"):
        r = alder(cmd, "--help")
        assert r.rc == 0, cmd
        assert r.out.startswith(f"Usage: alder {cmd}"), cmd
        h = alder("help", cmd)
        assert h.out == r.out


def test_help_of_unknown_command(alder):
    r = alder("help", "nope")
    assert r.rc == 2
