/* /search/<query>: the whole query model as a folder name. "key=value" pairs joined by '&':
 * any DICOM keyword (or 8 hex digits) with '*' and '?' wildcards, DA ranges "A-B" with open
 * ends, limit=, offset=, includefield= (comma-separated keywords). %XX escapes a byte, so a
 * value can hold '&' or '/'. Pure parsing: no I/O. */
#ifndef TROLLEY_SEARCH_H
#define TROLLEY_SEARCH_H

#include <stddef.h>

#include "core/query.h"

/**
 * Parse @name into a study-level query @q (uninitialised; on success release with
 * query_release()). On error @why (size @n) says what is wrong, for the log.
 * @return 0 or -EINVAL.
 */
int search_parse(const char *name, struct query *q, char *why, size_t n);

/** Whether @v is a DICOM date or date range ("YYYYMMDD", "A-B", "A-", "-B"). */
bool search_is_date_range(const char *v);

#endif
