/* Classic DICOM networking through dcmtk: its C++ (dimse.cc, dimse_retrieve.cc, dimse_scp.cc,
 * dimse_net.cc) is behind this C header, which protocols/registry.c lists like any protocol's.
 * dcmtk/ holds all of trolley's C++ (also the DICOMDIR writer, dicomdir.h). Every exception is
 * caught inside and becomes a negative errno. */
#ifndef TROLLEY_DIMSE_H
#define TROLLEY_DIMSE_H

#ifdef __cplusplus
extern "C" {
#endif

#include "protocols/downloader.h"
#include "protocols/searcher.h"

/**
 * The C-FIND searcher (Study Root information model): STUDY, SERIES and IMAGE level queries
 * to cfg->dimse_host:dimse_port as cfg->aet calling cfg->aec; replies in any
 * SpecificCharacterSet come out as UTF-8. @return 0 and @out (free with searcher_free()),
 * -EINVAL without a peer, -ENOMEM.
 */
int dimse_find_new(const struct proto_config *cfg, struct searcher **out);

/**
 * The C-GET downloader: instances come back on the association as C-STORE sub-operations,
 * each SOP class offered in the syntaxes the archive said it stored (else in each common one
 * but deflate and big endian; cfg->transfer_syntax alone if set), so that they come as stored.
 * Series level when prefetching, instance level otherwise. @return 0 and @out (free with
 * downloader_free()), -EINVAL without a peer, -ENOMEM.
 */
int dimse_get_new(const struct proto_config *cfg, struct downloader **out);

/**
 * The C-MOVE downloader: asks the archive to move instances to cfg->aet, and runs the storage
 * SCP that receives them on cfg->move_port (on the interface that reaches the archive, from
 * the archive's address or cfg->move_from's only) until downloader_free().
 * @return 0 and @out; -EINVAL without a peer or port; -EADDRINUSE (port not free);
 * -EADDRNOTAVAIL (the sender does not resolve); -ENOMEM.
 */
int dimse_move_new(const struct proto_config *cfg, struct downloader **out);

#ifdef __cplusplus
}
#endif

#endif
