/* Naming. The suffix comes from the UID (FNV-1a), never from listing order, so a name stays the
 * same when the archive gains or loses other entries. */
#include "fs/names.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tags.h"

#define SUFFIX_LEN 8 /* " ~" + 6 hex */

/* Length of the valid UTF-8 sequence at @s (max @n bytes), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are not valid UTF-8. */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

void names_clean(const char *in, char *out, size_t n)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t len = strlen(in), o = 0, i = 0;

	if (n == 0)
		return;
	while (i < len && s[i] == ' ')
		i++;
	while (len > i && (s[len - 1] == ' ' || s[len - 1] == '^'))
		len--;
	while (i < len) {
		size_t k = utf8_seq(s + i, len - i);
		const char *piece;
		size_t plen;
		char one;

		if (k == 0) {
			piece = "\xef\xbf\xbd"; /* U+FFFD */
			plen = 3;
			k = 1;
		} else if (k == 1 && (s[i] < 0x20 || s[i] == 0x7f || s[i] == '/')) {
			one = '_';
			piece = &one;
			plen = 1;
		} else {
			piece = (const char *)s + i;
			plen = k;
		}
		if (o + plen + 1 > n)
			break;
		memcpy(out + o, piece, plen);
		o += plen;
		i += k;
	}
	out[o] = '\0';
}

/* Append " " + cleaned @field (or @pre field @post) to @out if the field is not empty. */
static void join_field(char *out, size_t n, const char *field, const char *pre, const char *post)
{
	char clean[NAMES_BUF * 2];
	size_t o = strlen(out);

	names_clean(field, clean, sizeof(clean));
	if (!clean[0] || o + 1 >= n)
		return;
	snprintf(out + o, n - o, "%s%s%s%s", o ? " " : "", pre, clean, post);
}

/* Names longer than NAMES_MAX lose their tail and gain the suffix, so they stay unique. */
static void fit_name(char *out, size_t n, const char *full, const char *key)
{
	size_t len = strlen(full);

	/* "." and ".." name the folder itself and its parent: never an entry. */
	if (strcmp(full, ".") == 0 || strcmp(full, "..") == 0) {
		snprintf(out, n, "%s", full[1] ? "__" : "_");
		return;
	}
	if (len <= NAMES_MAX && len < n) {
		memcpy(out, full, len + 1);
		return;
	}
	names_clean(full, out, n < NAMES_BUF ? n : NAMES_BUF);
	names_add_suffix(out, key);
}

static void dicom_date(const char *da, char *out, size_t n)
{
	/* DA is YYYYMMDD (PS3.5 §6.2); anything else is shown as it came. */
	if (strlen(da) == 8 && strspn(da, "0123456789") == 8)
		snprintf(out, n, "%.4s-%.2s-%.2s", da, da + 4, da + 6);
	else
		snprintf(out, n, "%s", da);
}

void names_patient(const struct attrset *a, char *out, size_t n)
{
	char full[NAMES_BUF * 3] = "", key[NAMES_BUF * 2];

	join_field(full, sizeof(full), attrset_str(a, TAG_PatientName), "", "");
	join_field(full, sizeof(full), attrset_str(a, TAG_PatientID), "[", "]");
	if (!full[0])
		snprintf(full, sizeof(full), "unnamed");
	names_patient_key(a, key, sizeof(key));
	fit_name(out, n, full, key);
}

void names_patient_key(const struct attrset *a, char *out, size_t n)
{
	snprintf(out, n, "%s\\%s", attrset_str(a, TAG_PatientID), attrset_str(a, TAG_PatientName));
}

void names_study(const struct attrset *a, char *out, size_t n)
{
	char full[NAMES_BUF * 3] = "", date[64];
	const char *uid = attrset_str(a, TAG_StudyInstanceUID);

	dicom_date(attrset_str(a, TAG_StudyDate), date, sizeof(date));
	join_field(full, sizeof(full), date, "", "");
	join_field(full, sizeof(full), attrset_str(a, TAG_StudyDescription), "", "");
	join_field(full, sizeof(full), attrset_str(a, TAG_AccessionNumber), "[", "]");
	if (!full[0])
		join_field(full, sizeof(full), uid, "", "");
	fit_name(out, n, full, uid);
}

void names_series(const struct attrset *a, char *out, size_t n)
{
	char full[NAMES_BUF * 3] = "";
	const char *uid = attrset_str(a, TAG_SeriesInstanceUID);

	join_field(full, sizeof(full), attrset_str(a, TAG_SeriesNumber), "", "");
	join_field(full, sizeof(full), attrset_str(a, TAG_Modality), "", "");
	join_field(full, sizeof(full), attrset_str(a, TAG_SeriesDescription), "", "");
	if (!full[0])
		join_field(full, sizeof(full), uid, "", "");
	fit_name(out, n, full, uid);
}

void names_flat_instance(const struct attrset *a, char *out, size_t n)
{
	char series[64], number[64], full[NAMES_BUF * 2] = "";
	const char *uid = attrset_str(a, TAG_SOPInstanceUID);

	names_clean(attrset_str(a, TAG_SeriesNumber), series, sizeof(series));
	names_clean(attrset_str(a, TAG_InstanceNumber), number, sizeof(number));
	if (series[0] && number[0])
		snprintf(full, sizeof(full), "%s-%s.dcm", series, number);
	else
		snprintf(full, sizeof(full), "%s.dcm", number[0] ? number : uid);
	fit_name(out, n, full, uid);
}

void names_instance(const struct attrset *a, char *out, size_t n)
{
	char full[NAMES_BUF * 2] = "";
	const char *uid = attrset_str(a, TAG_SOPInstanceUID);

	join_field(full, sizeof(full), attrset_str(a, TAG_InstanceNumber), "", "");
	if (!full[0])
		join_field(full, sizeof(full), uid, "", "");
	strncat(full, ".dcm", sizeof(full) - strlen(full) - 1);
	fit_name(out, n, full, uid);
}

static uint32_t fnv1a32(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* Cut @s to at most @max bytes at a UTF-8 character boundary. */
static void cut_utf8(char *s, size_t max)
{
	size_t len = strlen(s);

	if (len <= max)
		return;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	s[max] = '\0';
}

void names_add_suffix(char *name, const char *key)
{
	char ext[8] = "", suffix[16];
	size_t len = strlen(name);

	snprintf(suffix, sizeof(suffix), " ~%06x", fnv1a32(key) & 0xffffff);
	if (len >= 4 && strcmp(name + len - 4, ".dcm") == 0) {
		strcpy(ext, ".dcm");
		name[len - 4] = '\0';
	}
	cut_utf8(name, NAMES_MAX - SUFFIX_LEN - strlen(ext));
	strcat(name, suffix);
	strcat(name, ext);
}

static int cmp_index_by_name(const void *a, const void *b, void *arg)
{
	char(*names)[NAMES_BUF] = arg;

	return strcmp(names[*(const size_t *)a], names[*(const size_t *)b]);
}

void names_make_unique(char (*names)[NAMES_BUF], const char *const *keys, size_t n)
{
	size_t *order;
	bool *clash;

	if (n < 2)
		return;
	order = malloc(n * sizeof(*order));
	clash = calloc(n, sizeof(*clash));
	if (!order || !clash) {
		/* Without memory to sort, suffix everything: unique, if less pretty. */
		for (size_t i = 0; i < n; i++)
			names_add_suffix(names[i], keys[i]);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), cmp_index_by_name, names);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(names[order[i]], names[order[i - 1]]) == 0)
			clash[order[i]] = clash[order[i - 1]] = true;
	}
	for (size_t i = 0; i < n; i++)
		if (clash[i])
			names_add_suffix(names[i], keys[i]);
out:
	free(order);
	free(clash);
}

bool names_is_junk(const char *name)
{
	static const char *const exact[] = {".xdg-volume-info", "autorun.inf", "desktop.ini",
					    ".DS_Store",	".hidden",     ".directory",
					    "Desktop.ini",	"AutoRun.inf", ".localized"};

	if (strncmp(name, ".Trash", 6) == 0 || strncmp(name, "._", 2) == 0)
		return true;
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (strcmp(name, exact[i]) == 0)
			return true;
	return false;
}
