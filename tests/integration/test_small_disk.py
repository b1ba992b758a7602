"""The cache keeps within the disk it has: cache_dir on a filesystem smaller than cache_size,
a series several times bigger than cache_size, and a reply that never ends. A full disk, or a
cache too small, makes the cache smaller, never an export shorter: every file is read whole and
byte-identical. The small disks are tmpfs mounts of our own (the tests run as root), unmounted
at the end."""
import hashlib
import os
import shutil
import subprocess
import time

import numpy as np
import pytest

import dataset
from servers import Orthanc, Proxy, wait_for

WADO_GET = r"^/wado\?"


def _make_study(out_dir, tag, nseries, per_series, size):
    """One study of @nseries series of @per_series @size x @size instances (the dataset's own
    generator, UIDs of its own); return the manifest entries."""
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(17)
    patient = ("Disk^%s" % tag, "DISK-" + tag, "ISO_IR 100", None)
    study = ("20240101", "100000", "DISK " + tag.upper(), "", None)
    study_uid = dataset.uid("disk", tag, "study")
    out = []
    for r in range(nseries):
        series = (str(r + 1), "CT", "part %d" % (r + 1), per_series)
        series_uid = dataset.uid("disk", tag, "series", r)
        for i in range(per_series):
            out.append(dataset._write_image(out_dir, rng, patient, study, series, study_uid,
                                            series_uid, dataset.uid("disk", tag, r, i),
                                            str(i + 1), size, "100000"))
    return out


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A study of 2 series of 200 instances of 512 x 512 (about 210 MB: more than twice the
    small disk), in an Orthanc of its own behind a proxy."""
    work = tmp_path_factory.mktemp("bigstudy")
    entries = _make_study(str(work / "files"), "big", 2, 200, 512)
    (work / "orthanc").mkdir()
    orthanc = Orthanc(str(work / "orthanc"))
    proxy = None
    try:
        orthanc.upload([e["path"] for e in entries])
        proxy = Proxy("127.0.0.1:%d" % orthanc.http_port)
        yield {"entries": entries, "proxy": proxy, "source": proxy.url + "/dicom-web"}
    finally:
        if proxy:
            proxy.stop()
        orthanc.stop()


@pytest.fixture
def small_disk(tmp_path):
    """small_disk(size) -> the path of a new tmpfs of that size, unmounted at the end (after
    the mounts: request this fixture before `mount`)."""
    made = []

    def make(size="96m"):
        d = tmp_path / ("disk%d" % len(made))
        d.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size,
                        "trolley-test", str(d)], check=True)
        made.append(d)
        return str(d)

    yield make
    for d in made:
        subprocess.run(["umount", "-l", str(d)], check=False)


def _md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def _truths(entries):
    return {e["SOPInstanceUID"] + ".dcm": e["md5"] for e in entries}


def _check_copy(out, entries):
    """Every instance of @entries is in @out (a cp -r of a study or series folder), whole and
    byte-identical; nothing else is."""
    got = {}
    for root, _, files in os.walk(out):
        for name in files:
            if name.endswith(".dcm"):
                got[name] = _md5(os.path.join(root, name))
    want = _truths(entries)
    assert sorted(got) == sorted(want), "%d of %d files copied" % (
        len(set(got) & set(want)), len(want))
    bad = [n for n in want if got[n] != want[n]]
    assert not bad, "%d files differ, e.g. %s" % (len(bad), bad[0])


def _cp(src, dst):
    cp = subprocess.run(["cp", "-r", src, dst], capture_output=True, timeout=120)
    assert cp.returncode == 0, cp.stderr.decode()[-2000:]


def _status(m):
    with open(m.path(".trolley", "status")) as f:
        return dict(line.split(": ", 1) for line in f.read().splitlines())


def test_cold_copy_of_a_study_bigger_than_the_disk_is_whole_twice(small_disk, mount, big,
                                                                    tmp_path):
    """cache_dir on a 96 MiB tmpfs with the default cache_size (10G): a cold cp -r of a 210 MB
    study copies every file whole, and again; the cache stays above its free-space floor,
    and the status says the floor is in force with the limit it makes."""
    disk = small_disk("96m")
    m = mount(big["source"], cache_dir=os.path.join(disk, "cache"))
    e = big["entries"][0]
    study = m.path("studies", e["StudyInstanceUID"])
    for n in range(2):
        out = tmp_path / ("copy%d" % n)
        _cp(study, str(out))
        _check_copy(str(out), big["entries"])
        shutil.rmtree(out)
        st = os.statvfs(disk)
        # The default floor on a 96 MiB filesystem is 5% of it (4.8 MiB). Free pages inside
        # LMDB's file count as room, and some are too scattered for a whole instance, so the
        # disk may end a little under the floor (2.9 MiB free measured), never full.
        assert st.f_bavail * st.f_frsize >= 1 << 20, "the cache filled the disk"
    status = _status(m)
    assert status["min_free"] == str((96 << 20) * 5 // 100), status
    assert status["floor_in_force"] == "yes", status
    assert int(status["cache_limit_effective"]) < 96 << 20, status
    assert 0 < int(status["cache_bytes"]) < 96 << 20, status
    assert int(status["downloads_outside_cache_dir"]) > 0, status


def test_copy_of_a_series_bigger_than_the_cache_is_whole_every_time(mount, big, tmp_path):
    """cache_size=20M and a series of 105 MB: the series stream stores instances and evicts
    them again before their readers come; every open still gets its file (fetched again when
    evicted), never ENOENT, in each of three copies."""
    m = mount(big["source"], options="cache_size=20M")
    entries = [e for e in big["entries"] if e["SeriesInstanceUID"] ==
               big["entries"][0]["SeriesInstanceUID"]]
    e = entries[0]
    series = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"])
    for n in range(3):
        out = tmp_path / ("copy%d" % n)
        _cp(series, str(out))
        _check_copy(str(out), entries)
        shutil.rmtree(out)
    assert int(_status(m)["evictions"]) > 0


def test_endless_wado_uri_reply_stops_at_max_instance_size(small_disk, mount, proxy, source,
                                                          data, tmp_path):
    """Every WADO-URI GET of a series answers a body that never ends. Each transfer, the
    opener's own and those of the series' members made together, stops at
    max_instance_size=10M: the file fails with EFBIG, no GET goes on, and no more than the
    bound (plus what sockets buffer) is sent for any one GET. $TMPDIR is a small tmpfs, so
    that a transfer that does not stop cannot fill a real disk."""
    tmp = small_disk("256m")
    env = dict(os.environ, TMPDIR=tmp)
    m = mount(source, env=env,
              options="downloader=wado-uri,wado_uri=%s/wado,max_instance_size=10M,"
                      "connections=4" % proxy.url,
              expect_errors=[r"larger than max_instance_size=10485760",
                             r"Failure writing output to destination"])
    entries = [x for x in data["manifest"] if x["SeriesDescription"] == "T1"]
    e = entries[0]
    folder = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"])
    names = sorted(os.listdir(folder))
    assert len([n for n in names if n.endswith(".dcm")]) == len(entries)
    proxy.fault(WADO_GET, endless=True)
    start = time.monotonic()
    for name in [n for n in names if n.endswith(".dcm")][:3]:
        with pytest.raises(OSError) as exc:
            with open(os.path.join(folder, name), "rb") as f:
                f.read()
        assert exc.value.errno == 27, exc.value  # EFBIG: File too large
    # The series' members' GETs (the stream an open starts) stop at the bound too.
    wait_for(lambda: all(r["end"] is not None for r in proxy.log()
                         if r["path"].startswith("/wado?")), 60,
             "every endless GET cut by the client")
    gets = [r for r in proxy.log() if r["path"].startswith("/wado?")]
    assert len(gets) > 3, "no series transfer was made"
    over = [r["sent"] for r in gets if r.get("sent", 0) > (10 << 20) + (24 << 20)]
    assert not over, "GETs went on past max_instance_size: %s bytes" % over
    assert time.monotonic() - start < 60





def _fill(path, leave):
    """Fill the filesystem of @path with a file of its own until @leave bytes are free."""
    st = os.statvfs(path)
    with open(os.path.join(path, "filler"), "wb") as f:
        try:
            f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
        except OSError:
            pass  # full: what is wanted


def test_disk_filled_by_another_program_still_exports_whole(small_disk, mount, big, tmp_path):
    """min_free=0 (no floor) on a 48 MiB cache_dir that another program fills up to its last
    2 MiB once the cache has filled it (LMDB's file cannot grow, temporary files find no
    room there), and a $TMPDIR that is full too: downloads are held in memory, the cache
    keeps what the disk holds, and a series of 105 MB copies whole, twice."""
    disk = small_disk("48m")
    tmp = small_disk("1m")
    _fill(tmp, 0)
    env = dict(os.environ, TMPDIR=tmp)
    m = mount(big["source"], cache_dir=os.path.join(disk, "cache"), options="min_free=0",
              env=env)
    entries = [e for e in big["entries"] if e["SeriesInstanceUID"] ==
               big["entries"][0]["SeriesInstanceUID"]]
    e = entries[0]
    series = m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"])
    for n in range(2):
        out = tmp_path / ("copy%d" % n)
        _cp(series, str(out))
        _check_copy(str(out), entries)
        shutil.rmtree(out)
        if n == 0:
            _fill(disk, 2 << 20)
    status = _status(m)
    assert status["min_free"] == "0", status
    assert status["floor_in_force"] == "yes", status  # the full disk limits the cache
    assert int(status["downloads_outside_cache_dir"]) > 0, status
    assert 0 < int(status["cache_bytes"]) < 48 << 20, status
