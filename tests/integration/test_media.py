"""/media/<StudyInstanceUID>: a study as a DICOM file-set (DICOMDIR + DICOM/Sxxxx/Ixxxxx), as a
viewer's "import from DICOMDIR" reads it. The DICOMDIR is checked against dcmtk's own dcmgpdir
run on a local copy of the same files, and read back with pydicom's FileSet."""
import errno
import os
import re
import shutil
import subprocess

import pydicom
import pytest
from pydicom.fileset import FileSet

import conftest
from checks import errno_of, read_bytes
from servers import LoopbackHTTP

QIDO_STUDIES = r"^/dicom-web/studies\?"
# A component of a Part-10 file ID (PS3.10 8.2): 1 to 8 of A-Z 0-9 _.
FILE_ID_PART = re.compile(r"^[A-Z0-9_]{1,8}$")
# Offsets inside the DICOMDIR depend on its header (the File-set ID, the meta header): the
# records are compared without them.
OFFSET_TAGS = {0x00041400, 0x00041410, 0x00041420}


def _study(data, description):
    entries = [e for e in data["manifest"] if e["StudyDescription"] == description]
    assert entries, description
    return entries[0]["StudyInstanceUID"], {e["SOPInstanceUID"]: e for e in entries}


def _files_under(root):
    """Paths (relative, '/'-joined) of the files under @root."""
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            out.append(os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/"))
    return sorted(out)


def _records(path):
    """The DICOMDIR's records in file order: each a list of (tag, value) without the offsets,
    with the nesting depth, so the patient/study/series/image tree is compared too."""
    ds = pydicom.dcmread(path)
    by_offset = {r.seq_item_tell: r for r in ds.DirectoryRecordSequence}
    out = []

    def walk(offset, depth):
        while offset:
            rec = by_offset[offset]
            out.append((depth, [(int(el.tag), str(el.value)) for el in rec
                                if int(el.tag) not in OFFSET_TAGS]))
            walk(rec.OffsetOfReferencedLowerLevelDirectoryEntity, depth + 1)
            offset = rec.OffsetOfTheNextDirectoryRecord

    walk(ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity, 0)
    assert len(out) == len(ds.DirectoryRecordSequence), "records outside the tree"
    return out


@pytest.mark.parametrize("description", ["CT ABDOMEN", "CT THORAX"])
def test_dicomdir_describes_what_dcmgpdir_makes_of_a_local_copy(mount, source, data, tmp_path,
                                                                description):
    """Our DICOMDIR and dcmgpdir's, made from a cp -r of the file-set's DICOM folder, hold the
    same records (patient, study, series, image, with their attributes and file IDs) in the same
    tree. CT ABDOMEN has RLE, JPEG and JPEG 2000 images and instances without InstanceNumber;
    CT THORAX four series, two of them with one number, in UTF-8."""
    study, truth = _study(data, description)
    m = mount(source)
    media = m.path("media", study)
    copy = tmp_path / "copy"
    shutil.copytree(os.path.join(media, "DICOM"), copy / "DICOM")
    # dcmgpdir as trolley runs DicomDirInterface: invent missing type 1 values, accept every
    # transfer syntax and retired SOP classes, the same File-set ID; the files in file-ID
    # order (records keep the order files are added in).
    files = _files_under(str(copy))
    run = subprocess.run(["dcmgpdir", "-q", "+I", "-Nxc", "+Nrs", "+F", "TROLLEY",
                          "+D", str(copy / "DICOMDIR")] + files,
                         cwd=str(copy), capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    theirs = _records(str(copy / "DICOMDIR"))
    ours = _records(os.path.join(media, "DICOMDIR"))
    assert ours == theirs
    images = [r for r in ours if r[0] == 3]
    assert len(images) == len(truth)


def test_fileset_reads_dicomdir_and_every_referenced_file_is_the_archives(mount, source, data):
    """pydicom's FileSet reads the DICOMDIR from the mount and opens each file it references:
    one per instance of the study, byte-identical to what the archive holds."""
    study, truth = _study(data, "CT THORAX")
    m = mount(source)
    fs = FileSet(m.path("media", study, "DICOMDIR"))
    seen = {}
    for inst in fs:
        ds = inst.load()
        assert ds.StudyInstanceUID == study
        seen[ds.SOPInstanceUID] = inst.path
    assert sorted(seen) == sorted(truth)
    for sop, path in seen.items():
        assert read_bytes(path) == read_bytes(truth[sop]["path"]), path
    # The folder shows exactly the files the DICOMDIR references, under CD file IDs.
    shown = _files_under(m.path("media", study))
    refs = sorted(os.path.relpath(p, m.path("media", study)) for p in seen.values())
    assert shown == sorted(refs + ["DICOMDIR"])
    for rel in shown:
        assert all(FILE_ID_PART.match(part) for part in rel.split("/")), rel


def test_file_ids_follow_series_and_instance_numbers(mount, source, data):
    """DICOM/S0001 is the series with the lowest SeriesNumber, and in it I00001 the instance
    with the lowest InstanceNumber: the numbering is the study's own, stable across mounts."""
    study, truth = _study(data, "CT HEAD")
    m = mount(source)
    top = m.path("media", study)
    assert sorted(os.listdir(top)) == ["DICOM", "DICOMDIR"]
    assert sorted(os.listdir(os.path.join(top, "DICOM"))) == ["S0001", "S0002"]
    for s, number in (("S0001", "1"), ("S0002", "2")):
        files = sorted(os.listdir(os.path.join(top, "DICOM", s)))
        want = sorted((e for e in truth.values() if e["SeriesNumber"] == number),
                      key=lambda e: int(e["InstanceNumber"]))
        assert files == ["I%05d" % (i + 1) for i in range(len(want))]
        for i in (0, len(want) - 1):
            got = read_bytes(os.path.join(top, "DICOM", s, files[i]))
            assert got == read_bytes(want[i]["path"])


def test_dicomdir_size_after_open_is_the_bytes_read_and_it_is_cached(mount, source, data,
                                                                       proxy, tmp_path):
    """stat after open shows the DICOMDIR's exact size; a later open (also after a remount on
    the same cache) serves the stored DICOMDIR without downloading the study again."""
    study, _ = _study(data, "MR KNEE")
    cache = str(tmp_path / "cache")
    m = mount(source, cache_dir=cache)
    path = m.path("media", study, "DICOMDIR")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        body = f.read()
    assert size == len(body) > 0
    assert os.stat(path).st_size == len(body)
    assert pydicom.dcmread(path).DirectoryRecordSequence
    assert proxy.count(r"/series/") > 0  # it fetched the study
    m.unmount()
    proxy.reset()
    m = mount(source, cache_dir=cache)
    assert read_bytes(m.path("media", study, "DICOMDIR")) == body
    assert os.stat(m.path("media", study, "DICOMDIR")).st_size == len(body)
    assert proxy.count(r"/instances/[0-9.]+$") == 0
    assert proxy.count(r"/series/[0-9.]+$") == 0


def test_unreachable_instance_makes_dicomdir_eio_naming_it(mount, source, data, proxy):
    """An instance the archive will not give fails the DICOMDIR's open with EIO and a log line
    naming it: never a DICOMDIR that quietly lacks an image. Nothing wrong is kept: once the
    archive answers again, the DICOMDIR is whole."""
    study, truth = _study(data, "MR KNEE")
    victim = sorted(truth)[3]
    m = mount(source, options="prefetch=none,retry=0",  # retry=0: the 503 is the answer
              expect_errors=[re.escape(victim), r"HTTP 503"])
    proxy.fault(r"/instances/%s$" % re.escape(victim), status=503, body=b"busy",
                type="text/plain")
    path = m.path("media", study, "DICOMDIR")
    assert errno_of(open, path, "rb") == errno.EIO
    lines = [l for l in m.text().splitlines()
             if l.startswith("trolley: error:") and "DICOMDIR" in l and victim in l]
    assert lines, m.text()
    assert os.stat(path).st_size == 0  # nothing stored
    proxy.clear_faults()
    fs = FileSet(path)
    assert sorted(i.SOPInstanceUID for i in fs) == sorted(truth)


def test_media_lookup_is_targeted_and_listing_matches_studies(mount, source, data, proxy):
    """/media/<uid> resolves by a query for that study alone (no listing of the archive);
    /media lists what /studies lists; an unknown study is ENOENT."""
    study, _ = _study(data, "MR BRAIN")
    m = mount(source)
    assert os.path.isdir(m.path("media", study))
    paths = proxy.paths(QIDO_STUDIES)
    assert paths and all("StudyInstanceUID=" in p for p in paths), paths
    assert errno_of(os.stat, m.path("media", "1.2.3.4.5.6.7.8.9")) == errno.ENOENT
    assert sorted(os.listdir(m.path("media"))) == sorted(os.listdir(m.path("studies")))
    # Listing the file-set downloads nothing; only opening does.
    proxy.reset()
    for d, _, files in os.walk(m.path("media", study)):
        for f in files:
            os.stat(os.path.join(d, f))
    assert proxy.count(r"/instances/[0-9.]+$") == 0
    assert proxy.count(r"/series/[0-9.]+$") == 0


@pytest.fixture(scope="module")
def dcmqrscp_pid001(session_dir, data):
    """dcmtk's dcmqrscp holding PID001's studies: a strictly hierarchical C-FIND SCP (an IMAGE
    level query needs its series' UID)."""
    from servers import Dcmqrscp
    d = os.path.join(session_dir, "dcmqrscp-media")
    os.makedirs(d)
    s = Dcmqrscp(d, [e["path"] for e in data["manifest"] if e["PatientID"] == "PID001"])
    yield s
    s.stop()


def test_fileset_over_c_find_and_c_get(mount, dcmqrscp_pid001, data):
    """Over DIMSE (C-FIND for the layout, C-GET for the files) the file-set is the same: every
    instance of the study once, each file the instance its DICOMDIR record names."""
    study, truth = _study(data, "MR BRAIN")
    m = mount("dicom://STORE@127.0.0.1:%d" % dcmqrscp_pid001.port)
    fs = FileSet(m.path("media", study, "DICOMDIR"))
    got = {}
    for inst in fs:
        ds = inst.load()
        assert ds.SOPInstanceUID == inst.SOPInstanceUID
        got[ds.SOPInstanceUID] = ds
    assert sorted(got) == sorted(truth)
    for sop, ds in got.items():
        want = pydicom.dcmread(truth[sop]["path"])
        assert ds.PixelData == want.PixelData


def test_fileset_files_are_the_cached_instances_of_the_tree(mount, source, data, proxy):
    """A file under /media is the instance the rest of the tree shows, from the same cache: one
    read through /studies makes the /media file a cache hit, with no second download."""
    study, truth = _study(data, "MR KNEE")
    m = mount(source, options="prefetch=none")
    first = m.path("media", study, "DICOM", "S0001", "I00001")
    sop = pydicom.dcmread(first, stop_before_pixels=True).SOPInstanceUID
    e = truth[sop]
    assert int(e["InstanceNumber"]) == min(int(x["InstanceNumber"]) for x in truth.values())
    other = m.path("media", study, "DICOM", "S0001", "I00002")
    via_tree = m.path("studies", study, e["SeriesInstanceUID"], "%s.dcm" % sop)
    proxy.reset()
    with open(other, "rb"):
        pass
    sop2 = pydicom.dcmread(other, stop_before_pixels=True).SOPInstanceUID
    assert proxy.count(r"/instances/%s$" % re.escape(sop2)) == 1
    assert read_bytes(m.path("studies", study, truth[sop2]["SeriesInstanceUID"],
                             "%s.dcm" % sop2)) == read_bytes(truth[sop2]["path"])
    assert read_bytes(via_tree) == read_bytes(first) == read_bytes(e["path"])
    assert proxy.count(r"/instances/[0-9.]+$") == 1  # only I00002's own download


def test_every_study_of_the_archive_gets_a_whole_dicomdir(mount, source, data):
    """Every study of the test archive, the odd ones too (a waveform, an object stored without
    a meta header, one with a damaged meta header, compressed syntaxes, missing numbers), gets
    a DICOMDIR that references each of its instances once."""
    studies = {}
    for e in data["manifest"]:
        studies.setdefault(e["StudyInstanceUID"], set()).add(e["SOPInstanceUID"])
    m = mount(source)
    for study, sops in sorted(studies.items()):
        fs = FileSet(m.path("media", study, "DICOMDIR"))
        got = [i.SOPInstanceUID for i in fs]
        assert sorted(got) == sorted(sops), study


def test_instance_dcmtk_refuses_makes_dicomdir_eio_naming_it(mount, source, data, proxy):
    """An instance dcmtk cannot describe (here its SOP class, rewritten on the way, is no
    storage class dcmtk knows) fails the DICOMDIR's open with EIO and a log line naming the
    instance and its file ID, with dcmtk's reason."""
    study, truth = _study(data, "MR KNEE")
    victim = sorted(truth)[5]
    m = mount(source, options="prefetch=none",
              expect_errors=[r"DICOMDIR of study .* instance %s \(DICOM/S0001/I\d{5}\) cannot "
                             r"be described: " % re.escape(victim)])
    mr = b"1.2.840.10008.5.1.4.1.1.4\0"
    private = b"1.2.826.0.1.3680043.9.999"
    assert len(private) + 1 == len(mr)
    proxy.fault(r"/instances/%s$" % re.escape(victim), replace=(mr, private + b"\0"))
    path = m.path("media", study, "DICOMDIR")
    assert errno_of(open, path, "rb") == errno.EIO
    assert re.search(r"trolley: error: DICOMDIR of study %s: instance %s \(DICOM/S0001/I\d{5}\) "
                     r"cannot be described: .*profile" % (re.escape(study), re.escape(victim)),
                     m.text())
    assert os.stat(path).st_size == 0


class ClaimingArchive(LoopbackHTTP):
    """A hostile QIDO-RS server: one study that it claims holds SERIES series of INSTANCES
    instances each (every query answered whole, limit ignored). It serves no instance: the
    DICOMDIR must be refused before any is asked for."""
    STUDY = "1.2.826.0.1.3680043.8.498.999"
    SERIES = 40
    INSTANCES = 10000

    def __init__(self):
        self.paths = []
        self._serve("/dicom-web")

    @staticmethod
    def _attr(tag, vr, value):
        return '"%s":{"vr":"%s","Value":["%s"]}' % (tag, vr, value)

    def handle_get(self, h):
        self.paths.append(h.path)
        path = h.path.partition("?")[0]
        study = self._attr("0020000D", "UI", self.STUDY)
        if path == "/dicom-web/studies":
            body = "[{%s,%s}]" % (study, self._attr("00100020", "LO", "CLAIM"))
        elif path == "/dicom-web/studies/%s/series" % self.STUDY:
            body = "[%s]" % ",".join(
                "{%s,%s,%s}" % (study, self._attr("0020000E", "UI", "%s.%d" % (self.STUDY, s)),
                                self._attr("00200011", "IS", s))
                for s in range(1, self.SERIES + 1))
        elif re.fullmatch(r"/dicom-web/studies/%s/series/[0-9.]+/instances"
                          % re.escape(self.STUDY), path):
            series = path.split("/")[-2]
            body = "[%s]" % ",".join(
                "{%s,%s,%s,%s,%s}" % (study, self._attr("0020000E", "UI", series),
                                      self._attr("00080018", "UI", "%s.%d" % (series, i)),
                                      self._attr("00080016", "UI", "1.2.840.10008.5.1.4.1.1.2"),
                                      self._attr("00200013", "IS", i))
                for i in range(1, self.INSTANCES + 1))
        else:
            self.reply(h, 404, "text/plain", b"not here")
            return
        self.reply(h, 200, "application/dicom+json", body.encode())


def _vm_mib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        return next(int(l.split()[1]) >> 10 for l in f if l.startswith(key + ":"))


def test_dicomdir_of_a_study_claiming_400000_instances_is_refused_before_any_fetch(mount):
    """Issue 18: a server claiming 40 series of 10,000 instances took the daemon to 246 MB at
    the DICOMDIR's first open, every instance list held at once, before any fetch. The lists
    are read one at a time and a study over 100,000 instances gets no DICOMDIR: a clear error,
    no instance asked for, and a bounded peak."""
    server = ClaimingArchive()
    try:
        m = mount(server.url, expect_errors=[r"more than 100000 instances"])
        folder = m.path("media", server.STUDY)
        assert sorted(os.listdir(folder)) == ["DICOM", "DICOMDIR"]
        before = _vm_mib(m.proc.pid, "VmRSS")
        assert errno_of(read_bytes, os.path.join(folder, "DICOMDIR")) == errno.EIO
        peak = _vm_mib(m.proc.pid, "VmHWM")
        print("RSS before %d MiB, peak %d MiB" % (before, peak))
        assert re.search(r"DICOMDIR of study %s: more than 100000 instances \(110000 in its "
                         r"first 11 series of 40\)" % re.escape(server.STUDY), m.text())
        asked = [p for p in server.paths if "/instances" in p]
        assert len(asked) == 11  # the series past the bound were not even listed
        assert not [p for p in server.paths if "/instances/" in p or "wado" in p.lower()]
        if not _sanitized():
            assert peak - before < 150, (before, peak)
    finally:
        server.stop()


def _sanitized():
    with open(conftest.BIN, "rb") as f:
        return b"__asan_init" in f.read()
