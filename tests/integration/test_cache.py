"""The LMDB cache, proved by counting what the archive saw."""
import errno
import hashlib
import os
import re
import subprocess
import threading
import time

import pytest

import naming

INSTANCE_GET = r"/instances/[0-9.]+$"


def _series(m, data, desc="T1"):
    e = next(e for e in data["manifest"] if e["SeriesDescription"] == desc)
    rel = naming.patients_tree(data["manifest"])[e["SOPInstanceUID"]]
    return m.path("patients", os.path.dirname(rel))


def _read_all(folder):
    out = {}
    for name in sorted(n for n in os.listdir(folder) if n.endswith(".dcm")):
        with open(os.path.join(folder, name), "rb") as f:
            out[name] = hashlib.md5(f.read()).hexdigest()
    return out


def test_read_again_makes_no_request(mount, source, data, proxy):
    m = mount(source, options="prefetch=none")
    series = _series(m, data)
    first = _read_all(series)
    assert proxy.count(INSTANCE_GET) == len(first) == 30
    n = proxy.count()
    assert _read_all(series) == first
    assert proxy.count() == n


def test_remount_serves_from_cache_without_request(mount, source, data, proxy, tmp_path):
    cache = str(tmp_path / "shared-cache")
    m = mount(source, cache_dir=cache, name="a")
    first = _read_all(_series(m, data))
    assert m.unmount() == 0
    proxy.reset()
    m2 = mount(source, cache_dir=cache, name="b")
    assert _read_all(_series(m2, data)) == first
    assert proxy.count() == 0, proxy.paths()


def test_meta_ttl_expires_query_results(mount, source, proxy):
    short = mount(source, options="meta_ttl=1", name="short")
    default = mount(source, name="default")  # meta_ttl=600
    for m in (short, default):
        os.listdir(m.path("patients"))
    assert proxy.count(r"^/dicom-web/studies\?") == 2
    time.sleep(2.2)  # past meta_ttl=1 and past the kernel's folder timeout
    proxy.reset()
    os.listdir(default.path("patients"))
    assert proxy.count(r"^/dicom-web/studies\?") == 0
    os.listdir(short.path("patients"))
    assert proxy.count(r"^/dicom-web/studies\?") == 1


def test_query_results_kept_within_meta_ttl(mount, source, proxy, tmp_path):
    cache = str(tmp_path / "c")
    m = mount(source, cache_dir=cache, name="a")
    first = sorted(os.listdir(m.path("patients")))
    assert m.unmount() == 0
    proxy.reset()
    m2 = mount(source, cache_dir=cache, name="b")  # default meta_ttl=600
    assert sorted(os.listdir(m2.path("patients"))) == first
    assert proxy.count() == 0


def test_sixteen_readers_of_one_file_make_one_transfer(mount, source, data, proxy):
    m = mount(source)
    series = _series(m, data, "PD")
    name = sorted(os.listdir(series))[0]
    proxy.reset()
    proxy.fault(INSTANCE_GET, delay=0.5, pass_through=True)
    results = []

    def read():
        with open(os.path.join(series, name), "rb") as f:
            results.append(hashlib.md5(f.read()).hexdigest())

    threads = [threading.Thread(target=read) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16 and len(set(results)) == 1
    # One transfer: its GET, or none when the opener joined its series' stream (the first
    # file of the folder and of the stream: cache/open.c), which came once.
    uid = os.getxattr(series, "user.dicom.SeriesInstanceUID").decode()
    assert proxy.count(INSTANCE_GET) <= 1 and proxy.count(r"/series/%s$" % re.escape(uid)) <= 1
    assert proxy.count(INSTANCE_GET) + proxy.count(r"/series/%s$" % re.escape(uid)) >= 1


def test_stale_results_served_when_archive_fails(mount, source, proxy):
    m = mount(source, options="meta_ttl=1,retry=0", expect_errors=True)
    first = sorted(os.listdir(m.path("patients")))
    time.sleep(2.2)
    proxy.fault(r"^/dicom-web/studies", status=503, body=b"down", type="text/plain")
    assert sorted(os.listdir(m.path("patients"))) == first
    assert "serving the answer stored" in m.text()


SERIES_GET = r"^/dicom-web/studies/[0-9.]+/series/[0-9.]+$"


def test_prefetch_streams_the_series_in_one_request(mount, source, data, proxy):
    m = mount(source)
    series = _series(m, data, "Coronal")
    got = _read_all(series)
    want = {e["InstanceNumber"] + ".dcm": e["md5"] for e in data["manifest"]
            if e["SeriesDescription"] == "Coronal"}
    assert got == want
    uid = os.getxattr(series, "user.dicom.SeriesInstanceUID").decode()
    # (Reading a series in order also reads the study's other series ahead: test_engine.py.)
    assert proxy.count(r"/series/%s$" % re.escape(uid)) == 1
    assert proxy.count(INSTANCE_GET) <= 1  # the first file opened, fetched alone meanwhile
    series_get = next(r for r in proxy.requests if r["path"].endswith("/series/" + uid))
    assert series_get["accept"].endswith("transfer-syntax=*")
    with open(m.path(".trolley", "status")) as f:
        status = dict(line.split(": ", 1) for line in f.read().splitlines())
    assert int(status["series_prefetches"]) >= 1
    assert int(status["prefetched_instances"]) >= 39


def test_broken_series_stream_falls_back_to_single_fetches(mount, source, data, proxy):
    m = mount(source, expect_errors=True)
    series = _series(m, data, "Soft")
    proxy.fault(SERIES_GET, truncate=30000)
    got = _read_all(series)
    want = {e["InstanceNumber"] + ".dcm": e["md5"] for e in data["manifest"]
            if e["SeriesDescription"] == "Soft"}
    assert got == want  # every file right: the cut stream stored only whole instances
    uid = os.getxattr(series, "user.dicom.SeriesInstanceUID").decode()
    assert proxy.count(r"/series/%s$" % re.escape(uid)) == 1
    assert proxy.count(INSTANCE_GET) >= 1
    assert "prefetch failed" in m.text()


def test_kill_9_during_download_never_serves_a_truncated_file(mount, source, data, proxy,
                                                              tmp_path):
    cache = str(tmp_path / "c")
    m = mount(source, cache_dir=cache, options="prefetch=none", name="a", expect_errors=True)
    series = _series(m, data, "Lung")
    name = sorted(n for n in os.listdir(series) if n.endswith(".dcm"))[0]
    proxy.fault(INSTANCE_GET, stall=(3000, 5))
    reader = threading.Thread(target=lambda: _try_read(os.path.join(series, name)))
    reader.start()
    deadline = time.monotonic() + 10
    while proxy.count(INSTANCE_GET) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the first bytes are in the daemon's temporary file
    m.proc.kill()
    m.proc.wait()
    m.force_stop()
    reader.join()
    proxy.clear_faults()
    m2 = mount(source, cache_dir=cache, options="prefetch=none", name="b")
    series2 = _series(m2, data, "Lung")
    with open(os.path.join(series2, name), "rb") as f:
        body = f.read()
    sop = os.getxattr(os.path.join(series2, name), "user.dicom.SOPInstanceUID").decode()
    assert hashlib.md5(body).hexdigest() == data["by_sop"][sop]["md5"]
    assert proxy.count(INSTANCE_GET) == 2  # fetched again: nothing partial was kept
    assert m2.unmount() == 0
    # Killed in the middle of a cp -r while the series streams in (some batches committed,
    # the rest in temporary files): the next mount serves every file whole.
    m3 = mount(source, cache_dir=cache, name="m3", expect_errors=True)
    proxy.reset()
    proxy.fault(SERIES_GET, stall=(200000, 5))
    cp = subprocess.Popen(["cp", "-r", _series(m3, data, "Lung"), str(tmp_path / "cut")],
                          stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while proxy.count(SERIES_GET) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # part of the stream is in: batches committed, one under way
    m3.proc.kill()
    m3.proc.wait()
    m3.force_stop()
    cp.wait(30)
    proxy.clear_faults()
    m4 = mount(source, cache_dir=cache, name="m4")
    out = tmp_path / "whole"
    subprocess.run(["cp", "-r", _series(m4, data, "Lung"), str(out)], check=True)
    want = {e["InstanceNumber"] + ".dcm": e["md5"] for e in data["manifest"]
            if e["SeriesDescription"] == "Lung"}
    assert {n: hashlib.md5((out / n).read_bytes()).hexdigest()
            for n in os.listdir(out) if n.endswith(".dcm")} == want
    st = _status(m4)
    # Killed mid-stream: part of the series was kept, the rest fetched again.
    assert 0 < int(st["open_hits"]) < len(want), st


def test_marker_of_another_boot_discards_the_cache_at_mount(mount, source, data, proxy,
                                                            tmp_path):
    cache = str(tmp_path / "c")
    marker = os.path.join(cache, "dirty")
    m = mount(source, cache_dir=cache, name="m1")
    series = _series(m, data, "PD")
    first = _read_all(series)
    assert open(marker).read().strip() == open("/proc/sys/kernel/random/boot_id").read().strip()
    assert m.unmount() == 0
    assert not os.path.exists(marker)  # a clean close synced and removed it
    # A marker of this boot (a daemon killed without closing): the kernel had its writes, kept.
    with open(marker, "w") as f:
        f.write(open("/proc/sys/kernel/random/boot_id").read())
    proxy.reset()
    m2 = mount(source, cache_dir=cache, name="m2")
    assert _read_all(_series(m2, data, "PD")) == first
    assert proxy.count(INSTANCE_GET) == proxy.count(SERIES_GET) == 0
    assert "discarded" not in m2.text()
    assert m2.unmount() == 0
    # A marker of another boot: that system went down before the writes were on the disk.
    with open(marker, "w") as f:
        f.write("00000000-0000-4000-8000-000000000000\n")
    proxy.reset()
    m3 = mount(source, cache_dir=cache, name="m3")
    assert _read_all(_series(m3, data, "PD")) == first
    assert proxy.count(INSTANCE_GET) + proxy.count(SERIES_GET) > 0  # fetched again
    assert re.search(r"trolley: warn: cache .*: discarded: its system went down \(crash or power "
                     r"loss\) before its writes were on the disk \(its marker is of boot "
                     r"00000000-0000-4000-8000-000000000000, this is boot [0-9a-f-]{36}\)",
                     m3.text()), m3.text()
    assert m3.unmount() == 0


def _try_read(path):
    try:
        with open(path, "rb") as f:
            f.read()
    except OSError:
        pass  # the daemon died under it: ENOTCONN


def _status(m):
    with open(m.path(".trolley", "status")) as f:
        return dict(line.split(": ", 1) for line in f.read().splitlines())


def test_cache_size_bounds_the_cache_evicting_least_recently_used(mount, source, data, proxy,
                                                                  tmp_path):
    cache = str(tmp_path / "c")
    m = mount(source, cache_dir=cache, options="cache_size=1M,prefetch=none", name="a")
    total = 0
    for rel in sorted(naming.patients_tree(data["manifest"]).values()):
        with open(m.path("patients", rel), "rb") as f:
            total += len(f.read())
    assert total > 1 << 20
    st = _status(m)
    assert int(st["evictions"]) > 0
    assert int(st["cache_bytes"]) <= 1 << 20
    assert int(st["cache_limit"]) == 1 << 20
    first = sorted(naming.patients_tree(data["manifest"]).values())[0]
    last = sorted(naming.patients_tree(data["manifest"]).values())[-1]
    assert m.unmount() == 0
    # Offline, the most recently read file is there and the first one read was evicted.
    m2 = mount(source, cache_dir=cache, options="cache_size=1M,offline", name="b",
               expect_errors=True)
    proxy.reset()
    with open(m2.path("patients", last), "rb") as f:
        f.read()
    with pytest.raises(OSError):
        open(m2.path("patients", first), "rb").read()
    assert proxy.count() == 0


def test_offline_serves_the_cache_and_never_asks(mount, source, data, proxy, tmp_path):
    cache = str(tmp_path / "c")
    m = mount(source, cache_dir=cache, options="meta_ttl=1", name="a")
    series = _series(m, data, "PD")
    first = _read_all(series)
    assert m.unmount() == 0
    time.sleep(1.2)  # every stored answer has expired: offline serves it anyway
    proxy.reset()
    m2 = mount(source, cache_dir=cache, options="meta_ttl=1,offline", name="b",
               expect_errors=True)
    assert _read_all(_series(m2, data, "PD")) == first
    with pytest.raises(OSError) as exc:
        os.listdir(m2.path("patients", "Doe^John [PID001]"))  # never listed: not cached
    assert exc.value.errno == errno.EIO
    assert "offline" in m2.text()
    assert proxy.count() == 0


WADO_URI_GET = r"^/wado\?"


def test_refused_object_is_not_fetched_again_at_once(mount, source, data, proxy):
    """A viewer opens a file it cannot read again and again: an object the archive answered
    with something that is not it is refused from memory for a few seconds (one download, not
    one per open); a transient failure (503) is asked again at the next open."""
    m = mount(source, options="prefetch=none,downloader=wado-uri,wado_uri=%s/wado,retry=0" %
              proxy.url, expect_errors=True)
    series = _series(m, data, "PD")
    first, second = sorted(n for n in os.listdir(series) if n.endswith(".dcm"))[:2]
    proxy.fault(WADO_URI_GET, body=b"<html>this is not the image</html>" * 20,
                type="application/dicom")
    for _ in range(5):
        with pytest.raises(OSError) as exc:
            open(os.path.join(series, first), "rb")
        assert exc.value.errno == errno.EIO
    assert proxy.count(WADO_URI_GET) == 1
    proxy.reset()
    proxy.fault(WADO_URI_GET, status=503, body=b"busy", type="text/plain")
    for _ in range(2):
        with pytest.raises(OSError):
            open(os.path.join(series, second), "rb")
    assert proxy.count(WADO_URI_GET) == 2
    proxy.clear_faults()
    with open(os.path.join(series, second), "rb") as f:
        body = f.read()
    sop = os.getxattr(os.path.join(series, second), "user.dicom.SOPInstanceUID").decode()
    assert hashlib.md5(body).hexdigest() == data["by_sop"][sop]["md5"]


def test_cache_dir_inside_the_mount_point_is_refused(mount, source, tmp_path):
    """A cache under the mount point would be reached through the mount itself: the daemon hung
    in uninterruptible sleep on its own FUSE requests. It is refused at mount time instead."""
    for inside in (tmp_path / "inside", tmp_path / "inside" / "cache"):
        with pytest.raises(RuntimeError) as exc:
            mount(source, cache_dir=str(inside), name="inside")
        assert "is inside the mount point" in str(exc.value)
    outside = mount(source, cache_dir=str(tmp_path / "outside"), name="inside")
    assert "patients" in os.listdir(outside.path())
