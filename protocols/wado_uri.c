/* WADO-URI: GET {wado_uri}?requestType=WADO&studyUID=&seriesUID=&objectUID=
 * &contentType=application/dicom ('/' is legal in a query, and Orthanc 1.10 does not decode
 * %2F: measured, it answers 400 "Unsupported content type"). The body is the Part-10 file itself. transferSyntax asks
 * for a syntax only when transfer_syntax= is given: without it the archive sends the instance
 * as stored (PS3.18 §9.1.2.1.5: the default is the stored syntax if it can). It cannot fetch a
 * series in one request: the cache prefetches such series instance by instance. */
#include "protocols/wado_uri.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/query.h"
#include "protocols/http.h"

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

static int wado_uri_fetch(struct downloader *d, const struct instance_ref *ref, struct sink *sink)
{
	struct wado_uri *w = (struct wado_uri *)d;
	struct wado_uri_call c = {.sink = sink};
	char url[2048], safe[2048];
	long status = 0;
	int err, n;

	if (!ref->sop_uid)
		return -ENOTSUP;
	if (!query_uid_is_valid(ref->study_uid) || !query_uid_is_valid(ref->series_uid) ||
	    !query_uid_is_valid(ref->sop_uid))
		return -EINVAL;
	n = snprintf(url, sizeof(url),
		     "%s%crequestType=WADO&studyUID=%s&seriesUID=%s&objectUID=%s"
		     "&contentType=application/dicom%s%s",
		     w->url, strchr(w->url, '?') ? '&' : '?', ref->study_uid, ref->series_uid,
		     ref->sop_uid, w->transfer_syntax ? "&transferSyntax=" : "",
		     w->transfer_syntax ? w->transfer_syntax : "");
	if (n < 0 || (size_t)n >= sizeof(url))
		return -ENAMETOOLONG;
	err = http_get(w->http, HTTP_BULK, url, "application/dicom", wado_uri_on_body, &c, &status);
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

static void wado_uri_free(struct downloader *d)
{
	struct wado_uri *w = (struct wado_uri *)d;

	free(w->url);
	free(w->transfer_syntax);
	free(w);
}

static const struct downloader_ops wado_uri_ops = {
	.name = "wado-uri",
	.fetch = wado_uri_fetch,
	.free = wado_uri_free,
};

int wado_uri_new(const struct proto_config *cfg, struct downloader **out)
{
	struct wado_uri *w;

	if (!cfg->wado_uri_url || !cfg->http)
		return -EINVAL;
	if (cfg->transfer_syntax && !query_uid_is_valid(cfg->transfer_syntax))
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->base.ops = &wado_uri_ops;
	w->http = cfg->http;
	w->url = strdup(cfg->wado_uri_url);
	w->transfer_syntax = cfg->transfer_syntax ? strdup(cfg->transfer_syntax) : NULL;
	if (!w->url || (cfg->transfer_syntax && !w->transfer_syntax)) {
		wado_uri_free(&w->base);
		return -ENOMEM;
	}
	*out = &w->base;
	return 0;
}
