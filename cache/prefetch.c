/* prefetch=series: the first instance opened in a series starts one background transfer of the
 * whole series (one series-level request: WADO-RS streams every instance in one multipart
 * body), committed to the store in batches of up to 16 instances or 8 MiB: one disk sync per
 * batch rather than per instance (measured: per-instance syncs took a cold `cp -r` of a 400
 * instance study from 0.9 s to 1.3-2.0 s). A batch is written by a committer thread while the
 * transfer goes on (it ran inside the download's write callback, stalling the stream for each
 * write and sync); one batch is in flight at most. Readers of the other instances wait on their
 * flights and are woken as each batch lands, so a `cp -r` reads at the speed of the stream.
 * Series transfers run on a small pool of workers (half of connections=, at most 4), fed by a
 * queue and started on first use: a thread per series, never joined, grew the address space
 * by 8 MiB a series (2.5 GB after one open in each of 300). A job waiting in the queue owns
 * no flights, so an open() of one of its instances fetches that one itself at once rather
 * than wait behind other series; the job takes what is still missing when a worker picks it
 * up. A series whose prefetch failed is not prefetched again for a minute. The queue is in
 * order of class (enum prefetch_class): what a reader waits for goes before read-ahead
 * (cache/ahead.c), which also waits for single-instance opens and gives its worker back.
 * This is the transfer engine (prefetch.h): opens and read-ahead call it, it calls nothing
 * above it. The work done per member (a store lookup, a flight's allocation) is done with
 * c->lock let go; under it a job only links its members' flights into the table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/internal.h"
#include "cache/prefetch.h"
#include "core/cancel.h"
#include "core/errors.h"
#include "core/log.h"

/* Waiting jobs kept at most: past this the oldest waiting one gives way (a viewer moving through
 * series wants the latest first; what is dropped is fetched by its readers when opened). */
#define PREFETCH_QUEUE_MAX 64
/* A series whose prefetch failed is prefetched again after this long, not at the next open of
 * each of its instances (a broken series stream would be asked for once per file). */
#define PREFETCH_RETRY_MS 60000

/* Free the members a job gave up (those after its n: stored, in flight elsewhere, its
 * opener's own) and their flights, which are in no table. c->lock need not be held: the worker
 * does it after taking the job, and whoever frees a job. */
static void job_free_spare(struct prefetch_job *j)
{
	for (size_t i = j->n; i < j->n + j->nspare; i++) {
		free(j->members[i]);
		if (j->flights[i])
			flight_put(j->flights[i]);
		j->members[i] = NULL;
		j->flights[i] = NULL;
	}
	j->nspare = 0;
}

void prefetch_job_free(struct prefetch_job *j)
{
	if (!j)
		return;
	/* A claimed job's flights were finished and put (set NULL) by whoever ended it; what
	 * is left is in no table. */
	for (size_t i = 0; j->members && i < j->n + j->nspare; i++) {
		free(j->members[i]);
		if (j->flights[i])
			flight_put(j->flights[i]);
	}
	free(j->members);
	free(j->flights);
	free(j->queued);
	free(j->delivered);
	free(j);
}

/* Keep the members for which @drop is false in their order at the front, the others after
 * them as spare (job_free_spare), following the opener's own member. */
static void job_partition(struct cache *c, struct prefetch_job *j,
			  bool (*drop)(struct cache *c, struct prefetch_job *j, size_t i))
{
	size_t kept = 0;
	ssize_t own = -1;

	for (size_t i = 0; i < j->n; i++) {
		char *sop = j->members[i];
		struct flight *f = j->flights[i];

		if (drop(c, j, i))
			continue;
		if ((ssize_t)i == j->own)
			own = (ssize_t)kept;
		j->members[i] = j->members[kept];
		j->flights[i] = j->flights[kept];
		j->members[kept] = sop;
		j->flights[kept] = f;
		kept++;
	}
	j->nspare += j->n - kept;
	j->n = kept;
	j->own = own;
}

static ssize_t job_index(struct prefetch_job *j, const char *uid)
{
	for (size_t i = 0; i < j->n; i++)
		if (strcmp(j->members[i], uid) == 0)
			return (ssize_t)i;
	return -1;
}

static enum sink_verdict job_check(struct fetch_sink *s, const char *uid)
{
	struct prefetch_job *j = s->owner;
	ssize_t i = job_index(j, uid);

	/* The instance an opener fetches alone comes in the series too: not ours to store. */
	return i >= 0 && !j->queued[i] ? SINK_KEEP : SINK_SKIP;
}

/* An instance of the job was committed (err 0) or could not be: wake its readers. @pinned:
 * the job pinned the blob before its commit; the pin passes to the flight, so that its
 * waiters open it before a later batch evicts it (a series bigger than the cache). With
 * -ENOSPC (no room in the store: the rest is open, or the disk is at its floor), readers
 * waiting now are served from @fd, its checked file, which they take (*fd set to -1). */
static void job_delivered(struct prefetch_job *j, const char *uid, int err, bool pinned, int *fd,
			  uint64_t size)
{
	struct cache *c = j->cache;
	ssize_t i = job_index(j, uid);
	struct flight *f;

	if (i >= 0) {
		j->delivered[i] = true;
		if (!err)
			STAT_ADD(c, prefetched, 1);
	}
	pthread_mutex_lock(&c->lock);
	/* The job's own reference: no lookup in the table. */
	f = i >= 0 ? j->flights[i] : NULL;
	if (f && !err && pinned) {
		f->pinned = c->store;
		pinned = false;
	}
	if (f && err == -ENOSPC && fd && *fd >= 0 && f->refs > 1) {
		f->fd = *fd;
		f->size = size;
		*fd = -1;
		memo_put(&c->sizes, uid, size, 0, 0);
		err = 0;
	}
	if (f) {
		/* Not stored: its readers fetch it alone (and keep it in a temporary file). */
		flight_finish(&c->flights, f,
			      err	   ? FLIGHT_ALONE
			      : f->fd >= 0 ? FLIGHT_IN_FILE
					   : FLIGHT_STORED,
			      0);
		flight_put(f);
		j->flights[i] = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	if (pinned)
		store_unpin(c->store, uid);
}

static void job_stored(struct fetch_sink *s, const char *uid, int err, int *fd, uint64_t size)
{
	job_delivered(s->owner, uid, err, false, fd, size);
}

/* A batch's checked instances wait for their commit in the sink's memory buffers (those up to
 * 4 MiB, within 32 MiB in all: cache/sink.c), so a batch costs its bytes in private memory; the
 * store copies them straight into its map (MDB_WRITEMAP, cache/store.c). Before the map was
 * written through, LMDB's malloc'd pages held each batch the same way. 32 MiB (16 images of
 * 2 MiB) took a 2 GiB cold export to 90-151 MB RssAnon, over the 64 MB target; 8 MiB, with
 * main.c's fixed mmap threshold, took it to 15 MB, at the same cp -r time
 * (bench/memory.py, interleaved runs). Images of 0.5 MiB still go 16 to a batch. */
#define JOB_BATCH_BYTES (8u << 20)
#define JOB_BATCH_COUNT (sizeof(((struct prefetch_job *)0)->pending) / sizeof(struct store_put))

/* Commit a batch in one transaction and wake its readers. */
static void job_commit(struct prefetch_job *j, struct store_put *batch, size_t n)
{
	bool pinned[JOB_BATCH_COUNT];

	for (size_t i = 0; i < n; i++)
		pinned[i] = store_pin(j->cache->store, batch[i].sop) == 0;
	store_blob_put_batch(j->cache->store, batch, n);
	for (size_t i = 0; i < n; i++) {
		enum spill_place where;

		/* Not kept: its waiting readers are served from a file (spill.c). */
		if (batch[i].data && batch[i].err == -ENOSPC)
			batch[i].fd =
				fetch_part_file(j->cache, batch[i].data, batch[i].size, &where);
		job_delivered(j, batch[i].sop, batch[i].err, pinned[i], &batch[i].fd,
			      batch[i].size);
		if (batch[i].fd >= 0)
			close(batch[i].fd);
		fetch_buf_put(j->cache, (void *)batch[i].data, batch[i].size);
		free((char *)batch[i].sop);
	}
}

static void *job_commit_run(void *arg)
{
	struct prefetch_job *j = arg;

	job_commit(j, j->committing, j->ncommitting);
	return NULL;
}

/* Hand what is pending to the committer, after the batch before it is in. @last: commit here
 * and now, the transfer is over. */
static void job_flush(struct prefetch_job *j, bool last)
{
	if (j->committer_running) {
		pthread_join(j->committer, NULL);
		j->committer_running = false;
	}
	if (!j->npending)
		return;
	memcpy(j->committing, j->pending, j->npending * sizeof(*j->pending));
	j->ncommitting = j->npending;
	j->npending = 0;
	j->pending_bytes = 0;
	if (!last && pthread_create(&j->committer, NULL, job_commit_run, j) == 0) {
		j->committer_running = true;
		return;
	}
	job_commit(j, j->committing, j->ncommitting);
}

/* Whether a reader waits in open() for @uid (its flight has more than the job's reference):
 * the job's first batch is committed then, not when 16 instances or 8 MiB have come (the
 * reader of the first instance of a stream waited for 16 of them). Only the first: a walker
 * at the stream's heels waits for nearly every instance, and a commit (and a committer
 * thread) per instance made a cold cp -r of case A 25% slower (1.79 s against 1.39 s, medians
 * of 21 interleaved runs). */
static bool is_awaited(struct prefetch_job *j, size_t i)
{
	struct cache *c = j->cache;
	bool awaited;

	pthread_mutex_lock(&c->lock);
	awaited = j->flights[i] && j->flights[i]->refs > 1;
	pthread_mutex_unlock(&c->lock);
	return awaited;
}

static int job_defer(struct fetch_sink *s, const char *uid, int fd, void *data, uint64_t size)
{
	struct prefetch_job *j = s->owner;
	struct store_put *p = &j->pending[j->npending];
	size_t i = (size_t)job_index(j, uid); /* job_check let only members through */

	p->sop = strdup(uid);
	if (!p->sop) {
		if (fd >= 0)
			close(fd);
		fetch_buf_put(j->cache, data, size);
		return -ENOMEM;
	}
	p->fd = fd;
	p->data = data;
	p->size = size;
	j->queued[i] = true;
	j->npending++;
	j->pending_bytes += size;
	if (j->npending == JOB_BATCH_COUNT || j->pending_bytes >= JOB_BATCH_BYTES ||
	    (!j->flushed && is_awaited(j, i))) {
		j->flushed = true;
		job_flush(j, false);
	}
	return 0;
}

/* The verifying sink, stopped when the job is cancelled (a read-ahead the walk left). */
static int job_write(void *ctx, const void *data, size_t len)
{
	struct fetch_sink *s = ctx;
	struct prefetch_job *j = s->owner;

	if (__atomic_load_n(&j->cancelled, __ATOMIC_RELAXED))
		return -ECANCELED;
	return fetch_sink_ops.write(ctx, data, len);
}

static int job_begin(void *ctx)
{
	return fetch_sink_ops.begin(ctx);
}

static int job_hold(void *ctx, uint64_t held)
{
	struct fetch_sink *s = ctx;
	struct prefetch_job *j = s->owner;

	if (__atomic_load_n(&j->cancelled, __ATOMIC_RELAXED))
		return -ECANCELED;
	return fetch_sink_ops.hold(ctx, held);
}

static int job_end(void *ctx)
{
	return fetch_sink_ops.end(ctx);
}

static const struct sink_ops job_sink_ops = {
	.begin = job_begin,
	.write = job_write,
	.end = job_end,
	.hold = job_hold,
};

/* A downloader without series transfers: the members one request each, in order. Every
 * downloader today takes a whole series (WADO-URI runs its members' GETs in parallel itself);
 * this keeps a new protocol correct before it learns to. */
static int fetch_one_by_one(struct prefetch_job *j, struct sink *sink, struct errors_detail *why)
{
	struct cache *c = j->cache;
	struct instance_ref ref = {.study_uid = j->study, .series_uid = j->series};
	int err = 0;

	for (size_t i = 0; i < j->n; i++) {
		if (__atomic_load_n(&c->stopping, __ATOMIC_RELAXED) ||
		    __atomic_load_n(&j->cancelled, __ATOMIC_RELAXED))
			return -ECANCELED;
		ref.sop_uid = j->members[i];
		err = c->downloader->ops->fetch(c->downloader, &ref, sink, why);
		/* One bad instance does not stop the rest; its reader will see the error. */
		if (err == -ECANCELED)
			return err;
	}
	return err;
}

static void set_streaming(struct prefetch_job *j, bool on)
{
	pthread_mutex_lock(&j->cache->lock);
	j->streaming = on;
	if (!on)
		pthread_cond_broadcast(&j->cache->work);
	pthread_mutex_unlock(&j->cache->lock);
}

/* Fetch the series of @j; every member's flight is finished when it returns. @return whether
 * every member came. */
static bool job_run(struct prefetch_job *j)
{
	struct cache *c = j->cache;
	struct instance_ref ref = {.study_uid = j->study,
				   .series_uid = j->series,
				   .members = (const char *const *)j->members,
				   .nmembers = j->n};
	struct fetch_sink s;
	struct sink sink = {.ops = &job_sink_ops, .ctx = &s};
	struct errors_detail why = ERRORS_DETAIL_INIT;
	size_t missing = 0;
	int err;

	err = fetch_sink_init(&s, c);
	if (!err) {
		s.check = job_check;
		s.stored = job_stored;
		s.defer = job_defer;
		s.owner = j;
		s.why = &why;
		STAT_ADD(c, transfers_active, 1);
		set_streaming(j, true);
		if (c->downloader->ops->fetches_series)
			err = c->downloader->ops->fetch(c->downloader, &ref, &sink, &why);
		else
			err = fetch_one_by_one(j, &sink, &why);
		/* The wire is free: read-ahead waiting for it starts now, while the last batch
		 * is committed (measured: waiting for the job's end left it idle 95 ms). */
		set_streaming(j, false);
		STAT_SUB(c, transfers_active, 1);
		STAT_ADD(c, transfers_done, 1);
		/* Whole instances checked before a failure are good: keep them. */
		job_flush(j, true);
		fetch_sink_release(&s);
	}
	if (err && err != -ECANCELED)
		STAT_ADD(c, transfer_errors, 1);
	/* Whatever did not come: its readers fetch it alone. */
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < j->n; i++) {
		if (j->delivered[i])
			continue;
		missing++;
		if (j->flights[i]) {
			flight_finish(&c->flights, j->flights[i], FLIGHT_ALONE, 0);
			flight_put(j->flights[i]);
			j->flights[i] = NULL;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (missing && !err)
		log_warn("series %s: the archive's reply lacked %zu of %zu instances; fetching "
			 "them one by one",
			 j->series, missing, j->n);
	else if (err && err != -ECANCELED) {
		char what[UID_MAX + 16];

		log_warn("series %s: prefetch failed (%s); instances are fetched one by one",
			 j->series, strerror(-err));
		/* A background failure: no path in the mount, the series names it. */
		snprintf(what, sizeof(what), "series %s", j->series);
		errors_record(&why, what, err, "prefetch failed; instances are fetched one by one");
	}
	return !err && !missing;
}

/* Whether member @i of @j is stored: a job does not fetch it again. c->lock not held (a store
 * transaction each). */
static bool member_is_stored(struct cache *c, struct prefetch_job *j, size_t i)
{
	return store_has_blob(c->store, j->members[i]);
}

/* Whether member @i of @j is in flight already; if not, its flight (made with the job) goes
 * into the table: the job's own from now on. c->lock held. */
static bool member_is_taken(struct cache *c, struct prefetch_job *j, size_t i)
{
	if (flight_find(&c->flights, j->members[i]))
		return true;
	flight_add(&c->flights, j->flights[i]);
	return false;
}

/* Put the flights of @j's members that are not in flight into the table, dropping the others
 * from it (job_free_spare frees them later, with the lock let go). Only a lookup and a link
 * each: the store was asked and the flights made before the lock was taken. c->lock held. */
static void job_claim(struct cache *c, struct prefetch_job *j)
{
	job_partition(c, j, member_is_taken);
	j->claimed = true;
}

/* Give back the flights of a job that will not run (its readers fetch alone); the job is
 * freed by the caller (prefetch_job_free), with the lock let go where it can. c->lock held;
 * @j is in no list. */
static void job_giveback(struct cache *c, struct prefetch_job *j)
{
	for (size_t i = 0; j->claimed && i < j->n; i++) {
		struct flight *f = j->flights[i];

		if (f) {
			flight_finish(&c->flights, f, FLIGHT_ALONE, 0);
			flight_put(f);
			j->flights[i] = NULL;
		}
	}
}

/* job_giveback() and free: where a job is dropped under the lock (a full queue, a cancelled
 * read-ahead, the end), which is rare. c->lock held. */
static void job_drop(struct cache *c, struct prefetch_job *j)
{
	job_giveback(c, j);
	prefetch_job_free(j);
}

static struct prefetch_job *series_job(struct prefetch_job *list, const char *series)
{
	for (; list; list = list->next)
		if (strcmp(list->series, series) == 0)
			return list;
	return NULL;
}

void prefetch_wait_named(struct cache *c, const char *series)
{
	struct prefetch_job *j;

	if (!series[0])
		return; /* read-ahead not named yet has no series */
	/* An opener that gives up stops waiting here; its flight wait then returns -EINTR. */
	while ((j = series_job(c->running, series)) && j->naming && !c->stopping)
		if (cancel_cond_wait(&c->work, &c->lock))
			break;
}

bool prefetch_series_is_busy(struct cache *c, const char *series)
{
	return series_job(c->queue, series) || series_job(c->running, series);
}

void prefetch_open_begin(struct cache *c)
{
	c->opening++;
}

void prefetch_open_end(struct cache *c)
{
	/* Read-ahead waiting for blocked opens to be served starts now (worker_job). */
	if (--c->opening == 0)
		pthread_cond_broadcast(&c->work);
}

bool prefetch_job_cancelled(struct cache *c, const struct prefetch_job *j)
{
	return __atomic_load_n(&j->cancelled, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&c->stopping, __ATOMIC_RELAXED);
}

/* Into the queue behind every job of its class or a more urgent one. c->lock held. */
static void queue_insert(struct cache *c, struct prefetch_job *j)
{
	struct prefetch_job **pp = &c->queue;

	while (*pp && (*pp)->cls <= j->cls)
		pp = &(*pp)->next;
	j->next = *pp;
	*pp = j;
	c->nqueued++;
}

/* Out of the queue. c->lock held. */
static void queue_remove(struct cache *c, struct prefetch_job *j)
{
	for (struct prefetch_job **pp = &c->queue; *pp; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			c->nqueued--;
			return;
		}
	}
}

/* Whether a transfer of another series of @j's study, other than read-ahead, is running.
 * c->lock held. */
static bool study_is_streaming(struct cache *c, const struct prefetch_job *j)
{
	for (struct prefetch_job *r = c->running; r; r = r->next)
		if (r != j && r->streaming && r->cls != PREFETCH_AHEAD &&
		    strcmp(r->study, j->study) == 0)
			return true;
	return false;
}

/* How many instances @j delivered are no longer stored when it ends: a series bigger than the
 * cache (or than the disk under it) evicts its own first instances. Streamed again at the
 * next miss, it would evict the rest again before its readers came (measured: a 105 MB series
 * with cache_size=20M streamed 100 times for three cp -r, 10 GB for 315 MB); its misses are
 * fetched one by one instead, for PREFETCH_RETRY_MS. c->lock not held. */
static size_t job_unkept(struct cache *c, struct prefetch_job *j)
{
	size_t n = 0;

	for (size_t i = 0; i < j->n; i++)
		if (j->delivered[i] && !store_has_blob(c->store, j->members[i]))
			n++;
	if (n)
		log_info("series %s: %zu of its %zu instances could not stay in the cache; its "
			 "misses are fetched one by one for a while",
			 j->series, n, j->n);
	return n;
}

/* What became of a job a worker took. */
enum job_outcome {
	JOB_RAN,      /* its transfer ran: every member's flight is settled */
	JOB_DROPPED,  /* it did not run: its flights, if any, go back (job_giveback) */
	JOB_REQUEUED, /* a more urgent job came while it waited: back in the queue */
};

/* Whether read-ahead @j waits: for the walked series' stream to end (it starts then, not
 * beside it), and for every open that fetches its instance alone (a reader blocked in open()
 * goes first, also for the connection slots). c->lock held. */
static bool ahead_must_wait(struct cache *c, const struct prefetch_job *j)
{
	return (study_is_streaming(c, j) || c->opening) && !c->stopping &&
	       !__atomic_load_n(&j->cancelled, __ATOMIC_RELAXED);
}

/* Run @j on this worker (c->lock held on entry and on return; @j is on c->running). */
static enum job_outcome worker_job(struct cache *c, struct prefetch_job *j)
{
	bool whole, ahead = j->cls == PREFETCH_AHEAD;

	if (j->prepare) {
		enum prefetch_prepared prepared;

		/* Read-ahead's own step (cache/ahead.c): it names the series, claims its
		 * members (prefetch_claim) and queues what goes beside it. */
		pthread_mutex_unlock(&c->lock);
		prepared = j->prepare(c, j);
		pthread_mutex_lock(&c->lock);
		j->prepare = NULL;
		j->naming = false;
		/* Opens waiting for it to name its members go on (prefetch_wait_named). */
		pthread_cond_broadcast(&c->work);
		if (prepared == PREPARED_DONE || j->n == 0 || c->stopping ||
		    __atomic_load_n(&j->cancelled, __ATOMIC_RELAXED))
			return JOB_DROPPED;
	}
	while (ahead && ahead_must_wait(c, j)) {
		/* Waiting, it holds a worker: one of the pool's few, which a more urgent job
		 * wants more (with connections=2 the pool has one). */
		if (c->queue && c->queue->cls < PREFETCH_AHEAD)
			return JOB_REQUEUED;
		pthread_cond_wait(&c->work, &c->lock);
	}
	if (c->stopping || __atomic_load_n(&j->cancelled, __ATOMIC_RELAXED))
		return JOB_DROPPED;
	/* The walked series did not fit in the cache: neither will this one beside it, and its
	 * stream would evict what the walker has yet to read. */
	if (ahead && memo_get(&c->failed_series, j->after, NULL, NULL))
		return JOB_DROPPED;
	pthread_mutex_unlock(&c->lock);
	job_free_spare(j);
	log_debug("series %s: %s %zu instances", j->series, ahead ? "reading ahead" : "prefetching",
		  j->n);
	whole = job_run(j);
	/* A cancelled read-ahead did not fail: the walk may come back to it. */
	if (!whole && !__atomic_load_n(&j->cancelled, __ATOMIC_RELAXED))
		memo_put(&c->failed_series, j->series, 0, -EIO, PREFETCH_RETRY_MS);
	else if (whole && job_unkept(c, j))
		memo_put(&c->failed_series, j->series, 0, -ENOSPC, PREFETCH_RETRY_MS);
	pthread_mutex_lock(&c->lock);
	return JOB_RAN;
}

/* Take @j, just out of the queue, on c->running, and claim its members if nobody has yet:
 * those stored meanwhile (their readers fetched them alone) are dropped first, with the lock
 * let go. c->lock held on entry and on return. */
static void worker_take(struct cache *c, struct prefetch_job *j)
{
	j->next = c->running;
	c->running = j;
	if (j->claimed || j->prepare)
		return;
	pthread_mutex_unlock(&c->lock);
	job_partition(c, j, member_is_stored);
	pthread_mutex_lock(&c->lock);
	if (!c->stopping)
		job_claim(c, j);
}

static void *worker_run(void *arg)
{
	struct cache *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct prefetch_job *j, **pp;
		enum job_outcome done;

		while (!c->queue && !c->stopping)
			pthread_cond_wait(&c->work, &c->lock);
		if (c->stopping)
			break;
		/* The queue is in order of class (queue_insert): the most urgent first. */
		j = c->queue;
		c->queue = j->next;
		c->nqueued--;
		c->idle--;
		worker_take(c, j);
		if (j->n == 0 && !j->prepare)
			done = JOB_DROPPED;
		else
			done = worker_job(c, j);
		for (pp = &c->running; *pp; pp = &(*pp)->next) {
			if (*pp == j) {
				*pp = j->next;
				break;
			}
		}
		if (done == JOB_REQUEUED) {
			queue_insert(c, j); /* behind the more urgent ones; its flights stay */
		} else {
			/* Its members and their flights are freed with the lock let go. */
			job_giveback(c, j);
			pthread_mutex_unlock(&c->lock);
			prefetch_job_free(j);
			pthread_mutex_lock(&c->lock);
		}
		c->idle++;
		/* Read-ahead waiting for this stream to end starts now (worker_job). */
		pthread_cond_broadcast(&c->work);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* One more worker if every one is busy and the pool is not full. Called with c->lock held.
 * @return false if there is no worker at all to run a job. */
static bool pool_grow(struct cache *c)
{
	int err;

	if (c->idle > c->nqueued || c->nworkers == c->max_workers)
		return c->nworkers > 0;
	err = pthread_create(&c->workers[c->nworkers], NULL, worker_run, c);
	if (err) {
		log_warn("prefetch: cannot start a worker thread (%s); %zu running", strerror(err),
			 c->nworkers);
		return c->nworkers > 0;
	}
	pthread_setname_np(c->workers[c->nworkers], "trolley-prefetch");
	c->nworkers++;
	c->idle++;
	return true;
}

/* A full queue gives way: the oldest waiting job of the least urgent class (a viewer moving
 * through series wants the latest first; what is dropped is fetched by its readers when
 * opened). A claimed job is never dropped. c->lock held. @return false if none can go. */
static bool queue_make_room(struct cache *c)
{
	struct prefetch_job *old = NULL;

	for (struct prefetch_job *j = c->queue; j; j = j->next)
		if (!j->claimed && (!old || j->cls > old->cls))
			old = j;
	if (!old)
		return false;
	log_debug("series %s: prefetch dropped from a full queue",
		  old->series[0] ? old->series : "(read-ahead)");
	queue_remove(c, old);
	job_drop(c, old);
	return true;
}

/* Queue @j (made, not in a list), making room if the queue is full. c->lock held. */
static bool queue_add(struct cache *c, struct prefetch_job *j)
{
	if (c->nqueued >= PREFETCH_QUEUE_MAX && !queue_make_room(c))
		return false;
	queue_insert(c, j);
	/* Read-ahead counts its own (a job that only reads metadata is no series prefetch). */
	if (!j->prepare)
		STAT_ADD(c, prefetches, 1);
	/* Idle workers, and read-ahead that waits and gives way to it (worker_job), and
	 * opens waiting for read-ahead to name its members, all wait on c->work. */
	pthread_cond_broadcast(&c->work);
	return true;
}

bool prefetch_may_start(struct cache *c, const char *series, bool join)
{
	struct prefetch_job *j;

	if (c->stopping)
		return false;
	j = series_job(c->queue, series);
	if (j) {
		/* Read-ahead that a reader reached is the series being read now. */
		if (j->cls == PREFETCH_AHEAD) {
			queue_remove(c, j);
			j->cls = PREFETCH_SERIES;
			queue_insert(c, j);
		}
		return false;
	}
	if (series_job(c->running, series))
		return false;
	if (memo_get(&c->failed_series, series, NULL, NULL))
		return false;
	/* The opener waits for the stream only if a worker starts it now. */
	return !join || c->nworkers < c->max_workers || c->idle > c->nqueued;
}

/* The arrays of @j for @n members. @return 0 or -ENOMEM. */
static int job_alloc_members(struct prefetch_job *j, size_t n)
{
	if (!n)
		n = 1;
	j->members = calloc(n, sizeof(*j->members));
	j->flights = calloc(n, sizeof(*j->flights));
	j->queued = calloc(n, sizeof(*j->queued));
	j->delivered = calloc(n, sizeof(*j->delivered));
	return j->members && j->flights && j->queued && j->delivered ? 0 : -ENOMEM;
}

/* Add member @sop to @j with its flight (not in the table yet). @return 0 or -ENOMEM. */
static int job_add_member(struct prefetch_job *j, const char *sop)
{
	j->members[j->n] = strdup(sop);
	j->flights[j->n] = j->members[j->n] ? flight_alloc(sop) : NULL;
	if (!j->flights[j->n]) {
		free(j->members[j->n]);
		j->members[j->n] = NULL;
		return -ENOMEM;
	}
	j->n++;
	return 0;
}

struct prefetch_job *prefetch_job_new(struct cache *c, const struct instance_ref *ref,
				      const char *const *siblings, size_t nsiblings)
{
	struct prefetch_job *j;

	if (!ref->study_uid || !ref->series_uid || strlen(ref->study_uid) >= UID_MAX ||
	    strlen(ref->series_uid) >= UID_MAX)
		return NULL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->cache = c;
	j->cls = PREFETCH_SERIES;
	j->own = -1;
	snprintf(j->study, sizeof(j->study), "%s", ref->study_uid);
	snprintf(j->series, sizeof(j->series), "%s", ref->series_uid);
	if (job_alloc_members(j, nsiblings))
		goto out_free;
	for (size_t i = 0; i < nsiblings; i++) {
		const char *sop = siblings[i];
		bool own = strcmp(sop, ref->sop_uid) == 0;

		/* What is stored is not fetched again; the opener's own is not stored. */
		if (strlen(sop) >= UID_MAX || (!own && store_has_blob(c->store, sop)))
			continue;
		if (own)
			j->own = (ssize_t)j->n;
		if (job_add_member(j, sop))
			break;
	}
	if (j->n)
		return j;
out_free:
	prefetch_job_free(j);
	return NULL;
}

/* Give up the opener's own member of @j (it fetches that itself): to the spare, after n. */
static void job_drop_own(struct prefetch_job *j)
{
	size_t own = (size_t)j->own;
	char *sop = j->members[own];
	struct flight *f = j->flights[own];

	memmove(&j->members[own], &j->members[own + 1], (j->n - own - 1) * sizeof(*j->members));
	memmove(&j->flights[own], &j->flights[own + 1], (j->n - own - 1) * sizeof(*j->flights));
	j->n--;
	j->members[j->n] = sop;
	j->flights[j->n] = f;
	j->nspare++;
	j->own = -1;
}

enum prefetch_submit prefetch_submit(struct cache *c, struct prefetch_job *j, bool join)
{
	/* Asked again: another open may have started it since the caller looked. A job once
	 * claimed and given back is not offered again. */
	if (j->claimed || !prefetch_may_start(c, j->series, join))
		return PREFETCH_REFUSED;
	if (!join && j->own >= 0)
		job_drop_own(j);
	if (j->n == 0 || !pool_grow(c))
		return PREFETCH_REFUSED;
	if (join && (j->own < 0 || !(c->idle > c->nqueued)))
		return PREFETCH_REFUSED;
	j->cls = join ? PREFETCH_OPEN : PREFETCH_SERIES;
	/* A worker is free for it: its members are its own from now on, and their readers wait
	 * for the stream. Otherwise they stay free until a worker takes the job. */
	if (c->idle > c->nqueued) {
		job_claim(c, j);
		if (j->n == 0)
			return PREFETCH_REFUSED;
	}
	if (!queue_add(c, j)) {
		job_giveback(c, j);
		return PREFETCH_REFUSED;
	}
	return join && j->own >= 0 ? PREFETCH_JOINED : PREFETCH_QUEUED;
}

bool prefetch_queue_prepared(struct cache *c, const char *study, const char *after,
			     const char *meta_series, prefetch_prepare_fn prepare)
{
	struct prefetch_job *j;

	if (c->stopping)
		return false;
	j = calloc(1, sizeof(*j));
	if (!j)
		return false;
	j->cache = c;
	j->cls = PREFETCH_AHEAD;
	j->prepare = prepare;
	j->naming = true;
	j->own = -1;
	snprintf(j->study, sizeof(j->study), "%s", study);
	snprintf(j->after, sizeof(j->after), "%s", after);
	snprintf(j->meta_series, sizeof(j->meta_series), "%s", meta_series ? meta_series : "");
	if (!pool_grow(c) || !queue_add(c, j)) {
		prefetch_job_free(j);
		return false;
	}
	return true;
}

int prefetch_name(struct cache *c, struct prefetch_job *j, const char *series)
{
	int err = 0;

	pthread_mutex_lock(&c->lock);
	if (prefetch_series_is_busy(c, series))
		err = -EBUSY;
	else
		snprintf(j->series, sizeof(j->series), "%s", series);
	pthread_mutex_unlock(&c->lock);
	return err;
}

int prefetch_set_members(struct cache *c, struct prefetch_job *j, const char *const *uids, size_t n)
{
	int err = job_alloc_members(j, n);

	for (size_t i = 0; !err && i < n; i++)
		if (strlen(uids[i]) < UID_MAX && !store_has_blob(c->store, uids[i]))
			err = job_add_member(j, uids[i]);
	return err;
}

size_t prefetch_claim(struct cache *c, struct prefetch_job *j)
{
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	if (!c->stopping && !__atomic_load_n(&j->cancelled, __ATOMIC_RELAXED)) {
		job_claim(c, j);
		n = j->n;
	}
	pthread_mutex_unlock(&c->lock);
	return n;
}

void prefetch_cancel_ahead(struct cache *c)
{
	struct prefetch_job **pp = &c->queue;

	while (*pp) {
		struct prefetch_job *j = *pp;

		if (j->cls == PREFETCH_AHEAD) {
			*pp = j->next;
			c->nqueued--;
			log_debug("series %s: read-ahead dropped, the walk went elsewhere",
				  j->series[0] ? j->series : "(next)");
			job_drop(c, j);
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

void prefetch_promote(struct cache *c, const char *series)
{
	for (struct prefetch_job *j = c->running; j; j = j->next)
		if (j->cls == PREFETCH_AHEAD && strcmp(j->series, series) == 0)
			j->cls = PREFETCH_SERIES;
}

void prefetch_stop_all(struct cache *c)
{
	struct prefetch_job *j;

	pthread_mutex_lock(&c->lock);
	__atomic_store_n(&c->stopping, true, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->lock);
	/* No worker is started once stopping is set (prefetch_may_start refuses then). */
	for (size_t i = 0; i < c->nworkers; i++)
		pthread_join(c->workers[i], NULL);
	c->nworkers = 0;
	pthread_mutex_lock(&c->lock);
	while ((j = c->queue)) {
		c->queue = j->next;
		job_drop(c, j);
	}
	c->nqueued = 0;
	pthread_mutex_unlock(&c->lock);
}
