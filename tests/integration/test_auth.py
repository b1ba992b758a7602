"""Logins: HTTP basic auth against a real Orthanc, bearer tokens re-read on 401, ~/.netrc, and
secrets kept out of argv, logs and the mount table. The test archives speak plain http on
loopback, so every mount with credentials says allow_http_auth (test_security.py checks that
without it they are refused)."""
import errno
import hashlib
import os
import subprocess

import pytest

from conftest import BIN, is_mounted


def _secret(tmp_path, name, text, mode=0o600):
    path = tmp_path / name
    path.write_text(text + "\n")
    os.chmod(path, mode)
    return str(path)


def _pid003_files(m):
    base = m.path("patients", "O_Brien^Pat [PID003]", "2021-01-15 MR KNEE [ACC4]", "1 MR PD")
    return [os.path.join(base, f) for f in sorted(os.listdir(base)) if f.endswith(".dcm")]


def test_basic_auth_reads_byte_identical_files(mount, orthanc_auth, data, tmp_path):
    pw = _secret(tmp_path, "pw", "s3cret")
    m = mount(orthanc_auth.dicomweb, options="allow_http_auth,user=alice,password_file=" + pw)
    files = _pid003_files(m)
    assert len(files) == 25
    want = {e["md5"] for e in data["manifest"] if e["PatientID"] == "PID003"}
    for f in files:
        with open(f, "rb") as fh:
            assert hashlib.md5(fh.read()).hexdigest() in want
    # The password is in no log, no argument list and no mount table.
    assert "s3cret" not in m.text()
    with open("/proc/%d/cmdline" % m.proc.pid, "rb") as f:
        assert b"s3cret" not in f.read()
    with open("/proc/self/mountinfo") as f:
        assert "s3cret" not in f.read()


def test_wrong_password_is_eacces_not_a_crash(mount, orthanc_auth, tmp_path):
    pw = _secret(tmp_path, "pw", "n0t-the-r1ght-0ne")
    m = mount(orthanc_auth.dicomweb, options="allow_http_auth,user=alice,password_file=" + pw,
              expect_errors=True)
    with pytest.raises(OSError) as exc:
        os.listdir(m.path("patients"))
    assert exc.value.errno == errno.EACCES
    assert "HTTP 401" in m.text()
    assert "n0t-the-r1ght-0ne" not in m.text()
    assert os.listdir(m.mountpoint)  # still mounted and answering


def test_no_credentials_is_eacces(mount, orthanc_auth):
    m = mount(orthanc_auth.dicomweb, expect_errors=True)
    with pytest.raises(OSError) as exc:
        os.listdir(m.path("studies"))
    assert exc.value.errno == errno.EACCES


def test_netrc_supplies_the_login(mount, orthanc_auth, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    _secret(home, ".netrc", "machine 127.0.0.1 login alice password s3cret")
    m = mount(orthanc_auth.dicomweb, options="netrc,allow_http_auth", env={**os.environ, "HOME": str(home)})
    assert len(_pid003_files(m)) == 25


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_secret_files_readable_by_others_are_refused(tmp_path, orthanc_auth, mode):
    pw = _secret(tmp_path, "pw", "s3cret", mode)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    out = subprocess.run([BIN, "-o", "allow_http_auth,user=alice,password_file=%s,cache_dir=%s" %
                          (pw, tmp_path / "c"), orthanc_auth.dicomweb, str(mnt)],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 1
    assert "chmod 600" in out.stderr
    assert "s3cret" not in out.stderr
    assert not is_mounted(str(mnt))


def test_password_in_source_url_is_refused(tmp_path, orthanc_auth):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    url = orthanc_auth.dicomweb.replace("http://", "http://alice:s3cret@")
    out = subprocess.run([BIN, "-o", "cache_dir=%s" % (tmp_path / "c"), url, str(mnt)],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 1
    assert "password_file" in out.stderr
    assert "s3cret" not in out.stderr
    assert not is_mounted(str(mnt))


def test_bearer_token_is_read_again_after_401(mount, source, proxy, tmp_path):
    token = _secret(tmp_path, "token", "first-token")
    proxy.require_auth("Bearer first-token")
    m = mount(source, options="allow_http_auth,token_file=" + token, expect_errors=True)
    assert "Doe^John [PID001]" in os.listdir(m.path("patients"))
    # An outside refresher replaces the token; the archive now wants the new one.
    with open(token, "w") as f:
        f.write("second-token\n")
    proxy.require_auth("Bearer second-token")
    proxy.requests.clear()
    assert len(os.listdir(m.path("patients", "Doe^John [PID001]"))) == 2
    statuses = [r["status"] for r in proxy.requests]
    assert statuses[0] == 401 and statuses[-1] is None  # refused once, then served
    assert "first-token" not in m.text() and "second-token" not in m.text()
    # A token that stays wrong is EACCES.
    proxy.require_auth("Bearer third-token")
    with pytest.raises(OSError) as exc:
        os.listdir(m.path("patients", "Müller^Jürgen [PID002]"))
    assert exc.value.errno == errno.EACCES
