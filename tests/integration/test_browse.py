"""Browsing the tree: names, lazy queries, lookups without listings, stat fields."""
import errno
import os
import re
import time

import pytest

import naming

QIDO_STUDIES = r"^/dicom-web/studies\?"
INSTANCE_GET = r"/instances/[0-9.]+$|/series/[0-9.]+$|^/dicom-web/studies/[0-9.]+$"


def test_mount_makes_no_request_until_listed(mount, source, proxy):
    m = mount(source)
    os.stat(m.mountpoint)
    assert sorted(os.listdir(m.mountpoint)) == [".trolley", "dates", "patients", "search",
                                                "studies"]
    time.sleep(0.3)
    assert proxy.count() == 0
    os.listdir(m.path("patients"))
    assert proxy.count() == 1


def test_patients_listing_names_every_patient(mount, source, data):
    m = mount(source)
    expected = {naming.patient_name(e) for e in data["manifest"]}
    got = set(os.listdir(m.path("patients")))
    assert got == expected
    assert "Müller^Jürgen [PID002]" in got
    assert "O_Brien^Pat [PID003]" in got
    assert "Παπαδόπουλος^Νίκος [PID004]" in got


def test_ls_down_patient_study_series_instances(mount, source, data):
    m = mount(source)
    expected = naming.expected_files(data["manifest"])
    found = set()
    for root, dirs, files in os.walk(m.path("patients")):
        for f in files:
            found.add(os.path.relpath(os.path.join(root, f), m.path("patients")))
    assert found == expected
    # Empty fields leave out their separator: no accession, no series description.
    assert any("/2020-03-02 MR BRAIN/2 MR/" in p for p in found)


def test_name_clash_gets_uid_suffix_and_is_stable_across_listings(mount, source, data, proxy):
    m = mount(source, options="meta_ttl=1")
    study = m.path("patients", "Müller^Jürgen [PID002]", "2020-03-03 CT THORAX [ACC3]")
    first = sorted(os.listdir(study))
    dups = [n for n in first if n.startswith("4 CT Dup")]
    assert len(dups) == 2
    assert all(re.fullmatch(r"4 CT Dup ~[0-9a-f]{6}", n) for n in dups)
    uids = {e["SeriesInstanceUID"] for e in data["manifest"] if e["SeriesDescription"] == "Dup"}
    assert {"4 CT Dup" + naming.suffix(u) for u in uids} == set(dups)
    time.sleep(2.2)  # past meta_ttl: the archive is asked again, names must not move
    n = proxy.count()
    assert sorted(os.listdir(study)) == first
    assert proxy.count() > n


def test_studies_by_uid_resolves_without_listing_studies(mount, source, data, proxy):
    m = mount(source)
    e = data["manifest"][0]
    series = os.listdir(m.path("studies", e["StudyInstanceUID"]))
    assert e["SeriesInstanceUID"] in series
    files = os.listdir(m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"]))
    assert e["SOPInstanceUID"] + ".dcm" in files
    for p in proxy.paths(QIDO_STUDIES):
        assert "StudyInstanceUID=" in p, "an unfiltered study query was made: " + p


def test_patient_lookup_without_listing_patients(mount, source, proxy):
    m = mount(source)
    studies = os.listdir(m.path("patients", "Doe^John [PID001]"))
    assert sorted(studies) == ["2020-03-01 CT HEAD [ACC1]", "2020-03-02 MR BRAIN"]
    for p in proxy.paths(QIDO_STUDIES):
        assert "PatientID=PID001" in p, "unexpected study query " + p


def test_patient_without_id_is_found_by_name_with_space_and_non_ascii(mount, source, proxy):
    m = mount(source)
    studies = os.listdir(m.path("patients", "Anon Ymous^Zoë"))
    assert studies == ["2022-02-02"]
    assert os.listdir(m.path("patients", "Anon Ymous^Zoë", "2022-02-02")) == ["1 MR Scout",
                                                                            "metadata.json"]
    assert all("PatientName=" in p for p in proxy.paths(QIDO_STUDIES))
    assert "Anon Ymous^Zoë" in os.listdir(m.path("patients"))


def test_unknown_names_are_enoent(mount, source):
    m = mount(source)
    for p in [m.path("patients", "Nobody [X9]"), m.path("studies", "1.2.3.4.5.6"),
              m.path("studies", "not-a-uid"), m.path("nothing")]:
        with pytest.raises(FileNotFoundError):
            os.stat(p)


def test_junk_lookups_never_reach_the_archive(mount, source, proxy):
    m = mount(source)
    for junk in [".Trash-1000", ".xdg-volume-info", "autorun.inf", "desktop.ini", ".DS_Store",
                 "._x", ".hidden", ".directory"]:
        for folder in ["patients", "studies"]:
            assert not os.path.exists(m.path(folder, junk))
    assert proxy.count() == 0


def _first_instance(m, data, **match):
    e = next(e for e in data["manifest"] if all(e[k] == v for k, v in match.items()))
    rel = naming.patients_tree(data["manifest"])[e["SOPInstanceUID"]]
    return e, m.path("patients", rel)


def test_stat_after_open_shows_exact_size(mount, source, data):
    m = mount(source)
    e, path = _first_instance(m, data, InstanceNumber="2", Modality="CT")
    os.stat(path)  # an estimate may be shown before the first open
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        assert st.st_size == e["size"]
        assert st.st_blocks * 512 >= st.st_size
    st = os.stat(path)
    assert st.st_size == e["size"]
    assert st.st_blocks * 512 >= st.st_size


def test_ls_lR_downloads_no_instance(mount, source, proxy):
    m = mount(source)
    out = os.popen("ls -lR '%s' | wc -l" % m.path("patients")).read()
    assert int(out) > 300
    assert proxy.count(INSTANCE_GET) == 0
    assert proxy.count() > 0


def test_mtime_comes_from_dicom_dates(mount, source, data):
    m = mount(source)
    e, path = _first_instance(m, data, InstanceNumber="1", StudyDescription="CT HEAD",
                              SeriesNumber="1")
    want = time.mktime(time.strptime(e["ContentDate"] + e["ContentTime"], "%Y%m%d%H%M%S"))
    assert os.stat(path).st_mtime == want
    study = os.path.dirname(os.path.dirname(path))
    want = time.mktime(time.strptime(e["StudyDate"] + e["StudyTime"], "%Y%m%d%H%M%S"))
    assert os.stat(study).st_mtime == want


def test_writes_are_erofs(mount, source, data):
    m = mount(source)
    e, path = _first_instance(m, data, InstanceNumber="1")
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_TRUNC):
        with pytest.raises(OSError) as exc:
            os.open(path, flags)
        assert exc.value.errno == errno.EROFS
    with pytest.raises(OSError) as exc:
        os.mkdir(m.path("patients", "new"))
    assert exc.value.errno == errno.EROFS


def test_xattrs_show_dicom_attributes_without_download(mount, source, data, proxy):
    m = mount(source)
    e, path = _first_instance(m, data, InstanceNumber="3", Modality="MR")
    assert os.getxattr(path, "user.dicom.SOPInstanceUID").decode() == e["SOPInstanceUID"]
    assert os.getxattr(path, "user.dicom.PatientID").decode() == e["PatientID"]
    assert os.getxattr(path, "user.dicom.InstanceNumber").decode() == "3"
    study = os.path.dirname(os.path.dirname(path))
    assert os.getxattr(study, "user.dicom.StudyDate").decode() == e["StudyDate"]
    assert "user.dicom.Modality" in os.listxattr(path)
    with pytest.raises(OSError):
        os.getxattr(path, "user.dicom.NoSuchKeyword")
    assert proxy.count(INSTANCE_GET) == 0


def test_status_file_counters_move(mount, source, data):
    m = mount(source, options="prefetch=none")

    def status():
        with open(m.path(".trolley", "status")) as f:
            return dict(line.split(": ", 1) for line in f.read().splitlines())

    before = status()
    assert before["searcher"] == "qido-rs" and before["downloader"] == "wado-rs"
    e, path = _first_instance(m, data, InstanceNumber="4")
    with open(path, "rb") as f:
        f.read()
    after = status()
    assert int(after["transfers_done"]) == int(before["transfers_done"]) + 1
    assert int(after["bytes_downloaded"]) >= e["size"]
    assert int(after["cache_instances"]) == 1
    assert int(after["query_misses"]) > int(before["query_misses"])
