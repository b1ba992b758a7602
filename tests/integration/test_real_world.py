"""Real-world objects as the archive keeps them (pydicom's sample files, dataset.REAL_WORLD, and
files with damaged meta groups, dataset.DAMAGED): a bare data set, or one behind a damaged meta
group, is served behind a meta header trolley writes, its bytes untouched; a file whose meta
group names another instance than its data set is served byte for byte; every downloader
exports each of them whole, and each is cached like any other."""
import hashlib
import json
import os
import struct
import subprocess
import urllib.request
import warnings

import pydicom
import pytest

import dataset
import naming


def real_world(data):
    entries = [e for e in data["manifest"] if e.get("real_world")]
    assert len(entries) == len(dataset.REAL_WORLD)
    return entries


def damaged(data):
    entries = [e for e in data["manifest"] if e.get("damaged")]
    assert len(entries) == len(dataset.DAMAGED)
    return entries


def the(data, label):
    return next(e for e in real_world(data) if e["real_world"] == label)


def stored(orthanc, sop):
    """The bytes Orthanc stores for the instance @sop (its own REST API)."""
    req = urllib.request.Request(orthanc.url + "/tools/lookup", data=sop.encode(),
                                 method="POST")
    found = [r for r in json.load(urllib.request.urlopen(req, timeout=10))
             if r["Type"] == "Instance"]
    assert len(found) == 1, found
    return orthanc.stored_file(found[0]["ID"])


def meta_group(blob):
    """{element: value} of a Part-10 header, read from its group length, and its end."""
    assert blob[:128] == b"\0" * 128 and blob[128:132] == b"DICM"
    assert blob[132:140] == b"\x02\x00\x00\x00UL\x04\x00"
    end = 144 + struct.unpack("<I", blob[140:144])[0]
    meta, pos = {}, 144
    while pos < end:
        group, elem = struct.unpack("<HH", blob[pos:pos + 4])
        assert group == 2
        vr = blob[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT"):
            length = struct.unpack("<I", blob[pos + 8:pos + 12])[0]
            pos += 12
        else:
            length = struct.unpack("<H", blob[pos + 6:pos + 8])[0]
            pos += 8
        assert length % 2 == 0
        meta[elem] = blob[pos:pos + length]
        pos += length
    assert pos == end
    return meta, end


def path_of(m, data, e):
    return m.path("patients", naming.patients_tree(data["manifest"])[e["SOPInstanceUID"]])


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_the_archive_keeps_them_as_uploaded(orthanc, data):
    for e in real_world(data):
        assert stored(orthanc, e["SOPInstanceUID"]) == read(e["path"]), e["real_world"]
    bare = the(data, "bare data set")
    assert read(bare["path"])[128:132] != b"DICM"  # Orthanc adds no meta header of its own
    other = the(data, "meta names another instance")
    assert other["meta_sop"] and other["meta_sop"] != other["SOPInstanceUID"]


def test_bare_data_set_is_served_as_part10_with_its_bytes_untouched(mount, source, orthanc,
                                                                    data, proxy):
    e = the(data, "bare data set")
    kept = stored(orthanc, e["SOPInstanceUID"])
    m = mount(source, options="prefetch=none")
    path = path_of(m, data, e)
    with open(path, "rb") as f:
        blob = f.read()
        assert os.fstat(f.fileno()).st_size == len(blob)  # the final size, from the open on
    meta, end = meta_group(blob)
    assert blob[end:] == kept  # the data set exactly as the archive stores it
    assert meta[0x0001] == b"\0\1"
    assert meta[0x0002].rstrip(b"\0").decode() == "1.2.840.10008.5.1.4.1.1.481.3"
    assert meta[0x0003].rstrip(b"\0").decode() == e["SOPInstanceUID"]
    assert meta[0x0010].rstrip(b"\0").decode() == "1.2.840.10008.1.2"  # implicit VR LE
    assert meta[0x0012].rstrip(b"\0").decode() == dataset.TROLLEY_IMPL_CLASS_UID
    assert hashlib.md5(blob).hexdigest() == e["md5"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a sound file: pydicom has nothing to warn about
        ds = pydicom.dcmread(path)
    assert ds.SOPInstanceUID == e["SOPInstanceUID"]
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"
    assert ds.Modality == "RTSTRUCT" and len(ds.StructureSetROISequence) > 0
    dump = subprocess.run(["dcmdump", "-E", path], capture_output=True, text=True)
    assert dump.returncode == 0, dump.stderr
    assert "(0002,0010) UI =LittleEndianImplicit" in dump.stdout
    assert e["SOPInstanceUID"] in dump.stdout and "E:" not in dump.stderr
    assert "no file meta header" in m.text()
    # Cached like any other: opened again, nothing is asked of the archive.
    gets = proxy.count(r"/instances/")
    assert gets == 1
    assert read(path) == blob
    assert proxy.count(r"/instances/") == gets


def test_meta_naming_another_instance_is_served_byte_identical(mount, source, orthanc, data,
                                                              proxy):
    e = the(data, "meta names another instance")
    kept = stored(orthanc, e["SOPInstanceUID"])
    m = mount(source, options="prefetch=none")
    path = path_of(m, data, e)
    blob = read(path)
    assert blob == kept
    assert hashlib.md5(blob).hexdigest() == e["md5"]
    meta, _ = meta_group(blob)
    assert meta[0x0003].rstrip(b"\0").decode() == e["meta_sop"]
    assert pydicom.dcmread(path).SOPInstanceUID == e["SOPInstanceUID"]
    assert read(path) == blob
    assert proxy.count(r"/instances/") == 1


# What trolley logs for each of dataset.DAMAGED (core/part10.c).
WHY = {"no group length": "no group length (0002,0000)",
       "a wrong group length": "a wrong group length (0002,0000)",
       "an odd-length value": "a meta element of odd length"}


def test_damaged_meta_groups_are_served_with_a_sound_one(mount, source, orthanc, data, proxy):
    m = mount(source, options="prefetch=none")
    for e in damaged(data):
        kept = stored(orthanc, e["SOPInstanceUID"])
        assert kept == read(e["path"]), e["damaged"]  # the archive keeps it damaged
        path = path_of(m, data, e)
        blob = read(path)
        meta, end = meta_group(blob)  # a sound group: its length, even values
        assert blob[end:] == kept[e["data_set_offset"]:], e["damaged"]
        assert meta[0x0003].rstrip(b"\0").decode() == e["SOPInstanceUID"]
        assert meta[0x0010].rstrip(b"\0").decode() == "1.2.840.10008.1.2.1"
        assert meta[0x0012].rstrip(b"\0").decode() == dataset.TROLLEY_IMPL_CLASS_UID
        assert hashlib.md5(blob).hexdigest() == e["md5"], e["damaged"]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert pydicom.dcmread(path).SOPInstanceUID == e["SOPInstanceUID"]
        dump = subprocess.run(["dcmdump", "-E", path], capture_output=True, text=True)
        assert dump.returncode == 0 and "W:" not in dump.stderr, dump.stderr
        assert "came with %s" % WHY[e["damaged"]] in m.text()
    assert proxy.count(r"/instances/") == len(dataset.DAMAGED)


def _c_get_same_as_stored(got_path, e):
    """Over DIMSE the data set comes as the archive sends it (dcmtk may write sequence lengths
    otherwise, and drops a (FFFC,FFFC) Data Set Trailing Padding, which has no meaning: PS3.5
    §7.1.4) behind trolley's own meta header: the same elements, the instance's UID."""
    got = pydicom.dcmread(got_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = pydicom.dcmread(e["path"], force=True)
    assert got.file_meta.MediaStorageSOPInstanceUID == e["SOPInstanceUID"]
    assert got.SOPInstanceUID == e["SOPInstanceUID"]
    padding = 0xFFFCFFFC
    assert [x for x in got.iterall() if x.tag != padding] == \
        [x for x in want.iterall() if x.tag != padding]


@pytest.mark.parametrize("downloader", ["wado-rs", "wado-uri", "c-get"])
def test_every_downloader_exports_every_real_world_object(mount, source, orthanc, proxy, data,
                                                         downloader, tmp_path):
    options = {"wado-rs": "",
               "wado-uri": "downloader=wado-uri,wado_uri=%s/wado" % proxy.url,
               "c-get": "downloader=c-get,dicom=ORTHANC@127.0.0.1:%d" % orthanc.dicom_port}
    m = mount(source, options=options[downloader])
    tree = naming.patients_tree(data["manifest"])
    for e in real_world(data) + damaged(data):
        patient = tree[e["SOPInstanceUID"]].split("/", 1)[0]
        out = tmp_path / e["SOPInstanceUID"]
        subprocess.run(["cp", "-r", m.path("patients", patient), str(out)], check=True)
        got = os.path.join(out, tree[e["SOPInstanceUID"]].split("/", 1)[1])
        if downloader == "c-get" and e.get("damaged") == "a wrong group length":
            # Orthanc parses its stored file with dcmtk, which trusts the group length: it
            # reads the data set from the wrong byte and sends what it parsed over DIMSE, not
            # the stored elements (seen: (0008,0005) and the pixel data missing). WADO-RS
            # sends the stored bytes, which trolley repairs (the other two rows).
            continue
        if downloader == "c-get":
            _c_get_same_as_stored(got, e)
        else:
            assert hashlib.md5(read(got)).hexdigest() == e["md5"], e["path"]
    status = open(m.path(".trolley", "status")).read()
    assert "transfer_errors: 0\n" in status, status


@pytest.fixture(scope="module")
def dcmqrscp_real_world(session_dir, data):
    """dcmtk's dcmqrscp, a second archive, loaded with the real-world objects alone (storescu
    sends the bare one as the data set it is)."""
    from servers import Dcmqrscp
    d = os.path.join(session_dir, "dcmqrscp-real-world")
    os.makedirs(d)
    s = Dcmqrscp(d, [e["path"] for e in real_world(data)])
    yield s
    s.stop()


def test_c_get_from_dcmqrscp_exports_every_real_world_object(mount, dcmqrscp_real_world, data,
                                                            tmp_path):
    m = mount("dicom://STORE@127.0.0.1:%d" % dcmqrscp_real_world.port)
    entries = real_world(data)
    tree = naming.patients_tree(entries)
    assert sorted(os.listdir(m.path("patients"))) == sorted(
        {naming.patient_name(e) for e in entries})
    out = tmp_path / "copy"
    subprocess.run(["cp", "-r", m.path("patients"), str(out)], check=True)
    for e in entries:
        # dcmqrscp answers only the keys it indexes (no SeriesDescription): find the file by
        # its patient and study folder, the only instance there.
        patient, study = tree[e["SOPInstanceUID"]].split("/")[:2]
        found = [os.path.join(r, f) for r, _, fs in os.walk(out / patient / study) for f in fs
                 if f.endswith(".dcm")]
        assert len(found) == 1, (e["real_world"], found)
        _c_get_same_as_stored(found[0], e)
