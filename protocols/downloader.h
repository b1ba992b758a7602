/* The downloader interface: every retrieval protocol (WADO-RS, WADO-URI, RAD-69, C-GET, C-MOVE)
 * streams Part-10 instances into a sink. The cache implements sinks; it sees only this header.
 *
 * Threads (README.md, "Threads"): fetch() and metadata() are called concurrently, on FUSE
 * workers (an open() that leads its flight, a metadata.json) and on the cache's prefetch
 * workers (series jobs), with no lock held. A sink is fed by one thread at a time, in order
 * (begin, writes, end, per instance): the thread that called fetch(), except for C-MOVE,
 * whose instances arrive on the storage SCP's threads (dcmtk/dimse_scp.cc) while fetch()
 * waits; a sink therefore keeps no thread-local state. fetch() returns only after the last
 * call into its sink. new() and free() run on the main thread, free() after every call has
 * returned. */
#ifndef TROLLEY_DOWNLOADER_H
#define TROLLEY_DOWNLOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/errors.h"
#include "protocols/proto_config.h"

/** Which instance(s) to fetch. All borrowed. sop_uid NULL means the whole series, which only
 * downloaders with fetches_series accept. */
struct instance_ref {
	const char *study_uid;
	const char *series_uid;
	const char *sop_uid;
	/* With sop_uid NULL: the SOPInstanceUIDs wanted of the series, for protocols that must
	 * name each document (RAD-69, WADO-URI). May be NULL for those that need not (WADO-RS). */
	const char *const *members;
	size_t nmembers;
	/* Optional, with sop_uid: its SOPClassUID as the listing gave it (C-GET offers the
	 * archive storage contexts by class, and need not ask for it then). */
	const char *sop_class;
};

/** Where instances go: begin, the bytes, end, once per instance. Each returns 0 or -errno. */
struct sink_ops {
	int (*begin)(void *ctx);
	int (*write)(void *ctx, const void *data, size_t len);
	/** The instance is complete as far as the protocol can tell. */
	int (*end)(void *ctx);
	/**
	 * Optional (NULL: none). A downloader that holds an instance itself before it hands it
	 * on (in memory, or a file in $TMPDIR) asks this each time what it holds of one grows by
	 * a step (a MiB or so), with @held the bytes held so far: the sink may refuse, as
	 * write() would (larger than it takes, no room left on the disk, unmounting). The
	 * downloader then drops that instance and returns the error as write()'s, so that a
	 * transfer stops at the same bounds whichever way the bytes come.
	 */
	int (*hold)(void *ctx, uint64_t held);
};

struct sink {
	const struct sink_ops *ops;
	void *ctx;
};

struct downloader;

struct downloader_ops {
	const char *name;
	/* Whether fetch() takes a whole series in one transfer (else -ENOTSUP for sop_uid NULL). */
	bool fetches_series;
	/**
	 * Stream the instance(s) of @ref into @sink. If an instance is cut short, its end() is
	 * never called and the error is returned: the sink discards what it had.
	 * @return 0; -ENOENT if the archive has no such instance; -EIO (garbled or truncated
	 * reply), -EACCES, -ETIMEDOUT (already logged); -ECANCELED when the calling thread's
	 * token is cancelled (core/cancel.h: nobody waits for it; not logged as an error); or a
	 * sink's error. What failed (the URL or peer, the status, why) goes into @why (the
	 * caller's, may be NULL: core/errors.h), from whichever thread met it (the C-MOVE
	 * storage SCP's too), before fetch() returns; a sink that refuses what came may have put
	 * its own reason there first.
	 */
	int (*fetch)(struct downloader *d, const struct instance_ref *ref, struct sink *sink,
		     struct errors_detail *why);
	/**
	 * Optional: the DICOM JSON metadata (PS3.18 §10.4.1.1.2) of the study (@ref->series_uid
	 * NULL) or series of @ref, appended to @out, checked to be a DICOM JSON array.
	 * @return 0; -ENOENT, -EIO (garbled), -EACCES, -ETIMEDOUT (already logged, and in @why
	 * as for fetch()).
	 */
	int (*metadata)(struct downloader *d, const struct instance_ref *ref, struct buf *out,
			struct errors_detail *why);
	void (*free)(struct downloader *d);
};

struct downloader {
	const struct downloader_ops *ops;
};

/** Make the downloader called @name ("wado-rs") from @cfg. @return 0, -EINVAL, -ENOMEM. */
int downloader_new(const char *name, const struct proto_config *cfg, struct downloader **out);
void downloader_free(struct downloader *d);

#endif
