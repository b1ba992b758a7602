"""pixelmed's DicomAndWebStorageServer as a third, independent archive. It must never run on the
host's network (it binds every interface and makes LDAP and multicast-DNS discovery when it
starts), so its cases (netns_pixelmed.py) run in a pytest of their own under `unshare -n`, a
network namespace with only its own loopback, together with the mounts that talk to it; FUSE
mounts there as anywhere (the mount namespace is the host's). Each case is reported here as a
test of its own."""
import ast
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
INNER = os.path.join(HERE, "netns_pixelmed.py")


def _cases():
    with open(INNER) as f:
        tree = ast.parse(f.read())
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef)
            and n.name.startswith("test_")]


@pytest.fixture(scope="module")
def inner_run(tmp_path_factory, trolley_binary):
    """Run every pixelmed case once, in a network namespace of their own: {case: (outcome,
    text)} from pytest's JUnit report, and pytest's own output."""
    d = tmp_path_factory.mktemp("pixelmed")
    report = d / "report.xml"
    env = dict(os.environ, TROLLEY_BIN=trolley_binary)
    proc = subprocess.run(["unshare", "-n", sys.executable, "-m", "pytest", "-q",
                           "-p", "no:cacheprovider", "--junitxml", str(report), INNER],
                          cwd=HERE, env=env, capture_output=True, text=True, timeout=600)
    results = {}
    if report.exists():
        for case in ET.parse(report).getroot().iter("testcase"):
            bad = [c for c in case if c.tag in ("failure", "error", "skipped")]
            text = "\n".join((c.get("message") or "") + "\n" + (c.text or "") for c in bad)
            results[case.get("name")] = (bad[0].tag if bad else "passed", text)
    return results, proc.stdout + proc.stderr


@pytest.mark.parametrize("case", _cases())
def test_pixelmed(inner_run, case):
    results, output = inner_run
    assert case in results, "the case did not run:\n" + output
    outcome, text = results[case]
    assert outcome == "passed", text
