/* Query results and metadata through the store: fresh answers (younger than meta_ttl) come
 * from LMDB, others from the archive, and an expired answer is served with a warning when the
 * archive fails (stale-if-error) rather than failing a listing that worked before. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/internal.h"
#include "cache/metadata.h"
#include "core/cancel.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/tags.h"

static int64_t forgot_at(struct cache *c);

/* Beside a stored answer (a query's or a metadata document) its mark, a small record under
 * MARK_PREFIX and the answer's key: empty, "forgotten by a refresh at its time"; "=", "asked
 * again at its time, and the archive's answer was the stored one". A refresh writes the first
 * instead of storing the whole answer again with time 0 (a 100 MB metadata.json took 0.78 s
 * of CPU, and its size in memory, per refresh), and an unchanged answer the second instead of
 * being written again. */
#define MARK_PREFIX "mark|"
#define MARK_SAME   "="

static int mark_put(struct cache *c, const char *key, const char *what, int64_t now)
{
	char *mk;
	int err;

	if (asprintf(&mk, MARK_PREFIX "%s", key) < 0)
		return -ENOMEM;
	err = store_doc_put(c->store, mk, what, strlen(what), now);
	free(mk);
	return err;
}

/* The time the answer stored under @key at @stored_at counts as: later if the archive said
 * the same since, 0 if a refresh forgot it since (in the same second too). */
static int64_t answer_time(struct cache *c, const char *key, int64_t stored_at)
{
	int64_t t = 0;
	struct buf m;
	char *mk;

	if (asprintf(&mk, MARK_PREFIX "%s", key) < 0)
		return stored_at;
	buf_init(&m, 16);
	if (store_doc_get(c->store, mk, &m, &t) == 0) {
		if (m.len == 1 && m.data[0] == MARK_SAME[0])
			stored_at = t > stored_at ? t : stored_at;
		else if (t >= stored_at)
			stored_at = 0;
	}
	buf_release(&m);
	free(mk);
	return stored_at;
}

/* Beside a stored answer the archive's validators for it (searcher.h), under VALID_PREFIX and
 * the answer's key, for asking again conditionally; only for searchers that can, and only when
 * the archive sent some (Orthanc sends none: nothing is written for it). */
#define VALID_PREFIX "valid|"

static void validators_get(struct cache *c, const char *key, struct searcher_validators *v)
{
	int64_t t = 0;
	struct buf b;
	char *vk;

	v->v[0] = '\0';
	if (asprintf(&vk, VALID_PREFIX "%s", key) < 0)
		return;
	buf_init(&b, sizeof(v->v));
	if (store_doc_get(c->store, vk, &b, &t) == 0 && b.len < sizeof(v->v)) {
		memcpy(v->v, b.data, b.len);
		v->v[b.len] = '\0';
	}
	buf_release(&b);
	free(vk);
}

static void validators_put(struct cache *c, const char *key, const struct searcher_validators *v,
			   int64_t now)
{
	char *vk;

	if (asprintf(&vk, VALID_PREFIX "%s", key) < 0)
		return;
	store_doc_put(c->store, vk, v->v, strlen(v->v), now); /* lost: asked in full next time */
	free(vk);
}

/* Ask the archive for @q: conditionally when the searcher can and @v (the stored answer's
 * validators) has something to compare. @return as searcher_ops.find_cond. */
static int searcher_ask(struct cache *c, const struct query *q, struct searcher_validators *v,
			struct attrset_list *fresh, struct errors_detail *why)
{
	if (c->searcher->ops->find_cond)
		return c->searcher->ops->find_cond(c->searcher, q, v, fresh, why);
	return c->searcher->ops->find(c->searcher, q, fresh, why);
}

/* Whether two answers are the same results, byte for byte as the store keeps them. */
static bool same_answer(const struct attrset_list *a, const struct attrset_list *b)
{
	unsigned char *pa = NULL, *pb = NULL;
	size_t la = 0, lb = 0;
	bool same;

	if (a->n != b->n)
		return false;
	same = attrset_list_pack(a, &pa, &la) == 0 && attrset_list_pack(b, &pb, &lb) == 0 &&
	       la == lb && memcmp(pa, pb, la) == 0;
	free(pa);
	free(pb);
	return same;
}

/* A stored answer still serves: younger than meta_ttl (and not from the future, which a clock
 * set back would make it) and not forgotten by a refresh, or anything at all when offline. */
static bool is_fresh(struct cache *c, int64_t stored_at, int64_t now)
{
	return c->cfg.offline ||
	       (now - stored_at < c->cfg.meta_ttl && now >= stored_at && stored_at > forgot_at(c));
}

void cache_note_incomplete(struct cache *c, const char *what, struct errors_detail *why)
{
	STAT_ADD(c, incomplete, 1);
	pthread_mutex_lock(&c->lock);
	snprintf(c->stats.last_incomplete, sizeof(c->stats.last_incomplete), "%s", what);
	pthread_mutex_unlock(&c->lock);
	/* An export from it lacks something: /.trolley/errors shows it beside the failures,
	 * with the folder's path, which the caller knows (fs/ops.c). */
	errors_detail_incomplete(why, what);
}

/* "series query StudyInstanceUID=1.2.3" for a log line and the status, printable ASCII only
 * (values come from the archive and the user). */
static void describe_query(const struct query *q, char *out, size_t n)
{
	size_t j = (size_t)snprintf(out, n, "%s query", query_level_name(q->level));

	for (size_t i = 0; i < q->match.n && j + 1 < n; i++) {
		const char *kw = tags_keyword(q->match.v[i].tag);

		if (kw)
			j += (size_t)snprintf(out + j, n - j, "%s%s=", i ? "&" : " ", kw);
		else
			j += (size_t)snprintf(out + j, n - j, "%s%08X=", i ? "&" : " ",
					      q->match.v[i].tag);
		for (const char *v = q->match.v[i].value; *v && j + 1 < n; v++)
			out[j++] = *v >= 0x20 && *v < 0x7f ? *v : '?';
		out[j < n ? j : n - 1] = '\0';
	}
}

/* The query is the key, byte for byte: builders of one folder's query share its answer only
 * because they all build it with cache_query_init() (listing.c). */
char *cache_query_key(struct cache *c, const struct query *q)
{
	return query_key(q, c->cfg.source);
}

/*
 * Single flight of queries: the walker (fs/ listing the next folder) and the read-ahead
 * (cache/ahead.c) ask for the same series listing at about the same time; before, both went
 * to the archive (3 of the 4 series of a cold cp -r were listed twice), as did N readers
 * listing one uncached folder at once. The first asks (the leader); the others wait for its
 * answer, each ending its wait on its own interrupt. A leader that was cancelled answers
 * nobody: a waiter then asks itself (or joins whoever does).
 */
struct query_flight {
	struct query_flight *next;
	char *key;
	bool done;
	int err;	       /* the leader's outcome */
	unsigned char *answer; /* packed (attrset_list_pack), when err is 0 */
	size_t len;
	bool incomplete; /* the answer is known to be cut */
	int refs;	 /* the leader and the waiters; the last one frees it */
	struct errors_detail why; /* the leader's failure, filled before done, for the waiters */
};

static void query_flight_put(struct query_flight *f)
{
	if (--f->refs > 0)
		return;
	free(f->key);
	free(f->answer);
	free(f);
}

/* Join the flight for @key, or start one (*lead then set). c->qlock held. NULL on ENOMEM. */
static struct query_flight *query_flight_join(struct cache *c, const char *key, bool *lead)
{
	struct query_flight *f;

	for (f = c->queries; f; f = f->next)
		if (strcmp(f->key, key) == 0) {
			f->refs++;
			*lead = false;
			return f;
		}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->key = strdup(key);
	if (!f->key) {
		free(f);
		return NULL;
	}
	f->refs = 1;
	f->next = c->queries;
	c->queries = f;
	*lead = true;
	return f;
}

/* The leader's outcome @err and answer @ans (the waiters get a copy), unlinked, waiters woken. */
static void query_flight_finish(struct cache *c, struct query_flight *f, int err,
				const struct attrset_list *ans)
{
	unsigned char *packed = NULL;
	size_t len = 0;

	if (!err && attrset_list_pack(ans, &packed, &len) < 0)
		err = -ENOMEM; /* the waiters ask themselves (a -ENOMEM of their own, likely) */
	pthread_mutex_lock(&c->qlock);
	for (struct query_flight **pp = &c->queries; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	f->done = true;
	f->err = err;
	f->answer = packed;
	f->len = len;
	f->incomplete = !err && ans->incomplete;
	pthread_cond_broadcast(&c->qdone);
	query_flight_put(f);
	pthread_mutex_unlock(&c->qlock);
}

/* Ask the archive for @q (keyed @key), or the stored answer @stored when that fails
 * (stale-if-error), into @answer. The leader's part of cache_find(). */
static int ask_archive(struct cache *c, const struct query *q, const char *key, bool have_stored,
		       struct attrset_list *stored, int64_t stored_at, int64_t now,
		       struct attrset_list *answer, struct errors_detail *why)
{
	struct searcher_validators valid = {{0}};
	struct attrset_list fresh;
	bool had_valid = false;
	int err;

	attrset_list_init(&fresh);
	if (c->searcher->ops->find_cond) {
		validators_get(c, key, &valid);
		had_valid = valid.v[0] != '\0'; /* to be replaced, also without a stored answer */
		if (!have_stored)
			valid.v[0] = '\0';
	}
	err = searcher_ask(c, q, &valid, &fresh, why);
	/* Cancelled (the reader gave up, or unmounting): no failure of the archive's. */
	if (err == -ECANCELED || err == -EINTR)
		goto out;
	if (err == 1 && have_stored && had_valid) {
		/* Not modified: the stored answer is current again, as if asked in full. */
		STAT_ADD(c, query_not_modified, 1);
		mark_put(c, key, MARK_SAME, now);
		err = attrset_list_append(answer, stored);
		goto out;
	}
	if (err == 1)
		err = -EIO; /* "not modified" with nothing asked about: no answer */
	if (err) {
		STAT_ADD(c, query_errors, 1);
		if (have_stored && err != -EINVAL) {
			STAT_ADD(c, query_stale, 1);
			log_warn("%s query failed (%s): serving the answer stored %lld s ago",
				 query_level_name(q->level), strerror(-err),
				 (long long)(now - stored_at));
			err = attrset_list_append(answer, stored);
		}
		goto out;
	}
	if (fresh.incomplete) {
		char what[256];

		/* Not stored: a stored answer serves for meta_ttl, after a remount and offline as
		 * the archive's whole answer, and would hide that it is cut. The fs layer keeps
		 * the listing for meta_ttl anyway, so this costs one query per folder and
		 * meta_ttl, not one per lookup, and the next listing asks the archive again. */
		describe_query(q, what, sizeof(what));
		log_warn("incomplete answer to the %s (%zu results): the archive holds more than "
			 "it sent",
			 what, fresh.n);
		cache_note_incomplete(c, what, why);
	} else if (have_stored && same_answer(stored, &fresh)) {
		mark_put(c, key, MARK_SAME, now); /* unchanged: not written again */
		if (valid.v[0] || had_valid)
			validators_put(c, key, &valid, now);
	} else {
		/* A result the store cannot keep is still a result. */
		if (store_meta_put(c->store, key, &fresh, now) == 0) {
			if (have_stored)
				mark_put(c, key, MARK_SAME,
					 now); /* a forget in this second is over */
			/* Only beside the answer they name: validators of a newer answer beside
			 * an older one would have it served as current. */
			if (valid.v[0] || had_valid)
				validators_put(c, key, &valid, now);
		}
	}
	err = attrset_list_append(answer, &fresh);
out:
	attrset_list_release(&fresh);
	return err;
}

int cache_find(struct cache *c, const struct query *q, struct attrset_list *out,
	       struct errors_detail *why)
{
	struct attrset_list stored, answer;
	int64_t stored_at, now;
	struct query_flight *f;
	char *key;
	bool have_stored, lead;
	int err;

	key = cache_query_key(c, q);
	if (!key)
		return -ENOMEM;
	attrset_list_init(&stored);
	attrset_list_init(&answer);
again:
	now = (int64_t)time(NULL);
	stored_at = 0;
	attrset_list_release(&stored);
	attrset_list_init(&stored);
	have_stored = store_meta_get(c->store, key, &stored, &stored_at) == 0;
	if (have_stored)
		stored_at = answer_time(c, key, stored_at);
	if (have_stored && is_fresh(c, stored_at, now)) {
		STAT_ADD(c, query_hits, 1);
		err = attrset_list_append(out, &stored);
		goto out;
	}
	if (c->cfg.offline) {
		STAT_ADD(c, query_misses, 1);
		log_warn("offline: no stored answer for this %s query", query_level_name(q->level));
		err = -EIO;
		goto out;
	}
	pthread_mutex_lock(&c->qlock);
	f = query_flight_join(c, key, &lead);
	err = 0;
	while (f && !lead && !f->done) {
		err = cancel_cond_wait(&c->qdone, &c->qlock);
		if (err)
			break;
	}
	if (f && !lead) {
		bool done = f->done;
		int ferr = f->err;

		pthread_mutex_unlock(&c->qlock);
		/* A finished flight's answer no longer changes: copied without the lock. */
		err = err ? err : ferr;
		/* The leader's failure, met on its thread, is this reader's too. */
		if (done && ferr)
			errors_detail_copy(why, &f->why);
		if (done && !ferr)
			err = attrset_list_unpack(f->answer, f->len, &answer);
		if (done && !ferr && !err && f->incomplete) {
			char what[256];

			/* Noted for this reader too: fs/ shows its folder as cut. */
			answer.incomplete = true;
			describe_query(q, what, sizeof(what));
			errors_detail_incomplete(why, what);
		}
		pthread_mutex_lock(&c->qlock);
		query_flight_put(f);
		pthread_mutex_unlock(&c->qlock);
		/* The leader gave up (its reader did): nobody asked for this one; ask again. */
		if (done && (ferr == -ECANCELED || ferr == -EINTR))
			goto again;
		if (!err) {
			STAT_ADD(c, query_hits, 1);
			err = attrset_list_append(out, &answer);
		}
		goto out;
	}
	pthread_mutex_unlock(&c->qlock);
	if (!f) {
		err = -ENOMEM;
		goto out;
	}
	STAT_ADD(c, query_misses, 1);
	/* Into the flight's detail, which its waiters take (a read-ahead worker that leads
	 * passes none of its own), then into this caller's. */
	err = ask_archive(c, q, key, have_stored, &stored, stored_at, now, &answer, &f->why);
	errors_detail_copy(why, &f->why);
	query_flight_finish(c, f, err, &answer);
	if (!err)
		err = attrset_list_append(out, &answer);
out:
	attrset_list_release(&stored);
	attrset_list_release(&answer);
	free(key);
	return err;
}

/* The store's key of a study's or series' metadata: never cut (a long SOURCE cut at a fixed
 * length made the series of one study share one document); the store hashes long keys.
 * @return the key (caller frees) or NULL. */
static char *metadata_key(struct cache *c, const char *study_uid, const char *series_uid)
{
	char *key;

	if (asprintf(&key, "metadata|%s|%s|%s", c->cfg.source, study_uid,
		     series_uid ? series_uid : "") < 0)
		return NULL;
	return key;
}

bool cache_has_metadata(struct cache *c)
{
	return c->downloader->ops->metadata != NULL;
}

int cache_metadata_size(struct cache *c, const char *study_uid, const char *series_uid,
			uint64_t *size)
{
	char *key = metadata_key(c, study_uid, series_uid);
	int err;

	if (!key)
		return -ENOMEM;
	err = store_doc_size(c->store, key, size);
	free(key);
	return err;
}

/* A series' metadata cut from its study's, if that is stored and fresh (a reader of the study's
 * metadata.json, then of each series', asks once, not once per series), into @doc and stored
 * as the series' own with the study's time: it expires with what it came from. @return 0 or
 * -ENOENT. */
static int series_from_study(struct cache *c, const char *study_uid, const char *series_uid,
			     int64_t now, struct buf *doc)
{
	int64_t stored_at = 0;
	char *study_key = metadata_key(c, study_uid, NULL), *key = NULL;
	struct buf study;
	int err;

	if (!study_key)
		return -ENOMEM;
	buf_init(&study, doc->max);
	err = store_doc_get(c->store, study_key, &study, &stored_at);
	if (!err)
		stored_at = answer_time(c, study_key, stored_at);
	if (!err && !is_fresh(c, stored_at, now))
		err = -ENOENT;
	/* A series missing from it (come since, or cut away) is asked for on its own. */
	if (!err)
		err = metadata_cut_series(study.data, study.len, series_uid, doc);
	if (!err) {
		key = metadata_key(c, study_uid, series_uid);
		if (key)
			store_doc_put(c->store, key, doc->data, doc->len, stored_at);
	}
	buf_release(&study);
	free(study_key);
	free(key);
	return err == -ENOMEM ? err : err ? -ENOENT : 0;
}

int cache_metadata(struct cache *c, const char *study_uid, const char *series_uid, struct buf *out,
		   struct errors_detail *why)
{
	struct instance_ref ref = {.study_uid = study_uid, .series_uid = series_uid};
	int64_t stored_at = 0, now = (int64_t)time(NULL);
	struct buf stored, fetched;
	bool have_stored;
	char *key;
	int err;

	if (!c->downloader->ops->metadata)
		return -ENOTSUP;
	key = metadata_key(c, study_uid, series_uid);
	if (!key)
		return -ENOMEM;
	buf_init(&stored, out->max);
	buf_init(&fetched, out->max);
	err = store_doc_get(c->store, key, &stored, &stored_at);
	have_stored = !err;
	if (!err)
		stored_at = answer_time(c, key, stored_at);
	if (!err && is_fresh(c, stored_at, now)) {
		STAT_ADD(c, query_hits, 1);
		err = buf_add(out, stored.data, stored.len);
		goto out;
	}
	if (series_uid && series_from_study(c, study_uid, series_uid, now, &fetched) == 0) {
		STAT_ADD(c, query_hits, 1);
		err = buf_add(out, fetched.data, fetched.len);
		goto out;
	}
	STAT_ADD(c, query_misses, 1);
	if (c->cfg.offline) {
		log_warn("offline: no stored metadata for %s", series_uid ? series_uid : study_uid);
		err = -EIO;
		goto out;
	}
	fetched.len = 0;
	err = c->downloader->ops->metadata(c->downloader, &ref, &fetched, why);
	if (err) {
		STAT_ADD(c, query_errors, 1);
		goto out;
	}
	if (have_stored && stored.len == fetched.len &&
	    (!stored.len || memcmp(stored.data, fetched.data, stored.len) == 0))
		mark_put(c, key, MARK_SAME, now); /* unchanged: not written again */
	else if (store_doc_put(c->store, key, fetched.data, fetched.len, now) == 0 && have_stored)
		mark_put(c, key, MARK_SAME, now);
	err = buf_add(out, fetched.data, fetched.len);
out:
	buf_release(&stored);
	buf_release(&fetched);
	free(key);
	return err;
}

/* The elements of the JSON array in @doc, without its brackets (NULL if it is not one). */
static const char *array_inside(const struct buf *doc, size_t *len)
{
	const char *s = doc->data, *e = doc->data + doc->len;

	while (s < e && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	if (e - s < 2 || *s != '[' || e[-1] != ']')
		return NULL;
	*len = (size_t)(e - s - 2);
	return s + 1;
}

int cache_metadata_from_series(struct cache *c, const char *study_uid,
			       const char *const *series_uids, size_t n, struct buf *out)
{
	int64_t stored_at = 0, now = (int64_t)time(NULL), oldest = now;
	struct buf doc, all;
	char *key, *study_key;
	bool first = true;
	int err = 0;

	if (!c->downloader->ops->metadata || n == 0)
		return -ENOENT;
	study_key = metadata_key(c, study_uid, NULL);
	if (!study_key)
		return -ENOMEM;
	buf_init(&doc, out->max);
	buf_init(&all, out->max);
	/* The study's own, once stored (made here before, or fetched), serves as it is: no
	 * composing and storing it again on every open. */
	if (store_doc_get(c->store, study_key, &doc, &stored_at) == 0 &&
	    is_fresh(c, answer_time(c, study_key, stored_at), now)) {
		STAT_ADD(c, query_hits, 1);
		err = buf_add(out, doc.data, doc.len);
		goto out;
	}
	err = buf_add(&all, "[", 1);
	for (size_t i = 0; !err && i < n; i++) {
		const char *inside;
		size_t len;

		key = metadata_key(c, study_uid, series_uids[i]);
		if (!key) {
			err = -ENOMEM;
			break;
		}
		doc.len = 0;
		err = store_doc_get(c->store, key, &doc, &stored_at);
		if (!err)
			stored_at = answer_time(c, key, stored_at);
		free(key);
		if (err)
			break;
		if (!is_fresh(c, stored_at, now)) {
			err = -ENOENT;
			break;
		}
		if (stored_at < oldest)
			oldest = stored_at;
		inside = array_inside(&doc, &len);
		if (!inside) {
			err = -ENOENT;
			break;
		}
		if (len && !first)
			err = buf_add(&all, ",", 1);
		if (len && !err)
			err = buf_add(&all, inside, len);
		first = first && len == 0;
	}
	if (!err)
		err = buf_add(&all, "]", 1);
	if (!err) {
		STAT_ADD(c, query_hits, 1);
		/* As old as its oldest part: it must not outlive what it is made of. */
		store_doc_put(c->store, study_key, all.data, all.len, oldest);
		err = buf_add(out, all.data, all.len);
	}
out:
	buf_release(&doc);
	buf_release(&all);
	free(study_key);
	return err == -ENOENT || err == -EIO ? -ENOENT : err;
}

int cache_check_query(struct cache *c, const struct query *q, char *why, size_t n)
{
	if (!c->searcher->ops->check)
		return 0;
	return c->searcher->ops->check(c->searcher, q, why, n);
}

/* Refresh. One answer is forgotten by its mark (MARK_PREFIX): expired, but still there to
 * serve if the archive fails (stale-if-error), also after a remount. All of them at once
 * by one time, kept in the store under REFRESH_KEY's time so that a remount does not bring
 * back what a refresh forgot. Its resolution is a second: an answer stored in the second of a
 * refresh, after it, is asked again once more. */
#define REFRESH_KEY "refresh|"

static char *refresh_key(struct cache *c)
{
	char *key;

	return asprintf(&key, REFRESH_KEY "%s", c->cfg.source) < 0 ? NULL : key;
}

static int64_t forgot_at(struct cache *c)
{
	int64_t t = __atomic_load_n(&c->forgot_at, __ATOMIC_ACQUIRE), stored = 1, zero = 0;
	char *key;
	struct buf b;

	if (t)
		return t;
	key = refresh_key(c);
	buf_init(&b, 64);
	if (!key || store_doc_get(c->store, key, &b, &stored) != 0 || stored < 1)
		stored = 1; /* never refreshed (1: read, and older than any answer) */
	buf_release(&b);
	free(key);
	/* A refresh that came meanwhile wins. */
	__atomic_compare_exchange_n(&c->forgot_at, &zero, stored, false, __ATOMIC_ACQ_REL,
				    __ATOMIC_ACQUIRE);
	return __atomic_load_n(&c->forgot_at, __ATOMIC_ACQUIRE);
}

bool cache_is_offline(const struct cache *c)
{
	return c->cfg.offline;
}

void cache_forget_all(struct cache *c)
{
	int64_t now = (int64_t)time(NULL);
	char *key = refresh_key(c);

	__atomic_store_n(&c->forgot_at, now, __ATOMIC_RELEASE);
	if (key)
		store_doc_put(c->store, key, "", 0, now);
	free(key);
}

int cache_forget(struct cache *c, const struct query *q)
{
	char *key = cache_query_key(c, q);
	int err;

	if (!key)
		return -ENOMEM;
	err = mark_put(c, key, "", (int64_t)time(NULL));
	free(key);
	return err;
}

int cache_forget_metadata(struct cache *c, const char *study_uid, const char *series_uid)
{
	char *key = metadata_key(c, study_uid, series_uid);
	int err;

	if (!key)
		return -ENOMEM;
	err = mark_put(c, key, "", (int64_t)time(NULL));
	free(key);
	return err;
}
