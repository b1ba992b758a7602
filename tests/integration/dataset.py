"""Generate the test archive: a few patients, studies on different dates, CT and MR series,
~300 small instances, names with non-ASCII letters and '/', a name clash, and compressed
instances (RLE, JPEG baseline, JPEG 2000) taken from pydicom's own test files.

Edge cases for naming (DESIGN.md "Names"): a PatientName with trailing '^' (shown trimmed), a
patient without PatientID, a study without AccessionNumber or StudyDescription, a series without
SeriesDescription, two series with the same number, modality and description, a series whose
description is 252 bytes of 4-byte UTF-8 (the name must be cut to 255 bytes), a description
with a control character (a TAB, which Orthanc passes through as-is), two instances with the
same InstanceNumber and one without InstanceNumber.

The generated files are the truth: every export must be byte-identical to them.
Deterministic: the same UIDs and bytes on every run.
"""
import hashlib
import os
import warnings

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

TEST_FILES = "/usr/lib/python3/dist-packages/pydicom/data/test_files"
ROOT = "1.2.826.0.1.3680043.8.498."
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"

# (patient name, id, charset, [studies]); study = (date, time, description, accession,
# [series]); series = (number, modality, description, count)
PATIENTS = [
    ("Doe^John", "PID001", "ISO_IR 100", [
        ("20200301", "083000", "CT HEAD", "ACC1", [
            ("1", "CT", "Axial", 60), ("2", "CT", "Coronal", 40)]),
        ("20200302", "101500", "MR BRAIN", "", [
            ("1", "MR", "T1", 30), ("2", "MR", "", 30)]),
    ]),
    ("Müller^Jürgen", "PID002", "ISO_IR 192", [
        ("20200303", "141000", "CT THORAX", "ACC3", [
            ("1", "CT", "Lung", 50), ("3", "CT", "Soft", 20),
            ("4", "CT", "Dup", 10), ("4", "CT", "Dup", 10)]),
    ]),
    ("O/Brien^Pat", "PID003", "ISO_IR 100", [
        ("20210115", "090000", "MR KNEE", "ACC4", [("1", "MR", "PD", 25)]),
    ]),
    ("Παπαδόπουλος^Νίκος", "PID004", "ISO_IR 192", [
        ("20210630", "163000", "CT ABDOMEN", "ACC5", [("1", "CT", "Portal", 20)]),
    ]),
    # No PatientID (type 2: may be empty), a space, a non-ASCII letter and trailing '^' in the
    # name: the folder is "Anon Ymous^Zoë".
    ("Anon Ymous^Zoë^^", "", "ISO_IR 192", [
        ("20220202", "120000", "", "", [("1", "MR", "Scout", 5)]),
    ]),
]

# Odd names, added to PID004's study: (series number, modality, description, instance numbers)
# where None means "no InstanceNumber".
LONG_DESCRIPTION = "\U0001D538" * 63  # MATHEMATICAL DOUBLE-STRUCK A: 4 bytes, 252 in all
ODD_SERIES = [
    ("8", "CT", LONG_DESCRIPTION, ["1", "1", None]),
    ("9", "CT", "\u80f8\u90e8\t\u9020\u5f71", ["1", "2"]),  # "chest<TAB>contrast" in Chinese
]

# Compressed instances (transfer syntaxes Orthanc must return as stored), added to PID004.
COMPRESSED = [
    ("MR_small_RLE.dcm", "RLE"),
    ("SC_rgb_jpeg_dcmtk.dcm", "JPEG baseline"),
    ("JPEG2000.dcm", "JPEG 2000"),
]


def uid(*parts):
    """A fixed UID from a name: the same on every run."""
    return generate_uid(prefix=ROOT, entropy_srcs=[str(p) for p in parts])


def _meta(sop_class, sop_uid, ts=ExplicitVRLittleEndian):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ts
    meta.ImplementationClassUID = ROOT + "1"
    return meta


def _image(rng, size):
    return rng.integers(0, 4096, size=(size, size), dtype=np.uint16)


def _common(ds, patient, study, series, study_uid, series_uid):
    name, pid, charset, _ = patient
    date, time, desc, acc, _ = study
    number, modality, sdesc, _ = series
    ds.SpecificCharacterSet = charset
    ds.PatientName = name
    ds.PatientID = pid
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = date
    ds.StudyTime = time
    ds.StudyID = "1"
    if desc:
        ds.StudyDescription = desc
    ds.AccessionNumber = acc
    ds.ReferringPhysicianName = ""
    ds.InstitutionName = "Trolley General"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = number
    ds.Modality = modality
    if sdesc:
        ds.SeriesDescription = sdesc
    ds.SeriesDate = date
    ds.SeriesTime = time


def _write_image(out_dir, rng, patient, study, series, study_uid, series_uid, sop_uid,
                 number, size, content_time):
    _, modality, _, _ = series
    sop_class = CT_IMAGE if modality == "CT" else MR_IMAGE
    ds = Dataset()
    ds.file_meta = _meta(sop_class, sop_uid)
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.preamble = b"\0" * 128
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    _common(ds, patient, study, series, study_uid, series_uid)
    if number is not None:
        ds.InstanceNumber = number
    ds.ContentDate = study[0]
    ds.ContentTime = content_time
    pixels = _image(rng, size)
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    path = os.path.join(out_dir, sop_uid + ".dcm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LONG_DESCRIPTION is over LO's 64 bytes, on purpose
        ds.save_as(path, write_like_original=False)
    return _entry(path, ds, patient, study, series)


def generate(out_dir):
    """Write the dataset into out_dir; return the manifest: one dict per file."""
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(1234)
    manifest = []
    for p_index, patient in enumerate(PATIENTS):
        for s_index, study in enumerate(patient[3]):
            study_uid = uid("study", p_index, s_index)
            for r_index, series in enumerate(study[4]):
                series_uid = uid("series", p_index, s_index, r_index)
                count = series[3]
                for i in range(count):
                    sop_uid = uid("sop", p_index, s_index, r_index, i)
                    size = 32 + 8 * (i % 5)  # a few sizes: estimates must not be trusted
                    manifest.append(_write_image(
                        out_dir, rng, patient, study, series, study_uid, series_uid, sop_uid,
                        str(i + 1), size, "%06d" % (int(study[1]) + i % 60)))
    # Odd names in PID004's study (PATIENTS[3] is PID004).
    patient = PATIENTS[3]
    study = patient[3][0]
    study_uid = uid("study", 3, 0)
    for r_index, (number, modality, desc, numbers) in enumerate(ODD_SERIES):
        series = (number, modality, desc, len(numbers))
        series_uid = uid("series", "odd", r_index)
        for i, inumber in enumerate(numbers):
            sop_uid = uid("sop", "odd", r_index, i)
            manifest.append(_write_image(out_dir, rng, patient, study, series, study_uid,
                                         series_uid, sop_uid, inumber, 40, study[1]))
    # Compressed instances: a series of PID004's study, each file keeping its syntax.
    # (PATIENTS[3] is PID004.)
    patient = PATIENTS[3]
    study = patient[3][0]
    series = ("7", "OT", "Compressed", len(COMPRESSED))
    study_uid = uid("study", 3, 0)
    series_uid = uid("series", "compressed")
    for i, (fname, label) in enumerate(COMPRESSED):
        ds = pydicom.dcmread(os.path.join(TEST_FILES, fname))
        sop_uid = uid("sop", "compressed", i)
        _common(ds, patient, study, series, study_uid, series_uid)
        ds.SOPInstanceUID = sop_uid
        ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
        ds.InstanceNumber = str(i + 1)
        for tag in ("ContentDate", "ContentTime"):
            if tag in ds:
                delattr(ds, tag)
        path = os.path.join(out_dir, sop_uid + ".dcm")
        ds.save_as(path, write_like_original=False)
        entry = _entry(path, ds, patient, study, series)
        entry["compression"] = label
        manifest.append(entry)
    manifest.extend(real_world(out_dir))
    manifest.extend(damaged_meta(out_dir))
    manifest += _hostile_names(out_dir, rng)
    return manifest


# ---- Hostile names (DESIGN.md "Names"; tests/integration/test_names.py) ---------------------
# Patients whose names break naming rules unless trolley enforces them: a name starting with
# "..", one starting with ".", a study whose description makes its name equal to the suffixed
# name of a clashing sibling, and two patients whose folder names clash only once cleaned. A series without InstanceNumbers is named by UID in the
# flat layout. UIDs that Orthanc will not store ("", ".", "1.2/../x") come from the proxy.
HOSTILE_PATIENTS = [
    ("..^DOTS", "HID-3", "ISO_IR 100", [
        ("20230101", "080000", "DOT STUDY", "ACCD1", [("1", "CT", "Dots", 2)])]),
    (".hidden^x", "HID-4", "ISO_IR 100", [
        ("20230102", "080000", ".dot description", "", [("1", "MR", "Hidden", 2)])]),
    # Two "TWIN" studies clash and are suffixed; the third is literally named as the first
    # twin's suffixed name (its description is filled in by _hostile_names). Its only series
    # has no InstanceNumbers.
    ("Clash^Literal", "HID-5", "ISO_IR 100", [
        ("20230103", "090000", "TWIN", "", [("1", "CT", "A", 1)]),
        ("20230103", "090000", "TWIN", "", [("1", "CT", "B", 1)]),
        ("20230103", "090000", None, "", [("2", "CT", "NoNumbers", 2)])]),
    # Two patients whose IDs differ only in a '/' (shown as '_'): one folder name, suffixed.
    ("Twin^Slash", "TW/1", "ISO_IR 100", [
        ("20230104", "100000", "SLASH", "", [("1", "CT", "S", 1)])]),
    ("Twin^Slash", "TW_1", "ISO_IR 100", [
        ("20230104", "100000", "UNDERSCORE", "", [("1", "CT", "U", 1)])]),
]


def hostile_study_uid(p_index, s_index):
    return uid("study", "hostile", p_index, s_index)


def _hostile_names(out_dir, rng):
    import naming  # the suffix, as the rule book computes it
    manifest = []
    for p_index, (name, pid, charset, studies) in enumerate(HOSTILE_PATIENTS):
        for s_index, study in enumerate(studies):
            study_uid = hostile_study_uid(p_index, s_index)
            if study[2] is None:
                literal = "TWIN" + naming.suffix(hostile_study_uid(p_index, 0))
                study = (study[0], study[1], literal, study[3], study[4])
            patient = (name, pid, charset, studies)
            for r_index, series in enumerate(study[4]):
                series_uid = uid("series", "hostile", p_index, s_index, r_index)
                no_numbers = series[2] == "NoNumbers"
                for i in range(series[3]):
                    sop_uid = uid("sop", "hostile", p_index, s_index, r_index, i)
                    manifest.append(_write_image(
                        out_dir, rng, patient, study, series, study_uid, series_uid, sop_uid,
                        None if no_numbers else str(i + 1), 32, study[1]))
    return manifest


def _entry(path, ds, patient, study, series):
    data = open(path, "rb").read()
    return {
        "path": path,
        "size": len(data),
        "md5": hashlib.md5(data).hexdigest(),
        "PatientName": patient[0],
        "PatientID": patient[1],
        "StudyInstanceUID": ds.StudyInstanceUID,
        "StudyDate": study[0],
        "StudyTime": study[1],
        "StudyDescription": study[2],
        "AccessionNumber": study[3],
        "SeriesInstanceUID": ds.SeriesInstanceUID,
        "SeriesNumber": series[0],
        "Modality": series[1],
        "SeriesDescription": series[2],
        "SOPInstanceUID": ds.SOPInstanceUID,
        "InstanceNumber": str(ds.get("InstanceNumber", "")),
        "TransferSyntaxUID": str(ds.file_meta.TransferSyntaxUID),
        "ContentDate": str(ds.get("ContentDate", "")),
        "ContentTime": str(ds.get("ContentTime", "")),
        "SeriesDate": str(ds.get("SeriesDate", "")),
        "SeriesTime": str(ds.get("SeriesTime", "")),
    }


# ---------------------------------------------------------------------------------------------
# Real-world objects: pydicom's own sample files, uploaded byte for byte as they are, each its
# own patient with its own names. Orthanc stores and serves them unchanged (checked: its
# GET /instances/{id}/file is the uploaded file, and WADO-RS sends the same bytes). Two of them
# are why they are here:
#   rtstruct.dcm   a bare data set (implicit VR little endian) without preamble or meta group:
#                  trolley serves trolley_meta() + exactly these bytes;
#   rtplan.dcm     a sound Part-10 file whose MediaStorageSOPInstanceUID (0002,0003), 1.2.999...,
#                  is not its data set's SOPInstanceUID (0008,0018), 1.2.777...: the instance
#                  is the data set's, and trolley serves the file byte for byte.
# The others are ordinary objects of other kinds (a CT image, an ECG waveform).
# Left out on purpose: files Orthanc refuses or merges (the MR_small variants share one UID,
# badVR.dcm and the rtdose files share theirs), compressed ones (the series above has those;
# storescu would have to negotiate them for dcmqrscp; storescu proposes no context for the
# segmentation liver_1frame.dcm either), and ones without a patient name or ID.
# ---------------------------------------------------------------------------------------------
REAL_WORLD = [
    ("rtstruct.dcm", "bare data set"),
    ("rtplan.dcm", "meta names another instance"),
    ("CT_small.dcm", "CT"),
    ("waveform_ecg.dcm", "ECG waveform"),
]

# trolley's Implementation Class UID and Version Name (core/part10.h).
TROLLEY_IMPL_CLASS_UID = "2.25.315106635683623311060527365042240585530"
TROLLEY_IMPL_VERSION = "TROLLEY_1"


def trolley_meta(sop_class, sop_uid, transfer_syntax):
    """The Part-10 header trolley writes in front of a bare data set (PS3.10 §7.1): 128 zero
    bytes, "DICM", group 0002 in explicit VR little endian with its group length, version
    00\01, the SOP class and instance, the syntax, trolley's implementation UID and version."""
    import struct

    def element(elem, vr, value, pad):
        if len(value) % 2:
            value += pad
        if vr == b"OB":
            return struct.pack("<HH2s2xI", 2, elem, vr, len(value)) + value
        return struct.pack("<HH2sH", 2, elem, vr, len(value)) + value

    group = b"".join([
        element(0x0001, b"OB", b"\0\1", b"\0"),
        element(0x0002, b"UI", sop_class.encode(), b"\0"),
        element(0x0003, b"UI", sop_uid.encode(), b"\0"),
        element(0x0010, b"UI", transfer_syntax.encode(), b"\0"),
        element(0x0012, b"UI", TROLLEY_IMPL_CLASS_UID.encode(), b"\0"),
        element(0x0013, b"SH", TROLLEY_IMPL_VERSION.encode(), b" "),
    ])
    return b"\0" * 128 + b"DICM" + element(0x0000, b"UL", struct.pack("<I", len(group)),
                                             b"") + group


def real_world(out_dir):
    """Copy the REAL_WORLD files into out_dir unchanged; their manifest entries. "md5" is what
    trolley must serve; "stored_md5" what the archive stores (the file as uploaded); "bare" and
    "meta_sop" mark the two special ones."""
    import shutil
    entries = []
    for fname, label in REAL_WORLD:
        path = os.path.join(out_dir, "real-world-" + fname)
        shutil.copyfile(os.path.join(TEST_FILES, fname), path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True)
        data = open(path, "rb").read()
        bare = data[128:132] != b"DICM"
        if bare:
            syntax = ("1.2.840.10008.1.2" if ds.is_implicit_VR else "1.2.840.10008.1.2.1")
            served = trolley_meta(ds.SOPClassUID, ds.SOPInstanceUID, syntax) + data
        else:
            syntax = str(ds.file_meta.TransferSyntaxUID)
            served = data
        text = lambda k: str(ds.get(k, "") or "")  # noqa: E731
        entries.append({
            "path": path,
            "size": len(served),
            "md5": hashlib.md5(served).hexdigest(),
            "stored_md5": hashlib.md5(data).hexdigest(),
            "real_world": label,
            "bare": bare,
            "meta_sop": "" if bare else str(ds.file_meta.MediaStorageSOPInstanceUID),
            "PatientName": text("PatientName"),
            "PatientID": text("PatientID"),
            "StudyInstanceUID": text("StudyInstanceUID"),
            "StudyDate": text("StudyDate"),
            "StudyTime": text("StudyTime"),
            "StudyDescription": text("StudyDescription"),
            "AccessionNumber": text("AccessionNumber"),
            "SeriesInstanceUID": text("SeriesInstanceUID"),
            "SeriesNumber": text("SeriesNumber"),
            "Modality": text("Modality"),
            "SeriesDescription": text("SeriesDescription"),
            "SOPInstanceUID": text("SOPInstanceUID"),
            "InstanceNumber": text("InstanceNumber"),
            "TransferSyntaxUID": syntax,
            "ContentDate": text("ContentDate"),
            "ContentTime": text("ContentTime"),
            "SeriesDate": text("SeriesDate"),
            "SeriesTime": text("SeriesTime"),
        })
    return entries


# ---------------------------------------------------------------------------------------------
# Damaged file meta groups, as some writers make them and Orthanc stores and serves them
# (checked: it keeps the bytes as uploaded): one small CT instance each, of one patient whose ID
# does not start with PID (the PatientID=PID* searches count the patients above), whose data
# set is sound and whose meta group is not. trolley serves trolley_meta() + the data set bytes
# exactly as stored (the damaged group is replaced, nothing else is touched).
# (Orthanc refuses a meta group in implicit VR: that case is in the unit tests only.)
# ---------------------------------------------------------------------------------------------
DAMAGED_PATIENT = ("Damaged^Meta", "DM001", "ISO_IR 100", [
    ("20190505", "101010", "CT DAMAGED META", "ACC-DM", [("1", "CT", "Meta", 3)])])
DAMAGED = ["no group length", "a wrong group length", "an odd-length value"]


def _meta_elements(meta_group):
    """[(element, VR, value)] of an explicit VR little endian group 0002 (without its header)."""
    import struct
    out, pos = [], 0
    while pos < len(meta_group):
        elem, vr = struct.unpack("<2xH2s", meta_group[pos:pos + 6])
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT"):
            length, head = struct.unpack("<I", meta_group[pos + 8:pos + 12])[0], 12
        else:
            length, head = struct.unpack("<H", meta_group[pos + 6:pos + 8])[0], 8
        out.append((elem, vr, meta_group[pos + head:pos + head + length]))
        pos += head + length
    return out


def _meta_element(elem, vr, value):
    import struct
    if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT"):
        return struct.pack("<HH2s2xI", 2, elem, vr, len(value)) + value
    return struct.pack("<HH2sH", 2, elem, vr, len(value)) + value


def damaged_meta(out_dir):
    """Write the DAMAGED instances into out_dir; their manifest entries ("damaged" says how;
    "md5" is what trolley must serve, "stored_md5" the file as uploaded)."""
    import struct
    rng = np.random.default_rng(99)
    patient = DAMAGED_PATIENT
    study = patient[3][0]
    series = study[4][0]
    study_uid, series_uid = uid("study", "damaged"), uid("series", "damaged")
    entries = []
    for i, how in enumerate(DAMAGED):
        sop_uid = uid("sop", "damaged", i)
        while how == "an odd-length value" and (len(sop_uid) % 2 == 0 or sop_uid[-1] == "."):
            sop_uid = sop_uid[:-1]  # a UID of odd length, for its value to be
        entry = _write_image(out_dir, rng, patient, study, series, study_uid, series_uid,
                             sop_uid, str(i + 1), 32, study[1])
        sound = open(entry["path"], "rb").read()
        end = 144 + struct.unpack("<I", sound[140:144])[0]
        elements, data_set = _meta_elements(sound[144:end]), sound[end:]
        if how == "an odd-length value":
            elements = [(e, vr, v.rstrip(b"\0") if e == 3 else v) for e, vr, v in elements]
        group = b"".join(_meta_element(*x) for x in elements)
        length = _meta_element(0, b"UL", struct.pack("<I", len(group)))
        if how == "no group length":
            length = b""
        elif how == "a wrong group length":
            length = _meta_element(0, b"UL", struct.pack("<I", len(group) + 10))
        damaged = sound[:132] + length + group + data_set
        with open(entry["path"], "wb") as f:
            f.write(damaged)
        served = trolley_meta(CT_IMAGE, sop_uid, ExplicitVRLittleEndian) + data_set
        entry.update(size=len(served), md5=hashlib.md5(served).hexdigest(),
                     stored_md5=hashlib.md5(damaged).hexdigest(), damaged=how,
                     data_set_offset=len(damaged) - len(data_set))
        entries.append(entry)
    return entries


if __name__ == "__main__":
    import sys
    m = generate(sys.argv[1])
    print(len(m), "files,", sum(e["size"] for e in m), "bytes")
