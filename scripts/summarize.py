#!/usr/bin/python3
"""Adds up the test results of scripts/test.sh and prints one closing line.

Arguments are KIND:PATH, with KIND `meson` (a meson testlog.json whose tests
are cmocka programs: their individual test cases are counted) or `pytest` (a
JUnit XML file). Exits 1 if anything failed or nothing ran.
"""
import json
import re
import sys
import xml.etree.ElementTree as ET

CMOCKA_PASSED = re.compile(r"^\[  PASSED  \] (\d+) test\(s\)\.", re.M)
CMOCKA_FAILED = re.compile(r"^\[  FAILED  \] (\d+) test\(s\), listed below", re.M)


def meson_counts(path):
    passed = failed = skipped = 0
    with open(path) as f:
        for line in f:
            entry = json.loads(line)
            if entry.get("result") == "SKIP":  # exit 77: the program said why on stderr
                skipped += 1
                continue
            out = (entry.get("stdout") or "") + (entry.get("stderr") or "")  # cmocka: summary on stderr
            p = sum(int(n) for n in CMOCKA_PASSED.findall(out))
            fl = sum(int(n) for n in CMOCKA_FAILED.findall(out))
            if entry.get("result") != "OK" and fl == 0:
                fl = 1  # crashed or timed out before cmocka could report
            passed += p
            failed += fl
    return passed, failed, skipped


def pytest_counts(path):
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    total = failed = skipped = 0
    for s in suites:
        total += int(s.get("tests", 0))
        failed += int(s.get("failures", 0)) + int(s.get("errors", 0))
        skipped += int(s.get("skipped", 0))
    return total - failed - skipped, failed, skipped


def main(args):
    passed = failed = skipped = 0
    for arg in args:
        kind, _, path = arg.partition(":")
        try:
            p, f, s = meson_counts(path) if kind == "meson" else pytest_counts(path)
        except (OSError, ValueError, ET.ParseError) as e:
            print(f"summary: cannot read {path}: {e}", file=sys.stderr)
            p, f, s = 0, 1, 0
        print(f"  {kind:6} {path}: {p} passed, {f} failed, {s} skipped")
        passed, failed, skipped = passed + p, failed + f, skipped + s
    print(f"summary: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
