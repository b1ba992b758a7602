"""Whole files always: an instance bigger than cache_size is served from its temporary file, and
from open() on every reader (cp, cat, shutil, dd, rsync) sees its exact size and gets every byte,
whatever the downloader. Over C-GET (C-FIND answers no Rows/Columns) and MINT the size before the
open is a 4,096-byte guess; over QIDO-RS it is Rows x Columns, here far below the real size."""
import hashlib
import os
import shutil
import subprocess

import numpy as np
import pytest
from pydicom.dataset import Dataset

import dataset
from mint_server import MintServer
from rad69_server import Rad69Server
from servers import Orthanc, free_port
from test_dimse import split_part10, without_trailing_padding

BIG_BYTES = 2_600_000  # cache_size=1M, the smallest there is: this one is never kept


def _write(out_dir, rng, study_uid, series_uid, number, extra):
    patient = ("Big^Files", "PIDBIG", "ISO_IR 100", [])
    study = ("20230405", "101010", "WHOLE FILES", "ACCBIG", [])
    series = ("1", "CT", "Big", 3)
    sop_uid = dataset.uid("big", "sop", number)
    ds = Dataset()
    ds.file_meta = dataset._meta(dataset.CT_IMAGE, sop_uid)
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.preamble = b"\0" * 128
    ds.SOPClassUID = dataset.CT_IMAGE
    ds.SOPInstanceUID = sop_uid
    dataset._common(ds, patient, study, series, study_uid, series_uid)
    ds.InstanceNumber = str(number)
    ds.Rows = ds.Columns = 32
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if extra:
        # Most of the bytes in a private element: the size no estimate from the image sees.
        block = ds.private_block(0x0011, "TROLLEY TEST", create=True)
        block.add_new(0x10, "OB", rng.integers(0, 256, extra, dtype=np.uint8).tobytes())
    ds.PixelData = rng.integers(0, 4096, size=(32, 32), dtype=np.uint16).tobytes()
    path = os.path.join(out_dir, sop_uid + ".dcm")
    ds.save_as(path, write_like_original=False)
    return dataset._entry(path, ds, patient, study, series)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """An Orthanc of its own with one series: a 2.6 MB instance and two small ones, plus the
    MINT and RAD-69 test servers over the same files."""
    work = tmp_path_factory.mktemp("big")
    out = work / "data"
    out.mkdir()
    rng = np.random.default_rng(99)
    study_uid, series_uid = dataset.uid("big", "study"), dataset.uid("big", "series")
    manifest = [_write(str(out), rng, study_uid, series_uid, i + 1, BIG_BYTES if i == 0 else 0)
                for i in range(3)]
    (work / "orthanc").mkdir()
    server = Orthanc(str(work / "orthanc"))
    mint = rad69 = None
    try:
        server.upload([e["path"] for e in manifest])
        mint, rad69 = MintServer(manifest), Rad69Server(manifest)
        yield {"orthanc": server, "mint": mint, "rad69": rad69, "manifest": manifest,
               "big": manifest[0]}
    finally:
        for s in (mint, rad69, server):
            if s:
                s.stop()


def _big_path(m, e):
    return m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                  e["SOPInstanceUID"] + ".dcm")


def _readers(src, out_dir):
    """Copy @src with each reader; {reader: copied file}."""
    out = {}
    for name, argv in (("cp", ["cp", src, "{}"]),
                       ("dd", ["dd", "if=" + src, "of={}", "bs=64k", "status=none"]),
                       ("rsync", ["rsync", src, "{}"])):
        dst = os.path.join(out_dir, name)
        subprocess.run([a.replace("{}", dst) for a in argv], check=True)
        out[name] = dst
    dst = os.path.join(out_dir, "cat")
    with open(dst, "wb") as f:
        subprocess.run(["cat", src], stdout=f, check=True)
    out["cat"] = dst
    dst = os.path.join(out_dir, "shutil")
    shutil.copyfile(src, dst)
    out["shutil"] = dst
    return out


def _check_whole(m, e, tmp_path, same):
    """The size before the open is a guess; from the open on it is exact (fstat, then stat and
    st_blocks), and every reader gets the whole file, which @same compares to the original."""
    path = _big_path(m, e)
    assert os.stat(path).st_size < 1 << 20  # an estimate: nothing was downloaded yet
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        size = st.st_size
        body = f.read()
    got = len(body)  # (not the bytes in the message)
    assert size == got > BIG_BYTES
    assert st.st_blocks * 512 >= size  # GNU cp takes fewer blocks for a sparse file
    assert os.stat(path).st_size == size
    same(body)
    for reader, copy in _readers(path, str(tmp_path)).items():
        with open(copy, "rb") as f:
            got = f.read()
        assert len(got) == size, (reader, len(got), size)
        same(got)
    assert "instance %s (%d bytes) not kept in the cache" % (e["SOPInstanceUID"], size) in m.text()


def _byte_equal(e):
    def same(body):
        assert hashlib.md5(body).hexdigest() == e["md5"]
    return same


def _dataset_equal(e):
    """DIMSE carries no meta header: the data set must be the original's, byte for byte."""
    with open(e["path"], "rb") as f:
        want = split_part10(f.read())

    def same(body):
        got = split_part10(body)
        assert got[0] == want[0] and got[1] == e["SOPInstanceUID"]
        assert got[2] == without_trailing_padding(want[2])
    return same


def test_wado_rs_instance_bigger_than_the_cache_is_read_whole(mount, big, tmp_path):
    m = mount(big["orthanc"].dicomweb, options="cache_size=1M")
    _check_whole(m, big["big"], tmp_path, _byte_equal(big["big"]))


def test_wado_uri_instance_bigger_than_the_cache_is_read_whole(mount, big, tmp_path):
    o = big["orthanc"]
    m = mount(o.dicomweb, options="cache_size=1M,downloader=wado-uri,wado_uri=%s/wado" % o.url)
    _check_whole(m, big["big"], tmp_path, _byte_equal(big["big"]))


def test_c_get_instance_bigger_than_the_cache_is_read_whole(mount, big, tmp_path):
    o = big["orthanc"]
    m = mount("dicom://ORTHANC@127.0.0.1:%d" % o.dicom_port, options="cache_size=1M")
    _check_whole(m, big["big"], tmp_path, _dataset_equal(big["big"]))


def test_c_move_instance_bigger_than_the_cache_is_read_whole(mount, big, tmp_path):
    o = big["orthanc"]
    port = free_port()
    o.set_move_port(port)
    m = mount("dicom://ORTHANC@127.0.0.1:%d" % o.dicom_port,
              options="cache_size=1M,downloader=c-move,move_port=%d" % port)
    _check_whole(m, big["big"], tmp_path, _dataset_equal(big["big"]))


def test_rad69_instance_bigger_than_the_cache_is_read_whole(mount, big, tmp_path):
    m = mount("mint+" + big["mint"].url, options="cache_size=1M,rad69=" + big["rad69"].url)
    _check_whole(m, big["big"], tmp_path, _byte_equal(big["big"]))


def test_mint_with_wado_uri_instance_bigger_than_the_cache_is_read_whole(mount, big, tmp_path):
    o = big["orthanc"]
    m = mount("mint+" + big["mint"].url, options="cache_size=1M,wado_uri=%s/wado" % o.url)
    _check_whole(m, big["big"], tmp_path, _byte_equal(big["big"]))
