"""The de-identified view (-o deid=KEYFILE, issue 21) against real archives: Orthanc over
QIDO-RS/WADO-RS and dcmqrscp over C-FIND/C-GET, loaded with a study that has PHI everywhere
(deid_data.py). Nothing identifying may be reached through the mount: no removed value or
original UID in any name, file, xattr, metadata.json, status or errors file; references stay
consistent; the key makes it reproducible; Orthanc's own /anonymize and dciodvfy are the
independent checks."""
import csv
import errno
import io
import json
import os
import re
import subprocess
import time
import urllib.request

import pydicom
import pytest

import deid_data
from conftest import BIN
from servers import Dcmqrscp, Orthanc

PYDICOM_FILES = "/usr/lib/python3/dist-packages/pydicom/data/test_files"


@pytest.fixture(scope="module")
def phi(tmp_path_factory):
    return deid_data.generate(str(tmp_path_factory.mktemp("phi")))


@pytest.fixture(scope="module")
def archive(tmp_path_factory, phi):
    """An Orthanc of its own with the PHI study: {server, ids: {sop: orthanc id}}."""
    server = Orthanc(str(tmp_path_factory.mktemp("orthanc-deid")))
    try:
        sops = list(phi["sops"])
        ids = server.upload([phi["sops"][s] for s in sops])
        yield {"server": server, "ids": dict(zip(sops, ids))}
    finally:
        server.stop()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for name in ("one", "two"):
        path = d / name
        with open(os.open(str(path), os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(os.urandom(48))
        out[name] = str(path)
    return out


def deid_mount(mount, source, key, options="", **kw):
    opts = "deid=" + key
    if options:
        opts += "," + options
    return mount(source, options=opts, **kw)


def run_map(key, source, cache_dir, options=""):
    """The custodian's CSV: {old: new}."""
    opts = "cache_dir=" + cache_dir + ("," + options if options else "")
    out = subprocess.run([BIN, "--deid-map", key, "-o", opts, source], capture_output=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    rows = list(csv.reader(io.StringIO(out.stdout.decode())))
    assert rows[0] == ["id_old", "id_new"]
    return dict(rows[1:]), out.stderr.decode()


def walk(root):
    """Every name, xattr value and file of the mount's /patients, /studies and /media, with
    the bytes of each file: (names, xattr values, {path: bytes})."""
    names, values, files = [], [], {}
    for top in ("patients", "studies", "media"):
        for d, dirs, fnames in os.walk(os.path.join(root, top)):
            for n in dirs + fnames:
                p = os.path.join(d, n)
                names.append(n)
                for x in os.listxattr(p):
                    values.append(x + "=" + os.getxattr(p, x).decode("utf-8", "replace"))
            for n in fnames:
                with open(os.path.join(d, n), "rb") as f:
                    # rsync copies the size fstat gives right after open: the view's.
                    size = os.fstat(f.fileno()).st_size
                    files[os.path.join(d, n)] = f.read()
                if n.endswith(".dcm"):
                    assert size == len(files[os.path.join(d, n)]), n
    return names, values, files


def forbidden():
    """Byte strings that must not appear anywhere in the view."""
    words = [v for k, v in deid_data.PHI.items() if k not in ("StudyTime", "ContentTime")]
    # A PN's components alone too (a viewer shows "Alice Secretname").
    words += ["Secretname", "Phireferrer", "Phioperator", "Phiperformer"]
    return [w.encode() for w in words + deid_data.original_uids()]


def assert_no_leak(what, blobs):
    for name, blob in blobs:
        data = blob if isinstance(blob, bytes) else blob.encode("utf-8", "replace")
        for w in forbidden():
            assert w not in data, "%s %s holds %r" % (what, name, w)


def check_view(m, phi, with_metadata=True):
    """The whole view: no leak anywhere; the instances that can be cleaned are there, the
    burned-in one and the SR are not. @return {InstanceNumber: dataset} of the images."""
    names, values, files = walk(m.mountpoint)
    assert_no_leak("name", [(n, n) for n in names])
    assert_no_leak("xattr", [(v, v) for v in values])
    assert_no_leak("file", files.items())
    for extra in ("status", "errors"):
        with open(m.path(".trolley", extra), "rb") as f:
            assert_no_leak(extra, [(extra, f.read())])
    assert sorted(os.listdir(m.mountpoint)) == [".trolley", "media", "patients", "search",
                                                "studies"]
    dcm = {p: b for p, b in files.items() if p.endswith(".dcm") and "/studies/" in p}
    meta = [b for p, b in files.items() if p.endswith("metadata.json")]
    assert bool(meta) == with_metadata
    for b in meta:
        json.loads(b)
    images = {}
    for p, b in dcm.items():
        ds = pydicom.dcmread(io.BytesIO(b))
        assert ds.PatientIdentityRemoved == "YES"
        assert "113100" in [c.CodeValue for c in ds.DeidentificationMethodCodeSequence]
        assert b[:128] == b"\0" * 128
        assert os.path.basename(p) == ds.SOPInstanceUID + ".dcm"
        assert os.stat(p).st_size == len(b)
        images[int(ds.InstanceNumber)] = ds
    # The burned-in image (InstanceNumber 4) and the SR are withheld; the rest are served.
    assert sorted(images) == [1, 2, 3, 5]
    # The DICOMDIR is made from the view's files: their pseudonyms, their UIDs, no others.
    dicomdirs = [b for p, b in files.items() if p.endswith("/DICOMDIR")]
    assert len(dicomdirs) == 1
    records = pydicom.dcmread(io.BytesIO(dicomdirs[0])).DirectoryRecordSequence
    shown = next(iter(images.values()))
    assert {r.PatientID for r in records if r.DirectoryRecordType == "PATIENT"} == \
        {shown.PatientID}
    assert {r.ReferencedSOPInstanceUIDInFile for r in records
            if r.DirectoryRecordType == "IMAGE"} == {ds.SOPInstanceUID for ds in images.values()}
    media = {b for p, b in files.items() if "/media/" in p and "/DICOM/" in p}
    assert media == {b for p, b in dcm.items()}
    return images, files


def remapped_uids(blobs):
    """Every UID of the view's own (2.25.) in the DICOM files among @blobs, at any depth."""
    out = set()

    def walk_ds(ds):
        for e in ds:
            if e.VR == "SQ":
                for item in e.value:
                    walk_ds(item)
            elif e.VR == "UI" and e.value:
                values = e.value if isinstance(e.value, pydicom.multival.MultiValue) else \
                    [e.value]
                out.update(str(v) for v in values if str(v).startswith("2.25."))

    for b in blobs:
        if b[128:132] == b"DICM":
            ds = pydicom.dcmread(io.BytesIO(b))
            walk_ds(ds.file_meta)
            walk_ds(ds)
            # trolley's own implementation class UID is no remapped value.
            out.discard(ds.file_meta.ImplementationClassUID)
    assert out
    return out


def check_references(images):
    """References and the frame of reference remapped the same way as what they point to."""
    new = {n: ds.SOPInstanceUID for n, ds in images.items()}
    assert not set(new.values()) & set(deid_data.original_uids())
    frames = {ds.FrameOfReferenceUID for ds in images.values()}
    assert len(frames) == 1 and frames != {deid_data.FRAME}
    assert images[2].ReferencedImageSequence[0].ReferencedSOPInstanceUID == new[1]
    assert images[3].ReferencedImageSequence[0].ReferencedSOPInstanceUID == new[2]
    assert images[1].ReferencedImageSequence[0].ReferencedSOPInstanceUID == new[2]
    assert images[5].SourceImageSequence[0].ReferencedSOPInstanceUID == new[1]
    # The burned-in image, withheld, is still referred to by its pseudonym, never the original.
    ref4 = images[5].ReferencedImageSequence[0].ReferencedSOPInstanceUID
    assert ref4.startswith("2.25.") and ref4 != deid_data.BURNED
    studies = {ds.StudyInstanceUID for ds in images.values()}
    assert len(studies) == 1 and studies != {deid_data.STUDY}
    assert len({ds.SeriesInstanceUID for ds in images.values()}) == 2


def test_qido_wado_view_holds_no_phi_and_keeps_references(mount, archive, phi, keys,
                                                          tmp_path):
    source = archive["server"].dicomweb
    m = deid_mount(mount, source, keys["one"])
    images, files = check_view(m, phi)
    check_references(images)
    with open(m.path(".trolley", "status")) as f:
        status = f.read()
    # The burned-in images and the SR (seen in the study's metadata); the SR's series
    # (Modality SR: only what the view withholds) and the series of one burned-in image are
    # left out whole.
    assert re.search(r"^deid_withheld: 3$", status, re.M), status
    assert re.search(r"^deid_withheld_folders: 2$", status, re.M), status
    assert "withheld" in m.text()
    # The custodian's map says what the view shows, and only the map holds the originals.
    mapping, _ = run_map(keys["one"], source, str(tmp_path / "mapcache"))
    assert mapping[deid_data.PHI["PatientID"]] != deid_data.PHI["PatientID"]
    for u in [deid_data.STUDY, *deid_data.SERIES[:2], *deid_data.SOPS, deid_data.SR_SOP]:
        assert mapping[u].startswith("2.25."), u
    assert os.listdir(m.path("studies")) == [mapping[deid_data.STUDY]]
    # Every UID the view remapped in what it served, at any depth (references, the frame of
    # reference), is in the map, with the value the files carry.
    assert mapping[deid_data.FRAME] == images[1].FrameOfReferenceUID
    assert remapped_uids(files.values()) <= set(mapping.values())
    # Withheld instances are nowhere: not as a file, nor in a study's or series' metadata.
    withheld = {mapping[deid_data.BURNED], mapping[deid_data.SR_SOP]}
    for p, b in files.items():
        assert not [u for u in withheld if u in p], p
        if p.endswith("metadata.json"):
            sops = {o["00080018"]["Value"][0] for o in json.loads(b)}
            assert not sops & withheld, p
            assert sops, p
    # The SR's series and the series of one burned-in image hold only what the view
    # withholds: not listed, not found by their names.
    for series in deid_data.SERIES[2:]:
        assert not [p for p in files if mapping[series] in p]
        assert not os.path.exists(m.path("studies", mapping[deid_data.STUDY], mapping[series]))
    assert not [p for p in files if "/3 SR" in p or "/4 CT" in p]
    # A study and its two other series, in /patients and in /studies.
    assert len([p for p in files if p.endswith("metadata.json")]) == 2 * 3
    assert {ds.SOPInstanceUID for ds in images.values()} == \
        {mapping[s] for s in deid_data.SOPS if s != deid_data.BURNED}


def relative(m, files):
    return {os.path.relpath(p, m.mountpoint): b for p, b in files.items()}


def test_same_key_same_bytes_other_key_other_uids(mount, archive, keys):
    source = archive["server"].dicomweb
    m1 = deid_mount(mount, source, keys["one"])
    first = relative(m1, walk(m1.mountpoint)[2])
    m2 = deid_mount(mount, source, keys["one"])  # a fresh mount, a cache of its own
    again = relative(m2, walk(m2.mountpoint)[2])
    # dcmtk gives each DICOMDIR it writes a UID of its own: the files it lists are the same.
    dicomdir = [p for p in first if p.endswith("/DICOMDIR")]
    assert dicomdir and dicomdir == [p for p in again if p.endswith("/DICOMDIR")]
    assert {p: b for p, b in again.items() if p not in dicomdir} == \
        {p: b for p, b in first.items() if p not in dicomdir}
    assert len([p for p in first if p.endswith(".dcm")]) == 8  # 4 in each tree
    m3 = deid_mount(mount, source, keys["two"])
    other = relative(m3, walk(m3.mountpoint)[2])
    uids = lambda files: {u for p in files for u in p.split("/") if u.startswith("2.25.")}  # noqa
    assert uids(first) and uids(other) and not uids(first) & uids(other)
    assert os.listdir(m1.path("patients")) != os.listdir(m3.path("patients"))


def test_pseudonymised_uid_resolves_and_original_does_not(mount, archive, keys, tmp_path):
    source = archive["server"].dicomweb
    mapping, _ = run_map(keys["one"], source, str(tmp_path / "mapcache"))
    patient = os.listdir(deid_mount(mount, source, keys["one"]).path("patients"))
    m = deid_mount(mount, source, keys["one"])
    assert os.path.isdir(m.path("patients", patient[0]))  # by its pseudonym, unlisted
    study, series = mapping[deid_data.STUDY], mapping[deid_data.SERIES[0]]
    sop = mapping[deid_data.SOPS[0]]
    # Looked up by path, without a listing first.
    path = m.path("studies", study, series, sop + ".dcm")
    with open(path, "rb") as f:
        assert pydicom.dcmread(f).SOPInstanceUID == sop
    assert os.path.isfile(m.path("media", study, "DICOMDIR"))
    for original in (m.path("studies", deid_data.STUDY),
                     m.path("studies", study, deid_data.SERIES[0]),
                     m.path("studies", study, series, deid_data.SOPS[0] + ".dcm"),
                     m.path("patients", deid_data.PHI["PatientName"] + " [" +
                            deid_data.PHI["PatientID"] + "]"),
                     m.path("dates"), m.path("media", deid_data.STUDY)):
        assert not os.path.exists(original), original


def test_media_shows_no_series_of_only_withheld_instances(mount, archive, keys):
    # /media first, on a fresh mount: its study's DICOM folder and DICOMDIR hold the two
    # series of served images, not the SR's nor the one of a lone burned-in image.
    m = deid_mount(mount, archive["server"].dicomweb, keys["one"])
    (study,) = os.listdir(m.path("media"))
    assert sorted(os.listdir(m.path("media", study, "DICOM"))) == ["S0001", "S0002"]
    records = pydicom.dcmread(m.path("media", study, "DICOMDIR")).DirectoryRecordSequence
    assert len([r for r in records if r.DirectoryRecordType == "SERIES"]) == 2
    assert len([r for r in records if r.DirectoryRecordType == "IMAGE"]) == 4


def test_patient_and_study_of_only_withheld_instances_are_not_listed(mount, phi, keys,
                                                                     tmp_path):
    # Another patient whose one study is a report (SR): neither is shown, nor found.
    import numpy as np
    sr = deid_data._sr(np.random.default_rng(1))
    sr.PatientName, sr.PatientID = "Reportonly^Ria", "PHIREPORT77"
    sr.StudyInstanceUID = deid_data.uid("report study")
    sr.SeriesInstanceUID = deid_data.uid("report series")
    sr.SOPInstanceUID = sr.file_meta.MediaStorageSOPInstanceUID = deid_data.uid("report")
    sr.is_little_endian, sr.is_implicit_VR = True, False
    path = str(tmp_path / "report.dcm")
    sr.save_as(path, write_like_original=False)
    (tmp_path / "orthanc").mkdir()
    server = Orthanc(str(tmp_path / "orthanc"))
    try:
        server.upload(phi["files"] + [path])
        m = deid_mount(mount, server.dicomweb, keys["one"])
        assert len(os.listdir(m.path("patients"))) == 1
        assert len(os.listdir(m.path("studies"))) == 1
        mapping, _ = run_map(keys["one"], server.dicomweb, str(tmp_path / "mapcache"))
        assert not os.path.exists(m.path("studies", mapping[sr.StudyInstanceUID]))
        assert "Reportonly" not in " ".join(os.listdir(m.path("patients")))
        with open(m.path(".trolley", "status")) as f:
            assert re.search(r"^deid_withheld_folders: [1-9]", f.read(), re.M)
    finally:
        server.stop()


def test_search_by_identifying_keys_is_refused(mount, archive, keys):
    m = deid_mount(mount, archive["server"].dicomweb, keys["one"],
                   expect_errors=r"search .*refused on a de-identified mount")
    for q in ("PatientName=Secret*", "PatientID=" + deid_data.PHI["PatientID"],
              "AccessionNumber=" + deid_data.PHI["AccessionNumber"],
              "StudyDate=20190401-20190430", "StudyInstanceUID=" + deid_data.STUDY):
        with pytest.raises(OSError) as e:
            os.listdir(m.path("search", q))
        assert e.value.errno == errno.EACCES, q
    assert "PatientName identifies a patient or a day: refused" in m.text()
    found = os.listdir(m.path("search", "ModalitiesInStudy=CT"))
    assert len(found) == 1
    assert_no_leak("search result", [(n, n) for n in found])


def test_readable_or_short_key_file_is_refused(archive, keys, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    readable = tmp_path / "readable"
    readable.write_bytes(os.urandom(48))
    readable.chmod(0o644)
    short = tmp_path / "short"
    short.write_bytes(b"0123456789")
    short.chmod(0o600)
    for key, why in ((readable, "group or others may read the key file"),
                     (short, "")):
        out = subprocess.run([BIN, "-f", "-o", "cache_dir=%s,deid=%s" % (tmp_path / "c", key),
                              archive["server"].dicomweb, str(mnt)],
                             capture_output=True, timeout=30)
        assert out.returncode != 0
        assert "deid=%s" % key in out.stderr.decode()
        assert why in out.stderr.decode()
    with open(keys["one"], "rb") as f:
        secret = f.read()
    # Neither the key nor any part of it is ever printed.
    assert secret not in out.stderr and secret not in out.stdout


def dciodvfy_errors(path):
    out = subprocess.run(["dciodvfy", path], capture_output=True, timeout=60)
    lines = (out.stdout + out.stderr).decode("utf-8", "replace").splitlines()
    return {re.sub(r"\s+$", "", l) for l in lines if l.startswith("Error")}


def test_dciodvfy_finds_no_new_error(mount, archive, phi, keys, tmp_path):
    m = deid_mount(mount, archive["server"].dicomweb, keys["one"])
    checked = 0
    for d, _, fnames in os.walk(m.path("studies")):
        for n in fnames:
            if not n.endswith(".dcm"):
                continue
            view = tmp_path / n
            with open(os.path.join(d, n), "rb") as src:
                view.write_bytes(src.read())
            number = int(pydicom.dcmread(str(view)).InstanceNumber)
            original = phi["sops"][deid_data.SOPS[number - 1]]
            new = dciodvfy_errors(str(view)) - dciodvfy_errors(original)
            assert not new, "%s: dciodvfy errors the original has not: %s" % (n, new)
            checked += 1
    assert checked == 4


def _elements(ds, path=""):
    """{path: value} of every element at any depth (sequences by item index)."""
    out = {}
    for e in ds:
        key = path + "(%04X,%04X)" % (e.tag.group, e.tag.element)
        if e.VR == "SQ":
            for i, item in enumerate(e.value):
                out.update(_elements(item, key + "[%d]" % i))
        elif e.tag != 0x7FE00010:
            out[key] = e.value
    return out


def test_what_orthanc_anonymize_changes_trolley_does_not_keep(mount, archive, phi, keys):
    server = archive["server"]
    m = deid_mount(mount, server.dicomweb, keys["one"])
    compared = 0
    for number, sop in enumerate(deid_data.SOPS, 1):
        if sop == deid_data.BURNED:
            continue
        req = urllib.request.Request(
            "%s/instances/%s/anonymize" % (server.url, archive["ids"][sop]),
            data=json.dumps({}).encode(), method="POST")
        orthanc = _elements(pydicom.dcmread(io.BytesIO(urllib.request.urlopen(req).read())))
        original = _elements(pydicom.dcmread(phi["sops"][sop]))
        ours = None
        for d, _, fnames in os.walk(m.path("studies")):
            for n in fnames:
                if n.endswith(".dcm"):
                    ds = pydicom.dcmread(os.path.join(d, n))
                    if int(ds.InstanceNumber) == number:
                        ours = _elements(ds)
        assert ours is not None
        for key, value in original.items():
            if orthanc.get(key, object()) != value:  # Orthanc removed or changed it
                assert ours.get(key, object()) != value, \
                    "instance %d: %s kept as %r, which Orthanc's basic profile changes" % (
                        number, key, value)
                compared += 1
    assert compared > 40


def test_pydicom_test_files_through_the_view(mount, keys, tmp_path):
    files = sorted(os.path.join(PYDICOM_FILES, n) for n in os.listdir(PYDICOM_FILES)
                   if n.endswith(".dcm"))
    (tmp_path / "orthanc-pydicom").mkdir()
    server = Orthanc(str(tmp_path / "orthanc-pydicom"))
    try:
        stored = {}
        for path in files:
            with open(path, "rb") as f:
                body = f.read()
            try:
                req = urllib.request.Request(server.url + "/instances", data=body,
                                             method="POST")
                reply = json.load(urllib.request.urlopen(req, timeout=30))
            except OSError:
                continue  # Orthanc does not take it: nothing to serve
            if reply.get("Status") == "Success":
                stored[path] = reply["ID"]
        assert len(stored) > 20
        m = deid_mount(mount, server.dicomweb, keys["one"], expect_errors=r"deid: ")
        served = refused = 0
        leaks = []
        for d, _, fnames in os.walk(m.path("studies")):
            for n in fnames:
                p = os.path.join(d, n)
                try:
                    with open(p, "rb") as f:
                        body = f.read()
                except OSError as e:
                    # ENOENT: Orthanc lists some of these files and cannot serve them
                    assert e.errno in (errno.EACCES, errno.EIO, errno.EFBIG, errno.ENOENT), (p, e)
                    refused += 1
                    continue
                served += 1
                if n.endswith(".dcm"):
                    pydicom.dcmread(io.BytesIO(body))
                leaks.append((p, body))
        assert served > 20
        with open(m.path(".trolley", "errors"), "rb") as f:
            errors_text = f.read()
        # Orthanc lists instances it then cannot serve (404): their requests named the
        # original UIDs, the errors file does not.
        assert refused and b"\tENOENT\t" in errors_text and b"(uid)" in errors_text
        leaks.append(("/.trolley/errors", errors_text))
        for path in stored:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
            words = [str(ds.get(k, "")) for k in ("StudyInstanceUID", "SeriesInstanceUID",
                                                   "SOPInstanceUID")]
            words += [str(ds.get("PatientID", "")), str(ds.get("PatientName", ""))]
            words = [w.encode() for w in words if len(w) >= 6]
            for p, body in leaks:
                for w in words:
                    assert w not in body, "%s leaks %r of %s" % (p, w, path)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def dcmqrscp_phi(tmp_path_factory, phi):
    s = Dcmqrscp(str(tmp_path_factory.mktemp("dcmqrscp-deid")), phi["files"])
    yield s
    s.stop()


def test_c_find_c_get_view_holds_no_phi(mount, dcmqrscp_phi, phi, keys, tmp_path):
    m = deid_mount(mount, "dicom://STORE@127.0.0.1:%d" % dcmqrscp_phi.port, keys["one"],
                   expect_errors=True)
    names, values = [], []
    # C-FIND answers no BurnedInAnnotation: those images are listed, and their opens refused.
    files, refused = {}, []
    for d, dirs, fnames in os.walk(m.path("studies")):
        for n in dirs + fnames:
            p = os.path.join(d, n)
            names.append(n)
            values += [x + "=" + os.getxattr(p, x).decode("utf-8", "replace")
                       for x in os.listxattr(p)]
        for n in fnames:
            try:
                with open(os.path.join(d, n), "rb") as f:
                    files[n] = f.read()
            except OSError as e:
                assert e.errno == errno.EACCES
                files[n] = None
                refused.append(os.path.join(d, n))
    assert_no_leak("name", [(n, n) for n in names])
    assert_no_leak("xattr", [(v, v) for v in values])
    served = {n: b for n, b in files.items() if b is not None}
    assert_no_leak("file", served.items())
    images = {}
    for b in served.values():
        ds = pydicom.dcmread(io.BytesIO(b))
        images[int(ds.InstanceNumber)] = ds
    assert 4 not in images and {1, 2, 3, 5} <= set(images)
    check_references({k: v for k, v in images.items() if k in (1, 2, 3, 5)})
    for extra in ("status", "errors"):
        with open(m.path(".trolley", extra), "rb") as f:
            assert_no_leak(extra, [(extra, f.read())])
    with open(m.path(".trolley", "errors")) as f:
        assert "\tEACCES\t" in f.read()  # the burned-in image's open, by its pseudonym
    # C-FIND said nothing of the SOP classes or BurnedInAnnotation (dcmqrscp answers only the
    # keys of its index); the opens found out, and from then on the view lists neither the
    # burned-in image nor the series of only a burned-in image, nor finds them by name.
    assert len(refused) == 2, refused
    deadline = time.monotonic() + 30
    while [p for p in refused if os.path.exists(p)] and time.monotonic() < deadline:
        time.sleep(0.2)  # the kernel keeps a name it was given for DIR_TIMEOUT (1 s)
    assert not [p for p in refused if os.path.exists(p)]
    study = os.path.dirname(os.path.dirname(refused[0]))
    assert len(os.listdir(study)) == 2  # the two CT series of served images
    again = 0
    for d, _, fnames in os.walk(m.path("studies")):
        for n in fnames:
            with open(os.path.join(d, n), "rb") as f:
                assert f.read()
            again += 1
    assert again == 4  # the images (C-GET has no metadata.json)
    with open(m.path(".trolley", "status")) as f:
        status = f.read()
    # The burned-in images; the SR's series (by its Modality) and the lone image's series.
    assert re.search(r"^deid_withheld: 2$", status, re.M), status
    assert re.search(r"^deid_withheld_folders: 2$", status, re.M), status
    # The same key gives the same files whichever protocol brought the archive's bytes.
    mapping, _ = run_map(keys["one"], "dicom://STORE@127.0.0.1:%d" % dcmqrscp_phi.port,
                         str(tmp_path / "mapcache"))
    assert images[1].SOPInstanceUID == mapping[deid_data.SOPS[0]]
    assert remapped_uids(served.values()) <= set(mapping.values())


def test_options_shift_dates_per_patient_and_say_so(mount, archive, keys):
    m = deid_mount(mount, archive["server"].dicomweb, keys["one"],
                   options="deid_keep_dates,deid_keep_patient",
                   expect_errors=r"search .*refused on a de-identified mount")
    # Each patient's dates move by their own offset: a date search cannot be translated.
    with pytest.raises(OSError) as e:
        os.listdir(m.path("search", "StudyDate=20190101-20191231"))
    assert e.value.errno == errno.EACCES
    assert "StudyDate: this view shifts dates by an offset that differs per patient" in m.text()
    (patient,) = os.listdir(m.path("patients"))
    (study,) = os.listdir(m.path("patients", patient))
    # The study is named by its shifted date now, never the real one.
    assert re.match(r"\d{4}-\d{2}-\d{2}", study) and "2019-04-12" not in study
    shifted = set()
    for d, _, fnames in os.walk(m.path("studies")):
        for n in fnames:
            if n.endswith(".dcm"):
                ds = pydicom.dcmread(os.path.join(d, n))
                shifted |= {ds.StudyDate, ds.ContentDate}
                assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
                codes = {c.CodeValue for c in ds.DeidentificationMethodCodeSequence}
                assert {"113100", "113107", "113108"} <= codes
                assert ds.PatientSex == "F" and ds.PatientAge == "058Y"
    # One offset for the patient: every date moved by the same days, none left as it was.
    assert len(shifted) == 1 and deid_data.PHI["StudyDate"] not in shifted
    assert study.startswith("%s-%s-%s" % (min(shifted)[:4], min(shifted)[4:6], min(shifted)[6:]))


def phi_manifest(phi):
    """The PHI study as mint_server.py and rad69_server.py replay it."""
    out = []
    for sop, path in phi["sops"].items():
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        out.append({k: str(ds.get(k, "")) for k in (
            "PatientName", "PatientID", "StudyInstanceUID", "StudyDate", "StudyTime",
            "StudyDescription", "AccessionNumber", "SeriesInstanceUID", "SeriesNumber",
            "Modality", "SeriesDescription", "SOPInstanceUID", "InstanceNumber")})
        out[-1]["TransferSyntaxUID"] = str(ds.file_meta.TransferSyntaxUID)
        out[-1]["path"] = path
    return out


def check_served_view(m, learned=True):
    """Walk /studies of a view whose searcher says nothing of SOP classes or burned-in
    annotation (MINT; @learned False: it may say): every name, xattr and served file free of
    PHI, the burned-in images' opens refused (and then not listed), references consistent.
    @return the images."""
    names, values, files, refused = [], [], {}, []
    for d, dirs, fnames in os.walk(m.path("studies")):
        for n in dirs + fnames:
            p = os.path.join(d, n)
            names.append(n)
            values += [x + "=" + os.getxattr(p, x).decode("utf-8", "replace")
                       for x in os.listxattr(p)]
        for n in fnames:
            try:
                with open(os.path.join(d, n), "rb") as f:
                    files[n] = f.read()
            except OSError as e:
                assert e.errno == errno.EACCES, (n, e)
                refused.append(os.path.join(d, n))
    assert_no_leak("name", [(n, n) for n in names])
    assert_no_leak("xattr", [(v, v) for v in values])
    assert_no_leak("file", files.items())
    images = {int(ds.InstanceNumber): ds for ds in
              (pydicom.dcmread(io.BytesIO(b)) for n, b in files.items() if n.endswith(".dcm"))}
    assert sorted(images) == [1, 2, 3, 5]
    check_references(images)
    # The burned-in images, learned at their opens (or never listed, where the search said).
    assert len(refused) == 2 if learned else len(refused) in (0, 2), refused
    deadline = time.monotonic() + 30
    while [p for p in refused if os.path.exists(p)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in refused if os.path.exists(p)]
    # No empty folder: the SR's series and the series of one burned-in image are not shown.
    (study,) = os.listdir(m.path("studies"))
    series = [e for e in os.listdir(m.path("studies", study))
              if os.path.isdir(m.path("studies", study, e))]
    assert len(series) == 2 and all(os.listdir(m.path("studies", study, e)) for e in series)
    for extra in ("status", "errors"):
        with open(m.path(".trolley", extra), "rb") as f:
            assert_no_leak(extra, [(extra, f.read())])
    return images


@pytest.fixture(scope="module")
def mint_phi(phi):
    from mint_server import MintServer
    s = MintServer(phi_manifest(phi))
    yield s
    s.stop()


def test_mint_with_wado_uri_view_holds_no_phi(mount, mint_phi, archive, keys):
    m = deid_mount(mount, "mint+" + mint_phi.url, keys["one"],
                   options="wado_uri=%s/wado" % archive["server"].url, expect_errors=True)
    check_served_view(m)


def test_mint_with_rad69_view_holds_no_phi(mount, mint_phi, phi, keys):
    from rad69_server import Rad69Server
    rad69 = Rad69Server(phi_manifest(phi))
    try:
        m = deid_mount(mount, "mint+" + mint_phi.url, keys["one"],
                       options="rad69=" + rad69.url, expect_errors=True)
        check_served_view(m)
    finally:
        rad69.stop()
