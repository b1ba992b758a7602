/* Naming: every rule of DESIGN.md §1 "Names" is applied here, and only here. The suffix comes
 * from the entry's identity (FNV-1a of its UID, or of PatientID and PatientName), never from
 * listing order, so a name stays the same when the archive gains or loses other entries. */
#include "fs/names.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/query.h"
#include "core/tags.h"

#define SUFFIX_LEN NAMES_SUFFIX_LEN
#define EXT	   ".dcm"
#define EXT_LEN	   4
/* A field may be longer than a name: it is cleaned whole and the name cut once at the end. */
#define FIELD_BUF (NAMES_BUF * 4)

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

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

void names_clean(const char *in, char *out, size_t n, bool pn)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t len = strlen(in), o = 0, i = 0;

	if (n == 0)
		return;
	while (i < len && s[i] == ' ')
		i++;
	while (len > i && (s[len - 1] == ' ' || (pn && s[len - 1] == '^')))
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
		} else if (k == 1 && (is_control(s[i]) || s[i] == '/')) {
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

/* Round 1 is the plain hash of the key (the suffix users see almost always); a later round
 * hashes on with the round number, so a clash of two suffixes is not repeated. */
static uint32_t suffix_hash(const char *key, int round)
{
	uint32_t h = hash_fnv32_str(HASH_FNV32_INIT, key);
	char more[16];

	if (round <= 1)
		return h;
	snprintf(more, sizeof(more), "#%d", round);
	return hash_fnv32_str(h, more);
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

/* Put @suffix at the end of @name (NAMES_BUF bytes), before a ".dcm" extension if there is one,
 * cutting the base at a character boundary so the result fits NAMES_MAX. */
static void put_suffix(char *name, const char *suffix)
{
	size_t len = strlen(name);
	bool ext = len >= EXT_LEN && strcmp(name + len - EXT_LEN, EXT) == 0;

	if (ext)
		name[len - EXT_LEN] = '\0';
	cut_utf8(name, NAMES_MAX - strlen(suffix) - (ext ? EXT_LEN : 0));
	strcat(name, suffix);
	if (ext)
		strcat(name, EXT);
}

void names_add_suffix(char *name, const char *key, int round)
{
	char suffix[16];

	snprintf(suffix, sizeof(suffix), " ~%06x", (unsigned)(suffix_hash(key, round) & 0xffffff));
	put_suffix(name, suffix);
}

/* Where the last-resort suffix " ~#N" of @name starts (before ".dcm" if any), or NULL. */
static const char *last_resort_at(const char *name)
{
	size_t len = strlen(name), end = len, digits = 0;

	if (len >= EXT_LEN && strcmp(name + len - EXT_LEN, EXT) == 0)
		end -= EXT_LEN;
	while (digits < end && name[end - 1 - digits] >= '0' && name[end - 1 - digits] <= '9')
		digits++;
	if (digits == 0 || end < digits + 3 || name[end - digits - 1] != '#' ||
	    name[end - digits - 2] != '~' || name[end - digits - 3] != ' ')
		return NULL;
	return name + end - digits - 3;
}

bool names_is_last_resort(const char *name)
{
	return last_resort_at(name) != NULL;
}

/*
 * The last step of every name: @text (cleaned fields, any length) plus @ext. Empty becomes
 * "unnamed"; a leading '.' becomes '_' (one byte for one: "..^DOTS" is "_.^DOTS", "." is "_");
 * a name too long, a junk name or a name of a bad UID (@forced) gets the suffix of @key, so it
 * is unique without depending on its siblings.
 */
static void finish(const char *text, const char *ext, const char *key, bool forced,
		   char out[NAMES_BUF])
{
	char full[FIELD_BUF * 2];

	snprintf(full, sizeof(full), "%s%s", text[0] ? text : NAMES_UNNAMED, ext);
	if (full[0] == '.')
		full[0] = '_';
	/* A name of the last-resort form would take the name names_make_unique() gives an
	 * entry that no hash suffix could place: that form is kept for those. */
	if (strlen(full) > NAMES_MAX || names_is_junk(full) || names_is_last_resort(full))
		forced = true;
	if (forced) {
		/* names_add_suffix() wants the extension at the end of a buffer of NAMES_BUF. */
		size_t ext_len = strlen(ext);

		full[strlen(full) - ext_len] = '\0';
		cut_utf8(full, NAMES_MAX - ext_len);
		strcat(full, ext);
		names_add_suffix(full, key, 1);
	}
	memcpy(out, full, strlen(full) + 1);
}

static void dicom_date(const char *da, char *out, size_t n)
{
	/* DA is YYYYMMDD (PS3.5 §6.2); anything else is shown as it came (and cleaned). */
	if (strlen(da) == 8 && strspn(da, "0123456789") == 8)
		snprintf(out, n, "%.4s-%.2s-%.2s", da, da + 4, da + 6);
	else
		snprintf(out, n, "%s", da);
}

static uint32_t uid_tag(enum names_kind kind)
{
	switch (kind) {
	case NAMES_STUDY:
	case NAMES_STUDY_UID:
		return TAG_StudyInstanceUID;
	case NAMES_SERIES:
	case NAMES_SERIES_UID:
		return TAG_SeriesInstanceUID;
	default:
		return TAG_SOPInstanceUID;
	}
}

char *names_key(enum names_kind kind, const struct attrset *a)
{
	const char *id, *name;
	char *out;
	size_t n;

	if (kind != NAMES_PATIENT)
		return strdup(attrset_str(a, uid_tag(kind)));
	id = attrset_str(a, TAG_PatientID);
	name = attrset_str(a, TAG_PatientName);
	n = strlen(id) + strlen(name) + 2;
	out = malloc(n);
	if (out)
		snprintf(out, n, "%s\\%s", id, name);
	return out;
}

/* An entry named by its UID: the UID itself when it is one, else its cleaned text with the
 * suffix, so a bad UID ("", ".", "1.2/../x") can never take a real UID's name. */
static void uid_name(const char *uid, const char *ext, char out[NAMES_BUF])
{
	char clean[FIELD_BUF];

	if (query_uid_is_valid(uid)) {
		finish(uid, ext, uid, false, out);
		return;
	}
	names_clean(uid, clean, sizeof(clean), false);
	finish(clean, ext, uid, true, out);
}

/* The shown text of field @p of @a: cleaned (a PN loses its trailing '^'), a date in ISO form
 * with NAMES_MOD_ISO, letters and digits alone with NAMES_MOD_ALNUM. */
static void field_text(const struct names_part *p, const struct attrset *a, char *out, size_t n)
{
	const char *value = attrset_str(a, p->tag);
	char date[FIELD_BUF];
	size_t o = 0;

	if (p->mods & NAMES_MOD_ISO) {
		dicom_date(value, date, sizeof(date));
		value = date;
	}
	names_clean(value, out, n, strcmp(tags_vr(p->tag), "PN") == 0);
	if (!(p->mods & NAMES_MOD_ALNUM))
		return;
	for (size_t i = 0; out[i]; i++)
		if ((out[i] >= 'A' && out[i] <= 'Z') || (out[i] >= 'a' && out[i] <= 'z') ||
		    (out[i] >= '0' && out[i] <= '9'))
			out[o++] = out[i];
	out[o] = '\0';
}

/* Append @len bytes of @s to @out (size @n), as much as fits. */
static void append(char *out, size_t n, const char *s, size_t len)
{
	size_t o = strlen(out);

	if (o + 1 >= n)
		return;
	if (len > n - o - 1)
		len = n - o - 1;
	memcpy(out + o, s, len);
	out[o + len] = '\0';
}

/* Item @item of @fmt into @out: empty if one of its fields is. @return whether it holds a field
 * of the entry's own level. */
static bool item_text(const struct names_format *fmt, int item, const struct attrset *a, char *out,
		      size_t n)
{
	char value[FIELD_BUF];
	bool own = false;

	out[0] = '\0';
	for (size_t i = 0; i < fmt->nparts; i++) {
		const struct names_part *p = &fmt->parts[i];

		if (p->item != item || p->sep)
			continue;
		if (!p->tag) {
			append(out, n, fmt->text + p->off, p->len);
			continue;
		}
		field_text(p, a, value, sizeof(value));
		if (!value[0]) {
			out[0] = '\0';
			return false;
		}
		append(out, n, value, strlen(value));
		own |= p->own;
	}
	return own;
}

/* The literal parts of @fmt that belong to @item (@sep: its separator) into @out. */
static void literal_text(const struct names_format *fmt, int item, bool sep, char *out, size_t n)
{
	for (size_t i = 0; i < fmt->nparts; i++) {
		const struct names_part *p = &fmt->parts[i];

		if (p->item == item && p->sep == sep && !p->tag)
			append(out, n, fmt->text + p->off, p->len);
	}
}

/* @fmt expanded for @a, @fallback standing for the items when none is shown. */
static void format_text(const struct names_format *fmt, const struct attrset *a,
			const char *fallback, char *out, size_t n)
{
	char item[FIELD_BUF * 2], items[FIELD_BUF * 2] = "";
	bool shown = false, own = false;

	out[0] = '\0';
	if (!fmt) {
		append(out, n, fallback, strlen(fallback));
		return;
	}
	for (int k = 0; k < fmt->nitems; k++) {
		bool mine = item_text(fmt, k, a, item, sizeof(item));

		if (!item[0])
			continue;
		if (shown)
			literal_text(fmt, k, true, items, sizeof(items));
		append(items, sizeof(items), item, strlen(item));
		shown = true;
		own |= mine;
	}
	literal_text(fmt, -1, false, out, n);
	append(out, n, own ? items : fallback, strlen(own ? items : fallback));
	literal_text(fmt, fmt->nitems, false, out, n);
}

void names_entry(enum names_kind kind, const struct names_format *fmt, const struct attrset *a,
		 char out[NAMES_BUF])
{
	char full[FIELD_BUF * 2], fallback[FIELD_BUF];
	const char *uid = attrset_str(a, uid_tag(kind));
	char *key;

	switch (kind) {
	case NAMES_STUDY_UID:
	case NAMES_SERIES_UID:
		uid_name(uid, "", out);
		return;
	case NAMES_INSTANCE_UID:
		uid_name(uid, EXT, out);
		return;
	case NAMES_PATIENT:
		format_text(fmt, a, NAMES_UNNAMED, full, sizeof(full));
		key = names_key(kind, a);
		/* Without memory for the key, a name is still made: only its suffix differs. */
		finish(full, "", key ? key : "", false, out);
		free(key);
		return;
	default:
		names_clean(uid, fallback, sizeof(fallback), false);
		format_text(fmt, a, fallback, full, sizeof(full));
		finish(full, kind == NAMES_INSTANCE ? EXT : "", uid, false, out);
		return;
	}
}

/* One name of the uniqueness rounds: which entry (or reserved name) holds it. */
struct slot {
	const char *name;
	size_t index; /* into names[], or SIZE_MAX for a reserved name */
};

static int cmp_slot(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Order of entries still clashing after the last round: by key, so that the last-resort
 * numbers depend on the set of entries, never on listing order. */
struct left {
	const char *key;
	size_t index;
};

static int cmp_left(const void *a, const void *b)
{
	return strcmp(((const struct left *)a)->key, ((const struct left *)b)->key);
}

/* The entries @left[0..@nleft) (names[] of "") get their base name with " ~#N", N their
 * place among them in key order from 1. No other name has that form (finish() forces a suffix
 * on a name that would), and the numbers differ: unique whatever the other names are. */
static void name_last_resort(char (*names)[NAMES_BUF], char (*base)[NAMES_BUF], struct left *left,
			     size_t nleft)
{
	char suffix[32];

	qsort(left, nleft, sizeof(*left), cmp_left);
	for (size_t k = 0; k < nleft; k++) {
		size_t i = left[k].index;

		memcpy(names[i], base[i], NAMES_BUF);
		snprintf(suffix, sizeof(suffix), " ~#%zu", k + 1);
		put_suffix(names[i], suffix);
	}
}

int names_make_unique(char (*names)[NAMES_BUF], const char *const *keys, size_t n,
		      const char *const *reserved, size_t nreserved)
{
	/* round[i]: the round that gave names[i] its name (0: its own name); moving[i]: it
	 * clashes and must try the next round. A name kept in an earlier round (or reserved)
	 * wins over a new one; two new ones that clash both move on. */
	struct slot *slots = malloc((n + nreserved + 1) * sizeof(*slots));
	int *round = calloc(n + 1, sizeof(*round));
	bool *moving = calloc(n + 1, sizeof(*moving));
	struct left *left = malloc((n + 1) * sizeof(*left));
	char(*base)[NAMES_BUF] = NULL;
	int err = -ENOMEM;
	size_t movers = 0, nleft = 0;

	if (!slots || !round || !moving || !left)
		goto out;
	for (int r = 0;; r++) {
		size_t m = 0;

		for (size_t i = 0; i < nreserved; i++)
			slots[m++] = (struct slot){reserved[i], SIZE_MAX};
		for (size_t i = 0; i < n; i++)
			if (names[i][0])
				slots[m++] = (struct slot){names[i], i};
		qsort(slots, m, sizeof(*slots), cmp_slot);
		movers = 0;
		for (size_t i = 0; i < m;) {
			size_t j = i + 1;
			bool kept = false;

			while (j < m && strcmp(slots[j].name, slots[i].name) == 0)
				j++;
			/* A group of one keeps its name. In a clash, a reserved name or one kept
			 * in an earlier round stays; every name new in this round moves on. */
			for (size_t k = i; j - i > 1 && k < j; k++)
				kept |= slots[k].index == SIZE_MAX || round[slots[k].index] < r;
			for (size_t k = i; j - i > 1 && k < j; k++) {
				size_t x = slots[k].index;

				if (x != SIZE_MAX && (!kept || round[x] == r)) {
					moving[x] = true;
					movers++;
				}
			}
			i = j;
		}
		if (!movers)
			break;
		if (!base) {
			/* The names before any suffix, to suffix again from in later rounds. */
			base = malloc((n + 1) * sizeof(*base));
			if (!base)
				goto out;
			memcpy(base, names, n * sizeof(*base));
		}
		for (size_t i = 0; i < n; i++) {
			if (!moving[i])
				continue;
			moving[i] = false;
			if (r + 1 > NAMES_ROUNDS) {
				/* Out of the rounds, and of the clashes: named at the end. */
				names[i][0] = '\0';
				left[nleft++] = (struct left){keys[i], i};
				continue;
			}
			memcpy(names[i], base[i], NAMES_BUF);
			names_add_suffix(names[i], keys[i], r + 1);
			round[i] = r + 1;
		}
	}
	if (nleft)
		name_last_resort(names, base, left, nleft);
	err = 0;
out:
	free(left);
	free(base);
	free(slots);
	free(round);
	free(moving);
	return err;
}

int names_match_round(enum names_kind kind, const struct names_format *fmt, const struct attrset *a,
		      const char *name)
{
	char base[NAMES_BUF], one[NAMES_BUF];
	char *key;
	int found = -1;

	names_entry(kind, fmt, a, base);
	if (strcmp(base, name) == 0)
		return 0;
	if (!names_strip_suffix(name, NULL))
		return -1;
	key = names_key(kind, a);
	if (!key)
		return -1;
	for (int r = 1; r <= NAMES_ROUNDS && found < 0; r++) {
		memcpy(one, base, sizeof(one));
		names_add_suffix(one, key, r);
		if (strcmp(one, name) == 0)
			found = r;
	}
	free(key);
	return found;
}

bool names_strip_suffix(const char *name, char *base)
{
	size_t len = strlen(name), end = len;

	if (len >= EXT_LEN && strcmp(name + len - EXT_LEN, EXT) == 0)
		end -= EXT_LEN;
	if (end < SUFFIX_LEN || name[end - SUFFIX_LEN] != ' ' || name[end - SUFFIX_LEN + 1] != '~')
		return false;
	for (size_t i = end - 6; i < end; i++)
		if (!strchr("0123456789abcdef", name[i]))
			return false;
	if (base)
		snprintf(base, NAMES_BUF, "%.*s%s", (int)(end - SUFFIX_LEN), name, name + end);
	return true;
}

/* Characters a PatientName or PatientID value may keep in a query as they are: they survive
 * naming unchanged, are no wildcard, and every archive matches them as sent. */
static bool is_plain(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '^' || c == '-' || c == '.';
}

/* Spaces and non-ASCII letters become '*' too: Orthanc 1.10 neither percent-decodes QIDO
 * values nor matches non-ASCII letters (measured). '_' goes as it is (unescaped in a URL). */
bool names_query_pattern(const char *value, bool shown, char *out, size_t n)
{
	bool selective = false;
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)value; *p && o + 2 < n; p++) {
		if (is_plain(*p) || (!shown && *p == '_')) {
			out[o++] = (char)*p;
			selective = true;
		} else if (*p == '_') {
			out[o++] = '?';
		} else if (o == 0 || out[o - 1] != '*') {
			out[o++] = '*';
		}
	}
	out[o] = '\0';
	return selective;
}

bool names_is_valid(const char *name)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t len = strlen(name);

	if (len == 0 || len > NAMES_MAX || name[0] == '.' || names_is_junk(name))
		return false;
	for (size_t i = 0; i < len;) {
		size_t k = utf8_seq(s + i, len - i);

		if (k == 0 || (k == 1 && (is_control(s[i]) || s[i] == '/')))
			return false;
		i += k;
	}
	return true;
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
