/* Read-ahead of a study walked in order (cp -r, tar, dcm2niix open series after series): the
 * order of opens tells a walk (prefetch_walk), and the next series' transfer is queued behind
 * every transfer a reader waits for (PREFETCH_AHEAD), so the wire does not idle while the
 * walker lists the next folder and opens its first file. Its members come from the cache's own
 * answers: the study's series query and the series' instance query are the ones fs/ asks when
 * it lists those folders, so the walker's listing of the next folder is then answered from the
 * store instead of waiting for the archive.
 *
 * Measured (case A of bench/run.py: 2 series x 200 instances, 210 MB, loopback Orthanc,
 * request log of the servers.py proxy): before, the wire idled 240 ms between the two series
 * streams (cp finishing the first, its metadata.json, the instance listing in three pages, a
 * single GET); with the read-ahead the second stream starts 20 ms after the first ends, and a
 * cold cp -r asks 13 requests instead of 14 (one single GET fewer; the listing and
 * metadata.json of the second series are asked by the read-ahead, beside the first stream).
 * Orthanc on the same two cores serves the read-ahead's queries slower while it streams
 * (both read every file), so at 0 ms the gain is small; at 20 ms the round trips it hides
 * are the gain. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/internal.h"
#include "core/log.h"
#include "core/tags.h"

/* The largest metadata read ahead, as fs/ops.c allows for metadata.json. */
#define AHEAD_METADATA_MAX (512u << 20)

static bool walk_visited(const struct walk *w, const char *series)
{
	for (size_t i = 0; i < w->nvisited; i++)
		if (strcmp(w->visited[i], series) == 0)
			return true;
	return false;
}

/* Cancel the read-ahead of a walk that went to another study: queued jobs are dropped, a
 * running one ends its transfer (its members' readers, if any came, fetch them alone).
 * c->lock held. */
static void ahead_cancel(struct cache *c)
{
	struct prefetch_job **pp = &c->queue;

	while (*pp) {
		struct prefetch_job *j = *pp;

		if (j->cls == PREFETCH_AHEAD) {
			*pp = j->next;
			c->nqueued--;
			log_debug("series %s: read-ahead dropped, the walk went elsewhere",
				  j->series[0] ? j->series : "(next)");
			prefetch_job_drop(c, j);
			continue;
		}
		pp = &j->next;
	}
	for (struct prefetch_job *j = c->running; j; j = j->next)
		if (j->cls == PREFETCH_AHEAD &&
		    !__atomic_exchange_n(&j->cancelled, true, __ATOMIC_RELAXED))
			log_debug("series %s: read-ahead cancelled, the walk went elsewhere",
				  j->series[0] ? j->series : "(next)");
	/* One may wait for the walked stream to end (worker_job). */
	pthread_cond_broadcast(&c->work);
}

bool cache_walk_wants(struct cache *c, const char *study_uid)
{
	bool wants;

	if (!c->cfg.prefetch || c->cfg.offline || !study_uid)
		return false;
	pthread_mutex_lock(&c->lock);
	wants = c->walk.cold && strcmp(c->walk.study, study_uid) == 0;
	pthread_mutex_unlock(&c->lock);
	return wants;
}

void prefetch_walk(struct cache *c, const struct instance_ref *ref, size_t index, size_t nsiblings,
		   bool missed)
{
	size_t enough;

	struct walk *w = &c->walk;

	if (!ref->study_uid || !ref->series_uid || strlen(ref->study_uid) >= SOP_MAX ||
	    strlen(ref->series_uid) >= SOP_MAX)
		return;
	if (strcmp(w->study, ref->study_uid) != 0) {
		/* Another study: the old walk is over (the folder order fs/ told stays). */
		ahead_cancel(c);
		snprintf(w->study, sizeof(w->study), "%s", ref->study_uid);
		w->series[0] = '\0';
		w->nvisited = 0;
		w->cold = false;
	}
	if (strcmp(w->series, ref->series_uid) != 0) {
		snprintf(w->series, sizeof(w->series), "%s", ref->series_uid);
		w->members = nsiblings;
		w->opens = 0;
		w->in_order = 0;
		w->ahead = false;
		if (!walk_visited(w, ref->series_uid) && w->nvisited < WALK_VISITED_MAX)
			snprintf(w->visited[w->nvisited++], SOP_MAX, "%s", ref->series_uid);
		/* The walk reached its read-ahead: that is the series being read now. */
		for (struct prefetch_job *j = c->running; j; j = j->next)
			if (j->cls == PREFETCH_AHEAD && strcmp(j->series, ref->series_uid) == 0)
				j->cls = PREFETCH_SERIES;
	}
	w->in_order = w->opens && index == w->last + 1 ? w->in_order + 1 : index == 0;
	w->opens++;
	w->last = index;
	w->cold = w->cold || missed;
	/* Opens in listing order from the first: a walk, not a viewer picking images. */
	/* Two: the second open is counted as it starts, while the first instance came alone
	 * and the series streams; waiting for more waits for the stream, which sends them in
	 * the archive's order, not the names' (with 8, read-ahead started after the walked
	 * series' stream had ended: the wire idled). A series of one is walked at its open. */
	enough = nsiblings < WALK_IN_ORDER ? nsiblings : WALK_IN_ORDER;
	if (w->ahead || !w->cold || w->in_order < enough || c->stopping)
		return;
	w->ahead = true;
	prefetch_queue_ahead(c, ref->study_uid, ref->series_uid);
}

void cache_note_series_order(struct cache *c, const char *study_uid, const char *const *series,
			     size_t n)
{
	struct walk *w = &c->walk;

	if (!c->cfg.prefetch || !n || strlen(study_uid) >= SOP_MAX)
		return;
	if (n > WALK_VISITED_MAX)
		n = WALK_VISITED_MAX;
	pthread_mutex_lock(&c->lock);
	if (strcmp(w->order_study, study_uid) != 0 || w->norder != n ||
	    strcmp(w->order[n - 1], series[n - 1]) != 0) {
		snprintf(w->order_study, sizeof(w->order_study), "%s", study_uid);
		w->norder = 0;
		for (size_t i = 0; i < n; i++)
			if (strlen(series[i]) < SOP_MAX)
				snprintf(w->order[w->norder++], SOP_MAX, "%s", series[i]);
	}
	pthread_mutex_unlock(&c->lock);
}

/* A series the walk may go to next: not walked yet, not being fetched. c->lock held. */
static bool ahead_may_take(struct cache *c, const char *series)
{
	return query_uid_is_valid(series) && !walk_visited(&c->walk, series) &&
	       !prefetch_series_is_busy(c, series);
}

/* The series after @after in the folder's order as fs/ told it, into @out. c->lock held.
 * @return 0, -ENOENT if nothing is left after @after, -ENODATA if the order is not known. */
static int ahead_pick_in_folder_order(struct cache *c, const char *study, const char *after,
				      char *out)
{
	struct walk *w = &c->walk;
	size_t i = 0;

	if (strcmp(w->order_study, study) != 0)
		return -ENODATA;
	while (i < w->norder && strcmp(w->order[i], after) != 0)
		i++;
	for (i++; i < w->norder; i++) {
		if (ahead_may_take(c, w->order[i])) {
			snprintf(out, SOP_MAX, "%s", w->order[i]);
			return 0;
		}
	}
	return -ENOENT;
}

/* The series of @study the walk goes to after @after, into @out: the next in the folder's
 * order if fs/ told it, else the first, in the archive's order, that the walk has not visited
 * and no transfer has taken (the walk comes back to a series it skipped; one it has read is
 * never read again). c->lock not held (the query may go to the archive). */
static int ahead_pick(struct cache *c, const char *study, const char *after, char *out)
{
	struct attrset_list series;
	struct query q;
	int err;

	pthread_mutex_lock(&c->lock);
	err = ahead_pick_in_folder_order(c, study, after, out);
	pthread_mutex_unlock(&c->lock);
	if (err != -ENODATA)
		return err;

	query_init(&q, QUERY_SERIES);
	err = attrset_set(&q.match, TAG_StudyInstanceUID, "UI", study) < 0 ? -ENOMEM : 0;
	attrset_list_init(&series);
	if (!err)
		err = cache_find(c, &q, &series);
	query_release(&q);
	if (err)
		goto out;
	err = -ENOENT;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < series.n && err; i++) {
		const char *uid = attrset_str(&series.v[i], TAG_SeriesInstanceUID);

		if (strcmp(c->walk.study, study) != 0 || !ahead_may_take(c, uid))
			continue;
		snprintf(out, SOP_MAX, "%s", uid);
		err = 0;
	}
	pthread_mutex_unlock(&c->lock);
out:
	attrset_list_release(&series);
	return err;
}

int prefetch_ahead_resolve(struct cache *c, struct prefetch_job *j)
{
	struct attrset_list inst;
	char series[SOP_MAX];
	struct query q;
	size_t n = 0;
	int err;

	err = ahead_pick(c, j->study, j->after, series);
	if (err)
		return err;
	/* Named now, so that an open in it joins this job instead of making its own. */
	pthread_mutex_lock(&c->lock);
	if (prefetch_series_is_busy(c, series))
		err = -ENOENT;
	else
		snprintf(j->series, sizeof(j->series), "%s", series);
	pthread_mutex_unlock(&c->lock);
	if (err)
		return err;
	query_init(&q, QUERY_INSTANCE);
	err = attrset_set(&q.match, TAG_StudyInstanceUID, "UI", j->study) < 0 ||
			      attrset_set(&q.match, TAG_SeriesInstanceUID, "UI", series) < 0
		      ? -ENOMEM
		      : 0;
	attrset_list_init(&inst);
	if (!err)
		err = cache_find(c, &q, &inst);
	query_release(&q);
	if (err)
		goto out;
	j->members = calloc(inst.n ? inst.n : 1, sizeof(*j->members));
	j->queued = calloc(inst.n ? inst.n : 1, sizeof(*j->queued));
	j->delivered = calloc(inst.n ? inst.n : 1, sizeof(*j->delivered));
	if (!j->members || !j->queued || !j->delivered) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < inst.n; i++) {
		const char *sop = attrset_str(&inst.v[i], TAG_SOPInstanceUID);

		/* As fs/ops.c: a member whose UID is not one is never asked for. */
		if (!query_uid_is_valid(attrset_str(&inst.v[i], TAG_SeriesInstanceUID)) ||
		    strcmp(attrset_str(&inst.v[i], TAG_SeriesInstanceUID), series) != 0 ||
		    !query_uid_is_valid(sop))
			continue;
		j->members[n] = strdup(sop);
		if (!j->members[n]) {
			err = -ENOMEM;
			goto out;
		}
		n++;
	}
	j->n = n;
	err = n ? 0 : -ENOENT;
out:
	attrset_list_release(&inst);
	return err;
}

bool prefetch_streams_first(struct cache *c, const struct instance_ref *ref)
{
	struct attrset_list inst;
	struct query q;
	int64_t at;
	char *key = NULL;
	bool first = false;

	query_init(&q, QUERY_INSTANCE);
	if (attrset_set(&q.match, TAG_StudyInstanceUID, "UI", ref->study_uid) >= 0 &&
	    attrset_set(&q.match, TAG_SeriesInstanceUID, "UI", ref->series_uid) >= 0)
		key = cache_query_key(c, &q);
	query_release(&q);
	attrset_list_init(&inst);
	/* The stored answer only, whatever its age: an open never waits for a query here. */
	if (key && store_meta_get(c->store, key, &inst, &at) == 0 && inst.n)
		first = strcmp(attrset_str(&inst.v[0], TAG_SOPInstanceUID), ref->sop_uid) == 0;
	attrset_list_release(&inst);
	free(key);
	return first;
}

void prefetch_ahead_metadata(struct cache *c, const char *study, const char *series)
{
	struct buf doc;
	uint64_t size;

	if (!series[0] || !cache_has_metadata(c) ||
	    cache_metadata_size(c, study, series, &size) == 0)
		return;
	buf_init(&doc, AHEAD_METADATA_MAX);
	/* A failure is the reader's to see when it opens metadata.json (and logged there). */
	if (cache_metadata(c, study, series, &doc) == 0)
		log_debug("series %s: metadata read ahead (%zu bytes)", series, doc.len);
	buf_release(&doc);
}
