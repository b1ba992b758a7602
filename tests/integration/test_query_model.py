"""The query model as folders: /search, /dates, max_results, xattrs, metadata.json."""
import errno
import hashlib
import json
import os
import subprocess
import time
import urllib.request

import pytest

import naming

QIDO = r"^/dicom-web/studies\?"


def _search(m, query):
    return sorted(os.listdir(m.path("search", query)))


def _studies_where(data, pred):
    """The names of a folder of the studies matching @pred (clashes suffixed, as listed)."""
    rows = {(naming.study_name(e), e["StudyInstanceUID"]) for e in data["manifest"] if pred(e)}
    return sorted(naming.unique(sorted(rows)).values())


def test_search_by_name_wildcard_modality_and_date_range(mount, source, data):
    m = mount(source)
    got = _search(m, "PatientName=D*&ModalitiesInStudy=MR&StudyDate=20200301-20200303")
    assert got == ["2020-03-02 MR BRAIN"]
    assert _search(m, "PatientName=?oe^John") == _studies_where(
        data, lambda e: e["PatientID"] == "PID001")
    assert _search(m, "PatientID=PID00*") == _studies_where(
        data, lambda e: e["PatientID"].startswith("PID00"))


def test_search_open_ended_date_ranges(mount, source, data):
    m = mount(source)
    assert _search(m, "StudyDate=20210101-") == _studies_where(
        data, lambda e: e["StudyDate"] >= "20210101")
    assert _search(m, "StudyDate=-20200302") == _studies_where(
        data, lambda e: e["StudyDate"] <= "20200302")
    assert _search(m, "StudyDate=20200303") == ["2020-03-03 CT THORAX [ACC3]"]


def test_search_limit_offset_and_includefield(mount, source, data, proxy):
    m = mount(source)
    every = _search(m, "PatientID=PID*")
    assert len(every) == 5
    assert len(_search(m, "PatientID=PID*&limit=2")) == 2
    assert _search(m, "PatientID=PID*&limit=2&offset=4") != []
    paths = proxy.paths(QIDO)
    assert any("limit=2" in p and "offset=4" in p for p in paths)
    folder = m.path("search", "AccessionNumber=ACC1&includefield=InstitutionName")
    study = os.path.join(folder, os.listdir(folder)[0])
    assert os.getxattr(study, "user.dicom.InstitutionName") == b"Trolley General"


def test_search_folder_browses_down_to_identical_bytes(mount, source, data, tmp_path):
    m = mount(source)
    folder = m.path("search", "AccessionNumber=ACC4")
    (study,) = os.listdir(folder)
    subprocess.run(["cp", "-r", os.path.join(folder, study), str(tmp_path / "x")], check=True)
    files = [os.path.join(r, f) for r, _, fs in os.walk(tmp_path / "x") for f in fs
             if f.endswith(".dcm")]
    assert len(files) == 25
    md5s = {e["md5"] for e in data["manifest"] if e["AccessionNumber"] == "ACC4"}
    for f in files:
        with open(f, "rb") as fh:
            assert hashlib.md5(fh.read()).hexdigest() in md5s


def test_search_is_not_repeated_within_meta_ttl(mount, source, proxy):
    m = mount(source)
    q = "PatientName=Doe*"
    first = _search(m, q)
    n = proxy.count(QIDO)
    time.sleep(1.5)  # past the kernel's folder timeout
    assert _search(m, q) == first
    assert proxy.count(QIDO) == n


def test_dates_lists_recent_days_and_a_days_studies(mount, source, data, proxy):
    m = mount(source)
    days = os.listdir(m.path("dates"))
    assert len(days) == 31
    assert time.strftime("%Y-%m-%d") in days
    assert proxy.count() == 0  # listing the days asks nothing
    assert os.listdir(m.path("dates", "2020-03-01")) == ["2020-03-01 CT HEAD [ACC1]"]
    assert any("StudyDate=20200301" in p for p in proxy.paths(QIDO))
    assert os.listdir(m.path("dates", "1999-01-01")) == []
    for bad in ("2020-13-01", "yesterday", "20200301"):
        assert not os.path.exists(m.path("dates", bad))


def test_max_results_cuts_listings_with_a_log_line(mount, source, proxy):
    m = mount(source, options="max_results=2")
    assert len(os.listdir(m.path("studies"))) == 2
    assert "listing cut at max_results=2" in m.text()
    assert any("limit=2" in p for p in proxy.paths(QIDO))
    # A name is still found by a targeted query, past the cut.
    assert os.listdir(m.path("patients", "O_Brien^Pat [PID003]")) == ["2021-01-15 MR KNEE [ACC4]"]


def test_xattrs_equal_the_dataset_at_every_level(mount, source, data):
    m = mount(source)
    tree = naming.patients_tree(data["manifest"])
    e = next(e for e in data["manifest"] if e["PatientID"] == "PID002")
    path = m.path("patients", tree[e["SOPInstanceUID"]])
    series, study = os.path.dirname(path), os.path.dirname(os.path.dirname(path))
    patient = os.path.dirname(study)

    def x(p, k):
        return os.getxattr(p, "user.dicom." + k).decode()

    assert x(patient, "PatientName") == "Müller^Jürgen"
    assert x(patient, "PatientID") == "PID002"
    for k in ("StudyInstanceUID", "StudyDate", "StudyDescription", "AccessionNumber"):
        assert x(study, k) == e[k]
    for k in ("SeriesInstanceUID", "SeriesNumber", "Modality", "SeriesDescription"):
        assert x(series, k) == e[k]
    for k in ("SOPInstanceUID", "InstanceNumber", "StudyInstanceUID", "SeriesInstanceUID"):
        assert x(path, k) == e[k]


def _metadata(path):
    with open(path, "rb") as f:
        return json.load(f)


def test_metadata_json_of_series_and_study_matches_dataset(mount, source, data, proxy):
    m = mount(source)
    study = m.path("patients", "Doe^John [PID001]", "2020-03-01 CT HEAD [ACC1]")
    series_md = _metadata(os.path.join(study, "1 CT Axial", "metadata.json"))
    want = {e["SOPInstanceUID"] for e in data["manifest"] if e["SeriesDescription"] == "Axial"}
    assert {d["00080018"]["Value"][0] for d in series_md} == want
    assert all(d["00100010"]["Value"][0]["Alphabetic"] == "Doe^John" for d in series_md)
    study_md = _metadata(os.path.join(study, "metadata.json"))
    assert len(study_md) == 100
    assert any(p.endswith("/metadata") for p in proxy.paths())
    assert not proxy.paths(r"/instances/[0-9.]+$")  # headers without pixel data
    st = os.stat(os.path.join(study, "metadata.json"))
    with open(os.path.join(study, "metadata.json"), "rb") as f:
        assert st.st_size == len(f.read())


def test_study_metadata_made_of_the_series_metadata_read_before(mount, source, proxy,
                                                               orthanc):
    # What cp -r does: each series folder's metadata.json, then the study's. The study's is
    # then made of the series' ones, without another request, and is the archive's own.
    m = mount(source)
    study = m.path("patients", "Doe^John [PID001]", "2020-03-01 CT HEAD [ACC1]")
    series = [d for d in sorted(os.listdir(study)) if d != "metadata.json"]
    assert len(series) >= 2
    for d in series:
        _metadata(os.path.join(study, d, "metadata.json"))
    proxy.reset()
    study_md = _metadata(os.path.join(study, "metadata.json"))
    assert proxy.paths(r"/metadata$") == []
    uid = study_md[0]["0020000D"]["Value"][0]
    with urllib.request.urlopen("%s/studies/%s/metadata" % (orthanc.dicomweb, uid)) as r:
        want = json.load(r)
    key = lambda d: d["00080018"]["Value"][0]  # noqa: E731
    assert sorted(study_md, key=key) == sorted(want, key=key)
    with open(os.path.join(study, "metadata.json"), "rb") as f:
        assert os.stat(os.path.join(study, "metadata.json")).st_size == len(f.read())
    # Without the series' at hand (a fresh cache), the study's is one request, as before.
    m2 = mount(source)
    proxy.reset()
    study2 = m2.path("patients", "Doe^John [PID001]", "2020-03-01 CT HEAD [ACC1]")
    assert len(_metadata(os.path.join(study2, "metadata.json"))) == len(want)
    assert len(proxy.paths(r"/studies/[0-9.]+/metadata$")) == 1


def test_series_metadata_cut_from_the_study_metadata_read_before(mount, source, proxy,
                                                                 orthanc):
    # A reader of the study's metadata.json first, then each series' (a viewer, a cp -r whose
    # order puts the study's first): one request for the study, none per series, and each
    # series' holds what the archive's own series metadata holds.
    m = mount(source)
    study = m.path("patients", "Müller^Jürgen [PID002]", "2020-03-03 CT THORAX [ACC3]")
    series = [d for d in sorted(os.listdir(study)) if d != "metadata.json"]
    assert len(series) == 4
    proxy.reset()
    assert len(_metadata(os.path.join(study, "metadata.json"))) == 90
    key = lambda d: d["00080018"]["Value"][0]  # noqa: E731
    for d in series:
        path = os.path.join(study, d, "metadata.json")
        got = _metadata(path)
        uid = got[0]["0020000E"]["Value"][0]
        with urllib.request.urlopen("%s/studies/%s/series/%s/metadata" % (
                orthanc.dicomweb, got[0]["0020000D"]["Value"][0], uid)) as r:
            want = json.load(r)
        assert sorted(got, key=key) == sorted(want, key=key), d
        with open(path, "rb") as f:
            assert os.stat(path).st_size == len(f.read())
    assert proxy.paths(r"/series/[0-9.]+/metadata$") == []
    assert len(proxy.paths(r"/studies/[0-9.]+/metadata$")) == 1


def test_garbled_metadata_is_eio(mount, source, proxy):
    m = mount(source, expect_errors=True)
    study = m.path("patients", "Doe^John [PID001]", "2020-03-02 MR BRAIN")
    proxy.fault(r"/metadata$", body=b"[{]", type="application/dicom+json")
    with pytest.raises(OSError) as exc:
        _metadata(os.path.join(study, "metadata.json"))
    assert exc.value.errno == errno.EIO
    assert "not DICOM JSON metadata" in m.text()
    proxy.clear_faults()
    assert len(_metadata(os.path.join(study, "metadata.json"))) == 60


def test_flat_layout_holds_every_instance_of_a_study_byte_identical(mount, source, data,
                                                                    tmp_path):
    tree = mount(source, name="tree")
    flat = mount(source, options="layout=flat", name="flat")
    study = ("patients", "Müller^Jürgen [PID002]", "2020-03-03 CT THORAX [ACC3]")
    subprocess.run(["cp", "-r", tree.path(*study), str(tmp_path / "out-tree")], check=True)
    subprocess.run(["cp", "-r", flat.path(*study), str(tmp_path / "out-flat")], check=True)
    names = sorted(os.listdir(tmp_path / "out-flat"))
    assert "metadata.json" in names
    dcm = [n for n in names if n.endswith(".dcm")]
    assert len(dcm) == 90 and "1-1.dcm" in dcm and "3-20.dcm" in dcm
    # Two series share SeriesNumber 4: their instances clash and carry UID suffixes.
    assert sum(1 for n in dcm if n.startswith("4-1 ~")) == 2

    def md5s(root):
        out = []
        for r, _, fs in os.walk(root):
            for f in fs:
                if f.endswith(".dcm"):
                    with open(os.path.join(r, f), "rb") as fh:
                        out.append(hashlib.md5(fh.read()).hexdigest())
        return sorted(out)

    assert md5s(tmp_path / "out-flat") == md5s(tmp_path / "out-tree")
    assert len(md5s(tmp_path / "out-flat")) == 90
