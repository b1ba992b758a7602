/* How folders and files are named (DESIGN.md §1, "Names"): the one place that enforces every
 * rule, for every folder kind and every layout template (fs/layout.c parses them into the
 * struct names_format below; this file expands them). A name is valid UTF-8, at most 255 bytes, has no
 * '/', NUL or control character, is never empty, never starts with a dot (so never "." or ".."),
 * is never a desktop junk name, and is unique within its folder by a short suffix derived from
 * the entry's identity, never from listing order: the same set of entries gets the same names in
 * any order. Pure functions: no I/O, no locks (any thread). */
#ifndef TROLLEY_NAMES_H
#define TROLLEY_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/attrs.h"

/** Longest name a folder entry may have (NAME_MAX). */
#define NAMES_MAX 255
/** Buffer size that holds any name with its NUL. */
#define NAMES_BUF (NAMES_MAX + 1)
/** Length of the clash suffix " ~xxxxxx". */
#define NAMES_SUFFIX_LEN 8
/** How many hash suffix rounds names_make_unique() tries before the last-resort suffix. */
#define NAMES_ROUNDS 8
/** The text a name is given when everything that would name it is empty. */
#define NAMES_UNNAMED "unnamed"

/** What a folder's children are: their identity (names_key()), what names them when every field
 * of their format is empty, and their extension. */
enum names_kind {
	NAMES_PATIENT,	    /* by a format; "unnamed" when its fields are empty */
	NAMES_STUDY,	    /* by a format; else the StudyInstanceUID */
	NAMES_SERIES,	    /* by a format; else the SeriesInstanceUID */
	NAMES_INSTANCE,	    /* by a format, ".dcm" added; else the SOPInstanceUID */
	NAMES_STUDY_UID,    /* under /studies: "<StudyInstanceUID>" */
	NAMES_SERIES_UID,   /* "<SeriesInstanceUID>" */
	NAMES_INSTANCE_UID, /* "<SOPInstanceUID>.dcm" */
};

/** Modifiers of a field (%{Keyword:iso}, %{Keyword:alnum}). */
#define NAMES_MOD_ISO	1u /* a DA value YYYYMMDD shown as YYYY-MM-DD */
#define NAMES_MOD_ALNUM 2u /* only ASCII letters and digits kept (BIDS labels) */

/** Most parts (literal runs and fields) one format holds. */
#define NAMES_FORMAT_PARTS 32
/** Most literal bytes one format holds. */
#define NAMES_FORMAT_TEXT 256

/**
 * One part of a format: a literal run (@tag 0: @len bytes at @off of the format's text) or a
 * field (@tag, @mods). @item says where it goes: -1 the prefix (always shown), nitems the suffix
 * (always shown), else item @item; @sep marks the literal before an item, shown only between
 * two shown items. An item is one field, or a group <...> of fields and literals, shown only
 * when every field in it has a value. @own marks a field of the entry's own level.
 */
struct names_part {
	int item;
	bool sep;
	bool own; /* a field of the entry's own level (not of a parent's) */
	uint32_t tag;
	unsigned mods;
	uint16_t off, len;
};

/** How the entries of one level are named: a parsed component of a layout template. Plain data
 * (no pointers): copy it freely. */
struct names_format {
	struct names_part parts[NAMES_FORMAT_PARTS];
	size_t nparts;
	int nitems;
	char text[NAMES_FORMAT_TEXT];
};

/**
 * Make one field printable: invalid UTF-8 becomes U+FFFD, '/' and control characters '_',
 * surrounding spaces are trimmed (and, with @pn, trailing '^' of an empty PN component). Writes
 * at most @n bytes with NUL, cutting only at a character boundary.
 */
void names_clean(const char *in, char *out, size_t n, bool pn);

/**
 * The name of an entry of @kind from its attributes, before any clash suffix. The readable kinds
 * (patient, study, series, instance) are named by @fmt: its prefix, then each item whose fields
 * have values, each after the separator written before it if an earlier item was shown, then
 * its suffix. When no field of the entry's own level (@own) is shown, the cleaned UID (a
 * patient: "unnamed") stands for the items: fields of its parents alone would give every entry
 * of the folder the same name.
 * A NULL @fmt names them by that fallback alone. The UID kinds ignore @fmt. A name that would start with
 * '.' starts with '_' instead (the dot would hide it from ls and file managers). An entry named
 * by a UID that fails query_uid_is_valid(), a name that is a desktop junk name, and a name over
 * NAMES_MAX bytes (cut at a character boundary), and a name of the last-resort form
 * (names_is_last_resort()) always carry the suffix of names_add_suffix()
 * (round 1), so they can never take the name of another entry. Always a valid name.
 */
void names_entry(enum names_kind kind, const struct names_format *fmt, const struct attrset *a,
		 char out[NAMES_BUF]);

/**
 * The identity of an entry of @kind: what the clash suffix is made from, and what tells
 * duplicate results apart (PatientID and raw PatientName; the UID of the other kinds).
 * @return a string the caller frees, or NULL on ENOMEM.
 */
char *names_key(enum names_kind kind, const struct attrset *a);

/**
 * Add the clash suffix " ~xxxxxx" (6 hex digits of a hash of @key and @round, round 1 being
 * the plain hash) to @name in place, before a ".dcm" extension if there is one, cutting the
 * base at a character boundary so the result fits NAMES_MAX. @name holds NAMES_BUF bytes.
 */
void names_add_suffix(char *name, const char *key, int round);

/**
 * Make @names unique among themselves and against @reserved (names the folder already has,
 * such as metadata.json, which never move). Every name that clashes gets the suffix of round 1
 * from its own @keys entry; a suffixed name that still clashes (with a name kept in an earlier
 * round, or with another new one) tries the next round, up to NAMES_ROUNDS. Which names move
 * depends only on the set of (name, key) pairs, never on their order. The hash suffixes are
 * public, so an archive's values can be chosen to make them clash round after round: entries
 * still clashing after the last round get the last-resort suffix " ~#N" instead, N being their
 * place (from 1) among those entries in key order. No other name has that form (names_entry()
 * suffixes a name that would), so these are unique by construction: no entry is ever left out.
 * Keys must be distinct. Each names[i] holds NAMES_BUF bytes. O(n log n) per round.
 * @return 0 or -ENOMEM (names unchanged).
 */
int names_make_unique(char (*names)[NAMES_BUF], const char *const *keys, size_t n,
		      const char *const *reserved, size_t nreserved);

/**
 * Whether @name is a name that names_make_unique() can have given the entry of @kind (named by
 * @fmt) with attributes @a: its plain name (0) or its name with the suffix of round r (r). @return the
 * round, or -1 if @name cannot be this entry's. A lookup that lacks the entry's siblings uses
 * this to recognise it.
 */
int names_match_round(enum names_kind kind, const struct names_format *fmt, const struct attrset *a,
		      const char *name);

/** Whether @name ends with the last-resort suffix of names_make_unique() (" ~#" and decimal
 * digits, before ".dcm" if any). Such a name depends on its siblings: only the folder's listing
 * can tell which entry it is. */
bool names_is_last_resort(const char *name);

/** Whether @name ends with a clash suffix (" ~" and 6 hex digits, before ".dcm" if any); if so
 * and @base is not NULL, the name without it goes to @base (NAMES_BUF bytes). */
bool names_strip_suffix(const char *name, char *base);

/**
 * A DICOM matching pattern that finds @value on any archive. Every run of characters that are
 * wildcards or value separators, or that a server may not match as sent, becomes '*'. With
 * @shown, @value is as a name shows it: naming may have changed characters ('/' and control
 * characters became '_', a leading '.' became '_', invalid UTF-8 became U+FFFD), so a '_'
 * becomes '?' (it stood for one character); else @value is the archive's own and a '_' stays.
 * It may match more than the entry: results are to be filtered by their names. Writes at most
 * @n bytes with NUL. @return whether the pattern has a character that is no wildcard (else it
 * would match everything).
 */
bool names_query_pattern(const char *value, bool shown, char *out, size_t n);

/** Whether @name obeys every naming rule (the property the fuzzer and the tests assert). */
bool names_is_valid(const char *name);

/** Whether @name is one of the desktop junk names never sent to the archive (.Trash, ...). */
bool names_is_junk(const char *name);

#endif
