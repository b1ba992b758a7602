"""Exporting: every way of reading a file gives the bytes the archive stores."""
import errno
import hashlib
import mmap
import os
import shutil
import subprocess

import pydicom
import pytest

import naming

WADO_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def test_cp_r_of_study_is_byte_identical(mount, source, data, tmp_path):
    m = mount(source)
    study = m.path("patients", "Doe^John [PID001]", "2020-03-01 CT HEAD [ACC1]")
    out = tmp_path / "export"
    subprocess.run(["cp", "-r", study, str(out)], check=True)
    tree = naming.patients_tree(data["manifest"])
    want = {rel.split("/", 2)[2]: sop for sop, rel in tree.items()
            if rel.startswith("Doe^John [PID001]/2020-03-01 CT HEAD [ACC1]/")}
    got = {os.path.relpath(os.path.join(r, f), out) for r, _, fs in os.walk(out) for f in fs}
    assert got - set(want) == {"metadata.json", "1 CT Axial/metadata.json",
                               "2 CT Coronal/metadata.json"}
    assert len(want) == 100 and set(want) <= got
    for rel, sop in want.items():
        assert md5(out / rel) == data["by_sop"][sop]["md5"], rel


def test_compressed_instances_are_byte_identical(mount, source, data, proxy, tmp_path):
    m = mount(source, options="prefetch=none")
    compressed = [e for e in data["manifest"] if e.get("compression")]
    assert {e["compression"] for e in compressed} == {"RLE", "JPEG baseline", "JPEG 2000"}
    series = os.path.join(m.path("patients", "Παπαδόπουλος^Νίκος [PID004]",
                                 "2021-06-30 CT ABDOMEN [ACC5]", "7 OT Compressed"))
    out = tmp_path / "c"
    shutil.copytree(series, out)
    assert sorted(os.listdir(out)) == ["1.dcm", "2.dcm", "3.dcm", "metadata.json"]
    for e in compressed:
        got = out / (e["InstanceNumber"] + ".dcm")
        assert md5(got) == e["md5"], e["compression"]
        assert pydicom.dcmread(got).file_meta.TransferSyntaxUID == e["TransferSyntaxUID"]
    gets = [r for r in proxy.requests if "/instances/" in r["path"]]
    assert len(gets) == 3
    assert all(r["accept"] == WADO_ACCEPT for r in gets)


def _a_file(m, data, n="5"):
    e = next(e for e in data["manifest"] if e["InstanceNumber"] == n and e["Modality"] == "MR")
    return e, m.path("patients", naming.patients_tree(data["manifest"])[e["SOPInstanceUID"]])


def test_cat_dd_rsync_read_whole_file(mount, source, data, tmp_path):
    m = mount(source)
    e, path = _a_file(m, data)
    cat = subprocess.run(["cat", path], check=True, capture_output=True).stdout
    assert hashlib.md5(cat).hexdigest() == e["md5"]
    subprocess.run(["dd", "if=" + path, "of=" + str(tmp_path / "dd"), "bs=777",
                    "status=none"], check=True)
    assert md5(tmp_path / "dd") == e["md5"]
    e2, path2 = _a_file(m, data, "6")  # rsync on a file never opened before
    subprocess.run(["rsync", path2, str(tmp_path / "rs")], check=True)
    assert md5(tmp_path / "rs") == e2["md5"]


def test_pydicom_dcmread_and_dcmdump_read_file(mount, source, data):
    m = mount(source)
    e, path = _a_file(m, data, "7")
    ds = pydicom.dcmread(path)
    assert ds.SOPInstanceUID == e["SOPInstanceUID"]
    assert ds.pixel_array.shape == (ds.Rows, ds.Columns)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mm:
        assert hashlib.md5(mm[:]).hexdigest() == e["md5"]
    dump = subprocess.run(["dcmdump", path], check=True, capture_output=True, text=True)
    assert e["SOPInstanceUID"] in dump.stdout
    assert "(7fe0,0010)" in dump.stdout


def test_transfer_syntax_option_is_asked_for(mount, source, data, proxy):
    explicit = "1.2.840.10008.1.2.1"
    m = mount(source, options="transfer_syntax=" + explicit)
    e, path = _a_file(m, data, "8")
    with open(path, "rb") as f:
        assert hashlib.md5(f.read()).hexdigest() == e["md5"]  # stored as explicit LE already
    gets = [r for r in proxy.requests if "/instances/" in r["path"]]
    assert gets and all(r["accept"].endswith("transfer-syntax=" + explicit) for r in gets)


def test_wado_uri_downloader_exports_byte_identical_files(mount, source, proxy, data, tmp_path):
    wado = proxy.url + "/wado"
    m = mount(source, options="downloader=wado-uri,wado_uri=" + wado)
    study = m.path("patients", "Doe^John [PID001]", "2020-03-02 MR BRAIN")
    out = tmp_path / "uri"
    subprocess.run(["cp", "-r", study, str(out)], check=True)
    tree = naming.patients_tree(data["manifest"])
    want = {rel.split("/", 2)[2]: sop for sop, rel in tree.items()
            if rel.startswith("Doe^John [PID001]/2020-03-02 MR BRAIN/")}
    for rel, sop in want.items():
        assert md5(out / rel) == data["by_sop"][sop]["md5"], rel
    gets = proxy.paths(r"^/wado\?")
    assert all("requestType=WADO" in p and "contentType=application/dicom" in p for p in gets)
    # One request per instance, the prefetch and the readers never both.
    assert sorted(p.split("objectUID=")[1].split("&")[0] for p in gets) == sorted(want.values())
    assert proxy.count(r"/instances/|/series/[0-9.]+$") == 0
    assert "metadata.json" not in os.listdir(study)  # WADO-URI has no metadata service


def test_wado_uri_html_reply_is_eio(mount, source, proxy, data):
    m = mount(source, options="downloader=wado-uri,wado_uri=%s/wado,prefetch=none" % proxy.url,
              expect_errors=True)
    e, path = _a_file(m, data, "9")
    proxy.fault(r"^/wado\?", body=b"<html>error</html>", type="text/html")
    with pytest.raises(OSError) as exc:
        open(path, "rb").read()
    assert exc.value.errno == errno.EIO
    assert 'content type "text/html"' in m.text()
    proxy.clear_faults()
    with open(path, "rb") as f:
        assert hashlib.md5(f.read()).hexdigest() == e["md5"]


def test_cp_r_of_the_whole_archive_is_byte_identical(mount, source, data, tmp_path):
    """Every instance the archive holds, through one cp -r of /patients: the generated files,
    the real-world objects (one without a meta header, one whose meta header names another
    instance, damaged meta groups) and the patients with hostile names. Each file is what the
    manifest says trolley must serve, and none is missing or extra."""
    m = mount(source)
    out = tmp_path / "all"
    subprocess.run(["cp", "-r", m.path("patients"), str(out)], check=True)
    tree = naming.patients_tree(data["manifest"])
    got = {os.path.relpath(os.path.join(r, f), out) for r, _, fs in os.walk(out) for f in fs}
    assert {g for g in got if not g.endswith("/metadata.json")} == set(tree.values())
    assert any(e.get("bare") for e in data["manifest"])
    assert any(e.get("meta_sop") and e["meta_sop"] != e["SOPInstanceUID"]
               for e in data["manifest"])
    for sop, rel in tree.items():
        assert md5(out / rel) == data["by_sop"][sop]["md5"], rel
