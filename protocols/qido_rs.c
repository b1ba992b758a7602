/* QIDO-RS: a query becomes one GET; the DICOM JSON reply becomes attribute sets. The parent UIDs
 * go in the path (the hierarchical resources of PS3.18 §10.6.1), every other match key in the
 * query string, and the attributes we name folders by are asked for with includefield, since
 * the default return set leaves some out (StudyDescription is not in Table 6.7.1-2). */
#include "protocols/qido_rs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/tags.h"
#include "protocols/dicom_json.h"
#include "protocols/http.h"

/* The biggest reply we hold: a study-level answer for ~100k studies. */
#define QIDO_REPLY_MAX (256u << 20)

struct qido {
	struct searcher base;
	struct http *http;
	char *url;
};

static const uint32_t qido_study_fields[] = {TAG_StudyDescription, TAG_StudyDate,   TAG_StudyTime,
					     TAG_AccessionNumber,  TAG_PatientName, TAG_PatientID,
					     TAG_ModalitiesInStudy};
static const uint32_t qido_series_fields[] = {TAG_SeriesDescription, TAG_SeriesNumber, TAG_Modality,
					      TAG_SeriesDate, TAG_SeriesTime};
/* With the series' own attributes: an instance query over a whole study (the flat layout) must
 * say which series each instance is in. */
static const uint32_t qido_instance_fields[] = {
	TAG_InstanceNumber, TAG_ContentDate,	   TAG_ContentTime,    TAG_Rows,
	TAG_Columns,	    TAG_BitsAllocated,	   TAG_NumberOfFrames, TAG_SamplesPerPixel,
	TAG_SeriesNumber,   TAG_SeriesInstanceUID, TAG_Modality};

struct qido_reply {
	struct buf body;
	int bad_type;
};

static int qido_on_body(void *ctx, const struct http_response *resp, const void *data, size_t len)
{
	struct qido_reply *r = ctx;
	int err;

	/* An HTML error page with status 200 is a broken reply, not an empty result. */
	if (r->body.len == 0 && resp->content_type[0] && !strstr(resp->content_type, "json")) {
		log_error("GET %s: HTTP %ld with content type \"%s\", expected "
			  "application/dicom+json",
			  resp->url, resp->status, resp->content_type);
		r->bad_type = 1;
		return -EIO;
	}
	err = buf_add(&r->body, data, len);
	if (err == -E2BIG) {
		log_error("GET %s: reply larger than %u MiB", resp->url, QIDO_REPLY_MAX >> 20);
		return -EIO;
	}
	return err;
}

static int add_param(struct buf *url, int *first, const char *key, const char *value)
{
	char *esc = http_escape(value);
	int err;

	if (!esc)
		return -ENOMEM;
	err = buf_printf(url, "%c%s=%s", *first ? '?' : '&', key, esc);
	*first = 0;
	free(esc);
	return err;
}

static int add_tag_param(struct buf *url, int *first, uint32_t tag, const char *value)
{
	const char *kw = tags_keyword(tag);
	char hex[9];

	if (!kw) {
		snprintf(hex, sizeof(hex), "%08X", tag);
		kw = hex;
	}
	return add_param(url, first, kw, value);
}

static int qido_build_url(struct qido *q, const struct query *query, struct buf *url)
{
	const char *study = attrset_get(&query->match, TAG_StudyInstanceUID);
	const char *series = attrset_get(&query->match, TAG_SeriesInstanceUID);
	const uint32_t *fields;
	size_t nfields;
	int first = 1, err = 0;
	char num[32];

	err |= buf_printf(url, "%s", q->url);
	switch (query->level) {
	case QUERY_STUDY:
		err |= buf_printf(url, "/studies");
		fields = qido_study_fields;
		nfields = sizeof(qido_study_fields) / sizeof(*fields);
		break;
	case QUERY_SERIES:
		if (!study)
			return -EINVAL;
		err |= buf_printf(url, "/studies/%s/series", study);
		fields = qido_series_fields;
		nfields = sizeof(qido_series_fields) / sizeof(*fields);
		break;
	case QUERY_INSTANCE:
		if (!study)
			return -EINVAL;
		if (series)
			err |= buf_printf(url, "/studies/%s/series/%s/instances", study, series);
		else
			err |= buf_printf(url, "/studies/%s/instances", study);
		fields = qido_instance_fields;
		nfields = sizeof(qido_instance_fields) / sizeof(*fields);
		break;
	default:
		return -EINVAL;
	}
	for (size_t i = 0; i < query->match.n && !err; i++) {
		const struct attr *a = &query->match.v[i];

		/* UIDs that went into the path are not repeated as match keys. */
		if ((a->tag == TAG_StudyInstanceUID && query->level != QUERY_STUDY) ||
		    (a->tag == TAG_SeriesInstanceUID && query->level == QUERY_INSTANCE && series))
			continue;
		err = add_tag_param(url, &first, a->tag, a->value);
	}
	for (size_t i = 0; i < nfields && !err; i++) {
		snprintf(num, sizeof(num), "%08X", fields[i]);
		err = add_param(url, &first, "includefield", tags_keyword(fields[i]) ?: num);
	}
	for (size_t i = 0; i < query->ninclude && !err; i++) {
		snprintf(num, sizeof(num), "%08X", query->include[i]);
		err = add_param(url, &first, "includefield", num);
	}
	if (query->limit > 0 && !err) {
		snprintf(num, sizeof(num), "%ld", query->limit);
		err = add_param(url, &first, "limit", num);
	}
	if (query->offset > 0 && !err) {
		snprintf(num, sizeof(num), "%ld", query->offset);
		err = add_param(url, &first, "offset", num);
	}
	return err ? -ENOMEM : 0;
}

static int qido_find(struct searcher *s, const struct query *query, struct attrset_list *out)
{
	struct qido *q = (struct qido *)s;
	struct qido_reply reply = {0};
	char safe[2048];
	struct buf url;
	long status = 0;
	int err;

	buf_init(&url, 64 << 10);
	buf_init(&reply.body, QIDO_REPLY_MAX);
	err = qido_build_url(q, query, &url);
	if (err)
		goto out;
	err = http_get(q->http, url.data, "application/dicom+json", qido_on_body, &reply, &status);
	if (err)
		goto out;
	err = dicom_json_parse_list(reply.body.data, reply.body.len, out);
	if (err == -EIO)
		log_error("GET %s: HTTP %ld but the body is not a DICOM JSON array (%zu bytes)",
			  log_redact_url(url.data, safe, sizeof(safe)), status, reply.body.len);
out:
	buf_release(&reply.body);
	buf_release(&url);
	return err;
}

static void qido_free(struct searcher *s)
{
	struct qido *q = (struct qido *)s;

	free(q->url);
	free(q);
}

static const struct searcher_ops qido_ops = {
	.name = "qido-rs",
	.find = qido_find,
	.free = qido_free,
};

int qido_rs_new(const struct proto_config *cfg, struct searcher **out)
{
	struct qido *q;
	size_t n;

	if (!cfg->qido_url || !cfg->http)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->base.ops = &qido_ops;
	q->http = cfg->http;
	q->url = strdup(cfg->qido_url);
	if (!q->url) {
		free(q);
		return -ENOMEM;
	}
	n = strlen(q->url);
	while (n && q->url[n - 1] == '/')
		q->url[--n] = '\0';
	*out = &q->base;
	return 0;
}
