"""Archives that behave as real ones do, not as Orthanc does: QIDO answers capped per request
(with or without the Warning header, honouring offset or not), 204 for no results, a refused
transfer-syntax=*, a bare application/dicom reply, a C-FIND that ends with a cancel status after
its answers, a study UID that is a path. The proxy in servers.py plays each archive in front of
a real Orthanc; every listing must still be complete, or say in the log and in
/.trolley/status that it is not."""
import errno
import hashlib
import os
import re
import subprocess

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

import dataset
import naming
from servers import Orthanc, Proxy

CAP = 40  # results per request of the capping archive: below trolley's page of 100
N_PATIENTS = 131  # one study each: more than three pages of CAP
N_INSTANCES = 120  # in one series of its own patient
CFIND_LIMIT = 40  # Orthanc's LimitFindResults: C-FIND answers this many, then "cancelled"


def _tiny(out_dir, patient, study_uid, series_uid, sop_uid, number):
    ds = Dataset()
    ds.file_meta = dataset._meta(dataset.CT_IMAGE, sop_uid)
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.preamble = b"\0" * 128
    ds.SOPClassUID, ds.SOPInstanceUID = dataset.CT_IMAGE, sop_uid
    ds.PatientName, ds.PatientID = "Page^P%03d" % patient, "PG%03d" % patient
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.StudyDate, ds.StudyTime, ds.StudyDescription = "20230101", "120000", "PAGE"
    ds.AccessionNumber, ds.StudyID, ds.Modality, ds.SeriesNumber = "", "1", "CT", "1"
    ds.InstanceNumber = number
    ds.Rows = ds.Columns = 4
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.full((4, 4), number, dtype=np.uint16).tobytes()
    path = os.path.join(out_dir, sop_uid + ".dcm")
    ds.save_as(path, write_like_original=False)
    return path


class Archive:
    """A module's own Orthanc with many small studies, behind its own proxy."""

    def __init__(self, work):
        files = os.path.join(work, "files")
        os.makedirs(files)
        self.truth = {}
        for p in range(N_PATIENTS):
            study = dataset.uid("page-study", p)
            sop = dataset.uid("page-sop", p)
            self.truth[sop] = _tiny(files, p, study, dataset.uid("page-series", p), sop, "1")
        self.singles = list(self.truth.values())  # one study each
        self.study = dataset.uid("page-big-study")
        self.series = dataset.uid("page-big-series")
        for i in range(N_INSTANCES):
            sop = dataset.uid("page-big-sop", i)
            self.truth[sop] = _tiny(files, N_PATIENTS, self.study, self.series, sop,
                                    str(i + 1))
        os.makedirs(os.path.join(work, "orthanc"))
        self.orthanc = Orthanc(os.path.join(work, "orthanc"))
        try:
            self.orthanc.upload(list(self.truth.values()))
            self.proxy = Proxy("127.0.0.1:%d" % self.orthanc.http_port)
        except Exception:
            self.orthanc.stop()
            raise
        self.source = self.proxy.url + "/dicom-web"
        self.studies = N_PATIENTS + 1
        self.patients = {"Page^P%03d [PG%03d]" % (p, p) for p in range(N_PATIENTS + 1)}

    def stop(self):
        self.proxy.stop()
        self.orthanc.stop()


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    a = Archive(str(tmp_path_factory.mktemp("archive")))
    yield a
    a.stop()


@pytest.fixture
def big(archive):
    archive.proxy.reset()
    yield archive
    archive.proxy.reset()


def _status(m):
    with open(m.path(".trolley", "status")) as f:
        return dict(l.split(": ", 1) for l in f.read().splitlines())


def _md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def test_capped_answers_with_warning_page_to_every_study_and_patient(mount, big):
    big.proxy.fault(r"^/dicom-web/studies\?", cap=CAP, warning=True)
    m = mount(big.source)
    assert len(os.listdir(m.path("studies"))) == big.studies
    assert set(os.listdir(m.path("patients"))) == big.patients
    # A cap below the page asked: each short answer marked as cut moves offset on by what came.
    offsets = [re.search(r"offset=(\d+)", p) for p in big.proxy.paths(r"^/dicom-web/studies\?")]
    assert [int(o.group(1)) if o else 0 for o in offsets][:4] == [0, 40, 80, 120]
    assert _status(m)["incomplete_listings"] == "0"


def test_full_pages_without_warning_are_paged(mount, big):
    big.proxy.fault(r"^/dicom-web/studies\?", cap=100)  # honours limit; says nothing
    m = mount(big.source, "page_size=50")
    assert len(os.listdir(m.path("studies"))) == big.studies
    asked = big.proxy.paths(r"^/dicom-web/studies\?")
    assert len(asked) == 3 and all("limit=50" in p for p in asked)


def test_paging_ends_at_an_empty_204_page(mount, big):
    # 132 studies in full pages of 44: the fourth page is empty, answered 204.
    big.proxy.fault(r"^/dicom-web/studies\?", cap=100, empty=204)
    m = mount(big.source, "page_size=44")
    assert len(os.listdir(m.path("studies"))) == big.studies
    assert big.proxy.count(r"^/dicom-web/studies\?") == 4
    assert _status(m)["incomplete_listings"] == "0"


def test_search_limit_and_offset_are_the_users_total(mount, big):
    big.proxy.fault(r"^/dicom-web/studies\?", cap=CAP, warning=True)
    m = mount(big.source)
    found = os.listdir(m.path("search", "PatientName=Page*&limit=50&offset=20"))
    assert len(found) == 50
    asked = big.proxy.paths(r"^/dicom-web/studies\?")
    # 40 of 50 (cut), then the 10 left from offset 60; never past the user's limit.
    assert [(re.search(r"limit=(\d+)", p).group(1), re.search(r"offset=(\d+)", p).group(1))
            for p in asked] == [("50", "20"), ("10", "60")]


def test_series_beyond_the_cap_lists_and_copies_every_file(mount, big, tmp_path):
    big.proxy.fault(r"/instances\?", cap=CAP, warning=True)
    m = mount(big.source)
    series = m.path("studies", big.study, big.series)
    names = [n for n in os.listdir(series) if n.endswith(".dcm")]
    assert len(names) == N_INSTANCES
    out = tmp_path / "copy"
    subprocess.run(["cp", "-r", series, str(out)], check=True)
    copied = [n for n in os.listdir(out) if n.endswith(".dcm")]
    assert sorted(copied) == sorted(names)
    for n in copied:
        assert _md5(out / n) == _md5(big.truth[n[:-4]]), n


@pytest.mark.parametrize("warning", [True, False])
def test_archive_ignoring_offset_does_not_loop_and_says_incomplete(mount, big, warning):
    big.proxy.fault(r"^/dicom-web/studies\?", cap=CAP, warning=warning, ignore_offset=True)
    # Without the warning only full pages show that more may come: a page of CAP.
    m = mount(big.source, "" if warning else "page_size=%d" % CAP)
    assert len(os.listdir(m.path("studies"))) == CAP
    assert big.proxy.count(r"^/dicom-web/studies\?") == 2  # the first page, and once again
    log = m.text()
    assert "ignores offset" in log
    assert re.search(r"warn: incomplete answer to the study query \(40 results\)", log)
    status = _status(m)
    assert status["incomplete_listings"] == "1"
    assert status["last_incomplete"] == "study query"
    # Not stored as the whole answer: the next listing asks again (and says so again).
    os.listdir(m.path("patients"))
    assert _status(m)["incomplete_listings"] == "2"


def test_cfind_cancelled_after_answers_is_incomplete_not_an_error(mount, big, tmp_path):
    # Orthanc with LimitFindResults sends that many answers, then "matching terminated due
    # to cancel" (0xFE00), as archives with a C-FIND cap do. (It caps its QIDO-RS too, without
    # a word: hence an Orthanc of its own.)
    work = str(tmp_path / "capped")
    os.makedirs(work)
    capped = Orthanc(work, {"LimitFindResults": CFIND_LIMIT})
    try:
        capped.upload(big.singles)
        _cfind_is_incomplete(mount, capped)
    finally:
        capped.stop()


def _cfind_is_incomplete(mount, capped):
    m = mount("dicom://ORTHANC@127.0.0.1:%d" % capped.dicom_port)
    assert len(os.listdir(m.path("studies"))) == CFIND_LIMIT
    log = m.text()
    assert re.search(r"C-FIND .*status 0xfe00 after 40 answers: the answer is incomplete", log)
    assert _status(m)["incomplete_listings"] == "1"


def test_max_results_cut_says_incomplete(mount, big):
    m = mount(big.source, "max_results=30")
    assert len(os.listdir(m.path("studies"))) == 30
    assert "listing cut at max_results=30" in m.text()
    assert big.proxy.count(r"^/dicom-web/studies\?") == 1  # the user's bound: no more paging
    status = _status(m)
    assert status["incomplete_listings"] == "1"
    assert status["last_incomplete"] == "/studies cut at max_results"


def test_204_for_no_results_is_an_empty_folder(mount, big):
    big.proxy.fault(r"^/dicom-web/studies", empty=204)
    m = mount(big.source)
    assert os.listdir(m.path("search", "PatientName=NOBODY*")) == []
    assert big.proxy.count(r"^/dicom-web/studies\?") == 1


# Against the session's Orthanc and its dataset (compressed files included).

def _files(data, n=3):
    tree = naming.patients_tree(data["manifest"])
    es = [e for e in data["manifest"] if e["PatientID"] == "PID001" and e["Modality"] == "CT"]
    return [(e, tree[e["SOPInstanceUID"]]) for e in es[:n]]


@pytest.mark.parametrize("status", [406, 400, 415])
def test_refused_transfer_syntax_falls_back_once_and_serves_files(mount, source, proxy, data,
                                                                  status):
    proxy.fault(r"/instances/[0-9.]+$|/series/[0-9.]+$", refuse_ts=status)
    m = mount(source, "prefetch=none")
    for e, rel in _files(data):
        path = m.path("patients", rel)
        with open(path, "rb") as f:
            body = f.read()
        # Stored as Explicit VR Little Endian, the default: the same bytes come back.
        assert hashlib.md5(body).hexdigest() == e["md5"], rel
        assert pydicom.dcmread(path).SOPInstanceUID == e["SOPInstanceUID"]
    log = m.text()
    assert len(re.findall(r"warn: .*HTTP %d to transfer-syntax=\* \(as stored\): asking for "
                          r"the archive's default syntax from now on; files may be "
                          r"transcoded" % status, log)) == 1
    gets = [r for r in proxy.log() if "/instances/" in r["path"]]
    # The first asks for "*" and is refused; every later one asks without it at once.
    assert "transfer-syntax=*" in gets[0]["accept"]
    assert [r["accept"] for r in gets[1:]] == ['multipart/related; type="application/dicom"'] * 3


def test_refused_transfer_syntax_option_is_an_error_naming_it(mount, source, proxy, data):
    explicit = "1.2.840.10008.1.2.1"
    proxy.fault(r"/instances/[0-9.]+$|/series/[0-9.]+$", refuse_ts=406)
    m = mount(source, "prefetch=none,transfer_syntax=" + explicit, expect_errors=True)
    e, rel = _files(data, 1)[0]
    with pytest.raises(OSError) as exc:
        open(m.path("patients", rel), "rb").read()
    assert exc.value.errno == errno.EIO
    assert "the archive refuses transfer_syntax=%s (HTTP 406)" % explicit in m.text()
    assert all("transfer-syntax=" + explicit in r["accept"] for r in proxy.log()
               if "/instances/" in r["path"])


def test_bare_application_dicom_chunked_reply_is_served_whole(mount, source, proxy, data):
    proxy.fault(r"/instances/[0-9.]+$", bare=True)
    m = mount(source, "prefetch=none")
    compressed = [e for e in data["manifest"] if e.get("compression")]
    tree = naming.patients_tree(data["manifest"])
    for e, rel in _files(data, 2) + [(c, tree[c["SOPInstanceUID"]]) for c in compressed]:
        with open(m.path("patients", rel), "rb") as f:
            assert hashlib.md5(f.read()).hexdigest() == e["md5"], rel
    assert proxy.count(r"/instances/[0-9.]+$") == 2 + len(compressed)


def test_study_uid_that_is_a_path_is_never_requested(mount, source, proxy, data):
    e = next(e for e in data["manifest"] if e["PatientID"] == "PID003")
    bad = "1.2.3/../../../admin/secret?x="
    proxy.fault(r"^/dicom-web/studies\?",
                replace=(e["StudyInstanceUID"].encode(), bad.encode()))
    m = mount(source, expect_errors=r"StudyInstanceUID .* is not a valid UID")
    patient = m.path("patients", naming.patients_tree(data["manifest"])[
        e["SOPInstanceUID"]].split("/")[0])
    studies = os.listdir(patient)
    assert len(studies) == 1
    with pytest.raises(OSError) as exc:
        os.listdir(os.path.join(patient, studies[0]))
    assert exc.value.errno == errno.EIO
    assert not [p for p in proxy.paths() if "admin" in p or "/.." in p]
    # The folder layer refuses it before the searcher would (fs/tree.c tree_check_uids); the
    # searcher's own check (qido_rs.c check_path_uid) stays for UIDs that reach it otherwise.
    assert re.search(r'StudyInstanceUID "%s" from the archive is not a valid UID: (not|never) '
                     r'requested' % re.escape(bad), m.text())


def test_qido_reply_beyond_the_cap_is_eio_with_a_clear_error(mount, source, proxy):
    # A valid DICOM JSON answer of 17 MiB: an archive that ignored limit (17,000 results of
    # 1 KiB; one result over 1 MiB is refused on its own: test_json_replies.py).
    one = b'{"00081030": {"vr": "LO", "Value": ["' + b"x" * 1000 + b'"]}}'
    big = b"[" + b",".join([one] * 17500) + b"]"
    proxy.fault(r"^/dicom-web/studies\?", body=big, type="application/dicom+json")
    m = mount(source, expect_errors=r"reply larger than 16 MiB")
    with pytest.raises(OSError) as exc:
        os.listdir(m.path("studies"))
    assert exc.value.errno == errno.EIO
    assert "reply larger than 16 MiB: the archive may ignore limit" in m.text()
