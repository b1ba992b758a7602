/* Cache-through logic. Downloads stream into an anonymous temporary file beside the LMDB map;
 * when an instance's end arrives its head is checked (preamble, "DICM", the SOPInstanceUID we
 * asked for) and only then copied into LMDB. A truncated or wrong body is dropped with its file.
 * An instance too big for the map is served from its temporary file and not kept. */
#include "cache/fetch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/part10.h"

#define SOP_MAX 65

/* One transfer in progress; others who want the same instance wait on it. */
struct flight {
	char sop[SOP_MAX];
	bool done;
	int err;
	int fd; /* when the instance could not be stored: its temporary file, else -1 */
	uint64_t size;
	int refs;
	pthread_cond_t cond;
	struct flight *next;
};

struct cache {
	struct store *store;
	struct searcher *searcher;
	struct downloader *downloader;
	struct cache_config cfg;
	pthread_mutex_t lock; /* guards flights */
	struct flight *flights;
	struct cache_stats stats; /* updated with atomics */
};

#define STAT_ADD(c, field, n) __atomic_add_fetch(&(c)->stats.field, (n), __ATOMIC_RELAXED)

struct cache_blob {
	struct cache *cache;
	char sop[SOP_MAX];
	int fd; /* -1: read from the store */
	uint64_t size;
};

/* The sink that receives one download: a temporary file per instance. */
struct fetch_sink {
	struct cache *cache;
	const char *want_sop; /* the instance asked for */
	int fd;
	uint64_t size;
	unsigned char *head; /* first PART10_HEAD_MAX bytes, to check */
	size_t head_len;
	bool got_wanted;
	int kept_fd; /* the wanted instance's file when the store had no room */
	uint64_t kept_size;
};

int cache_new(struct store *store, struct searcher *searcher, struct downloader *downloader,
	      const struct cache_config *cfg, struct cache **out)
{
	struct cache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->store = store;
	c->searcher = searcher;
	c->downloader = downloader;
	c->cfg = *cfg;
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int cache_find(struct cache *c, const struct query *q, struct attrset_list *out)
{
	struct attrset_list stored, fresh;
	int64_t stored_at = 0, now = (int64_t)time(NULL);
	char *key = query_key(q, c->cfg.source);
	bool have_stored;
	int err;

	if (!key)
		return -ENOMEM;
	attrset_list_init(&stored);
	attrset_list_init(&fresh);
	have_stored = store_meta_get(c->store, key, &stored, &stored_at) == 0;
	if (have_stored && now - stored_at < c->cfg.meta_ttl && now >= stored_at) {
		STAT_ADD(c, query_hits, 1);
		err = attrset_list_append(out, &stored);
		goto out;
	}
	STAT_ADD(c, query_misses, 1);
	err = c->searcher->ops->find(c->searcher, q, &fresh);
	if (err) {
		STAT_ADD(c, query_errors, 1);
		if (have_stored && err != -EINVAL) {
			STAT_ADD(c, query_stale, 1);
			log_warn("%s query failed (%s): serving the answer stored %lld s ago",
				 query_level_name(q->level), strerror(-err),
				 (long long)(now - stored_at));
			err = attrset_list_append(out, &stored);
		}
		goto out;
	}
	/* A result the store cannot keep is still a result. */
	store_meta_put(c->store, key, &fresh, now);
	err = attrset_list_append(out, &fresh);
out:
	attrset_list_release(&stored);
	attrset_list_release(&fresh);
	free(key);
	return err;
}

static void metadata_key(struct cache *c, const char *study_uid, const char *series_uid,
			 char *key, size_t n)
{
	snprintf(key, n, "metadata|%s|%s|%s", c->cfg.source, study_uid,
		 series_uid ? series_uid : "");
}

bool cache_has_metadata(struct cache *c)
{
	return c->downloader->ops->metadata != NULL;
}

int cache_metadata_size(struct cache *c, const char *study_uid, const char *series_uid,
			uint64_t *size)
{
	char key[512];

	metadata_key(c, study_uid, series_uid, key, sizeof(key));
	return store_doc_size(c->store, key, size);
}

int cache_metadata(struct cache *c, const char *study_uid, const char *series_uid,
		   struct buf *out)
{
	struct instance_ref ref = {.study_uid = study_uid, .series_uid = series_uid};
	int64_t stored_at = 0, now = (int64_t)time(NULL);
	char key[512];
	struct buf stored;
	int err;

	if (!c->downloader->ops->metadata)
		return -ENOTSUP;
	metadata_key(c, study_uid, series_uid, key, sizeof(key));
	buf_init(&stored, out->max);
	err = store_doc_get(c->store, key, &stored, &stored_at);
	if (!err && now - stored_at < c->cfg.meta_ttl && now >= stored_at) {
		STAT_ADD(c, query_hits, 1);
		err = buf_add(out, stored.data, stored.len);
		goto out;
	}
	STAT_ADD(c, query_misses, 1);
	stored.len = 0;
	err = c->downloader->ops->metadata(c->downloader, &ref, &stored);
	if (err) {
		STAT_ADD(c, query_errors, 1);
		goto out;
	}
	store_doc_put(c->store, key, stored.data, stored.len, now);
	err = buf_add(out, stored.data, stored.len);
out:
	buf_release(&stored);
	return err;
}

int cache_check_query(struct cache *c, const struct query *q, char *why, size_t n)
{
	if (!c->searcher->ops->check)
		return 0;
	return c->searcher->ops->check(c->searcher, q, why, n);
}

static int write_full(int fd, const void *data, size_t len)
{
	while (len) {
		ssize_t w = write(fd, data, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		data = (const char *)data + w;
		len -= (size_t)w;
	}
	return 0;
}

static void sink_drop_part(struct fetch_sink *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->size = 0;
	s->head_len = 0;
}

static int sink_begin(void *ctx)
{
	struct fetch_sink *s = ctx;
	int fd;

	sink_drop_part(s);
	fd = store_tmpfile(s->cache->store);
	if (fd < 0) {
		log_error("cache: cannot make a temporary file: %s", strerror(-fd));
		return fd;
	}
	s->fd = fd;
	return 0;
}

static int sink_write(void *ctx, const void *data, size_t len)
{
	struct fetch_sink *s = ctx;
	int err;

	if (s->fd < 0)
		return -EIO;
	if (s->head_len < PART10_HEAD_MAX) {
		size_t take = PART10_HEAD_MAX - s->head_len;

		if (take > len)
			take = len;
		memcpy(s->head + s->head_len, data, take);
		s->head_len += take;
	}
	err = write_full(s->fd, data, len);
	STAT_ADD(s->cache, bytes_downloaded, len);
	if (err) {
		log_error("cache: writing a download to disk: %s", strerror(-err));
		return err;
	}
	s->size += len;
	return 0;
}

static int sink_end(void *ctx)
{
	struct fetch_sink *s = ctx;
	char uid[SOP_MAX];
	int err;

	err = part10_sop_uid(s->head, s->head_len, uid, sizeof(uid));
	if (err) {
		log_error("instance %s: the archive sent %llu bytes that are not a DICOM Part-10 "
			  "file",
			  s->want_sop, (unsigned long long)s->size);
		sink_drop_part(s);
		return -EIO;
	}
	if (strcmp(uid, s->want_sop) != 0) {
		log_error("instance %s: the archive sent instance %s instead", s->want_sop, uid);
		sink_drop_part(s);
		return -EIO;
	}
	err = store_blob_put_fd(s->cache->store, uid, s->fd, s->size);
	if (err == -ENOSPC) {
		log_info("instance %s (%llu bytes) does not fit in the cache: served, not kept",
			 uid, (unsigned long long)s->size);
		s->kept_fd = s->fd;
		s->kept_size = s->size;
		s->fd = -1;
		err = 0;
	} else if (err) {
		log_error("cache: storing instance %s failed: %s", uid, strerror(-err));
	}
	if (!err)
		s->got_wanted = true;
	sink_drop_part(s);
	return err;
}

static const struct sink_ops fetch_sink_ops = {
	.begin = sink_begin,
	.write = sink_write,
	.end = sink_end,
};

/* Download @ref into the store (or a kept temporary file). Runs without any lock held. */
static int cache_download(struct cache *c, const struct instance_ref *ref, struct flight *f)
{
	struct fetch_sink s = {.cache = c, .want_sop = ref->sop_uid, .fd = -1, .kept_fd = -1};
	struct sink sink = {.ops = &fetch_sink_ops, .ctx = &s};
	int err;

	s.head = malloc(PART10_HEAD_MAX);
	if (!s.head)
		return -ENOMEM;
	STAT_ADD(c, transfers_active, 1);
	err = c->downloader->ops->fetch(c->downloader, ref, &sink);
	__atomic_sub_fetch(&c->stats.transfers_active, 1, __ATOMIC_RELAXED);
	STAT_ADD(c, transfers_done, 1);
	sink_drop_part(&s);
	free(s.head);
	if (!err && !s.got_wanted) {
		log_error("instance %s: the archive's reply did not contain it", ref->sop_uid);
		err = -EIO;
	}
	if (err) {
		STAT_ADD(c, transfer_errors, 1);
		if (s.kept_fd >= 0)
			close(s.kept_fd);
		return err;
	}
	f->fd = s.kept_fd;
	f->size = s.kept_size;
	return 0;
}

static void flight_put(struct flight *f)
{
	/* Called with c->lock held. */
	if (--f->refs > 0)
		return;
	if (f->fd >= 0)
		close(f->fd);
	pthread_cond_destroy(&f->cond);
	free(f);
}

static int blob_from_store(struct cache *c, const char *sop, struct cache_blob **out)
{
	struct cache_blob *b;
	uint64_t size;
	int err = store_blob_size(c->store, sop, &size);

	if (err)
		return err;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->cache = c;
	snprintf(b->sop, sizeof(b->sop), "%s", sop);
	b->fd = -1;
	b->size = size;
	*out = b;
	return 0;
}

int cache_open(struct cache *c, const struct instance_ref *ref, struct cache_blob **out)
{
	struct flight *f, **pp;
	struct cache_blob *b;
	bool leader = false;
	int err;

	if (!ref->sop_uid || strlen(ref->sop_uid) >= SOP_MAX)
		return -EINVAL;
	err = blob_from_store(c, ref->sop_uid, out);
	if (err != -ENOENT) {
		if (!err)
			STAT_ADD(c, open_hits, 1);
		return err;
	}
	STAT_ADD(c, open_misses, 1);

	pthread_mutex_lock(&c->lock);
	for (f = c->flights; f; f = f->next)
		if (strcmp(f->sop, ref->sop_uid) == 0)
			break;
	if (!f) {
		f = calloc(1, sizeof(*f));
		if (!f) {
			pthread_mutex_unlock(&c->lock);
			return -ENOMEM;
		}
		snprintf(f->sop, sizeof(f->sop), "%s", ref->sop_uid);
		f->fd = -1;
		pthread_cond_init(&f->cond, NULL);
		f->next = c->flights;
		c->flights = f;
		leader = true;
	}
	f->refs++;
	if (leader) {
		pthread_mutex_unlock(&c->lock);
		err = cache_download(c, ref, f);
		pthread_mutex_lock(&c->lock);
		f->err = err;
		f->done = true;
		for (pp = &c->flights; *pp; pp = &(*pp)->next) {
			if (*pp == f) {
				*pp = f->next;
				break;
			}
		}
		pthread_cond_broadcast(&f->cond);
	} else {
		STAT_ADD(c, open_waits, 1);
		while (!f->done)
			pthread_cond_wait(&f->cond, &c->lock);
	}
	err = f->err;
	if (!err && f->fd >= 0) {
		/* Not kept in the store: share the temporary file. */
		b = calloc(1, sizeof(*b));
		if (!b) {
			err = -ENOMEM;
		} else {
			b->cache = c;
			snprintf(b->sop, sizeof(b->sop), "%s", ref->sop_uid);
			b->fd = dup(f->fd);
			b->size = f->size;
			if (b->fd < 0) {
				err = -errno;
				free(b);
			} else {
				*out = b;
			}
		}
		flight_put(f);
		pthread_mutex_unlock(&c->lock);
		return err;
	}
	flight_put(f);
	pthread_mutex_unlock(&c->lock);
	if (err)
		return err;
	return blob_from_store(c, ref->sop_uid, out);
}

uint64_t cache_blob_size(const struct cache_blob *b)
{
	return b->size;
}

bool cache_blob_is_stored(const struct cache_blob *b)
{
	return b->fd < 0;
}

long cache_blob_read(struct cache_blob *b, void *buf, size_t n, uint64_t off)
{
	ssize_t r;

	if (b->fd < 0)
		return store_blob_read(b->cache->store, b->sop, off, buf, n);
	if (off >= b->size)
		return 0;
	do {
		r = pread(b->fd, buf, n, (off_t)off);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : (long)r;
}

void cache_blob_close(struct cache_blob *b)
{
	if (!b)
		return;
	if (b->fd >= 0)
		close(b->fd);
	free(b);
}

int cache_stored_size(struct cache *c, const char *sop, uint64_t *size)
{
	return store_blob_size(c->store, sop, size);
}

void cache_get_stats(struct cache *c, struct cache_stats *out)
{
#define STAT_GET(field) out->field = __atomic_load_n(&c->stats.field, __ATOMIC_RELAXED)
	memset(out, 0, sizeof(*out));
	STAT_GET(query_hits);
	STAT_GET(query_misses);
	STAT_GET(query_errors);
	STAT_GET(query_stale);
	STAT_GET(open_hits);
	STAT_GET(open_misses);
	STAT_GET(open_waits);
	STAT_GET(transfers_active);
	STAT_GET(transfers_done);
	STAT_GET(transfer_errors);
	STAT_GET(bytes_downloaded);
#undef STAT_GET
	store_usage(c->store, &out->blobs, &out->blob_bytes);
	out->size_limit = c->cfg.size_limit;
	out->searcher = c->searcher ? c->searcher->ops->name : "";
	out->downloader = c->downloader ? c->downloader->ops->name : "";
}
