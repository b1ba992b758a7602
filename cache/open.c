/* Opening an instance: from the store, or by one transfer per instance at a time
 * (single-flight): the first opener leads, later openers wait on its flight. A flight may also
 * belong to a series prefetch; if that transfer ends without the instance, the waiters fetch
 * it alone. An instance that could not be stored is served from its temporary file, and its
 * exact size is remembered (c->sizes) so that getattr answers it, not the estimate: readers
 * stop at the size the kernel holds. A fetch the archive answered with a wrong object, or with
 * "no such instance", is remembered for a few seconds (c->failures): a viewer that opens it
 * again and again does not download it each time. The flights are cache/flight.c's; series
 * transfers are the engine's (cache/prefetch.h), which this file calls and which never calls
 * back. */
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

/* How long a refused or missing instance is answered from memory: as long as the kernel keeps
 * a failed lookup (fs/ops.c, 5 s), long enough for a viewer's burst of opens, short enough
 * that a fixed archive is seen at the next try. Transient failures (timeouts,
 * refused connections, 5xx answers) are not remembered: each already cost a timeout or almost
 * nothing, and the next open is the retry a user expects once the archive is back. */
#define FAILED_FETCH_TTL_MS 5000
/* Fetches of one open at most: a series transfer that ended without the instance, then one of
 * its own, and again for each time the blob was gone before it could be opened. */
#define CACHE_OPEN_TRIES 4

struct cache_blob {
	struct cache *cache;
	char sop[UID_MAX], study[UID_MAX], series[UID_MAX], sop_class[UID_MAX];
	/* Guards fd and gen: a stored blob removed while open (by another mount on the same
	 * cache_dir, whose eviction cannot see this process's pins) is fetched again. */
	pthread_mutex_t lock;
	int fd;	      /* -1: read from the store */
	unsigned gen; /* fetched again this many times */
	uint64_t size;
};

/* The single-instance download of one opener. */
struct single {
	const char *want;
	bool got;
	bool refused; /* a whole reply came and was not the instance asked for */
	int kept_fd;
	uint64_t kept_size;
};

static enum sink_verdict single_check(struct fetch_sink *s, const char *uid)
{
	struct single *one = s->owner;

	if (strcmp(uid, one->want) == 0)
		return SINK_KEEP;
	log_error("instance %s: the archive sent instance %s instead", one->want, uid);
	errors_detail_set(s->why, "", "", "the archive sent instance %s instead", uid);
	return SINK_REFUSE;
}

static void single_stored(struct fetch_sink *s, const char *uid, int err, int *fd, uint64_t size)
{
	struct single *one = s->owner;

	one->got = true;
	if (!err)
		return;
	log_info("instance %s (%llu bytes) not kept in the cache (%s): served from a temporary "
		 "file",
		 uid, (unsigned long long)size, strerror(-err));
	one->kept_fd = *fd;
	one->kept_size = size;
	*fd = -1;
}

/* The verifying sink, noting when it refuses what the archive sent (not DICOM, another
 * instance, not whole): the archive would send the same again. */
static int single_end(void *ctx)
{
	struct fetch_sink *s = ctx;
	int err = fetch_sink_ops.end(ctx);

	if (err < 0 && err != -ECANCELED)
		((struct single *)s->owner)->refused = true;
	return err;
}

static int single_begin(void *ctx)
{
	return fetch_sink_ops.begin(ctx);
}

/* The size bound of a download is the verifying sink's (max_instance_size=, sink.c). */
static int single_write(void *ctx, const void *data, size_t len)
{
	return fetch_sink_ops.write(ctx, data, len);
}

static int single_hold(void *ctx, uint64_t held)
{
	return fetch_sink_ops.hold(ctx, held);
}

static const struct sink_ops single_sink_ops = {
	.begin = single_begin,
	.write = single_write,
	.end = single_end,
	.hold = single_hold,
};

/* Download @ref alone into the store (or a kept temporary file, then in f->fd), what failed
 * into f->why. @refused: the archive's answer was refused by the check. */
static int download_one(struct cache *c, const struct instance_ref *ref, struct flight *f,
			bool *refused)
{
	struct single one = {.want = ref->sop_uid, .kept_fd = -1};
	struct fetch_sink s;
	struct sink sink = {.ops = &single_sink_ops, .ctx = &s};
	bool pinned;
	int err;

	err = fetch_sink_init(&s, c);
	if (err)
		return err;
	/* Pinned before it is stored: its waiters open it before eviction may take it. */
	pinned = store_pin(c->store, ref->sop_uid) == 0;
	s.check = single_check;
	s.stored = single_stored;
	s.owner = &one;
	s.why = &f->why;
	STAT_ADD(c, transfers_active, 1);
	err = c->downloader->ops->fetch(c->downloader, ref, &sink, &f->why);
	STAT_SUB(c, transfers_active, 1);
	STAT_ADD(c, transfers_done, 1);
	fetch_sink_release(&s);
	if (!err && !one.got) {
		log_error("instance %s: the archive's reply did not contain it", ref->sop_uid);
		errors_detail_set(&f->why, "", "",
				  "the archive's reply did not contain the instance");
		err = -EIO;
	}
	if (pinned && (err || one.kept_fd >= 0))
		store_unpin(c->store, ref->sop_uid);
	if (err) {
		if (err != -ECANCELED)
			STAT_ADD(c, transfer_errors, 1);
		if (one.kept_fd >= 0)
			close(one.kept_fd);
		*refused = one.refused;
		return err;
	}
	f->fd = one.kept_fd;
	f->size = one.kept_size;
	if (pinned && one.kept_fd < 0)
		f->pinned = c->store;
	/* Its size is exact from now on, whoever asks (getattr, readdirplus, lookup). */
	if (one.kept_fd >= 0)
		memo_put(&c->sizes, ref->sop_uid, one.kept_size, 0, 0);
	return 0;
}

static int blob_new(struct cache *c, const struct instance_ref *ref, int fd, uint64_t size,
		    struct cache_blob **out)
{
	struct cache_blob *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->cache = c;
	snprintf(b->sop, sizeof(b->sop), "%s", ref->sop_uid);
	snprintf(b->study, sizeof(b->study), "%s", ref->study_uid ? ref->study_uid : "");
	snprintf(b->series, sizeof(b->series), "%s", ref->series_uid ? ref->series_uid : "");
	snprintf(b->sop_class, sizeof(b->sop_class), "%s", ref->sop_class ? ref->sop_class : "");
	pthread_mutex_init(&b->lock, NULL);
	b->fd = fd;
	b->size = size;
	*out = b;
	return 0;
}

static int blob_from_store(struct cache *c, const struct instance_ref *ref, struct cache_blob **out)
{
	const char *sop = ref->sop_uid;
	uint64_t size;
	int err;

	/* Pinned before it is looked at, so eviction cannot take it from under its reader. */
	err = store_pin(c->store, sop);
	if (err)
		return err;
	err = store_blob_size(c->store, sop, &size);
	if (!err)
		err = blob_new(c, ref, -1, size, out);
	if (err) {
		store_unpin(c->store, sop);
		return err;
	}
	store_touch(c->store, sop);
	return 0;
}

/* What one try of an open came to. */
enum open_try {
	OPEN_SERVED, /* the blob is open */
	OPEN_FAILED, /* with the -errno given */
	OPEN_AGAIN,  /* fetch it again: a series transfer ended without it, its leader gave up,
		      * or it was evicted before it could be opened */
};

/* The outcome of @f, which this opener waited on or led (c->lock held): the open blob in
 * @out, or why not in *@err and @why. */
static enum open_try flight_open(struct cache *c, const struct instance_ref *ref, struct flight *f,
				 struct cache_blob **out, int *err, struct errors_detail *why)
{
	int fd;

	switch (f->outcome) {
	case FLIGHT_IN_FILE:
		fd = dup(f->fd);
		*err = fd < 0 ? -errno : blob_new(c, ref, fd, f->size, out);
		if (*err && fd >= 0)
			close(fd);
		return *err ? OPEN_FAILED : OPEN_SERVED;
	case FLIGHT_STORED:
		/* Opened while the flight still holds its pin (f->pinned). Without one (another
		 * mount's eviction, a pin that could not be made), what was stored may be gone:
		 * then it is fetched again, as a read of an evicted blob is. */
		*err = blob_from_store(c, ref, out);
		if (*err == -ENOENT) {
			log_info(
				"instance %s: evicted before it could be opened; fetching it again",
				ref->sop_uid);
			return OPEN_AGAIN;
		}
		return *err ? OPEN_FAILED : OPEN_SERVED;
	case FLIGHT_ALONE:
		return OPEN_AGAIN;
	case FLIGHT_FAILED:
	case FLIGHT_PENDING: /* not reached: it is waited for until it ends */
		break;
	}
	*err = f->err ? f->err : -EIO;
	errors_detail_copy(why, &f->why);
	return OPEN_FAILED;
}

/* Wait for (or lead) the flight of @ref. @job: a series job for its siblings, made by the
 * caller with the lock let go (prefetch_job_new), which this open hands to the engine if it
 * leads (NULL: none); it is the engine's then, or freed here. */
static enum open_try wait_or_lead(struct cache *c, const struct instance_ref *ref,
				  struct prefetch_job *job, bool join, struct cache_blob **out,
				  int *err, struct errors_detail *why)
{
	struct flight *f;
	bool leader = false, cancelled = false;
	enum open_try tried;

	pthread_mutex_lock(&c->lock);
	if (c->cfg.prefetch && ref->series_uid)
		prefetch_wait_named(c, ref->series_uid);
	f = flight_find(&c->flights, ref->sop_uid);
	if (f) {
		f->refs++;
	} else if (blob_from_store(c, ref, out) == 0) {
		/* A series batch was committed since cache_open() looked (a batch is stored before
		 * its flights finish): no second transfer of what is there. */
		pthread_mutex_unlock(&c->lock);
		prefetch_job_free(job);
		*err = 0;
		return OPEN_SERVED;
	} else {
		bool prefetch = job && !c->stopping;

		/* The first instance the series stream sends: its opener joins the stream
		 * instead of a GET of its own that the stream would send again. Any other waits
		 * for what comes before it in the stream: measured on case A of bench/run.py
		 * (Orthanc streams in its QIDO order, cp opens in name order), the first file cp
		 * opened was the 46th and the 150th of its series' streams, a wait of a fifth to
		 * three quarters of the series against a few ms for a GET of its own, so that
		 * one is fetched alone, and sent twice. */
		if (prefetch && join && prefetch_submit(c, job, true) == PREFETCH_JOINED) {
			job = NULL;
			f = flight_find(&c->flights, ref->sop_uid);
			if (f) {
				f->refs++;
				goto wait;
			}
		}
		f = flight_new(&c->flights, ref->sop_uid);
		if (!f) {
			pthread_mutex_unlock(&c->lock);
			prefetch_job_free(job);
			*err = -ENOMEM;
			return OPEN_FAILED;
		}
		leader = true;
		/* The rest of the series comes in one request while this one is fetched. */
		if (prefetch && job && prefetch_submit(c, job, false) != PREFETCH_REFUSED)
			job = NULL;
	}
	if (leader) {
		bool refused = false;
		int got;

		prefetch_open_begin(c);
		pthread_mutex_unlock(&c->lock);
		/* A job the engine did not take is freed with the lock let go. */
		prefetch_job_free(job);
		job = NULL;
		got = download_one(c, ref, f, &refused);
		if (refused || got == -ENOENT)
			memo_put(&c->failures, ref->sop_uid, 0, got, FAILED_FETCH_TTL_MS);
		pthread_mutex_lock(&c->lock);
		/* Read-ahead waiting for blocked opens to be served starts now (prefetch.c). */
		prefetch_open_end(c);
		/* The leader gave up (its reader's signal, core/cancel.h), so its transfer ended:
		 * whoever else waits for the instance fetches it anew. */
		cancelled = (got == -ECANCELED || got == -EINTR) && cancel_requested();
		if (cancelled)
			flight_finish(&c->flights, f, FLIGHT_ALONE, 0);
		else if (got)
			flight_finish(&c->flights, f, FLIGHT_FAILED, got);
		else
			flight_finish(&c->flights, f, f->fd >= 0 ? FLIGHT_IN_FILE : FLIGHT_STORED,
				      0);
	} else {
	wait:
		STAT_ADD(c, open_waits, 1);
		/* A waiter that gives up goes; the transfer goes on for the others (and for its
		 * leader, or the series stream it belongs to). */
		while (f->outcome == FLIGHT_PENDING && !cancelled)
			cancelled = cancel_cond_wait(&f->cond, &c->lock) != 0;
	}
	if (cancelled) {
		*err = -EINTR;
		tried = OPEN_FAILED;
	} else {
		tried = flight_open(c, ref, f, out, err, why);
	}
	flight_put(f);
	pthread_mutex_unlock(&c->lock);
	prefetch_job_free(job);
	return tried;
}

/* The series job an open of @ref may start (or join), made here with c->lock let go: NULL
 * when none may start now (the engine's quick answer under the lock; asked without join, as
 * an opener that cannot join still starts the rest of its series). */
static struct prefetch_job *open_series_job(struct cache *c, const struct instance_ref *ref,
					    const char *const *siblings, size_t nsiblings)
{
	bool may;

	if (!c->cfg.prefetch || !siblings || !nsiblings || !ref->series_uid)
		return NULL;
	pthread_mutex_lock(&c->lock);
	may = !flight_find(&c->flights, ref->sop_uid) &&
	      prefetch_may_start(c, ref->series_uid, false);
	pthread_mutex_unlock(&c->lock);
	return may ? prefetch_job_new(c, ref, siblings, nsiblings) : NULL;
}

int cache_open(struct cache *c, const struct instance_ref *ref, const char *const *siblings,
	       size_t nsiblings, struct cache_blob **out, struct errors_detail *why)
{
	bool join = false;
	int err;

	if (!ref->sop_uid || strlen(ref->sop_uid) >= UID_MAX)
		return -EINVAL;
	err = blob_from_store(c, ref, out);
	/* Every open counts for the walk, those the stream already stored too. */
	if (c->cfg.prefetch && !c->cfg.offline && nsiblings) {
		size_t index = 0;

		while (index < nsiblings && strcmp(siblings[index], ref->sop_uid) != 0)
			index++;
		pthread_mutex_lock(&c->lock);
		if (index < nsiblings)
			ahead_note_open(c, ref, index, nsiblings, err == -ENOENT);
		pthread_mutex_unlock(&c->lock);
	}
	if (err != -ENOENT) {
		if (!err)
			STAT_ADD(c, open_hits, 1);
		return err;
	}
	STAT_ADD(c, open_misses, 1);
	if (c->cfg.offline) {
		log_warn("offline: instance %s is not in the cache", ref->sop_uid);
		return -EIO;
	}
	if (memo_get(&c->failures, ref->sop_uid, NULL, &err)) {
		log_info("instance %s: its fetch failed a moment ago (%s); not asked again yet",
			 ref->sop_uid, strerror(-err));
		return err;
	}
	/* Whether to join its series' stream (wait_or_lead); looked up only for the first open
	 * of a series, not for those of instances the stream is about to deliver. */
	if (c->cfg.prefetch && nsiblings && ref->study_uid && ref->series_uid) {
		pthread_mutex_lock(&c->lock);
		join = !flight_find(&c->flights, ref->sop_uid) &&
		       !prefetch_series_is_busy(c, ref->series_uid);
		pthread_mutex_unlock(&c->lock);
		/* First in both orders: the archive's, in which a series stream sends, and the
		 * folder's, in which a stream that names its members (RAD-69, one by one) does. */
		join = join && strcmp(siblings[0], ref->sop_uid) == 0 &&
		       ahead_streams_first(c, ref);
	}
	/* OPEN_AGAIN: a series transfer ended without this instance (or its leader gave up), or
	 * it was evicted before its opener could pin it: fetch it alone, unless this opener gave
	 * up too. Its own transfer pins it, so once is nearly always enough; the bound stops a
	 * loop that another mount's evictions could make. */
	for (int tries = 0;; tries++) {
		struct prefetch_job *job = open_series_job(c, ref, siblings, nsiblings);
		enum open_try tried = wait_or_lead(c, ref, job, join, out, &err, why);

		join = false;
		if (tried == OPEN_SERVED)
			return 0;
		if (tried == OPEN_FAILED)
			return err == -ECANCELED ? -EINTR : err;
		if (cancel_requested())
			return -EINTR;
		if (tries == CACHE_OPEN_TRIES) {
			log_error(
				"instance %s: gone from the cache after each of %d fetches, before "
				"it could be opened",
				ref->sop_uid, tries + 1);
			return -EIO;
		}
	}
}

uint64_t cache_blob_size(const struct cache_blob *b)
{
	return b->size;
}

bool cache_blob_is_stored(const struct cache_blob *b)
{
	return b->fd < 0;
}

/* Hand bytes of the temporary file @fd of a @size-byte blob to @use: as the file's only (no
 * copy here; the reader reads or splices them from @fd). */
static int file_use(int fd, uint64_t size, uint64_t off, size_t n,
		    int (*use)(void *ctx, const struct cache_bytes *b), void *ctx)
{
	struct cache_bytes b = {.fd = fd};

	b.pos = (int64_t)(off < size ? off : size);
	b.len = n < size - (uint64_t)b.pos ? n : (size_t)(size - (uint64_t)b.pos);
	return use(ctx, &b);
}

/* The blob of @b was removed from the store while open (generation @gen): fetch it again and
 * serve it from the new copy, stored or in a temporary file. */
static int blob_refetch(struct cache_blob *b, unsigned gen)
{
	struct instance_ref ref = {.study_uid = b->study,
				   .series_uid = b->series,
				   .sop_uid = b->sop,
				   .sop_class = b->sop_class[0] ? b->sop_class : NULL};
	struct cache_blob *nb;
	int err = 0;

	pthread_mutex_lock(&b->lock);
	if (b->gen != gen)
		goto out; /* another reader of it fetched it again meanwhile */
	log_warn("instance %s: removed from the cache while open (by another mount of this "
		 "cache_dir?): fetching it again",
		 b->sop);
	err = cache_open(b->cache, &ref, NULL, 0, &nb, NULL);
	if (err)
		goto out;
	if (nb->size != b->size) {
		log_error("instance %s: fetched again, %llu bytes instead of %llu", b->sop,
			  (unsigned long long)nb->size, (unsigned long long)b->size);
		cache_blob_close(nb);
		err = -EIO;
		goto out;
	}
	/* The new copy's pin (or file) becomes this blob's; the old pin goes. */
	store_unpin(b->cache->store, b->sop);
	b->fd = nb->fd;
	b->gen++;
	pthread_mutex_destroy(&nb->lock);
	free(nb);
out:
	pthread_mutex_unlock(&b->lock);
	return err;
}

struct use_call {
	int (*use)(void *ctx, const struct cache_bytes *b);
	void *ctx;
	bool called;
};

static int use_once(void *ctx, const void *data, size_t len)
{
	struct use_call *u = ctx;
	struct cache_bytes b = {.data = data, .len = len, .fd = -1};

	u->called = true;
	return u->use(u->ctx, &b);
}

int cache_blob_use(struct cache_blob *b, uint64_t off, size_t n,
		   int (*use)(void *ctx, const struct cache_bytes *b), void *ctx)
{
	for (int tries = 0;; tries++) {
		struct use_call u = {use, ctx, false};
		unsigned gen;
		int ret;

		pthread_mutex_lock(&b->lock);
		if (b->fd >= 0) {
			ret = file_use(b->fd, b->size, off, n, use, ctx);
			pthread_mutex_unlock(&b->lock);
			return ret;
		}
		gen = b->gen;
		pthread_mutex_unlock(&b->lock);
		/* The common case: straight from the map, no copy, no allocation per read. */
		ret = store_blob_use(b->cache->store, b->sop, off, n, use_once, &u);
		if (ret != -ENOENT || u.called || tries == 2)
			return ret;
		ret = blob_refetch(b, gen);
		if (ret)
			return ret;
	}
}

struct copy_to {
	void *buf;
	size_t got;
};

static int copy_to(void *ctx, const struct cache_bytes *b)
{
	struct copy_to *c = ctx;
	size_t done = 0;

	if (b->data) {
		memcpy(c->buf, b->data, b->len);
		c->got = b->len;
		return 0;
	}
	while (done < b->len) {
		ssize_t r = pread(b->fd, (char *)c->buf + done, b->len - done,
				  (off_t)(b->pos + (int64_t)done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO; /* the file is as long as the blob */
		done += (size_t)r;
	}
	c->got = done;
	return 0;
}

long cache_blob_read(struct cache_blob *b, void *buf, size_t n, uint64_t off)
{
	struct copy_to c = {buf, 0};
	int err = cache_blob_use(b, off, n, copy_to, &c);

	return err ? err : (long)c.got;
}

void cache_blob_close(struct cache_blob *b)
{
	if (!b)
		return;
	if (b->fd >= 0)
		close(b->fd);
	else
		store_unpin(b->cache->store, b->sop);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

int cache_stored_size(struct cache *c, const char *sop, uint64_t *size)
{
	return store_blob_size(c->store, sop, size);
}

int cache_exact_size(struct cache *c, const char *sop, uint64_t *size)
{
	int err = store_blob_size(c->store, sop, size);

	if (err == -ENOENT && memo_get(&c->sizes, sop, size, NULL))
		err = 0;
	return err;
}
