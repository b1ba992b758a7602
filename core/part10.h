/* What makes a blob a DICOM Part-10 file we may keep: the 128-byte preamble, "DICM", and a file
 * meta group whose MediaStorageSOPInstanceUID names the instance we asked for. */
#ifndef TROLLEY_PART10_H
#define TROLLEY_PART10_H

#include <stddef.h>

/** Bytes of the head of a file that part10_sop_uid() may need (meta groups are small). */
#define PART10_HEAD_MAX 65536

/**
 * Read MediaStorageSOPInstanceUID (0002,0003) from the head of a Part-10 file (@len bytes, at
 * least the preamble and the whole meta group). Writes at most @n bytes with NUL to @uid.
 * @return 0; -EINVAL if the bytes are not Part-10 or the meta group is damaged; -EAGAIN if
 * @len is too short to tell yet.
 */
int part10_sop_uid(const unsigned char *head, size_t len, char *uid, size_t n);

#endif
