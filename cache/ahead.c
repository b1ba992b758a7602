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
 * are the gain.
 *
 * Read-ahead is a client of the transfer engine (prefetch.h): it queues a job whose prepare
 * step, here, runs on the engine's worker (the queries may go to the archive) to name the
 * series and its members and claim their flights; the engine never calls in here otherwise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/internal.h"
#include "cache/prefetch.h"
#include "core/log.h"
#include "core/tags.h"

static bool walk_visited(const struct walk *w, const char *series)
{
	for (size_t i = 0; i < w->nvisited; i++)
		if (strcmp(w->visited[i], series) == 0)
			return true;
	return false;
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

static enum prefetch_prepared ahead_prepare(struct cache *c, struct prefetch_job *j);

/* Queue read-ahead of the series after @after in @study. c->lock held. */
static void ahead_queue(struct cache *c, const char *study, const char *after)
{
	/* The next series and its members come from the searcher's answers. */
	if (c->stopping || !c->cfg.prefetch || !c->searcher)
		return;
	if (!prefetch_queue_prepared(c, study, after, NULL, ahead_prepare))
		return;
	STAT_ADD(c, prefetches, 1);
	log_debug("study %s: walked in order; reading ahead after series %s", study, after);
}

void ahead_note_open(struct cache *c, const struct instance_ref *ref, size_t index,
		     size_t nsiblings, bool missed)
{
	size_t enough;

	struct walk *w = &c->walk;

	if (!ref->study_uid || !ref->series_uid || strlen(ref->study_uid) >= UID_MAX ||
	    strlen(ref->series_uid) >= UID_MAX)
		return;
	if (strcmp(w->study, ref->study_uid) != 0) {
		/* Another study: the old walk is over (the folder order fs/ told stays): queued
		 * read-ahead is dropped, a running one ends its transfer (its members' readers,
		 * if any came, fetch them alone). */
		prefetch_cancel_ahead(c);
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
			snprintf(w->visited[w->nvisited++], UID_MAX, "%s", ref->series_uid);
		/* The walk reached its read-ahead: that is the series being read now. */
		prefetch_promote(c, ref->series_uid);
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
	ahead_queue(c, ref->study_uid, ref->series_uid);
}

void cache_note_series_order(struct cache *c, const char *study_uid, const char *const *series,
			     size_t n)
{
	struct walk *w = &c->walk;

	if (!c->cfg.prefetch || !n || strlen(study_uid) >= UID_MAX)
		return;
	if (n > WALK_VISITED_MAX)
		n = WALK_VISITED_MAX;
	pthread_mutex_lock(&c->lock);
	if (strcmp(w->order_study, study_uid) != 0 || w->norder != n ||
	    strcmp(w->order[n - 1], series[n - 1]) != 0) {
		snprintf(w->order_study, sizeof(w->order_study), "%s", study_uid);
		w->norder = 0;
		for (size_t i = 0; i < n; i++)
			if (strlen(series[i]) < UID_MAX)
				snprintf(w->order[w->norder++], UID_MAX, "%s", series[i]);
	}
	pthread_mutex_unlock(&c->lock);
}

/* A series the walk may go to next: not walked yet, not being fetched. c->lock held. */
static bool ahead_may_take(struct cache *c, const char *series)
{
	return query_uid_is_valid(series) && !walk_visited(&c->walk, series) &&
	       !prefetch_series_is_busy(c, series);
}

/* What the folder's order says of the series after the walked one. */
enum folder_pick {
	FOLDER_PICKED,	      /* the next one, in out */
	FOLDER_NONE_LEFT,     /* nothing the walk may go to is left after it */
	FOLDER_ORDER_UNKNOWN, /* fs/ did not tell this study's order: ask the archive's */
};

/* The series after @after in the folder's order as fs/ told it, into @out. c->lock held. */
static enum folder_pick ahead_pick_in_folder_order(struct cache *c, const char *study,
						   const char *after, char *out)
{
	struct walk *w = &c->walk;
	size_t i = 0;

	if (strcmp(w->order_study, study) != 0)
		return FOLDER_ORDER_UNKNOWN;
	while (i < w->norder && strcmp(w->order[i], after) != 0)
		i++;
	for (i++; i < w->norder; i++) {
		if (ahead_may_take(c, w->order[i])) {
			snprintf(out, UID_MAX, "%s", w->order[i]);
			return FOLDER_PICKED;
		}
	}
	return FOLDER_NONE_LEFT;
}

/* The series of @study the walk goes to after @after, into @out: the next in the folder's
 * order if fs/ told it, else the first, in the archive's order, that the walk has not visited
 * and no transfer has taken (the walk comes back to a series it skipped; one it has read is
 * never read again). c->lock not held (the query may go to the archive). */
static int ahead_pick(struct cache *c, const char *study, const char *after, char *out)
{
	struct attrset_list series;
	enum folder_pick picked;
	struct query q;
	int err;

	pthread_mutex_lock(&c->lock);
	picked = ahead_pick_in_folder_order(c, study, after, out);
	pthread_mutex_unlock(&c->lock);
	if (picked != FOLDER_ORDER_UNKNOWN)
		return picked == FOLDER_PICKED ? 0 : -ENOENT;

	attrset_list_init(&series);
	err = cache_query_init(c, &q, QUERY_SERIES, study, NULL);
	if (err)
		goto out;
	err = cache_find(c, &q, &series, NULL);
	query_release(&q);
	if (err)
		goto out;
	err = -ENOENT;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < series.n && err; i++) {
		const char *uid = attrset_str(&series.v[i], TAG_SeriesInstanceUID);

		if (strcmp(c->walk.study, study) != 0 || !ahead_may_take(c, uid))
			continue;
		snprintf(out, UID_MAX, "%s", uid);
		err = 0;
	}
	pthread_mutex_unlock(&c->lock);
out:
	attrset_list_release(&series);
	return err;
}

static enum prefetch_prepared ahead_metadata_prepare(struct cache *c, struct prefetch_job *j);

/* The members of series @series of @study, from the cache's answer to its instance query,
 * into @j (the stored ones left out). @return 0, -ENOENT if none, or the query's -errno. */
static int ahead_members(struct cache *c, struct prefetch_job *j, const char *series)
{
	struct cache_members m;
	int err;

	err = cache_series_members(c, j->study, series, MEMBERS_ASK, &m);
	if (err)
		return err;
	err = prefetch_set_members(c, j, m.uids, m.n);
	if (!err && j->n == 0)
		err = -ENOENT;
	cache_members_release(&m);
	return err;
}

/* The prepare step of a read-ahead job, on its worker (c->lock not held): find the series
 * after @j->after in its study and its members through the cache (the searcher, or its stored
 * answers), name it, fill @j and claim the members' flights: the walker's opens in it wait
 * for this stream rather than each fetch its instance alone (prefetch_wait_named). */
static enum prefetch_prepared ahead_prepare(struct cache *c, struct prefetch_job *j)
{
	char series[UID_MAX];
	int err;

	err = ahead_pick(c, j->study, j->after, series);
	/* Named now, so that an open in it joins this job instead of making its own. */
	if (!err)
		err = prefetch_name(c, j, series) ? -ENOENT : 0;
	if (!err)
		err = ahead_members(c, j, series);
	if (err) {
		if (err != -ENOENT)
			log_debug("study %s: no read-ahead (%s)", j->study, strerror(-err));
		return PREPARED_DONE;
	}
	if (prefetch_claim(c, j) == 0)
		return PREPARED_DONE;
	/* A walk reads every metadata.json, each at the end of its series: both are fetched
	 * beside the streams, before the walker asks (measured: fetched here before this
	 * stream, they held it back 200 ms on a loaded machine). */
	if (cache_has_metadata(c)) {
		pthread_mutex_lock(&c->lock);
		prefetch_queue_prepared(c, j->study, j->after, series, ahead_metadata_prepare);
		pthread_mutex_unlock(&c->lock);
	}
	return PREPARED_TRANSFER;
}

bool ahead_streams_first(struct cache *c, const struct instance_ref *ref)
{
	struct cache_members m;
	bool first;

	/* The stored answer only, whatever its age: an open never waits for a query here. */
	if (cache_series_members(c, ref->study_uid, ref->series_uid, MEMBERS_STORED, &m) != 0)
		return false;
	first = m.n && strcmp(m.uids[0], ref->sop_uid) == 0;
	cache_members_release(&m);
	return first;
}

/* Fetch the metadata of series @series of @study into the store if it is not there (a walk
 * reads every metadata.json). On a worker, c->lock not held. */
static void ahead_metadata(struct cache *c, const char *study, const char *series)
{
	struct buf doc;
	uint64_t size;

	if (!series[0] || !cache_has_metadata(c) ||
	    cache_metadata_size(c, study, series, &size) == 0)
		return;
	buf_init(&doc, CACHE_DOC_MAX);
	/* A failure is the reader's to see when it opens metadata.json (and logged there). */
	if (cache_metadata(c, study, series, &doc, NULL) == 0)
		log_debug("series %s: metadata read ahead (%zu bytes)", series, doc.len);
	buf_release(&doc);
}

/* The prepare step of a job of no instances: the metadata of the walked series (@j->after) and
 * of the one read ahead (@j->meta_series), which a walk reads, asked on a query connection
 * beside the streams. */
static enum prefetch_prepared ahead_metadata_prepare(struct cache *c, struct prefetch_job *j)
{
	ahead_metadata(c, j->study, j->after);
	if (!prefetch_job_cancelled(c, j))
		ahead_metadata(c, j->study, j->meta_series);
	return PREPARED_DONE;
}
