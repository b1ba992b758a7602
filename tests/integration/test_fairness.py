"""Connection slots and stalls: a listing never waits behind instance transfers that hold the
download slots, and a transfer that stops sending ends after timeout= without caching what
came (protocols/http.c)."""
import errno
import hashlib
import os
import re
import threading
import time

from servers import wait_for
from checks import errno_of

INSTANCE_GET = r"/instances/[0-9.]+$"


def _by_uid(m, e):
    return m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                  e["SOPInstanceUID"] + ".dcm")


def _md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def test_listing_does_not_wait_behind_slow_downloads(mount, source, data, proxy):
    # connections=2: one slot for instance transfers, one kept for queries. Two slow reads
    # want both; the listing of a folder nobody listed yet must not wait for either.
    m = mount(source, options="connections=2,prefetch=none")
    slow = [e for e in data["manifest"] if e["PatientID"] == "PID002"
            and e["Modality"] == "CT"][:2]
    for e in slow:
        os.stat(_by_uid(m, e))  # looked up now: the reads below only download
    proxy.fault("/instances/(%s)$" % "|".join(re.escape(e["SOPInstanceUID"]) for e in slow),
                trickle=4)
    got = {}

    def read(e):
        got[e["SOPInstanceUID"]] = _md5(_by_uid(m, e))

    readers = [threading.Thread(target=read, args=(e,)) for e in slow]
    for t in readers:
        t.start()
    try:
        def downloads():
            return [r for r in proxy.log() if re.search(INSTANCE_GET, r["path"])]

        wait_for(lambda: downloads(), 20, "a download to reach the archive")
        try:  # where both may run at once (they must not), let the second one start too
            wait_for(lambda: len(downloads()) >= 2, 1, "a second download")
        except TimeoutError:
            pass
        names = os.listdir(m.path("patients"))
        done = [r["path"] for r in downloads() if r["end"] is not None]
    finally:
        for t in readers:
            t.join(60)
    assert "Doe^John [PID001]" in names
    # Order, not time: the listing came back while no slow reply was over.
    assert not done, "the listing waited for the download of %s" % done
    assert got == {e["SOPInstanceUID"]: e["md5"] for e in slow}


def test_stalled_body_times_out_and_is_not_cached(mount, source, data, proxy):
    e = next(e for e in data["manifest"] if e["PatientID"] == "PID002" and
             e["Modality"] == "CT" and e["InstanceNumber"] == "5")
    sop = e["SOPInstanceUID"]
    m = mount(source, options="timeout=2,prefetch=none", expect_errors=re.escape(sop))
    path = _by_uid(m, e)
    os.stat(path)
    # 200 bytes, then nothing for longer than timeout= (then the rest, to a client that must
    # have given up by then: curl's own low-speed check, an average over five seconds, had
    # not, and took the whole body).
    proxy.fault("/instances/%s$" % re.escape(sop), stall=(200, 5))
    assert errno_of(open, path, "rb") == errno.ETIMEDOUT
    lines = [l for l in m.text().splitlines() if l.startswith("trolley: error:") and
             "/instances/" + sop in l and "timeout=2" in l]
    assert lines, m.text()
    proxy.clear_faults()
    assert _md5(path) == e["md5"]
    assert proxy.count("/instances/%s$" % re.escape(sop)) == 2  # asked again: nothing kept


def test_with_one_connection_a_listing_goes_before_queued_downloads(mount, source, data, proxy):
    # connections=1 is one connection, as asked: the listing waits for the download in
    # flight, but not for the ones queued behind it.
    m = mount(source, options="connections=1,prefetch=none")
    slow = [e for e in data["manifest"] if e["PatientID"] == "PID004"
            and e["Modality"] == "CT"][:3]
    for e in slow:
        os.stat(_by_uid(m, e))
    proxy.fault("/instances/(%s)$" % "|".join(re.escape(e["SOPInstanceUID"]) for e in slow),
                trickle=2)
    got = {}

    def read(e):
        got[e["SOPInstanceUID"]] = _md5(_by_uid(m, e))

    readers = [threading.Thread(target=read, args=(e,)) for e in slow]
    for t in readers:
        t.start()
    try:
        wait_for(lambda: proxy.count(INSTANCE_GET), 20, "a download to reach the archive")
        time.sleep(0.5)  # the other two reads are queued in the daemon by now
        names = os.listdir(m.path("patients"))
    finally:
        for t in readers:
            t.join(60)
    assert "Doe^John [PID001]" in names
    log = proxy.log()
    downloads = [r for r in log if re.search(INSTANCE_GET, r["path"])]
    # The listing's query: the first one after the downloads began (the stat()s above made
    # theirs before).
    listing = next(r for r in log if re.search(r"^/dicom-web/studies\?", r["path"]) and
                   r["start"] > downloads[0]["start"])
    before = [r["path"] for r in downloads if r["start"] < listing["start"]]
    assert len(before) == 1, "the listing waited for the downloads %s" % before
    assert got == {e["SOPInstanceUID"]: e["md5"] for e in slow}
