/* The status file's text: one "name: value" per line, so both people and scripts read it. */
#include "fs/status.h"

#include <errno.h>

#include "core/errors.h"
#include "core/pushback.h"
#include "fs/view.h"

static void pushback_text(struct buf *out, int *err)
{
	struct pushback_stats p;

	pushback_get(&p);
	*err |= buf_printf(out,
			   "http_429: %llu\nhttp_503: %llu\nhttp_502: %llu\nhttp_504: %llu\n"
			   "http_retries: %llu\nhttp_retries_given_up: %llu\n"
			   "http_in_flight_limit: %ld\nhttp_connections: %ld\n",
			   p.too_many, p.unavailable, p.bad_gateway, p.gateway_timeout, p.retries,
			   p.given_up, p.limit, p.total);
}

int status_text(struct cache *c, struct buf *out)
{
	struct cache_stats s;
	int err = 0;

	cache_get_stats(c, &s);
	err |= buf_printf(out, "searcher: %s\ndownloader: %s\n", s.searcher, s.downloader);
	err |= buf_printf(out, "cache_instances: %llu\ncache_bytes: %llu\ncache_limit: %llu\n",
			  (unsigned long long)s.blobs, (unsigned long long)s.blob_bytes,
			  (unsigned long long)s.size_limit);
	err |= buf_printf(out,
			  "query_hits: %llu\nquery_misses: %llu\nquery_errors: %llu\n"
			  "query_stale_served: %llu\n",
			  (unsigned long long)s.query_hits, (unsigned long long)s.query_misses,
			  (unsigned long long)s.query_errors, (unsigned long long)s.query_stale);
	err |= buf_printf(out, "query_not_modified: %llu\n",
			  (unsigned long long)s.query_not_modified);
	err |= buf_printf(out, "open_hits: %llu\nopen_misses: %llu\nopen_waits: %llu\n",
			  (unsigned long long)s.open_hits, (unsigned long long)s.open_misses,
			  (unsigned long long)s.open_waits);
	err |= buf_printf(
		out,
		"transfers_in_flight: %llu\ntransfers_done: %llu\n"
		"transfer_errors: %llu\nbytes_downloaded: %llu\n",
		(unsigned long long)s.transfers_active, (unsigned long long)s.transfers_done,
		(unsigned long long)s.transfer_errors, (unsigned long long)s.bytes_downloaded);
	err |= buf_printf(out,
			  "series_prefetches: %llu\nprefetched_instances: %llu\n"
			  "evictions: %llu\n",
			  (unsigned long long)s.prefetches, (unsigned long long)s.prefetched,
			  (unsigned long long)s.evictions);
	/* The disk under cache_dir: when the floor (min_free=) is in force, the cache holds less
	 * than cache_size, and instances it has no room for are held elsewhere. */
	err |= buf_printf(out,
			  "min_free: %llu\ndisk_free: %llu\ncache_limit_effective: %llu\n"
			  "floor_in_force: %s\ndownloads_outside_cache_dir: %llu\n",
			  (unsigned long long)s.room.floor, (unsigned long long)s.room.avail,
			  (unsigned long long)s.room.effective,
			  s.room.floor_in_force ? "yes" : "no", (unsigned long long)s.spilled);
	/* A listing known to be cut: an export from it is not the whole archive. */
	err |= buf_printf(out, "incomplete_listings: %llu\nlast_incomplete: %s\n",
			  (unsigned long long)s.incomplete, s.last_incomplete);
	/* The archive asking to wait, and what trolley does about it (protocols/http.c). */
	pushback_text(out, &err);
	/* Failures readers saw (and partial listings): /.trolley/errors says which and why. */
	err |= buf_printf(out, "recorded_errors: %llu\n", errors_count());
	/* The de-identified view: instances it does not serve (fs/view.c says why, in the log). */
	if (view_active())
		err |= buf_printf(out, "deid_withheld: %llu\ndeid_withheld_folders: %llu\n",
				  (unsigned long long)view_withheld(),
				  (unsigned long long)view_hidden());
	return err ? -ENOMEM : 0;
}
