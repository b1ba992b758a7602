"""Bad input: every failure reaches the reader as the right errno, is logged with the URL and
status, caches nothing wrong, and leaves the mount running."""
import errno
import hashlib
import os
import time
import urllib.request


import naming
from servers import free_port
from checks import errno_of

INSTANCE_GET = r"/instances/[0-9.]+$"


def _still_serves(m, proxy):
    proxy.clear_faults()
    assert "Doe^John [PID001]" in os.listdir(m.path("patients"))


def _file(m, data, n="9"):
    e = next(e for e in data["manifest"] if e["InstanceNumber"] == n and e["Modality"] == "CT")
    return e, m.path("patients", naming.patients_tree(data["manifest"])[e["SOPInstanceUID"]])


def test_unreachable_server_is_eio_and_mount_survives(mount):
    port = free_port()  # nothing listens here
    m = mount("http://127.0.0.1:%d/dicom-web" % port, expect_errors=True)
    assert errno_of(os.listdir, m.path("patients")) == errno.EIO
    assert errno_of(os.listdir, m.path("studies", "1.2.3")) == errno.EIO
    log = m.text()
    assert "http://127.0.0.1:%d/dicom-web/studies" % port in log
    assert "Couldn't connect" in log
    assert os.listdir(m.mountpoint)  # the mount still answers


def test_http_500_on_qido_is_eio_and_logged_with_url_and_status(mount, source, proxy):
    m = mount(source, expect_errors=True)
    proxy.fault(r"^/dicom-web/studies\?", status=500, body=b"<html>boom</html>",
                type="text/html")
    assert errno_of(os.listdir, m.path("patients")) == errno.EIO
    line = next(l for l in m.text().splitlines() if "HTTP 500" in l)
    assert proxy.url + "/dicom-web/studies?" in line
    assert "boom" in line
    _still_serves(m, proxy)


def test_garbled_qido_json_is_eio(mount, source, proxy):
    m = mount(source, expect_errors=True)
    proxy.fault(r"^/dicom-web/studies\?", body=b'{"not": json', type="application/dicom+json")
    assert errno_of(os.listdir, m.path("patients")) == errno.EIO
    assert "not a DICOM JSON array" in m.text()
    _still_serves(m, proxy)


def test_html_page_with_status_200_is_eio(mount, source, proxy):
    m = mount(source, expect_errors=True)
    proxy.fault(r"^/dicom-web/studies\?", body=b"<html>login</html>", type="text/html")
    assert errno_of(os.listdir, m.path("patients")) == errno.EIO
    assert 'content type "text/html"' in m.text()
    _still_serves(m, proxy)


def test_qido_204_is_empty_folder(mount, source, proxy):
    m = mount(source)
    proxy.fault(r"^/dicom-web/studies\?", status=204, body=b"", type="application/dicom+json")
    assert os.listdir(m.path("patients")) == []
    assert proxy.count(r"^/dicom-web/studies\?") == 1


def _logged_line(m, *needles):
    """The first warn or error line of the daemon's log that holds every needle."""
    lines = [l for l in m.text().splitlines()
             if l.startswith(("trolley: error:", "trolley: warn:")) and
             all(n in l for n in needles)]
    assert lines, "no warn/error line with %r in the log:\n%s" % (needles, m.text())
    return lines[0]


def test_http_404_is_enoent(mount, source, data, proxy):
    m = mount(source, options="prefetch=none", expect_errors=True)
    e, path = _file(m, data)
    os.stat(path)
    proxy.fault(INSTANCE_GET, status=404, body=b"", type="text/plain")
    assert errno_of(open, path, "rb") == errno.ENOENT
    _logged_line(m, "/instances/" + e["SOPInstanceUID"], "404")
    _check_not_cached_then_good(m, proxy, e, path)


def test_http_401_is_eacces(mount, source, data, proxy):
    m = mount(source, options="prefetch=none", expect_errors=True)
    e, path = _file(m, data, "8")
    os.stat(path)
    proxy.fault(INSTANCE_GET, status=401, body=b"who are you", type="text/plain")
    assert errno_of(open, path, "rb") == errno.EACCES
    _logged_line(m, "/instances/" + e["SOPInstanceUID"], "HTTP 401")
    _check_not_cached_then_good(m, proxy, e, path)


def test_http_401_on_qido_is_eacces(mount, source, proxy):
    m = mount(source, expect_errors=True)
    proxy.fault(r"^/dicom-web/studies\?", status=401, body=b"login first", type="text/plain")
    assert errno_of(os.listdir, m.path("patients")) == errno.EACCES
    _logged_line(m, proxy.url + "/dicom-web/studies?", "HTTP 401")
    _still_serves(m, proxy)


def test_http_503_on_download_is_eio_and_not_cached(mount, source, data, proxy):
    # retry=0: a 503 is then the answer (test_throttle.py has it retried).
    m = mount(source, options="prefetch=none,retry=0", expect_errors=True)
    e, path = _file(m, data, "15")
    os.stat(path)
    proxy.fault(INSTANCE_GET, status=503, body=b"busy", type="text/plain")
    assert errno_of(open, path, "rb") == errno.EIO
    _logged_line(m, "/instances/" + e["SOPInstanceUID"], "503")
    _check_not_cached_then_good(m, proxy, e, path)


def test_truncated_qido_reply_is_eio(mount, source, proxy):
    m = mount(source, expect_errors=True)
    proxy.fault(r"^/dicom-web/studies\?", truncate=200)
    assert errno_of(os.listdir, m.path("patients")) == errno.EIO
    _logged_line(m, proxy.url + "/dicom-web/studies?")
    _still_serves(m, proxy)


def test_connection_closed_without_reply_is_eio(mount, source, data, proxy):
    m = mount(source, options="prefetch=none", expect_errors=True)
    e, path = _file(m, data, "16")
    os.stat(path)
    proxy.fault(INSTANCE_GET, drop=True)
    assert errno_of(open, path, "rb") == errno.EIO
    _logged_line(m, "/instances/" + e["SOPInstanceUID"])
    _check_not_cached_then_good(m, proxy, e, path)


def _check_not_cached_then_good(m, proxy, e, path):
    proxy.clear_faults()
    # A refused or missing object is refused from memory for a few seconds (a viewer that
    # opens it again and again makes one download), then asked for again.
    deadline = time.monotonic() + 10
    while True:
        try:
            with open(path, "rb") as f:
                body = f.read()
            break
        except OSError:
            assert "not asked again yet" in m.text() and time.monotonic() < deadline
            time.sleep(0.5)
    assert hashlib.md5(body).hexdigest() == e["md5"]


def test_garbled_multipart_is_eio_and_not_cached(mount, source, data, proxy):
    m = mount(source, options="prefetch=none", expect_errors=True)
    e, path = _file(m, data, "10")
    os.stat(path)
    body = b"--XYZ\r\nContent-Type: application/dicom\r\n\r\nnot dicom at all\r\n--XYZ--\r\n"
    proxy.fault(INSTANCE_GET, body=body, type='multipart/related; type="application/dicom"; '
                                             'boundary=XYZ')
    assert errno_of(open, path, "rb") == errno.EIO
    assert "not a DICOM Part-10 file" in m.text()
    _logged_line(m, "/instances/" + e["SOPInstanceUID"])
    proxy.clear_faults()
    proxy.fault(INSTANCE_GET, body=b"--XYZ\r\nno end of headers", type="multipart/related; "
                "boundary=XYZ")
    assert errno_of(open, path, "rb") == errno.EIO
    _check_not_cached_then_good(m, proxy, e, path)


def test_part_cut_short_in_a_complete_multipart_is_eio_and_not_cached(mount, source, data,
                                                                      proxy):
    """The envelope is whole (closing boundary present) but the DICOM file inside stops half
    way, in the pixel data: a truncated body, which must never be served or cached."""
    m = mount(source, options="prefetch=none", expect_errors=True)
    e, path = _file(m, data, "17")
    os.stat(path)
    body, ctype = _wado_reply(proxy, e)
    boundary = ctype.split("boundary=")[1].split(";")[0].strip('"').encode()
    head, _, rest = body.partition(b"\r\n\r\n")
    with open(e["path"], "rb") as f:
        assert rest.startswith(f.read())  # the part is the whole file, as stored
    cut = head + b"\r\n\r\n" + rest[:e["size"] // 2] + b"\r\n--" + boundary + b"--\r\n"
    proxy.fault(INSTANCE_GET, body=cut, type=ctype)
    assert errno_of(open, path, "rb") == errno.EIO
    _logged_line(m, "/instances/" + e["SOPInstanceUID"])
    _check_not_cached_then_good(m, proxy, e, path)


def _wado_reply(proxy, e):
    """The archive's own WADO-RS reply for @e (body, Content-Type), fetched around the faults."""
    url = "%s/dicom-web/studies/%s/series/%s/instances/%s" % (
        proxy.upstream_url, e["StudyInstanceUID"], e["SeriesInstanceUID"], e["SOPInstanceUID"])
    req = urllib.request.Request(url, headers={
        "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    resp = urllib.request.urlopen(req)
    return resp.read(), resp.headers["Content-Type"]


def test_truncated_download_is_eio_and_not_cached(mount, source, data, proxy):
    m = mount(source, options="prefetch=none", expect_errors=True)
    e, path = _file(m, data, "11")
    os.stat(path)
    proxy.fault(INSTANCE_GET, truncate=e["size"] // 2)
    assert errno_of(open, path, "rb") == errno.EIO
    log = m.text()
    assert "/instances/" + e["SOPInstanceUID"] in log
    _check_not_cached_then_good(m, proxy, e, path)


def test_wrong_instance_in_reply_is_eio_and_not_cached(mount, source, data, proxy):
    m = mount(source, options="prefetch=none", expect_errors=True)
    e, path = _file(m, data, "12")
    other, other_path = _file(m, data, "13")
    with open(other_path, "rb") as f:  # fetch the other instance's reply bytes
        f.read()
    req = urllib.request.Request(proxy.url + "/dicom-web/studies/%s/series/%s/instances/%s" % (
        other["StudyInstanceUID"], other["SeriesInstanceUID"], other["SOPInstanceUID"]),
        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    resp = urllib.request.urlopen(req)
    wrong = resp.read()
    proxy.fault("/instances/" + e["SOPInstanceUID"], body=wrong,
                type=resp.headers["Content-Type"])
    assert errno_of(open, path, "rb") == errno.EIO
    assert "instead" in m.text()
    _check_not_cached_then_good(m, proxy, e, path)


def test_slow_server_times_out_with_etimedout(mount, source, data, proxy):
    m = mount(source, options="timeout=1,prefetch=none", expect_errors=True)
    e, path = _file(m, data, "14")
    os.stat(path)
    proxy.fault(INSTANCE_GET, delay=4)
    t0 = time.monotonic()
    assert errno_of(open, path, "rb") == errno.ETIMEDOUT
    assert time.monotonic() - t0 < 3.5  # the daemon gave up, the proxy did not answer
    assert "timeout was reached" in m.text().lower()
    _logged_line(m, "/instances/" + e["SOPInstanceUID"])
    _check_not_cached_then_good(m, proxy, e, path)


def test_slow_qido_times_out_with_etimedout(mount, source, proxy):
    m = mount(source, options="timeout=1", expect_errors=True)
    proxy.fault(r"^/dicom-web/studies\?", delay=4)
    assert errno_of(os.listdir, m.path("patients")) == errno.ETIMEDOUT
    _logged_line(m, proxy.url + "/dicom-web/studies?")
    _still_serves(m, proxy)


def test_malformed_search_is_einval_and_logged(mount, source, proxy):
    m = mount(source, expect_errors=True)
    assert errno_of(os.listdir, m.path("search", "NoSuchKeyword=1")) == errno.EINVAL
    assert errno_of(os.listdir, m.path("search", "StudyDate=2020")) == errno.EINVAL
    assert "unknown DICOM keyword 'NoSuchKeyword'" in m.text()
    assert proxy.count() == 0
