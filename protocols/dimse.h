/* Classic DICOM networking through dcmtk: the only C++ in trolley is dimse.cc, behind this
 * C header. Every exception is caught inside and becomes a negative errno. */
#ifndef TROLLEY_DIMSE_H
#define TROLLEY_DIMSE_H

#ifdef __cplusplus
extern "C" {
#endif

#include "protocols/searcher.h"

/**
 * The C-FIND searcher (Study Root information model): STUDY, SERIES and IMAGE level queries
 * to cfg->dimse_host:dimse_port as cfg->aet calling cfg->aec; replies in any
 * SpecificCharacterSet come out as UTF-8. @return 0 and @out (free with searcher_free()),
 * -EINVAL without a peer, -ENOMEM.
 */
int dimse_find_new(const struct proto_config *cfg, struct searcher **out);

#ifdef __cplusplus
}
#endif

#endif
