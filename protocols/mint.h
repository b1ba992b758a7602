/* MINT searcher (Medical Imaging Network Transport, as Vitrea speaks it): GET {base}/studies
 * with MINT's own query parameters; the reply is a studySearchResults XML document. */
#ifndef TROLLEY_MINT_H
#define TROLLEY_MINT_H

#include <stddef.h>

#include "core/attrs.h"
#include "protocols/searcher.h"

/** @return 0 and a new searcher in @out (free with searcher_free()), -EINVAL without a URL. */
int mint_new(const struct proto_config *cfg, struct searcher **out);

/** What mint_parse() flattens a reply into. */
enum mint_level { MINT_STUDY, MINT_SERIES, MINT_INSTANCE };

/**
 * Parse a studySearchResults document of @len bytes into one attribute set per study, series
 * or instance (@level), each with its parents' attributes. Tolerates what real replies hold: a
 * false encoding in the prolog, attributes after the children, a missing val, lowercase hex
 * tags, short DA values. @return 0; -EIO if it is not such a document (an HTML error page);
 * -ENOMEM.
 */
int mint_parse(const char *xml, size_t len, enum mint_level level, struct attrset_list *out);

#endif
