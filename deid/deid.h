/* The de-identified view (issue 21): PS3.15 Annex E, Basic Application Level Confidentiality
 * Profile, Table E.1-1 of DICOM edition 2024b, keyed and stateless. Every replacement value
 * (UIDs, patient pseudonyms, the per-patient date offset) is an HMAC-SHA256 of the original
 * under a secret key, so the same key gives byte-identical output on every open, mount and
 * machine with no mapping table, another key other values, and an original UID says nothing
 * about its replacement without the key. Pure functions over buffers: no I/O but the key file,
 * no logging of values (callers log what deid says went wrong, never the values or the key).
 *
 * What the profile does here, in short (mount.trolley.8, DE-IDENTIFICATION, says it for users):
 *  - every attribute of Table E.1-1 at any depth: D -> a dummy (a pseudonym for text, cut
 *    to the VR's length; 19000101 / 000000 for dates and times; a remapped UID; empty for
 *    numbers, bytes and sequences), Z -> empty, X -> removed, U -> UID remapped; the combined
 *    codes take the choice that keeps the IOD valid: X/Z and X/D -> emptied (some are
 *    type 2), Z/D and X/Z/D -> the dummy (some are type 1 in enhanced IODs); a sequence of
 *    those is removed (type 3 where they occur; AcquisitionContextSequence, type 2, is
 *    emptied); X/Z/U* sequences kept
 *    with their items cleaned and their UIDs remapped); PatientName and PatientID always get
 *    pseudonyms (Z allows a dummy); group lengths, whole overlays (60xx) and the archive's
 *    RetrieveURL/RetrieveURI go too;
 *  - every UI value with an instance role, at any depth and in the meta header, remapped; the
 *    UIDs of classes, transfer syntaxes, coding schemes and anything under 1.2.840.10008 kept;
 *  - private elements removed (also with retain_safe_private: no private element is known
 *    safe here, so none is kept and 113111 is not claimed);
 *  - group 0002 rewritten (core/part10.h's trolley implementation UID and version), preamble
 *    zeroed; PatientIdentityRemoved YES, DeidentificationMethod, DeidentificationMethodCode-
 *    Sequence (113100 and the options' codes), LongitudinalTemporalInformationModified
 *    (0028,0303) MODIFIED with retain_dates, else REMOVED (PS3.15 E.2).
 * Not covered: cleaning of pixel data (burned-in text: withheld instead), of structured
 * content (SR, KO, PR, encapsulated documents: withheld), and of free text in attributes the
 * table keeps. */
#ifndef TROLLEY_DEID_H
#define TROLLEY_DEID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/attrs.h"
#include "core/buf.h"
#include "core/uid.h"

/** The edition of PS3.15 whose Table E.1-1 deid/table.c implements. */
#define DEID_EDITION "2024b"

/** The least key length in bytes (256 bits, HMAC-SHA256's block of security). */
#define DEID_KEY_MIN 32
/** The most a key file may hold: a key, not a data file. */
#define DEID_KEY_MAX 4096

/** Room for a replacement UID and its NUL: a UID's ("2.25." and at most 39 digits, 2^128, fit). */
#define DEID_UID_MAX UID_MAX
/** Room for a pseudonym and its NUL. */
#define DEID_PSEUDONYM_MAX 32

/** deid_instance() result when the instance must not be served (its content says so). */
#define DEID_WITHHELD 1

/** The secret. Opaque; never logged; wiped when freed. */
struct deid_key;

/**
 * Load the key from @path: the file's whole content (at least DEID_KEY_MIN, at most
 * DEID_KEY_MAX bytes; a trailing newline counts as key). The file must be a regular file that
 * neither group nor others may read or write (mode & 077 == 0); a symbolic link is followed
 * and the file it names is checked.
 * @return 0 and *@out (caller frees with deid_key_free()); -EPERM if group/others may access
 * it; -EINVAL if it is shorter than DEID_KEY_MIN or longer than DEID_KEY_MAX or not a regular
 * file; -ENOMEM; or the -errno of open/read. @why (may be NULL) gets a static reason for the
 * log, which never holds any of the key.
 */
int deid_key_load(const char *path, struct deid_key **out, const char **why);
/** A key from @len bytes in memory (tests, fuzzing). @return 0, -EINVAL under DEID_KEY_MIN or
 * over DEID_KEY_MAX, -ENOMEM. */
int deid_key_from_bytes(const void *bytes, size_t len, struct deid_key **out);
/** Wipe and free; NULL is fine. */
void deid_key_free(struct deid_key *k);

/** The options of Table E.1-1 (each off by default; the CID 7050 code each adds). */
struct deid_options {
	bool retain_dates;	   /**< 113107 Retain Longitudinal Temporal Information with
				      Modified Dates: DA and DT shifted by a per-patient offset */
	bool retain_patient_chars; /**< 113108 Retain Patient Characteristics */
	bool retain_device;	   /**< 113109 Retain Device Identity */
	bool retain_safe_private;  /**< 113111 Retain Safe Private: accepted, keeps none (above) */
	bool clean_descriptors;	   /**< 113105 Clean Descriptors: words of a fixed vocabulary
				      of imaging terms kept, every other word dropped */
};

/** Key and options. Immutable once made: any number of threads may use one at once. */
struct deid;

/** Make a de-identifier from a copy of @k (which the caller may free) and @o (NULL: all off).
 * @return 0 and *@out (free with deid_free()), or -ENOMEM. */
int deid_new(const struct deid_key *k, const struct deid_options *o, struct deid **out);
/** Wipe and free; NULL is fine. */
void deid_free(struct deid *d);
/** The options @d was made with (borrowed, valid as long as @d). */
const struct deid_options *deid_opts(const struct deid *d);

/**
 * The replacement of the UID @uid (its trailing NUL/space padding ignored):
 * "2.25.<decimal of the first 128 bits of HMAC-SHA256(key, "uid" NUL uid)>". A well-known UID
 * (deid_uid_is_well_known()) comes back unchanged. Writes at most @n bytes with its NUL
 * (DEID_UID_MAX always fits). @return 0; -EINVAL if @uid is empty or not a UID (digits and
 * dots, at most 64 characters); -ENAMETOOLONG if @n is too small.
 */
int deid_uid(const struct deid *d, const char *uid, char *out, size_t n);
/** Whether @uid is one the profile keeps as it is: under the DICOM root 1.2.840.10008 (SOP
 * classes, transfer syntaxes, coding schemes, well-known frames of reference and palettes). */
bool deid_uid_is_well_known(const char *uid);
/** Whether the UI attribute @tag names a class, syntax or scheme rather than an instance
 * (SOPClassUID, ReferencedSOPClassUID, TransferSyntaxUID, CodingSchemeUID, ...): its values
 * are kept whatever they are; every other UI attribute is remapped with deid_uid(). */
bool deid_uid_tag_is_class(uint32_t tag);

/**
 * The pseudonym that replaces @value of attribute @tag (PatientID, PatientName, other PN and
 * identifier text the table says to replace with a dummy): a prefix naming the kind of value
 * ("PAT" for PatientID, "ANON^" for PatientName, "X" otherwise) and 20 uppercase hex digits of
 * HMAC-SHA256(key, "name" NUL tag NUL value). Letters, digits and '^' only: safe in a file
 * name and any VR it replaces. Equal values give equal pseudonyms; "" gives "". Writes at most
 * @n bytes with its NUL (DEID_PSEUDONYM_MAX always fits). @return 0 or -ENAMETOOLONG.
 */
int deid_pseudonym(const struct deid *d, uint32_t tag, const char *value, char *out, size_t n);

/** The date offset in days (negative, -1 to -3652) of the patient whose original PatientID is
 * @patient_id, from HMAC-SHA256(key, "date" NUL patient_id): the same for every study of that
 * patient. Used only with retain_dates. */
long deid_date_offset(const struct deid *d, const char *patient_id);

/**
 * De-identify a flat attribute set (a QIDO/C-FIND result; values as core/attrs.h says) in
 * place, by the same rules as deid_instance() (no sequences in a set): removed attributes
 * dropped, emptied ones emptied, pseudonyms and UIDs replaced, dates shifted or emptied,
 * private tags dropped. Dates need the set's PatientID (0010,0020) for the offset: without
 * one, retain_dates empties them. What fs/ names folders by and shows as xattrs.
 * @return 0 or -ENOMEM (the set may then be partly rewritten: drop it).
 */
int deid_attrset(const struct deid *d, struct attrset *s);

/**
 * Whether an instance must be withheld, from what a listing knows of it (the original set,
 * before deid_attrset()): SOPClassUID of an SR, KO (1.2.840.10008.5.1.4.1.1.88.*), PR
 * (...1.1.11.*) or encapsulated document (...1.1.104.*), or BurnedInAnnotation (0028,0301)
 * YES. A set without those attributes is not withheld here; deid_instance() still looks at
 * the file. @why (may be NULL) gets a static reason for the log and status.
 */
bool deid_withheld(const struct deid *d, const struct attrset *s, const char **why);

/**
 * The de-identified bytes of a whole DICOM object (a Part-10 file, or a bare data set as
 * core/part10.h accepts; explicit or implicit VR little endian, explicit VR big endian,
 * deflated, encapsulated pixel data, defined or undefined lengths at any depth): appended
 * to @out (initialised by the caller; its cap bounds the result). The output is a Part-10
 * file with a zeroed preamble and a new group 0002, in the input's transfer syntax (deflated
 * input comes out in explicit VR little endian). Pure: the same @d and input give the same
 * bytes. @why (may be NULL) gets a static reason on failure or withholding.
 * @return 0; DEID_WITHHELD (nothing appended) if the object must not be served (its SOP
 * class or BurnedInAnnotation YES, as deid_withheld()); -EIO if the bytes are not a valid
 * data set (every length is checked; nothing is read past @len); -E2BIG past @out's cap;
 * -ENOMEM. On any result but 0, @out is as it was.
 */
int deid_instance(const struct deid *d, const void *in, size_t len, struct buf *out,
		  const char **why);

/**
 * Every UID the view replaces in the object @in (as deid_instance() takes it), at any depth
 * (references in sequences, FrameOfReferenceUID, ...; not the meta group, whose
 * MediaStorageSOPInstanceUID is the SOPInstanceUID), handed to @fn with its replacement,
 * once per occurrence; @fn returns 0 to go on or -errno to stop. For the custodian's map.
 * @return 0; DEID_WITHHELD (nothing handed) if the view does not serve the object; -EIO if it
 * is no data set deid can read (@why says why); -ENOMEM; or what @fn returned.
 */
int deid_instance_uids(const struct deid *d, const void *in, size_t len,
		       int (*fn)(void *ctx, const char *old_uid, const char *new_uid), void *ctx,
		       const char **why);

/**
 * The de-identified DICOM JSON (PS3.18 F.2: an array of data sets, as metadata.json) of @len
 * bytes at @in, appended to @out: the same rules as deid_instance() at every depth; an
 * attribute given by BulkDataURI is dropped (its URL names the original UIDs), and so is a
 * data set deid_withheld() would withhold (by its SOPClassUID or BurnedInAnnotation); the
 * others gain PatientIdentityRemoved, DeidentificationMethod and (0028,0303).
 * @return 0, -EIO if @in is not a DICOM JSON array of objects, -E2BIG, -ENOMEM; on any error
 * @out is as it was.
 */
int deid_json(const struct deid *d, const char *in, size_t len, struct buf *out);

#endif
