"""Browsing the tree: names, lazy queries, lookups without listings, stat fields."""
import errno
import hashlib
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
    assert sorted(os.listdir(m.mountpoint)) == [".trolley", "dates", "media", "patients",
                                                "search", "studies"]
    time.sleep(0.3)
    assert proxy.count() == 0
    os.listdir(m.path("patients"))
    assert proxy.count() == 1


def test_patients_listing_names_every_patient(mount, source, data):
    m = mount(source)
    expected = naming.patient_folders(data["manifest"])
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


def _walk_names(top):
    """Every entry name under @top as bytes (what the kernel handed out), with its folder."""
    out = []
    for root, dirs, files in os.walk(os.fsencode(top)):
        out += [(root, n) for n in dirs + files]
    return out


def test_every_name_is_valid_utf8_at_most_255_bytes_without_slash_or_control(mount, source):
    m = mount(source)
    names = _walk_names(m.path("patients"))
    assert len(names) > 300
    for folder, name in names:
        assert len(name) <= 255, (folder, name)
        text = name.decode("utf-8")  # strict: raises on invalid UTF-8
        assert text not in (".", "..")
        assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in text), (folder, name)
    for folder in {f for f, _ in names}:
        children = [n for f, n in names if f == folder]
        assert len(children) == len(set(children)), "duplicate names in %r" % folder


def test_long_series_name_is_cut_to_255_bytes_with_uid_suffix(mount, source, data):
    m = mount(source)
    e = next(e for e in data["manifest"] if e["SeriesNumber"] == "8")
    study = m.path("patients", naming.patient_name(e), naming.study_name(e))
    (name,) = [n for n in os.listdir(study) if n.startswith("8 CT ")]
    raw = os.fsencode(name)
    assert 240 <= len(raw) <= 255
    assert name.endswith(naming.suffix(e["SeriesInstanceUID"]))
    kept = name[len("8 CT "):-len(naming.suffix(e["SeriesInstanceUID"]))]
    assert kept and e["SeriesDescription"].startswith(kept.rstrip())
    assert name == naming.series_name(e)
    files = sorted(os.listdir(os.path.join(study, name)))
    assert len([f for f in files if f.endswith(".dcm")]) == 3


def test_control_character_in_description_becomes_underscore(mount, source, data):
    m = mount(source)
    e = next(e for e in data["manifest"] if e["SeriesNumber"] == "9")
    assert "\t" in e["SeriesDescription"]
    study = m.path("patients", naming.patient_name(e), naming.study_name(e))
    assert "9 CT \u80f8\u90e8_\u9020\u5f71" in os.listdir(study)


def test_instance_without_number_is_named_by_sop_uid_and_number_clash_is_suffixed(
        mount, source, data):
    m = mount(source)
    rows = [e for e in data["manifest"] if e["SeriesNumber"] == "8"]
    e = rows[0]
    series = m.path("patients", naming.patient_name(e), naming.study_name(e),
                    naming.series_name(e))
    want = {"1" + naming.suffix(r["SOPInstanceUID"]) + ".dcm" for r in rows
            if r["InstanceNumber"] == "1"}
    want |= {r["SOPInstanceUID"] + ".dcm" for r in rows if not r["InstanceNumber"]}
    assert len(want) == 3
    assert {n for n in os.listdir(series) if n.endswith(".dcm")} == want
    for r in rows:  # each name leads to its own instance
        name = naming.patients_tree(data["manifest"])[r["SOPInstanceUID"]].rsplit("/", 1)[1]
        with open(os.path.join(series, name), "rb") as f:
            assert hashlib.md5(f.read()).hexdigest() == r["md5"], name


def test_studies_by_uid_resolves_without_listing_studies(mount, source, data, proxy):
    m = mount(source)
    e = data["manifest"][0]
    series = os.listdir(m.path("studies", e["StudyInstanceUID"]))
    assert e["SeriesInstanceUID"] in series
    files = os.listdir(m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"]))
    assert e["SOPInstanceUID"] + ".dcm" in files
    for p in proxy.paths(QIDO_STUDIES):
        assert "StudyInstanceUID=" in p, "an unfiltered study query was made: " + p


def test_deep_paths_open_without_any_listing(mount, source, data, proxy):
    """A viewer or a script may open a full path it saved earlier: every level is resolved by
    a targeted query, and the bytes are the archive's, under /patients and /studies alike."""
    m = mount(source)
    tree = naming.patients_tree(data["manifest"])
    e = next(e for e in data["manifest"] if e["SeriesDescription"] == "Coronal"
             and e["InstanceNumber"] == "5")
    for path in (m.path("patients", tree[e["SOPInstanceUID"]]),
                 m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                        e["SOPInstanceUID"] + ".dcm")):
        with open(path, "rb") as f:
            assert hashlib.md5(f.read()).hexdigest() == e["md5"], path
    for p in proxy.paths(QIDO_STUDIES):
        assert "PatientID=PID001" in p or "StudyInstanceUID=" in p, "unfiltered query " + p


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
    e = next(e for e in data["manifest"] if all(e.get(k) == v for k, v in match.items()))
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
    # An instance without ContentDate/Time takes its series' date and time.
    c, cpath = _first_instance(m, data, compression="RLE")
    assert not c["ContentDate"]
    want = time.mktime(time.strptime(c["SeriesDate"] + c["SeriesTime"], "%Y%m%d%H%M%S"))
    assert os.stat(cpath).st_mtime == want
    # Nothing is "now": every entry of a patient's tree is dated years ago, and stays put.
    top = m.path("patients", "Doe^John [PID001]")
    before = {p: os.stat(p).st_mtime for p in [top] + [os.path.join(r, n)
              for r, ds, fs in os.walk(top) for n in ds + fs if n.endswith(".dcm")][:20]}
    assert all(t < time.time() - 365 * 86400 for p, t in before.items() if p != top)
    time.sleep(1.1)
    assert {p: os.stat(p).st_mtime for p in before} == before


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
