/* The recent failures that /.trolley/errors shows, so a user whose cp -r reported EIO sees why.
 * The detail of a failure (what was asked, the status, why) is a value, struct errors_detail,
 * as curl's CURLOPT_ERRORBUFFER is: the caller of a search or a download owns one and passes it
 * down with the request; whoever fails fills it, on whatever thread (a QIDO page asked ahead, the
 * C-MOVE storage SCP, the leader of a transfer others wait for); the layer that knows the path in
 * the mount (fs/ops.c) or the background job (a series prefetch) records the failure with it.
 * Protocols know no paths, fs/ knows no URLs: this module is the one place both meet. */
#ifndef TROLLEY_ERRORS_H
#define TROLLEY_ERRORS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How many failures are kept (older ones are dropped): enough for the failed files of one
 * export, small enough that the file stays short: a few hundred bytes a line, and at most
 * ERRORS_TEXT_MAX for lines whose every field is as long and as escaped as can be. */
#define ERRORS_KEPT	100
#define ERRORS_TEXT_MAX (2u << 20)

#define ERRORS_WHERE_MAX  1024
#define ERRORS_STATUS_MAX 64
#define ERRORS_REASON_MAX 512
#define ERRORS_WHAT_MAX	  256

/**
 * The detail of one failure. Owned by the caller of a search or download (on its stack, or in
 * the flight others wait on), zeroed (ERRORS_DETAIL_INIT or errors_detail_init()) before the
 * request, handed down as a pointer that may be NULL (nobody wants it). Filled by the
 * errors_detail_*() calls below from any thread, which take a lock of this module for it, so
 * several threads that work for one request may fill it at once; the owner keeps it alive until
 * all of them are done (joined, or the flight finished), and reads it only through
 * errors_detail_copy() and errors_record(). Never holds credentials: URLs are redacted by whoever
 * fills it.
 */
struct errors_detail {
	char where[ERRORS_WHERE_MAX];	  /* what was asked ("GET http://pacs/...") */
	char status[ERRORS_STATUS_MAX];	  /* its outcome ("HTTP 500", "DIMSE 0xa702", "no reply") */
	char reason[ERRORS_REASON_MAX];	  /* the text after it */
	char incomplete[ERRORS_WHAT_MAX]; /* a query whose answer came back cut ("" if none) */
	bool set;			  /* where, status and reason hold a failure */
};

#define ERRORS_DETAIL_INIT                                                                         \
	{                                                                                          \
		.set = false                                                                       \
	}

/** Make @d empty. */
void errors_detail_init(struct errors_detail *d);
/**
 * Fill @d (may be NULL: then nothing) with a failure, replacing what it held: @where is what was
 * asked, without credentials; @status its outcome; @reason the text after it. Any thread; copies
 * its arguments. Logs nothing (the caller logs the same line itself).
 */
void errors_detail_set(struct errors_detail *d, const char *where, const char *status,
		       const char *reason_fmt, ...) __attribute__((format(printf, 4, 5)));
/**
 * As errors_detail_set(), for a reply that the one reading its body refused: if @d already holds
 * a reason that names no request (@where ""), it is that reader's (the sink's "not a DICOM
 * Part-10 file"), which is kept; @d then gets @where and @status.
 */
void errors_detail_refused(struct errors_detail *d, const char *where, const char *status,
			   const char *reason_fmt, ...) __attribute__((format(printf, 4, 5)));
/**
 * Fill @d (may be NULL) with @src's failure and incomplete answer, where @src holds them,
 * replacing what @d held: the detail of work done for @d's request on another thread (a page
 * asked ahead, a transfer led by another opener) becomes the request's. Any thread.
 */
void errors_detail_copy(struct errors_detail *d, const struct errors_detail *src);
/**
 * Note in @d (may be NULL) that an answer came back incomplete (@what: its query, for the
 * reason). Not a failure: the operation succeeds with what came; errors_record() with err 0
 * shows it.
 */
void errors_detail_incomplete(struct errors_detail *d, const char *what);
/** Whether @d (may be NULL) holds an incomplete answer. */
bool errors_detail_is_incomplete(const struct errors_detail *d);

/** The user of a failure that no user's request met (a background prefetch). */
#define ERRORS_NO_UID ((uid_t)-1)

/**
 * Record a failure with @err (a -errno, or 0 for a result that is only incomplete) of @path
 * (the path in the mount, or the series or query a background job worked for), with the
 * detail @d (may be NULL) if it holds one, else @fallback_reason (may be NULL: the errno's
 * text); with err 0, @d's incomplete answer. Any thread; @d is only read.
 */
void errors_record(const struct errors_detail *d, const char *path, int err,
		   const char *fallback_reason);
/**
 * As errors_record(), for a failure that the request of user @uid met (a FUSE request's
 * caller), so that errors_text_of() shows it to that user. Any thread.
 */
void errors_record_by(uid_t uid, const struct errors_detail *d, const char *path, int err,
		      const char *fallback_reason);
/**
 * Append the list to @out, newest first: a header line starting with '#', then one line per
 * failure with tab-separated fields: time (UTC, ISO 8601), error (errno name), path, what was
 * asked, status, reason. Control bytes and invalid UTF-8 in any field are escaped as the log
 * escapes them (so no field holds a tab or a newline). @return 0, -ENOMEM or -E2BIG.
 */
int errors_text(struct buf *out);
/**
 * As errors_text(), with only the failures that errors_record_by() recorded for @uid: what a
 * user of a shared mount may see (which paths others opened, and why they failed, is theirs).
 * The header line says so. @return 0, -ENOMEM or -E2BIG.
 */
int errors_text_of(struct buf *out, uid_t uid);
/** How many failures were recorded since the start (also those no longer kept). */
unsigned long long errors_count(void);
/** Forget every recorded failure (for the unit tests). */
void errors_clear(void);

#ifdef __cplusplus
}
#endif

#endif
