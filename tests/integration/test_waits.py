"""Every wait ends: timeout= needs real progress (a body trickled a byte a second ends, a slow
honest one completes); a reader blocked in open() or in a listing ends at once on SIGINT,
SIGTERM or SIGKILL (FUSE interrupts, core/cancel.h), never left in D state; the daemon exits
within seconds of SIGTERM with transfers in flight and keeps nothing half-done; a new mount of
a cache_dir whose daemon is still exiting waits for it instead of refusing."""
import errno
import hashlib
import os
import re
import signal
import subprocess
import time

import pydicom
import pytest

from checks import errno_of
from servers import wait_for
from test_dimse import split_part10
from test_dimse_bulk import PduRelay, _largest, _path as _dimse_path

INSTANCE_GET = r"/instances/[0-9.]+$"
SERIES_GET = r"/studies/[0-9.]+/series/[0-9.]+$"
# Generous: "it ended", never a speed limit. A reader left in D state stays there until the
# proxy's drip ends (Proxy.DRIP_MAX, 60 s).
ENDS_WITHIN = 15


def _by_uid(m, e):
    return m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                  e["SOPInstanceUID"] + ".dcm")


def _md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def _ct(data, number="5"):
    return next(e for e in data["manifest"] if e["PatientID"] == "PID002" and
                e["Modality"] == "CT" and e["InstanceNumber"] == number)


def _state(pid):
    """The process state letter in /proc/PID/stat (D: uninterruptible), None once reaped."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def _in_flight(proxy, pattern):
    return [r for r in proxy.log() if re.search(pattern, r["path"]) and r["end"] is None]


def _ends(proc, within):
    """Whether @proc exits within @within seconds (polled; its state said if not)."""
    try:
        proc.wait(within)
        return True, None
    except subprocess.TimeoutExpired:
        return False, _state(proc.pid)


def _kill(proc):
    if proc.poll() is None:
        proc.kill()


def _interrupt_blocked_reader(proxy, argv, pattern, sig):
    """Start @argv, wait until its request (@pattern) hangs at the archive, send @sig: the
    reader must exit within seconds, not stay in D state."""
    reader = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _in_flight(proxy, pattern), 20, "the reader's request at the archive")
        time.sleep(0.3)  # well inside the wait, whatever step it is at
        assert reader.poll() is None, "the reader did not block"
        reader.send_signal(sig)
        ended, state = _ends(reader, ENDS_WITHIN)
        assert ended, "the reader did not exit within %d s of signal %d (state %s)" % (
            ENDS_WITHIN, sig, state)
    finally:
        proxy.clear_faults()  # a reader left in D state ends with the drip in flight
        _kill(reader)
        reader.wait()


def test_trickled_body_ends_within_timeout_and_is_noted(mount, source, data, proxy):
    # One byte a second: each byte used to reset the stall timer, so open() waited for the
    # whole body (60 s of the proxy's drip here; 600 s measured on a real trickle).
    e = _ct(data)
    sop = e["SOPInstanceUID"]
    m = mount(source, options="timeout=3,prefetch=none", expect_errors=re.escape(sop))
    path = _by_uid(m, e)
    os.stat(path)
    proxy.fault("/instances/%s$" % re.escape(sop), drip=1)
    t0 = time.monotonic()
    assert errno_of(open, path, "rb") == errno.ETIMEDOUT
    took = time.monotonic() - t0
    assert took < 3 * 3 + 5, "a trickled body took %.1f s to end with timeout=3" % took
    lines = [l for l in m.text().splitlines() if l.startswith("trolley: error:") and
             "/instances/" + sop in l and "timeout=3" in l]
    assert lines, m.text()
    with open(m.path(".trolley", "errors"), "rb") as f:
        noted = f.read().decode()
    assert sop in noted and "timeout=3" in noted, noted
    # Nothing of it was kept: once the archive answers, the file is whole.
    proxy.clear_faults()
    assert _md5(path) == e["md5"]


def test_slow_honest_body_completes(mount, source, data, proxy):
    # 100 KB/s, a body that takes longer than timeout=2 to come (the dataset's largest file,
    # 290 KB): progress, not a stall.
    e = next(e for e in data["manifest"] if e["path"].endswith("waveform_ecg.dcm"))
    sop = e["SOPInstanceUID"]
    m = mount(source, options="timeout=2,prefetch=none")
    path = _by_uid(m, e)
    os.stat(path)
    proxy.fault("/instances/%s$" % re.escape(sop), rate=100000)
    assert os.path.getsize(e["path"]) / 100000 > 2, "the body must outlast timeout="
    assert _md5(path) == e["md5"]
    assert proxy.count("/instances/%s$" % re.escape(sop)) == 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
                         ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_reader_blocked_in_open_ends_on_signal(mount, source, data, proxy, sig):
    e = _ct(data, "7")
    sop = e["SOPInstanceUID"]
    # prefetch=none: the reader's open leads the transfer, which ends with its wait (a
    # series stream would go on in the background, for the rest of the series).
    m = mount(source, options="timeout=60,prefetch=none")
    path = _by_uid(m, e)
    os.stat(path)
    proxy.fault("/instances/%s$" % re.escape(sop), drip=1)
    _interrupt_blocked_reader(proxy, ["cat", path], INSTANCE_GET, sig)
    # The mount is still up and serves the file whole once the archive answers.
    proxy.clear_faults()
    assert os.listdir(m.path("studies"))
    assert _md5(path) == e["md5"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_reader_blocked_in_listing_ends_on_signal(mount, source, data, proxy, sig):
    # A folder's listing is made when it is opened (opendir): ls waits there for the query.
    e = _ct(data)
    m = mount(source, options="timeout=60")
    study = m.path("studies", e["StudyInstanceUID"])
    os.stat(study)
    listing = r"/studies/%s/series(\?|$)" % re.escape(e["StudyInstanceUID"])
    proxy.fault(listing, drip=1)
    _interrupt_blocked_reader(proxy, ["ls", study], listing, sig)
    proxy.clear_faults()
    assert e["SeriesInstanceUID"] in os.listdir(study)


def test_first_open_of_dicomdir_is_interruptible(mount, source, data, proxy):
    # The first open of a study's DICOMDIR downloads the whole study inside open().
    entries = [x for x in data["manifest"] if x["StudyDescription"] == "MR KNEE"]
    study = entries[0]["StudyInstanceUID"]
    m = mount(source, options="timeout=60,prefetch=none")
    path = m.path("media", study, "DICOMDIR")
    os.stat(path)
    proxy.fault(INSTANCE_GET, drip=1)
    _interrupt_blocked_reader(proxy, ["cat", path], INSTANCE_GET, signal.SIGINT)
    proxy.clear_faults()
    records = pydicom.dcmread(path).DirectoryRecordSequence
    assert len([r for r in records if r.DirectoryRecordType == "IMAGE"]) == len(entries)


def test_daemon_exits_on_sigterm_with_transfers_in_flight(mount, source, data, proxy,
                                                         tmp_path):
    e = _ct(data, "8")
    sop = e["SOPInstanceUID"]
    cache = str(tmp_path / "cache")
    m = mount(source, options="timeout=60", cache_dir=cache)
    path = _by_uid(m, e)
    os.stat(path)
    proxy.fault(INSTANCE_GET, drip=1)
    proxy.fault(SERIES_GET, drip=1)
    reader = subprocess.Popen(["cat", path], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _in_flight(proxy, INSTANCE_GET + "|" + SERIES_GET), 20,
                 "a transfer in flight")
        m.stopped = True
        m.proc.send_signal(signal.SIGTERM)
        ended, state = _ends(m.proc, ENDS_WITHIN)
        assert ended, "the daemon did not exit within %d s of SIGTERM (state %s)" % (
            ENDS_WITHIN, state)
        ended, state = _ends(reader, ENDS_WITHIN)
        assert ended, "the reader was left behind (state %s)" % state
    finally:
        proxy.clear_faults()
        _kill(reader)
        reader.wait()
        m.force_stop()
    # Nothing half-done was kept: a new mount fetches the instance again, whole.
    proxy.reset()
    m2 = mount(source, options="timeout=60", cache_dir=cache)
    assert _md5(_by_uid(m2, e)) == e["md5"]
    assert proxy.count("/instances/%s$|%s" % (re.escape(sop), SERIES_GET)) >= 1


def test_unmount_then_mount_at_once_after_cold_export(mount, source, data, proxy, tmp_path):
    e = _ct(data)
    other = next(x for x in data["manifest"] if x["StudyInstanceUID"] != e["StudyInstanceUID"]
                 and x["InstanceNumber"] == "3")
    cache = str(tmp_path / "cache")
    m = mount(source, cache_dir=cache, name="pacs")
    subprocess.run(["cp", "-r", m.path("studies", e["StudyInstanceUID"]),
                    str(tmp_path / "copy")], check=True)
    # The export leaves a series transfer in the background, as a cp -r that ends while its
    # read-ahead runs does: here one that trickles, so the old daemon has something to end.
    proxy.fault(SERIES_GET, drip=1)
    assert _md5(_by_uid(m, other)) == other["md5"]
    wait_for(lambda: _in_flight(proxy, SERIES_GET), 20, "the series transfer")
    # What `umount /mnt/pacs && mount /mnt/pacs` does: unmount returns before the old daemon
    # has exited, and the new mount comes at once.
    subprocess.run(["fusermount3", "-u", m.mountpoint], check=True)
    m.stopped = True
    try:
        m2 = mount(source, cache_dir=cache, name="pacs")
    finally:
        proxy.clear_faults()
        rc = m.proc.wait(20)
        # The old mount's place is the new one's now: its cleanup must not unmount that.
        m.mountpoint = str(tmp_path / "old-mount-gone")
        m.force_stop()
    assert rc == 0
    assert _md5(_by_uid(m2, e)) == e["md5"]
    assert _md5(_by_uid(m2, other)) == other["md5"]


def test_mount_of_a_cache_dir_in_use_is_still_refused(mount, source, tmp_path):
    # The wait is for a daemon that is exiting: one that serves its mount refuses the second
    # at once, as before.
    cache = str(tmp_path / "cache")
    mount(source, cache_dir=cache)
    other = tmp_path / "other"
    other.mkdir()
    from conftest import BIN
    t0 = time.monotonic()
    r = subprocess.run([BIN, "-o", "cache_dir=%s" % cache, source, str(other)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "in use by another mount.trolley" in r.stderr
    assert time.monotonic() - t0 < 5, "refusing took %.1f s" % (time.monotonic() - t0)


class _DrippingRelay(PduRelay):
    """In front of the archive's DICOM port: while .dripping, its data set PDUs (C-GET's
    C-STOREs) come one byte a second; everything else passes at once."""

    def __init__(self, upstream_port):
        super().__init__(upstream_port)
        self.dripping = True

    def forward(self, pdu, from_server, dst, conn):
        if not (self.dripping and from_server and pdu[0] == 4 and len(pdu) > 2000):
            dst.sendall(pdu)
            return
        self.event("drip")
        for i in range(len(pdu)):
            dst.sendall(pdu[i:i + 1])
            if self.dripping:
                time.sleep(1)


def test_reader_blocked_in_c_get_ends_on_signal(mount, orthanc, data):
    # dcmtk blocks in a socket read for up to timeout= (and longer for a peer that trickles):
    # the association's socket is shut when the reader gives up.
    e = _largest(data)
    relay = _DrippingRelay(orthanc.dicom_port)
    try:
        m = mount("dicom://ORTHANC@127.0.0.1:%d" % relay.port,
                  options="downloader=c-get,prefetch=none,timeout=60")
        path = _dimse_path(m, e)
        os.stat(path)
        reader = subprocess.Popen(["cat", path], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: "drip" in relay.events, 20, "the instance to drip")
            time.sleep(0.3)
            reader.send_signal(signal.SIGINT)
            ended, state = _ends(reader, ENDS_WITHIN)
            assert ended, "the reader did not exit within %d s (state %s)" % (ENDS_WITHIN,
                                                                               state)
        finally:
            relay.dripping = False
            _kill(reader)
            reader.wait()
        relay.dripping = False
        with open(path, "rb") as f, open(e["path"], "rb") as truth:
            assert split_part10(f.read())[2] == split_part10(truth.read())[2]
    finally:
        relay.stop()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_reader_waiting_out_a_retry_after_ends_on_a_signal(mount, source, data, proxy, sig):
    # The archive is busy and asks for 30 s: trolley waits as told (retry=), but the reader
    # who gives up ends at once, and the file still reads whole once the archive is back.
    e = _ct(data, "6")
    sop = e["SOPInstanceUID"]
    m = mount(source, options="prefetch=none,retry=120")
    path = _by_uid(m, e)
    os.stat(path)
    proxy.fault("/instances/%s$" % re.escape(sop), busy=1, retry_after=30)
    reader = subprocess.Popen(["cat", path], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: proxy.count("/instances/%s$" % re.escape(sop)) >= 1, 20,
                 "the reader's request at the archive")
        time.sleep(0.5)  # inside the 30 s wait
        assert reader.poll() is None, "the reader did not wait for the busy archive"
        reader.send_signal(sig)
        ended, state = _ends(reader, ENDS_WITHIN)
        assert ended, "the reader did not exit within %d s of signal %d (state %s)" % (
            ENDS_WITHIN, sig, state)
    finally:
        proxy.clear_faults()
        _kill(reader)
        reader.wait()
    assert _md5(path) == e["md5"]
