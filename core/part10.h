/* What makes a blob a DICOM object we may keep, as archives really keep them: a Part-10 file
 * (128-byte preamble, "DICM", file meta group 0002, data set), a file whose meta group is
 * damaged, or a bare data set without any meta group. The instance is named by the data set's
 * own SOPInstanceUID (0008,0018), never by the meta group's copy of it. */
#ifndef TROLLEY_PART10_H
#define TROLLEY_PART10_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/uid.h"

/** Bytes of the head of an object that part10_inspect() may need (meta groups are small, and
 * (0008,0018) comes early in a data set). */
#define PART10_HEAD_MAX 65536

/** trolley's Implementation Class UID (PS3.7 D.3.3.2), a UUID-derived UID (PS3.5 B.2), and its
 * Implementation Version Name, written in every meta header trolley makes. */
#define PART10_IMPL_CLASS_UID "2.25.315106635683623311060527365042240585530"
#define PART10_IMPL_VERSION   "TROLLEY_1"

/** The most bytes part10_meta_write() writes (preamble, "DICM", group 0002 with 64-character
 * UIDs and a 16-character AE title). */
#define PART10_META_MAX 512

#define PART10_TS_IMPLICIT_LE "1.2.840.10008.1.2"
#define PART10_TS_EXPLICIT_LE "1.2.840.10008.1.2.1"
#define PART10_TS_DEFLATED_LE "1.2.840.10008.1.2.1.99"
#define PART10_TS_EXPLICIT_BE "1.2.840.10008.1.2.2"

/** What the head of an object says about it. */
struct part10_info {
	char sop_uid[UID_MAX];	  /**< the data set's SOPInstanceUID (0008,0018) */
	char sop_class[UID_MAX];  /**< its SOPClassUID (0008,0016), else the meta's (0002,0002) */
	char syntax[UID_MAX];	  /**< the transfer syntax the data set is in */
	size_t ds_offset;	  /**< where the data set starts in the object */
	/**
	 * false: the object is a sound Part-10 file, to be kept byte for byte as it came (even if
	 * its meta group names another instance than its data set does). true: it has no meta
	 * group or a damaged one; the file to keep is part10_meta_write()'s header followed by the
	 * object's bytes from ds_offset on, untouched. "Untouched" means every byte from the data
	 * set's first element to the object's last byte, as the archive sent it: no element is
	 * re-encoded, reordered, added or dropped (a trailing padding element stays, a deflated
	 * data set stays deflated). What is replaced is only what came before ds_offset: the
	 * preamble, "DICM" and the damaged meta group, of which nothing is kept (its values are
	 * written anew from the data set's own (0008,0016)/(0008,0018) and the syntax found).
	 */
	bool needs_meta;
	const char *why; /**< when needs_meta: what is wrong, for the log (a static string) */
};

/**
 * Inspect the first @len bytes of an object (at least up to its (0008,0018); PART10_HEAD_MAX
 * is always enough in practice). A meta group counts as damaged when the preamble is missing,
 * it is not explicit VR little endian, its group length (0002,0000) is missing or wrong, one of
 * its values has an odd length, or it lacks (0002,0003) or a valid (0002,0010). A bare data set
 * is recognised strictly: it starts with a group 0008 element, its elements up to (0008,0018)
 * ascend with known VRs and even lengths in explicit VR little endian, implicit VR little
 * endian or explicit VR big endian, and both (0008,0016) and (0008,0018) hold valid UIDs.
 * A deflated data set (PART10_TS_DEFLATED_LE) is inflated as far as (0008,0018).
 * @return 0 and *@info filled; -EINVAL if the bytes are no DICOM object (or one without a
 * SOPInstanceUID); -EAGAIN if @len bytes are too few to tell.
 */
int part10_inspect(const unsigned char *head, size_t len, struct part10_info *info);

/**
 * The data set's SOPInstanceUID (0008,0018) from the head of an object, as part10_inspect()
 * finds it. Writes at most @n bytes with NUL to @uid.
 * @return 0, -EINVAL or -EAGAIN as part10_inspect(); -ENAMETOOLONG if @n is too small.
 */
int part10_sop_uid(const unsigned char *head, size_t len, char *uid, size_t n);

/** Whether the explicit VR @vr (2 bytes) has a 2-byte reserved field and a 4-byte length
 * (PS3.5 §7.1.2: OB, OD, OF, OL, OV, OW, SQ, SV, UC, UN, UR, UT, UV), else a 2-byte length. */
bool part10_vr_has_long_length(const unsigned char *vr);

/**
 * Write a Part-10 header (128 zero bytes, "DICM", group 0002 in explicit VR little endian with
 * its group length, version 00\01, the two UIDs, @syntax, PART10_IMPL_CLASS_UID and
 * PART10_IMPL_VERSION, and @source_aet as (0002,0016) unless NULL or empty) to @out (@cap
 * bytes; PART10_META_MAX always fits). The data set follows it as it is.
 * @return the number of bytes written; -EINVAL if a UID is empty or over 64 characters or the
 * AE title over 16; -ENOSPC if @cap is too small.
 */
ssize_t part10_meta_write(unsigned char *out, size_t cap, const char *sop_class,
			  const char *sop_uid, const char *syntax, const char *source_aet);

/**
 * Whether the @len bytes at @data are a whole DICOM object (any form part10_inspect()
 * accepts): every element of the data set, nested sequences and encapsulated pixel data
 * included, ends exactly at @len. A file cut inside an element (a server that closes a
 * multipart envelope after half an instance) fails; one cut exactly between two top-level
 * elements cannot be told from a shorter file and passes. A deflated data set must inflate to
 * the end of its deflate stream, which must end with the file (up to 8 trailing bytes).
 * @return 0, or -EINVAL with a short reason in @why (size @n).
 */
int part10_check_complete(const unsigned char *data, size_t len, char *why, size_t n);

#endif
