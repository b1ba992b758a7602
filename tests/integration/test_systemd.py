"""systemd: the shipped unit and fstab examples (dist/systemd) are valid and their options and
command lines mount, with the password read from a file; under a Type=notify service the
daemon says READY=1 once it serves. (No systemd runs here: what systemd would do with the
units is done by hand, the units themselves are checked with systemd-analyze verify.)"""
import base64
import configparser
import os
import re
import shlex
import shutil
import socket
import subprocess

import pytest

from conftest import BIN, REPO

UNITS = os.path.join(REPO, "dist", "systemd")
PASSWORD = "s3cret pass,word"  # a comma and a space: it must never travel in -o


def _unit(name):
    p = configparser.ConfigParser(interpolation=None, strict=False)
    p.optionxform = str
    p.read(os.path.join(UNITS, name))
    return p


def _site_options(opts, tmp_path):
    """The example's options with its site paths made the test's: cache_dir goes (the mount
    fixture sets its own), password_file points to a file holding PASSWORD."""
    secret = tmp_path / "pacs.password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    out = []
    for o in opts.split(","):
        if o.startswith("cache_dir="):
            continue
        if o.startswith("password_file="):
            o = "password_file=%s" % secret
        out.append(o)
    # The test archive speaks plain http: credentials go there only when allowed.
    return ",".join(out + ["allow_http_auth"])


def _basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
def test_unit_examples_pass_systemd_analyze_verify(tmp_path):
    """Syntax, sections, a .mount named after its Where=, an ExecStart that exists (the
    binary under test stands in for /usr/sbin/mount.trolley until the package is installed:
    tests/integration/test_package.py verifies the installed units as shipped)."""
    units = [f for f in os.listdir(UNITS) if re.search(r"\.(mount|automount|service)$", f)]
    assert {"mnt-pacs.mount", "mnt-pacs.automount", "trolley-pacs.service"} <= set(units)
    for f in units:
        text = open(os.path.join(UNITS, f)).read().replace("/usr/sbin/mount.trolley", BIN)
        (tmp_path / f).write_text(text)
    out = subprocess.run(["systemd-analyze", "verify", "--man=no"] +
                         [str(tmp_path / f) for f in units], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stderr.strip() == "", out.stderr
    # The .mount's name is what systemd derives from its Where= (else systemd refuses it).
    where = _unit("mnt-pacs.mount")["Mount"]["Where"]
    assert where.strip("/").replace("/", "-") + ".mount" == "mnt-pacs.mount"
    assert _unit("mnt-pacs.automount")["Automount"]["Where"] == where


@pytest.mark.parametrize("example", ["mnt-pacs.mount", "fstab.example"])
def test_example_options_mount_with_password_from_file(tmp_path, mount, proxy, source,
                                                      example):
    """What systemd hands mount(8) from the .mount unit or the fstab line (_netdev,
    x-systemd.*, noauto, ro, allow_other ...) is accepted; the password comes from the file."""
    if example.endswith(".mount"):
        opts = _unit(example)["Mount"]["Options"]
    else:
        line = next(l for l in open(os.path.join(UNITS, example))
                    if l.strip() and not l.startswith("#"))
        opts = line.split()[3]
        assert line.split()[2] == "trolley"
    assert "password_file=" in opts and "_netdev" in opts
    user = re.search(r"(?:^|,)user=([^,]+)", opts).group(1)
    proxy.require_auth(_basic(user, PASSWORD))
    m = mount(source, options=_site_options(opts, tmp_path))
    assert "Doe^John [PID001]" in os.listdir(m.path("patients"))
    assert proxy.count() > 0
    assert all(r["status"] is None for r in proxy.log()), "a request was refused (401)"
    assert PASSWORD not in m.text()
    with open("/proc/self/mountinfo") as f:
        line = next(l for l in f if m.mountpoint in l)
    assert "fuse.trolley" in line and " ro," in line


@pytest.mark.parametrize("address", ["path", "abstract"])
def test_service_example_tells_systemd_when_ready(tmp_path, mount, proxy, source, address):
    """trolley-pacs.service's ExecStart (Type=notify, LoadCredential=): run as systemd would,
    with $NOTIFY_SOCKET and the credential copied into the credentials folder (%d). READY=1
    comes once the mount serves; STOPPING=1 when it ends."""
    svc = _unit("trolley-pacs.service")["Service"]
    assert svc["Type"] == "notify"
    cred_name, cred_src = svc["LoadCredential"].split(":", 1)
    argv = shlex.split(svc["ExecStart"])
    assert argv[0] == "/usr/sbin/mount.trolley" and "-f" in argv
    opts = argv[argv.index("-o") + 1]
    creds = tmp_path / "credentials"
    creds.mkdir()
    opts = opts.replace("%d", str(creds))
    assert "password_file=%s/%s" % (creds, cred_name) in opts
    (creds / cred_name).write_text(PASSWORD)
    (creds / cred_name).chmod(0o400)  # as systemd leaves a credential
    user = re.search(r"(?:^|,)user=([^,]+)", opts).group(1)
    opts = ",".join(o for o in opts.split(",") if not o.startswith("cache_dir="))
    opts += ",allow_http_auth"
    proxy.require_auth(_basic(user, PASSWORD))

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if address == "path":
        name = str(tmp_path / "notify")
        sock.bind(name)
    else:
        name = "@trolley-test-%d" % os.getpid()
        sock.bind("\0" + name[1:])
    sock.settimeout(30)
    try:
        m = mount(source, options=opts, env={**os.environ, "NOTIFY_SOCKET": name})
        msg = sock.recv(4096).decode()
        assert "READY=1" in msg.split("\n"), msg
        # Ready means serving: the listing answers (the archive is asked now, with the
        # credential from the file).
        assert "Doe^John [PID001]" in os.listdir(m.path("patients"))
        assert all(r["status"] is None for r in proxy.log())
        assert m.unmount() == 0
        msg = sock.recv(4096).decode()
        assert "STOPPING=1" in msg.split("\n"), msg
    finally:
        sock.close()
