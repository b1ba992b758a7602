"""Bounded replies: a compressed reply (curl inflates gzip) is counted as it inflates, so a
small gzip "bomb" gives a clear error instead of filling memory or the disk, and the mount
goes on; an instance larger than max_instance_size= is refused and not kept."""
import errno
import hashlib
import json
import os
import re
import zlib

import conftest
from checks import errno_of, read_bytes

QIDO_STUDIES = r"^/dicom-web/studies\?"


def _gzip(head, filler, size, tail=b""):
    """gzip of @head, then @size bytes of @filler, then @tail: a few hundred KiB at most."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [z.compress(head)]
    block = filler * (1 << 20)
    for _ in range(size >> 20):
        out.append(z.compress(block))
    out.append(z.compress(tail))
    out.append(z.flush())
    return b"".join(out)


def _error_lines(m, *needles):
    return [l for l in m.text().splitlines() if l.startswith("trolley: error:") and
            all(n in l for n in needles)]


def test_gzip_bomb_qido_reply_is_eio_and_mount_survives(mount, source, proxy):
    m = mount(source, expect_errors="reply larger than 16 MiB")
    bomb = _gzip(b"[", b" ", 20 << 20, b"]")  # 20 MiB of JSON whitespace
    assert len(bomb) < 64 << 10
    proxy.fault(QIDO_STUDIES, body=bomb, type="application/dicom+json",
                headers={"Content-Encoding": "gzip"})
    assert errno_of(os.listdir, m.path("patients")) == errno.EIO
    assert _error_lines(m, proxy.url + "/dicom-web/studies?", "reply larger than 16 MiB")
    proxy.clear_faults()
    assert "Doe^John [PID001]" in os.listdir(m.path("patients"))


def test_gzip_bomb_metadata_is_eio_and_mount_survives(mount, source, data, proxy):
    e = next(e for e in data["manifest"] if e["PatientID"] == "PID003")
    m = mount(source, expect_errors="metadata larger than 256 MiB")
    path = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"], "metadata.json")
    os.stat(path)
    bomb = _gzip(b"[", b" ", 260 << 20, b"]")
    proxy.fault("/series/%s/metadata$" % re.escape(e["SeriesInstanceUID"]), body=bomb,
                type="application/dicom+json", headers={"Content-Encoding": "gzip"})
    assert errno_of(read_bytes, path) == errno.EIO
    assert _error_lines(m, "/series/%s/metadata" % e["SeriesInstanceUID"],
                        "metadata larger than 256 MiB")
    proxy.clear_faults()
    meta = json.loads(read_bytes(path))
    assert len(meta) == sum(1 for x in data["manifest"]
                            if x["SeriesInstanceUID"] == e["SeriesInstanceUID"])


def test_instance_over_max_instance_size_is_efbig_and_not_kept(mount, source, data, proxy):
    e = next(e for e in data["manifest"] if e["PatientID"] == "PID002" and
             e["Modality"] == "CT" and e["InstanceNumber"] == "7")
    sop = e["SOPInstanceUID"]
    m = mount(source, options="prefetch=none,max_instance_size=1M",
              expect_errors="larger than max_instance_size")
    path = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"], sop + ".dcm")
    os.stat(path)
    with open(e["path"], "rb") as f:
        truth = f.read()
    # The instance as it is, then 64 MiB more of what a sound object could hold: a bare
    # application/dicom reply of under 100 KiB on the wire.
    bomb = _gzip(truth, b"\0", 64 << 20)
    assert len(bomb) < 200 << 10
    proxy.fault("/instances/%s$" % re.escape(sop), body=bomb, type="application/dicom",
                headers={"Content-Encoding": "gzip"})
    assert errno_of(read_bytes, path) == errno.EFBIG
    assert _error_lines(m, "instance " + sop, "larger than max_instance_size=1048576")
    assert [l for l in m.text().splitlines() if l.startswith("trolley: warn:") and
            "/instances/" + sop in l and "File too large" in l], m.text()
    proxy.clear_faults()
    assert hashlib.md5(read_bytes(path)).hexdigest() == e["md5"]
    assert proxy.count("/instances/%s$" % re.escape(sop)) == 2  # asked again: nothing kept


def test_rad69_soap_reply_over_its_cap_is_eio_with_a_clear_error(mount, data):
    from mint_server import MintServer
    from rad69_server import Rad69Server
    mint, rad69 = MintServer(data["manifest"]), Rad69Server(data["manifest"])
    try:
        m = mount("mint+" + mint.url, options="prefetch=none,rad69=" + rad69.url,
                  expect_errors="SOAP part larger than 4 MiB")
        path = m.path("patients", "Doe^John [PID001]", "2020-03-01 CT HEAD [ACC1]",
                      "1 CT Axial", "7.dcm")
        os.stat(path)
        rad69.error_code = "UnknownError"
        rad69.error_context = "x" * (5 << 20)  # a 5 MiB SOAP error reply
        assert errno_of(read_bytes, path) == errno.EIO
        assert _error_lines(m, rad69.url, "SOAP part larger than 4 MiB")
        rad69.error_code = None
        with open(path, "rb") as f:
            assert f.read(132)[128:] == b"DICM"  # the mount goes on; nothing wrong kept
    finally:
        mint.stop()
        rad69.stop()


def _sanitized():
    """Whether the daemon is built with ASan (its quarantine keeps freed memory, and its
    redzones multiply small allocations: its RSS says nothing of ours)."""
    with open(conftest.BIN, "rb") as f:
        return b"__asan_init" in f.read()


def _vm(pid, key):
    """VmHWM or VmRSS of process @pid, in MiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) >> 10
    raise AssertionError("no %s for %d" % (key, pid))


def test_page_of_tiny_results_is_cut_while_read_and_memory_stays_bounded(mount, source, proxy):
    """Issue 18: a 16 MiB QIDO page of 25-byte results (670,000 of them) was parsed whole
    before the 100,000-result cap applied: 162 MB for one ls, held afterwards. The cap now
    applies while the page is read: the listing is cut with the incomplete-listing warning,
    and the daemon's peak stays far below what the whole page made."""
    one = b'{"00100020":{"vr":"LO"}},'
    count = ((16 << 20) - 64) // len(one)
    body = b"[" + one * (count - 1) + one[:-1] + b"]"
    assert len(body) < 16 << 20 and count > 600000
    m = mount(source, expect_errors=False)
    proxy.fault(QIDO_STUDIES, body=body, type="application/dicom+json")
    before = _vm(m.proc.pid, "VmRSS")
    assert os.listdir(m.path("patients")) == ["unnamed"]
    peak = _vm(m.proc.pid, "VmHWM")
    after = _vm(m.proc.pid, "VmRSS")
    print("RSS before %d MiB, peak %d MiB, after %d MiB" % (before, peak, after))
    assert re.search(r"more than 100000 results: the answer stops there and is incomplete",
                     m.text())
    with open(m.path(".trolley", "status")) as f:
        assert re.search(r"incomplete_listings\s*[:=]?\s*[1-9]", f.read())
    if _sanitized():
        return
    # Measured: main 143 MiB more at the peak and 113 after; now 82 and 0 (the 100,000
    # results kept, their names and nodes, then handed back).
    assert peak - before < 120, (before, peak)
    assert after - before < 40, (before, after)
