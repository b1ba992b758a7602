/* Extended attributes: what the searcher returned for a folder or file, as user.dicom.<Keyword>
 * (getfattr -d), so scripts read DICOM attributes without downloading anything. */
#ifndef TROLLEY_XATTR_H
#define TROLLEY_XATTR_H

#include <stddef.h>
#include <sys/types.h>

#include "core/attrs.h"

#define XATTR_PREFIX "user.dicom."

/**
 * The NUL-separated list of names for @a (listxattr). With @size 0 only the length is computed.
 * @return the length, or -ERANGE if @size is non-zero and too small.
 */
ssize_t xattr_list(const struct attrset *a, char *buf, size_t size);
/**
 * The value of attribute @name (getxattr): "user.dicom." + a keyword or 8 hex digits.
 * @return its borrowed value in @value (valid while @a lives) and 0, or -ENODATA.
 */
int xattr_get(const struct attrset *a, const char *name, const char **value);

#endif
