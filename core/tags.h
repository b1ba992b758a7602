/* DICOM keywords and tags we name, query or show (PS3.6), so the rest of the code says
 * TAG_PatientName rather than 0x00100010 and a query string can say "PatientName=". */
#ifndef TROLLEY_TAGS_H
#define TROLLEY_TAGS_H

#include <stdint.h>

#define TAG_SpecificCharacterSet	   0x00080005u
#define TAG_StudyDate			   0x00080020u
#define TAG_SeriesDate			   0x00080021u
#define TAG_ContentDate			   0x00080023u
#define TAG_StudyTime			   0x00080030u
#define TAG_SeriesTime			   0x00080031u
#define TAG_ContentTime			   0x00080033u
#define TAG_AccessionNumber		   0x00080050u
#define TAG_Modality			   0x00080060u
#define TAG_ModalitiesInStudy		   0x00080061u
#define TAG_SOPClassUID			   0x00080016u
#define TAG_SOPInstanceUID		   0x00080018u
#define TAG_StudyDescription		   0x00081030u
#define TAG_SeriesDescription		   0x0008103Eu
#define TAG_RetrieveURL			   0x00081190u
#define TAG_PatientName			   0x00100010u
#define TAG_PatientID			   0x00100020u
#define TAG_PatientBirthDate		   0x00100030u
#define TAG_PatientSex			   0x00100040u
#define TAG_StudyInstanceUID		   0x0020000Du
#define TAG_SeriesInstanceUID		   0x0020000Eu
#define TAG_StudyID			   0x00200010u
#define TAG_SeriesNumber		   0x00200011u
#define TAG_InstanceNumber		   0x00200013u
#define TAG_NumberOfStudyRelatedSeries	   0x00201206u
#define TAG_NumberOfStudyRelatedInstances  0x00201208u
#define TAG_NumberOfSeriesRelatedInstances 0x00201209u
#define TAG_NumberOfFrames		   0x00280008u
#define TAG_Rows			   0x00280010u
#define TAG_Columns			   0x00280011u
#define TAG_BitsAllocated		   0x00280100u
#define TAG_SamplesPerPixel		   0x00280002u
#define TAG_ReferringPhysicianName	   0x00080090u
#define TAG_Manufacturer		   0x00080070u
#define TAG_InstitutionName		   0x00080080u
#define TAG_BodyPartExamined		   0x00180015u
#define TAG_ProtocolName		   0x00181030u
#define TAG_AcquisitionNumber		   0x00200012u
#define TAG_TransferSyntaxUID		   0x00020010u
#define TAG_MediaStorageSOPInstanceUID	   0x00020003u
#define TAG_BurnedInAnnotation		   0x00280301u

/** @return the tag of a PS3.6 keyword (e.g. "PatientName") or of 8 hex digits, or 0 if unknown. */
uint32_t tags_by_keyword(const char *keyword);
/** @return the keyword of @tag (static string), or NULL if not in our table. */
const char *tags_keyword(uint32_t tag);
/** @return the VR of @tag from our table (static string), or "" if not in it. */
const char *tags_vr(uint32_t tag);

#endif
