/* WADO-RS: GET .../instances/{uid} (or .../series/{uid}) with Accept multipart/related; each
 * part streams through the multipart parser straight into the sink (a bare application/dicom
 * body, which some archives send for one instance, goes there whole). transfer-syntax=* asks
 * for the instance as stored (PS3.18 §8.7.3.5.2); without it Orthanc transcodes compressed
 * data. An archive that refuses "*" is asked for its default syntax from then on. */
#include "protocols/wado_rs.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/json_check.h"
#include "core/log.h"
#include "core/query.h"
#include "protocols/http.h"
#include "protocols/multipart.h"
#include "protocols/protocol.h"

struct wado {
	struct downloader base;
	struct http *http;
	char *url;
	char accept[256];
	char syntax[128]; /* transfer_syntax= if given: a refusal of it is an error */
	bool user_syntax;
	int star_refused; /* atomic: the archive refused transfer-syntax=*; ask without it */
};

/* Without a transfer-syntax parameter: the archive's default (PS3.18 §8.7.3.5.2: Explicit VR
 * Little Endian unless it says otherwise), which it may transcode to. */
static const char wado_accept_default[] = "multipart/related; type=\"application/dicom\"";

/* What archives answer to an Accept they will not serve: 406 as PS3.18 says, or 400 or 415. */
static const long wado_refusals[] = {400, 406, 415, 0};

static bool is_refusal(long status)
{
	for (const long *r = wado_refusals; *r; r++)
		if (*r == status)
			return true;
	return false;
}

/* "application/dicom", possibly with parameters; not application/dicom+json or +xml. */
static bool is_dicom_type(const char *ct)
{
	return strncmp(ct, "application/dicom", 17) == 0 &&
	       (ct[17] == '\0' || ct[17] == ';' || ct[17] == ' ');
}

struct wado_call {
	struct sink *sink;
	struct errors_detail *why; /* the caller's */
	struct mp_parser *mp;
	int single; /* the reply is one bare application/dicom body */
	int in_part;
	const char *url; /* redacted */
	long status;
};

/* A reply that came whole but is wrong, for /.trolley/errors (core/errors.h); logged beside. */
static void note_reply(struct errors_detail *why, const char *safe_url, long status,
		       const char *reason)
{
	char where[2048 + 8], st[32]; /* a URL as http.c logs it, cut at 2048 */

	snprintf(where, sizeof(where), "GET %s", safe_url);
	snprintf(st, sizeof(st), "HTTP %ld", status);
	errors_detail_set(why, where, st, "%s", reason);
}

static int wado_part_begin(void *ctx, const char *content_type, const char *content_id)
{
	struct wado_call *c = ctx;

	(void)content_id;
	/* Parts other than DICOM (a server's error text) are a garbled reply, not an instance. */
	if (content_type[0] && !is_dicom_type(content_type)) {
		log_error("GET %s: multipart part of type \"%s\", expected application/dicom",
			  c->url, content_type);
		errors_detail_set(c->why, "", "",
				  "multipart part of type \"%s\", expected application/dicom",
				  content_type);
		return -EIO;
	}
	c->in_part = 1;
	return c->sink->ops->begin(c->sink->ctx);
}

static int wado_part_data(void *ctx, const void *data, size_t len)
{
	struct wado_call *c = ctx;

	return c->sink->ops->write(c->sink->ctx, data, len);
}

static int wado_part_end(void *ctx)
{
	struct wado_call *c = ctx;

	c->in_part = 0;
	return c->sink->ops->end(c->sink->ctx);
}

static const struct mp_callbacks wado_mp_callbacks = {
	.part_begin = wado_part_begin,
	.part_data = wado_part_data,
	.part_end = wado_part_end,
};

static int wado_on_body(void *ctx, const struct http_response *resp, const void *data, size_t len)
{
	struct wado_call *c = ctx;
	char boundary[128];
	int err;

	if (!c->mp && !c->single) {
		c->status = resp->status;
		if (is_dicom_type(resp->content_type)) {
			c->single = 1;
			c->in_part = 1;
			err = c->sink->ops->begin(c->sink->ctx);
			if (err)
				return err;
		} else {
			err = mp_boundary_from_content_type(resp->content_type, boundary,
							    sizeof(boundary));
			if (err) {
				log_error("GET %s: HTTP %ld with content type \"%s\", expected "
					  "multipart/related with a boundary",
					  resp->url, resp->status, resp->content_type);
				errors_detail_set(
					c->why, "", "",
					"content type \"%s\", expected multipart/related with a "
					"boundary",
					resp->content_type);
				return -EIO;
			}
			c->mp = mp_parser_new(boundary, &wado_mp_callbacks, c);
			if (!c->mp)
				return -ENOMEM;
		}
	}
	if (c->single)
		return c->sink->ops->write(c->sink->ctx, data, len);
	err = mp_parser_feed(c->mp, data, len);
	if (err == -EPROTO) {
		log_error("GET %s: HTTP %ld, malformed multipart body after %zu parts", resp->url,
			  resp->status, mp_parser_parts(c->mp));
		errors_detail_set(c->why, "", "", "malformed multipart body after %zu parts",
				  mp_parser_parts(c->mp));
		return -EIO;
	}
	return err;
}

static int wado_fetch(struct downloader *d, const struct instance_ref *ref, struct sink *sink,
		      struct errors_detail *why)
{
	struct wado *w = (struct wado *)d;
	struct wado_call c = {.sink = sink, .why = why};
	char url[1024], safe[1024];
	int err, n;

	if (!query_uid_is_valid(ref->study_uid) || !query_uid_is_valid(ref->series_uid) ||
	    (ref->sop_uid && !query_uid_is_valid(ref->sop_uid)))
		return -EINVAL;
	if (ref->sop_uid)
		n = snprintf(url, sizeof(url), "%s/studies/%s/series/%s/instances/%s", w->url,
			     ref->study_uid, ref->series_uid, ref->sop_uid);
	else
		n = snprintf(url, sizeof(url), "%s/studies/%s/series/%s", w->url, ref->study_uid,
			     ref->series_uid);
	if (n < 0 || (size_t)n >= sizeof(url))
		return -ENAMETOOLONG;
	c.url = log_redact_url(url, safe, sizeof(safe));
	if (w->user_syntax || __atomic_load_n(&w->star_refused, __ATOMIC_RELAXED)) {
		err = http_get(w->http, HTTP_BULK, url,
			       w->user_syntax ? w->accept : wado_accept_default, wado_on_body, &c,
			       &c.status, why);
	} else {
		err = http_get_handling(w->http, HTTP_BULK, url, w->accept, wado_refusals,
					wado_on_body, &c, &c.status, why);
		/* A refusal has no body: nothing reached the sink, the request is made anew. It
		 * is remembered only once the default is served, since a 400 may mean another
		 * fault (then the second answer is logged as the error it is). */
		if (err && is_refusal(c.status)) {
			long refused = c.status;

			err = http_get(w->http, HTTP_BULK, url, wado_accept_default, wado_on_body,
				       &c, &c.status, why);
			if (!err && !__atomic_exchange_n(&w->star_refused, 1, __ATOMIC_RELAXED))
				log_warn(
					"GET %s: HTTP %ld to transfer-syntax=* (as stored): asking "
					"for the archive's default syntax from now on; files may "
					"be "
					"transcoded, not as stored; -o transfer_syntax=UID asks "
					"for "
					"one by name",
					safe, refused);
		}
	}
	if (err && w->user_syntax && is_refusal(c.status))
		log_error("GET %s: the archive refuses transfer_syntax=%s (HTTP %ld): ask for "
			  "another, or leave transfer_syntax= out",
			  safe, w->syntax, c.status);
	if (err)
		goto out;
	if (c.single) {
		err = c.sink->ops->end(c.sink->ctx);
		c.in_part = 0;
		goto out;
	}
	if (!c.mp) {
		log_error("GET %s: HTTP %ld with an empty body, expected DICOM instances", safe,
			  c.status);
		note_reply(why, safe, c.status, "an empty body, expected DICOM instances");
		err = -EIO;
		goto out;
	}
	err = mp_parser_finish(c.mp);
	if (err) {
		log_error("GET %s: HTTP %ld, multipart body truncated after %zu complete parts",
			  safe, c.status, mp_parser_parts(c.mp));
		note_reply(why, safe, c.status, "multipart body truncated");
		err = -EIO;
		goto out;
	}
	if (mp_parser_parts(c.mp) == 0) {
		log_error("GET %s: HTTP %ld, multipart body holds no instance", safe, c.status);
		note_reply(why, safe, c.status, "multipart body holds no instance");
		err = -EIO;
	}
out:
	mp_parser_free(c.mp);
	return err;
}

/* Metadata of a 2,000-instance series is a few MiB; past this a reply is not believed. */
#define WADO_METADATA_MAX (256u << 20)

/* The reply is checked as it arrives (json_check.c), not parsed after. Measured with
 * bench/json_memory.c on a 64 MiB body (compact JSON, copies of the fixture's instance): the
 * cJSON parse that used to check it added 625 MiB to the body's 65 MiB (901 MiB under ASan),
 * the streaming check adds nothing measurable. The body is handed to the caller, not copied.
 * In the daemon (optimised, RssAnon sampled), reading a 64 MiB metadata.json peaked at
 * 1231 MiB before, 179 MiB now (the body and the cache's copies of it). A body that cannot
 * become metadata stops the transfer at the first bad byte. */
struct wado_meta {
	struct buf body;
	struct json_check check;
	long status;
};

static void wado_meta_refuse(struct wado_meta *m, const char *url, long status)
{
	log_error("GET %s: HTTP %ld but the body is not DICOM JSON metadata (%zu bytes: %s at "
		  "byte %zu)",
		  url, status, m->body.len, json_check_strerror(json_check_error(&m->check)),
		  json_check_offset(&m->check));
}

static int wado_on_metadata(void *ctx, const struct http_response *resp, const void *data,
			    size_t len)
{
	struct wado_meta *m = ctx;
	int err;

	if (json_check_feed(&m->check, data, len)) {
		wado_meta_refuse(m, resp->url, resp->status);
		return -EIO;
	}
	err = buf_add(&m->body, data, len);
	if (err == -E2BIG) {
		log_error("GET %s: metadata larger than %u MiB", resp->url,
			  WADO_METADATA_MAX >> 20);
		return -EIO;
	}
	return err;
}

static int wado_metadata(struct downloader *d, const struct instance_ref *ref, struct buf *out,
			 struct errors_detail *why)
{
	struct wado *w = (struct wado *)d;
	char url[1024], safe[1024];
	struct wado_meta m = {0};
	int err, n;

	if (!query_uid_is_valid(ref->study_uid) ||
	    (ref->series_uid && !query_uid_is_valid(ref->series_uid)))
		return -EINVAL;
	if (ref->series_uid)
		n = snprintf(url, sizeof(url), "%s/studies/%s/series/%s/metadata", w->url,
			     ref->study_uid, ref->series_uid);
	else
		n = snprintf(url, sizeof(url), "%s/studies/%s/metadata", w->url, ref->study_uid);
	if (n < 0 || (size_t)n >= sizeof(url))
		return -ENAMETOOLONG;
	buf_init(&m.body, WADO_METADATA_MAX);
	json_check_init(&m.check, 0);
	err = http_get(w->http, HTTP_QUERY, url, "application/dicom+json", wado_on_metadata, &m,
		       &m.status, why);
	if (err)
		goto out;
	if (json_check_finish(&m.check)) {
		wado_meta_refuse(&m, log_redact_url(url, safe, sizeof(safe)), m.status);
		err = -EIO;
		goto out;
	}
	/* The caller's buffer is empty (cache_metadata): hand the body over instead of holding
	 * a second copy of it. */
	if (out->len == 0 && m.body.len <= out->max) {
		struct buf tmp = *out;

		out->data = m.body.data;
		out->len = m.body.len;
		out->cap = m.body.cap;
		m.body.data = tmp.data;
		m.body.len = tmp.len;
		m.body.cap = tmp.cap;
	} else {
		err = buf_add(out, m.body.data, m.body.len);
	}
out:
	buf_release(&m.body);
	return err;
}

static void wado_free(struct downloader *d)
{
	struct wado *w = (struct wado *)d;

	free(w->url);
	free(w);
}

static const struct downloader_ops wado_ops = {
	.name = "wado-rs",
	.fetches_series = true,
	.fetch = wado_fetch,
	.metadata = wado_metadata,
	.free = wado_free,
};

int wado_rs_new(const struct proto_config *cfg, struct downloader **out)
{
	struct wado *w;
	size_t n;

	const char *url = proto_config_text(cfg, "wado_rs");

	if (!url || !cfg->http)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->base.ops = &wado_ops;
	w->http = cfg->http;
	w->url = strdup(url);
	if (!w->url) {
		free(w);
		return -ENOMEM;
	}
	n = strlen(w->url);
	while (n && w->url[n - 1] == '/')
		w->url[--n] = '\0';
	snprintf(w->accept, sizeof(w->accept),
		 "multipart/related; type=\"application/dicom\"; transfer-syntax=%s",
		 cfg->transfer_syntax ? cfg->transfer_syntax : "*");
	w->user_syntax = cfg->transfer_syntax != NULL;
	snprintf(w->syntax, sizeof(w->syntax), "%s", w->user_syntax ? cfg->transfer_syntax : "*");
	*out = &w->base;
	return 0;
}

static const struct proto_option wado_rs_options[] = {
	{"wado_rs", PROTO_OPT_URL, PROTO_OPT_AUTH_BASE,
	 "wado_rs=URL             WADO-RS base URL (default: SOURCE)"},
};

static const struct proto_downloader wado_rs_downloaders[] = {{
	.name = "wado-rs",
	.make = wado_rs_new,
	.url = "wado_rs",
}};

/* Its SOURCE scheme is QIDO-RS's (protocols/qido_rs.c): one DICOMweb URL serves both. */
const struct protocol wado_rs_protocol = {
	.name = "WADO-RS",
	.options = wado_rs_options,
	.noptions = sizeof(wado_rs_options) / sizeof(wado_rs_options[0]),
	.downloaders = wado_rs_downloaders,
	.ndownloaders = 1,
};
