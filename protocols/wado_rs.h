/* WADO-RS downloader (PS3.18 §10.4): instances, or a whole series, as multipart/related. */
#ifndef TROLLEY_WADO_RS_H
#define TROLLEY_WADO_RS_H

#include "protocols/downloader.h"

/** @return 0 and a new downloader in @out (free with downloader_free()), -EINVAL without a URL. */
int wado_rs_new(const struct proto_config *cfg, struct downloader **out);

#endif
