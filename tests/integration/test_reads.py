"""The read path: every read of an instance, whatever its offset and size, gets the archive's
bytes, whether the instance is in the store (answered from the LMDB map) or served from its
temporary file (bigger than the cache: answered by splice() from that file), also while other
instances are evicted and their pages reused. O_DIRECT reads reach the daemon with the reader's own offset and size
(buffered reads arrive page-aligned, through the kernel's read-ahead)."""
import mmap
import os
import subprocess
import threading

import numpy as np
import pytest

from servers import Orthanc
from test_whole_files import _write

# Instances of a few sizes: one of a few kilobytes (below two pages libfuse never splices),
# others spanning many pages of the map, one bigger than cache_size=1M (served from its file).
EXTRA = [0, 300_000, 1_300_000, 2_600_000, 700_000]


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    work = tmp_path_factory.mktemp("reads")
    out = work / "data"
    out.mkdir()
    rng = np.random.default_rng(5)
    import dataset
    study_uid, series_uid = dataset.uid("reads", "study"), dataset.uid("reads", "series")
    manifest = [_write(str(out), rng, study_uid, series_uid, i + 1, extra)
                for i, extra in enumerate(EXTRA)]
    (work / "orthanc").mkdir()
    server = Orthanc(str(work / "orthanc"))
    try:
        server.upload([e["path"] for e in manifest])
        for e in manifest:
            with open(e["path"], "rb") as f:
                e["bytes"] = f.read()
        yield {"orthanc": server, "manifest": manifest}
    finally:
        server.stop()


def _path(m, e):
    return m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                  e["SOPInstanceUID"] + ".dcm")


def _patterns(size):
    """(offset, length) pairs: odd offsets and lengths, page edges, the last byte, reads that
    cross the end and reads past it."""
    out = [(0, 1), (0, 132), (1, 4095), (127, 4097), (4095, 2), (4096, 8192), (8191, 8193),
           (12345, 65537), (0, 1 << 20), (333, 300_001), (size - 1, 1), (size - 1, 4096),
           (size - 2, 3), (size - 8193, 70_000), (size, 10), (size + 4096, 8192)]
    return [(off, n) for off, n in out if off >= 0]


def _check_patterns(path, want):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        for off, n in _patterns(len(want)):
            got = os.pread(fd, n, off)
            assert got == want[off:off + n], (path, off, n, len(got))
    finally:
        os.close(fd)
    with open(path, "rb") as f:
        for off, n in _patterns(len(want)):
            f.seek(off)
            assert f.read(n) == want[off:off + n], (path, "buffered", off, n)
        with mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mm:
            assert len(mm) == len(want)
            assert mm[len(want) - 1] == want[-1]
            assert mm[4093:70_001] == want[4093:70_001]
            assert mm[:] == want


def _check_dd(path, want, tmp_path):
    for bs, skip in ((3333, 7), (65536, 1), (1 << 20, 0), (4097, 100)):
        out = tmp_path / ("dd-%d-%d" % (bs, skip))
        subprocess.run(["dd", "if=" + path, "of=%s" % out, "bs=%d" % bs, "skip=%d" % skip,
                        "iflag=direct", "status=none"], check=True)
        assert out.read_bytes() == want[bs * skip:], (path, bs, skip)


def test_every_read_of_a_stored_instance_gets_the_archive_bytes(mount, series, tmp_path):
    m = mount(series["orthanc"].dicomweb)
    for e in series["manifest"]:
        _check_patterns(_path(m, e), e["bytes"])
        _check_dd(_path(m, e), e["bytes"], tmp_path)
    assert "not kept in the cache" not in m.text()


def test_every_read_of_an_instance_bigger_than_the_cache_gets_the_archive_bytes(mount, series,
                                                                              tmp_path):
    m = mount(series["orthanc"].dicomweb, options="cache_size=1M")
    e = series["manifest"][3]
    _check_patterns(_path(m, e), e["bytes"])
    _check_dd(_path(m, e), e["bytes"], tmp_path)
    assert "instance %s (%d bytes) not kept in the cache" % (
        e["SOPInstanceUID"], len(e["bytes"])) in m.text()


def test_reads_of_an_instance_bigger_than_the_cache_are_spliced_from_its_file(mount, series):
    """libfuse's debug log marks a spliced reply: a temporary file's pages go to the kernel
    without a buffer of ours."""
    m = mount(series["orthanc"].dicomweb, options="cache_size=1M,debug")
    e = series["manifest"][3]
    with open(_path(m, e), "rb") as f:
        assert f.read() == e["bytes"]
    text = m.text()
    assert "instance %s (%d bytes) not kept in the cache" % (
        e["SOPInstanceUID"], len(e["bytes"])) in text
    assert text.count("(splice)") >= len(e["bytes"]) // (256 << 10), "no spliced reply"


def test_reads_while_other_instances_are_evicted_get_only_their_own_bytes(mount, series):
    """cache_size=2M holds two or three of these: reading the others round and round evicts
    and stores again, and LMDB reuses the freed pages, while one open instance is read by
    O_DIRECT at every pattern; its replies must never carry another instance's bytes."""
    m = mount(series["orthanc"].dicomweb, options="cache_size=2M,prefetch=none")
    keep, others = series["manifest"][2], [series["manifest"][i] for i in (1, 4, 0)]
    stop, failures = threading.Event(), []

    def churn():
        try:
            while not stop.is_set():
                for e in others:
                    with open(_path(m, e), "rb") as f:
                        if f.read() != e["bytes"]:
                            failures.append(e["SOPInstanceUID"])
        except OSError as err:
            failures.append(repr(err))

    fd = os.open(_path(m, keep), os.O_RDONLY | os.O_DIRECT)
    t = threading.Thread(target=churn)
    t.start()
    try:
        for _ in range(15):
            for off, n in _patterns(len(keep["bytes"])):
                assert os.pread(fd, n, off) == keep["bytes"][off:off + n], (off, n)
    finally:
        stop.set()
        t.join()
        os.close(fd)
    assert not failures, failures
    assert "evicted" in m.text()


def _file_getattrs(text, inos):
    return [l for l in text.splitlines()
            if "opcode: GETATTR" in l and int(l.split("nodeid: ")[1].split(",")[0]) in inos]


def test_a_cached_instance_opens_without_telling_the_kernel_its_size_again(mount, series,
                                                                        tmp_path):
    """An instance listed with an estimated size has its attributes invalidated at its first
    open (the size becomes exact: libfuse logs the notification), which costs a GETATTR on the
    reader's fstat(). A cached one was listed with its exact size: no notification, no
    GETATTR, on a new mount of a filled cache."""
    cache = str(tmp_path / "cache")
    folder = ("studies", series["manifest"][0]["StudyInstanceUID"],
              series["manifest"][0]["SeriesInstanceUID"])
    for name, cold in (("cold", True), ("warm", False)):
        m = mount(series["orthanc"].dicomweb, options="debug", cache_dir=cache, name=name)
        names = sorted(n for n in os.listdir(m.path(*folder)) if n.endswith(".dcm"))
        assert len(names) == len(EXTRA)
        inos = {os.stat(m.path(*folder, n)).st_ino for n in names}
        for n in names:
            with open(m.path(*folder, n), "rb") as f:
                os.fstat(f.fileno())
                f.read()
        text = m.text()
        notes = text.count("NOTIFY: code=2 ")  # FUSE_NOTIFY_INVAL_INODE
        if cold:
            assert notes == len(names), notes
            assert m.unmount() == 0
        else:
            assert notes == 0, notes
            assert _file_getattrs(text, inos) == []
