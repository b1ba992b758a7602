"""DICOM JSON replies read in constant memory: WADO-RS metadata is checked as it arrives
(core/json_check.c), strictly (RFC 8259, UTF-8, the DICOM JSON shape), and a body that
cannot become metadata stops the transfer at its first bad byte; a QIDO-RS page is read one
result at a time, and one result over 1 MiB is refused with a clear error."""
import errno
import hashlib
import json
import os
import re

import naming
from checks import errno_of, read_bytes

QIDO_STUDIES = r"^/dicom-web/studies\?"


def _error_lines(m, *needles):
    return [l for l in m.text().splitlines() if l.startswith("trolley: error:") and
            all(n in l for n in needles)]


def _series(data, pid="PID003"):
    return next(e for e in data["manifest"] if e["PatientID"] == pid)


def test_metadata_with_invalid_utf8_is_eio_and_not_kept(mount, source, data, proxy):
    # cJSON took this (it does not check UTF-8) and metadata.json was not JSON to a reader.
    e = _series(data)
    m = mount(source, expect_errors="not DICOM JSON metadata")
    path = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"], "metadata.json")
    os.stat(path)
    body = b'[{"00100010": {"vr": "PN", "Value": [{"Alphabetic": "M\xfcller"}]}}]'
    proxy.fault("/series/%s/metadata$" % re.escape(e["SeriesInstanceUID"]), body=body,
                type="application/dicom+json")
    assert errno_of(read_bytes, path) == errno.EIO
    assert _error_lines(m, "/series/%s/metadata" % e["SeriesInstanceUID"],
                        "not DICOM JSON metadata", "invalid UTF-8 at byte 54")
    proxy.clear_faults()
    meta = json.loads(read_bytes(path))
    assert len(meta) == sum(1 for x in data["manifest"]
                            if x["SeriesInstanceUID"] == e["SeriesInstanceUID"])


def test_metadata_that_cannot_be_json_stops_at_the_first_bad_byte(mount, source, data, proxy):
    e = _series(data)
    m = mount(source, expect_errors="not DICOM JSON metadata")
    path = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"], "metadata.json")
    os.stat(path)
    body = b"<html>" + b"x" * (32 << 20) + b"</html>"
    proxy.fault("/series/%s/metadata$" % re.escape(e["SeriesInstanceUID"]), body=body,
                type="application/dicom+json")
    assert errno_of(read_bytes, path) == errno.EIO
    assert _error_lines(m, "/series/%s/metadata" % e["SeriesInstanceUID"],
                        "not DICOM JSON metadata", "not JSON at byte 0")
    # The refusal came within the first pieces, not after 32 MiB were downloaded.
    refused = re.search(r"reply refused after (\d+) bytes", m.text())
    assert refused and int(refused.group(1)) < (1 << 20), m.text()


def test_qido_result_over_1_mib_is_eio_with_a_clear_error(mount, source, proxy):
    # One result of 2 MiB in a reply well under the 16 MiB cap: one result's text is all a
    # page holds at a time, so that is what is bounded.
    big = b'[{"00081030": {"vr": "LO", "Value": ["' + b"x" * (2 << 20) + b'"]}}]'
    proxy.fault(QIDO_STUDIES, body=big, type="application/dicom+json")
    m = mount(source, expect_errors=r"a result larger than 1 MiB")
    assert errno_of(os.listdir, m.path("studies")) == errno.EIO
    assert _error_lines(m, proxy.url + "/dicom-web/studies?", "a result larger than 1 MiB")
    proxy.clear_faults()
    assert os.listdir(m.path("studies"))


def test_qido_page_read_in_pieces_lists_every_study(mount, source, data, proxy):
    # A page trickled in small pieces (chunked) is read as it comes, and every study is there.
    m = mount(source)
    proxy.fault(QIDO_STUDIES, chunked=7)
    want = {e["StudyInstanceUID"] for e in data["manifest"]}
    assert set(os.listdir(m.path("studies"))) == want


def test_a_lone_surrogate_in_one_uid_leaves_the_rest_of_the_folder(mount, source, data, proxy):
    """Issue 17: one "\\udcff" in one instance's UID made the series folder EIO ("malformed
    escape"). It is read as U+FFFD: that instance is shown by the naming rules for a UID that
    is not one (never requested), and every other instance is listed and reads whole."""
    e = _series(data)
    rows = [x for x in data["manifest"] if x["SeriesInstanceUID"] == e["SeriesInstanceUID"]]
    bad = rows[0]["SOPInstanceUID"]
    proxy.fault(r"/series/%s/instances\?" % re.escape(e["SeriesInstanceUID"]),
                replace=(('"%s"' % bad).encode(), ('"%s\\udcff"' % bad).encode()))
    m = mount(source, expect_errors=["not a valid UID"])
    folder = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"])
    names = set(os.listdir(folder)) - {"metadata.json"}
    shown = naming.uid_name(bad + "\ufffd", ".dcm")
    assert names == {x["SOPInstanceUID"] + ".dcm" for x in rows[1:]} | {shown}
    assert os.getxattr(os.path.join(folder, shown), "user.dicom.SOPInstanceUID") == (
        bad + "\ufffd").encode()
    for x in rows[1:]:
        assert hashlib.md5(read_bytes(os.path.join(folder, x["SOPInstanceUID"] + ".dcm"))
                           ).hexdigest() == x["md5"]
    n = proxy.count(re.escape(bad))
    assert errno_of(read_bytes, os.path.join(folder, shown)) == errno.EIO
    assert proxy.count(re.escape(bad)) == n  # never requested
    assert "malformed escapes in strings" in m.text()
