/* /.trolley/status: a text snapshot of the cache and the transfers, for a user watching a long
 * cp -r (watch cat /mnt/pacs/.trolley/status). */
#ifndef TROLLEY_STATUS_H
#define TROLLEY_STATUS_H

#include "cache/cache.h"
#include "core/buf.h"

/** Write the status text of @c into @out (initialised). @return 0 or -ENOMEM. */
int status_text(struct cache *c, struct buf *out);

#endif
