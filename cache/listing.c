/* The archive's listings as this mount asks them: one builder of a listing's query (level,
 * the parents' UIDs, the fields the layout and the view need), so that fs/'s folders, the
 * media view, the read-ahead and the de-identification map ask one folder's listing with the
 * same query, one request, and find one stored answer (the query is the answer's key); and
 * the members of a series, read from the cache's answer to its instance listing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache/internal.h"
#include "core/tags.h"

int cache_query_include(const struct cache *c, struct query *q)
{
	for (size_t i = 0; i < c->cfg.ninclude[q->level]; i++) {
		int err = query_include(q, c->cfg.include[q->level][i]);

		if (err)
			return err;
	}
	return 0;
}

int cache_query_init(const struct cache *c, struct query *q, enum query_level level,
		     const char *study_uid, const char *series_uid)
{
	int err = 0;

	query_init(q, level);
	if (study_uid && attrset_set(&q->match, TAG_StudyInstanceUID, "UI", study_uid) < 0)
		err = -ENOMEM;
	if (!err && series_uid &&
	    attrset_set(&q->match, TAG_SeriesInstanceUID, "UI", series_uid) < 0)
		err = -ENOMEM;
	if (!err)
		err = cache_query_include(c, q);
	if (err)
		query_release(q);
	return err;
}

void cache_members_release(struct cache_members *m)
{
	free(m->uids);
	m->uids = NULL;
	m->n = 0;
	attrset_list_release(&m->answer);
}

bool cache_is_member(const struct attrset *a, const char *series_uid)
{
	return strcmp(attrset_str(a, TAG_SeriesInstanceUID), series_uid) == 0 &&
	       query_uid_is_valid(attrset_str(a, TAG_SOPInstanceUID));
}

int cache_series_members(struct cache *c, const char *study_uid, const char *series_uid,
			 enum cache_members_from from, struct cache_members *out)
{
	struct cache_members m = {0};
	struct query q;
	int64_t at;
	char *key;
	int err;

	attrset_list_init(&m.answer);
	err = cache_query_init(c, &q, QUERY_INSTANCE, study_uid, series_uid);
	if (err)
		return err;
	if (from == MEMBERS_ASK) {
		err = cache_find(c, &q, &m.answer, NULL);
	} else {
		key = cache_query_key(c, &q);
		err = key ? store_meta_get(c->store, key, &m.answer, &at) : -ENOMEM;
		free(key);
	}
	query_release(&q);
	if (err)
		goto out;
	m.uids = calloc(m.answer.n ? m.answer.n : 1, sizeof(*m.uids));
	if (!m.uids) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < m.answer.n; i++) {
		if (cache_is_member(&m.answer.v[i], series_uid))
			m.uids[m.n++] = attrset_str(&m.answer.v[i], TAG_SOPInstanceUID);
	}
	*out = m;
	return 0;
out:
	cache_members_release(&m);
	return err;
}
