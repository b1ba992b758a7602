/* WADO-URI downloader (PS3.18 §9, the URI service): one GET per instance; a series is its
 * members' GETs, several at once within connections=. */
#ifndef TROLLEY_WADO_URI_H
#define TROLLEY_WADO_URI_H

#include "protocols/downloader.h"

/** @return 0 and a new downloader in @out (free with downloader_free()); -EINVAL without a
 * wado_uri URL. */
int wado_uri_new(const struct proto_config *cfg, struct downloader **out);

#endif
