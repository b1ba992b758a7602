/* WADO-URI: GET {wado_uri}?requestType=WADO&studyUID=&seriesUID=&objectUID=
 * &contentType=application/dicom ('/' is legal in a query, and Orthanc 1.10 does not decode
 * %2F: measured, it answers 400 "Unsupported content type"). The body is the Part-10 file
 * itself. transferSyntax asks for a syntax only when transfer_syntax= is given: without it the
 * archive sends the instance as stored (PS3.18 §9.1.2.1.5: the default is the stored syntax if
 * it can). The service has no series request: a series is its members' GETs, several at once
 * (http_get_each()), each buffered until it is whole and then handed to the sink, which takes
 * one instance at a time. */
#include "protocols/wado_uri.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/query.h"
#include "protocols/http.h"
#include "protocols/protocol.h"

struct wado_uri {
	struct downloader base;
	struct http *http;
	char *url;
	char *transfer_syntax;
};

struct wado_uri_call {
	struct sink *sink;
	int started;
};

static int wado_uri_on_body(void *ctx, const struct http_response *resp, const void *data,
			    size_t len)
{
	struct wado_uri_call *c = ctx;
	int err;

	if (!c->started) {
		/* An HTML page or a JPEG rendering is not the instance. */
		if (strncmp(resp->content_type, "application/dicom", 17) != 0) {
			log_error("GET %s: HTTP %ld with content type \"%s\", expected "
				  "application/dicom",
				  resp->url, resp->status, resp->content_type);
			return -EIO;
		}
		err = c->sink->ops->begin(c->sink->ctx);
		if (err)
			return err;
		c->started = 1;
	}
	return c->sink->ops->write(c->sink->ctx, data, len);
}

/* The URL of instance @sop of @ref's series into @out. @return 0, -EINVAL (a UID that is no
 * UID), -ENAMETOOLONG. */
static int instance_url(const struct wado_uri *w, const struct instance_ref *ref, const char *sop,
			char *out, size_t len)
{
	int n;

	if (!query_uid_is_valid(ref->study_uid) || !query_uid_is_valid(ref->series_uid) ||
	    !query_uid_is_valid(sop))
		return -EINVAL;
	n = snprintf(out, len,
		     "%s%crequestType=WADO&studyUID=%s&seriesUID=%s&objectUID=%s"
		     "&contentType=application/dicom%s%s",
		     w->url, strchr(w->url, '?') ? '&' : '?', ref->study_uid, ref->series_uid, sop,
		     w->transfer_syntax ? "&transferSyntax=" : "",
		     w->transfer_syntax ? w->transfer_syntax : "");
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int wado_uri_fetch_series(struct wado_uri *w, const struct instance_ref *ref,
				 struct sink *sink, struct errors_detail *why);

static int wado_uri_fetch(struct downloader *d, const struct instance_ref *ref, struct sink *sink,
			  struct errors_detail *why)
{
	struct wado_uri *w = (struct wado_uri *)d;
	struct wado_uri_call c = {.sink = sink};
	char url[2048], safe[2048];
	long status = 0;
	int err;

	if (!ref->sop_uid)
		return wado_uri_fetch_series(w, ref, sink, why);
	err = instance_url(w, ref, ref->sop_uid, url, sizeof(url));
	if (err)
		return err;
	/* One instance streams straight into the sink: someone waits for it in open(). */
	err = http_get(w->http, HTTP_BULK, url, "application/dicom", wado_uri_on_body, &c, &status,
		       why);
	if (err)
		return err;
	if (!c.started) {
		log_error("GET %s: HTTP %ld with an empty body, expected the instance",
			  log_redact_url(url, safe, sizeof(safe)), status);
		return -EIO;
	}
	/* curl has checked Content-Length: a short body is an error before we get here. */
	return sink->ops->end(sink->ctx);
}

/*
 * A series: its members' GETs, several at once. The sink takes one instance at a time (begin,
 * write, end), so each GET in flight fills a buffer of its own, and a member goes to the sink
 * whole when its GET has ended well: a failed, refused or truncated member (curl checks the
 * Content-Length) never reaches the sink, and does not stop the others; the cache fetches what
 * did not come alone. One GET after the other spent a round trip per instance: a cold `cp -r`
 * of a 200-instance series (105 MB) took 5.0 s at a 20 ms round trip, 1.2 s with the GETs
 * made together (8 parallel curls: 1.5 s; bench/run.py, medians of 5).
 *
 * Memory: a member stays in memory up to WADO_URI_MEM_MAX (its buffer grows with it), and a
 * larger one goes on into an unlinked temporary file in $TMPDIR (written 1 MiB at a time,
 * mapped to be handed on), so a member in flight holds at most WADO_URI_MEM_MAX of memory; it
 * grows there only while the sink's hold() allows (its size bound, the disk's floor). A
 * GET is in flight only in a bulk slot of connections= (http_get_each()), and a member's
 * buffer is freed when it has been handed on: every series transfer together holds at most
 * (connections= minus the query reserve, plus one member being handed on per transfer) x
 * WADO_URI_MEM_MAX, about 8 MiB at connections=8, whatever the size of the series or its
 * members.
 */
#define WADO_URI_LANES_MAX 8
#define WADO_URI_MEM_MAX   (1u << 20)

struct series_lane {
	struct buf mem;	  /* the member's bytes not yet in the spill file */
	int fd;		  /* its spill file, -1 until it outgrows mem */
	uint64_t spilled; /* bytes in fd */
	bool checked;	  /* its content type was checked at the first body byte */
};

struct series_call {
	struct wado_uri *w;
	const struct instance_ref *ref;
	struct sink *sink;
	const char *tmpdir;
	struct series_lane lanes[WADO_URI_LANES_MAX];
	int first_err; /* of a member, other than not found */
};

static int series_url_of(void *ctx, size_t i, char *out, size_t len)
{
	struct series_call *s = ctx;
	int err = instance_url(s->w, s->ref, s->ref->members[i], out, len);

	if (err)
		log_error("series %s: member %zu: %s", s->ref->series_uid, i,
			  err == -EINVAL ? "not a valid UID" : "URL too long");
	return err;
}

static int tmpfile_in(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0) {
		/* Filesystems without O_TMPFILE: a named file, unlinked at once. */
		char path[4096];

		snprintf(path, sizeof(path), "%s/trolley-wado.XXXXXX", dir);
		fd = mkostemp(path, O_CLOEXEC);
		if (fd < 0)
			return -errno;
		unlink(path);
	}
	return fd;
}

/* Move what @l holds in memory to the end of its spill file (made now if need be). */
static int lane_spill(struct series_call *s, struct series_lane *l, const void *data, size_t len)
{
	if (l->fd < 0) {
		l->fd = tmpfile_in(s->tmpdir);
		if (l->fd < 0) {
			log_error("series %s: cannot make a temporary file in %s: %s",
				  s->ref->series_uid, s->tmpdir, strerror(-l->fd));
			return l->fd;
		}
	}
	while (len) {
		ssize_t n = pwrite(l->fd, data, len, (off_t)l->spilled);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;

			log_error("series %s: writing a temporary file in %s: %s",
				  s->ref->series_uid, s->tmpdir, strerror(-err));
			return err;
		}
		data = (const char *)data + n;
		len -= (size_t)n;
		l->spilled += (uint64_t)n;
	}
	return 0;
}

static int lane_flush(struct series_call *s, struct series_lane *l)
{
	int err = lane_spill(s, l, l->mem.data, l->mem.len);

	l->mem.len = 0;
	return err;
}

static void lane_reset(struct series_lane *l)
{
	buf_release(&l->mem);
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	l->spilled = 0;
	l->checked = false;
}

static int series_on_body(void *ctx, size_t lane, const struct http_response *resp,
			  const void *data, size_t len)
{
	struct series_call *s = ctx;
	struct series_lane *l = &s->lanes[lane];
	int err;

	if (!l->checked) {
		/* An HTML page or a JPEG rendering is not the instance. */
		if (strncmp(resp->content_type, "application/dicom", 17) != 0) {
			log_error("GET %s: HTTP %ld with content type \"%s\", expected "
				  "application/dicom",
				  resp->url, resp->status, resp->content_type);
			return -EIO;
		}
		l->checked = true;
	}
	err = buf_add(&l->mem, data, len);
	if (err != -E2BIG)
		return err;
	/* Past memory, into the file: the sink says whether the member may grow on (its size
	 * bound, the disk's floor, unmounting), or a reply that never ends fills $TMPDIR. */
	if (s->sink->ops->hold) {
		err = s->sink->ops->hold(s->sink->ctx, l->spilled + l->mem.len + len);
		if (err)
			return err;
	}
	err = lane_flush(s, l);
	if (!err)
		err = len < l->mem.max ? buf_add(&l->mem, data, len) : lane_spill(s, l, data, len);
	return err;
}

/* Hand the whole member in @l to the sink. @return 0 or the sink's error. */
static int lane_deliver(struct series_call *s, struct series_lane *l)
{
	struct sink *sink = s->sink;
	void *map = NULL;
	int err;

	if (l->fd >= 0) {
		err = lane_flush(s, l);
		if (err)
			return err;
		map = mmap(NULL, (size_t)l->spilled, PROT_READ, MAP_PRIVATE, l->fd, 0);
		if (map == MAP_FAILED) {
			err = -errno;
			log_error("series %s: cannot read back a temporary file: %s",
				  s->ref->series_uid, strerror(-err));
			return err;
		}
	}
	err = sink->ops->begin(sink->ctx);
	if (!err)
		err = map ? sink->ops->write(sink->ctx, map, (size_t)l->spilled)
			  : sink->ops->write(sink->ctx, l->mem.data, l->mem.len);
	/* A member the sink refused midway is never ended: the sink drops what it had. */
	if (!err)
		err = sink->ops->end(sink->ctx);
	if (map)
		munmap(map, (size_t)l->spilled);
	return err;
}

static int series_on_done(void *ctx, size_t lane, size_t i, int err, long status)
{
	struct series_call *s = ctx;
	struct series_lane *l = &s->lanes[lane];
	char url[2048], safe[2048];

	if (!err && !l->checked) {
		instance_url(s->w, s->ref, s->ref->members[i], url, sizeof(url));
		log_error("GET %s: HTTP %ld with an empty body, expected the instance",
			  log_redact_url(url, safe, sizeof(safe)), status);
		err = -EIO;
	}
	if (!err)
		err = lane_deliver(s, l);
	lane_reset(l);
	/* Unmounting, or no room left to hold a member, stops the series; any other failure is
	 * this member's, and a member the archive does not have (already logged) is no failure
	 * of the series. */
	if (err == -ECANCELED || err == -ENOSPC)
		return err;
	if (err && err != -ENOENT && !s->first_err)
		s->first_err = err;
	return 0;
}

static int wado_uri_fetch_series(struct wado_uri *w, const struct instance_ref *ref,
				 struct sink *sink, struct errors_detail *why)
{
	const char *tmpdir = getenv("TMPDIR");
	struct series_call s = {
		.w = w, .ref = ref, .sink = sink, .tmpdir = tmpdir && *tmpdir ? tmpdir : "/tmp"};
	struct http_each e = {.accept = "application/dicom",
			      .n = ref->nmembers,
			      .nlanes = ref->nmembers < WADO_URI_LANES_MAX ? ref->nmembers
									   : WADO_URI_LANES_MAX,
			      .ctx = &s,
			      .url_of = series_url_of,
			      .on_body = series_on_body,
			      .on_done = series_on_done,
			      .why = why};
	int err;

	/* WADO-URI names every instance it sends: without the members there is nothing to ask. */
	if (!ref->members)
		return -ENOTSUP;
	for (size_t i = 0; i < WADO_URI_LANES_MAX; i++) {
		buf_init(&s.lanes[i].mem, WADO_URI_MEM_MAX - 1);
		s.lanes[i].fd = -1;
	}
	err = http_get_each(w->http, HTTP_BULK, &e);
	for (size_t i = 0; i < WADO_URI_LANES_MAX; i++)
		lane_reset(&s.lanes[i]);
	return err ? err : s.first_err;
}

static void wado_uri_free(struct downloader *d)
{
	struct wado_uri *w = (struct wado_uri *)d;

	free(w->url);
	free(w->transfer_syntax);
	free(w);
}

static const struct downloader_ops wado_uri_ops = {
	.name = "wado-uri",
	.fetches_series = true,
	.fetch = wado_uri_fetch,
	.free = wado_uri_free,
};

int wado_uri_new(const struct proto_config *cfg, struct downloader **out)
{
	struct wado_uri *w;

	const char *url = proto_config_text(cfg, "wado_uri");

	if (!url || !cfg->http)
		return -EINVAL;
	if (cfg->transfer_syntax && !query_uid_is_valid(cfg->transfer_syntax))
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->base.ops = &wado_uri_ops;
	w->http = cfg->http;
	w->url = strdup(url);
	w->transfer_syntax = cfg->transfer_syntax ? strdup(cfg->transfer_syntax) : NULL;
	if (!w->url || (cfg->transfer_syntax && !w->transfer_syntax)) {
		wado_uri_free(&w->base);
		return -ENOMEM;
	}
	*out = &w->base;
	return 0;
}

static const struct proto_option wado_uri_options[] = {
	{"wado_uri", PROTO_OPT_URL, PROTO_OPT_AUTH_BASE,
	 "wado_uri=URL            WADO-URI endpoint (for downloader=wado-uri)"},
};

static const struct proto_downloader wado_uri_downloaders[] = {{
	.name = "wado-uri",
	.make = wado_uri_new,
	.url = "wado_uri",
	.url_required = true,
}};

const struct protocol wado_uri_protocol = {
	.name = "WADO-URI",
	.options = wado_uri_options,
	.noptions = sizeof(wado_uri_options) / sizeof(wado_uri_options[0]),
	.downloaders = wado_uri_downloaders,
	.ndownloaders = 1,
};
