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
    assert set(os.listdir(m.path("patients"))) == {naming.patient_name(e)
                                                   for e in data["manifest"]}
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
