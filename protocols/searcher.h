/* The searcher interface: every search protocol (QIDO-RS, C-FIND, MINT) is one implementation
 * of find(). The cache and fs layers see only this header. */
#ifndef TROLLEY_SEARCHER_H
#define TROLLEY_SEARCHER_H

#include "core/attrs.h"
#include "core/query.h"
#include "protocols/proto_config.h"

struct searcher;

struct searcher_ops {
	const char *name;
	/**
	 * Run @q and append one attribute set per match to @out (initialised by the caller).
	 * Results include the attributes that name and locate them (StudyInstanceUID, and
	 * SeriesInstanceUID / SOPInstanceUID at lower levels).
	 * @return 0 (also for no match); -EINVAL if @q uses a field this searcher cannot query;
	 * -EIO, -EACCES, -ETIMEDOUT for archive failures (already logged). On error @out may hold
	 * partial results: the caller discards them.
	 */
	int (*find)(struct searcher *s, const struct query *q, struct attrset_list *out);
	/**
	 * Optional: whether @q uses only fields and features this protocol can query.
	 * @return 0, or -EINVAL with the reason in @why (size @n). NULL means "everything".
	 */
	int (*check)(struct searcher *s, const struct query *q, char *why, size_t n);
	void (*free)(struct searcher *s);
};

struct searcher {
	const struct searcher_ops *ops;
};

/** Make the searcher called @name ("qido-rs") from @cfg. @return 0, -EINVAL (unknown), -ENOMEM. */
int searcher_new(const char *name, const struct proto_config *cfg, struct searcher **out);
void searcher_free(struct searcher *s);

#endif
