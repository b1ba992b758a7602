/* IHE RAD-69 (Retrieve Imaging Document Set, XDS-I.b) downloader: one SOAP 1.2 POST per series
 * (or instance), answered with an MTOM multipart/related body of DICOM parts. */
#ifndef TROLLEY_RAD69_H
#define TROLLEY_RAD69_H

#include "protocols/downloader.h"

/** @return 0 and a new downloader in @out (free with downloader_free()); -EINVAL without a
 * rad69 URL. */
int rad69_new(const struct proto_config *cfg, struct downloader **out);

#endif
