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
 * (cache/ahead.c), which also waits for single-instance opens and gives its worker back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/internal.h"
#include "core/cancel.h"
#include "core/errors.h"
#include "core/log.h"

/* Waiting jobs kept at most: past this the oldest waiting one gives way (a viewer moving through
 * series wants the latest first; what is dropped is fetched by its readers when opened). */
#define PREFETCH_QUEUE_MAX 64
/* A series whose prefetch failed is prefetched again after this long, not at the next open of
 * each of its instances (a broken series stream would be asked for once per file). */
#define PREFETCH_RETRY_MS 60000

static void job_free(struct prefetch_job *j)
{
	for (size_t i = 0; j->members && i < j->n; i++)
		free(j->members[i]);
	free(j->members);
	free(j->queued);
	free(j->delivered);
	j->members = NULL;
	j->queued = NULL;
	j->delivered = NULL;
	j->n = 0;
}

static ssize_t job_index(struct prefetch_job *j, const char *uid)
{
	for (size_t i = 0; i < j->n; i++)
		if (strcmp(j->members[i], uid) == 0)
			return (ssize_t)i;
	return -1;
}

static int job_check(struct fetch_sink *s, const char *uid)
{
	struct prefetch_job *j = s->owner;
	ssize_t i = job_index(j, uid);

	/* The instance an opener fetches alone comes in the series too: not ours to store. */
	return i >= 0 && !j->queued[i] ? 0 : 1;
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
	f = i >= 0 ? flight_find(c, uid) : NULL;
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
		flight_finish(c, f, err ? -EAGAIN : 0);
		flight_put(f);
	}
	pthread_mutex_unlock(&c->lock);
	if (pinned)
		store_unpin(c->store, uid);
}

static void job_stored(struct fetch_sink *s, const char *uid, int err, int *fd, uint64_t size)
{
	job_delivered(s->owner, uid, err, false, fd, size);
}

/* The store copies a batch's blobs into pages LMDB mallocs and holds until the commit (its
 * map is not written through: MDB_WRITEMAP was measured slower), so a batch costs its bytes in
 * private memory. 32 MiB (16 images of 2 MiB) took a 2 GiB cold export to 90-151 MB RssAnon,
 * over the 64 MB target; 8 MiB with fs/main.c's fixed mmap threshold to 15 MB, at the same cp -r time
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
		job_delivered(j, batch[i].sop, batch[i].err, pinned[i], &batch[i].fd,
			      batch[i].size);
		if (batch[i].fd >= 0)
			close(batch[i].fd);
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
static bool is_awaited(struct cache *c, const char *uid)
{
	struct flight *f;
	bool awaited;

	pthread_mutex_lock(&c->lock);
	f = flight_find(c, uid);
	awaited = f && f->refs > 1;
	pthread_mutex_unlock(&c->lock);
	return awaited;
}

static int job_defer(struct fetch_sink *s, const char *uid, int fd, uint64_t size)
{
	struct prefetch_job *j = s->owner;
	struct store_put *p = &j->pending[j->npending];

	p->sop = strdup(uid);
	if (!p->sop) {
		close(fd);
		return -ENOMEM;
	}
	p->fd = fd;
	p->size = size;
	j->queued[job_index(j, uid)] = true; /* job_check let only members through */
	j->npending++;
	j->pending_bytes += size;
	if (j->npending == JOB_BATCH_COUNT || j->pending_bytes >= JOB_BATCH_BYTES ||
	    (!j->flushed && is_awaited(j->cache, uid))) {
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
static int fetch_one_by_one(struct prefetch_job *j, struct sink *sink)
{
	struct cache *c = j->cache;
	struct instance_ref ref = {.study_uid = j->study, .series_uid = j->series};
	int err = 0;

	for (size_t i = 0; i < j->n; i++) {
		if (__atomic_load_n(&c->stopping, __ATOMIC_RELAXED) ||
		    __atomic_load_n(&j->cancelled, __ATOMIC_RELAXED))
			return -ECANCELED;
		ref.sop_uid = j->members[i];
		err = c->downloader->ops->fetch(c->downloader, &ref, sink);
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
	size_t missing = 0;
	int err;

	errors_forget_note(); /* an earlier job's failure is not this one's */
	err = fetch_sink_init(&s, c);
	if (!err) {
		s.check = job_check;
		s.stored = job_stored;
		s.defer = job_defer;
		s.owner = j;
		STAT_ADD(c, transfers_active, 1);
		set_streaming(j, true);
		if (c->downloader->ops->fetches_series)
			err = c->downloader->ops->fetch(c->downloader, &ref, &sink);
		else
			err = fetch_one_by_one(j, &sink);
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
		struct flight *f;

		if (j->delivered[i])
			continue;
		missing++;
		f = flight_find(c, j->members[i]);
		if (f) {
			flight_finish(c, f, -EAGAIN);
			flight_put(f);
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (missing && !err)
		log_warn("series %s: the archive's reply lacked %zu of %zu instances; fetching "
			 "them one by one",
			 j->series, missing, j->n);
	else if (err && err != -ECANCELED) {
		char what[SOP_MAX + 16];

		log_warn("series %s: prefetch failed (%s); instances are fetched one by one",
			 j->series, strerror(-err));
		/* A background failure: no path in the mount, the series names it. */
		snprintf(what, sizeof(what), "series %s", j->series);
		errors_record(what, err, "prefetch failed; instances are fetched one by one");
	}
	return !err && !missing;
}

/* Make the flights of @j's members that are neither stored nor in flight, dropping the others
 * from it. Called with c->lock held. */
static void job_claim(struct cache *c, struct prefetch_job *j)
{
	size_t kept = 0;

	for (size_t i = 0; i < j->n; i++) {
		char *sop = j->members[i];

		if (flight_find(c, sop) || store_has_blob(c->store, sop) || !flight_new(c, sop)) {
			free(sop);
			continue;
		}
		j->members[kept++] = sop;
	}
	j->n = kept;
	j->claimed = true;
}

void prefetch_job_drop(struct cache *c, struct prefetch_job *j)
{
	for (size_t i = 0; j->claimed && i < j->n; i++) {
		struct flight *f = flight_find(c, j->members[i]);

		if (f) {
			flight_finish(c, f, -EAGAIN);
			flight_put(f);
		}
	}
	job_free(j);
	free(j);
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

	/* An opener that gives up stops waiting here; its flight wait then returns -EINTR. */
	while ((j = series_job(c->running, series)) && j->resolve && !c->stopping)
		if (cancel_cond_wait(&c->work, &c->lock))
			break;
}

bool prefetch_series_is_busy(struct cache *c, const char *series)
{
	return series_job(c->queue, series) || series_job(c->running, series);
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

static bool pool_grow(struct cache *c);
static bool queue_add(struct cache *c, struct prefetch_job *j);

/* A job of no instances for the metadata of @j's walked series and its own. c->lock held. */
static void queue_metadata(struct cache *c, const struct prefetch_job *j)
{
	struct prefetch_job *m;

	if (!cache_has_metadata(c))
		return;
	m = calloc(1, sizeof(*m));
	if (!m)
		return;
	m->cache = c;
	m->cls = PREFETCH_AHEAD;
	m->meta_only = true;
	snprintf(m->study, sizeof(m->study), "%s", j->study);
	snprintf(m->after, sizeof(m->after), "%s", j->after);
	snprintf(m->meta_series, sizeof(m->meta_series), "%s", j->series);
	if (!pool_grow(c) || !queue_add(c, m))
		prefetch_job_drop(c, m);
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
	JOB_DROPPED,  /* it did not run: its flights, if any, go back (prefetch_job_drop) */
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

	if (j->meta_only) {
		pthread_mutex_unlock(&c->lock);
		prefetch_ahead_metadata(c, j->study, j->after);
		if (!__atomic_load_n(&j->cancelled, __ATOMIC_RELAXED))
			prefetch_ahead_metadata(c, j->study, j->meta_series);
		pthread_mutex_lock(&c->lock);
		return JOB_DROPPED;
	}
	if (j->resolve) {
		int err;

		pthread_mutex_unlock(&c->lock);
		err = prefetch_ahead_resolve(c, j);
		pthread_mutex_lock(&c->lock);
		j->resolve = false;
		if (err || __atomic_load_n(&j->cancelled, __ATOMIC_RELAXED) || c->stopping) {
			if (err && err != -ENOENT)
				log_debug("study %s: no read-ahead (%s)", j->study, strerror(-err));
			return JOB_DROPPED;
		}
		/* Its members are its own from now on: the walker's opens in it wait for this
		 * stream rather than each fetch its instance alone (prefetch_wait_named). */
		job_claim(c, j);
		pthread_cond_broadcast(&c->work);
		if (j->n == 0)
			return JOB_DROPPED;
		/* A walk reads every metadata.json, each at the end of its series: both are
		 * fetched beside the streams, before the walker asks (measured: fetched here
		 * before this stream, they held it back 200 ms on a loaded machine). */
		queue_metadata(c, j);
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
		if (!j->claimed && !j->resolve && !j->meta_only)
			job_claim(c, j);
		if (j->n == 0 && !j->resolve && !j->meta_only) {
			prefetch_job_drop(c, j);
			c->idle++;
			continue;
		}
		j->next = c->running;
		c->running = j;
		done = worker_job(c, j);
		for (pp = &c->running; *pp; pp = &(*pp)->next) {
			if (*pp == j) {
				*pp = j->next;
				break;
			}
		}
		if (done == JOB_RAN) {
			job_free(j);
			free(j);
		} else if (done == JOB_REQUEUED) {
			queue_insert(c, j); /* behind the more urgent ones; its flights stay */
		} else {
			prefetch_job_drop(c, j);
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
	prefetch_job_drop(c, old);
	return true;
}

/* Queue @j (made, not in a list), making room if the queue is full. c->lock held. */
static bool queue_add(struct cache *c, struct prefetch_job *j)
{
	if (c->nqueued >= PREFETCH_QUEUE_MAX && !queue_make_room(c))
		return false;
	queue_insert(c, j);
	if (!j->meta_only)
		STAT_ADD(c, prefetches, 1);
	/* Idle workers, and read-ahead that waits and gives way to it (worker_job), and
	 * opens waiting for read-ahead to name its members, all wait on c->work. */
	pthread_cond_broadcast(&c->work);
	return true;
}

bool prefetch_start(struct cache *c, const struct instance_ref *ref, const char *const *siblings,
		    size_t nsiblings, bool join)
{
	struct prefetch_job *j;

	if (strlen(ref->study_uid) >= SOP_MAX || strlen(ref->series_uid) >= SOP_MAX)
		return false;
	j = series_job(c->queue, ref->series_uid);
	if (j) {
		/* Read-ahead that a reader reached is the series being read now. */
		if (j->cls == PREFETCH_AHEAD) {
			queue_remove(c, j);
			j->cls = PREFETCH_SERIES;
			queue_insert(c, j);
		}
		return false;
	}
	if (series_job(c->running, ref->series_uid))
		return false;
	if (memo_get(&c->failed_series, ref->series_uid, NULL, NULL))
		return false;
	/* The opener waits for the stream only if a worker starts it now. */
	if (join && !(c->nworkers < c->max_workers || c->idle > c->nqueued))
		return false;
	j = calloc(1, sizeof(*j));
	if (!j)
		return false;
	j->cache = c;
	j->cls = join ? PREFETCH_OPEN : PREFETCH_SERIES;
	snprintf(j->study, sizeof(j->study), "%s", ref->study_uid);
	snprintf(j->series, sizeof(j->series), "%s", ref->series_uid);
	j->members = calloc(nsiblings, sizeof(*j->members));
	j->queued = calloc(nsiblings, sizeof(*j->queued));
	j->delivered = calloc(nsiblings, sizeof(*j->delivered));
	if (!j->members || !j->queued || !j->delivered)
		goto out_free;
	for (size_t i = 0; i < nsiblings; i++) {
		const char *sop = siblings[i];

		if (strlen(sop) >= SOP_MAX || (!join && strcmp(sop, ref->sop_uid) == 0))
			continue;
		j->members[j->n] = strdup(sop);
		if (!j->members[j->n])
			break;
		j->n++;
	}
	if (j->n == 0 || !pool_grow(c))
		goto out_free;
	if (join && !(c->idle > c->nqueued))
		goto out_free;
	/* A worker is free for it: its members are its own from now on, and their readers wait
	 * for the stream. Otherwise they stay free until a worker takes the job. */
	if (c->idle > c->nqueued) {
		job_claim(c, j);
		if (j->n == 0)
			goto out_free;
	}
	if (!queue_add(c, j))
		goto out_free;
	return join && job_index(j, ref->sop_uid) >= 0;
out_free:
	prefetch_job_drop(c, j);
	return false;
}

void prefetch_queue_ahead(struct cache *c, const char *study, const char *after)
{
	struct prefetch_job *j;

	/* The next series and its members come from the searcher's answers. */
	if (c->stopping || !c->cfg.prefetch || !c->searcher)
		return;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->cache = c;
	j->cls = PREFETCH_AHEAD;
	j->resolve = true;
	snprintf(j->study, sizeof(j->study), "%s", study);
	snprintf(j->after, sizeof(j->after), "%s", after);
	if (!pool_grow(c) || !queue_add(c, j)) {
		prefetch_job_drop(c, j);
		return;
	}
	log_debug("study %s: walked in order; reading ahead after series %s", study, after);
}

void prefetch_stop_all(struct cache *c)
{
	struct prefetch_job *j;

	pthread_mutex_lock(&c->lock);
	__atomic_store_n(&c->stopping, true, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->lock);
	/* No worker is started once stopping is set (prefetch_start is not called then). */
	for (size_t i = 0; i < c->nworkers; i++)
		pthread_join(c->workers[i], NULL);
	c->nworkers = 0;
	pthread_mutex_lock(&c->lock);
	while ((j = c->queue)) {
		c->queue = j->next;
		prefetch_job_drop(c, j);
	}
	c->nqueued = 0;
	pthread_mutex_unlock(&c->lock);
}
