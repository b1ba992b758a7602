/* A query as every searcher receives it: a level, the attributes to match (DICOM matching:
 * '*' and '?' wildcards, "A-B" date ranges), extra fields to return, and paging. */
#ifndef TROLLEY_QUERY_H
#define TROLLEY_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/attrs.h"

enum query_level { QUERY_STUDY = 0, QUERY_SERIES, QUERY_INSTANCE };

struct query {
	enum query_level level;
	struct attrset match; /* tag -> matching value; StudyInstanceUID etc. for the parents */
	uint32_t *include;    /* extra tags to return (includefield) */
	size_t ninclude;
	long limit; /* 0: no limit */
	long offset;
	/* How many results the archive said there are (NumberOfSeriesRelatedInstances of the
	 * series listed, ...; 0: not known). A hint for paging, not part of the query: a page
	 * short of what was asked ends the answer only once this many have come. */
	long expect;
};

void query_init(struct query *q, enum query_level level);
void query_release(struct query *q);
/** Add @tag to the fields to return. @return 0 or -ENOMEM. */
int query_include(struct query *q, uint32_t tag);
/**
 * A canonical text for @q, the same for equal queries whatever order they were built in: the
 * cache key of its result. Caller frees. @return NULL on ENOMEM.
 */
char *query_key(const struct query *q, const char *source);
/** @return "study", "series" or "instance". */
const char *query_level_name(enum query_level level);

/** Whether @s is a syntactically valid UID (PS3.5 §9.1: digits and dots, 1..64 chars, no empty
 * component). Only valid UIDs are ever put into a URL path or a request. */
bool query_uid_is_valid(const char *s);

#endif
