"""MINT search (test server in the captured Vitrea format) with WADO-URI downloads from the
real Orthanc: the same truth as every other protocol."""
import errno
import hashlib
import os
import subprocess

import pytest

import naming
from mint_server import MintServer


@pytest.fixture(scope="module")
def mint(data):
    s = MintServer(data["manifest"])
    yield s
    s.stop()


def _source(mint):
    return "mint+" + mint.url


def test_mint_tree_matches_and_exports_byte_identical(mount, mint, proxy, data, tmp_path):
    m = mount(_source(mint), options="wado_uri=%s/wado" % proxy.url)
    assert set(os.listdir(m.path("patients"))) == naming.patient_folders(data["manifest"])
    study = m.path("patients", "Müller^Jürgen [PID002]", "2020-03-03 CT THORAX [ACC3]")
    out = tmp_path / "x"
    subprocess.run(["cp", "-r", study, str(out)], check=True)
    tree = naming.patients_tree(data["manifest"])
    want = {rel.split("/", 2)[2]: sop for sop, rel in tree.items()
            if rel.startswith("Müller^Jürgen [PID002]/2020-03-03 CT THORAX [ACC3]/")}
    got = {os.path.relpath(os.path.join(r, f), out) for r, _, fs in os.walk(out) for f in fs}
    assert got == set(want)  # the clash suffixes too; no metadata.json without WADO-RS
    for rel, sop in want.items():
        with open(out / rel, "rb") as f:
            assert hashlib.md5(f.read()).hexdigest() == data["by_sop"][sop]["md5"]
    levels = {r.get("queryLevel") for r in mint.requests}
    assert levels == {"STUDY", "SERIES", "INSTANCE"}


def test_mint_search_maps_date_ranges_and_refuses_what_it_cannot_search(mount, mint, proxy):
    m = mount(_source(mint), options="wado_uri=%s/wado" % proxy.url, expect_errors=True)
    got = sorted(os.listdir(m.path("search", "PatientName=D*&StudyDate=20200302-")))
    assert got == ["2020-03-02 MR BRAIN"]
    req = mint.requests[-1]
    assert req["minStudyDate"] == "20200302" and req["maxStudyDate"] == "99991231"
    assert req["patientName"] == "D*"
    with pytest.raises(OSError) as exc:
        os.listdir(m.path("search", "SeriesDescription=Axial"))
    assert exc.value.errno == errno.EINVAL
    assert "MINT cannot search SeriesDescription" in m.text()


def test_mint_error_page_is_eio_never_an_empty_folder(mount, mint, proxy):
    m = mount(_source(mint), options="wado_uri=%s/wado" % proxy.url, expect_errors=True)
    for name, line in (("ERROR500", "HTTP 500"), ("HTML200", "not MINT studySearchResults")):
        with pytest.raises(OSError) as exc:
            os.listdir(m.path("search", "PatientName=" + name))
        assert exc.value.errno == errno.EIO
        assert line in m.text()
        assert mint.url + "/studies?patientName=" + name in m.text()


def test_mint_source_without_a_downloader_is_refused(tmp_path, mint):
    from conftest import BIN
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    out = subprocess.run([BIN, "-o", "cache_dir=%s" % (tmp_path / "c"), _source(mint),
                          str(mnt)], capture_output=True, text=True, timeout=20)
    assert out.returncode == 1
    assert "wado_uri=" in out.stderr


@pytest.fixture(scope="module")
def mint_login(data):
    s = MintServer(data["manifest"], require_login=True)
    yield s
    s.stop()


def _pw(tmp_path, text):
    p = tmp_path / "pw"
    p.write_text(text + "\n")
    os.chmod(p, 0o600)
    return str(p)


def test_vitrea_login_keeps_the_session_and_logs_in_again_on_401(mount, mint_login, proxy,
                                                                 tmp_path):
    login = mint_login.url.replace("/mint", "/login")
    m = mount("mint+" + mint_login.url, options="wado_uri=%s/wado,login_url=%s,user=alice,"
              "allow_http_auth,realm=trolley,password_file=%s" % (proxy.url, login, _pw(tmp_path, "s3cret")))
    assert "Doe^John [PID001]" in os.listdir(m.path("patients"))
    os.listdir(m.path("patients", "Doe^John [PID001]"))
    assert mint_login.logins == 1  # one session serves every request
    mint_login.sessions.clear()  # the session expires on the server
    assert os.listdir(m.path("patients", "O_Brien^Pat [PID003]")) == ["2021-01-15 MR KNEE [ACC4]"]
    assert mint_login.logins == 2
    assert any(r.get("refused") for r in mint_login.requests)
    assert "s3cret" not in m.text()


def test_vitrea_login_refused_is_eacces(mount, mint_login, proxy, tmp_path):
    login = mint_login.url.replace("/mint", "/login")
    m = mount("mint+" + mint_login.url, options="wado_uri=%s/wado,login_url=%s,user=alice,"
              "allow_http_auth,realm=trolley,password_file=%s" % (proxy.url, login, _pw(tmp_path, "nope-nope")),
              expect_errors=True)
    with pytest.raises(OSError) as exc:
        os.listdir(m.path("patients"))
    assert exc.value.errno == errno.EACCES
    assert "Login failed: bad username/password" in m.text()
    assert "nope-nope" not in m.text()
