/* DICOM JSON model (PS3.18 §F.2) to attribute sets: what QIDO-RS returns. A reply is read one
 * data set at a time as it arrives (json_check.c finds where each ends), so its memory is that
 * of the sets it yields, not of a cJSON tree of the whole reply. */
#ifndef TROLLEY_DICOM_JSON_H
#define TROLLEY_DICOM_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "core/attrs.h"
#include "core/buf.h"
#include "core/json_check.h"

struct cJSON;

/** A reader of one reply; fields are private but @sets, the data sets read so far. */
struct dicom_json_reader {
	struct json_check check;
	struct buf text; /* the data set being received */
	struct attrset_list sets;
	bool bad_set;	 /* a data set was JSON of the right shape but not of the model */
	size_t repairs;	 /* malformed escapes in the sets taken so far (each read as U+FFFD) */
	size_t max_sets; /* sets kept at most (dicom_json_reader_limit()) */
	size_t dropped;	 /* sets checked past max_sets and not kept */
};

/** Start reading a reply; no data set may be longer than @set_max bytes of JSON. A malformed
 * escape inside a string (a lone surrogate "\\udcff") is read as U+FFFD, not refused: the
 * names layer shows that entry with its rules; r->repairs counts them. */
void dicom_json_reader_init(struct dicom_json_reader *r, size_t set_max);
/** Keep at most @max_sets data sets: the ones after are still checked as JSON (the reply must
 * be one) but never parsed nor kept, and r->dropped counts them. A page of tiny sets is then
 * bounded while it is read, not after (670,000 sets of 25 bytes fit a 16 MiB page). */
void dicom_json_reader_limit(struct dicom_json_reader *r, size_t max_sets);

/** Free what the reader holds (also the sets not taken). */
void dicom_json_reader_release(struct dicom_json_reader *r);

/**
 * Feed the next @len bytes of the reply (pieces may split anywhere); each data set that ends in
 * them is parsed and added to r->sets.
 * @return 0; -EIO if the bytes are not a DICOM JSON array (dicom_json_reader_why() says why and
 * where); -E2BIG if one data set is longer than @set_max; -ENOMEM.
 */
int dicom_json_reader_feed(struct dicom_json_reader *r, const void *data, size_t len);

/**
 * The reply is complete. An empty or blank body (QIDO's 204) is no match.
 * @return 0 (the sets are in r->sets: take them with attrset_list_append()); -EIO.
 */
int dicom_json_reader_finish(struct dicom_json_reader *r);

/** Why the reply was refused and at which byte, for a log line ("truncated at byte 17"). */
void dicom_json_reader_why(const struct dicom_json_reader *r, char *out, size_t size);

/**
 * Parse @len bytes of a DICOM JSON array (one object per match) and append one set per object
 * to @out, with a dicom_json_reader. An empty body (QIDO's 204) is an empty list. Sequences,
 * bulk data and inline binary are left out: names and attributes need only text values.
 * @return 0; -EIO if the bytes are not a DICOM JSON array (nothing appended); -ENOMEM.
 */
int dicom_json_parse_list(const char *json, size_t len, struct attrset_list *out);

/** Convert one DICOM JSON object into @out (initialised). @return 0, -EIO, -ENOMEM. */
int dicom_json_to_attrset(const struct cJSON *obj, struct attrset *out);

#endif
