/* QIDO-RS searcher (PS3.18 §10.6): GET {base}/studies[/{uid}/series[/{uid}/instances]]?... with
 * Accept: application/dicom+json. find() may ask up to 4 pages of one answer at once, on
 * short-lived threads of its own that it joins before it returns. */
#ifndef TROLLEY_QIDO_RS_H
#define TROLLEY_QIDO_RS_H

#include "protocols/searcher.h"

/** @return 0 and a new searcher in @out (free with searcher_free()), -EINVAL without a URL. */
int qido_rs_new(const struct proto_config *cfg, struct searcher **out);

#endif
