/* The searcher interface: every search protocol (QIDO-RS, C-FIND, MINT) is one implementation
 * of find(). The cache and fs layers see only this header.
 *
 * Threads (README.md, "Threads"): find(), find_cond() and check() are called concurrently, on
 * FUSE workers (a listing, a lookup, /search) and on the cache's prefetch workers (read-ahead's
 * queries), with no lock held: an implementation guards what its calls share. A find() may
 * start threads of its own (QIDO-RS's pages asked ahead) and joins them before it returns.
 * Cancel: the calling thread's token (core/cancel.h). new() and free() run on the main thread,
 * free() after every find() has returned. */
#ifndef TROLLEY_SEARCHER_H
#define TROLLEY_SEARCHER_H

#include "core/attrs.h"
#include "core/errors.h"
#include "core/query.h"
#include "protocols/proto_config.h"

struct searcher;

/* No searcher appends more than this for one query: a listing is held in memory (about 1 KiB
 * a result), and a broad query on a PACS of millions must not take the mount with it. */
#define SEARCHER_RESULTS_MAX 100000

/* What the archive said identifies an answer (HTTP's ETag and Last-Modified), opaque to the
 * cache: it keeps them beside the stored answer and hands them back when it asks again. */
#define SEARCHER_VALIDATORS_MAX 384
struct searcher_validators {
	char v[SEARCHER_VALIDATORS_MAX]; /* "" when the answer came with none */
};

struct searcher_ops {
	const char *name;
	/**
	 * Run @q and append one attribute set per match to @out (initialised by the caller).
	 * Results include the attributes that name and locate them (StudyInstanceUID, and
	 * SeriesInstanceUID / SOPInstanceUID at lower levels). @q->limit bounds the total (the
	 * user's: max_results, or limit= of a search); a searcher pages past the archive's own
	 * caps on its own. When the archive is known to hold more matches than were appended (a
	 * cap it would not page past, SEARCHER_RESULTS_MAX, a search that ended in a failure or
	 * cancel status after answers), the searcher logs why and sets @out->incomplete; reaching
	 * @q->limit does not count as incomplete.
	 * @return 0 (also for no match, and for an incomplete answer); -EINVAL if @q uses a field this searcher cannot query;
	 * -EIO, -EACCES, -ETIMEDOUT for archive failures (already logged); -ECANCELED when the
	 * calling thread's token is cancelled (core/cancel.h). On error @out may hold
	 * partial results: the caller discards them. What failed (the URL or peer, the status,
	 * why) goes into @why (the caller's, may be NULL: core/errors.h), from whichever thread
	 * met it, before find() returns.
	 */
	int (*find)(struct searcher *s, const struct query *q, struct attrset_list *out,
		    struct errors_detail *why);
	/**
	 * Optional: whether @q uses only fields and features this protocol can query.
	 * @return 0, or -EINVAL with the reason in @why (size @n). NULL means "everything".
	 */
	int (*check)(struct searcher *s, const struct query *q, char *why, size_t n);
	void (*free)(struct searcher *s);
	/**
	 * Optional: find() asked conditionally, for archives that send validators (dcm4chee).
	 * @v holds what the stored answer of @q came with ("" for none: then this is find()).
	 * @return 1 when the archive said that answer is still current (nothing appended, @v as
	 * it was); else as find(), and on 0 @v holds the new answer's validators: "" when it had
	 * none, or when it took more than one request (a paged answer is asked again in full).
	 */
	int (*find_cond)(struct searcher *s, const struct query *q, struct searcher_validators *v,
			 struct attrset_list *out, struct errors_detail *why);
};

struct searcher {
	const struct searcher_ops *ops;
};

/** Make the searcher called @name ("qido-rs") from @cfg. @return 0, -EINVAL (unknown), -ENOMEM. */
int searcher_new(const char *name, const struct proto_config *cfg, struct searcher **out);
void searcher_free(struct searcher *s);

#endif
