/* What makes a blob a DICOM Part-10 file we may keep: the 128-byte preamble, "DICM", and a file
 * meta group whose MediaStorageSOPInstanceUID names the instance we asked for. */
#ifndef TROLLEY_PART10_H
#define TROLLEY_PART10_H

#include <stddef.h>

/** Room for a UID and its NUL (PS3.5 §9.1: at most 64 characters). */
#define SOP_UID_MAX 65

/** Bytes of the head of a file that part10_sop_uid() may need (meta groups are small). */
#define PART10_HEAD_MAX 65536

/**
 * Read MediaStorageSOPInstanceUID (0002,0003) from the head of a Part-10 file (@len bytes, at
 * least the preamble and the whole meta group). Writes at most @n bytes with NUL to @uid.
 * @return 0; -EINVAL if the bytes are not Part-10 or the meta group is damaged; -EAGAIN if
 * @len is too short to tell yet.
 */
int part10_sop_uid(const unsigned char *head, size_t len, char *uid, size_t n);

/**
 * Whether the @len bytes at @data are a whole Part-10 file: the meta group and every element of
 * the data set, nested sequences and encapsulated pixel data included, end exactly at @len. A
 * file cut inside an element (a server that closes a multipart envelope after half an
 * instance) fails; one cut exactly between two top-level elements cannot be told from a
 * shorter file and passes.
 * Deflated data sets cannot be walked and are accepted on their header alone.
 * @return 0, or -EINVAL with a short reason in @why (size @n).
 */
int part10_check_complete(const unsigned char *data, size_t len, char *why, size_t n);

#endif
