"""RAD-69 downloads (test server in the captured format) with MINT search: the Vitrea pair."""
import errno
import hashlib
import os
import subprocess

import pytest

import naming
from mint_server import MintServer
from rad69_server import Rad69Server


@pytest.fixture(scope="module")
def vitrea(data):
    mint, rad69 = MintServer(data["manifest"]), Rad69Server(data["manifest"])
    yield mint, rad69
    mint.stop()
    rad69.stop()


def _mount(mount, vitrea, options="", expect_errors=False):
    mint, rad69 = vitrea
    rad69.missing.clear()
    rad69.requests.clear()
    rad69.error_code = None
    rad69.error_context = "Internal failure."
    opts = "rad69=" + rad69.url + ("," + options if options else "")
    return mount("mint+" + mint.url, options=opts, expect_errors=expect_errors)


def _study(m):
    return m.path("patients", "Doe^John [PID001]", "2020-03-01 CT HEAD [ACC1]")


def test_rad69_exports_byte_identical_with_one_post_per_series(mount, vitrea, data, tmp_path):
    m = _mount(mount, vitrea)
    out = tmp_path / "x"
    subprocess.run(["cp", "-r", _study(m), str(out)], check=True)
    tree = naming.patients_tree(data["manifest"])
    want = {rel.split("/", 2)[2]: sop for sop, rel in tree.items()
            if rel.startswith("Doe^John [PID001]/2020-03-01 CT HEAD [ACC1]/")}
    for rel, sop in want.items():
        with open(out / rel, "rb") as f:
            assert hashlib.md5(f.read()).hexdigest() == data["by_sop"][sop]["md5"], rel
    posts = vitrea[1].requests
    # Per series one POST, and the first file opened alone before it unless it joined the
    # series' POST (cache/open.c) or the series was read ahead (cache/ahead.c): every
    # document asked for once.
    assert 2 <= len(posts) <= 4
    assert sorted(d for p in posts for d in p) == sorted(want.values())
    assert sum(1 for p in posts if len(p) > 1) == 2


def test_missing_document_fails_alone_and_the_series_is_served(mount, vitrea, data):
    m = _mount(mount, vitrea, expect_errors=True)
    series = os.path.join(_study(m), "2 CT Coronal")
    names = sorted(n for n in os.listdir(series) if n.endswith(".dcm"))
    gone = os.getxattr(os.path.join(series, names[3]), "user.dicom.SOPInstanceUID").decode()
    vitrea[1].missing.add(gone)
    for name in names:
        path = os.path.join(series, name)
        sop = os.getxattr(path, "user.dicom.SOPInstanceUID").decode()
        if sop == gone:
            with pytest.raises(OSError) as exc:
                open(path, "rb").read()
            assert exc.value.errno == errno.ENOENT
        else:
            with open(path, "rb") as f:
                assert hashlib.md5(f.read()).hexdigest() == data["by_sop"][sop]["md5"]
    assert "document %s is missing (XDSMissingDocument)" % gone in m.text()


def test_rad69_ignore_keeps_missing_documents_out_of_the_error_log(mount, vitrea):
    m = _mount(mount, vitrea, options="rad69_ignore=XDSMissingDocument,prefetch=none")
    series = os.path.join(_study(m), "1 CT Axial")
    path = os.path.join(series, "5.dcm")
    vitrea[1].missing.add(os.getxattr(path, "user.dicom.SOPInstanceUID").decode())
    with pytest.raises(OSError) as exc:
        open(path, "rb").read()
    assert exc.value.errno == errno.ENOENT
    assert len(os.listdir(series)) == 60  # still listable; no error line (checked on teardown)


def test_other_registry_errors_are_eio_with_the_code(mount, vitrea):
    m = _mount(mount, vitrea, options="prefetch=none", expect_errors=True)
    path = os.path.join(_study(m), "1 CT Axial", "7.dcm")
    os.stat(path)
    vitrea[1].error_code = "UnknownError"
    with pytest.raises(OSError) as exc:
        open(path, "rb").read()
    assert exc.value.errno == errno.EIO
    assert "RAD-69 RegistryError UnknownError" in m.text()
    vitrea[1].error_code = None
    with open(path, "rb") as f:
        assert f.read(132)[128:] == b"DICM"  # nothing wrong was cached
