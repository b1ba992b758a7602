"""A study with PHI everywhere an archive keeps it, for the de-identified view (issue 21).

Every identifying value is a distinctive string (listed in PHI) so a leak is found by a plain
byte search of every file, name, xattr, metadata.json and DICOMDIR of the mount; every UID is
listed in UIDS for the same reason. The images reference each other (ReferencedImageSequence,
SourceImageSequence), share one FrameOfReferenceUID, and one is marked BurnedInAnnotation YES.
A Basic Text SR is there too: the basic profile does not reach its content, so it is withheld.
Deterministic: the same UIDs and bytes on every run."""
import os

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ROOT = "1.2.826.0.1.3680043.8.498."
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"


def uid(*parts):
    return generate_uid(prefix=ROOT, entropy_srcs=["deid"] + [str(p) for p in parts])


STUDY = uid("study")
SERIES = [uid("series", 1), uid("series", 2), uid("series", 3), uid("series", 4)]
FRAME = uid("frame")
OTHER_STUDY = uid("referenced study")  # a study referenced, not stored
SOPS = [uid("sop", i) for i in range(5)]
SR_SOP = uid("sr")
BURNED = SOPS[3]  # BurnedInAnnotation YES: withheld
# A CT series of one image marked BurnedInAnnotation YES: every instance withheld, so the
# series is left out of its study (its Modality does not tell).
ALONE = uid("sop alone")

# Distinctive values: none may appear anywhere in the de-identified mount.
PHI = {
    "PatientName": "Secretname^Alice",
    "PatientID": "PHIID7731",
    "OtherPatientIDs": "PHIOTHER42",
    "PatientAddress": "12 Phistreet Leakville",
    "PatientBirthDate": "19610203",
    "AccessionNumber": "ACCPHI991",
    "StudyID": "PHISTUDY5",
    "StudyDescription": "PHISTUDYDESC knee",
    "SeriesDescription": "PHISERIESDESC axial",
    "InstitutionName": "Phinstitution Hospital",
    "InstitutionAddress": "1 Phiroad",
    "ReferringPhysicianName": "Phireferrer^Bob",
    "OperatorsName": "Phioperator^Carl",
    "PerformingPhysicianName": "Phiperformer^Dana",
    "StationName": "PHISTATION9",
    "DeviceSerialNumber": "PHISERIAL123",
    "ImageComments": "Phicomment seen by Dr Who",
    "RequestedProcedureID": "PHIREQPROC8",
    "PrivateValue": "Phiprivate secret",
    "SourceApplicationEntityTitle": "PHIAET",
    "StudyDate": "20190412",
    "StudyTime": "101112",
    "ContentTime": "101113",
}


def _meta(sop_class, sop_uid):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = ROOT + "1"
    meta.SourceApplicationEntityTitle = PHI["SourceApplicationEntityTitle"]
    return meta


def _item(**kw):
    d = Dataset()
    for k, v in kw.items():
        setattr(d, k, v)
    return d


def _patient_study(ds, series_index):
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = PHI["PatientName"]
    ds.PatientID = PHI["PatientID"]
    ds.OtherPatientIDs = PHI["OtherPatientIDs"]
    ds.PatientAddress = PHI["PatientAddress"]
    ds.PatientBirthDate = PHI["PatientBirthDate"]
    ds.PatientSex = "F"
    ds.PatientAge = "058Y"
    ds.StudyInstanceUID = STUDY
    ds.StudyDate = PHI["StudyDate"]
    ds.StudyTime = PHI["StudyTime"]
    ds.StudyID = PHI["StudyID"]
    ds.StudyDescription = PHI["StudyDescription"]
    ds.AccessionNumber = PHI["AccessionNumber"]
    ds.ReferringPhysicianName = PHI["ReferringPhysicianName"]
    ds.InstitutionName = PHI["InstitutionName"]
    ds.InstitutionAddress = PHI["InstitutionAddress"]
    ds.OperatorsName = PHI["OperatorsName"]
    ds.PerformingPhysicianName = PHI["PerformingPhysicianName"]
    ds.StationName = PHI["StationName"]
    ds.DeviceSerialNumber = PHI["DeviceSerialNumber"]
    ds.Manufacturer = "Trolleytech"
    ds.SeriesInstanceUID = SERIES[series_index]
    ds.SeriesNumber = str(series_index + 1)
    ds.SeriesDate = PHI["StudyDate"]
    ds.SeriesTime = PHI["StudyTime"]
    ds.SeriesDescription = PHI["SeriesDescription"]
    # Nested: the request (with the accession number again) and a referenced study.
    ds.RequestAttributesSequence = Sequence([_item(
        RequestedProcedureID=PHI["RequestedProcedureID"],
        AccessionNumber=PHI["AccessionNumber"],
        StudyInstanceUID=STUDY)])
    ds.ReferencedStudySequence = Sequence([_item(
        ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.1",
        ReferencedSOPInstanceUID=OTHER_STUDY)])
    # A private element with its creator.
    block = ds.private_block(0x0009, "PHICREATOR", create=True)
    block.add_new(0x01, "LO", PHI["PrivateValue"])


def _image(i, series_index, rng):
    ds = Dataset()
    ds.file_meta = _meta(CT_IMAGE, SOPS[i])
    ds.preamble = b"PHIPREAMBLE" + b"\0" * 117
    ds.SOPClassUID = CT_IMAGE
    ds.SOPInstanceUID = SOPS[i]
    _patient_study(ds, series_index)
    ds.Modality = "CT"
    ds.PatientPosition = "HFS"
    ds.Laterality = ""
    ds.AcquisitionNumber = "1"
    ds.InstanceNumber = str(i + 1)
    ds.ContentDate = PHI["StudyDate"]
    ds.ContentTime = PHI["ContentTime"]
    ds.AcquisitionDate = PHI["StudyDate"]
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"] if series_index == 0 else \
        ["DERIVED", "SECONDARY", "AXIAL"]
    ds.FrameOfReferenceUID = FRAME
    ds.PositionReferenceIndicator = ""
    ds.ImageComments = PHI["ImageComments"]
    ds.BurnedInAnnotation = "YES" if SOPS[i] == BURNED else "NO"
    # Each image points at the one before it; the derived series' at its source.
    ref = SOPS[i - 1] if i > 0 else SOPS[1]
    ds.ReferencedImageSequence = Sequence([_item(
        ReferencedSOPClassUID=CT_IMAGE, ReferencedSOPInstanceUID=ref)])
    if series_index == 1:
        ds.SourceImageSequence = Sequence([_item(
            ReferencedSOPClassUID=CT_IMAGE, ReferencedSOPInstanceUID=SOPS[0])])
    ds.ImagePositionPatient = [0, 0, float(i)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1, 1]
    ds.SliceThickness = "1"
    ds.KVP = "120"
    ds.Rows = ds.Columns = 16
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.PixelData = rng.integers(0, 4096, size=(16, 16), dtype=np.uint16).tobytes()
    return ds


def _sr(rng):
    ds = Dataset()
    ds.file_meta = _meta(BASIC_TEXT_SR, SR_SOP)
    ds.preamble = b"\0" * 128
    ds.SOPClassUID = BASIC_TEXT_SR
    ds.SOPInstanceUID = SR_SOP
    _patient_study(ds, 2)
    ds.Modality = "SR"
    ds.InstanceNumber = "1"
    ds.ContentDate = PHI["StudyDate"]
    ds.ContentTime = PHI["ContentTime"]
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.ConceptNameCodeSequence = Sequence([_item(
        CodeValue="11528-7", CodingSchemeDesignator="LN", CodeMeaning="Radiology Report")])
    ds.ContentSequence = Sequence([_item(
        RelationshipType="CONTAINS", ValueType="TEXT",
        ConceptNameCodeSequence=Sequence([_item(
            CodeValue="121071", CodingSchemeDesignator="DCM", CodeMeaning="Finding")]),
        TextValue="Patient Secretname^Alice told us PHIID7731")])
    return ds


def generate(out_dir):
    """Write the study into @out_dir; return {"files": [paths], "sops": {sop: path}}."""
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(21)
    made = {}
    for i in range(len(SOPS)):
        ds = _image(i, 0 if i < 4 else 1, rng)
        made[SOPS[i]] = ds
    made[SR_SOP] = _sr(rng)
    alone = _image(3, 3, rng)
    alone.SOPInstanceUID = alone.file_meta.MediaStorageSOPInstanceUID = ALONE
    alone.InstanceNumber = "6"
    made[ALONE] = alone
    paths = {}
    for sop, ds in made.items():
        ds.is_little_endian = True
        ds.is_implicit_VR = False
        path = os.path.join(out_dir, sop + ".dcm")
        ds.save_as(path, write_like_original=False)
        paths[sop] = path
    return {"files": list(paths.values()), "sops": paths}


def original_uids():
    """Every UID of the study that names an instance, a series, a study or a frame of
    reference: none may appear in the mount."""
    return [STUDY, FRAME, OTHER_STUDY, SR_SOP, ALONE, *SERIES, *SOPS]
