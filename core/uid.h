/* The length of a DICOM UID, written once for every layer: buffers of UIDs (instance
 * references, the single-flight table, the memo, de-identified UIDs) and the check that a UID
 * from a server or a path is one (core/query.c). */
#ifndef TROLLEY_UID_H
#define TROLLEY_UID_H

/** The longest UID (PS3.5 §9.1: at most 64 characters). */
#define UID_LEN_MAX 64
/** Room for a UID and its NUL. */
#define UID_MAX (UID_LEN_MAX + 1)

#endif
