"""Replies shaped the way other archives send them (the proxy rewrites Orthanc's): chunked
transfers, multipart envelopes with a preamble, quoted boundaries and extra part headers, and
QIDO answers with odd or broken attributes. The bytes must stay the archive's, and a bad entry
must never crash the daemon or hide the good ones."""
import errno
import hashlib
import json
import os
import subprocess

import naming

INSTANCE_GET = r"/instances/[0-9.]+$"
SERIES_GET = r"^/dicom-web/studies/[0-9.]+/series/[0-9.]+$"


def _md5s(folder):
    out = {}
    for name in sorted(n for n in os.listdir(folder) if n.endswith(".dcm")):
        with open(os.path.join(folder, name), "rb") as f:
            out[name] = hashlib.md5(f.read()).hexdigest()
    return out


def _series_truth(data, desc):
    rows = [e for e in data["manifest"] if e["SeriesDescription"] == desc]
    rel = naming.patients_tree(data["manifest"])[rows[0]["SOPInstanceUID"]]
    return rows, os.path.dirname(rel)


def test_chunked_replies_give_identical_bytes(mount, source, data, proxy):
    m = mount(source)
    proxy.fault(r"^/dicom-web/", chunked=997)  # every reply, QIDO and WADO, in odd-sized chunks
    rows, rel = _series_truth(data, "Axial")
    got = _md5s(m.path("patients", rel))
    assert got == {e["InstanceNumber"] + ".dcm": e["md5"] for e in rows}
    assert proxy.count(INSTANCE_GET) + proxy.count(SERIES_GET) >= 1


def test_multipart_with_preamble_quoted_boundary_and_part_headers(mount, source, data, proxy):
    """RFC 2046 allows a preamble and an epilogue, a quoted boundary with characters such as
    '/' and '=', and headers in each part: each instance is still the file as stored."""
    m = mount(source, options="prefetch=none")
    rows, rel = _series_truth(data, "PD")
    boundary = "b0und/ary=x.1"
    for e in rows[:5]:
        with open(e["path"], "rb") as f:
            dicom = f.read()
        body = (b"This is the preamble; readers ignore it.\r\n"
                b"--" + boundary.encode() + b"\r\n"
                b"Content-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\n"
                b"Content-Length: " + str(len(dicom)).encode() + b"\r\n"
                b"Content-Location: /instances/" + e["SOPInstanceUID"].encode() + b"\r\n"
                b"\r\n" + dicom + b"\r\n"
                b"--" + boundary.encode() + b"--\r\n"
                b"and an epilogue\r\n")
        proxy.fault("/instances/" + e["SOPInstanceUID"] + "$", body=body,
                    type='multipart/related; type="application/dicom"; boundary="%s"' % boundary)
    folder = m.path("patients", rel)
    for e in rows[:5]:
        with open(os.path.join(folder, e["InstanceNumber"] + ".dcm"), "rb") as f:
            assert hashlib.md5(f.read()).hexdigest() == e["md5"], e["InstanceNumber"]


def _qido_studies(proxy, query):
    """Orthanc's own QIDO reply (the list of study objects), fetched around the faults."""
    import urllib.request
    req = urllib.request.Request(proxy.upstream_url + "/dicom-web/studies?" + query,
                                 headers={"Accept": "application/dicom+json"})
    return json.load(urllib.request.urlopen(req))


def test_qido_entries_with_broken_attributes_do_not_hide_good_ones(mount, source, data, proxy):
    m = mount(source, expect_errors=True)
    good = _qido_studies(proxy, "PatientID=PID001&includefield=StudyDescription"
                                "&includefield=AccessionNumber&includefield=StudyTime")
    assert len(good) == 2
    uid = "0020000D"
    bad = [
        {uid: {"vr": "UI", "Value": [12345]}},                          # a number for a UID
        {uid: {"vr": "UI", "Value": "1.2.3"}},                          # Value not an array
        {uid: {"vr": "UI"}, "00100010": {"vr": "PN", "Value": [None]}},  # no UID at all
        {uid: {"vr": "UI", "Value": ["1.2.3.4.5"]},
         "00100010": {"vr": "PN", "Value": [{"Alphabetic": "x" * 5000}]},
         "00100020": {"vr": "LO", "Value": ["../../etc"]},
         "00080020": {"vr": "DA", "Value": ["2020"]},
         "00081030": {"vr": "LO", "Value": ["a\u0000b/c"]}},
        {uid: {"vr": "UI", "Value": ["1.2.3.4.6"]}, "00100010": {"vr": "PN", "Value": [17]}},
        "not an object",
        [],
    ]
    body = json.dumps(bad[:3] + good[:1] + bad[3:] + good[1:]).encode()
    proxy.fault(r"^/dicom-web/studies\?", body=body, type="application/dicom+json")
    try:
        names = os.listdir(m.path("studies"))
    except OSError as exc:  # refusing the whole reply is allowed; crashing is not
        assert exc.errno == errno.EIO
    else:
        assert {g[uid]["Value"][0] for g in good} <= set(names)
        for n in names:
            assert "/" not in n and len(os.fsencode(n)) <= 255 and n not in (".", "..")
    proxy.clear_faults()
    assert "Doe^John [PID001]" in os.listdir(m.path("patients"))


def test_qido_reply_with_bom_and_whitespace_is_read(mount, source, data, proxy):
    """Some servers start JSON with a UTF-8 byte order mark or pretty-print it."""
    m = mount(source)
    good = _qido_studies(proxy, "PatientID=PID003&includefield=StudyDescription"
                                "&includefield=AccessionNumber&includefield=StudyTime"
                                "&includefield=PatientName&includefield=PatientID")
    body = b"\xef\xbb\xbf\n  " + json.dumps(good, indent=4).encode() + b"\n\n"
    proxy.fault(r"^/dicom-web/studies\?PatientID=PID003", body=body,
                type="application/dicom+json; charset=utf-8")
    assert os.listdir(m.path("patients", "O_Brien^Pat [PID003]")) == ["2021-01-15 MR KNEE [ACC4]"]


def test_wado_reply_as_application_dicom_without_multipart(mount, source, data, proxy):
    """A server that ignores the multipart Accept and sends the bare file (application/dicom)
    gives the same bytes or a clear EIO, never a wrong file."""
    m = mount(source, options="prefetch=none", expect_errors=True)
    rows, rel = _series_truth(data, "T1")
    e = rows[0]
    with open(e["path"], "rb") as f:
        dicom = f.read()
    proxy.fault(INSTANCE_GET, body=dicom, type="application/dicom")
    path = m.path("patients", rel, e["InstanceNumber"] + ".dcm")
    try:
        with open(path, "rb") as f:
            assert hashlib.md5(f.read()).hexdigest() == e["md5"]
    except OSError as exc:
        assert exc.errno == errno.EIO
        proxy.clear_faults()
        with open(path, "rb") as f:
            assert hashlib.md5(f.read()).hexdigest() == e["md5"]


def test_parallel_cp_of_two_studies_is_byte_identical(mount, source, data, tmp_path):
    """Two copies at once, each starting a series prefetch, share one daemon and one cache."""
    m = mount(source)
    tree = naming.patients_tree(data["manifest"])
    studies = ["Doe^John [PID001]/2020-03-02 MR BRAIN",
               "Müller^Jürgen [PID002]/2020-03-03 CT THORAX [ACC3]"]
    procs = [subprocess.Popen(["cp", "-r", m.path("patients", s), str(tmp_path / str(i))])
             for i, s in enumerate(studies)]
    assert [p.wait(120) for p in procs] == [0, 0]
    for i, s in enumerate(studies):
        want = {rel[len(s) + 1:]: sop for sop, rel in tree.items() if rel.startswith(s + "/")}
        assert len(want) >= 60
        for rel, sop in want.items():
            with open(tmp_path / str(i) / rel, "rb") as f:
                assert hashlib.md5(f.read()).hexdigest() == data["by_sop"][sop]["md5"], rel


def test_pread_at_any_offset_and_past_the_end(mount, source, data):
    m = mount(source)
    rows, rel = _series_truth(data, "Lung")
    e = rows[3]
    with open(e["path"], "rb") as f:
        truth = f.read()
    fd = os.open(m.path("patients", rel, e["InstanceNumber"] + ".dcm"), os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        assert size == len(truth)
        for off, n in [(size - 1, 10), (128, 4), (0, 1), (size // 2, 4096), (size, 100),
                       (size + 4096, 10), (1, size * 2)]:
            assert os.pread(fd, n, off) == truth[off:off + n], (off, n)
    finally:
        os.close(fd)

