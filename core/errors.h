/* The recent failures that /.trolley/errors shows, so a user whose cp -r reported EIO sees why.
 * The protocol layer notes the detail of its last failure on its own thread (what it asked,
 * the status, why) where it logs it; the layer that knows the path in the mount (fs/ops.c) or
 * the background job (a series prefetch) records the failure with that note. Protocols know
 * no paths, fs/ knows no URLs: this module is the one place both meet. */
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

/**
 * Note the detail of a failure on this thread, replacing an earlier note: @where is what was
 * asked, without credentials ("GET http://pacs/dicom-web/studies/1.2", "C-GET PACS@host:104");
 * @status its outcome ("HTTP 500", "DIMSE 0xA702", "curl 18"); @reason the text after it. Any
 * thread; copies its arguments. Logs nothing (the caller logs the same line itself).
 */
void errors_note(const char *where, const char *status, const char *reason_fmt, ...)
	__attribute__((format(printf, 3, 4)));
/**
 * As errors_note(), for a reply that the one reading its body refused: if this thread's note
 * names no request (@where ""), it is that reader's reason (the sink's "not a DICOM Part-10
 * file"), which is kept; the note then gets @where and @status.
 */
void errors_note_refused(const char *where, const char *status, const char *reason_fmt, ...)
	__attribute__((format(printf, 3, 4)));
/** Forget this thread's note: an operation begins, and an old note is not its cause. */
void errors_forget_note(void);
/**
 * Note on this thread that an answer came back incomplete (@what: its query, for the reason),
 * for the layer that knows the folder (errors_take_incomplete()). Not a failure: the
 * operation succeeds with what came.
 */
void errors_note_incomplete(const char *what);
/**
 * Whether an answer was noted incomplete on this thread since the last errors_forget_note();
 * if so, the note becomes this thread's failure note (status "incomplete") for
 * errors_record(), and is taken.
 */
bool errors_take_incomplete(void);
/** The user of a failure that no user's request met (a background prefetch). */
#define ERRORS_NO_UID ((uid_t)-1)

/**
 * Record a failure with @err (a -errno, or 0 for a result that is only incomplete) of @path
 * (the path in the mount, or the series or query a background job worked for), with this
 * thread's note if there is one (then forgotten) and else @fallback_reason (may be NULL: the
 * errno's text). Any thread.
 */
void errors_record(const char *path, int err, const char *fallback_reason);
/**
 * As errors_record(), for a failure that the request of user @uid met (a FUSE request's
 * caller), so that errors_text_of() shows it to that user. Any thread.
 */
void errors_record_by(uid_t uid, const char *path, int err, const char *fallback_reason);
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
