"""/.trolley/errors: every failure a reader saw, newest first and bounded, with the path in the
mount, what was asked (the URL without credentials, or the DICOM peer), the status and why; so
a user whose cp -r reported EIO for some files can see the reason."""
import errno
import os
import re
import threading
import urllib.request

import pytest

import naming
from checks import errno_of
from servers import wait_for

INSTANCE_GET = r"/instances/[0-9.]+$"


def _errors(m):
    """The file's lines after its header, each split into its six fields."""
    with open(m.path(".trolley", "errors"), "rb") as f:
        text = f.read().decode()
    lines = text.splitlines()
    assert lines[0].startswith("# time\terror\tpath\tasked\tstatus\treason")
    rows = [l.split("\t") for l in lines[1:]]
    assert all(len(r) == 6 for r in rows), text
    return rows


def _file(m, data, n):
    e = next(e for e in data["manifest"] if e["InstanceNumber"] == n and e["Modality"] == "CT")
    rel = naming.patients_tree(data["manifest"])[e["SOPInstanceUID"]]
    return e, "/patients/" + rel


def test_errors_file_is_listed_and_empty_at_first(mount, source):
    m = mount(source)
    assert sorted(os.listdir(m.path(".trolley"))) == ["errors", "status"]
    assert _errors(m) == []
    st = os.stat(m.path(".trolley", "errors"))
    with open(m.path(".trolley", "errors"), "rb") as f:
        assert st.st_size == len(f.read())


def test_404_500_and_truncated_replies_show_path_url_status_and_reason(mount, source, data,
                                                                       proxy):
    m = mount(source, options="prefetch=none", expect_errors=True)
    e404, p404 = _file(m, data, "9")
    e500, p500 = _file(m, data, "8")
    etr, ptr = _file(m, data, "7")
    for p in (p404, p500, ptr):
        os.stat(m.mountpoint + p)
    proxy.fault("/instances/" + e404["SOPInstanceUID"] + "$", status=404, body=b"",
                type="text/plain")
    proxy.fault("/instances/" + e500["SOPInstanceUID"] + "$", status=500,
                body=b"disk on fire", type="text/plain")
    proxy.fault("/instances/" + etr["SOPInstanceUID"] + "$", truncate=300)
    assert errno_of(open, m.mountpoint + p404, "rb") == errno.ENOENT
    assert errno_of(open, m.mountpoint + p500, "rb") == errno.EIO
    assert errno_of(open, m.mountpoint + ptr, "rb") == errno.EIO
    rows = _errors(m)
    by_path = {r[2]: r for r in rows}
    url = source + "/studies/%s/series/%s/instances/%s"

    r = by_path[p404]
    assert r[1] == "ENOENT"
    assert r[3] == "GET " + url % (e404["StudyInstanceUID"], e404["SeriesInstanceUID"],
                                   e404["SOPInstanceUID"])
    assert r[4] == "HTTP 404"
    r = by_path[p500]
    assert r[1] == "EIO" and r[4] == "HTTP 500" and "disk on fire" in r[5]
    assert r[3].endswith("/instances/" + e500["SOPInstanceUID"])
    r = by_path[ptr]
    assert r[1] == "EIO" and r[4] == "HTTP 200"
    assert r[3].endswith("/instances/" + etr["SOPInstanceUID"])
    assert "transfer failed after 300 bytes" in r[5]
    # The status counts them, and points here.
    with open(m.path(".trolley", "status")) as f:
        assert "recorded_errors: 3\n" in f.read()
    # Newest first: the truncated one was the last to fail.
    assert [r[2] for r in rows[:3]] == [ptr, p500, p404]
    # Times are UTC ISO 8601.
    assert all(len(r[0]) == 20 and r[0][10] == "T" and r[0].endswith("Z") for r in rows)
    # The size stat gives is the text a reader gets.
    with open(m.path(".trolley", "errors"), "rb") as f:
        assert os.fstat(f.fileno()).st_size == len(f.read())
    assert os.stat(m.path(".trolley", "errors")).st_size == \
        len(open(m.path(".trolley", "errors"), "rb").read())


def test_failed_listing_shows_the_folder_and_the_query_url(mount, source, proxy):
    m = mount(source, expect_errors=True)
    proxy.fault(r"^/dicom-web/studies\?", status=500, body=b"<html>boom</html>",
                type="text/html")
    assert errno_of(os.listdir, m.path("patients")) == errno.EIO
    r = _errors(m)[0]
    assert r[1:3] == ["EIO", "/patients"]
    assert r[3].startswith("GET " + source + "/studies?")
    assert r[4] == "HTTP 500" and "boom" in r[5]


def test_list_is_bounded_and_newest_first(mount, source, proxy):
    m = mount(source, options="retry=0", expect_errors=True)  # a 503 is then a failure
    proxy.fault(r"^/dicom-web/studies\?", status=503, body=b"busy", type="text/plain")
    days = ["2019-%02d-%02d" % (1 + i // 28, 1 + i % 28) for i in range(110)]
    for d in days:
        assert errno_of(os.listdir, m.path("dates", d)) == errno.EIO
    rows = _errors(m)
    assert len(rows) == 100
    assert [r[2] for r in rows] == ["/dates/" + d for d in reversed(days[10:])]
    with open(m.path(".trolley", "errors")) as f:
        assert "the last 100 of 110" in f.readline()


def test_control_bytes_in_a_reason_are_escaped(mount, source, proxy):
    m = mount(source, expect_errors=True)
    proxy.fault(r"^/dicom-web/studies\?", status=500, body=b"bad\tthing\x1b[31m\nnext",
                type="text/plain")
    assert errno_of(os.listdir, m.path("patients")) == errno.EIO
    with open(m.path(".trolley", "errors"), "rb") as f:
        text = f.read()
    assert b"\x1b" not in text
    assert len(text.splitlines()) == 2  # header and one failure: no line broken
    assert _errors(m)[0][4] == "HTTP 500"


def test_password_never_appears(mount, orthanc_auth, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("n0t-the-s3cret\n")
    os.chmod(pw, 0o600)
    m = mount(orthanc_auth.dicomweb,
              options="allow_http_auth,user=alice,password_file=%s" % pw, expect_errors=True)
    assert errno_of(os.listdir, m.path("patients")) == errno.EACCES
    with open(m.path(".trolley", "errors"), "rb") as f:
        text = f.read()
    assert b"n0t-the-s3cret" not in text and b"s3cret" not in text
    r = _errors(m)[0]
    assert r[1:3] == ["EACCES", "/patients"] and r[4] == "HTTP 401"
    assert r[3].startswith("GET " + orthanc_auth.dicomweb + "/studies?")


@pytest.fixture(scope="module")
def dcmqrscp(tmp_path_factory, data):
    from servers import Dcmqrscp
    d = str(tmp_path_factory.mktemp("dcmqrscp-errors"))
    files = [e["path"] for e in data["manifest"]
             if not e.get("compression") and e["PatientID"] == "PID001"]
    s = Dcmqrscp(d, files)
    yield s
    s.stop()


def test_c_get_failure_names_the_peer_and_the_status(mount, dcmqrscp, source, data):
    # dcmqrscp knows the called AE title STORE only: WRONG is rejected at association.
    e = next(e for e in data["manifest"] if e["PatientID"] == "PID001")
    m = mount(source, options="downloader=c-get,dicom=WRONG@127.0.0.1:%d" % dcmqrscp.port,
              expect_errors=True)
    path = "/studies/%s/%s/%s.dcm" % (e["StudyInstanceUID"], e["SeriesInstanceUID"],
                                     e["SOPInstanceUID"])
    err = errno_of(open, m.mountpoint + path, "rb")
    assert err == errno.EACCES
    r = next(r for r in _errors(m) if r[2] == path)
    assert r[1] == "EACCES"
    # The C-GET begins with a C-FIND of the stored classes (dcmtk/dimse_retrieve.cc): the
    # association of either is the one refused.
    assert re.fullmatch(r"C-(GET|FIND) WRONG@127\.0\.0\.1:%d" % dcmqrscp.port, r[3]), r
    assert r[4] == "association rejected" and r[5]


def test_incomplete_listing_shows_the_folder(mount, source, proxy):
    # An archive that caps its answers and ignores offset: the listing is known to be cut.
    proxy.fault(r"^/dicom-web/studies\?", cap=3, ignore_offset=True)
    m = mount(source, "page_size=3")
    assert len(os.listdir(m.path("studies"))) == 3
    r = _errors(m)[0]
    assert r[1:3] == ["incomplete", "/studies"]
    assert r[4] == "incomplete" and "study query" in r[5]


def test_failed_series_prefetch_shows_the_series(mount, source, data, proxy):
    m = mount(source, expect_errors=True)
    e, path = _file(m, data, "9")
    proxy.fault(r"/series/[0-9.]+$", status=500, body=b"series too big", type="text/plain")
    with open(m.mountpoint + path, "rb") as f:
        assert f.read(132)[128:] == b"DICM"
    want = "series " + e["SeriesInstanceUID"]
    wait_for(lambda: any(r[2] == want for r in _errors(m)), 20, "the prefetch failure")
    r = next(r for r in _errors(m) if r[2] == want)
    assert r[1] == "EIO" and r[4] == "HTTP 500" and "series too big" in r[5]
    assert r[3] == "GET %s/studies/%s/series/%s" % (source, e["StudyInstanceUID"],
                                                   e["SeriesInstanceUID"])


def test_a_reply_that_is_not_the_instance_shows_why(mount, source, data, proxy):
    m = mount(source, options="prefetch=none", expect_errors=True)
    e, p = _file(m, data, "10")
    other, po = _file(m, data, "13")
    os.stat(m.mountpoint + p)
    body = b"--XYZ\r\nContent-Type: application/dicom\r\n\r\nnot dicom at all\r\n--XYZ--\r\n"
    proxy.fault("/instances/" + e["SOPInstanceUID"] + "$", body=body,
                type='multipart/related; type="application/dicom"; boundary=XYZ')
    assert errno_of(open, m.mountpoint + p, "rb") == errno.EIO
    r = _errors(m)[0]
    assert r[1:3] == ["EIO", p]
    assert r[3] == "GET " + source + "/studies/%s/series/%s/instances/%s" % (
        e["StudyInstanceUID"], e["SeriesInstanceUID"], e["SOPInstanceUID"])
    assert r[4] == "HTTP 200"
    assert "not a DICOM Part-10 file" in r[5]
    # Another instance's reply: the archive sent the wrong one. (Another file: a failed one
    # fails again from memory for a few seconds, without a request.)
    proxy.clear_faults()
    e, p = _file(m, data, "12")
    os.stat(m.mountpoint + p)
    with open(m.mountpoint + po, "rb") as f:
        f.read()
    req = urllib.request.Request(proxy.url + "/dicom-web/studies/%s/series/%s/instances/%s" % (
        other["StudyInstanceUID"], other["SeriesInstanceUID"], other["SOPInstanceUID"]),
        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    resp = urllib.request.urlopen(req)
    proxy.fault("/instances/" + e["SOPInstanceUID"] + "$", body=resp.read(),
                type=resp.headers["Content-Type"])
    assert errno_of(open, m.mountpoint + p, "rb") == errno.EIO
    r = _errors(m)[0]
    assert r[2] == p and "sent instance %s instead" % other["SOPInstanceUID"] in r[5], r



def _at_once(fn, path, first_asked):
    """The errnos of fn(path) in two threads, the second started once the first one's request
    reached the archive (first_asked() true): the second waits for the first one's request."""
    got = []

    def run():
        got.append(errno_of(fn, path))

    threads = [threading.Thread(target=run) for _ in range(2)]
    threads[0].start()
    wait_for(first_asked, 15, "the first reader's request")
    threads[1].start()
    for t in threads:
        t.join(60)
    return got


def test_a_reader_who_waited_for_anothers_failed_transfer_sees_its_url(mount, source, data,
                                                                        proxy):
    # Two readers open one instance at once: the first leads its transfer, the second waits
    # for it (single-flight) on another FUSE thread. Both fail, and both lines say what was
    # asked and what the archive answered: the detail travels with the transfer, not in the
    # leader's thread.
    m = mount(source, options="prefetch=none", expect_errors=True)
    e, p = _file(m, data, "11")
    os.stat(m.mountpoint + p)
    get = "/instances/" + e["SOPInstanceUID"] + "$"
    proxy.fault(get, delay=3, status=500, body=b"the archive is on fire", type="text/plain")
    got = _at_once(open, m.mountpoint + p, lambda: proxy.count(get) == 1)
    assert got == [errno.EIO, errno.EIO]
    assert proxy.count(get) == 1  # one transfer for both
    rows = [r for r in _errors(m) if r[2] == p]
    assert len(rows) == 2, _errors(m)
    url = "GET " + source + "/studies/%s/series/%s/instances/%s" % (
        e["StudyInstanceUID"], e["SeriesInstanceUID"], e["SOPInstanceUID"])
    for r in rows:
        assert r[1] == "EIO" and r[3] == url, r
        assert r[4] == "HTTP 500" and "the archive is on fire" in r[5], r


def test_a_listing_that_waited_for_anothers_failed_query_sees_its_url(mount, source, proxy):
    # The same for a folder: the second lister waits for the first one's query.
    m = mount(source, expect_errors=True)
    query = r"^/dicom-web/studies\?"
    proxy.fault(query, delay=3, status=500, body=b"index on fire", type="text/plain")
    got = _at_once(os.listdir, m.path("patients"), lambda: proxy.count(query) == 1)
    assert got == [errno.EIO, errno.EIO]
    assert proxy.count(query) == 1  # one query for both
    rows = [r for r in _errors(m) if r[2] == "/patients"]
    assert len(rows) == 2, _errors(m)
    for r in rows:
        assert r[1] == "EIO" and r[3].startswith("GET " + source + "/studies?"), r
        assert r[4] == "HTTP 500" and "index on fire" in r[5], r
