/* The de-identified view (-o deid=KEYFILE, DESIGN.md §5) as fs/ shows it. The tree keeps the
 * archive's own attributes in its nodes (they are what queries and downloads ask for); what a
 * reader sees goes through here first: names, xattrs and mtimes from de-identified attribute
 * sets, instance bytes and metadata.json rewritten by deid/ at open, withheld instances left
 * out, searches by identifying keys refused, UIDs cut out of the errors file. One view per
 * process (one mount), set once before the session starts; every function is safe on any
 * FUSE worker thread. With no view set, each is a no-op or says "not active". */
#ifndef TROLLEY_VIEW_H
#define TROLLEY_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/cache.h"
#include "core/attrs.h"
#include "core/buf.h"
#include "core/query.h"

struct deid;

/** Make @d (borrowed: it lives as long as the mount) the view of this process. */
void view_set(const struct deid *d);
/** Whether the mount is the de-identified view. */
bool view_active(void);
/** The view's de-identifier (borrowed), or NULL. */
const struct deid *view_deid(void);

/**
 * The attributes @in as the view shows them, into @out (uninitialised; release with
 * attrset_release()): a copy, de-identified if the view is active. @return 0 or -errno.
 */
int view_attrs(const struct attrset *in, struct attrset *out);

/**
 * Whether instance @a (a listing's result) is withheld by the view, from what the listing
 * knows (SOP class, BurnedInAnnotation) or an open of it learned (its bytes). The first time an instance is withheld it is
 * counted and logged (by its pseudonymised UID). False when the view is not active.
 */
bool view_withholds(const struct attrset *a);

/** The most UIDs the view remembers what it learned of (sizes, withheld instances, hidden
 * folders), least recently used first out: about 130 bytes each, ~8.5 MiB in all. */
#define VIEW_REMEMBER_MAX 65536

/**
 * Whether the series (@study false) or study folder @a (a listing's result) is left out of the
 * view: a listing of it found only withheld instances (view_note_hidden()), or its Modality
 * (a study's every ModalitiesInStudy) is SR, KO, PR or DOC, whose instances the view withholds.
 */
bool view_hides(const struct attrset *a, bool study);
/** The folder of series (or study) @uid (original) holds only withheld instances: left out
 * of listings from now on; logged once by its pseudonym. @return whether this is news. */
bool view_note_hidden(const char *uid, bool study);
/** How many series and study folders the view left out as all withheld, since the mount. */
uint64_t view_hidden(void);

/** Remember @size as instance @sop's de-identified size (view_instance() does). */
void view_note_size(const char *sop, uint64_t size);
/** How many UIDs the view remembers something of now (at most VIEW_REMEMBER_MAX). */
size_t view_remembered(void);
/** Forget everything learned and the counters (tests). */
void view_forget_all(void);

/**
 * Read the whole of open blob @b (instance @sop, its original UID, for the counters) and
 * append its de-identified bytes to @out; their size is remembered for view_size().
 * @return 0; -EACCES if the content withholds it (counted, logged); -EIO if it is not a data
 * set deid/ can rewrite (logged); -ENOMEM.
 */
int view_instance(struct cache_blob *b, const char *sop, struct buf *out);
/** The size of instance @sop (original UID) as view_instance() last made it. @return 0 or
 * -ENOENT. */
int view_size(const char *sop, uint64_t *size);

/** Rewrite the DICOM JSON in @doc (metadata.json) in place. @return 0, -EIO (logged), -ENOMEM. */
int view_json(struct buf *doc);

/**
 * Whether /search may run @q on the view: only keys that identify nobody (the list is in
 * view.c and the man page). On refusal @why (size @n) says which key and why.
 * @return 0 or -EACCES.
 */
int view_check_search(const struct query *q, char *why, size_t n);

/** Cut every UID out of the fields after the path of the errors text @text (in place). */
void view_redact_errors(struct buf *text);

/** A short text that names the view's key and options and tells nothing of them (an HMAC of
 * a constant), for ids of what the cache keeps of the view (its DICOMDIRs), into @out. */
void view_fingerprint(char *out, size_t n);

/** How many distinct instances the view has withheld since the mount. */
uint64_t view_withheld(void);

#endif
