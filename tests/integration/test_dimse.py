"""C-FIND search (dcmtk) against the real Orthanc's DICOM port, with WADO-RS downloads: the
mixed setup of issue 3. C-GET and C-MOVE are not in this version."""
import errno
import hashlib
import os
import subprocess

import pytest

import naming
from servers import free_port


def _source(orthanc):
    return "dicom://ORTHANC@127.0.0.1:%d" % orthanc.dicom_port


def test_c_find_tree_with_wado_rs_downloads_is_byte_identical(mount, orthanc, proxy, data,
                                                             tmp_path):
    m = mount(_source(orthanc), options="aet=TROLLEY,wado_rs=%s/dicom-web" % proxy.url)
    # Non-ASCII names arrive in ISO_IR 192 / ISO_IR 100 and come out as UTF-8.
    assert set(os.listdir(m.path("patients"))) == {naming.patient_name(e)
                                                   for e in data["manifest"]}
    study = m.path("patients", "Müller^Jürgen [PID002]", "2020-03-03 CT THORAX [ACC3]")
    out = tmp_path / "x"
    subprocess.run(["cp", "-r", study, str(out)], check=True)
    tree = naming.patients_tree(data["manifest"])
    want = {rel.split("/", 2)[2]: sop for sop, rel in tree.items()
            if rel.startswith("Müller^Jürgen [PID002]/2020-03-03 CT THORAX [ACC3]/")}
    for rel, sop in want.items():
        with open(out / rel, "rb") as f:
            assert hashlib.md5(f.read()).hexdigest() == data["by_sop"][sop]["md5"], rel
    assert proxy.count(r"^/dicom-web/studies\?") == 0  # every search went over DIMSE


def test_c_find_wildcards_and_date_ranges(mount, orthanc, proxy):
    m = mount(_source(orthanc), options="wado_rs=%s/dicom-web" % proxy.url)
    got = sorted(os.listdir(m.path("search", "PatientName=D*&StudyDate=20200302-")))
    assert got == ["2020-03-02 MR BRAIN"]
    assert os.listdir(m.path("studies")) and os.listdir(m.path("dates", "2021-01-15")) == [
        "2021-01-15 MR KNEE [ACC4]"]


def test_c_find_peer_down_is_eio_naming_the_peer(mount, proxy):
    port = free_port()
    m = mount("dicom://NOBODY@127.0.0.1:%d" % port,
              options="wado_rs=%s/dicom-web,timeout=3" % proxy.url, expect_errors=True)
    with pytest.raises(OSError) as exc:
        os.listdir(m.path("patients"))
    assert exc.value.errno in (errno.EIO, errno.ETIMEDOUT)
    assert "C-FIND NOBODY@127.0.0.1:%d" % port in m.text()


def test_dicom_source_without_a_downloader_is_refused(tmp_path, orthanc):
    from conftest import BIN
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    out = subprocess.run([BIN, "-o", "cache_dir=%s" % (tmp_path / "c"), _source(orthanc),
                          str(mnt)], capture_output=True, text=True, timeout=20)
    assert out.returncode == 1
    assert "C-GET and C-MOVE are not in this version" in out.stderr


@pytest.fixture(scope="module")
def dcmqrscp(session_dir, data):
    from servers import Dcmqrscp
    d = os.path.join(session_dir, "dcmqrscp")
    os.makedirs(d)
    # The uncompressed instances: storescu negotiates what dcmqrscp accepts by default.
    files = [e["path"] for e in data["manifest"] if not e.get("compression")]
    s = Dcmqrscp(d, files)
    yield s
    s.stop()


def test_c_find_against_dcmqrscp_names_every_patient_in_utf8(mount, dcmqrscp, proxy, data):
    m = mount("dicom://STORE@127.0.0.1:%d" % dcmqrscp.port,
              options="wado_rs=%s/dicom-web" % proxy.url)
    assert set(os.listdir(m.path("patients"))) == {naming.patient_name(e)
                                                   for e in data["manifest"]}
    series = m.path("patients", "Doe^John [PID001]", "2020-03-02 MR BRAIN")
    # dcmqrscp answers only the keys it indexes: no SeriesDescription, so "1 MR", not "1 MR T1".
    assert sorted(os.listdir(series)) == ["1 MR", "2 MR", "metadata.json"]
    files = os.listdir(os.path.join(series, "1 MR"))
    assert len([f for f in files if f.endswith(".dcm")]) == 30
