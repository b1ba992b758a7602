/* The keyword table: only what trolley queries, names or shows. A search may also name any
 * other attribute by its eight hex digits, so the table need not be the whole of PS3.6. */
#include "core/tags.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct tag_entry {
	uint32_t tag;
	const char *keyword;
	const char *vr;
};

/* clang-format off */
static const struct tag_entry tag_table[] = {
	{0x00020003u, "MediaStorageSOPInstanceUID", "UI"},
	{0x00020010u, "TransferSyntaxUID", "UI"},
	{0x00080005u, "SpecificCharacterSet", "CS"},
	{0x00080016u, "SOPClassUID", "UI"},
	{0x00080018u, "SOPInstanceUID", "UI"},
	{0x00080020u, "StudyDate", "DA"},
	{0x00080021u, "SeriesDate", "DA"},
	{0x00080023u, "ContentDate", "DA"},
	{0x00080030u, "StudyTime", "TM"},
	{0x00080031u, "SeriesTime", "TM"},
	{0x00080033u, "ContentTime", "TM"},
	{0x00080050u, "AccessionNumber", "SH"},
	{0x00080056u, "InstanceAvailability", "CS"},
	{0x00080060u, "Modality", "CS"},
	{0x00080061u, "ModalitiesInStudy", "CS"},
	{0x00080070u, "Manufacturer", "LO"},
	{0x00080080u, "InstitutionName", "LO"},
	{0x00080090u, "ReferringPhysicianName", "PN"},
	{0x00081030u, "StudyDescription", "LO"},
	{0x0008103Eu, "SeriesDescription", "LO"},
	{0x00081190u, "RetrieveURL", "UR"},
	{0x00100010u, "PatientName", "PN"},
	{0x00100020u, "PatientID", "LO"},
	{0x00100030u, "PatientBirthDate", "DA"},
	{0x00100040u, "PatientSex", "CS"},
	{0x00180015u, "BodyPartExamined", "CS"},
	{0x00181030u, "ProtocolName", "LO"},
	{0x0020000Du, "StudyInstanceUID", "UI"},
	{0x0020000Eu, "SeriesInstanceUID", "UI"},
	{0x00200010u, "StudyID", "SH"},
	{0x00200011u, "SeriesNumber", "IS"},
	{0x00200012u, "AcquisitionNumber", "IS"},
	{0x00200013u, "InstanceNumber", "IS"},
	{0x00201206u, "NumberOfStudyRelatedSeries", "IS"},
	{0x00201208u, "NumberOfStudyRelatedInstances", "IS"},
	{0x00201209u, "NumberOfSeriesRelatedInstances", "IS"},
	{0x00280002u, "SamplesPerPixel", "US"},
	{0x00280008u, "NumberOfFrames", "IS"},
	{0x00280010u, "Rows", "US"},
	{0x00280011u, "Columns", "US"},
	{0x00280100u, "BitsAllocated", "US"},
	{0x00280301u, "BurnedInAnnotation", "CS"},
};
/* clang-format on */

#define TAG_COUNT (sizeof(tag_table) / sizeof(tag_table[0]))

static const struct tag_entry *tag_lookup(uint32_t tag)
{
	for (size_t i = 0; i < TAG_COUNT; i++)
		if (tag_table[i].tag == tag)
			return &tag_table[i];
	return NULL;
}

uint32_t tags_by_keyword(const char *keyword)
{
	char *end;
	unsigned long v;

	for (size_t i = 0; i < TAG_COUNT; i++)
		if (strcmp(tag_table[i].keyword, keyword) == 0)
			return tag_table[i].tag;
	/* Exactly eight hex digits: strtoul alone would also take " +0x1234" or "-0000010". */
	if (strlen(keyword) != 8 || strspn(keyword, "0123456789abcdefABCDEF") != 8)
		return 0;
	v = strtoul(keyword, &end, 16);
	return *end == '\0' ? (uint32_t)v : 0;
}

const char *tags_keyword(uint32_t tag)
{
	const struct tag_entry *e = tag_lookup(tag);

	return e ? e->keyword : NULL;
}

const char *tags_vr(uint32_t tag)
{
	const struct tag_entry *e = tag_lookup(tag);

	return e ? e->vr : "";
}
