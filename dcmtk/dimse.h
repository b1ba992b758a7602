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

/** The peer and the options of the DIMSE protocols, read from a proto_config. */
struct dimse_config {
	char title[17];	 /* the AE title of the peer (dicom=AEC@host:port) */
	char host[1024]; /* its host */
	int port;
	const char *aec;       /* aec=, or title: borrowed */
	const char *aet;       /* aet= (NULL: TROLLEY) */
	int move_port;	       /* our storage SCP for C-MOVE; 0: none */
	const char *move_from; /* who sends C-MOVE sub-operations; NULL: the peer */
};

/** Read the DIMSE options of @cfg into @dc (protocols/dimse_proto.c). @return 0, or -EINVAL
 * without a peer (dicom= or a dicom:// SOURCE). */
int dimse_config_get(const struct proto_config *cfg, struct dimse_config *dc);

/**
 * The C-FIND searcher (Study Root information model): STUDY, SERIES and IMAGE level queries
 * to the peer of dimse_config_get() as its aet calling its aec; replies in any
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
 * The C-MOVE downloader: asks the archive to move instances to aet=, and runs the storage SCP
 * that receives them on move_port= (on the interface that reaches the archive, from the
 * archive's address or move_from='s only) until downloader_free().
 * @return 0 and @out; -EINVAL without a peer or port; -EADDRINUSE (port not free);
 * -EADDRNOTAVAIL (the sender does not resolve); -ENOMEM.
 */
int dimse_move_new(const struct proto_config *cfg, struct downloader **out);

#ifdef __cplusplus
}
#endif

#endif
