"""The LMDB cache, proved by counting what the archive saw."""
import hashlib
import os
import threading
import time

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
    m = mount(source)
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
    m = mount(source, options="meta_ttl=1")
    os.listdir(m.path("patients"))
    n = proxy.count(r"^/dicom-web/studies\?")
    time.sleep(2.2)
    os.listdir(m.path("patients"))
    assert proxy.count(r"^/dicom-web/studies\?") == n + 1


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
    assert proxy.count(INSTANCE_GET) == 1


def test_stale_results_served_when_archive_fails(mount, source, proxy):
    m = mount(source, options="meta_ttl=1", expect_errors=True)
    first = sorted(os.listdir(m.path("patients")))
    time.sleep(2.2)
    proxy.fault(r"^/dicom-web/studies", status=503, body=b"down", type="text/plain")
    assert sorted(os.listdir(m.path("patients"))) == first
    assert "serving the answer stored" in m.text()
