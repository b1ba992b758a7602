/* How folders and files are named (DESIGN.md §1, "Names"): human-readable, valid UTF-8, at most
 * 255 bytes, never containing '/' or NUL, never "." or "..", unique within a folder by a short
 * suffix derived from the UID, and stable across listings. Pure functions: no I/O. */
#ifndef TROLLEY_NAMES_H
#define TROLLEY_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/attrs.h"

/** Longest name a folder entry may have (NAME_MAX). */
#define NAMES_MAX 255
/** Buffer size that holds any name with its NUL. */
#define NAMES_BUF (NAMES_MAX + 1)

/**
 * Make one field printable: invalid UTF-8 becomes U+FFFD, '/' and control characters '_',
 * surrounding spaces (and trailing '^' of a PN) are trimmed. Writes at most @n bytes with NUL,
 * cutting only at a character boundary.
 */
void names_clean(const char *in, char *out, size_t n);

/** "<PatientName> [<PatientID>]" from a study's attributes. */
void names_patient(const struct attrset *a, char *out, size_t n);
/** The text that tells patients apart (PatientID and raw PatientName): the suffix's source. */
void names_patient_key(const struct attrset *a, char *out, size_t n);
/** "<YYYY-MM-DD> <StudyDescription> [<AccessionNumber>]"; the UID if all are empty. */
void names_study(const struct attrset *a, char *out, size_t n);
/** "<SeriesNumber> <Modality> <SeriesDescription>"; the UID if all are empty. */
void names_series(const struct attrset *a, char *out, size_t n);
/** "<SeriesNumber>-<InstanceNumber>.dcm" (the flat layout); the UID without a number. */
void names_flat_instance(const struct attrset *a, char *out, size_t n);
/** "<InstanceNumber>.dcm"; "<SOPInstanceUID>.dcm" without a number. */
void names_instance(const struct attrset *a, char *out, size_t n);

/**
 * Add the clash suffix " ~xxxxxx" (6 hex digits of a hash of @key) to @name in place, before a
 * ".dcm" extension if there is one, cutting the base so the result fits NAMES_MAX.
 * @name must hold NAMES_BUF bytes.
 */
void names_add_suffix(char *name, const char *key);

/**
 * Make @names unique: every name that occurs more than once gets the suffix of its own @keys
 * entry, so no name depends on listing order. Base names longer than the limit always carry
 * the suffix already. Keys must be distinct (the caller drops duplicate results first).
 * Each names[i] holds NAMES_BUF bytes.
 */
void names_make_unique(char (*names)[NAMES_BUF], const char *const *keys, size_t n);

/** Whether @name is one of the desktop junk names never sent to the archive (.Trash, ...). */
bool names_is_junk(const char *name);

#endif
