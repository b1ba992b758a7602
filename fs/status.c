/* The status file's text: one "name: value" per line, so both people and scripts read it.
 * /.trolley's status file and errors file are this file's entries of fs/kind.h. */
#include "fs/status.h"

#include <errno.h>

#include "core/errors.h"
#include "core/pushback.h"
#include "fs/kind.h"
#include "fs/ops.h"
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

/* /.trolley/errors as user @uid may read it: root and the user the daemon runs as (who reads
 * its log anyway) see every failure; anyone else only those of their own requests, not which
 * paths others opened. */
static int errors_text_for_reader(const struct trolley_fs *fs, uid_t uid, struct buf *out)
{
	int err = uid == 0 || uid == fs->owner ? errors_text(out) : errors_text_of(out, uid);

	/* The view's errors file names files by their pseudonyms (their paths) and nothing by
	 * its original UID (the requests made for them). */
	if (!err)
		view_redact_errors(out);
	return err;
}

/* Like /proc: size 0, read until EOF (opened with direct_io). */
static double stat_status(const struct kind_req *r, const struct node *n, uint64_t *size)
{
	(void)r;
	(void)n;
	(void)size;
	return 0;
}

/* Its exact size now, for readers that trust stat (read with direct_io: a failure recorded
 * before the open only makes the file longer than this). */
static double stat_errors(const struct kind_req *r, const struct node *n, uint64_t *size)
{
	struct buf text;

	(void)n;
	buf_init(&text, ERRORS_TEXT_MAX);
	if (errors_text_for_reader(r->fs, r->reader, &text) == 0)
		*size = text.len;
	buf_release(&text);
	return 0;
}

/* A snapshot per open, read with direct_io so the kernel never caches an old one. */
static int open_status(const struct kind_req *r, const struct node *n, struct cache_blob **blob,
		       struct buf *text, struct fuse_file_info *fi)
{
	(void)n;
	(void)blob;
	buf_init(text, 1 << 20);
	fi->direct_io = 1;
	return status_text(r->fs->tree.cache, text);
}

static int open_errors(const struct kind_req *r, const struct node *n, struct cache_blob **blob,
		       struct buf *text, struct fuse_file_info *fi)
{
	(void)n;
	(void)blob;
	buf_init(text, ERRORS_TEXT_MAX);
	fi->direct_io = 1;
	return errors_text_for_reader(r->fs, r->reader, text);
}

const struct kind_ops kind_status = {
	.name = "status",
	.parent = NODE_CONTROL,
	.fixed_name = "status",
	.stat = stat_status,
	.open = open_status,
};

const struct kind_ops kind_errors = {
	.name = "errors",
	.parent = NODE_CONTROL,
	.fixed_name = "errors",
	.stat = stat_errors,
	.open = open_errors,
	.size_of_open = true,
};
