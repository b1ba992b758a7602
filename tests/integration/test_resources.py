"""Bounded resources under load: the series prefetches of many opened series run on a small
worker pool, so the daemon's threads and address space stay flat; many readers at once all get
the same, whole bytes."""
import hashlib
import os
import threading
import time

import numpy as np
import pytest
from pydicom.dataset import Dataset

import dataset
from servers import Orthanc

NSERIES = 60


def _write(out_dir, rng, study_uid, s, i):
    patient = ("Many^Series", "PIDMANY", "ISO_IR 100", [])
    study = ("20230506", "111111", "MANY SERIES", "ACCMANY", [])
    series = (str(s + 1), "CT", "S%d" % (s + 1), 3)
    series_uid = dataset.uid("many", "series", s)
    sop_uid = dataset.uid("many", "sop", s, i)
    ds = Dataset()
    ds.file_meta = dataset._meta(dataset.CT_IMAGE, sop_uid)
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.preamble = b"\0" * 128
    ds.SOPClassUID = dataset.CT_IMAGE
    ds.SOPInstanceUID = sop_uid
    dataset._common(ds, patient, study, series, study_uid, series_uid)
    ds.InstanceNumber = str(i + 1)
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = rng.integers(0, 4096, size=(8, 8), dtype=np.uint16).tobytes()
    path = os.path.join(out_dir, sop_uid + ".dcm")
    ds.save_as(path, write_like_original=False)
    return dataset._entry(path, ds, patient, study, series)


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """An Orthanc of its own with one study of NSERIES series of 3 tiny instances."""
    work = tmp_path_factory.mktemp("many")
    out = work / "data"
    out.mkdir()
    rng = np.random.default_rng(5)
    study_uid = dataset.uid("many", "study")
    manifest = [_write(str(out), rng, study_uid, s, i) for s in range(NSERIES) for i in range(3)]
    (work / "orthanc").mkdir()
    server = Orthanc(str(work / "orthanc"))
    try:
        server.upload([e["path"] for e in manifest])
        yield {"orthanc": server, "manifest": manifest}
    finally:
        server.stop()


def _proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["Threads"]), int(fields["VmSize"].split()[0]) * 1024


def _status(m):
    with open(m.path(".trolley", "status")) as f:
        return dict(line.split(": ", 1) for line in f.read().splitlines())


def _quiet(m):
    """Wait until no transfer is under way (every prefetch ended)."""
    deadline = time.monotonic() + 60
    while int(_status(m)["transfers_in_flight"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert int(_status(m)["transfers_in_flight"]) == 0


def _open_first(m, e):
    path = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                  e["SOPInstanceUID"] + ".dcm")
    with open(path, "rb") as f:
        assert hashlib.md5(f.read()).hexdigest() == e["md5"]


def test_threads_and_address_space_stay_flat_after_one_open_per_series(mount, many):
    m = mount(many["orthanc"].dicomweb)
    first = [e for e in many["manifest"] if e["InstanceNumber"] == "1"]
    assert len(first) == NSERIES
    for e in first[:10]:
        _open_first(m, e)
    _quiet(m)
    threads, vm = _proc_status(m.proc.pid)
    for e in first[10:]:
        _open_first(m, e)
    _quiet(m)
    threads2, vm2 = _proc_status(m.proc.pid)
    st = _status(m)
    assert int(st["series_prefetches"]) == NSERIES
    assert int(st["prefetched_instances"]) == 2 * NSERIES
    # A thread per series, never joined, kept 8 MiB of stack each: 50 series were 400 MiB.
    assert threads2 <= threads + 1, (threads, threads2)
    assert vm2 - vm < 64 << 20, (vm, vm2)


def test_sixteen_readers_across_eight_series_get_identical_bytes(mount, many):
    m = mount(many["orthanc"].dicomweb)
    entries = [e for e in many["manifest"] if int(e["SeriesNumber"]) <= 8]
    assert len(entries) == 24
    results, errors = [], []

    def read(k):
        try:
            # Each reader takes the series in its own order: openers meet prefetches.
            for e in entries[k % 3::1] if k % 2 else reversed(entries):
                path = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                              e["SOPInstanceUID"] + ".dcm")
                with open(path, "rb") as f:
                    results.append((e["SOPInstanceUID"], hashlib.md5(f.read()).hexdigest()))
        except OSError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    want = {e["SOPInstanceUID"]: e["md5"] for e in entries}
    assert len(results) > 16 * 20
    assert all(want[sop] == md5 for sop, md5 in results)
