/* A series' metadata cut out of its study's: the study's WADO-RS metadata is a JSON array of the
 * instance objects of all its series, so the instances of one series, byte for byte, are that
 * series' metadata. Lets metadata.json of a series be served from the study's, read before,
 * without a request of its own. Pure functions: no store, no network; any thread. */
#ifndef TROLLEY_CACHE_METADATA_H
#define TROLLEY_CACHE_METADATA_H

#include <stddef.h>

#include "core/buf.h"

/**
 * Append to @out a JSON array of the instance objects of @doc (a DICOM JSON array, @len bytes,
 * not NUL-terminated) whose SeriesInstanceUID (0020000E) is @series_uid, each exactly as its
 * bytes are in @doc, in @doc's order, separated by ",".
 * @return 0; -ENOENT if @doc is not an array of objects or holds no instance of @series_uid
 * (@out unchanged); -ENOMEM or -E2BIG from @out.
 */
int metadata_cut_series(const char *doc, size_t len, const char *series_uid, struct buf *out);

#endif
