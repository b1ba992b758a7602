/* What becomes of one attribute: the decision shared by the three forms deid rewrites (a
 * Part-10 data set, a flat attribute set, DICOM JSON), so they cannot disagree. Text in,
 * text out: the callers decode and encode. */
#include "deid/internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The most characters of a VR's value (PS3.5 Table 6.2-1), for dummies that must fit. */
static size_t vr_max_chars(const char *vr)
{
	static const struct {
		char vr[3];
		size_t max;
	} m[] = {{"AE", 16}, {"CS", 16},   {"SH", 16},	  {"LO", 64},	{"PN", 64},
		 {"UC", 64}, {"ST", 1024}, {"LT", 10240}, {"UT", 10240}};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (strcmp(vr, m[i].vr) == 0)
			return m[i].max;
	return 0; /* not text: no dummy */
}

bool deid_vr_is_text(const char *vr)
{
	return vr_max_chars(vr) > 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static long days_from_civil(long y, unsigned m, unsigned d)
{
	long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long)doe - 719468;
}

static void civil_from_days(long z, long *y, unsigned *m, unsigned *d)
{
	long era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp + (mp < 10 ? 3 : -9);
	*y = (long)yoe + era * 400 + (*m <= 2);
}

/* Shift the 8-digit date at @s by @offset days into @out (9 bytes). false if @s is no date. */
static bool shift_date(const char *s, long offset, char *out)
{
	unsigned m, d;
	long y;

	for (int i = 0; i < 8; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	m = (unsigned)((s[4] - '0') * 10 + (s[5] - '0'));
	d = (unsigned)((s[6] - '0') * 10 + (s[7] - '0'));
	if (m < 1 || m > 12 || d < 1 || d > 31)
		return false;
	civil_from_days(days_from_civil(y, m, d) + offset, &y, &m, &d);
	if (y < 0 || y > 9999)
		return false;
	snprintf(out, 9, "%04ld%02u%02u", y, m, d);
	return true;
}

/* Each value of a DA or DT (backslash-separated) shifted; a value that is not a full date
 * (a partial DT "2020", a malformed one) is dropped, since it cannot be shifted. */
static int shift_dates(const char *vr, const char *v, size_t len, long offset, struct buf *nv)
{
	size_t i = 0;
	bool first = true;

	while (i <= len) {
		size_t j = i, l;
		char day[9];

		while (j < len && v[j] != '\\')
			j++;
		l = j;
		while (l > i && (v[l - 1] == ' ' || v[l - 1] == '\0'))
			l--;
		if (l - i >= 8 && shift_date(v + i, offset, day) &&
		    (strcmp(vr, "DT") == 0 || l - i == 8)) {
			int err = buf_printf(nv, "%s%s%.*s", first ? "" : "\\", day,
					     (int)(l - i - 8), v + i + 8);

			if (err < 0)
				return err;
			first = false;
		}
		i = j + 1;
	}
	return 0;
}

/* Clean Descriptors (113105): the profile asks for a value "of similar meaning known not to
 * contain identifying information". Without understanding free text, what is known not to
 * identify is a closed vocabulary: the words below (modalities, anatomy, orientation,
 * sequences, contrast) are kept, in their order, and every other word (names, numbers,
 * dates, places, anything unknown) is dropped. */
/* clang-format off */
static const char *const safe_words[] = {
	"2D", "3D", "4D", "ABD", "ABDOMEN", "ACUTE", "ADC", "ANGIO", "ANGIOGRAPHY", "ANKLE", "AP",
	"ARM", "ARTERIAL", "AX", "AXIAL", "BONE", "BRAIN", "BREAST", "CARDIAC", "CERVICAL",
	"CHEST", "CONTRAST", "COR", "CORONAL", "CR", "CT", "CTA", "DELAYED", "DIFFUSION",
	"DUAL", "DWI", "ECHO", "ELBOW", "ENHANCED", "EXTREMITY", "FACE", "FAT", "FEMUR", "FLAIR",
	"FOOT", "FS", "FUNCTIONAL", "GRE", "HAND", "HEAD", "HEART", "HIGH", "HIP", "HUMERUS",
	"IMAGE", "IMAGES", "INFUSION", "IV", "KIDNEY", "KNEE", "LAT", "LATERAL", "LEFT", "LEG",
	"LIVER", "LOCALIZER", "LOW", "LUMBAR", "LUNG", "MAMMO", "MIP", "MPR", "MR", "MRA", "MRI",
	"NECK", "NM", "NON", "OBLIQUE", "ORAL", "ORBIT", "PA", "PANCREAS", "PELVIS", "PERFUSION",
	"PET", "PHASE", "PLAIN", "PORTAL", "POST", "PRE", "PROTOCOL", "PT", "RECON", "RES",
	"RESOLUTION", "RIGHT", "ROUTINE", "SAG", "SAGITTAL", "SCOUT", "SE", "SERIES", "SHOULDER",
	"SINUS", "SKULL", "SOFT", "SPINE", "STANDARD", "STIR", "STUDY", "SURVEY", "SWI", "T1",
	"T2", "TFE", "THORACIC", "THORAX", "TISSUE", "TOF", "TOPOGRAM", "TSE", "US", "VENOUS",
	"VIEW", "W", "W/", "W/O", "WITH", "WITHOUT", "WO", "WRIST", "XA", "XR",
};
/* clang-format on */

static bool word_is_safe(const char *w, size_t l)
{
	for (size_t i = 0; i < sizeof(safe_words) / sizeof(safe_words[0]); i++)
		if (strlen(safe_words[i]) == l && strncasecmp(safe_words[i], w, l) == 0)
			return true;
	return false;
}

static int clean_text(const char *v, size_t len, struct buf *nv)
{
	size_t i = 0;
	bool first = true;

	while (i < len) {
		size_t j = i;

		/* A slash binds ("W/O" is one word, not "W" and a dropped "O"). */
		while (j < len && (isalnum((unsigned char)v[j]) || v[j] == '/'))
			j++;
		if (j > i && word_is_safe(v + i, j - i)) {
			int err = buf_printf(nv, "%s%.*s", first ? "" : " ", (int)(j - i), v + i);

			if (err < 0)
				return err;
			first = false;
		}
		i = j > i ? j : j + 1;
	}
	return 0;
}

/* Each UID of a UI value remapped; a value that is no UID (it may hold anything) is
 * dropped rather than kept. */
static int remap_uids(const struct deid *d, const char *v, size_t len, struct buf *nv)
{
	size_t i = 0;
	bool first = true;

	while (i <= len) {
		size_t j = i;
		char uid[DEID_UID_MAX], src[DEID_UID_MAX];

		while (j < len && v[j] != '\\')
			j++;
		if (j - i < sizeof(src)) {
			memcpy(src, v + i, j - i);
			src[j - i] = '\0';
			if (deid_uid(d, src, uid, sizeof(uid)) == 0) {
				int err = buf_printf(nv, "%s%s", first ? "" : "\\", uid);

				if (err < 0)
					return err;
				first = false;
			}
		}
		i = j + 1;
	}
	return 0;
}

static int dummy(const struct deid *d, long offset, uint32_t tag, const char *vr, const char *v,
		 size_t len, struct buf *nv)
{
	char p[DEID_PSEUDONYM_MAX], src[DEID_MSG_MAX];
	size_t max = vr_max_chars(vr), l = len < sizeof(src) - 1 ? len : sizeof(src) - 1;
	int err;

	(void)offset;
	if (strcmp(vr, "UI") == 0)
		return remap_uids(d, v, len, nv);
	if (strcmp(vr, "DA") == 0)
		return buf_add(nv, "19000101", 8);
	if (strcmp(vr, "TM") == 0)
		return buf_add(nv, "000000", 6);
	if (strcmp(vr, "DT") == 0)
		return buf_add(nv, "19000101000000", 14);
	if (!max || len == 0)
		return 0; /* numbers, bytes: a zero-length value is the only safe dummy */
	/* A value longer than the buffer is hashed on its first bytes: a dummy need not be
	 * unique, only free of the original. */
	memcpy(src, v, l);
	src[l] = '\0';
	err = deid_pseudonym(d, tag, src, p, sizeof(p));
	if (err < 0)
		return err;
	l = strlen(p);
	return buf_add(nv, p, l < max ? l : max);
}

int deid_fate(const struct deid *d, long offset, uint32_t tag, const char *vr, bool is_sq,
	      const char *v, size_t len, struct buf *nv, enum deid_fate *fate)
{
	const struct deid_rule *r;
	const struct deid_options *o = &d->opts;
	const char *rvr;

	nv->len = 0;
	if (nv->data)
		nv->data[0] = '\0';
	if (tag >> 16 & 1) { /* private (odd group): no private element is known safe here */
		*fate = DEID_FATE_DROP;
		return 0;
	}
	/* Group lengths (retired) would be wrong once anything in the group changes; an overlay
	 * (60xx) goes whole, since the table removes its data (type 1 in the Overlay Plane
	 * module) and an overlay without data is invalid. */
	/* Not in the table but naming the originals in their text: the archive's RetrieveURL
	 * (0008,1190) and RetrieveURI (0040,E010), URLs built from the original UIDs; and the
	 * meta group's AE titles and private information (0002,0016-0018, 0100, 0102), where a
	 * set or DICOM JSON carries them (an instance's group 0002 is written anew anyway). */
	if ((tag & 0xFFFFu) == 0 || (tag & 0xFF000000u) == 0x60000000u || tag == 0x00081190u ||
	    tag == 0x0040E010u || (tag >= 0x00020016u && tag <= 0x00020018u) ||
	    tag == 0x00020100u || tag == 0x00020102u) {
		*fate = DEID_FATE_DROP;
		return 0;
	}
	r = deid_rule_find(tag);
	rvr = vr && vr[0] && (strcmp(vr, "UN") != 0 || !r) ? vr : r ? r->vr : "";
	if (!r) {
		if (is_sq) {
			*fate = DEID_FATE_ITEMS;
			return 0;
		}
		if ((strcmp(rvr, "UI") == 0 || deid_dict_is_ui(tag)) &&
		    !deid_uid_tag_is_class(tag)) {
			*fate = DEID_FATE_REPLACE;
			return remap_uids(d, v, len, nv);
		}
		*fate = DEID_FATE_KEEP;
		return 0;
	}
	if (((r->opts & DEID_OPT_PATIENT) && o->retain_patient_chars) ||
	    ((r->opts & DEID_OPT_DEVICE) && o->retain_device)) {
		*fate = is_sq ? DEID_FATE_ITEMS : DEID_FATE_KEEP;
		return 0;
	}
	if ((r->opts & DEID_OPT_DATES) && o->retain_dates && !is_sq) {
		if (strcmp(rvr, "TM") == 0) {
			*fate = DEID_FATE_KEEP;
			return 0;
		}
		*fate = DEID_FATE_REPLACE;
		return shift_dates(rvr, v, len, offset, nv);
	}
	if ((r->opts & DEID_OPT_DESC) && o->clean_descriptors && !is_sq && deid_vr_is_text(rvr)) {
		int err = clean_text(v, len, nv);

		*fate = DEID_FATE_REPLACE;
		/* Nothing left of a label the table gives a dummy (RTPlanLabel, StructureSetLabel:
		 * type 1): the dummy then. */
		if (!err && nv->len == 0 && len &&
		    (r->act == DEID_ACT_D || r->act == DEID_ACT_ZD || r->act == DEID_ACT_XZD))
			return dummy(d, offset, tag, rvr, v, len, nv);
		return err;
	}
	/* PatientName is Z and PatientID Z/D in the table; Z allows "a dummy value consistent
	 * with the VR" (PS3.15 E.1.1), and the view needs one patient per folder: both get
	 * keyed pseudonyms, as D. */
	switch (tag == 0x00100010u || tag == 0x00100020u ? (unsigned char)DEID_ACT_D : r->act) {
	case DEID_ACT_X:
		*fate = DEID_FATE_DROP;
		return 0;
	case DEID_ACT_XD:
		/* X/D: emptied rather than removed, as some are type 2 (RTPlanDate, RTPlanTime in
		 * RT General Plan); a sequence goes. */
		*fate = is_sq ? DEID_FATE_DROP : DEID_FATE_EMPTY;
		return 0;
	case DEID_ACT_XZU:
		*fate = is_sq ? DEID_FATE_ITEMS : DEID_FATE_EMPTY;
		return 0;
	case DEID_ACT_U:
		if (is_sq) {
			*fate = DEID_FATE_EMPTY;
			return 0;
		}
		*fate = DEID_FATE_REPLACE;
		return remap_uids(d, v, len, nv);
	case DEID_ACT_XZD:
		if (is_sq) {
			*fate = DEID_FATE_DROP; /* type 3 where they occur (above) */
			return 0;
		}
		/* Z/D and X/Z/D take the dummy: some are type 1 in the enhanced IODs (ContentDate
		 * and ContentTime in Multi-frame Functional Groups, DeviceSerialNumber in Enhanced
		 * General Equipment), where an empty value is invalid (dciodvfy). */
		__attribute__((fallthrough));
	case DEID_ACT_ZD:
		__attribute__((fallthrough));
	case DEID_ACT_D:
		if (is_sq) {
			*fate = DEID_FATE_EMPTY;
			return 0;
		}
		if (strcmp(rvr, "PN") == 0 || tag == 0x00100020u) {
			/* PN: the alphabetic group hashed (what an attribute set and DICOM JSON
			 * carry, so a folder and its files agree), written as the only group. */
			if (strcmp(rvr, "PN") == 0 && memchr(v, '=', len))
				len = (size_t)((const char *)memchr(v, '=', len) - v);
			*fate = DEID_FATE_REPLACE;
			return dummy(d, offset, tag, strcmp(rvr, "PN") == 0 ? "PN" : "LO", v, len,
				     nv);
		}
		*fate = DEID_FATE_REPLACE;
		return dummy(d, offset, tag, rvr, v, len, nv);
	default: /* Z, X/Z: emptied, the attribute stays */
		/* ...but a sequence the table lets go (X/Z, and X/Z/D above) goes: those are type 3 where
		 * they occur (ReferencedStudySequence in General Study: an empty one is invalid,
		 * dciodvfy says), but for AcquisitionContextSequence, type 2. */
		if (is_sq && r->act == DEID_ACT_XZ && tag != 0x00400555u) {
			*fate = DEID_FATE_DROP;
			return 0;
		}
		*fate = DEID_FATE_EMPTY;
		return 0;
	}
}

size_t deid_method_codes(const struct deid *d, struct deid_code out[DEID_CODES_MAX])
{
	const struct deid_options *o = &d->opts;
	size_t n = 0;

	/* Safe Private (113111) is not claimed: no private element is kept (deid.h). */
	out[n++] = (struct deid_code){"113100", "Basic Application Confidentiality Profile"};
	if (o->clean_descriptors)
		out[n++] = (struct deid_code){"113105", "Clean Descriptors Option"};
	if (o->retain_dates)
		out[n++] = (struct deid_code){
			"113107", "Retain Longitudinal Temporal Information Modified Dates Option"};
	if (o->retain_patient_chars)
		out[n++] = (struct deid_code){"113108", "Retain Patient Characteristics Option"};
	if (o->retain_device)
		out[n++] = (struct deid_code){"113109", "Retain Device Identity Option"};
	return n;
}
