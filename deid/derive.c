/* The replacement values: UIDs (PS3.5 B.2, a 2.25 UID from 128 bits), pseudonyms and the
 * per-patient date offset, each from deid_hmac() of the original. Stateless: the same key and
 * value give the same replacement everywhere, so references across files, studies and mounts
 * stay consistent without a mapping table. */
#include "deid/deid.h"
#include "deid/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define DICOM_ROOT "1.2.840.10008."

bool deid_uid_is_well_known(const char *uid)
{
	return strncmp(uid, DICOM_ROOT, strlen(DICOM_ROOT)) == 0 ||
	       strcmp(uid, "1.2.840.10008") == 0;
}

/* UI attributes whose values name a class, a syntax, a scheme or a template, never an instance
 * (PS3.6): kept whatever root they are under (a vendor's private SOP class included). Sorted. */
static const uint32_t class_tags[] = {
	0x00000002u, /* AffectedSOPClassUID */
	0x00000003u, /* RequestedSOPClassUID */
	0x00020002u, /* MediaStorageSOPClassUID */
	0x00020010u, /* TransferSyntaxUID */
	0x00020012u, /* ImplementationClassUID */
	0x00020032u, /* RTVCommunicationSOPClassUID */
	0x00041510u, /* ReferencedSOPClassUIDInFile */
	0x00041512u, /* ReferencedTransferSyntaxUIDInFile */
	0x0004151Au, /* ReferencedRelatedGeneralSOPClassUIDInFile */
	0x00080016u, /* SOPClassUID */
	0x0008001Au, /* RelatedGeneralSOPClassUID */
	0x0008001Bu, /* OriginalSpecializedSOPClassUID */
	0x00080062u, /* SOPClassesInStudy */
	0x0008010Cu, /* CodingSchemeUID */
	0x0008010Du, /* ContextGroupExtensionCreatorUID */
	0x00080117u, /* ContextUID */
	0x00080118u, /* MappingResourceUID */
	0x00081150u, /* ReferencedSOPClassUID */
	0x0008115Au, /* SOPClassesSupported */
	0x00083002u, /* AvailableTransferSyntaxUID */
	0x00089123u, /* CreatorVersionUID */
	0x00340003u, /* FlowTransferSyntaxUID */
	0x04000010u, /* MACCalculationTransferSyntaxUID */
	0x04000510u, /* EncryptedContentTransferSyntaxUID */
	0x3010001Fu, /* SegmentationTemplateUID */
};

bool deid_uid_tag_is_class(uint32_t tag)
{
	size_t lo = 0, hi = sizeof(class_tags) / sizeof(class_tags[0]);

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (class_tags[mid] == tag)
			return true;
		if (class_tags[mid] < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Digits and dots, no empty component, at most 64 characters (PS3.5 §9.1); @l without the
 * padding. */
static bool uid_valid(const char *uid, size_t l)
{
	if (l == 0 || l > 64 || uid[0] == '.' || uid[l - 1] == '.')
		return false;
	for (size_t i = 0; i < l; i++)
		if (!(uid[i] == '.' ? uid[i + 1] != '.' : uid[i] >= '0' && uid[i] <= '9'))
			return false;
	return true;
}

int deid_uid(const struct deid *d, const char *uid, char *out, size_t n)
{
	size_t l = strlen(uid);
	unsigned char mac[32];
	unsigned __int128 v = 0;
	char digits[40];
	size_t nd = 0;
	int err;

	while (l && (uid[l - 1] == ' ' || uid[l - 1] == '\0'))
		l--;
	if (!uid_valid(uid, l))
		return -EINVAL;
	if (l > 13 && strncmp(uid, DICOM_ROOT, strlen(DICOM_ROOT)) == 0) {
		if (n <= l)
			return -ENAMETOOLONG;
		memcpy(out, uid, l);
		out[l] = '\0';
		return 0;
	}
	err = deid_hmac(d, "uid", uid, l, mac);
	if (err < 0)
		return err;
	for (int i = 0; i < 16; i++)
		v = v << 8 | mac[i];
	/* PS3.5 B.2: the integer in decimal, no leading zeros ("0" for zero). */
	do {
		digits[nd++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	if (n < 5 + nd + 1)
		return -ENAMETOOLONG;
	memcpy(out, "2.25.", 5);
	for (size_t i = 0; i < nd; i++)
		out[5 + i] = digits[nd - 1 - i];
	out[5 + nd] = '\0';
	return 0;
}

static const char *pseudonym_prefix(uint32_t tag)
{
	switch (tag) {
	case 0x00100020u: /* PatientID */
		return "PAT";
	case 0x00100010u: /* PatientName */
		return "ANON^";
	default:
		return "X";
	}
}

int deid_pseudonym(const struct deid *d, uint32_t tag, const char *value, char *out, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *prefix = pseudonym_prefix(tag);
	size_t pl = strlen(prefix), l = strlen(value);
	unsigned char mac[32];
	char msg[DEID_MSG_MAX];
	int err, m;

	/* Trailing spaces are padding (PS3.5 §6.2): "DOE " and "DOE" are one patient. */
	while (l && value[l - 1] == ' ')
		l--;
	if (l == 0) {
		if (n < 1)
			return -ENAMETOOLONG;
		out[0] = '\0';
		return 0;
	}
	if (n < pl + 21)
		return -ENAMETOOLONG;
	m = snprintf(msg, sizeof(msg), "%08X", (unsigned)tag);
	if (l > sizeof(msg) - (size_t)m - 1) {
		err = deid_hmac(d, "name-long", value, l, mac);
	} else {
		msg[m] = '\0';
		memcpy(msg + m + 1, value, l);
		err = deid_hmac(d, "name", msg, (size_t)m + 1 + l, mac);
	}
	if (err < 0)
		return err;
	memcpy(out, prefix, pl);
	for (int i = 0; i < 10; i++) {
		out[pl + 2 * i] = hex[mac[i] >> 4];
		out[pl + 2 * i + 1] = hex[mac[i] & 15];
	}
	out[pl + 20] = '\0';
	return 0;
}

long deid_date_offset(const struct deid *d, const char *patient_id)
{
	size_t l = strlen(patient_id);
	unsigned char mac[32];
	uint32_t v;

	while (l && patient_id[l - 1] == ' ')
		l--;
	/* On an OpenSSL failure (out of memory) the offset is still never zero: dates move. */
	if (deid_hmac(d, "date", patient_id, l, mac) < 0)
		return -1;
	v = (uint32_t)mac[0] << 24 | (uint32_t)mac[1] << 16 | (uint32_t)mac[2] << 8 | mac[3];
	/* One to 3,652 days (ten years) back: never zero, so no date survives as it was. */
	return -(long)(1 + v % 3652);
}
