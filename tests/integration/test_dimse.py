"""Classic DICOM through dcmtk against two real archives, Orthanc's DICOM port and dcmtk's own
dcmqrscp: C-FIND search, C-GET and C-MOVE downloads, mixed with DICOMweb either way, and the
refusals and timeouts a PACS can answer with."""
import errno
import hashlib
import os
import re
import socket
import struct
import subprocess
import threading
import time

import pydicom
import pytest

import naming
from servers import free_port


def _source(orthanc):
    return "dicom://ORTHANC@127.0.0.1:%d" % orthanc.dicom_port


def test_c_find_tree_with_wado_rs_downloads_is_byte_identical(mount, orthanc, proxy, data,
                                                             tmp_path):
    m = mount(_source(orthanc), options="aet=TROLLEY,wado_rs=%s/dicom-web" % proxy.url)
    # Non-ASCII names arrive in ISO_IR 192 / ISO_IR 100 and come out as UTF-8.
    assert set(os.listdir(m.path("patients"))) == naming.patient_folders(data["manifest"])
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


def split_part10(blob):
    """(transfer syntax, SOP instance UID, data set bytes) of a Part-10 file; the meta group
    is read from its group length, (0002,0000)."""
    assert blob[128:132] == b"DICM"
    assert blob[132:140] == b"\x02\x00\x00\x00UL\x04\x00"
    end = 144 + struct.unpack("<I", blob[140:144])[0]
    meta, pos = {}, 144
    while pos < end:
        group, elem = struct.unpack("<HH", blob[pos:pos + 4])
        vr = blob[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT"):
            length = struct.unpack("<I", blob[pos + 8:pos + 12])[0]
            pos += 12
        else:
            length = struct.unpack("<H", blob[pos + 6:pos + 8])[0]
            pos += 8
        meta[elem] = blob[pos:pos + length]
        pos += length
    text = lambda e: meta[e].rstrip(b"\0 ").decode()  # noqa: E731
    return text(0x10), text(0x03), blob[end:]


def study_files(data, patient_id):
    """{path under the study folder: manifest entry} and the study's folder, of a patient's
    first study (the tree naming of naming.py)."""
    tree = naming.patients_tree(data["manifest"])
    entries = [e for e in data["manifest"] if e["PatientID"] == patient_id]
    study_uid = entries[0]["StudyInstanceUID"]
    files, folder = {}, None
    for e in entries:
        if e["StudyInstanceUID"] != study_uid:
            continue
        patient, study, rest = tree[e["SOPInstanceUID"]].split("/", 2)
        folder = (patient, study)
        files[rest] = e
    return files, folder


def without_trailing_padding(body):
    """The data set without a last (FFFC,FFFC) Data Set Trailing Padding element, which has no
    meaning (PS3.5 §7.1.4): dcmtk drops it when it sends an instance, so over DIMSE it never
    arrives (pydicom's RLE test file has one)."""
    tag = body.rfind(b"\xfc\xff\xfc\xffOB\x00\x00")
    if tag >= 0 and tag + 12 + struct.unpack("<I", body[tag + 8:tag + 12])[0] == len(body):
        return body[:tag]
    return body


def assert_same_instances(out, files):
    """Each copied file holds its original's data set byte for byte, in the syntax it was
    stored in. DIMSE carries no file meta header: trolley writes its own."""
    for rel, e in files.items():
        with open(os.path.join(out, rel), "rb") as f:
            got = split_part10(f.read())
        with open(e["path"], "rb") as f:
            want = split_part10(f.read())
        assert got[0] == want[0], (rel, "transfer syntax")
        assert got[1] == e["SOPInstanceUID"], rel
        if got[2] != without_trailing_padding(want[2]):
            # Orthanc sends through dcmtk, which writes sequences of undefined length with
            # explicit lengths: the pydicom JPEG 2000 file comes re-encoded, element for
            # element the same. Every instance that the tests generated comes byte for byte.
            assert e.get("compression"), (rel, "data set bytes differ")
            with open(e["path"], "rb") as f:
                want_ds = pydicom.dcmread(f)
            got_ds = pydicom.dcmread(os.path.join(out, rel))
            assert list(got_ds.iterall()) == list(want_ds.iterall()), rel


def test_c_get_cp_r_keeps_every_instance_as_stored(mount, orthanc, data, tmp_path, proxy):
    # PID004's study holds RLE, JPEG baseline and JPEG 2000 instances and odd names.
    files, (patient, study) = study_files(data, "PID004")
    assert any(e.get("compression") for e in files.values())
    m = mount(_source(orthanc))  # dicom:// alone: C-FIND search, C-GET download
    out = tmp_path / "copy"
    subprocess.run(["cp", "-r", m.path("patients", patient, study), str(out)], check=True)
    assert_same_instances(out, files)
    assert proxy.count() == 0  # nothing went over HTTP
    status = open(m.path(".trolley", "status")).read()
    assert "transfer_errors: 0\n" in status, status


def test_c_move_cp_r_keeps_every_instance_as_stored(mount, orthanc, data, tmp_path):
    port = free_port()
    orthanc.set_move_port(port)
    files, (patient, study) = study_files(data, "PID002")
    m = mount(_source(orthanc), options="downloader=c-move,move_port=%d" % port)
    out = tmp_path / "copy"
    subprocess.run(["cp", "-r", m.path("patients", patient, study), str(out)], check=True)
    assert_same_instances(out, files)


def test_qido_search_with_c_get_download(mount, orthanc, data, source, proxy, tmp_path):
    files, (patient, study) = study_files(data, "PID003")
    m = mount(source, options="downloader=c-get,dicom=ORTHANC@127.0.0.1:%d" %
              orthanc.dicom_port)
    out = tmp_path / "copy"
    subprocess.run(["cp", "-r", m.path("patients", patient, study), str(out)], check=True)
    assert_same_instances(out, files)
    assert proxy.count(r"^/dicom-web/studies\?") >= 1  # searched over QIDO-RS
    assert proxy.count(r"/instances/[0-9.]+$") == 0  # fetched over DIMSE
    assert proxy.count(r"/series/[0-9.]+$") == 0


def test_c_get_of_a_missing_instance_is_enoent(mount, orthanc, data):
    e = data["manifest"][0]
    m = mount(_source(orthanc), expect_errors=True)
    good = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                  e["SOPInstanceUID"] + ".dcm")
    with open(good, "rb") as f:
        assert split_part10(f.read())[1] == e["SOPInstanceUID"]
    with pytest.raises(OSError) as exc:
        open(m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                    "1.2.3.4.5.6.7.dcm"), "rb")
    assert exc.value.errno == errno.ENOENT


def test_c_get_from_a_port_where_nothing_listens_is_eio(mount, orthanc, source, data):
    port = free_port()
    e = data["manifest"][0]
    m = mount(source, options="downloader=c-get,dicom=NOBODY@127.0.0.1:%d,timeout=3" % port,
              expect_errors=True)
    path = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                  e["SOPInstanceUID"] + ".dcm")
    with pytest.raises(OSError) as exc:
        open(path, "rb")
    assert exc.value.errno == errno.EIO
    assert "NOBODY@127.0.0.1:%d" % port in m.text()
    assert m.proc.poll() is None  # the mount keeps running
    assert os.listdir(m.path("patients"))


def test_c_get_timeout_is_etimedout(mount, source, data):
    # A peer that takes the TCP connection and never answers the association request.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    e = data["manifest"][0]
    try:
        m = mount(source, options="downloader=c-get,dicom=SILENT@127.0.0.1:%d,timeout=2" %
                  port, expect_errors=True)
        path = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                      e["SOPInstanceUID"] + ".dcm")
        with pytest.raises(OSError) as exc:
            open(path, "rb")
        assert exc.value.errno == errno.ETIMEDOUT
        assert "SILENT@127.0.0.1:%d" % port in m.text()
        # Nothing partial entered the cache: a second open asks the peer again.
        with pytest.raises(OSError):
            open(path, "rb")
    finally:
        listener.close()


def test_c_move_to_an_unknown_destination_fails_with_the_archive_status(mount, orthanc, data):
    # Orthanc knows no modality called NOTKNOWN. PS3.4 has 0xA801 (move destination unknown,
    # which trolley gives as EACCES) for this; Orthanc 1.10 answers 0xC000 (unable to
    # process): EIO, with the status in the log line.
    e = data["manifest"][0]
    m = mount(_source(orthanc), options="downloader=c-move,aet=NOTKNOWN,move_port=%d" %
              free_port(), expect_errors=True)
    path = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                  e["SOPInstanceUID"] + ".dcm")
    with pytest.raises(OSError) as exc:
        open(path, "rb")
    assert exc.value.errno in (errno.EIO, errno.EACCES), m.text()
    assert re.search(r"C-MOVE ORTHANC@127\.0\.0\.1:\d+ of IMAGE %s: status 0x(c000|a801) "
                     r"\(0 completed" % re.escape(e["SOPInstanceUID"]), m.text()), m.text()
    assert m.proc.poll() is None


def test_c_move_needs_a_port(tmp_path, orthanc):
    from conftest import BIN
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    out = subprocess.run([BIN, "-o", "cache_dir=%s,downloader=c-move" % (tmp_path / "c"),
                          _source(orthanc), str(mnt)], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 1
    assert "downloader=c-move needs move_port=PORT" in out.stderr


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
    assert set(os.listdir(m.path("patients"))) == naming.patient_folders(data["manifest"])
    series = m.path("patients", "Doe^John [PID001]", "2020-03-02 MR BRAIN")
    # dcmqrscp answers only the keys it indexes: no SeriesDescription, so "1 MR", not "1 MR T1".
    assert sorted(os.listdir(series)) == ["1 MR", "2 MR", "metadata.json"]
    files = os.listdir(os.path.join(series, "1 MR"))
    assert len([f for f in files if f.endswith(".dcm")]) == 30


def test_rejected_ae_title_is_eacces(mount, dcmqrscp, source, data):
    # dcmqrscp knows the called AE title STORE only: anything else is rejected.
    e = data["manifest"][0]
    m = mount(source, options="downloader=c-get,dicom=WRONG@127.0.0.1:%d" % dcmqrscp.port,
              expect_errors=True)
    path = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                  e["SOPInstanceUID"] + ".dcm")
    with pytest.raises(OSError) as exc:
        open(path, "rb")
    assert exc.value.errno == errno.EACCES
    assert re.search(r"WRONG@127\.0\.0\.1:\d+ as TROLLEY: association rejected", m.text())


def assert_same_instances_by_uid(out, files):
    """Every .dcm under @out holds the data set and syntax of its original, matched by SOP
    Instance UID (dcmqrscp answers no SeriesDescription, so the folder names differ)."""
    got = {}
    for root, _, names in os.walk(out):
        for n in names:
            if n.endswith(".dcm"):
                with open(os.path.join(root, n), "rb") as f:
                    ts, sop, body = split_part10(f.read())
                got[sop] = (ts, body)
    assert len(got) == len(files)
    for e in files.values():
        with open(e["path"], "rb") as f:
            ts, _, body = split_part10(f.read())
        assert got[e["SOPInstanceUID"]] == (ts, without_trailing_padding(body)), e["path"]


def test_c_get_from_dcmqrscp_keeps_every_instance(mount, dcmqrscp, data, tmp_path):
    files, (patient, study) = study_files(data, "PID001")
    m = mount("dicom://STORE@127.0.0.1:%d" % dcmqrscp.port)
    out = tmp_path / "copy"
    subprocess.run(["cp", "-r", m.path("patients", patient, study), str(out)], check=True)
    assert_same_instances_by_uid(out, files)


def test_c_move_from_dcmqrscp_keeps_every_instance(mount, dcmqrscp, data, tmp_path):
    # dcmqrscp moves to the TROLLEY entry of its HostTable: 127.0.0.1, dcmqrscp.move_port.
    files, (patient, study) = study_files(data, "PID001")
    m = mount("dicom://STORE@127.0.0.1:%d" % dcmqrscp.port,
              options="downloader=c-move,move_port=%d" % dcmqrscp.move_port)
    out = tmp_path / "copy"
    subprocess.run(["cp", "-r", m.path("patients", patient, study), str(out)], check=True)
    assert_same_instances_by_uid(out, files)


@pytest.fixture(scope="module")
def dcmqrscp_latin1(session_dir, data):
    """A dcmqrscp that answers every C-FIND in ISO_IR 100 (Latin-1), whatever was stored:
    loaded with Müller^Jürgen's instances (stored as ISO_IR 192)."""
    from servers import Dcmqrscp
    d = os.path.join(session_dir, "dcmqrscp-latin1")
    os.makedirs(d)
    files = [e["path"] for e in data["manifest"] if e["PatientID"] == "PID002"]
    s = Dcmqrscp(d, files, args=("-Cr", "+C", "ISO_IR 100"))
    yield s
    s.stop()


def test_iso_ir_100_answers_come_out_as_utf8(mount, dcmqrscp_latin1, data, tmp_path):
    # First, that the archive really answers in Latin-1: dcmtk's findscu, raw.
    out = tmp_path / "rsp"
    out.mkdir()
    subprocess.run(["findscu", "-S", "-aet", "TROLLEY", "-aec", "STORE", "-X", "-od", str(out),
                    "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientName", "-k",
                    "SpecificCharacterSet", "127.0.0.1", str(dcmqrscp_latin1.port)],
                   check=True, capture_output=True, timeout=60)
    answers = [pydicom.dcmread(str(p)) for p in out.iterdir()]
    assert answers and all(a.SpecificCharacterSet == "ISO_IR 100" for a in answers)
    assert all(b"M\xfcller^J\xfcrgen" in a["PatientName"].value.original_string
               for a in answers)
    # Then trolley names the patient in UTF-8 and C-GETs the files unchanged.
    m = mount("dicom://STORE@127.0.0.1:%d" % dcmqrscp_latin1.port)
    assert os.listdir(m.path("patients")) == ["Müller^Jürgen [PID002]"]
    study = os.listdir(m.path("patients", "Müller^Jürgen [PID002]"))
    assert study == ["2020-03-03 CT THORAX [ACC3]"]
    series = m.path("patients", "Müller^Jürgen [PID002]", study[0])
    first = sorted(os.listdir(series))[0]
    name = sorted(f for f in os.listdir(os.path.join(series, first)) if f.endswith(".dcm"))[0]
    with open(os.path.join(series, first, name), "rb") as f:
        ts, sop, body = split_part10(f.read())
    with open(data["by_sop"][sop]["path"], "rb") as f:
        assert (ts, sop, body) == split_part10(f.read())


class StallingDicomProxy:
    """A TCP relay in front of a DICOM port that passes whole PDUs, except that while
    .stalling is set it cuts the first P-DATA PDU of over 2,000 bytes (an instance, not a
    C-FIND answer) in half and then sends nothing more: an archive that hangs mid-transfer."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.stalling = True
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.socks = []
        self.lock = threading.Lock()
        self.active = self.max_active = 0  # client connections open at once
        self.reject_next = 0  # answer this many association requests "rejected-transient"
        self.accepted = 0  # connections taken, in all
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self.reject_next > 0:
                self.reject_next -= 1
                try:
                    head = self._read(client, 6)
                    self._read(client, struct.unpack(">I", head[2:6])[0])
                    # A-ASSOCIATE-RJ (PS3.8 §9.3.4): result 2 rejected-transient, source 3
                    # service-provider (presentation), reason 2 local-limit-exceeded.
                    client.sendall(b"\x03\x00\x00\x00\x00\x04\x00\x02\x03\x02")
                except OSError:
                    pass
                client.close()
                continue
            server = socket.create_connection(("127.0.0.1", self.upstream))
            self.socks += [client, server]
            with self.lock:
                self.active += 1
                self.max_active = max(self.max_active, self.active)
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    @staticmethod
    def _read(sock, n):
        out = b""
        while len(out) < n:
            chunk = sock.recv(n - len(out))
            if not chunk:
                raise OSError("closed")
            out += chunk
        return out

    def _pipe(self, src, dst, from_server):
        try:
            while True:
                head = self._read(src, 6)
                body = self._read(src, struct.unpack(">I", head[2:6])[0])
                if from_server and self.stalling and head[0] == 4 and len(body) > 2000:
                    dst.sendall(head + body[:len(body) // 2])
                    return  # and never another byte
                dst.sendall(head + body)
        except OSError:
            # One side closed: close the other, as a TCP relay must (an archive waits for
            # the close after a release, holding one of its association threads).
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        finally:
            if not from_server:  # the client has closed its side: one fewer open
                with self.lock:
                    self.active -= 1

    def stop(self):
        self.listener.close()
        for s in self.socks:
            s.close()


def test_c_get_stalled_mid_instance_is_etimedout_and_caches_nothing(mount, orthanc, source,
                                                                     data):
    e = data["manifest"][0]
    relay = StallingDicomProxy(orthanc.dicom_port)
    try:
        m = mount(source, options="downloader=c-get,dicom=ORTHANC@127.0.0.1:%d,timeout=2,"
                  "prefetch=none" % relay.port, expect_errors=True)
        path = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                      e["SOPInstanceUID"] + ".dcm")
        with pytest.raises(OSError) as exc:
            open(path, "rb")
        assert exc.value.errno == errno.ETIMEDOUT, m.text()
        assert re.search(r"C-(GET|STORE).*ORTHANC@127\.0\.0\.1:%d" % relay.port, m.text())
        # The half instance was not kept: once the archive behaves, the file is whole.
        relay.stalling = False
        with open(path, "rb") as f:
            got = f.read()
        with open(e["path"], "rb") as f:
            assert split_part10(got)[2] == split_part10(f.read())[2]
    finally:
        relay.stop()


@pytest.fixture(scope="module")
def orthanc_no_get(session_dir, data):
    """An Orthanc that knows trolley's AE title but does not let it C-GET."""
    from servers import Orthanc
    work = os.path.join(session_dir, "orthanc-no-get")
    os.makedirs(work)
    server = Orthanc(work, {"DicomAlwaysAllowGet": False,
                            "DicomModalities": {"trolley": {"AET": "TROLLEY",
                                                            "Host": "127.0.0.1", "Port": 4243,
                                                            "AllowGet": False}}})
    try:
        server.upload([e["path"] for e in data["manifest"] if e["PatientID"] == "PID003"])
        yield server
    finally:
        server.stop()


def test_c_get_the_archive_does_not_allow_is_refused(mount, orthanc_no_get, data):
    e = [e for e in data["manifest"] if e["PatientID"] == "PID003"][0]
    m = mount(_source(orthanc_no_get), expect_errors=True)
    assert os.listdir(m.path("patients")) == ["O_Brien^Pat [PID003]"]  # C-FIND is allowed
    path = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                  e["SOPInstanceUID"] + ".dcm")
    with pytest.raises(OSError) as exc:
        open(path, "rb")
    # Orthanc 1.10 answers a C-GET it does not allow by aborting the association (no status
    # to give): EIO, and a log line that names the peer and says so.
    assert exc.value.errno == errno.EIO, m.text()
    assert re.search(r"C-GET ORTHANC@127\.0\.0\.1:\d+ of IMAGE %s: Peer aborted Association"
                     % re.escape(e["SOPInstanceUID"]), m.text()), m.text()
    assert m.proc.poll() is None


class TcpRelay:
    """A plain TCP relay to 127.0.0.1:@target (or @target_host): each connection is passed on,
    from @source if given (127.0.0.2 is loopback too, and a different address than the
    archive's); with .hold set, a new connection is held (its bytes wait in the kernel) until
    .release is set, which holds an archive's C-MOVE sub-association in flight."""

    def __init__(self, target, target_host="127.0.0.1", source=None, hold=False):
        self.target = (target_host, target)
        self.source = source
        self.hold = hold
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        self.socks.append(client)
        if self.hold:
            self.arrived.set()
            self.release.wait(30)
        try:
            server = socket.socket()
            self.socks.append(server)
            if self.source:
                server.bind((self.source, 0))
            server.connect(self.target)
        except OSError:
            client.close()
            return
        for a, b in ((client, server), (server, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                dst.sendall(chunk)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        self.release.set()
        self.listener.close()
        for s in self.socks:
            s.close()


def _storescu(port, path, aet="ORTHANC"):
    return subprocess.run(["storescu", "-v", "-aet", aet, "-aec", "TROLLEY", "127.0.0.1",
                           str(port), path], capture_output=True, text=True, timeout=60)


def _forged(e, tmp_path, name, **changes):
    """A copy of @e's file with its pixels inverted and the given elements changed."""
    ds = pydicom.dcmread(e["path"])
    ds.PixelData = bytes(255 - b for b in ds.PixelData)
    for k, v in changes.items():
        setattr(ds, k, v)
    out = str(tmp_path / name)
    ds.save_as(out, write_like_original=True)
    return out


def test_storage_scp_takes_nothing_while_no_c_move_is_in_flight(mount, orthanc, data):
    # C-MOVE's storage SCP listens on the network, and AE titles are no secret: while no C-MOVE
    # of ours is in flight, a connection is closed before any DICOM, whoever it claims to be.
    port = free_port()
    m = mount(_source(orthanc), options="downloader=c-move,move_port=%d" % port)
    e = data["manifest"][0]
    for aet in ("INTRUDER", "ORTHANC"):
        out = _storescu(port, e["path"], aet)
        assert out.returncode != 0
        assert "Association Request Failed" in out.stdout + out.stderr, out.stderr
    assert m.text().count("(no C-MOVE of ours is in flight: 127.0.0.1); closed") == 2, m.text()
    status = open(m.path(".trolley", "status")).read()
    assert re.search(r"^bytes_downloaded: 0$", status, re.M), status


def test_storage_scp_refuses_forgeries_while_a_c_move_is_in_flight(mount, orthanc, data,
                                                                   tmp_path):
    # While trolley's C-MOVE of instance X waits (the archive's sub-association held in a
    # relay), others send: a forged X from another address (127.0.0.2) with the archive's AE
    # title, a data set claiming X (its own SOPInstanceUID X) of another study from the
    # archive's address, and another instance. None carries the C-MOVE's Move Originator
    # Message ID (storescu sends none): each is refused as not authorized (0x0124), and only
    # the archive's X comes into the file.
    e = data["manifest"][0]
    other = next(o for o in data["manifest"] if o["StudyInstanceUID"] != e["StudyInstanceUID"])
    port = free_port()
    held = TcpRelay(port, hold=True)
    stranger = TcpRelay(port, source="127.0.0.2")
    orthanc.set_move_port(held.port)
    results = {}
    try:
        m = mount(_source(orthanc), options="downloader=c-move,move_port=%d,prefetch=none"
                  % port)
        path = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                      e["SOPInstanceUID"] + ".dcm")

        def read():
            try:
                with open(path, "rb") as f:
                    results["got"] = f.read()
            except OSError as err:
                results["got"] = err

        reader = threading.Thread(target=read)
        reader.start()
        assert held.arrived.wait(30), "the archive never sent"
        forged = _forged(e, tmp_path, "forged.dcm")
        out = _storescu(stranger.port, forged)
        assert out.returncode != 0 and "Association Request Failed" in out.stderr, out.stderr
        moved = _forged(e, tmp_path, "moved.dcm", StudyInstanceUID=other["StudyInstanceUID"],
                        SeriesInstanceUID=other["SeriesInstanceUID"])
        out = _storescu(port, moved)
        assert "Received Store Response (Unknown Status: 0x124)" in out.stderr, out.stderr
        out = _storescu(port, other["path"])
        assert "Received Store Response (Unknown Status: 0x124)" in out.stderr, out.stderr
        held.release.set()
        reader.join(60)
        with open(e["path"], "rb") as f:
            assert split_part10(results["got"])[2] == split_part10(f.read())[2]
        log = m.text()
        assert "a connection from 127.0.0.2 (not the archive's address: 127.0.0.1)" in log, log
        assert "C-STORE of %s from ORTHANC (storage SCP, 127.0.0.1): it has no Move " \
               "Originator Message ID; refused" % e["SOPInstanceUID"] in log, log
        assert "C-STORE of %s from ORTHANC (storage SCP, 127.0.0.1): it has no Move " \
               "Originator Message ID; refused" % other["SOPInstanceUID"] in log, log
    finally:
        held.stop()
        stranger.stop()


def test_idle_connections_do_not_block_the_storage_scp(mount, orthanc, data):
    # A plain TCP connection that sends nothing, before any C-MOVE and while one is in flight,
    # must not keep the archive's association out: Orthanc gives up on an association after
    # 10 s (DicomScuTimeout), far sooner than timeout= here.
    e = data["manifest"][2]
    port = free_port()
    held = TcpRelay(port, hold=True)
    orthanc.set_move_port(held.port)
    idle = []
    results = {}
    try:
        m = mount(_source(orthanc), options="downloader=c-move,move_port=%d,prefetch=none,"
                  "timeout=60" % port)
        idle.append(socket.create_connection(("127.0.0.1", port)))
        path = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                      e["SOPInstanceUID"] + ".dcm")

        def read():
            try:
                with open(path, "rb") as f:
                    results["got"] = f.read()
            except OSError as err:
                results["got"] = err

        reader = threading.Thread(target=read)
        reader.start()
        assert held.arrived.wait(30), "the archive never sent"
        idle.append(socket.create_connection(("127.0.0.1", port)))
        held.release.set()
        reader.join(60)
        assert not isinstance(results["got"], OSError), m.text()
        with open(e["path"], "rb") as f:
            assert split_part10(results["got"])[2] == split_part10(f.read())[2]
    finally:
        for s in idle:
            s.close()
        held.stop()


def test_a_connection_without_association_request_is_closed_after_timeout(mount, orthanc,
                                                                          data):
    # A connection from the archive's address while a C-MOVE is in flight that never sends its
    # association request holds a thread of its own for timeout= seconds, then is closed; the
    # archive's association meanwhile is served.
    e = data["manifest"][4]
    port = free_port()
    held = TcpRelay(port, hold=True)
    orthanc.set_move_port(held.port)
    results = {}
    try:
        m = mount(_source(orthanc), options="downloader=c-move,move_port=%d,prefetch=none,"
                  "timeout=4" % port)
        path = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                      e["SOPInstanceUID"] + ".dcm")
        reader = threading.Thread(target=lambda: results.update(got=open(path, "rb").read()))
        reader.start()
        assert held.arrived.wait(30), "the archive never sent"
        idle = socket.create_connection(("127.0.0.1", port))
        try:
            held.release.set()
            reader.join(60)
            with open(e["path"], "rb") as f:
                assert split_part10(results["got"])[2] == split_part10(f.read())[2]
            idle.settimeout(20)
            assert idle.recv(1) == b""  # closed by trolley, not by us
        finally:
            idle.close()
        assert "storage SCP: 127.0.0.1 sent no association request within 4 s; closed" in \
            m.text()
    finally:
        held.stop()


def test_storage_scp_closes_the_oldest_silent_connection_for_a_new_one(mount, orthanc, data):
    # 16 connections from the archive's address that say nothing are kept while a C-MOVE is in
    # flight; a 17th closes the oldest of them at once (not after the association timeout),
    # and the archive's own association, which talks at once, is served.
    e = data["manifest"][5]
    port = free_port()
    held = TcpRelay(port, hold=True)
    orthanc.set_move_port(held.port)
    idle, results = [], {}
    try:
        m = mount(_source(orthanc), options="downloader=c-move,move_port=%d,prefetch=none,"
                  "connections=2,timeout=60" % port)
        path = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                      e["SOPInstanceUID"] + ".dcm")
        reader = threading.Thread(target=lambda: results.update(got=open(path, "rb").read()))
        reader.start()
        assert held.arrived.wait(30), "the archive never sent"
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(16)]
        time.sleep(0.5)  # all 16 accepted before the 17th (the order is what is checked)
        idle.append(socket.create_connection(("127.0.0.1", port)))
        idle[0].settimeout(4)  # under the 5 s association timeout: closed for room
        assert idle[0].recv(1) == b""
        idle[1].settimeout(0.2)
        with pytest.raises(socket.timeout):
            idle[1].recv(1)  # the others are still open
        held.release.set()
        reader.join(60)
        with open(e["path"], "rb") as f:
            assert split_part10(results["got"])[2] == split_part10(f.read())[2]
        assert "16 connections from 127.0.0.1 that brought no C-STORE of a C-MOVE of ours; " \
            "the oldest (127.0.0.1) closed for a new one" in m.text()
    finally:
        for s in idle:
            s.close()
        held.stop()


def test_move_from_names_the_host_that_sends(mount, orthanc, data):
    # An archive whose sub-operations come from another host: with move_from= that host is
    # let in (here the archive's sends, relayed from 127.0.0.2).
    e = data["manifest"][3]
    port = free_port()
    relay = TcpRelay(port, source="127.0.0.2")
    orthanc.set_move_port(relay.port)
    try:
        m = mount(_source(orthanc), options="downloader=c-move,move_port=%d,prefetch=none,"
                  "move_from=127.0.0.2" % port)
        with open(m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                         e["SOPInstanceUID"] + ".dcm"), "rb") as f:
            got = f.read()
        with open(e["path"], "rb") as f:
            assert split_part10(got)[2] == split_part10(f.read())[2]
        assert "listening on 127.0.0.1 port %d as TROLLEY, for 127.0.0.2" % port in m.text()
    finally:
        relay.stop()


def test_associations_stay_within_connections(mount, orthanc, source, data):
    # A PACS allows an AE title a few associations. Twelve files opened at once with
    # connections=2 keep to 2 associations, counted by a relay in front of Orthanc (1 of slack
    # for the relay's own threads); with connections=12 the relay does see more at once.
    series = [e for e in data["manifest"] if e["PatientID"] == "PID001"
              and not e.get("compression")]
    series = [e for e in series if e["SeriesInstanceUID"] == series[0]["SeriesInstanceUID"]]
    assert len(series) >= 12

    def read_twelve(connections):
        relay = StallingDicomProxy(orthanc.dicom_port)
        relay.stalling = False
        try:
            m = mount(source, options="downloader=c-get,dicom=ORTHANC@127.0.0.1:%d,"
                      "connections=%d,prefetch=none" % (relay.port, connections))
            paths = [m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                            e["SOPInstanceUID"] + ".dcm") for e in series[:12]]
            os.listdir(os.path.dirname(paths[0]))
            results = {}

            def read(i):
                try:
                    with open(paths[i], "rb") as f:
                        results[i] = split_part10(f.read())[1]
                except OSError as e:
                    results[i] = e

            threads = [threading.Thread(target=read, args=(i,)) for i in range(12)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            assert [results.get(i) for i in range(12)] == \
                [e["SOPInstanceUID"] for e in series[:12]], m.text()
            return relay.max_active
        finally:
            relay.stop()

    assert 1 <= read_twelve(2) <= 3
    assert read_twelve(12) > 3


def test_transient_rejection_is_tried_again(mount, orthanc, source, data):
    # An archive at its limit answers "rejected-transient": trolley waits and asks again.
    e = data["manifest"][0]
    relay = StallingDicomProxy(orthanc.dicom_port)
    relay.stalling = False
    relay.reject_next = 3
    try:
        m = mount(source, options="downloader=c-get,dicom=ORTHANC@127.0.0.1:%d,prefetch=none"
                  % relay.port)
        with open(m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                         e["SOPInstanceUID"] + ".dcm"), "rb") as f:
            assert split_part10(f.read())[1] == e["SOPInstanceUID"]
        assert relay.reject_next == 0
        assert m.text().count("association rejected for now") == 3, m.text()
    finally:
        relay.stop()


def test_c_get_of_a_listed_instance_is_one_association(mount, orthanc, source, data):
    # The listing gave the instance's SOPClassUID: C-GET offers that class without a C-FIND
    # to learn it first, once the first C-GET of the mount has found that this archive does
    # not answer C-FIND with the stored transfer syntax (Orthanc does not; pixelmed does).
    first, second = data["manifest"][0], data["manifest"][1]
    relay = StallingDicomProxy(orthanc.dicom_port)
    relay.stalling = False
    try:
        m = mount(source, options="downloader=c-get,dicom=ORTHANC@127.0.0.1:%d,prefetch=none"
                  % relay.port)
        for e in (first, second):
            before = relay.accepted
            with open(m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                             e["SOPInstanceUID"] + ".dcm"), "rb") as f:
                got = split_part10(f.read())
            with open(e["path"], "rb") as f:
                assert got == split_part10(f.read())
        assert before == 2 and relay.accepted == 3  # C-FIND + C-GET, then C-GET alone
    finally:
        relay.stop()


class FindRefusingProxy(StallingDicomProxy):
    """A relay in front of a DICOM port that answers a C-FIND whose identifier holds
    TransferSyntaxUID (0002,0010) itself, with status 0xA900 (identifier does not match SOP
    class), as a strict archive may: group 0002 has no place in a data set."""

    KEY = b"\x02\x00\x10\x00UI"  # (0002,0010) in explicit VR little endian

    def __init__(self, upstream_port):
        super().__init__(upstream_port)
        self.stalling = False
        self.refused = 0

    @staticmethod
    def _pdvs(body):
        pos, out = 0, []
        while pos + 6 <= len(body):
            n = struct.unpack(">I", body[pos:pos + 4])[0]
            out.append((body[pos + 4], body[pos + 5], body[pos + 6:pos + 4 + n]))
            pos += 4 + n
        return out

    @staticmethod
    def _element(elem, value):
        return struct.pack("<HHI", 0, elem, len(value)) + value

    @staticmethod
    def _us(command, wanted):
        """The US value of command element (0000,@wanted), or None."""
        pos = 0
        while pos + 8 <= len(command):
            group, elem, n = struct.unpack("<HHI", command[pos:pos + 8])
            if (group, elem) == (0, wanted) and n == 2:
                return struct.unpack("<H", command[pos + 8:pos + 10])[0]
            pos += 8 + n
        return None

    def _refusal(self, pcid, command):
        msg_id = self._us(command, 0x0110) or 1
        rest = b"".join([self._element(0x0002, b"1.2.840.10008.5.1.4.1.2.2.1\0"),
                         self._element(0x0100, struct.pack("<H", 0x8020)),
                         self._element(0x0120, struct.pack("<H", msg_id)),
                         self._element(0x0800, struct.pack("<H", 0x0101)),
                         self._element(0x0900, struct.pack("<H", 0xA900))])
        cmd = self._element(0x0000, struct.pack("<I", len(rest))) + rest
        pdv = struct.pack(">IBB", len(cmd) + 2, pcid, 0x03) + cmd
        return struct.pack(">BBI", 4, 0, len(pdv)) + pdv

    def _pipe(self, src, dst, from_server):
        if from_server:
            return super()._pipe(src, dst, from_server)
        held = []
        try:
            while True:
                head = self._read(src, 6)
                pdu = head + self._read(src, struct.unpack(">I", head[2:6])[0])
                pdvs = self._pdvs(pdu[6:]) if pdu[0] == 4 else []
                if any(h & 1 and self._us(v, 0x0100) == 0x0020 for _, h, v in pdvs) and \
                        not any(not h & 1 for _, h, _ in pdvs):
                    held.append(pdu)  # a C-FIND-RQ alone: wait for its identifier
                    continue
                data = b"".join(v for _, h, v in pdvs if not h & 1)
                if held and self.KEY in data:
                    cmd = self._pdvs(held[0][6:])[0]
                    self.refused += 1
                    src.sendall(self._refusal(cmd[0], cmd[2]))
                    held = []
                    continue
                for h in held + [pdu]:
                    dst.sendall(h)
                held = []
        except OSError:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        finally:
            with self.lock:
                self.active -= 1


def test_c_find_refused_for_the_syntax_keys_is_asked_again_without(mount, orthanc, source,
                                                                    data):
    # A strict archive fails the C-FIND that asks for TransferSyntaxUID: trolley asks again
    # without it, learns the SOP classes, and the series' compressed instances come as stored.
    files, (patient, study) = study_files(data, "PID004")
    series = {e["SeriesInstanceUID"] for e in files.values() if e.get("compression")}
    relay = FindRefusingProxy(orthanc.dicom_port)
    try:
        m = mount(source, options="downloader=c-get,dicom=ORTHANC@127.0.0.1:%d,prefetch=none"
                  % relay.port)
        for uid in series:
            entries = [e for e in files.values() if e["SeriesInstanceUID"] == uid]
            for e in entries:
                with open(m.path("studies", e["StudyInstanceUID"], uid,
                                 e["SOPInstanceUID"] + ".dcm"), "rb") as f:
                    got = split_part10(f.read())
                with open(e["path"], "rb") as f:
                    want = split_part10(f.read())
                assert got[:2] == want[:2], e["path"]
        # Once: the answer without the keys showed that this archive does not tell, so the
        # later opens (the listing named their classes) ask no C-FIND at all.
        assert relay.refused == 1 and sum(len([e for e in files.values()
                                               if e["SeriesInstanceUID"] == u]) for u in series) > 1
        assert "status 0xa900; asked again without the syntax keys" in m.text()
    finally:
        relay.stop()
